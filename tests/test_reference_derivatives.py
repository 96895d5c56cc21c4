"""cnnlabs.reference: activation derivatives, dropout and batch normalisation.

Every derivative is checked twice, independently: against TensorFlow's
automatic differentiation of the ``keras.activations`` function a network
runs, and against a central finite difference of the NumPy activation. Both
checks use a grid that stays clear of the kinks (where no derivative exists);
the kinks have tests of their own. Dropout and batch normalisation are
checked against their definitions and against the Keras layers.
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from cnnlabs import reference

NAMES = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "relu6", "gelu"]

#: Where each activation is not differentiable.
KINKS: dict[str, tuple[float, ...]] = {
    "relu": (0.0,),
    "leaky_relu": (0.0,),
    "elu": (0.0,),
    "relu6": (0.0, 6.0),
}

#: The Keras activation behind each name; GELU in its exact form, as the reference has it.
KERAS = {name: getattr(keras.activations, name) for name in NAMES}
KERAS["gelu"] = lambda t: keras.activations.gelu(t, approximate=False)

FD_STEP = 1e-5


def smooth_grid(name: str) -> np.ndarray:
    """Points from -9 to 9, none within 1e-3 of a kink of activation ``name``."""
    grid = np.linspace(-9.0, 9.0, 721) + 0.0037  # an offset so that no point lands on a kink
    for kink in KINKS.get(name, ()):
        grid = grid[np.abs(grid - kink) > 1e-3]
    return grid


def autodiff(fn, x: np.ndarray) -> np.ndarray:
    """d fn(x) / dx by TensorFlow's automatic differentiation, in float64."""
    t = tf.constant(np.asarray(x, dtype="float64"))
    with tf.GradientTape() as tape:
        tape.watch(t)
        y = fn(t)
    return tape.gradient(y, t).numpy()


# --------------------------------------------------------------------------- the catalogue


def test_the_catalogue_pairs_each_activation_with_its_derivative() -> None:
    assert list(reference.ACTIVATIONS) == NAMES
    assert reference.ACTIVATIONS["relu"] == (reference.relu, reference.relu_grad)
    assert reference.ACTIVATIONS["gelu"].derivative is reference.gelu_grad
    with pytest.raises(TypeError):
        reference.ACTIVATIONS["swish"] = reference.ACTIVATIONS["relu"]  # type: ignore[index]


def test_derivative_looks_up_by_name_and_passes_parameters_on() -> None:
    x = np.array([-2.0, -0.5, 3.0])
    np.testing.assert_array_equal(reference.derivative("relu", x), reference.relu_grad(x))
    np.testing.assert_allclose(
        reference.derivative("elu", x, alpha=2.0), reference.elu_grad(x, alpha=2.0)
    )
    np.testing.assert_allclose(
        reference.derivative("leaky_relu", x, negative_slope=0.1), [0.1, 0.1, 1.0]
    )
    with pytest.raises(ValueError, match="Unknown activation 'swish'. Valid: sigmoid, tanh"):
        reference.derivative("swish", x)


# --------------------------------------------------------------------------- against autodiff


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_tensorflow_autodiff_of_the_keras_activation(name: str) -> None:
    x = smooth_grid(name)
    expected = autodiff(KERAS[name], x)
    np.testing.assert_allclose(reference.derivative(name, x), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(
    ("name", "params", "keras_fn"),
    [
        ("leaky_relu", {"negative_slope": 0.1},
         lambda t: keras.activations.leaky_relu(t, negative_slope=0.1)),
        ("elu", {"alpha": 2.0}, lambda t: keras.activations.elu(t, alpha=2.0)),
    ],
    ids=["leaky_relu-0.1", "elu-alpha2"],
)
def test_parameterised_derivatives_match_autodiff(name: str, params: dict, keras_fn) -> None:
    x = smooth_grid(name)
    np.testing.assert_allclose(
        reference.derivative(name, x, **params), autodiff(keras_fn, x), rtol=1e-6, atol=1e-8
    )


@pytest.mark.parametrize("name", sorted(KINKS))
def test_at_a_kink_the_derivative_takes_the_value_tensorflow_uses(name: str) -> None:
    kinks = np.array(KINKS[name])
    # TensorFlow holds Leaky ReLU's slope in float32, hence a tolerance rather than equality.
    np.testing.assert_allclose(
        reference.derivative(name, kinks), autodiff(KERAS[name], kinks), rtol=1e-7
    )


# --------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("name", NAMES)
def test_derivative_matches_a_central_finite_difference(name: str) -> None:
    fn = reference.ACTIVATIONS[name].function
    x = smooth_grid(name)
    numeric = (fn(x + FD_STEP) - fn(x - FD_STEP)) / (2 * FD_STEP)
    np.testing.assert_allclose(reference.derivative(name, x), numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize(("name", "params"), [("leaky_relu", {"negative_slope": 0.01}),
                                              ("elu", {"alpha": 0.5})])
def test_parameterised_derivatives_match_finite_differences(name: str, params: dict) -> None:
    fn = reference.ACTIVATIONS[name].function
    x = smooth_grid(name)
    numeric = (fn(x + FD_STEP, **params) - fn(x - FD_STEP, **params)) / (2 * FD_STEP)
    np.testing.assert_allclose(
        reference.derivative(name, x, **params), numeric, rtol=1e-6, atol=1e-8
    )


# --------------------------------------------------------------------------- known values


def test_derivatives_at_known_points() -> None:
    assert reference.sigmoid_grad(0.0) == 0.25
    assert reference.tanh_grad(0.0) == 1.0
    assert reference.relu_grad(-1.0) == 0.0 and reference.relu_grad(2.0) == 1.0
    assert reference.relu_grad(0.0) == 0.0
    assert reference.relu6_grad(3.0) == 1.0
    assert reference.relu6_grad(7.0) == 0.0 and reference.relu6_grad(-1.0) == 0.0
    assert reference.leaky_relu_grad(-1.0) == 0.2 and reference.leaky_relu_grad(5.0) == 1.0
    assert reference.elu_grad(2.0) == 1.0
    assert reference.elu_grad(-1.0) == pytest.approx(math.exp(-1))
    assert reference.elu_grad(-1.0, alpha=2.0) == pytest.approx(2 * math.exp(-1))
    # gelu'(x) = Phi(x) + x phi(x): 0.5 at 0, Phi(1) + phi(1) at 1.
    assert reference.gelu_grad(0.0) == 0.5
    assert reference.gelu_grad(1.0) == pytest.approx(0.8413447460685429 + 0.24197072451914337)


def test_elu_slope_is_continuous_at_zero_and_relu_slope_jumps() -> None:
    tiny = 1e-12
    assert reference.elu_grad(-tiny) == pytest.approx(1.0)  # elu'(0-) = 1
    assert reference.elu_grad(tiny) == 1.0  # elu'(0+) = 1
    assert reference.elu_grad(0.0) == 1.0
    assert reference.relu_grad(-tiny) == 0.0 and reference.relu_grad(tiny) == 1.0


def test_sigmoid_and_tanh_slopes_peak_at_zero_and_vanish_in_the_tails() -> None:
    x = np.linspace(-10, 10, 2001)
    for grad, peak in ((reference.sigmoid_grad, 0.25), (reference.tanh_grad, 1.0)):
        values = grad(x)
        assert values.max() == peak and x[values.argmax()] == 0.0
        assert values[0] < 1e-3 * peak and values[-1] < 1e-3 * peak
    # The vanishing-gradient bound: ten sigmoid layers pass on at most 0.25**10 of a gradient.
    assert 0.25**10 == pytest.approx(9.5367431640625e-07)


def test_gelu_slope_dips_below_zero_and_overshoots_one_at_plus_minus_root_two() -> None:
    root2 = math.sqrt(2.0)
    low, high = reference.gelu_grad(np.array([-root2, root2]))
    assert low == pytest.approx(-0.1289, abs=1e-4)
    assert high == pytest.approx(1.1289, abs=1e-4)
    x = np.linspace(-6, 6, 12001)
    assert reference.gelu_grad(x).min() >= low - 1e-12
    assert reference.gelu_grad(x).max() <= high + 1e-12


def test_derivatives_stay_finite_and_silent_for_huge_inputs() -> None:
    x = np.array([-1e4, -800.0, -40.0, 40.0, 800.0, 1e4])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow or invalid-value warnings
        for name in NAMES:
            assert np.all(np.isfinite(reference.derivative(name, x))), name
    # In the tails the slopes are tiny but not rounded to zero (sigmoid'(40) = e^-40 ...).
    np.testing.assert_allclose(reference.sigmoid_grad(np.array([-40.0, 40.0])), math.exp(-40),
                               rtol=1e-12)
    np.testing.assert_allclose(reference.tanh_grad(np.array([-20.0, 20.0])), 4 * math.exp(-40),
                               rtol=1e-12)


def test_derivatives_keep_the_shape_of_their_input() -> None:
    x = np.linspace(-3, 3, 24).reshape(2, 3, 4)
    for name in NAMES:
        assert reference.derivative(name, x).shape == (2, 3, 4), name


# --------------------------------------------------------------------------- dropout


def test_dropout_keeps_the_expected_value_and_drops_about_rate_of_the_entries() -> None:
    x = np.full((1000, 1000), 3.0)
    for rate in (0.1, 0.5, 0.8):
        out = reference.dropout(x, rate, rng=np.random.default_rng(7))
        dropped = np.mean(out == 0.0)
        assert dropped == pytest.approx(rate, abs=0.005)
        assert out.mean() == pytest.approx(3.0, rel=0.01)
        np.testing.assert_allclose(np.unique(out), [0.0, 3.0 / (1 - rate)])


def test_dropout_drops_an_exact_count_for_a_seed() -> None:
    rate = 0.3
    out = reference.dropout(np.ones(10_000), rate, rng=np.random.default_rng(0))
    dropped = int(np.sum(out == 0.0))
    # The same draws, made independently: an entry is dropped where random() < rate.
    assert dropped == int(np.sum(np.random.default_rng(0).random(10_000) < rate))
    assert dropped == 3_008
    assert np.all(out[out != 0] == 1 / (1 - rate))
    # An integer seed is the same as a generator made from it.
    np.testing.assert_array_equal(reference.dropout(np.ones(10_000), rate, rng=0), out)


def test_dropout_is_the_identity_at_inference_and_for_rate_zero() -> None:
    x = np.arange(12.0).reshape(3, 4)
    for out in (reference.dropout(x, 0.5, rng=1, training=False), reference.dropout(x, 0.0)):
        np.testing.assert_array_equal(out, x)
        assert out is not x
    np.testing.assert_array_equal(reference.dropout(x, 1.0, rng=1), np.zeros_like(x))


def test_dropout_rejects_a_rate_outside_zero_to_one() -> None:
    for rate in (-0.1, 1.5, float("nan")):
        with pytest.raises(ValueError, match="rate must be between 0 and 1"):
            reference.dropout(np.ones(3), rate)


def test_dropout_behaves_like_the_keras_layer() -> None:
    x = np.full((1, 20_000), 2.0, dtype="float32")
    layer = keras.layers.Dropout(0.25, seed=3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    theirs = keras.ops.convert_to_numpy(layer(x, training=True))
    ours = reference.dropout(x, 0.25, rng=3)
    for out in (theirs, ours):  # different random draws, the same rule
        np.testing.assert_allclose(np.unique(out), [0.0, 2.0 / 0.75], rtol=1e-6)
        assert np.mean(out == 0) == pytest.approx(0.25, abs=0.02)


# --------------------------------------------------------------------------- batch normalisation


@pytest.fixture
def batch() -> np.ndarray:
    """Eight 5x5 maps with three channels, each channel with its own mean and spread."""
    rng = np.random.default_rng(11)
    return rng.normal(loc=[4.0, -2.0, 0.3], scale=[3.0, 0.5, 1.5], size=(8, 5, 5, 3))


def test_batch_norm_gives_each_channel_mean_zero_and_variance_one(batch: np.ndarray) -> None:
    out = reference.batch_norm(batch, eps=0.0)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0.0, atol=1e-12)
    np.testing.assert_allclose(out.var(axis=(0, 1, 2)), 1.0, rtol=1e-12)
    # With the default eps the variance is v / (v + eps), a hair under 1.
    v = batch.var(axis=(0, 1, 2))
    np.testing.assert_allclose(reference.batch_norm(batch).var(axis=(0, 1, 2)), v / (v + 1e-3))


def test_batch_norm_applies_gamma_and_beta_per_channel(batch: np.ndarray) -> None:
    gamma, beta = np.array([2.0, 0.5, 1.0]), np.array([1.0, -1.0, 0.0])
    out = reference.batch_norm(batch, gamma, beta, eps=0.0)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), beta, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), gamma, rtol=1e-12)


def test_batch_norm_matches_keras_in_training_mode(batch: np.ndarray) -> None:
    gamma, beta = np.array([1.5, 0.5, 2.0]), np.array([0.1, -0.2, 0.3])
    layer = keras.layers.BatchNormalization()
    layer.build(batch.shape)
    layer.gamma.assign(gamma)
    layer.beta.assign(beta)
    theirs = keras.ops.convert_to_numpy(layer(batch.astype("float32"), training=True))
    np.testing.assert_allclose(
        reference.batch_norm(batch, gamma, beta), theirs, rtol=1e-4, atol=1e-5
    )


def test_batch_norm_matches_keras_for_a_channels_first_axis(batch: np.ndarray) -> None:
    channels_first = np.moveaxis(batch, -1, 1)  # (N, C, H, W)
    layer = keras.layers.BatchNormalization(axis=1)
    theirs = keras.ops.convert_to_numpy(layer(channels_first.astype("float32"), training=True))
    np.testing.assert_allclose(
        reference.batch_norm(channels_first, axis=1), theirs, rtol=1e-4, atol=1e-5
    )


def test_batch_norm_with_moving_statistics_matches_keras_inference(batch: np.ndarray) -> None:
    layer = keras.layers.BatchNormalization(momentum=0.9)
    x = batch.astype("float32")
    for _ in range(3):  # three training steps move the moving statistics
        layer(x, training=True)
    moving_mean = keras.ops.convert_to_numpy(layer.moving_mean)
    moving_var = keras.ops.convert_to_numpy(layer.moving_variance)
    # moving = momentum * moving + (1 - momentum) * batch statistic, from 0 and 1.
    np.testing.assert_allclose(moving_mean, (1 - 0.9**3) * batch.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(
        moving_var, 0.9**3 + (1 - 0.9**3) * batch.var(axis=(0, 1, 2)), rtol=1e-5
    )
    theirs = keras.ops.convert_to_numpy(layer(x, training=False))
    ours = reference.batch_norm(batch, mean=moving_mean, variance=moving_var)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    # In inference mode a sample's output does not depend on the rest of the batch.
    np.testing.assert_allclose(
        reference.batch_norm(batch[:1], mean=moving_mean, variance=moving_var), ours[:1]
    )


def test_batch_norm_rejects_half_the_statistics_or_the_wrong_channel_count(
    batch: np.ndarray,
) -> None:
    with pytest.raises(ValueError, match="both mean and variance"):
        reference.batch_norm(batch, mean=np.zeros(3))
    with pytest.raises(ValueError, match=r"gamma .* one value per channel \(3\)"):
        reference.batch_norm(batch, gamma=np.ones(4))
