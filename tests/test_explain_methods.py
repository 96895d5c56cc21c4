"""The lab 09 methods: known answers on tiny hand-set models, every model kind, bad input."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers
from keras.src.utils import file_utils

from cnnlabs import arithmetic, explain, models


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No downloads; the Keras cache is a temporary folder."""

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"unexpected network access: {url}")

    monkeypatch.setattr(file_utils, "urlretrieve", refuse)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


# --------------------------------------------------------------------------- tiny models

SHAPE = (16, 16, 1)


def _cnn_layers() -> list[keras.layers.Layer]:
    return [layers.Conv2D(4, 3, activation="relu", name="c1"),
            layers.MaxPooling2D(name="p1"),
            layers.Conv2D(6, 3, padding="same", activation="relu", name="c2"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dense(3, activation="softmax", name="out")]


def tiny(kind: str) -> keras.Model:
    """The same small CNN as a Sequential (with or without keras.Input) or Functional model."""
    keras.utils.set_random_seed(1)
    if kind == "sequential_no_input":
        return keras.Sequential(_cnn_layers(), name=kind)
    if kind == "sequential_input":
        return keras.Sequential([keras.Input(SHAPE), *_cnn_layers()], name=kind)
    inputs = keras.Input(SHAPE)
    x = inputs
    for layer in _cnn_layers():
        x = layer(x)
    return keras.Model(inputs, x, name=kind)


@pytest.fixture(scope="module")
def nested() -> keras.Model:
    """A transfer model: a 32x32 MobileNetV2 with random weights nested as ``backbone``."""
    keras.utils.set_random_seed(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return models.transfer("mobilenetv2", (32, 32, 3), 3, weights=None)


KINDS = ("sequential_no_input", "sequential_input", "functional", "nested")


def model_and_images(kind: str, nested: keras.Model) -> tuple[keras.Model, np.ndarray, str]:
    """(model, two images, a 4-D layer name) for one model kind; Sequential ones fresh."""
    rng = np.random.default_rng(3)
    if kind == "nested":
        return nested, rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32"), \
            "block_3_expand_relu"
    return tiny(kind), rng.uniform(0, 1, (2, *SHAPE)).astype("float32"), "c2"


def _ok_map(maps: np.ndarray, shape: tuple[int, ...]) -> None:
    assert maps.shape == shape and maps.dtype == np.float32
    assert np.isfinite(maps).all()


METHODS: dict[str, Callable] = {
    "gradients": lambda m, x, lyr: explain.gradients(m, x),
    "saliency": lambda m, x, lyr: explain.saliency(m, x),
    "smoothgrad": lambda m, x, lyr: explain.smoothgrad(m, x, samples=3),
    "guided_backprop": lambda m, x, lyr: explain.guided_backprop(m, x),
    "guided_neuron": lambda m, x, lyr: explain.guided_backprop(m, x, layer=lyr, channel=1),
    "integrated_gradients": lambda m, x, lyr: explain.integrated_gradients(
        m, x, steps=8).attributions,
    "occlusion": lambda m, x, lyr: explain.occlusion(m, x, patch=8, stride=8),
    "gradcam": lambda m, x, lyr: explain.gradcam(m, x),
    "gradcam_inner": lambda m, x, lyr: explain.gradcam(m, x, layer=lyr),
    "gradcam_plus_plus": lambda m, x, lyr: explain.gradcam_plus_plus(m, x),
    "feature_maps": lambda m, x, lyr: explain.feature_maps(m, x, lyr),
    "embeddings": lambda m, x, lyr: explain.embeddings(m, x),
    "patches": lambda m, x, lyr: explain.max_activating_patches(m, x, lyr, 1, top=1).patches,
    "deepdream": lambda m, x, lyr: explain.deepdream(
        m, x[:1], lyr, steps=1, value_range=(0, 255) if x.max() > 1 else (0, 1)).images,
    "class_model": lambda m, x, lyr: explain.class_model(
        m, [0, 2], steps=1, value_range=(0, 255) if x.max() > 1 else (0, 1)).images,
}


def expected_shape(method: str, model: keras.Model, x: np.ndarray, layer: str) -> tuple:
    n, h, w, c = x.shape
    if method in ("gradients", "guided_backprop", "guided_neuron", "integrated_gradients"):
        return x.shape
    if method == "feature_maps":
        outer, inner = explain.find_layer(model, layer)
        return (n, *(inner or outer).output.shape[1:])
    if method == "embeddings":
        return (n, 1280 if model.name.startswith("transfer") else 6)
    if method == "patches":
        size = explain.receptive_field(model, layer).size
        return (1, *size, c)
    if method == "deepdream":
        return (1, h, w, c)
    if method == "class_model":
        return (2, h, w, c)
    return (n, h, w)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_on_every_model_kind(kind: str, method: str, nested: keras.Model) -> None:
    """Sequential (with and without keras.Input), Functional and nested models all work;
    the unbuilt Sequential is built on the images, never failing deep in Keras."""
    model, x, layer = model_and_images(kind, nested)
    if kind == "sequential_no_input":
        assert not model.built
    if method == "class_model" and kind == "sequential_no_input":
        model.build((None, *SHAPE))  # no images to build it on: the caller builds it
    out = METHODS[method](model, x, layer)
    _ok_map(out, expected_shape(method, model, x, layer))


def test_unbuilt_sequential_gets_a_clear_error_where_no_images_are_given() -> None:
    model = tiny("sequential_no_input")
    for call in (lambda: explain.filters(model), lambda: explain.conv_layers(model),
                 lambda: explain.class_model(model, 0),
                 lambda: explain.receptive_field(model, "c2")):
        with pytest.raises(ValueError, match=r"model.build\(\(None, height, width, channels|"
                                             r"image shape"):
            call()
    explain.saliency(model, np.zeros((1, *SHAPE), "float32"))  # builds it
    assert explain.filters(model).shape == (3, 3, 1, 4)
    assert explain.conv_layers(model) == ["c1", "c2"]


def test_gradcam_on_sequential_models_that_keras_cannot_give_inputs_for() -> None:
    """Keras 3: ``model.inputs`` / ``layer.output`` of a never-called Sequential raise; a
    Sequential called on a batch has a fixed batch size. Neither stops Grad-CAM."""
    fresh = tiny("sequential_no_input")
    with pytest.raises((AttributeError, ValueError)):
        _ = fresh.inputs
    x = np.random.default_rng(4).uniform(0, 1, (5, *SHAPE)).astype("float32")
    assert explain.gradcam(fresh, x).shape == (5, 16, 16)
    called = tiny("sequential_no_input")
    called(x[:2])  # built by a call on a batch of 2
    for maps in (explain.gradcam(called, x), explain.gradcam_plus_plus(called, x[:3])):
        assert maps.shape[1:] == (16, 16) and np.isfinite(maps).all()
    reference = tiny("functional")
    reference.set_weights(called.get_weights())
    np.testing.assert_allclose(explain.gradcam(called, x), explain.gradcam(reference, x),
                               atol=1e-6)


# --------------------------------------------------------------------------- known answers


def linear(kind: str, classes: int = 3, shape: tuple[int, ...] = (4, 5, 1), softmax: bool = False,
           weights: np.ndarray | None = None, bias: np.ndarray | None = None) -> keras.Model:
    """Dense on the flattened image: score_c = x . W[:, c] + b_c, W set by hand."""
    keras.utils.set_random_seed(5)
    size = int(np.prod(shape))
    head = [layers.Flatten(name="flat"),
            layers.Dense(classes, activation="softmax" if softmax else None, name="dense")]
    if kind == "sequential_no_input":
        model = keras.Sequential(head)
        model.build((None, *shape))
    elif kind == "sequential_input":
        model = keras.Sequential([keras.Input(shape), *head])
    else:
        inputs = keras.Input(shape)
        model = keras.Model(inputs, head[1](head[0](inputs)))
    rng = np.random.default_rng(6)
    w = rng.normal(size=(size, classes)) if weights is None else weights
    b = rng.normal(size=classes) if bias is None else bias
    model.get_layer("dense").set_weights([w.astype("float32"), np.asarray(b, "float32")])
    return model


@pytest.mark.parametrize("kind", KINDS[:3])
@pytest.mark.parametrize("softmax", [False, True])
def test_linear_model_saliency_is_its_absolute_weights(kind: str, softmax: bool) -> None:
    model = linear(kind, softmax=softmax)
    w = model.get_layer("dense").get_weights()[0]
    x = np.random.default_rng(7).uniform(0, 1, (3, 4, 5, 1)).astype("float32")
    for c in range(3):
        expected = np.abs(w[:, c]).reshape(4, 5)
        raw = explain.saliency(model, x, class_index=c, normalise=False)
        np.testing.assert_allclose(raw, np.broadcast_to(expected, (3, 4, 5)), rtol=1e-5)
        np.testing.assert_allclose(explain.saliency(model, x, class_index=c)[0],
                                   expected / expected.max(), rtol=1e-5)
        np.testing.assert_allclose(explain.gradients(model, x, class_index=c)[1, ..., 0],
                                   w[:, c].reshape(4, 5), rtol=1e-5)


def test_smoothgrad_without_noise_is_saliency() -> None:
    model = tiny("functional")
    x = np.random.default_rng(8).uniform(0, 1, (3, *SHAPE)).astype("float32")
    np.testing.assert_allclose(explain.smoothgrad(model, x, samples=4, noise=0.0),
                               explain.saliency(model, x), rtol=1e-5, atol=1e-6)
    noisy = explain.smoothgrad(model, x, samples=4, noise=0.3)
    assert not np.allclose(noisy, explain.saliency(model, x), atol=1e-3)
    np.testing.assert_array_equal(noisy, explain.smoothgrad(model, x, samples=4, noise=0.3))


RELU_STYLES = {
    "dense_activation": lambda: [layers.Dense(3, activation="relu", name="hidden")],
    "activation_layer": lambda: [layers.Dense(3, name="hidden"), layers.Activation("relu")],
    "relu_layer": lambda: [layers.Dense(3, name="hidden"), layers.ReLU()],
}


@pytest.mark.parametrize("style", sorted(RELU_STYLES))
def test_guided_backprop_zeroes_negative_gradients_at_each_relu(style: str) -> None:
    """x (1x3 image) -> Dense 3 + ReLU -> Dense 2: the known vanilla and guided gradients."""
    w1 = np.array([[1.0, -1.0, 0.5], [0.5, 2.0, -1.0], [-1.0, 0.5, 1.0]])
    b1 = np.array([0.1, 0.1, -3.0])  # unit 2 is inactive for x below
    w2 = np.array([[2.0, -1.0], [-3.0, 1.0], [1.0, 1.0]])
    x = np.array([1.0, 2.0, 0.5]).reshape(1, 1, 3, 1).astype("float32")
    pre = x.reshape(3) @ w1 + b1
    assert list(pre > 0) == [True, True, False]
    model = keras.Sequential([keras.Input((1, 3, 1)), layers.Flatten(), *RELU_STYLES[style](),
                              layers.Dense(2, name="out")])
    model.get_layer("hidden").set_weights([w1.astype("float32"), b1.astype("float32")])
    model.get_layer("out").set_weights([w2.astype("float32"), np.zeros(2, "float32")])
    for c in (0, 1):
        upstream = w2[:, c] * (pre > 0)  # d score / d ReLU input
        vanilla = w1 @ upstream
        guided = w1 @ (upstream * (upstream > 0))
        np.testing.assert_allclose(explain.gradients(model, x, c).reshape(3), vanilla,
                                   rtol=1e-6)
        np.testing.assert_allclose(explain.guided_backprop(model, x, c).reshape(3), guided,
                                   rtol=1e-6)
    assert not np.allclose(w1 @ (w2[:, 0] * (pre > 0)), w1 @ np.maximum(w2[:, 0] * (pre > 0), 0))
    # The model is left as it was: plain gradients again, the ReLU in place.
    np.testing.assert_allclose(explain.gradients(model, x, 0).reshape(3),
                               w1 @ (w2[:, 0] * (pre > 0)), rtol=1e-6)
    assert "call" not in vars(model.layers[2])


def test_guided_backprop_of_a_neuron_ignores_other_channels() -> None:
    model = tiny("functional")
    x = np.random.default_rng(9).uniform(0, 1, (2, *SHAPE)).astype("float32")
    a = explain.guided_backprop(model, x, layer="c1", channel=0)
    b = explain.guided_backprop(model, x, layer="c1", channel=1)
    assert not np.allclose(a, b)
    # A c1 unit sees a 3x3 square: the gradient of one neuron lives in one 3x3 square.
    for g in a:
        rows, cols = np.nonzero(g[..., 0])
        assert rows.size and rows.max() - rows.min() < 3 and cols.max() - cols.min() < 3


@pytest.mark.parametrize("kind", KINDS[:3])
def test_integrated_gradients_of_a_linear_model_are_weights_times_difference(kind: str) -> None:
    model = linear(kind)
    w = model.get_layer("dense").get_weights()[0]
    x = np.random.default_rng(10).uniform(0, 1, (2, 4, 5, 1)).astype("float32")
    result = explain.integrated_gradients(model, x, class_index=2, baseline=0.25, steps=4)
    np.testing.assert_allclose(result.attributions, w[:, 2].reshape(4, 5, 1) * (x - 0.25),
                               rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(result.gaps, 0.0, atol=1e-4)
    assert result.attributions.shape == x.shape and result.steps == 4


def test_integrated_gradients_completeness_within_one_percent() -> None:
    """Attributions sum to f(x) - f(baseline): relative error under 1% with 128 steps on
    a small smooth (tanh) model; a cruder integral does worse."""
    keras.utils.set_random_seed(11)
    inputs = keras.Input(SHAPE)
    h = layers.Conv2D(6, 3, activation="tanh")(inputs)
    h = layers.Conv2D(6, 3, strides=2, activation="tanh")(h)
    h = layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, layers.Dense(3, activation="softmax")(h))
    x = np.random.default_rng(12).uniform(0, 1, (4, *SHAPE)).astype("float32")
    fine = explain.integrated_gradients(model, x, steps=128)
    assert (fine.relative_gaps < 0.01).all(), fine.relative_gaps
    np.testing.assert_allclose(fine.attributions.sum(axis=(1, 2, 3)) - fine.gaps,
                               fine.scores - fine.baseline_scores, rtol=1e-4, atol=1e-5)
    rough = explain.integrated_gradients(model, x, steps=1)
    assert np.abs(rough.gaps).sum() > np.abs(fine.gaps).sum()
    assert fine.maps().shape == (4, 16, 16) and fine.maps().max() == pytest.approx(1.0)


def test_integrated_gradients_scores_are_the_class_logits() -> None:
    model = linear("functional", softmax=True)
    w, b = model.get_layer("dense").get_weights()
    x = np.random.default_rng(13).uniform(0, 1, (2, 4, 5, 1)).astype("float32")
    result = explain.integrated_gradients(model, x, class_index=[0, 1], steps=2)
    np.testing.assert_allclose(result.scores, [x[0].ravel() @ w[:, 0] + b[0],
                                               x[1].ravel() @ w[:, 1] + b[1]], rtol=1e-5)
    np.testing.assert_allclose(result.baseline_scores, b[:2], rtol=1e-5)


def one_pixel_model(sign: float = 1.0) -> tuple[keras.Model, tuple[int, int]]:
    """Class 0's score depends on pixel (5, 7) of a 12x12 image only."""
    weights = np.zeros((144, 2))
    where = (5, 7)
    weights[where[0] * 12 + where[1], 0] = 3.0 * sign
    return linear("functional", classes=2, shape=(12, 12, 1), weights=weights,
                  bias=np.zeros(2)), where


def test_occlusion_finds_the_only_informative_pixel() -> None:
    model, where = one_pixel_model()
    x = np.random.default_rng(14).uniform(0.5, 1.0, (2, 12, 12, 1)).astype("float32")
    exact = explain.occlusion(model, x, class_index=0, patch=1, stride=1)
    expected = np.zeros((2, 12, 12), "float32")
    expected[:, where[0], where[1]] = 3.0 * x[:, where[0], where[1], 0]
    np.testing.assert_allclose(exact, expected, atol=1e-5)
    for patch, stride in ((3, 1), (4, 2), (5, 3)):
        maps = explain.occlusion(model, x, class_index=0, patch=patch, stride=stride)
        for m, image in zip(maps, x, strict=True):
            # The pixel gets the whole drop; with stride 1 it alone does (a coarser stride
            # cannot tell it from the neighbours that share all its squares).
            assert m[where] == pytest.approx(m.max()) == pytest.approx(3.0 * image[where][0])
            assert (m >= 0).all()
            if stride == 1:
                assert np.unravel_index(m.argmax(), m.shape) == where
                assert (m < m.max()).sum() == m.size - 1
    # Class 1 ignores every pixel: nothing to see.
    np.testing.assert_allclose(explain.occlusion(model, x, class_index=1, patch=3), 0.0,
                               atol=1e-6)
    # A pixel that argues against the class: hiding it raises the score.
    against, _ = one_pixel_model(sign=-1.0)
    m = explain.occlusion(against, x, class_index=0, patch=3, stride=1)[0]
    assert np.unravel_index(m.argmin(), m.shape) == where and m.min() < 0


def test_occlusion_with_probabilities_finds_the_pixel_too() -> None:
    weights = np.zeros((144, 2))
    weights[5 * 12 + 7, 0] = 3.0
    model = linear("functional", classes=2, shape=(12, 12, 1), weights=weights,
                   bias=np.zeros(2), softmax=True)
    x = np.random.default_rng(15).uniform(0.5, 1.0, (1, 12, 12, 1)).astype("float32")
    m = explain.occlusion(model, x, class_index=0, patch=3, stride=1, probabilities=True)[0]
    assert np.unravel_index(m.argmax(), m.shape) == (5, 7)
    assert 0 < m.max() < 1  # a drop in probability


def gap_model(dense_weights: np.ndarray) -> keras.Model:
    """Conv 3x3 same (3 channels) -> GAP -> Dense 2 (no softmax): scores linear in the maps."""
    keras.utils.set_random_seed(16)
    inputs = keras.Input((8, 8, 1))
    h = layers.Conv2D(3, 3, padding="same", activation="relu", name="conv")(inputs)
    h = layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, layers.Dense(2, name="dense")(h))
    model.get_layer("dense").set_weights([dense_weights.astype("float32"),
                                          np.zeros(2, "float32")])
    return model


def test_gradcam_plus_plus_equals_gradcam_when_one_channel_carries_the_gradient() -> None:
    weights = np.zeros((3, 2))
    weights[1, 0] = 0.7
    model = gap_model(weights)
    x = np.random.default_rng(17).uniform(0, 1, (3, 8, 8, 1)).astype("float32")
    channel = explain.feature_maps(model, x, "conv")[..., 1]
    expected = explain.normalise_maps(channel)
    cam = explain.gradcam(model, x, class_index=0, layer="conv")
    plus = explain.gradcam_plus_plus(model, x, class_index=0, layer="conv")
    np.testing.assert_allclose(cam, expected, atol=1e-5)
    np.testing.assert_allclose(plus, expected, atol=1e-5)


def test_gradcam_plus_plus_matches_its_closed_form_for_pooled_linear_scores() -> None:
    """With score = sum_k w_k mean(A_k), g = w_k / Z everywhere (Z positions), so
    alpha = 1 / (2 + S_k g) with S_k = sum(A_k) and weight_k = Z relu(g) alpha."""
    weights = np.array([[0.9, 0.0], [-0.5, 0.0], [0.4, 0.0]])
    model = gap_model(weights)
    x = np.random.default_rng(18).uniform(0, 1, (2, 8, 8, 1)).astype("float32")
    a = explain.feature_maps(model, x, "conv").astype("float64")
    z = 64.0
    g = weights[:, 0] / z
    s = a.sum(axis=(1, 2))  # (N, K)
    w_plus = z * np.maximum(g, 0) / (2.0 + s * g)
    expected = explain.normalise_maps(np.maximum((a * w_plus[:, None, None, :]).sum(-1), 0))
    np.testing.assert_allclose(explain.gradcam_plus_plus(model, x, 0, "conv"), expected,
                               atol=1e-5)
    grad_cam = explain.normalise_maps(np.maximum((a * g).sum(-1), 0))
    np.testing.assert_allclose(explain.gradcam(model, x, 0, "conv"), grad_cam, atol=1e-5)
    assert not np.allclose(expected, grad_cam, atol=1e-3)


# --------------------------------------------------------------------------- layers


def test_receptive_fields_come_from_arithmetic() -> None:
    lenet = models.build("lenet", (28, 28, 1), 10)
    conv5, pool2 = (5, 1), (2, 2)
    for name, stack in (("block1_conv", [conv5]), ("block1_pool", [conv5, pool2]),
                        ("block2_relu", [conv5, pool2, conv5]),
                        ("block2_pool", [conv5, pool2, conv5, pool2])):
        field = explain.receptive_field(lenet, name)
        rf = arithmetic.receptive_field(stack)[-1]
        assert field.size == (rf.size, rf.size) and field.jump == (rf.jump, rf.jump)
    assert explain.receptive_field(lenet, "block2_relu").size == (14, 14)
    assert explain.receptive_field(lenet, "block1_conv").offset == (-2, -2)  # 'same': 2 zeros
    vgg = models.build("minivggnet", (32, 32, 3), 10)
    rf = arithmetic.receptive_field([(3, 1), (3, 1), (2, 2), (3, 1), (3, 1)])[-1]
    assert explain.receptive_field(vgg, "block2_b_relu").size == (rf.size, rf.size) == (14, 14)
    with pytest.raises(ValueError, match="'fc1' has output shape .* not 4-D"):
        explain.receptive_field(lenet, "fc1")
    with pytest.raises(ValueError, match="block1_conv"):
        explain.receptive_field(lenet, "conv9")


def test_receptive_field_of_a_residual_network_takes_the_longest_path() -> None:
    """The main path of resnet_small (a 3x3 stem, 3 x 3 bottleneck modules, each with one
    3x3 convolution; the first of stages 2 and 3 with stride 2) beats the shortcuts."""
    model = models.build("resnet_small", (32, 32, 3), 10)
    layer = explain.find_layer(model)[0].name
    field = explain.receptive_field(model, layer)
    stack = [(3, 1)] * 4 + [(3, 2)] + [(3, 1)] * 2 + [(3, 2)] + [(3, 1)] * 2
    rf = arithmetic.receptive_field(stack)[-1]
    assert field.size == (rf.size, rf.size) == (39, 39) and field.jump == (rf.jump, rf.jump)
    assert len(field.layers) == len(set(field.layers))


def test_max_activating_patches_have_the_receptive_field_and_the_top_activation() -> None:
    keras.utils.set_random_seed(19)
    model = models.build("lenet", (28, 28, 1), 10)
    x = np.random.default_rng(20).uniform(0, 1, (40, 28, 28, 1)).astype("float32")
    size = arithmetic.receptive_field([(5, 1), (2, 2), (5, 1)])[-1].size
    result = explain.max_activating_patches(model, x, "block2_relu", 7, top=5)
    assert result.patches.shape == (5, size, size, 1)
    maps = explain.feature_maps(model, x, "block2_relu")[..., 7]
    assert result.activations[0] == pytest.approx(float(maps.max()))
    assert list(result.activations) == sorted(result.activations, reverse=True)
    assert result.image_indices[0] == int(maps.reshape(40, -1).max(axis=1).argmax())
    for k in range(5):
        i, (r, c) = result.image_indices[k], result.positions[k]
        assert maps[i, r, c] == pytest.approx(result.activations[k])
        top, left, bottom, right = result.boxes[k]
        assert (bottom - top, right - left) == (size, size)
        assert (top, left) == (-6 + 2 * r, -6 + 2 * c)  # offset -2 - 2*2 zeros, jump 2
        inside = x[i, max(top, 0):bottom, max(left, 0):right]
        np.testing.assert_array_equal(
            result.patches[k, max(top, 0) - top:max(top, 0) - top + inside.shape[0],
                           max(left, 0) - left:max(left, 0) - left + inside.shape[1]], inside)
    assert len(explain.max_activating_patches(model, x[:3], "block2_relu", 0, top=9).patches) == 3


def test_filters_and_feature_maps_are_the_layers_own() -> None:
    model = tiny("functional")
    kernel = model.get_layer("c1").get_weights()[0]
    np.testing.assert_array_equal(explain.filters(model), kernel)
    np.testing.assert_array_equal(explain.filters(model, "c2"),
                                  model.get_layer("c2").get_weights()[0])
    x = np.random.default_rng(21).uniform(0, 1, (2, *SHAPE)).astype("float32")
    maps = explain.feature_maps(model, x)  # the first convolution
    expected = np.maximum(keras.ops.convert_to_numpy(keras.ops.conv(x, kernel))
                          + model.get_layer("c1").get_weights()[1], 0)
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="c1, c2"):
        explain.filters(model, "gap")


def test_embeddings_are_the_last_hidden_layer() -> None:
    model = tiny("functional")
    x = np.random.default_rng(22).uniform(0, 1, (3, *SHAPE)).astype("float32")
    emb = explain.embeddings(model, x)
    pooled = explain.feature_maps(model, x, "c2").mean(axis=(1, 2))
    np.testing.assert_allclose(emb, pooled, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(explain.embeddings(model, x, layer="c2"),
                               explain.feature_maps(model, x, "c2").reshape(3, -1), rtol=1e-6)


def test_nearest_neighbour_of_a_gallery_image_is_itself_at_distance_zero() -> None:
    rng = np.random.default_rng(23)
    gallery = rng.uniform(0, 1, (50, 8, 8, 3)).astype("float32")
    found = explain.nearest_neighbours(gallery[[4, 17]], gallery, k=3, chunk=7)
    assert list(found.indices[:, 0]) == [4, 17]
    assert (found.distances[:, 0] == 0.0).all()
    assert (np.diff(found.distances, axis=1) >= 0).all()
    points = np.array([[0.0], [10.0], [3.0], [-2.0], [3.0]])
    near = explain.nearest_neighbours(np.array([2.5]), points, k=4)
    assert near.indices.tolist() == [[2, 4, 0, 3]]
    np.testing.assert_allclose(near.distances, [[0.5, 0.5, 2.5, 4.5]])


def test_pca_map_separates_well_separated_clusters() -> None:
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(24)
    centres = rng.normal(0, 10, (3, 40))
    labels = np.repeat(np.arange(3), 15)
    features = centres[labels] + rng.normal(0, 1, (45, 40))
    for method in ("pca", "tsne"):
        points = explain.embed_2d(features, method, seed=0, max_iter=250)
        assert points.shape == (45, 2)
        score = LogisticRegression(max_iter=1000).fit(points, labels).score(points, labels)
        assert score > 0.95, (method, score)
    with pytest.raises(ValueError, match="at least 2"):
        explain.embed_2d(features[:1])
    with pytest.raises(ValueError, match="method"):
        explain.embed_2d(features, "umap")


def test_class_model_and_deepdream_raise_their_objectives() -> None:
    model = tiny("functional")
    result = explain.class_model(model, [0, 1, 2], steps=30)
    assert result.images.shape == (3, *SHAPE) and result.objective.shape == (31, 3)
    assert (result.objective[-1] > result.objective[0]).all()
    assert result.images.min() >= 0.0 and result.images.max() <= 1.0
    one = explain.class_model(model, 1, steps=5, jitter=0)
    assert one.images.shape == (1, *SHAPE)
    x = np.random.default_rng(25).uniform(0, 1, (2, *SHAPE)).astype("float32")
    dream = explain.deepdream(model, x, "c2", steps=10)
    assert dream.images.shape == x.shape and (dream.objective[-1] > dream.objective[0]).all()
    assert not np.allclose(dream.images, x)


def test_class_model_of_a_linear_model_follows_the_weights() -> None:
    """score_c = w . x: ascent brightens the pixels with positive weight, darkens the rest."""
    model = linear("functional", shape=(4, 5, 1))
    w = model.get_layer("dense").get_weights()[0][:, 0].reshape(4, 5)
    image = explain.class_model(model, 0, steps=60, l2=0.0, jitter=0).images[0, ..., 0]
    assert ((image > 0.5) == (w > 0)).all()


# --------------------------------------------------------------------------- bad input


def test_bad_input_gets_clear_errors() -> None:
    model = tiny("functional")
    x = np.random.default_rng(26).uniform(0, 1, (2, *SHAPE)).astype("float32")
    with pytest.raises(ValueError, match=r"takes images shaped \(16, 16, 1\)"):
        explain.saliency(model, np.zeros((2, 28, 28, 1), "float32"))
    with pytest.raises(ValueError, match="NaN"):
        explain.gradcam(model, np.where(x == x.max(), np.nan, x))
    with pytest.raises(ValueError, match="outside 0..2"):
        explain.integrated_gradients(model, x, class_index=3)
    with pytest.raises(ValueError, match="class_index"):
        explain.occlusion(model, x, class_index=[0, 1, 2])
    with pytest.raises(ValueError, match="c1, p1, c2"):
        explain.feature_maps(model, x, "conv9")
    with pytest.raises(ValueError, match="c1, p1, c2"):
        explain.max_activating_patches(model, x, "conv9", 0)
    with pytest.raises(ValueError, match="0..5"):
        explain.max_activating_patches(model, x, "c2", 6)
    with pytest.raises(ValueError, match="both layer and channel"):
        explain.guided_backprop(model, x, layer="c2")
    with pytest.raises(ValueError, match="larger than the images"):
        explain.occlusion(model, x, patch=20)
    with pytest.raises(ValueError, match="baseline"):
        explain.integrated_gradients(model, x, baseline=np.zeros((3, 3)))
    with pytest.raises(ValueError, match="steps"):
        explain.integrated_gradients(model, x, steps=0)
    with pytest.raises(ValueError, match="k=51"):
        explain.nearest_neighbours(x, np.zeros((50, *SHAPE)), k=51)
    with pytest.raises(ValueError, match="empty"):
        explain.nearest_neighbours(x, np.zeros((0, *SHAPE)))
    with pytest.raises(ValueError, match="differ in shape"):
        explain.nearest_neighbours(x, np.zeros((5, 8, 8, 1)))
    with pytest.raises(TypeError, match="keras.Model"):
        explain.saliency("model", x)


def test_unknown_layers_of_a_nested_model_list_the_backbone_layers(nested: keras.Model) -> None:
    x = np.zeros((1, 32, 32, 3), "float32")
    for call in (lambda: explain.feature_maps(nested, x, "block_99_relu"),
                 lambda: explain.gradcam_plus_plus(nested, x, layer="block_99_relu"),
                 lambda: explain.guided_backprop(nested, x, layer="block_99_relu", channel=0)):
        with pytest.raises(ValueError, match="block_99_relu.*out_relu"):
            call()
    with pytest.raises(ValueError, match="outside 0..2"):
        explain.smoothgrad(nested, x, class_index=3)
    with pytest.raises(ValueError, match=r"takes images shaped \(32, 32, 3\)"):
        explain.occlusion(nested, np.zeros((1, 32, 32, 1), "float32"))


def test_one_image_and_a_batch_without_channel_axis_are_accepted() -> None:
    model = tiny("functional")
    x = np.random.default_rng(27).uniform(0, 1, (3, *SHAPE)).astype("float32")
    one = explain.saliency(model, x[0])
    assert one.shape == (1, 16, 16)
    np.testing.assert_allclose(one[0], explain.saliency(model, x)[0], atol=1e-6)
    np.testing.assert_allclose(explain.saliency(model, x[..., 0]), explain.saliency(model, x),
                               atol=1e-6)
    np.testing.assert_allclose(explain.saliency(model, x[0, ..., 0]), one, atol=1e-6)
    unbuilt = tiny("sequential_no_input")
    with pytest.raises(ValueError, match=r"could be one image or a batch: pass \(N, H, W, C\)"):
        explain.saliency(unbuilt, x[..., 0])
    assert not unbuilt.built  # not built for a shape it was never meant to take
    assert explain.saliency(unbuilt, x[0]).shape == (1, 16, 16)


EMPTY = {
    "gradients": (lambda m, x: explain.gradients(m, x), (0, 16, 16, 1)),
    "saliency": (lambda m, x: explain.saliency(m, x), (0, 16, 16)),
    "smoothgrad": (lambda m, x: explain.smoothgrad(m, x), (0, 16, 16)),
    "guided": (lambda m, x: explain.guided_backprop(m, x), (0, 16, 16, 1)),
    "ig": (lambda m, x: explain.integrated_gradients(m, x).attributions, (0, 16, 16, 1)),
    "occlusion": (lambda m, x: explain.occlusion(m, x), (0, 16, 16)),
    "gradcam": (lambda m, x: explain.gradcam(m, x), (0, 16, 16)),
    "gradcam++": (lambda m, x: explain.gradcam_plus_plus(m, x), (0, 16, 16)),
    "feature_maps": (lambda m, x: explain.feature_maps(m, x, "c2"), (0, 7, 7, 6)),
    "embeddings": (lambda m, x: explain.embeddings(m, x), (0, 6)),
    "patches": (lambda m, x: explain.max_activating_patches(m, x, "c2", 0).patches,
                (0, 8, 8, 1)),
    "deepdream": (lambda m, x: explain.deepdream(m, x, "c2", steps=2).images, (0, 16, 16, 1)),
}


@pytest.mark.parametrize("method", sorted(EMPTY))
@pytest.mark.parametrize("empty", ["array", "list"])
def test_an_empty_batch_gives_an_empty_result(method: str, empty: str) -> None:
    model = tiny("functional")
    x = np.zeros((0, *SHAPE), "float32") if empty == "array" else []
    call, shape = EMPTY[method]
    assert call(model, x).shape == shape
    neighbours = explain.nearest_neighbours(np.zeros((0, 4)), np.ones((3, 4)), k=2)
    assert neighbours.indices.shape == (0, 2)


# --------------------------------------------------------------------------- figures


def test_figures(tmp_path: Path) -> None:
    from cnnlabs import labs

    model = tiny("functional")
    x = np.random.default_rng(28).uniform(0, 1, (2, *SHAPE)).astype("float32")
    patches = explain.max_activating_patches(model, x, "c2", 0, top=2)
    neighbours = explain.nearest_neighbours(x, x, k=2)
    ig = explain.integrated_gradients(model, x, steps=4)
    figures = {
        "filters": (explain.plot_filters(model), 4),
        "deeper_filters": (explain.plot_filters(model, "c2", max_filters=3, max_channels=2), 6),
        "feature_maps": (explain.plot_feature_maps(explain.feature_maps(model, x[:1], "c2"),
                                                   x[0], max_channels=4, cols=5), 5),
        "neighbours": (explain.plot_neighbours(x, x, neighbours, query_labels=[0, 1],
                                               gallery_labels=[0, 1]), 6),
        "patches": (explain.plot_patches(patches), 2),
        "attributions": (explain.plot_attributions(x, {
            "saliency": explain.saliency(model, x), "guided": explain.guided_backprop(model, x),
            "occlusion": explain.occlusion(model, x), "IG": ig.maps()}, labels=[0, 1],
            alpha=0.5), 10),
        "embedding": (explain.plot_embedding(np.random.default_rng(0).normal(size=(20, 2)),
                                             np.arange(20) % 3, class_names=list("abc")), 1),
        "images": (explain.plot_images(explain.class_model(model, [0, 1], steps=2).images,
                                       ["0", "1"]), 2),
    }
    for name, (fig, panels) in figures.items():
        shown = [ax for ax in fig.axes if ax.images or ax.collections]
        assert len(shown) == panels, name
    path = tmp_path / "figs" / "filters.png"
    explain.plot_filters(model, path=path)
    assert path.is_file() and path.stat().st_size > 0
    assert {"explain.plot_filters", "explain.plot_attributions", "explain.plot_patches",
            "explain.plot_embedding"} <= labs._figure_functions()
    with pytest.raises(ValueError, match="2 maps for 3 images"):
        explain.plot_attributions(np.zeros((3, *SHAPE)), {"saliency": np.zeros((2, 16, 16))})
    with pytest.raises(ValueError, match=r"\(h, w, C\)"):
        explain.plot_feature_maps(np.zeros((2, 4, 4, 3)))
