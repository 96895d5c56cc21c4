"""The batch augmentations and the in-memory input pipeline: distributions, exact pixels, errors."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from cnnlabs import pipelines
from cnnlabs.datasets import Splits


def _dot_images(n: int, size: int = 12) -> np.ndarray:
    """``n`` black images with one white pixel in the middle."""
    x = np.zeros((n, size, size, 1), "uint8")
    x[:, size // 2, size // 2] = 255
    return x


def _shifts(batch: np.ndarray, size: int = 12) -> np.ndarray:
    """Row and column shift of the white pixel in each image (NaN rows: it left the image)."""
    found = np.argwhere(batch[..., 0] > 0.5)
    shifts = np.full((len(batch), 2), np.nan)
    shifts[found[:, 0]] = found[:, 1:] - size // 2
    return shifts


def test_crop_draws_the_shifts_of_keras_random_translation_per_image():
    """A uniform shift in [-4, 4] rounded to whole pixels: 1/8 for -3..3, 1/16 for +-4."""
    x = _dot_images(8192)
    ds = pipelines.from_arrays(x, np.zeros(len(x)), len(x), training=True, seed=4,
                               augment=("crop",))
    shifts = _shifts(next(iter(ds))[0].numpy())
    assert not np.isnan(shifts).any()  # zeros fill in; the pixel never falls off
    for axis in (0, 1):
        share = np.bincount(shifts[:, axis].astype(int) + 4, minlength=9) / len(x)
        expected = np.array([1, 2, 2, 2, 2, 2, 2, 2, 1]) / 16
        np.testing.assert_allclose(share, expected, atol=0.015)
    assert abs(np.corrcoef(shifts.T)[0, 1]) < 0.05  # rows and columns drawn independently


def test_reflect_shift_is_uniform_over_the_25_offsets_and_reflects_the_image():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (4096, 6, 6, 1), dtype="uint8")
    ds = pipelines.from_arrays(x, np.arange(len(x)), len(x), training=False)
    originals = next(iter(ds))[0].numpy()
    shifted = next(iter(pipelines.from_arrays(x, np.arange(len(x)), len(x), training=True,
                                              seed=1, augment=("reflect_shift",))))
    images, order = shifted[0].numpy(), shifted[1].numpy()
    padded = np.pad(originals[order], ((0, 0), (2, 2), (2, 2), (0, 0)), mode="reflect")
    counts = np.zeros((5, 5))
    for image, source in zip(images, padded, strict=True):
        matches = [(r, c) for r in range(5) for c in range(5)
                   if np.array_equal(image, source[4 - r:10 - r, 4 - c:10 - c])]
        assert len(matches) == 1
        counts[matches[0]] += 1
    np.testing.assert_allclose(counts / len(x), 1 / 25, atol=0.012)


@pytest.mark.parametrize("mode, numpy_mode", [("CONSTANT", "constant"), ("REFLECT", "reflect")])
def test_shift_images_moves_each_image_by_its_own_whole_pixels(mode, numpy_mode):
    images = np.arange(3 * 5 * 5 * 2, dtype="float32").reshape(3, 5, 5, 2)
    offsets = np.array([[0, 0], [2, -1], [-2, 2]])
    out = pipelines.shift_images(tf.constant(images), tf.constant(offsets), 2, mode=mode).numpy()
    padded = np.pad(images, ((0, 0), (2, 2), (2, 2), (0, 0)), mode=numpy_mode)
    for image, source, (down, right) in zip(out, padded, offsets, strict=True):
        np.testing.assert_array_equal(image, source[2 - down:7 - down, 2 - right:7 - right])


@pytest.mark.parametrize("mode", ["CONSTANT", "REFLECT"])
def test_a_shift_with_mirror_equals_a_flip_then_the_shift(mode):
    rng = np.random.default_rng(5)
    images = tf.constant(rng.integers(0, 256, (6, 7, 5, 3), dtype="uint8"))
    offsets = tf.constant(rng.integers(-2, 3, (6, 2)))
    mirror = tf.constant([True, False, True, True, False, False])
    fused = pipelines.shift_images(images, offsets, 2, mode, mirror=mirror)
    apart = pipelines.shift_images(pipelines.flip_images(images, mirror), offsets, 2, mode)
    np.testing.assert_array_equal(fused.numpy(), apart.numpy())


def test_alternating_flip_mirrors_each_image_the_other_way_every_other_epoch():
    x = np.zeros((64, 4, 4, 1), "uint8")
    x[:, :, 0] = 255  # a white left column: mirrored, it is on the right
    epoch = tf.Variable(0, dtype=tf.int64)
    ds = pipelines.from_arrays(x, np.arange(64), 64, training=True, seed=2,
                               augment=("alternating_flip",), epoch=epoch)

    def mirrored() -> np.ndarray:
        images, index = next(iter(ds))
        flags = np.zeros(64, bool)
        flags[index.numpy()] = images.numpy()[:, 0, -1, 0] > 0.5
        return flags

    first = mirrored()
    assert 20 < first.sum() < 44  # a random half
    np.testing.assert_array_equal(mirrored(), first)  # same epoch, same flips
    epoch.assign(1)
    np.testing.assert_array_equal(mirrored(), ~first)
    epoch.assign(6)
    np.testing.assert_array_equal(mirrored(), first)


def test_the_same_seed_repeats_the_batch_augmentations_and_another_changes_them():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (32, 12, 12, 3), dtype="uint8")
    names = ("flip", "crop", "reflect_shift")

    def first_batch(seed):
        ds = pipelines.from_arrays(x, np.zeros(32), 32, training=True, seed=seed, augment=names)
        return next(iter(ds))[0].numpy()

    np.testing.assert_array_equal(first_batch(5), first_batch(5))
    assert not np.array_equal(first_batch(5), first_batch(6))


def test_drop_remainder_trains_on_full_batches_only():
    x = np.arange(50, dtype="uint8").reshape(50, 1, 1, 1)
    splits = Splits("toy", x, np.arange(50) % 2, x[:4], np.arange(4) % 2, ["a", "b"])
    data = pipelines.build(splits, 16, "smoke", seed=0, drop_remainder=True)
    assert (data.n_train, data.steps_per_epoch) == (38, 2)
    sizes = [len(b[1]) for b in data.train]
    assert sizes == [16, 16]
    assert [len(b[1]) for b in data.val] == [12]  # evaluation keeps every sample
    left_out = [set(range(50)) - {round(v * 255) for b in data.train for v in b[0].numpy().ravel()}
                for _ in range(2)]
    assert all(len(s) == 50 - 32 for s in left_out)
    assert pipelines.build(splits, 16, "smoke", seed=0).steps_per_epoch == 3


def test_a_batch_larger_than_the_training_set_is_refused_with_drop_remainder():
    x = np.zeros((10, 2, 2, 1), "uint8")
    with pytest.raises(ValueError, match="larger than the 10 training samples"):
        pipelines.from_arrays(x, np.zeros(10), 16, training=True, drop_remainder=True)
    ds = pipelines.from_arrays(x, np.zeros(10), 16, training=False, drop_remainder=True)
    assert [len(b[1]) for b in ds] == [10]  # evaluation never drops


def test_alternating_flip_needs_the_epoch_and_the_image_indices():
    x = np.zeros((8, 4, 4, 1), "uint8")
    with pytest.raises(ValueError, match="epoch="):
        pipelines.from_arrays(x, np.zeros(8), 4, training=True, augment=("alternating_flip",))
    ds = tf.data.Dataset.from_tensor_slices((x.astype("float32"), np.zeros(8))).batch(4)
    with pytest.raises(ValueError, match="in-memory arrays"):
        pipelines.augment_dataset(ds, ("alternating_flip",), (4, 4, 1))
    data = pipelines.build(Splits("toy", x, np.arange(8) % 2, x, np.arange(8) % 2, ["a", "b"]),
                           4, "smoke", augment=("alternating_flip",))
    assert int(data.epoch.numpy()) == 0
    assert pipelines.build(Splits("toy", x, np.arange(8) % 2, x, np.arange(8) % 2, ["a", "b"]),
                           4, "smoke", augment=("flip",)).epoch is None


def test_batches_keep_pixels_exact_and_labels_with_their_images():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (40, 3, 3, 1), dtype="uint8")
    x[:, 0, 0, 0] = np.arange(40)  # the index, so that each image names itself
    ds = pipelines.from_arrays(x, np.arange(40), 8, training=True, seed=0, num_classes=40)
    for images, labels in ds:
        index = np.round(images.numpy()[:, 0, 0, 0] * 255).astype(int)
        np.testing.assert_array_equal(index, labels.numpy().argmax(axis=1))
        np.testing.assert_allclose(images.numpy(), x[index] / 255.0, rtol=1e-6)
