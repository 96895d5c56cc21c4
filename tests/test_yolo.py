"""The yolo_grid detector: its layers, its YOLO loss on hand-worked cases, and its run chain."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from cnnlabs import config, detection, models, run
from cnnlabs.detection import GridSpec
from cnnlabs.models.yolo import YoloLoss, grid_accuracy, yolo_loss_terms


def terms(y_true, y_pred, **kwargs):
    values = yolo_loss_terms(np.asarray(y_true, "float32")[None],
                             np.asarray(y_pred, "float32")[None], **kwargs)
    return {name: float(np.asarray(value)[0]) for name, value in values.items()}


# --- the network --------------------------------------------------------------------------------


def test_the_default_detector_has_the_documented_layers_and_parameters():
    model = models.build("yolo_grid", (64, 64, 1), 10)
    assert isinstance(model, models.yolo.GridDetector)
    assert model.output_shape == (None, 8, 8, 2 * 5 + 10)
    # conv_bn: 9 * in * out + 4 * out; 1x1 head: 128 * 20 + 20.
    expected = (9 * 1 * 16 + 64) + (9 * 16 * 32 + 128) + (9 * 32 * 64 + 256) \
        + (9 * 64 * 128 + 512) + (9 * 128 * 128 + 512) + (128 * 20 + 20)
    assert model.count_params() == expected == 248_420
    assert detection.spec_of(model) == GridSpec(grid_size=8, boxes=2, classes=10)


def test_anchors_and_grid_size_shape_the_output():
    anchors = [(0.1, 0.3), (0.3, 0.1), (0.2, 0.2)]
    model = models.build("yolo_grid", (64, 64, 1), 10, anchors=anchors)
    assert model.output_shape == (None, 8, 8, 3 * (5 + 10))
    assert detection.spec_of(model) == GridSpec(8, 3, 10, anchors=anchors)
    four = models.build("yolo_grid", (64, 64, 1), 3, grid_size=4, filters=(8, 8, 16, 16, 32))
    assert four.output_shape == (None, 4, 4, 2 * 5 + 3)


def test_the_feature_extractor_is_the_grid_of_features():
    features = models.build("yolo_grid", (64, 64, 1), None, include_top=False)
    assert features.output_shape == (None, 8, 8, 128)
    assert features.count_params() == 248_420 - (128 * 20 + 20)
    pooled = models.build("yolo_grid", (64, 64, 1), None, include_top=False, pooling="avg")
    assert pooled.output_shape == (None, 128)


@pytest.mark.parametrize(("shape", "kwargs", "message"), [
    ((64, 48, 1), {}, "square"),
    ((60, 60, 1), {"grid_size": 8}, "power of two"),
    ((64, 64, 1), {"grid_size": 4}, "needs 5 filter counts"),
    ((64, 64, 1), {"anchors": [(0.1, -0.2)]}, "above 0"),
])
def test_bad_detector_settings_are_refused(shape, kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.build("yolo_grid", shape, 10, **kwargs)


@pytest.mark.parametrize("anchors", [None, [(0.2, 0.2), (0.1, 0.3)]])
def test_the_head_outputs_label_vectors(anchors):
    model = models.build("yolo_grid", (32, 32, 1), 4, filters=(8, 8, 16, 32), anchors=anchors)
    spec = detection.spec_of(model)
    grid = model.predict(np.random.default_rng(0).random((3, 32, 32, 1)), verbose=0)
    objectness, boxes, probs = spec.split(grid)
    assert ((objectness > 0) & (objectness < 1)).all()
    assert ((boxes[..., :2] > 0) & (boxes[..., :2] < 1)).all() and (boxes[..., 2:] > 0).all()
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-5)


# --- the loss ------------------------------------------------------------------------------------


def test_a_perfect_prediction_costs_nothing():
    spec = GridSpec(grid_size=4, boxes=2, classes=3)
    target = detection.encode([[0.1, 0.1, 0.4, 0.3], [0.6, 0.5, 0.9, 0.95]], [0, 2], spec)
    assert terms(target, target, boxes=2, classes=3) == {
        "coord": 0.0, "obj": pytest.approx(0.0, abs=1e-10), "noobj": 0.0, "class": 0.0}
    anchors = [(0.3, 0.2), (0.3, 0.45)]
    anchored = GridSpec(grid_size=4, boxes=2, classes=3, anchors=anchors)
    target = detection.encode([[0.1, 0.1, 0.4, 0.3], [0.6, 0.5, 0.9, 0.95]], [0, 2], anchored)
    values = terms(target, target, boxes=2, classes=3, anchors=anchors)
    assert values["coord"] == values["noobj"] == values["class"] == 0.0
    assert values["obj"] == pytest.approx(0.0, abs=1e-10)


def test_the_loss_of_one_cell_worked_by_hand():
    # S = 1, B = 1, C = 2: the object fills the image, centre (0.5, 0.5), size 1 x 1 cells.
    target = [[[1.0, 0.5, 0.5, 1.0, 1.0, 1.0, 0.0]]]
    # Predicted: P = 0.8, the right centre, width 0.25 (sqrt 0.5), height 1, classes 0.6/0.4.
    predicted = [[[0.8, 0.5, 0.5, 0.25, 1.0, 0.6, 0.4]]]
    values = terms(target, predicted, boxes=1, classes=2)
    assert values["coord"] == pytest.approx(5.0 * (0.5 - 1.0) ** 2)      # lambda_coord 5
    assert values["obj"] == pytest.approx((0.8 - 0.25) ** 2)             # target: IoU 0.25
    assert values["noobj"] == 0.0                                        # no empty slot
    assert values["class"] == pytest.approx(0.4 ** 2 + 0.4 ** 2)
    plain = terms(target, predicted, boxes=1, classes=2, rescore=False, lambda_coord=1.0)
    assert plain["obj"] == pytest.approx((0.8 - 1.0) ** 2)              # target: 1
    assert plain["coord"] == pytest.approx(0.25)


def test_empty_slots_cost_lambda_noobj_times_p_squared():
    spec = GridSpec(grid_size=2, boxes=2, classes=3)
    predicted = np.zeros(spec.shape, "float32")
    predicted[..., [0, 5]] = 0.5  # P of both slots of every cell
    values = terms(np.zeros(spec.shape), predicted, boxes=2, classes=3)
    assert values["noobj"] == pytest.approx(0.5 * 8 * 0.25)
    assert values["coord"] == values["obj"] == values["class"] == 0.0


def test_the_slot_that_overlaps_the_object_most_is_responsible():
    # One cell, two slots, one class. The object: centre (0.5, 0.5), 1 x 1 cells.
    target = [[[1.0, 0.5, 0.5, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]]]
    # Slot 0 is far off (IoU 0), slot 1 is exact: slot 1 answers, slot 0 counts as empty.
    predicted = [[[0.6, 0.0, 0.0, 0.1, 0.1, 0.7, 0.5, 0.5, 1.0, 1.0, 1.0]]]
    values = terms(target, predicted, boxes=2, classes=1)
    assert values["coord"] == pytest.approx(0.0, abs=1e-10)
    assert values["obj"] == pytest.approx((0.7 - 1.0) ** 2)
    assert values["noobj"] == pytest.approx(0.5 * 0.6 ** 2)


def test_yolo_loss_sums_the_terms_per_image_and_averages_the_batch():
    spec = GridSpec(grid_size=2, boxes=1, classes=2)
    rng = np.random.default_rng(1)
    targets = np.stack([detection.encode([[0.1, 0.1, 0.4, 0.4]], [1], spec),
                        detection.encode([], [], spec)])
    predicted = rng.uniform(0.05, 0.95, targets.shape).astype("float32")
    per_image = yolo_loss_terms(targets, predicted, boxes=1, classes=2)
    total = sum(np.asarray(v) for v in per_image.values())
    assert float(YoloLoss(1, 2)(targets, predicted)) == pytest.approx(float(total.mean()),
                                                                       rel=1e-5)


def test_the_loss_iou_agrees_with_detection_iou():
    from cnnlabs.models.yolo import _cell_iou

    rng = np.random.default_rng(2)
    a = np.concatenate([rng.uniform(0, 1, (50, 2)), rng.uniform(0.1, 2, (50, 2))], axis=1)
    b = np.concatenate([rng.uniform(0, 1, (50, 2)), rng.uniform(0.1, 2, (50, 2))], axis=1)
    ours = np.asarray(_cell_iou(a.astype("float32"), b.astype("float32")))
    corners = [detection.convert_boxes(x, "center_xywh", "xyxy") for x in (a, b)]
    expected = np.diag(detection.iou(*corners))
    np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_grid_accuracy_counts_cells_right_as_empty_or_of_their_class():
    spec = GridSpec(grid_size=2, boxes=1, classes=2)
    target = detection.encode([[0.1, 0.1, 0.3, 0.3], [0.6, 0.6, 0.9, 0.9]], [0, 1], spec)
    guess = target.copy()
    guess[1, 1, 5:] = [0.9, 0.1]  # the wrong class in cell (1, 1)
    guess[0, 1, 0] = 0.7          # a false object in cell (0, 1)
    value = grid_accuracy(target[None], guess[None], boxes=1, classes=2)
    assert float(np.asarray(value)[0]) == pytest.approx(2 / 4)


# --- training --------------------------------------------------------------------------------


def test_compile_uses_the_yolo_loss_whatever_loss_is_asked_for(tmp_path):
    model = models.build("yolo_grid", (32, 32, 1), 3, filters=(8, 8, 16, 32), lambda_noobj=0.25)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    assert isinstance(model.loss, YoloLoss) and model.loss.lambda_noobj == 0.25
    spec = detection.spec_of(model)
    rng = np.random.default_rng(3)
    images = rng.random((8, 32, 32, 1)).astype("float32")
    targets = detection.encode_batch([[[0.2, 0.2, 0.5, 0.6]]] * 8, [[1]] * 8, spec)
    history = model.fit(images, targets, epochs=5, batch_size=8, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert set(history.history) == {"loss", "accuracy"}
    model.save(tmp_path / "model.keras")
    again = keras.saving.load_model(tmp_path / "model.keras")
    assert type(again).__name__ == "GridDetector" and again.lambda_noobj == 0.25
    assert isinstance(again.loss, YoloLoss)
    assert set(again.evaluate(images, targets, verbose=0, return_dict=True)) == {
        "loss", "accuracy"}
    np.testing.assert_allclose(again.predict(images, verbose=0), model.predict(images, verbose=0),
                               atol=1e-6)


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


def test_the_run_chain_trains_a_detector_and_writes_a_detection_report(tmp_path):
    lines: list[str] = []
    result = run.train("yolo_grid", _tiny_detection_set(), profile="smoke", out=tmp_path / "run",
                       verbose=0, log=lines.append,
                       model_options={"filters": (8, 8, 16, 32)})
    for name in ("history.json", "best.keras", "model.keras", "results.json", "run.json",
                 "recipe.json", "detection_report.txt", "detections.png"):
        assert (result.run_dir / name).is_file(), name
    saved = json.loads((result.run_dir / "results.json").read_text())
    assert saved["n"] == 16 and saved["epochs_trained"] == 1 and saved["mock_data"] is True
    assert {"map50", "map50_95", "map50_11point", "per_class"} <= set(saved)
    assert saved["grid"] == {"grid_size": 4, "boxes": 2, "classes": 10, "anchors": None}
    assert result.model.output_shape == (None, 4, 4, 20)
    assert isinstance(result.report, detection.DetectionReport)
    assert any(line.startswith("test mAP@0.5") for line in lines)
    assert any("MOCK" in line for line in lines)
    assert "val_accuracy" in json.loads((result.run_dir / "history.json").read_text())[0]


def test_detectors_and_classification_data_do_not_mix(tmp_path):
    with pytest.raises(ValueError, match="train it on a detection dataset"):
        run.train("yolo_grid", "mnist", profile="smoke", out=tmp_path / "a", log=None)
    with pytest.raises(ValueError, match="train a grid detector on it"):
        run.train("lenet", _tiny_detection_set(8, 4), profile="smoke", out=tmp_path / "b",
                  log=None)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_the_cpu_recipe_is_the_one_measured_for_the_lab():
    from cnnlabs import recipes

    cpu = recipes.recipe("yolo_grid", "cpu", "mnist_detection")
    smoke = recipes.recipe("yolo_grid", "smoke", "mnist_detection")
    assert smoke.epochs == 1 and cpu.epochs > 1
    assert config.get_profile("cpu").epochs(cpu.epochs) == cpu.epochs


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
    with pytest.raises(run.RunFolderError, match="already holds a finished run"):
        run.train("yolo_grid", data, profile="smoke", out=tmp_path / "run", verbose=0,
                  log=None, model_options=options)
