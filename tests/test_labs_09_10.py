"""Labs 09 and 10 behind their notebooks: their plans, and a detector run that a lab reloads."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlabs import budget, config, lab_models, run
from cnnlabs.run import RunFolderError


def _tiny_detection_set(n_train: int = 48, n_test: int = 16):
    """A small detection set from mock digits (no data cache needed)."""
    from cnnlabs.datasets import mnist_detection
    from cnnlabs.datasets.catalog import CATALOG
    from cnnlabs.datasets.mockdata import mock_splits

    pool = mock_splits(CATALOG["mnist"], 40, 20)
    settings = mnist_detection.Settings(canvas=32, digit_sizes=(10, 16), max_digits=2)
    return mnist_detection.DetectionSplits(
        name="tiny_detection",
        train=mnist_detection.generate(pool.x_train, pool.y_train, n_train, settings=settings),
        test=mnist_detection.generate(pool.x_test, pool.y_test, n_test, settings=settings,
                                      stream=1),
        class_names=[str(d) for d in range(10)], source="test", is_mock=True)


def test_a_finished_detector_run_is_reloaded_not_trained_again(tmp_path):
    data = _tiny_detection_set()
    options = {"filters": (8, 8, 16, 32)}
    first = run.train("yolo_grid", data, profile="smoke", out=tmp_path / "run", verbose=0,
                      log=None, model_options=options, reuse_finished=True)
    images = data.test.images[:4].astype("float32") / 255.0
    again = run.train("yolo_grid", data, profile="smoke", out=tmp_path / "run", verbose=0,
                      log=None, model_options=options, reuse_finished=True)
    assert again.resumed and again.run_dir == first.run_dir
    assert again.results["epochs_trained"] == 1  # the history holds the one epoch, not two
    np.testing.assert_allclose(again.model.predict(images, verbose=0),
                               first.model.predict(images, verbose=0), atol=1e-6)
    assert again.report.map50 == pytest.approx(first.report.map50)
    with pytest.raises(RunFolderError, match="already holds a finished run"):
        run.train("yolo_grid", data, profile="smoke", out=tmp_path / "run", verbose=0,
                  log=None, model_options=options)


def test_lab_09_plans_the_course_networks_as_lab_models_trains_them():
    for profile in ("smoke", "cpu", "full"):
        chosen = config.get_profile(profile)
        for label, training in budget.plan(9, profile).items():
            spec = lab_models.COURSE_MODELS[label]
            assert (training.model, training.dataset) == (spec.model, spec.dataset)
            assert training.images == chosen.demo_samples
            assert training.epochs == chosen.epochs(spec.epochs)
            assert training.run_label == f"{spec.lab}-{spec.name}"  # its run folder
    assert list(budget.plan(9, "smoke")) == ["lenet", "minivggnet"]
    assert list(budget.plan(9, "cpu")) == ["lenet", "minivggnet", "pneumonia"]


def test_lab_10_trains_the_detector_recipe_on_the_whole_generated_set():
    from cnnlabs import recipes

    cpu = budget.plan(10, "cpu")["yolo_grid"]
    assert (cpu.n_train, cpu.n_val, cpu.n_test) == (10_800, 1_200, 2_000)
    assert cpu.epochs == recipes.recipe("yolo_grid", "cpu", "mnist_detection").epochs == 15
    assert cpu.input_shape == (64, 64, 1) and cpu.steps_per_epoch == 169
    assert budget.plan(10, "smoke")["yolo_grid"].epochs == 1
