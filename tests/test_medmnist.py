"""MedMNIST v2: the metadata table, the catalogue entries and the loader. No network access."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import re
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnlabs import config, datasets
from cnnlabs.datasets import CATALOG, CacheError, ChecksumError, DownloadError, MockDataWarning
from cnnlabs.datasets.catalog import medmnist_entry
from cnnlabs.datasets.download import download, part_path
from cnnlabs.datasets.medmnist import MD5MismatchWarning, fetch_medmnist, load_medmnist
from cnnlabs.datasets.medmnist_info import KEYS, MEDMNIST, SIZES

#: Where the shared real datasets live (as in conftest.py).
SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"
FLAGS = [
    "pathmnist",
    "chestmnist",
    "dermamnist",
    "octmnist",
    "pneumoniamnist",
    "retinamnist",
    "breastmnist",
    "bloodmnist",
    "tissuemnist",
    "organamnist",
    "organcmnist",
    "organsmnist",
]
#: Class counts of PneumoniaMNIST (0 normal, 1 pneumonia), computed from the shared copy.
PNEUMONIA_COUNTS = {"train": [1214, 3494], "val": [135, 389], "test": [234, 390]}

OFFLINE = dataclasses.replace(config.PROFILES["cpu"], allow_download=False, allow_mock=False)


# --- helpers -------------------------------------------------------------------------------------


class FakeResponse(io.BytesIO):
    def __init__(self, body: bytes) -> None:
        super().__init__(body)
        self.headers = {"Content-Length": str(len(body))}


def tiny(monkeypatch: pytest.MonkeyPatch, flag: str, sizes: tuple[int, int, int] = (12, 4, 8)):
    """Shrink ``flag``'s official split sizes so that small fake files are valid."""
    train, val, test = sizes
    meta = dataclasses.replace(MEDMNIST[flag], train_size=train, val_size=val, test_size=test)
    monkeypatch.setitem(MEDMNIST, flag, meta)
    monkeypatch.setitem(CATALOG, flag, medmnist_entry(flag))
    return meta


def fake_arrays(meta, size: int = 28, seed: int = 0) -> dict[str, np.ndarray]:
    """MedMNIST-shaped arrays as the official files store them."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split in ("train", "val", "test"):
        n = getattr(meta, f"{split}_size")
        shape = (n, size, size) + ((3,) if meta.channels == 3 else ())
        arrays[f"{split}_images"] = rng.integers(0, 256, shape, dtype=np.uint8)
        if meta.multi_label:
            arrays[f"{split}_labels"] = rng.integers(0, 2, (n, len(meta.labels)), dtype=np.uint8)
        else:
            labels = np.arange(n) % len(meta.labels)
            arrays[f"{split}_labels"] = labels.reshape(n, 1).astype(np.uint8)
    return arrays


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


def serve(monkeypatch: pytest.MonkeyPatch, body: bytes) -> list[str]:
    calls: list[str] = []

    def fake_urlopen(url: str, *args: object, **kwargs: object) -> FakeResponse:
        calls.append(str(url))
        return FakeResponse(body)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    return calls


@pytest.fixture
def real_pneumonia_npz() -> Path:
    """Path of a real pneumoniamnist.npz; skipped where none is cached."""
    env = os.environ.get("CNNLABS_DATA_DIR")
    for folder in (Path(env) if env else None, SHARED_DATA):
        if folder is not None and (folder / "pneumoniamnist.npz").is_file():
            return folder / "pneumoniamnist.npz"
    pytest.skip("no pneumoniamnist.npz in $CNNLABS_DATA_DIR or ../shared/data")


# --- the table and the catalogue -----------------------------------------------------------------


def test_table_has_the_twelve_2d_datasets_at_four_sizes() -> None:
    assert list(MEDMNIST) == FLAGS
    assert SIZES == (28, 64, 128, 224)
    urls, md5s = set(), set()
    for flag, meta in MEDMNIST.items():
        assert meta.channels in (1, 3) and meta.labels
        assert min(meta.train_size, meta.val_size, meta.test_size) > 0
        assert meta.licence.startswith("CC BY")
        for size in SIZES:
            name = f"{flag}.npz" if size == 28 else f"{flag}_{size}.npz"
            url = f"https://zenodo.org/records/10519652/files/{name}?download=1"
            assert meta.filename(size) == name and meta.url(size) == url
            assert re.fullmatch(r"[0-9a-f]{32}", meta.md5_for(size))
            urls.add(url)
            md5s.add(meta.md5_for(size))
    assert len(urls) == len(md5s) == 48
    assert MEDMNIST["pneumoniamnist"].md5_for(28) == "28209eda62fecd6e6a2d98b1501bb15f"
    assert MEDMNIST["chestmnist"].multi_label and len(MEDMNIST["chestmnist"].labels) == 14
    assert MEDMNIST["dermamnist"].licence == "CC BY-NC 4.0"
    with pytest.raises(ValueError, match="sizes"):
        MEDMNIST["pathmnist"].url(32)


def test_catalogue_registers_every_flag_at_28_px() -> None:
    assert set(FLAGS) <= set(datasets.names())
    for flag in FLAGS:
        entry = datasets.info(flag)
        meta = MEDMNIST[flag]
        assert entry.loader == "medmnist" and entry.sha256 is None
        assert entry.md5 == meta.md5_for(28) and entry.url == meta.url(28)
        assert entry.filename == f"{flag}.npz"
        assert entry.image_shape == (28, 28, meta.channels)
        assert entry.split_sizes == {
            "train": meta.train_size,
            "val": meta.val_size,
            "test": meta.test_size,
        }
        assert entry.class_names == meta.labels
        assert "Scientific Data" in entry.citation and "2023" in entry.citation
    big = medmnist_entry("bloodmnist", 224)
    assert big.name == "bloodmnist_224" and big.filename == "bloodmnist_224.npz"
    assert big.image_shape == (224, 224, 3) and big.md5 == MEDMNIST["bloodmnist"].md5_for(224)
    with pytest.raises(ValueError, match="Unknown MedMNIST flag"):
        medmnist_entry("fashionmnist")


def test_table_matches_the_medmnist_package_when_installed() -> None:
    try:
        from medmnist.info import INFO  # type: ignore[import-not-found]
    except Exception:  # not installed, or its PyTorch dependency is missing
        pytest.skip("the medmnist package is not importable here")
    for flag, meta in MEDMNIST.items():
        official = INFO[flag]
        assert meta.task == official["task"]
        assert meta.channels == official["n_channels"]
        assert meta.licence == official["license"]
        assert list(meta.labels) == [official["label"][str(i)] for i in range(len(meta.labels))]
        assert len(meta.labels) == len(official["label"])
        assert (meta.train_size, meta.val_size, meta.test_size) == tuple(
            official["n_samples"][split] for split in ("train", "val", "test")
        )
        for size in SIZES:
            suffix = "" if size == 28 else f"_{size}"
            assert meta.url(size) == official[f"url{suffix}"]
            assert meta.md5_for(size) == official[f"MD5{suffix}"]


# --- the real PneumoniaMNIST ---------------------------------------------------------------------


def test_real_pneumoniamnist_loads_with_an_md5_warning(real_pneumonia_npz: Path) -> None:
    with pytest.warns(MD5MismatchWarning, match="28209eda62fecd6e6a2d98b1501bb15f"):
        splits = load_medmnist("pneumoniamnist", profile="full", data_dir=real_pneumonia_npz.parent)
    assert splits.x_train.shape == (4708, 28, 28, 1)
    assert splits.x_val.shape == (524, 28, 28, 1)
    assert splits.x_test.shape == (624, 28, 28, 1)
    for split, counts in PNEUMONIA_COUNTS.items():
        labels = getattr(splits, f"y_{split}")
        assert labels.dtype == np.int64 and labels.ndim == 1
        assert np.bincount(labels).tolist() == counts
    assert splits.x_train.dtype == np.uint8
    assert splits.class_names == ["normal", "pneumonia"] and not splits.is_mock


def test_real_pneumoniamnist_through_datasets_load_is_capped_and_stratified(
    real_pneumonia_npz: Path, urlopen_calls: list[str]
) -> None:
    with pytest.warns(MD5MismatchWarning):
        splits = datasets.load("pneumoniamnist", "smoke", data_dir=real_pneumonia_npz.parent)
    smoke = config.PROFILES["smoke"]
    assert len(splits.y_train) == smoke.train_samples and len(splits.y_val) == 524
    share = np.mean(splits.y_train)
    assert abs(share - 3494 / 4708) < 0.01
    assert urlopen_calls == []


# --- invalid cache files -------------------------------------------------------------------------


def test_truncated_file_is_a_cache_error_and_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = tiny(monkeypatch, "breastmnist")
    body = npz_bytes(fake_arrays(meta))
    path = tmp_path / "breastmnist.npz"
    path.write_bytes(body[: len(body) // 2])
    with pytest.raises(CacheError, match="not a readable .npz"):
        datasets.load("breastmnist", "full", data_dir=tmp_path)
    assert path.read_bytes() == body[: len(body) // 2]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["breastmnist.npz"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.pop("val_labels"), "lacks the key"),
        (lambda a: a.update(train_images=a["train_images"][:, :20]), "train_images has shape"),
        (lambda a: a.update(test_labels=a["test_labels"] + 5), "test_labels has labels"),
        (lambda a: a.update(val_images=a["val_images"].astype(np.float32)), "dtype float32"),
    ],
)
def test_wrong_keys_or_shapes_are_a_cache_error_and_the_file_stays(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, change, message: str
) -> None:
    meta = tiny(monkeypatch, "breastmnist")
    arrays = fake_arrays(meta)
    change(arrays)
    path = tmp_path / "breastmnist.npz"
    path.write_bytes(npz_bytes(arrays))
    before = path.read_bytes()
    with pytest.raises(CacheError, match=message) as caught:
        datasets.load("breastmnist", "full", data_dir=tmp_path)
    assert caught.value.path == path
    assert MEDMNIST["breastmnist"].url(28) in str(caught.value)
    assert path.read_bytes() == before


# --- downloads and fallbacks ---------------------------------------------------------------------


def test_download_with_wrong_md5_is_discarded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = tiny(monkeypatch, "breastmnist")
    calls = serve(monkeypatch, npz_bytes(fake_arrays(meta)))
    with pytest.raises(ChecksumError, match="MD5") as caught:
        datasets.load("breastmnist", "cpu", data_dir=tmp_path)
    assert calls == [meta.url(28)]
    assert caught.value.target == tmp_path / "breastmnist.npz"
    assert list(tmp_path.iterdir()) == []


def test_download_with_the_right_md5_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = tiny(monkeypatch, "breastmnist")
    body = npz_bytes(fake_arrays(meta))
    md5 = hashlib.md5(body).hexdigest()
    monkeypatch.setitem(
        CATALOG, "breastmnist", dataclasses.replace(CATALOG["breastmnist"], md5=md5)
    )
    serve(monkeypatch, body)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        splits = datasets.load("breastmnist", "full", data_dir=tmp_path)
    assert (tmp_path / "breastmnist.npz").read_bytes() == body
    assert splits.x_train.shape == (12, 28, 28, 1) and splits.y_val.shape == (4,)


def test_download_md5_option_leaves_sha256_callers_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = b"hello medmnist"
    serve(monkeypatch, body)
    target = tmp_path / "a.bin"
    download("https://example.org/a", target, hashlib.sha256(body).hexdigest(), False)
    assert target.read_bytes() == body
    good = hashlib.md5(body).hexdigest()
    download("https://example.org/a", tmp_path / "b.bin", None, False, md5=good)
    with pytest.raises(ChecksumError) as caught:
        download("https://example.org/a", tmp_path / "c.bin", None, False, md5="0" * 32)
    assert caught.value.actual == good and "0" * 32 in str(caught.value)
    assert not (tmp_path / "c.bin").exists() and not part_path(tmp_path / "c.bin").exists()


def test_offline_without_mock_is_a_download_error_with_url_md5_and_target(
    tmp_path: Path, urlopen_calls: list[str]
) -> None:
    with pytest.raises(DownloadError) as caught:
        load_medmnist("pneumoniamnist", profile=OFFLINE, data_dir=tmp_path)
    error = caught.value
    target = tmp_path / "pneumoniamnist.npz"
    text = str(error)
    assert MEDMNIST["pneumoniamnist"].url(28) in text
    assert "28209eda62fecd6e6a2d98b1501bb15f" in text and str(target) in text
    assert error.url == MEDMNIST["pneumoniamnist"].url(28) and error.target == target
    assert urlopen_calls == [] and list(tmp_path.iterdir()) == []


def test_smoke_with_an_empty_cache_gives_mock_data_without_network(
    empty_data_dir: Path, urlopen_calls: list[str]
) -> None:
    with pytest.warns(MockDataWarning):
        splits = datasets.load("dermamnist", "smoke")
    assert splits.is_mock and splits.x_train.shape[1:] == (28, 28, 3)
    assert splits.y_train.ndim == 1 and splits.num_classes == 7
    with pytest.warns(MockDataWarning):
        chest = datasets.load("chestmnist", "smoke")
    assert chest.is_mock and chest.y_train.shape == (len(chest.x_train), 14)
    assert chest.y_val.shape == (MEDMNIST["chestmnist"].val_size, 14)
    # MedMNIST ships a validation split, so its mock stand-in has one too.
    with pytest.warns(MockDataWarning):
        pneumonia = datasets.load("pneumoniamnist", "smoke")
    assert pneumonia.x_val.shape == (524, 28, 28, 1) and set(pneumonia.y_val) == {0, 1}
    assert urlopen_calls == [] and list(empty_data_dir.iterdir()) == []


# --- ChestMNIST and other sizes ------------------------------------------------------------------


def test_chestmnist_keeps_multi_hot_labels_and_caps_at_random(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    meta = tiny(monkeypatch, "chestmnist", (20, 5, 10))
    arrays = fake_arrays(meta)
    (tmp_path / "chestmnist.npz").write_bytes(npz_bytes(arrays))
    with pytest.warns(MD5MismatchWarning):
        full = datasets.load("chestmnist", "full", data_dir=tmp_path)
    assert full.y_train.shape == (20, 14) and full.y_train.dtype == np.int64
    assert np.array_equal(full.y_val, arrays["val_labels"])
    capped_profile = dataclasses.replace(config.PROFILES["full"], train_samples=6, test_samples=3)
    with pytest.warns(MD5MismatchWarning):
        capped = datasets.load("chestmnist", capped_profile, data_dir=tmp_path, seed=1)
    assert capped.y_train.shape == (6, 14) and capped.y_test.shape == (3, 14)
    assert capped.y_val.shape == (5, 14)
    assert any("multi-label" in note for note in capped.notes)


def test_load_medmnist_reads_other_sizes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    meta = tiny(monkeypatch, "bloodmnist", (8, 2, 4))
    (tmp_path / "bloodmnist_64.npz").write_bytes(npz_bytes(fake_arrays(meta, size=64)))
    with pytest.warns(MD5MismatchWarning, match=meta.md5_for(64)):
        splits = load_medmnist("bloodmnist", 64, profile="full", data_dir=tmp_path)
    assert splits.x_train.shape == (8, 64, 64, 3) and splits.y_test.shape == (4,)
    assert splits.name == "bloodmnist_64"
    with pytest.warns(MD5MismatchWarning):
        assert fetch_medmnist("bloodmnist", 64, data_dir=tmp_path) == tmp_path / "bloodmnist_64.npz"
    with pytest.raises(ValueError, match="sizes"):
        load_medmnist("bloodmnist", 32, profile="full", data_dir=tmp_path)


def test_every_flag_reads_a_file_of_its_own_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for flag in FLAGS:
        meta = tiny(monkeypatch, flag, (3, 2, 2))
        (tmp_path / f"{flag}.npz").write_bytes(npz_bytes(fake_arrays(meta)))
        with pytest.warns(MD5MismatchWarning):
            splits = datasets.load(flag, "full", data_dir=tmp_path)
        assert splits.x_train.shape == (3, 28, 28, meta.channels)
        assert set(KEYS) and splits.num_classes == len(meta.labels)


def test_generic_fetch_checks_the_md5(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from cnnlabs import datasets
    from cnnlabs.datasets import ChecksumError

    class Response(io.BytesIO):
        headers = {"Content-Length": "5"}

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(urllib.request, "urlopen", lambda *a, **k: Response(b"bogus"))
    with pytest.raises(ChecksumError):
        datasets.fetch("pneumoniamnist", data_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []
