"""tf.data pipelines: arrays or image files in, batched datasets out, with augmentation.

Order, for every split: normalise -> cache -> shuffle (train only) -> batch ->
augment (train only) -> prefetch. Normalising before ``cache()`` means the
division is done once; shuffling after it means every epoch sees a new order
without re-reading the source. Image files (:func:`from_files`, for the chest
X-rays) follow the same order with decoding in front: decode -> resize ->
cache -> shuffle -> batch -> augment -> prefetch, so each file is decoded once
and cached as uint8. The validation split is carved out of train, stratified by
class, so the official test set is only touched at the very end.

Augmentation runs in ``tf.data`` with Keras preprocessing layers, on whole
batches, rather than inside the model: the model stays a plain stack that
XLA can compile, and the input pipeline overlaps the augmentation with
training. :data:`AUGMENTATIONS` names the available transforms; a recipe
lists the ones it uses.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cnnlabs.config import Profile, get_profile

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

    from cnnlabs.datasets import Splits


def split_validation(
    x: np.ndarray, y: np.ndarray, val_fraction: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Carve a stratified validation split out of ``(x, y)``.

    Validation gets ``round(len(y) * val_fraction)`` samples, each class its
    proportional share (``datasets.stratified_indices``); train keeps the rest.
    Returns ``x_train, y_train, x_val, y_val``, each part shuffled with ``seed``.

    Raises:
        ValueError: if ``val_fraction`` is not in (0, 1) or a split would be empty.
    """
    from cnnlabs.datasets import stratified_indices

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive); got {val_fraction}.")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}.")
    n_val = int(round(len(y) * val_fraction))
    if n_val == 0 or n_val == len(y):
        raise ValueError(
            f"Cannot split {len(y)} samples with val_fraction={val_fraction}: one side is empty."
        )
    rng = np.random.default_rng(seed)
    va = stratified_indices(y, n_val, rng)
    in_val = np.zeros(len(y), dtype=bool)
    in_val[va] = True
    tr = rng.permutation(np.flatnonzero(~in_val))
    return x[tr], y[tr], x[va], y[va]


def normalise(images: tf.Tensor) -> tf.Tensor:
    """uint8 pixels in [0, 255] -> float32 in [0, 1]."""
    import tensorflow as tf

    return tf.cast(images, tf.float32) / 255.0


#: name -> what it does. Every transform works on float images in [0, 1].
AUGMENTATIONS: dict[str, str] = {
    "flip": "random horizontal flip",
    "translate": "random shift by up to 10% of height and width (zeros fill in)",
    "crop": "pad 4 pixels of zeros on each side, then crop back at a random place, per image",
    "rotate": "random rotation by up to 15 degrees",
    "zoom": "random zoom in or out by up to 10%",
    "contrast": "random contrast change by up to 20%",
    "brightness": "random brightness change by up to 0.1 (on the [0, 1] scale)",
}


def augmenter(names: Sequence[str], image_shape: Sequence[int], seed: int = 0) -> keras.Sequential:
    """A ``keras.Sequential`` of preprocessing layers applying ``names`` in order.

    Each layer gets its own seed derived from ``seed``. The training pipelines apply
    it to several batches in parallel, so the draws are not repeated bit for bit from
    run to run (the shuffle order is); seeded training runs on this backend do not
    repeat bit for bit anyway (see ``config.seed_everything``).

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    import keras
    from keras import layers

    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"Unknown augmentation(s) {', '.join(map(repr, unknown))}. "
            f"Valid: {', '.join(AUGMENTATIONS)}."
        )
    height, width = int(image_shape[0]), int(image_shape[1])
    stack: list[keras.layers.Layer] = []
    for i, name in enumerate(names):
        layer_seed = seed * 1000 + i
        if name == "flip":
            stack.append(layers.RandomFlip("horizontal", seed=layer_seed))
        elif name == "translate":
            stack.append(layers.RandomTranslation(0.1, 0.1, fill_mode="constant",
                                                  seed=layer_seed))
        elif name == "crop":
            # Keras' RandomCrop draws one offset per batch; a whole-pixel random
            # shift of up to 4 pixels with zeros filling in is the same pad-and-crop,
            # drawn for each image.
            stack.append(layers.RandomTranslation(4 / height, 4 / width, fill_mode="constant",
                                                  interpolation="nearest", seed=layer_seed))
        elif name == "rotate":
            stack.append(layers.RandomRotation(15 / 360, fill_mode="constant", seed=layer_seed))
        elif name == "zoom":
            stack.append(layers.RandomZoom(0.1, fill_mode="constant", seed=layer_seed))
        elif name == "contrast":
            stack.append(layers.RandomContrast(0.2, value_range=(0.0, 1.0), seed=layer_seed))
        elif name == "brightness":
            stack.append(layers.RandomBrightness(0.1, value_range=(0.0, 1.0), seed=layer_seed))
    return keras.Sequential(stack, name="augment")


def augment_dataset(ds: tf.data.Dataset, names: Sequence[str], image_shape: Sequence[int],
                    seed: int = 0) -> tf.data.Dataset:
    """Apply :func:`augmenter` to every batch of ``ds`` (images only; labels pass through)."""
    import tensorflow as tf

    if not names:
        return ds
    aug = augmenter(names, image_shape, seed)
    return ds.map(lambda x, y: (tf.clip_by_value(aug(x, training=True), 0.0, 1.0), y),
                  num_parallel_calls=tf.data.AUTOTUNE)


def _shuffle_batch_augment(
    ds: tf.data.Dataset,
    n: int,
    batch_size: int,
    *,
    training: bool,
    seed: int,
    augment: Sequence[str],
    image_shape: Sequence[int],
    num_classes: int | None,
    before_augment: Callable[[tf.Tensor], tf.Tensor] | None = None,
    after_augment: Callable[[tf.Tensor], tf.Tensor] | None = None,
) -> tf.data.Dataset:
    """The steps every pipeline shares, after its per-image ones (and any cache).

    Shuffle (training) -> batch -> ``before_augment`` -> augment (training) ->
    ``after_augment`` -> one-hot labels (``num_classes``) -> prefetch. The two hooks
    are per-batch image maps; augmentation always sees images in [0, 1].
    """
    import tensorflow as tf

    if training:
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if before_augment is not None:
        ds = ds.map(lambda x, y: (before_augment(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    if training:
        ds = augment_dataset(ds, augment, image_shape, seed)
    if after_augment is not None:
        ds = ds.map(lambda x, y: (after_augment(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    if num_classes is not None:
        ds = ds.map(lambda image, label: (image, tf.one_hot(label, num_classes)),
                    num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1; got {batch_size}.")


def from_arrays(
    x: np.ndarray,
    y: np.ndarray,
    batch_size: int,
    *,
    training: bool,
    seed: int = 0,
    cache: bool = True,
    augment: Sequence[str] = (),
    num_classes: int | None = None,
) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(float32 image in [0, 1], label)`` pairs.

    Args:
        x: uint8 images ``(N, H, W, C)``.
        y: integer labels ``(N,)``.
        batch_size: samples per batch.
        training: shuffle every epoch (with ``seed``) when True; keep order otherwise.
        seed: shuffling and augmentation seed, for repeatable epochs.
        cache: keep the normalised tensors in memory after the first pass.
        augment: names from :data:`AUGMENTATIONS`, applied per batch (training only).
        num_classes: when given, labels become one-hot vectors of this length
            (needed for label smoothing); otherwise they stay integer class indices.
    """
    import tensorflow as tf

    _check_batch_size(batch_size)
    if x.ndim != 4:
        raise ValueError(f"expected images shaped (N, H, W, C); got {x.shape}.")
    ds = tf.data.Dataset.from_tensor_slices((x, y.astype("int64")))
    ds = ds.map(lambda image, label: (normalise(image), label),
                num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    return _shuffle_batch_augment(ds, len(x), batch_size, training=training, seed=seed,
                                  augment=augment, image_shape=x.shape[1:],
                                  num_classes=num_classes)


@dataclass
class Pipelines:
    """The three datasets of one run, with their sizes and class names."""

    train: tf.data.Dataset
    val: tf.data.Dataset
    test: tf.data.Dataset
    n_train: int
    n_val: int
    n_test: int
    batch_size: int
    class_names: list[str]
    #: Training labels (after the validation split), for class weights.
    y_train: np.ndarray
    y_val: np.ndarray
    y_test: np.ndarray
    one_hot: bool = False
    augment: tuple[str, ...] = ()

    @property
    def steps_per_epoch(self) -> int:
        return -(-self.n_train // self.batch_size)


def build(
    splits: Splits,
    batch_size: int,
    profile: Profile | str | None = None,
    seed: int = 0,
    augment: Sequence[str] = (),
    one_hot: bool = False,
) -> Pipelines:
    """Train / val / test pipelines for ``splits``.

    When the dataset has no validation split of its own, one is carved out of
    train with ``profile.val_fraction`` (stratified, seeded). ``augment`` applies
    to the training pipeline only; ``one_hot`` turns every split's labels into
    one-hot vectors (for label smoothing).
    """
    prof = profile if isinstance(profile, Profile) else get_profile(profile)
    if splits.x_val is not None and splits.y_val is not None:
        x_tr, y_tr, x_va, y_va = splits.x_train, splits.y_train, splits.x_val, splits.y_val
    else:
        x_tr, y_tr, x_va, y_va = split_validation(
            splits.x_train, splits.y_train, prof.val_fraction, seed
        )
    classes = splits.num_classes if one_hot else None
    return Pipelines(
        train=from_arrays(x_tr, y_tr, batch_size, training=True, seed=seed, augment=augment,
                          num_classes=classes),
        val=from_arrays(x_va, y_va, batch_size, training=False, num_classes=classes),
        test=from_arrays(splits.x_test, splits.y_test, batch_size, training=False,
                         num_classes=classes),
        n_train=len(x_tr),
        n_val=len(x_va),
        n_test=len(splits.x_test),
        batch_size=batch_size,
        class_names=list(splits.class_names),
        y_val=np.asarray(y_va),
        y_test=np.asarray(splits.y_test),
        one_hot=one_hot,
        augment=tuple(augment),
        y_train=np.asarray(y_tr),
    )


#: The pixel range of images fed to a transfer-learning model. The models from
#: ``models.transfer`` begin with their backbone's own preprocessing layer
#: (MobileNetV2's [-1, 1], DenseNet's ImageNet mean/std, VGG16's BGR means, ...),
#: which expects raw pixels; the scratch CNNs expect [0, 1].
RAW_PIXELS = (0.0, 255.0)
UNIT_PIXELS = (0.0, 1.0)


def decode_file(path: tf.Tensor, image_size: Sequence[int], channels: int) -> tf.Tensor:
    """Read one JPEG/PNG file into a ``uint8`` tensor ``(H, W, channels)``.

    ``channels`` forces the colour mode (1: grayscale, 3: RGB) whatever the file
    holds, since sources such as the chest X-rays mix both. Images are resized
    with antialiasing (a no-op when already ``image_size``).
    """
    import tensorflow as tf

    raw = tf.io.read_file(path)
    image = tf.io.decode_image(raw, channels=channels, expand_animations=False)
    image.set_shape([None, None, channels])
    size = [int(image_size[0]), int(image_size[1])]
    resized = tf.image.resize(image, size, method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def from_files(
    paths: Sequence[str | Path],
    labels: np.ndarray,
    batch_size: int,
    *,
    image_size: Sequence[int],
    color_mode: str = "rgb",
    training: bool,
    seed: int = 0,
    cache: bool | str | Path = True,
    augment: Sequence[str] = (),
    value_range: tuple[float, float] = UNIT_PIXELS,
    num_classes: int | None = None,
) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(float32 image, label)`` read from image files.

    Order: decode -> resize -> ``cache()`` -> shuffle (training) -> batch ->
    augment (training) -> scale to ``value_range`` -> prefetch. Decoding and resizing
    happen once, on the first epoch; the cache holds ``uint8`` pixels (a quarter of
    the memory of floats). Augmentation works on [0, 1] images, so every transform in
    :data:`AUGMENTATIONS` is available whatever the model's input range.

    Args:
        paths, labels: the files and their integer class indices.
        image_size: ``(H, W)`` every image is resized to.
        color_mode: ``"rgb"`` or ``"grayscale"``, forced on every file.
        training: shuffle every epoch (with ``seed``) and augment when True.
        cache: True keeps decoded images in memory; a path caches them to a file named
            after it and keyed by the content (:func:`cache_file`; written on the first
            full pass; never point it into read-only data); False decodes every epoch.
        value_range: the pixel range handed to the model: :data:`UNIT_PIXELS` for the
            library's CNNs, :data:`RAW_PIXELS` for ``models.transfer`` models.
        num_classes: when given, labels become one-hot vectors (label smoothing).

    Raises:
        ValueError: for mismatched lengths, no files, an unknown colour mode or a bad size.
    """
    import tensorflow as tf

    from cnnlabs.datasets.imagefolder import COLOR_MODES

    if color_mode not in COLOR_MODES:
        raise ValueError(f"color_mode must be one of {tuple(COLOR_MODES)}; got {color_mode!r}.")
    _check_batch_size(batch_size)
    if len(image_size) != 2 or min(int(s) for s in image_size) < 1:
        raise ValueError(f"image_size must be (height, width); got {tuple(image_size)}.")
    labels = np.asarray(labels, dtype="int64").ravel()
    if len(paths) != len(labels):
        raise ValueError(f"{len(paths)} files but {len(labels)} labels.")
    if len(paths) == 0:
        raise ValueError("No image files to read.")
    channels = COLOR_MODES[color_mode]
    ds = tf.data.Dataset.from_tensor_slices(([str(p) for p in paths], labels))
    ds = ds.map(lambda path, label: (decode_file(path, image_size, channels), label),
                num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    if cache is True:
        ds = ds.cache()
    elif cache:
        target = cache_file(cache, paths, labels, image_size, channels)
        target.parent.mkdir(parents=True, exist_ok=True)
        _drop_stale_cache_lock(target)
        ds = ds.cache(str(target))
    low, high = float(value_range[0]), float(value_range[1])
    scale = None if (low, high) == UNIT_PIXELS else (lambda x: x * (high - low) + low)
    before, after = normalise, scale
    if scale is not None and not (training and augment):
        # Nothing to augment in between: normalise and scale in one map.
        before, after = (lambda x: scale(normalise(x))), None
    return _shuffle_batch_augment(ds, len(labels), batch_size, training=training, seed=seed,
                                  augment=augment,
                                  image_shape=(int(image_size[0]), int(image_size[1]), channels),
                                  num_classes=num_classes, before_augment=before,
                                  after_augment=after)


def _drop_stale_cache_lock(target: Path) -> None:
    """Remove the lock a killed first pass left beside an unfinished tf.data cache file.

    tf.data writes ``<target>_0.lockfile`` while it fills the cache and deletes it at the
    end; a process killed meanwhile leaves it behind, and the next run would fail with
    "There appears to be a concurrent caching iterator running". The cache was not
    finished (no ``<target>.index``), so the next pass fills it again from the images.
    """
    lock = target.with_name(target.name + "_0.lockfile")
    if lock.exists() and not target.with_name(target.name + ".index").exists():
        warnings.warn(f"Removing {lock}, left by a run that stopped while filling the cache "
                      f"{target}; this run fills it again.", stacklevel=3)
        lock.unlink(missing_ok=True)


def cache_file(cache: str | Path, paths: Sequence[str | Path], labels: Sequence[int],
               image_size: Sequence[int], channels: int) -> Path:
    """The file a ``from_files`` pipeline caches to: ``<cache>-<key>``.

    tf.data reuses a finished cache file whatever it is asked to read, so the key, a
    hash of the file list, the labels, the image size and the channels, keeps a run with
    another split, seed, size or colour mode from training silently on an old cache.
    """
    import hashlib

    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path).encode() + b"\0")
    digest.update(np.asarray(labels, dtype="int64").tobytes())
    digest.update(f"{tuple(int(s) for s in image_size)}-{int(channels)}".encode())
    cache = Path(cache)
    return cache.with_name(f"{cache.name}-{digest.hexdigest()[:16]}")


def build_files(
    splits: Any,
    batch_size: int,
    *,
    seed: int = 0,
    augment: Sequence[str] = (),
    value_range: tuple[float, float] = UNIT_PIXELS,
    one_hot: bool = False,
    cache: bool | str | Path = True,
) -> Pipelines:
    """Train / val / test pipelines for file-based splits (``datasets.chest_xray.load``).

    ``splits`` has ``train``, ``val`` and ``test`` file lists (``paths``, ``labels``),
    ``class_names``, ``image_size`` and ``color_mode``. The validation split is the
    loader's (grouped by patient for the chest X-rays), never the test split.
    ``cache`` as in :func:`from_files`; a path gets one file per split next to it
    (``<path>.train-<key>``, ...; see :func:`cache_file`).
    """
    classes = len(splits.class_names) if one_hot else None

    def one(split: str, training: bool) -> tf.data.Dataset:
        files = getattr(splits, split)
        split_cache = cache if isinstance(cache, bool) else Path(f"{cache}.{split}")
        return from_files(files.paths, files.labels, batch_size, image_size=splits.image_size,
                          color_mode=splits.color_mode, training=training, seed=seed,
                          cache=split_cache, augment=augment,
                          value_range=value_range, num_classes=classes)

    return Pipelines(
        train=one("train", True),
        val=one("val", False),
        test=one("test", False),
        n_train=len(splits.train),
        n_val=len(splits.val),
        n_test=len(splits.test),
        batch_size=batch_size,
        class_names=list(splits.class_names),
        y_val=np.asarray(splits.val.labels),
        y_test=np.asarray(splits.test.labels),
        one_hot=one_hot,
        augment=tuple(augment),
        y_train=np.asarray(splits.train.labels),
    )
