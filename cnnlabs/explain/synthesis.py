"""Images made by gradient ascent: class models (Simonyan et al., 2014) and DeepDream.

Both keep the trained weights fixed and change the *image* to raise an
objective: a class score for :func:`class_model` (what input would the network
call "7"?), a layer's mean activation for :func:`deepdream` (amplify what the layer
already sees in a real image). Each step moves the image along its gradient
divided by the gradient's root mean square, so ``step_size`` is a fraction of the
value range whatever the scale of the gradient; a random shift of up to
``jitter`` pixels before each step keeps the result from becoming pixel noise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlabs.explain import _model
from cnnlabs.explain._model import positive_int

if TYPE_CHECKING:
    import keras


@dataclass
class Synthesis:
    """What a gradient ascent made.

    Attributes:
        images: (K, H, W, C) the final images, in the model's input scale.
        objective: (steps + 1, K) the objective of each image before each step and
            after the last one (class scores, or mean activations).
    """

    images: np.ndarray
    objective: np.ndarray


def _value_range(value_range: Sequence[float]) -> tuple[float, float]:
    try:
        low, high = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise ValueError(f"value_range must be (low, high); got {value_range!r}.") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"value_range must be finite with low < high; got {value_range!r}.")
    return low, high


def _ascend(objective: Any, start: np.ndarray, steps: int, step_size: float, jitter: int,
            l2: float, centre: float, low: float, high: float, seed: int) -> Synthesis:
    """Gradient ascent of ``objective(images) -> (K,)`` from ``start``, clipped to [low, high]."""
    import tensorflow as tf

    steps = positive_int("steps", steps, minimum=0)
    jitter = positive_int("jitter", jitter, minimum=0)
    if not (np.isfinite(step_size) and step_size > 0):
        raise ValueError(f"step_size must be > 0; got {step_size!r}.")
    rng = np.random.default_rng(seed)
    image = tf.Variable(start.astype("float32"))

    @tf.function(reduce_retracing=True)
    def step(shift: Any) -> Any:
        with tf.GradientTape() as tape:
            value = objective(tf.roll(image, shift=shift, axis=(1, 2)))
            total = value - l2 * tf.reduce_sum(tf.square(image - centre), axis=(1, 2, 3))
        grad = tape.gradient(total, image)
        rms = tf.sqrt(tf.reduce_mean(tf.square(grad), axis=(1, 2, 3), keepdims=True))
        image.assign(tf.clip_by_value(
            image + step_size * (high - low) * grad / (rms + 1e-12), low, high))
        return objective(image)

    trace = [objective(image).numpy()]
    for _ in range(steps):
        shift = rng.integers(-jitter, jitter + 1, size=2) if jitter else np.zeros(2)
        trace.append(step(tf.constant(shift, dtype=tf.int32)).numpy())
    return Synthesis(image.numpy(), np.stack(trace).astype("float32"))


def class_model(model: keras.Model, class_index: int | Sequence[int], *,
                steps: int = 100, step_size: float = 0.02, l2: float = 1e-3, jitter: int = 1,
                value_range: Sequence[float] = (0.0, 1.0), image_shape: Sequence[int] | None = None,
                seed: int = 0) -> Synthesis:
    """Class-model visualisation (Simonyan et al., 2014): an image that maximises a class score.

    Gradient ascent on ``score_c(I) - l2 * ||I - centre||^2`` from a mid-grey image
    with a little noise, the score being the class logit (before the softmax, so
    that the other classes cannot win it by losing). Several classes run together,
    one image each.

    Args:
        model: a trained Keras CNN (Sequential, Functional, or a transfer model).
        class_index: one class or several.
        steps: ascent steps.
        step_size: each step's size, as a fraction of the value range.
        l2: weight of the L2 penalty pulling the image towards the mid-grey centre.
        jitter: largest random shift, in pixels, before each step (0: none).
        value_range: (low, high) of the model's input; the image stays inside it
            ((0, 255) for the raw-pixel transfer models).
        image_shape: (H, W, C) when the model does not fix it.
        seed: seeds the starting noise and the jitter.

    Returns:
        :class:`Synthesis`; ``objective`` holds each image's class score per step.

    Raises:
        ValueError: a class index out of range, an unknown image shape, bad settings.
    """
    low, high = _value_range(value_range)
    if image_shape is None:
        _model.check_model(model)
        image_shape = _model.input_shape(model) if model.built else None
    if image_shape is None or len(image_shape) != 3 or None in tuple(image_shape):
        raise ValueError(f"The image shape of {model.name!r} is not fixed; pass image_shape.")
    raw = np.asarray(class_index)
    count = 1 if raw.ndim == 0 else len(raw)
    classes = _model.check_classes(class_index, count, None)
    _model.as_batch(model, np.zeros((1, *image_shape), "float32"))  # builds, checks the shape
    n_classes = _model.num_classes(model)
    _model.check_classes(classes, count, n_classes)
    run = _model.forward(model)
    rng = np.random.default_rng(seed)
    centre = (low + high) / 2.0
    start = centre + 0.01 * (high - low) * rng.standard_normal((count, *image_shape))

    def objective(images: Any) -> Any:
        import tensorflow as tf

        return tf.gather(run(images).scores, classes, axis=1, batch_dims=1)

    return _ascend(objective, start, steps, step_size, jitter, l2, centre, low, high, seed)


def deepdream(model: keras.Model, images: Any, layer: str | None = None, *, steps: int = 20,
              step_size: float = 0.01, jitter: int = 1,
              value_range: Sequence[float] = (0.0, 1.0), seed: int = 0) -> Synthesis:
    """A small DeepDream (Mordvintsev et al., 2015): amplify what a layer sees in an image.

    Gradient ascent on the mean activation of ``layer``, starting from the images
    themselves; whatever patterns the layer responds to grow stronger.

    Args:
        model: a trained Keras CNN (Sequential, Functional, or a transfer model).
        images: one image (H, W, C) or a batch, scaled as the model expects.
        layer: a 4-D layer; None: the default Grad-CAM layer (see ``find_layer``).
        steps, step_size, jitter, value_range, seed: as in :func:`class_model`.

    Returns:
        :class:`Synthesis`; ``objective`` holds each image's mean activation per step.

    Raises:
        ValueError: bad images, an unknown layer, bad settings.
    """
    import tensorflow as tf

    low, high = _value_range(value_range)
    x = _model.as_batch(model, images)
    target = _model.find_layer(model, layer)
    run = _model.forward(model, target, scores=False)

    def objective(v: Any) -> Any:
        feature = tf.cast(run(v).feature, "float32")
        return tf.reduce_mean(feature, axis=(1, 2, 3))

    if len(x) == 0:
        return Synthesis(x, np.zeros((positive_int("steps", steps, 0) + 1, 0), "float32"))
    return _ascend(objective, np.clip(x, low, high), steps, step_size, jitter, 0.0,
                   (low + high) / 2.0, low, high, seed)
