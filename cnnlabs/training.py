"""Recipes, callbacks and ``fit``: training that writes a run folder and resumes.

A *recipe* is everything about training one model under one profile: the
optimizer, the learning-rate schedule, epochs and batch size. Recipes are
looked up with :func:`recipe` and are the only place epochs and batch sizes
are chosen (the profile may cap epochs further, e.g. ``smoke`` runs one).

:func:`fit` compiles the model from its recipe and trains it with:

- :class:`TrainingMonitor`: the history as JSON plus a loss/accuracy plot,
  rewritten after every epoch;
- ``keras.callbacks.ModelCheckpoint``: the best model by validation accuracy,
  as ``best.keras``;
- ``keras.callbacks.BackupAndRestore``: weights, optimizer state and epoch,
  every ``backup_every`` batches and at each epoch end. Calling ``fit`` again
  on the same run folder after an interruption resumes from the last backup
  (the interrupted epoch restarts from its first batch with the saved weights).
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np

from cnnlabs.arithmetic import is_integer
from cnnlabs.config import Profile, get_profile

if TYPE_CHECKING:
    from cnnlabs.pipelines import Pipelines

HISTORY_FILE = "history.json"
CURVES_FILE = "training_curves.png"
BEST_MODEL_FILE = "best.keras"
FINAL_MODEL_FILE = "model.keras"
BACKUP_DIR = "backup"


@dataclass(frozen=True)
class Recipe:
    """How to train one model under one profile.

    Attributes:
        optimizer: ``"adam"``, ``"adamw"`` or ``"sgd"``.
        learning_rate: the peak (initial) learning rate.
        schedule: ``"constant"``; ``"cosine"`` (cosine decay to ``min_lr_ratio``
            of the peak over the run, after ``warmup_epochs`` of linear warm-up);
            ``"linear"`` and ``"polynomial"`` (decay to ``min_lr_ratio`` of the
            peak with power 1, or ``power``, the replacement for the removed
            ``decay=`` argument); ``"step"`` (divide by 10 at 50% and 75% of the
            run); or ``"one_cycle"`` (Smith's one-cycle policy, :class:`OneCycle`).
        power: the exponent of the polynomial schedule.
        epochs: epochs to train (the profile may cap them).
        batch_size: samples per batch.
        momentum, nesterov: for SGD.
        weight_decay: decoupled weight decay (AdamW / SGD), 0 for none.
        warmup_epochs: linear warm-up length for the cosine schedule.
        min_lr_ratio: the cosine schedule's final learning rate, as a share of the peak.
        augment: augmentation names (``pipelines.AUGMENTATIONS``) for the training split.
        label_smoothing: share of the target mass spread over all classes (0: none);
            above 0 the pipelines carry one-hot labels.
        mixed_precision: compute in float16 on GPUs that support it (compute
            capability 7.0+); the output layer stays float32. Ignored on CPUs.
        jit_compile: passed to ``Model.compile`` (``"auto"`` lets Keras decide).
        balance_classes: weight the loss by balanced class weights computed on the
            training labels (``evaluation.class_weights``), for imbalanced data.
        unfreeze: for fine-tuning a ``models.transfer`` model: how many of the
            backbone's top layers to unfreeze (``models.unfreeze_top``); 0 for none.
    """

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    epochs: int = 10
    batch_size: int = 128
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 0.0
    warmup_epochs: int = 0
    min_lr_ratio: float = 0.0
    power: float = 2.0
    augment: tuple[str, ...] = ()
    label_smoothing: float = 0.0
    mixed_precision: bool = False
    jit_compile: bool | str = "auto"
    balance_classes: bool = False
    unfreeze: int = 0

    def __post_init__(self) -> None:
        """Reject settings that would train nothing or train wrongly, before any data loads.

        Whole-number fields given as NumPy integers become plain ints (``recipe.json``
        is written with the standard JSON encoder).
        """
        checks = [
            (is_integer(self.epochs) and self.epochs >= 1,
             "epochs must be a whole number, 1 or more"),
            (is_integer(self.batch_size) and self.batch_size >= 1,
             "batch_size must be a whole number, 1 or more"),
            (is_integer(self.unfreeze), "unfreeze must be a whole number"),
            (self.learning_rate > 0, "learning_rate must be above 0"),
            (self.weight_decay >= 0, "weight_decay must be 0 or more"),
            (self.warmup_epochs >= 0, "warmup_epochs must be 0 or more"),
            (0 <= self.min_lr_ratio <= 1, "min_lr_ratio must be in [0, 1]"),
            (0 <= self.label_smoothing < 1, "label_smoothing must be in [0, 1)"),
            (self.unfreeze >= 0, "unfreeze must be 0 or more"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Bad recipe: {message}; got {self!r}.")
        for name in ("epochs", "batch_size", "unfreeze"):
            object.__setattr__(self, name, int(getattr(self, name)))  # frozen dataclass


#: recipes[model][profile]. ``smoke`` is tiny on purpose: it checks the plumbing.
RECIPES: dict[str, dict[str, Recipe]] = {
    "lenet": {
        "smoke": Recipe(optimizer="adam", learning_rate=1e-3, schedule="constant",
                        epochs=1, batch_size=64),
        # Measured on a 2-core CPU: see docs/results.md.
        "cpu": Recipe(optimizer="adam", learning_rate=1e-3, schedule="cosine",
                      epochs=12, batch_size=128),
        "full": Recipe(optimizer="adam", learning_rate=1e-3, schedule="cosine",
                       epochs=20, batch_size=128),
    },
    "lenet5": {
        "smoke": Recipe(optimizer="adam", learning_rate=1e-3, schedule="constant",
                        epochs=1, batch_size=64),
        "cpu": Recipe(optimizer="adam", learning_rate=2e-3, schedule="cosine",
                      epochs=15, batch_size=128),
        "full": Recipe(optimizer="adam", learning_rate=2e-3, schedule="cosine",
                       epochs=30, batch_size=128),
    },
}


def _cifar_recipes(optimizer: str, learning_rate: float, cpu_epochs: int, full_epochs: int,
                   batch_size: int = 64, augment: tuple[str, ...] = ("flip", "crop"),
                   weight_decay: float = 5e-3, warmup_epochs: int = 0) -> dict[str, Recipe]:
    """The three profiles of one CIFAR-10 recipe, which differ only in length.

    Keras applies ``weight_decay`` decoupled from the gradient (``w -= lr * wd * w``
    each step), outside momentum. The classic "SGD, momentum 0.9, weight decay
    5e-4" adds ``wd * w`` to the gradient, which momentum then amplifies about
    tenfold, so 5e-3 here is the comparable default.

    ``full`` is the published-accuracy recipe (mixed precision on capable GPUs);
    ``cpu`` is the same recipe cut short so that it learns visibly in minutes on
    a laptop; ``smoke`` runs it for one epoch (the profile's cap) to test the
    plumbing, augmentation included.
    """
    base = Recipe(optimizer=optimizer, learning_rate=learning_rate, schedule="cosine",
                  batch_size=batch_size, augment=augment, weight_decay=weight_decay,
                  warmup_epochs=warmup_epochs, nesterov=True, momentum=0.9)
    return {
        "smoke": replace(base, epochs=1, warmup_epochs=0),
        "cpu": replace(base, epochs=cpu_epochs, warmup_epochs=min(warmup_epochs, 1)),
        "full": replace(base, epochs=full_epochs, mixed_precision=True),
    }


# CIFAR-10 recipes. Their `full` accuracy is measured on a GPU (docs/results.md
# says which rows are measured); `cpu` rows name their own figures there.
RECIPES.update({
    "shallownet": _cifar_recipes("adam", 1e-3, cpu_epochs=10, full_epochs=40,
                                 augment=("flip",), weight_decay=0.0),
    "minivggnet": _cifar_recipes("sgd", 0.05, cpu_epochs=8, full_epochs=60),
    "alexnet_cifar": _cifar_recipes("sgd", 0.02, cpu_epochs=8, full_epochs=60, batch_size=128),
    "minigooglenet": _cifar_recipes("sgd", 0.05, cpu_epochs=4, full_epochs=70),
    "resnet_cifar": _cifar_recipes("sgd", 0.1, cpu_epochs=3, full_epochs=100, batch_size=128,
                                   weight_decay=0.0, warmup_epochs=2),
    "resnet": _cifar_recipes("sgd", 0.1, cpu_epochs=3, full_epochs=100, batch_size=128,
                             weight_decay=0.0, warmup_epochs=2),
    "resnet_small": _cifar_recipes("sgd", 0.1, cpu_epochs=8, full_epochs=60, batch_size=128,
                                   weight_decay=0.0, warmup_epochs=1),
    # He et al.'s 6n+2 networks: SGD 0.1, batch 128; the paper ran 64k steps (~164 epochs).
    **{name: _cifar_recipes("sgd", 0.1, cpu_epochs=5, full_epochs=160, batch_size=128,
                            weight_decay=1e-3, warmup_epochs=1)
       for name in ("plain20", "plain56", "resnet20", "resnet56")},
    "densenet_mini": _cifar_recipes("sgd", 0.1, cpu_epochs=6, full_epochs=100,
                                    weight_decay=1e-3, warmup_epochs=1),
    "vgg16": _cifar_recipes("sgd", 0.01, cpu_epochs=3, full_epochs=60, batch_size=128),
})


def _medical_recipes(base: Recipe, cpu_epochs: int, full_epochs: int,
                     mixed_precision: bool = False) -> dict[str, Recipe]:
    """The three profiles of a medical recipe: one constant-rate epoch in smoke."""
    return {
        "smoke": replace(base, epochs=1, schedule="constant"),
        "cpu": replace(base, epochs=cpu_epochs),
        "full": replace(base, epochs=full_epochs, mixed_precision=mixed_precision),
    }


#: Augmentation for chest X-rays at full size: mild geometry and contrast, no flips,
#: since a mirrored chest puts the heart on the wrong side.
_XRAY_AUGMENT = ("rotate", "zoom", "translate", "contrast")


def _transfer_recipes(learning_rate: float, cpu_epochs: int, full_epochs: int,
                      unfreeze: int = 0) -> dict[str, Recipe]:
    """One phase of transfer learning on the chest X-rays (``models.transfer``).

    Adam, cosine decay, batch 32, balanced class weights (the training split is
    74% pneumonia), :data:`_XRAY_AUGMENT`; mixed precision on capable GPUs.
    """
    base = Recipe(optimizer="adam", learning_rate=learning_rate, schedule="cosine",
                  batch_size=32, augment=_XRAY_AUGMENT, balance_classes=True, unfreeze=unfreeze)
    return _medical_recipes(base, cpu_epochs, full_epochs, mixed_precision=True)


RECIPES.update({
    # Phase 1, feature extraction: the backbone frozen, only the new head learns.
    "transfer_features": _transfer_recipes(1e-3, cpu_epochs=3, full_epochs=8),
    # Phase 2, fine-tuning: the top of the backbone too, with a learning rate
    # low enough not to wreck the pretrained features (BN stays in inference mode).
    "transfer_finetune": _transfer_recipes(3e-5, cpu_epochs=3, full_epochs=10, unfreeze=40),
})

# PneumoniaMNIST (28 px, 4,708 training images, 74% pneumonia): a small network,
# AdamW, balanced class weights, and augmentation without flips (a mirrored chest
# puts the heart on the wrong side). 60 epochs rather than 30: lower validation
# loss on all of six seeds (test figures move within noise). Measured in
# docs/results.md.
_PNEUMONIAMNIST_RECIPES = _medical_recipes(
    Recipe(optimizer="adamw", learning_rate=2e-3, weight_decay=1e-4, schedule="cosine",
           batch_size=128, augment=("crop", "rotate", "zoom", "contrast"),
           balance_classes=True),
    cpu_epochs=60, full_epochs=60)
for _name in ("resnet_medmnist", "resnet_small", "minivggnet"):
    RECIPES[f"{_name}@pneumoniamnist"] = _PNEUMONIAMNIST_RECIPES

# The chest X-rays from scratch (no pretrained weights): the fallback figure where
# ImageNet weights cannot be had. Grey 128 px images, the transfer recipes' augmentation.
RECIPES["resnet_xray@chest_xray"] = _medical_recipes(
    Recipe(optimizer="adamw", learning_rate=2e-3, weight_decay=1e-4, schedule="cosine",
           batch_size=32, augment=_XRAY_AUGMENT, balance_classes=True),
    cpu_epochs=12, full_epochs=30)

DEFAULT_RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(schedule="constant", epochs=1, batch_size=64),
    "cpu": Recipe(epochs=10),
    "full": Recipe(epochs=30),
}


def recipe(model: str, profile: Profile | str | None = None, dataset: str | None = None,
           **overrides: Any) -> Recipe:
    """The recipe for ``model`` under ``profile``, with ``overrides`` applied.

    A recipe written for one model on one dataset (``RECIPES["minivggnet@pneumoniamnist"]``)
    wins over the model's general one when ``dataset`` is given.

    Example:
        >>> recipe("lenet", "cpu", epochs=3).epochs
        3
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    key = model.lower()
    if dataset is not None and f"{key}@{dataset.lower()}" in RECIPES:
        key = f"{key}@{dataset.lower()}"
    table = RECIPES.get(key, DEFAULT_RECIPES)
    chosen = table.get(prof.name, DEFAULT_RECIPES[prof.name])
    overrides = {k: v for k, v in overrides.items() if v is not None}
    chosen = replace(chosen, **overrides)
    return replace(chosen, epochs=prof.epochs(chosen.epochs))


@keras.saving.register_keras_serializable(package="cnnlabs")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's one-cycle learning rate: up, then down far below the start.

    The rate rises linearly from ``peak / div_factor`` to ``peak`` over the first
    ``warmup_share`` of the steps, then falls along a cosine to
    ``peak / (div_factor * final_div_factor)`` at ``total_steps``, and stays there.
    (L. N. Smith and N. Topin, "Super-convergence", 2017.)
    """

    def __init__(self, peak: float, total_steps: int, warmup_share: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4) -> None:
        if total_steps < 2 or not 0.0 < warmup_share < 1.0:
            raise ValueError("OneCycle needs total_steps >= 2 and 0 < warmup_share < 1.")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_share = float(warmup_share)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step: Any) -> Any:
        ops = keras.ops
        step = ops.cast(step, "float32")
        start = self.peak / self.div_factor
        end = start / self.final_div_factor
        up_steps = max(1.0, round(self.total_steps * self.warmup_share))
        down_steps = max(1.0, self.total_steps - up_steps)
        rising = start + (self.peak - start) * ops.minimum(step / up_steps, 1.0)
        progress = ops.clip((step - up_steps) / down_steps, 0.0, 1.0)
        falling = end + (self.peak - end) * 0.5 * (1.0 + ops.cos(np.pi * progress))
        return ops.where(step < up_steps, rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_share": self.warmup_share, "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor}


SCHEDULES = ("constant", "cosine", "linear", "polynomial", "step", "one_cycle")


def learning_rate_schedule(r: Recipe, steps_per_epoch: int) -> Any:
    """A Keras ``LearningRateSchedule`` (or a float, for ``constant``) for recipe ``r``."""
    total = max(1, r.epochs * steps_per_epoch)
    if r.schedule == "constant":
        return r.learning_rate
    if r.schedule == "cosine":
        warmup = min(r.warmup_epochs * steps_per_epoch, total - 1)
        return keras.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else r.learning_rate,
            decay_steps=total - warmup,
            alpha=r.min_lr_ratio,
            warmup_target=r.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    if r.schedule in ("linear", "polynomial"):
        return keras.optimizers.schedules.PolynomialDecay(
            initial_learning_rate=r.learning_rate,
            decay_steps=total,
            end_learning_rate=r.learning_rate * r.min_lr_ratio,
            power=1.0 if r.schedule == "linear" else r.power,
        )
    if r.schedule == "step":
        bounds = [int(total * 0.5), int(total * 0.75)]
        values = [r.learning_rate, r.learning_rate / 10, r.learning_rate / 100]
        return keras.optimizers.schedules.PiecewiseConstantDecay(bounds, values)
    if r.schedule == "one_cycle":
        return OneCycle(r.learning_rate, max(2, total))
    raise ValueError(f"Unknown schedule {r.schedule!r}. Valid: {', '.join(SCHEDULES)}.")


def make_optimizer(r: Recipe, steps_per_epoch: int) -> keras.optimizers.Optimizer:
    """The Keras 3 optimizer for recipe ``r`` (no legacy ``lr=``/``decay=``)."""
    lr = learning_rate_schedule(r, steps_per_epoch)
    name = r.optimizer.lower()
    if name == "adam":
        return keras.optimizers.Adam(learning_rate=lr)
    if name == "adamw":
        return keras.optimizers.AdamW(learning_rate=lr, weight_decay=r.weight_decay)
    if name == "sgd":
        return keras.optimizers.SGD(
            learning_rate=lr, momentum=r.momentum, nesterov=r.nesterov,
            weight_decay=r.weight_decay or None,
        )
    raise ValueError(f"Unknown optimizer {r.optimizer!r}. Valid: adam, adamw, sgd.")


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
        self.resume = resume
        self.title = title
        self.run_dir = Path(run_dir)
        self.json_path = self.run_dir / HISTORY_FILE
        self.plot_path = self.run_dir / CURVES_FILE
        self.plot = plot
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


class BackupError(ValueError):
    """The backup of an interrupted run cannot be read, so the run cannot resume."""


class _Backup(keras.callbacks.BackupAndRestore):
    """``BackupAndRestore`` that backs up at every epoch end as well as every N batches.

    Keras' own callback, given an integer ``save_freq``, saves only every N batches,
    so with fewer than N batches per epoch an interruption would lose whole epochs.
    It also keeps the previous backup (``double_checkpoint``), which Keras falls back
    to when a hard kill tore the latest one, and it records the right epoch in
    mid-epoch backups of a resumed run (Keras counts from 0 until the first epoch ends,
    so a second interruption early in a resumed run would restart it from epoch 1).
    """

    def __init__(self, backup_dir: Path, save_freq: int | str) -> None:
        super().__init__(backup_dir, save_freq=save_freq, double_checkpoint=True)

    def on_train_begin(self, logs: dict | None = None) -> None:
        if not self.model.built:  # Keras' own error says how to build it first
            super().on_train_begin(logs)
            return
        try:
            super().on_train_begin(logs)
            return
        except (OSError, ValueError, KeyError) as exc:
            failure = exc
        # Keras falls back to the previous backup only when the weights file is torn
        # (OSError); a torn metadata file (bad JSON) gets the same fallback here.
        previous = [Path(self._prev_weights_path), Path(self._prev_training_metadata_path)]
        if not isinstance(failure, OSError) and all(path.is_file() for path in previous):
            shutil.copyfile(previous[0], self._weights_path)
            shutil.copyfile(previous[1], self._training_metadata_path)
            try:
                super().on_train_begin(logs)
                return
            except (OSError, ValueError, KeyError) as exc:
                failure = exc
        raise BackupError(
            f"The backup of the interrupted run in {self.backup_dir} cannot be read "
            f"(probably cut short by a hard kill): {failure}. Delete that folder to start "
            f"the run again from epoch 1 (the run folder's history and best model are "
            f"then replaced), or put a good copy of it back."
        ) from failure

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._current_epoch = epoch

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, logs)
        if self.save_freq != "epoch":
            self._save_model()


def read_history(run_dir: Path | str) -> list[dict[str, float]]:
    """The per-epoch rows written by ``TrainingMonitor`` (empty if none yet)."""
    path = Path(run_dir) / HISTORY_FILE
    if not path.is_file():
        return []
    return json.loads(path.read_text())


def loss_for(r: Recipe, one_hot: bool) -> keras.losses.Loss:
    """Cross-entropy for integer labels, or for one-hot labels with ``r``'s label smoothing.

    Raises:
        ValueError: when the recipe smooths labels but the labels are integers
            (build the pipelines with ``one_hot=True``).
    """
    if one_hot:
        return keras.losses.CategoricalCrossentropy(label_smoothing=r.label_smoothing)
    if r.label_smoothing:
        raise ValueError(
            "Label smoothing needs one-hot labels: build the pipelines with "
            "pipelines.build(..., one_hot=True)."
        )
    return keras.losses.SparseCategoricalCrossentropy()


def compile_model(model: keras.Model, r: Recipe, steps_per_epoch: int,
                  one_hot: bool = False) -> None:
    """Compile ``model`` with recipe ``r``'s optimizer, loss and ``jit_compile``."""
    model.compile(
        optimizer=make_optimizer(r, steps_per_epoch),
        loss=loss_for(r, one_hot),
        metrics=["accuracy"],
        jit_compile=r.jit_compile,
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


def set_precision(r: Recipe) -> str:
    """Set Keras' global dtype policy for recipe ``r``; call it before building the model.

    Returns the policy name: ``"mixed_float16"`` when the recipe asks for mixed
    precision and the GPUs support it, else ``"float32"``.
    """
    policy = "mixed_float16" if r.mixed_precision and mixed_precision_supported() else "float32"
    keras.config.set_dtype_policy(policy)
    return policy


def fit(
    model: keras.Model,
    data: Pipelines,
    r: Recipe,
    run_dir: Path | str,
    *,
    verbose: int | str = 2,
    backup_every: int | None = 200,
    extra_callbacks: list | None = None,
    plot: bool = True,
    class_weight: dict[int, float] | None = None,
) -> keras.callbacks.History:
    """Train ``model`` on ``data`` with recipe ``r``, writing into ``run_dir``.

    ``run_dir`` receives ``history.json``, ``training_curves.png``,
    ``best.keras`` (best validation accuracy), ``model.keras`` (the final
    weights) and, while training, ``backup/``. If ``backup/`` is already there
    from an interrupted run, training resumes from it; it is removed once the
    run completes. Without it the run starts from scratch and replaces what an
    earlier run left in the folder (its history, best and final models).

    Args:
        verbose: Keras' verbosity: 1 for a progress bar, 2 (notebooks, logs) for one line per epoch.
        backup_every: also back up every this many batches, so that an
            interruption mid-epoch loses little; ``None`` backs up at epoch ends only.
        extra_callbacks: appended after the standard ones.
        class_weight: per-class loss weights for imbalanced data; ``None`` takes
            balanced weights from ``data.y_train`` when ``r.balance_classes`` is set,
            and otherwise weighs every sample equally.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    steps = data.steps_per_epoch
    compile_model(model, r, steps, one_hot=data.one_hot)
    if class_weight is None and r.balance_classes:
        from cnnlabs.evaluation import class_weights

        class_weight = class_weights(data.y_train)
    # Without a backup this run starts from scratch, whatever an earlier run left here:
    # its history rows and best score must not carry over (nor keep a stale best.keras).
    resuming = (run_dir / BACKUP_DIR).is_dir()
    previous = read_history(run_dir) if resuming else []
    best_so_far = max((row.get("val_accuracy", -math.inf) for row in previous), default=None)
    checkpoint = keras.callbacks.ModelCheckpoint(
        run_dir / BEST_MODEL_FILE,
        monitor="val_accuracy",
        mode="max",
        save_best_only=True,
        initial_value_threshold=best_so_far,
    )
    backup = _Backup(run_dir / BACKUP_DIR, save_freq=backup_every if backup_every else "epoch")
    monitor = TrainingMonitor(run_dir, plot=plot, title=f"{model.name}: training",
                              resume=resuming)
    # The backup comes after the history and the checkpoint: an epoch counts as done in
    # the backup only once its history row and best model are on disk.
    callbacks = [monitor, checkpoint, backup,
                 keras.callbacks.TerminateOnNaN(), *(extra_callbacks or [])]
    (run_dir / "recipe.json").write_text(json.dumps(asdict(r), indent=2))
    with warnings.catch_warnings():
        # Keras warns that shuffle=True is ignored for a tf.data input: the
        # pipeline already shuffles, so the warning is noise in every lab.
        warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")
        history = model.fit(
            data.train,
            validation_data=data.val,
            epochs=r.epochs,
            callbacks=callbacks,
            verbose=verbose,
            class_weight=class_weight,
        )
    model.save(run_dir / FINAL_MODEL_FILE)
    return history
