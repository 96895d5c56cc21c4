"""The Kaggle chest X-rays (Kermany et al. 2018) as file lists, split by patient.

>>> from cnnlabs.datasets import chest_xray
>>> data = chest_xray.load()          # doctest: +SKIP

The dataset is a folder of JPEGs, ``<root>/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg``
(the Kaggle archive's 16-image ``val/`` is ignored). This module knows its
layout, its patients and how to download it; :func:`load` runs the shared
sequence of :func:`cnnlabs.datasets.cache.resolve` and returns
:class:`ImageFolderSplits` (file lists, decoded later by the tf.data pipeline),
with validation carved out of train by patient (:func:`grouped_split`).
Nothing heavy is imported: no TensorFlow, and Pillow only when decoding.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from cnnlabs import config
from cnnlabs.config import Profile
from cnnlabs.datasets import cache, imagefolder, kaggle, mockdata
from cnnlabs.datasets import splits as _splits
from cnnlabs.datasets.catalog import CHEST_XRAY, DatasetInfo
from cnnlabs.datasets.errors import CacheError
from cnnlabs.datasets.errors import cache_folder_hint as _cache_folder_hint
from cnnlabs.datasets.imagefolder import FileList
from cnnlabs.datasets.sampling import grouped_holdout
from cnnlabs.datasets.splits import SPLITS, FileSplits, ImageFolderSplits
from cnnlabs.datasets.verify import BadImage, VerifyReport, checked, verify_images

#: The Kaggle dataset, as ``owner/name``.
KAGGLE_HANDLE = "paultimothymooney/chest-xray-pneumonia"
#: Class folder names, in label order (0 = NORMAL, 1 = PNEUMONIA).
CLASS_NAMES = ("NORMAL", "PNEUMONIA")
#: The dataset's folder inside the cache.
FOLDER = "chest_xray"
#: How deep :func:`find_root` looks below the folder it is given.
_MAX_DEPTH = 4

_PERSON = re.compile(r"^(person\d+)_", re.IGNORECASE)
_IM = re.compile(r"^((?:NORMAL\d*-)?IM-\d+)-", re.IGNORECASE)


# --- layout ------------------------------------------------------------------------------------


def expected_layout(root: Path | str = "<root>") -> str:
    """The folder tree :func:`find_root` looks for, one line per folder, under ``root``."""
    root = Path(root)
    lines = [
        f"  {root / split / name / '*.jpeg'}" for split in ("train", "test") for name in CLASS_NAMES
    ]
    lines.append(f"  {root / 'val'}/...   (optional; ignored: validation is carved out of train)")
    return "\n".join(lines)


def find_root(path: Path | str) -> Path:
    """The shallowest folder under ``path`` (``path`` included) that holds ``train/NORMAL``.

    The Kaggle archive unpacks to ``chest_xray/`` with a nested duplicate
    ``chest_xray/chest_xray/``, plus ``__MACOSX/`` and ``._*`` files: hidden
    entries and ``__MACOSX`` are skipped, and the search is breadth-first in
    sorted order, so the result is the shallowest match and always the same one.
    It looks at most four levels down.

    Raises:
        CacheError: ``path`` does not exist, or no folder under it holds
            ``train/NORMAL``; the message shows the expected tree and what was found.
    """
    path = Path(path)
    if not path.is_dir():
        raise CacheError(
            f"There is no folder {path} holding the chest X-rays.\n"
            f"Expected:\n{expected_layout(path)}\n" + _manual_hint(path.parent),
            path=path,
        )
    # A split or class folder never holds the root.
    found = imagefolder.find_tree(path, "train/NORMAL", skip={*SPLITS, *CLASS_NAMES},
                                  max_depth=_MAX_DEPTH)
    if found is not None:
        return found
    raise CacheError(
        f"The folder {path} does not hold the chest X-rays in the expected layout: no folder "
        f"in it (looking {_MAX_DEPTH} levels down) has train/NORMAL.\n"
        f"Expected (at {path} or in one sub-folder of it, such as {path / 'chest_xray'}):\n"
        f"{expected_layout(path)}\n"
        f"Found: {imagefolder.describe_folder(path)}.\n"
        "Folder names are case-sensitive. cnnlabs has not changed or deleted anything.\n"
        + _manual_hint(path.parent),
        path=path,
    )


def patient_id(filename: str) -> str:
    """The patient a chest X-ray file belongs to, read from its name.

    - ``person123_bacteria_456.jpeg``, ``person1_virus_6.jpeg`` -> ``"person123"``, ``"person1"``
    - ``IM-0115-0001.jpeg``, ``IM-0115-0001-0002.jpeg`` -> ``"IM-0115"``
    - ``NORMAL2-IM-1419-0001.jpeg`` -> ``"NORMAL2-IM-1419"``

    Any other name gives its stem (the name without extension), so that, as
    far as :func:`grouped_split` can tell, each such file is its own patient.
    """
    name = Path(filename).name
    return _match_patient(name) or Path(name).stem


def _match_patient(name: str) -> str | None:
    """The patient id in a file name of one of the three known styles, else ``None``."""
    match = _PERSON.match(name) or _IM.match(name)
    return match.group(1) if match else None


def count_patients(files: FileList) -> dict[str, int]:
    """Number of distinct patients (see :func:`patient_id`) per class name."""
    seen: dict[str, set[str]] = {name: set() for name in files.class_names}
    for path, label in zip(files.paths, files.labels, strict=True):
        seen[files.class_names[int(label)]].add(_group_key(path))
    return {name: len(ids) for name, ids in seen.items()}


def counts(root: Path | str) -> dict[str, dict[str, int]]:
    """Image files per split and class: ``{"train": {"NORMAL": 1341, ...}, "test": {...}}``.

    ``root`` is resolved with :func:`find_root`. Only the splits present among
    ``train``, ``val`` and ``test`` are listed; a missing class folder counts 0.
    Nothing is decoded.
    """
    root = find_root(root)
    result: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        if not (root / split).is_dir():
            continue
        result[split] = {name: _count_images(root / split / name) for name in CLASS_NAMES}
    return result


def format_counts(table: dict[str, dict[str, int]]) -> str:
    """:func:`counts` as a text table: a row per split, a total row and the class shares."""
    return _splits.format_counts(table, CLASS_NAMES)


# --- the grouped validation split ---------------------------------------------------------------


def grouped_split(files: FileList, val_fraction: float, seed: int = 0) -> tuple[FileList, FileList]:
    """Split ``files`` into ``(train, val)``: stratified by class, grouped by patient.

    The images of one patient (:func:`patient_id`; a file with an unrecognised
    name is a patient of its own) all go to the same side, so no patient is on
    both; see :func:`~cnnlabs.datasets.sampling.grouped_holdout` for how patients
    are chosen. Both results keep the input order. Same files and seed, same split.

    Raises:
        ValueError: ``val_fraction`` is not in ``[0, 1)``.
    """
    groups = [_group_key(path) for path in files.paths]
    held = grouped_holdout(files.labels, groups, val_fraction, seed)
    return files.subset(np.flatnonzero(~held)), files.subset(np.flatnonzero(held))


# --- the cache and Kaggle ----------------------------------------------------------------------


def cached_root(data_dir: Path | str | None = None) -> Path | None:
    """The dataset root in the cache folder ``data_dir``, or ``None`` when it is not there.

    Its ``chest_xray/`` sub-folder is searched with :func:`find_root`; a dataset
    root passed directly (holding ``train/NORMAL`` itself) is used as it is.

    Raises:
        CacheError: ``<cache>/chest_xray`` exists but holds no valid layout.
    """
    base = config.data_dir(data_dir)
    if (base / "train" / "NORMAL").is_dir():
        return base
    if (base / FOLDER).is_dir():
        return find_root(base / FOLDER)
    return None


def cached(info: DatasetInfo, folder: Path) -> Path | None:
    """:func:`cached_root` of ``folder``, as the catalogue's loaders name it."""
    return cached_root(folder)


def validate(path: Path | str, info: DatasetInfo = CHEST_XRAY) -> None:
    """Run :func:`load`'s checks of the tree at ``path`` (layout, class folders); decode nothing.

    Raises:
        CacheError: what is wrong, with the expected tree.
    """
    _files(find_root(path))


def download(data_dir: Path | str | None = None, *, profile: str | Profile | None = None) -> Path:
    """The dataset root in the cache, downloaded from Kaggle first if the profile allows it.

    A download (:func:`cnnlabs.datasets.kaggle.download`) is linked into
    ``<cache>/chest_xray`` (:func:`cnnlabs.datasets.cache.link_into`).

    Raises:
        DownloadError: the profile does not download, or the download failed
            (the message gives the manual steps).
        CacheError: the cache or the download holds no valid layout.
    """
    base = config.data_dir(data_dir)
    found = cached_root(base)
    if found is not None:
        return found
    chosen = config.get_profile(profile)
    if not chosen.allow_download:
        raise cache.not_cached_error(
            CHEST_XRAY, f"there is no folder {base / FOLDER}",
            f"profile {chosen.name} never downloads", target=base / FOLDER,
            manual=_manual_steps(base),
        )
    return _download(base)


def _download(base: Path) -> Path:
    target = base / FOLDER
    downloaded = kaggle.download(
        KAGGLE_HANDLE, what="the chest X-rays", url=CHEST_XRAY.url, target=target,
        manual=_manual_steps(base),
    )
    return cache.link_into(find_root(downloaded), target)


def _manual_steps(base: Path) -> str:
    target = Path(base) / FOLDER
    return (
        "To install it by hand:\n"
        f"  1. Download the archive from {CHEST_XRAY.url} (Download button; a free Kaggle "
        "account is needed; about 1.2 GB).\n"
        f"  2. Unzip it into {target}, so that these exist (a nested chest_xray/chest_xray/ "
        "copy is fine: the shallowest folder holding train/NORMAL is used):\n"
        f"{expected_layout(target)}\n"
        f"{_cache_folder_hint(Path(base))}"
    )


def _manual_hint(base: Path) -> str:
    return (
        f"The Kaggle archive {CHEST_XRAY.url} unpacks to this layout; "
        f"unzip it into {Path(base) / FOLDER} (or point data_dir at the unpacked folder)."
    )


# --- load --------------------------------------------------------------------------------------


def load(
    profile: str | Profile | None = None,
    *,
    data_dir: Path | str | None = None,
    seed: int = 0,
    val_fraction: float | None = None,
    color_mode: str = "rgb",
    image_size: int | tuple[int, int] | None = None,
    verify: bool = True,
    quarantine_dir: Path | str | None = None,
    download: bool | None = None,
) -> ImageFolderSplits:
    """Load the chest X-rays as file lists, sized by the profile, val split by patient.

    Args:
        profile: a :class:`~cnnlabs.config.Profile`, a profile name, or ``None``
            for the default.
        data_dir: the cache folder (``None``: ``$CNNLABS_DATA_DIR`` or ``data/``);
            its ``chest_xray/`` is searched at any depth. A dataset root (holding
            ``train/NORMAL``) can be given directly.
        seed: seeds the subsample, the validation split and mock data.
        val_fraction: share of the (capped) training images held out for
            validation, by whole patients; ``None``: the profile's.
        color_mode: ``"rgb"`` or ``"grayscale"``; recorded for the pipeline, and
            used by :meth:`ImageFolderSplits.read`.
        image_size: ``(H, W)`` for the pipeline to resize to, or one side for a
            square; ``None``: the profile's ``image_size``.
        verify: decode every file that will be used and leave out the unreadable ones.
        quarantine_dir: a folder to move unreadable files into; ``None`` (the
            default): they stay where they are. Files in a read-only copy always stay.
        download: whether a missing dataset may be downloaded; ``None``: the
            profile's ``allow_download``.

    Returns:
        :class:`ImageFolderSplits`. The official 16-image ``val/`` is ignored.

    Raises:
        CacheError: the folder in the cache has the wrong layout or an empty class folder.
        DownloadError: nothing is cached and it could not or may not be downloaded.
        DatasetError: no readable image is left in a class of a split.
        ValueError: an invalid ``color_mode``, ``image_size`` or ``val_fraction``.
    """
    chosen = config.get_profile(profile)
    if color_mode not in imagefolder.COLOR_MODES:
        raise ValueError(
            f"color_mode must be one of {', '.join(map(repr, imagefolder.COLOR_MODES))}; "
            f"got {color_mode!r}."
        )
    side = chosen.image_size if image_size is None else image_size
    size = (int(side),) * 2 if np.ndim(side) == 0 else tuple(int(d) for d in side)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"image_size must be (height, width); got {image_size}.")
    fraction = chosen.val_fraction if val_fraction is None else float(val_fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(
            f"val_fraction must be between 0 and 1 (exclusive): the decision threshold "
            f"is chosen on the validation split; got {val_fraction}."
        )
    base = config.data_dir(data_dir)

    def finish(files: FileSplits) -> ImageFolderSplits:
        report = None
        if verify:
            files, report = checked(files, quarantine_dir)
        train, val = grouped_split(files.train, fraction, seed=seed)
        files.notes.append(
            f"validation: {len(val)} images of {sum(count_patients(val).values())} patients "
            f"held out of train (val_fraction {fraction:g}), stratified by class, no patient "
            "on both sides"
        )
        return ImageFolderSplits(
            name=CHEST_XRAY.name, root=files.root, train=train, val=val, test=files.test,
            class_names=CLASS_NAMES, color_mode=color_mode, image_size=size,
            is_mock=files.is_mock, notes=files.notes, verify=report,
        )

    return cache.resolve(
        CHEST_XRAY,
        chosen,
        seed=seed,
        find=lambda: cached_root(base),
        read=_files,
        download=lambda: _files(_download(base)),
        mock=lambda: _mock(seed),
        finish=finish,
        looked=f"there is no folder {base / FOLDER}",
        target=base / FOLDER,
        manual=_manual_steps(base),
        allow_download=download,
    )


def _files(root: Path) -> FileSplits:
    """The train and test files under the dataset root, checked but not decoded."""
    files = FileSplits(root, imagefolder.scan(root, "train", CLASS_NAMES),
                       imagefolder.scan(root, "test", CLASS_NAMES))
    if (root / "val").is_dir():
        n_val = sum(_count_images(root / "val" / name) for name in CLASS_NAMES)
        files.notes.append(
            f"the official val/ ({n_val} images) is ignored: too small; validation is "
            "carved out of train, grouped by patient"
        )
    return files


def _mock(seed: int) -> FileSplits:
    files = _files(mockdata.xray_tree(config.runs_dir() / "mock_chest_xray", seed, CLASS_NAMES))
    files.is_mock = True
    files.notes.append(f"MOCK DATA: synthetic chest X-rays in the Kaggle layout (seed {seed}); "
                       "accuracy on them says nothing about the real dataset")
    return files


def _group_key(path: Path) -> str:
    # an unrecognised name: a group of its own
    return _match_patient(Path(path).name) or f"file:{path}"


def _count_images(folder: Path) -> int:
    return len(imagefolder.image_names(folder)) if folder.is_dir() else 0


__all__ = [
    "CLASS_NAMES", "KAGGLE_HANDLE", "BadImage", "ImageFolderSplits", "VerifyReport", "cached",
    "cached_root", "count_patients", "counts", "download", "expected_layout", "find_root",
    "format_counts", "grouped_split", "load", "patient_id", "validate", "verify_images",
]
