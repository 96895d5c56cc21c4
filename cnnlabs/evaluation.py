"""Reports and metrics: the scikit-learn classification report, confusion matrix, results JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlabs.recipes import class_indices

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

REPORT_FILE = "classification_report.txt"
RESULTS_FILE = "results.json"
CONFUSION_FILE = "confusion_matrix.png"
ROC_FILE = "roc_curve.png"


@dataclass
class Report:
    """The evaluation of one model on one split."""

    split: str
    accuracy: float
    n: int
    text: str
    per_class: dict[str, Any]
    confusion: np.ndarray
    class_names: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    extra: dict[str, Any] = field(default_factory=dict)
    #: Positive-class scores (binary reports), for ROC curves and Grad-CAM picks.
    y_score: np.ndarray | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no per-sample arrays)."""
        return {
            "split": self.split,
            "n": self.n,
            "accuracy": round(self.accuracy, 6),
            "per_class": self.per_class,
            "confusion_matrix": self.confusion.tolist(),
            "class_names": self.class_names,
            **self.extra,
        }

    def __str__(self) -> str:
        return self.text


#: Test-time augmentation levels: the views each image is predicted in, and their weights.
TTA_LEVELS = {
    0: "the image alone",
    1: "the image and its mirror, 1/2 each",
    2: "the image and its mirror, 1/4 each, and the image shifted by one pixel down and right "
       "and by one pixel up and left (reflection fills in), and their mirrors, 1/8 each",
}


def tta_views(level: int) -> list[tuple[bool, int, float]]:
    """The views of test-time augmentation ``level``: ``(mirrored, shift, weight)`` each.

    ``shift`` moves the image by that many pixels down and right (negative: up and
    left), as airbench's 1-pixel translations do; a mirrored view mirrors the shifted
    image.

    Raises:
        ValueError: for a level not in :data:`TTA_LEVELS`.
    """
    if level not in TTA_LEVELS:
        raise ValueError(f"tta must be 0 (none), 1 (mirror) or 2 (mirror and 1-pixel shifts); "
                         f"got {level!r}.")
    if level == 0:
        return [(False, 0, 1.0)]
    if level == 1:
        return [(False, 0, 0.5), (True, 0, 0.5)]
    return [(False, 0, 0.25), (True, 0, 0.25),
            *((mirror, shift, 0.125) for shift in (1, -1) for mirror in (False, True))]


def _view(mirror: bool, shift: int):
    """The batch map of one TTA view: shift by ``shift`` pixels (reflection), then mirror."""
    import tensorflow as tf

    from cnnlabs import pipelines

    def view(images: tf.Tensor) -> tf.Tensor:
        if shift:
            offsets = tf.fill(tf.stack([tf.shape(images)[0], 2]), shift)
            images = pipelines.shift_images(images, offsets, abs(shift), mode="REFLECT")
        return tf.reverse(images, axis=[2]) if mirror else images

    return view


def predict(model: keras.Model, dataset: tf.data.Dataset, tta: int = 0) -> np.ndarray:
    """Class probabilities for every sample of a batched ``(x, y)`` dataset, in order.

    With test-time augmentation (``tta``, :data:`TTA_LEVELS`) the model sees every
    image in several views, and their log-probabilities are averaged with the views'
    weights and turned back into probabilities. Averaging log-probabilities ranks the
    classes as averaging the logits does (airbench averages logits): each view's
    log-softmax differs from its logits by one number shared by all classes.
    """
    images = dataset.map(lambda x, y: x)
    if tta == 0:
        return np.asarray(model.predict(images, verbose=0))
    mean = 0.0
    for mirror, shift, weight in tta_views(tta):
        view = images.map(_view(mirror, shift))
        probabilities = np.asarray(model.predict(view, verbose=0), "float64")
        mean = mean + weight * np.log(np.maximum(probabilities, np.finfo("float64").tiny))
    scores = np.exp(mean - mean.max(axis=1, keepdims=True))
    return (scores / scores.sum(axis=1, keepdims=True)).astype("float32")


def classification_report(y_true: Sequence[int], y_pred: Sequence[int],
                          class_names: Sequence[str], split: str = "test") -> Report:
    """scikit-learn's classification report and confusion matrix, with class names.

    Every class is listed, including classes absent from ``y_true`` (their
    support is 0), so that reports of different runs line up.

    Raises:
        ValueError: if the arrays differ in length, are not class indices (one-hot rows,
            probabilities) or hold labels outside the class range.
    """
    from sklearn import metrics

    y_true = class_indices(y_true, "y_true")
    y_pred = class_indices(y_pred, "y_pred")
    if len(y_true) != len(y_pred):
        raise ValueError(f"{len(y_true)} true labels but {len(y_pred)} predictions.")
    if len(y_true) == 0:
        raise ValueError("Nothing to evaluate: no samples.")
    k = len(class_names)
    bad = (y_true < 0) | (y_true >= k) | (y_pred < 0) | (y_pred >= k)
    if bad.any():
        raise ValueError(f"Labels must be in 0..{k - 1} for {k} class names.")
    labels = list(range(k))
    names = [str(c) for c in class_names]
    text = metrics.classification_report(y_true, y_pred, labels=labels, target_names=names,
                                         digits=4, zero_division=0)
    per_class = metrics.classification_report(y_true, y_pred, labels=labels, target_names=names,
                                              output_dict=True, zero_division=0)
    return Report(
        split=split,
        accuracy=float(metrics.accuracy_score(y_true, y_pred)),
        n=len(y_true),
        text=text,
        per_class=per_class,
        confusion=metrics.confusion_matrix(y_true, y_pred, labels=labels),
        class_names=names,
        y_true=y_true,
        y_pred=y_pred,
    )


def evaluate(model: keras.Model, dataset: tf.data.Dataset, y_true: Sequence[int],
             class_names: Sequence[str], run_dir: Path | str | None = None,
             split: str = "test", extra: dict[str, Any] | None = None,
             tta: int = 0) -> Report:
    """Predict ``dataset``, build the report, and (with ``run_dir``) save it.

    ``y_true`` must be the labels of ``dataset`` in order (pipelines keep
    evaluation splits unshuffled). Saved files: ``classification_report.txt``,
    ``confusion_matrix.png`` and ``results.json`` (merged with ``extra``).
    ``tta`` is the test-time augmentation level of :func:`predict`.
    """
    probs = predict(model, dataset, tta=tta)
    report = classification_report(y_true, probs.argmax(axis=1), class_names, split=split)
    report.extra.update(extra or {})
    if run_dir is not None:
        save(report, run_dir)
    return report


def save(report: Report, run_dir: Path | str) -> Path:
    """Write the report's text, confusion-matrix plot and JSON into ``run_dir``."""
    from cnnlabs import plots

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / REPORT_FILE).write_text(report.text)
    plots.confusion_matrix(report.confusion, report.class_names, path=run_dir / CONFUSION_FILE,
                           title=f"Confusion matrix ({report.split}, n={report.n})")
    path = run_dir / RESULTS_FILE
    path.write_text(json.dumps(report.to_dict(), indent=2))
    return path


# --- Binary (medical) evaluation: ROC/AUC, sensitivity/specificity, thresholds, baselines ---

#: MedMNIST task names understood by :func:`medmnist_metrics` ("ordinal-regression" is
#: scored like "multi-class", as MedMNIST's own evaluator does).
MEDMNIST_TASKS = ("binary-class", "multi-class", "multi-label, binary-class",
                  "ordinal-regression")
THRESHOLD_METHODS = ("youden", "sensitivity")


@dataclass
class RocCurve:
    """A ROC curve: false/true positive rates at each threshold, and the area under it.

    ``thresholds`` decrease; point ``i`` predicts positive when ``score >= thresholds[i]``.
    The first point (threshold ``inf``) predicts nothing positive.
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float


def _binary_labels(y_true: Sequence[int] | np.ndarray, n: int | None = None) -> np.ndarray:
    """``y_true`` as a 1-D int array of 0/1 labels (1 = positive)."""
    y = class_indices(y_true, "y_true")
    if y.size == 0:
        raise ValueError("Nothing to evaluate: no samples.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("Binary labels must be 0 (negative) or 1 (positive).")
    if n is not None and len(y) != n:
        raise ValueError(f"{len(y)} true labels but {n} scores.")
    return y.astype(int)


def _positive_scores(scores: Sequence[float] | np.ndarray) -> np.ndarray:
    """Scores of the positive class: accepts ``(N,)``, ``(N, 1)`` or ``(N, 2)`` (column 1)."""
    s = np.asarray(scores, dtype=float)
    if s.ndim == 2 and s.shape[1] == 2:
        s = s[:, 1]
    elif s.ndim == 2 and s.shape[1] == 1:
        s = s[:, 0]
    if s.ndim != 1:
        raise ValueError(f"Expected scores of shape (N,), (N, 1) or (N, 2), got {s.shape}.")
    if not np.isfinite(s).all():
        raise ValueError("Scores must be finite (no NaN or inf).")
    return s


def _both_classes(y: np.ndarray, what: str) -> None:
    if len(np.unique(y)) < 2:
        raise ValueError(f"{what} needs both classes in y_true, but only class "
                         f"{int(y[0])} is present.")


def roc(y_true: Sequence[int], scores: Sequence[float] | np.ndarray) -> RocCurve:
    """The ROC curve and its AUC for binary labels (1 = positive) and positive-class scores.

    ``scores`` may be ``(N,)`` positive-class scores or ``(N, 2)`` class probabilities.

    Raises:
        ValueError: if only one class is present in ``y_true`` (the ROC is then undefined),
            or the shapes or labels are wrong.
    """
    from sklearn import metrics

    s = _positive_scores(scores)
    y = _binary_labels(y_true, len(s))
    _both_classes(y, "A ROC curve")
    fpr, tpr, thresholds = metrics.roc_curve(y, s, drop_intermediate=False)
    return RocCurve(fpr=fpr, tpr=tpr, thresholds=thresholds,
                    auc=float(metrics.roc_auc_score(y, s)))


def sensitivity_specificity(y_true: Sequence[int], scores: Sequence[float] | np.ndarray,
                            threshold: float) -> tuple[float, float]:
    """``(sensitivity, specificity)`` predicting positive (class 1) when ``score >= threshold``.

    Sensitivity = TP / (TP + FN) (recall of the positive class); specificity = TN / (TN + FP).

    Raises:
        ValueError: if ``y_true`` lacks either class (one of the two is then undefined).
    """
    s = _positive_scores(scores)
    y = _binary_labels(y_true, len(s))
    _both_classes(y, "Sensitivity and specificity")
    pred = s >= threshold
    pos, neg = y == 1, y == 0
    return float(pred[pos].mean()), float((~pred[neg]).mean())


def choose_threshold(y_val: Sequence[int], scores_val: Sequence[float] | np.ndarray,
                     method: str = "youden", target: float | None = None) -> float:
    """Pick a decision threshold from VALIDATION labels and scores only.

    Choose the threshold on the validation split and then apply it, unchanged, to the
    test split; choosing it on test data would leak the test labels into the model and
    overstate its results. This function sees only the arrays it is given: pass it
    validation data.

    Candidates are the distinct validation scores; the result is one of them, used as
    "positive when ``score >= threshold``".

    Args:
        y_val: validation labels (1 = positive).
        scores_val: validation positive-class scores, ``(N,)`` or ``(N, 2)``.
        method: ``"youden"`` maximises Youden's J = sensitivity + specificity - 1 (ties go
            to the highest threshold); ``"sensitivity"`` returns the highest threshold whose
            validation sensitivity is at least ``target``.
        target: the sensitivity to reach, in (0, 1]; required by ``"sensitivity"`` only.

    Raises:
        ValueError: for an unknown method, a missing or out-of-range target, or
            validation labels with only one class.
    """
    if method not in THRESHOLD_METHODS:
        raise ValueError(f"Unknown method {method!r}; use one of {THRESHOLD_METHODS}.")
    if method == "sensitivity":
        if target is None or not 0 < target <= 1:
            raise ValueError(f"method='sensitivity' needs a target in (0, 1], got {target!r}.")
    elif target is not None:
        raise ValueError("target is used only with method='sensitivity'.")
    curve = roc(y_val, scores_val)
    # Skip point 0 (threshold inf: nothing predicted positive).
    fpr, tpr, thresholds = curve.fpr[1:], curve.tpr[1:], curve.thresholds[1:]
    if method == "youden":
        # J * P * N = TP * N - FP * P, in exact integers: float J values that tie in
        # exact arithmetic can differ in the last bit and break the tie rule.
        y = _binary_labels(y_val)
        n_pos, n_neg = int(y.sum()), int(len(y) - y.sum())
        tp, fp = np.rint(tpr * n_pos).astype(np.int64), np.rint(fpr * n_neg).astype(np.int64)
        i = int(np.argmax(tp * n_neg - fp * n_pos))  # first maximum = highest threshold
    else:
        i = int(np.flatnonzero(tpr >= target - 1e-12)[0])  # tpr reaches 1 at the last point
    return float(thresholds[i])


def majority_baseline(y: Sequence[int] | np.ndarray) -> tuple[float, int]:
    """``(accuracy, majority_class)`` of always predicting the most frequent class of ``y``.

    A model must beat this to have learned anything: on the Kaggle chest X-ray test split
    (390 pneumonia, 234 normal) it is 390 / 624 = 0.625. Ties go to the smaller label.
    """
    labels = class_indices(y, "y")
    if labels.size == 0:
        raise ValueError("Nothing to evaluate: no samples.")
    if (labels < 0).any():
        raise ValueError("Labels must be non-negative class indices.")
    counts = np.bincount(labels)
    majority = int(np.argmax(counts))
    return float(counts[majority] / labels.size), majority


def binary_report(y_true: Sequence[int], scores: Sequence[float] | np.ndarray,
                  threshold: float, class_names: Sequence[str], split: str = "test") -> Report:
    """The classification report of a binary classifier at ``threshold``, with medical metrics.

    Predicts class 1 (the positive class, ``class_names[1]``) when ``score >= threshold``.
    ``threshold`` should come from :func:`choose_threshold` on validation data. The
    report's ``extra`` holds ``auc``, ``sensitivity``, ``specificity``, ``threshold``,
    ``baseline_accuracy`` and ``majority_class``; its text shows the accuracy next to
    the majority-class baseline.
    """
    if len(class_names) != 2:
        raise ValueError(f"A binary report needs 2 class names, got {len(class_names)}.")
    s = _positive_scores(scores)
    y = _binary_labels(y_true, len(s))
    curve = roc(y, s)
    sens, spec = sensitivity_specificity(y, s, threshold)
    base_acc, majority = majority_baseline(y)
    report = classification_report(y, (s >= threshold).astype(int), class_names, split=split)
    names = report.class_names
    report.extra.update({
        "auc": curve.auc,
        "sensitivity": sens,
        "specificity": spec,
        "threshold": float(threshold),
        "baseline_accuracy": base_acc,
        "majority_class": names[majority],
    })
    report.text += (
        f"\naccuracy           {report.accuracy:.4f}   "
        f"(majority baseline {base_acc:.4f}: always '{names[majority]}')\n"
        f"AUC                {curve.auc:.4f}\n"
        f"sensitivity        {sens:.4f}   (recall of '{names[1]}')\n"
        f"specificity        {spec:.4f}   (recall of '{names[0]}')\n"
        f"threshold          {float(threshold):.4f}   (positive when score >= threshold)\n"
    )
    return report


def medmnist_metrics(y_true: np.ndarray | Sequence, probabilities: np.ndarray | Sequence,
                     task: str) -> tuple[float, float]:
    """MedMNIST's ``(ACC, AUC)`` for a task, computed with scikit-learn.

    Follows the definitions of MedMNIST's evaluator:

    - ``"binary-class"``: ``probabilities`` is ``(N, 2)`` or ``(N,)`` of the positive
      class; ACC predicts positive when that probability is > 0.5; AUC is the ROC AUC.
    - ``"multi-class"`` (and ``"ordinal-regression"``): ``(N, C)``; ACC of the argmax;
      AUC is the one-vs-rest AUC averaged over classes (macro).
    - ``"multi-label, binary-class"``: ``y_true`` and ``probabilities`` are ``(N, L)``;
      ACC is the mean over labels of each label's accuracy at > 0.5; AUC is the mean of
      the per-label AUCs.

    ``y_true`` may be ``(N,)`` or MedMNIST's ``(N, 1)`` for the single-label tasks.

    Raises:
        ValueError: for an unknown task, mismatched shapes, or a class/label with only
            one value in ``y_true`` (its AUC is undefined).
    """
    from sklearn import metrics

    if task not in MEDMNIST_TASKS:
        raise ValueError(f"Unknown MedMNIST task {task!r}; use one of {MEDMNIST_TASKS}.")
    y = np.asarray(y_true)
    p = np.asarray(probabilities, dtype=float)
    if len(y) == 0:
        raise ValueError("Nothing to evaluate: no samples.")
    if len(y) != len(p):
        raise ValueError(f"{len(y)} true labels but {len(p)} predictions.")

    def auc(labels: np.ndarray, score: np.ndarray, what: str) -> float:
        if len(np.unique(labels)) < 2:
            raise ValueError(f"AUC is undefined for {what}: y_true holds only one value.")
        return float(metrics.roc_auc_score(labels, score))

    if task == "multi-label, binary-class":
        if y.shape != p.shape or y.ndim != 2:
            raise ValueError(f"Multi-label needs y_true and probabilities of the same (N, L) "
                             f"shape, got {y.shape} and {p.shape}.")
        y = y.astype(int)
        pred = (p > 0.5).astype(int)
        acc = float(np.mean([(y[:, j] == pred[:, j]).mean() for j in range(y.shape[1])]))
        aucs = [auc(y[:, j], p[:, j], f"label {j}") for j in range(y.shape[1])]
        return acc, float(np.mean(aucs))

    y = class_indices(y, "y_true")
    if task == "binary-class":
        s = _positive_scores(p)
        _binary_labels(y)
        return float(((s > 0.5).astype(int) == y).mean()), auc(y, s, "the positive class")

    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"Multi-class needs probabilities of shape (N, C), got {p.shape}.")
    if (y < 0).any() or (y >= p.shape[1]).any():
        raise ValueError(f"Labels must be in 0..{p.shape[1] - 1} for {p.shape[1]} classes.")
    acc = float((p.argmax(axis=1) == y).mean())
    aucs = [auc((y == c).astype(int), p[:, c], f"class {c}") for c in range(p.shape[1])]
    return acc, float(np.mean(aucs))


def evaluate_binary(model: keras.Model, val: tf.data.Dataset, y_val: Sequence[int],
                    test: tf.data.Dataset, y_test: Sequence[int], class_names: Sequence[str],
                    run_dir: Path | str | None = None, method: str = "youden",
                    target: float | None = None, extra: dict[str, Any] | None = None) -> Report:
    """Evaluate a two-class model the clinical way: threshold from val, report on test.

    The decision threshold is chosen on the validation predictions only
    (:func:`choose_threshold` with ``method``/``target``) and then applied unchanged
    to the test predictions (:func:`binary_report`: accuracy next to the majority
    baseline, AUC, sensitivity, specificity). ``extra`` also gets the accuracy at the
    plain 0.5 threshold and MedMNIST's ACC/AUC, so both conventions can be quoted.
    With ``run_dir`` the report is saved (:func:`save`) and a ROC plot is added.
    """
    p_val = predict(model, val)
    p_test = predict(model, test)
    threshold = choose_threshold(y_val, p_val, method=method, target=target)
    report = binary_report(y_test, p_test, threshold, class_names, split="test")
    acc_05, auc = medmnist_metrics(y_test, p_test, "binary-class")
    report.extra.update({
        "threshold_method": method,
        "val_auc": roc(y_val, p_val).auc,
        "accuracy_at_0.5": acc_05,
        "medmnist_acc": acc_05,
        "medmnist_auc": auc,
        **(extra or {}),
    })
    report.text += f"accuracy at 0.5    {acc_05:.4f}   (MedMNIST's ACC convention)\n"
    report.y_score = _positive_scores(p_test)
    if run_dir is not None:
        save(report, run_dir)
        from cnnlabs import plots

        plots.roc_curve(roc(y_test, p_test), path=Path(run_dir) / ROC_FILE,
                        title=f"ROC (test, n={report.n})", threshold=threshold,
                        operating_point=(1 - report.extra["specificity"],
                                         report.extra["sensitivity"]))
    return report
