"""Kaggle credentials: where they would come from, never what they are.

The chest X-ray lab downloads from Kaggle. Credentials are looked for, in
order, in:

1. the environment: ``KAGGLE_USERNAME`` and ``KAGGLE_KEY``, or ``KAGGLE_API_TOKEN``;
2. ``kaggle.json`` in ``$KAGGLE_CONFIG_DIR`` or ``~/.kaggle/``;
3. Colab secrets named ``KAGGLE_USERNAME`` and ``KAGGLE_KEY`` (or ``KAGGLE_API_TOKEN``).

Functions here report only *which* source holds them. They never print,
log or return a secret.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

FIXES = (
    "set KAGGLE_USERNAME and KAGGLE_KEY (or KAGGLE_API_TOKEN) in the environment",
    "save the token from kaggle.com > Settings > API > Create New Token as "
    "~/.kaggle/kaggle.json (chmod 600)",
    "in Colab, add the secrets KAGGLE_USERNAME and KAGGLE_KEY (key icon in the left bar) "
    "and grant this notebook access",
)


def kaggle_json_path() -> Path:
    """Where the Kaggle client looks for ``kaggle.json``."""
    folder = os.environ.get("KAGGLE_CONFIG_DIR")
    return (
        Path(folder).expanduser() / "kaggle.json"
        if folder
        else (Path.home() / ".kaggle" / "kaggle.json")
    )


def _env_has_credentials() -> bool:
    if os.environ.get("KAGGLE_API_TOKEN", "").strip():
        return True
    return bool(
        os.environ.get("KAGGLE_USERNAME", "").strip() and os.environ.get("KAGGLE_KEY", "").strip()
    )


def _json_has_credentials(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and bool(data.get("username")) and bool(data.get("key"))


def _colab_has_credentials() -> bool:
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return False

    def present(name: str) -> bool:
        try:
            return bool(userdata.get(name))
        except Exception:  # SecretNotFoundError, NotebookAccessError, ...
            return False

    return present("KAGGLE_API_TOKEN") or (present("KAGGLE_USERNAME") and present("KAGGLE_KEY"))


def credentials_source() -> str | None:
    """``"environment"``, ``"kaggle.json"`` or ``"colab secrets"``: the first that has them.

    ``None`` when no source has credentials. A ``kaggle.json`` that cannot be
    read or lacks ``username``/``key`` does not count.
    """
    if _env_has_credentials():
        return "environment"
    if _json_has_credentials(kaggle_json_path()):
        return "kaggle.json"
    if _colab_has_credentials():
        return "colab secrets"
    return None


def missing_credentials_message() -> str:
    """The one error text for missing credentials: the three ways to fix it."""
    steps = "\n".join(f"  {i}. {fix}" for i, fix in enumerate(FIXES, start=1))
    return f"No Kaggle credentials found. Any one of these fixes it:\n{steps}"
