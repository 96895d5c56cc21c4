"""MNIST detection: real MNIST digits placed on a larger canvas, with boxes and classes.

Each image is a black ``64 x 64`` canvas holding up to four MNIST digits, each scaled
to its own size, some overlapping, some pushed against an edge of the image, and a
few images with no digit at all. A digit's box is the tight box around its ink (the
pixels of at least :data:`Settings.ink` in the scaled digit), in pixels, ``xyxy``
with pixel column ``j`` covering ``[j, j + 1)``; its class is its MNIST label.
Training images use digits from MNIST's training split, test images from its test
split, so no digit is seen in both.

The set is generated from ``mnist.npz`` with a fixed seed (:data:`SEED`), so every
machine builds the same images, and cached in the data cache as
``<data_dir>/mnist_detection/mnist_detection-<key>.npz``, where ``<key>`` names the
generator's version and settings. :func:`load` follows
:func:`cnnlabs.datasets.cache.resolve`: the cached file; else it is generated from
a cached ``mnist.npz`` (no network needed), or from a downloaded one where the
profile downloads; else, in the smoke profile, clearly labelled mock digits; else a
:class:`DownloadError` saying to put ``mnist.npz`` in the cache. A cache folder that
cannot be written to is left alone: the set is generated and used without caching.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlabs.config import Profile
from cnnlabs.datasets import cache, npz
from cnnlabs.datasets.catalog import CATALOG, DatasetInfo
from cnnlabs.datasets.errors import CacheError, cache_folder_hint, manual_download_steps

__all__ = ["SEED", "TASK", "DetectionSet", "DetectionSplits", "Settings", "cache_file", "cached",
           "fetch", "generate", "load", "read", "validate"]

#: What this dataset is for: ``cnnlabs.detection.is_detection_dataset`` reads it.
TASK = "detection"
#: Bumped whenever the generator would draw different images for the same settings.
VERSION = 1
#: The seed the catalogue's set is generated with: every machine builds the same images.
SEED = 0


@dataclass(frozen=True)
class Settings:
    """How the detection images are drawn.

    Attributes:
        canvas: the side of the square image, in pixels.
        min_digits, max_digits: digits per image, drawn uniformly in this range.
        digit_sizes: the smallest and largest side, in pixels, that the 28x28 MNIST
            frame is scaled to (the ink is about 70% of it).
        max_overlap: the largest IoU a digit's box may have with another's.
        max_covered: the largest share of a digit's box that another's may cover (a
            small digit on top of a large one has a small IoU with it, yet is hidden).
            A digit that cannot be placed within both limits after :attr:`tries`
            draws is left out.
        border_share: the share of digits pushed against an edge of the image.
        empty_share: the share of images with no digit.
        ink: the least pixel value (of 255) that counts as ink for the box.
        tries: placement attempts per digit.
    """

    canvas: int = 64
    min_digits: int = 1
    max_digits: int = 4
    digit_sizes: tuple[int, int] = (16, 32)
    max_overlap: float = 0.2
    max_covered: float = 0.5
    border_share: float = 0.15
    empty_share: float = 0.02
    ink: int = 32
    tries: int = 30

    def __post_init__(self) -> None:
        low, high = self.digit_sizes
        checks = [
            (self.canvas >= 8, "canvas must be 8 pixels or more"),
            (0 <= self.min_digits <= self.max_digits, "need 0 <= min_digits <= max_digits"),
            (4 <= low <= high <= self.canvas, "need 4 <= digit sizes <= canvas"),
            (0.0 <= self.max_overlap <= 1.0, "max_overlap must be in [0, 1]"),
            (0.0 <= self.max_covered <= 1.0, "max_covered must be in [0, 1]"),
            (0.0 <= self.border_share <= 1.0, "border_share must be in [0, 1]"),
            (0.0 <= self.empty_share <= 1.0, "empty_share must be in [0, 1]"),
            (1 <= self.ink <= 255, "ink must be in 1..255"),
            (self.tries >= 1, "tries must be 1 or more"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"Bad detection settings: {message}; got {self!r}.")


#: The settings of the catalogue's ``mnist_detection`` set.
SETTINGS = Settings()


@dataclass
class DetectionSet:
    """Images with their objects: boxes in pixels (``xyxy``) and class indices.

    Attributes:
        images: ``(N, H, W, C)`` uint8.
        boxes: ``(N, K, 4)`` float32, ``K`` the most objects in one image; the rows past
            an image's objects are 0.
        classes: ``(N, K)`` int64, -1 past an image's objects.
    """

    images: np.ndarray
    boxes: np.ndarray
    classes: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @property
    def counts(self) -> np.ndarray:
        """Objects per image, ``(N,)``."""
        return (self.classes >= 0).sum(axis=1)

    @property
    def labels(self) -> np.ndarray:
        """Each image's main class: that of its largest object, -1 for an empty image.

        Used to stratify samples (``cache.apply_cap``) and as the pipelines' labels.
        """
        if not len(self) or self.classes.shape[1] == 0:
            return np.full(len(self), -1, dtype=np.int64)
        b = self.boxes
        areas = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])
        areas = np.where(self.classes >= 0, areas, -1.0)
        main = np.take_along_axis(self.classes, areas.argmax(axis=1)[:, None], axis=1)[:, 0]
        return np.where(self.counts > 0, main, -1).astype(np.int64)

    def objects(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per image, ``(boxes (n, 4) float64, classes (n,) int64)`` of its objects."""
        keep = self.classes >= 0
        return [(self.boxes[i][keep[i]].astype(np.float64), self.classes[i][keep[i]])
                for i in range(len(self))]

    def subset(self, indices: Sequence[int] | np.ndarray) -> DetectionSet:
        """The images at ``indices``, in that order."""
        index = np.asarray(indices, dtype=np.int64)
        return DetectionSet(self.images[index], self.boxes[index], self.classes[index])


@dataclass
class DetectionSplits:
    """A detection dataset: train and test :class:`DetectionSet` s and their class names.

    Attributes:
        name: the catalogue name.
        train, test: the splits (the pipelines carve validation images out of train).
        class_names: one name per class index.
        source: the cached file the images came from, or ``"mock"``.
        is_mock: True for mock digits; such numbers mean nothing.
        notes: human-readable remarks (subsampling, caching) for reports.
        shuffle: whether a split within its sample cap is still put in a seeded order.
    """

    name: str
    train: DetectionSet
    test: DetectionSet
    class_names: list[str]
    source: str = ""
    is_mock: bool = False
    notes: list[str] = field(default_factory=list)
    shuffle: bool = False

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(H, W, C)`` of one image."""
        return tuple(int(d) for d in self.train.images.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def describe(self) -> str:
        """One line: images, objects, shape and source, flagged loudly when mock."""
        text = (f"{self.name}: train {len(self.train)} images ({int(self.train.counts.sum())} "
                f"objects), test {len(self.test)} images ({int(self.test.counts.sum())} "
                f"objects), image {self.input_shape}, {self.num_classes} classes, from "
                f"{self.source}")
        if self.is_mock:
            text = "MOCK DATA (synthetic; mAP means nothing) -- " + text
        return text


# --- generation ------------------------------------------------------------------------------


def _scaled(digit: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    image = Image.fromarray(np.ascontiguousarray(digit.reshape(digit.shape[:2])), mode="L")
    return np.asarray(image.resize((side, side), Image.BILINEAR), dtype=np.uint8)


def _overlaps(box: np.ndarray, others: list[np.ndarray]) -> tuple[float, float]:
    """The largest IoU of ``box`` with ``others``, and the largest share of either box's
    area that the other covers."""
    if not others:
        return 0.0, 0.0
    rest = np.asarray(others)
    width = np.clip(np.minimum(box[2], rest[:, 2]) - np.maximum(box[0], rest[:, 0]), 0, None)
    height = np.clip(np.minimum(box[3], rest[:, 3]) - np.maximum(box[1], rest[:, 1]), 0, None)
    inter = width * height
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (rest[:, 2] - rest[:, 0]) * (rest[:, 3] - rest[:, 1])
    union = area + areas - inter
    covered = inter / np.maximum(np.minimum(area, areas), 1e-9)
    return float((inter / np.maximum(union, 1e-9)).max()), float(covered.max())


def _draw(digits: np.ndarray, labels: np.ndarray, settings: Settings,
          rng: np.random.Generator) -> tuple[np.ndarray, list[np.ndarray], list[int]]:
    """One image: the canvas and its boxes and classes."""
    side = settings.canvas
    canvas = np.zeros((side, side), dtype=np.uint8)
    boxes: list[np.ndarray] = []
    classes: list[int] = []
    if rng.random() < settings.empty_share:
        return canvas, boxes, classes
    for _ in range(int(rng.integers(settings.min_digits, settings.max_digits + 1))):
        pick = int(rng.integers(len(digits)))
        patch = _scaled(digits[pick], int(rng.integers(settings.digit_sizes[0],
                                                       settings.digit_sizes[1] + 1)))
        rows = np.flatnonzero((patch >= settings.ink).any(axis=1))
        cols = np.flatnonzero((patch >= settings.ink).any(axis=0))
        if not len(rows):
            continue
        # The ink box inside the patch, and where the patch may go so that it stays inside.
        top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
        for _attempt in range(settings.tries):
            y = int(rng.integers(-top, side - bottom + 1))
            x = int(rng.integers(-left, side - right + 1))
            if rng.random() < settings.border_share:
                edge = int(rng.integers(4))
                x = -left if edge == 0 else side - right if edge == 1 else x
                y = -top if edge == 2 else side - bottom if edge == 3 else y
            box = np.array([x + left, y + top, x + right, y + bottom], dtype=np.float32)
            overlap, covered = _overlaps(box, boxes)
            if overlap <= settings.max_overlap and covered <= settings.max_covered:
                break
        else:
            continue
        # Paste the part of the patch that falls on the canvas; overlapping ink keeps the max.
        y0, x0 = max(y, 0), max(x, 0)
        y1, x1 = min(y + patch.shape[0], side), min(x + patch.shape[1], side)
        region = canvas[y0:y1, x0:x1]
        np.maximum(region, patch[y0 - y:y1 - y, x0 - x:x1 - x], out=region)
        boxes.append(box)
        classes.append(int(labels[pick]))
    return canvas, boxes, classes


def generate(digits: np.ndarray, labels: np.ndarray, n: int, *, settings: Settings = SETTINGS,
             seed: int = SEED, stream: int = 0) -> DetectionSet:
    """Draw ``n`` detection images from a pool of digits; deterministic for a seed.

    Image ``i`` is drawn from its own random stream ``[seed, stream, i]``, so the first
    ``m`` images are the same whatever ``n`` is.

    Args:
        digits: ``(M, 28, 28)`` or ``(M, 28, 28, 1)`` uint8 digits.
        labels: ``(M,)`` their classes.
        n: images to draw.
        settings: how to draw them.
        seed, stream: the random streams (the loader uses stream 0 for train, 1 for test).

    Raises:
        ValueError: an empty pool, or digits and labels of different lengths.
    """
    digits = np.asarray(digits)
    labels = np.asarray(labels).reshape(-1)
    if len(digits) == 0 or len(digits) != len(labels):
        raise ValueError(f"Need a non-empty pool of digits with one label each; got "
                         f"{len(digits)} digits and {len(labels)} labels.")
    if n < 0:
        raise ValueError(f"Cannot draw {n} images.")
    side, k = settings.canvas, settings.max_digits
    images = np.zeros((n, side, side, 1), dtype=np.uint8)
    boxes = np.zeros((n, k, 4), dtype=np.float32)
    classes = np.full((n, k), -1, dtype=np.int64)
    for i in range(n):
        canvas, found, kinds = _draw(digits, labels, settings,
                                     np.random.default_rng([seed, stream, i]))
        images[i, ..., 0] = canvas
        if found:
            boxes[i, :len(found)] = np.asarray(found)
            classes[i, :len(kinds)] = kinds
    return DetectionSet(images, boxes, classes)


# --- the cache -------------------------------------------------------------------------------


def _key(info: DatasetInfo, settings: Settings, seed: int) -> str:
    described = {"version": VERSION, "seed": seed, "train": info.train_size,
                 "test": info.test_size, **dataclasses.asdict(settings)}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:12]


def cache_file(info: DatasetInfo, folder: Path, settings: Settings = SETTINGS,
               seed: int = SEED) -> Path:
    """Where the generated set with these settings lives in the cache ``folder``."""
    return info.cache_path(Path(folder)) / f"{info.name}-{_key(info, settings, seed)}.npz"


def cached(info: DatasetInfo, folder: Path) -> Path | None:
    """The generated file the loader would read, when it is there (it is not read)."""
    path = cache_file(info, folder)
    return path if path.is_file() else None


_KEYS = ("x_train", "boxes_train", "classes_train", "x_test", "boxes_test", "classes_test")


def _invalid(path: Path, info: DatasetInfo, problem: str) -> CacheError:
    return CacheError(
        f"The cached {info.name} file {path} is not a valid copy: {problem}.\n"
        f"Expected {info.layout}.\n"
        "cnnlabs has not changed or deleted it. Delete it (or move it aside) and run again: "
        "the set is generated anew from mnist.npz.\n" + cache_folder_hint(path.parent.parent),
        path=path)


def read(path: Path, info: DatasetInfo) -> DetectionSplits:
    """Read and check a cached generated set.

    Raises:
        CacheError: naming the file and everything wrong with it; it is left untouched.
    """
    path = Path(path)
    try:
        arrays = npz.read_arrays(path, _KEYS, info)
    except CacheError as exc:
        first = str(exc).splitlines()[0]
        problem = first.split(" is not a valid copy: ", 1)[-1].rstrip(".")
        raise _invalid(path, info, problem) from None
    problems = []
    height, width, channels = info.image_shape
    for split, size in (("train", info.train_size), ("test", info.test_size)):
        x, b, c = (arrays[f"{key}_{split}"] for key in ("x", "boxes", "classes"))
        if x.shape != (size, height, width, channels) or x.dtype != np.uint8:
            problems.append(f"x_{split} is {x.dtype} {x.shape}, expected uint8 "
                            f"{(size, height, width, channels)}")
        if b.ndim != 3 or b.shape[0] != size or b.shape[2] != 4:
            problems.append(f"boxes_{split} has shape {b.shape}, expected ({size}, K, 4)")
        elif c.shape != b.shape[:2] or not np.issubdtype(c.dtype, np.integer):
            problems.append(f"classes_{split} is {c.dtype} {c.shape}, expected integers "
                            f"{b.shape[:2]}")
        elif c.size and (c.min() < -1 or c.max() >= info.num_classes):
            problems.append(f"classes_{split} runs from {c.min()} to {c.max()}, expected -1 "
                            f"(no object) to {info.num_classes - 1}")
        else:
            real = b[c >= 0]
            if real.size and not (np.isfinite(real).all() and (real[:, 2] >= real[:, 0]).all()
                                  and (real[:, 3] >= real[:, 1]).all() and real.min() >= 0
                                  and real[:, [0, 2]].max() <= width
                                  and real[:, [1, 3]].max() <= height):
                problems.append(f"boxes_{split} holds boxes outside the image or with x2 < x1 "
                                "or y2 < y1")
    if problems:
        raise _invalid(path, info, "; ".join(problems))
    return DetectionSplits(
        name=info.name,
        train=DetectionSet(arrays["x_train"], arrays["boxes_train"].astype(np.float32),
                           arrays["classes_train"].astype(np.int64)),
        test=DetectionSet(arrays["x_test"], arrays["boxes_test"].astype(np.float32),
                          arrays["classes_test"].astype(np.int64)),
        class_names=list(info.class_names), source=str(path))


def validate(path: Path, info: DatasetInfo) -> None:
    """Raise :class:`CacheError` unless ``path`` is a valid generated set."""
    read(path, info)


def _write(path: Path, data: DetectionSplits) -> str | None:
    """Save ``data`` at ``path`` (whole or not at all); ``None``, or why it could not."""
    partial = path.with_name(path.name + ".partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with partial.open("wb") as handle:
            np.savez_compressed(handle, **{
                f"{key}_{split}": getattr(getattr(data, split), attr)
                for split in ("train", "test")
                for key, attr in (("x", "images"), ("boxes", "boxes"), ("classes", "classes"))})
        os.replace(partial, path)
    except OSError as exc:
        try:
            partial.unlink(missing_ok=True)
        except OSError:
            pass
        return f"{type(exc).__name__}: {exc}"
    return None


def _digits(folder: Path, profile: Profile, progress: bool):
    """MNIST's full train and test splits, cached or downloaded as ``profile`` allows."""
    from cnnlabs.datasets import mnist

    whole = dataclasses.replace(profile, train_samples=None, test_samples=None)
    return mnist.load(CATALOG["mnist"], whole, folder, progress=progress)


def _build(info: DatasetInfo, folder: Path, profile: Profile, progress: bool) -> DetectionSplits:
    """Generate the set from MNIST and cache it (where the cache folder can be written)."""
    digits = _digits(folder, profile, progress)
    data = DetectionSplits(
        name=info.name,
        train=generate(digits.x_train, digits.y_train, info.train_size, stream=0),
        test=generate(digits.x_test, digits.y_test, info.test_size, stream=1),
        class_names=list(info.class_names), is_mock=digits.is_mock)
    path = cache_file(info, folder)
    if digits.is_mock:
        data.source = "mock"
        return data
    failed = _write(path, data)
    data.source = str(path) if failed is None else f"generated from {digits.source}"
    data.notes.append(f"generated from {digits.source} (seed {SEED})" + (
        f"; not cached, the cache folder cannot be written ({failed})" if failed else
        f" and cached as {path}"))
    return data


def _mock(info: DatasetInfo, profile: Profile) -> DetectionSplits:
    """The set drawn from mock digits, at the profile's sizes: flagged as mock."""
    from cnnlabs.datasets.mockdata import mock_splits

    pool = mock_splits(CATALOG["mnist"], 200, 100, seed=SEED)
    n_train = info.train_size if profile.train_samples is None else profile.train_samples
    n_test = info.test_size if profile.test_samples is None else profile.test_samples
    return DetectionSplits(
        name=info.name,
        train=generate(pool.x_train, pool.y_train, min(n_train, info.train_size), stream=0),
        test=generate(pool.x_test, pool.y_test, min(n_test, info.test_size), stream=1),
        class_names=list(info.class_names), source="mock", is_mock=True,
        notes=[f"MOCK DATA: {info.name} drawn from mock digits (one fixed pattern per class "
               "plus noise) because mnist.npz is not cached; mAP on it says nothing"])


def load(info: DatasetInfo, profile: Profile, folder: Path, *, seed: int = 0,
         progress: bool = True) -> DetectionSplits:
    """Load the generated set from the cache in ``folder``, generating it when needed.

    ``seed`` seeds the profile's sample caps only: the images themselves are always
    generated with :data:`SEED`.

    Returns:
        :class:`DetectionSplits`, capped by the profile (stratified by each image's
        main class, seeded).

    Raises:
        CacheError: the cached file exists but is not valid (it is left untouched).
        DownloadError: neither the set nor ``mnist.npz`` is cached, and the profile may
            not download (or the download failed).
    """
    from cnnlabs.datasets import mnist

    folder = Path(folder)
    path = cache_file(info, folder)
    mnist_info = CATALOG["mnist"]
    have_mnist = mnist.cached(mnist_info, folder) is not None
    manual = ("It is generated from MNIST, without network access, once mnist.npz is in the "
              "cache.\n" + manual_download_steps(url=mnist_info.url, sha256=mnist_info.sha256,
                                                 target=mnist_info.cache_path(folder),
                                                 dataset=mnist_info.name))
    return cache.resolve(
        info,
        profile,
        seed=seed,
        find=lambda: cached(info, folder),
        read=lambda found: read(found, info),
        download=lambda: _build(info, folder, profile, progress),
        mock=lambda: _mock(info, profile),
        looked=f"{path} does not exist",
        target=path,
        manual=manual,
        # Generating from a cached mnist.npz needs no network, so any profile may do it.
        allow_download=True if have_mnist else None,
    )


def fetch(info: DatasetInfo, folder: Path, progress: bool = True) -> Path:
    """Generate and cache the set (downloading ``mnist.npz`` first if needed); its path.

    A valid cached copy is kept as it is.

    Raises:
        CacheError: the cached copy is invalid, or the cache folder cannot be written.
        DownloadError: ``mnist.npz`` is missing and cannot be downloaded.
    """
    from cnnlabs.config import PROFILES

    existing = cached(info, folder)
    if existing is not None:
        validate(existing, info)
        return existing
    data = _build(info, Path(folder), PROFILES["full"], progress)
    if data.source != str(cache_file(info, folder)):
        raise CacheError(f"{info.name} was generated but could not be cached in {folder}: "
                         f"{data.notes[-1]}. Choose a cache folder you can write to.",
                         path=cache_file(info, folder))
    return cache_file(info, folder)
