"""tf.data pipelines: arrays in, batched datasets out.

Order, for every split: normalise -> cache -> shuffle (train only) -> batch ->
prefetch. Normalising before ``cache()`` means the division is done once;
shuffling after it means every epoch sees a new order without re-reading the
source. The validation split is carved out of train, stratified by class, so
the official test set is only touched at the very end.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnlabs.config import Profile, get_profile

if TYPE_CHECKING:
    import tensorflow as tf

    from cnnlabs.datasets import Splits


def split_validation(
    x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Carve a stratified validation split out of ``(x, y)``.

    Validation gets ``round(len(y) * val_fraction)`` samples, each class its
    proportional share (``datasets.stratified_indices``); train keeps the rest.
    Returns ``x_train, y_train, x_val, y_val``, each part shuffled with ``seed``.

    Raises:
        ValueError: if ``val_fraction`` is not in (0, 1) or a split would be empty.
    """
    from cnnlabs.datasets import stratified_indices

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive); got {val_fraction}.")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}.")
    n_val = int(round(len(y) * val_fraction))
    if n_val == 0 or n_val == len(y):
        raise ValueError(
            f"Cannot split {len(y)} samples with val_fraction={val_fraction}: one side is empty."
        )
    rng = np.random.default_rng(seed)
    va = stratified_indices(y, n_val, rng)
    in_val = np.zeros(len(y), dtype=bool)
    in_val[va] = True
    tr = rng.permutation(np.flatnonzero(~in_val))
    return x[tr], y[tr], x[va], y[va]


def normalise(images: tf.Tensor) -> tf.Tensor:
    """uint8 pixels in [0, 255] -> float32 in [0, 1]."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    cache: bool = True,
) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(float32 image in [0, 1], int label)`` pairs.

    Args:
        x: uint8 images ``(N, H, W, C)``.
        y: integer labels ``(N,)``.
        batch_size: samples per batch.
        training: shuffle every epoch (with ``seed``) when True; keep order otherwise.
        seed: shuffling seed, for repeatable epochs.
        cache: keep the normalised tensors in memory after the first pass.
    """
    import tensorflow as tf

    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    if x.ndim != 4:
        raise ValueError(f"expected images shaped (N, H, W, C); got {x.shape}.")
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype("int64")))
    ds = ds.map(lambda image, label: (normalise(image), label),
                num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    return ds.prefetch(tf.data.AUTOTUNE)


@dataclass
class Pipelines:
    """The three datasets of one run, with their sizes and class names."""

    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    n_train: int
    n_val: int
    n_test: int
    batch_size: int
    class_names: list[str]
    y_val: np.ndarray
    y_test: np.ndarray

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n_train // self.batch_size)


def build(
    splits: Splits,
    batch_size: int,
    profile: Profile | str | None = None,
    seed: int = 0,
) -> Pipelines:
    """Train / val / test pipelines for ``splits``.

    When the dataset has no validation split of its own, one is carved out of
    train with ``profile.val_fraction`` (stratified, seeded).
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    if splits.x_val is not None and splits.y_val is not None:
        x_tr, y_tr, x_va, y_va = splits.x_train, splits.y_train, splits.x_val, splits.y_val
    else:
        x_tr, y_tr, x_va, y_va = split_validation(
            splits.x_train, splits.y_train, prof.val_fraction, seed
        )
    return Pipelines(
        train=from_arrays(x_tr, y_tr, batch_size, training=True, seed=seed),
        val=from_arrays(x_va, y_va, batch_size, training=False),
        test=from_arrays(splits.x_test, splits.y_test, batch_size, training=False),
        n_train=len(x_tr),
        n_val=len(x_va),
        n_test=len(splits.x_test),
        batch_size=batch_size,
        class_names=list(splits.class_names),
        y_val=np.asarray(y_va),
        y_test=np.asarray(splits.y_test),
    )
