"""Reports: the scikit-learn classification report with class names, confusion matrix, JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnlabs import evaluation


def test_report_counts_known_predictions():
    y_true = [0, 0, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 2, 0, 2]
    report = evaluation.classification_report(y_true, y_pred, ["cat", "dog", "bird"])
    assert report.accuracy == pytest.approx(6 / 8)
    assert report.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 3]]
    assert report.per_class["dog"]["precision"] == pytest.approx(2 / 3)
    assert report.per_class["bird"]["recall"] == pytest.approx(3 / 4)
    for name in ("cat", "dog", "bird", "accuracy", "macro avg"):
        assert name in report.text


def test_absent_classes_still_get_a_row():
    report = evaluation.classification_report([0, 0], [0, 0], ["a", "b", "c"])
    assert report.confusion.shape == (3, 3)
    assert report.per_class["c"]["support"] == 0


def test_labels_outside_the_class_range_are_rejected():
    with pytest.raises(ValueError, match=r"0\.\.1"):
        evaluation.classification_report([0, 2], [0, 1], ["a", "b"])
    with pytest.raises(ValueError, match="predictions"):
        evaluation.classification_report([0, 1], [0], ["a", "b"])


def test_save_writes_text_plot_and_json(tmp_path):
    report = evaluation.classification_report([0, 1, 1], [0, 1, 0], ["no", "yes"])
    report.extra["model"] = "toy"
    path = evaluation.save(report, tmp_path)
    saved = json.loads(path.read_text())
    assert saved["accuracy"] == pytest.approx(2 / 3, abs=1e-6)
    assert saved["confusion_matrix"] == [[1, 0], [1, 1]]
    assert saved["model"] == "toy"
    assert (tmp_path / evaluation.REPORT_FILE).read_text() == report.text
    png = (tmp_path / evaluation.CONFUSION_FILE).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"


def test_evaluate_predicts_a_dataset_in_order():
    import keras

    from cnnlabs import pipelines

    # A fixed "model" that predicts class 1 for bright images and class 0 for dark ones.
    inputs = keras.Input((2, 2, 1))
    mean = keras.layers.GlobalAveragePooling2D()(inputs)
    logits = keras.layers.Dense(2, kernel_initializer=keras.initializers.Constant([[-10, 10]]),
                                bias_initializer=keras.initializers.Constant([5, -5]))(mean)
    model = keras.Model(inputs, keras.layers.Softmax()(logits))
    x = np.array([0, 255, 255, 0, 255], "uint8").reshape(5, 1, 1, 1) * np.ones((1, 2, 2, 1),
                                                                               "uint8")
    y = np.array([0, 1, 1, 0, 0])
    ds = pipelines.from_arrays(x, y, batch_size=2, training=False)
    report = evaluation.evaluate(model, ds, y, ["dark", "bright"])
    assert report.y_pred.tolist() == [0, 1, 1, 0, 1]
    assert report.accuracy == pytest.approx(0.8)
