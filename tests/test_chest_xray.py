"""The chest X-ray loader: layout, patient grouping, verification, download and mock data.

Fake Kaggle trees are written into tmp_path with Pillow; the network is never
touched (kagglehub is replaced by stand-ins).
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlabs import config
from cnnlabs.datasets import CacheError, DownloadError, MockDataWarning, imagefolder, verify
from cnnlabs.datasets import chest_xray as cx
from cnnlabs.datasets.imagefolder import SkippedImagesWarning

REPO_ROOT = Path(__file__).resolve().parent.parent
SMOKE = config.PROFILES["smoke"]
CPU = config.PROFILES["cpu"]

#: (split, class, file name, mode) of a small fake tree: real-style names, L and RGB mixed.
FAKE = [
    ("train", "NORMAL", "IM-0115-0001.jpeg", "L"),
    ("train", "NORMAL", "IM-0117-0001.jpeg", "RGB"),
    ("train", "NORMAL", "IM-0119-0001.jpeg", "L"),
    ("train", "NORMAL", "IM-0119-0001-0002.jpeg", "L"),
    ("train", "NORMAL", "NORMAL2-IM-1419-0001.jpeg", "RGB"),
    ("train", "NORMAL", "NORMAL2-IM-1420-0001.jpeg", "L"),
    ("train", "NORMAL", "NORMAL2-IM-1421-0001.jpeg", "L"),
    ("train", "NORMAL", "NORMAL2-IM-1422-0001.jpeg", "RGB"),
    ("train", "PNEUMONIA", "person1_virus_6.jpeg", "L"),
    ("train", "PNEUMONIA", "person1_virus_7.jpeg", "RGB"),
    ("train", "PNEUMONIA", "person2_bacteria_3.jpeg", "L"),
    ("train", "PNEUMONIA", "person3_bacteria_10.jpeg", "RGB"),
    ("train", "PNEUMONIA", "person3_bacteria_11.jpeg", "L"),
    ("train", "PNEUMONIA", "person4_virus_12.jpeg", "L"),
    ("train", "PNEUMONIA", "person5_bacteria_13.jpeg", "RGB"),
    ("train", "PNEUMONIA", "person6_bacteria_14.jpeg", "L"),
    ("test", "NORMAL", "IM-0001-0001.jpeg", "L"),
    ("test", "NORMAL", "NORMAL2-IM-0002-0001.jpeg", "RGB"),
    ("test", "PNEUMONIA", "person100_bacteria_475.jpeg", "L"),
    ("test", "PNEUMONIA", "person101_virus_187.jpeg", "RGB"),
]


def write_jpeg(path: Path, mode: str = "L", size: int = 24, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((size, size), value, dtype=np.uint8)
    pixels[: size // 2] = 200
    image = Image.fromarray(pixels, mode="L")
    (image.convert(mode) if mode != "L" else image).save(path, format="JPEG")


def make_tree(root: Path, entries=FAKE, val: bool = False) -> Path:
    for split, name, filename, mode in entries:
        write_jpeg(root / split / name / filename, mode, value=60 if name == "NORMAL" else 180)
    if val:
        write_jpeg(root / "val" / "NORMAL" / "NORMAL2-IM-1427-0001.jpeg")
        write_jpeg(root / "val" / "PNEUMONIA" / "person1946_bacteria_4874.jpeg")
    return root


def make_kaggle_archive(folder: Path) -> Path:
    """The Kaggle archive as unpacked: chest_xray/, a nested copy, __MACOSX and ._ files."""
    top = make_tree(folder / "chest_xray", val=True)
    make_tree(folder / "chest_xray" / "chest_xray", FAKE[:2] + FAKE[8:9] + FAKE[16:17])
    (folder / "__MACOSX" / "chest_xray" / "train" / "NORMAL").mkdir(parents=True)
    (folder / "__MACOSX" / "chest_xray" / "train" / "NORMAL" / "._IM-0115-0001.jpeg").write_bytes(
        b"\x00\x05\x16\x07junk"
    )
    (top / "train" / "NORMAL" / "._IM-0115-0001.jpeg").write_bytes(b"\x00\x05\x16\x07junk")
    (top / ".DS_Store").write_bytes(b"junk")
    return top


def real_root() -> Path | None:
    candidates = [REPO_ROOT.parent / "shared" / "data" / "chest_xray"]
    env = os.environ.get("CNNLABS_DATA_DIR")
    if env:
        candidates.insert(0, Path(env) / "chest_xray")
    for candidate in candidates:
        if (candidate / "train" / "NORMAL").is_dir() or candidate.is_dir():
            try:
                return cx.find_root(candidate)
            except CacheError:
                continue
    return None


@pytest.fixture
def real() -> Path:
    found = real_root()
    if found is None:
        pytest.skip("no real chest_xray in $CNNLABS_DATA_DIR or ../shared/data")
    return found


@pytest.fixture
def no_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("KAGGLE_"):
            monkeypatch.delenv(name)
    empty = tmp_path / "kaggle-config"
    empty.mkdir()
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(empty))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setitem(sys.modules, "google.colab", None)  # not in Colab


@pytest.fixture
def fake_credentials(no_credentials: None, monkeypatch: pytest.MonkeyPatch) -> str:
    secret = "s3cr3t-kaggle-key-0123456789"
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", secret)
    return secret


def fake_kagglehub(monkeypatch: pytest.MonkeyPatch, download) -> list[str]:
    calls: list[str] = []

    def dataset_download(handle: str, *args: object, **kwargs: object) -> str:
        calls.append(handle)
        return download(handle)

    module = types.ModuleType("kagglehub")
    module.dataset_download = dataset_download  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kagglehub", module)
    return calls


def patients_of(files: imagefolder.FileList) -> set[str]:
    return {cx.patient_id(p.name) for p in files.paths}


def both_splits(root: Path) -> list[imagefolder.FileList]:
    """The train and test file lists of a fake tree, for verify_images."""
    return [imagefolder.scan(root, split, cx.CLASS_NAMES) for split in ("train", "test")]


# --- layout --------------------------------------------------------------------------------------


def test_find_root_picks_the_shallowest_copy_and_ignores_macos_litter(tmp_path: Path) -> None:
    top = make_kaggle_archive(tmp_path / "download")
    assert cx.find_root(tmp_path / "download") == top
    assert cx.find_root(top) == top
    assert cx.find_root(top / "chest_xray") == top / "chest_xray"
    files = imagefolder.scan(top, "train", cx.CLASS_NAMES)
    assert not any(p.name.startswith(".") for p in files.paths)
    assert len(files) == 16


def test_find_root_wrong_layout_shows_the_expected_tree(tmp_path: Path) -> None:
    wrong = tmp_path / "chest_xray"
    write_jpeg(wrong / "training" / "normal" / "IM-0001-0001.jpeg")
    with pytest.raises(CacheError) as caught:
        cx.find_root(wrong)
    message = str(caught.value)
    for part in ("train/NORMAL/*.jpeg", "train/PNEUMONIA", "test/NORMAL", "test/PNEUMONIA", "val"):
        assert part in message
    assert "training/" in message  # what was found
    with pytest.raises(CacheError, match="train/NORMAL"):
        cx.load(SMOKE, data_dir=tmp_path)


def test_empty_class_folder_is_a_clear_error(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "chest_xray")
    for path in (root / "test" / "PNEUMONIA").iterdir():
        path.unlink()
    with pytest.raises(CacheError) as caught:
        cx.load(SMOKE, data_dir=tmp_path)
    message = str(caught.value)
    assert "empty class folder(s)" in message
    assert str(root / "test" / "PNEUMONIA") in message


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("person123_bacteria_456.jpeg", "person123"),
        ("person1_virus_6.jpeg", "person1"),
        ("person447_virus_921_1.jpeg", "person447"),
        ("IM-0115-0001.jpeg", "IM-0115"),
        ("IM-0429-0001-0002.jpeg", "IM-0429"),
        ("NORMAL2-IM-1419-0001.jpeg", "NORMAL2-IM-1419"),
        ("scan_a.jpeg", "scan_a"),
    ],
)
def test_patient_id(name: str, expected: str) -> None:
    assert cx.patient_id(name) == expected


def test_counts_and_table(tmp_path: Path) -> None:
    root = make_kaggle_archive(tmp_path)
    table = cx.counts(tmp_path)
    assert table == {
        "train": {"NORMAL": 8, "PNEUMONIA": 8},
        "val": {"NORMAL": 1, "PNEUMONIA": 1},
        "test": {"NORMAL": 2, "PNEUMONIA": 2},
    }
    text = cx.format_counts(table)
    assert "total" in text and "50.0%" in text and str(root) not in text


# --- grouped split -------------------------------------------------------------------------------


def test_grouped_split_keeps_patients_whole_stratified_and_seeded(tmp_path: Path) -> None:
    entries = [
        ("train", "NORMAL", f"IM-{p:04d}-{k:04d}.jpeg", "L")
        for p in range(30)
        for k in range(p % 3 + 1)
    ] + [
        ("train", "PNEUMONIA", f"person{p}_bacteria_{p * 10 + k}.jpeg", "L")
        for p in range(40)
        for k in range(p % 4 + 1)
    ]
    root = make_tree(tmp_path / "chest_xray", entries)
    files = imagefolder.scan(root, "train", cx.CLASS_NAMES)
    train, val = cx.grouped_split(files, 0.2, seed=3)
    assert len(train) + len(val) == len(files)
    assert not patients_of(train) & patients_of(val)
    for name, total in files.counts().items():
        assert abs(val.counts()[name] / total - 0.2) < 0.06
    again = cx.grouped_split(files, 0.2, seed=3)
    assert again[1].paths == val.paths and again[0].paths == train.paths
    other = cx.grouped_split(files, 0.2, seed=4)
    assert other[1].paths != val.paths
    assert len(cx.grouped_split(files, 0.0)[1]) == 0
    with pytest.raises(ValueError, match="val_fraction"):
        cx.grouped_split(files, 1.0)


def test_grouped_split_keeps_a_two_class_patient_whole(tmp_path: Path) -> None:
    entries = [
        ("train", "NORMAL", "person9_virus_1.jpeg", "L"),  # one image of a mostly-pneumonia patient
        *[("train", "NORMAL", f"IM-{p:04d}-0001.jpeg", "L") for p in range(6)],
        *[("train", "PNEUMONIA", f"person9_virus_{k}.jpeg", "L") for k in range(2, 5)],
        *[("train", "PNEUMONIA", f"person{p}_virus_{p}0.jpeg", "L") for p in range(10, 16)],
    ]
    files = imagefolder.scan(make_tree(tmp_path / "x", entries), "train", cx.CLASS_NAMES)
    for seed in range(6):
        train, val = cx.grouped_split(files, 0.4, seed=seed)
        assert not patients_of(train) & patients_of(val)
        assert ("person9" in patients_of(train)) != ("person9" in patients_of(val))


def test_real_data_counts_and_grouped_split(real: Path) -> None:
    assert cx.counts(real)["train"] == {"NORMAL": 1341, "PNEUMONIA": 3875}
    assert cx.counts(real)["test"] == {"NORMAL": 234, "PNEUMONIA": 390}
    files = imagefolder.scan(real, "train", cx.CLASS_NAMES)
    assert not any(cx._group_key(p).startswith("file:") for p in files.paths)  # all names known
    train, val = cx.grouped_split(files, 0.1, seed=0)
    assert not patients_of(train) & patients_of(val)
    for name, total in files.counts().items():
        assert abs(val.counts()[name] / total - 0.1) < 0.01


# --- verification and quarantine -----------------------------------------------------------------


def test_corrupt_jpeg_is_quarantined_and_left_out(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "data" / "chest_xray")
    truncated = root / "train" / "PNEUMONIA" / "person2_bacteria_3.jpeg"
    truncated.write_bytes(truncated.read_bytes()[:200])
    garbage = root / "test" / "NORMAL" / "IM-0009-0001.jpeg"
    garbage.write_bytes(np.random.default_rng(0).bytes(500))
    quarantine = tmp_path / "quarantine"
    with pytest.warns(SkippedImagesWarning, match="could not be decoded"):
        data = cx.load(SMOKE, data_dir=tmp_path / "data", quarantine_dir=quarantine)
    report = data.verify
    assert report is not None and report.checked == len(FAKE) + 1
    assert {item.path for item in report.bad} == {truncated, garbage}
    assert not truncated.exists() and not garbage.exists()
    assert (quarantine / "train" / "PNEUMONIA" / truncated.name).is_file()
    assert (quarantine / "test" / "NORMAL" / garbage.name).is_file()
    assert truncated.name in report.summary() and "moved" in report.summary()
    used = set(data.train.paths) | set(data.val.paths) | set(data.test.paths)
    assert truncated not in used and garbage not in used
    assert len(used) == len(FAKE) - 1
    x, y = data.read("train")
    size = SMOKE.image_size  # image_size=None: the profile's
    assert x.shape == (len(data.train), size, size, 3) and len(y) == len(data.train)


def test_by_default_unreadable_files_are_left_where_they_are(tmp_path: Path) -> None:
    """No quarantine_dir: bad files are reported and left out of the splits, never moved."""
    root = make_tree(tmp_path / "data" / "chest_xray")
    truncated = root / "train" / "PNEUMONIA" / "person2_bacteria_3.jpeg"
    truncated.write_bytes(truncated.read_bytes()[:200])
    garbage = root / "test" / "NORMAL" / "IM-0009-0001.jpeg"
    garbage.write_bytes(np.random.default_rng(0).bytes(500))
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with pytest.warns(SkippedImagesWarning, match="could not be decoded") as caught:
        data = cx.load(SMOKE, data_dir=tmp_path / "data")
    assert {p: p.read_bytes() for p in root.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["chest_xray"]
    assert data.verify.bad_paths == {truncated, garbage}
    assert data.verify.quarantine_dir is None
    used = set(data.train.paths) | set(data.val.paths) | set(data.test.paths)
    assert truncated not in used and garbage not in used and len(used) == len(FAKE) - 1
    summary = data.verify.summary()
    assert str(truncated) in summary and str(garbage) in summary
    assert "left where it is" in summary and "moved" not in summary
    assert any(str(garbage) in str(w.message) for w in caught)
    assert summary in data.notes


def test_quarantine_never_overwrites(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "chest_xray")
    bad = root / "train" / "NORMAL" / "IM-0115-0001.jpeg"
    bad.write_bytes(b"not a jpeg")
    quarantine = tmp_path / "q"
    (quarantine / "train" / "NORMAL").mkdir(parents=True)
    (quarantine / "train" / "NORMAL" / bad.name).write_bytes(b"earlier")
    report = cx.verify_images(both_splits(root), quarantine)
    assert report.checked == len(FAKE) + 0 and len(report.bad) == 1
    assert (quarantine / "train" / "NORMAL" / bad.name).read_bytes() == b"earlier"
    assert report.bad[0].moved_to == quarantine / "train" / "NORMAL" / "IM-0115-0001-1.jpeg"
    assert report.bad[0].moved_to.read_bytes() == b"not a jpeg"


def _tree_with_a_bad_file(tmp_path: Path) -> tuple[Path, Path]:
    """A fake dataset root and one corrupt JPEG in it."""
    root = make_tree(tmp_path / "chest_xray")
    bad = root / "train" / "NORMAL" / "IM-0117-0001.jpeg"
    bad.write_bytes(b"\xff\xd8\xff garbage")
    return root, bad


def _raising(error: OSError):
    """A stand-in for ``os.rename`` / ``shutil.copy2`` that fails with ``error``."""

    def fail(*args: object, **kwargs: object) -> None:
        raise error

    return fail


def test_unmovable_files_are_reported_and_excluded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, bad = _tree_with_a_bad_file(tmp_path)
    refuse = _raising(PermissionError(30, "Read-only file system"))
    monkeypatch.setattr(verify.os, "rename", refuse)
    monkeypatch.setattr(verify.shutil, "copy2", refuse)
    files = imagefolder.scan(root, "train", cx.CLASS_NAMES)
    report = cx.verify_images(files, tmp_path / "q")
    assert bad.exists()
    assert report.bad[0].moved_to is None
    assert "could not move (read-only), excluded" in report.summary()
    assert bad not in report.exclude(files).paths and len(report.exclude(files)) == 15


def test_quarantine_across_file_systems_moves_whole_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No rename (another file system): copied whole, then the original removed; a copy
    that fails midway leaves nothing half-written and the original where it was."""
    root, bad = _tree_with_a_bad_file(tmp_path)
    monkeypatch.setattr(verify.os, "rename", _raising(OSError(18, "Invalid cross-device link")))
    real_copy = verify.shutil.copy2

    def disk_full(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(Path(src).read_bytes()[:3])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(verify.shutil, "copy2", disk_full)
    quarantine = tmp_path / "q"
    report = cx.verify_images(both_splits(root), quarantine)
    assert bad.read_bytes() == b"\xff\xd8\xff garbage" and report.bad[0].moved_to is None
    assert [p for p in quarantine.rglob("*") if p.is_file()] == []

    monkeypatch.setattr(verify.shutil, "copy2", real_copy)
    report = cx.verify_images(both_splits(root), quarantine)
    target = quarantine / "train" / "NORMAL" / bad.name
    assert report.bad[0].moved_to == target and not bad.exists()
    assert target.read_bytes() == b"\xff\xd8\xff garbage"
    assert [p.name for p in quarantine.rglob("*") if p.is_file()] == [bad.name]


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_load_needs_a_validation_split(tmp_path: Path, fraction: float) -> None:
    make_tree(tmp_path / "data" / "chest_xray")
    with pytest.raises(ValueError, match="val_fraction must be between 0 and 1"):
        cx.load(SMOKE, data_dir=tmp_path / "data", val_fraction=fraction)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_read_only_source_is_reported_not_crashed(tmp_path: Path) -> None:
    """An explicit quarantine_dir still never moves files out of a read-only folder, whoever
    runs it: the folder's permission bits decide (root may write anywhere)."""
    root = make_tree(tmp_path / "data" / "chest_xray")
    bad = root / "train" / "PNEUMONIA" / "person4_virus_12.jpeg"
    bad.write_bytes(b"garbage")
    folder = bad.parent
    folder.chmod(0o555)
    try:
        with pytest.warns(SkippedImagesWarning):
            data = cx.load(SMOKE, data_dir=tmp_path / "data", quarantine_dir=tmp_path / "q")
    finally:
        folder.chmod(0o755)
    assert bad.exists()
    assert "could not move (read-only), excluded" in data.verify.summary()
    assert bad not in data.train.paths and bad not in data.val.paths


@pytest.mark.parametrize(("mode", "channels"), [("rgb", 3), ("grayscale", 1)])
def test_gray_and_rgb_files_decode_to_the_requested_channels(
    tmp_path: Path, mode: str, channels: int
) -> None:
    make_tree(tmp_path / "chest_xray")
    data = cx.load(SMOKE, data_dir=tmp_path, color_mode=mode, image_size=(32, 40))
    assert data.input_shape == (32, 40, channels)
    x, y = data.read("test")
    assert x.shape == (4, 32, 40, channels) and x.dtype == np.uint8
    assert y.tolist() == [0, 0, 1, 1]
    x_two, y_two = data.read("test", indices=[3, 0])  # those files only, in that order
    assert y_two.tolist() == [1, 0]
    np.testing.assert_array_equal(x_two, x[[3, 0]])
    with pytest.raises(ValueError, match="color_mode"):
        cx.load(SMOKE, data_dir=tmp_path, color_mode="rgba")


# --- loading -------------------------------------------------------------------------------------


def test_load_from_kaggle_layout_splits_by_patient(tmp_path: Path) -> None:
    make_kaggle_archive(tmp_path / "data" / "chest_xray")
    data = cx.load(SMOKE, data_dir=tmp_path / "data", val_fraction=0.25, seed=1)
    assert not data.is_mock
    assert data.root == tmp_path / "data" / "chest_xray" / "chest_xray"
    assert len(data.train) + len(data.val) == 16 and len(data.test) == 4
    assert not patients_of(data.train) & patients_of(data.val)
    assert all(n > 0 for n in data.val.counts().values())
    assert any("val/ (2 images) is ignored" in note for note in data.notes)
    assert data.describe().startswith("chest_xray: train")
    assert data.counts()["test"] == {"NORMAL": 2, "PNEUMONIA": 2}
    assert data.verify is not None and data.verify.ok
    # A dataset root passed directly works too.
    direct = cx.load(SMOKE, data_dir=data.root, val_fraction=0.25, seed=1)
    assert direct.val.paths == data.val.paths


def test_profile_caps_subsample_before_decoding(tmp_path: Path) -> None:
    make_tree(tmp_path / "chest_xray")
    capped = config.Profile("tiny", 10, 2, 0.3, allow_download=False, allow_mock=False)
    data = cx.load(capped, data_dir=tmp_path)
    assert len(data.train) + len(data.val) == 10 and len(data.test) == 2
    assert data.verify.checked == 12
    assert not patients_of(data.train) & patients_of(data.val)
    assert any("subsampled to 10 of 16 training images" in note for note in data.notes)


def test_real_data_smoke_load(real: Path, tmp_path: Path) -> None:
    data = cx.load(SMOKE, data_dir=real, quarantine_dir=tmp_path / "q")
    assert len(data.train) + len(data.val) == SMOKE.train_samples
    assert len(data.test) == SMOKE.test_samples
    assert not patients_of(data.train) & patients_of(data.val)
    assert data.verify.ok and not data.is_mock


def test_smoke_without_cache_gives_labelled_mock_data(empty_data_dir: Path) -> None:
    with pytest.warns(MockDataWarning, match="MOCK"):
        data = cx.load(SMOKE)
    assert data.is_mock and data.describe().startswith("MOCK DATA")
    assert str(config.runs_dir()) in str(data.root)
    assert not patients_of(data.train) & patients_of(data.val)
    x, y = data.read("train")
    assert set(y.tolist()) == {0, 1}
    # Learnable: pneumonia images carry a bright opacity.
    assert x[y == 1].max(axis=(1, 2, 3)).mean() > x[y == 0].max(axis=(1, 2, 3)).mean()
    with pytest.warns(MockDataWarning):
        again = cx.load(SMOKE)  # reuses the tree
    assert again.val.paths == data.val.paths


def test_download_false_says_the_argument_turned_downloading_off(empty_data_dir: Path) -> None:
    with pytest.raises(DownloadError) as caught:
        cx.load(CPU, download=False)
    message = str(caught.value)
    assert "downloading was turned off by the download=False argument" in message
    assert "pass download=True" in message and "To install it by hand" in message
    assert "profile 'cpu'" not in message  # cpu downloads: not the profile's doing
    assert str(empty_data_dir / "chest_xray" / "train" / "NORMAL") in message


def test_no_cache_and_no_download_is_a_clear_error(empty_data_dir: Path) -> None:
    strict = config.Profile("strict", None, None, 0.1, allow_download=False, allow_mock=False)
    with pytest.raises(DownloadError) as caught:
        cx.load(strict)
    message = str(caught.value)
    assert "kaggle.com/datasets/paultimothymooney/chest-xray-pneumonia" in message
    assert str(empty_data_dir / "chest_xray" / "train" / "NORMAL") in message


# --- download ------------------------------------------------------------------------------------


def test_missing_credentials_list_every_fix(
    empty_data_dir: Path, no_credentials: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = fake_kagglehub(monkeypatch, lambda handle: pytest.fail("must not download"))
    with pytest.raises(DownloadError) as caught:
        cx.download(profile=CPU)
    message = str(caught.value)
    assert "KAGGLE_USERNAME" in message and "KAGGLE_KEY" in message
    assert "kaggle.json" in message and "Colab" in message
    assert str(empty_data_dir / "chest_xray") in message and "test/PNEUMONIA" in message
    assert not calls


def test_smoke_profile_never_downloads(empty_data_dir: Path, fake_credentials: str) -> None:
    with pytest.raises(DownloadError, match="profile smoke never downloads"):
        cx.download(profile=SMOKE)


def test_failed_download_gives_manual_steps_and_no_secret(
    empty_data_dir: Path, fake_credentials: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(handle: str) -> str:
        raise ConnectionError(f"offline, no route to kaggle.com for {handle}")

    calls = fake_kagglehub(monkeypatch, offline)
    with pytest.raises(DownloadError) as caught:
        cx.load(CPU, verify=False)
    message = str(caught.value)
    assert calls == [cx.KAGGLE_HANDLE]
    assert "To install it by hand" in message and "train/NORMAL/*.jpeg" in message
    assert fake_credentials not in message
    assert isinstance(caught.value.__cause__, ConnectionError)


def test_download_links_the_result_into_the_cache_and_loads(
    empty_data_dir: Path, fake_credentials: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    downloaded = tmp_path / "kagglehub" / "versions" / "2"
    make_kaggle_archive(downloaded)
    fake_kagglehub(monkeypatch, lambda handle: str(downloaded))
    small = config.Profile("small", None, None, 0.25, allow_download=True, allow_mock=False)
    data = cx.load(small)
    assert not data.is_mock and len(data.test) == 4
    assert data.root == empty_data_dir / "chest_xray"
    assert (empty_data_dir / "chest_xray").resolve() == (downloaded / "chest_xray").resolve()
    # Cached now: no second download.
    fake_kagglehub(monkeypatch, lambda handle: pytest.fail("downloaded twice"))
    assert cx.download(profile=small) == empty_data_dir / "chest_xray"


def test_missing_kagglehub_says_how_to_install(
    empty_data_dir: Path, fake_credentials: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "kagglehub", None)
    with pytest.raises(DownloadError, match="pip install kagglehub"):
        cx.download(profile=CPU)


def test_importing_the_module_is_light() -> None:
    import subprocess

    code = (
        "import sys, cnnlabs.datasets.chest_xray; "
        "heavy = [m for m in ('tensorflow', 'keras', 'PIL.Image', 'kagglehub') "
        "if m in sys.modules]; assert not heavy, heavy"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- the catalogue entry: `cnnlabs data list` / `data fetch chest_xray` ---------------------


def test_catalogue_lists_chest_xray_and_datasets_load_returns_its_file_lists(tmp_path):
    from cnnlabs import datasets

    assert "chest_xray" in datasets.names()
    entry = datasets.info("chest_xray")
    assert (entry.train_size, entry.test_size, entry.class_names) == (
        5216, 624, ("NORMAL", "PNEUMONIA"))
    make_tree(tmp_path / "chest_xray")
    data = datasets.load("chest_xray", "smoke", data_dir=tmp_path, seed=3)
    assert isinstance(data, datasets.ImageFolderSplits) and not data.is_mock
    assert data.input_shape == (SMOKE.image_size, SMOKE.image_size, 3)
    direct = cx.load(SMOKE, data_dir=tmp_path, seed=3)
    assert data.val.paths == direct.val.paths and data.test.paths == direct.test.paths
    gray = datasets.load("chest_xray", "smoke", data_dir=tmp_path, image_size=40,
                         color_mode="grayscale")
    assert gray.input_shape == (40, 40, 1)
    with pytest.raises(TypeError, match="mnist takes no loader options, got image_size"):
        datasets.load("mnist", "smoke", data_dir=tmp_path, image_size=40)


def test_fetch_returns_the_cached_root(tmp_path):
    from cnnlabs import datasets

    root = make_tree(tmp_path / "cache" / "chest_xray" / "chest_xray")
    assert datasets.fetch("chest_xray", data_dir=tmp_path / "cache") == root


def test_fetch_without_cache_or_credentials_lists_the_three_fixes(tmp_path, no_credentials):
    from cnnlabs import datasets

    with pytest.raises(DownloadError) as caught:
        datasets.fetch("chest_xray", data_dir=tmp_path / "empty")
    message = str(caught.value)
    assert "KAGGLE_USERNAME" in message and "kaggle.json" in message and "Colab" in message
    assert str(tmp_path / "empty" / "chest_xray") in message


def test_training_goes_on_after_a_corrupt_jpeg(tmp_path: Path) -> None:
    """A corrupt file is quarantined at load time; the pipeline and a fit then run cleanly."""
    import keras

    from cnnlabs import pipelines, recipes, training

    root = make_tree(tmp_path / "data" / "chest_xray")
    corrupt = root / "train" / "NORMAL" / "IM-0115-0001.jpeg"
    corrupt.write_bytes(corrupt.read_bytes()[:150])
    with pytest.warns(SkippedImagesWarning):
        data = cx.load(SMOKE, data_dir=tmp_path / "data", image_size=(24, 24),
                       color_mode="grayscale", quarantine_dir=tmp_path / "q")
    assert corrupt not in set(data.train.paths) | set(data.val.paths)
    piped = pipelines.build_files(data, 4, seed=0)
    model = keras.Sequential([keras.Input((24, 24, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(2, activation="softmax")])
    r = recipes.Recipe(optimizer="adam", learning_rate=1e-2, schedule="constant", epochs=2,
                        batch_size=4, balance_classes=True)
    history = training.fit(model, piped, r, tmp_path / "run", verbose=0, plot=False)
    assert len(history.history["loss"]) == 2
    assert all(np.isfinite(history.history["loss"]))
