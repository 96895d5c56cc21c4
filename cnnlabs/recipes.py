"""Recipes: how to train each model under each profile, and class weights.

A *recipe* is everything about training one model under one profile: the
optimizer, the learning-rate schedule, epochs, batch size, augmentation and
loss settings. :func:`recipe` looks one up; it is the only place epochs and
batch sizes are chosen (the profile may cap epochs further: ``smoke`` runs one).
Imbalanced datasets train with :func:`class_weights`, computed on the training
labels.

Nothing here imports TensorFlow.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from cnnlabs.arithmetic import is_integer
from cnnlabs.config import Profile, get_profile


@dataclass(frozen=True)
class Recipe:
    """How to train one model under one profile.

    Attributes:
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` or ``"sgd_l2"`` (SGD as PyTorch
            defines it, :class:`cnnlabs.optim.CoupledSGD`: ``weight_decay`` is an L2
            term in the gradient, and the per-variable and lookahead fields below apply).
        learning_rate: the peak (initial) learning rate.
        schedule: ``"constant"``; ``"cosine"`` (cosine decay to ``min_lr_ratio``
            of the peak over the run, after ``warmup_epochs`` of linear warm-up);
            ``"linear"`` and ``"polynomial"`` (decay to ``min_lr_ratio`` of the
            peak with power 1, or ``power``, the replacement for the removed
            ``decay=`` argument); ``"step"`` (divide by 10 at 50% and 75% of the
            run); ``"one_cycle"`` (Smith's one-cycle policy,
            :class:`cnnlabs.optim.OneCycle`); or ``"triangle"`` (airbench's: linear
            from ``initial_lr_ratio`` of the peak up to the peak at ``peak_share`` of
            the run, then linear down to ``min_lr_ratio`` of it,
            :class:`cnnlabs.optim.Triangle`).
        power: the exponent of the polynomial schedule.
        epochs: epochs to train (the profile may cap them).
        batch_size: samples per batch.
        momentum, nesterov: for SGD.
        weight_decay: decoupled weight decay (AdamW / SGD), 0 for none; for ``sgd_l2``
            the L2 coefficient added to the gradient.
        warmup_epochs: linear warm-up length for the cosine schedule.
        min_lr_ratio: the final learning rate of the cosine, linear, polynomial and
            triangle schedules, as a share of the peak.
        initial_lr_ratio, peak_share: the triangle schedule's first learning rate, as a
            share of the peak, and where the peak is, as a share of the run.
        augment: augmentation names (``pipelines.AUGMENTATIONS``) for the training split.
        label_smoothing: share of the target mass spread over all classes (0: none);
            above 0 the pipelines carry one-hot labels.
        mixed_precision: compute in float16 on GPUs that support it (compute
            capability 7.0+); the output layer stays float32. Ignored on CPUs.
        jit_compile: passed to ``Model.compile`` (``"auto"`` lets Keras decide).
        balance_classes: weight the loss by balanced class weights computed on the
            training labels (:func:`class_weights`), for imbalanced data.
        unfreeze: for fine-tuning a ``models.transfer`` model: how many of the
            backbone's top layers to unfreeze (``models.unfreeze_top``); 0 for none.
        drop_remainder: leave out each epoch's last training batch when it is not full.
        tta: test-time augmentation at evaluation (``evaluation.TTA_LEVELS``): 0 none,
            1 the mean over the image and its mirror, 2 also over 1-pixel shifts.
        cpu_bfloat16: compute in bfloat16 on CPUs with bfloat16 instructions
            (``training.cpu_bfloat16_supported``) when no GPU is visible.
        lr_multipliers: ``sgd_l2`` only: ``(pattern, multiplier)`` pairs; a variable
            whose path matches the pattern (``re.search``) trains with the learning
            rate times the multiplier, e.g. ``(("_bn\\d/beta$", 64.0),)``.
        freeze_after: ``sgd_l2`` only: ``(pattern, epochs)`` pairs; a matching variable
            stops training after that many epochs.
        lookahead_every: ``sgd_l2`` only: update a moving average of the weights every
            this many steps and copy it back into the model (0: no lookahead).
        lookahead_start: the epoch the lookahead starts in (0-based).
        lookahead_decay, lookahead_power: the average's decay after ``s`` of ``S``
            steps is ``lookahead_decay ** lookahead_every * (s / S) ** lookahead_power``.
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
    drop_remainder: bool = False
    tta: int = 0
    cpu_bfloat16: bool = False
    initial_lr_ratio: float = 0.0
    peak_share: float = 0.25
    lr_multipliers: tuple[tuple[str, float], ...] = ()
    freeze_after: tuple[tuple[str, float], ...] = ()
    lookahead_every: int = 0
    lookahead_start: int = 0
    lookahead_decay: float = 0.95
    lookahead_power: float = 3.0

    def __post_init__(self) -> None:
        """Reject settings that would train nothing or train wrongly, before any data loads.

        Whole-number fields given as NumPy integers become plain ints (``recipe.json``
        is written with the standard JSON encoder), and pairs given as lists (read
        back from JSON) become tuples.
        """
        for name in ("lr_multipliers", "freeze_after"):
            pairs = _pairs(getattr(self, name), name, self)
            object.__setattr__(self, name, pairs)  # frozen dataclass
        coupled = self.optimizer == "sgd_l2"
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
            (self.tta in (0, 1, 2), "tta must be 0 (none), 1 (mirror) or 2 (mirror and shifts)"),
            (0 <= self.initial_lr_ratio <= 1, "initial_lr_ratio must be in [0, 1]"),
            (0 <= self.peak_share < 1, "peak_share must be in [0, 1)"),
            (is_integer(self.lookahead_every) and self.lookahead_every >= 0,
             "lookahead_every must be a whole number, 0 or more"),
            (is_integer(self.lookahead_start) and self.lookahead_start >= 0,
             "lookahead_start must be a whole number, 0 or more"),
            (0 <= self.lookahead_decay < 1, "lookahead_decay must be in [0, 1)"),
            (self.lookahead_power >= 0, "lookahead_power must be 0 or more"),
            (all(m > 0 for _, m in self.lr_multipliers),
             "lr_multipliers must be above 0 (freeze a variable with freeze_after)"),
            (all(e >= 0 for _, e in self.freeze_after), "freeze_after epochs must be 0 or more"),
            (coupled or not (self.lr_multipliers or self.freeze_after or self.lookahead_every),
             "lr_multipliers, freeze_after and lookahead need optimizer='sgd_l2'"),
            (not coupled or 0 <= self.momentum < 1, "sgd_l2 needs a momentum in [0, 1)"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Bad recipe: {message}; got {self!r}.")
        for name in ("epochs", "batch_size", "unfreeze", "lookahead_every", "lookahead_start"):
            object.__setattr__(self, name, int(getattr(self, name)))  # frozen dataclass


def _pairs(value: Any, name: str, recipe: Recipe) -> tuple[tuple[str, float], ...]:
    """``value`` as a tuple of ``(regular expression, number)`` pairs.

    Raises:
        ValueError: for anything else, or a pattern that is not a regular expression.
    """
    import re

    pairs = []
    for pair in value:
        if (not isinstance(pair, (tuple, list)) or len(pair) != 2 or not isinstance(pair[0], str)
                or isinstance(pair[1], bool) or not isinstance(pair[1], (int, float))):
            raise ValueError(f"Bad recipe: {name} must be (pattern, number) pairs; got "
                             f"{value!r} in {recipe!r}.")
        try:
            re.compile(pair[0])
        except re.error as exc:
            raise ValueError(f"Bad recipe: {name} pattern {pair[0]!r} is not a regular "
                             f"expression ({exc}).") from None
        pairs.append((pair[0], float(pair[1])))
    return tuple(pairs)


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


def _airbench_recipes() -> dict[str, Recipe]:
    """airbench94 (K. Jordan, 2024), its hyperparameters translated to Keras.

    The original states its learning rate (11.5) and weight decay (0.0153) per 1,024
    examples of a summed loss, with the step size divided by ``1 + 1 / (1 - momentum)``;
    Keras averages the loss over the batch, so at batch 1,024 the same steps are
    learning rate ``11.5 / (1 + 1 / 0.15) = 1.5`` and an L2 term of ``0.0153 / 11.5``
    in the gradient (both scale with the batch size). BatchNorm biases train 64 times
    faster (with their L2 term divided by 64, so their decay per step is the same);
    the whitening bias trains for 3 epochs; lookahead from epoch 4, every 5 steps.
    ``cpu`` computes in bfloat16 where the CPU has bfloat16 instructions (without
    XLA, which is slower there); ``full`` in float16 with XLA on GPUs that support it.
    docs/experiments/airbench.md lists every difference from the original.
    """
    base = Recipe(
        optimizer="sgd_l2", learning_rate=1.5, momentum=0.85,
        nesterov=True, weight_decay=0.0153 / 11.5, schedule="triangle", initial_lr_ratio=0.2,
        peak_share=0.23, min_lr_ratio=0.07, epochs=10, batch_size=1024, drop_remainder=True,
        label_smoothing=0.2, augment=("alternating_flip", "reflect_shift"), tta=2,
        lr_multipliers=((r"_bn\d/beta$", 64.0),), freeze_after=((r"^whiten/bias$", 3),),
        lookahead_every=5, lookahead_start=3, lookahead_decay=0.95, lookahead_power=3.0)
    return {
        "smoke": replace(base, epochs=1, batch_size=128),
        "cpu": replace(base, cpu_bfloat16=True, jit_compile=False),
        "full": replace(base, mixed_precision=True, jit_compile=True),
    }


RECIPES["airbench94"] = _airbench_recipes()


def shortened(recipe: Recipe, epochs: int, batch_size: int | None = None) -> Recipe:
    """``recipe`` for a run of ``epochs`` epochs at ``batch_size``, its shares of the run kept.

    The learning rate scales with the batch size (the linear scaling rule: each image
    moves the weights as much as before); the weight decay, an L2 term in a batch-mean
    loss, stays. The epoch counts that mark a share of the run, ``lookahead_start`` and
    the ``freeze_after`` epochs, keep their share, rounded: airbench94's 3 of 10 epochs
    become 1 of 3. A short run on a training subset needs this: at batch 1,024 three
    epochs of 7,200 images would be 21 steps.

    Args:
        recipe: the recipe to shorten (e.g. ``RECIPES["airbench94"]["cpu"]``).
        epochs: the epochs of the short run.
        batch_size: its batch size (``None``: the recipe's).

    Raises:
        ValueError: for epochs or a batch size under 1.
    """
    batch_size = recipe.batch_size if batch_size is None else batch_size
    if not (is_integer(epochs) and epochs >= 1 and is_integer(batch_size) and batch_size >= 1):
        raise ValueError(f"A shortened recipe needs whole epochs and a batch size of 1 or more; "
                         f"got epochs={epochs!r}, batch_size={batch_size!r}.")
    share = int(epochs) / recipe.epochs
    return replace(
        recipe, epochs=int(epochs), batch_size=int(batch_size),
        learning_rate=recipe.learning_rate * int(batch_size) / recipe.batch_size,
        lookahead_start=round(recipe.lookahead_start * share),
        freeze_after=tuple((pattern, float(round(e * share)))
                           for pattern, e in recipe.freeze_after))


# airbench94 at lab 11's budget: a few epochs on a training subset, at a batch size that
# still leaves enough steps (``full``, on a GPU, is the recipe itself).
RECIPES["airbench94_short"] = {
    "smoke": shortened(RECIPES["airbench94"]["cpu"], 1, 128),
    "cpu": shortened(RECIPES["airbench94"]["cpu"], 3, 256),
    "full": RECIPES["airbench94"]["full"],
}


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
XRAY_AUGMENT = ("rotate", "zoom", "translate", "contrast")


def _transfer_recipes(learning_rate: float, cpu_epochs: int, full_epochs: int,
                      unfreeze: int = 0) -> dict[str, Recipe]:
    """One phase of transfer learning on the chest X-rays (``models.transfer``).

    Adam, cosine decay, batch 32, balanced class weights (the training split is
    74% pneumonia), :data:`XRAY_AUGMENT`; mixed precision on capable GPUs.
    """
    base = Recipe(optimizer="adam", learning_rate=learning_rate, schedule="cosine",
                  batch_size=32, augment=XRAY_AUGMENT, balance_classes=True, unfreeze=unfreeze)
    return _medical_recipes(base, cpu_epochs, full_epochs, mixed_precision=True)


#: The two phases of transfer learning, in order: their names in :data:`RECIPES`.
TRANSFER_PHASES = ("transfer_features", "transfer_finetune")

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
# loss on all of six seeds (docs/experiments/pneumoniamnist.md).
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
           batch_size=32, augment=XRAY_AUGMENT, balance_classes=True),
    cpu_epochs=12, full_epochs=30)

# The grid detector on mnist_detection (lab 10): Adam with cosine decay, no augmentation
# (a flipped digit is another shape, and shifts would have to move the boxes too). The
# `cpu` recipe fits the lab's 15 minutes on a 2-core CPU (docs/experiments/detection.md).
RECIPES["yolo_grid"] = {
    "smoke": Recipe(optimizer="adam", learning_rate=2e-3, schedule="constant", epochs=1,
                    batch_size=64),
    "cpu": Recipe(optimizer="adam", learning_rate=2e-3, schedule="cosine", epochs=15,
                  batch_size=64),
    "full": Recipe(optimizer="adam", learning_rate=2e-3, schedule="cosine", epochs=40,
                   batch_size=64),
}

DEFAULT_RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(schedule="constant", epochs=1, batch_size=64),
    "cpu": Recipe(epochs=10),
    "full": Recipe(epochs=30),
}


def recipe(model: str, profile: Profile | str | None = None, dataset: str | None = None,
           **overrides: Any) -> Recipe:
    """The recipe for ``model`` under ``profile``, with ``overrides`` applied.

    A recipe written for one model on one dataset (``RECIPES["minivggnet@pneumoniamnist"]``)
    wins over the model's general one when ``dataset`` is given; a MedMNIST dataset at
    another size (``pneumoniamnist_64``) takes the recipe of its 28 px version. Overrides
    of ``None`` are ignored; the profile's epoch cap applies after the overrides.

    Example:
        >>> recipe("lenet", "cpu", epochs=3).epochs
        3
    """
    chosen_profile = get_profile(profile)
    key = model.lower()
    if dataset is not None:
        name = dataset.lower()
        for candidate in (name, re.sub(r"_\d+$", "", name)):
            if f"{key}@{candidate}" in RECIPES:
                key = f"{key}@{candidate}"
                break
    table = RECIPES.get(key, DEFAULT_RECIPES)
    chosen = table.get(chosen_profile.name, DEFAULT_RECIPES[chosen_profile.name])
    overrides = {k: v for k, v in overrides.items() if v is not None}
    chosen = replace(chosen, **overrides)
    return replace(chosen, epochs=chosen_profile.epochs(chosen.epochs))


def class_indices(y: Sequence[int] | np.ndarray, what: str = "labels") -> np.ndarray:
    """``y`` as a 1-D int array of class indices; accepts ``(N,)`` or MedMNIST's ``(N, 1)``.

    Raises:
        ValueError: for one-hot rows, probabilities or any other non-integer values,
            which a plain ``astype(int)`` would silently truncate or flatten.
    """
    a = np.asarray(y)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.ndim != 1:
        raise ValueError(f"{what} must be class indices of shape (N,) or (N, 1), got shape "
                         f"{a.shape}: pass class indices, not one-hot rows or probabilities "
                         f"(take their argmax first).")
    if a.dtype.kind not in "iub":
        if a.dtype.kind != "f":
            raise ValueError(f"{what} must be integer class indices, got dtype {a.dtype}.")
        whole = np.isfinite(a) & (a == np.round(a))
        if not whole.all():
            value = a[~whole][0].item()
            raise ValueError(f"{what} must be whole class indices, got {value!r}: pass class "
                             f"indices, not probabilities or scores (threshold or take the "
                             f"argmax first).")
    return a.astype(int)


def class_weights(y: Sequence[int] | np.ndarray) -> dict[int, float]:
    """Balanced class weights ``n / (k * n_c)`` for ``model.fit(class_weight=...)``.

    ``n`` is the number of samples, ``k`` the number of classes present and ``n_c`` the
    count of class ``c``: scikit-learn's ``compute_class_weight("balanced")``. Each
    class then contributes the same total weight to the loss. Compute them on the
    training labels.

    Raises:
        ValueError: for no labels, or labels that are not class indices.
    """
    labels = class_indices(y, "y")
    if labels.size == 0:
        raise ValueError("Nothing to weight: no labels.")
    from sklearn.utils.class_weight import compute_class_weight

    classes = np.unique(labels)
    weights = compute_class_weight("balanced", classes=classes, y=labels)
    return {int(c): float(w) for c, w in zip(classes, weights, strict=True)}
