"""Checking image files before training: decode each one, report and leave out the bad ones.

>>> report = verify_images(files)                 # doctest: +SKIP
>>> files = report.exclude(files)                 # doctest: +SKIP
>>> print(report.summary())                       # doctest: +SKIP

A file that does not decode is reported and left out of the lists; the file
itself stays where it is. Only when the caller names a quarantine folder is it
moved there, and never out of a read-only copy: a folder without any write
permission bit, or on a read-only file system, counts as read-only for every
user, root included.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from cnnlabs.datasets import imagefolder
from cnnlabs.datasets.cache import warn
from cnnlabs.datasets.errors import DatasetError
from cnnlabs.datasets.imagefolder import FileList
from cnnlabs.datasets.splits import FileSplits

#: What :class:`BadImage` says about a file left where it is because no quarantine was asked for.
LEFT_IN_PLACE = "left where it is, excluded (pass quarantine_dir= to move such files aside)"
#: ... about a file that could not be moved (a read-only copy, or the move failed).
NOT_MOVED = "could not move (read-only), excluded"
#: ... about a file that was moved into the quarantine folder.
MOVED = "moved"


@dataclass(frozen=True)
class BadImage:
    """A file that did not decode, and what became of it.

    Attributes:
        path: where the file was found.
        reason: why it could not be decoded.
        moved_to: its place in the quarantine folder, or ``None`` when it was not moved.
        status: :data:`LEFT_IN_PLACE`, :data:`MOVED`, or :data:`NOT_MOVED`
            (with the error, when a move was tried and failed).
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
    files: FileList | Iterable[FileList] | Iterable[Path | str],
    quarantine_dir: Path | str | None = None,
) -> VerifyReport:
    """Decode every file fully (Pillow) and report the ones that fail.

    Args:
        files: a :class:`FileList`, several, or plain file paths.
        quarantine_dir: ``None`` (the default): unreadable files are reported and
            left where they are. A folder: they are moved there, keeping the names
            of their two parent folders (``<split>/<class>/<name>`` in an image-folder
            tree) and never overwriting (a numbered name is used instead), except
            out of a read-only folder (see :func:`is_read_only`), where they stay.

    Returns:
        A :class:`VerifyReport`; :meth:`VerifyReport.exclude` drops the bad files
        from a :class:`FileList`.
    """
    paths = _paths_of(files)
    where = None if quarantine_dir is None else Path(quarantine_dir)
    report = VerifyReport(checked=len(paths), quarantine_dir=where)
    for item in imagefolder.find_unreadable(paths):
        report.bad.append(_set_aside(item.path, item.reason, where))
    return report


def checked(
    files: FileSplits, quarantine_dir: Path | str | None = None
) -> tuple[FileSplits, VerifyReport]:
    """``files`` without the images that do not decode, and the :class:`VerifyReport`.

    Unreadable files are reported in the notes and in one
    :class:`~cnnlabs.datasets.imagefolder.SkippedImagesWarning`, and handled as
    :func:`verify_images` says (moved only into a ``quarantine_dir``).

    Raises:
        DatasetError: a class of a split has no readable image left.
    """
    report = verify_images([files.train, files.test], quarantine_dir)
    if report.ok:
        return files, report
    kept = dataclasses.replace(
        files,
        train=report.exclude(files.train),
        test=report.exclude(files.test),
        notes=[*files.notes, report.summary()],
    )
    warn(report.summary(), imagefolder.SkippedImagesWarning)
    for split in ("train", "test"):
        empty = [name for name, n in getattr(kept, split).counts().items() if n == 0]
        if empty:
            raise DatasetError(
                f"No readable {split} images are left for class(es) {', '.join(empty)} in "
                f"{files.root / split}.\n{report.summary()}"
            )
    return kept, report


def is_read_only(folder: Path | str) -> bool:
    """True when nobody may change ``folder``: no write permission bit, or a read-only mount.

    The permission bits are read rather than tried (``os.access``), so that the
    answer is the same for root, who may write anywhere. A folder that cannot be
    looked at counts as read-only.
    """
    try:
        mode = os.stat(folder).st_mode
    except OSError:
        return True
    if not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        return True
    statvfs = getattr(os, "statvfs", None)  # not on Windows
    if statvfs is not None:
        try:
            if statvfs(folder).f_flag & os.ST_RDONLY:
                return True
        except OSError:
            return True
    return False


def _set_aside(path: Path, reason: str, quarantine_dir: Path | None) -> BadImage:
    if quarantine_dir is None:
        return BadImage(path, reason, None, LEFT_IN_PLACE)
    if is_read_only(path.parent):
        return BadImage(path, reason, None, NOT_MOVED)
    parts = path.parts[-3:] if len(path.parts) >= 3 else (path.name,)
    target = quarantine_dir.joinpath(*parts)
    number = 1
    while target.exists() or target.is_symlink():
        target = target.with_name(f"{path.stem}-{number}{path.suffix}")
        number += 1
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _move(path, target)
    except OSError as exc:
        return BadImage(path, reason, None, f"{NOT_MOVED} ({type(exc).__name__})")
    return BadImage(path, reason, target, MOVED)


def _move(path: Path, target: Path) -> None:
    """Move ``path`` to ``target`` whole: on failure, nothing half-written is left behind."""
    try:
        os.rename(path, target)
        return
    except OSError:
        pass
    # Another file system: copy under a temporary name, put it in place whole, then
    # remove the original (and undo the copy if that fails).
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


def _paths_of(source: FileList | Iterable[FileList] | Iterable[Path | str]) -> list[Path]:
    if isinstance(source, FileList):
        return list(source.paths)
    if isinstance(source, (str, Path)):
        raise TypeError(
            f"verify_images takes file lists or file paths, not the folder {source}; "
            "list its images first (imagefolder.scan)."
        )
    paths: list[Path] = []
    for item in source:
        if isinstance(item, FileList):
            paths.extend(item.paths)
        else:
            paths.append(Path(item))
    return paths


__all__ = ["BadImage", "VerifyReport", "checked", "is_read_only", "verify_images"]
