"""Dataset catalogue, loaders, downloads and mock data. No test touches the network.

Downloads are exercised with ``file://`` URLs under ``tmp_path`` or with a fake
``urllib.request.urlopen``; a fixture makes any other network use fail the test.
Tests of invalid cache files shrink the catalogue's split sizes so that the
files they write are tiny.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from cnnlabs import datasets
from cnnlabs.config import PROFILES
from cnnlabs.datasets import (
    CATALOG,
    CacheError,
    ChecksumError,
    DatasetError,
    DatasetInfo,
    DownloadError,
    MockDataWarning,
    Splits,
    UnknownDatasetError,
    fetch,
    info,
    load,
    mock,
    names,
    stratified_indices,
)
from cnnlabs.datasets.download import download, part_path, sha256_file

OFFICIAL_SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
OFFICIAL_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"


# --- helpers and fixtures -------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    """Stands in for an HTTP response: a body, headers, and optional failure mid-stream."""

    def __init__(
        self, body: bytes, content_length: int | None = None, fail: BaseException | None = None
    ) -> None:
        super().__init__(body)
        length = len(body) if content_length is None else content_length
        self.headers = {"Content-Length": str(length)}
        self._fail = fail

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        if not chunk and self._fail is not None:
            raise self._fail
        return chunk


def serve(monkeypatch: pytest.MonkeyPatch, make_response: Callable[[], object]) -> list[str]:
    """Replace urlopen with one that answers every URL with ``make_response()``."""
    calls: list[str] = []

    def fake_urlopen(url: str, *args: object, **kwargs: object) -> object:
        calls.append(str(url))
        return make_response()

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return calls


def go_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """urlopen fails the way it does without a network."""

    def offline(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.URLError(socket.gaierror(-3, "Temporary failure in name resolution"))

    monkeypatch.setattr(urllib.request, "urlopen", offline)


@pytest.fixture
def tiny(monkeypatch: pytest.MonkeyPatch) -> DatasetInfo:
    """Shrink the mnist catalogue entry to 60 train / 20 test images for fast file tests."""
    entry = dataclasses.replace(CATALOG["mnist"], train_size=60, test_size=20)
    monkeypatch.setitem(CATALOG, "mnist", entry)
    return entry


def tiny_arrays(entry: DatasetInfo, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (entry.train_size, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(entry.train_size) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (entry.test_size, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(entry.test_size) % 10).astype(np.uint8),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path.read_bytes()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --- catalogue and public API -----------------------------------------------------------------


def test_catalogue_describes_mnist() -> None:
    entry = info("mnist")
    assert names() == [
        "bloodmnist",
        "breastmnist",
        "chest_xray",
        "chestmnist",
        "cifar10",
        "dermamnist",
        "mnist",
        "mnist_detection",
        "octmnist",
        "organamnist",
        "organcmnist",
        "organsmnist",
        "pathmnist",
        "pneumoniamnist",
        "retinamnist",
        "tissuemnist",
    ]
    assert entry.url == OFFICIAL_URL
    assert entry.sha256 == OFFICIAL_SHA256
    assert entry.class_names == tuple("0123456789")
    assert entry.num_classes == 10
    assert entry.image_shape == (28, 28, 1)
    assert entry.split_sizes == {"train": 60_000, "test": 10_000}
    assert entry.filename == "mnist.npz"
    assert "CC BY-SA 3.0" in entry.licence
    assert "Proceedings of the IEEE" in entry.citation
    assert info(" MNIST ") is entry
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.url = "elsewhere"  # type: ignore[misc]


def test_catalogue_url_and_hash_match_installed_keras() -> None:
    spec = importlib.util.find_spec("keras")
    source = None
    if spec is not None and spec.submodule_search_locations:
        candidate = Path(next(iter(spec.submodule_search_locations))) / "src/datasets/mnist.py"
        source = candidate.read_text(encoding="utf-8") if candidate.is_file() else None
    if source is None:
        pytest.skip("keras/src/datasets/mnist.py not found")
    assert OFFICIAL_SHA256 in source
    assert "storage.googleapis.com/tensorflow/tf-keras-datasets/" in source


@pytest.mark.parametrize(
    "call",
    [
        lambda: info("mnsit"),
        lambda: load("mnsit", "smoke"),
        lambda: fetch("mnsit"),
        lambda: mock("mnsit", 4, 4),
    ],
    ids=["info", "load", "fetch", "mock"],
)
def test_unknown_dataset_name_lists_valid_names(call: Callable[[], object]) -> None:
    expected = r"Unknown dataset 'mnsit'\. Valid names: bloodmnist, breastmnist, .*, cifar10, "
    with pytest.raises(ValueError, match=expected) as err:
        call()
    assert isinstance(err.value, UnknownDatasetError)
    assert isinstance(err.value, DatasetError)


def test_error_hierarchy() -> None:
    assert issubclass(ChecksumError, DownloadError)
    assert all(issubclass(e, DatasetError) for e in (DownloadError, CacheError))
    assert not issubclass(CacheError, DownloadError)


def test_importing_datasets_loads_neither_tensorflow_nor_keras() -> None:
    code = (
        "import sys, cnnlabs.datasets as d; d.names(); "
        "heavy = [m for m in ('tensorflow', 'keras', 'tqdm') if m in sys.modules]; "
        "assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- the real MNIST from the cache ------------------------------------------------------------


def test_loads_real_mnist_from_cache(real_mnist_npz: Path, urlopen_calls: list[str]) -> None:
    splits = load("mnist", "cpu", data_dir=real_mnist_npz.parent)
    assert isinstance(splits, Splits)
    assert splits.x_train.shape == (60_000, 28, 28, 1)
    assert splits.x_test.shape == (10_000, 28, 28, 1)
    assert splits.x_train.dtype == splits.x_test.dtype == np.uint8
    assert splits.y_train.shape == (60_000,) and splits.y_test.shape == (10_000,)
    assert splits.y_train.dtype == splits.y_test.dtype == np.int64
    assert splits.x_val is None and splits.y_val is None
    test_counts = np.bincount(splits.y_test, minlength=10)
    assert test_counts[0] == 980 and test_counts[1] == 1135
    assert test_counts.tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    assert np.bincount(splits.y_train)[1] == 6742
    assert splits.x_train.max() == 255 and splits.x_train.min() == 0
    assert splits.class_names == [str(d) for d in range(10)]
    assert splits.input_shape == (28, 28, 1) and splits.num_classes == 10
    assert not splits.is_mock
    assert splits.source == str(real_mnist_npz.parent / "mnist.npz")
    assert splits.notes == []
    assert "MOCK" not in splits.describe()
    assert urlopen_calls == []


def test_cnnlabs_data_dir_selects_the_cache(
    real_mnist_npz: Path, monkeypatch: pytest.MonkeyPatch, urlopen_calls: list[str]
) -> None:
    monkeypatch.setenv("CNNLABS_DATA_DIR", str(real_mnist_npz.parent))
    splits = load("mnist", "smoke")
    assert not splits.is_mock
    assert Path(splits.source) == real_mnist_npz.parent.resolve() / "mnist.npz"
    assert fetch("mnist", progress=False) == real_mnist_npz.parent.resolve() / "mnist.npz"
    assert urlopen_calls == []


def test_valid_copy_with_a_different_hash_still_loads(
    real_mnist_npz: Path, tmp_path: Path, urlopen_calls: list[str]
) -> None:
    with np.load(real_mnist_npz) as original:
        arrays = {key: original[key] for key in original.files}
    copy = tmp_path / "cache" / "mnist.npz"
    write_npz(copy, arrays)  # uncompressed: other bytes, same pixels
    assert sha256_file(copy) not in (OFFICIAL_SHA256, sha256_file(real_mnist_npz))
    splits = load("mnist", "cpu", data_dir=copy.parent)
    np.testing.assert_array_equal(splits.x_test[..., 0], arrays["x_test"])
    np.testing.assert_array_equal(splits.y_train, arrays["y_train"])
    assert urlopen_calls == []


# --- invalid cache files ----------------------------------------------------------------------


def _bad_random_bytes(entry: DatasetInfo, path: Path) -> str:
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    return "not an .npz (zip) archive"


def _bad_truncated(entry: DatasetInfo, path: Path) -> str:
    data = write_npz(path, tiny_arrays(entry))
    path.write_bytes(data[: len(data) // 2])
    return "not a readable .npz archive"


def _bad_wrong_keys(entry: DatasetInfo, path: Path) -> str:
    arrays = tiny_arrays(entry)
    arrays["train_images"] = arrays.pop("x_train")
    write_npz(path, arrays)
    return "lacks the key(s) x_train"


def _bad_wrong_shape(entry: DatasetInfo, path: Path) -> str:
    arrays = tiny_arrays(entry)
    arrays["x_test"] = arrays["x_test"][:, :27, :]
    write_npz(path, arrays)
    return f"x_test has shape ({entry.test_size}, 27, 28), expected ({entry.test_size}, 28, 28)"


def _bad_wrong_count(entry: DatasetInfo, path: Path) -> str:
    arrays = tiny_arrays(entry)
    arrays["y_train"] = arrays["y_train"][:-1]
    write_npz(path, arrays)
    return "y_train has shape"


def _bad_float_pixels(entry: DatasetInfo, path: Path) -> str:
    arrays = tiny_arrays(entry)
    arrays["x_train"] = arrays["x_train"].astype(np.float32) / 255
    write_npz(path, arrays)
    return "x_train has dtype float32, expected uint8"


def _bad_float_labels(entry: DatasetInfo, path: Path) -> str:
    arrays = tiny_arrays(entry)
    arrays["y_test"] = arrays["y_test"].astype(np.float64)
    write_npz(path, arrays)
    return "y_test has dtype float64, expected an integer type"


def _bad_label_range(entry: DatasetInfo, path: Path) -> str:
    arrays = tiny_arrays(entry)
    arrays["y_train"][3] = 10
    write_npz(path, arrays)
    return "y_train has labels from 0 to 10, expected 0 to 9"


def _bad_npy(entry: DatasetInfo, path: Path) -> str:
    with path.open("wb") as handle:
        np.save(handle, tiny_arrays(entry)["x_train"])
    return "single .npy array"


@pytest.mark.parametrize(
    "corrupt",
    [
        _bad_random_bytes,
        _bad_truncated,
        _bad_wrong_keys,
        _bad_wrong_shape,
        _bad_wrong_count,
        _bad_float_pixels,
        _bad_float_labels,
        _bad_label_range,
        _bad_npy,
    ],
    ids=lambda f: f.__name__.removeprefix("_bad_"),
)
@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_invalid_cache_file_raises_cache_error_and_is_left_alone(
    tiny: DatasetInfo,
    tmp_path: Path,
    urlopen_calls: list[str],
    corrupt: Callable[[DatasetInfo, Path], str],
    profile: str,
) -> None:
    path = tmp_path / "mnist.npz"
    problem = corrupt(tiny, path)
    before = path.read_bytes()
    with pytest.raises(CacheError) as err:
        load("mnist", profile, data_dir=tmp_path)
    message = str(err.value)
    assert str(path) in message
    assert problem in message
    assert "delete it" in message and "cnnlabs data fetch mnist" in message
    assert OFFICIAL_URL in message
    assert "Traceback" not in message
    assert err.value.path == path
    assert path.read_bytes() == before  # never modified, never deleted
    assert leftovers(tmp_path) == ["mnist.npz"]
    assert urlopen_calls == []  # an invalid file is not silently re-downloaded


def test_truncated_real_mnist_raises_cache_error(
    real_mnist_npz: Path, tmp_path: Path, urlopen_calls: list[str]
) -> None:
    data = real_mnist_npz.read_bytes()
    path = tmp_path / "mnist.npz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CacheError, match="not a readable .npz archive"):
        load("mnist", "full", data_dir=tmp_path)
    assert path.read_bytes() == data[: len(data) // 2]


def test_fetch_refuses_to_replace_an_invalid_file(
    tiny: DatasetInfo, tmp_path: Path, urlopen_calls: list[str]
) -> None:
    path = tmp_path / "mnist.npz"
    path.write_bytes(b"not an archive")
    with pytest.raises(CacheError, match="not an .npz"):
        fetch("mnist", data_dir=tmp_path, progress=False)
    assert path.read_bytes() == b"not an archive"
    assert urlopen_calls == []


# --- downloads --------------------------------------------------------------------------------


@pytest.mark.parametrize("profile", ["cpu", "full"])
def test_offline_without_cache_gives_manual_instructions(
    empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch, profile: str
) -> None:
    go_offline(monkeypatch)
    with pytest.raises(DownloadError) as err:
        load("mnist", profile)
    message = str(err.value)
    target = empty_data_dir.resolve() / "mnist.npz"
    assert OFFICIAL_URL in message
    assert OFFICIAL_SHA256 in message
    assert str(target) in message
    assert "CNNLABS_DATA_DIR" in message
    assert "cnnlabs data fetch mnist" in message
    assert "Temporary failure in name resolution" in message
    assert "Traceback" not in message
    assert isinstance(err.value.__cause__, urllib.error.URLError)
    assert not isinstance(err.value, ChecksumError)
    assert (err.value.url, err.value.sha256, err.value.target) == (
        OFFICIAL_URL,
        OFFICIAL_SHA256,
        target,
    )
    assert leftovers(empty_data_dir) == []


def test_http_error_is_a_download_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def not_found(url: str, *args: object, **kwargs: object) -> None:
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)  # type: ignore[arg-type]

    monkeypatch.setattr(urllib.request, "urlopen", not_found)
    with pytest.raises(DownloadError, match="HTTP 404 Not Found"):
        download("https://example.invalid/x.npz", tmp_path / "x.npz", None, progress=False)
    assert leftovers(tmp_path) == []


def test_truncated_download_is_an_error_and_leaves_nothing(
    empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(monkeypatch, lambda: FakeResponse(b"x" * 500, content_length=1000))
    with pytest.raises(DownloadError, match=r"cut short \(500 of 1,000 bytes") as err:
        load("mnist", "cpu")
    assert not isinstance(err.value, ChecksumError)
    assert leftovers(empty_data_dir) == []


@pytest.mark.parametrize(
    "failure", [ConnectionResetError(104, "Connection reset by peer"), TimeoutError("timed out")]
)
def test_connection_lost_mid_download_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: OSError
) -> None:
    body = b"y" * 3000
    serve(monkeypatch, lambda: FakeResponse(body, content_length=6000, fail=failure))
    target = tmp_path / "f.npz"
    with pytest.raises(DownloadError) as err:
        download("https://example.invalid/f.npz", target, None, progress=False)
    assert err.value.__cause__ is failure
    assert leftovers(tmp_path) == []


def test_interrupted_download_removes_part_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(
        monkeypatch, lambda: FakeResponse(b"z" * 100, content_length=200, fail=KeyboardInterrupt())
    )
    with pytest.raises(KeyboardInterrupt):
        download("https://example.invalid/f.npz", tmp_path / "f.npz", None, progress=False)
    assert leftovers(tmp_path) == []


def test_checksum_mismatch_discards_download_and_keeps_existing_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "mnist.npz"
    target.write_bytes(b"the good copy")
    served = b"a captive portal page"
    calls = serve(monkeypatch, lambda: FakeResponse(served))
    with pytest.raises(ChecksumError) as err:
        download(OFFICIAL_URL, target, OFFICIAL_SHA256, progress=False, dataset="mnist")
    message = str(err.value)
    assert hashlib.sha256(served).hexdigest() in message
    assert OFFICIAL_SHA256 in message and str(target) in message
    assert err.value.actual == hashlib.sha256(served).hexdigest()
    assert target.read_bytes() == b"the good copy"
    assert leftovers(tmp_path) == ["mnist.npz"]
    assert calls == [OFFICIAL_URL]


def test_checksum_mismatch_when_loading_leaves_nothing(
    empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    serve(monkeypatch, lambda: FakeResponse(b"not mnist at all"))
    with pytest.raises(ChecksumError, match="was discarded"):
        load("mnist", "full")
    assert leftovers(empty_data_dir) == []


def test_download_from_file_url_puts_verified_file_in_place(tmp_path: Path) -> None:
    source = tmp_path / "server" / "blob.bin"
    source.parent.mkdir()
    source.write_bytes(bytes(range(256)) * 5000)
    target = tmp_path / "cache" / "sub" / "blob.bin"
    result = download(source.as_uri(), target, sha256_file(source), progress=False)
    assert result == target
    assert target.read_bytes() == source.read_bytes()
    assert not part_path(target).exists()
    assert part_path(target).name == "blob.bin.part"


def test_download_shows_a_progress_bar_with_the_file_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "server" / "mnist.npz"
    source.parent.mkdir()
    source.write_bytes(b"x" * 300_000)
    download(source.as_uri(), tmp_path / "cache" / "mnist.npz", sha256_file(source), progress=True)
    shown = capsys.readouterr().err
    assert "Downloading mnist.npz" in shown and "100%" in shown


def test_load_downloads_into_empty_cache_then_loads(
    tiny: DatasetInfo, tmp_path: Path, empty_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "server" / "mnist.npz"
    arrays = tiny_arrays(tiny, seed=5)
    write_npz(served, arrays)
    entry = dataclasses.replace(tiny, url=served.as_uri(), sha256=sha256_file(served))
    monkeypatch.setitem(CATALOG, "mnist", entry)
    splits = load("mnist", "cpu")
    cached = empty_data_dir / "mnist.npz"
    assert cached.read_bytes() == served.read_bytes()
    assert leftovers(empty_data_dir) == ["mnist.npz"]
    assert Path(splits.source).name == "mnist.npz"
    assert splits.x_train.shape == (60, 28, 28, 1) and splits.y_test.dtype == np.int64
    np.testing.assert_array_equal(splits.x_test[..., 0], arrays["x_test"])
    # Once cached, the next load and fetch do not download again.
    monkeypatch.setattr(urllib.request, "urlopen", None)
    assert load("mnist", "cpu").source == splits.source
    assert fetch("mnist") == cached


def test_fetch_downloads_into_the_cache(
    tiny: DatasetInfo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    served = tmp_path / "server" / "mnist.npz"
    write_npz(served, tiny_arrays(tiny))
    monkeypatch.setitem(
        CATALOG, "mnist", dataclasses.replace(tiny, url=served.as_uri(), sha256=sha256_file(served))
    )
    folder = tmp_path / "new-cache"
    assert fetch("mnist", data_dir=folder, progress=False) == folder / "mnist.npz"
    assert leftovers(folder) == ["mnist.npz"]


# --- profiles: mock fallback and subsampling --------------------------------------------------


def test_smoke_profile_with_empty_cache_uses_mock_without_network(
    empty_data_dir: Path, urlopen_calls: list[str]
) -> None:
    with pytest.warns(MockDataWarning, match="MOCK"):
        splits = load("mnist", "smoke")
    smoke = PROFILES["smoke"]
    assert splits.is_mock and splits.source == "mock"
    assert splits.describe().startswith("MOCK DATA")
    assert any("MOCK" in note for note in splits.notes)
    assert splits.x_train.shape == (smoke.train_samples, 28, 28, 1)
    assert splits.x_test.shape == (smoke.test_samples, 28, 28, 1)
    assert splits.x_train.dtype == np.uint8 and splits.y_train.dtype == np.int64
    assert set(np.unique(splits.y_train)) == set(range(10))
    assert splits.class_names == list("0123456789")
    assert urlopen_calls == []
    assert leftovers(empty_data_dir) == []


def test_profile_without_download_or_mock_explains_manual_install(
    empty_data_dir: Path, urlopen_calls: list[str]
) -> None:
    offline = dataclasses.replace(PROFILES["cpu"], name="offline", allow_download=False)
    with pytest.raises(DownloadError, match="neither downloads data nor falls back") as err:
        load("mnist", offline)
    assert OFFICIAL_URL in str(err.value) and OFFICIAL_SHA256 in str(err.value)
    assert str(empty_data_dir.resolve() / "mnist.npz") in str(err.value)
    assert urlopen_calls == []


def test_smoke_profile_subsamples_real_mnist_stratified_and_deterministic(
    real_mnist_npz: Path, urlopen_calls: list[str]
) -> None:
    folder = real_mnist_npz.parent
    full = load("mnist", "cpu", data_dir=folder)
    first = load("mnist", "smoke", data_dir=folder, seed=0)
    again = load("mnist", "smoke", data_dir=folder, seed=0)
    other = load("mnist", "smoke", data_dir=folder, seed=1)

    assert not first.is_mock
    assert first.x_train.shape == (1024, 28, 28, 1) and first.y_test.shape == (512,)
    assert first.x_train.dtype == np.uint8 and first.y_train.dtype == np.int64
    assert "subsampled to 1024 of 60000 training images (profile smoke)" in first.notes
    assert "subsampled to 512 of 10000 test images (profile smoke)" in first.notes
    for part, n in (("train", 1024), ("test", 512)):
        labels = getattr(full, f"y_{part}")
        share = np.bincount(labels, minlength=10) / len(labels)
        counts = np.bincount(getattr(first, f"y_{part}"), minlength=10)
        assert counts.sum() == n
        assert np.all(np.abs(counts - n * share) < 1)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_test, again.y_test)
    assert not np.array_equal(first.x_train, other.x_train)


def test_stratified_indices_are_proportional_unique_and_seeded() -> None:
    labels = np.repeat(np.arange(4), [700, 200, 90, 10])
    picked = stratified_indices(labels, 50, np.random.default_rng(3))
    assert len(picked) == 50 == len(np.unique(picked))
    assert np.bincount(labels[picked], minlength=4).tolist() == [35, 10, 5, 0]
    uneven = stratified_indices(labels, 33, np.random.default_rng(0))
    expected = 33 * np.array([0.7, 0.2, 0.09, 0.01])
    assert np.all(np.abs(np.bincount(labels[uneven], minlength=4) - expected) < 1)
    np.testing.assert_array_equal(stratified_indices(labels, 50, np.random.default_rng(3)), picked)
    np.testing.assert_array_equal(stratified_indices(labels, None), np.arange(1000))
    np.testing.assert_array_equal(stratified_indices(labels, 5000), np.arange(1000))


# --- mock data --------------------------------------------------------------------------------


def test_mock_data_is_learnable_and_deterministic() -> None:
    splits = mock("mnist", 400, 200, seed=7)
    assert splits.is_mock and splits.source == "mock"
    assert splits.x_train.shape == (400, 28, 28, 1) and splits.x_train.dtype == np.uint8
    assert splits.y_test.shape == (200,) and splits.y_test.dtype == np.int64
    assert np.bincount(splits.y_train).tolist() == [40] * 10

    flat_train = splits.x_train.reshape(400, -1).astype(np.float64)
    flat_test = splits.x_test.reshape(200, -1).astype(np.float64)
    means = np.stack([flat_train[splits.y_train == k].mean(axis=0) for k in range(10)])
    gaps = np.linalg.norm(means[:, None] - means[None], axis=-1)[~np.eye(10, dtype=bool)]
    assert gaps.min() > 500  # class means differ clearly (pixel scale 0-255, 784 pixels)
    # The nearest class mean already classifies held-out mock data almost perfectly.
    predicted = np.argmin(((flat_test[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (predicted == splits.y_test).mean() > 0.95

    again = mock("mnist", 400, 200, seed=7)
    np.testing.assert_array_equal(again.x_train, splits.x_train)
    assert not np.array_equal(mock("mnist", 400, 200, seed=8).x_train, splits.x_train)


def test_mock_follows_the_catalogue_shape(monkeypatch: pytest.MonkeyPatch) -> None:
    colour = dataclasses.replace(
        CATALOG["mnist"], name="colourful", image_shape=(32, 30, 3), class_names=("a", "b", "c")
    )
    monkeypatch.setitem(CATALOG, "colourful", colour)
    splits = mock("colourful", 9, 0)
    assert splits.x_train.shape == (9, 32, 30, 3) and splits.x_test.shape == (0, 32, 30, 3)
    assert splits.class_names == ["a", "b", "c"] and splits.num_classes == 3
    assert set(splits.y_train.tolist()) == {0, 1, 2}


def test_mock_stays_a_function_after_every_loader_is_imported() -> None:
    import importlib

    from cnnlabs import datasets

    for name in datasets.names():
        importlib.import_module(f"cnnlabs.datasets.{datasets.info(name).loader}")
    assert callable(datasets.mock)
    assert datasets.mock("mnist", 20, 10).is_mock


def test_cached_finds_each_layout_without_reading_it(tmp_path: Path) -> None:
    """The npz file, CIFAR-10's image folder and the chest X-ray root (any depth)."""
    assert all(datasets.cached(name, tmp_path) is None for name in datasets.names())
    (tmp_path / "mnist.npz").write_bytes(b"not even an npz")  # looked at, not read
    (tmp_path / "cifar10" / "train").mkdir(parents=True)
    root = tmp_path / "chest_xray" / "chest_xray"
    for split in ("train", "test"):
        for name in ("NORMAL", "PNEUMONIA"):
            (root / split / name).mkdir(parents=True)
    assert datasets.cached("mnist", tmp_path) == tmp_path / "mnist.npz"
    assert datasets.cached("cifar10", tmp_path) == tmp_path / "cifar10"
    assert datasets.cached("chest_xray", tmp_path) == root
    assert datasets.cached("pneumoniamnist", tmp_path) is None
    with pytest.raises(datasets.UnknownDatasetError):
        datasets.cached("imagenet", tmp_path)
