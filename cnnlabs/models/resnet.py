"""ResNet with pre-activation bottleneck modules (``resnet``, ``resnet_cifar``, ``resnet_small``).

Residual learning is from He, Zhang, Ren & Sun, "Deep Residual Learning for
Image Recognition", CVPR 2016; the module order used here (BN -> ReLU before
each convolution, nothing after the addition) is the "pre-activation" form of
He, Zhang, Ren & Sun, "Identity Mappings in Deep Residual Networks", ECCV
2016. The builder is shaped like the ResNet class of Rosebrock's *Deep
Learning for Computer Vision with Python* and the seeds: one named block,
``residual_module``, stacked in stages.

``residual_module(x, filters, stride, reduce)``, with ``k = filters / 4``::

    x -> BN -> ReLU -+-> 1x1 conv k -> BN -> ReLU -> 3x3 conv k / stride
                     |   -> BN -> ReLU -> 1x1 conv filters ---------------> add
                     +-> (reduce) 1x1 conv filters / stride -------------->
    x ---------------------(otherwise, identity)-------------------------->

Every convolution has no bias (a BN follows it, or the addition feeds one)
and an L2 ``kernel_regularizer``. A module on ``C`` input channels has
``C*k + 9*k*k + k*filters`` convolution weights, ``C*filters`` more when it
reduces, and ``4*(C + 2k)`` BN values (half of them trainable).

``resnet(input_shape, classes, stages, filters, reg, stem)`` builds a stem
with ``filters[0]`` channels, then stage ``i`` with ``filters[i + 1]``: its
first module reduces (a projection shortcut; stride 1 in stage 0, 2 after),
then ``stages[i] - 1`` identity modules; then BN -> ReLU -> global average
pool -> flatten -> softmax dense (also L2-regularised). The CIFAR stem is BN ->
3x3 conv; the ImageNet stem is BN -> 5x5 conv -> BN -> ReLU -> zero-pad 1 ->
3x3 / 2 max pool.

Registered configurations (parameters on 32x32x3 with 10 classes):

==============  =========  ================  ======  ==========  =========
name            stages     filters           reg     parameters  trainable
==============  =========  ================  ======  ==========  =========
resnet          (9, 9, 9)  (64,64,128,256)   1e-4       886,102    873,872
resnet_cifar    (9, 9, 9)  (64,64,128,256)   5e-4       886,102    873,872
resnet_small    (3, 3, 3)  (16,16,32,64)     1e-4        22,486     21,440
==============  =========  ================  ======  ==========  =========

``resnet_cifar`` is the seeds' CIFAR-10 run (``reg=0.0005``). It has 27
modules of three convolutions, plus the stem convolution and the classifier:
83 weighted layers on the main path, and three projection shortcuts. Its
stages work on 32x32x64, 16x16x128 and 8x8x256 maps:

===============  =========  ==  ==========  =========  =======
part             output     k   conv/dense  BN         total
===============  =========  ==  ==========  =========  =======
stem             32x32x64   -        1,728         12    1,740
stage1 reducing  32x32x64   16       8,448        384    8,832
stage1 identity  32x32x64   16   8 x 4,352    8 x 384   37,888
stage2 reducing  16x16x128  32      23,552        512   24,064
stage2 identity  16x16x128  32  8 x 17,408    8 x 768  145,408
stage3 reducing  8x8x256    64      94,208      1,024   95,232
stage3 identity  8x8x256    64  8 x 69,632  8 x 1,536  569,344
head             10         -        2,570      1,024    3,594
===============  =========  ==  ==========  =========  =======

For example the reducing module of stage 2 (C = 64 in, filters 128, k = 32):
64*32 + 9*32*32 + 32*128 + 64*128 = 2,048 + 9,216 + 4,096 + 8,192 = 23,552
weights, and BN 4*(64 + 2*32) = 512. The bottleneck is what keeps a 27-module
network under a million parameters.

With the ImageNet stem, ResNet-50's stage layout (3, 4, 6) and filters
(64, 128, 256, 512), a model for Tiny ImageNet (64x64x3, 200 classes) has
2,265,748 parameters.

Fixed from the original code: ``reg`` reaches every module (the original
``build`` never passed it on, so the modules silently used their own
default); there is no ``channels_first`` branch; the final 8x8 average pool is
global, so other input sizes work. The seeds' slide calls ``build`` with three
filters ``(64, 128, 256)`` and no stem convolution, while the book's code
takes ``len(stages) + 1`` filters, the first for the stem; this builder takes
the book's form and says so when the lengths disagree.

With "same" convolutions throughout, strided convolutions that round up, and
a stem pool behind one pixel of zero padding, every input from 1x1 pixel up
builds; below 4x4 the later stages see 1x1 maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers, regularizers

from cnnlabs.models import check_input, predictions, register

#: "same" convolutions round up and the ImageNet stem pads before pooling: any size builds.
MIN_SIZE = 1

BN_EPS = 2e-5
BN_MOMENTUM = 0.9


def _batch_norm(x, bn_eps: float, bn_momentum: float, name: str):
    return layers.BatchNormalization(epsilon=bn_eps, momentum=bn_momentum, name=name)(x)


def _conv(x, filters: int, kernel: int, stride: int, reg: float, name: str):
    """Conv2D "same", no bias, with an L2 kernel regulariser."""
    return layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                         kernel_regularizer=regularizers.L2(reg), name=name)(x)


def residual_module(x, filters: int, stride: int, reduce: bool = False, reg: float = 1e-4,
                    bn_eps: float = BN_EPS, bn_momentum: float = BN_MOMENTUM, *, name: str):
    """Pre-activation bottleneck: (BN-ReLU-conv) 1x1 -> 3x3 / ``stride`` -> 1x1, plus a shortcut.

    The shortcut is the input itself, or with ``reduce`` a ``stride`` 1x1
    convolution of the first BN-ReLU's output, so that it matches the
    ``filters`` channels and the smaller map.

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
        _batch_norm(x, bn_eps, bn_momentum, f"{name}_bn1"))
    y = _conv(act1, bottleneck, 1, 1, reg, f"{name}_conv1")
    y = layers.Activation("relu", name=f"{name}_relu2")(
        _batch_norm(y, bn_eps, bn_momentum, f"{name}_bn2"))
    y = _conv(y, bottleneck, 3, stride, reg, f"{name}_conv2")
    y = layers.Activation("relu", name=f"{name}_relu3")(
        _batch_norm(y, bn_eps, bn_momentum, f"{name}_bn3"))
    y = _conv(y, filters, 1, 1, reg, f"{name}_conv3")
    shortcut = _conv(act1, filters, 1, stride, reg, f"{name}_shortcut") if reduce else x
    return layers.Add(name=f"{name}_add")([y, shortcut])


def stem_block(x, filters: int, stem: str, reg: float, bn_eps: float, bn_momentum: float):
    """CIFAR stem: BN -> 3x3 conv. ImageNet stem: BN -> 5x5 conv -> BN -> ReLU -> pad -> pool."""
    x = _batch_norm(x, bn_eps, bn_momentum, "stem_bn")
    if stem == "cifar":
        return _conv(x, filters, 3, 1, reg, "stem_conv")
    x = _conv(x, filters, 5, 1, reg, "stem_conv")
    x = _batch_norm(x, bn_eps, bn_momentum, "stem_bn2")
    x = layers.Activation("relu", name="stem_relu")(x)
    x = layers.ZeroPadding2D(1, name="stem_pad")(x)
    return layers.MaxPooling2D(pool_size=3, strides=2, name="stem_pool")(x)


def stage(x, modules: int, filters: int, stride: int, reg: float, bn_eps: float,
          bn_momentum: float, name: str):
    """One reducing ``residual_module`` with ``stride``, then ``modules - 1`` identity ones."""
    kwargs = {"reg": reg, "bn_eps": bn_eps, "bn_momentum": bn_momentum}
    x = residual_module(x, filters, stride, reduce=True, name=f"{name}_block1", **kwargs)
    for j in range(2, modules + 1):
        x = residual_module(x, filters, 1, name=f"{name}_block{j}", **kwargs)
    return x


def classifier(x, classes: int, reg: float, bn_eps: float, bn_momentum: float):
    """BN -> ReLU -> global average pool -> flatten -> L2-regularised softmax dense."""
    x = _batch_norm(x, bn_eps, bn_momentum, "head_bn")
    x = layers.Activation("relu", name="head_relu")(x)
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Flatten(name="head_flatten")(x)
    return predictions(x, classes, kernel_regularizer=regularizers.L2(reg))


@register("resnet")
def resnet(input_shape: Sequence[int], classes: int, stages: Sequence[int] = (9, 9, 9),
           filters: Sequence[int] = (64, 64, 128, 256), reg: float = 1e-4, stem: str = "cifar",
           bn_eps: float = BN_EPS, bn_momentum: float = BN_MOMENTUM) -> keras.Model:
    """Pre-activation bottleneck ResNet: 886,102 parameters on 32x32x3, 10 classes (defaults).

    Args:
        input_shape: (height, width, channels).
        classes: output classes.
        stages: residual modules per stage.
        filters: stem channels, then each stage's output channels
            (``len(stages) + 1`` entries, stage filters multiples of 4).
        reg: L2 factor for every convolution and the dense layer.
        stem: "cifar" (BN, 3x3 conv) or "imagenet" (BN, 5x5 conv, BN, ReLU, 3x3 / 2 max pool).
        bn_eps, bn_momentum: batch normalisation settings (the seeds' 2e-5 and 0.9).

    Raises:
        ValueError: for a ``filters``/``stages`` length mismatch or an unknown stem.
    """
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
    bn = {"bn_eps": bn_eps, "bn_momentum": bn_momentum}
    inputs = keras.Input(shape=shape, name="image")
    x = stem_block(inputs, filters[0], stem, reg, **bn)
    for i, modules in enumerate(stages):
        x = stage(x, modules, filters[i + 1], 1 if i == 0 else 2, reg, name=f"stage{i + 1}", **bn)
    outputs = classifier(x, classes, reg, **bn)
    return keras.Model(inputs, outputs, name="resnet")


@register("resnet_cifar")
def resnet_cifar(input_shape: Sequence[int], classes: int, reg: float = 5e-4) -> keras.Model:
    """The seeds' CIFAR-10 ResNet: stages (9, 9, 9), filters (64, 64, 128, 256), reg 5e-4."""
    return resnet(input_shape, classes, stages=(9, 9, 9), filters=(64, 64, 128, 256), reg=reg)


@register("resnet_small")
def resnet_small(input_shape: Sequence[int], classes: int, reg: float = 1e-4) -> keras.Model:
    """A fast ResNet for smoke runs: stages (3, 3, 3), filters (16, 16, 32, 64)."""
    return resnet(input_shape, classes, stages=(3, 3, 3), filters=(16, 16, 32, 64), reg=reg)


@register("resnet_xray")
def resnet_xray(input_shape: Sequence[int], classes: int, reg: float = 1e-4) -> keras.Model:
    """A small ResNet for larger grey images (chest X-rays at 128 px) trained from scratch.

    The "imagenet" stem (5x5 convolution, 3x3 / 2 max pooling) halves the image
    first, then stages (3, 3, 3) with filters (32, 32, 64, 128), global average
    pooling and softmax: cheap enough to train on a laptop CPU.
    """
    return resnet(input_shape, classes, stages=(3, 3, 3), filters=(32, 32, 64, 128), reg=reg,
                  stem="imagenet")


@register("resnet_medmnist")
def resnet_medmnist(input_shape: Sequence[int], classes: int, reg: float = 1e-4) -> keras.Model:
    """A small ResNet for 28 px MedMNIST images: stages (3, 3, 3), filters (32, 32, 64, 128).

    Twice the width of ``resnet_small`` (81,958 parameters on 28x28x1 with two
    classes), still small enough for 4,708 training images to train on a CPU in minutes.
    """
    return resnet(input_shape, classes, stages=(3, 3, 3), filters=(32, 32, 64, 128), reg=reg)
