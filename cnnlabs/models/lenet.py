"""LeNet: the book variant (``lenet``) and the 1998 classic (``lenet5``).

``lenet`` is the variant taught in Rosebrock's *Deep Learning for Computer
Vision with Python* (and the seeds): ReLU, max pooling, "same" convolutions and
a wide dense layer. On 28x28x1 with 10 classes it has 1,256,080 parameters:

========  =========================  ===========  ==========
block     layers                     output       parameters
========  =========================  ===========  ==========
conv1     Conv2D 20 5x5 same, ReLU   28x28x20            520
pool1     MaxPool 2x2 / 2            14x14x20              0
conv2     Conv2D 50 5x5 same, ReLU   14x14x50         25,050
pool2     MaxPool 2x2 / 2            7x7x50                0
fc1       Flatten, Dense 500, ReLU   500           1,225,500
output    Dense 10, softmax          10                5,010
========  =========================  ===========  ==========

``lenet5`` follows LeCun, Bottou, Bengio & Haffner, "Gradient-based learning
applied to document recognition", Proc. IEEE 86(11), 1998, on 32x32x1:

========  =========================  ===========  ==========
block     layers                     output       parameters
========  =========================  ===========  ==========
C1        Conv2D 6 5x5 valid, tanh   28x28x6             156
S2        AvgPool 2x2 / 2            14x14x6               0
C3        Conv2D 16 5x5 valid, tanh  10x10x16          2,416
S4        AvgPool 2x2 / 2            5x5x16                0
C5        Conv2D 120 5x5, tanh       1x1x120          48,120
F6        Dense 84, tanh             84               10,164
output    Dense 10, softmax          10                  850
========  =========================  ===========  ==========

Total 61,706: the figure usually quoted for LeNet-5. It counts the model the
way it is built today, and differs from the 1998 network in three places: C3
connects every input map to every output map (the paper's sparse table gives
1,516 weights instead of 2,416), S2/S4 are plain average pools (the paper's
subsampling units have a trainable coefficient and bias per map, 12 + 32 more
parameters), and the output is a softmax dense layer instead of Euclidean RBF
units (840 fixed parameters in the paper). MNIST digits are 28x28; as in the
paper, they are centred in a 32x32 field: a 28x28 input gets 2 pixels of zero
padding inside the model, which adds no parameters.

``include_top=False`` keeps the convolutions: ``lenet`` up to ``block2_pool``
(25,570 parameters on 28x28x1) and ``lenet5`` up to ``c5`` (50,692).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from cnnlabs.models import check_input, check_top, feature_extractor, predictions, register


def conv_pool_block(x, filters: int, kernel: int, activation: str, padding: str, pool: str,
                    name: str):
    """Convolution -> activation -> 2x2 stride-2 pooling, as one named block."""
    x = layers.Conv2D(filters, kernel, padding=padding, name=f"{name}_conv")(x)
    x = layers.Activation(activation, name=f"{name}_{activation}")(x)
    pool_layer = layers.MaxPooling2D if pool == "max" else layers.AveragePooling2D
    return pool_layer(pool_size=2, strides=2, name=f"{name}_pool")(x)


@register("lenet")
def lenet(input_shape: Sequence[int], classes: int | None, *, include_top: bool = True,
          pooling: str | None = None) -> keras.Model:
    """The book LeNet: 2 x (conv 5x5 same -> ReLU -> max pool) -> dense 500 -> softmax.

    Works on any input of at least 4x4 (two 2x2 poolings); 1,256,080 parameters
    on 28x28x1 with 10 classes.

    Args:
        input_shape: (height, width, channels), at least 4x4.
        classes: output classes (ignored with ``include_top=False``).
        include_top: False returns the feature extractor, up to ``block2_pool``.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for an input under 4x4 or a bad ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("lenet", input_shape, min_size=4)
    inputs = keras.Input(shape=shape, name="image")
    x = conv_pool_block(inputs, 20, 5, "relu", "same", "max", name="block1")
    x = conv_pool_block(x, 50, 5, "relu", "same", "max", name="block2")
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="lenet")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(500, activation="relu", name="fc1")(x)
    outputs = predictions(x, classes)
    return keras.Model(inputs, outputs, name="lenet")


@register("lenet5")
def lenet5(input_shape: Sequence[int], classes: int | None, activation: str = "tanh", *,
           include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """LeNet-5 (LeCun et al. 1998) on 32x32 inputs: 61,706 parameters with 10 classes.

    A 28x28 input (MNIST) is zero-padded to 32x32 inside the model, as the
    paper did; any other size must be exactly 32x32.

    Args:
        input_shape: (height, width, channels), 32x32 or 28x28.
        classes: output classes (ignored with ``include_top=False``).
        activation: of C1, C3, C5 and F6.
        include_top: False returns the feature extractor, up to ``c5`` (a 1x1x120 map).
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for another input size or a bad ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("lenet5", input_shape, min_size=28)
    if shape[:2] not in ((28, 28), (32, 32)):
        raise ValueError(
            f"lenet5 is defined on 32x32 images (28x28 is padded to 32x32); got "
            f"{shape[0]}x{shape[1]}. Use 'lenet' for other sizes."
        )
    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    if shape[:2] == (28, 28):
        x = layers.ZeroPadding2D(2, name="pad_to_32")(x)
    x = conv_pool_block(x, 6, 5, activation, "valid", "avg", name="c1_s2")
    x = conv_pool_block(x, 16, 5, activation, "valid", "avg", name="c3_s4")
    x = layers.Conv2D(120, 5, activation=activation, name="c5")(x)
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="lenet5")
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(84, activation=activation, name="f6")(x)
    outputs = predictions(x, classes)
    return keras.Model(inputs, outputs, name="lenet5")
