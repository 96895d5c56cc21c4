"""The generic image-folder reader: ``root/<split>/<class>/*.png|*.jpg|*.jpeg``.

Many datasets ship as one folder per class (CIFAR-10 as exported images, the
Kaggle chest X-rays). Reading one takes three steps, kept apart so that a
loader can subsample *before* it pays for decoding:

>>> files = scan(root, "train", class_names=("cat", "dog"))   # doctest: +SKIP
>>> files = subsample_files(files, 1000, rng=0)               # doctest: +SKIP
>>> x, y, skipped = read_images(files, (32, 32, 3))           # doctest: +SKIP

:func:`scan` lists the files (fast, no decoding), :func:`subsample_files`
keeps a stratified, seeded share of them, and :func:`read_images` (or
:func:`decode`, for bare paths) decodes them with Pillow into one uint8 array.

What is read:

- class folders directly inside ``root/<split>``; in each, the files whose
  extension is ``.png``, ``.jpg`` or ``.jpeg`` (any case). Sub-folders of a
  class folder and files of other types are ignored;
- hidden entries (names starting with ``.``, which includes macOS'
  ``._name.jpg`` AppleDouble files) and ``__MACOSX`` folders are ignored
  everywhere.

Decoding converts every image to the requested colour mode (sources such as
the chest X-rays mix grayscale and RGB files) and resizes it when its size
differs; an unreadable or truncated file is skipped and reported, never fatal.
Pillow is imported only when images are decoded; TensorFlow never is.
"""

from __future__ import annotations

import os
import struct
import time
import warnings
import zlib
from collections import deque
from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from cnnlabs.datasets.errors import CacheError
from cnnlabs.datasets.sampling import stratified_indices

#: File extensions (lower case) that count as images.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")
#: Colour modes :func:`decode` produces, with their channel counts.
COLOR_MODES = {"rgb": 3, "grayscale": 1}
#: Images handed to one worker thread at a time (small tasks cost more than they save).
_CHUNK = 256
#: Seconds per image above which decoding is worth spreading over threads, and how many
#: images are timed to decide (threads pay off for photos, not for 32x32 thumbnails).
_THREADS_FROM_S = 0.25e-3
_PROBE = 64
#: How many skipped files a warning or a note names before it just counts.
_NAMED = 5
#: How many class folders an error message lists before it just counts.
_LISTED = 20


class SkippedImagesWarning(UserWarning):
    """Issued when :func:`decode` skips files it could not read as images."""


class SkippedImage(NamedTuple):
    """A file :func:`decode` could not read, and why."""

    path: Path
    reason: str


@dataclass(frozen=True, eq=False)
class FileList:
    """The image files of one split, with their labels; nothing decoded yet.

    Attributes:
        folder: the split folder (``root/<split>``) the files were found in.
        paths: one path per image, sorted by class, then by file name (unless
            reordered by :meth:`subset`).
        labels: ``(N,)`` int64 class indices into ``class_names``.
        class_names: one name per class index (the class folder names).
    """

    folder: Path
    paths: tuple[Path, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self) -> dict[str, int]:
        """Number of files per class name, in class-index order."""
        per_class = np.bincount(self.labels, minlength=len(self.class_names))
        return {name: int(n) for name, n in zip(self.class_names, per_class, strict=True)}

    def subset(self, indices: Sequence[int] | np.ndarray) -> FileList:
        """The files at ``indices``, in that order (class names unchanged)."""
        picked = np.asarray(indices, dtype=np.int64)
        return FileList(
            folder=self.folder,
            paths=tuple(self.paths[i] for i in picked),
            labels=self.labels[picked],
            class_names=self.class_names,
        )


def is_ignored(name: str) -> bool:
    """True for names the reader skips: hidden files (``.x``, ``._x.jpg``) and ``__MACOSX``."""
    return name.startswith(".") or name == "__MACOSX"


def is_image_name(name: str) -> bool:
    """True for a non-ignored file name with an image extension (case-insensitive)."""
    return not is_ignored(name) and name.lower().endswith(IMAGE_EXTENSIONS)


def expected_tree(folder: Path, class_names: Sequence[str] | None) -> str:
    """The layout :func:`scan` wants under the split ``folder``, one line per class folder."""
    folder = Path(folder)
    pattern = "*.png, *.jpg or *.jpeg"
    if not class_names:
        return f"  {folder / '<class>' / '*.png'}   (one folder per class; {pattern})"
    lines = [f"  {folder / name / '*.png'}" for name in list(class_names)[:_LISTED]]
    if len(class_names) > _LISTED:
        lines.append(f"  ... and {len(class_names) - _LISTED} more class folders")
    lines.append(f"  (one folder per class, named exactly as above; images {pattern})")
    return "\n".join(lines)


def scan(root: Path, split: str, class_names: Sequence[str] | None = None) -> FileList:
    """List the images of ``root/<split>/<class>/``, without decoding them.

    Args:
        root: the dataset folder, holding one folder per split.
        split: the split folder's name (``"train"``, ``"test"`` ...).
        class_names: the expected class folders, in label order. When given, the
            folders must match them exactly (label ``i`` is ``class_names[i]``);
            when ``None``, every class folder found is a class, in sorted order.

    Returns:
        A :class:`FileList` sorted by class, then by file name.

    Raises:
        CacheError: the split folder is missing; class folders are missing or
            unexpected; there are no class folders; or a class folder holds no
            images. The message shows the expected tree and what was found.
    """
    folder = Path(root) / split
    expected = None if class_names is None else tuple(class_names)
    if not folder.is_dir():
        parent = folder.parent
        seen = subfolders(parent) if parent.is_dir() else []
        found = ", ".join(f"{name}/" for name in seen) if seen else "nothing"
        where = f"{parent} holds: {found}" if parent.is_dir() else f"{parent} does not exist"
        raise _layout_error(folder, expected, f"there is no folder {folder} ({where})", "")

    images = {name: image_names(folder / name) for name in subfolders(folder)}
    found = _found_summary(images)
    if expected is None:
        if not images:
            raise _layout_error(folder, None, "it holds no class folders", found)
        names = tuple(sorted(images))
    else:
        missing = [name for name in expected if name not in images]
        extra = sorted(name for name in images if name not in expected)
        if missing or extra:
            problems = []
            if missing:
                problems.append(f"missing class folder(s): {', '.join(missing)}")
            if extra:
                problems.append(f"unexpected folder(s): {', '.join(extra)}")
            lowered = {name.lower() for name in missing}
            if any(name.lower() in lowered for name in extra):
                problems.append("folder names are case-sensitive")
            raise _layout_error(folder, expected, "; ".join(problems), found)
        names = expected

    empty = [name for name in names if not images[name]]
    if empty:
        raise _layout_error(
            folder,
            expected or names,
            "empty class folder(s) with no .png/.jpg/.jpeg images: "
            + ", ".join(str(folder / name) for name in empty),
            found,
        )
    paths = [path for name in names for path in _joined(folder / name, images[name])]
    labels = np.repeat(np.arange(len(names), dtype=np.int64), [len(images[n]) for n in names])
    return FileList(folder=folder, paths=tuple(paths), labels=labels, class_names=names)


def subsample_files(files: FileList, n: int | None, rng: np.random.Generator | int = 0) -> FileList:
    """A class-stratified, seeded random subset of ``n`` files (all of them when ``n`` is None).

    Uses :func:`~cnnlabs.datasets.sampling.stratified_indices`, so the subset keeps
    each class's share and is the same for the same seed. Subsample before
    decoding: only the chosen files are then read.
    """
    if n is None or n >= len(files):
        return files
    return files.subset(stratified_indices(files.labels, n, rng))


def decode(
    paths: Sequence[Path | str],
    image_shape: tuple[int, int, int] | None = None,
    color_mode: str = "rgb",
    *,
    workers: int | None = None,
) -> tuple[np.ndarray, list[SkippedImage]]:
    """Decode image files into one ``(N, H, W, C)`` uint8 array, skipping unreadable ones.

    Each image is converted to ``color_mode``: ``"rgb"`` (3 channels; alpha is
    dropped, grayscale is repeated) or ``"grayscale"`` (1 channel; Pillow's
    ITU-R 601-2 luma). 16-bit grayscale PNGs keep their top 8 bits. EXIF
    orientation is not applied.

    When ``image_shape`` is given and an image's size differs, it is resized
    to exactly ``(H, W)`` with Pillow's bilinear filter, which averages over
    the whole footprint when shrinking (antialiased, unlike TensorFlow's
    default bilinear resize); the aspect ratio is not kept. A JPEG at least
    twice as large as the target is first reduced by the JPEG decoder itself
    (draft mode, in power-of-two steps, never below the target), which is much
    faster for big photos.

    Args:
        paths: the files, in the order wanted.
        image_shape: ``(H, W, C)`` of the result; ``C`` must match
            ``color_mode``. ``None`` keeps the images' own size, which must
            then be the same for all of them.
        color_mode: ``"rgb"`` or ``"grayscale"``.
        workers: decoding threads. ``None``: up to 4 (as the CPU allows) when images
            take over a quarter of a millisecond each to decode, else 1; tiny
            images gain nothing from threads.

    Returns:
        ``(images, skipped)``: the readable images in the order of ``paths``,
        and a :class:`SkippedImage` (path and reason) for each file that could
        not be decoded. When anything was skipped, one
        :class:`SkippedImagesWarning` sums it up.

    Raises:
        ValueError: an invalid ``color_mode``, ``image_shape`` or ``workers``.
        CacheError: ``image_shape`` is ``None`` and the images differ in size.
    """
    images, ok, skipped = _decode_all(paths, image_shape, color_mode, workers)
    return (images if ok.all() else images[ok]), skipped


def read_images(
    files: FileList,
    image_shape: tuple[int, int, int] | None = None,
    color_mode: str = "rgb",
    *,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray, list[SkippedImage]]:
    """Decode a :class:`FileList`: ``(x, y, skipped)``, with the skipped files' labels dropped.

    ``x`` is ``(N, H, W, C)`` uint8 and ``y`` ``(N,)`` int64. See :func:`decode`
    for the colour conversion, the resizing and how unreadable files are reported.
    """
    images, ok, skipped = _decode_all(files.paths, image_shape, color_mode, workers)
    if ok.all():
        return images, files.labels.astype(np.int64, copy=False), skipped
    return images[ok], files.labels[ok].astype(np.int64, copy=False), skipped


def describe_skipped(skipped: Sequence[SkippedImage], limit: int = _NAMED) -> str:
    """The first ``limit`` skipped files with their reasons, and how many more there are."""
    named = "; ".join(f"{item.path} ({item.reason})" for item in skipped[:limit])
    rest = len(skipped) - limit
    return named + (f"; and {rest} more" if rest > 0 else "")


def find_unreadable(paths: Sequence[Path | str]) -> list[SkippedImage]:
    """Fully decode each file with Pillow, keeping no pixels; the ones it cannot read.

    For checking a whole dataset before training (the decoded images would not
    fit in memory). Files are checked on a few threads; the result is in the
    order of ``paths``.
    """
    from PIL import Image

    files = [p if isinstance(p, Path) else Path(p) for p in paths]

    def reason(path: Path) -> str | None:
        try:
            with Image.open(path) as image:
                image.load()
        except (*_DECODE_ERRORS, Image.DecompressionBombError) as exc:
            return _reason(exc)
        return None

    threads = min(4, os.cpu_count() or 1)
    if threads > 1 and len(files) > _CHUNK:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            reasons = list(pool.map(reason, files, chunksize=_CHUNK))
    else:
        reasons = [reason(path) for path in files]
    return [SkippedImage(path, why) for path, why in zip(files, reasons, strict=True)
            if why is not None]


def find_tree(
    path: Path, marker: str, *, skip: Collection[str] = (), max_depth: int = 4
) -> Path | None:
    """The shallowest folder under ``path`` (``path`` included) holding the folder ``marker``.

    ``marker`` is a relative path such as ``"train/NORMAL"``. The search is
    breadth-first in sorted order, so the answer is the shallowest match and
    always the same one; hidden entries, ``__MACOSX``, folders named in ``skip``
    and folders that cannot be listed are not searched. It looks at most
    ``max_depth`` levels down. ``None`` when nothing matches.
    """
    queue: deque[tuple[Path, int]] = deque([(Path(path), 0)])
    while queue:
        folder, depth = queue.popleft()
        if (folder / marker).is_dir():
            return folder
        if depth >= max_depth:
            continue
        try:
            names = subfolders(folder)
        except OSError:
            continue
        queue.extend((folder / name, depth + 1) for name in names if name not in skip)
    return None


def describe_folder(path: Path, limit: int = 12) -> str:
    """What ``path`` holds, for an error message: its first ``limit`` entries, then a count."""
    try:
        with os.scandir(path) as entries:
            names = sorted(
                e.name + ("/" if e.is_dir() else "") for e in entries if not is_ignored(e.name)
            )
    except OSError as exc:
        return f"cannot list it ({type(exc).__name__})"
    if not names:
        return "an empty folder"
    more = f", and {len(names) - limit} more" if len(names) > limit else ""
    return f"{path} holds {', '.join(names[:limit])}{more}"


def subfolders(folder: Path) -> list[str]:
    """The sub-folder names of ``folder``, sorted (hidden ones and ``__MACOSX`` skipped)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if not is_ignored(e.name) and e.is_dir())


def image_names(folder: Path) -> list[str]:
    """The image file names directly inside ``folder``, sorted (hidden and other files skipped)."""
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if is_image_name(e.name) and e.is_file())


# --- internals ---------------------------------------------------------------------------------


def _joined(folder: Path, names: list[str]) -> list[Path]:
    return [folder / name for name in names]


def _found_summary(images: dict[str, list[str]]) -> str:
    if not images:
        return "no class folders"
    parts = [f"{name}/ ({_count(len(files))})" for name, files in sorted(images.items())]
    if len(parts) > _LISTED:
        parts = [*parts[:_LISTED], f"and {len(parts) - _LISTED} more folders"]
    return ", ".join(parts)


def _count(n: int) -> str:
    return f"{n} image" if n == 1 else f"{n} images"


def _layout_error(
    folder: Path, class_names: Sequence[str] | None, problem: str, found: str
) -> CacheError:
    found_line = f"Found: {found}.\n" if found else ""
    return CacheError(
        f"The image folder {folder} does not have the expected layout: {problem}.\n"
        f"Expected:\n{expected_tree(folder, class_names)}\n"
        f"{found_line}"
        "cnnlabs has not changed or deleted anything. Add, rename or remove folders "
        "so that the tree matches, or move the folder aside to use another source.",
        path=folder,
    )


def _check_arguments(
    image_shape: tuple[int, int, int] | None, color_mode: str, workers: int | None
) -> int:
    """Validate the arguments of :func:`decode`; returns the channel count."""
    if color_mode not in COLOR_MODES:
        raise ValueError(
            f"color_mode must be one of {', '.join(map(repr, COLOR_MODES))}; got {color_mode!r}."
        )
    channels = COLOR_MODES[color_mode]
    if image_shape is not None:
        if len(image_shape) != 3 or any(int(d) < 1 for d in image_shape):
            raise ValueError(f"image_shape must be (height, width, channels); got {image_shape}.")
        if int(image_shape[2]) != channels:
            raise ValueError(
                f"image_shape {tuple(image_shape)} has {image_shape[2]} channel(s), but "
                f"color_mode {color_mode!r} gives {channels}."
            )
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be at least 1; got {workers}.")
    return channels


def _decode_all(
    paths: Sequence[Path | str],
    image_shape: tuple[int, int, int] | None,
    color_mode: str,
    workers: int | None,
) -> tuple[np.ndarray, np.ndarray, list[SkippedImage]]:
    """Decode every path into a preallocated array; returns it, the readable mask and the skips."""
    from PIL import Image

    channels = _check_arguments(image_shape, color_mode, workers)
    pil_mode = "RGB" if channels == 3 else "L"
    paths = [p if isinstance(p, Path) else Path(p) for p in paths]
    reasons: dict[int, str] = {}

    start, first = 0, None
    if image_shape is None:
        # The first readable image fixes the size that all the others must have.
        while start < len(paths) and first is None:
            try:
                first = _decode_one(Image, paths[start], pil_mode, None)
            except _DECODE_ERRORS as exc:
                reasons[start] = _reason(exc)
                start += 1
        height, width = first.shape[:2] if first is not None else (1, 1)
        size = None
    else:
        height, width = int(image_shape[0]), int(image_shape[1])
        size = (width, height)

    images = np.zeros((len(paths), height, width, channels), dtype=np.uint8)
    if first is not None:
        images[start] = first.reshape(height, width, channels)
        start += 1
    first_path = paths[start - 1] if first is not None else None

    def work(indices: range) -> dict[int, str]:
        failed = {}
        for i in indices:
            try:
                array = _decode_one(Image, paths[i], pil_mode, size)
            except _DECODE_ERRORS as exc:
                failed[i] = _reason(exc)
                continue
            if array.shape[:2] != (height, width):
                raise CacheError(
                    f"The images differ in size: {first_path} is {width}x{height}, but "
                    f"{paths[i]} is {array.shape[1]}x{array.shape[0]} (width x height). "
                    "Pass image_shape=(height, width, channels) to resize them all.",
                    path=paths[i],
                )
            images[i] = array.reshape(height, width, channels)
        return failed

    threads = min(4, os.cpu_count() or 1) if workers is None else workers
    if workers is None and threads > 1 and len(paths) - start > 2 * _CHUNK:
        # Pillow decodes without the GIL, but for tiny images (CIFAR's 32x32) the
        # Python around it dominates and threads only contend: time a first few.
        probe = range(start, start + _PROBE)
        began = time.perf_counter()
        reasons.update(work(probe))
        if (time.perf_counter() - began) / len(probe) < _THREADS_FROM_S:
            threads = 1
        start = probe.stop
    chunks = [range(s, min(s + _CHUNK, len(paths))) for s in range(start, len(paths), _CHUNK)]
    if threads > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(max_workers=min(threads, len(chunks))) as pool:
            for failed in pool.map(work, chunks):
                reasons.update(failed)
    else:
        for chunk in chunks:
            reasons.update(work(chunk))

    ok = np.ones(len(paths), dtype=bool)
    ok[list(reasons)] = False
    skipped = [SkippedImage(paths[i], reasons[i]) for i in sorted(reasons)]
    if skipped:
        warnings.warn(
            f"Skipped {len(skipped)} of {len(paths)} image file(s) that could not be decoded "
            f"(corrupt, truncated or not an image): {describe_skipped(skipped)}. "
            "The other images were loaded; delete or replace these files to silence this.",
            SkippedImagesWarning,
            stacklevel=3,
        )
    return images, ok, skipped


#: What Pillow raises on a file it cannot decode: unidentified (OSError), truncated
#: (OSError), broken PNG chunks (SyntaxError), absurd sizes (DecompressionBombError) ...
_DECODE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    struct.error,
    zlib.error,
    IndexError,
)


def _decode_one(image_module: Any, path: Path, mode: str, size: tuple[int, int] | None) -> Any:
    """One file as a uint8 array in ``mode`` (``"RGB"``/``"L"``), resized to ``size`` (W, H)."""
    Image = image_module
    try:
        with Image.open(path) as opened:
            if size is not None and opened.size != size and opened.format == "JPEG":
                opened.draft(mode, size)
            image = _to_mode(Image, opened, mode)
            if size is not None and image.size != size:
                image = image.resize(size, Image.Resampling.BILINEAR)
            return np.asarray(image, dtype=np.uint8)
    except Image.DecompressionBombError as exc:
        raise ValueError(str(exc)) from exc


def _to_mode(Image: Any, image: Any, mode: str) -> Any:
    """Convert a Pillow image to ``mode``, handling palettes with transparency and 16-bit data."""
    if image.mode == mode:
        return image
    if image.mode.startswith("I"):
        # 16-bit grayscale ("I;16", or "I" from a 16-bit PNG): keep the top 8 bits.
        # Pillow's own conversion would clip everything above 255 to white.
        wide = np.asarray(image).astype(np.uint32)
        image = Image.fromarray((wide >> 8).clip(0, 255).astype(np.uint8), mode="L")
    elif image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return image.convert(mode)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = text if len(text) <= 120 else text[:117] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


__all__ = [
    "COLOR_MODES",
    "IMAGE_EXTENSIONS",
    "FileList",
    "SkippedImage",
    "SkippedImagesWarning",
    "decode",
    "describe_folder",
    "describe_skipped",
    "expected_tree",
    "find_tree",
    "find_unreadable",
    "image_names",
    "is_ignored",
    "is_image_name",
    "read_images",
    "scan",
    "subfolders",
    "subsample_files",
]
