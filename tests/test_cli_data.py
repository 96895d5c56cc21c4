"""`cnnlabs data list` and `cnnlabs data fetch NAME` report what the loaders would do.

Every test points ``CNNLABS_DATA_DIR`` at a tree under ``tmp_path``; the
network is never touched (``urlopen_calls`` fails any attempt). The mnist
entry is shrunk so that a valid copy is a few kilobytes.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlabs import cli, datasets
from cnnlabs.datasets import CATALOG


@pytest.fixture
def tiny_mnist(monkeypatch: pytest.MonkeyPatch) -> datasets.DatasetInfo:
    entry = dataclasses.replace(CATALOG["mnist"], train_size=20, test_size=10)
    monkeypatch.setitem(CATALOG, "mnist", entry)
    return entry


def write_mnist(path: Path, entry: datasets.DatasetInfo) -> None:
    rng = np.random.default_rng(0)
    np.savez(
        path,
        x_train=rng.integers(0, 256, (entry.train_size, 28, 28), dtype=np.uint8),
        y_train=np.arange(entry.train_size) % 10,
        x_test=rng.integers(0, 256, (entry.test_size, 28, 28), dtype=np.uint8),
        y_test=np.arange(entry.test_size) % 10,
    )


def write_chest_tree(root: Path) -> Path:
    """Two JPEGs per split and class, named like the real ones."""
    for split in ("train", "test"):
        for name, stem in (("NORMAL", "IM-{:04d}-0001"), ("PNEUMONIA", "person{}_virus_1")):
            for i in range(2):
                path = root / split / name / f"{stem.format(i + 1)}.jpeg"
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.new("L", (16, 16), 90).save(path)
    return root


def rows(out: str) -> dict[str, str]:
    """The output of `data list`, by dataset name."""
    return {line.split()[0]: line for line in out.splitlines() if line.strip()}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.fixture
def no_kaggle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle"))
    monkeypatch.setitem(sys.modules, "google.colab", None)


# --- mnist.npz ---------------------------------------------------------------------------------


def test_an_empty_mnist_npz_is_listed_as_invalid_and_fetch_fails(
    capsys, empty_data_dir: Path, tiny_mnist, urlopen_calls
) -> None:
    (empty_data_dir / "mnist.npz").write_bytes(b"")
    status, out, _ = run(capsys, "data", "list")
    assert status == 0
    line = rows(out)["mnist"]
    assert line.endswith(
        f"cached but invalid: The cached mnist file {empty_data_dir / 'mnist.npz'} is not a "
        "valid copy: it is not an .npz (zip) archive at all (0 bytes starting with b'')."
    )
    assert "cached (" not in line
    assert "cnnlabs data fetch NAME" in out
    status, out, err = run(capsys, "data", "fetch", "mnist")
    assert status == 2 and out == ""
    assert "is not an .npz (zip) archive at all" in err and "delete it" in err
    assert (empty_data_dir / "mnist.npz").read_bytes() == b""
    assert urlopen_calls == []


def test_a_corrupt_mnist_npz_is_listed_as_invalid_and_fetch_fails(
    capsys, empty_data_dir: Path, tiny_mnist, urlopen_calls
) -> None:
    path = empty_data_dir / "mnist.npz"
    write_mnist(path, tiny_mnist)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _, out, _ = run(capsys, "data", "list")
    assert "cached but invalid: " in rows(out)["mnist"]
    assert "not a readable .npz archive (corrupt or truncated?" in rows(out)["mnist"]
    status, _, err = run(capsys, "data", "fetch", "mnist")
    assert status == 2 and "not a readable .npz archive" in err
    assert path.read_bytes() == data[: len(data) // 2]
    assert urlopen_calls == []


def test_a_valid_mnist_copy_is_listed_as_cached_and_fetched_without_download(
    capsys, empty_data_dir: Path, tiny_mnist, urlopen_calls
) -> None:
    path = empty_data_dir / "mnist.npz"
    write_mnist(path, tiny_mnist)
    status, out, _ = run(capsys, "data", "list")
    table = rows(out)
    assert status == 0 and table["mnist"].endswith(f"cached ({path})")
    assert table["cifar10"].endswith("not cached") and table["chest_xray"].endswith("not cached")
    assert "cnnlabs data fetch NAME" not in out  # nothing invalid to explain
    status, out, _ = run(capsys, "data", "fetch", "mnist")
    assert status == 0 and out == f"mnist: {path}\n"
    assert urlopen_calls == []


def test_status_names_each_of_the_three_states(tmp_path: Path, tiny_mnist) -> None:
    assert datasets.status("mnist", tmp_path) == datasets.CacheStatus("missing")
    assert datasets.status("mnist", tmp_path).describe() == "not cached"
    (tmp_path / "mnist.npz").write_bytes(b"junk")
    broken = datasets.status("mnist", tmp_path)
    assert (broken.state, broken.path) == ("invalid", tmp_path / "mnist.npz")
    assert broken.reason.startswith(f"The cached mnist file {tmp_path / 'mnist.npz'}")
    assert datasets.cached("mnist", tmp_path) == tmp_path / "mnist.npz"  # only looks
    write_mnist(tmp_path / "mnist.npz", tiny_mnist)
    assert datasets.status("mnist", tmp_path) == datasets.CacheStatus(
        "cached", tmp_path / "mnist.npz"
    )


# --- the chest X-ray tree ----------------------------------------------------------------------


def _empty_class(root: Path) -> str:
    for path in (root / "test" / "PNEUMONIA").iterdir():
        path.unlink()
    return f"empty class folder(s) with no .png/.jpg/.jpeg images: {root / 'test' / 'PNEUMONIA'}"


def _extra_class(root: Path) -> str:
    (root / "train" / "COVID").mkdir()
    Image.new("L", (16, 16)).save(root / "train" / "COVID" / "x.jpeg")
    return "unexpected folder(s): COVID"


def _no_test_folder(root: Path) -> str:
    for path in sorted((root / "test").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (root / "test").rmdir()
    return f"there is no folder {root / 'test'}"


@pytest.mark.parametrize(
    "damage", [_empty_class, _extra_class, _no_test_folder], ids=["empty", "extra", "no-test"]
)
def test_a_chest_tree_that_load_rejects_is_invalid_for_list_and_fetch(
    capsys, empty_data_dir: Path, no_kaggle, urlopen_calls, damage
) -> None:
    root = write_chest_tree(empty_data_dir / "chest_xray")
    problem = damage(root)
    with pytest.raises(datasets.CacheError) as loaded:
        datasets.load("chest_xray", "smoke")
    assert problem in str(loaded.value)
    _, out, _ = run(capsys, "data", "list")
    line = rows(out)["chest_xray"]
    assert "cached but invalid: " in line and problem in line
    status, out, err = run(capsys, "data", "fetch", "chest_xray")
    assert status == 2 and out == ""
    assert err == f"cnnlabs: error: {loaded.value}\n"  # the loader's own message
    assert urlopen_calls == []


def test_a_valid_chest_tree_is_cached_and_fetched(
    capsys, empty_data_dir: Path, no_kaggle, urlopen_calls
) -> None:
    root = write_chest_tree(empty_data_dir / "chest_xray" / "chest_xray")
    _, out, _ = run(capsys, "data", "list")
    assert rows(out)["chest_xray"].endswith(f"cached ({root})")
    status, out, _ = run(capsys, "data", "fetch", "chest_xray")
    assert status == 0 and out == f"chest_xray: {root}\n"


def test_a_chest_folder_without_the_layout_is_invalid(
    capsys, empty_data_dir: Path, no_kaggle
) -> None:
    (empty_data_dir / "chest_xray" / "training" / "normal").mkdir(parents=True)
    _, out, _ = run(capsys, "data", "list")
    assert "cached but invalid: The folder " in rows(out)["chest_xray"]
    assert "no folder in it (looking 4 levels down) has train/NORMAL" in rows(out)["chest_xray"]
    assert datasets.cached("chest_xray") is None
