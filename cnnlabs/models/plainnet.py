"""He et al.'s plain CIFAR networks (``plain20``, ``plain56``): deep stacks without shortcuts.

He, Zhang, Ren & Sun, "Deep Residual Learning for Image Recognition", CVPR
2016, section 4.2, use these ``6n + 2``-layer networks to show degradation: the
deeper plain stack trains worse, while its residual twin (``resnet20``,
``resnet56`` in :mod:`cnnlabs.models.resnet`, the same layers plus shortcuts)
does not. For ``n`` blocks per stage:

=======  ========================================  ========
stage    layers                                    output
=======  ========================================  ========
stem     conv 3x3 16, BN, ReLU                     32x32x16
stage 1  n x plain_block(16)                       32x32x16
stage 2  n x plain_block(32), the first stride 2   16x16x32
stage 3  n x plain_block(64), the first stride 2   8x8x64
head     global average pool, dense softmax        10
=======  ========================================  ========

``plain_block(f)`` is conv 3x3 f -> BN -> ReLU -> conv 3x3 f -> BN -> ReLU.
Parameters on 32x32x3 with 10 classes (BN moving statistics included):
``plain20`` 271,098 and ``plain56`` 857,082.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from cnnlabs.models import register
from cnnlabs.models.blocks import conv_bn, conv_bn_relu, he_cifar_network


def plain_block(x, filters: int, stride: int, name: str):
    """``conv_bn_relu`` / ``stride`` -> ``conv_bn`` -> ReLU: two 3x3 convolutions, no shortcut."""
    y = conv_bn_relu(x, filters, stride, f"{name}_a")
    y = conv_bn(y, filters, 1, f"{name}_b")
    return layers.Activation("relu", name=f"{name}_out")(y)


def plain_cifar(input_shape: Sequence[int], classes: int | None, depth: int = 20, *,
                include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """He et al.'s plain ``depth = 6n + 2`` CIFAR network, named ``plain<depth>``.

    Args:
        input_shape: (height, width, channels); any size builds.
        classes: output classes (ignored with ``include_top=False``).
        depth: ``6n + 2`` (20, 32, 44, 56, 110, ...).
        include_top: False returns the feature extractor, up to the last block's ReLU.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: when ``depth`` is not of the form ``6n + 2``.
    """
    return he_cifar_network(f"plain{depth}", input_shape, classes, depth, plain_block,
                            include_top=include_top, pooling=pooling)


@register("plain20")
def plain20(input_shape: Sequence[int], classes: int | None, *, include_top: bool = True,
            pooling: str | None = None) -> keras.Model:
    """He et al.'s 20-layer plain CIFAR network: 271,098 parameters on 32x32x3, 10 classes."""
    return plain_cifar(input_shape, classes, 20, include_top=include_top, pooling=pooling)


@register("plain56")
def plain56(input_shape: Sequence[int], classes: int | None, *, include_top: bool = True,
            pooling: str | None = None) -> keras.Model:
    """He et al.'s 56-layer plain CIFAR network: 857,082 parameters on 32x32x3, 10 classes."""
    return plain_cifar(input_shape, classes, 56, include_top=include_top, pooling=pooling)
