"""The generated MNIST detection set: deterministic, tight boxes, cached, offline, mocked."""

from __future__ import annotations

import dataclasses
import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnlabs import config, datasets, detection
from cnnlabs.datasets import CATALOG, CacheError, DownloadError, MockDataWarning
from cnnlabs.datasets import mnist_detection as md
from cnnlabs.datasets.cache import apply_cap
from cnnlabs.datasets.mockdata import mock_splits
from cnnlabs.datasets.sampling import Cap


@pytest.fixture(scope="module")
def pool() -> tuple[np.ndarray, np.ndarray]:
    """A pool of MNIST-shaped digits: mock ones, so that no data cache is needed."""
    digits = mock_splits(CATALOG["mnist"], 60, 10, seed=1)
    return digits.x_train, digits.y_train


@pytest.fixture
def tiny_entry(monkeypatch: pytest.MonkeyPatch) -> datasets.DatasetInfo:
    """The catalogue entry cut to 30 training and 10 test images."""
    entry = dataclasses.replace(CATALOG["mnist_detection"], train_size=30, test_size=10)
    monkeypatch.setitem(CATALOG, "mnist_detection", entry)
    return entry


def mnist_cache(folder: Path, real_mnist_npz: Path) -> Path:
    """A cache folder holding (a link to) the real mnist.npz and nothing else."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mnist.npz").symlink_to(real_mnist_npz)
    return folder


def test_generation_is_deterministic_for_a_seed_and_a_prefix_does_not_depend_on_n(pool):
    first = md.generate(*pool, 12, seed=3)
    again = md.generate(*pool, 12, seed=3)
    longer = md.generate(*pool, 20, seed=3)
    other = md.generate(*pool, 12, seed=4)
    for a, b in ((first, again), (first, longer.subset(range(12)))):
        assert np.array_equal(a.images, b.images) and np.array_equal(a.boxes, b.boxes)
        assert np.array_equal(a.classes, b.classes)
    assert not np.array_equal(first.images, other.images)


def test_a_lone_digit_has_the_tight_box_of_its_ink(real_mnist_npz):
    from cnnlabs.datasets import mnist

    arrays = mnist.read(real_mnist_npz, CATALOG["mnist"])
    settings = md.Settings(min_digits=1, max_digits=1, empty_share=0.0)
    data = md.generate(arrays["x_test"][:200], arrays["y_test"][:200], 30, settings=settings)
    assert (data.counts == 1).all()
    for image, (boxes, _) in zip(data.images, data.objects(), strict=True):
        ink = image[..., 0] >= settings.ink
        rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
        assert boxes.tolist() == [[cols[0], rows[0], cols[-1] + 1, rows[-1] + 1]]


def test_images_hold_varied_digits_some_overlapping_some_at_the_border(pool):
    settings = md.SETTINGS
    data = md.generate(*pool, 300, settings=settings)
    counts = data.counts
    assert counts.max() == settings.max_digits and (counts == 0).any()  # a few empty images
    boxes, classes = data.boxes[data.classes >= 0], data.classes[data.classes >= 0]
    assert set(classes.tolist()) == set(range(10))
    assert boxes.min() >= 0 and boxes.max() <= settings.canvas
    heights = boxes[:, 3] - boxes[:, 1]
    assert heights.max() > 1.5 * heights.min()  # digits of several sizes
    touching = (boxes[:, :2] == 0).any(axis=1) | (boxes[:, 2:] == settings.canvas).any(axis=1)
    assert 0.05 < touching.mean() < 0.6
    worst = [detection.iou(b, b)[np.triu_indices(len(b), 1)].max()
             for b, _ in data.objects() if len(b) > 1]
    assert 0 < max(worst) <= settings.max_overlap
    assert np.mean(np.asarray(worst) > 0) > 0.1  # some images have overlapping digits


def test_bad_settings_and_an_empty_pool_are_refused(pool):
    with pytest.raises(ValueError, match="min_digits <= max_digits"):
        md.Settings(min_digits=3, max_digits=2)
    with pytest.raises(ValueError, match="digit sizes"):
        md.Settings(canvas=32, digit_sizes=(16, 40))
    with pytest.raises(ValueError, match="non-empty pool"):
        md.generate(np.zeros((0, 28, 28), np.uint8), np.zeros(0), 3)


def test_the_loader_generates_from_cached_mnist_once_and_reads_it_back(
        tmp_path, tiny_entry, real_mnist_npz, urlopen_calls):
    from cnnlabs.datasets import mnist

    folder = mnist_cache(tmp_path / "data", real_mnist_npz)
    smoke = config.get_profile("smoke")  # never downloads: generation needs no network
    assert datasets.status("mnist_detection", folder).state == "missing"
    made = datasets.load("mnist_detection", smoke, data_dir=folder)
    path = md.cache_file(tiny_entry, folder)
    assert path.is_file() and made.source == str(path) and not made.is_mock
    assert datasets.status("mnist_detection", folder).state == "cached"
    assert datasets.cached("mnist_detection", folder) == path
    assert (len(made.train), len(made.test)) == (30, 10)
    assert made.input_shape == (64, 64, 1) and made.num_classes == 10
    # Train digits come from MNIST's training split, test digits from its test split.
    arrays = mnist.read(real_mnist_npz, CATALOG["mnist"])
    expected = md.generate(arrays["x_test"], arrays["y_test"], 10, stream=1)
    assert np.array_equal(made.test.images, expected.images)
    stamp = path.stat().st_mtime_ns
    again = datasets.load("mnist_detection", smoke, data_dir=folder)
    assert path.stat().st_mtime_ns == stamp and again.notes == []  # read, not regenerated
    assert np.array_equal(again.train.boxes, made.train.boxes)
    assert urlopen_calls == []


def test_a_cache_folder_that_cannot_be_written_still_gets_the_data(
        tmp_path, tiny_entry, real_mnist_npz):
    folder = mnist_cache(tmp_path / "data", real_mnist_npz)
    (folder / "mnist_detection").write_text("a file where the folder would go")
    made = datasets.load("mnist_detection", "smoke", data_dir=folder)
    assert len(made.train) == 30 and not made.is_mock
    assert "not cached" in made.notes[-1]
    assert (folder / "mnist_detection").read_text() == "a file where the folder would go"


def test_without_mnist_smoke_uses_labelled_mock_digits_and_caches_nothing(tmp_path, tiny_entry,
                                                                         urlopen_calls):
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.warns(MockDataWarning, match="MOCK"):
        made = datasets.load("mnist_detection", "smoke", data_dir=folder)
    assert made.is_mock and made.source == "mock" and "MOCK" in made.describe()
    assert len(made.train) == 30 and len(made.test) == 10
    assert list(folder.iterdir()) == [] and urlopen_calls == []


def test_without_mnist_a_profile_that_neither_downloads_nor_mocks_says_what_to_do(
        tmp_path, tiny_entry, urlopen_calls):
    strict = dataclasses.replace(config.get_profile("cpu"), allow_download=False)
    with pytest.raises(DownloadError, match="generated from MNIST") as caught:
        datasets.load("mnist_detection", strict, data_dir=tmp_path)
    assert "mnist.npz" in str(caught.value) and urlopen_calls == []


def test_an_invalid_cached_file_is_reported_and_left_alone(tmp_path, tiny_entry):
    path = md.cache_file(tiny_entry, tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an npz")
    with pytest.raises(CacheError, match="not a valid copy") as caught:
        datasets.load("mnist_detection", "smoke", data_dir=tmp_path)
    assert "generated anew from mnist.npz" in str(caught.value)
    assert path.read_bytes() == b"not an npz"
    assert datasets.status("mnist_detection", tmp_path).state == "invalid"


def test_a_cached_file_with_bad_boxes_is_refused(tmp_path, tiny_entry, pool):
    data = md.DetectionSplits("mnist_detection", md.generate(*pool, 30), md.generate(*pool, 10),
                              [str(d) for d in range(10)])
    data.train.boxes[0, 0] = [20, 5, 10, 9]  # x2 < x1
    data.train.classes[0, 0] = 1
    path = md.cache_file(tiny_entry, tmp_path)
    assert md._write(path, data) is None
    with pytest.raises(CacheError, match="x2 < x1"):
        md.read(path, tiny_entry)


def test_profile_caps_apply_to_detection_splits(pool):
    data = md.DetectionSplits("mnist_detection", md.generate(*pool, 40), md.generate(*pool, 20),
                              [str(d) for d in range(10)])
    capped = apply_cap(data, Cap(12, 5, seed=0, reason="profile smoke"))
    assert (len(capped.train), len(capped.test)) == (12, 5)
    assert capped.notes == ["subsampled to 12 of 40 training images (profile smoke)",
                            "subsampled to 5 of 20 test images (profile smoke)"]
    kept = [np.flatnonzero((data.train.images == image).all(axis=(1, 2, 3)))[0]
            for image in capped.train.images]
    assert np.array_equal(capped.train.boxes, data.train.boxes[kept])


def test_the_catalogue_names_a_detection_dataset():
    entry = datasets.info("mnist_detection")
    assert entry.loader == "mnist_detection" and entry.image_shape == (64, 64, 1)
    assert entry.class_names == CATALOG["mnist"].class_names
    assert detection.is_detection_dataset("mnist_detection")
    assert not detection.is_detection_dataset("mnist")
    assert not detection.is_detection_dataset("no_such_set")


def test_fetch_generates_and_caches_the_set(tmp_path, tiny_entry, real_mnist_npz):
    folder = mnist_cache(tmp_path / "data", real_mnist_npz)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        path = md.fetch(tiny_entry, folder)
    assert path == md.cache_file(tiny_entry, folder) and path.is_file()
    assert md.fetch(tiny_entry, folder) == path  # kept as it is
