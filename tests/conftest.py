"""Shared fixtures. Tests never touch the network; real data comes from the cache."""

from __future__ import annotations

import os
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def real_data_dir() -> Path | None:
    """The folder with real datasets: $CNNLABS_DATA_DIR, else ../shared/data, else None."""
    env = os.environ.get("CNNLABS_DATA_DIR")
    for candidate in (Path(env) if env else None, SHARED_DATA):
        if candidate is not None and (candidate / "mnist.npz").is_file():
            return candidate
    return None


@pytest.fixture
def real_mnist_npz() -> Path:
    """Path of a real mnist.npz; the test is skipped (and says why) where none is cached."""
    found = real_data_dir()
    if found is None:
        pytest.skip("no real mnist.npz in $CNNLABS_DATA_DIR or ../shared/data")
    return found / "mnist.npz"


@pytest.fixture
def empty_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty cache folder, set as CNNLABS_DATA_DIR for the test."""
    folder = tmp_path / "data"
    folder.mkdir()
    monkeypatch.setenv("CNNLABS_DATA_DIR", str(folder))
    return folder


@pytest.fixture(autouse=True)
def _isolated_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run folders written by a test go to its own temporary folder."""
    monkeypatch.setenv("CNNLABS_RUNS_DIR", str(tmp_path / "runs"))


@pytest.fixture(autouse=True)
def _home_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    """``$CNNLABS_HOME`` as it was before the test, whatever ``config.use_home`` set.

    ``use_home`` sets the variable itself, and the notebook kernels that the same test
    process starts later inherit its environment.
    """
    original = os.environ.get("CNNLABS_HOME")
    monkeypatch.setenv("CNNLABS_HOME", original or "")  # recorded: restored afterwards
    if original is None:
        monkeypatch.delenv("CNNLABS_HOME")


@pytest.fixture
def urlopen_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Make any call to urlopen fail the test; the list records the attempted URLs."""
    calls: list[str] = []

    def refuse(url: object, *args: object, **kwargs: object) -> None:
        calls.append(str(url))
        raise AssertionError(f"unexpected network access: {url}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    return calls


@pytest.fixture(autouse=True)
def _float32_policy() -> Iterator[None]:
    """Each test starts and ends with Keras' global dtype policy at float32.

    A test that sets a recipe's precision (bfloat16, float16) must not change the
    numbers of the tests that run after it in the same process.
    """
    yield
    if "keras" in sys.modules:
        sys.modules["keras"].config.set_dtype_policy("float32")
