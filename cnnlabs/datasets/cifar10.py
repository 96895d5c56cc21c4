"""The CIFAR-10 loader.

Cache layouts, looked for in this order inside the cache folder ``<data>``:

1. ``<data>/cifar-10-batches-py/``: the official "python version", as unpacked
   from ``cifar-10-python.tar.gz``: ``data_batch_1`` ... ``data_batch_5`` and
   ``test_batch`` (10,000 images each) and ``batches.meta``. Every file is
   checked (present, readable, 10,000 uint8 rows of 3,072 pixels, labels 0-9,
   class names); a partial or corrupt copy raises :class:`CacheError` and is
   never changed.
2. ``<data>/cifar10/{train,test}/<class>/*.png|*.jpg``: image folders with
   one folder per class, named as in :data:`~cnnlabs.datasets.catalog.CIFAR10`
   (sorted alphabetically, the names are in label order). Read with
   :mod:`cnnlabs.datasets.imagefolder`; unreadable images are skipped and
   reported in ``Splits.notes`` and a warning.
3. ``<data>/cifar-10-python.tar.gz`` (downloaded by cnnlabs or put there by
   hand): unpacked, after a safety check of every member, into
   ``<data>/cifar-10-batches-py/``, then read as in 1.

Otherwise a profile that downloads fetches the archive from the official URL
(SHA-256 checked) and goes on as in 3; the smoke profile falls back to clearly
labelled mock data without any network access; any other profile stops with a
:class:`DownloadError` giving the manual steps.

The sequence is :func:`cnnlabs.datasets.cache.resolve`'s, which applies the
profile's sample caps (stratified, seeded) as for every dataset. Image folders
are capped as file lists, before decoding: the smoke profile reads about 1,500
of the 60,000 images. Image-folder splits come back in a seeded random order,
not grouped by class.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
import zlib
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import numpy as np

from cnnlabs.config import Profile
from cnnlabs.datasets import cache, imagefolder, mockdata
from cnnlabs.datasets.catalog import DatasetInfo
from cnnlabs.datasets.errors import (
    CacheError,
    ChecksumError,
    DownloadError,
    cache_folder_hint,
    manual_download_steps,
)
from cnnlabs.datasets.sampling import Cap
from cnnlabs.datasets.splits import FileSplits, Splits

#: The folder the official archive unpacks to (layout 1).
BATCHES_FOLDER = "cifar-10-batches-py"
#: The image-folder root (layout 2).
IMAGES_FOLDER = "cifar10"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
META_FILE = "batches.meta"
#: Every file layout 1 must hold.
BATCH_FILES = (*TRAIN_BATCHES, TEST_BATCH, META_FILE)


class _Invalid(Exception):
    """Internal: what is wrong with a copy, one phrase per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


def cached(info: DatasetInfo, folder: Path) -> Path | None:
    """The cached copy ``load`` would read (batches folder, image folder or archive), if any."""
    for candidate in (folder / BATCHES_FOLDER, folder / IMAGES_FOLDER, info.cache_path(folder)):
        if candidate.exists():
            return candidate
    return None


def load(
    info: DatasetInfo,
    profile: Profile,
    folder: Path,
    *,
    seed: int = 0,
    progress: bool = True,
) -> Splits:
    """Load CIFAR-10 from the cache in ``folder``, unpacking, downloading or mocking as needed.

    Returns the splits capped by the profile (``train_samples``,
    ``test_samples``; stratified, seeded), with a note for each cap, each
    skipped image and each split whose size differs from the official one.
    Images are ``(N, 32, 32, 3)`` uint8, labels ``(N,)`` int64, and ``source``
    is the folder the data came from.

    Raises:
        CacheError: a cached copy exists but is not valid (it is left untouched).
        DownloadError: the data is missing and could not or may not be downloaded.
        ChecksumError: a fresh download did not match the catalogue's SHA-256.
    """
    folder = Path(folder)
    archive = info.cache_path(folder)

    def fetch() -> Splits:
        _download(info, archive, folder, progress)
        return _read_copy(archive, info, folder)

    looked = (
        f"none of {folder / BATCHES_FOLDER}, {folder / IMAGES_FOLDER} or {archive} exists"
    )
    return cache.resolve(
        info,
        profile,
        seed=seed,
        find=lambda: cached(info, folder),
        read=lambda found: _read_copy(found, info, folder),
        download=fetch,
        mock=lambda: mockdata.at_profile_size(info, profile, seed),
        finish=lambda raw: _decoded(raw, info),
        looked=looked,
        target=archive,
        manual=manual_download_steps(
            url=info.url, sha256=info.sha256, target=archive, dataset=info.name
        )
        + "\n"
        + _other_ways(folder, info),
    )


def read(path: Path, info: DatasetInfo) -> dict[str, np.ndarray]:
    """Read a whole cached copy: the batches folder (layout 1) or the image-folder root (layout 2).

    Returns ``x_train``, ``y_train``, ``x_test`` and ``y_test`` (images
    ``(N, 32, 32, 3)`` uint8, labels int64), not subsampled; image folders in a
    seeded random order (seed 0).

    Raises:
        CacheError: the copy is not valid; nothing is changed.
    """
    path = Path(path)
    if _is_image_root(path):
        splits = _decoded(cache.apply_cap(image_files(path, info), Cap(None, None)), info)
        return {
            "x_train": splits.x_train,
            "y_train": splits.y_train,
            "x_test": splits.x_test,
            "y_test": splits.y_test,
        }
    return read_batches(path, info)


def validate(path: Path, info: DatasetInfo) -> None:
    """Raise :class:`CacheError` unless ``path`` is a valid copy of CIFAR-10.

    Runs the checks :func:`load` runs, without unpacking or decoding images:
    the official archive's members are listed and checked (nothing is
    unpickled), the batches folder is read in full, and the image-folder
    root's tree is checked (the same class folders in both splits, none empty).
    """
    path = Path(path)
    if path.is_file():
        try:
            names = _walk_archive(path, destination=None)
            missing = [f for f in BATCH_FILES if f"{BATCHES_FOLDER}/{f}" not in names]
            if missing:
                raise _Invalid([f"it lacks {BATCHES_FOLDER}/{', '.join(missing)}"])
        except _Invalid as exc:
            raise _archive_error(path, info, exc.problems) from None
        return
    if _is_image_root(path):
        image_files(path, info)
        return
    read_batches(path, info)


def read_batches(folder: Path, info: DatasetInfo) -> dict[str, np.ndarray]:
    """Read and check the official python batches in ``folder`` (``cifar-10-batches-py``).

    Pixels are reshaped from the stored ``(N, 3, 32, 32)`` planes to channels-last
    ``(N, 32, 32, 3)``. Only plain arrays, lists and strings are unpickled: a
    pickle that refers to anything else is refused, as it could run code.

    Raises:
        CacheError: naming the folder and everything missing or wrong in it.
            Nothing in the folder is changed or deleted.
    """
    folder = Path(folder)
    try:
        return _read_batch_folder(folder, info)
    except _Invalid as exc:
        raise CacheError(
            f"The cached {info.name} folder {folder} is not a valid copy: "
            f"{'; '.join(exc.problems)}.\n"
            f"Expected the official python version: {', '.join(BATCH_FILES)}, each batch "
            f"holding b'data' ({info.train_size // len(TRAIN_BATCHES)}, "
            f"{int(np.prod(info.image_shape))}) uint8 (test_batch: {info.test_size} rows) "
            f"and b'labels' 0-{info.num_classes - 1}.\n"
            "cnnlabs has not changed or deleted it. To fix it, either\n"
            "  - delete it (or move it aside) and run again: a profile that downloads (cpu, "
            f"full) fetches and unpacks a fresh copy, or\n"
            f"  - replace it with a complete copy: unpack {info.url} (SHA-256 {info.sha256}) "
            f"into {folder.parent}.\n" + cache_folder_hint(folder.parent),
            path=folder,
        ) from None


def image_files(root: Path, info: DatasetInfo) -> FileSplits:
    """List layout 2, ``root/{train,test}/<class>/*.png|*.jpg``, without decoding anything.

    Both splits are scanned, so a wrong tree fails before any decoding. A
    split whose size differs from the official one gets a note. Capped or not,
    the files later come in a seeded random order (``shuffle``).

    Raises:
        CacheError: the tree does not match (the message shows the expected one).
    """
    root = Path(root)
    train, test = (imagefolder.scan(root, split, info.class_names) for split in ("train", "test"))
    notes = [
        f"{root / split} holds {len(files)} {word} images, not the official {official}"
        for split, files, word, official in (
            ("train", train, "training", info.train_size),
            ("test", test, "test", info.test_size),
        )
        if len(files) != official
    ]
    return FileSplits(root=root, train=train, test=test, notes=notes, shuffle=True)


def unpack(archive: Path, folder: Path, info: DatasetInfo) -> Path:
    """Unpack the official archive into ``folder/cifar-10-batches-py`` and check it.

    Every member is checked first: absolute paths, ``..`` and links or special
    files are refused. The files go to a hidden staging folder next to the
    target, and the checked copy is moved into place in one step, so an
    interrupted or invalid unpack never leaves a folder that looks good.

    Returns:
        The batches folder.

    Raises:
        CacheError: the archive is unreadable, unsafe or not a valid copy (it is
            left untouched), or the folder is not writable.
    """
    _unpack(archive, folder, info)
    return Path(folder) / BATCHES_FOLDER


# --- internals ---------------------------------------------------------------------------------


def _read_copy(path: Path, info: DatasetInfo, folder: Path) -> Splits | FileSplits:
    """What :func:`load` reads at ``path``: the batches, the image files, or the archive."""
    if path == info.cache_path(folder) and path.is_file():
        return _batch_splits(info, _unpack(path, folder, info), folder / BATCHES_FOLDER)
    if _is_image_root(path):
        return image_files(path, info)
    return _batch_splits(info, read_batches(path, info), path)


def _is_image_root(path: Path) -> bool:
    """True for layout 2's folder (by its name, or by its ``train/``), not the batches folder."""
    return path.is_dir() and (path.name == IMAGES_FOLDER or (path / "train").is_dir())


def _decoded(raw: Splits | FileSplits, info: DatasetInfo) -> Splits:
    """Image files decoded to RGB arrays (unreadable ones skipped, with a note); arrays as is."""
    if isinstance(raw, Splits):
        return raw
    arrays: dict[str, np.ndarray] = {}
    notes = list(raw.notes)
    for split, word in (("train", "training"), ("test", "test")):
        x, y, skipped = imagefolder.read_images(getattr(raw, split), info.image_shape, "rgb")
        if skipped:
            notes.append(
                f"skipped {len(skipped)} unreadable {word} image(s): "
                + imagefolder.describe_skipped(skipped, limit=10)
            )
        arrays[f"x_{split}"], arrays[f"y_{split}"] = x, y
    splits = _batch_splits(info, arrays, raw.root)
    splits.notes = notes
    return splits


def _batch_splits(info: DatasetInfo, arrays: dict[str, np.ndarray], source: Path) -> Splits:
    return Splits(
        name=info.name,
        x_train=arrays["x_train"],
        y_train=arrays["y_train"],
        x_test=arrays["x_test"],
        y_test=arrays["y_test"],
        class_names=list(info.class_names),
        source=str(source),
    )


def _download(info: DatasetInfo, archive: Path, folder: Path, progress: bool) -> None:
    from cnnlabs.datasets.download import download

    try:
        download(info.url, archive, info.sha256, progress, dataset=info.name)
    except ChecksumError:
        raise
    except DownloadError as exc:
        raise DownloadError(
            f"{exc}\n{_other_ways(folder, info)}",
            url=info.url,
            sha256=info.sha256,
            target=archive,
        ) from (exc.__cause__ if exc.__cause__ is not None else exc)


def _other_ways(folder: Path, info: DatasetInfo) -> str:
    images = folder / IMAGES_FOLDER
    first, last = info.class_names[0], info.class_names[-1]
    return (
        f"cnnlabs unpacks that file into {folder / BATCHES_FOLDER} the first time it loads it; "
        f"you may also unpack it there yourself (tar -xzf {info.filename} -C {folder}).\n"
        "Or provide the images as one folder per class: "
        f"{images / 'train' / first / '*.png'} ... {images / 'test' / last / '*.png'} "
        f"(.png or .jpg; classes {', '.join(info.class_names)}; see data/README.md)."
    )


def _unpack(archive: Path, folder: Path, info: DatasetInfo) -> dict[str, np.ndarray]:
    """Unpack into a staging folder, read and check, then move into place; returns the arrays."""
    archive, folder = Path(archive), Path(folder)
    target = folder / BATCHES_FOLDER
    try:
        staging = Path(
            tempfile.mkdtemp(prefix=f".{BATCHES_FOLDER}.", suffix=".partial", dir=folder)
        )
    except OSError as exc:
        raise _unwritable(archive, folder, exc) from exc
    try:
        _walk_archive(archive, destination=staging)
        inner = staging / BATCHES_FOLDER
        if not inner.is_dir():
            held = sorted(p.name for p in staging.iterdir())
            raise _Invalid(
                [f"it has no {BATCHES_FOLDER}/ folder (it holds: {', '.join(held) or 'nothing'})"]
            )
        arrays = _read_batch_folder(inner, info)
        try:
            os.replace(inner, target)
        except OSError as exc:
            raise _unwritable(archive, folder, exc) from exc
    except _Invalid as exc:
        raise _archive_error(archive, info, exc.problems) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return arrays


def _unwritable(archive: Path, folder: Path, exc: OSError) -> CacheError:
    return CacheError(
        f"Could not unpack {archive} into {folder}: {type(exc).__name__}: {exc}.\n"
        f"Unpack it yourself into a writable cache folder (tar -xzf {archive.name} -C FOLDER) "
        "and point cnnlabs at that folder.\n" + cache_folder_hint(folder),
        path=archive,
    )


def _member_problem(member: tarfile.TarInfo) -> str | None:
    """Why an archive member must not be unpacked, or ``None`` when it is safe."""
    name = member.name
    if name.startswith(("/", "\\")) or PureWindowsPath(name).drive:
        return "an absolute path"
    if ".." in PurePosixPath(name.replace("\\", "/")).parts:
        return "a path that climbs out of the folder with '..'"
    if not (member.isfile() or member.isdir()):
        return "a link or special file"
    return None


def _walk_archive(archive: Path, destination: Path | None) -> set[str]:
    """Check every member of a tar archive and, with ``destination``, write it there.

    Returns the names of the regular files (normalised, ``/``-separated).
    Raises :class:`_Invalid` for an unreadable archive or an unsafe member.
    """
    names: set[str] = set()
    try:
        with tarfile.open(archive, mode="r|*") as tar:
            for member in tar:
                problem = _member_problem(member)
                if problem:
                    raise _Invalid(
                        [f"its member {member.name!r} is {problem}, so nothing was unpacked"]
                    )
                parts = PurePosixPath(member.name.replace("\\", "/")).parts
                if not parts or member.isdir():
                    if destination is not None and parts:
                        destination.joinpath(*parts).mkdir(parents=True, exist_ok=True)
                    continue
                names.add("/".join(parts))
                if destination is None:
                    continue
                out = destination.joinpath(*parts)
                out.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                if source is None:
                    continue
                with source, out.open("wb") as handle:
                    shutil.copyfileobj(source, handle, 1 << 20)
    except _Invalid:
        raise
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise _Invalid(
            [f"it is not a readable .tar.gz archive (corrupt or truncated? {_reason(exc)})"]
        ) from exc
    return names


def _archive_error(archive: Path, info: DatasetInfo, problems: list[str]) -> CacheError:
    return CacheError(
        f"The cached {info.name} archive {archive} is not a valid copy: {'; '.join(problems)}.\n"
        f"Expected the official {info.filename}, which unpacks to {BATCHES_FOLDER}/ holding "
        f"{', '.join(BATCH_FILES)}.\n"
        "cnnlabs has not changed or deleted it. To fix it, either\n"
        "  - delete it (or move it aside) and run again: a profile that downloads (cpu, full) "
        f"or `cnnlabs data fetch {info.name}` fetches a fresh copy, or\n"
        f"  - replace it with the official file {info.url} (SHA-256 {info.sha256}).\n"
        + cache_folder_hint(archive.parent),
        path=archive,
    )


def _read_batch_folder(folder: Path, info: DatasetInfo) -> dict[str, np.ndarray]:
    """All batches of ``folder`` as channels-last arrays; :class:`_Invalid` lists any problems."""
    if not folder.is_dir():
        raise _Invalid(["it is not a folder"])
    problems: list[str] = []
    missing = [name for name in BATCH_FILES if not (folder / name).is_file()]
    if missing:
        held = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
        verb = "is" if len(missing) == 1 else "are"
        problems.append(
            f"{', '.join(missing)} {verb} missing (it holds: {', '.join(held) or 'nothing'})"
        )
    height, width, channels = info.image_shape
    per_batch = info.train_size // len(TRAIN_BATCHES)
    parts: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "test": []}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        if name in missing:
            continue
        rows = info.test_size if name == TEST_BATCH else per_batch
        try:
            batch = _read_batch(folder / name, rows, info)
        except _Invalid as exc:
            problems.extend(exc.problems)
            continue
        parts["test" if name == TEST_BATCH else "train"].append(batch)
    try:
        if META_FILE not in missing:
            _check_meta(folder / META_FILE, info)
    except _Invalid as exc:
        problems.extend(exc.problems)
    if problems:
        raise _Invalid(problems)

    arrays: dict[str, np.ndarray] = {}
    for split, batches in parts.items():
        data = np.concatenate([pixels for pixels, _ in batches])
        planes = data.reshape(-1, channels, height, width)
        arrays[f"x_{split}"] = np.ascontiguousarray(planes.transpose(0, 2, 3, 1))
        arrays[f"y_{split}"] = np.concatenate([labels for _, labels in batches])
    return arrays


def _read_batch(path: Path, rows: int, info: DatasetInfo) -> tuple[np.ndarray, np.ndarray]:
    """One batch file as ``(pixels (rows, 3072) uint8, labels (rows,) int64)``."""
    name = path.name
    content = _unpickle(path)
    if not isinstance(content, dict):
        raise _Invalid([f"{name} holds a {type(content).__name__}, not a dict"])
    data, labels = _field(content, "data"), _field(content, "labels")
    absent = [key for key, value in (("data", data), ("labels", labels)) if value is None]
    if absent:
        keys = ", ".join(repr(k) for k in content) or "none"
        raise _Invalid([f"{name} lacks the key(s) {', '.join(absent)} (it has: {keys})"])
    problems = []
    pixels = np.asarray(data)
    expected = (rows, int(np.prod(info.image_shape)))
    if pixels.shape != expected:
        problems.append(f"{name} has data of shape {pixels.shape}, expected {expected}")
    if pixels.dtype != np.uint8:
        problems.append(f"{name} has data of dtype {pixels.dtype}, expected uint8")
    try:
        targets = np.asarray(labels)
    except (ValueError, TypeError):
        targets = np.asarray([], dtype=object)
    if targets.shape != (rows,):
        problems.append(f"{name} has {targets.size} labels, expected {rows}")
    elif not np.issubdtype(targets.dtype, np.integer):
        problems.append(f"{name} has labels of type {targets.dtype}, expected integers")
    elif targets.size and (targets.min() < 0 or targets.max() >= info.num_classes):
        problems.append(
            f"{name} has labels from {targets.min()} to {targets.max()}, "
            f"expected 0 to {info.num_classes - 1}"
        )
    if problems:
        raise _Invalid(problems)
    return pixels, targets.astype(np.int64)


def _check_meta(path: Path, info: DatasetInfo) -> None:
    content = _unpickle(path)
    names = _field(content, "label_names") if isinstance(content, dict) else None
    if names is None:
        raise _Invalid([f"{path.name} has no label_names"])
    try:
        decoded = tuple(
            n.decode("utf-8", "replace") if isinstance(n, bytes) else str(n) for n in names
        )
    except TypeError:
        decoded = ()
    if decoded != tuple(info.class_names):
        raise _Invalid(
            [
                f"{path.name} names the classes {', '.join(decoded) or 'nothing'}, "
                f"expected {', '.join(info.class_names)}"
            ]
        )


def _field(content: Any, key: str) -> Any:
    """A dict entry stored under a bytes key (the official Python 2 pickles) or a str key."""
    if not isinstance(content, dict):
        return None
    value = content.get(key.encode())
    return content.get(key) if value is None else value


#: The only globals a CIFAR-10 batch needs: numpy array and dtype reconstruction, and the
#: bytes helper Python 3 uses in protocol-2 pickles. Anything else could run code.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): ("multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"): ("multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"): ("multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"): ("multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"): ("numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"): ("numeric", "_frombuffer"),
    ("numpy", "ndarray"): ("numpy", "ndarray"),
    ("numpy", "dtype"): ("numpy", "dtype"),
    ("_codecs", "encode"): ("_codecs", "encode"),
}


class _RefusedGlobal(pickle.UnpicklingError):
    """A pickle asked for a global outside :data:`_ALLOWED_GLOBALS`."""


class _BatchUnpickler(pickle.Unpickler):
    """An unpickler that resolves only :data:`_ALLOWED_GLOBALS`."""

    def find_class(self, module: str, name: str) -> Any:
        where = _ALLOWED_GLOBALS.get((module, name))
        if where is None:
            raise _RefusedGlobal(
                f"it refers to {module}.{name}; cnnlabs only unpickles arrays, lists and "
                "strings from CIFAR-10 files, so it refused to load it"
            )
        home, attribute = where
        if home == "numpy":
            return getattr(np, attribute)
        if home == "_codecs":
            import codecs

            return codecs.encode
        import importlib

        try:  # NumPy 2 moved numpy.core to numpy._core; both names appear in pickles.
            module_object = importlib.import_module(f"numpy._core.{home}")
        except ImportError:
            module_object = importlib.import_module(f"numpy.core.{home}")
        return getattr(module_object, attribute)


def _unpickle(path: Path) -> Any:
    try:
        with path.open("rb") as handle:
            return _BatchUnpickler(handle, encoding="bytes").load()
    except _RefusedGlobal as exc:
        raise _Invalid([f"{path.name} was not loaded: {exc}"]) from exc
    except Exception as exc:  # unpickling damaged bytes can raise almost any error type
        raise _Invalid(
            [f"{path.name} is not a readable pickle (corrupt or truncated? {_reason(exc)})"]
        ) from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
