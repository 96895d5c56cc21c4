"""cnnlabs.arithmetic: sizes, padding, parameters, memory and receptive fields.

Known values come from the lectures (checked by hand) and from Keras itself:
output sizes against the shapes Keras layers produce, parameter counts
against ``count_params()``, and the VGG16 table against
``keras.applications.VGG16``.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from cnnlabs import arithmetic
from cnnlabs.arithmetic import LayerSpec

# --------------------------------------------------------------------------- output sizes


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((224, 7, 1, 3), 224),  # (224 - 7 + 2*3)/1 + 1
        ((32, 5), 28),  # LeNet-5 C1
        ((227, 11, 4), 55),  # AlexNet conv1
        ((320, 2), 319),  # the seed's 2x1 edge kernel on a 320-wide image
        ((6, 3, 1), 4),  # the 6x6 worked example, stride 1
        ((6, 3, 2), 2),  # ... and stride 2
        ((7, 3, 2), 3),  # the stride slide
        ((7, 3, 1, 1), 7),  # 3x3, P=1 keeps 7x7
        ((7, 5, 1, 2), 7),  # 5x5, P=2 keeps 7x7
        ((7, 3, 1, 2), 9),  # full padding P = F - 1 grows the map
        ((7, 3, 2, "same"), 4),
        ((224, 3, 1, "same"), 224),
        ((10, 3, 1, "valid", 2), 6),  # dilated 3x3 spans 5
    ],
)
def test_output_size_gives_known_values(args: tuple, expected: int) -> None:
    assert arithmetic.output_size(*args) == expected


def test_output_size_floors_when_the_stride_does_not_tile_and_exact_refuses() -> None:
    assert arithmetic.output_size(8, 3, stride=2) == 3  # (8 - 3)/2 + 1 = 3.5 -> 3
    with pytest.raises(ValueError, match="does not tile"):
        arithmetic.output_size(8, 3, stride=2, exact=True)
    assert arithmetic.output_size(7, 3, stride=2, exact=True) == 3


def test_same_padding_output_is_ceil_of_input_over_stride_for_any_kernel() -> None:
    for size, kernel, stride in itertools.product(range(1, 12), (1, 2, 3, 5, 7), (1, 2, 3)):
        assert arithmetic.output_size(size, kernel, stride, "SAME") == -(-size // stride)


def _keras_spatial(layer: keras.layers.Layer, size: int, pre_pad: int = 0) -> int:
    x = np.zeros((1, size, size, 1), dtype="float32")
    if pre_pad:
        x = keras.layers.ZeroPadding2D(pre_pad)(x)
    out = layer(x)
    assert out.shape[1] == out.shape[2]
    return int(out.shape[1])


SIZES = (5, 8, 11)
KERNELS = (1, 2, 3, 5)
STRIDES = (1, 2, 3)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_output_size_matches_keras_conv2d_and_pooling_shapes(padding: str) -> None:
    checked = 0
    for size, kernel, stride in itertools.product(SIZES, KERNELS, STRIDES):
        if padding == "valid" and kernel > size:
            continue
        expected = arithmetic.output_size(size, kernel, stride, padding)
        conv = keras.layers.Conv2D(1, kernel, strides=stride, padding=padding)
        assert _keras_spatial(conv, size) == expected, (size, kernel, stride)
        for pool_cls in (keras.layers.MaxPooling2D, keras.layers.AveragePooling2D):
            pool = pool_cls(kernel, strides=stride, padding=padding)
            assert _keras_spatial(pool, size) == expected, (pool_cls, size, kernel, stride)
        checked += 1
    assert checked >= 30


def test_output_size_with_integer_padding_matches_keras_zero_padding_then_conv() -> None:
    for size, kernel, stride, pad in itertools.product((5, 8), (3, 5), (1, 2), (1, 2)):
        conv = keras.layers.Conv2D(1, kernel, strides=stride)
        expected = arithmetic.output_size(size, kernel, stride, pad)
        assert _keras_spatial(conv, size, pre_pad=pad) == expected


def test_output_size_with_dilation_matches_keras() -> None:
    for size, kernel, dilation in itertools.product((9, 12), (2, 3), (2, 3)):
        for padding in ("valid", "same"):
            conv = keras.layers.Conv2D(1, kernel, dilation_rate=dilation, padding=padding)
            expected = arithmetic.output_size(size, kernel, 1, padding, dilation)
            assert _keras_spatial(conv, size) == expected


def test_pool_output_size_defaults_the_stride_to_the_window() -> None:
    assert arithmetic.pool_output_size(224) == 112
    assert arithmetic.pool_output_size(28, 2) == 14
    assert arithmetic.pool_output_size(55, 3, stride=2) == 27  # AlexNet's overlapping pool
    assert arithmetic.pool_output_size(7, 2, padding="same") == 4


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: arithmetic.output_size(5, 7), "does not fit"),
        (lambda: arithmetic.output_size(5, 3, stride=0), "stride must be a positive"),
        (lambda: arithmetic.output_size(0, 3), "input_size must be a positive"),
        (lambda: arithmetic.output_size(5, 0), "kernel must be a positive"),
        (lambda: arithmetic.output_size(5, 3, padding=-1), "padding must be"),
        (lambda: arithmetic.output_size(5, 3, padding="full"), "padding must be"),
        (lambda: arithmetic.output_size(5, 3, dilation=0), "dilation must be a positive"),
        (lambda: arithmetic.output_size(5.0, 3), "input_size must be a positive"),
        (lambda: arithmetic.output_size(True, 3), "input_size must be a positive"),
        (lambda: arithmetic.output_size(6, 3, dilation=3), "does not fit"),
        (lambda: arithmetic.pool_output_size(1, 2), "does not fit"),
    ],
)
def test_output_size_rejects_bad_arguments_with_a_clear_message(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- padding


def test_numpy_integers_count_as_integers() -> None:
    # What students write: sizes read off an array's shape or computed with np.prod.
    assert arithmetic.output_size(np.int64(32), np.int32(5)) == 28
    assert type(arithmetic.output_size(np.int64(32), 5)) is int
    assert arithmetic.dense_params(np.prod((4, 4, 16)), 10) == 2570
    assert arithmetic.output_size(32, 3, padding=np.int64(1)) == 32
    assert arithmetic.activation_memory_bytes(np.int64(10)) == 40
    with pytest.raises(ValueError, match="input_size must be a positive"):
        arithmetic.output_size(np.float64(32), 5)



def test_same_padding_is_half_the_effective_kernel_per_side() -> None:
    assert [arithmetic.same_padding(k) for k in (1, 3, 5, 7)] == [0, 1, 2, 3]
    assert arithmetic.same_padding(3, dilation=2) == 2
    for kernel in (3, 5, 7):
        pad = arithmetic.same_padding(kernel)
        assert arithmetic.output_size(7, kernel, 1, pad) == 7


def test_same_padding_refuses_even_kernels() -> None:
    with pytest.raises(ValueError, match="even kernel"):
        arithmetic.same_padding(2)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((7, 3), (1, 1)),
        ((6, 3, 2), (0, 1)),  # TensorFlow puts the odd zero after the input
        ((5, 4), (1, 2)),
        ((7, 3, 2), (1, 1)),
        ((8, 1, 2), (0, 0)),
        ((224, 7, 2), (2, 3)),  # ResNet's stem
    ],
)
def test_same_padding_amounts_follow_tensorflow(args: tuple, expected: tuple[int, int]) -> None:
    assert arithmetic.same_padding_amounts(*args) == expected


# --------------------------------------------------------------------------- parameters, memory


@pytest.mark.parametrize(
    ("kernel", "in_channels", "filters", "bias", "expected"),
    [
        (5, 1, 6, True, 156),
        (5, 6, 16, True, 2_416),
        (5, 16, 120, True, 48_120),
        (3, 3, 64, False, 1_728),
        (3, 512, 512, False, 2_359_296),
        ((3, 1), 8, 4, True, 100),
    ],
)
def test_conv_params_is_kernel_volume_times_filters_plus_biases(
    kernel, in_channels: int, filters: int, bias: bool, expected: int
) -> None:
    assert arithmetic.conv_params(kernel, in_channels, filters, bias) == expected


def test_conv_and_dense_params_match_keras_count_params() -> None:
    for kernel, in_channels, filters, bias in [
        (3, 3, 8, True),
        ((5, 2), 4, 6, False),
        (1, 7, 2, True),
    ]:
        layer = keras.layers.Conv2D(filters, kernel, use_bias=bias)
        layer.build((None, 16, 16, in_channels))
        assert arithmetic.conv_params(kernel, in_channels, filters, bias) == layer.count_params()
    for inputs, units, bias in [(400, 120, True), (84, 10, False)]:
        layer = keras.layers.Dense(units, use_bias=bias)
        layer.build((None, inputs))
        assert arithmetic.dense_params(inputs, units, bias) == layer.count_params()


def test_parameter_counts_reject_non_positive_sizes() -> None:
    with pytest.raises(ValueError, match="in_channels"):
        arithmetic.conv_params(3, 0, 8)
    with pytest.raises(ValueError, match="kernel"):
        arithmetic.conv_params((3, 3, 3), 1, 8)
    with pytest.raises(ValueError, match="units"):
        arithmetic.dense_params(10, -1)


def test_activation_memory_bytes_multiplies_by_the_value_size() -> None:
    assert arithmetic.activation_memory_bytes(15_237_608) == 60_950_432
    assert arithmetic.activation_memory_bytes(1_000, bytes_per_value=2) == 2_000
    with pytest.raises(ValueError, match="non-negative"):
        arithmetic.activation_memory_bytes(-1)
    with pytest.raises(ValueError, match="bytes_per_value"):
        arithmetic.activation_memory_bytes(10, bytes_per_value=0)


# --------------------------------------------------------------------------- receptive fields


def test_three_stacked_3x3_convs_see_7x7_like_one_7x7_conv_with_fewer_params() -> None:
    stacked = arithmetic.receptive_field([(3, 1)] * 3)
    assert [rf.size for rf in stacked] == [3, 5, 7]
    assert arithmetic.receptive_field([(7, 1)])[-1].size == 7
    channels = 64
    assert 3 * arithmetic.conv_params(3, channels, channels, bias=False) == 27 * channels**2
    assert arithmetic.conv_params(7, channels, channels, bias=False) == 49 * channels**2


def test_receptive_field_grows_by_the_jump_after_a_strided_pool() -> None:
    fields = arithmetic.receptive_field([(3, 1), (2, 2), (3, 1)])
    assert [rf.size for rf in fields] == [3, 4, 8]
    assert [rf.jump for rf in fields] == [1, 2, 2]


def test_receptive_field_of_dilated_kernels() -> None:
    # Dilations 1, 2, 4 of a 3x3 kernel: the receptive field doubles each time (WaveNet style).
    fields = arithmetic.receptive_field([(3, 1, 1), (3, 1, 2), (3, 1, 4)])
    assert [rf.size for rf in fields] == [3, 7, 15]


def test_receptive_field_of_vgg16_reaches_212_at_the_last_pool() -> None:
    features = [spec for spec in arithmetic.VGG16_SPECS if spec.kind in ("conv", "pool")]
    fields = arithmetic.receptive_field(features)
    assert fields[-2].size == 196  # block5_conv3
    assert fields[-1] == arithmetic.ReceptiveField(size=212, jump=32)


def test_receptive_field_refuses_dense_layers_and_malformed_tuples() -> None:
    with pytest.raises(ValueError, match="dense"):
        arithmetic.receptive_field([LayerSpec.conv(8, 3), LayerSpec.dense(10)])
    with pytest.raises(ValueError, match="kernel, stride"):
        arithmetic.receptive_field([(3,)])
    with pytest.raises(ValueError, match="stride"):
        arithmetic.receptive_field([(3, 0)])


# --------------------------------------------------------------------------- layer tables

LENET5_EXPECTED = [
    # name, output shape, activations, params
    ("input", (32, 32, 1), 1_024, 0),
    ("C1", (28, 28, 6), 4_704, 156),
    ("S2", (14, 14, 6), 1_176, 0),
    ("C3", (10, 10, 16), 1_600, 2_416),
    ("S4", (5, 5, 16), 400, 0),
    ("C5", (1, 1, 120), 120, 48_120),
    ("flatten", (120,), 120, 0),
    ("F6", (84,), 84, 10_164),
    ("output", (10,), 10, 850),
]


def test_lenet5_table_has_the_correct_per_layer_counts_and_61706_params() -> None:
    rows = arithmetic.layer_table(arithmetic.LENET5_SPECS, (32, 32, 1))
    assert [(r.name, r.output_shape, r.activations, r.params) for r in rows] == LENET5_EXPECTED
    total = arithmetic.totals(rows)
    assert total.params == 61_706
    assert total.activations == 9_118  # the flatten row is a reshape, not new memory


def test_lenet5_parameter_count_matches_an_equivalent_keras_model() -> None:
    model = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            keras.layers.Conv2D(6, 5),
            keras.layers.AveragePooling2D(2),
            keras.layers.Conv2D(16, 5),
            keras.layers.AveragePooling2D(2),
            keras.layers.Conv2D(120, 5),
            keras.layers.Flatten(),
            keras.layers.Dense(84),
            keras.layers.Dense(10),
        ]
    )
    rows = arithmetic.layer_table(arithmetic.LENET5_SPECS, (32, 32, 1))
    assert [r.params for r in rows[1:]] == [layer.count_params() for layer in model.layers]
    assert [r.output_shape for r in rows[1:]] == [
        tuple(layer.output.shape[1:]) for layer in model.layers
    ]


@pytest.fixture(scope="module")
def keras_vgg16() -> keras.Model:
    """VGG16 built with random weights: nothing is downloaded."""
    return keras.applications.VGG16(weights=None)


def test_vgg16_table_matches_keras_applications_vgg16_layer_by_layer(keras_vgg16) -> None:
    rows = arithmetic.layer_table(arithmetic.VGG16_SPECS, (224, 224, 3))
    keras_layers = keras_vgg16.layers[1:]  # skip the InputLayer
    assert [r.name for r in rows[1:]] == [layer.name for layer in keras_layers]
    for row, layer in zip(rows[1:], keras_layers, strict=True):
        assert row.params == layer.count_params(), row.name
        assert row.output_shape == tuple(layer.output.shape[1:]), row.name
    assert arithmetic.totals(rows).params == keras_vgg16.count_params() == 138_357_544


def test_vgg16_totals_exact_activations_and_memory_of_one_forward_pass() -> None:
    rows = arithmetic.layer_table(arithmetic.VGG16_SPECS, (224, 224, 3))
    total = arithmetic.totals(rows)
    assert total.params == 138_357_544
    assert total.weights == 138_344_128  # the lecture table's "weights" column leaves out biases
    assert total.activations == 15_237_608
    assert total.activation_bytes() == 60_950_432
    by_name = {row.name: row for row in rows}
    # A few rows of the lecture's memory table.
    assert by_name["input"].activations == 150_528
    assert by_name["block1_conv1"].activations == 3_211_264
    assert by_name["block1_conv2"].weights == 36_864
    assert by_name["block5_pool"].activations == 25_088
    assert by_name["fc1"].weights == 102_760_448
    assert by_name["fc2"].weights == 16_777_216


def test_layer_table_names_the_layer_that_cannot_take_its_input() -> None:
    with pytest.raises(ValueError, match="'big'.*does not fit"):
        arithmetic.layer_table([LayerSpec.conv(4, 9, name="big")], (8, 8, 1))
    with pytest.raises(ValueError, match="flatten"):
        arithmetic.layer_table([LayerSpec.conv(4, 3), LayerSpec.dense(10)], (8, 8, 1))
    with pytest.raises(ValueError, match="height, width, channels"):
        arithmetic.layer_table([LayerSpec.flatten(), LayerSpec.conv(4, 3)], (8, 8, 1))
    with pytest.raises(ValueError, match="input_shape"):
        arithmetic.layer_table([], (8, 8))


def test_layer_spec_rejects_incomplete_or_unknown_layers() -> None:
    with pytest.raises(ValueError, match="kind"):
        LayerSpec("lstm")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="filters"):
        LayerSpec("conv", kernel=3)
    with pytest.raises(ValueError, match="units"):
        LayerSpec("dense")
    with pytest.raises(ValueError, match="stride"):
        LayerSpec.conv(8, 3, stride=0)
    with pytest.raises(ValueError, match="mode"):
        LayerSpec.pool(2, mode="min")  # type: ignore[arg-type]


def test_layer_table_of_strided_same_convs_and_unnamed_layers() -> None:
    specs = [LayerSpec.conv(8, 3, stride=2, padding="same"), LayerSpec.pool(3, 2, "same")]
    rows = arithmetic.layer_table(specs, (7, 7, 3))
    assert [r.name for r in rows] == ["input", "conv1", "pool2"]
    assert rows[1].output_shape == (4, 4, 8)
    assert rows[2].output_shape == (2, 2, 8)
    assert rows[1].description == "conv 3x3 s2 same"


def test_format_table_lists_every_layer_and_the_totals() -> None:
    rows = arithmetic.layer_table(arithmetic.LENET5_SPECS, (32, 32, 1))
    text = arithmetic.format_table(rows, bytes_per_value=4)
    lines = text.splitlines()
    for name in ("C1", "S2", "C3", "S4", "C5", "F6", "output"):
        assert any(line.startswith(name) for line in lines)
    assert lines[-1].split()[0] == "total"
    assert lines[-1].split()[1:3] == ["9,118", "61,706"]
    assert "2,416" in text
