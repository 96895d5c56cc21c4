"""The values loaders return: arrays (:class:`Splits`) or file lists (:class:`ImageFolderSplits`).

:class:`FileSplits` is the step between: an image-folder dataset's train and
test files, listed and checked but not decoded, so that a profile's caps can
be applied before anything is read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cnnlabs.datasets import imagefolder
from cnnlabs.datasets.imagefolder import FileList

if TYPE_CHECKING:
    from cnnlabs.datasets.verify import VerifyReport

#: The splits of an :class:`ImageFolderSplits`, in display order.
SPLITS = ("train", "val", "test")


@dataclass
class Splits:
    """A dataset split into train / (optional) val / test arrays.

    Images are ``uint8`` arrays shaped ``(N, H, W, C)``: channels last, always
    with a channel axis. Labels are ``int64`` class indices shaped ``(N,)``.

    Attributes:
        name: the catalogue name (``"mnist"``).
        x_train, y_train, x_test, y_test: the official splits (maybe subsampled by the profile).
        class_names: one name per class index.
        x_val, y_val: a validation split when the dataset ships one, else ``None``
            (``pipelines`` carves one out of train).
        source: where the arrays came from: a file path, or ``"mock"``.
        is_mock: True for synthetic stand-in data; such numbers mean nothing.
        notes: human-readable remarks (subsampling, warnings) for reports.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: list[str]
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None
    source: str = ""
    is_mock: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        return tuple(int(d) for d in self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        """One line: sizes, shape and source, flagged loudly when mock."""
        val = "" if self.x_val is None else f", val {len(self.x_val)}"
        text = (
            f"{self.name}: train {len(self.x_train)}{val}, test {len(self.x_test)}, "
            f"image {self.input_shape}, {self.num_classes} classes, from {self.source}"
        )
        if self.is_mock:
            text = "MOCK DATA (synthetic; accuracy means nothing) -- " + text
        return text


def format_counts(table: dict[str, dict[str, int]], class_names: Sequence[str] = ()) -> str:
    """A small text table of files per split and class: a row per split, a total row, shares.

    ``table`` is shaped like :meth:`ImageFolderSplits.counts`
    (``{"train": {"NORMAL": 1341, ...}, ...}``); ``class_names`` gives the
    columns when the table is empty.
    """
    classes = list(dict.fromkeys(name for row in table.values() for name in row))
    classes = classes or list(class_names)
    width = max([9, *(len(name) for name in classes)])
    header = f"{'split':<7}" + "".join(f"{name:>{width + 2}}" for name in classes)
    lines = [header + f"{'total':>9}   share ({' / '.join(classes)})"]
    rows = list(table.items())
    if len(rows) > 1:
        rows.append(("total", {name: sum(row.get(name, 0) for _, row in rows) for name in classes}))
    for split, row in rows:
        values = [row.get(name, 0) for name in classes]
        total = sum(values)
        shares = " / ".join(f"{100 * v / total:.1f}%" if total else "-" for v in values)
        lines.append(
            f"{split:<7}" + "".join(f"{v:>{width + 2}}" for v in values) + f"{total:>9}   {shares}"
        )
    return "\n".join(lines)


@dataclass
class FileSplits:
    """The train and test files of an image-folder dataset: listed, not decoded.

    Attributes:
        root: the dataset folder (holding ``train/`` and ``test/``).
        train, test: the files and labels of each split.
        notes: human-readable remarks for reports.
        is_mock: True for synthetic stand-in images.
        shuffle: whether a split within its cap is still put in a seeded random
            order (as a capped one always is), rather than kept sorted by class.
    """

    root: Path
    train: FileList
    test: FileList
    notes: list[str] = field(default_factory=list)
    is_mock: bool = False
    shuffle: bool = False


@dataclass
class ImageFolderSplits:
    """Train / val / test as lists of image files, with what the pipeline needs to decode them.

    Attributes:
        name: the dataset's catalogue name (``"chest_xray"``).
        root: the dataset folder (holding ``train/`` and ``test/``).
        train, val, test: the files and labels of each split.
        class_names: one name per class index.
        color_mode: ``"rgb"`` or ``"grayscale"``: the channels to decode to.
        image_size: ``(H, W)`` to resize to.
        is_mock: True for synthetic stand-in images; such numbers mean nothing.
        notes: human-readable remarks (subsampling, ignored files) for reports.
        verify: what decoding the files found, when they were checked.
    """

    name: str
    root: Path
    train: FileList
    val: FileList
    test: FileList
    class_names: tuple[str, ...]
    color_mode: str = "rgb"
    image_size: tuple[int, int] = (224, 224)
    is_mock: bool = False
    notes: list[str] = field(default_factory=list)
    verify: VerifyReport | None = None

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one decoded image."""
        channels = imagefolder.COLOR_MODES[self.color_mode]
        return (int(self.image_size[0]), int(self.image_size[1]), channels)

    @property
    def num_classes(self) -> int:
        """The number of classes."""
        return len(self.class_names)

    def split(self, name: str) -> FileList:
        """The :class:`FileList` of split ``name`` (``"train"``, ``"val"`` or ``"test"``).

        Raises:
            ValueError: another name.
        """
        if name not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}; got {name!r}.")
        return getattr(self, name)

    def counts(self) -> dict[str, dict[str, int]]:
        """Files per split and class name."""
        return {split: self.split(split).counts() for split in SPLITS}

    def describe(self) -> str:
        """One line: sizes, shape and source, flagged loudly when mock."""
        text = (
            f"{self.name}: train {len(self.train)}, val {len(self.val)}, test {len(self.test)}, "
            f"image {self.input_shape} {self.color_mode}, {self.num_classes} classes, "
            f"from {self.root}"
        )
        if self.is_mock:
            text = "MOCK DATA (synthetic; accuracy means nothing) -- " + text
        return text

    def read(
        self, split: str = "train", limit: int | None = None, *, seed: int = 0,
        indices: Sequence[int] | np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Decode (part of) a split with Pillow: ``(x, y)`` as uint8 ``(N, H, W, C)`` and int64.

        For montages and quick looks, not for training (use the pipeline). Images
        are forced to :attr:`color_mode` and resized to :attr:`image_size`.
        ``limit`` picks a stratified, seeded subset; ``indices`` picks the files at
        those positions of the split, in the pipeline's order (only they are decoded).
        Unreadable files are skipped.
        """
        files = self.split(split)
        if indices is not None:
            files = files.subset(indices)
        files = imagefolder.subsample_files(files, limit, rng=seed)
        x, y, _ = imagefolder.read_images(files, self.input_shape, self.color_mode)
        return x, y
