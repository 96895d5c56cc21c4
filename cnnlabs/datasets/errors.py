"""Errors raised by the dataset loaders, each with a message that says what to do.

Every failure stops with one exception whose text is complete on its own: what
went wrong, which file or URL it concerns, and the steps that fix it. The
low-level cause (a ``urllib`` or ``zipfile`` error) is kept as ``__cause__``
for debugging, but its traceback is never pasted into the message.

Hierarchy::

    DatasetError                  base class for everything below
    +-- UnknownDatasetError       also a ValueError: a name not in the catalogue
    +-- DownloadError             data missing and it could not (or may not) be downloaded
    |   +-- ChecksumError         downloaded bytes do not match the catalogue's SHA-256
    +-- CacheError                a file in the cache exists but is not a valid copy

``MockDataWarning`` is the warning issued when a loader falls back to mock data.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from cnnlabs import config
from cnnlabs.config import DATA_ENV

if TYPE_CHECKING:
    from cnnlabs.datasets.catalog import DatasetInfo


class DatasetError(Exception):
    """Base class for dataset errors."""


class UnknownDatasetError(DatasetError, ValueError):
    """A dataset name that is not in the catalogue (the message lists the valid ones)."""


class DownloadError(DatasetError):
    """The data is not cached and could not be downloaded (or downloads are not allowed).

    Attributes:
        url: the official download URL, when known.
        sha256: the expected SHA-256 of the file, when known.
        target: the path where the file belongs in the cache, when known.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        sha256: str | None = None,
        target: Path | None = None,
    ) -> None:
        super().__init__(message)
        self.url = url
        self.sha256 = sha256
        self.target = target


class ChecksumError(DownloadError):
    """A download finished, but its SHA-256 differs from the catalogue's; it was discarded.

    Attributes:
        actual: the SHA-256 of the bytes that were received.
    """

    def __init__(
        self,
        message: str,
        *,
        url: str | None = None,
        sha256: str | None = None,
        target: Path | None = None,
        actual: str | None = None,
    ) -> None:
        super().__init__(message, url=url, sha256=sha256, target=target)
        self.actual = actual


class CacheError(DatasetError):
    """A file in the data cache is not a valid copy. cnnlabs never deletes or edits it.

    Attributes:
        path: the offending file.
    """

    def __init__(self, message: str, *, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


class MockDataWarning(UserWarning):
    """Issued when a loader hands out synthetic stand-in data instead of the real dataset."""


def cache_folder_hint(folder: Path) -> str:
    """One sentence on where the cache folder comes from, naming ``CNNLABS_DATA_DIR``."""
    folder = Path(folder)
    default = config.data_dir()
    if folder.resolve() != default.resolve():
        return (
            f"This call was given the cache folder {folder}; by default cnnlabs uses "
            f"${DATA_ENV} when it is set, else the data/ folder ({default})."
        )
    if os.environ.get(DATA_ENV, "").strip():
        return f"The cache folder {folder} comes from ${DATA_ENV}; change it to use another one."
    return (
        f"The cache folder {folder} is the default data/ folder; "
        f"set ${DATA_ENV} to use another one."
    )


def manual_download_steps(
    *, url: str, sha256: str | None, target: Path, dataset: str | None = None,
    md5: str | None = None,
) -> str:
    """The exact steps for putting a file into the cache by hand, as a block of text.

    The check step quotes the SHA-256, else the MD5 (MedMNIST publishes only MD5 sums).
    """
    steps = ["To install the file by hand:", f"  1. Download {url}"]
    if sha256:
        steps.append(
            f"  2. Check that its SHA-256 is {sha256}\n"
            "     (Linux: sha256sum FILE; macOS: shasum -a 256 FILE; "
            "Windows: certutil -hashfile FILE SHA256)."
        )
    elif md5:
        steps.append(
            f"  2. Check that its MD5 is {md5}\n"
            "     (Linux: md5sum FILE; macOS: md5 FILE; Windows: certutil -hashfile FILE MD5)."
        )
    else:
        steps.append("  2. (No checksum is recorded for this file.)")
    steps.append(f"  3. Save it as exactly this path: {target}")
    steps.append(cache_folder_hint(Path(target).parent))
    if dataset:
        steps.append(
            f"Or run `cnnlabs data fetch {dataset}` on a machine with internet access "
            "and copy the file across."
        )
    return "\n".join(steps)


def invalid_cache_file(path: Path, info: DatasetInfo, problem: str) -> CacheError:
    """The :class:`CacheError` for a cached single-file dataset that is not a valid copy.

    It names the file and ``problem``, quotes the expected layout, promises the
    file was left alone, and gives both fixes with the official URL and checksum.
    """
    checksum = f"SHA-256 {info.sha256}" if info.sha256 else f"MD5 {info.md5}"
    from cnnlabs.datasets.catalog import CATALOG

    fetch = f" or `cnnlabs data fetch {info.name}`" if info.name in CATALOG else ""
    return CacheError(
        f"The cached {info.name} file {path} is not a valid copy: {problem}.\n"
        f"Expected {info.layout}.\n"
        "cnnlabs has not changed or deleted it. To fix it, either\n"
        "  - delete it (or move it aside) and run again: a profile that downloads "
        f"(cpu, full){fetch} fetches a fresh copy, or\n"
        "  - replace it with a valid copy; the official file is "
        f"{info.url} ({checksum}).\n" + cache_folder_hint(path.parent),
        path=path,
    )
