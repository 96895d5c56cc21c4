"""cnnlabs.reference: the NumPy convolution, pooling and activations against Keras.

The worked examples are pinned to values computed by hand; everything else is
compared with the Keras op a real network would run, on random inputs.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from cnnlabs import arithmetic, reference

RNG_SEED = 1234

# --------------------------------------------------------------------------- worked examples

FILTER1_STRIDE1 = [[3, -1, -3, -1], [-3, 1, 0, -3], [-3, -3, 0, 1], [3, -2, -2, -1]]
FILTER2_STRIDE1 = [[-1, -1, -1, -1], [-1, -1, -2, 1], [-1, -1, -2, 1], [-1, 0, -4, 3]]


def test_toy_example_stride_1_gives_the_two_4x4_maps() -> None:
    maps = reference.conv2d(reference.TOY_IMAGE, reference.TOY_KERNELS)
    assert maps.shape == (4, 4, 2)
    np.testing.assert_array_equal(maps[:, :, 0], FILTER1_STRIDE1)
    np.testing.assert_array_equal(maps[:, :, 1], FILTER2_STRIDE1)
    assert maps[0, 0, 0] == 3 and maps[0, 1, 0] == -1
    assert np.issubdtype(maps.dtype, np.integer)  # integer data stays integer


def test_toy_example_single_filter_gives_a_2d_map() -> None:
    for kernel, expected in zip(
        reference.TOY_FILTERS, (FILTER1_STRIDE1, FILTER2_STRIDE1), strict=True
    ):
        np.testing.assert_array_equal(reference.conv2d(reference.TOY_IMAGE, kernel), expected)


def test_toy_example_stride_2_gives_2x2_maps() -> None:
    maps = reference.conv2d(reference.TOY_IMAGE, reference.TOY_KERNELS, stride=2)
    np.testing.assert_array_equal(maps[:, :, 0], [[3, -3], [-3, 0]])
    np.testing.assert_array_equal(maps[:, :, 1], [[-1, -1], [-1, -2]])
    assert maps.shape[0] == arithmetic.output_size(6, 3, stride=2)


def test_toy_example_max_pooling_keeps_the_strongest_response_per_block() -> None:
    maps = reference.conv2d(reference.TOY_IMAGE, reference.TOY_KERNELS)
    pooled = reference.max_pool2d(maps)
    np.testing.assert_array_equal(pooled[:, :, 0], [[3, 0], [3, 1]])
    np.testing.assert_array_equal(pooled[:, :, 1], [[-1, 1], [0, 3]])


def test_stride_example_gives_the_corrected_3x3_map() -> None:
    out = reference.conv2d(
        reference.STRIDE_EXAMPLE_IMAGE, reference.STRIDE_EXAMPLE_KERNEL, stride=2
    )
    np.testing.assert_array_equal(out, [[91, 100, 88], [69, 91, 117], [44, 72, 74]])


def test_padding_example_keeps_7x7_with_same_padding_and_grows_with_full_padding() -> None:
    grid = reference.PADDING_EXAMPLE
    padded = reference.pad(grid, 2)
    assert padded.shape == (11, 11)
    np.testing.assert_array_equal(padded[2:-2, 2:-2], grid)
    assert padded.sum() == grid.sum()  # only zeros were added
    assert reference.conv2d(grid, np.ones((3, 3)), padding=1).shape == (7, 7)
    assert reference.conv2d(grid, np.ones((5, 5)), padding=2).shape == (7, 7)
    assert reference.conv2d(grid, np.ones((3, 3)), padding=2).shape == (9, 9)
    assert reference.conv2d(grid, np.ones((3, 3)), padding="same").shape == (7, 7)


def test_worked_examples_are_read_only() -> None:
    with pytest.raises(ValueError):
        reference.TOY_IMAGE[0, 0] = 5
    with pytest.raises(ValueError):
        reference.CLASSIC_KERNELS["identity"][1, 1] = 2


# --------------------------------------------------------------------------- conv2d against Keras


def _keras_conv(
    x: np.ndarray, kernels: np.ndarray, stride: int, padding: str, dilation: int = 1
) -> np.ndarray:
    out = keras.ops.conv(
        x[np.newaxis].astype("float32"),
        kernels.astype("float32"),
        strides=stride,
        padding=padding,
        dilation_rate=dilation,
    )
    return keras.ops.convert_to_numpy(out)[0]


@pytest.mark.parametrize(
    ("size", "kernel", "stride", "padding", "channels"),
    list(itertools.product((7, 8), (2, 3), (1, 2), ("valid", "same"), ((1, 1), (3, 4)))),
)
def test_conv2d_matches_keras_ops_conv(
    size: int, kernel: int, stride: int, padding: str, channels: tuple[int, int]
) -> None:
    rng = np.random.default_rng(RNG_SEED)
    c_in, c_out = channels
    x = rng.normal(size=(size, size + 1, c_in))  # not square, to catch swapped axes
    kernels = rng.normal(size=(kernel, kernel + 1, c_in, c_out))
    ours = reference.conv2d(x, kernels, stride=stride, padding=padding)
    np.testing.assert_allclose(ours, _keras_conv(x, kernels, stride, padding), rtol=1e-4, atol=1e-4)
    assert ours.shape[0] == arithmetic.output_size(size, kernel, stride, padding)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv2d_with_dilation_matches_keras(padding: str) -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = rng.normal(size=(9, 10, 2))
    kernels = rng.normal(size=(3, 3, 2, 3))
    ours = reference.conv2d(x, kernels, padding=padding, dilation=2)
    theirs = _keras_conv(x, kernels, 1, padding, dilation=2)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)


def test_conv2d_does_not_flip_the_kernel() -> None:
    # Sliding a kernel over a single 1 traces the kernel rotated by 180 degrees:
    # the mark of cross-correlation (true convolution would give the kernel itself).
    impulse = np.zeros((5, 5))
    impulse[2, 2] = 1
    kernel = np.arange(9.0).reshape(3, 3)
    response = reference.conv2d(impulse, kernel, padding="same")
    np.testing.assert_array_equal(response[1:4, 1:4], kernel[::-1, ::-1])


def test_conv2d_adds_one_bias_per_filter() -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = rng.normal(size=(6, 6, 2))
    kernels = rng.normal(size=(3, 3, 2, 3))
    bias = np.array([0.5, -1.0, 2.0])
    with_bias = reference.conv2d(x, kernels, bias=bias)
    np.testing.assert_allclose(
        with_bias - reference.conv2d(x, kernels), np.broadcast_to(bias, (4, 4, 3))
    )


def test_conv2d_single_multichannel_filter_sums_over_channels() -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = rng.normal(size=(6, 5, 3))
    kernel = rng.normal(size=(3, 3, 3))
    per_channel = sum(reference.conv2d(x[:, :, c], kernel[:, :, c]) for c in range(3))
    out = reference.conv2d(x, kernel)
    assert out.shape == (4, 3)
    np.testing.assert_allclose(out, per_channel)


def test_conv2d_integer_padding_equals_padding_then_valid() -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = rng.normal(size=(5, 5))
    kernel = rng.normal(size=(3, 3))
    np.testing.assert_allclose(
        reference.conv2d(x, kernel, padding=2), reference.conv2d(reference.pad(x, 2), kernel)
    )


@pytest.mark.parametrize(
    ("image", "kernels", "kwargs", "message"),
    [
        (np.zeros((6, 6, 3)), np.zeros((3, 3, 2, 4)), {}, "input channel"),
        (np.zeros((6, 6)), np.zeros((3, 3, 2)), {}, "input channel"),
        (np.zeros((4, 4)), np.zeros((5, 5)), {}, "larger than the padded input"),
        (np.zeros((6, 6)), np.zeros((3, 3)), {"stride": 0}, "stride must be a positive"),
        (np.zeros((6, 6)), np.zeros((3, 3)), {"padding": "full"}, "padding must be"),
        (np.zeros((6, 6)), np.zeros((3, 3)), {"padding": -1}, "padding must be"),
        (np.zeros((6, 6)), np.zeros((3, 3)), {"dilation": 0}, "dilation must be a positive"),
        (np.zeros((6,)), np.zeros((3, 3)), {}, r"image must be \(H, W\)"),
        (np.zeros((6, 6)), np.zeros((3,)), {}, "kernels must be"),
    ],
)
def test_conv2d_rejects_bad_input(image, kernels, kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        reference.conv2d(image, kernels, **kwargs)


def test_pad_rejects_negative_or_malformed_padding() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        reference.pad(np.zeros((3, 3)), -1)
    with pytest.raises(ValueError, match="top, bottom"):
        reference.pad(np.zeros((3, 3)), (1, 2, 3))
    assert reference.pad(np.zeros((3, 3, 2)), ((0, 1), (2, 0))).shape == (4, 5, 2)


# --------------------------------------------------------------------------- pooling against Keras


@pytest.mark.parametrize(
    ("size", "pool", "stride", "padding"),
    list(itertools.product((6, 7), (2, 3), (None, 1, 2), ("valid", "same"))),
)
def test_pooling_matches_keras_max_pool_and_average_pool(
    size: int, pool: int, stride: int | None, padding: str
) -> None:
    rng = np.random.default_rng(RNG_SEED)
    x = rng.normal(size=(size, size + 1, 3))
    batch = x[np.newaxis].astype("float32")
    for ours_fn, keras_fn in (
        (reference.max_pool2d, keras.ops.max_pool),
        (reference.avg_pool2d, keras.ops.average_pool),
    ):
        ours = ours_fn(x, pool, stride, padding)
        theirs = keras.ops.convert_to_numpy(keras_fn(batch, pool, stride, padding))[0]
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)
        expected_rows = arithmetic.pool_output_size(size, pool, stride, padding)
        assert ours.shape == (expected_rows, theirs.shape[1], 3)


def test_pooling_a_2d_map_returns_a_2d_map() -> None:
    x = np.arange(16.0).reshape(4, 4)
    np.testing.assert_array_equal(reference.max_pool2d(x), [[5, 7], [13, 15]])
    np.testing.assert_array_equal(reference.avg_pool2d(x), [[2.5, 4.5], [10.5, 12.5]])


def test_pooling_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="'valid' or 'same'"):
        reference.max_pool2d(np.zeros((4, 4)), padding=1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pooling window"):
        reference.avg_pool2d(np.zeros((2, 2)), pool=3)
    with pytest.raises(ValueError, match="stride must be a positive"):
        reference.max_pool2d(np.zeros((4, 4)), stride=0)


# --------------------------------------------------------------------------- batches (N, H, W, C)


def _float32_exact(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random normals that float32 holds exactly, so Keras and NumPy start from the same numbers."""
    return rng.normal(size=shape).astype("float32").astype(float)


def test_toy_example_in_a_batch_of_two_gives_the_known_maps() -> None:
    # The second image is the first with 0 and 1 swapped. Both filters sum to -3,
    # so its maps are -3 minus the first image's.
    batch = np.stack([reference.TOY_IMAGE, 1 - reference.TOY_IMAGE])[..., np.newaxis]
    assert batch.shape == (2, 6, 6, 1)
    maps = reference.conv2d(batch, reference.TOY_KERNELS)
    assert maps.shape == (2, 4, 4, 2)
    assert np.issubdtype(maps.dtype, np.integer)
    np.testing.assert_array_equal(maps[0, :, :, 0], FILTER1_STRIDE1)
    np.testing.assert_array_equal(maps[0, :, :, 1], FILTER2_STRIDE1)
    np.testing.assert_array_equal(maps[1, :, :, 0], -3 - np.array(FILTER1_STRIDE1))
    np.testing.assert_array_equal(maps[1, :, :, 1], -3 - np.array(FILTER2_STRIDE1))
    stride2 = reference.conv2d(batch, reference.TOY_KERNELS, stride=2)
    assert stride2.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(stride2[0, :, :, 0], [[3, -3], [-3, 0]])
    np.testing.assert_array_equal(stride2[1, :, :, 0], [[-6, 0], [0, -3]])
    pooled = reference.max_pool2d(maps)
    assert pooled.shape == (2, 2, 2, 2)
    np.testing.assert_array_equal(pooled[0, :, :, 0], [[3, 0], [3, 1]])
    np.testing.assert_array_equal(pooled[0, :, :, 1], [[-1, 1], [0, 3]])
    np.testing.assert_array_equal(pooled[1, :, :, 0], [[0, 0], [0, -1]])
    np.testing.assert_array_equal(pooled[1, :, :, 1], [[-2, -1], [-2, 1]])
    # One filter (kh, kw) on a one-channel batch gives one map per image.
    single = reference.conv2d(batch, reference.TOY_FILTERS[0])
    assert single.shape == (2, 4, 4)
    np.testing.assert_array_equal(single[0], FILTER1_STRIDE1)


@pytest.mark.parametrize(
    ("function", "image_shape", "kwargs"),
    [
        (reference.conv2d, (7, 8, 3), {"kernels": np.arange(72.0).reshape(3, 2, 3, 4) % 5}),
        (
            reference.conv2d,
            (7, 8, 2),
            {
                "kernels": np.arange(54.0).reshape(3, 3, 2, 3) % 7 - 3,
                "stride": (2, 1),
                "padding": "same",
                "bias": np.array([1.0, -2.0, 0.5]),
                "dilation": (1, 2),
            },
        ),
        (reference.conv2d, (7, 8, 3), {"kernels": np.ones((3, 3, 3)), "padding": 1}),
        (reference.conv2d, (7, 8, 1), {"kernels": np.eye(3)}),
        (reference.conv2d_fft, (7, 8, 3), {"kernel": np.arange(27.0).reshape(3, 3, 3) % 4}),
        (reference.max_pool2d, (7, 8, 3), {"pool": 3, "stride": 2, "padding": "same"}),
        (reference.avg_pool2d, (7, 8, 3), {"pool": (2, 3), "padding": "same"}),
        (reference.avg_pool2d, (7, 8, 1), {}),
        (reference.pad, (7, 8, 3), {"padding": ((1, 0), (2, 3)), "value": -1.0}),
    ],
    ids=[
        "conv2d-bank",
        "conv2d-stride-same-bias-dilation",
        "conv2d-one-filter",
        "conv2d-2d-filter",
        "conv2d_fft",
        "max_pool2d-same",
        "avg_pool2d-same",
        "avg_pool2d-valid",
        "pad",
    ],
)
def test_a_batch_gives_the_single_image_results_stacked(
    function, image_shape: tuple[int, ...], kwargs: dict
) -> None:
    rng = np.random.default_rng(RNG_SEED)
    batch = rng.normal(size=(4, *image_shape))
    out = function(batch, **kwargs)
    stacked = np.stack([function(image, **kwargs) for image in batch])
    assert out.shape == stacked.shape and out.shape[0] == 4
    np.testing.assert_allclose(out, stacked, rtol=1e-12, atol=1e-12)


def test_a_batch_of_integers_pools_like_its_images() -> None:
    batch = np.arange(2 * 5 * 5 * 2).reshape(2, 5, 5, 2)
    for padding in ("valid", "same"):
        for function in (reference.max_pool2d, reference.avg_pool2d):
            out = function(batch, padding=padding)
            np.testing.assert_array_equal(
                out, np.stack([function(i, padding=padding) for i in batch])
            )
    assert reference.max_pool2d(batch).dtype == batch.dtype  # "valid" max pooling keeps integers


@pytest.mark.parametrize(
    ("stride", "padding", "channels"),
    list(itertools.product((1, 2), ("valid", "same"), ((1, 1), (3, 4), (2, 5)))),
)
def test_conv2d_on_a_batch_matches_keras_ops_conv(
    stride: int, padding: str, channels: tuple[int, int]
) -> None:
    rng = np.random.default_rng(RNG_SEED)
    c_in, c_out = channels
    batch = _float32_exact(rng, (3, 9, 8, c_in))  # not square, to catch swapped axes
    kernels = _float32_exact(rng, (3, 2, c_in, c_out))
    ours = reference.conv2d(batch, kernels, stride=stride, padding=padding)
    theirs = keras.ops.convert_to_numpy(
        keras.ops.conv(batch.astype("float32"), kernels.astype("float32"), stride, padding)
    )
    assert ours.shape == theirs.shape
    assert ours.shape[1] == arithmetic.output_size(9, 3, stride, padding)
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("pool", "stride", "padding"),
    list(itertools.product((2, 3), (None, 1, 2), ("valid", "same"))),
)
def test_pooling_on_a_batch_matches_keras_max_pool_and_average_pool(
    pool: int, stride: int | None, padding: str
) -> None:
    rng = np.random.default_rng(RNG_SEED)
    batch = _float32_exact(rng, (3, 7, 6, 4))
    for ours_fn, keras_fn in (
        (reference.max_pool2d, keras.ops.max_pool),
        (reference.avg_pool2d, keras.ops.average_pool),
    ):
        ours = ours_fn(batch, pool, stride, padding)
        theirs = keras.ops.convert_to_numpy(
            keras_fn(batch.astype("float32"), pool, stride, padding)
        )
        assert ours.shape == theirs.shape
        assert ours.shape[1] == arithmetic.pool_output_size(7, pool, stride, padding)
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-6)


def test_pad_on_a_batch_matches_keras_zero_padding_2d() -> None:
    rng = np.random.default_rng(RNG_SEED)
    batch = _float32_exact(rng, (2, 4, 5, 3))
    amounts = ((1, 2), (3, 0))
    theirs = keras.ops.convert_to_numpy(keras.layers.ZeroPadding2D(amounts)(batch))
    ours = reference.pad(batch, amounts)
    assert ours.shape == theirs.shape == (2, 7, 8, 3)
    np.testing.assert_array_equal(ours, theirs)
    assert reference.pad(batch, 2).shape == (2, 8, 9, 3)


def test_three_axes_are_always_one_image_not_a_batch() -> None:
    # A stack of grayscale maps (N, H, W) is read as one (H, W, C) image: pooled
    # and padded over its first two axes, and 6 channels for a convolution.
    stack = np.arange(2 * 4 * 6.0).reshape(2, 4, 6)
    assert reference.max_pool2d(stack).shape == (1, 2, 6)
    assert reference.pad(stack, 1).shape == (4, 6, 6)
    with pytest.raises(
        ValueError, match=r"kernel expects 1 input channel\(s\) but the image has 6"
    ):
        reference.conv2d(stack, np.ones((3, 3)))
    # With its channel axis it is a batch.
    assert reference.max_pool2d(stack[..., np.newaxis]).shape == (2, 2, 3, 1)
    assert reference.conv2d(stack[..., np.newaxis], np.ones((3, 3))).shape == (2, 2, 4)


SHAPES_MESSAGE = r"must be \(H, W\), \(H, W, C\) or a batch \(N, H, W, C\), got shape"


@pytest.mark.parametrize("shape", [(6,), (2, 2, 6, 6, 1)], ids=["1-D", "5-D"])
@pytest.mark.parametrize(
    "call",
    [
        lambda x: reference.conv2d(x, np.ones((3, 3))),
        lambda x: reference.conv2d_fft(x, np.ones((3, 3))),
        reference.max_pool2d,
        reference.avg_pool2d,
        lambda x: reference.pad(x, 1),
    ],
    ids=["conv2d", "conv2d_fft", "max_pool2d", "avg_pool2d", "pad"],
)
def test_images_of_another_rank_are_rejected_naming_the_shapes_taken(call, shape) -> None:
    with pytest.raises(ValueError, match=SHAPES_MESSAGE):
        call(np.zeros(shape))


def test_a_batch_whose_channels_differ_from_the_kernel_is_rejected() -> None:
    batch = np.zeros((2, 6, 6, 3))
    with pytest.raises(
        ValueError,
        match=r"expects 2 input channel\(s\) but each image of the batch has 3 "
        r"\(image shape \(2, 6, 6, 3\), kernel shape \(3, 3, 2, 4\)\)",
    ):
        reference.conv2d(batch, np.zeros((3, 3, 2, 4)))
    with pytest.raises(ValueError, match="but each image of the batch has 3"):
        reference.conv2d(batch, np.zeros((3, 3)))
    with pytest.raises(ValueError, match="expects 2 input channel"):
        reference.conv2d_fft(batch, np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match=r"kernel must be one filter, \(kh, kw\) or \(kh, kw, C\)"):
        reference.conv2d_fft(batch, np.zeros((3, 3, 3, 1)))


# --------------------------------------------------------------------------- activations


@pytest.fixture(scope="module")
def activation_inputs() -> np.ndarray:
    rng = np.random.default_rng(RNG_SEED)
    return np.concatenate(
        [rng.normal(scale=3.0, size=200), [-50.0, -8.0, -1e-3, 0.0, 1e-3, 6.0, 8.0, 50.0]]
    ).astype("float32")


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (reference.relu, keras.activations.relu),
        (reference.relu6, keras.activations.relu6),
        (reference.sigmoid, keras.activations.sigmoid),
        (reference.tanh, keras.activations.tanh),
        (reference.elu, keras.activations.elu),
        (reference.leaky_relu, keras.activations.leaky_relu),
        (reference.gelu, lambda x: keras.activations.gelu(x, approximate=False)),
        (reference.softmax, keras.activations.softmax),
    ],
    ids=["relu", "relu6", "sigmoid", "tanh", "elu", "leaky_relu", "gelu", "softmax"],
)
def test_activations_match_keras(ours, theirs, activation_inputs: np.ndarray) -> None:
    x = activation_inputs
    expected = keras.ops.convert_to_numpy(theirs(keras.ops.convert_to_tensor(x)))
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-6)


def test_activations_known_values() -> None:
    np.testing.assert_array_equal(reference.relu(np.array([-2, 0, 3])), [0, 0, 3])
    np.testing.assert_array_equal(reference.relu6(np.array([-1, 4, 9])), [0, 4, 6])
    np.testing.assert_allclose(reference.leaky_relu(np.array([-10.0, 10.0]), 0.1), [-1.0, 10.0])
    assert reference.sigmoid(0.0) == 0.5
    np.testing.assert_allclose(reference.sigmoid(np.array([-800.0, 800.0])), [0.0, 1.0])
    np.testing.assert_allclose(reference.elu(np.array([-np.inf, 0.0])), [-1.0, 0.0])
    # gelu(1) = Phi(1) = 0.841344746...
    np.testing.assert_allclose(reference.gelu(np.array([1.0])), [0.8413447460685429])
    np.testing.assert_allclose(reference.softmax(np.array([1000.0, 1000.0])), [0.5, 0.5])


# --------------------------------------------------------------------------- FFT


def test_conv2d_fft_equals_direct_cross_correlation() -> None:
    rng = np.random.default_rng(RNG_SEED)
    for shape, kernel_shape in [((16, 13), (3, 3)), ((9, 12), (4, 2)), ((8, 8, 3), (5, 5, 3))]:
        x = rng.normal(size=shape)
        kernel = rng.normal(size=kernel_shape)
        np.testing.assert_allclose(
            reference.conv2d_fft(x, kernel), reference.conv2d(x, kernel), atol=1e-10
        )
    np.testing.assert_allclose(
        reference.conv2d_fft(reference.TOY_IMAGE, reference.TOY_FILTERS[0]),
        FILTER1_STRIDE1,
        atol=1e-10,
    )


def test_conv2d_fft_rejects_mismatched_or_oversized_kernels() -> None:
    with pytest.raises(ValueError, match="input channel"):
        reference.conv2d_fft(np.zeros((6, 6, 3)), np.zeros((3, 3, 2)))
    with pytest.raises(ValueError, match="larger than"):
        reference.conv2d_fft(np.zeros((4, 4)), np.zeros((5, 5)))


# --------------------------------------------------------------------------- classic kernels


def test_classic_kernels_act_as_their_names_say() -> None:
    rng = np.random.default_rng(RNG_SEED)
    image = rng.uniform(size=(10, 12))
    kernels = reference.CLASSIC_KERNELS
    np.testing.assert_allclose(reference.conv2d(image, kernels["identity"]), image[1:-1, 1:-1])
    flat = np.full((8, 8), 0.7)
    np.testing.assert_allclose(reference.conv2d(flat, kernels["box_blur"]), 0.7)
    np.testing.assert_allclose(reference.conv2d(flat, kernels["sharpen"]), 0.7)
    for name in ("edge_laplacian_4", "edge_laplacian_8"):
        np.testing.assert_allclose(reference.conv2d(flat, kernels[name]), 0.0, atol=1e-12)
    # A vertical step edge lights up the edge detectors only next to the step.
    step = np.zeros((6, 6))
    step[:, 3:] = 1.0
    response = reference.conv2d(step, kernels["edge_laplacian_8"])
    assert np.all(response[:, [0, 3]] == 0) and np.all(response[:, [1, 2]] != 0)
