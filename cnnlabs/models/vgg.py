"""VGG16: configuration D of the VGG paper, layer for layer as ``keras.applications.VGG16``.

Simonyan & Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", ICLR 2015. Every convolution is 3x3 with stride 1 and "same"
padding; five 2x2 stride-2 max pools halve the map; three dense layers
classify. On 224x224x3 with 1,000 classes it has 138,357,544 parameters, the
"138M" of the paper's Table 2:

========  ===============================  ===========  ===========
block     layers                           output       parameters
========  ===============================  ===========  ===========
block1    2 x Conv2D 64 3x3, ReLU; pool    112x112x64        38,720
block2    2 x Conv2D 128 3x3, ReLU; pool   56x56x128        221,440
block3    3 x Conv2D 256 3x3, ReLU; pool   28x28x256      1,475,328
block4    3 x Conv2D 512 3x3, ReLU; pool   14x14x512      5,899,776
block5    3 x Conv2D 512 3x3, ReLU; pool   7x7x512        7,079,424
fc1       Flatten, Dense 4096, ReLU        4096         102,764,544
fc2       Dense 4096, ReLU                 4096          16,781,312
output    Dense 1000, softmax              1000           4,097,000
========  ===============================  ===========  ===========

Per convolution: block1 1,792 and 36,928; block2 73,856 and 147,584; block3
295,168 then 590,080 twice; block4 1,180,160 then 2,359,808 twice; block5
2,359,808 three times. The 13 convolutions hold 14,714,688 parameters
(10.6%); fc1 alone holds 74%.

Layer names and types follow ``keras.applications.VGG16`` (``block1_conv1`` ...
``block5_pool``, ``flatten``, ``fc1``, ``fc2``, ``predictions``), so
``models.compare`` finds no difference between the two and the pretrained
weights' layout is the same. ``cnnlabs.arithmetic.VGG16_SPECS`` is the same
table as arithmetic.

The paper trained with dropout 0.5 after fc1 and fc2; Keras' model (built for
inference) has none, and neither has this one by default. ``dropout=0.5``
adds it back for training from scratch (no parameters, two more layers).

``include_top=False`` ends at ``block5_pool``, as Keras' does: the 13
convolutions' 14,714,688 parameters at any input size.

Five 2x2 poolings need at least 32x32 pixels (32 -> 16 -> 8 -> 4 -> 2 -> 1).
On CIFAR-size 32x32 input the map before flatten is 1x1x512, fc1 shrinks to
2,101,248 parameters and the model (10 classes) to 33,638,218.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import layers

from cnnlabs.models import check_input, check_top, feature_extractor, predictions, register

#: Five 2x2 stride-2 poolings: 2**5 = 32.
MIN_SIZE = 32

#: Configuration D: (convolutions, filters) for blocks 1-5.
VGG16_BLOCKS: tuple[tuple[int, int], ...] = ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512))


def vgg_block(x, convs: int, filters: int, name: str):
    """``convs`` x Conv2D ``filters`` 3x3 same with ReLU, then 2x2 max pool; names as Keras'."""
    for i in range(1, convs + 1):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu",
                          name=f"{name}_conv{i}")(x)
    return layers.MaxPooling2D(pool_size=2, strides=2, name=f"{name}_pool")(x)


def vgg_classifier(x, classes: int, units: int = 4096, dropout: float = 0.0):
    """VGG's top: Flatten -> fc1 -> fc2 (Dense ``units``, ReLU; optional dropout) -> softmax."""
    x = layers.Flatten(name="flatten")(x)
    for name in ("fc1", "fc2"):
        x = layers.Dense(units, activation="relu", name=name)(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return predictions(x, classes)


@register("vgg16")
def vgg16(input_shape: Sequence[int], classes: int | None, dropout: float = 0.0, *,
          include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """VGG16 (configuration D): 138,357,544 parameters on 224x224x3 with 1000 classes.

    Args:
        input_shape: (height, width, channels), at least 32x32.
        classes: output classes (ignored with ``include_top=False``).
        dropout: rate after fc1 and fc2 (the paper trained with 0.5); 0 matches
            ``keras.applications.VGG16`` layer for layer.
        include_top: False returns the feature extractor, up to ``block5_pool``.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for an input under 32x32 or a bad ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("vgg16", input_shape, min_size=MIN_SIZE)
    inputs = keras.Input(shape=shape, name="image")
    x = inputs
    for block, (convs, filters) in enumerate(VGG16_BLOCKS, start=1):
        x = vgg_block(x, convs, filters, name=f"block{block}")
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="vgg16")
    outputs = vgg_classifier(x, classes, dropout=dropout)
    return keras.Model(inputs, outputs, name="vgg16")
