"""cnnlabs: the library behind the CNN course labs.

Importing the package is cheap: submodules (and TensorFlow) load on first use,
e.g. ``cnnlabs.models`` or ``from cnnlabs import datasets``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"


def _submodules() -> tuple[str, ...]:
    """The public modules and packages of cnnlabs (found on disk; nothing is imported)."""
    import pkgutil

    return tuple(sorted(info.name for info in pkgutil.iter_modules(__path__)
                        if not info.name.startswith("_")))


__all__ = ["__version__", *_submodules()]


def __getattr__(name: str) -> Any:
    if name in _submodules():
        return importlib.import_module(f"cnnlabs.{name}")
    raise AttributeError(f"module 'cnnlabs' has no attribute {name!r}")
