"""Profiles, folders, seeding, and what the package does (not) do at import."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from cnnlabs import config

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["smoke", "cpu", "full"])
def test_profile_from_the_environment(monkeypatch, name):
    monkeypatch.setenv("CNNLABS_PROFILE", name)
    assert config.get_profile().name == name


def test_explicit_profile_beats_the_environment(monkeypatch):
    monkeypatch.setenv("CNNLABS_PROFILE", "smoke")
    assert config.get_profile("FULL").name == "full"


def test_auto_profile_follows_the_gpus(monkeypatch):
    monkeypatch.setenv("CNNLABS_PROFILE", "auto")
    monkeypatch.setattr(config, "gpu_names", lambda: [])
    assert config.get_profile().name == "cpu"
    monkeypatch.setattr(config, "gpu_names", lambda: ["NVIDIA H100"])
    assert config.get_profile().name == "full"
    monkeypatch.delenv("CNNLABS_PROFILE")
    assert config.get_profile().name == "full"


def test_unknown_profile_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Valid profiles: smoke, cpu, full, auto"):
        config.get_profile("turbo")


def test_smoke_is_small_offline_and_one_epoch():
    smoke = config.PROFILES["smoke"]
    assert not smoke.allow_download and smoke.allow_mock
    assert smoke.epochs(30) == 1
    assert config.PROFILES["cpu"].epochs(12) == 12
    assert smoke.train_samples == 1024 and smoke.test_samples == 512
    assert smoke.demo_samples == 512 and config.PROFILES["full"].demo_samples is None


def test_data_dir_comes_from_the_environment_or_the_checkout(monkeypatch, tmp_path):
    monkeypatch.setenv("CNNLABS_DATA_DIR", str(tmp_path / "cache"))
    assert config.data_dir() == (tmp_path / "cache").resolve()
    monkeypatch.delenv("CNNLABS_DATA_DIR")
    assert config.data_dir() == ROOT / "data"


def test_run_folders_are_fresh_and_distinct(tmp_path):
    a = config.new_run_dir("lenet", root=tmp_path)
    b = config.new_run_dir("lenet", root=tmp_path)
    assert a != b and a.is_dir() and b.is_dir() and a.parent == tmp_path


def test_runs_started_in_the_same_second_get_distinct_folders(tmp_path, monkeypatch):
    import threading
    from datetime import datetime

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime(2026, 11, 28, 0, 13, 9)

    monkeypatch.setattr(config, "datetime", Frozen)
    barrier = threading.Barrier(6)
    made, errors = [], []

    def start() -> None:
        barrier.wait()
        try:
            made.append(config.new_run_dir("lenet-mnist-cpu", root=tmp_path / "runs"))
        except OSError as exc:  # the exists-then-mkdir version raised FileExistsError here
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(p.name for p in made) == sorted(
        ["lenet-mnist-cpu-20261128-001309"]
        + [f"lenet-mnist-cpu-20261128-001309-{i}" for i in range(2, 7)])


def test_an_explicit_profile_name_is_trimmed_like_the_environment_variable():
    assert config.get_profile(" CPU ").name == "cpu"


def test_seed_everything_repeats_numpy_and_keras_draws():
    import keras

    config.seed_everything(7)
    first = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    config.seed_everything(7)
    second = (np.random.rand(3), keras.random.uniform((3,)).numpy())
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])


def test_environment_reports_versions_and_hardware():
    facts = config.environment()
    assert facts["keras"].startswith("3.")
    assert facts["keras_backend"] == "tensorflow"
    assert isinstance(facts["gpus"], list) and facts["cpu_count"] >= 1
    assert facts["profile"]["name"] in config.PROFILES


def test_importing_cnnlabs_does_not_import_tensorflow():
    code = ("import sys, cnnlabs, cnnlabs.config, cnnlabs.labs, cnnlabs.datasets, "
            "cnnlabs.arithmetic; print('tensorflow' in sys.modules, 'keras' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "False False"


def test_runtime_requirements_agree_and_leave_tensorflow_unbounded():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = {
        line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert set(project["dependencies"]) <= requirements
    assert "tensorflow>=2.16" in requirements
    everything = " ".join([*requirements, *project["dependencies"],
                           *sum(project["optional-dependencies"].values(), [])]).lower()
    assert "tensorflow<" not in everything and "torch" not in everything
    assert "medmnist" not in everything
    assert project["requires-python"] == ">=3.10"
    assert project["scripts"]["cnnlabs"] == "cnnlabs.cli:main"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    command = ".venv/bin/python -m pytest"
    assert command in readme
    assert f"\n{command}\n" in (ROOT / ".ci" / "run").read_text()
