"""Safe downloads: stream to a ``.part`` file, verify, then move into place atomically.

A file only ever appears at its target path after its length and checksum have
been verified, so nothing half-downloaded can be mistaken for good data, and a
failed attempt never replaces a file that was already there.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from cnnlabs.datasets.errors import ChecksumError, DownloadError, manual_download_steps

#: Seconds to wait for the server to connect or send more data.
TIMEOUT_S = 60.0
_CHUNK = 1 << 20


def _file_digest(path: Path, digest: Any) -> str:
    """Feed a file to a ``hashlib`` object in chunks; its hex digest."""
    with Path(path).open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    """The SHA-256 hex digest of a file, read in chunks."""
    return _file_digest(path, hashlib.sha256())


def md5_file(path: Path) -> str:
    """The MD5 hex digest of a file, read in chunks (MedMNIST publishes MD5 sums)."""
    return _file_digest(path, hashlib.md5(usedforsecurity=False))


def part_path(target: Path) -> Path:
    """The temporary file a download of ``target`` is streamed into (same folder)."""
    target = Path(target)
    return target.with_suffix(target.suffix + ".part")


def download(
    url: str,
    target: Path,
    sha256: str | None,
    progress: bool = True,
    *,
    dataset: str | None = None,
    timeout: float = TIMEOUT_S,
    md5: str | None = None,
) -> Path:
    """Download ``url`` to ``target``, verifying its length and SHA-256 (and/or MD5).

    The bytes go to ``<target>.part`` next to the target; only when the
    transfer is complete (as long as the server's Content-Length) and the
    checksum matches is the file moved into place with ``os.replace``. On any
    failure the ``.part`` file is removed and an existing ``target`` is left as
    it was.

    Args:
        url: what to download (``https://``, or ``file://`` in tests).
        target: the final path; its folder is created if needed.
        sha256: the expected hex digest; ``None`` skips the check.
        progress: show a tqdm progress bar.
        dataset: catalogue name, used only to make error messages more helpful.
        timeout: seconds to wait for the connection and for each read.
        md5: the expected MD5 hex digest, for sources that publish only MD5
            (MedMNIST); ``None`` (the default) skips that check.

    Returns:
        ``target``.

    Raises:
        DownloadError: no connection, an HTTP error, a timeout or a truncated
            transfer; the message explains how to install the file by hand.
        ChecksumError: the received bytes do not match ``sha256`` or ``md5``;
            for an MD5 mismatch its ``actual`` is the received MD5.
    """
    from tqdm.auto import tqdm

    target = Path(target)
    part = part_path(target)
    what = dataset or target.name
    manual = manual_download_steps(url=url, sha256=sha256, target=target, dataset=dataset,
                                   md5=md5)

    def failure(reason: str) -> DownloadError:
        return DownloadError(
            f"Could not download {what} from {url}: {reason}.\n"
            f"Nothing was saved at {target}.\n{manual}",
            url=url,
            sha256=sha256,
            target=target,
        )

    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        md5_digest = hashlib.md5(usedforsecurity=False) if md5 else None  # only when checked
        received = 0
        with urllib.request.urlopen(url, timeout=timeout) as response:
            expected = _content_length(response)
            with (
                part.open("wb") as handle,
                tqdm(
                    total=expected,
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    desc=f"Downloading {target.name}",
                    disable=not progress,
                ) as bar,
            ):
                while chunk := response.read(_CHUNK):
                    handle.write(chunk)
                    digest.update(chunk)
                    if md5_digest is not None:
                        md5_digest.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if expected is not None and received != expected:
            raise failure(
                f"the transfer was cut short ({received:,} of {expected:,} bytes arrived); "
                "try again"
            )
        for algorithm, wanted, got in (("SHA-256", sha256, digest.hexdigest()),
                                       ("MD5", md5, md5_digest and md5_digest.hexdigest())):
            if wanted is not None and got != wanted.lower():
                raise ChecksumError(
                    f"The file downloaded from {url} has {algorithm} {got}, "
                    f"but {wanted} was expected, so it was discarded "
                    f"(nothing was saved at {target}).\n"
                    "This usually means a corrupted transfer, or a proxy or captive portal "
                    "that returned a different page; try again on another network.\n"
                    f"{manual}",
                    url=url,
                    sha256=sha256,
                    target=target,
                    actual=got,
                )
        os.replace(part, target)
    except DownloadError:
        _remove(part)
        raise
    except urllib.error.HTTPError as exc:
        _remove(part)
        raise failure(f"the server answered HTTP {exc.code} {exc.reason}") from exc
    except urllib.error.URLError as exc:
        _remove(part)
        raise failure(f"no network connection ({exc.reason})") from exc
    except TimeoutError as exc:
        _remove(part)
        raise failure(f"the server did not answer within {timeout:g} s") from exc
    except (OSError, http.client.HTTPException, ValueError) as exc:
        _remove(part)
        raise failure(f"{type(exc).__name__}: {exc}") from exc
    except BaseException:
        # Ctrl-C and friends: tidy up, then let them through unchanged.
        _remove(part)
        raise
    return target


def _content_length(response: object) -> int | None:
    headers = getattr(response, "headers", None)
    value = headers.get("Content-Length") if headers is not None else None
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _remove(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
