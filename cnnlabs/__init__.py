"""cnnlabs: the library behind the CNN course labs.

Importing the package is cheap: submodules (and TensorFlow) load on first use,
e.g. ``cnnlabs.models`` or ``from cnnlabs import datasets``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_SUBMODULES = (
    "arithmetic",
    "config",
    "datasets",
    "evaluation",
    "labs",
    "models",
    "pipelines",
    "plots",
    "reference",
    "training",
)

__all__ = ["__version__", *_SUBMODULES]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"cnnlabs.{name}")
    raise AttributeError(f"module 'cnnlabs' has no attribute {name!r}")
