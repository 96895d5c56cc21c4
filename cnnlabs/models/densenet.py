"""DenseNet-BC, small: dense blocks and transitions for CIFAR-size images (``densenet_mini``).

Huang, Liu, van der Maaten & Weinberger, "Densely Connected Convolutional
Networks", CVPR 2017. Inside a dense block every layer receives the
concatenation of all earlier maps and adds ``growth_rate`` (k) new channels.
This is the paper's "BC" form:

- ``dense_layer`` (B, bottleneck): BN -> ReLU -> 1x1 conv 4k -> BN -> ReLU ->
  3x3 conv k, its output concatenated onto its input;
- ``transition`` (C, compression): BN -> ReLU -> 1x1 conv to
  floor(0.5 x channels) -> 2x2 average pool.

Convolutions have no bias (a BN always follows). The stem is one 3x3
convolution with 2k channels and the head BN -> ReLU -> global average pool ->
softmax dense, as in the paper's CIFAR models. The default, k = 12 with three
blocks of 6 layers, is DenseNet-BC with depth 40 (36 convolutions in the
blocks, the stem, two transitions and the classifier), much smaller than the
paper's smallest BC model (depth 100). On 32x32x3 with 10 classes it has
181,210 parameters (176,122 trainable; the 5,088 BN moving means and
variances are not):

============  ===============================  =========  ==========  =====  =======
block         layers                           output     conv/dense  BN     total
============  ===============================  =========  ==========  =====  =======
stem          Conv2D 24 3x3 same               32x32x24          648      0      648
block1        6 dense layers, 24 -> 96 ch      32x32x96       46,656  2,448   49,104
transition1   BN, ReLU, conv 1x1 48, avg pool  16x16x48        4,608    384    4,992
block2        6 dense layers, 48 -> 120 ch     16x16x120      53,568  3,024   56,592
transition2   BN, ReLU, conv 1x1 60, avg pool  8x8x60          7,200    480    7,680
block3        6 dense layers, 60 -> 132 ch     8x8x132        57,024  3,312   60,336
head          BN, ReLU, GAP, Dense 10          10              1,330    528    1,858
============  ===============================  =========  ==========  =====  =======

A dense layer on C input channels has C*4k + 9*4k*k convolution weights and
4*(C + 4k) BN values: the first layer of block 1 (C = 24, k = 12) has
1,152 + 5,184 = 6,336 weights and 288 BN values. ``include_top=False`` keeps
everything up to the head's BN -> ReLU (179,880 parameters, an 8x8x132 map on
32x32 input). Two 2x2 average pools need at least 4x4 pixels.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from cnnlabs.models import check_input, check_top, feature_extractor, predictions, register

#: Two 2x2 stride-2 average pools (with the default three blocks): 2**2 = 4.
MIN_SIZE = 4


def _bn_relu_conv(x, filters: int, kernel: int, name: str):
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    return layers.Conv2D(filters, kernel, padding="same", use_bias=False, name=f"{name}_conv")(x)


def dense_layer(x, growth_rate: int, *, name: str):
    """BN-ReLU-1x1 conv (4k) -> BN-ReLU-3x3 conv (k), concatenated onto the input."""
    y = _bn_relu_conv(x, 4 * growth_rate, 1, name=f"{name}_1x1")
    y = _bn_relu_conv(y, growth_rate, 3, name=f"{name}_3x3")
    return layers.Concatenate(name=f"{name}_concat")([x, y])


def dense_block(x, num_layers: int, growth_rate: int, *, name: str):
    """``num_layers`` dense layers: adds ``num_layers * growth_rate`` channels."""
    for i in range(1, num_layers + 1):
        x = dense_layer(x, growth_rate, name=f"{name}_layer{i}")
    return x


def transition(x, compression: float, *, name: str):
    """BN-ReLU-1x1 conv to floor(``compression`` x channels) -> 2x2 average pool."""
    channels = int(x.shape[-1] * compression)
    x = _bn_relu_conv(x, channels, 1, name=name)
    return layers.AveragePooling2D(pool_size=2, strides=2, name=f"{name}_pool")(x)


@register("densenet_mini")
def densenet_mini(input_shape: Sequence[int], classes: int | None, growth_rate: int = 12,
                  blocks: Sequence[int] = (6, 6, 6), compression: float = 0.5, *,
                  include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """DenseNet-BC (k=12, depth 40): 181,210 parameters on 32x32x3 with 10 classes.

    Args:
        input_shape: (height, width, channels), at least 2**(len(blocks) - 1) pixels a side.
        classes: output classes.
        growth_rate: channels each dense layer adds (k).
        blocks: dense layers per block; a transition follows every block but the last.
        compression: fraction of channels a transition keeps (0 < compression <= 1).
        include_top: False returns the feature extractor, up to the final BN -> ReLU
            (``head_relu``), without pooling and softmax.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for an empty block, a compression outside (0, 1], an input
            too small for the transitions' pools or a bad ``pooling``.
    """
    check_top(include_top, pooling)
    blocks = tuple(blocks)
    if not blocks or min(blocks) < 1:
        raise ValueError(f"densenet_mini: every block needs at least one layer; got {blocks}.")
    if not 0 < compression <= 1:
        raise ValueError(f"densenet_mini: compression must be in (0, 1]; got {compression}.")
    shape = check_input("densenet_mini", input_shape, min_size=2 ** (len(blocks) - 1))
    inputs = keras.Input(shape=shape, name="image")
    x = layers.Conv2D(2 * growth_rate, 3, padding="same", use_bias=False, name="stem_conv")(inputs)
    for b, num_layers in enumerate(blocks, start=1):
        x = dense_block(x, num_layers, growth_rate, name=f"block{b}")
        if b < len(blocks):
            x = transition(x, compression, name=f"transition{b}")
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.Activation("relu", name="head_relu")(x)
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="densenet_mini")
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    outputs = predictions(x, classes)
    return keras.Model(inputs, outputs, name="densenet_mini")
