"""ShallowNet: the smallest useful CNN, one convolution and one classifier.

ShallowNet is the first network in Rosebrock's *Deep Learning for Computer
Vision with Python* (Starter Bundle): a single convolutional layer feeding a
softmax classifier. It has no pooling, so it shows what one bank of learned
filters can do on its own, and how quickly a dense layer on an unpooled map
grows. On CIFAR-10 (32x32x3, 10 classes) it has 328,586 parameters:

==========  ==========================  ==========  ==========
block       layers                      output      parameters
==========  ==========================  ==========  ==========
conv        Conv2D 32 3x3 same, ReLU    32x32x32           896
classifier  Flatten, Dense 10, softmax  10             327,690
==========  ==========================  ==========  ==========

The convolution holds under 0.3% of the weights: the dense layer sees all
32x32x32 = 32,768 activations. Because the convolution uses "same" padding and
nothing downsamples, any image of at least 1x1 pixel works.
``include_top=False`` keeps the convolution alone (896 parameters, a 32x32x32
map on 32x32x3 input).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from cnnlabs.models import check_input, check_top, feature_extractor, predictions, register
from cnnlabs.models.blocks import conv_relu

#: "same" padding and no pooling: every size from 1x1 up gives a valid map.
MIN_SIZE = 1


def flatten_softmax(x, classes: int, name: str = "classifier"):
    """Flatten -> Dense ``classes`` with softmax: a linear classifier on every activation."""
    x = layers.Flatten(name=f"{name}_flatten")(x)
    return predictions(x, classes)


@register("shallownet")
def shallownet(input_shape: Sequence[int], classes: int | None, filters: int = 32, *,
               include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """ShallowNet: conv ``filters`` 3x3 same -> ReLU -> flatten -> softmax dense.

    328,586 parameters on 32x32x3 with 10 classes (the default 32 filters).

    Args:
        input_shape: (height, width, channels); any size builds.
        classes: output classes (ignored with ``include_top=False``).
        filters: channels of the convolution.
        include_top: False returns the feature extractor, the convolution and its ReLU.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for a bad shape or ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("shallownet", input_shape, min_size=MIN_SIZE)
    inputs = keras.Input(shape=shape, name="image")
    x = conv_relu(inputs, filters, name="conv")
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="shallownet")
    outputs = flatten_softmax(x, classes)
    return keras.Model(inputs, outputs, name="shallownet")
