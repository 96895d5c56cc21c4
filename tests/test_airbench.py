"""airbench94 in Keras: the network, patch whitening, the optimizer, the recipe, TTA, resume."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from cnnlabs import config, evaluation, models, optim, pipelines, recipes, run, training
from cnnlabs.datasets import Splits
from cnnlabs.models import airbench

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))


# --- The network ---

def test_airbench94_has_the_published_layer_table_and_parameter_count():
    model = models.build("airbench94", (32, 32, 3), 10)
    assert model.count_params() == 1_973_944
    assert sum(int(np.prod(v.shape)) for v in model.trainable_variables) == 1_971_352
    shapes = {layer.name: tuple(layer.output.shape[1:]) for layer in model.layers}
    assert shapes["whiten"] == (31, 31, 24)
    assert shapes["block1_gelu2"] == (15, 15, 64)
    assert shapes["block2_gelu2"] == (7, 7, 256)
    assert shapes["block3_gelu2"] == (3, 3, 256)
    assert shapes["predictions"] == (10,)
    bn = model.get_layer("block2_bn1")
    assert (bn.momentum, bn.epsilon, bn.scale, bn.center) == (0.6, 1e-12, False, True)
    assert model.get_layer("logits").use_bias is False
    assert [v.path for v in model.get_layer("whiten").trainable_variables] == ["whiten/bias"]


def test_every_3x3_convolution_starts_as_an_identity_on_its_first_channels():
    model = models.build("airbench94", (32, 32, 3), 10)
    square = model.get_layer("block2_conv2").kernel.numpy()  # 256 -> 256: all identity
    np.testing.assert_array_equal(square[1, 1], np.eye(256))
    assert np.count_nonzero(square) == 256
    wider = model.get_layer("block2_conv1").kernel.numpy()  # 64 -> 256
    np.testing.assert_array_equal(wider[1, 1, :, :64], np.eye(64))
    assert np.count_nonzero(wider[..., :64]) == 64
    bound = 1 / math.sqrt(3 * 3 * 64)  # torch.nn.Conv2d's default for the other filters
    assert np.abs(wider[..., 64:]).max() <= bound and np.abs(wider[..., 64:]).max() > 0.9 * bound


def test_airbench94_refuses_inputs_that_pool_to_nothing():
    assert models.build("airbench94", (25, 25, 3), 10).output_shape == (None, 10)
    with pytest.raises(ValueError, match="at least 25x25"):
        models.build("airbench94", (24, 24, 3), 10)
    with pytest.raises(ValueError, match="one value per channel"):
        models.build("airbench94", (32, 32, 1), 10)
    grey = models.build("airbench94", (32, 32, 1), 10, mean=(0.5,), std=(0.25,))
    assert grey.get_layer("whiten").output.shape[-1] == 8  # 2 x 2x2x1 patch values


# --- Patch whitening ---

def _correlated_images(n: int = 40, size: int = 8, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, size, size, 3))
    mix = np.array([[1.0, 0.6, 0.2], [0.0, 0.8, 0.5], [0.0, 0.0, 0.3]])
    return base @ mix + 0.5 * np.roll(base, 1, axis=2)  # correlated channels and columns


def test_whitening_filters_make_the_patch_covariance_the_identity():
    images = _correlated_images()
    kernel, eigenvalues = airbench.whitening_filters(images, 2, eps=0.0)
    assert kernel.shape == (2, 2, 3, 24)
    assert np.all(np.diff(eigenvalues) <= 0)  # largest first
    patches = airbench.image_patches(images, 2)
    whitened = patches @ kernel.reshape(12, 24)[:, :12]
    np.testing.assert_allclose(whitened.T @ whitened / len(patches), np.eye(12), atol=1e-9)
    np.testing.assert_array_equal(kernel[..., 12:], -kernel[..., :12])


def test_the_whitening_layer_computes_the_patch_projections_plus_its_bias():
    images = _correlated_images(n=20).astype("float32")
    layer = airbench.PatchWhitening(2)
    layer.adapt(images)
    layer.bias.assign(np.arange(24, dtype="float32"))
    out = np.asarray(layer(images))
    kernel = layer.kernel.numpy().reshape(12, 24)
    expected = airbench.image_patches(images, 2) @ kernel + np.arange(24)
    np.testing.assert_allclose(out.reshape(-1, 24), expected, rtol=1e-4, atol=1e-4)


def test_init_whitening_sees_the_images_through_the_model_normalisation():
    rng = np.random.default_rng(1)
    pixels = rng.integers(0, 256, (30, 32, 32, 3), dtype="uint8")
    model = models.build("airbench94", (32, 32, 3), 10, widths=(8, 8, 8))
    eigenvalues = airbench.init_whitening(model, pixels)
    normalised = (pixels / 255.0 - np.array(airbench.CIFAR10_MEAN)) / np.array(airbench.CIFAR10_STD)
    kernel, expected = airbench.whitening_filters(normalised, 2)
    np.testing.assert_allclose(eigenvalues, expected, rtol=1e-4)
    np.testing.assert_allclose(model.get_layer("whiten").kernel.numpy(), kernel, rtol=1e-3,
                               atol=1e-4)


@pytest.mark.parametrize("images, message", [
    (np.full((50, 8, 8, 3), 0.3), "degenerate"),  # constant images
    (np.repeat(np.random.default_rng(0).random((50, 8, 8, 1)), 3, axis=3), "degenerate"),  # grey
    (np.random.default_rng(0).random((1, 4, 4, 3)), "Too few images"),  # 9 patches < 120
    (np.zeros((0, 8, 8, 3)), "Too few images"),
    (np.random.default_rng(0).random((8, 8, 3)), r"\(N, H, W, C\)"),
    (np.full((50, 8, 8, 3), np.nan), "NaN"),
])
def test_a_degenerate_whitening_patch_set_is_refused(images, message):
    with pytest.raises(ValueError, match=message):
        airbench.whitening_filters(images, 2)


def test_init_whitening_needs_a_whitening_layer():
    with pytest.raises(ValueError, match="no PatchWhitening layer"):
        airbench.init_whitening(models.build("lenet", (28, 28, 1), 10), np.zeros((4, 28, 28, 1)))


# --- The optimizer and the schedule ---

def _variable(path: str, value) -> keras.Variable:
    scope, name = path.split("/")
    with keras.name_scope(scope):
        return keras.Variable(np.asarray(value, "float32"), name=name)


def test_coupled_sgd_takes_pytorch_nesterov_steps_with_l2_in_the_gradient():
    w = _variable("dense/kernel", [1.0, -2.0])
    opt = optim.CoupledSGD(learning_rate=0.1, momentum=0.9, nesterov=True, l2=0.01)
    for _ in range(2):
        opt.apply([keras.ops.convert_to_tensor([0.5, 0.25])], [w])
    # By hand: g1 = g + 0.01 w0 = (0.51, 0.23); w1 = w0 - 0.1 * 1.9 g1 = (0.9031, -2.0437);
    # g2 = g + 0.01 w1; b2 = 0.9 g1 + g2; w2 = w1 - 0.1 (g2 + 0.9 b2).
    np.testing.assert_allclose(w.numpy(), [0.76507411, -2.10594697], rtol=1e-6)


def test_learning_rate_multipliers_and_freezing_go_by_variable_path():
    beta = _variable("block1_bn1/beta", [1.0])
    bias = _variable("whiten/bias", [1.0])
    kernel = _variable("block1_conv1/kernel", [1.0])
    opt = optim.CoupledSGD(learning_rate=0.01, momentum=0.0, l2=0.5,
                           lr_multipliers=[(r"_bn\d/beta$", 64.0)],
                           freeze_after=[(r"^whiten/bias$", 2)])
    grads = [keras.ops.convert_to_tensor([1.0])] * 3
    for _ in range(3):
        opt.apply(grads, [beta, bias, kernel])
    # beta: w -= 0.01 * 64 * (1 + 0.5 / 64 * w), three times; the bias stops after two steps.
    expected_beta = 1.0
    for _ in range(3):
        expected_beta -= 0.64 * (1 + 0.5 / 64 * expected_beta)
    assert float(beta.numpy()[0]) == pytest.approx(expected_beta, rel=1e-6)
    assert float(bias.numpy()[0]) == pytest.approx(1.0 - 0.01 * 1.5 - 0.01 * (1 + 0.5 * 0.985))
    expected_kernel = 1.0
    for _ in range(3):
        expected_kernel -= 0.01 * (1 + 0.5 * expected_kernel)
    assert float(kernel.numpy()[0]) == pytest.approx(expected_kernel, rel=1e-6)


def _descend(opt, w, steps: int) -> list[float]:
    values = []
    for _ in range(steps):
        opt.apply([keras.ops.convert_to_tensor([1.0])], [w])
        values.append(round(float(w.numpy()[0]), 6))
    return values


def test_lookahead_copies_then_blends_the_average_back_into_the_weights():
    # lr 1, no momentum, gradient 1: each step takes 1 off. Every 2 steps from the
    # start; decay 0.5**2 * (s / 8): 0.125 at step 4, 0.1875 at 6, 0.25 at 8.
    w = _variable("dense/kernel", [0.0])
    opt = optim.CoupledSGD(learning_rate=1.0, momentum=0.0, lookahead_every=2,
                           lookahead_decay=0.5, lookahead_power=1.0, total_steps=8, epoch_steps=4)
    assert opt.first_lookahead_step() == 2
    assert _descend(opt, w, 8) == [-1, -2, -3, -3.75, -4.75, -5.375, -6.375, -6.875]


def test_lookahead_resets_the_weights_to_the_average_at_every_epoch_end():
    w = _variable("dense/kernel", [0.0])
    opt = optim.CoupledSGD(learning_rate=1.0, momentum=0.0, lookahead_every=2,
                           lookahead_decay=0.5, lookahead_power=1.0, total_steps=6, epoch_steps=3)
    # Step 2 starts the average at -2; step 3 ends an epoch: back to -2; step 4 blends
    # -3 in with decay 0.25 * 4 / 6: -2 / 6 - 15 / 6.
    assert _descend(opt, w, 4) == [-1, -2, -2, round(-17 / 6, 6)]


def test_lookahead_averages_batchnorm_statistics_too():
    w = _variable("dense/kernel", [0.0])
    stat = _variable("bn/moving_mean", [10.0])
    opt = optim.CoupledSGD(learning_rate=1.0, momentum=0.0, lookahead_every=1,
                           lookahead_decay=0.5, lookahead_power=0.0, total_steps=4)
    opt.average_also([stat])
    opt.apply([keras.ops.convert_to_tensor([1.0])], [w])  # the average starts at 10
    stat.assign([20.0])
    opt.apply([keras.ops.convert_to_tensor([1.0])], [w])  # 0.5 * 10 + 0.5 * 20
    assert float(stat.numpy()[0]) == pytest.approx(15.0)
    with pytest.raises(ValueError, match="before the optimizer is built"):
        opt.average_also([stat])


def test_coupled_sgd_refuses_bad_settings():
    with pytest.raises(ValueError, match="momentum"):
        optim.CoupledSGD(momentum=1.0)
    with pytest.raises(ValueError, match="above 0"):
        optim.CoupledSGD(lr_multipliers=[("beta", 0.0)])
    with pytest.raises(ValueError, match="regular expression"):
        optim.CoupledSGD(lr_multipliers=[("(beta", 2.0)])
    with pytest.raises(ValueError, match="total_steps"):
        optim.CoupledSGD(lookahead_every=5)


def test_the_triangle_schedule_rises_to_the_peak_then_falls_to_the_floor():
    schedule = optim.Triangle(2.0, 100, peak_share=0.23, start_ratio=0.2, end_ratio=0.07)
    values = [float(schedule(s)) for s in (0, 10, 23, 100, 200)]
    assert values == pytest.approx([0.4, 2 * (0.2 + 0.8 * 10 / 23), 2.0, 0.14, 0.14], rel=1e-5)
    assert optim.Triangle.from_config(schedule.get_config()).peak_share == 0.23


# --- The recipe ---

def test_the_airbench_recipe_translates_the_original_hyperparameters():
    r = recipes.recipe("airbench94", "full")
    assert r.learning_rate == pytest.approx(11.5 * 0.15 / 1.15)  # 1.5 at batch 1024
    assert r.weight_decay == pytest.approx(0.0153 / 11.5)
    assert (r.batch_size, r.drop_remainder, r.momentum, r.label_smoothing) == (1024, True, 0.85,
                                                                               0.2)
    assert (r.schedule, r.initial_lr_ratio, r.peak_share, r.min_lr_ratio) == ("triangle", 0.2,
                                                                              0.23, 0.07)
    assert r.augment == ("alternating_flip", "reflect_shift") and r.tta == 2
    assert (r.lookahead_every, r.lookahead_start, r.lookahead_decay, r.lookahead_power) == (
        5, 3, 0.95, 3.0)
    assert r.mixed_precision and r.jit_compile is True
    cpu = recipes.recipe("airbench94", "cpu")
    assert cpu.cpu_bfloat16 and cpu.jit_compile is False and not cpu.mixed_precision
    opt = training.make_optimizer(r, steps_per_epoch=43)
    assert isinstance(opt, optim.CoupledSGD)
    assert opt.freeze_after == [("^whiten/bias$", 129)] and opt.lookahead_start == 129
    assert (opt.total_steps, opt.epoch_steps) == (430, 43)


@pytest.mark.parametrize("change, message", [
    ({"optimizer": "sgd", "lr_multipliers": (("beta", 2.0),)}, "need optimizer='sgd_l2'"),
    ({"optimizer": "adam", "lookahead_every": 5}, "need optimizer='sgd_l2'"),
    ({"lr_multipliers": (("(beta", 2.0),)}, "not a regular expression"),
    ({"lr_multipliers": (("beta",),)}, r"\(pattern, number\) pairs"),
    ({"freeze_after": (("bias", -1),)}, "0 or more"),
    ({"tta": 3}, "tta must be"),
    ({"peak_share": 1.0}, "peak_share"),
])
def test_a_bad_airbench_recipe_is_refused(change, message):
    with pytest.raises(ValueError, match=message):
        recipes.recipe("airbench94", "cpu", **change)


def test_recipe_pairs_read_back_from_json_become_tuples():
    r = recipes.Recipe(optimizer="sgd_l2", lr_multipliers=[["beta$", 64]],
                       freeze_after=[["bias$", 3]])
    assert r.lr_multipliers == (("beta$", 64.0),) and r.freeze_after == (("bias$", 3.0),)


# --- Test-time augmentation ---

def test_tta_averages_log_probabilities_over_mirrored_and_shifted_views():
    rng = np.random.default_rng(2)
    x = rng.random((5, 6, 6, 1)).astype("float32")
    weights = rng.normal(size=(36, 3)).astype("float32")
    inputs = keras.Input((6, 6, 1))
    logits = keras.layers.Dense(3, use_bias=False)(keras.layers.Flatten()(inputs))
    model = keras.Model(inputs, keras.layers.Activation("softmax")(logits))
    model.layers[-2].set_weights([weights])
    ds = pipelines.from_arrays((x * 255).round().astype("uint8"), np.zeros(5), 2, training=False)
    images = (x * 255).round() / 255

    def log_softmax(batch):
        z = batch.reshape(len(batch), -1) @ weights
        return z - np.log(np.exp(z).sum(axis=1, keepdims=True))

    padded = np.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    down_right, up_left = padded[:, :6, :6], padded[:, 2:, 2:]
    views = [(images, 0.25), (images[:, :, ::-1], 0.25)] + [
        (v, 0.125) for shifted in (down_right, up_left) for v in (shifted, shifted[:, :, ::-1])]
    mean = sum(w * log_softmax(v) for v, w in views)
    expected = np.exp(mean) / np.exp(mean).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(evaluation.predict(model, ds, tta=2), expected, rtol=1e-4)
    mirror = 0.5 * log_softmax(images) + 0.5 * log_softmax(images[:, :, ::-1])
    np.testing.assert_allclose(evaluation.predict(model, ds, tta=1),
                               np.exp(mirror) / np.exp(mirror).sum(axis=1, keepdims=True),
                               rtol=1e-4)
    assert sum(w for _, _, w in evaluation.tta_views(2)) == 1.0
    with pytest.raises(ValueError, match="tta must be"):
        evaluation.tta_views(3)


# --- The chain, and resuming ---

def _noise_splits(n: int, seed: int = 0) -> Splits:
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (n, 32, 32, 3), dtype="uint8")
    y = rng.integers(0, 3, n)
    return Splits("noise", x, y, x[:40], y[:40], ["a", "b", "c"], source="test")


def test_cnnlabs_train_airbench94_initialises_whitening_and_evaluates_with_tta(tmp_path):
    result = run.train("airbench94", _noise_splits(256), profile="smoke", out=tmp_path,
                       model_options={"widths": (8, 8, 8)}, plot=False, log=None)
    assert result.data.steps_per_epoch == 1  # 192 training images, batches of 128, the rest left
    assert result.results["recipe"]["tta"] == 2 and result.results["epochs_trained"] == 1
    layer = result.model.get_layer("whiten")
    images = result.data.x_train.astype("float64") / 255
    normalised = (images - np.array(airbench.CIFAR10_MEAN)) / np.array(airbench.CIFAR10_STD)
    kernel, _ = airbench.whitening_filters(normalised, 2)
    np.testing.assert_allclose(layer.kernel.numpy(), kernel, rtol=1e-3, atol=1e-4)


def test_cnnlabs_train_refuses_constant_images_for_whitening_before_claiming_a_folder(tmp_path):
    splits = _noise_splits(256)
    splits.x_train[:] = 128
    with pytest.raises(ValueError, match="degenerate"):
        run.train("airbench94", splits, profile="smoke", out=tmp_path / "run",
                  model_options={"widths": (8, 8, 8)}, plot=False, log=None)
    assert not (tmp_path / "run").exists()


class _Probe(keras.callbacks.Callback):
    """At the first batch: the averages of the lookahead, the epoch the pipeline reads."""

    def __init__(self, epoch_variable, stop_at=None) -> None:
        super().__init__()
        self.epoch_variable, self.stop_at = epoch_variable, stop_at
        self.epoch = 0
        self.first = None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        state = ([v.numpy().copy() for v in getattr(optimizer, "averages", [])],
                 int(optimizer.iterations),
                 int(self.epoch_variable.numpy()))
        if self.first is None:
            self.first = state
        self.last = state
        if (self.epoch, batch) == self.stop_at:
            raise KeyboardInterrupt("simulated interruption")


def test_an_interrupted_airbench_run_resumes_with_its_averages_and_its_epoch(tmp_path):
    """4 epochs of 6 steps (216 images, batches of 32, the rest left out); lookahead
    from epoch 4 (step 18), first at step 20; stopped 4 batches into epoch 4."""
    config.seed_everything(0)
    data = pipelines.build(_noise_splits(240), 32, "cpu", seed=0, one_hot=True,
                           augment=("alternating_flip", "reflect_shift"), drop_remainder=True)
    assert data.steps_per_epoch == 6
    r = recipes.recipe("airbench94", "cpu", epochs=4, batch_size=32)

    def model():
        network = models.build("airbench94", (32, 32, 3), 3, widths=(8, 8, 8))
        airbench.init_whitening(network, data.x_train)
        return network

    stopped = _Probe(data.epoch, stop_at=(3, 4))
    with pytest.raises(KeyboardInterrupt):
        training.fit(model(), data, r, tmp_path, verbose=0, backup_every=1, plot=False,
                     extra_callbacks=[stopped])
    averages, steps, epoch = stopped.last
    assert (steps, epoch) == (22, 3) and not np.allclose(averages[1], 0)

    resumed = _Probe(data.epoch)
    training.fit(model(), data, r, tmp_path, verbose=0, backup_every=1, plot=False,
                 extra_callbacks=[resumed])
    restored, steps, epoch = resumed.first
    assert (steps, epoch) == (22, 3)
    for before, after in zip(averages, restored, strict=True):
        np.testing.assert_array_equal(before, after)
    assert resumed.last[1] == 23  # the last step of the run begins after 23 steps


def test_the_cpu_recipe_computes_in_bfloat16_only_where_the_cpu_has_it(monkeypatch):
    r = recipes.recipe("airbench94", "cpu")
    monkeypatch.setattr(training, "cpu_bfloat16_supported", lambda: False)
    try:
        assert training.set_precision(r) == "float32"
        monkeypatch.setattr(training, "cpu_bfloat16_supported", lambda: True)
        assert training.set_precision(r) == "mixed_bfloat16"
        model = models.build("airbench94", (32, 32, 3), 10, widths=(8, 8, 8))
        assert model.get_layer("block1_conv1").compute_dtype == "bfloat16"
        assert model.get_layer("whiten").compute_dtype == "float32"  # it amplifies rounding
        assert model.output.dtype == "float32"
        assert training.set_precision(recipes.recipe("minivggnet", "cpu")) == "float32"
    finally:
        assert training.set_precision(recipes.Recipe()) == "float32"


def test_the_full_recipe_trains_saves_and_reloads_under_mixed_precision_and_xla(monkeypatch,
                                                                                tmp_path):
    """What a GPU runs (float16 with loss scaling, XLA, lookahead from the first epoch),
    here on the CPU: finite losses, and a model.keras that loads and predicts alike."""
    monkeypatch.setattr(training, "mixed_precision_supported", lambda: True)
    r = recipes.recipe("airbench94", "full", epochs=2, batch_size=32, lookahead_start=0)
    data = pipelines.build(_noise_splits(120), 32, "cpu", seed=0, one_hot=True,
                           augment=r.augment, drop_remainder=True)
    try:
        assert training.set_precision(r) == "mixed_float16"
        model = models.build("airbench94", (32, 32, 3), 3, widths=(8, 8, 8))
        airbench.init_whitening(model, data.x_train)
        history = training.fit(model, data, r, tmp_path, verbose=0, plot=False)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert isinstance(model.optimizer.inner_optimizer, optim.CoupledSGD)
        assert np.isfinite(history.history["loss"]).all()
        reloaded = keras.models.load_model(tmp_path / training.FINAL_MODEL_FILE)
        x = data.x_train[:4] / 255.0
        np.testing.assert_allclose(reloaded.predict(x, verbose=0), model.predict(x, verbose=0),
                                   atol=1e-3)
        assert np.isfinite(evaluation.predict(model, data.test, tta=2)).all()
    finally:
        assert training.set_precision(recipes.Recipe()) == "float32"


# --- The benchmark script's summary ---

def test_the_airbench_benchmark_summarises_runs_and_time_to_the_target():
    import airbench as bench  # benchmarks/airbench.py

    rows = [{"accuracy": 0.9412, "train_seconds": 30.0}, {"accuracy": 0.9388,
                                                           "train_seconds": 32.0}]
    summary = bench.summarise(rows, target=0.94)
    assert summary["mean"] == pytest.approx(0.94) and summary["min"] == 0.9388
    assert summary["max"] == 0.9412 and summary["runs"] == 2
    assert summary["mean_seconds"] == pytest.approx(31.0)
    assert summary["seconds_to_target"] == pytest.approx(31.0)  # the mean reaches 94%
    assert bench.summarise(rows[1:], target=0.94)["seconds_to_target"] is None
