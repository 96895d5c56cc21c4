"""MiniGoogLeNet: inception and downsample modules, sized for CIFAR-10.

The Inception idea is from Szegedy et al., "Going deeper with convolutions",
CVPR 2015: run convolutions of several sizes side by side and concatenate
their outputs along the channels. MiniGoogLeNet is the small version of
Zhang, Bengio, Hardt, Recht & Vinyals, "Understanding deep learning requires
rethinking generalization", ICLR 2017 (their "Inception (small)" for CIFAR-10),
as taught in Rosebrock's *Deep Learning for Computer Vision with Python* and
the seeds. It is built from three named modules:

- ``conv_module``: Conv2D -> BN -> ReLU;
- ``inception_module``: a 1x1 and a 3x3 ``conv_module`` side by side,
  concatenated (``filters_1x1 + filters_3x3`` channels);
- ``downsample_module``: a 3x3 stride-2 "valid" ``conv_module`` beside a 3x3
  stride-2 max pool, concatenated (``filters`` + input channels).

On 32x32x3 with 10 classes it has 1,656,250 parameters (1,652,826 trainable;
the 3,424 BN moving means and variances are not). Each row counts the
convolutions' weights and biases, then the BN's 4 values per channel:

==========  ==========================  ========  ===========  =======
module      layers                      output    conv + bias  BN
==========  ==========================  ========  ===========  =======
stem        conv_module 96 3x3 / 1      32x32x96        2,688      384
inception1  inception(32, 32)           32x32x64       30,784      256
inception2  inception(32, 48)           32x32x80       29,776      320
down1       downsample(80)              15x15x160      57,680      320
inception3  inception(112, 48)          15x15x160      87,200      640
inception4  inception(96, 64)           15x15x160     107,680      640
inception5  inception(80, 80)           15x15x160     128,160      640
inception6  inception(48, 96)           15x15x144     146,064      576
down2       downsample(96)              7x7x240       124,512      384
inception7  inception(176, 160)         7x7x336       388,176    1,344
inception8  inception(176, 160)         7x7x336       543,312    1,344
head        GAP, Dropout 0.5, Flatten,  10              3,370        0
            Dense 10, softmax
==========  ==========================  ========  ===========  =======

For example inception1 on 96 channels: 1x1 branch 1x1x96x32 + 32 = 3,104,
3x3 branch 3x3x96x32 + 32 = 27,680, together 30,784.

Changes from the original code, and why:

- The original ends with a fixed 7x7 average pool, which is exactly global
  average pooling on 32x32 input (the map is 7x7 there) and fails on any
  other size. This builder uses ``GlobalAveragePooling2D``, so the counts on
  32x32 are the same and other sizes (e.g. 64x64 Tiny ImageNet) work too.
  The Flatten after it does nothing to a pooled vector; it stays so the
  blocks match the slide.
- The convolutions keep their biases as in the original, although a bias
  right before batch normalisation is cancelled by BN's mean subtraction
  (1,712 of the parameters).
- No ``channels_first`` branch: Keras 3 models here are channels-last.

The smallest input is 7x7: each downsample module's "valid" 3x3 / 2
convolution and pool need a 3x3 map, and the first downsample must leave one
(7 -> 3 -> 1). ``include_top=False`` ends at inception8 (1,652,880
parameters, a 7x7x336 map on 32x32 input).
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from cnnlabs.models import check_input, check_top, feature_extractor, predictions, register

#: Two "valid" 3x3 / 2 downsamples: (1 - 1) * 2 + 3 = 3, then (3 - 1) * 2 + 3 = 7.
MIN_SIZE = 7


def conv_module(x, filters: int, kernel: int, stride: int = 1, padding: str = "same", *,
                name: str):
    """Conv2D ``filters`` ``kernel``x``kernel`` / ``stride`` -> BN -> ReLU."""
    x = layers.Conv2D(filters, kernel, strides=stride, padding=padding, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def inception_module(x, filters_1x1: int, filters_3x3: int, *, name: str):
    """A 1x1 and a 3x3 conv_module in parallel, concatenated: ``filters_1x1 + filters_3x3``."""
    branch1 = conv_module(x, filters_1x1, 1, name=f"{name}_1x1")
    branch3 = conv_module(x, filters_3x3, 3, name=f"{name}_3x3")
    return layers.Concatenate(name=f"{name}_concat")([branch1, branch3])


def downsample_module(x, filters: int, *, name: str):
    """3x3 / 2 "valid" conv_module beside 3x3 / 2 max pool: ``filters`` + input channels."""
    conv = conv_module(x, filters, 3, stride=2, padding="valid", name=f"{name}_conv3x3")
    pool = layers.MaxPooling2D(pool_size=3, strides=2, name=f"{name}_pool")(x)
    return layers.Concatenate(name=f"{name}_concat")([conv, pool])


@register("minigooglenet")
def minigooglenet(input_shape: Sequence[int], classes: int | None, *, include_top: bool = True,
                  pooling: str | None = None) -> keras.Model:
    """MiniGoogLeNet (Zhang et al. 2017): 1,656,250 parameters on 32x32x3 with 10 classes.

    Any input of at least 7x7 works; the head uses global average pooling.

    Args:
        input_shape: (height, width, channels), at least 7x7.
        classes: output classes (ignored with ``include_top=False``).
        include_top: False returns the feature extractor, up to ``inception8_concat``.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for an input under 7x7 or a bad ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("minigooglenet", input_shape, min_size=MIN_SIZE)
    inputs = keras.Input(shape=shape, name="image")
    x = conv_module(inputs, 96, 3, name="stem")
    x = inception_module(x, 32, 32, name="inception1")
    x = inception_module(x, 32, 48, name="inception2")
    x = downsample_module(x, 80, name="down1")
    x = inception_module(x, 112, 48, name="inception3")
    x = inception_module(x, 96, 64, name="inception4")
    x = inception_module(x, 80, 80, name="inception5")
    x = inception_module(x, 48, 96, name="inception6")
    x = downsample_module(x, 96, name="down2")
    x = inception_module(x, 176, 160, name="inception7")
    x = inception_module(x, 176, 160, name="inception8")
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="minigooglenet")
    x = layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = layers.Dropout(0.5, name="head_dropout")(x)
    x = layers.Flatten(name="head_flatten")(x)
    outputs = predictions(x, classes)
    return keras.Model(inputs, outputs, name="minigooglenet")
