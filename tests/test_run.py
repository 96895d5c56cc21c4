"""The run chain: one function from a model and dataset name to a filled run folder."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnlabs import backup, config, datasets, models, run, training
from cnnlabs.datasets.splits import Splits

PACKAGE = Path(__file__).resolve().parents[1] / "cnnlabs"
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"

#: The import graph runs one way: a module imports only from its own rank or below.
RANKS = {
    "config": 0, "arithmetic": 0, "reference": 0,
    "datasets": 1,
    "pipelines": 2,
    "models": 3, "plots": 3,
    "recipes": 4, "training": 4, "optim": 4, "backup": 4,
    "evaluation": 5, "explain": 5, "detection": 5,
    "run": 6, "labs": 6, "exercises": 6, "budget": 6, "lab_models": 6, "tricks": 6,
    "cli": 7,
    "__main__": 8,
}


def _top(module: str) -> str:
    """``cnnlabs.datasets.cache`` -> ``datasets``."""
    return module.split(".")[1] if module.count(".") else "__init__"


def _imports(path: Path) -> set[str]:
    """The cnnlabs modules ``path`` imports, at any depth in the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("cnnlabs"):
            if node.module == "cnnlabs":
                found.update(f"cnnlabs.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("cnnlabs."))
    return found


def test_the_import_graph_runs_one_way_and_nothing_imports_the_cli():
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).with_suffix("")
        module = ".".join(relative.parts)
        if module == "cnnlabs.__init__":
            continue
        own = _top(module if "." in module else f"cnnlabs.{module}")
        assert own in RANKS, f"{module}: give its package a rank in RANKS"
        for imported in _imports(path):
            other = _top(imported)
            if other == "__init__":
                continue
            if other == "cli" and own != "__main__":
                problems.append(f"{module} imports the CLI")
            elif RANKS[other] > RANKS[own]:
                problems.append(f"{module} (rank {RANKS[own]}) reaches up to {imported}")
    for script in sorted(BENCHMARKS.glob("*.py")):
        if any(_top(name) == "cli" for name in _imports(script)):
            problems.append(f"{script.name} imports the CLI")
    assert problems == []


def test_no_benchmark_patches_the_library():
    assigned = re.compile(r"^\s*(training|models|pipelines|datasets|evaluation|run|recipes)"
                          r"\.\w+\s*=", re.MULTILINE)
    for script in sorted(BENCHMARKS.glob("*.py")):
        assert not assigned.search(script.read_text()), script.name


def _noise_splits(n: int = 160, classes: int = 3, size: int = 8, seed: int = 0) -> Splits:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 255, (n, size, size, 1), dtype="uint8")
    y = np.arange(n) % classes
    return Splits("noise", x, y, x[:32], y[:32], [str(c) for c in range(classes)],
                  source="test")


def test_train_fills_a_run_folder_and_returns_what_it_did(tmp_path):
    lines: list[str] = []
    result = run.train("lenet", _noise_splits(), profile="smoke", out=tmp_path / "run",
                       verbose=0, log=lines.append)
    assert result.run_dir == tmp_path / "run" and not result.resumed
    assert result.recipe == result.recipes[0] and result.recipe.epochs == 1
    for name in ("history.json", "best.keras", "model.keras", "results.json", "run.json",
                 "classification_report.txt", "confusion_matrix.png", "recipe.json"):
        assert (result.run_dir / name).is_file(), name
    saved = json.loads((result.run_dir / "results.json").read_text())
    assert saved["dataset"] == "noise" and saved["n"] == 32 == result.report.n
    assert saved["epochs_trained"] == 1 and saved["parameters"] == result.model.count_params()
    assert any(line.startswith("test accuracy") for line in lines)


def test_the_optimizer_model_and_data_hooks_replace_one_step_each(tmp_path):
    calls = []

    def optimizer(recipe, steps):
        calls.append(("optimizer", steps))
        return keras.optimizers.SGD(0.01)

    def build(shape, classes):
        calls.append(("model", shape, classes))
        return keras.Sequential([keras.Input(shape), keras.layers.Flatten(),
                                 keras.layers.Dense(classes, activation="softmax")])

    def prepare(data):
        calls.append(("data", data.n_train))
        return data

    result = run.train("lenet", _noise_splits(), profile="smoke", out=tmp_path / "run",
                       verbose=0, log=None, optimizer=optimizer, build_model=build,
                       prepare_data=prepare)
    steps = result.data.steps_per_epoch
    assert calls == [("data", result.data.n_train), ("model", (8, 8, 1), 3),
                     ("optimizer", steps)]
    assert isinstance(result.model.optimizer, keras.optimizers.SGD)
    assert result.model.count_params() == 8 * 8 * 3 + 3


def test_recipe_overrides_and_model_options_reach_their_steps(tmp_path):
    result = run.train("minivggnet", _noise_splits(size=16), profile="smoke", verbose=0,
                       log=None, out=tmp_path / "run", overrides={"augment": ()},
                       model_options={"batch_norm": False}, batch_size=16)
    assert result.recipe.augment == () and result.recipe.batch_size == 16
    assert not any(isinstance(layer, keras.layers.BatchNormalization)
                   for layer in result.model.layers)


def test_a_finished_run_folder_or_another_runs_backup_is_refused(tmp_path):
    out = tmp_path / "run"
    run.train("lenet", _noise_splits(), profile="smoke", out=out, verbose=0, log=None)
    with pytest.raises(run.RunFolderError, match="already holds a finished run"):
        run.train("lenet", _noise_splits(), profile="smoke", out=out, verbose=0, log=None)
    other = tmp_path / "other"
    run.claim_run_folder(other, {"model": "lenet", "seed": 1})
    (other / backup.BACKUP_DIR).mkdir()
    with pytest.raises(run.RunFolderError, match="backup of a different run"):
        run.claim_run_folder(other, {"model": "lenet", "seed": 2})
    assert run.claim_run_folder(other, {"model": "lenet", "seed": 1}) is True


def test_a_finished_run_folder_is_reused_when_asked(tmp_path):
    """A lab run again (a new runtime, the folder on Drive) loads what finished."""
    out = tmp_path / "run"
    first = run.train("lenet", _noise_splits(), profile="smoke", out=out, verbose=0, log=None,
                      reuse_finished=True)
    again = run.train("lenet", _noise_splits(), profile="smoke", out=out, verbose=0, log=None,
                      reuse_finished=True)
    assert again.resumed and again.report.accuracy == first.report.accuracy
    assert [row["epoch"] for row in training.read_history(out)] == [1]
    with pytest.raises(run.RunFolderError, match="already holds a finished run"):
        run.train("lenet", _noise_splits(), profile="smoke", out=out, verbose=0, log=None,
                  seed=1, reuse_finished=True)  # another run: still refused


def test_unknown_models_and_multi_label_datasets_are_refused_before_any_folder(tmp_path):
    with pytest.raises(ValueError, match="transfer_mobilenetv2"):
        run.train("resnet9000", "mnist", profile="smoke", out=tmp_path / "a", log=None)
    with pytest.raises(ValueError, match="multi-label"):
        run.train("lenet", "chestmnist", profile="smoke", out=tmp_path / "b", log=None)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_model_names_add_the_transfer_backbones_to_the_registry():
    names = run.model_names()
    assert set(models.names()) < set(names)
    assert {f"transfer_{b}" for b in models.BACKBONES} <= set(names)
    assert run.backbone_name("transfer_mobilenetv2") == "mobilenetv2"
    assert run.backbone_name("transfer_features") is None  # a recipe, not a backbone
    assert run.backbone_name("vgg16") is None  # the CIFAR network trained from scratch


def _small_xray(profile: config.Profile, per_split: int = 24):
    """The smoke chest X-rays (real when cached, else the mock tree), cut to a few files."""
    xray = datasets.load("chest_xray", profile, seed=0)

    def cut(files, n):
        return files.subset(np.sort(datasets.stratified_indices(files.labels, n, 0)))

    return dataclasses.replace(xray, train=cut(xray.train, per_split),
                               val=cut(xray.val, per_split // 2),
                               test=cut(xray.test, per_split // 2))


def test_transfer_models_train_in_two_phases_and_resume_in_the_phase_they_were_in(tmp_path):
    smoke = dataclasses.replace(config.get_profile("smoke"), image_size=32)
    xray = _small_xray(smoke)
    assert xray.input_shape == (32, 32, 3)
    out = tmp_path / "run"
    with pytest.warns(models.NoPretrainedWeightsWarning):  # smoke never downloads weights
        first = run.train("transfer_mobilenetv2", xray, profile=smoke, out=out, verbose=0,
                          log=None, epochs=1, plot=False)
    assert [r.unfreeze for r in first.recipes] == [0, 40]
    assert [r.learning_rate for r in first.recipes] == [1e-3, 3e-5]
    phase1, phase2 = (out / folder for folder in run.PHASE_FOLDERS)
    rows1 = training.read_history(phase1)
    assert [row["epoch"] for row in rows1] == [1]
    assert [row["epoch"] for row in training.read_history(phase2)] == [1]
    assert first.results["epochs_trained"] == 2
    assert {"auc", "sensitivity", "specificity", "threshold"} <= set(first.results)
    assert models.trainable_summary(first.model)["trainable_backbone_layers"] > 0

    # Stopped during phase 2, before its first backup: phase 1 is done, phase 2 is not.
    for path in (out / "results.json", phase2 / training.FINAL_MODEL_FILE,
                 phase2 / training.HISTORY_FILE):
        path.unlink()
    with pytest.warns(models.NoPretrainedWeightsWarning):
        again = run.train("transfer_mobilenetv2", xray, profile=smoke, out=out, verbose=0,
                          log=None, epochs=1, plot=False)
    assert again.resumed and again.results["resumed"] is True
    assert training.read_history(phase1) == rows1  # phase 1 was not trained again
    assert [row["epoch"] for row in training.read_history(phase2)] == [1]


def test_cli_and_benchmarks_reach_training_only_through_run():
    for script in sorted(BENCHMARKS.glob("*.py")):
        text = script.read_text()
        assert "training.fit(" not in text, script.name


def test_train_leaves_the_global_dtype_policy_as_it_found_it(tmp_path, monkeypatch):
    import keras

    from cnnlabs import training

    monkeypatch.setattr(training, "cpu_bfloat16_supported", lambda: True)
    result = run.train("lenet", _noise_splits(), profile="smoke", out=tmp_path / "run",
                       overrides={"cpu_bfloat16": True}, verbose=0, plot=False, log=None)
    assert result.model.get_layer(index=1).compute_dtype == "bfloat16"  # the recipe's
    assert keras.config.dtype_policy().name == "float32"  # the next model's default
