"""Transfer learning over keras.applications: table, preprocessing, freezing, weights.

Never touches the network: every download is refused (autouse fixture), and the
Keras cache is a temporary folder.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from keras.src.utils import file_utils

from cnnlabs import models
from cnnlabs.models import transfer_learning as tl

ALL = ["mobilenetv2", "resnet50v2", "densenet121", "efficientnetb0", "vgg16"]

#: Total parameters at 224x224x3 with 2 classes (backbone include_top=False + head).
PARAMS_224 = {
    "mobilenetv2": 2_257_984 + 1280 * 2 + 2,
    "resnet50v2": 23_564_800 + 2048 * 2 + 2,
    "densenet121": 7_037_504 + 1024 * 2 + 2,
    "efficientnetb0": 4_049_571 + 1280 * 2 + 2,
    "vgg16": 14_714_688 + 512 * 2 + 2,
}


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """No downloads (the attempted URLs are recorded); KERAS_HOME is a temporary folder."""
    calls: list[str] = []

    def refuse(url: str, *args: object, **kwargs: object) -> None:
        calls.append(str(url))
        raise OSError(f"network disabled in tests: {url}")

    monkeypatch.setattr(file_utils, "urlretrieve", refuse)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return calls


def test_models_package_exports_transfer_lazily() -> None:
    code = ("import sys, cnnlabs.models as m; "
            "assert 'cnnlabs.models.transfer_learning' not in sys.modules; "
            "assert callable(m.transfer) and m.WeightsUnavailableError")
    subprocess.run([sys.executable, "-c", code], check=True)
    assert models.transfer is tl.transfer
    with pytest.raises(AttributeError):
        models.no_such_thing  # noqa: B018


def test_unknown_backbone_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="mobilenetv2.*resnet50v2.*densenet121.*vgg16"):
        tl.transfer("resnet9000", (32, 32, 3), weights=None)
    assert tl.get_backbone("MobileNetV2").name == "mobilenetv2"


@pytest.mark.parametrize("name", ALL)
def test_parameter_counts_at_224(name: str) -> None:
    model = tl.transfer(name.upper(), (224, 224, 3), 2, weights=None)
    assert model.count_params() == PARAMS_224[name]
    assert model.output.shape[-1] == 2
    assert [lyr.name for lyr in model.layers] == [
        "image", "preprocess", "backbone", "avg_pool", "dropout", "predictions"]


@pytest.mark.parametrize(("name", "size"), [(n, 64) for n in ALL] + [("mobilenetv2", 96)])
def test_table_matches_what_keras_downloads(name: str, size: int,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """The table's file name, URL and hash are exactly those keras.applications asks for."""
    spec = tl.get_backbone(name)
    asked: dict = {}

    class Stop(Exception):
        pass

    def record(fname: str, origin: str, **kwargs: object) -> None:
        asked.update(fname=fname, origin=origin, file_hash=kwargs.get("file_hash"))
        raise Stop

    monkeypatch.setattr(file_utils, "get_file", record)
    with pytest.raises(Stop), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # MobileNetV2 at 64 px: "224 weights"
        spec.application()(include_top=False, weights="imagenet", input_shape=(size, size, 3))
    assert asked == {"fname": spec.weights_file((size, size, 3)),
                     "origin": spec.weights_url((size, size, 3)),
                     "file_hash": spec.file_hash}


@pytest.mark.parametrize("name", ALL)
def test_preprocessing_matches_keras(name: str) -> None:
    spec = tl.get_backbone(name)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (2, 8, 8, 3)).astype("float32")
    expected = np.asarray(spec.preprocess_input()(x.copy()))
    layer = tl.BackbonePreprocessing(spec.mode)
    np.testing.assert_allclose(np.asarray(layer(x)), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(np.asarray(tl.preprocessing(name)(x)), expected,
                               rtol=1e-5, atol=1e-4)
    assert tl.PREPROCESS[name] == spec.mode
    gray = x[..., :1]
    np.testing.assert_allclose(np.asarray(layer(gray)),
                               np.asarray(spec.preprocess_input()(np.repeat(gray, 3, -1))),
                               rtol=1e-5, atol=1e-4)
    assert layer.weights == []


def test_grayscale_model_and_save_load_round_trip(tmp_path: Path) -> None:
    model = tl.transfer("mobilenetv2", (32, 32, 1), 3, weights=None)
    tl.unfreeze_top(model, 5)
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 1)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0),
                               rtol=1e-5, atol=1e-6)
    assert loaded.get_layer("preprocess").mode == "tf"
    assert tl.trainable_summary(loaded) == tl.trainable_summary(model)


def test_freeze_backbone_trains_only_the_head() -> None:
    model = tl.transfer("mobilenetv2", (32, 32, 3), 2, weights=None)
    summary = tl.trainable_summary(model)  # transfer() returns the backbone frozen
    assert summary["trainable_params"] == 1280 * 2 + 2
    assert summary["non_trainable_params"] == 2_257_984
    assert summary["trainable_backbone_layers"] == 0
    tl.unfreeze_top(model, 10_000)
    tl.freeze_backbone(model)
    assert tl.trainable_summary(model)["trainable_params"] == 2562


def test_unfreeze_top_keeps_batchnorm_frozen() -> None:
    model = tl.transfer("mobilenetv2", (32, 32, 3), 2, weights=None)
    base = tl.backbone_of(model)
    stack = [lyr for lyr in base.layers if not isinstance(lyr, keras.layers.InputLayer)]
    tl.unfreeze_top(model, 10)
    expected = {lyr.name for lyr in stack[-10:]
                if lyr.weights and not isinstance(lyr, keras.layers.BatchNormalization)}
    got = {lyr.name for lyr in stack if lyr.trainable_weights}
    assert got == expected and expected  # Conv_1, block_16_project, block_16_depthwise...
    assert all(not lyr.trainable for lyr in stack
               if isinstance(lyr, keras.layers.BatchNormalization))
    summary = tl.trainable_summary(model)
    assert summary["trainable_backbone_layers"] == len(expected)
    assert summary["trainable_params"] == 2562 + sum(
        int(np.prod(v.shape)) for lyr in stack[-10:] for v in lyr.trainable_weights)

    tl.unfreeze_top(model, 10_000)  # more than the backbone: all of it
    non_bn = [lyr for lyr in stack if lyr.weights
              and not isinstance(lyr, keras.layers.BatchNormalization)]
    assert all(lyr.trainable_weights for lyr in non_bn)
    assert tl.trainable_summary(model)["trainable_backbone_layers"] == len(non_bn)
    for bad in (0, -3):
        with pytest.raises(ValueError, match="positive"):
            tl.unfreeze_top(model, bad)


def test_training_steps_respect_freezing() -> None:
    keras.utils.set_random_seed(0)
    model = tl.transfer("mobilenetv2", (32, 32, 3), 2, weights=None, dropout=0.0)
    base = tl.backbone_of(model)
    x = np.random.default_rng(2).uniform(0, 255, (8, 32, 32, 3)).astype("float32")
    y = np.array([0, 0, 0, 0, 0, 0, 1, 1])  # unbalanced: the bias gradient is not zero

    def snapshot(variables: list) -> list[np.ndarray]:
        return [np.array(v) for v in variables]

    # Phase 1: frozen backbone; the head moves, nothing in the backbone does.
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    head, backbone = snapshot(model.get_layer("predictions").weights), snapshot(base.weights)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert any(not np.array_equal(a, np.array(b))
               for a, b in zip(head, model.get_layer("predictions").weights, strict=True))
    assert all(np.array_equal(a, np.array(b))
               for a, b in zip(backbone, base.weights, strict=True))

    # Phase 2: whole backbone unfrozen (re-compiled); BN stats and BN weights stay put.
    tl.unfreeze_top(model, 10_000)
    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    bn = base.get_layer("Conv_1_bn")
    bn_before = snapshot(bn.weights)  # gamma, beta, moving_mean, moving_variance
    conv_before = np.array(base.get_layer("Conv_1").kernel)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    for before, after in zip(bn_before, bn.weights, strict=True):
        np.testing.assert_array_equal(before, np.array(after))
    trainable = {id(v) for v in model.trainable_weights}
    assert id(base.get_layer("Conv_1").kernel) in trainable
    assert not trainable & {id(v) for v in bn.weights}
    assert np.isfinite(np.array(base.get_layer("Conv_1").kernel)).all()
    assert conv_before.shape == tuple(base.get_layer("Conv_1").kernel.shape)


@pytest.mark.parametrize("name", ALL)
def test_offline_imagenet_error_names_file_url_and_path(name: str, offline: list[str]) -> None:
    spec = tl.get_backbone(name)
    target = tl.weights_path(name, (224, 224, 3))
    assert target.parent == Path(tl.keras_cache_dir()) / "models"
    assert "keras_home" in str(target)
    with pytest.raises(tl.WeightsUnavailableError) as info:
        tl.fetch_weights(name, (224, 224, 3))
    message = str(info.value)
    assert spec.weights_url((224, 224, 3)) in message
    assert str(target) in message
    assert "weights=None" in message
    assert offline == [spec.weights_url((224, 224, 3))]
    assert not target.exists()
    assert list(target.parent.iterdir()) == []  # nothing half-written left behind


def test_offline_transfer_raises(offline: list[str]) -> None:
    with pytest.raises(tl.WeightsUnavailableError, match="mobilenet_v2_weights_tf_dim_ordering"
                       "_tf_kernels_1.0_96_no_top.h5"):
        models.transfer("mobilenetv2", (96, 96, 3), 2)
    assert len(offline) == 1
    assert issubclass(tl.WeightsUnavailableError, RuntimeError)


def _legacy_h5(model: keras.Model, path: Path) -> None:
    """Write weights in the format of the official keras-applications files."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)


def test_preplaced_file_is_used_without_network(offline: list[str]) -> None:
    keras.utils.set_random_seed(3)
    source = keras.applications.MobileNetV2(include_top=False, weights=None,
                                            input_shape=(96, 96, 3))
    target = tl.weights_path("mobilenetv2", (96, 96, 3))
    assert target.name == "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_96_no_top.h5"
    _legacy_h5(source, target)
    model = tl.transfer("mobilenetv2", (96, 96, 3), 2, weights="imagenet")
    assert offline == []
    for a, b in zip(source.weights, tl.backbone_of(model).weights, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))


def test_preplaced_file_with_wrong_hash_is_kept_and_explained(offline: list[str]) -> None:
    target = tl.weights_path("vgg16")
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not the official file")
    with pytest.raises(tl.WeightsUnavailableError, match="md5"):
        tl.transfer("vgg16", (32, 32, 3), weights="imagenet")
    assert target.read_bytes() == b"not the official file"
    assert offline == []


def test_a_truncated_weights_file_is_kept_and_explained(offline: list[str]) -> None:
    # MobileNetV2's files have no published hash, so a download cut short by a hard
    # kill is only found out when it is read.
    source = keras.applications.MobileNetV2(include_top=False, weights=None,
                                            input_shape=(96, 96, 3))
    target = tl.weights_path("mobilenetv2", (96, 96, 3))
    _legacy_h5(source, target)
    half = target.read_bytes()[: target.stat().st_size // 2]
    target.write_bytes(half)
    with pytest.raises(tl.WeightsUnavailableError, match="incomplete") as info:
        tl.transfer("mobilenetv2", (96, 96, 3), 2, weights="imagenet")
    assert str(target) in str(info.value)
    assert tl.get_backbone("mobilenetv2").weights_url((96, 96, 3)) in str(info.value)
    assert target.read_bytes() == half and offline == []


def test_weights_path_argument(tmp_path: Path) -> None:
    keras.utils.set_random_seed(4)
    source = keras.applications.EfficientNetB0(include_top=False, weights=None,
                                               input_shape=(32, 32, 3))
    path = tmp_path / "backbone.weights.h5"
    source.save_weights(path)
    model = tl.transfer("efficientnetb0", (32, 32, 3), 2, weights=path)
    for a, b in zip(source.weights, tl.backbone_of(model).weights, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    with pytest.raises(FileNotFoundError):
        tl.transfer("efficientnetb0", (32, 32, 3), weights=tmp_path / "missing.h5")
    torn = tmp_path / "torn.weights.h5"
    torn.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(tl.WeightsUnavailableError, match="pass a complete copy"):
        tl.transfer("efficientnetb0", (32, 32, 3), 2, weights=torn)


def test_lazy_export_list_matches_module() -> None:
    # every lazily exported name is defined in the module and is the same object
    for name in models._TRANSFER_API:
        assert getattr(models, name) is getattr(tl, name)
    with pytest.raises(AttributeError):
        models.not_a_transfer_name  # noqa: B018


def test_random_weights_are_announced_loudly() -> None:
    with pytest.warns(tl.NoPretrainedWeightsWarning, match="NO PRETRAINED WEIGHTS"):
        tl.transfer("mobilenetv2", (32, 32, 3), 2, weights=None)


def test_transfer_refuses_a_single_class() -> None:
    with pytest.raises(ValueError, match="classes must be a whole number of 2 or more"):
        tl.transfer("mobilenetv2", (32, 32, 3), 1, weights=None)
