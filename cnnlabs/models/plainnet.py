"""He et al.'s CIFAR networks, plain and residual: the degradation experiment.

He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR
2016, section 4.2, train ``6n + 2``-layer networks on CIFAR-10 and show that a
*plain* 56-layer stack ends with higher **training** error than a plain
20-layer one (degradation: not overfitting, an optimisation problem), while
the same networks with identity shortcuts (ResNet-20, ResNet-56) improve with
depth. The layout, for ``n`` blocks per stage:

=========  =====================================  =========
stage      layers                                 output
=========  =====================================  =========
stem       conv 3x3 16, BN, ReLU                  32x32x16
stage 1    n x block(16)                          32x32x16
stage 2    n x block(32), the first one stride 2  16x16x32
stage 3    n x block(64), the first one stride 2  8x8x64
head       global average pool, dense softmax     10
=========  =====================================  =========

``block(f)`` is conv 3x3 f -> BN -> ReLU -> conv 3x3 f -> BN, then (residual
only) the shortcut is added, then ReLU. Where a block changes size, the
shortcut is a strided 1x1 convolution with BN (the paper's option B; its
CIFAR runs used parameter-free zero padding, option A, which saves the 2,560
projection weights and 384 BN values, half of them trainable, counted here).

Registered (parameters on 32x32x3 with 10 classes, BN moving statistics
included; the residual networks have the same layers plus the two projections).
For ``plain20``: 267,696 convolution weights, 688 BN channels x 4 = 2,752, and
the 650-parameter classifier:

==========  =====  ==========
name        depth  parameters
==========  =====  ==========
plain20     20        271,098
resnet20    20        274,042
plain56     56        857,082
resnet56    56        860,026
==========  =====  ==========
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from cnnlabs.models import check_input, predictions, register


def conv_bn(x, filters: int, stride: int, name: str, relu: bool = True):
    """3x3 convolution (no bias: BN follows) -> BN [-> ReLU]."""
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def block(x, filters: int, stride: int, residual: bool, name: str):
    """Two 3x3 convolutions; with ``residual`` the input is added back before the last ReLU."""
    y = conv_bn(x, filters, stride, f"{name}_a")
    y = conv_bn(y, filters, 1, f"{name}_b", relu=False)
    if residual:
        shortcut = x
        if stride != 1 or x.shape[-1] != filters:
            shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                     kernel_initializer="he_normal", name=f"{name}_proj")(x)
            shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
        y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(y)


def cifar_net(input_shape: Sequence[int], classes: int, depth: int = 20,
              residual: bool = False) -> keras.Model:
    """He et al.'s ``depth = 6n + 2`` CIFAR network, plain or residual.

    Raises:
        ValueError: when ``depth`` is not of the form ``6n + 2`` (20, 32, 44, 56, 110 ...).
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, 110, ...); got {depth}.")
    kind = "resnet" if residual else "plain"
    shape = check_input(f"{kind}{depth}", input_shape, min_size=1)
    n = (depth - 2) // 6
    inputs = keras.Input(shape=shape, name="image")
    x = conv_bn(inputs, 16, 1, "stem")
    for stage, filters in enumerate((16, 32, 64), start=1):
        for i in range(n):
            stride = 2 if stage > 1 and i == 0 else 1
            x = block(x, filters, stride, residual, name=f"stage{stage}_block{i + 1}")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, predictions(x, classes), name=f"{kind}{depth}")


def _register(depth: int, residual: bool) -> None:
    name = f"{'resnet' if residual else 'plain'}{depth}"

    @register(name)
    def builder(input_shape: Sequence[int], classes: int) -> keras.Model:
        return cifar_net(input_shape, classes, depth=depth, residual=residual)

    builder.__name__ = name
    kind = "residual" if residual else "plain"
    builder.__doc__ = f"He et al.'s {depth}-layer CIFAR network, {kind}."


for _depth in (20, 56):
    for _residual in (False, True):
        _register(_depth, _residual)
