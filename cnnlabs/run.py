"""The whole chain, end to end: load -> pipelines -> model -> fit -> evaluate -> run folder.

>>> from cnnlabs import run
>>> result = run.train("lenet", "mnist", profile="cpu")      # doctest: +SKIP
>>> print(result.report)                                     # doctest: +SKIP

:func:`train` is what ``cnnlabs train`` and the benchmark scripts run, and what a
lab calls for a side experiment; a lab that teaches the chain runs its steps one by
one with the same library calls. The profile is resolved once, at the top, and
passed down as a :class:`~cnnlabs.config.Profile`. Hooks change one step without
copying the others: ``optimizer`` (how the optimizer is made), ``build_model`` (how
the network is built), ``prepare_data`` (a change to the pipelines), and
:func:`fit_transfer`, the two phases of transfer learning, which ``train`` uses for
the ``transfer_<backbone>`` models.

Run folders: ``<runs>/<model>-<dataset>-<profile>-<time>/`` unless ``out`` names
one. Reusing the folder of an interrupted run resumes it from its backup; a folder
that holds a finished run, or another run's backup, is refused.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cnnlabs import config
from cnnlabs.config import Profile

if TYPE_CHECKING:
    import keras

    from cnnlabs.datasets import ImageFolderSplits, Splits
    from cnnlabs.evaluation import Report
    from cnnlabs.pipelines import Pipelines
    from cnnlabs.recipes import Recipe
    from cnnlabs.training import OptimizerFactory

#: Model names ``transfer_<backbone>`` train ``models.transfer(backbone)`` in two phases.
TRANSFER_PREFIX = "transfer_"
#: The sub-folders of a transfer run, one per phase.
PHASE_FOLDERS = ("1_feature_extraction", "2_fine_tuning")
#: The file naming what a run folder holds (model, dataset, profile, recipe, seed).
RUN_FILE = "run.json"


class RunFolderError(ValueError):
    """The run folder cannot be used for this run (it holds another or a finished run)."""


@dataclass
class Run:
    """What :func:`train` did.

    Attributes:
        model: the trained Keras model.
        data: the pipelines it trained and was evaluated on.
        recipes: the recipe of each training phase (one, or two for transfer learning).
        run_dir: the run folder.
        report: the evaluation on the official test split (``None`` when not evaluated).
        results: the dictionary saved as ``results.json`` (the run's facts alone when
            not evaluated).
        splits: the loaded dataset.
        resumed: True when the run went on from the backup of an interrupted one.
        seconds: this session's training time.
    """

    model: keras.Model
    data: Pipelines
    recipes: list[Recipe]
    run_dir: Path
    report: Report | None
    results: dict[str, Any]
    splits: Splits | ImageFolderSplits
    resumed: bool
    seconds: float

    @property
    def recipe(self) -> Recipe:
        """The recipe of the (last) training phase."""
        return self.recipes[-1]


def model_names() -> list[str]:
    """Every model name :func:`train` accepts: the registry's and ``transfer_<backbone>``."""
    from cnnlabs import models

    return sorted([*models.names(), *(TRANSFER_PREFIX + b for b in models.BACKBONES)])


def backbone_name(model: str) -> str | None:
    """The backbone of a ``transfer_<backbone>`` model name, else ``None``."""
    from cnnlabs import models

    key = model.lower()
    if key.startswith(TRANSFER_PREFIX) and key[len(TRANSFER_PREFIX):] in models.BACKBONES:
        return key[len(TRANSFER_PREFIX):]
    return None


def check_model_name(model: str) -> None:
    """Raise ``ValueError`` (listing the valid names) unless :func:`train` knows ``model``."""
    from cnnlabs import models

    if backbone_name(model) is None:
        try:
            models.get_builder(model)
        except ValueError:
            raise ValueError(f"Unknown model {model!r}. Valid models: "
                             f"{', '.join(model_names())}.") from None


def fit_transfer(model: keras.Model, data: Pipelines, phases: Sequence[Recipe],
                 run_dir: Path | str, *, verbose: int | str = 2,
                 optimizer: OptimizerFactory | None = None,
                 plot: bool = True) -> list[keras.callbacks.History]:
    """Train a ``models.transfer`` model in phases, one sub-folder of ``run_dir`` each.

    Phase 1 (feature extraction) trains the head on the frozen backbone; before each
    later phase the top ``recipe.unfreeze`` layers of the backbone are unfrozen
    (``models.unfreeze_top``; BatchNormalization stays frozen) and the model is
    compiled again with that phase's recipe. A phase already finished in an earlier
    session (its ``model.keras`` is there and no backup is left) is not trained
    again: its final weights are loaded, so an interrupted run resumes in the phase
    it was in.

    Returns:
        The ``History`` of each phase trained in this call.
    """
    from cnnlabs import backup, models, training

    run_dir = Path(run_dir)
    if len(phases) > len(PHASE_FOLDERS):
        raise ValueError(f"At most {len(PHASE_FOLDERS)} phases; got {len(phases)}.")
    histories = []
    for recipe, folder in zip(phases, PHASE_FOLDERS, strict=False):
        if recipe.unfreeze:
            models.unfreeze_top(model, recipe.unfreeze)
        phase_dir = run_dir / folder
        finished = phase_dir / training.FINAL_MODEL_FILE
        if finished.is_file() and not (phase_dir / backup.BACKUP_DIR).exists():
            model.load_weights(finished)
            continue
        histories.append(training.fit(model, data, recipe, phase_dir, verbose=verbose,
                                      optimizer=optimizer, plot=plot))
    return histories


def _keeps_dtype_policy(function: Callable[..., Run]) -> Callable[..., Run]:
    """``function`` with Keras' global dtype policy put back when it returns or raises.

    A recipe sets the policy before its model is built (``training.set_precision``);
    the model keeps it, and a model built after the run, in a notebook or a test,
    must not compute in the last recipe's bfloat16 or float16 by surprise.
    """

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Run:
        import keras

        policy = keras.config.dtype_policy()
        try:
            return function(*args, **kwargs)
        finally:
            keras.config.set_dtype_policy(policy)

    return wrapper


@_keeps_dtype_policy
def train(
    model: str,
    dataset: str | Splits | ImageFolderSplits,
    *,
    profile: str | Profile | None = None,
    seed: int = 42,
    epochs: int | None = None,
    batch_size: int | None = None,
    overrides: Mapping[str, Any] | None = None,
    model_options: Mapping[str, Any] | None = None,
    data_options: Mapping[str, Any] | None = None,
    out: Path | str | None = None,
    verbose: int | str = 2,
    optimizer: OptimizerFactory | None = None,
    build_model: Callable[[tuple[int, ...], int], keras.Model] | None = None,
    prepare_data: Callable[[Pipelines], Pipelines] | None = None,
    plot: bool = True,
    evaluate: bool = True,
    reuse_finished: bool = False,
    log: Callable[[str], None] | None = print,
) -> Run:
    """Train ``model`` on ``dataset``, evaluate it on the test split, and fill a run folder.

    Args:
        model: a ``models.build`` name, or ``transfer_<backbone>`` (``models.BACKBONES``)
            for transfer learning in two phases (the ``transfer_features`` and
            ``transfer_finetune`` recipes), with the profile's pretrained weights.
            A grid detector (``yolo_grid``) trains on a detection dataset
            (``mnist_detection``): the model's grid encodes the boxes as YOLO targets,
            and the report is a ``detection.DetectionReport`` (per-class AP, mAP@0.5
            and mAP@[.5:.95] after decoding and non-max suppression).
        dataset: a catalogue name, or data already loaded (a ``Splits`` or an
            ``ImageFolderSplits``, e.g. a subsample for a lab's side experiment).
        profile: a :class:`Profile`, a profile name, or ``None`` for the default.
        seed: seeds everything (weights, data order, validation split, subsample).
        epochs, batch_size: override the recipe's (``None``: the recipe's).
        overrides: other recipe fields to override, e.g. ``{"augment": ()}``.
        model_options: keyword arguments for the model builder.
        data_options: keyword arguments for ``datasets.load`` (a catalogue name only).
        out: the run folder; ``None`` makes a new one under the runs folder.
        verbose: Keras' verbosity (2: one line per epoch).
        optimizer: a factory ``(recipe, steps_per_epoch) -> optimizer`` instead of
            ``training.make_optimizer``.
        build_model: a function ``(input_shape, classes) -> model`` instead of the
            registry's builder (the name still picks the recipe).
        prepare_data: a function applied to the pipelines before training.
        plot: redraw the training curves after every epoch.
        evaluate: evaluate on the test split and save the report (``False``: the run
            only trains, as a lab's side experiment that compares training curves may).
        reuse_finished: when ``out`` holds this very run finished, load its final model
            and evaluate it again instead of training (labs run again after a runtime
            reset); without it such a folder is refused.
        log: where progress lines go (``None``: nowhere).

    Returns:
        A :class:`Run`. Two-class datasets choose their decision threshold on the
        validation split and report AUC, sensitivity and specificity as well.

    Raises:
        ValueError: an unknown model, a multi-label dataset, a detector with a
            classification dataset (or the other way round), or a run folder that is a
            file or holds another or a finished run.
        DatasetError: the data cannot be loaded (the message says what to do).
    """
    from cnnlabs import datasets, detection, pipelines, recipes, training

    say = log or (lambda _line: None)
    chosen_profile = config.get_profile(profile)
    check_model_name(model)
    backbone = backbone_name(model)
    detect = _is_detection(model, dataset)
    if isinstance(dataset, str):
        if not detect:
            _check_single_label(dataset)
        dataset_name = datasets.info(dataset).name
    else:
        dataset_name = dataset.name
    if detect:
        _check_detection_pair(model, dataset, dataset_name, build_model)
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise RunFolderError(f"{out} is a file, not a run folder; choose another folder.")

    changes = {"epochs": epochs, "batch_size": batch_size, **dict(overrides or {})}
    if backbone is None:
        phases = [recipes.recipe(model, chosen_profile, dataset_name, **changes)]
    else:
        phases = [recipes.recipe(name, chosen_profile, **changes)
                  for name in recipes.TRANSFER_PHASES]
    first = phases[0]

    config.seed_everything(seed)
    if isinstance(dataset, str):
        splits = datasets.load(dataset, chosen_profile, seed=seed, **dict(data_options or {}))
    else:
        splits = dataset
    say(splits.describe())
    for note in splits.notes:
        say(f"  note: {note}")
    spec = None
    if detect:  # the model's grid decides the targets, so it is built first
        precision = training.set_precision(first)
        network = _build(model, None, splits, chosen_profile, model_options, build_model)
        spec = detection.spec_of(network)
        data = detection.pipelines(splits, spec, first.batch_size, chosen_profile, seed=seed)
        if prepare_data is not None:
            data = prepare_data(data)
    else:
        one_hot = first.label_smoothing > 0
        if hasattr(splits, "train") and hasattr(splits, "image_size"):  # image files
            value_range = pipelines.RAW_PIXELS if backbone else pipelines.UNIT_PIXELS
            data = pipelines.build_files(splits, first.batch_size, seed=seed,
                                         augment=first.augment, value_range=value_range,
                                         one_hot=one_hot)
        else:
            data = pipelines.build(splits, first.batch_size, chosen_profile, seed=seed,
                                   augment=first.augment, one_hot=one_hot,
                                   drop_remainder=first.drop_remainder)
        if prepare_data is not None:
            data = prepare_data(data)
        precision = training.set_precision(first)  # before the model is built
        network = _build(model, backbone, splits, chosen_profile, model_options, build_model)
        _init_from_data(network, data)
    if precision != "float32":
        say(f"mixed precision: {precision}")
    # The folder is claimed once the data loads and the model builds: a run that cannot
    # start leaves no folder behind.
    run_dir = Path(out) if out is not None else config.new_run_dir(
        f"{model}-{dataset_name}-{chosen_profile.name}")
    resumed = claim_run_folder(run_dir, {
        "model": model, "dataset": dataset_name, "profile": chosen_profile.name,
        "recipe": [asdict(r) for r in phases] if backbone else asdict(first), "seed": seed,
    }, reuse_finished=reuse_finished)
    grid = "" if spec is None else (
        f"; grid {spec.grid_size}x{spec.grid_size}, {spec.boxes} boxes per cell"
        + ("" if spec.anchors is None else " (anchors)"))
    say(f"profile {chosen_profile.name}: "
        + " then ".join(f"{r.epochs} epochs, batch {r.batch_size}, {r.optimizer} lr "
                        f"{r.learning_rate} ({r.schedule})" for r in phases)
        + f"{grid}; train {data.n_train}, val {data.n_val}, test {data.n_test}"
        + (" images" if detect else ""))
    say(("resuming from the backup in " if resumed else "run folder: ") + str(run_dir))

    start = time.perf_counter()
    if backbone is None:
        training.fit(network, data, first, run_dir, verbose=verbose, optimizer=optimizer,
                     plot=plot, reuse_finished=reuse_finished)
        rows = training.read_history(run_dir)
    else:
        fit_transfer(network, data, phases, run_dir, verbose=verbose, optimizer=optimizer,
                     plot=plot)
        rows = [row for folder in PHASE_FOLDERS[:len(phases)]
                for row in training.read_history(run_dir / folder)]
    seconds = time.perf_counter() - start

    # Epochs and their time come from history.json, which spans every session of a
    # resumed run (and stops where TerminateOnNaN stopped it), not from the recipe.
    epoch_seconds = round(sum(row.get("seconds", 0.0) for row in rows), 1)
    extra = {
        "model": model,
        "dataset": dataset_name,
        "profile": chosen_profile.name,
        "recipe": asdict(first) if backbone is None else [asdict(r) for r in phases],
        **({} if spec is None else {"grid": {
            "grid_size": spec.grid_size, "boxes": spec.boxes, "classes": spec.classes,
            "anchors": None if spec.anchors is None else [list(a) for a in spec.anchors]}}),
        "parameters": int(network.count_params()),
        "train_seconds": round(seconds, 1),  # this session's training
        "epochs_trained": len(rows),
        "epoch_seconds_all_sessions": epoch_seconds,
        "resumed": resumed,
        "mock_data": bool(splits.is_mock),
        "data_source": str(getattr(splits, "source", "") or getattr(splits, "root", "")),
        "seed": seed,
        "environment": {k: v for k, v in config.environment().items() if k != "profile"},
    }
    if not evaluate:
        say(f"trained {len(rows)} epochs in {seconds:.0f} s; run folder: {run_dir}")
        return Run(model=network, data=data, recipes=phases, run_dir=run_dir, report=None,
                   results=extra, splits=splits, resumed=resumed, seconds=seconds)
    report, title, headline = _evaluate(network, data, splits, first, run_dir, extra, detect)
    say("")
    if splits.is_mock:
        say("WARNING: trained on MOCK data; these numbers say nothing about the model.")
    say(f"{title}: {model} on {dataset_name} ({report.split}, "
        + (f"{report.n_images} images)" if detect else f"n={report.n})"))
    say(report.text)
    timing = (f"in {seconds:.0f} s this session ({epoch_seconds:.0f} s of epochs over all "
              f"sessions)" if resumed else f"in {seconds:.0f} s")
    say(f"{headline} after {len(rows)} epochs {timing}")
    say(f"run folder: {run_dir}")
    return Run(model=network, data=data, recipes=phases, run_dir=run_dir, report=report,
               results=report.to_dict(), splits=splits, resumed=resumed, seconds=seconds)


def _evaluate(network: keras.Model, data: Any, splits: Any, recipe: Recipe, run_dir: Path,
              extra: dict[str, Any], detect: bool) -> tuple[Any, str, str]:
    """The test report of a run, its title, and its headline line.

    A detector gets a ``detection.DetectionReport`` (decoded, NMS, mAP); a two-class
    classifier a report whose threshold is chosen on the validation split (AUC,
    sensitivity, specificity); any other classifier the plain report, with the recipe's
    test-time augmentation.
    """
    from cnnlabs import detection, evaluation

    if detect:
        report = detection.evaluate_model(network, splits.test, splits.class_names,
                                          split="test", run_dir=run_dir, extra=extra)
        return (report, "Detection report",
                f"test mAP@0.5 {report.map50:.4f}, mAP@[.5:.95] {report.map50_95:.4f}")
    if data.n_test and len(data.class_names) == 2:
        report = evaluation.evaluate_binary(network, data.val, data.y_val, data.test,
                                            data.y_test, data.class_names, run_dir=run_dir,
                                            extra=extra)
    else:
        report = evaluation.evaluate(network, data.test, data.y_test, data.class_names,
                                     run_dir=run_dir, split="test", extra=extra, tta=recipe.tta)
    return report, "Classification report", f"test accuracy {report.accuracy:.4f}"


def claim_run_folder(run_dir: Path, run: dict[str, Any], reuse_finished: bool = False) -> bool:
    """Claim ``run_dir`` for ``run``; True when it resumes an interrupted run.

    A folder holding a backup resumes when its ``run.json`` describes the same run.
    A folder that holds a finished run, or another run's backup, is refused rather
    than overwritten; with ``reuse_finished``, a folder holding this very run finished
    is taken too (True), for its final model to be loaded instead of trained again.

    Raises:
        RunFolderError: the folder holds another run's backup or a finished run.
    """
    from cnnlabs import backup, evaluation, training

    described = run_dir / RUN_FILE
    if (run_dir / evaluation.RESULTS_FILE).is_file():
        if reuse_finished and described.is_file() and json.loads(
                described.read_text()) == json.loads(json.dumps(run)):
            return True
        raise RunFolderError(f"{run_dir} already holds a finished run; choose another folder.")
    phases = [run_dir / folder for folder in PHASE_FOLDERS]
    in_progress = (any((folder / backup.BACKUP_DIR).is_dir() for folder in [run_dir, *phases])
                   or any((folder / training.FINAL_MODEL_FILE).is_file() for folder in phases))
    if in_progress:
        if described.is_file() and json.loads(described.read_text()) != json.loads(
                json.dumps(run)):
            raise RunFolderError(
                f"{run_dir} holds the backup of a different run ({described} differs from "
                "this run's model, dataset, profile, recipe or seed). Resume it with the same "
                "command, or choose another run folder.")
        return True
    run_dir.mkdir(parents=True, exist_ok=True)
    described.write_text(json.dumps(run, indent=2))
    return False


def _check_single_label(dataset: str) -> None:
    from cnnlabs.datasets.medmnist_info import MEDMNIST, MULTI_LABEL

    flag = MEDMNIST.get(dataset.lower())
    if flag is not None and flag.task == MULTI_LABEL:
        raise ValueError(
            f"{dataset} is a multi-label task ({len(flag.labels)} yes/no labels per image); "
            "the run chain handles single-label classification (one softmax class per "
            "image) only. Train it in Python with sigmoid outputs and binary cross-entropy, "
            "and score it with evaluation.medmnist_metrics.")


def _build(model: str, backbone: str | None, splits: Any, profile: Profile,
           options: Mapping[str, Any] | None,
           build_model: Callable[[tuple[int, ...], int], keras.Model] | None) -> keras.Model:
    from cnnlabs import models

    shape, classes = tuple(splits.input_shape), splits.num_classes
    if build_model is not None:
        return build_model(shape, classes)
    if backbone is not None:
        return models.transfer(backbone, shape, classes,
                               **{"weights": profile.pretrained, **dict(options or {})})
    return models.build(model, shape, classes, **dict(options or {}))


# --- detection: grid detectors (yolo_grid) on datasets of boxes (mnist_detection) -------------


def _is_detection(model: str, dataset: Any) -> bool:
    from cnnlabs import detection

    return detection.is_detection_model(model) or detection.is_detection_dataset(dataset)


def _check_detection_pair(model: str, dataset: Any, dataset_name: str,
                          build_model: Callable[..., Any] | None) -> None:
    """Refuse a detector with a classification dataset, or a classifier with boxes."""
    from cnnlabs import detection

    if not detection.is_detection_dataset(dataset):
        raise ValueError(f"{model} is an object detector: train it on a detection dataset "
                         f"(images with boxes), such as mnist_detection; {dataset_name} is a "
                         "classification dataset.")
    if build_model is None and not detection.is_detection_model(model):
        raise ValueError(f"{dataset_name} is a detection dataset (images with boxes): train a "
                         f"grid detector on it, such as yolo_grid, not the classifier {model}.")


# --- Data-dependent initialisation (airbench94's patch whitening) ---
def _init_from_data(network: keras.Model, data: Pipelines) -> None:
    """Set a whitening layer's filters from the training images (a resumed run reloads them).

    Raises:
        ValueError: the model has a whitening layer but the data are image files, or
            the training images are degenerate for it.
    """
    from cnnlabs.models import airbench

    if airbench.whitening_layer(network) is None:
        return
    if getattr(data, "x_train", None) is None:
        raise ValueError(f"{network.name} sets its first layer from the training images, which "
                         "only in-memory datasets (pipelines.build) provide.")
    airbench.init_whitening(network, data.x_train)
