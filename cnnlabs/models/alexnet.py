"""AlexNet: the 2012 ImageNet network (``alexnet``) and a CIFAR-size variant (``alexnet_cifar``).

``alexnet`` follows Krizhevsky, Sutskever & Hinton, "ImageNet Classification
with Deep Convolutional Neural Networks", NIPS 2012, as one tower on a
227x227x3 input (the paper's "224" does not give 55x55 after an 11x11 stride-4
convolution; 227 does). With 1,000 classes it has 62,378,344 parameters:

=========  ===================================  ==========  ==========
block      layers                               output      parameters
=========  ===================================  ==========  ==========
conv1      Conv2D 96 11x11 / 4 valid, ReLU      55x55x96        34,944
pool1      MaxPool 3x3 / 2                      27x27x96             0
conv2      Conv2D 256 5x5 pad 2 (same), ReLU    27x27x256      614,656
pool2      MaxPool 3x3 / 2                      13x13x256            0
conv3      Conv2D 384 3x3 same, ReLU            13x13x384      885,120
conv4      Conv2D 384 3x3 same, ReLU            13x13x384    1,327,488
conv5      Conv2D 256 3x3 same, ReLU            13x13x256      884,992
pool5      MaxPool 3x3 / 2                      6x6x256              0
fc6        Flatten, Dense 4096, ReLU, Drop 0.5  4096        37,752,832
fc7        Dense 4096, ReLU, Dropout 0.5        4096        16,781,312
output     Dense 1000, softmax                  1000         4,097,000
=========  ===================================  ==========  ==========

Why 62.4M and not the paper's "60 million": the paper split the network over
two GPUs, and conv2, conv4 and conv5 only saw the half of the previous layer's
maps held on their own GPU. Each of those layers therefore had half the
weights. ``alexnet(..., groups=2)`` reproduces the split with grouped
convolutions and has 60,965,224 parameters (conv2 307,456, conv4 663,936,
conv5 442,624), the paper's "60 million". The default is one tower
(``groups=1``), the layout the seeds and most courses draw. Local response
normalisation is left out: it has no parameters, so it changes no count,
Simonyan & Zisserman (VGG, 2015) found it did not help, and batch
normalisation took its place (see ``alexnet_cifar``). Dropout 0.5 follows fc6
and fc7, as in the paper.

The smallest input is 67x67: the last 3x3 / 2 pooling needs a 3x3 map, so the
second pooling needs 7x7, the first 15x15, and conv1 (11x11 / 4) needs
(15 - 1) * 4 + 11 = 67 pixels. Sizes other than 227 change only fc6.

``alexnet_cifar`` is the seeds' "modified AlexNet" (as in Rosebrock's *Deep
Learning for Computer Vision with Python*): the same five convolutions and
three dense layers, with batch normalisation (Ioffe & Szegedy, ICML 2015)
after the ReLU of every convolution and hidden dense layer, dropout 0.25 after
each pooling block and 0.5 after each hidden dense layer. The seeds' version
keeps the 11x11 / 4 first layer, which only works on large images: on 32x32 it
leaves a 6x6 map, 2x2 after the first pooling, too small for the second. To train on
CIFAR-size images this builder makes one change: the first convolution is 3x3
with stride 1 ("same"), because a 32x32 image is already about the size of a
27x27 pool1 map of the original. Filter counts, kernel sizes 5x5 and 3x3,
the overlapping 3x3 / 2 max pools and the 4096-unit dense layers stay as in
the seeds. On 32x32x3 with 10 classes it has 30,016,778 parameters
(29,997,642 trainable; the 19,136 BN moving means and variances are not):

=======  ==========================================  =========  ==========  ======
block    layers                                      output     params      BN
=======  ==========================================  =========  ==========  ======
block1   Conv2D 96 3x3 same, ReLU, BN                32x32x96        2,688     384
         MaxPool 3x3 / 2, Dropout 0.25               15x15x96            0       0
block2   Conv2D 256 5x5 same, ReLU, BN               15x15x256     614,656   1,024
         MaxPool 3x3 / 2, Dropout 0.25               7x7x256             0       0
block3   Conv2D 384 3x3 same, ReLU, BN               7x7x384       885,120   1,536
block4   Conv2D 384 3x3 same, ReLU, BN               7x7x384     1,327,488   1,536
block5   Conv2D 256 3x3 same, ReLU, BN               7x7x256       884,992   1,024
         MaxPool 3x3 / 2, Dropout 0.25               3x3x256             0       0
fc6      Flatten, Dense 4096, ReLU, BN, Dropout 0.5  4096        9,441,280  16,384
fc7      Dense 4096, ReLU, BN, Dropout 0.5           4096       16,781,312  16,384
output   Dense 10, softmax                           10             40,970       0
=======  ==========================================  =========  ==========  ======

(BN: the batch normalisation's 4 values per channel, half of them trainable.)
87% of the parameters sit in fc6 and fc7; ``dense_units=1024`` gives a model of
7,148,810 that trains faster on a CPU. Its smallest input is 15x15 (the pools
take 15 -> 7 -> 3 -> 1).

``include_top=False`` ends both networks at their last pooling block (conv5 or
block5), before the flatten: ``alexnet`` keeps 3,747,200 parameters (one tower)
and ``alexnet_cifar`` 3,720,448.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from cnnlabs.models import check_input, check_top, feature_extractor, predictions, register
from cnnlabs.models.blocks import conv_relu_bn, fc_block

#: A 3x3 / 2 pool needs 2 * out + 1 inputs, so three pools need 1 -> 3 -> 7 -> 15 before
#: pool1, and conv1 (11x11 / 4) needs (15 - 1) * 4 + 11 = 67 pixels.
MIN_SIZE = 67
#: alexnet_cifar: stride-1 first convolution, then three 3x3 / 2 pools.
MIN_SIZE_CIFAR = 15


def alexnet_block(x, filters: int, kernel: int, *, strides: int = 1, padding: str = "same",
                  groups: int = 1, batch_norm: bool = False, pool: bool = False,
                  dropout: float = 0.0, name: str):
    """``conv_relu_bn`` [-> overlapping MaxPool 3x3 / 2] [-> Dropout], as one named block."""
    x = conv_relu_bn(x, filters, kernel, strides=strides, padding=padding, groups=groups,
                     batch_norm=batch_norm, name=name)
    if pool:
        x = layers.MaxPooling2D(pool_size=3, strides=2, name=f"{name}_pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return x


@register("alexnet")
def alexnet(input_shape: Sequence[int], classes: int | None, groups: int = 1, *,
            include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """AlexNet (Krizhevsky et al. 2012): 62,378,344 parameters on 227x227x3 with 1000 classes.

    Args:
        input_shape: (height, width, channels), at least 67x67; 227x227x3 is the paper's.
        classes: output classes (ignored with ``include_top=False``).
        groups: 2 splits conv2, conv4 and conv5 into two groups as the paper's two
            GPUs did (60,965,224 parameters with 1000 classes); 1 is the usual single tower.
        include_top: False returns the feature extractor, up to ``conv5_pool``.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for an input under 67x67, ``groups`` other than 1 or 2, or a
            bad ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("alexnet", input_shape, min_size=MIN_SIZE)
    if groups not in (1, 2):
        raise ValueError(f"alexnet: groups must be 1 (one tower) or 2 (two GPUs); got {groups}.")
    inputs = keras.Input(shape=shape, name="image")
    x = alexnet_block(inputs, 96, 11, strides=4, padding="valid", pool=True, name="conv1")
    x = alexnet_block(x, 256, 5, groups=groups, pool=True, name="conv2")
    x = alexnet_block(x, 384, 3, name="conv3")
    x = alexnet_block(x, 384, 3, groups=groups, name="conv4")
    x = alexnet_block(x, 256, 3, groups=groups, pool=True, name="conv5")
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="alexnet")
    x = layers.Flatten(name="flatten")(x)
    x = fc_block(x, 4096, dropout=0.5, name="fc6")
    x = fc_block(x, 4096, dropout=0.5, name="fc7")
    outputs = predictions(x, classes)
    return keras.Model(inputs, outputs, name="alexnet")


@register("alexnet_cifar")
def alexnet_cifar(input_shape: Sequence[int], classes: int | None, dense_units: int = 4096, *,
                  include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """The seeds' modified AlexNet (BN, dropout) with a 3x3 stride-1 first layer for 32x32 images.

    30,016,778 parameters on 32x32x3 with 10 classes; 7,148,810 with ``dense_units=1024``.

    Args:
        input_shape: (height, width, channels), at least 15x15.
        classes: output classes (ignored with ``include_top=False``).
        dense_units: units of fc6 and fc7.
        include_top: False returns the feature extractor, up to ``block5_dropout``.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for an input under 15x15 or a bad ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("alexnet_cifar", input_shape, min_size=MIN_SIZE_CIFAR)
    inputs = keras.Input(shape=shape, name="image")
    bn = {"batch_norm": True}
    x = alexnet_block(inputs, 96, 3, pool=True, dropout=0.25, name="block1", **bn)
    x = alexnet_block(x, 256, 5, pool=True, dropout=0.25, name="block2", **bn)
    x = alexnet_block(x, 384, 3, name="block3", **bn)
    x = alexnet_block(x, 384, 3, name="block4", **bn)
    x = alexnet_block(x, 256, 3, pool=True, dropout=0.25, name="block5", **bn)
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="alexnet_cifar")
    x = layers.Flatten(name="flatten")(x)
    x = fc_block(x, dense_units, dropout=0.5, name="fc6", **bn)
    x = fc_block(x, dense_units, dropout=0.5, name="fc7", **bn)
    outputs = predictions(x, classes)
    return keras.Model(inputs, outputs, name="alexnet_cifar")
