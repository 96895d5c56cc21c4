"""tf.data pipelines: the stratified validation split, normalisation, batching, order."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlabs import pipelines
from cnnlabs.datasets import Splits


def _toy(n_per_class: int = 20, classes: int = 3):
    y = np.repeat(np.arange(classes), n_per_class)
    x = (np.arange(len(y)) % 256).astype("uint8").reshape(-1, 1, 1, 1) * np.ones((1, 4, 4, 1),
                                                                                   "uint8")
    return x, y


def test_validation_split_is_stratified_and_disjoint():
    x, y = _toy(20, 3)
    x_tr, y_tr, x_va, y_va = pipelines.split_validation(x, y, 0.25, seed=1)
    assert len(x_tr) == 45 and len(x_va) == 15
    assert np.bincount(y_va).tolist() == [5, 5, 5]
    assert not set(x_tr[:, 0, 0, 0].tolist()) & set(x_va[:, 0, 0, 0].tolist())


def test_validation_split_repeats_under_a_seed_and_changes_with_it():
    x, y = _toy(20, 3)
    a = pipelines.split_validation(x, y, 0.2, seed=3)[2]
    b = pipelines.split_validation(x, y, 0.2, seed=3)[2]
    c = pipelines.split_validation(x, y, 0.2, seed=4)[2]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_validation_fraction_out_of_range_is_rejected(fraction):
    x, y = _toy()
    with pytest.raises(ValueError, match="val_fraction"):
        pipelines.split_validation(x, y, fraction)


def test_arrays_become_normalised_float_batches_in_order_for_evaluation():
    x = np.array([0, 255, 51, 102, 204], "uint8").reshape(5, 1, 1, 1)
    y = np.arange(5)
    ds = pipelines.from_arrays(x, y, batch_size=2, training=False)
    batches = list(ds.as_numpy_iterator())
    assert [b[0].shape for b in batches] == [(2, 1, 1, 1), (2, 1, 1, 1), (1, 1, 1, 1)]
    images = np.concatenate([b[0] for b in batches]).ravel()
    np.testing.assert_allclose(images, [0.0, 1.0, 0.2, 0.4, 0.8], rtol=1e-6)
    assert images.dtype == np.float32
    assert np.concatenate([b[1] for b in batches]).tolist() == [0, 1, 2, 3, 4]


def test_training_pipeline_reshuffles_every_epoch_but_keeps_every_sample():
    x = np.arange(64, dtype="uint8").reshape(64, 1, 1, 1)
    ds = pipelines.from_arrays(x, np.arange(64), batch_size=64, training=True, seed=0)
    first = next(iter(ds))[1].numpy()
    second = next(iter(ds))[1].numpy()
    assert sorted(first.tolist()) == list(range(64))
    assert first.tolist() != second.tolist()


def test_build_carves_validation_from_train_and_keeps_test_whole():
    x, y = _toy(40, 2)
    splits = Splits("toy", x, y, x[:10], y[:10], ["a", "b"], source="test")
    data = pipelines.build(splits, batch_size=16, profile="smoke", seed=0)
    assert (data.n_train, data.n_val, data.n_test) == (60, 20, 10)
    assert data.steps_per_epoch == 4
    assert data.y_test.tolist() == y[:10].tolist()


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="batch_size"):
        pipelines.from_arrays(np.zeros((2, 4, 4, 1), "uint8"), np.zeros(2), 0, training=False)
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        pipelines.from_arrays(np.zeros((2, 4, 4), "uint8"), np.zeros(2), 2, training=False)


def _batch_images(ds):
    return next(iter(ds))[0].numpy()


def test_augmentation_is_deterministic_under_a_seed_and_changes_the_images():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 255, (32, 16, 16, 3), dtype="uint8")
    y = np.zeros(32, "int64")
    names = ("flip", "crop", "rotate", "zoom", "contrast", "brightness", "translate")
    a = pipelines.from_arrays(x, y, 32, training=True, seed=5, augment=names)
    b = pipelines.from_arrays(x, y, 32, training=True, seed=5, augment=names)
    plain = pipelines.from_arrays(x, y, 32, training=True, seed=5)
    first, second, untouched = _batch_images(a), _batch_images(b), _batch_images(plain)
    np.testing.assert_array_equal(first, second)
    assert first.shape == untouched.shape == (32, 16, 16, 3)
    assert not np.allclose(first, untouched)
    assert first.min() >= 0.0 and first.max() <= 1.0


def test_horizontal_flip_only_mirrors_or_keeps_each_image():
    x = np.arange(2 * 4 * 4, dtype="uint8").reshape(2, 4, 4, 1) * 7
    ds = pipelines.from_arrays(x, np.arange(2), 2, training=True, seed=1, augment=("flip",),
                               cache=False)
    for _ in range(3):
        images, labels = next(iter(ds))
        for image, label in zip(images.numpy(), labels.numpy(), strict=True):
            original = x[label].astype("float32") / 255
            assert np.allclose(image, original) or np.allclose(image, original[:, ::-1])


def test_evaluation_splits_are_never_augmented():
    x = np.full((8, 8, 8, 1), 128, "uint8")
    data = pipelines.build(Splits("toy", x, np.arange(8) % 2, x, np.arange(8) % 2, ["a", "b"]),
                           4, "smoke", augment=("brightness", "contrast"))
    np.testing.assert_allclose(_batch_images(data.test), 128 / 255, rtol=1e-6)
    np.testing.assert_allclose(_batch_images(data.val), 128 / 255, rtol=1e-6)
    assert data.augment == ("brightness", "contrast")


def test_unknown_augmentation_lists_the_valid_ones():
    with pytest.raises(ValueError, match="Valid: flip, translate, crop"):
        pipelines.augmenter(["flip", "mixup"], (8, 8, 1))


def test_one_hot_labels_for_label_smoothing():
    x = np.zeros((4, 2, 2, 1), "uint8")
    ds = pipelines.from_arrays(x, np.array([0, 2, 1, 2]), 4, training=False, num_classes=3)
    labels = next(iter(ds))[1].numpy()
    np.testing.assert_array_equal(labels, np.eye(3)[[0, 2, 1, 2]])


def test_crop_shifts_each_image_of_a_batch_on_its_own_by_at_most_4_pixels():
    image = np.zeros((32, 32, 1), "uint8")
    image[14:18, 14:18] = 255  # a bright square in the middle
    x = np.repeat(image[None], 16, axis=0)
    ds = pipelines.from_arrays(x, np.zeros(16, "int64"), 16, training=True, seed=3,
                               augment=("crop",))
    batch = next(iter(ds))[0].numpy()[..., 0]
    corners = {tuple(np.argwhere(b > 0.5).min(axis=0)) for b in batch}
    assert len(corners) > 4  # different images moved differently
    for row, col in corners:
        assert abs(row - 14) <= 4 and abs(col - 14) <= 4
        assert batch.max() == 1.0  # whole-pixel shifts: no blurring of the square
