"""The generic image-folder reader: scanning, subsampling before decoding, decoding.

Every tree is a handful of tiny images written with Pillow under ``tmp_path``.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlabs.datasets import CacheError, stratified_indices
from cnnlabs.datasets.imagefolder import (
    FileList,
    SkippedImage,
    SkippedImagesWarning,
    decode,
    read_images,
    scan,
    subsample_files,
)

# --- helpers ----------------------------------------------------------------------------------


def write_image(
    path: Path,
    value: int | tuple[int, ...] = (10, 20, 30),
    mode: str = "RGB",
    size: tuple[int, int] = (32, 32),
) -> Path:
    """A uniform image (``size`` is width, height); the format follows the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, value).save(path)
    return path


def noise_jpeg(path: Path, seed: int = 0) -> Path:
    """A 32x32 noise JPEG (noise, so that the file is long enough to cut in half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, quality=90)
    return path


def make_tree(root: Path, split: str, per_class: dict[str, int], ext: str = ".png") -> None:
    """``root/split/<class>/NNN<ext>``; class k's images are uniformly (k, 2k, 3k)."""
    for k, (name, count) in enumerate(sorted(per_class.items())):
        folder = root / split / name
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(count):
            write_image(folder / f"{i:03d}{ext}", (k, 2 * k, 3 * k))


def garbage(path: Path, n: int = 300) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(np.random.default_rng(7).bytes(n))
    return path


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


# --- scan -------------------------------------------------------------------------------------


def test_scan_sorts_by_class_then_file_name_and_labels_by_class_index(tmp_path: Path) -> None:
    make_tree(tmp_path, "train", {"cat": 3, "dog": 2})
    files = scan(tmp_path, "train")
    assert isinstance(files, FileList) and len(files) == 5
    assert files.class_names == ("cat", "dog")
    assert files.folder == tmp_path / "train"
    assert [p.relative_to(files.folder).as_posix() for p in files.paths] == [
        "cat/000.png",
        "cat/001.png",
        "cat/002.png",
        "dog/000.png",
        "dog/001.png",
    ]
    assert files.labels.dtype == np.int64 and files.labels.tolist() == [0, 0, 0, 1, 1]
    assert files.counts() == {"cat": 3, "dog": 2}

    # With class names given, their order is the label order, not the sorted one.
    given = scan(tmp_path, "train", class_names=("dog", "cat"))
    assert given.class_names == ("dog", "cat")
    assert given.labels.tolist() == [0, 0, 1, 1, 1]
    assert given.paths[0].parent.name == "dog"


def test_scan_ignores_hidden_appledouble_macosx_and_non_images(tmp_path: Path) -> None:
    make_tree(tmp_path, "train", {"cat": 1, "dog": 1})
    cat = tmp_path / "train" / "cat"
    write_image(cat / "UPPER.JPG")
    write_image(cat / "mixed.JpEg")
    write_image(cat / "shout.PNG")
    garbage(cat / "._000.png")  # macOS AppleDouble companion
    garbage(cat / ".hidden.jpg")
    (cat / ".DS_Store").write_bytes(b"x")
    (cat / "notes.txt").write_text("not an image")
    (cat / "image.gif").write_bytes(b"GIF89a")
    garbage(tmp_path / "train" / "__MACOSX" / "cat" / "._000.png")
    garbage(cat / "__MACOSX" / "._x.jpg")
    (tmp_path / "train" / ".cache").mkdir()
    (tmp_path / "train" / "README.txt").write_text("stray file at split level")

    files = scan(tmp_path, "train", class_names=("cat", "dog"))
    names = sorted(p.name for p in files.paths)
    assert names == ["000.png", "000.png", "UPPER.JPG", "mixed.JpEg", "shout.PNG"]
    assert scan(tmp_path, "train").class_names == ("cat", "dog")


def _missing_class(root: Path) -> str:
    make_tree(root, "train", {"cat": 2})
    return "missing class folder(s): dog"


def _extra_class(root: Path) -> str:
    make_tree(root, "train", {"cat": 2, "dog": 1, "kitten": 1})
    return "unexpected folder(s): kitten"


def _empty_class(root: Path) -> str:
    make_tree(root, "train", {"cat": 2})
    (root / "train" / "dog").mkdir()
    (root / "train" / "dog" / "._ghost.jpg").write_bytes(b"\0")
    return f"empty class folder(s) with no .png/.jpg/.jpeg images: {root / 'train' / 'dog'}"


def _wrong_case(root: Path) -> str:
    make_tree(root, "train", {"cat": 1, "Dog": 1})
    return "folder names are case-sensitive"


def _no_split(root: Path) -> str:
    make_tree(root, "test", {"cat": 1, "dog": 1})
    return f"there is no folder {root / 'train'} ({root} holds: test/)"


@pytest.mark.parametrize(
    "arrange",
    [_missing_class, _extra_class, _empty_class, _wrong_case, _no_split],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_scan_rejects_a_wrong_tree_and_shows_the_expected_one(tmp_path: Path, arrange) -> None:
    problem = arrange(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(CacheError) as err:
        scan(tmp_path, "train", class_names=("cat", "dog"))
    message = str(err.value)
    assert problem in message
    assert f"{tmp_path / 'train' / 'cat' / '*.png'}\n" in message
    assert f"{tmp_path / 'train' / 'dog' / '*.png'}\n" in message
    assert "named exactly as above" in message
    assert "has not changed or deleted anything" in message
    assert err.value.path == tmp_path / "train"
    assert snapshot(tmp_path) == before


def test_scan_error_lists_what_was_found(tmp_path: Path) -> None:
    make_tree(tmp_path, "train", {"cat": 3, "kitten": 1})
    with pytest.raises(CacheError, match=r"Found: cat/ \(3 images\), kitten/ \(1 image\)\."):
        scan(tmp_path, "train", class_names=("cat", "dog"))


def test_scan_without_class_names_needs_some_class_folder(tmp_path: Path) -> None:
    (tmp_path / "train").mkdir()
    with pytest.raises(CacheError, match="it holds no class folders"):
        scan(tmp_path, "train")


# --- subsampling before decoding ---------------------------------------------------------------


def test_subsample_files_is_stratified_seeded_and_decodes_nothing(tmp_path: Path) -> None:
    make_tree(tmp_path, "train", {"a": 12, "b": 6, "c": 2})
    for path in (tmp_path / "train").rglob("*.png"):
        path.write_bytes(b"never decoded")  # subsampling must not open any image
    files = scan(tmp_path, "train")
    picked = subsample_files(files, 10, np.random.default_rng(4))
    assert len(picked) == 10 and len(set(picked.paths)) == 10
    assert np.bincount(picked.labels, minlength=3).tolist() == [6, 3, 1]
    expected = stratified_indices(files.labels, 10, np.random.default_rng(4))
    assert picked.paths == tuple(files.paths[i] for i in expected)
    assert picked.labels.tolist() == files.labels[expected].tolist()
    for path, label in zip(picked.paths, picked.labels, strict=True):
        assert path.parent.name == files.class_names[label]
    assert subsample_files(files, 10, 4).paths == subsample_files(files, 10, 4).paths
    assert subsample_files(files, 10, 5).paths != picked.paths
    assert subsample_files(files, None) is files and subsample_files(files, 99) is files


# --- decoding ---------------------------------------------------------------------------------


def test_decode_returns_uint8_nhwc_in_path_order(tmp_path: Path) -> None:
    paths = [
        write_image(tmp_path / "a.png", (1, 2, 3)),
        write_image(tmp_path / "b.jpg", (200, 200, 200)),
        write_image(tmp_path / "c.png", (9, 8, 7)),
    ]
    images, skipped = decode(paths, (32, 32, 3))
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    assert skipped == []
    assert images[0, 5, 5].tolist() == [1, 2, 3] and images[2, 0, 31].tolist() == [9, 8, 7]
    assert np.abs(images[1].astype(int) - 200).max() <= 2  # JPEG is lossy
    same, _ = decode([str(p) for p in paths])  # native size; str paths work too
    np.testing.assert_array_equal(same, images)


def test_unreadable_and_truncated_images_are_skipped_and_reported(tmp_path: Path) -> None:
    good = [write_image(tmp_path / f"good{i}.png", (i, i, i)) for i in range(3)]
    random_bytes = garbage(tmp_path / "random.jpg")
    truncated = tmp_path / "truncated.jpg"
    data = noise_jpeg(tmp_path / "whole.jpg").read_bytes()
    truncated.write_bytes(data[: len(data) // 2])
    paths = [good[0], random_bytes, good[1], truncated, good[2]]

    with pytest.warns(SkippedImagesWarning) as caught:
        images, skipped = decode(paths, (32, 32, 3))
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "Skipped 2 of 5 image file(s)" in message
    assert str(random_bytes) in message and str(truncated) in message
    assert images.shape == (3, 32, 32, 3)
    assert images[:, 0, 0, 0].tolist() == [0, 1, 2]
    assert [item.path for item in skipped] == [random_bytes, truncated]
    assert all(isinstance(item, SkippedImage) for item in skipped)
    assert "cannot identify image file" in skipped[0].reason
    assert "truncated" in skipped[1].reason
    assert truncated.read_bytes() == data[: len(data) // 2]  # reported, never touched


def test_read_images_drops_the_labels_of_skipped_files(tmp_path: Path) -> None:
    make_tree(tmp_path, "train", {"cat": 2, "dog": 2})
    garbage(tmp_path / "train" / "cat" / "001.png")
    files = scan(tmp_path, "train")
    with pytest.warns(SkippedImagesWarning, match="Skipped 1 of 4"):
        x, y, skipped = read_images(files, (32, 32, 3))
    assert x.shape == (3, 32, 32, 3) and y.dtype == np.int64
    assert y.tolist() == [0, 1, 1]
    assert x[:, 0, 0, 1].tolist() == [0, 2, 2]  # class k is (k, 2k, 3k)
    assert [s.path.name for s in skipped] == ["001.png"]


def _mixed_modes(folder: Path) -> list[Path]:
    """Grayscale, RGB, RGBA, palette with transparency, 16-bit grayscale, CMYK JPEG."""
    palette = Image.new("P", (32, 32), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50])
    (folder / "p.png").parent.mkdir(parents=True, exist_ok=True)
    palette.save(folder / "p.png", transparency=0)
    Image.fromarray(np.full((32, 32), 0x8000, np.uint16)).save(folder / "wide.png")
    return [
        write_image(folder / "gray.png", 90, mode="L"),
        write_image(folder / "gray.jpg", 90, mode="L"),
        write_image(folder / "rgb.png", (200, 100, 50)),
        write_image(folder / "rgba.png", (200, 100, 50, 0), mode="RGBA"),
        folder / "p.png",
        folder / "wide.png",
        write_image(folder / "cmyk.jpg", (0, 0, 0, 0), mode="CMYK"),
    ]


def test_a_grayscale_and_rgb_mix_comes_out_all_rgb(tmp_path: Path) -> None:
    paths = _mixed_modes(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no Pillow palette warnings either
        images, skipped = decode(paths, (32, 32, 3), "rgb")
    assert skipped == [] and images.shape == (7, 32, 32, 3)
    corners = images[:, 0, 0].tolist()
    assert corners[0] == [90, 90, 90]
    assert max(abs(v - 90) for v in corners[1]) <= 2
    assert corners[2] == corners[3] == corners[4] == [200, 100, 50]
    assert corners[5] == [128, 128, 128]  # 16-bit 0x8000 keeps its top 8 bits
    assert corners[6] == [255, 255, 255]


def test_the_same_mix_comes_out_all_grayscale_when_asked(tmp_path: Path) -> None:
    paths = _mixed_modes(tmp_path)
    images, skipped = decode(paths, (32, 32, 1), color_mode="grayscale")
    assert skipped == [] and images.shape == (7, 32, 32, 1) and images.dtype == np.uint8
    values = images[:, 0, 0, 0].tolist()
    luma = round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)
    assert values[0] == 90 and abs(values[1] - 90) <= 2
    assert all(abs(v - luma) <= 1 for v in values[2:5])
    assert values[5] == 128 and values[6] == 255


def test_images_of_another_size_are_resized(tmp_path: Path) -> None:
    paths = [
        write_image(tmp_path / "wide.png", (40, 80, 120), size=(64, 48)),
        write_image(tmp_path / "small.png", (40, 80, 120), size=(8, 8)),
        write_image(tmp_path / "large.jpg", (40, 80, 120), size=(400, 300)),  # draft path
        write_image(tmp_path / "exact.png", (40, 80, 120)),
    ]
    images, _ = decode(paths, (32, 24, 3))
    assert images.shape == (4, 32, 24, 3)
    assert np.abs(images.astype(int) - [40, 80, 120]).max() <= 3


def test_without_image_shape_all_images_need_the_same_size(tmp_path: Path) -> None:
    paths = [write_image(tmp_path / "a.png"), write_image(tmp_path / "b.png", size=(16, 32))]
    with pytest.raises(CacheError, match=r"differ in size.*b\.png is 16x32.*image_shape"):
        decode(paths)


def test_decode_checks_its_arguments(tmp_path: Path) -> None:
    path = write_image(tmp_path / "a.png")
    with pytest.raises(ValueError, match="color_mode must be one of 'rgb', 'grayscale'"):
        decode([path], (32, 32, 3), color_mode="bgr")
    with pytest.raises(ValueError, match="has 1 channel"):
        decode([path], (32, 32, 1), color_mode="rgb")
    with pytest.raises(ValueError, match="workers must be at least 1"):
        decode([path], workers=0)
    images, skipped = decode([], (32, 32, 3))
    assert images.shape == (0, 32, 32, 3) and skipped == []


def test_threaded_decoding_matches_serial_decoding(tmp_path: Path) -> None:
    paths = [write_image(tmp_path / f"{i:03d}.png", (i % 256, 7, 9)) for i in range(600)]
    garbage(paths[300])
    with pytest.warns(SkippedImagesWarning):
        serial, skipped_serial = decode(paths, (32, 32, 3), workers=1)
    with pytest.warns(SkippedImagesWarning):
        threaded, skipped_threaded = decode(paths, (32, 32, 3), workers=3)
    np.testing.assert_array_equal(threaded, serial)
    assert skipped_threaded == skipped_serial and len(serial) == 599
    assert serial[299:301, 0, 0, 0].tolist() == [299 % 256, 301 % 256]
