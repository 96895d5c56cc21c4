"""Object detection from the grid up: boxes, IoU, NMS, grid targets, AP and mAP.

Boxes are rows of four numbers in one of the formats Keras' ``bounding_boxes`` names:

==================  ==========================================================
format              the four numbers
==================  ==========================================================
``xyxy``            left, top, right, bottom (corners), in pixels
``yxyx``            top, left, bottom, right (``tf.image`` order), in pixels
``xywh``            left, top, width, height (COCO's), in pixels
``center_xywh``     centre x, centre y, width, height, in pixels
``rel_...``         the same, divided by the image width (x) and height (y)
==================  ==========================================================

Coordinates are continuous: pixel column ``j`` covers ``[j, j + 1)``, so a box
from column 3 to column 5 inclusive has ``x1 = 3, x2 = 6`` and width 3.

A YOLO-style detector lays an ``S x S`` grid over the image. Each cell predicts
``B`` boxes, each a label vector ``(P, bx, by, bw, bh)`` (objectness, the box
centre relative to the cell's top-left corner, in cell units, so ``bx, by`` lie in
``[0, 1)``, and the box size in cell units, above 0 and possibly above 1), and the
cell's ``C`` class probabilities: YOLO v1's output tensor ``(S, S, B*5 + C)``. With
anchor boxes (YOLO v2) each of the ``A`` anchors has its own class probabilities:
``(S, S, A*(5 + C))``. :class:`GridSpec` describes the layout, :func:`encode`
writes the training target and :func:`decode` reads boxes back from a target or a
prediction (the ``yolo_grid`` model outputs exactly this label vector).

Evaluation follows PASCAL VOC and COCO: :func:`average_precision` (all-point
interpolation, VOC's 11 points, or COCO's 101), :func:`evaluate` for the per-class
AP and mAP at IoU 0.5 and COCO's mAP@[.5:.95].

NumPy does the work on arrays; nothing here imports TensorFlow until a function
that needs a model (:func:`pipelines`, :func:`predict`, :func:`evaluate_model`) runs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

    from cnnlabs.config import Profile
    from cnnlabs.datasets.mnist_detection import DetectionSet, DetectionSplits
    from cnnlabs.pipelines import Pipelines

#: The box formats :func:`convert_boxes` understands (each also with a ``rel_`` prefix).
BOX_FORMATS = ("xyxy", "yxyx", "xywh", "center_xywh")
#: The interpolations of :func:`average_precision`.
INTERPOLATIONS = ("all", "11", "101")
#: COCO's IoU thresholds for mAP@[.5:.95]: 0.50, 0.55, ..., 0.95.
COCO_IOU_THRESHOLDS = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))
#: Files a detection run writes next to ``results.json``.
REPORT_FILE = "detection_report.txt"
FIGURE_FILE = "detections.png"
RESULTS_FILE = "results.json"


# --- boxes ---------------------------------------------------------------------------------------


def as_boxes(boxes: Any, what: str = "boxes") -> np.ndarray:
    """``boxes`` as a float64 array ``(N, 4)``; an empty list gives ``(0, 4)``.

    Raises:
        ValueError: not shaped ``(N, 4)``, or a coordinate that is NaN or infinite.
    """
    array = np.asarray(boxes, dtype=np.float64)
    if array.size == 0:
        return array.reshape(0, 4)
    if array.ndim != 2 or array.shape[1] != 4:
        raise ValueError(f"{what} must be shaped (N, 4), one box per row; got shape "
                         f"{array.shape}.")
    if not np.isfinite(array).all():
        row = int(np.flatnonzero(~np.isfinite(array).all(axis=1))[0])
        raise ValueError(f"{what} row {row} has a NaN or infinite coordinate: {array[row]}.")
    return array


def check_boxes(boxes: Any, box_format: str = "xyxy", what: str = "boxes") -> np.ndarray:
    """Validate boxes in ``box_format``: finite, and no negative width or height.

    A box whose right edge lies left of its left edge (``x2 < x1``), or whose bottom
    lies above its top, is an error, not something to silently flip.

    Returns:
        The boxes as a float64 array ``(N, 4)``.

    Raises:
        ValueError: naming the first bad row and what is wrong with it.
    """
    array = as_boxes(boxes, what)
    base = _base_format(box_format)
    if base == "xyxy":
        widths, heights = array[:, 2] - array[:, 0], array[:, 3] - array[:, 1]
    elif base == "yxyx":
        widths, heights = array[:, 3] - array[:, 1], array[:, 2] - array[:, 0]
    else:
        widths, heights = array[:, 2], array[:, 3]
    bad = (widths < 0) | (heights < 0)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{what} row {row} ({box_format} {array[row].tolist()}) has a negative width or "
            f"height (width {widths[row]:g}, height {heights[row]:g}). Corner boxes need "
            "x2 >= x1 and y2 >= y1; check the box format.")
    return array


def _base_format(box_format: str) -> str:
    base = box_format[4:] if box_format.startswith("rel_") else box_format
    if base not in BOX_FORMATS:
        valid = ", ".join([*BOX_FORMATS, *(f"rel_{f}" for f in BOX_FORMATS)])
        raise ValueError(f"Unknown box format {box_format!r}. Valid formats: {valid}.")
    return base


def convert_boxes(boxes: Any, source: str, target: str, *,
                  image_size: Sequence[int] | None = None) -> np.ndarray:
    """Convert boxes between formats: corners or centre-size, absolute or relative.

    Args:
        boxes: ``(N, 4)`` boxes in ``source`` format.
        source, target: names from :data:`BOX_FORMATS`, optionally with the ``rel_``
            prefix (coordinates divided by the image width and height).
        image_size: ``(height, width)`` of the image; needed when exactly one of the
            two formats is relative.

    Returns:
        ``(N, 4)`` float64 boxes in ``target`` format.

    Raises:
        ValueError: an unknown format, bad boxes (see :func:`check_boxes`), or a
            conversion between absolute and relative without ``image_size``.

    Example:
        >>> convert_boxes([[10, 20, 30, 60]], "xyxy", "center_xywh").tolist()
        [[20.0, 40.0, 20.0, 40.0]]
        >>> convert_boxes([[10, 20, 30, 60]], "xyxy", "rel_xyxy", image_size=(80, 40)).tolist()
        [[0.25, 0.25, 0.75, 0.75]]
    """
    array = check_boxes(boxes, source)
    src, dst = _base_format(source), _base_format(target)
    if src == "yxyx":
        x1, y1, x2, y2 = array[:, 1], array[:, 0], array[:, 3], array[:, 2]
    elif src == "xyxy":
        x1, y1, x2, y2 = array.T
    elif src == "xywh":
        x1, y1 = array[:, 0], array[:, 1]
        x2, y2 = x1 + array[:, 2], y1 + array[:, 3]
    else:  # center_xywh
        x1, y1 = array[:, 0] - array[:, 2] / 2, array[:, 1] - array[:, 3] / 2
        x2, y2 = array[:, 0] + array[:, 2] / 2, array[:, 1] + array[:, 3] / 2
    scale_x = scale_y = 1.0
    if source.startswith("rel_") != target.startswith("rel_"):
        if image_size is None:
            raise ValueError(f"Converting {source} to {target} needs image_size=(height, width).")
        height, width = (float(v) for v in image_size)
        if height <= 0 or width <= 0:
            raise ValueError(f"image_size must be positive (height, width); got {image_size}.")
        scale_x, scale_y = (width, height) if source.startswith("rel_") else (1 / width,
                                                                              1 / height)
    x1, x2, y1, y2 = x1 * scale_x, x2 * scale_x, y1 * scale_y, y2 * scale_y
    if dst == "xyxy":
        out = [x1, y1, x2, y2]
    elif dst == "yxyx":
        out = [y1, x1, y2, x2]
    elif dst == "xywh":
        out = [x1, y1, x2 - x1, y2 - y1]
    else:
        out = [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]
    return np.stack(out, axis=1) if len(array) else np.zeros((0, 4))


def box_area(boxes: Any) -> np.ndarray:
    """Areas of ``xyxy`` boxes, ``(N,)``.

    Raises:
        ValueError: bad boxes (see :func:`check_boxes`).
    """
    array = check_boxes(boxes)
    return (array[:, 2] - array[:, 0]) * (array[:, 3] - array[:, 1])


def iou(boxes_a: Any, boxes_b: Any) -> np.ndarray:
    """Intersection over union of every box in ``boxes_a`` with every box in ``boxes_b``.

    Boxes are ``xyxy`` (relative or absolute, the same for both). Boxes that only
    touch along an edge have IoU 0; two zero-area boxes have IoU 0 (their union is
    empty), as does a zero-area box with any other box.

    Returns:
        ``(N, M)`` float64 IoUs in ``[0, 1]``.

    Raises:
        ValueError: bad boxes (see :func:`check_boxes`).

    Example:
        >>> iou([[0, 0, 2, 2]], [[1, 1, 3, 3], [0, 0, 2, 2], [2, 0, 4, 2]]).round(4).tolist()
        [[0.1429, 1.0, 0.0]]
    """
    a = check_boxes(boxes_a, what="boxes_a")
    b = check_boxes(boxes_b, what="boxes_b")
    left = np.maximum(a[:, None, 0], b[None, :, 0])
    top = np.maximum(a[:, None, 1], b[None, :, 1])
    right = np.minimum(a[:, None, 2], b[None, :, 2])
    bottom = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(right - left, 0, None) * np.clip(bottom - top, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def clip_boxes(boxes: Any, image_size: Sequence[int] | None = None) -> np.ndarray:
    """``xyxy`` boxes clipped to the image: ``[0, width] x [0, height]``, or ``[0, 1]`` when
    ``image_size`` is ``None`` (relative boxes)."""
    array = check_boxes(boxes).copy()
    height, width = (1.0, 1.0) if image_size is None else (float(v) for v in image_size)
    array[:, [0, 2]] = array[:, [0, 2]].clip(0, width)
    array[:, [1, 3]] = array[:, [1, 3]].clip(0, height)
    return array


# --- non-max suppression ------------------------------------------------------------------------


def _check_scores(scores: Any, n: int, what: str = "scores") -> np.ndarray:
    array = np.asarray(scores, dtype=np.float64).reshape(-1)
    if array.shape != (n,):
        raise ValueError(f"{what} must hold one number per box: {n} boxes, {array.size} "
                         f"{what}.")
    if np.isnan(array).any():
        raise ValueError(f"{what} holds NaN at position {int(np.flatnonzero(np.isnan(array))[0])}"
                         ": a model that outputs NaN has diverged (lower the learning rate).")
    return array


def _check_classes(classes: Any, n: int, num_classes: int | None = None,
                   what: str = "classes") -> np.ndarray:
    array = np.asarray(classes).reshape(-1)
    if array.shape != (n,):
        raise ValueError(f"{what} must hold one class index per box: {n} boxes, "
                         f"{array.size} {what}.")
    if array.size and (array.dtype.kind not in "iu" and not (
            np.isfinite(array).all() and (array == np.round(array)).all())):
        raise ValueError(f"{what} must be whole class indices; got {array[:5].tolist()}.")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or (num_classes is not None
                                           and array.max() >= num_classes)):
        top = "" if num_classes is None else f" to {num_classes - 1}"
        raise ValueError(f"{what} must lie in 0{top}; got {array.min()}..{array.max()}.")
    return array


def non_max_suppression(boxes: Any, scores: Any, *, iou_threshold: float = 0.5,
                        score_threshold: float = -math.inf, max_outputs: int | None = None,
                        classes: Any = None) -> np.ndarray:
    """Greedy non-max suppression: the indices of the boxes to keep, best score first.

    Take the highest-scoring box left, keep it, and drop every remaining box that
    overlaps it by more than ``iou_threshold``; repeat. With ``classes``, boxes of
    different classes never suppress each other (one NMS per class, as YOLO does);
    without, the suppression is class-agnostic. Same rule as
    ``tf.image.non_max_suppression`` (which is class-agnostic).

    Args:
        boxes: ``(N, 4)`` ``xyxy`` boxes.
        scores: ``(N,)`` scores.
        iou_threshold: a box overlapping a kept one by more than this is dropped.
        score_threshold: boxes scoring this or less are dropped first.
        max_outputs: keep at most this many (``None``: no limit).
        classes: ``(N,)`` class indices for per-class NMS, or ``None``.

    Returns:
        int64 indices into ``boxes``, ordered by descending score (ties: lower index first).

    Raises:
        ValueError: bad boxes, NaN scores, mismatched lengths, negative class indices,
            an ``iou_threshold`` outside [0, 1] or a negative ``max_outputs``.
    """
    array = check_boxes(boxes)
    score = _check_scores(scores, len(array))
    if not 0.0 <= iou_threshold <= 1.0:
        raise ValueError(f"iou_threshold must be in [0, 1]; got {iou_threshold}.")
    if max_outputs is not None and max_outputs < 0:
        raise ValueError(f"max_outputs must be 0 or more; got {max_outputs}.")
    limit = len(array) if max_outputs is None else int(max_outputs)
    if classes is None:
        return _greedy_nms(array, score, iou_threshold, score_threshold, limit)
    labels = _check_classes(classes, len(array))
    kept = [np.flatnonzero(labels == c)[_greedy_nms(array[labels == c], score[labels == c],
                                                    iou_threshold, score_threshold, limit)]
            for c in np.unique(labels)]
    keep = np.concatenate([np.zeros(0, dtype=np.int64), *kept])
    # Best score first across the classes; ties keep the lower index first.
    keep = keep[np.lexsort((keep, -score[keep]))]
    return keep[:limit].astype(np.int64)


def _greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float,
                score_threshold: float, limit: int) -> np.ndarray:
    """Class-agnostic greedy NMS on checked arrays; indices, best score first."""
    candidates = np.flatnonzero(scores > score_threshold)
    order = candidates[np.argsort(-scores[candidates], kind="stable")]
    keep: list[int] = []
    suppressed = np.zeros(len(boxes), dtype=bool)
    for position, index in enumerate(order):
        if len(keep) >= limit:
            break
        if suppressed[index]:
            continue
        keep.append(int(index))
        rest = order[position + 1:]
        rest = rest[~suppressed[rest]]
        if len(rest):
            overlaps = iou(boxes[index:index + 1], boxes[rest])[0]
            suppressed[rest[overlaps > iou_threshold]] = True
    return np.asarray(keep, dtype=np.int64)


# --- the grid: YOLO targets ---------------------------------------------------------------------


@dataclass(frozen=True)
class GridSpec:
    """The layout of a YOLO-style grid output.

    Attributes:
        grid_size: ``S``, the cells per side.
        boxes: ``B``, the boxes each cell predicts (YOLO v1), or the number of anchors.
        classes: ``C``, the number of classes.
        anchors: ``None`` for YOLO v1's layout ``(S, S, B*5 + C)`` (one class vector per
            cell, one object per cell); or ``B`` anchor shapes ``(width, height)``
            relative to the image, for YOLO v2's layout ``(S, S, B*(5 + C))`` (one class
            vector per anchor, one object per cell and anchor).

    Example:
        >>> GridSpec(grid_size=7, boxes=2, classes=20).shape   # YOLO v1 on PASCAL VOC
        (7, 7, 30)
    """

    grid_size: int
    boxes: int
    classes: int
    anchors: tuple[tuple[float, float], ...] | None = None

    def __post_init__(self) -> None:
        for name in ("grid_size", "boxes", "classes"):
            value = getattr(self, name)
            if isinstance(value, bool) or not float(value).is_integer() or value < 1:
                raise ValueError(f"GridSpec.{name} must be a whole number, 1 or more; got "
                                 f"{value!r}.")
            object.__setattr__(self, name, int(value))
        if self.anchors is not None:
            anchors = tuple((float(w), float(h)) for w, h in self.anchors)
            if len(anchors) != self.boxes:
                raise ValueError(f"GridSpec has boxes={self.boxes} but {len(anchors)} anchors; "
                                 "give one anchor (width, height) per box.")
            if not all(w > 0 and h > 0 and math.isfinite(w) and math.isfinite(h)
                       for w, h in anchors):
                raise ValueError(f"Anchor widths and heights must be positive; got {anchors}.")
            object.__setattr__(self, "anchors", anchors)

    @property
    def box_depth(self) -> int:
        """Numbers per box slot: 5 (v1), or 5 + C (with anchors)."""
        return 5 if self.anchors is None else 5 + self.classes

    @property
    def depth(self) -> int:
        """Numbers per cell: ``B*5 + C`` (v1) or ``B*(5 + C)`` (with anchors)."""
        return self.boxes * self.box_depth + (self.classes if self.anchors is None else 0)

    @property
    def shape(self) -> tuple[int, int, int]:
        """The target and output shape of one image, ``(S, S, depth)``."""
        return (self.grid_size, self.grid_size, self.depth)

    def split(self, grid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(objectness (..., S, S, B), boxes (..., S, S, B, 4), classes (..., S, S, B, C))``.

        In YOLO v1's layout every box of a cell shares the cell's class vector.
        """
        grid = np.asarray(grid)
        if grid.shape[-3:] != self.shape:
            raise ValueError(f"A grid for {self} is shaped (..., {', '.join(map(str, self.shape))}"
                             f"); got {grid.shape}.")
        lead = grid.shape[:-1]
        if self.anchors is None:
            slots = grid[..., :self.boxes * 5].reshape(*lead, self.boxes, 5)
            probs = np.broadcast_to(grid[..., None, self.boxes * 5:],
                                    (*lead, self.boxes, self.classes))
        else:
            slots = grid.reshape(*lead, self.boxes, 5 + self.classes)
            probs = slots[..., 5:]
        return slots[..., 0], slots[..., 1:5], probs


def anchor_shapes_iou(sizes: Any, anchors: Any) -> np.ndarray:
    """IoU of box shapes ``(N, 2)`` (width, height) with anchor shapes ``(A, 2)``, both centred.

    The IoU two boxes would have if they shared their centre: how anchors are matched
    to objects (YOLO v2).
    """
    s = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    a = np.asarray(anchors, dtype=np.float64).reshape(-1, 2)
    inter = np.minimum(s[:, None, 0], a[None, :, 0]) * np.minimum(s[:, None, 1], a[None, :, 1])
    union = (s[:, 0] * s[:, 1])[:, None] + (a[:, 0] * a[:, 1])[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / np.where(union > 0, union, 1.0), 0.0)


def assign(boxes: Any, spec: GridSpec) -> np.ndarray:
    """Which grid cell and box slot takes each object: ``(N, 3)`` rows ``(row, col, slot)``.

    An object belongs to the cell holding its centre (a centre on the right or bottom
    image edge counts in the last cell). Without anchors it takes slot 0 and the cell
    holds one object; with anchors it takes the anchor whose shape overlaps its own
    best (:func:`anchor_shapes_iou`), or the next best free one. Larger objects are
    placed first; an object that finds no free slot gets ``(-1, -1, -1)`` and is left
    out of the target.

    Args:
        boxes: ``(N, 4)`` ``rel_xyxy`` boxes (relative to the image).
        spec: the grid layout.

    Raises:
        ValueError: bad boxes, or boxes outside the image (relative coordinates
            outside [0, 1]).
    """
    array = check_boxes(boxes, "rel_xyxy")
    if len(array) and (array.min() < 0 or array.max() > 1):
        raise ValueError("Boxes must be relative to the image (rel_xyxy, in [0, 1]); got "
                         f"coordinates from {array.min():g} to {array.max():g}. Divide pixel "
                         "boxes by the image size: convert_boxes(b, 'xyxy', 'rel_xyxy', "
                         "image_size=(height, width)).")
    s = spec.grid_size
    centre = convert_boxes(array, "rel_xyxy", "rel_center_xywh")
    cols = np.minimum((centre[:, 0] * s).astype(np.int64), s - 1)
    rows = np.minimum((centre[:, 1] * s).astype(np.int64), s - 1)
    if spec.anchors is None:
        preference = np.zeros((len(array), 1), dtype=np.int64)
    else:
        overlap = anchor_shapes_iou(centre[:, 2:], spec.anchors)
        preference = np.argsort(-overlap, axis=1, kind="stable")
    result = np.full((len(array), 3), -1, dtype=np.int64)
    taken: set[tuple[int, int, int]] = set()
    for i in np.argsort(-(centre[:, 2] * centre[:, 3]), kind="stable"):
        for slot in preference[i]:
            key = (int(rows[i]), int(cols[i]), int(slot))
            if key not in taken:
                taken.add(key)
                result[i] = key
                break
    return result


def encode(boxes: Any, classes: Any, spec: GridSpec) -> np.ndarray:
    """The YOLO training target of one image: ``(S, S, depth)`` float32.

    Each object's slot (:func:`assign`) gets ``P = 1``, its centre relative to the
    cell's top-left corner (``bx, by`` in ``[0, 1)``), its size in cell units
    (``bw, bh``), and a one-hot class vector. Every other number is 0. An image with
    no objects gives an all-zero target.

    Args:
        boxes: ``(N, 4)`` ``rel_xyxy`` boxes (may be empty).
        classes: ``(N,)`` class indices in ``0 .. spec.classes - 1``.
        spec: the grid layout.

    Raises:
        ValueError: bad boxes (negative size, NaN, outside the image), a class index
            out of range, or lengths that differ.

    Example:
        >>> spec = GridSpec(grid_size=2, boxes=1, classes=3)
        >>> encode([[0.5, 0.0, 1.0, 0.5]], [2], spec)[0, 1].tolist()
        [1.0, 0.5, 0.5, 1.0, 1.0, 0.0, 0.0, 1.0]
    """
    array = check_boxes(boxes, "rel_xyxy")
    labels = _check_classes(classes, len(array), spec.classes)
    target = np.zeros(spec.shape, dtype=np.float32)
    places = assign(array, spec)
    s = spec.grid_size
    centre = convert_boxes(array, "rel_xyxy", "rel_center_xywh") * s  # in cell units
    for (row, col, slot), (cx, cy, w, h), label in zip(places, centre, labels, strict=True):
        if row < 0:
            continue
        start = slot * spec.box_depth
        target[row, col, start:start + 5] = (1.0, cx - col, cy - row, w, h)
        first_class = spec.boxes * 5 if spec.anchors is None else start + 5
        target[row, col, first_class + label] = 1.0
    return target


def encode_batch(boxes: Sequence[Any], classes: Sequence[Any], spec: GridSpec) -> np.ndarray:
    """:func:`encode` for each image: ``(N, S, S, depth)`` float32."""
    if len(boxes) != len(classes):
        raise ValueError(f"{len(boxes)} images of boxes but {len(classes)} of classes.")
    targets = np.zeros((len(boxes), *spec.shape), dtype=np.float32)
    for i, (b, c) in enumerate(zip(boxes, classes, strict=True)):
        targets[i] = encode(b, c, spec)
    return targets


def decode(grid: Any, spec: GridSpec, *, score_threshold: float = 0.0
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The boxes a grid (a target or a model's output for one image) holds.

    Each box slot gives one detection: its class is the most probable one, its score
    ``P * p(class)`` (YOLO's class-specific confidence). For a target from
    :func:`encode` that is 1 for every object and 0 elsewhere, so decoding a target
    gives back the encoded boxes.

    Args:
        grid: ``(S, S, depth)`` for one image.
        spec: its layout.
        score_threshold: keep detections scoring more than this.

    Returns:
        ``(boxes (K, 4) rel_xyxy, scores (K,), classes (K,))``, in grid order (row,
        column, slot).

    Raises:
        ValueError: a grid of the wrong shape, or NaN in it.
    """
    array = np.asarray(grid, dtype=np.float64)
    if array.shape != spec.shape:
        raise ValueError(f"decode takes one image's grid, shaped {spec.shape} for {spec}; got "
                         f"{array.shape} (decode a batch one image at a time).")
    if np.isnan(array).any():
        raise ValueError("The grid holds NaN: the model has diverged (lower the learning rate).")
    objectness, slots, probs = spec.split(array)
    label = probs.argmax(axis=-1)
    score = objectness * np.take_along_axis(probs, label[..., None], axis=-1)[..., 0]
    s = spec.grid_size
    rows, cols = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
    cx = (cols[..., None] + slots[..., 0]) / s
    cy = (rows[..., None] + slots[..., 1]) / s
    w, h = np.maximum(slots[..., 2], 0) / s, np.maximum(slots[..., 3], 0) / s
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)
    keep = score > score_threshold
    return boxes[keep], score[keep], label[keep].astype(np.int64)


@dataclass
class Detections:
    """The detections in one image, best score first.

    Attributes:
        boxes: ``(K, 4)`` ``rel_xyxy`` boxes.
        scores: ``(K,)`` scores.
        classes: ``(K,)`` class indices.
    """

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.scores)


def postprocess(grid: Any, spec: GridSpec, *, score_threshold: float = 0.01,
                iou_threshold: float = 0.5, max_outputs: int = 100,
                per_class: bool = True) -> Detections:
    """Decode one image's grid, drop low scores, and suppress duplicates (NMS).

    The YOLO post-processing: boxes scoring ``score_threshold`` or less go, then
    greedy NMS (one per class by default) keeps at most ``max_outputs``. Boxes are
    clipped to the image.
    """
    boxes, scores, classes = decode(grid, spec, score_threshold=score_threshold)
    boxes = clip_boxes(boxes)
    keep = non_max_suppression(boxes, scores, iou_threshold=iou_threshold,
                               max_outputs=max_outputs,
                               classes=classes if per_class else None)
    return Detections(boxes[keep], scores[keep], classes[keep])


# --- average precision --------------------------------------------------------------------------


def average_precision(recall: Any, precision: Any, interpolation: str = "all") -> float:
    """The area under a precision-recall curve, PASCAL VOC or COCO style.

    The curve is first made monotone: the precision at each recall becomes the best
    precision at that recall or any higher one. Then

    - ``"all"`` (VOC 2010 on): the exact area under that step curve;
    - ``"11"`` (VOC 2007): the mean of its precision at recall 0, 0.1, ..., 1;
    - ``"101"`` (COCO): the mean of its precision at recall 0, 0.01, ..., 1.

    Args:
        recall, precision: the points of the curve, one per ranked detection,
            recall not decreasing.
        interpolation: ``"all"``, ``"11"`` or ``"101"``.

    Raises:
        ValueError: an unknown interpolation, or arrays of different lengths.

    Example:
        >>> average_precision([0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3])   # hit, miss, hit
        0.8333333333333333
    """
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"Unknown interpolation {interpolation!r}. Valid: "
                         f"{', '.join(INTERPOLATIONS)}.")
    r = np.asarray(recall, dtype=np.float64).reshape(-1)
    p = np.asarray(precision, dtype=np.float64).reshape(-1)
    if r.shape != p.shape:
        raise ValueError(f"recall and precision differ in length ({r.size} and {p.size}).")
    if r.size == 0:
        return 0.0
    r = np.concatenate([[0.0], r, [1.0]])
    p = np.concatenate([[0.0], p, [0.0]])
    envelope = np.maximum.accumulate(p[::-1])[::-1]
    if interpolation == "all":
        steps = np.flatnonzero(r[1:] != r[:-1]) + 1
        return float(np.sum((r[steps] - r[steps - 1]) * envelope[steps]))
    levels = np.linspace(0.0, 1.0, 11 if interpolation == "11" else 101)
    # The envelope's value at recall level t: the best precision at recall >= t.
    at = np.searchsorted(r[1:-1], levels, side="left")
    inner = envelope[1:-1]
    values = np.where(at < len(inner), inner[np.minimum(at, len(inner) - 1)], 0.0)
    return float(values.mean())


def match(det_boxes: Any, det_scores: Any, gt_boxes: Any, iou_threshold: float = 0.5
          ) -> np.ndarray:
    """Which detections of one class in one image are true positives.

    Detections are taken best score first; each is matched to the unmatched ground
    truth box it overlaps most, if that IoU is at least ``iou_threshold`` (COCO's
    rule). A detection left without a match is a false positive, so a second
    detection of an already found object counts against the detector.

    Returns:
        ``(K,)`` bools, in the order of ``det_boxes``.
    """
    det = check_boxes(det_boxes, what="detected boxes")
    gt = check_boxes(gt_boxes, what="ground-truth boxes")
    scores = _check_scores(det_scores, len(det))
    if not len(det) or not len(gt):
        return np.zeros(len(det), dtype=bool)
    return _greedy_match(iou(det, gt), np.argsort(-scores, kind="stable"), iou_threshold)


def _greedy_match(overlaps: np.ndarray, order: np.ndarray, iou_threshold: float) -> np.ndarray:
    """:func:`match` on an IoU matrix (detections x truths), detections taken in ``order``."""
    hits = np.zeros(len(overlaps), dtype=bool)
    free = np.ones(overlaps.shape[1], dtype=bool)
    for i in order:
        candidates = np.where(free, overlaps[i], -1.0)
        best = int(candidates.argmax())
        if candidates[best] >= iou_threshold:
            hits[i], free[best] = True, False
    return hits


def _ap_curve(hits: np.ndarray, scores: np.ndarray, n_truth: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(-scores, kind="stable")
    tp = np.cumsum(hits[order])
    fp = np.cumsum(~hits[order])
    recall = tp / n_truth
    precision = tp / np.maximum(tp + fp, 1)
    return recall, precision


@dataclass
class DetectionReport:
    """Per-class average precision and the mean over classes.

    Attributes:
        split: the evaluated split's name.
        n_images: images evaluated.
        class_names: one name per class.
        n_objects: ground-truth objects per class.
        n_detections: detections per class.
        ap50: AP at IoU 0.5 per class (all-point interpolation), ``nan`` for a class
            without ground truth.
        ap50_11: AP at IoU 0.5 per class, VOC 2007's 11-point interpolation.
        ap50_95: AP per class averaged over IoU 0.50:0.05:0.95 (COCO, 101 points).
        map50, map50_11, map50_95: their means over the classes with ground truth.
        extra: anything to save alongside (model, dataset, timing ...).
    """

    split: str
    n_images: int
    class_names: list[str]
    n_objects: list[int]
    n_detections: list[int]
    ap50: list[float]
    ap50_11: list[float]
    ap50_95: list[float]
    map50: float
    map50_11: float
    map50_95: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The per-class table and the means, as fixed-width text."""
        width = max(8, *(len(n) for n in self.class_names))
        lines = [f"{'class':<{width}}  objects  detections   AP@0.5  AP@0.5(11pt)  AP@[.5:.95]"]
        for i, name in enumerate(self.class_names):
            lines.append(f"{name:<{width}}  {self.n_objects[i]:>7}  {self.n_detections[i]:>10}  "
                         f"{_fmt(self.ap50[i]):>7}  {_fmt(self.ap50_11[i]):>12}  "
                         f"{_fmt(self.ap50_95[i]):>11}")
        lines.append(f"{'mean':<{width}}  {sum(self.n_objects):>7}  "
                     f"{sum(self.n_detections):>10}  {_fmt(self.map50):>7}  "
                     f"{_fmt(self.map50_11):>12}  {_fmt(self.map50_95):>11}")
        lines.append(f"mAP@0.5 {_fmt(self.map50)}, mAP@[.5:.95] {_fmt(self.map50_95)} on "
                     f"{self.n_images} {self.split} images")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (``nan`` becomes ``None``)."""
        return {
            "split": self.split,
            "n": self.n_images,
            "map50": _round(self.map50),
            "map50_11point": _round(self.map50_11),
            "map50_95": _round(self.map50_95),
            "per_class": {name: {"objects": self.n_objects[i], "detections": self.n_detections[i],
                                 "ap50": _round(self.ap50[i]),
                                 "ap50_11point": _round(self.ap50_11[i]),
                                 "ap50_95": _round(self.ap50_95[i])}
                          for i, name in enumerate(self.class_names)},
            "class_names": list(self.class_names),
            **self.extra,
        }

    def __str__(self) -> str:
        return self.text


def _fmt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.4f}"


def _round(value: float) -> float | None:
    return None if math.isnan(value) else round(float(value), 6)


def _nanmean(values: Sequence[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def evaluate(detections: Sequence[Detections | tuple], truth_boxes: Sequence[Any],
             truth_classes: Sequence[Any], class_names: Sequence[str], *,
             split: str = "test") -> DetectionReport:
    """Per-class AP and mAP of detections against the ground truth, VOC and COCO style.

    For each class, every image's detections are matched to its boxes (:func:`match`),
    all detections are ranked by score across images, and the precision-recall
    curve gives the AP (:func:`average_precision`). A class with no ground-truth
    object has no AP (``nan``) and is left out of the means, as COCO does.

    Args:
        detections: per image, a :class:`Detections` or ``(boxes, scores, classes)``.
        truth_boxes: per image, ``(n, 4)`` boxes in the same format as the detections.
        truth_classes: per image, ``(n,)`` class indices.
        class_names: one name per class.
        split: the split's name, for the report.

    Raises:
        ValueError: lists of different lengths, bad boxes, NaN scores, or class indices
            out of range.
    """
    n_images = len(detections)
    if not (n_images == len(truth_boxes) == len(truth_classes)):
        raise ValueError(f"{n_images} images of detections, {len(truth_boxes)} of boxes and "
                         f"{len(truth_classes)} of classes: give one entry per image.")
    k = len(class_names)
    if k < 1:
        raise ValueError("class_names is empty.")
    per_image = []
    for i in range(n_images):
        d = detections[i]
        boxes, scores, labels = (d.boxes, d.scores, d.classes) if isinstance(d, Detections) else d
        boxes = check_boxes(boxes, what=f"image {i}'s detected boxes")
        scores = _check_scores(scores, len(boxes), f"image {i}'s scores")
        labels = _check_classes(labels, len(boxes), k, f"image {i}'s detected classes")
        gt = check_boxes(truth_boxes[i], what=f"image {i}'s true boxes")
        gt_labels = _check_classes(truth_classes[i], len(gt), k, f"image {i}'s true classes")
        per_image.append((boxes, scores, labels, gt, gt_labels))

    thresholds = COCO_IOU_THRESHOLDS  # 0.5 is the first
    n_objects, n_detections = [0] * k, [0] * k
    ap50, ap50_11, ap50_95 = [], [], []
    for c in range(k):
        scores_c = []
        hits_c = {t: [] for t in thresholds}
        for boxes, scores, labels, gt, gt_labels in per_image:
            mine, truth = labels == c, gt[gt_labels == c]
            n_objects[c] += len(truth)
            scores_c.append(scores[mine])
            if not mine.any() or not len(truth):
                for t in thresholds:
                    hits_c[t].append(np.zeros(int(mine.sum()), dtype=bool))
                continue
            overlaps = iou(boxes[mine], truth)  # once for every threshold
            order = np.argsort(-scores[mine], kind="stable")
            for t in thresholds:
                hits_c[t].append(_greedy_match(overlaps, order, t))
        all_scores = np.concatenate(scores_c) if scores_c else np.zeros(0)
        n_detections[c] = len(all_scores)
        if n_objects[c] == 0:
            ap50.append(math.nan)
            ap50_11.append(math.nan)
            ap50_95.append(math.nan)
            continue
        curves = {t: _ap_curve(np.concatenate(hits_c[t]), all_scores, n_objects[c])
                  for t in thresholds}
        ap50.append(average_precision(*curves[0.5], "all"))
        ap50_11.append(average_precision(*curves[0.5], "11"))
        ap50_95.append(float(np.mean([average_precision(*curves[t], "101")
                                      for t in COCO_IOU_THRESHOLDS])))
    return DetectionReport(split=split, n_images=n_images,
                           class_names=[str(n) for n in class_names], n_objects=n_objects,
                           n_detections=n_detections, ap50=ap50,
                           ap50_11=ap50_11, ap50_95=ap50_95, map50=_nanmean(ap50),
                           map50_11=_nanmean(ap50_11), map50_95=_nanmean(ap50_95))


# --- models and data: the chain's detection steps ------------------------------------------------


def spec_of(model: keras.Model) -> GridSpec:
    """The :class:`GridSpec` of a ``yolo_grid`` model, read from its ``grid_head`` layer.

    Raises:
        ValueError: the model has no grid head (it is not a grid detector).
    """
    try:
        head = model.get_layer("grid_head")
    except ValueError:
        raise ValueError(f"Model {model.name!r} has no 'grid_head' layer: it is not a grid "
                         "detector (build one with models.build('yolo_grid', ...)).") from None
    config = head.get_config()
    anchors = config.get("anchors")
    return GridSpec(grid_size=int(model.output_shape[1]), boxes=int(config["boxes"]),
                    classes=int(config["classes"]),
                    anchors=None if anchors is None else tuple(tuple(a) for a in anchors))


def targets(data: DetectionSet, spec: GridSpec) -> np.ndarray:
    """The YOLO targets of every image of a :class:`DetectionSet`: ``(N, S, S, depth)``."""
    height, width = data.images.shape[1:3]
    rel = [convert_boxes(b, "xyxy", "rel_xyxy", image_size=(height, width))
           for b, _ in data.objects()]
    return encode_batch(rel, [c for _, c in data.objects()], spec)


def pipelines(splits: DetectionSplits, spec: GridSpec, batch_size: int,
              profile: Profile | str | None = None, seed: int = 0) -> Pipelines:
    """Train / val / test ``tf.data`` pipelines of ``(image in [0, 1], YOLO target)`` pairs.

    The validation split is a seeded random ``profile.val_fraction`` of the training
    images. The targets are encoded once, with :func:`targets`.

    Returns:
        :class:`cnnlabs.pipelines.Pipelines`; its ``y_*`` arrays hold each image's
        main class (the class of its largest object, -1 for none).
    """
    import tensorflow as tf

    from cnnlabs.config import Profile, get_profile
    from cnnlabs.pipelines import Pipelines, normalise

    chosen = profile if isinstance(profile, Profile) else get_profile(profile)
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")
    train, val = split_off(splits.train, chosen.val_fraction, seed)

    def dataset(part: DetectionSet, training: bool) -> tf.data.Dataset:
        ds = tf.data.Dataset.from_tensor_slices((part.images, targets(part, spec)))
        ds = ds.map(lambda x, y: (normalise(x), y), num_parallel_calls=tf.data.AUTOTUNE).cache()
        if training:
            ds = ds.shuffle(len(part), seed=seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    return Pipelines(train=dataset(train, True), val=dataset(val, False),
                     test=dataset(splits.test, False), n_train=len(train), n_val=len(val),
                     n_test=len(splits.test), batch_size=batch_size,
                     class_names=list(splits.class_names), y_train=train.labels,
                     y_val=val.labels, y_test=splits.test.labels)


def split_off(data: DetectionSet, fraction: float, seed: int = 0
              ) -> tuple[DetectionSet, DetectionSet]:
    """``(rest, held_out)``: a seeded random ``fraction`` of the images held out.

    Raises:
        ValueError: ``fraction`` not in (0, 1), or a side that would be empty.
    """
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive); got {fraction}.")
    n_held = int(round(len(data) * fraction))
    if n_held == 0 or n_held == len(data):
        raise ValueError(f"Cannot hold out {fraction:.0%} of {len(data)} images: one side "
                         "would be empty. Use more images.")
    order = np.random.default_rng([seed, 17]).permutation(len(data))
    return data.subset(np.sort(order[n_held:])), data.subset(np.sort(order[:n_held]))


def predict(model: keras.Model, images: np.ndarray, *, batch_size: int = 256,
            score_threshold: float = 0.01, iou_threshold: float = 0.5, max_outputs: int = 100,
            per_class: bool = True) -> list[Detections]:
    """Run a grid detector on uint8 images ``(N, H, W, C)``: the detections of each image.

    Pixels are scaled to [0, 1] as in training; every image's grid goes through
    :func:`postprocess`.
    """
    spec = spec_of(model)
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"images must be shaped (N, H, W, C); got {images.shape}.")
    if len(images) == 0:
        return []
    grids = np.asarray(model.predict(images.astype(np.float32) / 255.0, batch_size=batch_size,
                                     verbose=0))
    return [postprocess(g, spec, score_threshold=score_threshold, iou_threshold=iou_threshold,
                        max_outputs=max_outputs, per_class=per_class) for g in grids]


def evaluate_model(model: keras.Model, data: DetectionSet, class_names: Sequence[str], *,
                   split: str = "test", run_dir: Path | str | None = None,
                   extra: dict[str, Any] | None = None, figure_images: int = 12,
                   **postprocess_options: Any) -> DetectionReport:
    """Detect on ``data``, score against its boxes, and (with ``run_dir``) save the report.

    Saved files: ``results.json`` (the report's dictionary merged with ``extra``),
    ``detection_report.txt`` (the per-class table) and ``detections.png`` (predicted
    against true boxes on the first ``figure_images`` images).
    """
    height, width = data.images.shape[1:3]
    found = predict(model, data.images, **postprocess_options)
    truth = [(convert_boxes(b, "xyxy", "rel_xyxy", image_size=(height, width)), c)
             for b, c in data.objects()]
    report = evaluate(found, [b for b, _ in truth], [c for _, c in truth], class_names,
                      split=split)
    report.extra.update(extra or {})
    if run_dir is not None:
        save(report, run_dir, data, found, figure_images=figure_images)
    return report


def save(report: DetectionReport, run_dir: Path | str, data: DetectionSet | None = None,
         found: Sequence[Detections] | None = None, *, figure_images: int = 12) -> Path:
    """Write ``results.json``, ``detection_report.txt`` and, given the images and their
    detections, ``detections.png`` into ``run_dir``; the path of ``results.json``."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / REPORT_FILE).write_text(report.text + "\n")
    if data is not None and found is not None and figure_images > 0 and len(data):
        from cnnlabs import plots

        n = min(figure_images, len(data))
        height, width = data.images.shape[1:3]
        scale = np.array([width, height, width, height], dtype=np.float64)
        plots.detections(data.images[:n], [b for b, _ in data.objects()][:n],
                         [c for _, c in data.objects()][:n],
                         [d.boxes * scale for d in found[:n]], [d.classes for d in found[:n]],
                         [d.scores for d in found[:n]], report.class_names,
                         path=run_dir / FIGURE_FILE,
                         title=f"{report.split}: true (green) and predicted (red) boxes")
    path = run_dir / RESULTS_FILE
    path.write_text(json.dumps(report.to_dict(), indent=2))
    return path


# --- which models and datasets are about detection -----------------------------------------------


def is_detection_model(name: str) -> bool:
    """True when model ``name`` is a grid detector (its builder's ``task`` is ``"detection"``)."""
    from cnnlabs import models

    try:
        builder = models.get_builder(name)
    except ValueError:
        return False
    return getattr(builder, "task", "classification") == "detection"


def is_detection_dataset(dataset: Any) -> bool:
    """True for a detection dataset: a catalogue name whose loader's ``TASK`` is
    ``"detection"``, or loaded detection splits (their images carry boxes)."""
    import importlib

    if isinstance(dataset, str):
        from cnnlabs import datasets

        try:
            entry = datasets.info(dataset)
        except ValueError:
            return False
        loader = importlib.import_module(f"cnnlabs.datasets.{entry.loader}")
        return getattr(loader, "TASK", "classification") == "detection"
    return hasattr(getattr(dataset, "train", None), "boxes")
