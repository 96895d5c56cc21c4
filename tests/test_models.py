"""The model registry and the LeNet family: exact parameter counts and shapes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnnlabs import models


@pytest.mark.parametrize(("shape", "classes", "message"), [
    ((32, 32, 3), 1, "classes must be a whole number of 2 or more"),
    ((32, 32, 3), 2.7, "classes must be a whole number of 2 or more"),
    ((32, 32, 3), True, "classes must be a whole number of 2 or more"),
    ((28.9, 28, 1), 10, "input_shape must be whole numbers"),
])
def test_build_refuses_one_class_and_fractional_sizes(shape, classes, message):
    # A one-unit softmax always outputs 1.0 (loss 0, nothing learns); int() would
    # silently turn 2.7 classes into 2 and a 28.9-pixel side into 28.
    with pytest.raises(ValueError, match=message):
        models.build("minivggnet", shape, classes)
    assert models.build("minivggnet", (32, 32, np.int64(3)), np.int64(2)).output.shape[-1] == 2


@pytest.mark.parametrize(
    ("name", "shape", "classes", "params"),
    [
        ("lenet", (28, 28, 1), 10, 1_256_080),
        ("lenet", (32, 32, 3), 10, 1_632_080),
        ("lenet5", (32, 32, 1), 10, 61_706),
        ("lenet5", (28, 28, 1), 10, 61_706),
    ],
)
def test_parameter_counts_are_exact(name, shape, classes, params):
    model = models.build(name, shape, classes)
    assert model.count_params() == params
    assert model.output_shape == (None, classes)


def test_lenet_layer_by_layer_counts_match_the_book_table():
    model = models.build("lenet", (28, 28, 1), 10)
    counted = [(cls, shape, n) for cls, shape, n in models.architecture(model) if n]
    assert counted == [
        ("Conv2D", (28, 28, 20), 520),
        ("Conv2D", (14, 14, 50), 25_050),
        ("Dense", (500,), 1_225_500),
        ("Dense", (10,), 5_010),
    ]


def test_lenet5_layer_by_layer_counts_match_the_1998_table():
    model = models.build("lenet5", (32, 32, 1), 10)
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["c1_s2_conv"] == (28, 28, 6)
    assert shapes["c1_s2_pool"] == (14, 14, 6)
    assert shapes["c3_s4_conv"] == (10, 10, 16)
    assert shapes["c3_s4_pool"] == (5, 5, 16)
    assert shapes["c5"] == (1, 1, 120)
    counts = [n for _, _, n in models.architecture(model) if n]
    assert counts == [156, 2_416, 48_120, 10_164, 850]


def test_softmax_outputs_are_probabilities():
    model = models.build("lenet", (28, 28, 1), 10)
    probs = model.predict(np.random.default_rng(0).random((3, 28, 28, 1)), verbose=0)
    assert probs.shape == (3, 10)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)


def test_unknown_model_lists_the_valid_names():
    with pytest.raises(ValueError, match=r"Unknown model 'lenet9'.*lenet, lenet5"):
        models.build("lenet9", (28, 28, 1), 10)


def test_lenet5_rejects_sizes_it_is_not_defined_on():
    with pytest.raises(ValueError, match="at least 28x28"):
        models.build("lenet5", (16, 16, 1), 10)
    with pytest.raises(ValueError, match="defined on 32x32"):
        models.build("lenet5", (64, 64, 1), 10)


def test_too_small_input_names_the_minimum_size():
    with pytest.raises(ValueError, match="at least 4x4"):
        models.build("lenet", (3, 3, 1), 10)


def test_bad_input_shape_is_rejected():
    with pytest.raises(ValueError, match=r"\(height, width, channels\)"):
        models.build("lenet", (28, 28), 10)


def test_compare_finds_no_difference_for_a_hand_built_lenet():
    layers = keras.layers
    inputs = keras.Input((28, 28, 1))
    x = layers.Conv2D(20, 5, padding="same")(inputs)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(2, 2)(x)
    x = layers.Conv2D(50, 5, padding="same")(x)
    x = layers.Activation("relu")(x)
    x = layers.MaxPooling2D(2, 2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(500, activation="relu")(x)
    outputs = layers.Dense(10, activation="softmax")(x)
    by_hand = keras.Model(inputs, outputs)
    assert models.compare(by_hand, models.build("lenet", (28, 28, 1), 10)) == []


def test_compare_reports_a_wrong_layer():
    reference = models.build("lenet", (28, 28, 1), 10)
    other = models.build("lenet", (28, 28, 1), 9)
    problems = models.compare(other, reference)
    assert any("layer" in p for p in problems)
    assert any("parameters" in p for p in problems)


def _constant_classifier(probabilities, shape=(8, 8, 1), name="const"):
    """A model that outputs ``probabilities`` whatever the image (zero kernel, fixed bias)."""
    inputs = keras.Input(shape)
    x = keras.layers.Flatten()(inputs)
    logits = keras.layers.Dense(len(probabilities), kernel_initializer="zeros",
                                bias_initializer=keras.initializers.Constant(
                                    np.log(probabilities)))(x)
    return keras.Model(inputs, keras.layers.Softmax()(logits), name=name)


def test_ensemble_outputs_the_mean_of_its_members(tmp_path):
    members = [_constant_classifier(p) for p in ([0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.2, 0.8])]
    model = models.ensemble(members)
    x = np.random.default_rng(0).random((3, 8, 8, 1)).astype("float32")
    expected = np.array([[0.425, 0.575]] * 3)  # the mean of the four rows above
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5)
    assert model.count_params() == sum(m.count_params() for m in members)
    model.save(tmp_path / "ensemble.keras")
    loaded = keras.saving.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-5)


def test_ensemble_shares_weights_with_same_named_members():
    a = models.build("resnet_small", (28, 28, 1), 2)
    b = models.build("resnet_small", (28, 28, 1), 2)
    assert a.name == b.name  # copies of one architecture, side by side
    model = models.ensemble([a, b])
    x = np.random.default_rng(1).random((4, 28, 28, 1)).astype("float32")
    mean = (a.predict(x, verbose=0) + b.predict(x, verbose=0)) / 2
    np.testing.assert_allclose(model.predict(x, verbose=0), mean, rtol=1e-5, atol=1e-7)
    kernel = next(w for w in a.weights if "kernel" in w.path)
    kernel.assign(np.zeros(kernel.shape))  # a change to a member is a change to the ensemble
    mean = (a.predict(x, verbose=0) + b.predict(x, verbose=0)) / 2
    np.testing.assert_allclose(model.predict(x, verbose=0), mean, rtol=1e-5, atol=1e-7)


def test_ensemble_rejects_bad_members():
    two = _constant_classifier([0.5, 0.5])
    with pytest.raises(ValueError, match="at least two"):
        models.ensemble([two])
    with pytest.raises(ValueError, match="output shape"):
        models.ensemble([two, _constant_classifier([0.2, 0.3, 0.5])])
    with pytest.raises(ValueError, match="input shape"):
        models.ensemble([two, _constant_classifier([0.5, 0.5], shape=(9, 9, 1))])
    x1, x2 = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    pair = keras.Model([x1, x2], keras.layers.Add()([x1, x2]))
    with pytest.raises(ValueError, match="2 inputs and 1 outputs"):
        models.ensemble([two, pair])
