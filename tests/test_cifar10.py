"""The CIFAR-10 loader: both cache layouts, the archive, downloads, mock data and caps.

No test touches the network: ``urlopen`` is replaced in every test that could
reach it. Fake caches are tiny: the catalogue entry is shrunk to 50 training
images (5 batches of 10) and 10 test images. The one test on real data
unpacks ``../shared/data/cifar10_jpg.tar.gz`` when it exists, and is skipped
otherwise.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import os
import pickle
import shutil
import socket
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlabs.config import PROFILES, Profile
from cnnlabs.datasets import (
    CATALOG,
    CacheError,
    ChecksumError,
    DatasetInfo,
    DownloadError,
    MockDataWarning,
    fetch,
    info,
    load,
)
from cnnlabs.datasets import cifar10 as loader
from cnnlabs.datasets.download import sha256_file
from cnnlabs.datasets.imagefolder import SkippedImagesWarning, scan

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CLASSES = [
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
]
SHARED_JPEG = Path(__file__).resolve().parents[2] / "shared/data/cifar10_jpg.tar.gz"


# --- helpers and fixtures -------------------------------------------------------------------


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> DatasetInfo:
    """Shrink the cifar10 entry to 50 training images (5 batches of 10) and 10 test images."""
    entry = dataclasses.replace(CATALOG["cifar10"], train_size=50, test_size=10)
    monkeypatch.setitem(CATALOG, "cifar10", entry)
    return entry


def capped(train: int | None, test: int | None, base: str = "smoke") -> Profile:
    return dataclasses.replace(PROFILES[base], train_samples=train, test_samples=test)


def pickled(content: object) -> bytes:
    # Protocol 2 and bytes keys, like the official (Python 2 cPickle) files.
    return pickle.dumps(content, protocol=2)


def write_batches(folder: Path, entry: DatasetInfo, seed: int = 0) -> dict[str, np.ndarray]:
    """Official-style python batches in ``folder``; returns the rows and labels written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows = entry.train_size // 5
    written: dict[str, list[np.ndarray]] = {"data": [], "labels": [], "test_data": [], "test_y": []}
    for name in (*loader.TRAIN_BATCHES, loader.TEST_BATCH):
        n = entry.test_size if name == loader.TEST_BATCH else rows
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = [int(v) for v in rng.permutation(np.arange(n) % 10)]
        batch = {
            b"batch_label": name.encode(),
            b"labels": labels,
            b"data": data,
            b"filenames": [f"{i}.png".encode() for i in range(n)],
        }
        (folder / name).write_bytes(pickled(batch))
        key = "test_" if name == loader.TEST_BATCH else ""
        written[f"{key}data"].append(data)
        written["test_y" if key else "labels"].append(np.array(labels))
    meta = {b"label_names": [c.encode() for c in CLASSES], b"num_cases_per_batch": rows}
    (folder / loader.META_FILE).write_bytes(pickled(meta))
    return {
        "train_rows": np.concatenate(written["data"]),
        "y_train": np.concatenate(written["labels"]),
        "test_rows": np.concatenate(written["test_data"]),
        "y_test": np.concatenate(written["test_y"]),
    }


def class_colour(k: int) -> tuple[int, int, int]:
    return (20 * k, 250 - 20 * k, 5 * k)


def write_image_tree(root: Path, train_per_class: int = 5, test_per_class: int = 1) -> None:
    """``root/{train,test}/<class>/`` with PNGs and JPEGs; class k is uniformly class_colour(k)."""
    for split, count in (("train", train_per_class), ("test", test_per_class)):
        for k, name in enumerate(CLASSES):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                ext = ".jpg" if i % 2 else ".png"
                Image.new("RGB", (32, 32), class_colour(k)).save(folder / f"{i:04d}{ext}")


def make_archive(
    path: Path, members: dict[str, bytes], links: dict[str, str] | None = None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            member = tarfile.TarInfo(name)
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
        for name, target in (links or {}).items():
            member = tarfile.TarInfo(name)
            member.type, member.linkname = tarfile.SYMTYPE, target
            tar.addfile(member)


def official_archive(path: Path, entry: DatasetInfo, scratch: Path) -> dict[str, np.ndarray]:
    """A tiny stand-in for cifar-10-python.tar.gz (same member names); returns its arrays."""
    written = write_batches(scratch, entry)
    members = {
        f"cifar-10-batches-py/{name}": (scratch / name).read_bytes() for name in loader.BATCH_FILES
    }
    members["cifar-10-batches-py/readme.html"] = b"<html></html>"
    make_archive(path, members)
    return written


def as_images(rows: np.ndarray) -> np.ndarray:
    """Reference conversion: rows of R, G and B planes -> (N, 32, 32, 3)."""
    out = np.empty((len(rows), 32, 32, 3), dtype=np.uint8)
    for n, row in enumerate(rows):
        for channel in range(3):
            out[n, :, :, channel] = row[channel * 1024 : (channel + 1) * 1024].reshape(32, 32)
    return out


def snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- catalogue ---------------------------------------------------------------------------------


def test_catalogue_describes_cifar10() -> None:
    entry = info("cifar10")
    assert entry.url == URL and entry.sha256 == SHA256
    assert entry.filename == "cifar-10-python.tar.gz" and entry.size_bytes == 170_498_071
    assert list(entry.class_names) == CLASSES
    assert entry.image_shape == (32, 32, 3)
    assert entry.split_sizes == {"train": 50_000, "test": 10_000}
    assert "Learning Multiple Layers of Features from Tiny Images" in entry.citation
    assert "Krizhevsky" in entry.citation and "2009" in entry.citation
    assert "cite" in entry.licence
    assert entry.loader == "cifar10"


def test_class_folders_sorted_alphabetically_are_the_official_label_order(tmp_path: Path) -> None:
    assert sorted(CLASSES) == CLASSES
    for name in reversed(CLASSES):  # creation order must not matter
        (tmp_path / "train" / name).mkdir(parents=True)
        Image.new("RGB", (32, 32)).save(tmp_path / "train" / name / "0.png")
    assert list(scan(tmp_path, "train").class_names) == CLASSES


def test_catalogue_url_and_hash_match_installed_keras() -> None:
    spec = importlib.util.find_spec("keras")
    source = None
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "src/datasets/cifar10.py"
        source = candidate.read_text(encoding="utf-8") if candidate.is_file() else None
    if source is None:
        pytest.skip("keras/src/datasets/cifar10.py not found")
    assert SHA256 in source and URL in source


# --- layout 1: the official python batches ------------------------------------------------------


def test_loads_official_batches_channels_last(
    tiny: DatasetInfo, tmp_path: Path, urlopen_calls: list[str]
) -> None:
    written = write_batches(tmp_path / "cifar-10-batches-py", tiny)
    write_image_tree(tmp_path / "cifar10", 1, 1)  # layout 1 wins over layout 2
    splits = load("cifar10", "cpu", data_dir=tmp_path)
    assert splits.x_train.shape == (50, 32, 32, 3) and splits.x_test.shape == (10, 32, 32, 3)
    assert splits.x_train.dtype == splits.x_test.dtype == np.uint8
    assert splits.y_train.dtype == splits.y_test.dtype == np.int64
    np.testing.assert_array_equal(splits.x_train, as_images(written["train_rows"]))
    np.testing.assert_array_equal(splits.x_test, as_images(written["test_rows"]))
    np.testing.assert_array_equal(splits.y_train, written["y_train"])
    np.testing.assert_array_equal(splits.y_test, written["y_test"])
    assert splits.class_names == CLASSES
    assert splits.source == str(tmp_path / "cifar-10-batches-py")
    assert not splits.is_mock and splits.notes == []
    assert urlopen_calls == []


def test_batches_are_capped_by_the_loader_with_one_note(
    tiny: DatasetInfo, tmp_path: Path, urlopen_calls: list[str]
) -> None:
    write_batches(tmp_path / "cifar-10-batches-py", tiny)
    splits = load("cifar10", capped(20, 5), data_dir=tmp_path, seed=3)
    assert splits.x_train.shape == (20, 32, 32, 3) and len(splits.y_test) == 5
    assert np.bincount(splits.y_train, minlength=10).tolist() == [2] * 10
    assert splits.notes == [
        "subsampled to 20 of 50 training images (profile smoke)",
        "subsampled to 5 of 10 test images (profile smoke)",
    ]


def _missing_batch(folder: Path) -> str:
    (folder / "data_batch_3").unlink()
    return "data_batch_3 is missing"


def _missing_and_corrupt(folder: Path) -> str:
    (folder / "data_batch_1").unlink()
    (folder / "data_batch_2").write_bytes(b"junk")
    return "data_batch_1 is missing (it holds: batches.meta, data_batch_2, "


def _two_missing(folder: Path) -> str:
    (folder / "test_batch").unlink()
    (folder / "batches.meta").unlink()
    return "test_batch, batches.meta are missing"


def _random_bytes(folder: Path) -> str:
    (folder / "data_batch_2").write_bytes(np.random.default_rng(2).bytes(500))
    return "data_batch_2 is not a readable pickle"


def _truncated(folder: Path) -> str:
    data = (folder / "test_batch").read_bytes()
    (folder / "test_batch").write_bytes(data[: len(data) // 2])
    return "test_batch is not a readable pickle (corrupt or truncated?"


def _short_batch(folder: Path) -> str:
    batch = {b"data": np.zeros((9, 3072), np.uint8), b"labels": [0] * 9}
    (folder / "data_batch_5").write_bytes(pickled(batch))
    return (
        "data_batch_5 has data of shape (9, 3072), expected (10, 3072); data_batch_5 has 9 labels"
    )


def _bad_labels(folder: Path) -> str:
    batch = {b"data": np.zeros((10, 3072), np.uint8), b"labels": [0] * 9 + [10]}
    (folder / "data_batch_1").write_bytes(pickled(batch))
    return "data_batch_1 has labels from 0 to 10, expected 0 to 9"


def _wrong_meta(folder: Path) -> str:
    (folder / "batches.meta").write_bytes(pickled({b"label_names": [b"apple", b"bee"]}))
    return "batches.meta names the classes apple, bee, expected airplane"


def _code_in_pickle(folder: Path) -> str:
    (folder / "data_batch_4").write_bytes(pickle.dumps({b"data": print}, protocol=2))
    return "data_batch_4 was not loaded: it refers to __builtin__.print"


@pytest.mark.parametrize(
    "damage",
    [
        _missing_batch,
        _missing_and_corrupt,
        _two_missing,
        _random_bytes,
        _truncated,
        _short_batch,
        _bad_labels,
        _wrong_meta,
        _code_in_pickle,
    ],
    ids=lambda f: f.__name__.lstrip("_"),
)
def test_partial_or_corrupt_batches_raise_cache_error_and_stay_untouched(
    tiny: DatasetInfo,
    tmp_path: Path,
    urlopen_calls: list[str],
    damage: Callable[[Path], str],
) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    write_batches(folder, tiny)
    problem = damage(folder)
    before = snapshot(tmp_path)
    with pytest.raises(CacheError) as err:
        load("cifar10", "smoke", data_dir=tmp_path)  # smoke too: no silent mock fallback
    message = str(err.value)
    assert f"The cached cifar10 folder {folder} is not a valid copy" in message
    assert problem in message
    if damage is _missing_and_corrupt:
        assert "; data_batch_2 is not a readable pickle" in message
    assert "has not changed or deleted it" in message
    assert URL in message and SHA256 in message
    assert "Traceback" not in message
    assert err.value.path == folder
    assert snapshot(tmp_path) == before
    assert urlopen_calls == []


# --- layout 2: image folders -----------------------------------------------------------------


def test_loads_image_folders_with_labels_matching_pixels(
    tiny: DatasetInfo, tmp_path: Path, urlopen_calls: list[str]
) -> None:
    write_image_tree(tmp_path / "cifar10", train_per_class=5, test_per_class=1)
    splits = load("cifar10", "cpu", data_dir=tmp_path)
    assert splits.x_train.shape == (50, 32, 32, 3) and splits.x_test.shape == (10, 32, 32, 3)
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.int64
    assert np.bincount(splits.y_train).tolist() == [5] * 10
    assert sorted(splits.y_test.tolist()) == list(range(10))
    for x, y in ((splits.x_train, splits.y_train), (splits.x_test, splits.y_test)):
        colours = np.array([class_colour(k) for k in y])
        assert np.abs(x[:, 16, 16].astype(int) - colours).max() <= 3  # JPEG is lossy
    assert splits.y_train[:10].tolist() != sorted(splits.y_train[:10].tolist())  # not by class
    assert splits.source == str(tmp_path / "cifar10")
    assert splits.class_names == CLASSES and not splits.is_mock
    assert splits.notes == []
    again = load("cifar10", "cpu", data_dir=tmp_path)
    np.testing.assert_array_equal(again.y_train, splits.y_train)


def test_image_folder_of_another_size_is_noted(tmp_path: Path, urlopen_calls: list[str]) -> None:
    write_image_tree(tmp_path / "cifar10", train_per_class=2, test_per_class=1)
    splits = load("cifar10", "cpu", data_dir=tmp_path)
    assert len(splits.y_train) == 20
    assert (
        f"{tmp_path / 'cifar10' / 'train'} holds 20 training images, not the official 50000"
        in splits.notes
    )


def test_unreadable_images_are_skipped_and_reported(
    tiny: DatasetInfo, tmp_path: Path, urlopen_calls: list[str]
) -> None:
    root = tmp_path / "cifar10"
    write_image_tree(root, train_per_class=5, test_per_class=1)
    random_bytes = root / "train" / "cat" / "0001.jpg"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(400))
    truncated = root / "train" / "dog" / "0003.jpg"
    noise = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(noise).save(buffer, format="JPEG", quality=90)
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    before = snapshot(root)

    with pytest.warns(SkippedImagesWarning, match="Skipped 2 of 50"):
        splits = load("cifar10", "cpu", data_dir=tmp_path)
    assert splits.x_train.shape == (48, 32, 32, 3) and len(splits.y_train) == 48
    counts = np.bincount(splits.y_train, minlength=10)
    assert counts[3] == counts[5] == 4 and counts.sum() == 48
    (note,) = [n for n in splits.notes if n.startswith("skipped")]
    assert note.startswith("skipped 2 unreadable training image(s): ")
    assert str(random_bytes) in note and str(truncated) in note
    assert splits.x_test.shape == (10, 32, 32, 3)
    assert snapshot(root) == before


def _no_cat(root: Path) -> str:
    for path in (root / "test" / "cat").iterdir():
        path.unlink()
    (root / "test" / "cat").rmdir()
    return "missing class folder(s): cat"


def _extra(root: Path) -> str:
    (root / "test" / "kitten").mkdir()
    Image.new("RGB", (32, 32)).save(root / "test" / "kitten" / "0.png")
    return "unexpected folder(s): kitten"


def _empty(root: Path) -> str:
    for path in (root / "test" / "frog").iterdir():
        path.unlink()
    return f"empty class folder(s) with no .png/.jpg/.jpeg images: {root / 'test' / 'frog'}"


@pytest.mark.parametrize("arrange", [_no_cat, _extra, _empty], ids=["missing", "extra", "empty"])
def test_wrong_class_folders_raise_an_error_showing_the_expected_tree(
    tiny: DatasetInfo,
    tmp_path: Path,
    urlopen_calls: list[str],
    monkeypatch: pytest.MonkeyPatch,
    arrange: Callable[[Path], str],
) -> None:
    root = tmp_path / "cifar10"
    write_image_tree(root, train_per_class=1, test_per_class=1)
    problem = arrange(root)
    before = snapshot(root)
    decoded: list[object] = []
    monkeypatch.setattr(Image, "open", lambda *args, **kwargs: decoded.append(args))
    with pytest.raises(CacheError) as err:
        load("cifar10", "smoke", data_dir=tmp_path)
    message = str(err.value)
    assert problem in message
    for name in CLASSES:
        assert str(root / "test" / name / "*.png") in message
    assert "Found: " in message
    assert snapshot(root) == before
    assert decoded == []  # the tree is checked before anything is decoded


# --- the archive, downloads and the fallbacks ------------------------------------------------


def test_cached_archive_is_unpacked_checked_and_loaded_without_network(
    tiny: DatasetInfo, tmp_path: Path, urlopen_calls: list[str]
) -> None:
    cache = tmp_path / "cache"
    archive = cache / "cifar-10-python.tar.gz"
    written = official_archive(archive, tiny, tmp_path / "scratch")
    data = archive.read_bytes()
    splits = load("cifar10", "smoke", data_dir=cache)
    assert not splits.is_mock
    assert splits.source == str(cache / "cifar-10-batches-py")
    np.testing.assert_array_equal(splits.x_train, as_images(written["train_rows"]))
    assert leftovers(cache) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    assert sorted(leftovers(cache / "cifar-10-batches-py")) == sorted(
        [*loader.BATCH_FILES, "readme.html"]
    )
    assert archive.read_bytes() == data
    # fetch names the copy that load reads: the unpacked batches, now that they exist.
    assert fetch("cifar10", data_dir=cache, progress=False) == cache / "cifar-10-batches-py"
    assert urlopen_calls == []


def test_download_then_unpack_into_the_cache(
    tiny: DatasetInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "server" / "cifar-10-python.tar.gz"
    written = official_archive(served, tiny, tmp_path / "scratch")
    entry = dataclasses.replace(tiny, url=served.as_uri(), sha256=sha256_file(served))
    monkeypatch.setitem(CATALOG, "cifar10", entry)
    cache = tmp_path / "cache"
    splits = load("cifar10", "cpu", data_dir=cache)
    np.testing.assert_array_equal(splits.y_test, written["y_test"])
    assert leftovers(cache) == ["cifar-10-batches-py", "cifar-10-python.tar.gz"]
    monkeypatch.setattr(urllib.request, "urlopen", None)  # cached now: no second download
    assert load("cifar10", "cpu", data_dir=cache).source == splits.source


def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(url: object, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)


def test_offline_without_cache_gives_manual_instructions(
    empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _offline(monkeypatch)
    with pytest.raises(DownloadError) as err:
        load("cifar10", "cpu")
    message = str(err.value)
    target = empty_data_dir.resolve() / "cifar-10-python.tar.gz"
    assert URL in message and SHA256 in message and str(target) in message
    assert "CNNLABS_DATA_DIR" in message and "cnnlabs data fetch cifar10" in message
    assert "Temporary failure in name resolution" in message
    assert str(empty_data_dir.resolve() / "cifar10" / "train" / "airplane" / "*.png") in message
    assert "Traceback" not in message
    assert not isinstance(err.value, ChecksumError)
    assert isinstance(err.value.__cause__, urllib.error.URLError)
    assert (err.value.url, err.value.sha256, err.value.target) == (URL, SHA256, target)
    assert leftovers(empty_data_dir) == []


def test_profile_without_download_or_mock_explains_every_layout(
    empty_data_dir: Path, urlopen_calls: list[str]
) -> None:
    offline = dataclasses.replace(PROFILES["cpu"], name="offline", allow_download=False)
    with pytest.raises(DownloadError, match="neither downloads data nor falls back") as err:
        load("cifar10", offline)
    message = str(err.value)
    folder = empty_data_dir.resolve()
    assert URL in message and SHA256 in message
    assert str(folder / "cifar-10-python.tar.gz") in message
    assert str(folder / "cifar-10-batches-py") in message
    assert str(folder / "cifar10" / "test" / "truck" / "*.png") in message
    assert urlopen_calls == []


def test_smoke_profile_with_empty_cache_uses_mock_without_network(
    empty_data_dir: Path, urlopen_calls: list[str]
) -> None:
    with pytest.warns(MockDataWarning, match="MOCK"):
        splits = load("cifar10", "smoke")
    assert splits.is_mock and splits.source == "mock"
    assert splits.describe().startswith("MOCK DATA")
    assert splits.x_train.shape == (1024, 32, 32, 3) and splits.x_test.shape == (512, 32, 32, 3)
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.int64
    assert splits.class_names == CLASSES
    assert urlopen_calls == [] and leftovers(empty_data_dir) == []


@pytest.mark.parametrize(
    "members, links, problem",
    [
        (
            {"cifar-10-batches-py/data_batch_1": b"x", "../evil": b"pwned"},
            {},
            "'../evil' is a path",
        ),
        ({"/tmp/evil": b"pwned"}, {}, "'/tmp/evil' is an absolute path"),
        ({}, {"cifar-10-batches-py/data_batch_1": "/etc/passwd"}, "is a link or special file"),
    ],
    ids=["dotdot", "absolute", "symlink"],
)
def test_unsafe_archive_members_are_refused(
    tiny: DatasetInfo,
    tmp_path: Path,
    urlopen_calls: list[str],
    members: dict[str, bytes],
    links: dict[str, str],
    problem: str,
) -> None:
    cache = tmp_path / "cache"
    archive = cache / "cifar-10-python.tar.gz"
    make_archive(archive, members, links)
    data = archive.read_bytes()
    with pytest.raises(CacheError) as err:
        load("cifar10", "smoke", data_dir=cache)
    message = str(err.value)
    assert f"The cached cifar10 archive {archive} is not a valid copy" in message
    assert problem in message and "nothing was unpacked" in message
    assert not (tmp_path / "evil").exists()
    assert leftovers(cache) == ["cifar-10-python.tar.gz"]  # no staging folder left behind
    assert archive.read_bytes() == data


def test_corrupt_or_incomplete_archive_raises_cache_error(
    tiny: DatasetInfo, tmp_path: Path, urlopen_calls: list[str]
) -> None:
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + np.random.default_rng(0).bytes(300))
    with pytest.raises(CacheError, match="not a readable .tar.gz archive"):
        load("cifar10", "smoke", data_dir=tmp_path)
    assert leftovers(tmp_path) == ["cifar-10-python.tar.gz"]

    make_archive(archive, {"cifar-10-batches-py/data_batch_1": pickled({})})
    with pytest.raises(CacheError, match="data_batch_2, data_batch_3"):
        load("cifar10", "smoke", data_dir=tmp_path)
    with pytest.raises(CacheError, match=r"it lacks cifar-10-batches-py/data_batch_2"):
        loader.validate(archive, tiny)
    assert leftovers(tmp_path) == ["cifar-10-python.tar.gz"]


# --- profile caps: subsample before decoding --------------------------------------------------


def test_smoke_caps_decode_only_the_chosen_files(
    tiny: DatasetInfo, tmp_path: Path, urlopen_calls: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    write_image_tree(tmp_path / "cifar10", train_per_class=5, test_per_class=1)
    opened: list[str] = []
    original_open = Image.open

    def counting_open(fp: object, *args: object, **kwargs: object) -> Image.Image:
        opened.append(str(fp))
        return original_open(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", counting_open)
    splits = load("cifar10", capped(20, 5), data_dir=tmp_path, seed=1)
    assert len(opened) == 25 == len(set(opened))
    assert splits.x_train.shape == (20, 32, 32, 3) and splits.x_test.shape == (5, 32, 32, 3)
    assert np.bincount(splits.y_train, minlength=10).tolist() == [2] * 10
    assert splits.notes == [
        "subsampled to 20 of 50 training images (profile smoke)",
        "subsampled to 5 of 10 test images (profile smoke)",
    ]
    again = load("cifar10", capped(20, 5), data_dir=tmp_path, seed=1)
    np.testing.assert_array_equal(again.x_train, splits.x_train)
    assert opened[25:] == opened[:25]  # the same files for the same seed


# --- the real data, when it is available -------------------------------------------------------


def _unpack_shared_copy(cache: Path) -> Path:
    """Unpack the shared JPEG copy as ``cache/cifar10/{train,test}/<class>/NNNN.jpg``.

    The tarball holds ``train/`` and ``test/`` at its top level. A plain loop
    over the stream is several times faster than ``extractall`` for 60,000 tiny files.
    """
    root = cache / "cifar10"
    with tarfile.open(SHARED_JPEG, "r|gz") as tar:
        for member in tar:
            parts = Path(member.name).parts
            assert not Path(member.name).is_absolute() and ".." not in parts, member.name
            if member.isdir():
                root.joinpath(*parts).mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                source = tar.extractfile(member)
                assert source is not None
                root.joinpath(*parts).write_bytes(source.read())
    return cache


@pytest.fixture(scope="session")
def real_cifar10_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A cache folder holding the shared JPEG copy in layout 2, for the whole session.

    Creating 60,000 files takes about a second in a RAM-backed folder but up to
    half a minute on a busy disk, so Linux' /dev/shm is used when it has room.
    """
    if not SHARED_JPEG.is_file():
        pytest.skip(f"no real CIFAR-10 JPEG copy at {SHARED_JPEG}")
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 1 << 30:
        with tempfile.TemporaryDirectory(dir=shm, prefix="cnnlabs-cifar10-") as folder:
            yield _unpack_shared_copy(Path(folder))
    else:
        yield _unpack_shared_copy(tmp_path_factory.mktemp("cifar10-real"))


def test_smoke_profile_on_the_real_jpeg_copy(
    real_cifar10_cache: Path, urlopen_calls: list[str]
) -> None:
    splits = load("cifar10", "smoke", data_dir=real_cifar10_cache, seed=0)
    assert not splits.is_mock
    assert splits.source == str(real_cifar10_cache / "cifar10")
    assert splits.x_train.shape == (1024, 32, 32, 3) and splits.x_test.shape == (512, 32, 32, 3)
    assert splits.x_train.dtype == np.uint8 and splits.y_test.dtype == np.int64
    assert splits.notes == [
        "subsampled to 1024 of 50000 training images (profile smoke)",
        "subsampled to 512 of 10000 test images (profile smoke)",
    ]
    for labels, n in ((splits.y_train, 1024), (splits.y_test, 512)):
        counts = np.bincount(labels, minlength=10)
        assert counts.sum() == n and np.all(np.abs(counts - n / 10) < 1)
    assert 90 < splits.x_train.mean() < 160 and splits.x_train.std() > 40  # real photos


def test_fetch_keeps_an_image_folder_copy_and_downloads_nothing(
    tmp_path: Path, urlopen_calls: list[str]
) -> None:
    from cnnlabs import datasets

    write_image_tree(tmp_path / "cifar10", train_per_class=2, test_per_class=1)
    assert datasets.fetch("cifar10", data_dir=tmp_path) == tmp_path / "cifar10"
    assert urlopen_calls == []
    assert not (tmp_path / "cifar-10-python.tar.gz").exists()


def test_fetch_reports_a_broken_image_folder_instead_of_downloading(
    tmp_path: Path, urlopen_calls: list[str]
) -> None:
    from cnnlabs import datasets

    write_image_tree(tmp_path / "cifar10", train_per_class=2, test_per_class=1)
    (tmp_path / "cifar10" / "train" / "cat").rename(tmp_path / "cifar10" / "train" / "kitten")
    with pytest.raises(CacheError, match="missing class folder"):
        datasets.fetch("cifar10", data_dir=tmp_path)
    assert urlopen_calls == []
