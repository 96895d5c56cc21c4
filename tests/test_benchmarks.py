"""The pure helpers of the benchmark scripts (their training runs are not tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import medical  # noqa: E402


def test_hindsight_accuracy_is_the_best_single_threshold():
    y = [0, 0, 1, 1, 1]
    scores = [0.1, 0.6, 0.4, 0.7, 0.9]
    # thresholds 0.1 / 0.4 / 0.6 / 0.7 / 0.9 give 3/5, 4/5, 3/5, 4/5, 3/5 correct
    assert medical.hindsight_accuracy(y, scores) == pytest.approx(0.8)


def test_hindsight_accuracy_bounds_every_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = np.clip(0.3 * y + rng.normal(0.35, 0.2, 200), 0, 1)
    best = medical.hindsight_accuracy(y, scores)
    for t in (0.2, 0.5, 0.8):
        assert best >= ((scores >= t) == y).mean()
    assert medical.hindsight_accuracy(y, np.where(y == 1, 0.9, 0.1)) == 1.0


def test_probe_mixup_mixes_images_and_labels_with_the_same_weights():
    import pneumoniamnist_probes as probes
    import tensorflow as tf

    # Class-0 images are all 0 and class-1 images all 1, so after mixing, every
    # pixel of a sample must equal its label's class-1 share.
    labels = np.array([0, 1, 0, 1, 1, 0, 1, 0])
    images = np.broadcast_to(labels[:, None, None, None], (8, 4, 4, 1)).astype("float32")
    one_hot = tf.one_hot(labels, 2)
    mixed_x, mixed_y = probes._mixup(0.4, seed=3)(tf.constant(images), one_hot)
    mixed_x, mixed_y = mixed_x.numpy(), mixed_y.numpy()
    np.testing.assert_allclose(mixed_y.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(mixed_x[:, 0, 0, 0], mixed_y[:, 1], rtol=1e-5, atol=1e-6)
    assert (mixed_x == mixed_x[:, :1, :1, :]).all()  # one weight per sample, not per pixel
    share = mixed_y[:, 1]
    assert ((share > 0.01) & (share < 0.99)).any()  # some samples were mixed across classes


def test_probe_random_erase_replaces_one_rectangle_of_the_stated_size():
    import pneumoniamnist_probes as probes
    import tensorflow as tf

    images = tf.fill([400, 28, 28, 1], -1.0)  # noise lies in [0, 1), so erased pixels show
    labels = tf.zeros([400, 2])
    erased, same_labels = probes._random_erase(1.0, seed=5)(images, labels)
    erased = erased.numpy()
    assert np.array_equal(same_labels.numpy(), labels.numpy())
    mask = erased[..., 0] != -1.0
    assert ((erased[mask] >= 0.0) & (erased[mask] < 1.0)).all()
    share = mask.mean(axis=(1, 2))
    assert share.min() > 0.0 and share.max() <= 0.3  # 2-25% of the area, after rounding
    for m in mask:  # the erased pixels fill the box their rows and columns span
        assert m[np.ix_(m.any(axis=1), m.any(axis=0))].all()
    none = probes._random_erase(0.0, seed=5)(images, labels)[0].numpy()
    assert (none == -1.0).all()
    half = probes._random_erase(0.5, seed=5)(images, labels)[0].numpy()
    assert 0.4 < (half != -1.0).any(axis=(1, 2, 3)).mean() < 0.6


def test_probe_sam_with_zero_radius_takes_the_plain_optimizer_step():
    import keras
    import pneumoniamnist_probes as probes

    def tiny() -> keras.Model:
        inputs = keras.Input((4,))
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax",
                                                      kernel_initializer="ones")(inputs))

    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    trained = []
    for model in (tiny(), probes._sam_model(tiny(), 0.0), probes._sam_model(tiny(), 0.5)):
        model.compile(optimizer=keras.optimizers.SGD(0.1),
                      loss="sparse_categorical_crossentropy")
        history = model.fit(x, y, batch_size=16, epochs=1, verbose=0)
        assert history.history["loss"][0] == pytest.approx(np.log(2.0), rel=1e-4)  # 0.5 / 0.5
        trained.append(model.get_weights()[0])
    np.testing.assert_allclose(trained[1], trained[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(trained[2], trained[0], atol=1e-4)  # the perturbed gradient differs


def test_shifted_scores_average_the_nine_circular_shifts():
    import keras
    import tensorflow as tf

    images = np.random.default_rng(1).uniform(size=(2, 6, 6, 1)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices((images, np.zeros(2))).batch(2)
    inputs = keras.Input((6, 6, 1))
    pixel = keras.layers.Lambda(lambda x: x[:, 1, 4, :])(inputs)  # reads one pixel
    model = keras.Model(inputs, keras.layers.Concatenate()([1.0 - pixel, pixel]))
    np.testing.assert_allclose(medical.shifted_scores(model, dataset), images[:, 1, 4, 0],
                               rtol=1e-6)
    expected = np.mean([np.roll(images, (dy, dx), axis=(1, 2))[:, 1, 4, 0]
                        for dy in (-2, 0, 2) for dx in (-2, 0, 2)], axis=0)
    shifted = medical.shifted_scores(model, dataset, shift=2)
    np.testing.assert_allclose(shifted, expected, rtol=1e-6)
    assert not np.allclose(shifted, images[:, 1, 4, 0])


def test_train_row_prints_a_results_row_from_the_run(empty_data_dir, tmp_path):
    """The row's epochs and time come from the run (history.json, fit's time)."""
    import json
    import subprocess

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "train_row.py"
    done = subprocess.run(
        [sys.executable, str(script), "lenet", "mnist", "--profile", "smoke",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=600, check=True)
    lines = done.stdout.splitlines()
    row = lines[lines.index("results.md row:") + 1].split(" | ")
    assert row[0] == "| lenet" and row[1:3] == ["mnist", "smoke"]
    assert row[4] == "512" and row[5] == "1"  # mock test split, one epoch trained
    assert row[6].endswith("s end to end)")
    summary = json.loads(lines[-1])
    assert summary["n"] == 512 and summary["seed"] == 42
