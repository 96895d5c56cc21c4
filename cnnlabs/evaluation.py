"""Reports and metrics: the scikit-learn classification report, confusion matrix, results JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

REPORT_FILE = "classification_report.txt"
RESULTS_FILE = "results.json"
CONFUSION_FILE = "confusion_matrix.png"


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


def predict(model: keras.Model, dataset: tf.data.Dataset) -> np.ndarray:
    """Class probabilities for every sample of a batched ``(x, y)`` dataset, in order."""
    return np.asarray(model.predict(dataset.map(lambda x, y: x), verbose=0))


def classification_report(y_true: Sequence[int], y_pred: Sequence[int],
                          class_names: Sequence[str], split: str = "test") -> Report:
    """scikit-learn's classification report and confusion matrix, with class names.

    Every class is listed, including classes absent from ``y_true`` (their
    support is 0), so that reports of different runs line up.

    Raises:
        ValueError: if the arrays differ in length or hold labels outside the class range.
    """
    from sklearn import metrics

    y_true = np.asarray(y_true).astype(int).ravel()
    y_pred = np.asarray(y_pred).astype(int).ravel()
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
             split: str = "test", extra: dict[str, Any] | None = None) -> Report:
    """Predict ``dataset``, build the report, and (with ``run_dir``) save it.

    ``y_true`` must be the labels of ``dataset`` in order (pipelines keep
    evaluation splits unshuffled). Saved files: ``classification_report.txt``,
    ``confusion_matrix.png`` and ``results.json`` (merged with ``extra``).
    """
    probs = predict(model, dataset)
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
