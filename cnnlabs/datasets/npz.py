"""Reading a cached ``.npz`` archive safely, for every loader that caches one."""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cnnlabs.datasets.catalog import DatasetInfo
from cnnlabs.datasets.errors import CacheError, invalid_cache_file

#: Errors numpy and zipfile raise on a file that is not a readable .npz archive.
READ_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error)


def cached(info: DatasetInfo, folder: Path) -> Path | None:
    """``info``'s file in the cache ``folder`` when something is there (it is not read)."""
    path = info.cache_path(folder)
    return path if path.exists() else None


def read_arrays(path: Path, keys: Sequence[str], info: DatasetInfo) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of ``info``'s cached archive at ``path``, loaded without pickles.

    Every way the file can fail to be such an archive (a folder, not a zip at
    all, a single ``.npy``, missing keys, corrupt or truncated) raises the
    :class:`CacheError` of :func:`~cnnlabs.datasets.errors.invalid_cache_file`.
    Checking the arrays' shapes and values is left to the loader.
    """
    path = Path(path)

    def invalid(problem: str) -> CacheError:
        return invalid_cache_file(path, info, problem)

    if not path.is_file():
        raise invalid("it is not a regular file (a folder?)")
    try:
        with path.open("rb") as handle:
            head = handle.read(6)
        if not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
            size = path.stat().st_size
            raise invalid(
                f"it is not an .npz (zip) archive at all ({size:,} bytes starting with {head!r})"
            )
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise invalid("it holds a single .npy array, not an .npz archive")
        with loaded as archive:
            missing = [key for key in keys if key not in archive.files]
            if missing:
                raise invalid(
                    f"it lacks the key(s) {', '.join(missing)} "
                    f"(it has: {', '.join(archive.files) or 'nothing'})"
                )
            return {key: archive[key] for key in keys}
    except CacheError:
        raise
    except READ_ERRORS as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        detail = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
        raise invalid(
            f"it is not a readable .npz archive (corrupt or truncated? {detail})"
        ) from exc
