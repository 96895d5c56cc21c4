"""Figures: training curves, montages, confusion matrices, ROC curves, misclassified samples.

Every function draws with matplotlib's object API (no pyplot, so that training
callbacks neither open windows nor leak memory) and returns the ``Figure``. With
``path`` it saves a PNG there. Without one, inside a notebook (Jupyter, Colab)
the figure shows where it is made, whether or not the call is the cell's last
expression, and only once: returning it as the last expression shows nothing more.
"""

from __future__ import annotations

import functools
import io
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Resolution of saved and shown figures, in dots per inch.
DPI = 110


@functools.cache
def _notebook_figure() -> type:
    """The ``Figure`` subclass of this module: it shows itself in a notebook at most once."""
    from matplotlib.figure import Figure

    class NotebookFigure(Figure):
        """A matplotlib ``Figure`` that IPython displays once, as a PNG."""

        shown = False

        def _ipython_display_(self) -> None:
            if self.shown:
                return
            self.shown = True
            from IPython.display import Image, display

            buffer = io.BytesIO()
            self.savefig(buffer, format="png", dpi=DPI)
            display(Image(data=buffer.getvalue(), format="png"))

    return NotebookFigure


def in_notebook() -> bool:
    """True inside a Jupyter or Colab kernel (not a terminal IPython, not a script)."""
    if "ipykernel" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def _figure(ncols: int = 1, nrows: int = 1, size: tuple[float, float] = (6, 4)):
    fig = _notebook_figure()(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def _finish(fig: Figure, path: Path | str | None) -> Figure:
    """Save ``fig`` to ``path``; without a path, show it now when in a notebook."""
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=DPI)
    elif in_notebook():
        fig._ipython_display_()
    return fig


def training_curves(history: Sequence[Mapping[str, float]] | Mapping[str, Sequence[float]],
                    path: Path | str | None = None, title: str = "Training") -> Figure:
    """Loss and accuracy per epoch, train against validation.

    ``history`` is either the rows of ``history.json`` or a Keras
    ``History.history`` dict.
    """
    if isinstance(history, Mapping):
        keys = list(history)
        rows = [{k: history[k][i] for k in keys} for i in range(len(history[keys[0]]))]
        for i, row in enumerate(rows, start=1):
            row.setdefault("epoch", i)
    else:
        rows = list(history)
    fig, axes = _figure(2, 1, (10, 3.8))
    epochs = [row["epoch"] for row in rows]
    for ax, metric in zip(axes[0], ("loss", "accuracy"), strict=True):
        for prefix, style in (("", "-o"), ("val_", "--o")):
            key = prefix + metric
            if rows and key in rows[0]:
                ax.plot(epochs, [row[key] for row in rows], style, ms=3,
                        label="validation" if prefix else "train")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _finish(fig, path)


def compare_curves(histories: Mapping[str, Sequence[Mapping[str, float]]],
                   metrics: Sequence[str] = ("loss", "val_accuracy"),
                   path: Path | str | None = None, title: str = "Comparison") -> Figure:
    """One panel per metric, one line per run: ``histories`` maps a label to history rows."""
    fig, axes = _figure(len(metrics), 1, (5 * len(metrics), 3.8))
    for ax, metric in zip(axes[0], metrics, strict=True):
        for label, rows in histories.items():
            rows = list(rows)
            if rows and metric in rows[0]:
                ax.plot([row["epoch"] for row in rows], [row[metric] for row in rows], "-o",
                        ms=3, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric.replace("_", " "))
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    return _finish(fig, path)



def _show_images(axes: Any, images: Any) -> Iterator[tuple[int, Any]]:
    """Each image drawn on its axes of a grid (greyscale for one channel), all axes off.

    Yields ``(index, axes)`` of the drawn images, for their titles or boxes.
    """
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= len(images):
            continue
        image = np.asarray(images[i])
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        yield i, ax

def montage(images: np.ndarray, labels: Sequence[int] | None = None,
            class_names: Sequence[str] | None = None, ncols: int = 8,
            path: Path | str | None = None, title: str | None = None) -> Figure:
    """A grid of images, each titled with its class name when labels are given."""
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = _figure(ncols, nrows, (1.3 * ncols, 1.5 * nrows))
    for i, ax in _show_images(axes, images):
        if labels is not None:
            label = int(labels[i])
            ax.set_title(class_names[label] if class_names else str(label), fontsize=9)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)


def confusion_matrix(matrix: np.ndarray, class_names: Sequence[str],
                     path: Path | str | None = None, normalise: bool = False,
                     title: str = "Confusion matrix") -> Figure:
    """A labelled confusion matrix (rows: true class, columns: predicted class)."""
    matrix = np.asarray(matrix)
    shown = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1) if normalise else matrix
    size = max(4.0, 0.55 * len(class_names) + 2)
    fig, axes = _figure(1, 1, (size, size))
    ax = axes[0, 0]
    im = ax.imshow(shown, cmap="Blues")
    fig.colorbar(im, ax=ax, shrink=0.8)
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right")
    ax.set_yticks(ticks, class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = shown.max() / 2 if shown.size else 0
    for (i, j), value in np.ndenumerate(shown):
        text = f"{value:.2f}" if normalise else f"{int(value)}"
        ax.text(j, i, text, ha="center", va="center", fontsize=8,
                color="white" if value > threshold else "black")
    ax.set_title(title)
    return _finish(fig, path)


def misclassified(images: np.ndarray, y_true: np.ndarray, y_pred: np.ndarray,
                  class_names: Sequence[str], limit: int = 16, ncols: int = 8,
                  path: Path | str | None = None) -> Figure:
    """The first ``limit`` misclassified images, titled "true -> predicted".

    The figure's title gives how many are shown out of how many were misclassified.
    """
    all_wrong = np.flatnonzero(np.asarray(y_true) != np.asarray(y_pred))
    wrong = all_wrong[:limit]
    n = max(len(wrong), 1)
    nrows = -(-n // ncols)
    fig, axes = _figure(ncols, nrows, (1.4 * ncols, 1.6 * nrows))
    for ax in axes.flat:
        ax.axis("off")
    for ax, idx in zip(axes.flat, wrong, strict=False):
        image = np.asarray(images[idx])
        if image.ndim == 3 and image.shape[-1] == 1:
            image = image[..., 0]
        ax.imshow(image, cmap="gray" if image.ndim == 2 else None)
        ax.set_title(f"{class_names[y_true[idx]]} -> {class_names[y_pred[idx]]}", fontsize=9)
    shown = (f"{len(wrong)} misclassified" if len(wrong) == len(all_wrong)
             else f"the first {len(wrong)} of {len(all_wrong)} misclassified")
    fig.suptitle(f"{shown} (true -> predicted)")
    return _finish(fig, path)


def augmentation_grid(images: np.ndarray, names: Sequence[str], copies: int = 6, seed: int = 0,
                      path: Path | str | None = None) -> Figure:
    """Each image in ``images`` (a row each), then ``copies`` augmented versions of it.

    ``images`` are uint8 ``(N, H, W, C)``; the augmentation is exactly the one
    the training pipeline applies for ``names`` (``pipelines.augmenter``).
    """
    from cnnlabs import pipelines

    images = np.asarray(images)
    aug = pipelines.augmenter(names, images.shape[1:], seed=seed)
    batch = images.astype("float32") / 255.0
    variants = [np.asarray(aug(batch, training=True)).clip(0, 1) for _ in range(copies)]
    fig, axes = _figure(copies + 1, len(images), (1.4 * (copies + 1), 1.5 * len(images)))
    for row, image in enumerate(batch):
        shown = [image] + [v[row] for v in variants]
        for col, picture in enumerate(shown):
            ax = axes[row, col]
            ax.axis("off")
            ax.imshow(picture[..., 0] if picture.shape[-1] == 1 else picture,
                      cmap="gray" if picture.shape[-1] == 1 else None, vmin=0, vmax=1)
            if row == 0:
                ax.set_title("original" if col == 0 else f"#{col}", fontsize=9)
    fig.suptitle("augmentation: " + (", ".join(names) or "none"))
    return _finish(fig, path)


def roc_curve(curves: object | Mapping[str, object], path: Path | str | None = None,
              title: str = "ROC curve", threshold: float | None = None,
              operating_point: tuple[float, float] | None = None) -> Figure:
    """ROC curve(s): true positive rate (sensitivity) against false positive rate.

    ``curves`` is one ``evaluation.RocCurve`` or a mapping of labels to them (to
    compare models); each legend entry carries its AUC. ``operating_point``
    ``(fpr, tpr)`` marks where the chosen ``threshold`` puts the classifier.
    """
    named = curves if isinstance(curves, Mapping) else {"model": curves}
    fig, axes = _figure(1, 1, (5, 5))
    ax = axes[0, 0]
    for label, curve in named.items():
        ax.plot(curve.fpr, curve.tpr, label=f"{label} (AUC {curve.auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance (AUC 0.5)")
    if operating_point is not None:
        shown = "" if threshold is None else f" (threshold {threshold:.3f})"
        ax.plot(*operating_point, "o", color="black", label=f"operating point{shown}")
    ax.set_xlabel("false positive rate (1 - specificity)")
    ax.set_ylabel("true positive rate (sensitivity)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.01)
    ax.legend(loc="lower right", fontsize=8)
    ax.set_title(title)
    return _finish(fig, path)


def draw_boxes(ax: object, boxes: np.ndarray | Sequence, classes: Sequence[int] | None = None,
               class_names: Sequence[str] | None = None, scores: Sequence[float] | None = None,
               color: str = "lime", linestyle: str = "-", label_below: bool = False) -> None:
    """Draw pixel boxes ``(N, 4)`` ``xyxy`` on a matplotlib ``Axes`` showing the image.

    Each box is labelled with its class name (and score, when given), above its top
    edge, or below its bottom edge with ``label_below``. Pixel column
    ``j`` covers ``[j, j + 1)``, while ``imshow`` centres pixel ``j`` on ``j``, hence the
    half-pixel shift.
    """
    from matplotlib.patches import Rectangle

    for i, (x1, y1, x2, y2) in enumerate(np.asarray(boxes, dtype=float).reshape(-1, 4)):
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, fill=False,
                               edgecolor=color, linewidth=1.2, linestyle=linestyle))
        if classes is None:
            continue
        label = class_names[int(classes[i])] if class_names else str(int(classes[i]))
        if scores is not None:
            label += f" {float(scores[i]):.2f}"
        if label_below:
            ax.text(x1 - 0.5, y2 - 0.5, label, color=color, fontsize=7, va="top")
        else:
            ax.text(x1 - 0.5, y1 - 1.0, label, color=color, fontsize=7, va="bottom")


def detections(images: np.ndarray, true_boxes: Sequence, true_classes: Sequence,
               pred_boxes: Sequence | None = None, pred_classes: Sequence | None = None,
               pred_scores: Sequence | None = None, class_names: Sequence[str] | None = None,
               *, min_score: float = 0.3, ncols: int = 4, path: Path | str | None = None,
               title: str = "true (green) and predicted (red) boxes") -> Figure:
    """Images with their true boxes (green) and, when given, the predicted ones (red, dashed).

    True classes are written above their boxes, predicted classes and scores below
    theirs. Boxes are pixel ``xyxy``, one array per image; predictions scoring below
    ``min_score`` are left out so that the figure stays readable.
    """
    n = len(images)
    nrows = max(1, -(-n // ncols))
    fig, axes = _figure(ncols, nrows, (2.4 * ncols, 2.5 * nrows))
    for i, ax in _show_images(axes, images):
        draw_boxes(ax, true_boxes[i], true_classes[i], class_names)
        if pred_boxes is not None:
            scores = None if pred_scores is None else np.asarray(pred_scores[i])
            keep = slice(None) if scores is None else scores >= min_score
            draw_boxes(ax, np.asarray(pred_boxes[i]).reshape(-1, 4)[keep],
                       None if pred_classes is None else np.asarray(pred_classes[i])[keep],
                       class_names, None if scores is None else scores[keep], color="red",
                       linestyle="--", label_below=True)
    fig.suptitle(title)
    return _finish(fig, path)
