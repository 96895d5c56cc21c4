"""The model registry and the LeNet family: exact parameter counts and shapes."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from cnnlabs import models


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
