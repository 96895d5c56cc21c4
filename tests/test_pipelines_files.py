"""Image-file pipelines: decoding, forced colour modes, order, caching and value ranges."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlabs import pipelines


def _write(folder: Path, name: str, pixels: np.ndarray, mode: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    Image.fromarray(pixels, mode=mode).save(path)
    return path


@pytest.fixture
def mixed_files(tmp_path: Path) -> tuple[list[Path], np.ndarray]:
    """Two PNGs (lossless, so values are exact): a gray one of value 60 and an RGB one."""
    gray = _write(tmp_path, "gray.png", np.full((8, 8), 60, np.uint8), "L")
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 30, 90, 150
    colour = _write(tmp_path, "rgb.png", rgb, "RGB")
    return [gray, colour], np.array([0, 1])


def test_forced_colour_modes_and_exact_values(mixed_files):
    paths, labels = mixed_files
    ds = pipelines.from_files(paths, labels, 2, image_size=(8, 8), color_mode="rgb",
                              training=False)
    x, y = next(iter(ds))
    assert x.shape == (2, 8, 8, 3) and x.dtype.name == "float32"
    np.testing.assert_allclose(x[0].numpy(), 60 / 255, atol=1e-6)  # gray copied to 3 channels
    np.testing.assert_allclose(x[1, 0, 0].numpy(), [30 / 255, 90 / 255, 150 / 255], atol=1e-6)
    assert y.numpy().tolist() == [0, 1]

    ds = pipelines.from_files(paths, labels, 2, image_size=(8, 8), color_mode="grayscale",
                              training=False)
    x, _ = next(iter(ds))
    assert x.shape == (2, 8, 8, 1)
    # ITU-R 601 luma of (30, 90, 150): 0.299*30 + 0.587*90 + 0.114*150 = 78.8 -> 79 (+-1)
    assert abs(float(x[1, 0, 0, 0]) * 255 - 78.8) <= 1.0
    np.testing.assert_allclose(x[0].numpy(), 60 / 255, atol=1e-6)


def test_resize_raw_range_and_one_hot(mixed_files):
    paths, labels = mixed_files
    ds = pipelines.from_files(paths, labels, 1, image_size=(4, 6), training=False,
                              value_range=pipelines.RAW_PIXELS, num_classes=2)
    batches = list(ds)
    assert [tuple(x.shape) for x, _ in batches] == [(1, 4, 6, 3)] * 2
    np.testing.assert_allclose(batches[0][0].numpy(), 60.0, atol=1e-3)  # a flat image stays flat
    assert batches[1][1].numpy().tolist() == [[0.0, 1.0]]


def test_training_shuffles_repeatably_and_evaluation_keeps_order(tmp_path: Path):
    paths = [_write(tmp_path, f"{i:02d}.png", np.full((4, 4), i * 10, np.uint8), "L")
             for i in range(12)]
    labels = np.arange(12) % 2

    def first_pixels(ds):
        return [int(round(float(v) * 255)) for x, _ in ds for v in x[:, 0, 0, 0].numpy()]

    evaluation = pipelines.from_files(paths, labels, 5, image_size=(4, 4),
                                      color_mode="grayscale", training=False)
    assert first_pixels(evaluation) == [i * 10 for i in range(12)]
    runs = [first_pixels(pipelines.from_files(paths, labels, 5, image_size=(4, 4),
                                              color_mode="grayscale", training=True, seed=3))
            for _ in range(2)]
    assert runs[0] == runs[1] and sorted(runs[0]) == [i * 10 for i in range(12)]
    assert runs[0] != [i * 10 for i in range(12)]


def test_cache_to_a_file(tmp_path: Path, mixed_files):
    paths, labels = mixed_files
    target = tmp_path / "cache" / "train"
    ds = pipelines.from_files(paths, labels, 2, image_size=(8, 8), training=False, cache=target)
    # A whole pass: tf.data completes a file cache when its iterator reaches the end,
    # so stopping after one batch would leave the check racing the prefetch thread.
    first = np.concatenate([x.numpy() for x, _ in ds])
    assert list(target.parent.glob("train*.index")), "the cache file is written on the first pass"
    for path in paths:
        path.unlink()  # the second pass reads the cache, not the files
    np.testing.assert_array_equal(np.concatenate([x.numpy() for x, _ in ds]), first)


def test_a_lock_left_by_a_killed_first_pass_does_not_block_the_next_run(tmp_path: Path,
                                                                       mixed_files):
    paths, labels = mixed_files
    target = pipelines.cache_file(tmp_path / "cache" / "train", paths, labels, (8, 8), 3)
    target.parent.mkdir(parents=True)
    lock = target.with_name(target.name + "_0.lockfile")
    lock.write_text("left by a process that was killed")
    with pytest.warns(UserWarning, match="stopped while filling the cache"):
        ds = pipelines.from_files(paths, labels, 2, image_size=(8, 8), training=False,
                                  cache=tmp_path / "cache" / "train")
    assert len(np.concatenate([x.numpy() for x, _ in ds])) == len(paths)
    assert not lock.exists() and target.with_name(target.name + ".index").exists()


def test_a_file_cache_never_serves_another_file_list(tmp_path: Path, mixed_files):
    """Same cache path, other files (another split or seed): the new files are read."""
    paths, labels = mixed_files
    target = tmp_path / "cache" / "train"
    first = pipelines.from_files(paths[:1], labels[:1], 2, image_size=(8, 8),
                                 training=False, cache=target)
    np.testing.assert_allclose(np.concatenate([x.numpy() for x, _ in first]), 60 / 255,
                               atol=1e-6)
    second = pipelines.from_files(paths[1:], labels[1:], 2, image_size=(8, 8),
                                  training=False, cache=target)
    x = np.concatenate([x.numpy() for x, _ in second])
    np.testing.assert_allclose(x[0, 0, 0], [30 / 255, 90 / 255, 150 / 255], atol=1e-6)
    assert len(list(target.parent.glob("train-*.index"))) == 2
    key = pipelines.cache_file(target, paths, labels, (8, 8), 3)
    assert key == pipelines.cache_file(target, list(paths), list(labels), [8, 8], 3)
    assert key.parent == target.parent and key.name.startswith("train-")
    for other in [pipelines.cache_file(target, paths, labels[::-1], (8, 8), 3),
                  pipelines.cache_file(target, paths, labels, (16, 16), 3),
                  pipelines.cache_file(target, paths, labels, (8, 8), 1)]:
        assert other != key


def test_augmentation_applies_to_training_only(tmp_path: Path):
    rng = np.random.default_rng(0)
    paths = [_write(tmp_path, f"{i}.png", rng.integers(0, 255, (16, 16, 3), dtype=np.uint8),
                    "RGB") for i in range(4)]
    labels = np.array([0, 1, 0, 1])
    plain = pipelines.from_files(paths, labels, 4, image_size=(16, 16), training=False,
                                 augment=("flip", "crop"))
    again = pipelines.from_files(paths, labels, 4, image_size=(16, 16), training=False)
    np.testing.assert_array_equal(next(iter(plain))[0].numpy(), next(iter(again))[0].numpy())
    augmented = pipelines.from_files(paths, labels, 4, image_size=(16, 16), training=True,
                                     augment=("flip", "crop"), seed=1)
    x = next(iter(augmented))[0].numpy()
    assert x.min() >= 0.0 and x.max() <= 1.0
    originals = next(iter(again))[0].numpy()
    assert not any(np.array_equal(x[0], o) for o in originals)


@pytest.mark.parametrize("kwargs, message", [
    ({"color_mode": "cmyk"}, "color_mode"),
    ({"image_size": (0, 4)}, "image_size"),
    ({"labels": np.array([0])}, "2 files but 1 labels"),
])
def test_bad_arguments(mixed_files, kwargs, message):
    paths, labels = mixed_files
    args = {"labels": labels, "image_size": (8, 8), "training": False, **kwargs}
    with pytest.raises(ValueError, match=message):
        pipelines.from_files(paths, args.pop("labels"), 2, **args)


def test_no_files():
    with pytest.raises(ValueError, match="No image files"):
        pipelines.from_files([], np.array([]), 2, image_size=(8, 8), training=False)
