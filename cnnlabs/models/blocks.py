"""Building blocks shared by several model families, one meaning per name.

Each helper is named for its layers, in order:

================  ==========================================  ============================
helper            layers                                      used by
================  ==========================================  ============================
``conv_relu``     Conv2D (with bias) -> ReLU                  shallownet, ``conv_relu_bn``
``conv_relu_bn``  Conv2D (with bias) -> ReLU [-> BN]          minivggnet, alexnet
``fc_block``      Dense -> ReLU [-> BN] -> Dropout            minivggnet, alexnet
``conv_bn``       Conv2D 3x3 (no bias) -> BN                  He et al.'s CIFAR networks
``conv_bn_relu``  Conv2D 3x3 (no bias) -> BN -> ReLU          He et al.'s CIFAR networks
================  ==========================================  ============================

:func:`he_cifar_network` is the ``6n + 2``-layer CIFAR layout of He et al. that
the plain (``plainnet``) and residual (``resnet``) networks share; they differ
only in the block they stack.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import layers

from cnnlabs.models import check_input, check_top, feature_extractor, predictions


def conv_relu(x, filters: int, kernel: int = 3, *, strides: int = 1, padding: str = "same",
              groups: int = 1, name: str):
    """Conv2D ``filters`` ``kernel``x``kernel`` / ``strides`` (with bias) -> ReLU."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding=padding, groups=groups,
                      name=f"{name}_conv")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def conv_relu_bn(x, filters: int, kernel: int = 3, *, strides: int = 1, padding: str = "same",
                 groups: int = 1, batch_norm: bool = True, name: str):
    """:func:`conv_relu` [-> BN]: batch normalisation after the ReLU, PyImageSearch's order."""
    x = conv_relu(x, filters, kernel, strides=strides, padding=padding, groups=groups, name=name)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return x


def fc_block(x, units: int, *, dropout: float, batch_norm: bool = False, name: str):
    """Dense ``units`` -> ReLU [-> BN] -> Dropout ``dropout``: one hidden layer of a classifier."""
    x = layers.Dense(units, name=f"{name}_dense")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Dropout(dropout, name=f"{name}_dropout")(x)


def conv_bn(x, filters: int, stride: int, name: str):
    """3x3 "same" Conv2D / ``stride`` (no bias: BN follows; He initialisation) -> BN."""
    x = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                      kernel_initializer="he_normal", name=f"{name}_conv")(x)
    return layers.BatchNormalization(name=f"{name}_bn")(x)


def conv_bn_relu(x, filters: int, stride: int, name: str):
    """:func:`conv_bn` -> ReLU."""
    return layers.Activation("relu", name=f"{name}_relu")(conv_bn(x, filters, stride, name))


def he_blocks_per_stage(depth: int) -> int:
    """``n`` of a ``depth = 6n + 2`` network: blocks in each of its three stages.

    Raises:
        ValueError: when ``depth`` is not of the form ``6n + 2`` (20, 32, 44, 56, 110 ...).
    """
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (20, 32, 44, 56, 110, ...); got {depth}.")
    return (depth - 2) // 6


def he_cifar_network(name: str, input_shape: Sequence[int], classes: int | None, depth: int,
                     block: Callable[..., Any], *, include_top: bool = True,
                     pooling: str | None = None) -> keras.Model:
    """He et al.'s ``depth = 6n + 2`` CIFAR network, stacking ``block``.

    Stem ``conv_bn_relu`` 16, then three stages of ``n`` blocks with 16, 32 and
    64 filters (the first block of stages 2 and 3 has stride 2), then global
    average pooling (``pool``) and the softmax ``predictions``.

    Args:
        name: the model's name, e.g. ``"plain20"``.
        input_shape: (height, width, channels).
        classes: output classes (ignored with ``include_top=False``).
        depth: weighted layers on the main path, ``6n + 2``.
        block: ``block(x, filters, stride, name)``, two 3x3 convolutions.
        include_top: False returns the feature extractor (the last block's output).
        pooling: with ``include_top=False``: None, ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for a depth not of the form ``6n + 2``, or a bad shape or ``pooling``.
    """
    n = he_blocks_per_stage(depth)
    check_top(include_top, pooling)
    shape = check_input(name, input_shape, min_size=1)
    inputs = keras.Input(shape=shape, name="image")
    x = conv_bn_relu(inputs, 16, 1, "stem")
    for stage, filters in enumerate((16, 32, 64), start=1):
        for i in range(n):
            stride = 2 if stage > 1 and i == 0 else 1
            x = block(x, filters, stride, name=f"stage{stage}_block{i + 1}")
    if not include_top:
        return feature_extractor(inputs, x, pooling, name=name)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, predictions(x, classes), name=name)
