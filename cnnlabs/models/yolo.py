"""A small YOLO-style grid detector (``yolo_grid``), its YOLO v1 loss and its grid accuracy.

The network maps an image to an ``S x S`` grid of label vectors, as YOLO does
(Redmon et al., "You Only Look Once: Unified, Real-Time Object Detection", 2016):
each cell holds ``B`` boxes ``(P, bx, by, bw, bh)`` and ``C`` class probabilities,
``(S, S, B*5 + C)``; with anchors (YOLO v2) each anchor has its own classes,
``(S, S, B*(5 + C))``. :class:`GridHead` turns the last convolution into exactly
that label vector (the layout of :class:`cnnlabs.detection.GridSpec`): ``P``,
``bx`` and ``by`` through a sigmoid, ``bw`` and ``bh`` (cell units) as ``exp`` of
the raw output times the anchor (one cell without anchors), and the classes through
a softmax. ``cnnlabs.detection`` encodes the targets and decodes the output.

On a 64x64x1 input with the defaults (``S = 8``, ``B = 2``, 10 classes):

===========  ====================================  ==========  ==========
block        layers                                output      parameters
===========  ====================================  ==========  ==========
stage1       conv_bn_relu 3x3 16, max pool 2x2     32x32x16           208
stage2       conv_bn_relu 3x3 32, max pool 2x2     16x16x32         4,736
stage3       conv_bn_relu 3x3 64, max pool 2x2     8x8x64          18,688
stage4       2 x conv_bn_relu 3x3 128              8x8x128        222,208
head         Conv2D 1x1 to B*5 + C, GridHead       8x8x20           2,580
===========  ====================================  ==========  ==========

Total 248,420 parameters. The backbone is fully convolutional (YOLO v1 ends in
fully connected layers; v2 dropped them). Compiling a :class:`GridDetector`
always uses :class:`YoloLoss` and :class:`GridAccuracy`, so ``training.fit``
trains it like any other model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
from keras import layers, ops

from cnnlabs.models import check_classes, check_input, check_top, feature_extractor, register
from cnnlabs.models.blocks import conv_bn_relu

#: Raw width/height outputs are clipped to this range before ``exp`` (no overflow).
_LOG_SIZE_RANGE = (-8.0, 6.0)


def _layout(boxes: int, classes: int, anchors: Any) -> tuple[int, int]:
    """``(numbers per box slot, numbers per cell)`` of the grid layout."""
    per_box = 5 if anchors is None else 5 + classes
    return per_box, boxes * per_box + (classes if anchors is None else 0)


def _split(grid: Any, boxes: int, classes: int, anchors: Any) -> tuple[Any, Any]:
    """``(slots (..., B, 5), class scores (..., B, C))`` of a grid ``(..., S, S, depth)``.

    In YOLO v1's layout every slot of a cell shares the cell's class scores.
    """
    shape = ops.shape(grid)
    lead = [shape[i] for i in range(len(grid.shape) - 1)]
    if anchors is None:
        slots = ops.reshape(grid[..., :boxes * 5], [*lead, boxes, 5])
        probs = ops.repeat(ops.expand_dims(grid[..., boxes * 5:], -2), boxes, axis=-2)
    else:
        full = ops.reshape(grid, [*lead, boxes, 5 + classes])
        slots, probs = full[..., :5], full[..., 5:]
    return slots, probs


@keras.saving.register_keras_serializable(package="cnnlabs")
class GridHead(layers.Layer):
    """Raw ``(S, S, depth)`` outputs -> YOLO label vectors ``(P, bx, by, bw, bh, c1..cC)``.

    Args:
        boxes: ``B``, box slots per cell (the number of anchors, with anchors).
        classes: ``C``.
        anchors: ``None``, or ``B`` anchor shapes ``(width, height)`` relative to the image;
            a box's size is its anchor's times ``exp`` of the raw output. Without anchors
            the prior is one cell.
    """

    def __init__(self, boxes: int, classes: int, anchors: Sequence[Sequence[float]] | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.boxes, self.classes = int(boxes), int(classes)
        self.anchors = None if anchors is None else [[float(w), float(h)] for w, h in anchors]

    def call(self, inputs: Any) -> Any:
        x = ops.cast(inputs, "float32")
        grid_size = x.shape[1]
        if self.anchors is None:
            prior = ops.ones((self.boxes, 2))
        else:
            prior = ops.convert_to_tensor(self.anchors, "float32") * grid_size
        slots, probs = _split(x, self.boxes, self.classes, self.anchors)
        confidence = ops.sigmoid(slots[..., 0:1])
        centre = ops.sigmoid(slots[..., 1:3])
        size = prior * ops.exp(ops.clip(slots[..., 3:5], *_LOG_SIZE_RANGE))
        boxes = ops.concatenate([confidence, centre, size], axis=-1)
        shape = ops.shape(x)
        lead = [shape[0], shape[1], shape[2]]
        if self.anchors is None:
            cell_probs = ops.softmax(x[..., self.boxes * 5:], axis=-1)
            return ops.concatenate([ops.reshape(boxes, [*lead, self.boxes * 5]), cell_probs],
                                   axis=-1)
        full = ops.concatenate([boxes, ops.softmax(probs, axis=-1)], axis=-1)
        return ops.reshape(full, [*lead, self.boxes * (5 + self.classes)])

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return (*input_shape[:-1], _layout(self.boxes, self.classes, self.anchors)[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "boxes": self.boxes, "classes": self.classes,
                "anchors": self.anchors}


def _cell_iou(a: Any, b: Any) -> Any:
    """IoU of centre-size boxes ``(..., 4)`` given in the same cell's frame."""
    a_min, a_max = a[..., :2] - a[..., 2:] / 2, a[..., :2] + a[..., 2:] / 2
    b_min, b_max = b[..., :2] - b[..., 2:] / 2, b[..., :2] + b[..., 2:] / 2
    overlap = ops.maximum(ops.minimum(a_max, b_max) - ops.maximum(a_min, b_min), 0.0)
    inter = overlap[..., 0] * overlap[..., 1]
    union = a[..., 2] * a[..., 3] + b[..., 2] * b[..., 3] - inter
    return ops.where(union > 0, inter / ops.maximum(union, 1e-12), 0.0)


def yolo_loss_terms(y_true: Any, y_pred: Any, *, boxes: int, classes: int,
                    anchors: Any = None, lambda_coord: float = 5.0, lambda_noobj: float = 0.5,
                    rescore: bool = True) -> dict[str, Any]:
    """The four sums of the YOLO v1 loss, per image: ``coord``, ``obj``, ``noobj``, ``class``.

    ``y_true`` is a target from ``detection.encode``; ``y_pred`` a :class:`GridHead`
    output, in the same layout. A box slot is *responsible* for an object: without
    anchors, the slot of the object's cell whose predicted box overlaps it most (the
    object is encoded in slot 0); with anchors, the slot the target assigns.

    - ``coord``: ``lambda_coord`` times the squared errors of ``bx, by`` and of
      ``sqrt(bw), sqrt(bh)`` (so an error counts more on a small box), over
      responsible slots;
    - ``obj``: the squared error of ``P`` over responsible slots, against the IoU of
      the predicted and true box (``rescore``, YOLO v1) or against 1;
    - ``noobj``: ``lambda_noobj`` times ``P`` squared over every other slot;
    - ``class``: the squared error of the class probabilities, over cells with an
      object (without anchors) or responsible slots (with anchors).

    Returns:
        A dict of four ``(batch,)`` tensors.
    """
    y_true = ops.cast(y_true, "float32")
    y_pred = ops.cast(y_pred, "float32")
    true_slots, true_probs = _split(y_true, boxes, classes, anchors)
    pred_slots, pred_probs = _split(y_pred, boxes, classes, anchors)
    if anchors is None:
        has_object = true_slots[..., 0, 0]  # (batch, S, S): the object sits in slot 0
        truth = ops.repeat(true_slots[..., 0:1, 1:5], boxes, axis=-2)
        overlap = _cell_iou(pred_slots[..., 1:5], truth)
        best = ops.one_hot(ops.argmax(overlap, axis=-1), boxes)
        responsible = best * ops.expand_dims(has_object, -1)
        class_error = has_object * ops.sum(ops.square(pred_probs[..., 0, :]
                                                      - true_probs[..., 0, :]), axis=-1)
    else:
        truth = true_slots[..., 1:5]
        overlap = _cell_iou(pred_slots[..., 1:5], truth)
        responsible = true_slots[..., 0]
        class_error = responsible * ops.sum(ops.square(pred_probs - true_probs), axis=-1)
    centre_error = ops.sum(ops.square(pred_slots[..., 1:3] - truth[..., 0:2]), axis=-1)
    size_error = ops.sum(ops.square(ops.sqrt(ops.maximum(pred_slots[..., 3:5], 0.0))
                                    - ops.sqrt(ops.maximum(truth[..., 2:4], 0.0))), axis=-1)
    target_p = ops.stop_gradient(overlap) if rescore else ops.ones_like(overlap)
    p = pred_slots[..., 0]
    per_image = (1, 2, 3)
    return {
        "coord": lambda_coord * ops.sum(responsible * (centre_error + size_error), axis=per_image),
        "obj": ops.sum(responsible * ops.square(p - target_p), axis=per_image),
        "noobj": lambda_noobj * ops.sum((1.0 - responsible) * ops.square(p), axis=per_image),
        "class": ops.sum(class_error, axis=(1, 2) if anchors is None else per_image),
    }


@keras.saving.register_keras_serializable(package="cnnlabs")
class YoloLoss(keras.losses.Loss):
    """The YOLO v1 sum-squared loss (:func:`yolo_loss_terms`), summed per image, averaged
    over the batch.

    Args:
        boxes, classes, anchors: the grid layout (as :class:`GridHead`'s).
        lambda_coord: the weight of the coordinate errors (5 in YOLO v1).
        lambda_noobj: the weight of the objectness of slots without an object (0.5).
        rescore: train ``P`` towards the IoU of the predicted box (YOLO v1) rather than 1.
    """

    def __init__(self, boxes: int, classes: int, anchors: Any = None, lambda_coord: float = 5.0,
                 lambda_noobj: float = 0.5, rescore: bool = True, name: str = "yolo_loss",
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.boxes, self.classes = int(boxes), int(classes)
        self.anchors = None if anchors is None else [[float(w), float(h)] for w, h in anchors]
        self.lambda_coord, self.lambda_noobj = float(lambda_coord), float(lambda_noobj)
        self.rescore = bool(rescore)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        terms = yolo_loss_terms(y_true, y_pred, boxes=self.boxes, classes=self.classes,
                                anchors=self.anchors, lambda_coord=self.lambda_coord,
                                lambda_noobj=self.lambda_noobj, rescore=self.rescore)
        return terms["coord"] + terms["obj"] + terms["noobj"] + terms["class"]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "boxes": self.boxes, "classes": self.classes,
                "anchors": self.anchors, "lambda_coord": self.lambda_coord,
                "lambda_noobj": self.lambda_noobj, "rescore": self.rescore}


def grid_accuracy(y_true: Any, y_pred: Any, *, boxes: int, classes: int, anchors: Any = None,
                  threshold: float = 0.5) -> Any:
    """Per image, the share of cells whose content the grid gets right: ``(batch,)``.

    A cell's true content is "nothing" or the class of (one of) its objects; the
    predicted content is "nothing" when no slot has ``P`` above ``threshold``, else the
    most probable class of the most confident slot.
    """
    true_slots, true_probs = _split(ops.cast(y_true, "float32"), boxes, classes, anchors)
    pred_slots, pred_probs = _split(ops.cast(y_pred, "float32"), boxes, classes, anchors)
    true_best = ops.argmax(true_slots[..., 0], axis=-1)
    pred_best = ops.argmax(pred_slots[..., 0], axis=-1)

    def content(slots: Any, probs: Any, best: Any, present: Any) -> Any:
        chosen = ops.take_along_axis(probs, best[..., None, None], axis=-2)[..., 0, :]
        return ops.where(present, ops.argmax(chosen, axis=-1), classes)

    truth = content(true_slots, true_probs, true_best, ops.max(true_slots[..., 0], -1) > 0.5)
    guess = content(pred_slots, pred_probs, pred_best,
                    ops.max(pred_slots[..., 0], -1) > threshold)
    return ops.mean(ops.cast(ops.equal(truth, guess), "float32"), axis=(1, 2))


@keras.saving.register_keras_serializable(package="cnnlabs")
class GridAccuracy(keras.metrics.MeanMetricWrapper):
    """The mean of :func:`grid_accuracy` over images: each cell's "nothing or class k" right."""

    def __init__(self, boxes: int, classes: int, anchors: Any = None, threshold: float = 0.5,
                 name: str = "accuracy", dtype: Any = None) -> None:
        super().__init__(grid_accuracy, name=name, dtype=dtype, boxes=int(boxes),
                         classes=int(classes), anchors=anchors, threshold=float(threshold))
        self.boxes, self.classes, self.anchors = int(boxes), int(classes), anchors
        self.threshold = float(threshold)

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype, "boxes": self.boxes,
                "classes": self.classes, "anchors": self.anchors, "threshold": self.threshold}


@keras.saving.register_keras_serializable(package="cnnlabs")
class GridDetector(keras.Model):
    """A functional model ending in a :class:`GridHead`, which trains with its YOLO loss.

    ``compile`` always uses :class:`YoloLoss` (with this model's ``lambda_coord``,
    ``lambda_noobj`` and ``rescore``) and :class:`GridAccuracy` named ``"accuracy"``:
    the ``loss`` and ``metrics`` arguments are ignored, since a grid detector has one
    loss and ``training.fit`` compiles every model with cross-entropy. So
    ``model.compile(optimizer="adam")`` then ``model.fit(images, targets)`` trains it.
    """

    def __init__(self, *args: Any, lambda_coord: float = 5.0, lambda_noobj: float = 0.5,
                 rescore: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lambda_coord, self.lambda_noobj = float(lambda_coord), float(lambda_noobj)
        self.rescore = bool(rescore)

    def _head(self) -> GridHead:
        return self.get_layer("grid_head")

    def yolo_loss(self) -> YoloLoss:
        """The loss this model trains with."""
        head = self._head()
        return YoloLoss(head.boxes, head.classes, head.anchors, self.lambda_coord,
                        self.lambda_noobj, self.rescore)

    def compile(self, optimizer: Any = "adam", loss: Any = None, metrics: Any = None,
                **kwargs: Any) -> None:
        head = self._head()
        kwargs.pop("weighted_metrics", None)
        super().compile(optimizer=optimizer, loss=self.yolo_loss(),
                        metrics=[GridAccuracy(head.boxes, head.classes, head.anchors)],
                        **kwargs)

    def get_compile_config(self) -> dict[str, Any]:
        config = super().get_compile_config()
        return {key: config[key] for key in ("optimizer", "jit_compile", "steps_per_execution")
                if key in config}

    def compile_from_config(self, config: dict[str, Any]) -> None:
        config = keras.saving.deserialize_keras_object(config)
        self.compile(**config)
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "lambda_coord": self.lambda_coord,
                "lambda_noobj": self.lambda_noobj, "rescore": self.rescore}


def _grid_plan(input_shape: Sequence[int], grid_size: int | None) -> tuple[int, int]:
    """``(S, number of 2x2 poolings)`` for a square input; the input must be S times a power
    of two."""
    height, width = int(input_shape[0]), int(input_shape[1])
    if height != width:
        raise ValueError(f"yolo_grid needs square images; got {height}x{width}. Pad or resize "
                         "them to a square.")
    size = height // 8 if grid_size is None else grid_size
    if isinstance(size, bool) or not float(size).is_integer() or size < 1:
        raise ValueError(f"grid_size must be a whole number, 1 or more; got {grid_size!r}.")
    size = int(size)
    ratio = height / size
    pools = round(math.log2(ratio)) if ratio >= 1 else -1
    if pools < 0 or 2 ** pools * size != height:
        raise ValueError(f"yolo_grid: the image side ({height}) must be grid_size ({size}) "
                         "times a power of two (1, 2, 4, 8 ...), one 2x2 pooling each.")
    return size, pools


@register("yolo_grid")
def yolo_grid(input_shape: Sequence[int], classes: int | None, *, grid_size: int | None = None,
              boxes: int = 2, anchors: Sequence[Sequence[float]] | None = None,
              filters: Sequence[int] = (16, 32, 64, 128), lambda_coord: float = 5.0,
              lambda_noobj: float = 0.5, rescore: bool = True, include_top: bool = True,
              pooling: str | None = None) -> keras.Model:
    """A small YOLO-style detector: convolutions and poolings down to an ``S x S`` grid.

    Stage ``i`` is a ``conv_bn_relu`` 3x3 with ``filters[i]`` followed by a 2x2 max
    pooling, as many stages as it takes to reach ``S`` (the image side over a power of
    two); then two ``conv_bn_relu`` with ``filters[-1]`` at ``S x S``, a 1x1 convolution
    to the layout's depth, and the :class:`GridHead`.

    Args:
        input_shape: (height, width, channels), square, the side ``S`` times a power of 2.
        classes: object classes, ``C`` (ignored with ``include_top=False``).
        grid_size: ``S``; ``None`` takes the side over 8.
        boxes: ``B``, box slots per cell (ignored when ``anchors`` are given).
        anchors: ``None`` (YOLO v1's layout), or anchor shapes ``(width, height)``
            relative to the image (YOLO v2's layout, one slot per anchor).
        filters: filters of the stages; its last entry is also that of the grid convolutions.
            Give as many as there are poolings plus one.
        lambda_coord, lambda_noobj, rescore: the loss's settings (:class:`YoloLoss`).
        include_top: False returns the feature extractor (the ``S x S`` feature map).
        pooling: with ``include_top=False``: None, ``"avg"`` or ``"max"``.

    Returns:
        A :class:`GridDetector` (a plain ``keras.Model`` with ``include_top=False``).

    Raises:
        ValueError: a non-square input, a side that is not ``S`` times a power of two,
            a ``filters`` list of the wrong length, or bad anchors.
    """
    check_top(include_top, pooling)
    shape = check_input("yolo_grid", input_shape, min_size=1)
    size, pools = _grid_plan(shape, grid_size)
    filters = [int(f) for f in filters]
    if len(filters) != pools + 1:
        raise ValueError(f"yolo_grid on {shape[0]}x{shape[1]} images with grid_size {size} "
                         f"pools {pools} times, so it needs {pools + 1} filter counts; got "
                         f"filters={tuple(filters)}.")
    if anchors is not None:
        anchors = [[float(w), float(h)] for w, h in anchors]
        if not anchors or not all(w > 0 and h > 0 for w, h in anchors):
            raise ValueError(f"anchors must be (width, height) pairs above 0; got {anchors}.")
        boxes = len(anchors)
    if isinstance(boxes, bool) or not float(boxes).is_integer() or boxes < 1:
        raise ValueError(f"boxes must be a whole number, 1 or more; got {boxes!r}.")
    boxes = int(boxes)

    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    for stage, count in enumerate(filters[:-1], start=1):
        x = conv_bn_relu(x, count, 1, name=f"stage{stage}")
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    last = len(filters)
    x = conv_bn_relu(x, filters[-1], 1, name=f"stage{last}a")
    x = conv_bn_relu(x, filters[-1], 1, name=f"stage{last}b")
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="yolo_grid")
    classes = check_classes(classes)
    depth = _layout(boxes, classes, anchors)[1]
    x = layers.Conv2D(depth, 1, name="grid_conv")(x)
    outputs = GridHead(boxes, classes, anchors, dtype="float32", name="grid_head")(x)
    return GridDetector(inputs, outputs, lambda_coord=lambda_coord, lambda_noobj=lambda_noobj,
                        rescore=rescore, name="yolo_grid")


#: What the builder makes: ``cnnlabs.detection.is_detection_model`` reads it.
yolo_grid.task = "detection"
