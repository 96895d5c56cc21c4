"""The MedMNIST v2 loader (the twelve 2D datasets, at 28, 64, 128 or 224 px).

Cache layout: the official files under their official names,
``<data_dir>/{flag}.npz`` at 28 px and ``<data_dir>/{flag}_{size}.npz``
otherwise, with the keys ``train_images``, ``train_labels``, ``val_images``,
``val_labels``, ``test_images`` and ``test_labels``. Images are
``(N, S, S)`` uint8 for grayscale and ``(N, S, S, 3)`` for RGB; labels are
``(N, 1)`` class indices, or ``(N, 14)`` 0/1 for the multi-label ChestMNIST.
The facts (URLs, MD5 sums, split sizes) live in
:mod:`cnnlabs.datasets.medmnist_info`.

A cached file is accepted when its keys, shapes, dtypes and label range are
right. Its MD5 is compared with the official one as well, but a mismatch only
warns (:class:`MD5MismatchWarning`): copies rebuilt from the same images (like
the shared ``pneumoniamnist.npz``) load, and the warning says that results may
differ from the official file. A fresh download must match the MD5 exactly.

:func:`load` follows :func:`cnnlabs.datasets.cache.resolve`, as for MNIST: a
valid cached file; else a download (with the MD5 check) when the profile
allows it; else mock data in the smoke profile; else :class:`DownloadError`
naming the URL, the MD5 and the target path. An invalid cached file raises
:class:`CacheError` and is never changed or deleted.

Returned arrays: images ``(N, S, S, C)`` uint8 with a channel axis; labels
``(N,)`` int64 for single-label tasks, ``(N, 14)`` int64 multi-hot for
ChestMNIST. The official validation split is returned in ``x_val``/``y_val``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from cnnlabs.config import Profile
from cnnlabs.datasets import cache, mockdata, npz
from cnnlabs.datasets.catalog import DatasetInfo, medmnist_entry
from cnnlabs.datasets.download import download, md5_file
from cnnlabs.datasets.errors import invalid_cache_file, manual_download_steps
from cnnlabs.datasets.medmnist_info import KEYS, MEDMNIST, MedMNISTFlag
from cnnlabs.datasets.npz import cached
from cnnlabs.datasets.splits import Splits

__all__ = [
    "MD5MismatchWarning",
    "cached",
    "fetch_medmnist",
    "load",
    "load_medmnist",
    "read",
    "validate",
]


class MD5MismatchWarning(UserWarning):
    """A cached MedMNIST file is valid but is not byte-identical to the official one."""


def load_medmnist(
    flag: str,
    size: int = 28,
    profile: str | Profile | None = None,
    data_dir: Path | None = None,
    seed: int = 0,
) -> Splits:
    """Load MedMNIST v2 dataset ``flag`` at ``size`` px, capped by the profile.

    The same as ``datasets.load(flag)`` at 28 px; other sizes (64, 128, 224)
    read ``{flag}_{size}.npz``. Training and test splits are capped to the
    profile's sample counts (stratified for single-label tasks, a seeded random
    choice for ChestMNIST); the validation split is kept whole.

    Raises:
        ValueError: an unknown flag or size.
        CacheError, DownloadError, ChecksumError: as :func:`load`.
    """
    from cnnlabs.datasets import load_entry

    return load_entry(medmnist_entry(flag, size), profile, data_dir=data_dir, seed=seed)


def fetch_medmnist(
    flag: str, size: int = 28, data_dir: Path | None = None, progress: bool = True
) -> Path:
    """Make sure ``{flag}[_{size}].npz`` is in the cache, downloading it with its MD5 checked.

    An existing file is validated and kept (no download). Returns its path.
    """
    from cnnlabs.datasets import fetch_entry

    return fetch_entry(medmnist_entry(flag, size), data_dir, progress)


def load(
    info: DatasetInfo,
    profile: Profile,
    folder: Path,
    *,
    seed: int = 0,
    progress: bool = True,
) -> Splits:
    """Load a MedMNIST entry from the cache in ``folder``, downloading or mocking as allowed.

    Returns the official splits, train and test capped by the profile
    (stratified, or at random for ChestMNIST's multi-hot labels).

    Raises:
        CacheError: the cached file exists but is not a valid copy.
        DownloadError: the file is missing and could not or may not be downloaded.
        ChecksumError: a fresh download did not match the official MD5.
    """
    path = info.cache_path(folder)

    def fetch() -> Splits:
        download(info.url, path, None, progress, dataset=info.name, md5=info.md5)
        # download() has just checked the official MD5: no need to hash the file again.
        return splits_from_arrays(info, read(path, info, check_md5=False), source=str(path))

    def mock() -> Splits:
        splits = mockdata.at_profile_size(info, profile, seed)
        if _meta(info).multi_label:
            # Mock labels are class indices; give each image one positive finding.
            eye = np.eye(info.num_classes, dtype=np.int64)
            splits.y_train, splits.y_test = eye[splits.y_train], eye[splits.y_test]
            if splits.y_val is not None:
                splits.y_val = eye[splits.y_val]
        return splits

    return cache.resolve(
        info,
        profile,
        seed=seed,
        find=lambda: cached(info, folder),
        read=lambda found: splits_from_arrays(info, read(found, info), source=str(found)),
        download=fetch,
        mock=mock,
        looked=f"{path} does not exist",
        target=path,
        manual=(
            f"The official file is {info.url} (MD5 {info.md5}); save it as {path}.\n"
            + manual_download_steps(
                url=info.url, sha256=None, target=path, dataset=info.name, md5=info.md5
            )
        ),
    )


def read(path: Path, info: DatasetInfo, *, check_md5: bool = True) -> dict[str, np.ndarray]:
    """Read and validate a cached MedMNIST ``.npz``; returns its six arrays as stored.

    Warns with :class:`MD5MismatchWarning` when the file is valid but its MD5
    is not the official one (``check_md5=False`` skips hashing the file, for a
    file whose MD5 was just checked while downloading it).

    Raises:
        CacheError: naming the file, everything wrong with it, and how to fix it.
            The file itself is left untouched.
    """
    path = Path(path)
    arrays = npz.read_arrays(path, list(KEYS), info)
    problems = _problems(arrays, info)
    if problems:
        raise invalid_cache_file(path, info, "; ".join(problems))
    if check_md5 and info.md5:
        actual = md5_file(path)
        if actual != info.md5:
            warnings.warn(
                f"{path} is a valid {info.name} file (keys, shapes and labels are right), but "
                f"its MD5 is {actual}, not the official {info.md5}: it is not byte-identical "
                "to the official MedMNIST file (another order or compression?), so results "
                "may differ slightly from published ones.",
                MD5MismatchWarning,
                stacklevel=3,
            )
    return arrays


def validate(path: Path, info: DatasetInfo) -> None:
    """Raise :class:`CacheError` unless ``path`` is a valid copy of the dataset."""
    read(path, info)


def splits_from_arrays(info: DatasetInfo, arrays: dict[str, np.ndarray], source: str) -> Splits:
    """Wrap validated arrays as :class:`Splits`: channel axis, int64 labels, official val."""
    multi = _meta(info).multi_label

    def images(split: str) -> np.ndarray:
        return arrays[f"{split}_images"].reshape(-1, *info.image_shape)

    def labels(split: str) -> np.ndarray:
        y = arrays[f"{split}_labels"].astype(np.int64, copy=False)
        return y.reshape(len(y), info.num_classes) if multi else y.reshape(-1)

    return Splits(
        name=info.name,
        x_train=images("train"),
        y_train=labels("train"),
        x_test=images("test"),
        y_test=labels("test"),
        x_val=images("val"),
        y_val=labels("val"),
        class_names=list(info.class_names),
        source=source,
    )


def _meta(info: DatasetInfo) -> MedMNISTFlag:
    flag = info.name if info.name in MEDMNIST else info.name.rsplit("_", 1)[0]
    return MEDMNIST[flag]


def _split_sizes(info: DatasetInfo) -> dict[str, int]:
    return {"train": info.train_size, "val": info.val_size or 0, "test": info.test_size}


def _problems(arrays: dict[str, np.ndarray], info: DatasetInfo) -> list[str]:
    """Everything wrong with the arrays, one phrase each (empty when valid)."""
    height, width, channels = info.image_shape
    multi = _meta(info).multi_label
    problems = []
    for split, n in _split_sizes(info).items():
        key = f"{split}_images"
        x = arrays[key]
        allowed = [(n, height, width, channels)]
        if channels == 1:
            allowed.insert(0, (n, height, width))
        if x.shape not in allowed:
            problems.append(f"{key} has shape {x.shape}, expected {allowed[0]}")
        if x.dtype != np.uint8:
            problems.append(f"{key} has dtype {x.dtype}, expected uint8")

        key = f"{split}_labels"
        y = arrays[key]
        allowed = [(n, info.num_classes)] if multi else [(n, 1), (n,)]
        top = 1 if multi else info.num_classes - 1
        if y.shape not in allowed:
            problems.append(f"{key} has shape {y.shape}, expected {allowed[0]}")
        if not np.issubdtype(y.dtype, np.integer):
            problems.append(f"{key} has dtype {y.dtype}, expected an integer type")
        elif y.size and (y.min() < 0 or y.max() > top):
            problems.append(f"{key} has labels from {y.min()} to {y.max()}, expected 0 to {top}")
    return problems

