"""Grad-CAM and saliency: known answers on a synthetic task, shapes, ranges, errors."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from keras import layers
from keras.src.utils import file_utils

from cnnlabs import explain, models

SIZE = 32
SQUARE = (slice(2, 12), slice(2, 12))  # class 1: a bright square in the top-left corner


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No downloads; the Keras cache is a temporary folder."""

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"unexpected network access: {url}")

    monkeypatch.setattr(file_utils, "urlretrieve", refuse)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))


def synthetic(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 0.3, (n, SIZE, SIZE, 1)).astype("float32")
    y = np.arange(n) % 2
    x[y == 1, SQUARE[0], SQUARE[1], 0] += 0.7
    return x, y


@pytest.fixture(scope="module")
def square_model() -> keras.Model:
    """A small CNN trained to tell images with the top-left square (class 1) apart."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    x = layers.MaxPooling2D(name="pool1")(x)
    x = layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = layers.Dense(2, activation="softmax", name="predictions")(x)
    model = keras.Model(inputs, outputs, name="square")
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    x_train, y_train = synthetic(200, 0)
    model.fit(x_train, y_train, batch_size=32, epochs=8, verbose=0)
    x_test, y_test = synthetic(20, 1)
    assert model.evaluate(x_test, y_test, verbose=0)[1] == 1.0
    return model


def inside_over_outside(maps: np.ndarray) -> float:
    mask = np.zeros((SIZE, SIZE), bool)
    mask[SQUARE] = True
    return float(maps[:, mask].mean() / max(maps[:, ~mask].mean(), 1e-8))


def test_gradcam_finds_the_square(square_model: keras.Model) -> None:
    x, y = synthetic(10, 2)
    heat = explain.gradcam(square_model, x[y == 1])
    assert heat.shape == (5, SIZE, SIZE)
    assert heat.min() >= 0.0 and heat.max() <= 1.0
    assert inside_over_outside(heat) > 2.0
    assert explain.find_layer(square_model)[0].name == "conv2"


def test_saliency_finds_the_square(square_model: keras.Model) -> None:
    x, y = synthetic(10, 3)
    sal = explain.saliency(square_model, x[y == 1])
    assert sal.shape == (5, SIZE, SIZE)
    assert sal.min() >= 0.0 and np.allclose(sal.max(axis=(1, 2)), 1.0)
    assert inside_over_outside(sal) > 2.0


def test_class_index_override_and_single_image(square_model: keras.Model) -> None:
    x, y = synthetic(4, 4)
    image = x[1]  # class 1
    own = explain.gradcam(square_model, image)
    assert own.shape == (1, SIZE, SIZE)
    np.testing.assert_allclose(own, explain.gradcam(square_model, image, class_index=1),
                               atol=1e-6)
    other = explain.gradcam(square_model, image, class_index=0)
    assert not np.allclose(own, other)
    per_image = explain.gradcam(square_model, x[:2], class_index=[1, 1])
    assert per_image.shape == (2, SIZE, SIZE)
    assert not np.allclose(explain.saliency(square_model, image, class_index=0),
                           explain.saliency(square_model, image, class_index=1))
    with pytest.raises(ValueError, match="class_index"):
        explain.gradcam(square_model, image, class_index=5)


def test_explicit_layer_and_unknown_layer(square_model: keras.Model) -> None:
    x, _ = synthetic(2, 5)
    heat = explain.gradcam(square_model, x, layer="conv1")
    assert heat.shape == (2, SIZE, SIZE) and np.isfinite(heat).all()
    with pytest.raises(ValueError, match="conv1, pool1, conv2"):
        explain.gradcam(square_model, x, layer="conv9")
    with pytest.raises(ValueError, match="not 4-D"):
        explain.gradcam(square_model, x, layer="gap")


@pytest.mark.parametrize(("name", "shape", "default"), [
    ("lenet", (28, 28, 1), "block2_relu"),
    ("minivggnet", (32, 32, 3), None),
    ("resnet_small", (32, 32, 3), None),
])
def test_library_models(name: str, shape: tuple[int, int, int], default: str | None) -> None:
    model = models.build(name, shape, 10)
    x = np.random.default_rng(6).uniform(0, 1, (2, *shape)).astype("float32")
    for maps in (explain.gradcam(model, x), explain.saliency(model, x)):
        assert maps.shape == (2, *shape[:2])
        assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0
    layer = explain.find_layer(model)[0]
    assert len(layer.output.shape) == 4
    assert layer.__class__.__name__ not in ("MaxPooling2D", "AveragePooling2D", "Dropout")
    if default:
        assert layer.name == default


@pytest.mark.parametrize(("backbone", "shape", "inner"), [
    ("mobilenetv2", (64, 64, 3), "out_relu"),
    ("vgg16", (32, 32, 1), "block5_conv3"),
])
def test_transfer_model(backbone: str, shape: tuple[int, int, int], inner: str) -> None:
    model = models.transfer(backbone, shape, 3, weights=None)
    outer, found = explain.find_layer(model)
    assert outer.name == "backbone" and found.name == inner
    x = np.random.default_rng(7).uniform(0, 255, (2, *shape)).astype("float32")
    for maps in (explain.gradcam(model, x), explain.saliency(model, x)):
        assert maps.shape == (2, *shape[:2])
        assert np.isfinite(maps).all() and maps.min() >= 0.0 and maps.max() <= 1.0
    inside = explain.gradcam(model, x, layer=model.get_layer("backbone").layers[-3].name)
    assert inside.shape == (2, *shape[:2])
    assert explain.gradcam(model, x, layer="backbone").shape == (2, *shape[:2])


def test_model_without_4d_layer() -> None:
    inputs = keras.Input((8, 8, 1))
    x = layers.Flatten()(inputs)
    outputs = layers.Dense(2, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    with pytest.raises(ValueError, match="4-D"):
        explain.gradcam(model, np.zeros((1, 8, 8, 1), "float32"))


@pytest.mark.parametrize("image", [
    np.full((16, 16), 128, np.uint8),
    np.full((16, 16, 1), 0.5, np.float32),
    np.full((16, 16, 3), 200.0, np.float32),
    np.full((16, 16, 3), 0.25, np.float32),
])
def test_overlay(image: np.ndarray) -> None:
    heat = np.linspace(0, 1, 64, dtype="float32").reshape(8, 8)  # resized to 16x16
    out = explain.overlay(image, heat, alpha=0.4)
    assert out.shape == (16, 16, 3) and out.dtype == np.float32
    assert out.min() >= 0.0 and out.max() <= 1.0
    np.testing.assert_allclose(explain.overlay(image, heat, alpha=0.0),
                               explain._display(image), atol=1e-6)


def test_plot_gradcam(square_model: keras.Model, tmp_path: Path) -> None:
    x, y = synthetic(3, 8)
    path = tmp_path / "cam" / "gradcam.png"
    fig = explain.plot_gradcam(square_model, x, labels=y, class_names=["plain", "square"],
                               cols=2, path=path)
    assert path.is_file()
    titles = [ax.get_title() for ax in fig.axes]
    assert "true: square" in titles and any(t.startswith("pred: ") for t in titles)
    assert len(fig.axes) == 2 * 2 * 2


def test_plot_gradcam_draws_given_heatmaps_without_computing_them(
    square_model: keras.Model, monkeypatch: pytest.MonkeyPatch
) -> None:
    x, y = synthetic(2, 9)
    heat = explain.gradcam(square_model, x)

    def fail(*args, **kwargs):
        raise AssertionError("gradcam ran again")

    monkeypatch.setattr(explain.figures, "gradcam", fail)
    fig = explain.plot_gradcam(square_model, x, labels=y, heatmaps=heat)
    overlays = [ax.images[0].get_array() for ax in fig.axes[1::2] if ax.images]
    np.testing.assert_allclose(overlays[0], explain.overlay(x[0], heat[0]), atol=1e-6)


def test_plot_gradcam_follows_given_predictions(square_model: keras.Model) -> None:
    """A decision other than the arg-max (e.g. a validation threshold) sets titles, colours
    and the class the maps explain."""
    x, y = synthetic(2, 10)  # classes 0, 1; the model gets both right
    probs = square_model.predict(x, verbose=0)
    assert list(probs.argmax(-1)) == [0, 1]
    flipped = np.array([1, 0])
    fig = explain.plot_gradcam(square_model, x, labels=y, class_names=["plain", "square"],
                               predictions=flipped)
    cams = fig.axes[1::2][:2]
    assert cams[0].get_title() == f"pred: square ({probs[0, 1]:.2f})"
    assert cams[1].get_title() == f"pred: plain ({probs[1, 0]:.2f})"
    assert [ax.title.get_color() for ax in cams] == ["red", "red"]
    expected = explain.gradcam(square_model, x, class_index=flipped)
    np.testing.assert_allclose(cams[0].images[0].get_array(),
                               explain.overlay(x[0], expected[0]), atol=1e-6)
    assert not np.allclose(expected, explain.gradcam(square_model, x))


@pytest.mark.parametrize("bad", [[0], [0, 2], [-1, 0]])
def test_plot_gradcam_rejects_bad_predictions(square_model: keras.Model, bad: list[int]) -> None:
    x, _ = synthetic(2, 11)
    with pytest.raises(ValueError, match="predictions"):
        explain.plot_gradcam(square_model, x, predictions=bad)


def test_mismatched_maps_labels_and_class_indices_are_refused(square_model: keras.Model) -> None:
    x, y = synthetic(4, 12)
    maps = explain.gradcam(square_model, x)
    with pytest.raises(ValueError, match="one heatmap"):
        explain.overlay(x[0], maps)  # the whole batch instead of one map
    with pytest.raises(ValueError, match="6 maps for 4 images"):
        explain.plot_gradcam(square_model, x, heatmaps=np.concatenate([maps, maps[:2]]))
    with pytest.raises(ValueError, match="3 maps for 4 images"):
        explain.plot_gradcam(square_model, x, heatmaps=maps[:3])
    with pytest.raises(ValueError, match="labels has 3"):
        explain.plot_gradcam(square_model, x, labels=y[:3], heatmaps=maps)
    for bad in (1.7, [0, 1, 0], [[0, 1]]):
        with pytest.raises(ValueError, match="class_index"):
            explain.gradcam(square_model, x, class_index=bad)
