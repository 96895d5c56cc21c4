"""The one sequence every loader follows: cache -> download -> mock -> a clear error.

A loader describes its dataset's steps (find the cached copy, read it,
download it, make mock data) and :func:`resolve` runs them in the same order
for every dataset:

1. a copy in the cache: read it (an invalid one raises :class:`CacheError`;
   it is never changed or deleted);
2. nothing cached, and downloading allowed: download, then read;
3. nothing cached, and the profile allows mock data (smoke): warn, and use
   clearly labelled mock data; no network access at all;
4. otherwise: one :class:`DownloadError` giving the manual steps.

Then it applies the profile's sample caps (:func:`apply_cap`, the one place
they are applied) to what was read, before the loader's last step decodes or
splits anything.
"""

from __future__ import annotations

import dataclasses
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cnnlabs.config import Profile
from cnnlabs.datasets.catalog import DatasetInfo
from cnnlabs.datasets.errors import DownloadError, MockDataWarning
from cnnlabs.datasets.sampling import CAPPED_SPLITS, Cap
from cnnlabs.datasets.splits import FileSplits, Splits

Raw = TypeVar("Raw", Splits, FileSplits)
Result = TypeVar("Result")


def resolve(
    entry: DatasetInfo,
    profile: Profile,
    *,
    seed: int,
    find: Callable[[], Path | None],
    read: Callable[[Path], Raw],
    download: Callable[[], Raw],
    mock: Callable[[], Raw],
    finish: Callable[[Raw], Result] | None = None,
    looked: str,
    target: Path,
    manual: str,
    allow_download: bool | None = None,
) -> Raw | Result:
    """Find, download or mock ``entry``'s data as the profile allows; cap it; finish it.

    Args:
        entry: the catalogue entry (its name and URL go into messages).
        profile: sizes the result (:func:`apply_cap`) and says whether
            downloading and mock data are allowed.
        seed: seeds the caps.
        find: the cached copy the loader would read, or ``None``. It may raise
            :class:`CacheError` for a copy in the wrong layout.
        read: reads and checks a copy (raises :class:`CacheError` when invalid).
        download: downloads the data and reads it.
        mock: mock data, at the profile's sizes or smaller.
        finish: the loader's last step, on the capped data (decode, split ...).
        looked: where the loader looked, for messages
            (``"data/mnist.npz does not exist"``).
        target: where the data belongs in the cache, for :class:`DownloadError`.
        manual: the steps for installing the data by hand.
        allow_download: overrides the profile's ``allow_download`` (``None``: the profile's).

    Returns:
        ``finish(capped)``, or the capped data when there is no ``finish``.

    Raises:
        CacheError: a cached copy is not valid.
        DownloadError: nothing is cached and it could not or may not be downloaded.
    """
    may_download = profile.allow_download if allow_download is None else bool(allow_download)
    found = find()
    if found is not None:
        raw = read(found)
    elif may_download:
        raw = download()
    elif profile.allow_mock:
        why = _no_download(profile, allow_download)
        warn(
            f"{entry.name} is not in the data cache ({looked}) and {why}, so cnnlabs is "
            "using MOCK data: synthetic images whose accuracy means nothing. Put a real copy "
            "in the cache to use real data (see data/README.md).",
            MockDataWarning,
        )
        raw = mock()
        raw.notes.append(f"{entry.name} was not cached: {looked} (profile {profile.name})")
    else:
        raise not_cached_error(
            entry, looked, _no_download(profile, allow_download), target=target, manual=manual
        )
    capped = apply_cap(raw, Cap.of(profile, seed))
    return capped if finish is None else finish(capped)


def apply_cap(data: Raw, cap: Cap) -> Raw:
    """``data`` with its train and test splits cut to ``cap`` (a new object; notes added).

    Works on arrays (:class:`Splits`: the images and labels are indexed) and on
    file lists (:class:`FileSplits`: only the kept files will ever be decoded).
    Validation splits are kept whole.
    """
    result = dataclasses.replace(data, notes=list(data.notes))
    for split, _, _ in CAPPED_SPLITS:
        if isinstance(result, Splits):
            labels = getattr(result, f"y_{split}")
            keep, note = cap.choose(split, labels)
            if keep is not None:
                setattr(result, f"x_{split}", getattr(result, f"x_{split}")[keep])
                setattr(result, f"y_{split}", labels[keep])
        else:
            files = getattr(result, split)
            keep, note = cap.choose(split, files.labels, shuffle=result.shuffle)
            if keep is not None:
                setattr(result, split, files.subset(keep))
        if note:
            result.notes.append(note)
    return result


def not_cached_error(
    entry: DatasetInfo, looked: str, why: str, *, target: Path, manual: str
) -> DownloadError:
    """The :class:`DownloadError` for data that is not cached and may not be downloaded."""
    return DownloadError(
        f"{entry.name} is not in the data cache ({looked}), and {why}.\n{manual}",
        url=entry.url,
        sha256=entry.sha256,
        target=target,
    )


def link_into(folder: Path, target: Path) -> Path:
    """Link ``folder`` (a download kept elsewhere) into the cache as ``target``.

    Returns ``target`` once it links there, else ``folder`` itself: when
    ``target`` already exists (it is never replaced) or links are not allowed.
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() and not target.is_symlink():
            target.symlink_to(folder, target_is_directory=True)
            return target
    except OSError:
        pass
    return folder


def warn(message: str, category: type[Warning]) -> None:
    """Issue a warning attributed to the first caller outside :mod:`cnnlabs.datasets`."""
    frame = sys._getframe(1)
    level = 2
    while frame is not None and frame.f_globals.get("__name__", "").startswith(__package__):
        frame = frame.f_back
        level += 1
    warnings.warn(message, category, stacklevel=level)


def _no_download(profile: Profile, allow_download: bool | None) -> str:
    """Why nothing was downloaded, with how to change it."""
    if allow_download is not None:
        return (
            "downloading was turned off by the download=False argument (pass download=True, "
            "or leave it out to follow the profile, to allow it; or install it by hand)"
        )
    if profile.allow_mock:
        return f"profile {profile.name!r} does not download"
    return (
        f"profile {profile.name!r} neither downloads data nor falls back to mock data "
        "(use a profile that downloads, cpu or full, or install it by hand)"
    )


__all__ = ["apply_cap", "link_into", "not_cached_error", "resolve", "warn"]
