"""Datasets: one call from a catalogue name to arrays or file lists.

>>> from cnnlabs import datasets
>>> splits = datasets.load("mnist")          # doctest: +SKIP
>>> print(splits.describe())                 # doctest: +SKIP

:func:`load` looks in the data cache (``$CNNLABS_DATA_DIR``, else ``data/``)
first, downloads with a checksum when the profile allows it, and in the smoke
profile falls back to clearly labelled mock data instead of touching the
network (:func:`cnnlabs.datasets.cache.resolve`, one sequence for every
dataset). It applies the profile's sample caps there too, with a seeded,
stratified choice. Every failure is one :class:`DatasetError` saying what to do.
:func:`status` says whether the cache holds a valid copy, without loading it.

Importing this package is cheap: it loads neither TensorFlow nor any loader
module until one is needed.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any

from cnnlabs import config
from cnnlabs.config import Profile
from cnnlabs.datasets.catalog import CATALOG, DatasetInfo
from cnnlabs.datasets.errors import (
    CacheError,
    ChecksumError,
    DatasetError,
    DownloadError,
    MockDataWarning,
    UnknownDatasetError,
)
from cnnlabs.datasets.sampling import Cap, stratified_indices
from cnnlabs.datasets.splits import ImageFolderSplits, Splits

__all__ = [
    "CATALOG",
    "CacheError",
    "CacheStatus",
    "ChecksumError",
    "DatasetError",
    "DatasetInfo",
    "DownloadError",
    "ImageFolderSplits",
    "MockDataWarning",
    "Splits",
    "UnknownDatasetError",
    "cached",
    "fetch",
    "fetch_entry",
    "info",
    "load",
    "load_entry",
    "mock",
    "names",
    "status",
    "stratified_indices",
    "subsample",
]


def names() -> list[str]:
    """The names of all catalogue datasets, sorted."""
    return sorted(CATALOG)


def info(name: str) -> DatasetInfo:
    """The catalogue entry for ``name`` (case-insensitive).

    Raises:
        UnknownDatasetError: (a ``ValueError``) for a name not in the catalogue;
            the message lists the valid names.
    """
    key = str(name).strip().lower()
    if key not in CATALOG:
        raise UnknownDatasetError(f"Unknown dataset {name!r}. Valid names: {', '.join(names())}.")
    return CATALOG[key]


def cached(name: str, data_dir: Path | str | None = None) -> Path | None:
    """The cached copy of dataset ``name`` that its loader would read, or ``None``.

    That is the file for the ``.npz`` datasets, the batches folder, image folder or
    archive for CIFAR-10, and the dataset root folder for the chest X-rays. Only
    looks; nothing is read, checked or downloaded (:func:`status` checks).

    Raises:
        UnknownDatasetError: the name is not in the catalogue.
    """
    entry = info(name)
    try:
        return _loader(entry).cached(entry, config.data_dir(data_dir))
    except CacheError:
        return None  # a chest X-ray folder with the wrong layout: not a usable copy


@dataclasses.dataclass(frozen=True)
class CacheStatus:
    """Whether the cache holds a dataset, and whether its loader would accept it.

    Attributes:
        state: ``"cached"`` (a valid copy), ``"invalid"`` (a copy the loader
            rejects) or ``"missing"`` (nothing there).
        path: the copy's path; ``None`` when missing.
        reason: for an invalid copy, the first line of the loader's error.
    """

    state: str
    path: Path | None = None
    reason: str | None = None

    def describe(self) -> str:
        """``"cached (<path>)"``, ``"cached but invalid: <reason>"`` or ``"not cached"``."""
        if self.state == "cached":
            return f"cached ({self.path})"
        if self.state == "invalid":
            return f"cached but invalid: {self.reason}"
        return "not cached"


def status(name: str, data_dir: Path | str | None = None) -> CacheStatus:
    """Check the cached copy of dataset ``name`` as its loader would, without loading it.

    Runs the loader's own checks (keys, shapes and labels of an ``.npz``; every
    CIFAR-10 batch; the folder tree of an image-folder dataset) but decodes no
    image and downloads nothing.

    Raises:
        UnknownDatasetError: the name is not in the catalogue.
    """
    entry = info(name)
    loader = _loader(entry)
    folder = config.data_dir(data_dir)
    path = None
    try:
        path = loader.cached(entry, folder)
        if path is None:
            return CacheStatus("missing")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # an MD5 that differs still loads
            loader.validate(path, entry)
    except CacheError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return CacheStatus("invalid", path or exc.path, reason)
    return CacheStatus("cached", path)


def load(
    name: str,
    profile: str | Profile | None = None,
    *,
    data_dir: Path | str | None = None,
    seed: int = 0,
    **options: Any,
) -> Splits | ImageFolderSplits:
    """Load a dataset, sized by the profile: arrays, or file lists for the chest X-rays.

    Args:
        name: a catalogue name (see :func:`names`).
        profile: a :class:`~cnnlabs.config.Profile`, a profile name, or ``None``
            for the default (``$CNNLABS_PROFILE``, else auto-detected).
        data_dir: the cache folder; ``None`` means ``$CNNLABS_DATA_DIR`` or ``data/``.
        seed: seeds the stratified subsample (and mock data); same seed, same samples.
        **options: for ``chest_xray`` only, the keyword arguments of
            :func:`cnnlabs.datasets.chest_xray.load` (``image_size``,
            ``color_mode``, ``val_fraction``, ``verify``, ``quarantine_dir``,
            ``download``).

    Returns:
        :class:`Splits`: images ``(N, H, W, C)`` uint8 and labels ``(N,)`` int64;
        ``x_val`` is ``None`` unless the dataset ships a validation split. For
        ``chest_xray``, :class:`ImageFolderSplits` (file lists, RGB, resized to
        the profile's ``image_size``; see :func:`cnnlabs.datasets.chest_xray.load`).

    Raises:
        UnknownDatasetError: the name is not in the catalogue.
        CacheError: the cached copy is not valid (it is left untouched).
        DownloadError: the data is missing and could not or may not be downloaded.
        ChecksumError: a fresh download did not match its checksum.
        TypeError: ``options`` for a dataset that takes none, or unknown ones.
    """
    return load_entry(info(name), profile, data_dir=data_dir, seed=seed, **options)


def load_entry(
    entry: DatasetInfo,
    profile: str | Profile | None = None,
    *,
    data_dir: Path | str | None = None,
    seed: int = 0,
    **options: Any,
) -> Splits | ImageFolderSplits:
    """:func:`load` for a catalogue entry, including one built on the fly (a MedMNIST size)."""

    chosen = config.get_profile(profile)
    folder = config.data_dir(data_dir)
    if entry.loader == "chest_xray":  # its own arguments (image size, colour, quarantine)
        from cnnlabs.datasets import chest_xray

        return chest_xray.load(chosen, data_dir=folder, seed=seed, **options)
    if options:
        raise TypeError(
            f"{entry.name} takes no loader options, got {', '.join(sorted(options))}; "
            "image_size, color_mode and the like apply to the chest_xray image files only."
        )
    return _loader(entry).load(entry, chosen, folder, seed=seed)


def fetch(name: str, data_dir: Path | str | None = None, progress: bool = True) -> Path:
    """Make sure the dataset is in the cache, downloading it if needed; its checked copy.

    An existing copy is checked as its loader would (without decoding images)
    and kept as it is (no download). An invalid one is not replaced: a
    :class:`CacheError` says what is wrong and how to fix it.

    Returns:
        The path of the cached copy.

    Raises:
        UnknownDatasetError, CacheError, DownloadError, ChecksumError.
    """
    return fetch_entry(info(name), data_dir, progress)


def fetch_entry(
    entry: DatasetInfo, data_dir: Path | str | None = None, progress: bool = True
) -> Path:
    """:func:`fetch` for a catalogue entry, including one built on the fly (a MedMNIST size)."""
    folder = config.data_dir(data_dir)
    loader = _loader(entry)
    if entry.loader == "chest_xray":  # a Kaggle download (kagglehub), not one checked file
        root = loader.download(folder, profile=config.PROFILES["full"])  # asked for: fetch
        loader.validate(root, entry)
        return root
    if hasattr(loader, "fetch"):  # a dataset made from another one (mnist_detection)
        return loader.fetch(entry, folder, progress)
    existing = loader.cached(entry, folder)
    target = entry.cache_path(folder)
    if existing is None:
        from cnnlabs.datasets.download import download

        download(entry.url, target, entry.sha256, progress, dataset=entry.name, md5=entry.md5)
        existing = target
    loader.validate(existing, entry)
    return existing


def mock(name: str, n_train: int, n_test: int, seed: int = 0) -> Splits:
    """Synthetic, learnable stand-in data shaped like dataset ``name``; flagged as mock."""
    from cnnlabs.datasets.mockdata import mock_splits

    return mock_splits(info(name), n_train, n_test, seed=seed)


def subsample(
    splits: Splits,
    n_train: int | None,
    n_test: int | None,
    *,
    seed: int = 0,
    reason: str = "",
) -> Splits:
    """Cap the train and test splits at ``n_train`` / ``n_test`` (stratified, seeded).

    The same cap :func:`load` applies for a profile
    (:func:`cnnlabs.datasets.cache.apply_cap`). Multi-hot labels (ChestMNIST)
    cannot be stratified: they are capped by a seeded random choice instead,
    and the note says so.

    Returns a new :class:`Splits` (the input is not modified) with a note for
    each split that was cut, e.g. "subsampled to 512 of 60000 training images
    (profile smoke)". Validation arrays are kept as they are.
    """
    from cnnlabs.datasets.cache import apply_cap

    return apply_cap(splits, Cap(n_train, n_test, seed, reason))


def _loader(entry: DatasetInfo) -> ModuleType:
    return importlib.import_module(f"cnnlabs.datasets.{entry.loader}")
