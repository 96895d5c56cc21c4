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
import shutil
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

PROFILE_ENV = "CNNLABS_PROFILE"
DATA_ENV = "CNNLABS_DATA_DIR"
RUNS_ENV = "CNNLABS_RUNS_DIR"
HOME_ENV = "CNNLABS_HOME"

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


def get_profile(name: str | Profile | None = None) -> Profile:
    """Resolve a profile: ``name``, else ``$CNNLABS_PROFILE``, else auto (GPU -> full).

    A :class:`Profile` is returned as it is, so every function that takes a profile
    (a ``Profile``, a name, or ``None``) resolves it with this one call.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    if isinstance(name, Profile):
        return name
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


def home() -> Path | None:
    """``$CNNLABS_HOME``: one folder holding the data cache and the run folders, or ``None``.

    In Colab, :func:`use_home` sets it to a folder on Google Drive, so that data and
    runs outlive the runtime.
    """
    env = os.environ.get(HOME_ENV, "").strip()
    return Path(env).expanduser().resolve() if env else None


def _base_dir() -> Path:
    return home() or project_root() or Path.cwd()


def data_dir(path: Path | str | None = None) -> Path:
    """The dataset cache: ``path``, else ``$CNNLABS_DATA_DIR``, else ``data/`` of the home.

    The home is ``$CNNLABS_HOME`` when set, else the checkout, else the working folder.
    Every loader's ``data_dir=`` argument is resolved here.
    """
    if path is not None:
        return Path(path)
    env = os.environ.get(DATA_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    return _base_dir() / "data"


def runs_dir() -> Path:
    """Where run folders go: ``$CNNLABS_RUNS_DIR``, else ``runs/`` of the home (see data_dir)."""
    env = os.environ.get(RUNS_ENV, "").strip()
    if env:
        return Path(env).expanduser().resolve()
    return _base_dir() / "runs"


def lab_run_dir(label: str, profile: str | Profile | None = None) -> Path:
    """A lab's run folder, ``<runs>/<label>-<profile>``, the same every time the lab runs.

    Unlike :func:`new_run_dir`, running the lab again finds its folder again, so an
    interrupted training resumes from its backup (in a new Colab runtime too, with
    ``CNNLABS_HOME`` on Google Drive) and a finished one is not trained again.
    """
    folder = runs_dir() / f"{label}-{get_profile(profile).name}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


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


def colab_secret(name: str) -> str | None:
    """The Colab secret ``name``, or ``None`` outside Colab, when unset or not shared.

    The one place that reads Colab secrets (the Kaggle credentials, ``CNNLABS_HOME``).
    The value is handed to the caller only; it is never printed or logged.
    """
    try:
        from google.colab import userdata  # type: ignore[import-not-found]
    except ImportError:
        return None
    try:
        value = userdata.get(name)
    except Exception:  # SecretNotFoundError, NotebookAccessError, ...
        return None
    return str(value) if value else None


#: Where Colab mounts Google Drive; a home under it mounts Drive first.
DRIVE_MOUNT = Path("/content/drive")
#: A home with less free space than this is not used: a full Drive would lose backups.
MIN_FREE_BYTES = 1 << 30


def use_home(setting: str | Path | None = None, *,
             mount: Callable[[str], None] | None = None,
             min_free: int = MIN_FREE_BYTES) -> Path | None:
    """Keep the data cache and the run folders in one folder that outlives a Colab runtime.

    The folder is ``setting``, else ``$CNNLABS_HOME``, else (in Colab) the secret
    ``CNNLABS_HOME``. A folder under ``/content/drive`` mounts Google Drive first
    (Colab asks for permission). The folder must be writable and have ``min_free``
    bytes free; then ``$CNNLABS_HOME`` points at it, and ``data_dir()`` and
    ``runs_dir()`` lie inside it. Otherwise, or when Drive cannot be mounted, a
    clear message says why, ``$CNNLABS_HOME`` is unset and work goes on locally;
    nothing already in the folder is touched. Without any setting nothing changes.
    Every lab's setup cell calls it.

    Args:
        setting: the folder; ``None`` reads the environment, then the Colab secret.
        mount: mounts Google Drive at the path given (default: ``google.colab.drive.mount``).
        min_free: the free space the folder must have, in bytes.

    Returns:
        The home in use, or ``None`` (data and runs stay local).
    """
    chosen = setting or os.environ.get(HOME_ENV, "").strip() or colab_secret(HOME_ENV)
    if not chosen:
        return None
    folder = Path(chosen).expanduser()
    problem = None
    try:
        if folder.is_relative_to(DRIVE_MOUNT) and not (DRIVE_MOUNT / "MyDrive").is_dir():
            if mount is None:
                from google.colab import drive  # type: ignore[import-not-found]

                mount = drive.mount
            mount(str(DRIVE_MOUNT))
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".cnnlabs-write-test"
        probe.write_text("ok")
        probe.unlink()
        free = shutil.disk_usage(folder).free
        if free < min_free:
            problem = (f"it has only {free / 2**20:.0f} MiB free, less than the "
                       f"{min_free / 2**20:.0f} MiB a run's backups need")
    except ImportError:
        problem = "Google Drive can only be mounted inside Colab"
    except Exception as exc:  # a refused mount, a read-only folder, a full disk ...
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        os.environ.pop(HOME_ENV, None)
        print(f"cnnlabs: not keeping data and runs in {folder}: {problem}. They stay local "
              f"(data in {data_dir()}, runs in {runs_dir()}) and are lost with the runtime. "
              "Fix the folder (or the CNNLABS_HOME setting) and run the setup cell again.")
        return None
    os.environ[HOME_ENV] = str(folder)
    print(f"cnnlabs: data and runs are kept in {folder} (data/, runs/); an interrupted lab "
          "resumes from there, in a new runtime too.")
    return folder.resolve()


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
    over the epochs (docs/experiments/pneumoniamnist.md shows one configuration and
    seed trained twice on one CPU, ending a few points apart). Call
    ``tf.config.experimental.enable_op_determinism()`` when bit-exact repeats
    matter more than speed, and compare recipes over several seeds.
    """
    import keras

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)  # seeds TensorFlow's global generator too
    # Keras before 3.13 keeps the generator behind unseeded keras.random calls across
    # set_random_seed; dropping it makes it again from the seed just set.
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # a Keras that moved it handles this itself
        return
    global_state.set_global_attribute("global_seed_generator", None)


#: What TensorFlow's C++ side prints while it starts on a machine without a GPU: notices,
#: not failures. :func:`start_tensorflow` keeps these lines out of the output.
_START_UP_NOISE = (
    "All log messages before absl::InitializeLog",
    "oneDNN custom operations are on",
    "Could not find cuda drivers",
    "failed call to cuInit",
    "factory for plugin",
    "Unable to register cu",
    "computation placer already registered",
    "TF-TRT Warning",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "To enable the following instructions",
)


def split_start_up_lines(lines: list[str]) -> tuple[list[str], list[str]]:
    """``(dropped, kept)``: TensorFlow's known start-up notices, and every other line."""
    dropped = [line for line in lines if any(noise in line for noise in _START_UP_NOISE)]
    return dropped, [line for line in lines if line not in dropped]


def start_tensorflow(quiet: bool = True) -> list[str]:
    """Import TensorFlow and let it look for GPUs, without its start-up notices.

    TensorFlow's C++ side writes lines such as oneDNN notices and "failed call to
    cuInit: ... CUDA error" straight to the process's standard error while it starts;
    on a machine without a GPU they are expected, but a newcomer reads them as a
    failure. With ``quiet`` those known lines are dropped and every other line (a real
    error) is passed on to standard error. Call it first thing in a command.

    Returns:
        The start-up lines that were dropped.
    """
    if not quiet:
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
        return []
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")
            tf.constant(0)  # creates the eager context, where CUDA is initialised
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
        captured.seek(0)
        lines = captured.read().decode(errors="replace").splitlines(keepends=True)
    dropped, kept = split_start_up_lines(lines)
    if kept:
        sys.stderr.write("".join(kept))
        sys.stderr.flush()
    return dropped
