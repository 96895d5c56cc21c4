"""The Kaggle chest X-rays (Kermany et al. 2018) as file lists, split by patient.

>>> from cnnlabs.datasets import chest_xray
>>> data = chest_xray.load()          # doctest: +SKIP
>>> print(data.describe())            # doctest: +SKIP

The dataset is a folder of JPEGs, ``<root>/{train,test}/{NORMAL,PNEUMONIA}/*.jpeg``
(the Kaggle archive also has a 16-image ``val/``, ignored here). :func:`load`
finds it in the cache (``<cache>/chest_xray``, at any depth), downloads it with
``kagglehub`` when the profile allows it, or, in the smoke profile, writes a
few dozen labelled mock JPEGs. It returns :class:`ImageFolderSplits`: lists of
files, not arrays; the tf.data pipeline decodes them. Along the way it

- applies the profile's sample caps (stratified, seeded) *before* decoding;
- checks that every file it will use decodes (:func:`verify_images`), moves
  unreadable ones to a quarantine folder (``<runs>/quarantine/chest_xray`` unless
  told otherwise) and leaves them out;
- carves the validation split out of train by patient (:func:`grouped_split`):
  the file names carry a patient id (:func:`patient_id`), and the images of
  one patient are either all in train or all in val, never both.

Nothing heavy is imported: no TensorFlow, and Pillow only when decoding.
"""

from __future__ import annotations

import os
import re
import shutil
import warnings
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlabs import config
from cnnlabs.config import Profile
from cnnlabs.datasets import imagefolder, kaggle
from cnnlabs.datasets.catalog import CHEST_XRAY
from cnnlabs.datasets.errors import CacheError, DatasetError, DownloadError, MockDataWarning
from cnnlabs.datasets.errors import cache_folder_hint as _cache_folder_hint
from cnnlabs.datasets.imagefolder import FileList

#: The Kaggle dataset, as ``owner/name``.
KAGGLE_HANDLE = "paultimothymooney/chest-xray-pneumonia"
#: Class folder names, in label order (0 = NORMAL, 1 = PNEUMONIA).
CLASS_NAMES = ("NORMAL", "PNEUMONIA")
#: Split folders that may exist under the root, in display order.
SPLITS = ("train", "val", "test")
#: The dataset's folder inside the cache.
FOLDER = "chest_xray"
#: Name used in descriptions and notes.
NAME = "chest_xray"
#: How deep :func:`find_root` looks below the folder it is given.
_MAX_DEPTH = 4
#: How many entries an error message lists before it just counts.
_LISTED = 12

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
    queue: deque[tuple[Path, int]] = deque([(path, 0)])
    while queue:
        folder, depth = queue.popleft()
        if (folder / "train" / "NORMAL").is_dir():
            return folder
        if depth >= _MAX_DEPTH:
            continue
        for name in _subfolders(folder):
            if name in SPLITS or name in CLASS_NAMES:
                continue  # a split or class folder never holds the root
            queue.append((folder / name, depth + 1))
    raise CacheError(
        f"The folder {path} does not hold the chest X-rays in the expected layout: no folder "
        f"in it (looking {_MAX_DEPTH} levels down) has train/NORMAL.\n"
        f"Expected (at {path} or in one sub-folder of it, such as {path / 'chest_xray'}):\n"
        f"{expected_layout(path)}\n"
        f"Found: {_describe_folder(path)}.\n"
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
    """A small text table of :func:`counts`: one row per split, a total row and class shares."""
    classes = list(dict.fromkeys(name for row in table.values() for name in row)) or list(
        CLASS_NAMES
    )
    width = max(9, *(len(name) for name in classes))
    header = f"{'split':<7}" + "".join(f"{name:>{width + 2}}" for name in classes)
    header += f"{'total':>9}   share ({' / '.join(classes)})"
    lines = [header]
    totals = dict.fromkeys(classes, 0)
    rows = [(split, row) for split, row in table.items()]
    for _split, row in rows:
        for name in classes:
            totals[name] += row.get(name, 0)
    if len(rows) > 1:
        rows.append(("total", totals))
    for split, row in rows:
        values = [row.get(name, 0) for name in classes]
        total = sum(values)
        shares = " / ".join(f"{100 * v / total:.1f}%" if total else "-" for v in values)
        lines.append(
            f"{split:<7}" + "".join(f"{v:>{width + 2}}" for v in values) + f"{total:>9}   {shares}"
        )
    return "\n".join(lines)


# --- the grouped validation split ---------------------------------------------------------------


def grouped_split(files: FileList, val_fraction: float, seed: int = 0) -> tuple[FileList, FileList]:
    """Split ``files`` into ``(train, val)``: stratified by class, grouped by patient.

    The images of one patient (:func:`patient_id`; a file with an unrecognised
    name is a patient of its own) all go to the same side, so no patient is on
    both. A patient with images of both classes stays whole and counts for the
    class most of its images have (the lower class index on a tie). Within each
    class, patients are shuffled (seeded) and moved to val until the class's
    val share of *images* is as close to ``val_fraction`` as whole patients
    allow; each class keeps at least one patient in train. Both results keep
    the input order. Same files and seed, same split.

    Raises:
        ValueError: ``val_fraction`` is not in ``[0, 1)``.
    """
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {val_fraction}.")
    groups: dict[str, list[int]] = {}
    for i, path in enumerate(files.paths):
        groups.setdefault(_group_key(path), []).append(i)
    by_class: dict[int, list[str]] = {}
    for key, members in groups.items():
        votes = Counter(int(files.labels[i]) for i in members)
        label = min(votes, key=lambda k: (-votes[k], k))
        by_class.setdefault(label, []).append(key)

    val: list[int] = []
    for label in sorted(by_class):
        keys = sorted(by_class[label])
        order = np.random.default_rng([seed, label]).permutation(len(keys))
        keys = [keys[i] for i in order]
        sizes = [len(groups[k]) for k in keys]
        target = float(val_fraction) * sum(sizes)
        taken, chosen = 0, []
        for k, size in zip(keys, sizes, strict=True):
            if taken + size <= target + 1e-9 and len(chosen) < len(keys) - 1:
                chosen.append(k)
                taken += size
        # One more patient if that brings the share closer to the target.
        taken_keys = set(chosen)
        rest = [(size, k) for k, size in zip(keys, sizes, strict=True) if k not in taken_keys]
        if len(rest) > 1:
            size, k = min(rest, key=lambda item: abs(taken + item[0] - target))
            if abs(taken + size - target) < abs(taken - target):
                chosen.append(k)
        val.extend(i for k in chosen for i in groups[k])
    in_val = np.zeros(len(files), dtype=bool)
    in_val[val] = True
    return files.subset(np.flatnonzero(~in_val)), files.subset(np.flatnonzero(in_val))


# --- checking the images -----------------------------------------------------------------------


@dataclass(frozen=True)
class BadImage:
    """A file that did not decode, and what became of it.

    Attributes:
        path: where the file was found.
        reason: why it could not be decoded.
        moved_to: its place in the quarantine folder, or ``None`` when it was not moved.
        status: ``"moved"``, ``"not moved (no quarantine folder)"`` or
            ``"could not move (read-only), excluded"`` (with the error).
    """

    path: Path
    reason: str
    moved_to: Path | None
    status: str


@dataclass
class VerifyReport:
    """What :func:`verify_images` found.

    Attributes:
        checked: how many files were decoded.
        bad: one :class:`BadImage` per file that did not decode.
        quarantine_dir: where unreadable files were to be moved (``None``: nowhere).
    """

    checked: int
    bad: list[BadImage] = field(default_factory=list)
    quarantine_dir: Path | None = None

    @property
    def bad_paths(self) -> set[Path]:
        """The original paths of the unreadable files."""
        return {item.path for item in self.bad}

    @property
    def ok(self) -> bool:
        """True when every file decoded."""
        return not self.bad

    def exclude(self, files: FileList) -> FileList:
        """``files`` without the unreadable ones."""
        bad = self.bad_paths
        if not bad:
            return files
        return files.subset([i for i, path in enumerate(files.paths) if path not in bad])

    def summary(self) -> str:
        """A few lines: how many were checked, and each bad file with its reason and fate."""
        if not self.bad:
            return f"verified {self.checked} image(s): all decode"
        lines = [
            f"verified {self.checked} image(s): {len(self.bad)} could not be decoded and are "
            "left out of the splits"
        ]
        for item in self.bad:
            where = f" -> {item.moved_to}" if item.moved_to else ""
            lines.append(f"  {item.path} ({item.reason}): {item.status}{where}")
        return "\n".join(lines)


def verify_images(
    files_or_root: FileList | Iterable[FileList] | Path | str,
    quarantine_dir: Path | None = None,
) -> VerifyReport:
    """Decode every file fully (Pillow) and set aside the ones that fail.

    Args:
        files_or_root: a :class:`FileList`, several, or a dataset folder (resolved
            with :func:`find_root`; then every image in every split is checked).
        quarantine_dir: where to move unreadable files, keeping their
            ``<split>/<class>/<name>`` sub-path and never overwriting (a numbered
            name is used instead). ``None``: report them, move nothing.

    A file whose folder is not writable (a read-only copy such as ``../shared/data``)
    is not moved and does not raise: it is reported as "could not move
    (read-only), excluded". Use :meth:`VerifyReport.exclude` to drop the bad
    files from a list; :func:`load` does so.
    """
    paths = _paths_of(files_or_root)
    report = VerifyReport(checked=len(paths), quarantine_dir=quarantine_dir)
    for item in imagefolder.find_unreadable(paths):
        report.bad.append(_set_aside(item.path, item.reason, quarantine_dir))
    return report


def _set_aside(path: Path, reason: str, quarantine_dir: Path | None) -> BadImage:
    if quarantine_dir is None:
        return BadImage(path, reason, None, "not moved (no quarantine folder), excluded")
    if not os.access(path.parent, os.W_OK):
        return BadImage(path, reason, None, "could not move (read-only), excluded")
    parts = path.parts[-3:] if len(path.parts) >= 3 else (path.name,)
    target = Path(quarantine_dir).joinpath(*parts)
    number = 1
    while target.exists() or target.is_symlink():
        target = target.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(path, target)
        except OSError:
            # Another file system: copy under a temporary name, put it in place whole,
            # then remove the original (undo the copy if we can't). A failed copy leaves
            # nothing half-written in the quarantine.
            partial = target.with_name(f".{target.name}.partial")
            try:
                shutil.copy2(path, partial)
                os.replace(partial, target)
            except OSError:
                partial.unlink(missing_ok=True)
                raise
            try:
                path.unlink()
            except OSError:
                target.unlink(missing_ok=True)
                raise
    except OSError as exc:
        return BadImage(
            path, reason, None, f"could not move (read-only), excluded ({type(exc).__name__})"
        )
    return BadImage(path, reason, target, "moved")


def _paths_of(source: FileList | Iterable[FileList] | Path | str) -> list[Path]:
    if isinstance(source, FileList):
        return list(source.paths)
    if isinstance(source, (str, Path)):
        root = find_root(source)
        paths: list[Path] = []
        for split in SPLITS:
            for name in CLASS_NAMES:
                folder = root / split / name
                if folder.is_dir():
                    paths.extend(folder / n for n in imagefolder.image_names(folder))
        return paths
    return [path for files in source for path in files.paths]


# --- the result --------------------------------------------------------------------------------


@dataclass
class ImageFolderSplits:
    """Train / val / test as lists of image files, with what the pipeline needs to decode them.

    Attributes:
        name: ``"chest_xray"``.
        root: the dataset folder (holding ``train/`` and ``test/``).
        train, val, test: the files and labels of each split (val carved out of
            train, grouped by patient).
        class_names: ``("NORMAL", "PNEUMONIA")``.
        color_mode: ``"rgb"`` or ``"grayscale"``: the channels to decode to (the
            source mixes grayscale and RGB JPEGs).
        image_size: ``(H, W)`` to resize to.
        is_mock: True for synthetic stand-in images; such numbers mean nothing.
        notes: human-readable remarks (subsampling, ignored files) for reports.
        verify: what decoding the files found, when they were checked.
    """

    name: str
    root: Path
    train: FileList
    val: FileList
    test: FileList
    class_names: tuple[str, ...]
    color_mode: str = "rgb"
    image_size: tuple[int, int] = (224, 224)
    is_mock: bool = False
    notes: list[str] = field(default_factory=list)
    verify: VerifyReport | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one decoded image."""
        channels = imagefolder.COLOR_MODES[self.color_mode]
        return (int(self.image_size[0]), int(self.image_size[1]), channels)

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    def split(self, name: str) -> FileList:
        """The :class:`FileList` of split ``name`` (``"train"``, ``"val"`` or ``"test"``)."""
        if name not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {name!r}.")
        return getattr(self, name)

    def counts(self) -> dict[str, dict[str, int]]:
        """Files per split and class name."""
        return {split: self.split(split).counts() for split in SPLITS}

    def describe(self) -> str:
        """One line: sizes, shape and source, flagged loudly when mock."""
        text = (
            f"{self.name}: train {len(self.train)}, val {len(self.val)}, test {len(self.test)}, "
            f"image {self.input_shape} {self.color_mode}, {self.num_classes} classes, "
            f"from {self.root}"
        )
        if self.is_mock:
            text = "MOCK DATA (synthetic; accuracy means nothing) -- " + text
        return text

    def read(
        self, split: str = "train", limit: int | None = None, *, seed: int = 0,
        indices: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decode (part of) a split with Pillow: ``(x, y)`` as uint8 ``(N, H, W, C)`` and int64.

        For montages and quick looks, not for training (use the pipeline). Images
        are forced to :attr:`color_mode` and resized to :attr:`image_size`.
        ``limit`` picks a stratified, seeded subset; ``indices`` picks the files at
        those positions of the split, in the pipeline's order (only they are decoded).
        Unreadable files are skipped.
        """
        files = self.split(split)
        if indices is not None:
            files = files.subset(indices)
        files = imagefolder.subsample_files(files, limit, rng=seed)
        x, y, _ = imagefolder.read_images(files, self.input_shape, self.color_mode)
        return x, y


# --- download ----------------------------------------------------------------------------------


def cached_root(data_dir: Path | str | None = None) -> Path | None:
    """The dataset root in the cache, or ``None`` when it is not there.

    ``data_dir`` (default: :func:`cnnlabs.config.data_dir`) is the cache folder,
    whose ``chest_xray/`` sub-folder is searched with :func:`find_root`. A
    dataset root passed directly (holding ``train/NORMAL`` itself) is used as it is.

    Raises:
        CacheError: ``<cache>/chest_xray`` exists but holds no valid layout.
    """
    base = Path(data_dir) if data_dir is not None else config.data_dir()
    if (base / "train" / "NORMAL").is_dir():
        return base
    if (base / FOLDER).is_dir():
        return find_root(base / FOLDER)
    return None


def download(data_dir: Path | str | None = None, *, profile: str | Profile | None = None) -> Path:
    """Make sure the chest X-rays are in the cache, downloading them from Kaggle if needed.

    Returns the dataset root at once when the cache has it. Otherwise, when the
    profile downloads (``cpu``, ``full``), it checks for Kaggle credentials,
    calls ``kagglehub.dataset_download`` (secrets from Colab are copied into the
    environment first; nothing is ever printed or written), and links the
    result into ``<cache>/chest_xray`` (when linking fails, the download stays in
    kagglehub's cache and its root is returned).

    Raises:
        DownloadError: the profile does not download, there are no credentials,
            ``kagglehub`` is missing, or the download failed; the message gives
            the manual steps.
        CacheError: the cache or the download holds no valid layout.
    """
    base = Path(data_dir) if data_dir is not None else config.data_dir()
    found = cached_root(base)
    if found is not None:
        return found
    chosen = profile if isinstance(profile, Profile) else config.get_profile(profile)
    if not chosen.allow_download:
        raise _not_cached_error(base, f"profile {chosen.name} never downloads")
    return _download(base)


def _download(base: Path) -> Path:
    target = base / FOLDER
    source = kaggle.credentials_source()
    if source is None:
        raise DownloadError(
            f"Cannot download the chest X-rays from Kaggle ({KAGGLE_HANDLE}).\n"
            + kaggle.missing_credentials_message()
            + "\n"
            + _manual_steps(base),
            url=CHEST_XRAY.url,
            target=target,
        )
    try:
        import kagglehub  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DownloadError(
            "Downloading the chest X-rays needs the kagglehub package: pip install kagglehub\n"
            + _manual_steps(base),
            url=CHEST_XRAY.url,
            target=target,
        ) from exc
    if source == "colab secrets":
        _colab_secrets_to_environment()
    try:
        downloaded = Path(kagglehub.dataset_download(KAGGLE_HANDLE))
    except Exception as exc:  # network, HTTP, authentication: all reported the same way
        raise DownloadError(
            f"Downloading {KAGGLE_HANDLE} with kagglehub failed ({type(exc).__name__}; "
            f"credentials from: {source}). Check the internet connection and that the "
            "credentials are valid.\n" + _manual_steps(base),
            url=CHEST_XRAY.url,
            target=target,
        ) from exc
    root = find_root(downloaded)
    try:
        base.mkdir(parents=True, exist_ok=True)
        if not target.exists() and not target.is_symlink():
            target.symlink_to(root, target_is_directory=True)
            return find_root(target)
    except OSError:
        pass
    return root


def _colab_secrets_to_environment() -> None:
    """Copy the Kaggle secrets of a Colab notebook into the environment (values never shown)."""
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        if os.environ.get(name, "").strip():
            continue
        try:
            value = userdata.get(name)
        except Exception:  # SecretNotFoundError, NotebookAccessError, ...
            continue
        if value:
            os.environ[name] = str(value)


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


def _not_cached_error(base: Path, why: str) -> DownloadError:
    return DownloadError(
        f"The chest X-rays are not in the cache ({base / FOLDER}) and {why}. "
        "Use a profile that downloads (cpu, full) with Kaggle credentials, or install "
        "them by hand.\n" + _manual_steps(base),
        url=CHEST_XRAY.url,
        target=base / FOLDER,
    )


# --- load --------------------------------------------------------------------------------------


def load(
    profile: str | Profile | None = None,
    *,
    data_dir: Path | str | None = None,
    seed: int = 0,
    val_fraction: float | None = None,
    color_mode: str = "rgb",
    image_size: tuple[int, int] = (224, 224),
    verify: bool = True,
    quarantine_dir: Path | None = None,
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
        image_size: ``(H, W)`` for the pipeline to resize to.
        verify: decode every file that will be used and leave out (and
            quarantine) the unreadable ones.
        quarantine_dir: where unreadable files go; ``None``:
            ``<runs>/quarantine/chest_xray``. Files in a read-only folder stay put.
        download: whether a missing dataset may be downloaded; ``None``: the
            profile's ``allow_download``.

    Returns:
        :class:`ImageFolderSplits`. The official 16-image ``val/`` is ignored.

    Raises:
        CacheError: the folder in the cache has the wrong layout or an empty class folder.
        DownloadError: nothing is cached and it could not or may not be downloaded.
        ValueError: an invalid ``color_mode``, ``image_size`` or ``val_fraction``.
    """
    chosen = profile if isinstance(profile, Profile) else config.get_profile(profile)
    if color_mode not in imagefolder.COLOR_MODES:
        raise ValueError(
            f"color_mode must be one of {', '.join(map(repr, imagefolder.COLOR_MODES))}; "
            f"got {color_mode!r}."
        )
    if len(image_size) != 2 or any(int(d) < 1 for d in image_size):
        raise ValueError(f"image_size must be (height, width); got {image_size}.")
    fraction = chosen.val_fraction if val_fraction is None else float(val_fraction)
    if not 0.0 < fraction < 1.0:
        raise ValueError(
            f"val_fraction must be between 0 and 1 (exclusive): the decision threshold "
            f"is chosen on the validation split; got {val_fraction}."
        )

    base = Path(data_dir) if data_dir is not None else config.data_dir()
    notes: list[str] = []
    is_mock = False
    root = cached_root(base)
    if root is None:
        may_download = chosen.allow_download if download is None else bool(download)
        if may_download:
            root = _download(base)
        elif chosen.allow_mock:
            root = _mock_tree(config.runs_dir() / "mock_chest_xray", seed)
            is_mock = True
            message = (
                f"The chest X-rays are not in the cache ({base / FOLDER}); profile "
                f"{chosen.name} never downloads, so these are MOCK X-rays (synthetic "
                "JPEGs; accuracy means nothing)."
            )
            warnings.warn(message, MockDataWarning, stacklevel=2)
            notes.append(message)
        else:
            raise _not_cached_error(base, f"profile {chosen.name} does not download")

    train_all = imagefolder.scan(root, "train", CLASS_NAMES)
    test_all = imagefolder.scan(root, "test", CLASS_NAMES)
    if (root / "val").is_dir():
        n_val = sum(_count_images(root / "val" / name) for name in CLASS_NAMES)
        notes.append(
            f"the official val/ ({n_val} images) is ignored: too small; validation is "
            "carved out of train, grouped by patient"
        )
    train = imagefolder.subsample_files(
        train_all, chosen.train_samples, rng=np.random.default_rng([seed, 0])
    )
    test = imagefolder.subsample_files(
        test_all, chosen.test_samples, rng=np.random.default_rng([seed, 1])
    )
    for kept, full, word in ((train, train_all, "training"), (test, test_all, "test")):
        if len(kept) < len(full):
            notes.append(
                f"subsampled to {len(kept)} of {len(full)} {word} images (profile {chosen.name})"
            )

    report = None
    if verify:
        where = (
            Path(quarantine_dir)
            if quarantine_dir is not None
            else config.runs_dir() / "quarantine" / NAME
        )
        report = verify_images([train, test], where)
        if report.bad:
            train, test = report.exclude(train), report.exclude(test)
            notes.append(report.summary())
            warnings.warn(report.summary(), imagefolder.SkippedImagesWarning, stacklevel=2)
    for files, split in ((train, "train"), (test, "test")):
        empty = [name for name, n in files.counts().items() if n == 0]
        if empty:
            raise DatasetError(
                f"No readable {split} images are left for class(es) {', '.join(empty)} in "
                f"{root / split}." + (f"\n{report.summary()}" if report else "")
            )

    train, val = grouped_split(train, fraction, seed=seed)
    patients = count_patients(val)
    notes.append(
        f"validation: {len(val)} images of {sum(patients.values())} patients held out of "
        f"train (val_fraction {fraction:g}), stratified by class, no patient on both sides"
    )
    return ImageFolderSplits(
        name=NAME,
        root=root,
        train=train,
        val=val,
        test=test,
        class_names=CLASS_NAMES,
        color_mode=color_mode,
        image_size=(int(image_size[0]), int(image_size[1])),
        is_mock=is_mock,
        notes=notes,
        verify=report,
    )


# --- mock data ---------------------------------------------------------------------------------

#: Mock patients per split and class, and images per patient (cycled).
_MOCK_PATIENTS = {"train": 14, "test": 5}
_MOCK_IMAGES = (1, 2, 1, 3)
_MOCK_SIDE = 64
_MOCK_MARKER = ".complete-v1"


def _mock_tree(folder: Path, seed: int) -> Path:
    """Write (once) a few dozen synthetic X-ray JPEGs in the Kaggle layout under ``folder``."""
    folder = Path(folder) / f"seed{seed}"
    if (folder / _MOCK_MARKER).is_file():
        return folder
    from PIL import Image

    rng = np.random.default_rng([seed, 7])
    yy, xx = np.mgrid[0:_MOCK_SIDE, 0:_MOCK_SIDE].astype(np.float32) / _MOCK_SIDE
    # A dark chest with two lighter lung-shaped ellipses.
    lungs = np.exp(-(((xx - 0.3) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2))
    lungs += np.exp(-(((xx - 0.7) / 0.15) ** 2 + ((yy - 0.5) / 0.3) ** 2))
    number = 0
    for split, n_patients in _MOCK_PATIENTS.items():
        for label, name in enumerate(CLASS_NAMES):
            (folder / split / name).mkdir(parents=True, exist_ok=True)
            for p in range(n_patients):
                pid = 100 * (split == "test") + p + 1
                for k in range(_MOCK_IMAGES[p % len(_MOCK_IMAGES)]):
                    number += 1
                    pixels = 60 + 90 * lungs + rng.normal(0, 12, lungs.shape)
                    if label == 1:  # pneumonia: a bright opacity in one lung
                        cx, cy = rng.uniform(0.2, 0.8), rng.uniform(0.3, 0.7)
                        pixels += 110 * np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / 0.01))
                    gray = np.clip(pixels, 0, 255).astype(np.uint8)
                    image = Image.fromarray(gray, mode="L")
                    if number % 3 == 0:  # the real data mixes grayscale and RGB files
                        image = image.convert("RGB")
                    if label == 1:
                        kind = "bacteria" if p % 2 else "virus"
                        filename = f"person{pid}_{kind}_{number}.jpeg"
                    elif p % 2:
                        filename = f"NORMAL2-IM-{pid:04d}-{k + 1:04d}.jpeg"
                    else:
                        filename = f"IM-{pid:04d}-{k + 1:04d}.jpeg"
                    image.save(folder / split / name / filename, quality=90)
    (folder / _MOCK_MARKER).write_text("synthetic chest X-rays written by cnnlabs\n")
    return folder


# --- internals ---------------------------------------------------------------------------------


def _group_key(path: Path) -> str:
    # an unrecognised name: a group of its own
    return _match_patient(Path(path).name) or f"file:{path}"


def _subfolders(folder: Path) -> list[str]:
    """imagefolder's listing, for a search that must not stop at an unreadable folder."""
    try:
        return imagefolder.subfolders(folder)
    except OSError:
        return []


def _count_images(folder: Path) -> int:
    return len(imagefolder.image_names(folder)) if folder.is_dir() else 0


def _describe_folder(path: Path) -> str:
    try:
        with os.scandir(path) as entries:
            names = sorted(
                e.name + ("/" if e.is_dir() else "")
                for e in entries
                if not imagefolder.is_ignored(e.name)
            )
    except OSError as exc:
        return f"cannot list it ({type(exc).__name__})"
    if not names:
        return "an empty folder"
    shown = ", ".join(names[:_LISTED])
    more = f", and {len(names) - _LISTED} more" if len(names) > _LISTED else ""
    return f"{path} holds {shown}{more}"


__all__ = [
    "CLASS_NAMES",
    "KAGGLE_HANDLE",
    "BadImage",
    "ImageFolderSplits",
    "VerifyReport",
    "cached_root",
    "count_patients",
    "counts",
    "download",
    "expected_layout",
    "find_root",
    "format_counts",
    "grouped_split",
    "load",
    "patient_id",
    "verify_images",
]
