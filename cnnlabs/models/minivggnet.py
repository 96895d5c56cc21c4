"""MiniVGGNet: VGG's stacked 3x3 convolutions, scaled down for CIFAR-10.

MiniVGGNet is the network of Rosebrock's *Deep Learning for Computer Vision
with Python* (and the seeds' "VGGNet (modified)") that applies the idea of
Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition" (ICLR 2015), two 3x3 convolutions before each pooling, at CIFAR
scale. It adds batch normalisation (Ioffe & Szegedy, ICML 2015) after every
ReLU and dropout (Srivastava et al., JMLR 2014) after each pooling and in the
classifier. On 32x32x3 with 10 classes it has 2,171,178 parameters, of which
2,169,770 are trainable (the 1,408 BN moving means and variances are not):

=======  ==========================================  =========  =========  =====
block    layers                                      output     params     BN
=======  ==========================================  =========  =========  =====
block1   Conv2D 32 3x3 same, ReLU, BN                32x32x32         896    128
         Conv2D 32 3x3 same, ReLU, BN                32x32x32       9,248    128
         MaxPool 2x2, Dropout 0.25                   16x16x32           0      0
block2   Conv2D 64 3x3 same, ReLU, BN                16x16x64      18,496    256
         Conv2D 64 3x3 same, ReLU, BN                16x16x64      36,928    256
         MaxPool 2x2, Dropout 0.25                   8x8x64             0      0
fc       Flatten, Dense 512, ReLU, BN, Dropout 0.5   512        2,097,664  2,048
output   Dense 10, softmax                           10             5,130      0
=======  ==========================================  =========  =========  =====

(BN: 4 values per channel, gamma and beta trainable, the moving mean and
variance not.) ``batch_norm=False`` drops the five BN layers, 2,816
parameters, leaving 2,168,362: the lab trains both to show what BN does to
the learning curves. ``include_top=False`` keeps block1 and block2 (66,336
parameters, an 8x8x64 map on 32x32 input). Two 2x2 poolings need at least 4x4
pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from cnnlabs.models import check_input, check_top, feature_extractor, predictions, register
from cnnlabs.models.blocks import conv_relu_bn, fc_block

#: Two 2x2 stride-2 poolings: 2**2 = 4.
MIN_SIZE = 4


def minivgg_block(x, filters: int, batch_norm: bool, name: str):
    """2 x ``conv_relu_bn`` 3x3 -> 2x2 max pool -> dropout 0.25, as one named block."""
    x = conv_relu_bn(x, filters, batch_norm=batch_norm, name=f"{name}_a")
    x = conv_relu_bn(x, filters, batch_norm=batch_norm, name=f"{name}_b")
    x = layers.MaxPooling2D(pool_size=2, strides=2, name=f"{name}_pool")(x)
    return layers.Dropout(0.25, name=f"{name}_dropout")(x)


@register("minivggnet")
def minivggnet(input_shape: Sequence[int], classes: int | None, batch_norm: bool = True, *,
               include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """MiniVGGNet: 2,171,178 parameters on 32x32x3 with 10 classes (2,168,362 without BN).

    Args:
        input_shape: (height, width, channels), at least 4x4.
        classes: output classes (ignored with ``include_top=False``).
        batch_norm: put batch normalisation after every ReLU (the book's model);
            False builds the same network without it, for comparison.
        include_top: False returns the feature extractor, block1 and block2
            (up to ``block2_dropout``).
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for an input under 4x4 or a bad ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("minivggnet", input_shape, min_size=MIN_SIZE)
    name = "minivggnet" if batch_norm else "minivggnet_no_bn"
    inputs = keras.Input(shape=shape, name="image")
    x = minivgg_block(inputs, 32, batch_norm, name="block1")
    x = minivgg_block(x, 64, batch_norm, name="block2")
    if not include_top:
        return feature_extractor(inputs, x, pooling, name=name)
    x = layers.Flatten(name="flatten")(x)
    x = fc_block(x, 512, dropout=0.5, batch_norm=batch_norm, name="fc")
    outputs = predictions(x, classes)
    return keras.Model(inputs, outputs, name=name)
