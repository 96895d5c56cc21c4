"""The MNIST loader.

Cache layout: ``<data_dir>/mnist.npz`` with Keras' keys ``x_train``
(60000, 28, 28) uint8, ``y_train`` (60000,) integers 0-9, ``x_test``
(10000, 28, 28) uint8 and ``y_test`` (10000,) integers 0-9.

Any valid copy is accepted. The cached file is checked by its keys, shapes,
dtypes and label range, not by its hash: pixel-identical copies that were
saved differently (another compression, another numpy) load the same. The
SHA-256 is checked only on a fresh download from the official URL.

:func:`load` follows :func:`cnnlabs.datasets.cache.resolve`: a valid cached
file; else a download with the SHA-256 checked when the profile allows it;
else mock data in the smoke profile; else a :class:`DownloadError` with the
manual steps. An invalid cached file raises :class:`CacheError` and is never
changed or deleted. The profile's sample caps are applied there too
(stratified, seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlabs.config import Profile
from cnnlabs.datasets import cache, mockdata, npz
from cnnlabs.datasets.catalog import DatasetInfo
from cnnlabs.datasets.errors import invalid_cache_file, manual_download_steps
from cnnlabs.datasets.npz import cached
from cnnlabs.datasets.splits import Splits

__all__ = ["cached", "load", "read", "splits_from_arrays", "validate"]


def load(
    info: DatasetInfo,
    profile: Profile,
    folder: Path,
    *,
    seed: int = 0,
    progress: bool = True,
) -> Splits:
    """Load MNIST from the cache in ``folder``, downloading or mocking as the profile allows.

    Returns the splits capped by the profile (stratified, seeded). Images are
    ``(N, 28, 28, 1)`` uint8 and labels ``(N,)`` int64.

    Raises:
        CacheError: the cached file exists but is not a valid copy.
        DownloadError: the file is missing and could not or may not be downloaded.
        ChecksumError: a fresh download did not match the catalogue's SHA-256.
    """
    path = info.cache_path(folder)

    def from_file(found: Path) -> Splits:
        return splits_from_arrays(info, read(found, info), source=str(found))

    def fetch() -> Splits:
        from cnnlabs.datasets.download import download

        download(info.url, path, info.sha256, progress, dataset=info.name)
        return from_file(path)

    return cache.resolve(
        info,
        profile,
        seed=seed,
        find=lambda: cached(info, folder),
        read=from_file,
        download=fetch,
        mock=lambda: mockdata.at_profile_size(info, profile, seed),
        looked=f"{path} does not exist",
        target=path,
        manual=manual_download_steps(
            url=info.url, sha256=info.sha256, target=path, dataset=info.name
        ),
    )


def read(path: Path, info: DatasetInfo) -> dict[str, np.ndarray]:
    """Read and validate a cached ``mnist.npz``; returns its four arrays as stored.

    Raises:
        CacheError: naming the file, everything wrong with it, and how to fix it.
            The file itself is left untouched.
    """
    path = Path(path)
    arrays = npz.read_arrays(path, list(_expected(info)), info)
    problems = _problems(arrays, info)
    if problems:
        raise invalid_cache_file(path, info, "; ".join(problems))
    return arrays


def validate(path: Path, info: DatasetInfo) -> None:
    """Raise :class:`CacheError` unless ``path`` is a valid copy of the dataset."""
    read(path, info)


def splits_from_arrays(info: DatasetInfo, arrays: dict[str, np.ndarray], source: str) -> Splits:
    """Wrap validated arrays as :class:`Splits`: add the channel axis, make labels int64."""
    return Splits(
        name=info.name,
        x_train=arrays["x_train"].reshape(-1, *info.image_shape),
        y_train=arrays["y_train"].astype(np.int64, copy=False),
        x_test=arrays["x_test"].reshape(-1, *info.image_shape),
        y_test=arrays["y_test"].astype(np.int64, copy=False),
        class_names=list(info.class_names),
        source=source,
    )


def _expected(info: DatasetInfo) -> dict[str, tuple[int, ...]]:
    height, width, _ = info.image_shape
    return {
        "x_train": (info.train_size, height, width),
        "y_train": (info.train_size,),
        "x_test": (info.test_size, height, width),
        "y_test": (info.test_size,),
    }


def _problems(arrays: dict[str, np.ndarray], info: DatasetInfo) -> list[str]:
    """Everything wrong with the arrays, one phrase each (empty when valid)."""
    problems = []
    for key, shape in _expected(info).items():
        array = arrays[key]
        if array.shape != shape:
            problems.append(f"{key} has shape {array.shape}, expected {shape}")
        if key.startswith("x_"):
            if array.dtype != np.uint8:
                problems.append(f"{key} has dtype {array.dtype}, expected uint8")
        elif not np.issubdtype(array.dtype, np.integer):
            problems.append(f"{key} has dtype {array.dtype}, expected an integer type")
        elif array.size and (array.min() < 0 or array.max() >= info.num_classes):
            problems.append(
                f"{key} has labels from {array.min()} to {array.max()}, "
                f"expected 0 to {info.num_classes - 1}"
            )
    return problems

