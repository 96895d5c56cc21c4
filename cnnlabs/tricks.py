"""The ladder of lab 11: from MiniVGGNet to airbench94, one training trick at a time.

:func:`ladder` lists the steps. The first is MiniVGGNet with its own recipe; the second
is the airbench94 network trained the way a first port would train it (plain Nesterov
SGD at a constant learning rate, MiniVGGNet's flips and crops, a learned first layer,
Keras' BatchNorm momentum); each later step switches one trick of airbench94 on, until
the last is the airbench94 recipe (``recipes.RECIPES["airbench94_short"]``: airbench94
cut to the lab's budget, the recipe itself in ``full``). Every step is a model name,
recipe overrides and builder options for ``run.train``, and says what it changes from
the step before. :func:`climb` trains the steps on one training set, for the same
number of epochs, and :func:`table` prints what each step bought. Lab 11 and
``benchmarks/tricks.py`` run the same ladder.

Nothing here imports TensorFlow until :func:`climb` runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlabs import recipes
from cnnlabs.config import Profile, get_profile

if TYPE_CHECKING:
    from cnnlabs.datasets import Splits
    from cnnlabs.evaluation import Report
    from cnnlabs.run import Run

#: The recipe of the ladder's airbench94 steps (airbench94 at the lab's budget).
RECIPE = "airbench94_short"
#: What the first airbench94 step trains with instead of each trick: plain SGD.
PLAIN_RECIPE: dict[str, Any] = {
    "label_smoothing": 0.0, "freeze_after": (), "lr_multipliers": (), "schedule": "constant",
    "lookahead_every": 0, "augment": ("flip", "crop"), "tta": 0,
}
#: ... and the builder options it has instead: a learned first layer, Keras' BN momentum.
PLAIN_OPTIONS: dict[str, Any] = {"whitening": False, "bn_momentum": 0.99}
#: The airbench94 builder's own values of those options.
AIRBENCH_OPTIONS: dict[str, Any] = {"whitening": True, "bn_momentum": 0.6}
#: The tricks in the order the ladder adds them: ``(label, recipe fields, builder options)``
#: that each one sets back to airbench94's values.
#: BatchNorm comes first: with Keras' momentum 0.99 the moving statistics are still far
#: from the batches' after a short run, so the test accuracy of every step before the fix
#: would measure mostly that (training accuracy well above validation accuracy).
TRICKS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("+ BN bias lr x64, BN momentum 0.6", ("lr_multipliers",), ("bn_momentum",)),
    ("+ label smoothing 0.2", ("label_smoothing",), ()),
    ("+ patch whitening from the data", ("freeze_after",), ("whitening",)),
    ("+ triangle schedule", ("schedule",), ()),
    ("+ lookahead", ("lookahead_every",), ()),
    ("+ alternating flip, reflect shift", ("augment",), ()),
    ("+ TTA (mirror, 1-pixel shifts)", ("tta",), ()),
)
BASELINE = "MiniVGGNet, its recipe"
PLAIN = "airbench94 net, plain SGD"
#: Recipe fields that change what is trained; a step that changes only others reuses the
#: model of the step before it (test-time augmentation changes the evaluation only).
EVALUATION_ONLY = frozenset({"tta"})


@dataclass(frozen=True)
class Trick:
    """One step of the ladder.

    Attributes:
        label: the step's name in the table (``"+ lookahead"``).
        model: the ``models.build`` name.
        epochs: the epochs it trains.
        overrides: recipe fields for ``run.train``, against the model's own recipe under
            the profile (so ``recipes.recipe(model, profile, **overrides)`` is its recipe).
        model_options: builder options for ``run.train``.
        changes: what it changes from the step before: recipe fields and builder options
            with their new values (the first step: none).
        retrain: False when only the evaluation changes: the step before's model is
            evaluated again with this step's recipe instead of training a new one.
    """

    label: str
    model: str
    epochs: int
    overrides: Mapping[str, Any]
    model_options: Mapping[str, Any]
    changes: Mapping[str, Any] = field(default_factory=dict)
    retrain: bool = True

    @property
    def run_label(self) -> str:
        """``lab11-<label>``, the name of its run folder (``config.lab_run_dir``)."""
        return "lab11-" + re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")

    def recipe(self, profile: Profile | str | None = None) -> recipes.Recipe:
        """The step's recipe under ``profile``, as ``run.train`` resolves it."""
        return recipes.recipe(self.model, profile, "cifar10", epochs=self.epochs,
                              **self.overrides)


def target_recipe(profile: Profile | str | None = None, epochs: int | None = None
                  ) -> recipes.Recipe:
    """The recipe the ladder ends at: :data:`RECIPE` under ``profile``, for ``epochs`` epochs.

    Other epochs than the recipe's shorten it with :func:`recipes.shortened`.
    """
    chosen = get_profile(profile)
    target = recipes.recipe(RECIPE, chosen)
    if epochs is not None and chosen.epochs(epochs) != target.epochs:
        target = recipes.shortened(target, chosen.epochs(epochs))
    return target


def _differences(recipe: recipes.Recipe, base: recipes.Recipe) -> dict[str, Any]:
    """The fields of ``recipe`` that differ from ``base``'s, epochs aside."""
    return {f.name: getattr(recipe, f.name) for f in fields(recipe)
            if f.name != "epochs" and getattr(recipe, f.name) != getattr(base, f.name)}


def ladder(profile: Profile | str | None = None, epochs: int | None = None
           ) -> tuple[Trick, ...]:
    """The steps of the ladder under ``profile``, each one trick more than the one before.

    Every step trains the same number of epochs: ``epochs``, or the epochs of the
    airbench94 recipe at the lab's budget (:func:`target_recipe`). MiniVGGNet keeps its
    own recipe otherwise (its schedule spans those epochs).

    Example:
        >>> [t.label for t in ladder("cpu")][:3]
        ['MiniVGGNet, its recipe', 'airbench94 net, plain SGD', '+ BN bias lr x64, BN momentum 0.6']
    """
    chosen = get_profile(profile)
    target = target_recipe(chosen, epochs)
    base = recipes.recipe("airbench94", chosen)
    steps = [Trick(BASELINE, "minivggnet", target.epochs, {}, {})]
    plain_fields, plain_options = dict(PLAIN_RECIPE), dict(PLAIN_OPTIONS)
    previous = replace(target, **plain_fields)
    steps.append(Trick(PLAIN, "airbench94", target.epochs, _differences(previous, base),
                       dict(plain_options)))
    for label, switched, options in TRICKS:
        for name in switched:
            plain_fields.pop(name)
        for name in options:
            plain_options.pop(name)
        recipe = replace(target, **plain_fields)
        changes = {**_differences(recipe, previous),
                   **{name: AIRBENCH_OPTIONS[name] for name in options}}
        steps.append(Trick(label, "airbench94", target.epochs, _differences(recipe, base),
                           dict(plain_options), changes,
                           retrain=not set(switched) <= EVALUATION_ONLY))
        previous = recipe
    return tuple(steps)


@dataclass
class Rung:
    """What one step of the ladder reached.

    Attributes:
        trick: the step.
        accuracy: its test accuracy.
        report: its classification report on the test split.
        seconds: the seconds its training epochs took (validation included; from the run's
            history, so a reloaded run keeps them); 0 for a step that only evaluates.
        images: training images seen (training images x epochs; 0 for an evaluation step).
        history: the run's rows (``training.read_history``), one per epoch.
        run: the ``run.Run`` it trained (for an evaluation step, the one it evaluated).
    """

    trick: Trick
    accuracy: float
    report: Report
    seconds: float
    images: int
    history: list[dict[str, float]]
    run: Run

    @property
    def images_per_second(self) -> float | None:
        """Training images per second, validation included (``None`` without training)."""
        return self.images / self.seconds if self.seconds else None


def seconds_to(history: list[Mapping[str, float]], target: float,
               metric: str = "val_accuracy") -> float | None:
    """Seconds of training until ``metric`` first reaches ``target``: time-to-accuracy.

    The epochs' seconds are added up to and including the first epoch whose ``metric``
    is at least ``target``.

    Args:
        history: rows with ``metric`` and ``seconds``, one per epoch, in order.
        target: the accuracy to reach.
        metric: the row key to read.

    Returns:
        The seconds, or ``None`` when no epoch reaches ``target``.

    Example:
        >>> seconds_to([{"val_accuracy": 0.4, "seconds": 10.0},
        ...             {"val_accuracy": 0.6, "seconds": 8.0}], 0.5)
        18.0
    """
    total = 0.0
    for row in history:
        total += float(row["seconds"])
        if float(row[metric]) >= target:
            return total
    return None


def climb(splits: Splits, profile: Profile | str | None = None, *, epochs: int | None = None,
          seed: int = 42, only: Collection[str] | None = None,
          run_dir: Callable[[Trick], Path | None] | None = None, reuse_finished: bool = True,
          verbose: int | str = 2, plot: bool = True,
          log: Callable[[str], None] | None = print,
          done: Callable[[Rung], None] | None = None) -> list[Rung]:
    """Train the steps of :func:`ladder` on ``splits``, one after the other.

    Each training step is one ``run.train`` call (the whole chain: the recipe, the
    pipelines, the whitening set from the training images, fit, the test report). A step
    that changes only the evaluation (test-time augmentation) evaluates the step before's
    model again with its recipe's ``tta``, and prints that report.

    Args:
        splits: the data every step trains on (the same subset for all).
        profile: the profile (default: the current one).
        epochs: the epochs of every step (default: the ladder's).
        seed: the seed of every run.
        only: the labels of the training steps to run (default: all); a step that only
            evaluates runs when the step before it ran.
        run_dir: the run folder of each step (``None``: a new folder per run).
        reuse_finished: load a finished run from its folder instead of training again.
        verbose, plot: passed to ``run.train``.
        log: where the progress and reports go (``None``: nowhere).
        done: called with each :class:`Rung` as soon as its step is done.

    Returns:
        One :class:`Rung` per step that ran, in order.

    Raises:
        KeyError: for a label in ``only`` that is not a training step of the ladder.
    """
    from cnnlabs import evaluation, run, training

    say = log or (lambda _line: None)
    chosen = get_profile(profile)
    steps = ladder(chosen, epochs)
    trained = [t.label for t in steps if t.retrain]
    unknown = sorted(set(only or ()) - set(trained))
    if unknown:
        raise KeyError(f"No training step {unknown[0]!r} in the ladder. Its training steps: "
                       f"{', '.join(trained)}.")
    rungs: list[Rung] = []
    previous: Rung | None = None
    for trick in steps:
        if trick.retrain and only is not None and trick.label not in only:
            previous = None
            continue
        say(f"== {trick.label}" + (f": {_describe(trick.changes)}" if trick.changes else ""))
        if trick.retrain:
            result = run.train(trick.model, splits, profile=chosen, seed=seed,
                               epochs=trick.epochs, overrides=trick.overrides,
                               model_options=trick.model_options,
                               out=run_dir(trick) if run_dir else None,
                               reuse_finished=reuse_finished, verbose=verbose, plot=plot,
                               log=log)
            history = training.read_history(result.run_dir)
            rung = Rung(trick, result.report.accuracy, result.report,
                        sum(row.get("seconds", 0.0) for row in history),
                        result.data.n_train * len(history), history, result)
        elif previous is not None:
            data = previous.run.data
            report = evaluation.evaluate(previous.run.model, data.test, data.y_test,
                                         data.class_names, tta=trick.recipe(chosen).tta)
            say(f"Classification report: {trick.model} with test-time augmentation "
                f"({report.split}, n={report.n})")
            say(report.text)
            say(f"test accuracy {report.accuracy:.4f} (without it {previous.accuracy:.4f})")
            rung = Rung(trick, report.accuracy, report, 0.0, 0, previous.history,
                        previous.run)
        else:
            continue
        rungs.append(rung)
        previous = rung
        if done is not None:
            done(rung)
    return rungs


def _describe(changes: Mapping[str, Any]) -> str:
    return ", ".join(f"{name}={value!r}" for name, value in changes.items())


def table(rungs: list[Rung], target: float | None = None) -> str:
    """The ladder's results as a Markdown table: one row per step, what it bought.

    Columns: the step, what it changes, its test accuracy, the gain over the row above,
    its training seconds (validation included), training images per second and, with
    ``target``, the seconds until its validation accuracy first reached ``target``
    (:func:`seconds_to`; "never" when it did not, "-" for a step that only evaluates).
    """
    head = "| step | changes | test accuracy | gain | training s | images/s |"
    rule = "|---|---|---|---|---|---|"
    if target is not None:
        head, rule = head + f" s to {target:.1%} val |", rule + "---|"
    rows = [head, rule]
    for i, rung in enumerate(rungs):
        gain = "" if i == 0 else f"{100 * (rung.accuracy - rungs[i - 1].accuracy):+.1f} pt"
        speed = rung.images_per_second
        row = (f"| {rung.trick.label} | {_describe(rung.trick.changes) or '-'} | "
               f"{rung.accuracy:.4f} | {gain} | "
               f"{rung.seconds:.0f} | {'-' if speed is None else f'{speed:.0f}'} |")
        if target is not None:
            reached = seconds_to(rung.history, target) if rung.trick.retrain else None
            when = ("-" if not rung.trick.retrain else "never" if reached is None
                    else f"{reached:.0f}")
            row += f" {when} |"
        rows.append(row)
    return "\n".join(rows)
