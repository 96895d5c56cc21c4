"""Mock data: synthetic stand-ins of the right shape for any catalogue entry.

The smoke profile uses these when the real data is not cached, so that every
lab runs end to end in CI without network access. The images are not noise:
each class has its own fixed blocky pattern, and every sample is that pattern
plus noise, so a small CNN can learn the task and a training curve still goes
down. The result is always flagged (``Splits.is_mock``, ``source="mock"``, a
note, and ``describe()`` saying MOCK): its accuracy says nothing about the real
dataset.
"""

from __future__ import annotations

import warnings

import numpy as np

from cnnlabs.config import Profile
from cnnlabs.datasets.catalog import DatasetInfo
from cnnlabs.datasets.errors import MockDataWarning
from cnnlabs.datasets.splits import Splits

#: Side of the square blocks that make up a class pattern, in pixels.
_BLOCK = 4
#: Brightness range of a pattern, leaving headroom for noise.
_PATTERN_MAX = 190
#: Standard deviation of the per-pixel noise.
_NOISE_STD = 30.0


def class_patterns(info: DatasetInfo, seed: int = 0) -> np.ndarray:
    """One fixed pattern per class, ``(num_classes, H, W, C)`` float in ``[0, _PATTERN_MAX]``.

    Each pattern is a coarse random grid of blocks scaled up to the image size,
    so classes differ in *where* the bright regions are - something a
    convolution can pick up.
    """
    height, width, channels = info.image_shape
    rng = np.random.default_rng([seed, 0])
    rows, cols = -(-height // _BLOCK), -(-width // _BLOCK)
    coarse = rng.random((info.num_classes, rows, cols, channels))
    fine = coarse.repeat(_BLOCK, axis=1).repeat(_BLOCK, axis=2)[:, :height, :width, :]
    return fine * _PATTERN_MAX


def mock_images(
    info: DatasetInfo, labels: np.ndarray, rng: np.random.Generator, patterns: np.ndarray
) -> np.ndarray:
    """Images for ``labels``: the class pattern plus Gaussian noise, as uint8."""
    noise = rng.normal(0.0, _NOISE_STD, size=(len(labels), *info.image_shape))
    images = patterns[labels] + noise + (255 - _PATTERN_MAX) / 2
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def mock_labels(num_classes: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` int64 labels, as balanced across classes as ``n`` allows, in random order."""
    labels = np.arange(n, dtype=np.int64) % num_classes
    rng.shuffle(labels)
    return labels


def mock_splits(info: DatasetInfo, n_train: int, n_test: int, seed: int = 0) -> Splits:
    """Synthetic :class:`Splits` shaped like ``info``, deterministic for a given seed.

    A dataset that ships a validation split (``info.val_size``, as MedMNIST) gets a
    mock one too, of ``info.val_size`` samples.
    """
    if n_train < 0 or n_test < 0:
        raise ValueError(f"Sample counts must be >= 0, got n_train={n_train}, n_test={n_test}.")
    patterns = class_patterns(info, seed)
    train_rng = np.random.default_rng([seed, 1])
    test_rng = np.random.default_rng([seed, 2])
    y_train = mock_labels(info.num_classes, n_train, train_rng)
    y_test = mock_labels(info.num_classes, n_test, test_rng)
    x_val = y_val = None
    if info.val_size is not None:
        val_rng = np.random.default_rng([seed, 3])
        y_val = mock_labels(info.num_classes, info.val_size, val_rng)
        x_val = mock_images(info, y_val, val_rng, patterns)
    return Splits(
        name=info.name,
        x_train=mock_images(info, y_train, train_rng, patterns),
        y_train=y_train,
        x_test=mock_images(info, y_test, test_rng, patterns),
        y_test=y_test,
        class_names=list(info.class_names),
        x_val=x_val,
        y_val=y_val,
        source="mock",
        is_mock=True,
        notes=[
            f"MOCK DATA: synthetic stand-in for {info.name} (one fixed pattern per class "
            f"plus noise, seed {seed}); accuracy on it says nothing about {info.title}"
        ],
    )


def fallback(info: DatasetInfo, profile: Profile, looked: str, seed: int = 0) -> Splits:
    """Mock splits at the profile's sizes, with the warning every loader gives for them.

    ``looked`` says where the loader looked for real data (it goes into the
    warning and the notes), e.g. ``"data/mnist.npz does not exist"``.
    """
    n_train = info.train_size if profile.train_samples is None else profile.train_samples
    n_test = info.test_size if profile.test_samples is None else profile.test_samples
    warnings.warn(
        f"{info.name} is not in the data cache ({looked}) and profile {profile.name!r} "
        "does not download, so cnnlabs is using MOCK data: synthetic images whose accuracy "
        "means nothing. Put a real copy in the cache to use real data (see data/README.md).",
        MockDataWarning,
        stacklevel=4,
    )
    splits = mock_splits(info, n_train, n_test, seed=seed)
    splits.notes.append(f"{info.name} was not cached: {looked} (profile {profile.name})")
    return splits
