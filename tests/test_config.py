"""Profiles, folders, seeding, and what the package does (not) do at import."""

from __future__ import annotations

import os
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


def test_a_home_holds_the_data_cache_and_the_run_folders(monkeypatch, tmp_path, capsys):
    for name in (config.HOME_ENV, config.DATA_ENV, config.RUNS_ENV):
        monkeypatch.delenv(name, raising=False)
    home = config.use_home(tmp_path / "home")
    assert home == (tmp_path / "home").resolve()
    assert config.data_dir() == home / "data" and config.runs_dir() == home / "runs"
    assert config.lab_run_dir("lab03-lenet", "smoke") == home / "runs" / "lab03-lenet-smoke"
    assert "kept in" in capsys.readouterr().out
    monkeypatch.setenv(config.RUNS_ENV, str(tmp_path / "elsewhere"))  # the explicit one wins
    assert config.runs_dir() == (tmp_path / "elsewhere").resolve()


def test_without_a_home_setting_nothing_changes(monkeypatch):
    monkeypatch.delenv(config.HOME_ENV, raising=False)
    before = (config.data_dir(), config.runs_dir())
    assert config.use_home() is None
    assert (config.data_dir(), config.runs_dir()) == before


def test_a_home_on_drive_mounts_drive_first(monkeypatch, tmp_path):
    monkeypatch.delenv(config.HOME_ENV, raising=False)
    drive = tmp_path / "content" / "drive"
    monkeypatch.setattr(config, "DRIVE_MOUNT", drive)
    mounted = []

    def mount(where):  # stands in for google.colab.drive.mount
        mounted.append(where)
        (drive / "MyDrive").mkdir(parents=True)

    home = config.use_home(drive / "MyDrive" / "cnnlabs", mount=mount)
    assert mounted == [str(drive)] and home == (drive / "MyDrive" / "cnnlabs").resolve()
    assert config.use_home(drive / "MyDrive" / "cnnlabs", mount=mount) == home  # mounted once
    assert mounted == [str(drive)]


@pytest.mark.parametrize("trouble", ["not mounted", "not writable", "full"])
def test_a_home_that_cannot_be_used_says_why_and_work_stays_local(monkeypatch, tmp_path, capsys,
                                                                 trouble):
    monkeypatch.setenv(config.HOME_ENV, str(tmp_path / "old"))
    monkeypatch.setenv(config.RUNS_ENV, str(tmp_path / "local-runs"))
    drive = tmp_path / "drive"
    monkeypatch.setattr(config, "DRIVE_MOUNT", drive)
    folder, kwargs = drive / "MyDrive" / "cnnlabs", {}
    if trouble == "not mounted":
        def refuse(where):
            raise RuntimeError("mount failed: the user did not allow access")
        kwargs["mount"] = refuse
    elif trouble == "not writable":
        (drive / "MyDrive").mkdir(parents=True)
        (drive / "MyDrive" / "cnnlabs").write_text("a file, not a folder")
    else:
        (drive / "MyDrive").mkdir(parents=True)
        kwargs["min_free"] = 1 << 62
    assert config.use_home(folder, **kwargs) is None
    printed = capsys.readouterr().out
    assert "not keeping data and runs in" in printed and "stay local" in printed
    assert {"not mounted": "mount failed", "not writable": "Error",
            "full": "MiB free"}[trouble] in printed
    assert config.HOME_ENV not in os.environ  # runs go where they went before
    assert config.runs_dir() == (tmp_path / "local-runs").resolve()
    if trouble == "not writable":
        assert (drive / "MyDrive" / "cnnlabs").read_text() == "a file, not a folder"


def test_an_interrupted_lab_resumes_from_its_home_in_a_new_runtime(monkeypatch, tmp_path):
    """The lab's run folder lives in the home (Drive in Colab): a new runtime that points at
    the same home finds the backup there and goes on."""
    import keras

    from cnnlabs import models, pipelines, recipes, training
    from cnnlabs.datasets.splits import Splits

    for name in (config.HOME_ENV, config.RUNS_ENV, config.DATA_ENV):
        monkeypatch.delenv(name, raising=False)
    drive_home = tmp_path / "drive" / "cnnlabs"
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (320, 8, 8, 1), dtype="uint8")
    y = np.arange(320) % 2
    data = pipelines.build(Splits("noise", x, y, x[:16], y[:16], ["a", "b"]), 64, "cpu")
    recipe = recipes.Recipe(epochs=2, batch_size=64)

    class Stop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                raise KeyboardInterrupt  # the runtime goes away in epoch 2

    config.use_home(drive_home)
    folder = config.lab_run_dir("lab99-demo", "cpu")
    with pytest.raises(KeyboardInterrupt):
        training.fit(models.build("lenet", (8, 8, 1), 2), data, recipe, folder, verbose=0,
                     extra_callbacks=[Stop()])
    monkeypatch.delenv(config.HOME_ENV)  # a new runtime: nothing set, nothing local
    assert config.home() is None and config.runs_dir() != folder.parent
    config.use_home(drive_home)  # the lab's setup cell, run again
    again = config.lab_run_dir("lab99-demo", "cpu")
    assert again == folder
    history = training.fit(models.build("lenet", (8, 8, 1), 2), data, recipe, again, verbose=0)
    assert history.epoch == [1]  # only epoch 2 was left
    assert [row["epoch"] for row in training.read_history(again)] == [1, 2]
