"""Where does a CNN look? Grad-CAM, gradient saliency and overlays.

* :func:`gradcam` (Selvaraju et al., 2017): the feature maps of one
  convolutional layer, weighted by the spatially averaged gradient of the class
  score, ReLU, upsampled to the input size and scaled to [0, 1].
* :func:`saliency` (Simonyan et al., 2014): ``|d score / d pixel|``, max over
  channels, scaled to [0, 1].

The class score is the *logit* (the input of the final softmax) where the model
ends in a softmax ``Dense`` or ``Activation`` layer, so that confident
predictions do not saturate the gradient; otherwise the model's output.
Both work on any Functional/Sequential Keras CNN built from an ``Input``,
including the nested-backbone models of :func:`cnnlabs.models.transfer`.
Images are fed as the model expects them (for transfer models: raw 0-255 pixels).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import keras
    from matplotlib.figure import Figure

#: Layers skipped when choosing the default Grad-CAM layer: they follow the last
#: convolution without adding anything but a coarser (pooled) or noisier map.
_SKIPPED = ("MaxPooling2D", "AveragePooling2D", "Dropout", "SpatialDropout2D")


def _is_4d(layer: Any) -> bool:
    if layer.__class__.__name__ == "InputLayer":
        return False
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):
        return False


def _is_nested(layer: Any) -> bool:
    import keras

    return isinstance(layer, keras.Model) and bool(getattr(layer, "layers", None))


def _default_in(layers: Sequence[Any]) -> Any | None:
    candidates = [lyr for lyr in layers if _is_4d(lyr)]
    if not candidates:
        return None
    for lyr in reversed(candidates):
        if lyr.__class__.__name__ not in _SKIPPED:
            return lyr
    return candidates[-1]


def _candidates(model: keras.Model) -> list[str]:
    names = []
    for lyr in model.layers:
        if _is_4d(lyr):
            names.append(lyr.name)
            if _is_nested(lyr):
                names += [f"{inner.name}" for inner in lyr.layers if _is_4d(inner)]
    return names


def _candidate_text(model: keras.Model, limit: int = 25) -> str:
    names = _candidates(model)
    if len(names) > limit:
        return f"..., {', '.join(names[-limit:])} ({len(names) - limit} earlier ones left out)"
    return ", ".join(names)


def find_layer(model: keras.Model, layer: str | None = None) -> tuple[Any, Any | None]:
    """The Grad-CAM target: ``(top-level layer, layer inside it or None)``.

    ``layer=None`` picks the last layer with a 4-D (N, H, W, C) output before
    global pooling / flatten, skipping trailing pooling and dropout layers (so
    LeNet's ``conv2_relu`` rather than ``conv2_pool``). If that is a nested
    model (the backbone of a transfer model), it descends to the backbone's
    last 4-D layer the same way (e.g. ``out_relu`` for MobileNetV2,
    ``block5_conv3`` for VGG16). A name is looked up among the top-level layers,
    then inside nested models.

    Raises:
        ValueError: no 4-D layer at all, or an unknown / not 4-D layer name; the
            message lists the candidate layers.
    """
    if layer is None:
        outer = _default_in(model.layers)
        if outer is None:
            raise ValueError(
                f"Model {model.name!r} has no layer with a 4-D (batch, height, width, "
                "channels) output: Grad-CAM needs a convolutional feature map."
            )
        if _is_nested(outer):
            inner = _default_in(outer.layers)
            return outer, inner
        return outer, None
    for lyr in model.layers:
        if lyr.name == layer:
            if not _is_4d(lyr):
                raise ValueError(
                    f"Layer {layer!r} has output shape {tuple(lyr.output.shape)}, not 4-D. "
                    f"Convolutional layers of {model.name!r}: {_candidate_text(model)}."
                )
            return lyr, None
    for lyr in model.layers:
        if _is_nested(lyr):
            for inner in lyr.layers:
                if inner.name == layer and _is_4d(inner):
                    return lyr, inner
    raise ValueError(
        f"No 4-D layer named {layer!r} in model {model.name!r}. "
        f"Convolutional layers: {_candidate_text(model)}."
    )


def _softmax_head(model: keras.Model) -> Any | None:
    """The final layer if it applies a softmax (then scores are its pre-softmax logits)."""
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    if getattr(activation, "__name__", "") == "softmax":
        return last
    return None


def _logits(head: Any, x: Any) -> Any:
    """The pre-softmax values of the softmax layer ``head`` for its input ``x``."""
    import tensorflow as tf

    if head.__class__.__name__ == "Activation":
        return tf.cast(x, "float32")
    kernel = tf.cast(head.kernel, "float32")
    y = tf.matmul(tf.cast(x, "float32"), kernel)
    if getattr(head, "bias", None) is not None:
        y = y + tf.cast(head.bias, "float32")
    return y


def _as_batch(model: keras.Model, images: Any) -> np.ndarray:
    x = np.asarray(images, dtype="float32")
    if x.ndim == len(model.inputs[0].shape) - 1:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"Expected images shaped (N, H, W, C); got {x.shape}.")
    return x


def _class_indices(scores: Any, class_index: int | Sequence[int] | None, n: int) -> Any:
    import tensorflow as tf

    if class_index is None:
        return tf.argmax(scores, axis=-1, output_type=tf.int32)
    raw = np.asarray(class_index)
    if raw.dtype.kind not in "iu" or raw.ndim > 1 or (raw.ndim == 1 and raw.size not in (1, n)):
        raise ValueError(f"class_index must be one class number or one per image ({n}); "
                         f"got {class_index!r}.")
    idx = np.broadcast_to(raw.astype("int32"), (n,))
    classes = int(scores.shape[-1])
    if idx.min() < 0 or idx.max() >= classes:
        raise ValueError(f"class_index {class_index} outside 0..{classes - 1}.")
    return tf.constant(idx)


def _chain(model: keras.Model) -> list[Any]:
    """The top-level layers in order, checking that each feeds the next."""
    stack = [lyr for lyr in model.layers if lyr.__class__.__name__ != "InputLayer"]
    if len(model.inputs) != 1:
        raise ValueError("Grad-CAM inside a nested model needs a single-input model.")
    previous = model.inputs[0]._keras_history[0]
    for lyr in stack:
        nodes = lyr._inbound_nodes
        sources = [t._keras_history[0] for t in nodes[0].input_tensors] if nodes else []
        if len(nodes) != 1 or len(sources) != 1 or sources[0] is not previous:
            raise ValueError(
                "Grad-CAM on a layer inside a nested model needs the top-level layers "
                f"to form a chain; {lyr.name!r} does not follow the previous layer."
            )
        previous = lyr
    return stack


def _forward(model: keras.Model, layer: str | None) -> Any:
    """A function images -> (feature map, class scores) for the Grad-CAM target."""
    import keras

    outer, inner = find_layer(model, layer)
    head = _softmax_head(model)
    end = head.input if head is not None else model.outputs[0]

    def scores_of(y: Any) -> Any:
        return _logits(head, y) if head is not None else y

    if inner is None:
        # The layer's output in this model's graph (for a nested model, ``.output``
        # would be its own internal output tensor).
        nodes = outer._inbound_nodes
        feature = nodes[0].output_tensors[0] if len(nodes) == 1 else outer.output
        grad_model = keras.Model(model.inputs, [feature, end])

        def run(x: Any) -> tuple[Any, Any]:
            feats, y = grad_model(x, training=False)
            return feats, scores_of(y)

        return run

    stack = _chain(model)
    sub = keras.Model(outer.inputs, [inner.output, outer.outputs[0]])
    body = stack[:-1] if head is not None else stack

    def run_nested(x: Any) -> tuple[Any, Any]:
        feats = None
        y = x
        for lyr in body:
            if lyr is outer:
                feats, y = sub(y, training=False)
            else:
                y = lyr(y, training=False)
        return feats, scores_of(y)

    return run_nested


def _normalise(maps: np.ndarray) -> np.ndarray:
    """Scale each map to [0, 1] by its maximum (all-zero maps stay zero)."""
    maps = np.nan_to_num(np.maximum(maps, 0.0))
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape(-1, 1, 1)
    return np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0).astype("float32")


def gradcam(model: keras.Model, images: Any, class_index: int | Sequence[int] | None = None,
            layer: str | None = None) -> np.ndarray:
    """Grad-CAM heatmaps, shaped (N, H, W) at the input resolution, in [0, 1].

    Args:
        model: a Keras CNN (Functional or Sequential, or a transfer model).
        images: (N, H, W, C) or one (H, W, C) image, scaled as the model expects.
        class_index: the class to explain: one for all images, one per image,
            or None for each image's predicted class.
        layer: the convolutional layer; by default the last 4-D layer before
            global pooling / flatten (see :func:`find_layer`), which for a
            transfer model is the last feature map inside its backbone.

    Raises:
        ValueError: the model has no 4-D layer, or ``layer`` is not one of them.
    """
    import tensorflow as tf

    x = tf.constant(_as_batch(model, images))
    run = _forward(model, layer)
    with tf.GradientTape() as tape:
        feats, scores = run(x)
        idx = _class_indices(scores, class_index, int(x.shape[0]))
        chosen = tf.gather(scores, idx, axis=1, batch_dims=1)
    grads = tape.gradient(chosen, feats)
    feats = tf.cast(feats, "float32")
    grads = tf.zeros_like(feats) if grads is None else tf.cast(grads, "float32")
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
    cam = tf.nn.relu(tf.reduce_sum(feats * weights, axis=-1, keepdims=True))
    cam = tf.image.resize(cam, tuple(int(d) for d in x.shape[1:3]), method="bilinear")
    return _normalise(cam.numpy()[..., 0])


def saliency(model: keras.Model, images: Any,
             class_index: int | Sequence[int] | None = None) -> np.ndarray:
    """Gradient saliency ``|d score / d input|``, max over channels: (N, H, W) in [0, 1].

    ``class_index`` as in :func:`gradcam` (None: the predicted class).
    """
    import keras
    import tensorflow as tf

    x = tf.constant(_as_batch(model, images))
    head = _softmax_head(model)
    if head is not None:
        pre = keras.Model(model.inputs, head.input)

        def run(v: Any) -> Any:
            return _logits(head, pre(v, training=False))
    else:

        def run(v: Any) -> Any:
            return model(v, training=False)

    with tf.GradientTape() as tape:
        tape.watch(x)
        scores = run(x)
        idx = _class_indices(scores, class_index, int(x.shape[0]))
        chosen = tf.gather(scores, idx, axis=1, batch_dims=1)
    grads = tape.gradient(chosen, x)
    return _normalise(tf.reduce_max(tf.abs(grads), axis=-1).numpy())


def _display(image: Any) -> np.ndarray:
    """An image as float RGB in [0, 1], shaped (H, W, 3)."""
    img = np.asarray(image)
    if img.dtype == np.uint8:
        img = img.astype("float32") / 255.0
    else:
        img = img.astype("float32")
        lo, hi = float(np.min(img)), float(np.max(img))
        if lo < 0.0 or hi > 1.0:
            if lo >= 0.0 and hi <= 255.0:
                img = img / 255.0
            else:
                img = (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 2:
        img = np.stack([img] * 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] != 3:
        raise ValueError(f"Expected an image shaped (H, W), (H, W, 1) or (H, W, 3); "
                         f"got {np.shape(image)}.")
    return np.clip(img, 0.0, 1.0)


def overlay(image: Any, heatmap: Any, alpha: float = 0.4, cmap: str = "jet") -> np.ndarray:
    """Blend a heatmap (colour-mapped with ``cmap``) over an image.

    Args:
        image: (H, W), (H, W, 1) or (H, W, 3); uint8 0-255 or float (0-1 or 0-255).
        heatmap: (h, w) in [0, 1]; resized to (H, W) if needed.
        alpha: weight of the heatmap colour.

    Returns:
        RGB float image (H, W, 3) in [0, 1].
    """
    from matplotlib import colormaps

    img = _display(image)
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype="float32")), 0.0, 1.0)
    if heat.ndim == 3 and heat.shape[-1] == 1:
        heat = heat[..., 0]
    if heat.ndim != 2:
        raise ValueError(f"Expected one heatmap shaped (h, w) or (h, w, 1); got "
                         f"{np.shape(heatmap)} (a batch of maps? overlay them one at a time).")
    if heat.shape != img.shape[:2]:
        from skimage.transform import resize

        heat = resize(heat, img.shape[:2], order=1, mode="edge", anti_aliasing=False)
    colour = colormaps[cmap](heat)[..., :3].astype("float32")
    return np.clip((1.0 - alpha) * img + alpha * colour, 0.0, 1.0).astype("float32")


def plot_gradcam(model: keras.Model, images: Any, labels: Sequence[int] | None = None,
                 class_names: Sequence[str] | None = None,
                 class_index: int | Sequence[int] | None = None, layer: str | None = None,
                 alpha: float = 0.4, cols: int = 3, path: Path | str | None = None,
                 title: str | None = None, heatmaps: np.ndarray | None = None,
                 predictions: Sequence[int] | None = None) -> Figure:
    """A grid of (image, Grad-CAM overlay) pairs titled with the true and predicted class.

    Args:
        model, images, class_index, layer: as in :func:`gradcam`.
        labels: true class per image (optional), shown on the image.
        class_names: names for the class numbers.
        cols: image/overlay pairs per row.
        path: also save the figure there as PNG.
        heatmaps: the :func:`gradcam` maps of these very images, when already computed
            (they are not computed again).
        predictions: the class decided for each image, when the decision is not the
            arg-max of the model's output (e.g. ``report.y_pred`` of a report at a
            threshold chosen on validation). Titles, colours and the score shown follow
            it, and so do the maps computed here when ``class_index`` is None; by
            default they follow the arg-max.
    """
    from cnnlabs.plots import _figure, _finish

    x = _as_batch(model, images)
    probs = np.asarray(model.predict(x, verbose=0))
    if predictions is None:
        pred = probs.argmax(axis=-1)
    else:
        pred = np.asarray(predictions, dtype="int64").reshape(-1)
        if pred.shape != (len(x),):
            raise ValueError(f"predictions has {pred.size} entries for {len(x)} images.")
        if pred.min(initial=0) < 0 or pred.max(initial=0) >= probs.shape[-1]:
            raise ValueError(f"predictions must be class numbers in [0, {probs.shape[-1]}); "
                             f"got {pred.tolist()}.")
    heat = (np.asarray(heatmaps) if heatmaps is not None
            else gradcam(model, x, layer=layer,
                         class_index=class_index if class_index is not None
                         else (pred if predictions is not None else None)))
    n = len(x)
    if len(heat) != n:
        raise ValueError(f"heatmaps has {len(heat)} maps for {n} images.")
    if labels is not None and len(labels) != n:
        raise ValueError(f"labels has {len(labels)} entries for {n} images.")
    pairs = max(1, min(int(cols), n))
    rows = -(-n // pairs)
    fig, axes = _figure(2 * pairs, rows, (3.0 * pairs * 2 * 0.8, 2.6 * rows))

    def name(i: int) -> str:
        i = int(i)
        return str(class_names[i]) if class_names is not None else str(i)

    for ax in axes.flat:
        ax.axis("off")
    for i in range(n):
        r, c = divmod(i, pairs)
        ax_img, ax_cam = axes[r][2 * c], axes[r][2 * c + 1]
        ax_img.imshow(_display(x[i]))
        ax_img.set_title(f"true: {name(labels[i])}" if labels is not None else f"#{i}",
                         fontsize=9)
        ax_cam.imshow(overlay(x[i], heat[i], alpha=alpha))
        text = f"pred: {name(pred[i])} ({probs[i, pred[i]]:.2f})"
        if class_index is not None:
            text += f"\ncam for: {name(np.broadcast_to(class_index, (n,))[i])}"
        colour = "black" if labels is None or int(labels[i]) == int(pred[i]) else "red"
        ax_cam.set_title(text, fontsize=9, color=colour)
    if title:
        fig.suptitle(title)
    return _finish(fig, path)
