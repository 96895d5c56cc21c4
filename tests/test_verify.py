"""Image verification: bad files are reported and left alone unless a quarantine is asked for.

The trees are a few tiny JPEGs under ``tmp_path``. This machine and CI run as
root, for whom ``os.access`` says every folder is writable: these tests make
sure a read-only copy is still recognised, by its permission bits or its mount.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlabs.datasets import imagefolder, verify
from cnnlabs.datasets.verify import LEFT_IN_PLACE, MOVED, NOT_MOVED, is_read_only, verify_images


def jpeg_bytes(seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def make_tree(root: Path) -> dict[str, Path]:
    """``root/train/{a,b}/``: two good JPEGs, one of random bytes and one cut in half."""
    files = {
        "good_a": root / "train" / "a" / "good.jpg",
        "good_b": root / "train" / "b" / "good.jpg",
        "corrupt": root / "train" / "a" / "corrupt.jpg",
        "truncated": root / "train" / "b" / "truncated.jpg",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    files["good_a"].write_bytes(jpeg_bytes(1))
    files["good_b"].write_bytes(jpeg_bytes(2))
    files["corrupt"].write_bytes(np.random.default_rng(3).bytes(600))
    whole = jpeg_bytes(4)
    files["truncated"].write_bytes(whole[: len(whole) // 2])
    return files


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_by_default_bad_files_are_reported_excluded_and_left_untouched(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "data")
    before = snapshot(tmp_path / "data")
    listed = imagefolder.scan(tmp_path / "data", "train")
    report = verify_images(listed)
    assert report.checked == 4 and report.quarantine_dir is None
    assert report.bad_paths == {files["corrupt"], files["truncated"]}
    assert all(item.status == LEFT_IN_PLACE and item.moved_to is None for item in report.bad)
    assert snapshot(tmp_path / "data") == before  # nothing moved, changed or deleted
    kept = report.exclude(listed)
    assert set(kept.paths) == {files["good_a"], files["good_b"]}
    summary = report.summary()
    assert "2 could not be decoded" in summary and "pass quarantine_dir=" in summary
    assert str(files["truncated"]) in summary and str(files["corrupt"]) in summary


def test_an_explicit_quarantine_moves_bad_files_out_of_a_writable_folder(tmp_path: Path) -> None:
    files = make_tree(tmp_path / "data")
    corrupt = files["corrupt"].read_bytes()
    report = verify_images([files[k] for k in ("good_a", "corrupt", "truncated")], tmp_path / "q")
    assert {item.status for item in report.bad} == {MOVED}
    assert not files["corrupt"].exists() and not files["truncated"].exists()
    assert (tmp_path / "q" / "train" / "a" / "corrupt.jpg").read_bytes() == corrupt
    assert (tmp_path / "q" / "train" / "b" / "truncated.jpg").is_file()
    assert files["good_a"].exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_an_explicit_quarantine_never_empties_a_read_only_folder_even_as_root(
    tmp_path: Path,
) -> None:
    make_tree(tmp_path / "data")
    before = snapshot(tmp_path / "data")
    folders = [tmp_path / "data" / "train" / name for name in ("a", "b")]
    for folder in folders:
        folder.chmod(0o555)
    try:
        assert all(is_read_only(folder) for folder in folders)
        report = verify_images(imagefolder.scan(tmp_path / "data", "train"), tmp_path / "q")
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert snapshot(tmp_path / "data") == before
    assert {item.status for item in report.bad} == {NOT_MOVED}
    assert not (tmp_path / "q").exists()


def test_a_read_only_mount_counts_as_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = make_tree(tmp_path / "data")
    assert not is_read_only(files["corrupt"].parent)
    real = os.statvfs(tmp_path)

    class ReadOnlyMount:
        f_flag = real.f_flag | os.ST_RDONLY

    monkeypatch.setattr(verify.os, "statvfs", lambda path: ReadOnlyMount())
    assert is_read_only(files["corrupt"].parent)
    report = verify_images([files["corrupt"]], tmp_path / "q")
    assert report.bad[0].status == NOT_MOVED and files["corrupt"].exists()


def test_a_folder_is_refused_with_what_to_pass_instead(tmp_path: Path) -> None:
    make_tree(tmp_path / "data")
    with pytest.raises(TypeError, match="file lists or file paths"):
        verify_images(tmp_path / "data")
