"""Optimizers, schedules, callbacks, precision and ``fit``: training that resumes exactly.

:func:`fit` compiles a model from its :class:`~cnnlabs.recipes.Recipe` and trains it
into a run folder: the history as JSON and a plot (:class:`TrainingMonitor`), the best
model by validation accuracy, and a backup of weights, optimizer state and position
every ``backup_every`` batches and at each epoch end, the previous backup kept beside
it. Calling ``fit`` again on the folder of an interrupted run resumes it exactly: it
ends after the same number of optimizer steps, on the same learning rate.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras

from cnnlabs.backup import (
    BACKUP_DIR,
    Backup,
    restore,
)
from cnnlabs.optim import CoupledSGD, OneCycle, Triangle
from cnnlabs.recipes import Recipe, class_weights

if TYPE_CHECKING:
    from cnnlabs.pipelines import Pipelines

HISTORY_FILE = "history.json"
CURVES_FILE = "training_curves.png"
BEST_MODEL_FILE = "best.keras"
FINAL_MODEL_FILE = "model.keras"

#: Builds the optimizer for a recipe and the steps per epoch (the hook of :func:`fit`).
OptimizerFactory = Callable[[Recipe, int], "keras.optimizers.Optimizer"]


SCHEDULES = ("constant", "cosine", "linear", "polynomial", "step", "one_cycle", "triangle")


def learning_rate_schedule(recipe: Recipe, steps_per_epoch: int) -> Any:
    """A Keras ``LearningRateSchedule`` (or a float, for ``constant``) for ``recipe``."""
    total = max(1, recipe.epochs * steps_per_epoch)
    if recipe.schedule == "constant":
        return recipe.learning_rate
    if recipe.schedule == "cosine":
        warmup = min(recipe.warmup_epochs * steps_per_epoch, total - 1)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else recipe.learning_rate,
            decay_steps=total - warmup,
            alpha=recipe.min_lr_ratio,
            warmup_target=recipe.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if recipe.schedule in ("linear", "polynomial"):
        return keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate=recipe.learning_rate,
            decay_steps=total,
            end_learning_rate=recipe.learning_rate * recipe.min_lr_ratio,
            power=1.0 if recipe.schedule == "linear" else recipe.power,
        )
    if recipe.schedule == "step":
        bounds = [int(total * 0.5), int(total * 0.75)]
        values = [recipe.learning_rate, recipe.learning_rate / 10, recipe.learning_rate / 100]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    if recipe.schedule == "one_cycle":
        return OneCycle(recipe.learning_rate, max(2, total))
    if recipe.schedule == "triangle":
        return Triangle(recipe.learning_rate, total, recipe.peak_share, recipe.initial_lr_ratio,
                        recipe.min_lr_ratio)
    raise ValueError(f"Unknown schedule {recipe.schedule!r}. Valid: {', '.join(SCHEDULES)}.")


def make_optimizer(recipe: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The Keras 3 optimizer for ``recipe`` (no legacy ``lr=``/``decay=``)."""
    lr = learning_rate_schedule(recipe, steps_per_epoch)
    name = recipe.optimizer.lower()
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=recipe.weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(
            learning_rate=lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
            weight_decay=recipe.weight_decay or None,
        )
    if name == "sgd_l2":
        return CoupledSGD(
            learning_rate=lr, momentum=recipe.momentum, nesterov=recipe.nesterov,
            l2=recipe.weight_decay, lr_multipliers=recipe.lr_multipliers,
            freeze_after=[(p, round(e * steps_per_epoch)) for p, e in recipe.freeze_after],
            lookahead_every=recipe.lookahead_every,
            lookahead_start=recipe.lookahead_start * steps_per_epoch,
            lookahead_decay=recipe.lookahead_decay, lookahead_power=recipe.lookahead_power,
            total_steps=recipe.epochs * steps_per_epoch, epoch_steps=steps_per_epoch)
    raise ValueError(f"Unknown optimizer {recipe.optimizer!r}. Valid: adam, adamw, sgd, sgd_l2.")


class TrainingMonitor(keras.callbacks.Callback):
    """Write the training history as JSON and a loss/accuracy plot after every epoch.

    Each row holds the epoch number (from 1), every metric Keras logged and the
    epoch's wall time. On a resumed run (``resume=True``) the rows from the
    restarted epoch on are replaced, so the file always holds one row per finished
    epoch; with ``resume=False`` the rows an earlier run left are dropped.
    """

    def __init__(self, run_dir: Path | str, plot: bool = True, title: str = "Training",
                 resume: bool = True) -> None:
        super().__init__()
        self.resume, self.title, self.plot = resume, title, plot
        self.run_dir = Path(run_dir)
        self.json_path, self.plot_path = self.run_dir / HISTORY_FILE, self.run_dir / CURVES_FILE
        self.rows: list[dict[str, float]] = []
        self._epoch_start = 0.0

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.rows = read_history(self.run_dir) if self.resume else []

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        row: dict[str, float] = {"epoch": epoch + 1}
        row.update({k: float(v) for k, v in (logs or {}).items()})
        row["seconds"] = round(time.perf_counter() - self._epoch_start, 2)
        self.rows = [r for r in self.rows if r["epoch"] < epoch + 1] + [row]
        tmp = self.json_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.rows, indent=2))
        tmp.replace(self.json_path)  # never a half-written history
        if self.plot:
            from cnnlabs import plots

            plots.training_curves(self.rows, path=self.plot_path, title=self.title)


def read_history(run_dir: Path | str) -> list[dict[str, float]]:
    """The per-epoch rows written by ``TrainingMonitor`` (empty if none yet)."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    return json.loads(path.read_text())


def loss_for(recipe: Recipe, one_hot: bool) -> keras.losses.Loss:
    """Cross-entropy for integer labels, or for one-hot labels with ``recipe``'s label smoothing.

    Raises:
        ValueError: when the recipe smooths labels but the labels are integers
            (build the pipelines with ``one_hot=True``).
    """
    if one_hot:
        return keras.losses.CategoricalCrossentropy(label_smoothing=recipe.label_smoothing)
    if recipe.label_smoothing:
        raise ValueError(
            "Label smoothing needs one-hot labels: build the pipelines with "
            "pipelines.build(..., one_hot=True)."
        )
    return keras.losses.SparseCategoricalCrossentropy()


def compile_model(model: keras.Model, recipe: Recipe, steps_per_epoch: int,
                  one_hot: bool = False, optimizer: OptimizerFactory | None = None) -> None:
    """Compile ``model`` with ``recipe``'s optimizer, loss and ``jit_compile``.

    ``optimizer`` replaces :func:`make_optimizer` as the factory of the optimizer (it is
    called with the recipe and the steps per epoch), e.g. to switch on weight averaging.
    """
    chosen = (optimizer or make_optimizer)(recipe, steps_per_epoch)
    if isinstance(chosen, CoupledSGD) and chosen.lookahead_every:
        chosen.average_also(model.non_trainable_variables)  # the BN statistics, as PyTorch's
    model.compile(
        optimizer=chosen,
        loss=loss_for(recipe, one_hot),
        metrics=["accuracy"],
        jit_compile=recipe.jit_compile,
    )


def mixed_precision_supported() -> bool:
    """True when every visible GPU has compute capability 7.0 or more (tensor cores)."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return False
    for gpu in gpus:
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
        if not capability or tuple(capability) < (7, 0):
            return False
    return True


def cpu_bfloat16_supported() -> bool:
    """True when the CPU has bfloat16 instructions (AVX512_BF16 or AMX) and no GPU is visible."""
    import tensorflow as tf

    info = Path("/proc/cpuinfo")
    if tf.config.list_physical_devices("GPU") or not info.is_file():
        return False
    flags = next((line.split(":", 1)[1].split() for line in info.read_text().splitlines()
                  if line.startswith("flags")), [])
    return bool({"avx512_bf16", "amx_bf16"} & set(flags))


def set_precision(recipe: Recipe) -> str:
    """Set Keras' global dtype policy for ``recipe``; call it before building the model.

    Returns the policy name: ``"mixed_float16"`` when the recipe asks for mixed
    precision and the GPUs support it; ``"mixed_bfloat16"`` when it asks for
    ``cpu_bfloat16`` and the CPU computes in bfloat16 natively (no GPU); else ``"float32"``.
    """
    policy = "float32"
    if recipe.mixed_precision and mixed_precision_supported():
        policy = "mixed_float16"
    elif recipe.cpu_bfloat16 and cpu_bfloat16_supported():
        policy = "mixed_bfloat16"
    keras.config.set_dtype_policy(policy)
    return policy


def _finished(model: keras.Model, recipe: Recipe, run_dir: Path) -> bool:
    """Whether ``run_dir`` holds ``recipe``'s run finished; if so its weights are loaded."""
    described, final = run_dir / "recipe.json", run_dir / FINAL_MODEL_FILE
    try:
        same = json.loads(described.read_text()) == json.loads(json.dumps(asdict(recipe)))
    except (OSError, ValueError):
        return False
    if not (same and final.is_file() and len(read_history(run_dir)) == recipe.epochs):
        return False
    try:
        if not model.optimizer.built:  # else Keras skips, and warns about, its saved state
            model.optimizer.build(model.trainable_variables)
        model.load_weights(final)
    except (OSError, ValueError) as exc:  # another architecture, or a torn file
        warnings.warn(f"{final} cannot be loaded into {model.name} ({exc}); training again.",
                      stacklevel=3)
        return False
    return True


class _RunHistory(keras.callbacks.History):
    """Keras' ``History``, kept across the fit calls of one resumed run."""

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not hasattr(self, "epoch"):
            self.epoch = []


def fit(
    model: keras.Model,
    data: Pipelines,
    recipe: Recipe,
    run_dir: Path | str,
    *,
    verbose: int | str = 2,
    backup_every: int | None = 200,
    extra_callbacks: list | None = None,
    plot: bool = True,
    class_weight: dict[int, float] | None = None,
    optimizer: OptimizerFactory | None = None,
    reuse_finished: bool = False,
) -> keras.callbacks.History:
    """Train ``model`` on ``data`` with ``recipe`` into ``run_dir``, resuming an interrupted run.

    ``run_dir`` receives ``history.json``, ``training_curves.png``, ``best.keras`` (best
    validation accuracy), ``model.keras``, ``recipe.json`` and, while training, ``backup/``.
    With a ``backup/`` from an interrupted run, weights, optimizer state and step count
    come back and the interrupted epoch goes on with the batches it had left (from a
    fresh shuffle), so the run ends after ``epochs * steps_per_epoch`` steps, as without
    the interruption. Without one the run starts afresh and replaces what an earlier
    run left in the folder.

    Args:
        verbose: Keras' verbosity (2: one line per epoch, for notebooks and logs).
        backup_every: back up every this many batches as well as at epoch ends
            (``None``: at epoch ends only).
        extra_callbacks: appended after the standard ones.
        plot: redraw ``training_curves.png`` after every epoch.
        class_weight: per-class loss weights; ``None`` takes balanced ones from
            ``data.y_train`` when ``recipe.balance_classes`` is set.
        optimizer: a factory ``(recipe, steps_per_epoch) -> optimizer`` instead of
            :func:`make_optimizer`.
        reuse_finished: when ``run_dir`` already holds this very run finished (the same
            recipe, every epoch in its history, ``model.keras``), load its final weights
            and train nothing, as a lab run again in a new runtime does.

    Returns:
        The ``History`` of the epochs trained in this call.

    Raises:
        BackupError: the backup of the interrupted run cannot be read.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    steps = data.steps_per_epoch
    compile_model(model, recipe, steps, one_hot=data.one_hot, optimizer=optimizer)
    if class_weight is None and recipe.balance_classes:
        class_weight = class_weights(data.y_train)
    backup_dir = run_dir / BACKUP_DIR
    if reuse_finished and not backup_dir.exists() and _finished(model, recipe, run_dir):
        if verbose:
            print(f"{run_dir} holds this run finished: its final weights are loaded and "
                  "nothing is trained (use another run folder to train again).")
        history = _RunHistory()
        history.set_model(model)
        history.on_train_begin()
        for row in read_history(run_dir):
            history.on_epoch_end(int(row["epoch"]) - 1, {k: v for k, v in row.items()
                                                         if k not in ("epoch", "seconds")})
        return history
    position = restore(model, backup_dir) if backup_dir.is_dir() else None
    # Without a backup this run starts from scratch, whatever an earlier run left here:
    # its history rows and best score must not carry over (nor keep a stale best.keras).
    resuming = position is not None
    previous = read_history(run_dir) if resuming else []
    best_so_far = max((row.get("val_accuracy", -math.inf) for row in previous), default=None)
    checkpoint = keras.callbacks.ModelCheckpoint(
        run_dir / BEST_MODEL_FILE, monitor="val_accuracy", mode="max", save_best_only=True,
        initial_value_threshold=best_so_far)
    backup = Backup(backup_dir, backup_every)
    monitor = TrainingMonitor(run_dir, plot=plot, title=f"{model.name}: training",
                              resume=resuming)
    # The backup comes after the history and the checkpoint: an epoch counts as done in
    # the backup only once its history row and best model are on disk.
    history = _RunHistory()
    callbacks = [history, monitor, checkpoint, backup,
                 keras.callbacks.TerminateOnNaN(), *(extra_callbacks or [])]
    if getattr(data, "epoch", None) is not None:  # read by epoch-dependent augmentations
        callbacks.insert(0, keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: data.epoch.assign(epoch)))
    (run_dir / "recipe.json").write_text(json.dumps(asdict(recipe), indent=2))
    epoch, done = position or (0, 0)
    if done >= steps:  # every batch of that epoch was trained; only its end was not saved
        epoch, done = epoch + 1, 0
    with warnings.catch_warnings():
        # Keras warns that shuffle=True is ignored for a tf.data input: the
        # pipeline already shuffles, so the warning is noise in every lab.
        warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")

        def train(dataset: Any, first: int, last: int) -> None:
            model.fit(dataset, validation_data=data.val, initial_epoch=first, epochs=last,
                      callbacks=callbacks, verbose=verbose, class_weight=class_weight)

        if done and epoch < recipe.epochs:
            # Finish the interrupted epoch with the batches it had left.
            backup.start_within_epoch(done)
            train(data.train.skip(done), epoch, epoch + 1)
            epoch += 1
        if epoch < recipe.epochs and not model.stop_training:
            train(data.train, epoch, recipe.epochs)
    model.save(run_dir / FINAL_MODEL_FILE)
    shutil.rmtree(backup_dir, ignore_errors=True)
    history.set_model(model)
    history.on_train_begin()  # a run that had nothing left to train has no epochs
    return history
