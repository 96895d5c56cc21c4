"""Recipes, the TrainingMonitor, checkpoints, and resuming an interrupted run."""

from __future__ import annotations

import dataclasses
import json

import keras
import numpy as np
import pytest

from cnnlabs import backup, config, datasets, models, pipelines, recipes, training
from cnnlabs.datasets.splits import Splits


def _mnist_subset(path, n_train: int, n_test: int) -> Splits:
    with np.load(path) as f:
        x_train, y_train = f["x_train"][:n_train, ..., None], f["y_train"][:n_train]
        x_test, y_test = f["x_test"][:n_test, ..., None], f["y_test"][:n_test]
    return Splits("mnist", x_train, y_train.astype("int64"), x_test, y_test.astype("int64"),
                  [str(i) for i in range(10)], source=str(path))


def test_recipe_comes_from_the_model_and_profile_table():
    r = recipes.recipe("lenet", "cpu")
    assert (r.optimizer, r.schedule, r.epochs, r.batch_size) == ("adam", "cosine", 12, 128)
    assert recipes.recipe("LeNet", "full").epochs == 20


def test_smoke_profile_caps_epochs_and_overrides_apply():
    assert recipes.recipe("lenet", "smoke", epochs=50).epochs == 1
    r = recipes.recipe("lenet", "cpu", epochs=3, batch_size=32)
    assert (r.epochs, r.batch_size) == (3, 32)
    assert recipes.recipe("lenet", "cpu", epochs=None).epochs == 12


@pytest.mark.parametrize(("override", "message"), [
    ({"epochs": 0}, "epochs must be"),
    ({"epochs": -1}, "epochs must be"),
    ({"epochs": 2.5}, "epochs must be"),
    ({"batch_size": 0}, "batch_size must be"),
    ({"learning_rate": -1e-3}, "learning_rate must be above 0"),
    ({"weight_decay": -1e-4}, "weight_decay must be"),
    ({"label_smoothing": 1.0}, "label_smoothing must be"),
    ({"unfreeze": -5}, "unfreeze must be"),
    ({"epochs": True}, "epochs must be"),
    ({"batch_size": True}, "batch_size must be"),
])
def test_a_recipe_that_would_train_nothing_or_wrongly_is_refused(override, message):
    # Before this check `cnnlabs train ... --epochs -1` saved an untrained model's results.
    with pytest.raises(ValueError, match=message):
        recipes.recipe("lenet", "cpu", **override)
    with pytest.raises(ValueError, match=message):
        recipes.Recipe(**override)


def test_numpy_integers_in_a_recipe_become_plain_ints():
    r = recipes.recipe("lenet", "cpu", epochs=np.int64(3), batch_size=np.int32(32))
    assert (r.epochs, r.batch_size) == (3, 32)
    assert type(r.epochs) is int and type(r.batch_size) is int
    json.dumps(dataclasses.asdict(r))  # recipe.json is written with the standard encoder


def test_models_without_a_recipe_get_the_profile_default():
    assert recipes.recipe("somenet", "full") == recipes.DEFAULT_RECIPES["full"]


def test_cosine_schedule_starts_at_the_peak_and_ends_at_the_floor():
    r = recipes.Recipe(learning_rate=0.1, schedule="cosine", epochs=2, min_lr_ratio=0.01)
    schedule = training.learning_rate_schedule(r, steps_per_epoch=50)
    assert float(schedule(0)) == pytest.approx(0.1)
    assert float(schedule(50)) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5), rel=1e-5)
    assert float(schedule(100)) == pytest.approx(0.001, rel=1e-5)


def test_warmup_rises_linearly_to_the_peak():
    r = recipes.Recipe(learning_rate=0.2, schedule="cosine", epochs=4, warmup_epochs=1)
    schedule = training.learning_rate_schedule(r, steps_per_epoch=10)
    assert float(schedule(0)) == pytest.approx(0.0)
    assert float(schedule(5)) == pytest.approx(0.1, rel=1e-5)
    assert float(schedule(10)) == pytest.approx(0.2, rel=1e-5)


def test_step_schedule_divides_by_ten_twice():
    r = recipes.Recipe(learning_rate=1.0, schedule="step", epochs=4)
    schedule = training.learning_rate_schedule(r, steps_per_epoch=10)
    assert [float(schedule(s)) for s in (0, 25, 35)] == pytest.approx([1.0, 0.1, 0.01])


def test_sgd_recipe_builds_a_keras3_optimizer_with_momentum():
    opt = training.make_optimizer(recipes.Recipe(optimizer="sgd", schedule="constant",
                                                  learning_rate=0.05, momentum=0.9), 10)
    assert isinstance(opt, keras.optimizers.SGD)
    assert opt.momentum == pytest.approx(0.9) and opt.nesterov


def test_unknown_optimizer_and_schedule_are_rejected():
    with pytest.raises(ValueError, match="Valid: adam, adamw, sgd"):
        training.make_optimizer(recipes.Recipe(optimizer="rmsprop"), 1)
    with pytest.raises(ValueError, match="Valid: constant, cosine, linear, polynomial, step"):
        training.learning_rate_schedule(recipes.Recipe(schedule="exponential"), 1)


def test_lenet_learns_on_a_small_real_mnist_batch(real_mnist_npz, tmp_path):
    config.seed_everything(0)
    splits = _mnist_subset(real_mnist_npz, 2048, 500)
    data = pipelines.build(splits, 64, "cpu", seed=0)
    model = models.build("lenet", splits.input_shape, 10)
    r = recipes.Recipe(optimizer="adam", learning_rate=1e-3, schedule="constant", epochs=3,
                        batch_size=64)
    history = training.fit(model, data, r, tmp_path, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    _, accuracy = model.evaluate(data.test, verbose=0)
    assert accuracy > 0.85  # chance is 0.10; LeNet gets ~0.93 here


def test_run_folder_holds_history_plot_and_checkpoints(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (96, 8, 8, 1), dtype="uint8")
    y = rng.integers(0, 2, 96)
    splits = Splits("noise", x, y, x[:16], y[:16], ["a", "b"], source="test")
    data = pipelines.build(splits, 32, "cpu")
    model = models.build("lenet", (8, 8, 1), 2)
    training.fit(model, data, recipes.Recipe(epochs=2, batch_size=32), tmp_path, verbose=0)
    rows = json.loads((tmp_path / training.HISTORY_FILE).read_text())
    assert [row["epoch"] for row in rows] == [1, 2]
    assert {"loss", "accuracy", "val_loss", "val_accuracy", "seconds"} <= set(rows[0])
    assert (tmp_path / training.CURVES_FILE).read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / training.BEST_MODEL_FILE).is_file()
    reloaded = keras.saving.load_model(tmp_path / training.FINAL_MODEL_FILE)
    assert reloaded.count_params() == model.count_params()
    assert not (tmp_path / backup.BACKUP_DIR).exists()  # removed once the run completes
    assert json.loads((tmp_path / "recipe.json").read_text())["epochs"] == 2


class _Interrupt(keras.callbacks.Callback):
    """Raise in the middle of an epoch, as a killed process or Ctrl-C would."""

    def __init__(self, epoch: int, batch: int) -> None:
        super().__init__()
        self.at = (epoch, batch)
        self.epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_begin(self, batch, logs=None):
        if (self.epoch, batch) == self.at:
            raise KeyboardInterrupt("simulated interruption")


class _FirstStep(keras.callbacks.Callback):
    """Record the optimizer step and epoch at which training (re)starts."""

    def __init__(self) -> None:
        super().__init__()
        self.step = None
        self.epochs: list[int] = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        if self.step is None:
            self.step = int(self.model.optimizer.iterations)


class _EpochStarts(keras.callbacks.Callback):
    """Record the optimizer step at the start of every epoch (0-based epoch -> step)."""

    def __init__(self) -> None:
        super().__init__()
        self.steps: dict[int, int] = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.steps[epoch] = int(self.model.optimizer.iterations)


def _noise_data(seed: int = 1):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 255, (640, 8, 8, 1), dtype="uint8")
    y = rng.integers(0, 3, 640)
    splits = Splits("noise", x, y, x[:32], y[:32], ["a", "b", "c"], source="test")
    return pipelines.build(splits, 64, "cpu")  # 576 train samples -> 9 steps per epoch


def test_a_run_interrupted_mid_epoch_resumes_from_its_backup(tmp_path):
    data = _noise_data()
    r = recipes.Recipe(epochs=3, batch_size=64)

    first = models.build("lenet", (8, 8, 1), 3)
    with pytest.raises(KeyboardInterrupt):
        training.fit(first, data, r, tmp_path, verbose=0, backup_every=2,
                     extra_callbacks=[_Interrupt(epoch=1, batch=5)])
    assert (tmp_path / backup.BACKUP_DIR).is_dir()
    assert [row["epoch"] for row in training.read_history(tmp_path)] == [1]

    # A new process would build a fresh model; the backup restores weights,
    # optimizer state and the position. Backups every 2 batches (the count runs on
    # across epochs, and epoch ends save too) put the last one after the fifth
    # batch of epoch 2, at 9 + 5 = 14 optimizer steps; that epoch then goes on with
    # its 4 remaining batches, so the run ends after 3 * 9 steps, as without the stop.
    restarted = models.build("lenet", (8, 8, 1), 3)
    probe = _FirstStep()
    history = training.fit(restarted, data, r, tmp_path, verbose=0, backup_every=2,
                           extra_callbacks=[probe])
    assert probe.epochs == [1, 2]
    assert probe.step == 14
    assert len(history.history["loss"]) == 2
    assert [row["epoch"] for row in training.read_history(tmp_path)] == [1, 2, 3]
    assert int(restarted.optimizer.iterations) == 3 * 9
    assert not (tmp_path / backup.BACKUP_DIR).exists()


def test_every_epoch_end_is_backed_up_even_with_fewer_batches_than_backup_every(tmp_path):
    """9 batches per epoch, a backup every 200: the epoch ends still back up, so an
    interruption in epoch 3 resumes there, not from the start."""
    data = _noise_data()
    r = recipes.Recipe(epochs=4, batch_size=64)
    with pytest.raises(KeyboardInterrupt):
        training.fit(models.build("lenet", (8, 8, 1), 3), data, r, tmp_path, verbose=0,
                     backup_every=200, extra_callbacks=[_Interrupt(epoch=2, batch=4)])
    assert [row["epoch"] for row in training.read_history(tmp_path)] == [1, 2]
    restarted = models.build("lenet", (8, 8, 1), 3)
    probe = _FirstStep()
    training.fit(restarted, data, r, tmp_path, verbose=0, backup_every=200,
                 extra_callbacks=[probe])
    assert probe.epochs == [2, 3] and probe.step == 2 * 9
    assert [row["epoch"] for row in training.read_history(tmp_path)] == [1, 2, 3, 4]


def _fit(data, r, run_dir, **kwargs):
    """Train a freshly built 8x8 LeNet in ``run_dir``, as a new process would."""
    return training.fit(models.build("lenet", (8, 8, 1), 3), data, r, run_dir, verbose=0,
                        **kwargs)


def _interrupted_in_epoch_3(run_dir):
    """A 3-epoch run stopped at the start of epoch 3, its backup left in ``run_dir``."""
    data, r = _noise_data(), recipes.Recipe(epochs=3, batch_size=64)
    with pytest.raises(KeyboardInterrupt):
        _fit(data, r, run_dir, extra_callbacks=[_Interrupt(epoch=2, batch=0)])
    return data, r


def test_a_second_interruption_early_in_a_resumed_run_keeps_its_epoch(tmp_path):
    """Interrupted in epoch 2, resumed, then interrupted again after 4 batches of that
    same epoch, before it ended: the mid-epoch backup must say epoch 2, not epoch 1
    (Keras counts from 0 until the first epoch of a run ends)."""
    data = _noise_data()
    r = recipes.Recipe(epochs=3, batch_size=64)
    for batch in (5, 3):
        with pytest.raises(KeyboardInterrupt):
            _fit(data, r, tmp_path, backup_every=2,
                 extra_callbacks=[_Interrupt(epoch=1, batch=batch)])
    meta = json.loads((tmp_path / backup.BACKUP_DIR / "training_metadata.json").read_text())
    assert meta["epoch"] == 1  # 0-based: epoch 2
    probe = _FirstStep()
    _fit(data, r, tmp_path, backup_every=2, extra_callbacks=[probe])
    assert probe.epochs == [1, 2]
    assert [row["epoch"] for row in training.read_history(tmp_path)] == [1, 2, 3]


def test_a_backup_torn_by_a_hard_kill_falls_back_then_fails_clearly(tmp_path):
    data, r = _interrupted_in_epoch_3(tmp_path)
    folder = tmp_path / backup.BACKUP_DIR
    latest = folder / backup.BACKUP_WEIGHTS
    previous = folder / backup.PREVIOUS_WEIGHTS
    assert previous.is_file()  # the backup before the latest one is kept

    # Killed while the latest backup was being written: the previous one is used, and
    # the warning names the damaged file.
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])
    saved = previous.read_bytes()
    with (pytest.warns(backup.BackupFallbackWarning, match=r"latest\.weights\.h5 cannot"),
          pytest.raises(KeyboardInterrupt)):
        _fit(data, r, tmp_path, extra_callbacks=[_Interrupt(epoch=2, batch=0)])

    # Both copies torn: a clear error naming the folder, and nothing deleted.
    for path in (latest, previous):
        path.write_bytes(saved[: len(saved) // 3])
    with pytest.raises(backup.BackupError, match="Delete that folder"):
        _fit(data, r, tmp_path)
    assert latest.is_file() and previous.is_file()
    assert [row["epoch"] for row in training.read_history(tmp_path)] == [1, 2]


def test_a_torn_backup_metadata_file_also_falls_back_to_the_previous_backup(tmp_path):
    data, r = _interrupted_in_epoch_3(tmp_path)
    meta = tmp_path / backup.BACKUP_DIR / "training_metadata.json"
    meta.write_text(meta.read_text()[:5])  # a hard kill while it was written: bad JSON
    probe = _FirstStep()
    with pytest.warns(backup.BackupFallbackWarning, match=r"training_metadata\.json cannot"):
        _fit(data, r, tmp_path, extra_callbacks=[probe])
    assert probe.epochs == [1, 2]  # the previous backup (end of epoch 1), not epoch 1 again
    assert [row["epoch"] for row in training.read_history(tmp_path)] == [1, 2, 3]


def test_weights_and_position_cut_apart_by_a_kill_fall_back_to_the_previous_backup(tmp_path):
    """Killed between writing the weights and the position of a backup: the newer weights
    do not match the older position, so the previous backup is used, and said so."""
    data, r = _interrupted_in_epoch_3(tmp_path)
    state = tmp_path / backup.BACKUP_DIR / backup.BACKUP_STATE
    position = json.loads(state.read_text())
    position["iterations"] -= 1
    state.write_text(json.dumps(position))
    probe = _FirstStep()
    with pytest.warns(backup.BackupFallbackWarning, match="says step"):
        _fit(data, r, tmp_path, extra_callbacks=[probe])
    assert probe.epochs == [1, 2] and probe.step == 9


_KILLED_RUN = """
import os, signal, sys
import keras
from cnnlabs import config, datasets, models, pipelines, recipes, training

config.seed_everything(0)
splits = datasets.load("mnist", "smoke", seed=0)
recipe = recipes.recipe("lenet", "cpu", epochs=3, batch_size=64)
data = pipelines.build(splits, recipe.batch_size, "smoke", seed=0)


class Kill(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == 1 and batch == 6:  # 7 batches into epoch 2
            os.kill(os.getpid(), signal.SIGKILL)


model = models.build("lenet", splits.input_shape, splits.num_classes)
training.fit(model, data, recipe, sys.argv[1], verbose=0, backup_every=4,
             extra_callbacks=[Kill()])
"""


def test_a_run_killed_mid_epoch_resumes_to_the_same_step_and_learning_rate(tmp_path):
    """SIGKILL in the middle of epoch 2 of a 3-epoch LeNet run on the smoke-sized MNIST,
    then the same call again: it ends after as many optimizer steps as an uninterrupted
    run, so the cosine schedule ends on the same learning rate."""
    import signal
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    killed = subprocess.run([sys.executable, "-c", _KILLED_RUN, str(run_dir)],
                            capture_output=True, text=True, timeout=600)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    position = json.loads((run_dir / backup.BACKUP_DIR / backup.BACKUP_STATE).read_text())
    assert (position["epoch"], position["steps_done"]) == (1, 4)  # the backup after batch 4

    config.seed_everything(0)
    splits = datasets.load("mnist", "smoke", seed=0)
    recipe = recipes.recipe("lenet", "cpu", epochs=3, batch_size=64)
    data = pipelines.build(splits, recipe.batch_size, "smoke", seed=0)
    steps = data.steps_per_epoch
    model = models.build("lenet", splits.input_shape, splits.num_classes)
    starts = _EpochStarts()
    training.fit(model, data, recipe, run_dir, verbose=0, backup_every=4,
                 extra_callbacks=[starts])

    assert starts.steps == {1: steps + 4, 2: 2 * steps}  # epoch 3 starts on schedule
    assert int(model.optimizer.iterations) == 3 * steps  # not 3 * steps + 4, as before
    expected = training.learning_rate_schedule(recipe, steps)(3 * steps)
    assert float(model.optimizer.learning_rate) == pytest.approx(float(expected), abs=1e-9)
    assert [row["epoch"] for row in training.read_history(run_dir)] == [1, 2, 3]
    assert not (run_dir / backup.BACKUP_DIR).exists()


def test_a_finished_run_is_reused_when_asked_and_trained_again_when_not(tmp_path):
    data, r = _noise_data(), recipes.Recipe(epochs=2, batch_size=64)
    first = _fit(data, r, tmp_path, reuse_finished=True)  # nothing there yet: it trains
    assert first.epoch == [0, 1]
    saved = keras.saving.load_model(tmp_path / training.FINAL_MODEL_FILE).get_weights()
    probe = _FirstStep()
    model = models.build("lenet", (8, 8, 1), 3)
    again = training.fit(model, data, r, tmp_path, verbose=0, reuse_finished=True,
                         extra_callbacks=[probe])
    assert probe.epochs == [] and again.epoch == [0, 1]  # nothing trained; the history kept
    assert again.history["loss"] == [row["loss"] for row in training.read_history(tmp_path)]
    for ours, theirs in zip(model.get_weights(), saved, strict=True):
        np.testing.assert_array_equal(ours, theirs)
    longer = dataclasses.replace(r, epochs=3)  # another recipe: trained from scratch
    assert _fit(data, longer, tmp_path, reuse_finished=True).epoch == [0, 1, 2]
    assert _fit(data, longer, tmp_path).epoch == [0, 1, 2]  # and never without the flag


def test_a_run_without_a_backup_starts_afresh_and_replaces_what_was_left(tmp_path):
    """A folder with an earlier run's history and best model but no backup: the new run
    does not inherit that history or its best score, so best.keras is its own."""
    data = _noise_data(2)
    (tmp_path / training.HISTORY_FILE).write_text(json.dumps(
        [{"epoch": e, "loss": 0.1, "val_accuracy": 1.0} for e in (1, 2, 3, 4, 5)]))
    (tmp_path / training.BEST_MODEL_FILE).write_bytes(b"an abandoned attempt's model")
    r = recipes.Recipe(epochs=2, batch_size=64)
    training.fit(models.build("lenet", (8, 8, 1), 3), data, r, tmp_path, verbose=0)
    rows = training.read_history(tmp_path)
    assert [row["epoch"] for row in rows] == [1, 2] and all(row["loss"] != 0.1 for row in rows)
    best = keras.saving.load_model(tmp_path / training.BEST_MODEL_FILE)  # replaced
    assert best.count_params() == models.build("lenet", (8, 8, 1), 3).count_params()


def test_label_smoothing_needs_one_hot_labels_and_softens_the_target():
    smooth = recipes.Recipe(label_smoothing=0.1)
    with pytest.raises(ValueError, match="one_hot=True"):
        training.loss_for(smooth, one_hot=False)
    # With smoothing 0.1 over 3 classes the target is (0.933, 0.033, 0.033), so a
    # confident correct prediction costs more than without smoothing.
    target = np.array([[1.0, 0.0, 0.0]], "float32")
    confident = np.array([[0.98, 0.01, 0.01]], "float32")
    smoothed = float(training.loss_for(smooth, one_hot=True)(target, confident))
    plain = float(training.loss_for(recipes.Recipe(), one_hot=True)(target, confident))
    expected = -(0.9 + 0.1 / 3) * np.log(0.98) - 2 * (0.1 / 3) * np.log(0.01)
    assert plain == pytest.approx(-np.log(0.98), rel=1e-4)
    assert smoothed == pytest.approx(expected, rel=1e-4)


def test_training_with_label_smoothing_and_augmentation_runs(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 255, (64, 8, 8, 3), dtype="uint8")
    y = rng.integers(0, 2, 64)
    splits = Splits("noise", x, y, x[:8], y[:8], ["a", "b"], source="test")
    r = recipes.Recipe(epochs=1, batch_size=16, label_smoothing=0.1, augment=("flip", "crop"))
    data = pipelines.build(splits, r.batch_size, "cpu", augment=r.augment, one_hot=True)
    model = models.build("lenet", (8, 8, 3), 2)
    history = training.fit(model, data, r, tmp_path, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert "val_accuracy" in history.history


def test_mixed_precision_is_not_used_without_a_gpu(monkeypatch):
    import keras

    monkeypatch.setattr(training, "mixed_precision_supported", lambda: False)
    assert training.set_precision(recipes.Recipe(mixed_precision=True)) == "float32"
    monkeypatch.setattr(training, "mixed_precision_supported", lambda: True)
    try:
        assert training.set_precision(recipes.Recipe(mixed_precision=True)) == "mixed_float16"
        assert keras.config.dtype_policy().name == "mixed_float16"
        model = models.build("minivggnet", (32, 32, 3), 10)
        assert model.get_layer("block1_a_conv").compute_dtype == "float16"
        assert model.get_layer("predictions").compute_dtype == "float32"
        assert model.output.dtype == "float32"
    finally:
        assert training.set_precision(recipes.Recipe()) == "float32"


def test_a_cifar_recipe_trains_saves_and_reloads_under_mixed_precision(monkeypatch, tmp_path):
    """The `full` CIFAR recipes run in mixed precision on a GPU (labs 04-06): loss scaling,
    checkpoints and the epoch-end backup must work under it too (here on the CPU)."""
    monkeypatch.setattr(training, "mixed_precision_supported", lambda: True)
    r = recipes.recipe("resnet20", "full")
    assert r.mixed_precision
    r = dataclasses.replace(r, epochs=2, batch_size=16, warmup_epochs=0)
    rng = np.random.default_rng(0)
    x = rng.random((48, 32, 32, 3), dtype=np.float32)
    y = np.arange(48) % 10
    splits = Splits("noise", x, y, x[:16], y[:16], [str(i) for i in range(10)], source="test")
    data = pipelines.build(splits, r.batch_size, "cpu", augment=r.augment)
    try:
        assert training.set_precision(r) == "mixed_float16"
        model = models.build("resnet20", (32, 32, 3), 10)
        history = training.fit(model, data, r, tmp_path, verbose=0)
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
        assert np.isfinite(history.history["loss"]).all()
        assert [row["epoch"] for row in training.read_history(tmp_path)] == [1, 2]
        reloaded = keras.models.load_model(tmp_path / "model.keras")
        assert reloaded.get_layer("predictions").compute_dtype == "float32"
        np.testing.assert_allclose(reloaded.predict(x[:4], verbose=0),
                                   model.predict(x[:4], verbose=0), atol=1e-3)
    finally:
        assert training.set_precision(recipes.Recipe()) == "float32"


def test_linear_and_polynomial_decay_replace_the_removed_decay_argument():
    linear = training.learning_rate_schedule(
        recipes.Recipe(learning_rate=0.1, schedule="linear", epochs=1), steps_per_epoch=100)
    assert [float(linear(s)) for s in (0, 50, 100)] == pytest.approx([0.1, 0.05, 0.0], abs=1e-7)
    poly = training.learning_rate_schedule(
        recipes.Recipe(learning_rate=0.1, schedule="polynomial", power=2.0, epochs=1,
                        min_lr_ratio=0.0), steps_per_epoch=100)
    assert float(poly(50)) == pytest.approx(0.1 * 0.5**2, rel=1e-5)


def test_one_cycle_rises_to_the_peak_then_falls_far_below_the_start():
    schedule = training.learning_rate_schedule(
        recipes.Recipe(learning_rate=0.1, schedule="one_cycle", epochs=10), steps_per_epoch=10)
    values = [float(schedule(s)) for s in range(0, 101)]
    assert values[0] == pytest.approx(0.1 / 25, rel=1e-5)
    assert max(values) == pytest.approx(0.1, rel=1e-5) and values.index(max(values)) == 30
    assert values[100] == pytest.approx(0.1 / 25 / 1e4, rel=1e-3)
    assert all(a <= b for a, b in zip(values[:30], values[1:31], strict=True))
    assert all(a >= b for a, b in zip(values[30:100], values[31:101], strict=True))


def test_a_model_trained_with_one_cycle_saves_and_reloads(tmp_path):
    rng = np.random.default_rng(3)
    x = rng.integers(0, 255, (64, 8, 8, 1), dtype="uint8")
    y = rng.integers(0, 2, 64)
    splits = Splits("noise", x, y, x[:8], y[:8], ["a", "b"], source="test")
    r = recipes.Recipe(optimizer="sgd", schedule="one_cycle", learning_rate=0.05, epochs=1,
                        batch_size=16)
    model = models.build("lenet", (8, 8, 1), 2)
    training.fit(model, pipelines.build(splits, 16, "cpu"), r, tmp_path, verbose=0)
    reloaded = keras.saving.load_model(tmp_path / training.FINAL_MODEL_FILE)
    saved = reloaded.optimizer.get_config()["learning_rate"]
    assert saved["class_name"] == "OneCycle" and saved["config"]["peak"] == pytest.approx(0.05)


def test_a_dataset_specific_recipe_wins_when_the_dataset_is_named():
    general = recipes.recipe("resnet_small", "cpu")
    specific = recipes.recipe("resnet_small", "cpu", "pneumoniamnist")
    assert general.optimizer == "sgd" and not general.balance_classes
    assert specific.optimizer == "adamw" and specific.balance_classes
    assert recipes.recipe("resnet_small", "cpu", "cifar10") == general
    assert recipes.recipe("resnet_small", "smoke", "PneumoniaMNIST").epochs == 1
    assert recipes.recipe("resnet_small", "cpu", "pneumoniamnist_64") == specific  # 64 px


def test_transfer_recipes_fine_tune_with_a_lower_rate_and_some_layers_unfrozen():
    features = recipes.recipe("transfer_features", "full")
    finetune = recipes.recipe("transfer_finetune", "full")
    assert features.unfreeze == 0 and finetune.unfreeze > 0
    assert finetune.learning_rate <= features.learning_rate / 10
    assert features.balance_classes and finetune.balance_classes
    assert "flip" not in features.augment  # a mirrored chest puts the heart on the wrong side


@pytest.mark.parametrize("balance, expected", [(False, 0.9), (True, 0.5)])
def test_balanced_class_weights_make_both_classes_count_equally(tmp_path, balance, expected):
    # Blank images carry no information, so the model can only learn the class prior:
    # 90% ones without weights, and 50/50 once each class weighs the same in the loss.
    y = np.array([1] * 180 + [0] * 20)
    x = np.zeros((200, 4, 4, 1), np.uint8)
    splits = Splits("blank", x, y, x[:10], y[:10], ["a", "b"], x_val=x[:10], y_val=y[:10])
    r = recipes.Recipe(optimizer="adam", learning_rate=0.05, schedule="constant", epochs=40,
                        batch_size=200, balance_classes=balance)
    data = pipelines.build(splits, r.batch_size, "cpu")
    assert data.y_train.tolist() == y.tolist()
    model = keras.Sequential([keras.Input((4, 4, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    training.fit(model, data, r, tmp_path, verbose=0, plot=False)
    p = model.predict(np.zeros((1, 4, 4, 1), "float32"), verbose=0)[0, 1]
    assert p == pytest.approx(expected, abs=0.03)
