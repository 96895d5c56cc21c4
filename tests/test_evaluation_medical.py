"""Binary medical evaluation: ROC/AUC, sensitivity/specificity, thresholds, baselines, MedMNIST."""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest

from cnnlabs import evaluation, recipes

# A hand example: 4 negatives, 4 positives.
#   threshold  0.8   0.7   0.6   0.55  0.35  0.3   0.2   0.1
#   TPR        1/4   2/4   3/4   3/4   3/4   4/4   4/4   4/4
#   FPR        0     0     0     1/4   2/4   2/4   3/4   4/4
#   Youden J   .25   .50   .75   .50   .25   .50   .25   0
# AUC: 14 of the 16 (positive, negative) pairs are ordered correctly -> 0.875.
Y_VAL = np.array([0, 0, 0, 0, 1, 1, 1, 1])
S_VAL = np.array([0.1, 0.2, 0.35, 0.55, 0.3, 0.6, 0.7, 0.8])


def test_perfect_separator_has_auc_1_and_a_threshold_between_the_classes():
    y, s = [0, 0, 1, 1], [0.1, 0.4, 0.6, 0.9]
    curve = evaluation.roc(y, s)
    assert curve.auc == pytest.approx(1.0)
    assert np.isinf(curve.thresholds[0]) and curve.tpr[0] == 0 and curve.fpr[0] == 0
    assert curve.tpr[-1] == 1 and curve.fpr[-1] == 1
    t = evaluation.choose_threshold(y, s)
    assert 0.4 < t <= 0.6
    assert evaluation.sensitivity_specificity(y, s, t) == (1.0, 1.0)


def test_roc_of_the_hand_example():
    curve = evaluation.roc(Y_VAL, S_VAL)
    assert curve.auc == pytest.approx(0.875)
    assert curve.thresholds[1:].tolist() == sorted(S_VAL.tolist(), reverse=True)
    assert curve.tpr[1:].tolist() == [0.25, 0.5, 0.75, 0.75, 0.75, 1, 1, 1]
    assert curve.fpr[1:].tolist() == [0, 0, 0, 0.25, 0.5, 0.5, 0.75, 1]


def test_roc_accepts_two_column_probabilities():
    probs = np.stack([1 - S_VAL, S_VAL], axis=1)
    assert evaluation.roc(Y_VAL, probs).auc == pytest.approx(0.875)


def test_one_class_input_is_rejected_clearly():
    with pytest.raises(ValueError, match="only class 1"):
        evaluation.roc([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(ValueError, match="both classes"):
        evaluation.sensitivity_specificity([0, 0], [0.2, 0.9], 0.5)
    with pytest.raises(ValueError, match="both classes"):
        evaluation.choose_threshold([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="0 \\(negative\\) or 1"):
        evaluation.roc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="scores"):
        evaluation.roc([0, 1, 1], [0.1, 0.2])


def test_sensitivity_specificity_of_a_known_confusion():
    # At 0.5: positives -> TP 3, FN 1; negatives -> FP 1 (0.6), TN 5.
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    s = [0.9, 0.8, 0.7, 0.2, 0.1, 0.3, 0.6, 0.2, 0.05, 0.4]
    sens, spec = evaluation.sensitivity_specificity(y, s, 0.5)
    assert sens == pytest.approx(3 / 4)
    assert spec == pytest.approx(5 / 6)


def test_a_score_equal_to_the_threshold_is_positive():
    assert evaluation.sensitivity_specificity([0, 1], [0.2, 0.5], 0.5) == (1.0, 1.0)
    assert evaluation.sensitivity_specificity([0, 1], [0.5, 0.7], 0.5) == (1.0, 0.0)


def test_youden_on_the_hand_example():
    t = evaluation.choose_threshold(Y_VAL, S_VAL, method="youden")
    assert t == pytest.approx(0.6)
    sens, spec = evaluation.sensitivity_specificity(Y_VAL, S_VAL, t)
    assert sens + spec - 1 == pytest.approx(0.75)


def test_youden_ties_go_to_the_highest_threshold():
    # J = 0.5 at both 0.4 and 0.2.
    assert evaluation.choose_threshold([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4]) == pytest.approx(0.4)


def test_youden_ties_are_exact_despite_floating_point():
    # J = 3/5 - 0 at 0.9 and 4/5 - 1/5 at 0.7: equal, but 0.8 - 0.2 is 0.6000000000000001
    # in floats, which would pick 0.7 against the documented tie rule.
    y = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    s = [0.9, 0.9, 0.9, 0.7, 0.1, 0.7, 0.1, 0.1, 0.1, 0.1]
    assert evaluation.choose_threshold(y, s) == pytest.approx(0.9)


@pytest.mark.parametrize(("target", "expected"), [(1.0, 0.3), (0.75, 0.6), (0.7, 0.6),
                                                  (0.5, 0.7), (0.25, 0.8)])
def test_highest_threshold_reaching_a_target_sensitivity(target, expected):
    t = evaluation.choose_threshold(Y_VAL, S_VAL, method="sensitivity", target=target)
    assert t == pytest.approx(expected)
    assert evaluation.sensitivity_specificity(Y_VAL, S_VAL, t)[0] >= target


def test_choose_threshold_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Unknown method"):
        evaluation.choose_threshold(Y_VAL, S_VAL, method="f1")
    with pytest.raises(ValueError, match="target"):
        evaluation.choose_threshold(Y_VAL, S_VAL, method="sensitivity")
    with pytest.raises(ValueError, match="target"):
        evaluation.choose_threshold(Y_VAL, S_VAL, method="sensitivity", target=1.5)
    with pytest.raises(ValueError, match="target"):
        evaluation.choose_threshold(Y_VAL, S_VAL, method="youden", target=0.9)


def test_threshold_is_chosen_on_validation_data_only():
    params = list(inspect.signature(evaluation.choose_threshold).parameters)
    assert params == ["y_val", "scores_val", "method", "target"]
    assert "validation" in evaluation.choose_threshold.__doc__.lower()
    t = evaluation.choose_threshold(Y_VAL, S_VAL)
    # A test split on which 0.3 would be the best threshold: the report keeps the val one.
    y_test = [0, 0, 1, 1]
    s_test = [0.1, 0.2, 0.35, 0.5]
    report = evaluation.binary_report(y_test, s_test, t, ["normal", "pneumonia"])
    assert report.extra["threshold"] == pytest.approx(0.6)
    assert report.extra["sensitivity"] == 0.0
    assert evaluation.choose_threshold(y_test, s_test) == pytest.approx(0.35)


def test_majority_baseline_of_the_chest_xray_test_split():
    y = np.array([1] * 390 + [0] * 234)  # 0 = NORMAL, 1 = PNEUMONIA
    assert evaluation.majority_baseline(y) == (pytest.approx(0.625), 1)
    assert evaluation.majority_baseline([0, 1, 1, 2, 2]) == (pytest.approx(0.4), 1)
    with pytest.raises(ValueError):
        evaluation.majority_baseline([])


def test_binary_report_adds_medical_metrics_and_the_baseline():
    probs = np.stack([1 - S_VAL, S_VAL], axis=1)
    report = evaluation.binary_report(Y_VAL, probs, 0.6, ["normal", "pneumonia"], split="val")
    assert report.split == "val"
    assert report.y_pred.tolist() == [0, 0, 0, 0, 0, 1, 1, 1]
    assert report.confusion.tolist() == [[4, 0], [1, 3]]
    assert report.accuracy == pytest.approx(7 / 8)
    assert report.extra["auc"] == pytest.approx(0.875)
    assert report.extra["sensitivity"] == pytest.approx(0.75)
    assert report.extra["specificity"] == pytest.approx(1.0)
    assert report.extra["threshold"] == pytest.approx(0.6)
    assert report.extra["baseline_accuracy"] == pytest.approx(0.5)
    assert report.extra["majority_class"] == "normal"
    text = str(report)
    assert "0.8750" in text and "majority baseline 0.5000" in text
    for name in ("AUC", "sensitivity", "specificity", "threshold", "macro avg"):
        assert name in text
    saved = json.loads(json.dumps(report.to_dict()))
    assert saved["sensitivity"] == pytest.approx(0.75)


def test_binary_report_needs_two_class_names():
    with pytest.raises(ValueError, match="2 class names"):
        evaluation.binary_report(Y_VAL, S_VAL, 0.5, ["a", "b", "c"])


def test_class_weights_for_the_chest_xray_training_counts():
    y = np.array([0] * 1341 + [1] * 3875)  # 1341 normal, 3875 pneumonia; n = 5216
    weights = recipes.class_weights(y)
    assert set(weights) == {0, 1}
    assert weights[0] == pytest.approx(5216 / (2 * 1341))
    assert weights[1] == pytest.approx(5216 / (2 * 3875))
    # Each class carries the same total weight.
    assert weights[0] * 1341 == pytest.approx(weights[1] * 3875)
    assert all(isinstance(k, int) and isinstance(v, float) for k, v in weights.items())


def test_class_weights_match_scikit_learn():
    from sklearn.utils.class_weight import compute_class_weight

    y = np.array([0, 0, 0, 1, 2, 2])
    ours = recipes.class_weights(y)
    theirs = compute_class_weight("balanced", classes=np.array([0, 1, 2]), y=y)
    assert [ours[c] for c in (0, 1, 2)] == pytest.approx(theirs.tolist())
    assert ours == pytest.approx({0: 6 / 9, 1: 2.0, 2: 1.0})


def test_medmnist_binary_class():
    y = np.array([[0], [1], [1], [0]])  # MedMNIST's (N, 1) labels
    probs = np.array([[0.8, 0.2], [0.3, 0.7], [0.6, 0.4], [0.5, 0.5]])
    # Positive when p > 0.5 (MedMNIST's rule): 0, 1, 0, 0 -> 3 of 4 right.
    # AUC: positives (.7, .4) vs negatives (.2, .5): 3 of 4 pairs.
    acc, auc = evaluation.medmnist_metrics(y, probs, "binary-class")
    assert (acc, auc) == (pytest.approx(0.75), pytest.approx(0.75))
    assert evaluation.medmnist_metrics(y.ravel(), probs[:, 1], "binary-class") == (acc, auc)


def test_medmnist_multi_class():
    y = np.array([[0], [1], [2], [2]])
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.5, 0.3], [0.1, 0.6, 0.3], [0.2, 0.2, 0.6]])
    # argmax 0, 1, 1, 2 -> 3 of 4. One-vs-rest AUCs: class 0 -> 1, class 1 -> 2/3,
    # class 2 -> (1 + 0.5 + 1 + 1) / 4 = 0.875 (a tie counts one half).
    acc, auc = evaluation.medmnist_metrics(y, probs, "multi-class")
    assert acc == pytest.approx(0.75)
    assert auc == pytest.approx((1 + 2 / 3 + 0.875) / 3)
    from sklearn.metrics import roc_auc_score

    assert auc == pytest.approx(roc_auc_score(y.ravel(), probs, multi_class="ovr",
                                              average="macro"))
    assert evaluation.medmnist_metrics(y, probs, "ordinal-regression") == (acc, auc)


def test_medmnist_multi_label():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
    probs = np.array([[0.9, 0.2], [0.4, 0.6], [0.6, 0.4], [0.2, 0.7]])
    # Label 0: accuracy 1, AUC 1. Label 1: predictions 0, 1, 0, 1 -> accuracy 1/2;
    # positives (.6, .4) vs negatives (.2, .7) -> AUC 2/4. Means: 0.75 and 0.75.
    acc, auc = evaluation.medmnist_metrics(y, probs, "multi-label, binary-class")
    assert (acc, auc) == (pytest.approx(0.75), pytest.approx(0.75))


def test_medmnist_rejects_bad_tasks_and_one_class_labels():
    with pytest.raises(ValueError, match="Unknown MedMNIST task"):
        evaluation.medmnist_metrics([0, 1], [0.2, 0.8], "binary")
    with pytest.raises(ValueError, match="only one value"):
        evaluation.medmnist_metrics([1, 1], [0.2, 0.8], "binary-class")
    with pytest.raises(ValueError, match="class 2"):
        evaluation.medmnist_metrics([0, 1, 1], np.eye(3), "multi-class")
    with pytest.raises(ValueError, match="same \\(N, L\\) shape"):
        evaluation.medmnist_metrics(np.zeros((2, 2)), np.zeros((2, 3)),
                                    "multi-label, binary-class")
    with pytest.raises(ValueError, match="predictions"):
        evaluation.medmnist_metrics([0, 1, 1], [0.2, 0.8], "binary-class")


def _score_model():
    """A 'model' whose positive-class probability is its single input value."""
    import keras

    inputs = keras.Input((1,))
    return keras.Model(inputs, keras.layers.Concatenate()([1.0 - inputs, inputs]))


def _dataset(scores, labels):
    import tensorflow as tf

    x = np.asarray(scores, dtype="float32").reshape(-1, 1)
    return tf.data.Dataset.from_tensor_slices((x, np.asarray(labels))).batch(3)


def test_evaluate_binary_takes_the_threshold_from_val_and_reports_on_test(tmp_path):
    model = _score_model()
    # Test split: at the val threshold 0.6, 3 of 4 positives and 3 of 4 negatives are right;
    # at 0.5 one more negative is wrong.
    y_test = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    s_test = np.array([0.1, 0.3, 0.55, 0.65, 0.4, 0.6, 0.9, 0.95])
    report = evaluation.evaluate_binary(model, _dataset(S_VAL, Y_VAL), Y_VAL,
                                        _dataset(s_test, y_test), y_test,
                                        ["normal", "pneumonia"], run_dir=tmp_path)
    assert report.extra["threshold"] == pytest.approx(0.6)
    assert report.extra["threshold_method"] == "youden"
    assert report.extra["val_auc"] == pytest.approx(0.875)
    assert report.extra["sensitivity"] == pytest.approx(0.75)
    assert report.extra["specificity"] == pytest.approx(0.75)
    assert report.accuracy == pytest.approx(0.75)
    assert report.extra["accuracy_at_0.5"] == pytest.approx(5 / 8)  # 0.55 and 0.65 > 0.5, 0.4 < 0.5
    assert report.extra["medmnist_auc"] == pytest.approx(report.extra["auc"])
    # 13 of the 16 (positive, negative) pairs are ordered correctly.
    assert report.extra["auc"] == pytest.approx(13 / 16)
    np.testing.assert_allclose(report.y_score, s_test, atol=1e-6)
    for name in ("results.json", "classification_report.txt", "confusion_matrix.png",
                 "roc_curve.png"):
        assert (tmp_path / name).is_file(), name
    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["threshold"] == pytest.approx(0.6) and saved["baseline_accuracy"] == 0.5


def test_evaluate_binary_with_a_target_sensitivity():
    model = _score_model()
    report = evaluation.evaluate_binary(model, _dataset(S_VAL, Y_VAL), Y_VAL,
                                        _dataset(S_VAL, Y_VAL), Y_VAL, ["normal", "pneumonia"],
                                        method="sensitivity", target=1.0)
    assert report.extra["threshold"] == pytest.approx(0.3)
    assert report.extra["sensitivity"] == 1.0


def test_roc_plot_marks_the_operating_point(tmp_path):
    from cnnlabs import plots

    curve = evaluation.roc(Y_VAL, S_VAL)
    fig = plots.roc_curve({"a": curve, "b": curve}, path=tmp_path / "roc.png", threshold=0.6,
                          operating_point=(0.0, 0.75))
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["a (AUC 0.875)", "b (AUC 0.875)", "chance (AUC 0.5)",
                      "operating point (threshold 0.600)"]
    assert (tmp_path / "roc.png").stat().st_size > 0


@pytest.mark.parametrize("call", [
    lambda: evaluation.classification_report([0, 1, 1, 0], [[.2], [.9], [.7], [.4]], ["a", "b"]),
    lambda: evaluation.classification_report([[1, 0], [0, 1]], [0, 1], ["a", "b"]),
    lambda: evaluation.majority_baseline([[1, 0], [0, 1], [0, 1]]),
    lambda: recipes.class_weights([[1, 0], [0, 1], [0, 1]]),
    lambda: recipes.class_weights([0.0, 0.7, 1.0]),
    lambda: evaluation.medmnist_metrics([0.5, 1, 0, 1], [.2, .8, .1, .9], "binary-class"),
    lambda: evaluation.medmnist_metrics([[1, 0], [0, 1], [1, 0]], np.eye(3)[[0, 1, 0]],
                                        "multi-class"),
    lambda: evaluation.roc([[1, 0], [0, 1]], [0.2, 0.8]),
])
def test_probabilities_and_one_hot_rows_are_refused_as_labels(call):
    # A plain astype(int) would truncate 0.9 to 0 or flatten one-hot rows into
    # twice as many labels, and report a wrong figure without a word.
    with pytest.raises(ValueError, match="class indices"):
        call()


def test_medmnist_shaped_and_float_whole_labels_are_accepted():
    column = np.array([[1], [0], [1]], dtype=np.uint8)  # MedMNIST's (N, 1)
    assert evaluation.majority_baseline(column) == (pytest.approx(2 / 3), 1)
    assert recipes.class_weights(np.array([0.0, 1.0, 1.0])) == {0: 1.5, 1: 0.75}
    report = evaluation.classification_report(column, np.array([1.0, 1.0, 1.0]), ["n", "p"])
    assert report.accuracy == pytest.approx(2 / 3)
