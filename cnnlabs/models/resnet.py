"""ResNets: pre-activation bottleneck networks and He et al.'s CIFAR ResNet-20/56.

Residual learning is from He, Zhang, Ren & Sun, "Deep Residual Learning for
Image Recognition", CVPR 2016; the bottleneck module order here (BN -> ReLU
before each convolution, nothing after the addition) is the pre-activation form
of He, Zhang, Ren & Sun, "Identity Mappings in Deep Residual Networks", ECCV
2016, shaped like the ResNet of Rosebrock's *Deep Learning for Computer Vision
with Python*: one named block, ``residual_module``, stacked in stages.

``residual_module(x, filters, stride, reduce)``, with ``k = filters / 4``::

    x -> BN -> ReLU -+-> 1x1 conv k -> BN -> ReLU -> 3x3 conv k / stride
                     |   -> BN -> ReLU -> 1x1 conv filters ---------------> add
                     +-> (reduce) 1x1 conv filters / stride -------------->
    x ---------------------(otherwise, identity)-------------------------->

:func:`resnet` builds a stem (CIFAR: BN -> 3x3 conv; ImageNet: BN -> 5x5 conv ->
BN -> ReLU -> zero-pad 1 -> 3x3 / 2 max pool) with ``filters[0]`` channels,
then stage ``i`` with ``filters[i + 1]``: one reducing module (stride 1 in the
first stage, 2 after) and ``stages[i] - 1`` identity modules; then BN -> ReLU ->
global average pool -> softmax. No convolution has a bias; every convolution
and the dense layer carry an L2 kernel regulariser of factor ``l2``.
Parameters on 32x32x3 with 10 classes:

==============  =========  ================  ======  ==========  =========
name            stages     filters           l2      parameters  trainable
==============  =========  ================  ======  ==========  =========
resnet          (9, 9, 9)  (64,64,128,256)   1e-4       886,102    873,872
resnet_cifar    (9, 9, 9)  (64,64,128,256)   5e-4       886,102    873,872
resnet_small    (3, 3, 3)  (16,16,32,64)     1e-4        22,486     21,440
==============  =========  ================  ======  ==========  =========

``resnet20`` and ``resnet56`` are the ``6n + 2``-layer CIFAR networks of the
2016 paper's section 4.2 (:func:`cnnlabs.models.blocks.he_cifar_network`):
the plain networks of :mod:`cnnlabs.models.plainnet` with a shortcut around
each ``basic_block`` (conv 3x3 -> BN -> ReLU -> conv 3x3 -> BN, add, ReLU).
Where a block changes size the shortcut is a strided 1x1 convolution with BN
(the paper's option B). On 32x32x3 with 10 classes: ``resnet20`` 274,042 and
``resnet56`` 860,026 parameters.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, regularizers

from cnnlabs.models import check_input, check_top, feature_extractor, predictions, register
from cnnlabs.models.blocks import conv_bn, conv_bn_relu, he_cifar_network

#: "same" convolutions round up and the ImageNet stem pads before pooling: any size builds.
MIN_SIZE = 1

BN_EPSILON = 2e-5
BN_MOMENTUM = 0.9


def _batch_norm(x, bn_epsilon: float, bn_momentum: float, name: str):
    return layers.BatchNormalization(epsilon=bn_epsilon, momentum=bn_momentum, name=name)(x)


def _conv_l2(x, filters: int, kernel: int, stride: int, l2: float, name: str):
    """Conv2D "same", no bias, with an L2 kernel regulariser of factor ``l2``."""
    return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                         kernel_regularizer=regularizers.L2(l2), name=name)(x)


def residual_module(x, filters: int, stride: int, reduce: bool = False, l2: float = 1e-4,
                    bn_epsilon: float = BN_EPSILON, bn_momentum: float = BN_MOMENTUM, *,
                    name: str):
    """Pre-activation bottleneck: (BN-ReLU-conv) 1x1 -> 3x3 / ``stride`` -> 1x1, plus a shortcut.

    The shortcut is the input itself, or with ``reduce`` a ``stride`` 1x1
    convolution of the first BN-ReLU's output, so that it matches the
    ``filters`` channels and the smaller map.

    Args:
        x: the input map.
        filters: output channels, a multiple of 4 (the bottleneck has ``filters / 4``).
        stride: the 3x3 convolution's (and a reducing shortcut's) stride.
        reduce: use a 1x1 convolution shortcut instead of the identity.
        l2: L2 factor of every convolution's kernel regulariser.
        bn_epsilon, bn_momentum: batch normalisation settings.
        name: prefix of the module's layer names.

    Raises:
        ValueError: if ``filters`` is not a multiple of 4, or if an identity
            shortcut could not be added (``stride`` > 1 or a channel change
            without ``reduce``).
    """
    if filters % 4:
        raise ValueError(f"{name}: filters must be a multiple of 4 (bottleneck filters/4); "
                         f"got {filters}.")
    if not reduce and (stride != 1 or x.shape[-1] != filters):
        raise ValueError(
            f"{name}: an identity shortcut needs stride 1 and {filters} input channels; got "
            f"stride {stride} and {x.shape[-1]} channels. Pass reduce=True."
        )
    bottleneck = filters // 4
    act1 = layers.Activation("relu", name=f"{name}_relu1")(
        _batch_norm(x, bn_epsilon, bn_momentum, f"{name}_bn1"))
    y = _conv_l2(act1, bottleneck, 1, 1, l2, f"{name}_conv1")
    y = layers.Activation("relu", name=f"{name}_relu2")(
        _batch_norm(y, bn_epsilon, bn_momentum, f"{name}_bn2"))
    y = _conv_l2(y, bottleneck, 3, stride, l2, f"{name}_conv2")
    y = layers.Activation("relu", name=f"{name}_relu3")(
        _batch_norm(y, bn_epsilon, bn_momentum, f"{name}_bn3"))
    y = _conv_l2(y, filters, 1, 1, l2, f"{name}_conv3")
    shortcut = _conv_l2(act1, filters, 1, stride, l2, f"{name}_shortcut") if reduce else x
    return layers.Add(name=f"{name}_add")([y, shortcut])


def stem_block(x, filters: int, stem: str, l2: float, bn_epsilon: float, bn_momentum: float):
    """CIFAR stem: BN -> 3x3 conv. ImageNet stem: BN -> 5x5 conv -> BN -> ReLU -> pad -> pool."""
    x = _batch_norm(x, bn_epsilon, bn_momentum, "stem_bn")
    if stem == "cifar":
        return _conv_l2(x, filters, 3, 1, l2, "stem_conv")
    x = _conv_l2(x, filters, 5, 1, l2, "stem_conv")
    x = _batch_norm(x, bn_epsilon, bn_momentum, "stem_bn2")
    x = layers.Activation("relu", name="stem_relu")(x)
    x = layers.ZeroPadding2D(1, name="stem_pad")(x)
    return layers.MaxPooling2D(pool_size=3, strides=2, name="stem_pool")(x)


def stage(x, modules: int, filters: int, stride: int, l2: float, bn_epsilon: float,
          bn_momentum: float, name: str):
    """One reducing ``residual_module`` with ``stride``, then ``modules - 1`` identity ones."""
    kwargs = {"l2": l2, "bn_epsilon": bn_epsilon, "bn_momentum": bn_momentum}
    x = residual_module(x, filters, stride, reduce=True, name=f"{name}_block1", **kwargs)
    for j in range(2, modules + 1):
        x = residual_module(x, filters, 1, name=f"{name}_block{j}", **kwargs)
    return x


@register("resnet")
def resnet(input_shape: Sequence[int], classes: int | None, stages: Sequence[int] = (9, 9, 9),
           filters: Sequence[int] = (64, 64, 128, 256), l2: float = 1e-4, stem: str = "cifar",
           bn_epsilon: float = BN_EPSILON, bn_momentum: float = BN_MOMENTUM, *,
           include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """Pre-activation bottleneck ResNet: 886,102 parameters on 32x32x3, 10 classes (defaults).

    Args:
        input_shape: (height, width, channels); any size builds.
        classes: output classes (ignored with ``include_top=False``).
        stages: residual modules per stage.
        filters: stem channels, then each stage's output channels
            (``len(stages) + 1`` entries, stage filters multiples of 4).
        l2: L2 kernel regulariser factor of every convolution and the dense layer.
        stem: "cifar" (BN, 3x3 conv) or "imagenet" (BN, 5x5 conv, BN, ReLU, 3x3 / 2 max pool).
        bn_epsilon, bn_momentum: batch normalisation settings (the seeds' 2e-5 and 0.9).
        include_top: False returns the feature extractor: everything up to the
            final BN -> ReLU (``head_relu``), without pooling and softmax.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for a ``filters``/``stages`` length mismatch, an unknown stem or
            a bad ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("resnet", input_shape, min_size=MIN_SIZE)
    stages, filters = tuple(stages), tuple(filters)
    if len(filters) != len(stages) + 1:
        raise ValueError(
            f"resnet: filters needs len(stages) + 1 = {len(stages) + 1} entries (the stem's, then "
            f"one per stage); got {len(filters)}: filters={filters} for stages={stages}."
        )
    if stem not in ("cifar", "imagenet"):
        raise ValueError(f"resnet: stem must be 'cifar' or 'imagenet'; got {stem!r}.")
    if not stages or min(stages) < 1:
        raise ValueError(f"resnet: every stage needs at least one module; got stages={stages}.")
    bn = {"bn_epsilon": bn_epsilon, "bn_momentum": bn_momentum}
    inputs = keras.Input(shape=shape, name="image")
    x = stem_block(inputs, filters[0], stem, l2, **bn)
    for i, modules in enumerate(stages):
        x = stage(x, modules, filters[i + 1], 1 if i == 0 else 2, l2, name=f"stage{i + 1}", **bn)
    # Pre-activation modules end in an addition: the features get their BN -> ReLU here.
    x = _batch_norm(x, bn_epsilon, bn_momentum, "head_bn")
    x = layers.Activation("relu", name="head_relu")(x)
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="resnet")
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Flatten(name="head_flatten")(x)
    outputs = predictions(x, classes, kernel_regularizer=regularizers.L2(l2))
    return keras.Model(inputs, outputs, name="resnet")


@register("resnet_cifar")
def resnet_cifar(input_shape: Sequence[int], classes: int | None, l2: float = 5e-4, *,
                 include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """The seeds' CIFAR-10 ResNet: stages (9, 9, 9), filters (64, 64, 128, 256), l2 5e-4.

    ``include_top`` and ``pooling`` as in :func:`resnet`.
    """
    return resnet(input_shape, classes, stages=(9, 9, 9), filters=(64, 64, 128, 256), l2=l2,
                  include_top=include_top, pooling=pooling)


@register("resnet_small")
def resnet_small(input_shape: Sequence[int], classes: int | None, l2: float = 1e-4, *,
                 include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """A fast ResNet for smoke runs: stages (3, 3, 3), filters (16, 16, 32, 64).

    ``include_top`` and ``pooling`` as in :func:`resnet`.
    """
    return resnet(input_shape, classes, stages=(3, 3, 3), filters=(16, 16, 32, 64), l2=l2,
                  include_top=include_top, pooling=pooling)


@register("resnet_xray")
def resnet_xray(input_shape: Sequence[int], classes: int | None, l2: float = 1e-4, *,
                include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """A small ResNet for larger grey images (chest X-rays at 128 px) trained from scratch.

    The "imagenet" stem (5x5 convolution, 3x3 / 2 max pooling) halves the image
    first, then stages (3, 3, 3) with filters (32, 32, 64, 128), global average
    pooling and softmax: cheap enough to train on a laptop CPU. ``include_top``
    and ``pooling`` as in :func:`resnet`.
    """
    return resnet(input_shape, classes, stages=(3, 3, 3), filters=(32, 32, 64, 128), l2=l2,
                  stem="imagenet", include_top=include_top, pooling=pooling)


@register("resnet_medmnist")
def resnet_medmnist(input_shape: Sequence[int], classes: int | None, l2: float = 1e-4, *,
                    include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """A small ResNet for 28 px MedMNIST images: stages (3, 3, 3), filters (32, 32, 64, 128).

    Twice the width of ``resnet_small`` (81,958 parameters on 28x28x1 with two
    classes), still small enough for 4,708 training images to train on a CPU in
    minutes. ``include_top`` and ``pooling`` as in :func:`resnet`.
    """
    return resnet(input_shape, classes, stages=(3, 3, 3), filters=(32, 32, 64, 128), l2=l2,
                  include_top=include_top, pooling=pooling)


# --------------------------------------------------------------------------- He et al.'s CIFAR


def basic_block(x, filters: int, stride: int, name: str):
    """``conv_bn_relu`` / ``stride`` -> ``conv_bn``, plus the shortcut, then ReLU.

    The shortcut is the input, or where the block changes the size a strided
    1x1 convolution with BN (``<name>_proj``, ``<name>_proj_bn``).
    """
    y = conv_bn_relu(x, filters, stride, f"{name}_a")
    y = conv_bn(y, filters, 1, f"{name}_b")
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                 kernel_initializer="he_normal", name=f"{name}_proj")(x)
        shortcut = layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = layers.Add(name=f"{name}_add")([y, shortcut])
    return layers.Activation("relu", name=f"{name}_out")(y)


def resnet_cifar_he(input_shape: Sequence[int], classes: int | None, depth: int = 20, *,
                    include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """He et al.'s residual ``depth = 6n + 2`` CIFAR network, named ``resnet<depth>``.

    Args:
        input_shape: (height, width, channels); any size builds.
        classes: output classes (ignored with ``include_top=False``).
        depth: ``6n + 2`` (20, 32, 44, 56, 110, ...).
        include_top: False returns the feature extractor, up to the last block's ReLU.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: when ``depth`` is not of the form ``6n + 2``.
    """
    return he_cifar_network(f"resnet{depth}", input_shape, classes, depth, basic_block,
                            include_top=include_top, pooling=pooling)


@register("resnet20")
def resnet20(input_shape: Sequence[int], classes: int | None, *, include_top: bool = True,
             pooling: str | None = None) -> keras.Model:
    """He et al.'s ResNet-20 for CIFAR: 274,042 parameters on 32x32x3, 10 classes."""
    return resnet_cifar_he(input_shape, classes, 20, include_top=include_top, pooling=pooling)


@register("resnet56")
def resnet56(input_shape: Sequence[int], classes: int | None, *, include_top: bool = True,
             pooling: str | None = None) -> keras.Model:
    """He et al.'s ResNet-56 for CIFAR: 860,026 parameters on 32x32x3, 10 classes."""
    return resnet_cifar_he(input_shape, classes, 56, include_top=include_top, pooling=pooling)
