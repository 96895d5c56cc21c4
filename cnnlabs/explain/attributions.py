"""Attributions: which pixels of an image a class score depends on, and how much.

* :func:`gradients`, :func:`saliency` (Simonyan et al., 2014): ``d score / d pixel``.
* :func:`smoothgrad` (Smilkov et al., 2017): the gradient averaged over noisy copies.
* :func:`guided_backprop` (Springenberg et al., 2015): only positive signals pass
  back through each ReLU.
* :func:`integrated_gradients` (Sundararajan et al., 2017): the gradient averaged
  along the straight path from a baseline, times ``image - baseline``; the
  attributions add up to ``score(image) - score(baseline)`` (completeness), and the
  result reports how far they are from it.
* :func:`occlusion` (Zeiler and Fergus, 2014): how much the score drops when a
  square of the image is covered.
* :func:`gradcam` (Selvaraju et al., 2017) and :func:`gradcam_plus_plus`
  (Chattopadhay et al., 2018): one layer's feature maps weighted by the gradient.

All take a Sequential, Functional or nested (transfer) model, one image (H, W, C)
or a batch (N, H, W, C) scaled as the model expects, and ``class_index`` (one
class, one per image, or None for each image's predicted class). The score is
the class logit (see :mod:`cnnlabs.explain._model`). The work runs in batches of
``batch_size`` images: noisy copies, path steps and occluded copies included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlabs.explain import _model
from cnnlabs.explain._model import chunks, find_layer, positive_int

if TYPE_CHECKING:
    import keras

ClassIndex = int | Sequence[int] | np.ndarray | None


def normalise_maps(maps: Any) -> np.ndarray:
    """Scale each map of a batch (N, ...) to [0, 1] by its maximum; negatives become 0.

    All-zero maps stay zero; NaN counts as 0.
    """
    maps = np.nan_to_num(np.maximum(np.asarray(maps, dtype="float32"), 0.0))
    if maps.size == 0:
        return maps
    peak = maps.reshape(len(maps), -1).max(axis=1).reshape((-1,) + (1,) * (maps.ndim - 1))
    return np.where(peak > 0, maps / np.where(peak > 0, peak, 1.0), 0.0).astype("float32")


def heatmap(values: Any, reduce: str = "max") -> np.ndarray:
    """Per-pixel attributions (N, H, W, C) as heatmaps (N, H, W) in [0, 1].

    Args:
        values: gradients or attributions, (N, H, W, C) or one (H, W, C).
        reduce: ``"max"``: the largest ``|value|`` over the channels (saliency);
            ``"sum"``: ``|sum over the channels|`` (integrated gradients, whose values
            add up).

    Raises:
        ValueError: for another shape or ``reduce``.
    """
    v = np.asarray(values, dtype="float32")
    if v.ndim == 3:
        v = v[None]
    if v.ndim != 4:
        raise ValueError(f"Expected attributions shaped (N, H, W, C); got {np.shape(values)}.")
    if reduce == "max":
        return normalise_maps(np.abs(v).max(axis=-1))
    if reduce == "sum":
        return normalise_maps(np.abs(v.sum(axis=-1)))
    raise ValueError(f"reduce must be 'max' or 'sum'; got {reduce!r}.")


def _prepare(model: keras.Model, images: Any, class_index: ClassIndex
             ) -> tuple[np.ndarray, np.ndarray | None]:
    x = _model.as_batch(model, images)
    return x, _model.check_classes(class_index, len(x), _model.num_classes(model))


def _chosen(scores: Any, classes: np.ndarray | None) -> Any:
    import tensorflow as tf

    idx = (tf.argmax(scores, axis=-1, output_type=tf.int32) if classes is None
           else tf.constant(classes, dtype=tf.int32))
    return tf.gather(scores, idx, axis=1, batch_dims=1)


def _input_gradients(run: Any, x: np.ndarray, classes: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray]:
    """(d score / d x, score) for one chunk; ``classes`` None: the arg-max of each."""
    import tensorflow as tf

    v = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(v)
        chosen = _chosen(run(v).scores, classes)
    grads = tape.gradient(chosen, v)
    grads = tf.zeros_like(v) if grads is None else grads
    return grads.numpy().astype("float32"), chosen.numpy().astype("float32")


def _class_batches(run: Any, x: np.ndarray, classes: np.ndarray | None, batch_size: int):
    """Yield (slice, classes of that slice), the predicted classes when none are given."""
    if classes is None:
        classes = _model.predicted(run, x, batch_size)
    for part in chunks(len(x), batch_size):
        yield part, classes[part]


def gradients(model: keras.Model, images: Any, class_index: ClassIndex = None, *,
              batch_size: int = 64) -> np.ndarray:
    """The raw gradient of the class score with respect to each input value.

    For a linear model ``score = w . x + b`` this is ``w`` itself, whatever the image.

    Args:
        model: a Keras CNN (Sequential, Functional, or a transfer model).
        images: one image (H, W, C) or a batch (N, H, W, C), scaled as the model expects.
        class_index: the class to explain: one for all images, one per image, or
            None for each image's predicted class.
        batch_size: images per forward/backward pass.

    Returns:
        float32 (N, H, W, C).

    Raises:
        ValueError: bad images (shape, NaN) or a class index out of range.
    """
    x, classes = _prepare(model, images, class_index)
    run = _model.forward(model)
    out = np.zeros_like(x)
    for part in chunks(len(x), positive_int("batch_size", batch_size)):
        out[part] = _input_gradients(run, x[part],
                                     None if classes is None else classes[part])[0]
    return out


def saliency(model: keras.Model, images: Any, class_index: ClassIndex = None, *,
             normalise: bool = True, batch_size: int = 64) -> np.ndarray:
    """Gradient saliency (Simonyan et al., 2014): ``|d score / d pixel|``, max over channels.

    Args:
        model, images, class_index, batch_size: as in :func:`gradients`.
        normalise: scale each map to [0, 1] by its maximum (False: the raw values).

    Returns:
        float32 (N, H, W).
    """
    maps = np.abs(gradients(model, images, class_index, batch_size=batch_size)).max(axis=-1)
    return normalise_maps(maps) if normalise else maps


def smoothgrad(model: keras.Model, images: Any, class_index: ClassIndex = None, *,
               samples: int = 25, noise: float = 0.15, seed: int = 0, normalise: bool = True,
               batch_size: int = 64) -> np.ndarray:
    """SmoothGrad (Smilkov et al., 2017): the gradient averaged over noisy copies of the image.

    Each copy adds Gaussian noise of standard deviation ``noise * (max - min)`` of its
    image; the average gradient is then reduced as :func:`saliency` does (``|.|``, max
    over channels). Every copy explains the class chosen on the clean image. With
    ``noise=0`` the result is the saliency map.

    Args:
        model, images, class_index, batch_size: as in :func:`gradients`
            (``batch_size`` counts noisy copies).
        samples: noisy copies per image.
        noise: the noise level, a fraction of each image's value range.
        seed: seeds the noise.
        normalise: as in :func:`saliency`.

    Returns:
        float32 (N, H, W).
    """
    samples = positive_int("samples", samples)
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a fraction >= 0 of the value range; got {noise!r}.")
    x, classes = _prepare(model, images, class_index)
    run = _model.forward(model)
    batch_size = positive_int("batch_size", batch_size)
    if classes is None:
        classes = _model.predicted(run, x, batch_size)
    rng = np.random.default_rng(seed)
    sigma = noise * (x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3))) if len(x) else np.zeros(0)
    total = np.zeros_like(x, dtype="float64")
    owner = np.repeat(np.arange(len(x)), samples)  # copy -> image
    for part in chunks(len(owner), batch_size):
        who = owner[part]
        noisy = x[who] + rng.normal(size=(len(who), *x.shape[1:])).astype("float32") \
            * sigma[who].reshape(-1, 1, 1, 1).astype("float32")
        grads = _input_gradients(run, noisy, classes[who])[0]
        np.add.at(total, who, grads)
    maps = np.abs(total / samples).max(axis=-1).astype("float32")
    return normalise_maps(maps) if normalise else maps


def guided_backprop(model: keras.Model, images: Any, class_index: ClassIndex = None, *,
                    layer: str | None = None, channel: int | None = None,
                    batch_size: int = 64) -> np.ndarray:
    """Guided backpropagation (Springenberg et al., 2015): input gradients through guided ReLUs.

    At every ReLU the gradient passes back only where the unit was active in the
    forward pass *and* the gradient arriving from above is positive, so only what
    excites the target shows. The target is the class score, or with ``layer`` and
    ``channel`` one neuron: the strongest unit of that channel in that layer (the
    neuron the lecture's "pick a layer and a channel" means). The model is left as it
    was.

    Args:
        model, images, class_index, batch_size: as in :func:`gradients`
            (``class_index`` is ignored when ``layer`` is given).
        layer: a layer name (4-D, or 2-D for a dense unit); with ``channel``.
        channel: the channel (or unit) of ``layer``.

    Returns:
        float32 (N, H, W, C): raw values; :func:`heatmap` or
        ``explain.gradient_image`` make them displayable.

    Raises:
        ValueError: as :func:`gradients`; ``layer`` without ``channel`` (or the
            reverse), an unknown layer, or a channel out of range.
    """
    import tensorflow as tf

    if (layer is None) != (channel is None):
        raise ValueError("Give both layer and channel (a neuron), or neither (the class score).")
    x, classes = _prepare(model, images, class_index if layer is None else None)
    batch_size = positive_int("batch_size", batch_size)
    if layer is None:
        run = _model.forward(model)
        with _model.guided_relus(model):
            out = np.zeros_like(x)
            for part, cls in _class_batches(run, x, classes, batch_size):
                out[part] = _input_gradients(run, x[part], cls)[0]
        return out

    target = _model.locate(model, layer, lambda lyr: _model.output_rank(lyr) in (2, 4),
                           kind="4-D or 2-D")
    width = int((target[1] or target[0]).output.shape[-1])
    if isinstance(channel, bool) or not isinstance(channel, (int, np.integer)) \
            or not 0 <= channel < width:
        raise ValueError(f"channel must be a whole number in 0..{width - 1} (layer {layer!r} "
                         f"has {width} channels); got {channel!r}.")
    run = _model.forward(model, target, scores=False)
    out = np.zeros_like(x)
    with _model.guided_relus(model):
        for part in chunks(len(x), batch_size):
            v = tf.constant(x[part])
            with tf.GradientTape() as tape:
                tape.watch(v)
                feature = tf.cast(run(v).feature, "float32")[..., int(channel)]
                neuron = tf.reduce_max(tf.reshape(feature, (tf.shape(feature)[0], -1)), axis=1)
            grads = tape.gradient(neuron, v)
            out[part] = 0.0 if grads is None else grads.numpy()
    return out


@dataclass
class IntegratedGradients:
    """What :func:`integrated_gradients` found.

    Attributes:
        attributions: (N, H, W, C): each value's share of ``score - baseline_score``.
        scores: the class score of each image.
        baseline_scores: the class score of each baseline.
        gaps: ``attributions.sum() - (score - baseline_score)`` per image: the
            completeness error of the path integral (0 for an exact integral).
        steps: the number of path intervals used.
    """

    attributions: np.ndarray
    scores: np.ndarray
    baseline_scores: np.ndarray
    gaps: np.ndarray
    steps: int

    @property
    def relative_gaps(self) -> np.ndarray:
        """``|gap| / |score - baseline_score|`` per image (the gap itself where they are equal)."""
        diff = np.abs(self.scores - self.baseline_scores)
        return np.abs(self.gaps) / np.where(diff > 0, diff, 1.0)

    def maps(self) -> np.ndarray:
        """The attributions as heatmaps (N, H, W) in [0, 1] (``|sum over channels|``)."""
        return heatmap(self.attributions, reduce="sum")


def _baselines(baseline: Any, x: np.ndarray) -> np.ndarray:
    if baseline is None:
        return np.zeros_like(x)
    b = np.asarray(baseline, dtype="float32")
    if b.ndim == 0 or b.shape == x.shape[1:]:
        b = np.broadcast_to(b, x.shape)
    if b.shape != x.shape:
        raise ValueError(f"baseline must be a number, one image {x.shape[1:]} or one per "
                         f"image {x.shape}; got {np.shape(baseline)}.")
    if not np.isfinite(b).all():
        raise ValueError("baseline holds NaN or infinite values.")
    return np.ascontiguousarray(b)


def integrated_gradients(model: keras.Model, images: Any, class_index: ClassIndex = None, *,
                         baseline: Any = None, steps: int = 64,
                         batch_size: int = 128) -> IntegratedGradients:
    """Integrated gradients (Sundararajan et al., 2017), with its completeness check.

    ``attribution = (x - b) * mean of d score / d x along the straight path b -> x``,
    the mean by the trapezoid rule over ``steps`` intervals. The attributions add up
    to ``score(x) - score(b)`` up to the integration error, reported as ``gaps``:
    for a smooth model it shrinks like ``1 / steps**2``; ReLU kinks make it shrink
    more slowly.

    Args:
        model, images, class_index: as in :func:`gradients`.
        baseline: the image standing for "no information": None (all zeros, black),
            a number, one image (H, W, C) or one per image.
        steps: path intervals (``steps + 1`` gradient evaluations per image).
        batch_size: path points per forward/backward pass.

    Returns:
        :class:`IntegratedGradients`.

    Raises:
        ValueError: as :func:`gradients`, or a baseline of another shape.
    """
    steps = positive_int("steps", steps)
    x, classes = _prepare(model, images, class_index)
    b = _baselines(baseline, x)
    run = _model.forward(model)
    batch_size = positive_int("batch_size", batch_size)
    if classes is None:
        classes = _model.predicted(run, x, batch_size)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype="float32")
    weights = np.full(steps + 1, 1.0 / steps)
    weights[[0, -1]] = 0.5 / steps  # the trapezoid rule
    owner = np.repeat(np.arange(len(x)), steps + 1)
    step = np.tile(np.arange(steps + 1), len(x))
    mean_grad = np.zeros_like(x, dtype="float64")
    scores = np.zeros(len(x), "float32")
    base_scores = np.zeros(len(x), "float32")
    for part in chunks(len(owner), batch_size):
        who, at = owner[part], step[part]
        a = alphas[at].reshape(-1, 1, 1, 1)
        points = b[who] + a * (x[who] - b[who])
        grads, chosen = _input_gradients(run, points, classes[who])
        np.add.at(mean_grad, who, grads * weights[at].reshape(-1, 1, 1, 1))
        scores[who[at == steps]] = chosen[at == steps]
        base_scores[who[at == 0]] = chosen[at == 0]
    attributions = ((x - b) * mean_grad).astype("float32")
    gaps = attributions.sum(axis=(1, 2, 3), dtype="float64") - (scores - base_scores)
    return IntegratedGradients(attributions, scores, base_scores, gaps.astype("float32"), steps)


def _windows(size: int, patch: int, stride: int) -> list[int]:
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)  # the last window reaches the edge
    return starts


def occlusion(model: keras.Model, images: Any, class_index: ClassIndex = None, *,
              patch: int = 4, stride: int | None = None, value: float = 0.0,
              probabilities: bool = False, batch_size: int = 256) -> np.ndarray:
    """Occlusion sensitivity (Zeiler and Fergus, 2014): the score's drop when a square is hidden.

    A ``patch`` x ``patch`` square of ``value`` slides over the image by ``stride``
    (the last square of each row and column touches the edge); each pixel gets the
    mean drop ``score(image) - score(occluded image)`` over the squares that cover
    it. Positive: hiding the pixel hurts the class; negative: it helps.

    Args:
        model, images, class_index: as in :func:`gradients`.
        patch: side of the square, in pixels.
        stride: step between squares (None: ``patch // 2``, at least 1).
        value: what the square is filled with, in the model's input scale.
        probabilities: measure the class probability (softmax of the logits) instead
            of the logit, as Zeiler and Fergus plotted it.
        batch_size: occluded copies per forward pass.

    Returns:
        float32 (N, H, W), not normalised (the drop in score units).

    Raises:
        ValueError: as :func:`gradients`, or a patch larger than the image.
    """
    import tensorflow as tf

    patch = positive_int("patch", patch)
    stride = max(1, patch // 2) if stride is None else positive_int("stride", stride)
    x, classes = _prepare(model, images, class_index)
    height, width = x.shape[1:3]
    if patch > min(height, width):
        raise ValueError(f"patch {patch} is larger than the images ({height}x{width}).")
    run = _model.forward(model)
    batch_size = positive_int("batch_size", batch_size)
    softmax = probabilities and _model.softmax_head(model) is not None

    def score(v: np.ndarray, cls: np.ndarray) -> np.ndarray:
        s = run(tf.constant(v)).scores
        if softmax:
            s = tf.nn.softmax(s, axis=-1)
        return tf.gather(s, tf.constant(cls), axis=1, batch_dims=1).numpy()

    if classes is None:
        classes = _model.predicted(run, x, batch_size)
    base = np.concatenate([score(x[p], classes[p]) for p in chunks(len(x), batch_size)]
                          or [np.zeros(0, "float32")])
    boxes = [(r, c) for r in _windows(height, patch, stride)
             for c in _windows(width, patch, stride)]
    owner = np.repeat(np.arange(len(x)), len(boxes))
    which = np.tile(np.arange(len(boxes)), len(x))
    drops = np.zeros(len(owner), "float32")
    for part in chunks(len(owner), batch_size):
        copies = x[owner[part]].copy()
        for k, w in enumerate(which[part]):
            r, c = boxes[w]
            copies[k, r:r + patch, c:c + patch, :] = value
        drops[part] = base[owner[part]] - score(copies, classes[owner[part]])
    total = np.zeros((len(x), height, width), "float64")
    count = np.zeros((height, width), "float64")
    drops = drops.reshape(len(x), len(boxes))
    for w, (r, c) in enumerate(boxes):
        total[:, r:r + patch, c:c + patch] += drops[:, w].reshape(-1, 1, 1)
        count[r:r + patch, c:c + patch] += 1
    return (total / count).astype("float32")


def _cam(model: keras.Model, images: Any, class_index: ClassIndex, layer: str | None,
         plus: bool, batch_size: int) -> np.ndarray:
    import tensorflow as tf

    x, classes = _prepare(model, images, class_index)
    target = find_layer(model, layer)
    run = _model.forward(model, target)
    maps = np.zeros(x.shape[:3], "float32")
    for part in chunks(len(x), positive_int("batch_size", batch_size)):
        v = tf.constant(x[part])
        with tf.GradientTape() as tape:
            out = run(v)
            chosen = _chosen(out.scores, None if classes is None else classes[part])
        feats = out.feature
        grads = tape.gradient(chosen, feats)
        feats = tf.cast(feats, "float32")
        grads = tf.zeros_like(feats) if grads is None else tf.cast(grads, "float32")
        if plus:
            # Chattopadhay et al.'s closed form for an exponential of the score: the
            # higher derivatives become powers of the first one.
            g2, g3 = grads ** 2, grads ** 3
            denom = 2.0 * g2 + tf.reduce_sum(feats, axis=(1, 2), keepdims=True) * g3
            alpha = tf.where(denom != 0.0, g2 / tf.where(denom != 0.0, denom, 1.0), 0.0)
            weights = tf.reduce_sum(alpha * tf.nn.relu(grads), axis=(1, 2), keepdims=True)
        else:
            weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(feats * weights, axis=-1, keepdims=True))
        cam = tf.image.resize(cam, tuple(int(d) for d in x.shape[1:3]), method="bilinear")
        maps[part] = normalise_maps(cam.numpy()[..., 0])
    return maps


def gradcam(model: keras.Model, images: Any, class_index: ClassIndex = None,
            layer: str | None = None, *, batch_size: int = 64) -> np.ndarray:
    """Grad-CAM heatmaps (Selvaraju et al., 2017), shaped (N, H, W) at the input size, in [0, 1].

    The feature maps ``A_k`` of one convolutional layer, weighted by the spatial mean
    of ``d score / d A_k``, summed, ReLU, upsampled bilinearly and scaled to [0, 1].

    Args:
        model, images, class_index, batch_size: as in :func:`gradients`.
        layer: the convolutional layer; by default the last 4-D layer before
            global pooling / flatten (see :func:`find_layer`), which for a
            transfer model is the last feature map inside its backbone.

    Raises:
        ValueError: the model has no 4-D layer, or ``layer`` is not one of them; bad
            images or class index.
    """
    return _cam(model, images, class_index, layer, plus=False, batch_size=batch_size)


def gradcam_plus_plus(model: keras.Model, images: Any, class_index: ClassIndex = None,
                      layer: str | None = None, *, batch_size: int = 64) -> np.ndarray:
    """Grad-CAM++ heatmaps (Chattopadhay et al., 2018), as :func:`gradcam` returns them.

    Each channel's weight is ``sum_ij alpha_ij relu(g_ij)`` with
    ``alpha_ij = g_ij^2 / (2 g_ij^2 + sum_ab A_ab g_ij^3)`` (``g = d score / d A``),
    instead of the mean gradient: positions where the gradient is positive count
    more, which helps when several objects of the class are in the image. When one
    channel alone carries gradient, both methods give that channel's map.
    """
    return _cam(model, images, class_index, layer, plus=True, batch_size=batch_size)
