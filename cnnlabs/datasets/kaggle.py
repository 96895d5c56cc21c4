"""Kaggle: where the credentials would come from (never what they are), and downloads.

Credentials are looked for, in order, in:

1. the environment: ``KAGGLE_USERNAME`` and ``KAGGLE_KEY``, or ``KAGGLE_API_TOKEN``;
2. ``kaggle.json`` in ``$KAGGLE_CONFIG_DIR`` or ``~/.kaggle/``;
3. Colab secrets named ``KAGGLE_USERNAME`` and ``KAGGLE_KEY`` (or ``KAGGLE_API_TOKEN``).

Functions here report only *which* source holds them, or what is missing
from an incomplete one. They never print, log or return a secret.
:func:`download` fetches a dataset with ``kagglehub``, which is imported only then.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from cnnlabs.config import colab_secret
from cnnlabs.datasets.errors import DownloadError

FIXES = (
    "set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN) in the environment",
    "save the token from kaggle.com > Settings > API > Create New Token as "
    "~/.kaggle/kaggle.json (chmod 600)",
    "in Colab, add the secrets KAGGLE_USERNAME and KAGGLE_KEY (key icon in the left bar) "
    "and grant this notebook access",
)
#: The names Kaggle credentials go by, in the environment and in Colab secrets.
SECRET_NAMES = ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN")
#: The fields ``kaggle.json`` must hold.
JSON_FIELDS = ("username", "key")


def kaggle_json_path() -> Path:
    """Where the Kaggle client looks for ``kaggle.json``."""
    folder = os.environ.get("KAGGLE_CONFIG_DIR")
    return (
        Path(folder).expanduser() / "kaggle.json"
        if folder
        else (Path.home() / ".kaggle" / "kaggle.json")
    )


def json_problem(path: Path) -> str | None:
    """What keeps the ``kaggle.json`` at ``path`` from giving credentials, or ``None``.

    ``None`` too when there is no such file. The answer names the missing or
    empty fields and never quotes the file's content.
    """
    path = Path(path)
    if not path.exists():
        return None
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot be read ({type(exc).__name__})"
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = (
            f" (line {exc.lineno}, column {exc.colno})"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        return f"is not valid JSON{where}"
    if not isinstance(data, dict):
        return 'does not hold a JSON object ({"username": ..., "key": ...})'
    missing = [name for name in JSON_FIELDS if name not in data]
    empty = [name for name in JSON_FIELDS if name in data and not data[name]]
    problems = []
    if missing:
        problems.append("has no " + " and no ".join(f'"{name}"' for name in missing))
    if empty:
        problems.append("has an empty " + " and an empty ".join(f'"{name}"' for name in empty))
    return "; ".join(problems) or None


def _env_has_credentials() -> bool:
    if os.environ.get("KAGGLE_API_TOKEN", "").strip():
        return True
    return bool(
        os.environ.get("KAGGLE_USERNAME", "").strip() and os.environ.get("KAGGLE_KEY", "").strip()
    )


def _colab_has_credentials() -> bool:
    present = {name: colab_secret(name) is not None for name in SECRET_NAMES}
    return present["KAGGLE_API_TOKEN"] or (present["KAGGLE_USERNAME"] and present["KAGGLE_KEY"])


def credentials_source() -> str | None:
    """``"environment"``, ``"kaggle.json"`` or ``"colab secrets"``: the first that has them.

    ``None`` when no source has credentials. A ``kaggle.json`` that cannot be
    read or lacks ``username``/``key`` does not count (:func:`json_problem` says why).
    """
    if _env_has_credentials():
        return "environment"
    path = kaggle_json_path()
    if path.is_file() and json_problem(path) is None:
        return "kaggle.json"
    if _colab_has_credentials():
        return "colab secrets"
    return None


def missing_credentials_message() -> str:
    """The one error text for missing credentials: what is incomplete, and the three fixes."""
    found = []
    path = kaggle_json_path()
    problem = json_problem(path)
    if problem:
        found.append(f"{path} {problem}")
    set_names = [n for n in SECRET_NAMES[:2] if os.environ.get(n, "").strip()]
    if len(set_names) == 1:
        other = "KAGGLE_KEY" if set_names[0] == "KAGGLE_USERNAME" else "KAGGLE_USERNAME"
        found.append(f"{set_names[0]} is set in the environment but {other} is not")
    head = (
        "No usable Kaggle credentials found: " + "; ".join(found) + "."
        if found
        else "No Kaggle credentials found."
    )
    steps = "\n".join(f"  {i}. {fix}" for i, fix in enumerate(FIXES, start=1))
    return f"{head} Any one of these fixes it:\n{steps}"


def secrets_to_environment() -> None:
    """Copy the Kaggle secrets of a Colab notebook into the environment, for ``kagglehub``.

    Variables already set are kept. Outside Colab it does nothing. Values are never shown.
    """
    for name in SECRET_NAMES:
        if os.environ.get(name, "").strip():
            continue
        value = colab_secret(name)
        if value:
            os.environ[name] = value


def download(handle: str, *, what: str, url: str, target: Path, manual: str) -> Path:
    """Download Kaggle dataset ``handle`` with ``kagglehub``; the folder it unpacked to.

    The credentials are checked first; Colab secrets are copied into the
    environment for ``kagglehub``. Nothing is printed or written about them.

    Args:
        handle: the dataset, as ``owner/name``.
        what: the dataset in words, for messages (``"the chest X-rays"``).
        url: the dataset's page, for :class:`DownloadError`.
        target: where the data belongs in the cache, for :class:`DownloadError`.
        manual: the steps for installing it by hand, appended to every error.

    Raises:
        DownloadError: no credentials, no ``kagglehub``, or the download failed.
    """
    source = credentials_source()
    if source is None:
        raise DownloadError(
            f"Cannot download {what} from Kaggle ({handle}).\n"
            + missing_credentials_message() + "\n" + manual,
            url=url,
            target=target,
        )
    try:
        import kagglehub  # type: ignore[import-not-found]
    except ImportError as exc:
        raise DownloadError(
            f"Downloading {what} needs the kagglehub package: pip install kagglehub\n" + manual,
            url=url,
            target=target,
        ) from exc
    if source == "colab secrets":
        secrets_to_environment()
    try:
        return Path(kagglehub.dataset_download(handle))
    except Exception as exc:  # network, HTTP, authentication: all reported the same way
        raise DownloadError(
            f"Downloading {handle} with kagglehub failed ({type(exc).__name__}; "
            f"credentials from: {source}). Check the internet connection and that the "
            "credentials are valid.\n" + manual,
            url=url,
            target=target,
        ) from exc


__all__ = [
    "FIXES",
    "colab_secret",
    "credentials_source",
    "download",
    "json_problem",
    "kaggle_json_path",
    "missing_credentials_message",
    "secrets_to_environment",
]
