"""The model families: exact parameter counts, shapes, named blocks, limits and a training step.

Every pinned count is a literal. Each one is also derived here a second way,
without the builders: from ``cnnlabs.arithmetic`` (``conv_params``,
``dense_params``, ``layer_table`` on ``LayerSpec`` lists) plus 4 values per
channel for each batch normalisation (gamma, beta, moving mean, moving
variance; the last two are not trainable). The ``expected_*`` functions below
are that second derivation; ``test_pins_agree_with_the_arithmetic`` checks
them against the literals, and the other tests check the built models against
the literals. A builder and its test therefore cannot drift together.
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
import pytest

from cnnlabs import models
from cnnlabs.arithmetic import (
    VGG16_SPECS,
    LayerSpec,
    conv_params,
    dense_params,
    layer_table,
    output_size,
    pool_output_size,
    totals,
)
from cnnlabs.models.minigooglenet import downsample_module, inception_module
from cnnlabs.models.resnet import residual_module

CIFAR = (32, 32, 3)

NEW_MODELS = (
    "alexnet", "alexnet_cifar", "densenet_mini", "minigooglenet", "minivggnet", "resnet",
    "resnet_cifar", "resnet_small", "shallownet", "vgg16",
)


@functools.cache
def _build(name: str, shape: tuple[int, ...], classes: int, kwargs: tuple) -> keras.Model:
    return models.build(name, shape, classes, **dict(kwargs))


def built(name: str, shape=CIFAR, classes: int = 10, **kwargs) -> keras.Model:
    """Build once per configuration for the whole module (the big models take seconds)."""
    return _build(name, tuple(shape), classes, tuple(sorted(kwargs.items())))


def trainable(model: keras.Model) -> int:
    return sum(math.prod(w.shape) for w in model.trainable_weights)


def layer_names(model: keras.Model) -> set[str]:
    return {layer.name for layer in model.layers}


# --------------------------------------------------------------------------- independent derivation


def bn(channels: int) -> int:
    """Batch normalisation: gamma, beta, moving mean, moving variance per channel."""
    return 4 * channels


def expected_shallownet(size: int = 32, channels: int = 3, classes: int = 10) -> int:
    # "same" 3x3 convolution keeps size x size; the dense layer sees all of it.
    return conv_params(3, channels, 32) + dense_params(size * size * 32, classes)


def expected_minivggnet(batch_norm: bool = True, classes: int = 10) -> int:
    side = pool_output_size(pool_output_size(32))  # two 2x2 pools: 32 -> 16 -> 8
    convs = conv_params(3, 3, 32) + conv_params(3, 32, 32)
    convs += conv_params(3, 32, 64) + conv_params(3, 64, 64)
    dense = dense_params(side * side * 64, 512) + dense_params(512, classes)
    norms = bn(32) * 2 + bn(64) * 2 + bn(512)
    return convs + dense + (norms if batch_norm else 0)


def alexnet_specs(groups: int = 1, classes: int = 1000) -> list[LayerSpec]:
    """The 2012 layout with explicit padding (pad 2 and 1 instead of "same").

    ``LayerSpec`` has no groups; with two groups a convolution sees half the
    input channels, which is the same count as a full convolution from half as
    many channels. That is handled in ``expected_alexnet``.
    """
    return [
        LayerSpec.conv(96, 11, 4, name="conv1"),
        LayerSpec.pool(3, 2),
        LayerSpec.conv(256, 5, padding=2, name="conv2"),
        LayerSpec.pool(3, 2),
        LayerSpec.conv(384, 3, padding=1, name="conv3"),
        LayerSpec.conv(384, 3, padding=1, name="conv4"),
        LayerSpec.conv(256, 3, padding=1, name="conv5"),
        LayerSpec.pool(3, 2),
        LayerSpec.flatten(),
        LayerSpec.dense(4096, name="fc6"),
        LayerSpec.dense(4096, name="fc7"),
        LayerSpec.dense(classes, name="predictions"),
    ]


def expected_alexnet(groups: int = 1) -> int:
    rows = layer_table(alexnet_specs(), (227, 227, 3))
    total = totals(rows).params
    if groups == 2:
        # conv2, conv4, conv5 each see half their input channels: half the weights.
        total -= sum(row.weights // 2 for row in rows if row.name in ("conv2", "conv4", "conv5"))
    return total


def expected_alexnet_cifar(dense_units: int = 4096, classes: int = 10) -> int:
    side = 32  # 3x3 stride-1 "same" first convolution
    for _ in range(3):
        side = pool_output_size(side, 3, 2)  # 32 -> 15 -> 7 -> 3
    convs = [(3, 3, 96), (5, 96, 256), (3, 256, 384), (3, 384, 384), (3, 384, 256)]
    total = sum(conv_params(k, c, f) + bn(f) for k, c, f in convs)
    total += dense_params(side * side * 256, dense_units) + bn(dense_units)
    total += dense_params(dense_units, dense_units) + bn(dense_units)
    return total + dense_params(dense_units, classes)


def vgg16_specs(classes: int) -> list[LayerSpec]:
    return [*VGG16_SPECS[:-1], LayerSpec.dense(classes, name="predictions")]


def expected_inception(in_channels: int, n1x1: int, n3x3: int) -> int:
    one = conv_params(1, in_channels, n1x1) + bn(n1x1)
    three = conv_params(3, in_channels, n3x3) + bn(n3x3)
    return one + three


def expected_downsample(in_channels: int, filters: int) -> int:
    return conv_params(3, in_channels, filters) + bn(filters)  # the pool branch has none


def expected_minigooglenet(classes: int = 10) -> int:
    total, channels = conv_params(3, 3, 96) + bn(96), 96
    plan = [("i", 32, 32), ("i", 32, 48), ("d", 80), ("i", 112, 48), ("i", 96, 64),
            ("i", 80, 80), ("i", 48, 96), ("d", 96), ("i", 176, 160), ("i", 176, 160)]
    for kind, *sizes in plan:
        if kind == "i":
            total += expected_inception(channels, *sizes)
            channels = sum(sizes)
        else:
            total += expected_downsample(channels, sizes[0])
            channels += sizes[0]
    return total + dense_params(channels, classes)


def expected_residual(in_channels: int, filters: int, reduce: bool) -> int:
    k = filters // 4
    total = conv_params(1, in_channels, k, bias=False) + conv_params(3, k, k, bias=False)
    total += conv_params(1, k, filters, bias=False)
    if reduce:
        total += conv_params(1, in_channels, filters, bias=False)
    return total + bn(in_channels) + 2 * bn(k)


def expected_resnet(stages, filters, classes: int = 10, channels: int = 3,
                    stem: str = "cifar") -> int:
    total = bn(channels) + conv_params(3 if stem == "cifar" else 5, channels, filters[0],
                                       bias=False)
    if stem == "imagenet":
        total += bn(filters[0])
    current = filters[0]
    for modules, width in zip(stages, filters[1:], strict=True):
        total += expected_residual(current, width, reduce=True)
        total += (modules - 1) * expected_residual(width, width, reduce=False)
        current = width
    return total + bn(current) + dense_params(current, classes)


def expected_densenet(growth: int = 12, blocks=(6, 6, 6), classes: int = 10) -> int:
    channels = 2 * growth
    total = conv_params(3, 3, channels, bias=False)
    for b, layers_in_block in enumerate(blocks):
        for _ in range(layers_in_block):
            total += bn(channels) + conv_params(1, channels, 4 * growth, bias=False)
            total += bn(4 * growth) + conv_params(3, 4 * growth, growth, bias=False)
            channels += growth
        if b < len(blocks) - 1:
            total += bn(channels) + conv_params(1, channels, channels // 2, bias=False)
            channels //= 2
    return total + bn(channels) + dense_params(channels, classes)


def bn_values(model: keras.Model) -> int:
    return sum(layer.count_params() for layer in model.layers
               if isinstance(layer, keras.layers.BatchNormalization))


# --------------------------------------------------------------------------- pinned counts

# (name, input shape, classes, build kwargs, total, trainable, independent derivation)
PINNED = [
    ("shallownet", CIFAR, 10, {}, 328_586, 328_586, expected_shallownet),
    ("alexnet", (227, 227, 3), 1000, {}, 62_378_344, 62_378_344, expected_alexnet),
    ("alexnet", (227, 227, 3), 1000, {"groups": 2}, 60_965_224, 60_965_224,
     functools.partial(expected_alexnet, groups=2)),
    ("alexnet_cifar", CIFAR, 10, {}, 30_016_778, 29_997_642, expected_alexnet_cifar),
    ("alexnet_cifar", CIFAR, 10, {"dense_units": 1024}, 7_148_810, 7_141_962,
     functools.partial(expected_alexnet_cifar, 1024)),
    ("vgg16", (224, 224, 3), 1000, {}, 138_357_544, 138_357_544,
     lambda: totals(layer_table(vgg16_specs(1000), (224, 224, 3))).params),
    ("vgg16", CIFAR, 10, {}, 33_638_218, 33_638_218,
     lambda: totals(layer_table(vgg16_specs(10), CIFAR)).params),
    ("minivggnet", CIFAR, 10, {}, 2_171_178, 2_169_770, expected_minivggnet),
    ("minivggnet", CIFAR, 10, {"batch_norm": False}, 2_168_362, 2_168_362,
     functools.partial(expected_minivggnet, False)),
    ("minigooglenet", CIFAR, 10, {}, 1_656_250, 1_652_826, expected_minigooglenet),
    ("resnet", CIFAR, 10, {}, 886_102, 873_872,
     lambda: expected_resnet((9, 9, 9), (64, 64, 128, 256))),
    ("resnet_cifar", CIFAR, 10, {}, 886_102, 873_872,
     lambda: expected_resnet((9, 9, 9), (64, 64, 128, 256))),
    ("resnet_small", CIFAR, 10, {}, 22_486, 21_440,
     lambda: expected_resnet((3, 3, 3), (16, 16, 32, 64))),
    ("resnet", (64, 64, 3), 200,
     {"stages": (3, 4, 6), "filters": (64, 128, 256, 512), "stem": "imagenet"},
     2_265_748, 2_252_046,
     lambda: expected_resnet((3, 4, 6), (64, 128, 256, 512), 200, stem="imagenet")),
    ("densenet_mini", CIFAR, 10, {}, 181_210, 176_122, expected_densenet),
    ("resnet_medmnist", (28, 28, 1), 2, {}, 81_958, 79_876,
     lambda: expected_resnet((3, 3, 3), (32, 32, 64, 128), 2, channels=1)),
    ("resnet_xray", (128, 128, 1), 2, {}, 82_598, 80_452,
     lambda: expected_resnet((3, 3, 3), (32, 32, 64, 128), 2, stem="imagenet", channels=1)),
]
_IDS = [
    f"{name}-{'x'.join(map(str, shape))}-{classes}" + "".join(f"-{k}={v}" for k, v in kw.items())
    for name, shape, classes, kw, *_ in PINNED
]


@pytest.mark.parametrize(("name", "shape", "classes", "kwargs", "total", "n_trainable", "derive"),
                         PINNED, ids=_IDS)
def test_pins_agree_with_the_arithmetic(name, shape, classes, kwargs, total, n_trainable, derive):
    assert derive() == total


@pytest.mark.parametrize(("name", "shape", "classes", "kwargs", "total", "n_trainable", "derive"),
                         PINNED, ids=_IDS)
def test_parameter_counts_and_output_shapes_are_exact(name, shape, classes, kwargs, total,
                                                      n_trainable, derive):
    model = built(name, shape, classes, **kwargs)
    assert model.count_params() == total
    assert trainable(model) == n_trainable
    # Only the BN moving mean and variance are frozen: half of every BN's values.
    assert total - n_trainable == bn_values(model) // 2
    assert model.output_shape == (None, classes)


# --------------------------------------------------------------------------- layer by layer


def test_alexnet_layers_match_the_2012_table():
    model = built("alexnet", (227, 227, 3), 1000)
    rows = [row for row in layer_table(alexnet_specs(), (227, 227, 3))[1:] if row.params]
    counted = [(shape, n) for _, shape, n in models.architecture(model) if n]
    assert counted == [(row.output_shape, row.params) for row in rows]
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["conv1_conv"] == (55, 55, 96)
    assert shapes["conv1_pool"] == (27, 27, 96)
    assert shapes["conv2_pool"] == (13, 13, 256)
    assert shapes["conv5_pool"] == (6, 6, 256)
    assert sum(isinstance(layer, keras.layers.Dropout) for layer in model.layers) == 2


def test_alexnet_cifar_has_bn_after_every_weight_layer_and_the_seeds_dropout():
    model = built("alexnet_cifar")
    kinds = [type(layer).__name__ for layer in model.layers]
    assert kinds.count("Conv2D") == 5 and kinds.count("Dense") == 3
    assert kinds.count("BatchNormalization") == 7  # every conv and hidden dense
    rates = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert rates == [0.25, 0.25, 0.25, 0.5, 0.5]
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert [shapes[f"block{b}_pool"] for b in (1, 2, 5)] == [(15, 15, 96), (7, 7, 256),
                                                             (3, 3, 256)]


@pytest.fixture(scope="module")
def keras_vgg16() -> keras.Model:
    return keras.applications.VGG16(weights=None)


def test_vgg16_matches_keras_applications_layer_by_layer(keras_vgg16):
    ours = built("vgg16", (224, 224, 3), 1000)
    assert models.compare(ours, keras_vgg16) == []
    theirs = {layer.name: layer.count_params() for layer in keras_vgg16.layers}
    mine = {layer.name: layer.count_params() for layer in ours.layers}
    assert {k: v for k, v in mine.items() if k != "image"} == {
        k: v for k, v in theirs.items() if not k.startswith("input")
    }
    assert ours.count_params() == keras_vgg16.count_params() == 138_357_544


def test_vgg16_matches_the_arithmetic_table_layer_by_layer():
    model = built("vgg16", (224, 224, 3), 1000)
    for row in layer_table(VGG16_SPECS, (224, 224, 3))[1:]:
        layer = model.get_layer(row.name)
        assert layer.count_params() == row.params, row.name
        assert tuple(layer.output.shape[1:]) == row.output_shape, row.name


def test_vgg16_dropout_option_adds_layers_but_no_parameters():
    model = models.build("vgg16", CIFAR, 10, dropout=0.5)
    assert model.count_params() == 33_638_218
    assert [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)] == [
        "fc1_dropout", "fc2_dropout"]


def test_minivggnet_layer_by_layer_counts():
    counted = [n for _, _, n in models.architecture(built("minivggnet")) if n]
    # conv 3x3x3x32+32, BN 4x32, ...: conv, BN, conv, BN, conv, BN, conv, BN, dense, BN, dense
    assert counted == [896, 128, 9_248, 128, 18_496, 256, 36_928, 256, 2_097_664, 2_048, 5_130]


def test_minivggnet_batch_norm_false_passes_through_build_and_drops_every_bn():
    with_bn, without = built("minivggnet"), built("minivggnet", batch_norm=False)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in without.layers)
    assert with_bn.count_params() - without.count_params() == 2_816  # 4 x (32+32+64+64+512)
    assert without.count_params() == 2_168_362


# --------------------------------------------------------------------------- blocks


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("shallownet", {}, {"conv_conv", "conv_relu", "classifier_flatten", "predictions"}),
        ("alexnet_cifar", {}, {"block1_conv", "block1_bn", "block1_pool", "block1_dropout",
                               "block5_pool", "fc6_dense", "fc6_bn", "fc7_dropout"}),
        ("minivggnet", {}, {"block1_a_conv", "block1_b_bn", "block1_pool", "block2_dropout",
                            "fc_dense", "fc_bn", "fc_dropout", "predictions"}),
        ("minigooglenet", {}, {"stem_conv", "inception1_1x1_conv", "inception1_3x3_bn",
                               "inception1_concat", "down1_conv3x3_conv", "down1_pool",
                               "down2_concat", "inception8_concat", "head_pool"}),
        ("resnet_small", {}, {"stem_bn", "stem_conv", "stage1_block1_shortcut",
                              "stage3_block3_add", "head_bn", "head_pool", "predictions"}),
        ("densenet_mini", {}, {"stem_conv", "block1_layer1_1x1_conv", "block1_layer6_concat",
                               "transition1_conv", "transition2_pool", "block3_layer6_3x3_conv",
                               "head_pool"}),
    ],
)
def test_models_are_built_from_named_blocks(name, kwargs, expected):
    assert expected <= layer_names(built(name, **kwargs))


def test_vgg16_and_alexnet_block_names():
    assert {f"block{b}_pool" for b in range(1, 6)} | {"fc1", "fc2"} <= layer_names(
        built("vgg16", (224, 224, 3), 1000))
    assert {"conv1_conv", "conv5_pool", "fc6_dense", "fc7_dropout"} <= layer_names(
        built("alexnet", (227, 227, 3), 1000))


@pytest.mark.parametrize(("n1x1", "n3x3"), [(32, 32), (112, 48), (176, 160)])
def test_inception_module_outputs_n1x1_plus_n3x3_channels(n1x1, n3x3):
    inputs = keras.Input((15, 15, 160))
    outputs = inception_module(inputs, n1x1, n3x3, name="inc")
    model = keras.Model(inputs, outputs)
    assert tuple(outputs.shape[1:]) == (15, 15, n1x1 + n3x3)
    assert model.count_params() == expected_inception(160, n1x1, n3x3)


def test_inception_module_count_by_hand():
    # 96 channels in, (32, 32): 1x1 branch 96*32 + 32 = 3,104; 3x3 branch 9*96*32 + 32 = 27,680;
    # two BNs of 32 channels, 4 values each: 256. Total 31,040.
    inputs = keras.Input((32, 32, 96))
    model = keras.Model(inputs, inception_module(inputs, 32, 32, name="inc"))
    assert model.count_params() == 3_104 + 27_680 + 256 == 31_040


@pytest.mark.parametrize(("size", "channels", "filters"), [(32, 80, 80), (15, 144, 96), (7, 5, 3)])
def test_downsample_module_concatenates_a_strided_conv_and_a_pool(size, channels, filters):
    inputs = keras.Input((size, size, channels))
    outputs = downsample_module(inputs, filters, name="down")
    model = keras.Model(inputs, outputs)
    side = output_size(size, 3, 2, "valid")
    assert tuple(outputs.shape[1:]) == (side, side, filters + channels)
    assert model.count_params() == expected_downsample(channels, filters)


def test_minigooglenet_maps_and_global_pooling_on_other_sizes():
    model = built("minigooglenet")
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["down1_concat"] == (15, 15, 160)
    assert shapes["down2_concat"] == (7, 7, 240)  # the 7x7 map the original pooled with 7x7
    assert shapes["inception8_concat"] == (7, 7, 336)
    assert shapes["head_pool"] == (336,)
    bigger = models.build("minigooglenet", (64, 64, 3), 10)
    assert bigger.count_params() == 1_656_250  # global pooling: same weights at any size


def _residual_model(shape, filters, stride, reduce):
    inputs = keras.Input(shape)
    outputs = residual_module(inputs, filters, stride, reduce=reduce, l2=1e-4, name="m")
    return inputs, keras.Model(inputs, outputs)


def test_reducing_residual_module_has_a_strided_1x1_conv_shortcut_from_the_first_relu():
    inputs, model = _residual_model((16, 16, 64), 128, 2, reduce=True)
    shortcut = model.get_layer("m_shortcut")
    assert isinstance(shortcut, keras.layers.Conv2D)
    assert shortcut.strides == (2, 2) and shortcut.kernel_size == (1, 1)
    assert not shortcut.use_bias
    assert shortcut.input is model.get_layer("m_relu1").output
    assert model.get_layer("m_conv2").strides == (2, 2)  # the 3x3 carries the stride
    assert model.output_shape == (None, 8, 8, 128)
    # By hand (k = 32): 64*32 + 9*32*32 + 32*128 + 64*128 = 23,552 weights, BN 4*(64+32+32) = 512.
    assert model.count_params() == 23_552 + 512 == expected_residual(64, 128, reduce=True)


def test_identity_residual_module_adds_its_input_unchanged():
    inputs, model = _residual_model((8, 8, 64), 64, 1, reduce=False)
    assert "m_shortcut" not in layer_names(model)
    assert any(tensor is inputs for tensor in model.get_layer("m_add").input)
    # By hand (k = 16): 64*16 + 9*16*16 + 16*64 = 4,352 weights, BN 4*(64+16+16) = 384.
    assert model.count_params() == 4_352 + 384 == expected_residual(64, 64, reduce=False)


def test_residual_module_refuses_an_identity_shortcut_that_cannot_fit():
    with pytest.raises(ValueError, match="reduce=True"):
        _residual_model((8, 8, 64), 64, 2, reduce=False)
    with pytest.raises(ValueError, match="reduce=True"):
        _residual_model((8, 8, 32), 64, 1, reduce=False)
    with pytest.raises(ValueError, match="multiple of 4"):
        _residual_model((8, 8, 30), 30, 1, reduce=True)


def test_resnet_stage_shapes():
    model = built("resnet_cifar")
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["stage1_block9_add"] == (32, 32, 64)
    assert shapes["stage2_block1_add"] == (16, 16, 128)
    assert shapes["stage3_block9_add"] == (8, 8, 256)
    imagenet = built("resnet", (64, 64, 3), 200, stages=(3, 4, 6), filters=(64, 128, 256, 512),
                     stem="imagenet")
    assert tuple(imagenet.get_layer("stem_pool").output.shape[1:]) == (32, 32, 64)
    assert tuple(imagenet.get_layer("stage3_block6_add").output.shape[1:]) == (8, 8, 512)


# --------------------------------------------------------------------------- regularisation


@pytest.mark.parametrize(("name", "kwargs", "l2"), [
    ("resnet_cifar", {}, 5e-4),
    ("resnet", {}, 1e-4),
    ("resnet_small", {"l2": 0.0123}, 0.0123),
])
def test_regulariser_reaches_every_conv_and_dense(name, kwargs, l2):
    model = built(name, **kwargs)
    weighted = [layer for layer in model.layers
                if isinstance(layer, keras.layers.Conv2D | keras.layers.Dense)]
    regularised = [layer for layer in model.layers
                   if getattr(layer, "kernel_regularizer", None) is not None]
    assert regularised == weighted
    assert all(layer.kernel_regularizer.get_config()["l2"] == pytest.approx(l2)
               for layer in regularised)
    assert len(model.losses) == len(weighted)


def test_regularisation_loss_scales_with_l2():
    low = built("resnet_small")  # l2 1e-4
    high = models.build("resnet_small", CIFAR, 10, l2=1e-3)
    high.set_weights(low.get_weights())
    low_loss = float(sum(low.losses))
    high_loss = float(sum(high.losses))
    assert low_loss > 0
    assert high_loss == pytest.approx(10 * low_loss, rel=1e-5)


def test_resnet_stages_and_filters_length_mismatch_says_what_was_given():
    with pytest.raises(ValueError, match=r"len\(stages\) \+ 1 = 4 entries.*got 3: "
                                         r"filters=\(64, 128, 256\) for stages=\(9, 9, 9\)"):
        models.build("resnet", CIFAR, 10, stages=(9, 9, 9), filters=(64, 128, 256))
    with pytest.raises(ValueError, match="stem must be"):
        models.build("resnet", CIFAR, 10, stem="tiny")


# --------------------------------------------------------------------------- input limits

# (name, kwargs, smallest side). Derived from the strides and pools in each module's docstring.
MINIMUMS = [
    ("alexnet", {}, 67),          # (15 - 1) * 4 + 11 before three 3x3/2 pools need 15
    ("alexnet_cifar", {}, 15),    # three valid 3x3/2 pools: 15 -> 7 -> 3 -> 1
    ("vgg16", {}, 32),            # five 2x2 pools
    ("minivggnet", {}, 4),        # two 2x2 pools
    ("minigooglenet", {}, 7),     # two valid 3x3/2 downsamples: 7 -> 3 -> 1
    ("densenet_mini", {}, 4),     # two 2x2 average pools
]


@pytest.mark.parametrize(("name", "kwargs", "minimum"), MINIMUMS)
def test_smallest_input_builds_and_one_pixel_less_names_the_minimum(name, kwargs, minimum):
    model = built(name, (minimum, minimum, 3), 10, **kwargs)
    assert model.output_shape == (None, 10)
    with pytest.raises(ValueError, match=f"at least {minimum}x{minimum}"):
        models.build(name, (minimum - 1, minimum - 1, 3), 10, **kwargs)
    with pytest.raises(ValueError, match=f"at least {minimum}x{minimum}"):
        models.build(name, (minimum - 1, 64, 3), 10, **kwargs)


def test_the_smallest_sizes_match_the_arithmetic():
    def alexnet_side(size: int) -> int:
        side = output_size(size, 11, 4)
        for _ in range(3):
            side = pool_output_size(side, 3, 2)
        return side

    assert alexnet_side(67) == 1
    with pytest.raises(ValueError):
        alexnet_side(66)
    side = 32
    for _ in range(5):
        side = pool_output_size(side)
    assert side == 1


@pytest.mark.parametrize("name", ["shallownet", "resnet_small"])
def test_same_padded_models_build_from_one_pixel(name):
    assert models.build(name, (1, 1, 3), 10).output_shape == (None, 10)
    with pytest.raises(ValueError, match=r"\(height, width, channels\)"):
        models.build(name, (0, 0, 3), 10)


def test_resnet_imagenet_stem_builds_from_one_pixel():
    model = models.build("resnet", (1, 1, 3), 10, stages=(1,), filters=(8, 8), stem="imagenet")
    assert model.output_shape == (None, 10)


def test_alexnet_rejects_an_unknown_group_count():
    with pytest.raises(ValueError, match="groups must be 1"):
        models.build("alexnet", (227, 227, 3), 1000, groups=3)


# --------------------------------------------------------------------------- training, registry


@pytest.mark.parametrize(("name", "kwargs"), [
    ("shallownet", {}),
    ("alexnet_cifar", {"dense_units": 64}),
    ("minivggnet", {}),
    ("minivggnet", {"batch_norm": False}),
    ("minigooglenet", {}),
    ("resnet_small", {}),
    ("densenet_mini", {}),
])
def test_small_models_compile_and_take_a_training_step(name, kwargs):
    keras.utils.set_random_seed(0)
    model = models.build(name, CIFAR, 10, **kwargs)
    # Eager: one step of a fresh model is faster without tracing a graph.
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", run_eagerly=True)
    rng = np.random.default_rng(0)
    images = rng.random((4, *CIFAR), dtype=np.float32)
    labels = np.array([0, 3, 7, 9])
    before = [w.copy() for w in model.get_weights()]
    loss = model.train_on_batch(images, labels)
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights(), strict=True))
    probs = model.predict(images, verbose=0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_registry_lists_every_family():
    names = models.names()
    assert set(NEW_MODELS) <= set(names)
    assert names == sorted(names)
    for name in NEW_MODELS:
        assert callable(models.get_builder(name))
