"""Mock data: synthetic stand-ins of the right shape for any catalogue entry.

The smoke profile uses these when the real data is not cached, so that every
lab runs end to end in CI without network access. The images are not noise:
each class has its own fixed blocky pattern, and every sample is that pattern
plus noise, so a small CNN can learn the task and a training curve still goes
down. The result is always flagged (``Splits.is_mock``, ``source="mock"``, a
note, and ``describe()`` saying MOCK): its accuracy says nothing about the real
dataset. For the chest X-rays, which are read as files, :func:`xray_tree`
writes a few dozen synthetic JPEGs in the Kaggle layout instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlabs.config import Profile
from cnnlabs.datasets.catalog import DatasetInfo
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


def at_profile_size(info: DatasetInfo, profile: Profile, seed: int = 0) -> Splits:
    """Mock splits of ``info`` at the profile's sample counts (the official ones when uncapped).

    The loaders hand these out when nothing is cached and the profile allows mock
    data; :func:`cnnlabs.datasets.cache.resolve` warns and notes where it looked.
    """
    n_train = info.train_size if profile.train_samples is None else profile.train_samples
    n_test = info.test_size if profile.test_samples is None else profile.test_samples
    return mock_splits(info, n_train, n_test, seed=seed)


# --- mock chest X-rays: JPEG files in the Kaggle layout ----------------------------------------

#: Mock patients per split and class, and images per patient (cycled).
_XRAY_PATIENTS = {"train": 14, "test": 5}
_XRAY_IMAGES = (1, 2, 1, 3)
_XRAY_SIDE = 64
_XRAY_MARKER = ".complete-v1"


def xray_tree(
    folder: Path, seed: int = 0, class_names: tuple[str, str] = ("NORMAL", "PNEUMONIA")
) -> Path:
    """Write (once) a few dozen synthetic chest X-ray JPEGs in the Kaggle layout; their root.

    The tree is ``folder/seed<seed>/{train,test}/<class>/*.jpeg``. The images
    are a dark chest with two lighter lungs; the second class adds a bright
    opacity, so a small CNN can learn it. File names follow the real ones'
    three patient-id styles (``person12_virus_3.jpeg``, ``IM-0012-0001.jpeg``,
    ``NORMAL2-IM-0013-0001.jpeg``), with one to three images per patient, and
    grayscale and RGB files are mixed, as in the real data. A marker file says
    the tree is complete; a complete tree is reused as it is.
    """
    folder = Path(folder) / f"seed{seed}"
    if (folder / _XRAY_MARKER).is_file():
        return folder
    from PIL import Image

    rng = np.random.default_rng([seed, 7])
    yy, xx = np.mgrid[0:_XRAY_SIDE, 0:_XRAY_SIDE].astype(np.float32) / _XRAY_SIDE
    lungs = np.exp(-(((xx - 0.3) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2))
    lungs += np.exp(-(((xx - 0.7) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2))
    number = 0
    for split, n_patients in _XRAY_PATIENTS.items():
        for label, name in enumerate(class_names):
            (folder / split / name).mkdir(parents=True, exist_ok=True)
            for p in range(n_patients):
                pid = 100 * (split == "test") + p + 1
                for k in range(_XRAY_IMAGES[p % len(_XRAY_IMAGES)]):
                    number += 1
                    pixels = 60 + 90 * lungs + rng.normal(0, 12, lungs.shape)
                    if label == 1:
                        cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.7)
                        pixels += 110 * np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / 0.01))
                    image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), mode="L")
                    if number % 3 == 0:
                        image = image.convert("RGB")
                    if label == 1:
                        kind = "bacteria" if p % 2 else "virus"
                        filename = f"person{pid}_{kind}_{number}.jpeg"
                    elif p % 2:
                        filename = f"NORMAL2-IM-{pid:04d}-{k + 1:04d}.jpeg"
                    else:
                        filename = f"IM-{pid:04d}-{k + 1:04d}.jpeg"
                    image.save(folder / split / name / filename, quality=90)
    (folder / _XRAY_MARKER).write_text("synthetic chest X-rays written by cnnlabs\n")
    return folder
