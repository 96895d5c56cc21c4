"""Lab 07 · PneumoniaMNIST: the checks of its exercises and the rubric of its question.

``SOLUTIONS``, ``WRONG`` and ``MODEL_ANSWERS`` as in :mod:`cnnlabs.exercises.lab01`.
The exercises use the lab's setup imports (``np``, ``evaluation`` ...) and its
variables ``model``, ``data`` and ``report`` (the test report whose threshold
``evaluation.evaluate_binary`` chose on the validation split).
"""

from __future__ import annotations

import numpy as np

from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question

#: Two confusion matrices [[TN, FP], [FN, TP]] (rows: true normal, true pneumonia).
_CONFUSIONS = (np.array([[50, 10], [5, 35]]), np.array([[90, 30], [2, 78]]))


def _sens_spec(confusion: np.ndarray) -> tuple[float, float]:
    (tn, fp), (fn, tp) = confusion
    return tp / (tp + fn), tn / (tn + fp)


def _ppv(sensitivity: float, specificity: float, prevalence: float) -> float:
    true_pos = sensitivity * prevalence
    return true_pos / (true_pos + (1 - specificity) * (1 - prevalence))


def _youden(y: np.ndarray, scores: np.ndarray, threshold: float) -> float:
    """Sensitivity + specificity - 1, predicting positive when ``score >= threshold``."""
    predicted = scores >= threshold
    return predicted[y == 1].mean() + (~predicted[y == 0]).mean() - 1


@exercise("07.1", points=2, kind="implement",
          goal="write `sens_spec(confusion)`: the pair (sensitivity, specificity) from a 2x2 "
               "confusion matrix [[TN, FP], [FN, TP]] whose rows are the true classes (normal, "
               "pneumonia)")
def _sensitivity_specificity(a: Answers) -> Feedback:
    def pairs() -> list[tuple[tuple[float, float], tuple[float, float]]]:
        out = []
        for confusion in _CONFUSIONS:
            answer = a.call("sens_spec", confusion.copy())
            try:
                sensitivity, specificity = (float(v) for v in answer)
            except (TypeError, ValueError):
                raise Wrong("`sens_spec` should return two numbers: (sensitivity, "
                            "specificity)") from None
            out.append(((sensitivity, specificity), _sens_spec(confusion)))
        return out

    return a.parts(
        (1, lambda: all(np.isclose(got[0], want[0]) for got, want in pairs()),
         "the sensitivity from `sens_spec` is off: the share of the true pneumonia cases "
         "(second row) that are found"),
        (1, lambda: all(np.isclose(got[1], want[1]) for got, want in pairs()),
         "the specificity from `sens_spec` is off: the share of the true normal cases "
         "(first row) that are cleared"),
    )


@exercise("07.2", points=2, kind="compute",
          goal="a test with sensitivity 0.95 and specificity 0.90: set `ppv_screening` to the "
               "share of its positive results that are right when 5% of the people tested are "
               "ill, and `ppv_clinic` to that share when 50% are")
def _positive_predictive_value(a: Answers) -> Feedback:
    return a.parts(
        (1, lambda: abs(a.number("ppv_screening") - _ppv(0.95, 0.90, 0.05)) < 1e-3,
         "`ppv_screening` is off: among everyone tested, count the true positives (ill and "
         "found) and the false positives (healthy but flagged); the prevalence weighs both"),
        (1, lambda: abs(a.number("ppv_clinic") - _ppv(0.95, 0.90, 0.50)) < 1e-3,
         "`ppv_clinic` is off: the same computation with half of the people ill"),
    )


@exercise("07.3", points=2, kind="implement",
          goal="write `youden_threshold(y_val, scores_val)`: among the validation scores, the "
               "threshold t (positive when score >= t) that maximises sensitivity + "
               "specificity - 1, the highest one when several tie")
def _youden_threshold(a: Answers) -> Feedback:
    from cnnlabs import evaluation

    rng = np.random.default_rng(5)
    y_a = (rng.random(80) < 0.8).astype(int)
    s_a = np.round(np.clip(0.3 * y_a + rng.normal(0.4, 0.2, 80), 0.001, 0.999), 6)
    y_b, s_b = np.array([0, 1, 0, 1]), np.array([0.1, 0.2, 0.3, 0.4])

    def threshold(y: np.ndarray, s: np.ndarray) -> float:
        value = a.call("youden_threshold", y.copy(), s.copy())
        try:
            return float(value)
        except (TypeError, ValueError):
            raise Wrong(f"`youden_threshold` should return one number, got {value!r}") from None

    def optimal() -> bool:
        best = max(_youden(y_a, s_a, t) for t in np.unique(s_a))
        return _youden(y_a, s_a, threshold(y_a, s_a)) >= best - 1e-12

    return a.parts(
        (1, optimal, "`youden_threshold` does not maximise sensitivity + specificity - 1 on "
                     "an 80-case validation set: try every validation score as t"),
        (1, lambda: np.isclose(threshold(y_b, s_b), evaluation.choose_threshold(y_b, s_b)),
         "`youden_threshold` breaks ties wrongly: when several thresholds give the same "
         "value, take the highest"),
    )


@exercise("07.4", points=3, kind="train-and-read", time_limit=120,
          goal="with the lab's `model`, set `val_threshold` to the Youden threshold chosen on "
               "the validation predictions (`evaluation.choose_threshold`), then "
               "`test_sensitivity` and `test_specificity` at that threshold on the test split "
               "(`report.y_score` holds the test scores)")
def _validation_threshold(a: Answers) -> Feedback:
    report = a.lab("report")
    chosen = float(report.extra["threshold"])
    y_test = np.asarray(report.y_true)
    scores = np.asarray(report.y_score, dtype=float)

    def at_their_threshold() -> bool:
        predicted = scores >= a.number("val_threshold")
        sensitivity = predicted[y_test == 1].mean()
        specificity = (~predicted[y_test == 0]).mean()
        return (abs(a.number("test_sensitivity") - sensitivity) < 1e-6
                and abs(a.number("test_specificity") - specificity) < 1e-6)

    return a.parts(
        (2, lambda: abs(a.number("val_threshold") - chosen) < 1e-6,
         "`val_threshold` is not the threshold chosen on the validation split: predict the "
         "validation images, then choose among their scores (never look at the test split "
         "to choose)"),
        (1, at_their_threshold,
         "`test_sensitivity` and `test_specificity` are not those of the test scores at "
         "`val_threshold` (positive when score >= threshold)"),
    )


question("07.5", "Why must the decision threshold be chosen on the validation split and not "
                 "on the test split? What would a screening programme change about the choice?",
         [(1, "choosing on test uses the test labels, so the test figures become optimistic"),
          (1, "the test split must stay unseen to estimate how the model does on new "
              "patients"),
          (1, "screening favours sensitivity: choose the threshold for a target sensitivity "
              "(e.g. 0.95) on validation, accepting lower specificity")])


SOLUTIONS = {
    "07.1": """\
# BEGIN SOLUTION
def sens_spec(confusion):
    \"\"\"(sensitivity, specificity) from [[TN, FP], [FN, TP]] (rows are the true classes).\"\"\"
    (tn, fp), (fn, tp) = confusion
    return tp / (tp + fn), tn / (tn + fp)
# END SOLUTION""",
    "07.2": """\
# BEGIN SOLUTION
# TODO: a fraction: true positives / (true positives + false positives), per person tested
ppv_screening = (0.95 * 0.05) / (0.95 * 0.05 + (1 - 0.90) * (1 - 0.05))
# TODO: a fraction
ppv_clinic = (0.95 * 0.50) / (0.95 * 0.50 + (1 - 0.90) * (1 - 0.50))
# END SOLUTION""",
    "07.3": """\
# BEGIN SOLUTION
def youden_threshold(y_val, scores_val):
    \"\"\"The validation score that maximises Youden's J (the highest one on a tie).\"\"\"
    y_val, scores_val = np.asarray(y_val), np.asarray(scores_val)
    best, best_j = None, -np.inf
    for t in np.unique(scores_val)[::-1]:  # from the highest: a tie keeps the first one
        predicted = scores_val >= t
        j = predicted[y_val == 1].mean() + (~predicted[y_val == 0]).mean() - 1
        if j > best_j:
            best, best_j = float(t), j
    return best
# END SOLUTION""",
    "07.4": """\
# BEGIN SOLUTION
_val_scores = evaluation.predict(model, data.val)[:, 1]
# TODO: a number, from evaluation.choose_threshold on the validation labels and scores
val_threshold = evaluation.choose_threshold(data.y_val, _val_scores)
# TODO: two fractions, at val_threshold on the test labels and report.y_score
test_sensitivity, test_specificity = evaluation.sensitivity_specificity(
    data.y_test, report.y_score, val_threshold)
# END SOLUTION""",
}

MODEL_ANSWERS = {
    "07.5": "A threshold chosen on the test split is fitted to the test labels, so the test "
            "sensitivity and specificity no longer estimate what happens on new patients: "
            "they are optimistic. The test split has to stay untouched until the end. A "
            "screening programme cares most about missed cases, so it would choose the "
            "threshold on validation for a target sensitivity such as 0.95 and accept the "
            "lower specificity (more false alarms) that comes with it.",
}

WRONG = {
    "07.1": [
        WrongAnswer("the pair in the wrong order", """\
def sens_spec(confusion):
    (tn, fp), (fn, tp) = confusion
    return tn / (tn + fp), tp / (tp + fn)""", 0),
        WrongAnswer("specificity taken as 1 - sensitivity", """\
def sens_spec(confusion):
    (tn, fp), (fn, tp) = confusion
    return tp / (tp + fn), 1 - tp / (tp + fn)""", 1),
    ],
    "07.2": [
        WrongAnswer("prevalence ignored", """\
ppv_screening = 0.95 / (0.95 + (1 - 0.90))
ppv_clinic = 0.95 / (0.95 + (1 - 0.90))""", 1),
        WrongAnswer("PPV taken for the sensitivity", """\
ppv_screening = 0.95
ppv_clinic = 0.95""", 0),
    ],
    "07.3": [
        WrongAnswer("the lowest threshold on a tie", """\
def youden_threshold(y_val, scores_val):
    y_val, scores_val = np.asarray(y_val), np.asarray(scores_val)
    best, best_j = None, -np.inf
    for t in np.unique(scores_val):
        predicted = scores_val >= t
        j = predicted[y_val == 1].mean() + (~predicted[y_val == 0]).mean() - 1
        if j > best_j:
            best, best_j = float(t), j
    return best""", 1),
        WrongAnswer("sensitivity alone maximised", """\
def youden_threshold(y_val, scores_val):
    return float(np.min(scores_val))""", 0),
    ],
    "07.4": [
        WrongAnswer("threshold chosen on the test split", """\
val_threshold = evaluation.choose_threshold(data.y_test, report.y_score)
test_sensitivity, test_specificity = evaluation.sensitivity_specificity(
    data.y_test, report.y_score, val_threshold)""", 1),
        WrongAnswer("the default threshold 0.5", """\
val_threshold = 0.5
test_sensitivity, test_specificity = evaluation.sensitivity_specificity(
    data.y_test, report.y_score, val_threshold)""", 1),
    ],
}
