"""Model access shared by the explanation methods: layers, inputs, class scores, guided ReLUs.

Every method reaches inside a model the same way, whatever kind it is:

* a Sequential model (built from a ``keras.Input`` or not: an unbuilt one is
  built on the images' shape, so Keras 3's "has never been called and thus has
  no defined output" cannot happen here);
* a Functional model;
* a model with a nested model as a layer (the ``backbone`` of
  :func:`cnnlabs.models.transfer`), whose inner layers can be targets too.

The class score is the *logit* (the input of the final softmax) where the model
ends in a softmax ``Dense`` or ``Activation`` layer, so that confident predictions
do not saturate the gradient; otherwise the model's output. The *embedding* of an
image is the input of the model's last layer (the last hidden layer), flattened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras

#: Layers skipped when choosing the default Grad-CAM layer: they follow the last
#: convolution without adding anything but a coarser (pooled) or noisier map.
_SKIPPED = ("MaxPooling2D", "AveragePooling2D", "Dropout", "SpatialDropout2D")


# --------------------------------------------------------------------------- layers


def check_model(model: Any) -> None:
    """Refuse anything but a Keras model with layers."""
    import keras

    if not isinstance(model, keras.Model):
        raise TypeError(f"Expected a keras.Model; got {type(model).__name__}.")
    if not model.layers:
        raise ValueError(f"Model {model.name!r} has no layers.")


def is_sequential(model: Any) -> bool:
    import keras

    return isinstance(model, keras.Sequential)


def is_nested(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Model) and bool(getattr(layer, "layers", None))


def top_layers(model: keras.Model) -> list[Any]:
    """The model's layers in order, without its ``InputLayer``."""
    return [lyr for lyr in model.layers if lyr.__class__.__name__ != "InputLayer"]


def output_rank(layer: Any) -> int | None:
    """The rank of a layer's (first) output, or None when it has no symbolic output."""
    try:
        return len(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def is_4d(layer: Any) -> bool:
    return layer.__class__.__name__ != "InputLayer" and output_rank(layer) == 4


def built_or_build(model: keras.Model, image_shape: Sequence[int] | None = None) -> None:
    """Build an unbuilt model (a Sequential made without ``keras.Input``) for ``image_shape``.

    Raises:
        ValueError: the model is not built and no image shape is known, or building
            it for that shape fails; the message says how to build it.
    """
    check_model(model)
    if model.built and all(output_rank(lyr) is not None for lyr in top_layers(model)):
        return
    fix = ("build it first, e.g. model.build((None, height, width, channels)), or start a "
           "Sequential model with keras.Input((height, width, channels))")
    if image_shape is None:
        raise ValueError(f"Model {model.name!r} has not been built, so its layers have no "
                         f"shapes or weights yet: {fix}.")
    try:
        model.build((None, *(int(d) for d in image_shape)))
    except Exception as exc:  # Keras raises many kinds here; the message carries the cause
        raise ValueError(f"Model {model.name!r} could not be built for images shaped "
                         f"{tuple(image_shape)} ({type(exc).__name__}: {exc}); {fix}.") from exc


def input_shape(model: keras.Model) -> tuple[int | None, ...] | None:
    """The (H, W, C) a built model takes (None for unknown sizes), or None when not known."""
    try:
        return tuple(None if d is None else int(d) for d in model.inputs[0].shape[1:])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def candidates(model: keras.Model, test: Callable[[Any], bool] = is_4d) -> list[str]:
    """Names of the layers passing ``test``, the top level and one nested level down."""
    names = []
    for lyr in top_layers(model):
        if test(lyr):
            names.append(lyr.name)
        if is_nested(lyr):
            names += [inner.name for inner in top_layers(lyr) if test(inner)]
    return names


def candidate_text(model: keras.Model, test: Callable[[Any], bool] = is_4d,
                   limit: int = 25) -> str:
    names = candidates(model, test)
    if not names:
        return "none"
    if len(names) > limit:
        return f"..., {', '.join(names[-limit:])} ({len(names) - limit} earlier ones left out)"
    return ", ".join(names)


def _default_in(layers: Sequence[Any]) -> Any | None:
    found = [lyr for lyr in layers if is_4d(lyr)]
    if not found:
        return None
    for lyr in reversed(found):
        if lyr.__class__.__name__ not in _SKIPPED:
            return lyr
    return found[-1]


def locate(model: keras.Model, layer: str, test: Callable[[Any], bool] = is_4d,
           kind: str = "4-D") -> tuple[Any, Any | None]:
    """``(top-level layer, layer inside it or None)`` for the layer named ``layer``.

    Raises:
        ValueError: no such layer, or it fails ``test``; the message lists the candidates.
    """
    if not isinstance(layer, str):
        raise TypeError(f"layer must be a layer name (str); got {layer!r}.")
    for lyr in top_layers(model):
        if lyr.name == layer:
            if not test(lyr):
                shape = getattr(getattr(lyr, "output", None), "shape", "?")
                raise ValueError(
                    f"Layer {layer!r} has output shape {tuple(shape)}, not {kind}. "
                    f"{kind} layers of {model.name!r}: {candidate_text(model, test)}.")
            return lyr, None
    for lyr in top_layers(model):
        if is_nested(lyr):
            for inner in top_layers(lyr):
                if inner.name == layer and test(inner):
                    return lyr, inner
    raise ValueError(f"No {kind} layer named {layer!r} in model {model.name!r}. "
                     f"{kind} layers: {candidate_text(model, test)}.")


def find_layer(model: keras.Model, layer: str | None = None) -> tuple[Any, Any | None]:
    """The Grad-CAM target: ``(top-level layer, layer inside it or None)``.

    ``layer=None`` picks the last layer with a 4-D (N, H, W, C) output before
    global pooling / flatten, skipping trailing pooling and dropout layers (so
    LeNet's ``block2_relu`` rather than ``block2_pool``). If that is a nested
    model (the backbone of a transfer model), it descends to the backbone's
    last 4-D layer the same way (e.g. ``out_relu`` for MobileNetV2,
    ``block5_conv3`` for VGG16). A name is looked up among the top-level layers,
    then inside nested models.

    Args:
        model: a built Keras model (see :func:`built_or_build` for an unbuilt one).
        layer: a layer name, or None for the default.

    Returns:
        The top-level layer and, for a layer inside a nested model, that layer.

    Raises:
        ValueError: no 4-D layer at all, or an unknown / not 4-D layer name; the
            message lists the candidate layers.
    """
    check_model(model)
    if layer is None:
        outer = _default_in(top_layers(model))
        if outer is None:
            raise ValueError(
                f"Model {model.name!r} has no layer with a 4-D (batch, height, width, "
                "channels) output: this method needs a convolutional feature map.")
        if is_nested(outer):
            return outer, _default_in(top_layers(outer))
        return outer, None
    return locate(model, layer)


# --------------------------------------------------------------------------- inputs


def as_batch(model: keras.Model, images: Any) -> np.ndarray:
    """Images as a float32 batch (N, H, W, C) the model takes; builds an unbuilt model.

    One image (H, W, C) becomes a batch of one. For a one-channel model, one (H, W)
    image or a batch (N, H, W) gets its channel axis. An empty batch stays empty.

    Raises:
        ValueError: not an image or a batch of them, a shape the model does not take,
            or NaN / infinite values.
    """
    check_model(model)
    try:
        x = np.asarray(images, dtype="float32")
    except (TypeError, ValueError) as exc:
        raise ValueError(f"images must be a numeric array (N, H, W, C); got "
                         f"{type(images).__name__} ({exc}).") from None
    expected = input_shape(model) if model.built else None
    if x.size == 0 and x.ndim < 4:
        if expected is None or None in expected:
            raise ValueError(f"Got an empty batch shaped {x.shape} and the model's image "
                             "shape is unknown; pass images shaped (N, H, W, C).")
        return np.zeros((0, *expected), "float32")
    one_channel = expected is not None and expected[-1] == 1
    if x.ndim == 2 and (expected is None or one_channel):
        x = x[None, ..., None]
    elif x.ndim == 3:
        if one_channel and x.shape[-1] != 1 and (expected[0] in (None, x.shape[1])):
            x = x[..., None]  # a batch of one-channel images without their channel axis
        elif expected is None and x.shape[-1] not in (1, 3, 4):
            raise ValueError(f"Model {model.name!r} is not built, so images shaped {x.shape} "
                             "could be one image or a batch: pass (N, H, W, C).")
        else:
            x = x[None]
    if x.ndim != 4:
        raise ValueError(f"Expected images shaped (N, H, W, C) or one image (H, W, C); "
                         f"got {np.shape(images)}.")
    if expected is not None and any(e is not None and e != g
                                    for e, g in zip(expected, x.shape[1:], strict=True)):
        raise ValueError(f"Model {model.name!r} takes images shaped {expected}; got a batch "
                         f"of {x.shape[1:]} (resize the images, or give one image as "
                         "(H, W, C) and a batch as (N, H, W, C)).")
    bad = int(np.size(x) - np.count_nonzero(np.isfinite(x)))
    if bad:
        raise ValueError(f"images hold {bad} NaN or infinite value(s); clean them first "
                         "(np.nan_to_num, or drop those images).")
    if not model.built or expected is None:
        built_or_build(model, x.shape[1:])
    return x


def num_classes(model: keras.Model) -> int | None:
    """The size of the model's output, or None when it is not known."""
    try:
        return int(model.outputs[0].shape[-1])
    except (AttributeError, IndexError, TypeError, ValueError):
        return None


def check_classes(class_index: Any, n: int, classes: int | None) -> np.ndarray | None:
    """``class_index`` as one int32 class per image (None stays None: the predicted class).

    Raises:
        ValueError: not whole numbers, the wrong count, or outside ``0..classes-1``.
    """
    if class_index is None:
        return None
    raw = np.asarray(class_index)
    if raw.dtype.kind not in "iu" or raw.ndim > 1 or (raw.ndim == 1 and raw.size not in (1, n)):
        raise ValueError(f"class_index must be one class number or one per image ({n}); "
                         f"got {class_index!r}.")
    idx = np.broadcast_to(raw.reshape(-1) if raw.ndim else raw, (n,)).astype("int64")
    if n and (idx.min() < 0 or (classes is not None and idx.max() >= classes)):
        valid = "whole numbers >= 0" if classes is None else f"0..{classes - 1}"
        raise ValueError(f"class_index {class_index} outside {valid} (the model has "
                         f"{classes or 'an unknown number of'} outputs).")
    idx = idx.astype("int32")
    return idx


def chunks(n: int, size: int) -> Iterator[slice]:
    """Slices of ``range(n)`` of at most ``size`` each."""
    size = max(1, int(size))
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}; got {value!r}.")
    return int(value)


# --------------------------------------------------------------------------- forward passes


def softmax_head(model: keras.Model) -> Any | None:
    """The final layer if it applies a softmax (then scores are its pre-softmax logits)."""
    last = top_layers(model)[-1]
    activation = getattr(last, "activation", None)
    if getattr(activation, "__name__", "") == "softmax":
        return last
    return None


def logits(head: Any, x: Any) -> Any:
    """The pre-softmax values of the softmax layer ``head`` for its input ``x``."""
    import tensorflow as tf

    if head.__class__.__name__ == "Activation":
        return tf.cast(x, "float32")
    kernel = tf.cast(head.kernel, "float32")
    y = tf.matmul(tf.cast(x, "float32"), kernel)
    if getattr(head, "bias", None) is not None:
        y = y + tf.cast(head.bias, "float32")
    return y


@dataclass
class Outputs:
    """One forward pass: the target layer's output, the embedding and the class scores."""

    feature: Any
    embedding: Any
    scores: Any


def _graph_output(layer: Any) -> Any:
    """A layer's output in the graph of the model that holds it (one call only)."""
    nodes = layer._inbound_nodes
    return nodes[0].output_tensors[0] if len(nodes) == 1 else layer.output


def _graph_input(layer: Any) -> Any:
    nodes = layer._inbound_nodes
    return nodes[0].input_tensors[0] if len(nodes) == 1 else layer.input


def _chain(model: keras.Model) -> list[Any]:
    """The top-level layers in order, checking that each feeds the next."""
    stack = top_layers(model)
    if is_sequential(model):
        return stack
    if len(model.inputs) != 1:
        raise ValueError("A layer inside a nested model can only be reached in a "
                         "single-input model.")
    previous = model.inputs[0]._keras_history[0]
    for lyr in stack:
        nodes = lyr._inbound_nodes
        sources = [t._keras_history[0] for t in nodes[0].input_tensors] if nodes else []
        if len(nodes) != 1 or len(sources) != 1 or sources[0] is not previous:
            raise ValueError(
                "A layer inside a nested model can only be reached when the top-level "
                f"layers form a chain; {lyr.name!r} does not follow the previous layer.")
        previous = lyr
    return stack


def _run_nested(outer: Any, inner: Any, y: Any) -> tuple[Any, Any]:
    """Run the nested model ``outer`` on ``y``: (inner layer's output, outer's output)."""
    import keras

    if is_sequential(outer):
        feats = None
        for lyr in top_layers(outer):
            y = lyr(y, training=False)
            if lyr is inner:
                feats = y
        return feats, y
    sub = keras.Model(outer.inputs, [inner.output, outer.outputs[0]])
    return tuple(sub(y, training=False))


def forward(model: keras.Model, layer: tuple[Any, Any | None] | None = None,
            scores: bool = True) -> Callable[[Any], Outputs]:
    """A differentiable function images -> :class:`Outputs` for ``model``.

    Args:
        model: a built model (see :func:`as_batch`, which builds it on the images).
        layer: ``(top-level layer, inner layer or None)`` as :func:`locate` returns,
            whose output becomes ``Outputs.feature``; None for none.
        scores: also compute the embedding and the class scores (False stops at the
            layer, which must then be given).
    """
    import keras
    import tensorflow as tf

    if len(getattr(model, "outputs", None) or [None]) != 1:
        raise ValueError(f"Model {model.name!r} has {len(model.outputs)} outputs; the "
                         "explanation methods need a model with one output.")
    outer, inner = layer if layer is not None else (None, None)
    head = softmax_head(model)
    last = top_layers(model)[-1]

    def finish(feature: Any, before_last: Any) -> Outputs:
        if not scores:
            return Outputs(feature, None, None)
        out = logits(head, before_last) if head is not None else last(before_last,
                                                                      training=False)
        flat = tf.reshape(before_last, (tf.shape(before_last)[0], -1))
        return Outputs(feature, tf.cast(flat, "float32"), tf.cast(out, "float32"))

    if inner is None and not is_sequential(model):
        ends = [] if outer is None else [_graph_output(outer)]
        if scores:
            ends.append(_graph_input(last))
        sub = keras.Model(model.inputs, ends)

        def run(x: Any) -> Outputs:
            values = sub(tf.convert_to_tensor(x), training=False)
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            feature = values.pop(0) if outer is not None else None
            return finish(feature, values[0] if scores else None)

        return run

    stack = _chain(model)
    body = stack[:-1]

    def walk(x: Any) -> Outputs:
        feature, y = None, tf.convert_to_tensor(x)
        for lyr in body:
            if lyr is outer and inner is not None:
                feature, y = _run_nested(outer, inner, y)
            else:
                y = lyr(y, training=False)
                if lyr is outer:
                    feature = y
            if feature is not None and not scores:
                return Outputs(feature, None, None)
        if last is outer:  # the target is the output layer itself
            feature = last(y, training=False)
            if not scores:
                return Outputs(feature, None, None)
        return finish(feature, y)

    return walk


def predicted(run: Callable[[Any], Outputs], x: np.ndarray, batch_size: int) -> np.ndarray:
    """The arg-max class of each image (int32)."""
    import tensorflow as tf

    found = [np.argmax(run(tf.constant(x[part])).scores.numpy(), axis=-1)
             for part in chunks(len(x), batch_size)]
    return np.concatenate(found).astype("int32") if found else np.zeros(0, "int32")


# --------------------------------------------------------------------------- guided ReLUs


def _all_layers(model: Any) -> Iterator[Any]:
    for lyr in getattr(model, "layers", []):
        yield lyr
        if is_nested(lyr):
            yield from _all_layers(lyr)


def _guided(max_value: float | None = None, threshold: float = 0.0) -> Callable[[Any], Any]:
    """A ReLU whose gradient passes only where both the input is active and the signal > 0."""
    import tensorflow as tf

    @tf.custom_gradient
    def guided_relu(x: Any) -> Any:
        active = x > threshold
        if max_value is not None:
            active = tf.logical_and(active, x < max_value)
        y = tf.where(x > threshold, x, tf.zeros_like(x))
        if max_value is not None:
            y = tf.minimum(y, tf.cast(max_value, y.dtype))

        def grad(dy: Any) -> Any:
            return dy * tf.cast(tf.logical_and(active, dy > 0), dy.dtype)

        return y, grad

    return guided_relu


@contextlib.contextmanager
def guided_relus(model: keras.Model) -> Iterator[int]:
    """Within the block, every plain ReLU of ``model`` (nested models too) backpropagates
    only positive signals (Springenberg et al., 2015); yields how many were changed.

    ReLUs are ``activation="relu"`` on any layer, ``Activation("relu")`` and ``ReLU``
    layers without a negative slope (ReLU6 included). The model is restored on exit.
    """
    changed: list[tuple[Any, str, Any]] = []
    try:
        for lyr in _all_layers(model):
            activation = getattr(lyr, "activation", None)
            if getattr(activation, "__name__", "") == "relu":
                changed.append((lyr, "activation", activation))
                object.__setattr__(lyr, "activation", _guided())
            elif lyr.__class__.__name__ == "ReLU" and not getattr(lyr, "negative_slope", 0.0):
                changed.append((lyr, "call", None))
                guided = _guided(getattr(lyr, "max_value", None),
                                 float(getattr(lyr, "threshold", 0.0) or 0.0))
                object.__setattr__(lyr, "call", lambda inputs, _g=guided: _g(inputs))
        yield len(changed)
    finally:
        for lyr, attribute, original in reversed(changed):
            if attribute == "call":
                vars(lyr).pop("call", None)
            else:
                object.__setattr__(lyr, attribute, original)
