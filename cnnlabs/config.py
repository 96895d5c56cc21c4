"""Profiles, folders, environment facts and seeding: the one place for sizing.

A *profile* decides how big a run is:

- ``smoke``: CI and nbval. About a thousand samples, one short epoch, never any
  network access; clearly labelled mock data when nothing is cached.
- ``cpu``: a laptop. The real data, a recipe that learns visibly in minutes.
- ``full``: the real recipe on a GPU, the one behind ``docs/results.md``.

The default is ``full`` when TensorFlow sees a GPU and ``cpu`` otherwise;
``CNNLABS_PROFILE`` overrides it. Notebooks never branch on the profile's
name: they ask it for sizes (``profile.train_samples``, ``recipe.epochs`` ...).

Nothing here imports TensorFlow at module import time.
"""

from __future__ import annotations

import os
import platform
import random
import sys
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

PROFILE_ENV = "CNNLABS_PROFILE"
DATA_ENV = "CNNLABS_DATA_DIR"
RUNS_ENV = "CNNLABS_RUNS_DIR"

#: Repository on GitHub, as ``owner/name``. Colab badges and install cells are
#: generated from this one value (``cnnlabs labs sync``) and a test keeps them in step.
REPO = "cnnlabs/cnnlabs"
BRANCH = "main"
REPO_URL = f"https://github.com/{REPO}"


@dataclass(frozen=True)
class Profile:
    """How big a run is. Every data subset size comes from here.

    Attributes:
        name: ``smoke``, ``cpu`` or ``full``.
        train_samples: cap on training samples (``None``: all of them).
        test_samples: cap on test samples (``None``: the whole official test set).
        val_fraction: share of the training samples held out for validation.
        allow_download: whether loaders may fetch missing data from the network.
        allow_mock: whether loaders may fall back to mock data when nothing is cached.
        max_epochs: cap applied on top of every recipe (``None``: no cap).
        demo_samples: cap on training samples for a lab's side experiments, the
            ones that only need to show a trend (``None``: all of them).
        image_size: the side, in pixels, that photo-sized images (the chest X-rays)
            are resized to for a transfer-learning model.
        pretrained: the backbone weights a transfer-learning model starts from:
            ``"imagenet"``, or ``None`` (random; for smoke runs, which never download).
        medmnist_sizes: the MedMNIST image sizes a lab trains at (28 always; larger
            ones download more and train slower).
    """

    name: str
    train_samples: int | None
    test_samples: int | None
    val_fraction: float
    allow_download: bool
    allow_mock: bool
    max_epochs: int | None = None
    demo_samples: int | None = None
    image_size: int = 224
    pretrained: str | None = "imagenet"
    medmnist_sizes: tuple[int, ...] = (28,)

    def epochs(self, recipe_epochs: int) -> int:
        """The number of epochs to run for a recipe that asks for ``recipe_epochs``."""
        if self.max_epochs is None:
            return recipe_epochs
        return min(recipe_epochs, self.max_epochs)


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        name="smoke",
        train_samples=1024,
        test_samples=512,
        val_fraction=0.25,
        allow_download=False,
        allow_mock=True,
        max_epochs=1,
        demo_samples=512,
        image_size=96,
        pretrained=None,
    ),
    "cpu": Profile(
        name="cpu",
        train_samples=None,
        test_samples=None,
        val_fraction=0.1,
        allow_download=True,
        allow_mock=False,
        demo_samples=10_000,
        image_size=160,
    ),
    "full": Profile(
        name="full",
        train_samples=None,
        test_samples=None,
        val_fraction=0.1,
        allow_download=True,
        allow_mock=False,
        medmnist_sizes=(28, 64),
    ),
}


def gpu_names() -> list[str]:
    """Names of the GPUs TensorFlow can see (imports TensorFlow on first call)."""
    import tensorflow as tf

    names = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        names.append(str(details.get("device_name", device.name)))
    return names


def get_profile(name: str | None = None) -> Profile:
    """Resolve a profile: ``name``, else ``$CNNLABS_PROFILE``, else auto (GPU -> full).

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    chosen = (name or "").strip() or os.environ.get(PROFILE_ENV, "").strip() or "auto"
    chosen = chosen.lower()
    if chosen == "auto":
        chosen = "full" if gpu_names() else "cpu"
    if chosen not in PROFILES:
        valid = ", ".join([*PROFILES, "auto"])
        raise ValueError(f"Unknown profile {chosen!r}. Valid profiles: {valid}.")
    return PROFILES[chosen]


def project_root() -> Path | None:
    """The source checkout cnnlabs was imported from, or ``None`` for a plain install."""
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file() and (root / "labs").is_dir():
        return root
    return None


def _base_dir() -> Path:
    return project_root() or Path.cwd()


def data_dir() -> Path:
    """The dataset cache: ``$CNNLABS_DATA_DIR``, else ``data/`` (of the checkout, or cwd)."""
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    return _base_dir() / "data"


def runs_dir() -> Path:
    """Where run folders go: ``$CNNLABS_RUNS_DIR``, else ``runs/`` (of the checkout, or cwd)."""
    env = os.environ.get(RUNS_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    return _base_dir() / "runs"


def new_run_dir(label: str, root: Path | None = None) -> Path:
    """Create and return a fresh run folder ``<runs>/<label>-<timestamp>``."""
    root = Path(root) if root is not None else runs_dir()
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    root.mkdir(parents=True, exist_ok=True)
    candidate = root / f"{label}-{stamp}"
    suffix = 1
    while True:
        try:
            candidate.mkdir()  # atomic: two runs started in the same second get two folders
            return candidate
        except FileExistsError:
            suffix += 1
            candidate = root / f"{label}-{stamp}-{suffix}"


def in_colab() -> bool:
    """True inside a Google Colab runtime."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


def environment() -> dict[str, Any]:
    """Facts about the runtime: versions, GPUs, CPU, memory, Colab, profile, data folder."""
    import keras
    import tensorflow as tf

    facts: dict[str, Any] = {
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "colab": in_colab(),
        "gpus": gpu_names(),
        "data_dir": str(data_dir()),
        "runs_dir": str(runs_dir()),
    }
    facts["profile"] = asdict(get_profile())
    return facts


def _ram_gib() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return round(pages * page_size / 2**30, 1)


def seed_everything(seed: int = 42) -> None:
    """Seed Python, NumPy, TensorFlow and Keras: same initial weights, same data order.

    It also sets ``PYTHONHASHSEED`` for child processes. Training still does not
    repeat bit for bit, on a GPU or on a CPU: parallel kernels and the tf.data
    threads add in a different order from run to run, and the differences grow
    over the epochs (one PneumoniaMNIST configuration and seed, trained twice on one
    CPU, ended at 0.907 and 0.928 test accuracy; see docs/results.md). Call
    ``tf.config.experimental.enable_op_determinism()`` when bit-exact repeats
    matter more than speed, and compare recipes over several seeds.
    """
    import keras

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)  # seeds TensorFlow's global generator too
