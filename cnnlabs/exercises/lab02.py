"""Lab 02 · activations and layers: the checks of its exercises and the rubric of its question.

``SOLUTIONS``, ``WRONG`` and ``MODEL_ANSWERS`` as in :mod:`cnnlabs.exercises.lab01`.
The exercises use the lab's setup imports (``np``, ``keras``, ``layers``,
``arithmetic``, ``reference``).
"""

from __future__ import annotations

import numpy as np

from cnnlabs import arithmetic, reference
from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question


@exercise("02.1", points=2, kind="compute",
          goal="on a 32x32x3 image, set `dense_params_cifar` to the parameters of a Dense layer "
               "of 128 units on the flattened image and `conv_params_cifar` to those of a "
               "Conv2D layer with 32 5x5 filters")
def _dense_against_conv(a: Answers) -> Feedback:
    dense = arithmetic.dense_params(32 * 32 * 3, 128)
    conv = arithmetic.conv_params(5, 3, 32)
    return a.parts(
        (1, lambda: a.integer("dense_params_cifar") == dense,
         "`dense_params_cifar` is off: every unit has a weight for every input value (all "
         "pixels of all channels) and a bias"),
        (1, lambda: a.integer("conv_params_cifar") == conv,
         "`conv_params_cifar` is off: each filter spans the input's depth (F*F*D_in weights) "
         "and has a bias"),
    )


@exercise("02.2", points=2, kind="implement",
          goal="write `leaky_relu_grad(x, slope=0.2)`: the derivative of Leaky ReLU for a NumPy "
               "array, 1 where x > 0 and `slope` elsewhere (0 included)")
def _leaky_relu_grad(a: Answers) -> Feedback:
    x = np.concatenate([np.linspace(-3, 3, 61), [0.0]])

    def case(*slope: float) -> bool:
        out = np.asarray(a.call("leaky_relu_grad", x.copy(), *slope), dtype=float)
        if out.shape != x.shape:
            raise Wrong(f"`leaky_relu_grad` returns shape {out.shape} for an input of shape "
                        f"{x.shape}: one slope per value")
        return np.allclose(out, reference.leaky_relu_grad(x, *slope))

    return a.parts(
        (1, lambda: case(),
         "`leaky_relu_grad(x)` is off: the slope is 1 for positive inputs and the default "
         "slope for the others"),
        (1, lambda: case(0.1),
         "`leaky_relu_grad(x, 0.1)` is off: use the `slope` argument for the negative side"),
    )


@exercise("02.3", points=2, kind="implement",
          goal="write `inverted_dropout(x, rate, rng)`: zero each value where "
               "`rng.random(x.shape) < rate` and scale the others by 1 / (1 - rate)")
def _inverted_dropout(a: Answers) -> Feedback:
    x = np.full((4, 250), 2.0)
    rate = 0.3
    expected = reference.dropout(x, rate, rng=np.random.default_rng(7))

    def output() -> np.ndarray:
        out = np.asarray(a.call("inverted_dropout", x.copy(), rate, np.random.default_rng(7)),
                         dtype=float)
        if out.shape != x.shape:
            raise Wrong(f"`inverted_dropout` returns shape {out.shape} for an input of shape "
                        f"{x.shape}")
        return out

    def scaled() -> bool:
        out = output()
        kept = out[out != 0]
        return kept.size > 0 and np.allclose(kept, x[0, 0] / (1 - rate))

    return a.parts(
        (1, lambda: np.array_equal(output() == 0, expected == 0),
         "`inverted_dropout` drops the wrong values: a value is dropped where "
         "rng.random(x.shape) < rate, one draw per value"),
        (1, scaled,
         "`inverted_dropout` does not scale the surviving values so that the expected value "
         "stays the same"),
    )


@exercise("02.4", points=2, kind="implement",
          goal="write `batch_norm_train(x, eps=1e-3)`: batch normalisation in training mode of "
               "a batch of maps (N, H, W, C), per channel: subtract the batch mean and divide "
               "by sqrt(variance + eps)")
def _batch_norm(a: Answers) -> Feedback:
    rng = np.random.default_rng(0)
    maps = rng.normal(loc=[5.0, -3.0, 0.5], scale=[2.0, 0.5, 3.0], size=(16, 4, 4, 3))
    flat = rng.normal(loc=1.0, scale=0.5, size=(8, 3, 3, 2))

    def case(x: np.ndarray, eps: float, atol: float) -> bool:
        out = np.asarray(a.call("batch_norm_train", x.copy(), eps), dtype=float)
        if out.shape != x.shape:
            raise Wrong(f"`batch_norm_train` returns shape {out.shape} for a batch of shape "
                        f"{x.shape}")
        return np.allclose(out, reference.batch_norm(x, eps=eps), atol=atol)

    return a.parts(
        (1, lambda: case(maps, 1e-3, 1e-2),
         "`batch_norm_train` does not standardise each channel: the mean and variance are "
         "taken per channel, over the whole batch and every position"),
        (1, lambda: case(flat, 0.5, 1e-6),
         "`batch_norm_train` with a large `eps` is off: eps is added to the variance, inside "
         "the square root"),
    )


@exercise("02.5", points=2, kind="build",
          goal="build `small_cnn`, a Keras model for 28x28x1 images: Conv2D(16, 3, 'same', "
               "ReLU), MaxPooling2D(2), Conv2D(32, 3, 'same', ReLU), MaxPooling2D(2), Flatten, "
               "Dense(10, softmax)")
def _small_cnn(a: Answers) -> Feedback:
    expected = (arithmetic.conv_params(3, 1, 16) + arithmetic.conv_params(3, 16, 32)
                + arithmetic.dense_params(7 * 7 * 32, 10))
    return a.parts(
        (1, lambda: a.shapes("small_cnn") == ((None, 28, 28, 1), (None, 10)),
         "`small_cnn` should take 28x28x1 images and give 10 class scores"),
        (1, lambda: a.model("small_cnn").count_params() == expected,
         "`small_cnn` has the wrong number of parameters: compare each layer (filters, "
         "padding, pooling) with the goal"),
    )


question("02.6", "Why does a convolutional layer need so many fewer parameters than a dense "
                 "layer on an image, and what property does it gain besides?",
         [(1, "local connectivity: each output looks at a small patch, not the whole image"),
          (1, "parameter sharing: the same filter weights are used at every position, so the "
              "count does not grow with the image size"),
          (1, "translation equivariance: a shifted input gives a shifted output, so a pattern "
              "learned in one place is found everywhere")])


SOLUTIONS = {
    "02.1": """\
# BEGIN SOLUTION
# TODO: a whole number: inputs*units + units for a dense layer, F*F*D_in*K + K for a convolution
dense_params_cifar = 32 * 32 * 3 * 128 + 128
conv_params_cifar = 5 * 5 * 3 * 32 + 32
# END SOLUTION""",
    "02.2": """\
# BEGIN SOLUTION
def leaky_relu_grad(x, slope=0.2):
    \"\"\"The derivative of Leaky ReLU: 1 where x > 0, `slope` elsewhere.\"\"\"
    return np.where(np.asarray(x) > 0, 1.0, slope)
# END SOLUTION""",
    "02.3": """\
# BEGIN SOLUTION
def inverted_dropout(x, rate, rng):
    \"\"\"Zero each value with probability `rate`; scale the survivors by 1 / (1 - rate).\"\"\"
    dropped = rng.random(x.shape) < rate
    return np.where(dropped, 0.0, x / (1 - rate))
# END SOLUTION""",
    "02.4": """\
# BEGIN SOLUTION
def batch_norm_train(x, eps=1e-3):
    \"\"\"Standardise every channel of a batch (N, H, W, C) with the batch's statistics.\"\"\"
    mean = x.mean(axis=(0, 1, 2), keepdims=True)
    variance = x.var(axis=(0, 1, 2), keepdims=True)
    return (x - mean) / np.sqrt(variance + eps)
# END SOLUTION""",
    "02.5": """\
# BEGIN SOLUTION
small_cnn = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
])
# END SOLUTION""",
}

MODEL_ANSWERS = {
    "02.6": "A dense unit has a weight for every pixel of every channel, so its count grows "
            "with the image. A convolution is local (each output sees only a small patch) and "
            "shares its weights (the same filter at every position), so a 3x3 layer with 64 "
            "filters has 1,792 parameters for any image size. Sharing also makes it "
            "translation equivariant: a pattern moved in the input moves its response in the "
            "output, so a detector learned in one corner works everywhere.",
}

WRONG = {
    "02.1": [
        WrongAnswer("biases left out", """\
dense_params_cifar = 32 * 32 * 3 * 128
conv_params_cifar = 5 * 5 * 3 * 32""", 0),
        WrongAnswer("input channels forgotten in the convolution", """\
dense_params_cifar = 32 * 32 * 3 * 128 + 128
conv_params_cifar = 5 * 5 * 32 + 32""", 1),
    ],
    "02.2": [
        WrongAnswer("ReLU's derivative (0 for negative inputs)", """\
def leaky_relu_grad(x, slope=0.2):
    return (np.asarray(x) > 0).astype(float)""", 0),
        WrongAnswer("the slope hard-coded to 0.2", """\
def leaky_relu_grad(x, slope=0.2):
    return np.where(np.asarray(x) > 0, 1.0, 0.2)""", 1),
    ],
    "02.3": [
        WrongAnswer("survivors not rescaled", """\
def inverted_dropout(x, rate, rng):
    return np.where(rng.random(x.shape) < rate, 0.0, x)""", 1),
        WrongAnswer("rate used as the share kept", """\
def inverted_dropout(x, rate, rng):
    return np.where(rng.random(x.shape) < rate, x / (1 - rate), 0.0)""", 1),
    ],
    "02.4": [
        WrongAnswer("statistics per image instead of per channel", """\
def batch_norm_train(x, eps=1e-3):
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    return (x - mean) / np.sqrt(x.var(axis=(1, 2, 3), keepdims=True) + eps)""", 0),
        WrongAnswer("eps left out", """\
def batch_norm_train(x, eps=1e-3):
    return (x - x.mean(axis=(0, 1, 2))) / x.std(axis=(0, 1, 2))""", 1),
    ],
    "02.5": [
        WrongAnswer("padding forgotten ('valid' convolutions)", """\
small_cnn = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, activation="relu"),
    layers.MaxPooling2D(2),
    layers.Conv2D(32, 3, activation="relu"),
    layers.MaxPooling2D(2),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
])""", 1),
        WrongAnswer("the second pooling left out", """\
small_cnn = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(16, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
])""", 1),
    ],
}
