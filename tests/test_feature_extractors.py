"""``include_top=False`` and ``pooling``: every model as a backbone, as in keras.applications.

Each headless count is the full model's pinned count (tests/test_model_families.py,
tests/test_models.py, tests/test_plainnet.py) minus its head, the head counted by
hand with ``dense_params`` (and 4 values per BN channel) in ``HEADLESS`` below.
"""

from __future__ import annotations

import functools

import keras
import numpy as np
import pytest

from cnnlabs import models
from cnnlabs.arithmetic import dense_params

CIFAR = (32, 32, 3)


def bn(channels: int) -> int:
    return 4 * channels


# name -> (input shape, classes, kwargs, feature map (H, W, C), headless parameters,
#          the same as: full pinned count - the head)
HEADLESS = {
    "airbench94": (CIFAR, 10, {}, (3, 3, 256), 1_971_384, 1_973_944 - 256 * 10),
    "yolo_grid": ((64, 64, 1), 10, {}, (8, 8, 128), 245_840,
                  248_420 - dense_params(128, 2 * 5 + 10)),
    "lenet": ((28, 28, 1), 10, {}, (7, 7, 50), 25_570,
              1_256_080 - dense_params(7 * 7 * 50, 500) - dense_params(500, 10)),
    "lenet5": ((32, 32, 1), 10, {}, (1, 1, 120), 50_692,
               61_706 - dense_params(120, 84) - dense_params(84, 10)),
    "shallownet": (CIFAR, 10, {}, (32, 32, 32), 896, 328_586 - dense_params(32 * 32 * 32, 10)),
    "alexnet": ((227, 227, 3), 1000, {}, (6, 6, 256), 3_747_200,
                62_378_344 - dense_params(6 * 6 * 256, 4096) - dense_params(4096, 4096)
                - dense_params(4096, 1000)),
    "alexnet_cifar": (CIFAR, 10, {}, (3, 3, 256), 3_720_448,
                      30_016_778 - dense_params(3 * 3 * 256, 4096) - dense_params(4096, 4096)
                      - 2 * bn(4096) - dense_params(4096, 10)),
    "vgg16": ((224, 224, 3), 1000, {}, (7, 7, 512), 14_714_688,
              138_357_544 - dense_params(7 * 7 * 512, 4096) - dense_params(4096, 4096)
              - dense_params(4096, 1000)),
    "minivggnet": (CIFAR, 10, {}, (8, 8, 64), 66_336,
                   2_171_178 - dense_params(8 * 8 * 64, 512) - bn(512) - dense_params(512, 10)),
    "minigooglenet": (CIFAR, 10, {}, (7, 7, 336), 1_652_880,
                      1_656_250 - dense_params(336, 10)),
    "densenet_mini": (CIFAR, 10, {}, (8, 8, 132), 179_880, 181_210 - dense_params(132, 10)),
    "resnet": (CIFAR, 10, {}, (8, 8, 256), 883_532, 886_102 - dense_params(256, 10)),
    "resnet_cifar": (CIFAR, 10, {}, (8, 8, 256), 883_532, 886_102 - dense_params(256, 10)),
    "resnet_small": (CIFAR, 10, {}, (8, 8, 64), 21_836, 22_486 - dense_params(64, 10)),
    "resnet_xray": ((128, 128, 1), 2, {}, (16, 16, 128), 82_340,
                    82_598 - dense_params(128, 2)),
    "resnet_medmnist": ((28, 28, 1), 2, {}, (7, 7, 128), 81_700, 81_958 - dense_params(128, 2)),
    "plain20": (CIFAR, 10, {}, (8, 8, 64), 270_448, 271_098 - dense_params(64, 10)),
    "plain56": (CIFAR, 10, {}, (8, 8, 64), 856_432, 857_082 - dense_params(64, 10)),
    "resnet20": (CIFAR, 10, {}, (8, 8, 64), 273_392, 274_042 - dense_params(64, 10)),
    "resnet56": (CIFAR, 10, {}, (8, 8, 64), 859_376, 860_026 - dense_params(64, 10)),
}
NAMES = sorted(HEADLESS)


@functools.cache
def headless(name: str, pooling: str | None = None) -> keras.Model:
    shape, _, kwargs, *_ = HEADLESS[name]
    return models.build(name, shape, None, include_top=False, pooling=pooling, **kwargs)


def test_every_registered_model_can_be_a_backbone():
    assert NAMES == models.names()


@pytest.mark.parametrize("name", NAMES)
def test_headless_counts_are_the_full_count_minus_the_head(name):
    *_, params, derived = HEADLESS[name]
    assert params == derived
    assert headless(name).count_params() == params


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_output_shapes_with_each_pooling(name, pooling):
    _, _, _, (height, width, channels), params, _ = HEADLESS[name]
    model = headless(name, pooling)
    expected = (None, height, width, channels) if pooling is None else (None, channels)
    assert model.output_shape == expected
    assert model.count_params() == params  # global pooling has no weights
    kind = {None: None, "avg": keras.layers.GlobalAveragePooling2D,
            "max": keras.layers.GlobalMaxPooling2D}[pooling]
    last = model.layers[-1]
    assert isinstance(last, kind) if kind else not isinstance(
        last, keras.layers.GlobalAveragePooling2D | keras.layers.GlobalMaxPooling2D)


@pytest.mark.parametrize("name", ["lenet", "minivggnet", "resnet_small", "resnet20",
                                  "densenet_mini", "alexnet_cifar"])
def test_the_feature_extractor_is_the_classifier_without_its_head(name):
    shape, classes, kwargs, *_ = HEADLESS[name]
    full = models.build(name, shape, classes, **kwargs)
    features = headless(name)
    full_names = [layer.name for layer in full.layers]
    assert [layer.name for layer in features.layers] == full_names[:len(features.layers)]
    assert full_names[-1] == "predictions" and "predictions" not in set(
        layer.name for layer in features.layers)
    assert features.name == full.name


def test_batch_norm_option_reaches_the_minivggnet_feature_extractor():
    model = models.build("minivggnet", CIFAR, None, batch_norm=False, include_top=False)
    assert model.count_params() == 66_336 - bn(32) * 2 - bn(64) * 2 == 65_568
    assert model.name == "minivggnet_no_bn"


@pytest.mark.parametrize("pooling", [None, "avg", "max"])
def test_vgg16_feature_extractor_matches_keras_applications(pooling):
    ours = models.build("vgg16", CIFAR, None, include_top=False, pooling=pooling)
    theirs = keras.applications.VGG16(include_top=False, weights=None, input_shape=CIFAR,
                                      pooling=pooling)
    assert models.compare(ours, theirs) == []
    assert ours.count_params() == 14_714_688


@pytest.mark.parametrize("name", ["lenet", "resnet", "resnet20", "plain56", "vgg16", "alexnet"])
@pytest.mark.parametrize("pooling", ["mean", "AVG", "", 2])
def test_an_unknown_pooling_is_refused(name, pooling):
    shape, classes, *_ = HEADLESS[name]
    with pytest.raises(ValueError, match=r"pooling must be None \(the 4D feature map\), 'avg'"):
        models.build(name, shape, classes, include_top=False, pooling=pooling)


@pytest.mark.parametrize("name", ["minigooglenet", "resnet_small", "plain20"])
def test_pooling_with_the_classifier_is_refused(name):
    shape, classes, *_ = HEADLESS[name]
    with pytest.raises(ValueError, match="pass include_top=False with it"):
        models.build(name, shape, classes, pooling="avg")


def test_classes_may_be_none_only_without_the_top():
    assert models.build("lenet", (28, 28, 1), None, include_top=False).output_shape == (
        None, 7, 7, 50)
    with pytest.raises(ValueError, match="classes=None builds no classifier"):
        models.build("lenet", (28, 28, 1), None)
    # A number given is still checked, even where it is not used.
    with pytest.raises(ValueError, match="classes must be a whole number of 2 or more"):
        models.build("lenet", (28, 28, 1), 1, include_top=False)
    with_classes = models.build("lenet", (28, 28, 1), 10, include_top=False, pooling="avg")
    assert with_classes.output_shape == (None, 50)


def test_the_input_is_still_checked_without_the_top():
    with pytest.raises(ValueError, match="at least 7x7"):
        models.build("minigooglenet", (6, 6, 3), None, include_top=False)


@pytest.mark.parametrize(("name", "pooling"), [("resnet_small", "avg"), ("minivggnet", None),
                                               ("plain20", "max")])
def test_a_feature_extractor_nests_in_a_new_classifier_that_trains(name, pooling):
    keras.utils.set_random_seed(0)
    backbone = models.build(name, CIFAR, None, include_top=False, pooling=pooling)
    inputs = keras.Input(CIFAR)
    x = backbone(inputs)
    if pooling is None:
        x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(3, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    features = int(np.prod(backbone.output_shape[1:]))
    assert model.count_params() == backbone.count_params() + dense_params(features, 3)
    assert model.get_layer(backbone.name) is backbone
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy", run_eagerly=True)
    rng = np.random.default_rng(0)
    images = rng.random((4, *CIFAR), dtype=np.float32)
    before = [w.copy() for w in backbone.get_weights()]
    loss = model.train_on_batch(images, np.array([0, 1, 2, 0]))
    assert np.isfinite(loss)
    assert any(not np.array_equal(a, b)
               for a, b in zip(before, backbone.get_weights(), strict=True))
    assert model.predict(images, verbose=0).shape == (4, 3)
