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
