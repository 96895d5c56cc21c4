"""The course networks of lab 09: trained once into a stable run folder, then loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnlabs import config, lab_models


def test_course_model_trains_once_then_loads_from_its_run_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNNLABS_RUNS_DIR", str(tmp_path / "runs"))
    lines: list[str] = []
    first = lab_models.course_model("lenet", "smoke", verbose=0, log=lines.append)
    assert first.run_dir == tmp_path / "runs" / "lab09-lenet-smoke"
    assert first.run_dir == config.lab_run_dir("lab09-lenet", "smoke")
    assert not first.resumed and first.report is not None
    assert first.recipe.epochs == 1  # smoke's cap, under the course cap of 3
    assert len(first.splits.y_train) <= config.get_profile("smoke").demo_samples
    x = first.splits.x_test[:4].astype("float32") / 255.0
    again = lab_models.course_model("LeNet", "smoke", verbose=0, log=None)
    assert again.resumed and again.run_dir == first.run_dir
    np.testing.assert_allclose(again.model.predict(x, verbose=0),
                               first.model.predict(x, verbose=0), atol=1e-6)
    assert again.model is not first.model


def test_course_models_cap_the_recipe_epochs() -> None:
    from cnnlabs import recipes

    for spec in lab_models.COURSE_MODELS.values():
        assert spec.epochs < recipes.recipe(spec.model, "cpu", spec.dataset).epochs
    assert {s.dataset for s in lab_models.COURSE_MODELS.values()} == {
        "mnist", "cifar10", "pneumoniamnist"}


def test_unknown_course_model_lists_the_names() -> None:
    with pytest.raises(ValueError, match="lenet, minivggnet, pneumonia"):
        lab_models.course_model("alexnet", "smoke")
