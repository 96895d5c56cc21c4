"""Datasets: one call from a catalogue name to arrays.

>>> from cnnlabs import datasets
>>> splits = datasets.load("mnist")          # doctest: +SKIP
>>> print(splits.describe())                 # doctest: +SKIP

:func:`load` looks in the data cache (``$CNNLABS_DATA_DIR``, else ``data/``)
first, downloads with a checksum when the profile allows it, and in the smoke
profile falls back to clearly labelled mock data instead of touching the
network. It then applies the profile's sample caps with a seeded, stratified
choice. Every failure is one :class:`DatasetError` saying what to do.

Importing this package is cheap: it loads neither TensorFlow nor any loader
module until one is needed.
"""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path
from types import ModuleType

import numpy as np

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
from cnnlabs.datasets.splits import Splits

__all__ = [
    "CATALOG",
    "CacheError",
    "ChecksumError",
    "DatasetError",
    "DatasetInfo",
    "DownloadError",
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


def cached(name: str, data_dir: Path | None = None) -> Path | None:
    """The cached copy of dataset ``name`` that its loader would read, or ``None``.

    That is the file for the ``.npz`` datasets, the batches folder, image folder or
    archive for CIFAR-10, and the dataset root folder for the chest X-rays. Only
    looks; nothing is read, checked or downloaded.

    Raises:
        UnknownDatasetError: the name is not in the catalogue.
    """
    entry = info(name)
    folder = Path(data_dir) if data_dir is not None else config.data_dir()
    if entry.loader == "cifar10":
        from cnnlabs.datasets import cifar10

        return cifar10.cached(entry, folder)
    if entry.loader == "chest_xray":
        from cnnlabs.datasets import chest_xray

        try:
            return chest_xray.cached_root(folder)
        except DatasetError:
            return None  # a folder with the wrong layout: not a usable copy
    path = entry.cache_path(folder)
    return path if path.is_file() else None


def load(
    name: str,
    profile: str | Profile | None = None,
    *,
    data_dir: Path | None = None,
    seed: int = 0,
) -> Splits:
    """Load a dataset as :class:`Splits`, sized by the profile.

    Args:
        name: a catalogue name (see :func:`names`).
        profile: a :class:`~cnnlabs.config.Profile`, a profile name, or ``None``
            for the default (``$CNNLABS_PROFILE``, else auto-detected).
        data_dir: the cache folder; ``None`` means ``$CNNLABS_DATA_DIR`` or ``data/``.
        seed: seeds the stratified subsample (and mock data); same seed, same samples.

    Returns:
        Images ``(N, H, W, C)`` uint8 and labels ``(N,)`` int64. ``x_val`` is
        ``None`` unless the dataset ships a validation split.

    Raises:
        UnknownDatasetError: the name is not in the catalogue.
        CacheError: the cached file is not a valid copy (it is left untouched).
        DownloadError: the data is missing and could not or may not be downloaded.
        ChecksumError: a fresh download did not match its SHA-256.
    """
    return load_entry(info(name), profile, data_dir=data_dir, seed=seed)


def load_entry(
    entry: DatasetInfo,
    profile: str | Profile | None = None,
    *,
    data_dir: Path | None = None,
    seed: int = 0,
) -> Splits:
    """:func:`load` for a catalogue entry, including one built on the fly (a MedMNIST size)."""
    if entry.loader == "chest_xray":
        raise DatasetError(
            "chest_xray is a folder of JPEGs read as file lists, not arrays: use "
            "cnnlabs.datasets.chest_xray.load(profile, image_size=..., color_mode=...) and "
            "cnnlabs.pipelines.build_files (see labs/08_chest_xray_transfer_learning.ipynb)."
        )
    chosen = _profile(profile)
    folder = Path(data_dir) if data_dir is not None else config.data_dir()
    splits = _loader(entry).load(entry, chosen, folder, seed=seed)
    return subsample(
        splits,
        chosen.train_samples,
        chosen.test_samples,
        seed=seed,
        reason=f"profile {chosen.name}",
    )


def fetch(name: str, data_dir: Path | None = None, progress: bool = True) -> Path:
    """Make sure the dataset's file is in the cache, downloading it if needed.

    An existing valid file is kept as it is (no download). An existing invalid
    file is not replaced: a :class:`CacheError` says how to fix it.

    Returns:
        The path of the cached file.

    Raises:
        UnknownDatasetError, CacheError, DownloadError, ChecksumError.
    """
    return fetch_entry(info(name), data_dir, progress)


def fetch_entry(entry: DatasetInfo, data_dir: Path | None = None, progress: bool = True) -> Path:
    """:func:`fetch` for a catalogue entry, including one built on the fly (a MedMNIST size)."""
    folder = Path(data_dir) if data_dir is not None else config.data_dir()
    if entry.loader == "chest_xray":  # a Kaggle download (kagglehub), not one checked file
        from cnnlabs.datasets import chest_xray

        return chest_xray.download(folder, profile=config.PROFILES["full"])  # asked for: fetch
    loader = _loader(entry)
    # A loader with several cache layouts says which copy it would read.
    finder = getattr(loader, "cached", None)
    existing = finder(entry, folder) if finder else None
    if existing is not None and existing != entry.cache_path(folder):
        loader.load(entry, config.PROFILES["smoke"], folder)  # validates the copy, reads little
        return existing
    target = entry.cache_path(folder)
    if not target.exists():
        from cnnlabs.datasets.download import download

        download(entry.url, target, entry.sha256, progress, dataset=entry.name, md5=entry.md5)
    loader.validate(target, entry)
    return target


def mock(name: str, n_train: int, n_test: int, seed: int = 0) -> Splits:
    """Synthetic, learnable stand-in data shaped like dataset ``name``; flagged as mock."""
    from cnnlabs.datasets.mockdata import mock_splits

    return mock_splits(info(name), n_train, n_test, seed=seed)


def stratified_indices(
    labels: np.ndarray, n: int | None, rng: np.random.Generator | int = 0
) -> np.ndarray:
    """Indices of a class-stratified random sample of ``n`` of ``labels``.

    Each class gets its proportional share of ``n`` (rounded by largest
    remainder, so the total is exactly ``n``); the members of each class are
    drawn at random without replacement, and the result is shuffled. ``n`` of
    ``None``, or at least ``len(labels)``, selects everything in the original
    order. Deterministic for a given seed.
    """
    labels = np.asarray(labels)
    total = len(labels)
    if n is None or n >= total:
        return np.arange(total)
    if n < 0:
        raise ValueError(f"Cannot take {n} samples.")
    generator = np.random.default_rng(rng)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = counts * (n / total)
    quotas = np.floor(exact).astype(np.int64)
    leftover = n - int(quotas.sum())
    # Largest remainders first; a stable sort breaks ties by class index.
    quotas[np.argsort(quotas - exact, kind="stable")[:leftover]] += 1
    chosen = [
        generator.choice(np.flatnonzero(inverse == k), size=int(q), replace=False)
        for k, q in enumerate(quotas)
    ]
    return generator.permutation(np.concatenate(chosen))


def subsample(
    splits: Splits,
    n_train: int | None,
    n_test: int | None,
    *,
    seed: int = 0,
    reason: str = "",
) -> Splits:
    """Cap the train and test splits at ``n_train`` / ``n_test`` (stratified, seeded).

    Multi-hot labels (ChestMNIST) cannot be stratified: they are capped by a seeded
    random choice instead, and the note says so.

    Returns a new :class:`Splits` (the input is not modified) with a note for
    each split that was cut, e.g. "subsampled to 512 of 60000 training images
    (profile smoke)". Validation arrays are kept as they are.
    """
    notes = list(splits.notes)
    result = dataclasses.replace(splits, notes=notes)
    detail = f" ({reason})" if reason else ""
    for split, cap, word, stream in (
        ("train", n_train, "training", 0),
        ("test", n_test, "test", 1),
    ):
        x, y = getattr(splits, f"x_{split}"), getattr(splits, f"y_{split}")
        if cap is None or cap >= len(y):
            continue
        rng = np.random.default_rng([seed, stream])
        if y.ndim > 1:  # multi-hot labels (ChestMNIST): stratifying them is not defined
            keep = rng.choice(len(y), size=cap, replace=False)
            how = " at random (multi-label, not stratified" + (f"; {reason})" if reason else ")")
        else:
            keep, how = stratified_indices(y, cap, rng), detail
        setattr(result, f"x_{split}", x[keep])
        setattr(result, f"y_{split}", y[keep])
        notes.append(f"subsampled to {cap} of {len(y)} {word} images{how}")
    return result


def _profile(profile: str | Profile | None) -> Profile:
    if isinstance(profile, Profile):
        return profile
    return config.get_profile(profile)


def _loader(entry: DatasetInfo) -> ModuleType:
    return importlib.import_module(f"cnnlabs.datasets.{entry.loader}")
