"""tf.data pipelines: arrays or image files in, batched datasets out, with augmentation.

Order, for every split: normalise -> cache -> shuffle (train only) -> batch ->
augment (train only) -> prefetch. Normalising before ``cache()`` means the
division is done once; shuffling after it means every epoch sees a new order
without re-reading the source. Image files (:func:`from_files`, for the chest
X-rays) follow the same order with decoding in front: decode -> resize ->
cache -> shuffle -> batch -> augment -> prefetch, so each file is decoded once
and cached as uint8. The validation split is carved out of train, stratified by
class, so the official test set is only touched at the very end.

Augmentation runs in ``tf.data``, on whole batches, rather than inside the
model: the model stays a plain stack that XLA can compile, and the input
pipeline overlaps the augmentation with training. :data:`AUGMENTATIONS` names
the available transforms; a recipe lists the ones it uses. The flips and the
whole-pixel shifts (:data:`BATCH_AUGMENTATIONS`) are a few vectorised tensor
ops per batch, drawn from a per-batch seed; the others are Keras preprocessing
layers.

In-memory arrays (:func:`from_arrays`) stay uint8 in memory: each training batch
is gathered from a shuffled list of indices, then augmented and normalised. On a
two-core CPU this keeps the whole input pipeline, augmentation included, within a
few per cent of the training step's time (``benchmarks/input_overhead.py``).
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
    "crop": "random whole-pixel shift by up to 4 pixels each way, per image (zeros fill in; "
            "the shift is a uniform draw in [-4, 4] rounded to the nearest pixel)",
    "rotate": "random rotation by up to 15 degrees",
    "zoom": "random zoom in or out by up to 10%",
    "contrast": "random contrast change by up to 20%",
    "brightness": "random brightness change by up to 0.1 (on the [0, 1] scale)",
    "alternating_flip": "each image mirrored at random in the first epoch, then the other "
                        "way round every other epoch (airbench; in-memory arrays only)",
    "reflect_shift": "random whole-pixel shift by up to 2 pixels each way, per image, "
                     "uniform over the 5 x 5 offsets (the image's reflection fills in)",
}
#: The transforms done with a few vectorised tensor ops per batch (not Keras layers).
BATCH_AUGMENTATIONS = frozenset({"flip", "crop", "alternating_flip", "reflect_shift"})
#: The transforms that read the training epoch (``Pipelines.epoch``).
EPOCH_AUGMENTATIONS = frozenset({"alternating_flip"})


def _check_augmentations(names: Sequence[str]) -> None:
    unknown = [n for n in names if n not in AUGMENTATIONS]
    if unknown:
        raise ValueError(
            f"Unknown augmentation(s) {', '.join(map(repr, unknown))}. "
            f"Valid: {', '.join(AUGMENTATIONS)}."
        )


def _keras_layer(name: str, image_shape: Sequence[int], seed: int) -> keras.layers.Layer:
    """The Keras preprocessing layer that draws from the distribution of ``name``."""
    from keras import layers

    height, width = int(image_shape[0]), int(image_shape[1])
    if name in ("flip", "alternating_flip"):
        # One epoch of alternating flips mirrors a random half of the images.
        return layers.RandomFlip("horizontal", seed=seed)
    if name == "translate":
        return layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=seed)
    if name in ("crop", "reflect_shift"):
        pixels, fill = (4, "constant") if name == "crop" else (2, "reflect")
        # Whole-pixel shifts: nearest-neighbour sampling of a uniform shift in pixels.
        return layers.RandomTranslation(pixels / height, pixels / width, fill_mode=fill,
                                        interpolation="nearest", seed=seed)
    if name == "rotate":
        return layers.RandomRotation(15 / 360, fill_mode="constant", seed=seed)
    if name == "zoom":
        return layers.RandomZoom(0.1, fill_mode="constant", seed=seed)
    if name == "contrast":
        return layers.RandomContrast(0.2, value_range=(0.0, 1.0), seed=seed)
    return layers.RandomBrightness(0.1, value_range=(0.0, 1.0), seed=seed)


def augmenter(names: Sequence[str], image_shape: Sequence[int], seed: int = 0) -> keras.Sequential:
    """A ``keras.Sequential`` of preprocessing layers applying ``names`` in order.

    Each layer gets its own seed derived from ``seed``. The training pipelines use
    these layers for the transforms outside :data:`BATCH_AUGMENTATIONS`; for those
    they use vectorised ops (:func:`augment_batch`) that draw from the same
    distributions, and this stack stands in for them (a random flip for
    ``alternating_flip``, which is what one epoch sees; Keras' reflection, which
    repeats the edge pixel, for ``reflect_shift``), e.g. to show them in
    ``plots.augmentation_grid``.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    import keras

    _check_augmentations(names)
    return keras.Sequential([_keras_layer(name, image_shape, seed * 1000 + i)
                             for i, name in enumerate(names)], name="augment")


def flip_images(images: tf.Tensor, flip: tf.Tensor) -> tf.Tensor:
    """Mirror the images of a batch ``(N, H, W, C)`` left to right where ``flip`` (N,) is True."""
    import tensorflow as tf

    return tf.where(tf.reshape(flip, [-1, 1, 1, 1]), tf.reverse(images, axis=[2]), images)


def shift_images(images: tf.Tensor, offsets: tf.Tensor, pad: int, mode: str = "CONSTANT",
                 mirror: tf.Tensor | None = None) -> tf.Tensor:
    """Shift each image of a batch by whole pixels: pad ``pad`` pixels, then crop per image.

    Args:
        images: ``(N, H, W, C)``, any dtype.
        offsets: ``(N, 2)`` integers in ``[-pad, pad]``: rows and columns to move each
            image down and to the right (negative: up and to the left).
        pad: the largest shift.
        mode: what fills in: ``"CONSTANT"`` (zeros) or ``"REFLECT"`` (the mirror image
            without repeating the edge, as ``torch.nn.functional.pad``'s ``"reflect"``).
        mirror: ``(N,)`` booleans: mirror these images left to right before the shift
            (the same result as :func:`flip_images` first, in the same gather).

    Returns:
        The shifted batch, same shape and dtype.
    """
    import tensorflow as tf

    if pad == 0 and mirror is None:
        return images
    height, width = tf.shape(images)[1], tf.shape(images)[2]
    padded = tf.pad(images, [[0, 0], [pad, pad], [pad, pad], [0, 0]], mode=mode)
    start = pad - tf.cast(offsets, tf.int32)  # where each crop begins in the padded image
    rows = start[:, :1] + tf.range(height)[None, :]
    cols = start[:, 1:] + tf.range(width)[None, :]
    if mirror is not None:  # the padding is symmetric: mirror the padded image instead
        cols = tf.where(tf.reshape(mirror, [-1, 1]), width + 2 * pad - 1 - cols, cols)
    shifted = tf.gather(padded, rows, axis=1, batch_dims=1)
    return tf.gather(shifted, cols, axis=2, batch_dims=1)


def _flip_draw(images: tf.Tensor, name: str, seed: tf.Tensor, index: tf.Tensor | None,
               flip_bits: tf.Tensor | None, epoch: Any) -> tf.Tensor:
    """The images ``name`` (a flip) mirrors: ``(N,)`` booleans."""
    import tensorflow as tf

    if name == "flip":
        return tf.random.stateless_uniform(tf.shape(images)[:1], seed) < 0.5
    odd_epoch = tf.cast(tf.math.floormod(tf.cast(epoch, tf.int64), 2), tf.bool)
    return tf.not_equal(tf.gather(flip_bits, index), odd_epoch)


def _shift_draw(images: tf.Tensor, name: str, seed: tf.Tensor) -> tuple[tf.Tensor, int, str]:
    """The offsets ``name`` (a shift) moves each image by, its padding and fill mode."""
    import tensorflow as tf

    shape = tf.concat([tf.shape(images)[:1], [2]], axis=0)
    if name == "crop":
        # A uniform shift in [-4, 4] pixels rounded to the nearest whole pixel, the
        # draw of Keras' RandomTranslation(4/H, 4/W, interpolation="nearest").
        return tf.round(tf.random.stateless_uniform(shape, seed, -4.0, 4.0)), 4, "CONSTANT"
    return tf.random.stateless_uniform(shape, seed, -2, 3, dtype=tf.int32), 2, "REFLECT"


_FLIPS, _SHIFTS = ("flip", "alternating_flip"), ("crop", "reflect_shift")


def augment_batch(images: tf.Tensor, name: str, seed: tf.Tensor, *,
                  index: tf.Tensor | None = None, flip_bits: tf.Tensor | None = None,
                  epoch: Any = None) -> tf.Tensor:
    """Apply one of :data:`BATCH_AUGMENTATIONS` to a batch, drawing from the stateless ``seed``.

    Args:
        images: ``(N, H, W, C)``, any dtype (uint8 pixels or floats in [0, 1]).
        name: ``"flip"``, ``"crop"``, ``"reflect_shift"`` or ``"alternating_flip"``.
        seed: a shape-(2,) integer tensor; the same seed draws the same transforms.
        index, flip_bits, epoch: for ``"alternating_flip"`` only: the images' indices
            in the training set, one random bit per training image, and the epoch.
    """
    if name in _FLIPS:
        return flip_images(images, _flip_draw(images, name, seed, index, flip_bits, epoch))
    if name in _SHIFTS:
        offsets, pad, mode = _shift_draw(images, name, seed)
        return shift_images(images, offsets, pad, mode=mode)
    raise ValueError(f"{name!r} is not one of the batch augmentations "
                     f"{', '.join(sorted(BATCH_AUGMENTATIONS))}.")


def _augment_fn(names: Sequence[str], image_shape: Sequence[int], seed: int,
                flip_bits: tf.Tensor | None = None, epoch: Any = None
                ) -> Callable[..., tf.Tensor]:
    """``fn(images, batch_seed, index=None, to_float=None)``: ``names`` applied in order.

    Batch augmentations run on the images as they come (a flip followed by a shift in
    one gather, with the draws of the two done one after the other); ``to_float``
    (uint8 -> [0, 1]) runs before the first Keras layer, or at the end. Keras layers
    get the seeds :func:`augmenter` gives them, and their output is clipped to [0, 1].
    """
    import tensorflow as tf

    _check_augmentations(names)
    steps = [(name, None if name in BATCH_AUGMENTATIONS
              else _keras_layer(name, image_shape, seed * 1000 + i))
             for i, name in enumerate(names)]

    def apply(images: tf.Tensor, batch_seed: tf.Tensor, index: tf.Tensor | None = None,
              to_float: Callable[[tf.Tensor], tf.Tensor] | None = None) -> tf.Tensor:
        is_float = to_float is None
        mirror = None  # a flip waiting to be done in the gather of the shift that follows
        for i, (name, layer) in enumerate(steps):
            step_seed = batch_seed + tf.constant([0, i], tf.int64)
            if name in _FLIPS:
                mirror = _flip_draw(images, name, step_seed, index, flip_bits, epoch)
                if i + 1 == len(steps) or steps[i + 1][0] not in _SHIFTS:
                    images, mirror = flip_images(images, mirror), None
                continue
            if name in _SHIFTS:
                offsets, pad, mode = _shift_draw(images, name, step_seed)
                images, mirror = shift_images(images, offsets, pad, mode, mirror=mirror), None
                continue
            if not is_float:
                images, is_float = to_float(images), True
            images = tf.clip_by_value(layer(images, training=True), 0.0, 1.0)
        return images if is_float else to_float(images)

    return apply


def _batch_seeds(seed: int) -> tf.data.Dataset:
    """An endless dataset of shape-(2,) seeds, a new sequence on every pass."""
    import tensorflow as tf

    return tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)


def augment_dataset(ds: tf.data.Dataset, names: Sequence[str], image_shape: Sequence[int],
                    seed: int = 0) -> tf.data.Dataset:
    """Apply ``names`` to every batch of ``ds`` (images in [0, 1]; labels pass through).

    Raises:
        ValueError: for an unknown name, or ``alternating_flip``, which needs the
            images' indices and the epoch (:func:`from_arrays` has them).
    """
    import tensorflow as tf

    if not names:
        return ds
    if EPOCH_AUGMENTATIONS & set(names):
        raise ValueError("alternating_flip needs each image's index and the epoch: use it "
                         "with in-memory arrays (pipelines.build or from_arrays with epoch=).")
    apply = _augment_fn(names, image_shape, seed)
    return tf.data.Dataset.zip((ds, _batch_seeds(seed))).map(
        lambda batch, batch_seed: (apply(batch[0], batch_seed), batch[1]),
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
    drop_remainder: bool = False,
    epoch: Any = None,
) -> tf.data.Dataset:
    """A batched ``tf.data.Dataset`` of ``(float32 image in [0, 1], label)`` pairs.

    The images stay in memory as they are (uint8: a quarter of the memory of floats).
    Each batch is gathered from a list of indices (shuffled every epoch when
    training), then augmented (training only) and normalised; several batches are
    prepared in parallel with training.

    Args:
        x: uint8 images ``(N, H, W, C)``.
        y: integer labels ``(N,)``.
        batch_size: samples per batch.
        training: shuffle every epoch (with ``seed``) and augment when True; keep
            order otherwise.
        seed: shuffling and augmentation seed: the same seed gives the same order and
            the same batch augmentations (:data:`BATCH_AUGMENTATIONS`).
        cache: accepted for symmetry with :func:`from_files`; arrays are always read
            from memory.
        augment: names from :data:`AUGMENTATIONS`, applied per batch (training only).
        num_classes: when given, labels become one-hot vectors of this length
            (needed for label smoothing); otherwise they stay integer class indices.
        drop_remainder: when training, leave out the last batch of an epoch if it is
            not full (the shuffle puts other images there each epoch), so every step
            sees ``batch_size`` samples.
        epoch: a ``tf.Variable`` holding the training epoch, read by
            ``alternating_flip`` (``pipelines.build`` makes one, ``Pipelines.epoch``,
            and ``training.fit`` keeps it up to date).

    Raises:
        ValueError: for images not shaped ``(N, H, W, C)``, a length mismatch, a bad
            batch size, an unknown augmentation, ``alternating_flip`` without
            ``epoch``, or fewer training samples than one full batch with
            ``drop_remainder``.
    """
    import tensorflow as tf

    _check_batch_size(batch_size)
    if x.ndim != 4:
        raise ValueError(f"expected images shaped (N, H, W, C); got {x.shape}.")
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}.")
    names = tuple(augment) if training else ()
    _check_augmentations(augment)
    drop = bool(drop_remainder and training)
    if drop and len(x) < batch_size:
        raise ValueError(
            f"batch_size {batch_size} is larger than the {len(x)} training samples: with "
            "drop_remainder=True no full batch is left to train on. Lower the batch size.")
    flip_bits = None
    if EPOCH_AUGMENTATIONS & set(names):
        if epoch is None:
            raise ValueError("alternating_flip reads the epoch: pass epoch=, a tf.Variable "
                             "holding it (pipelines.build makes one, Pipelines.epoch, and "
                             "training.fit keeps it up to date).")
        flip_bits = tf.constant(np.random.default_rng(seed).random(len(x)) < 0.5)
    images = tf.constant(x)
    labels = tf.constant(np.asarray(y).astype("int64"))
    order = tf.data.Dataset.range(len(x))
    if training:
        order = order.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    order = order.batch(batch_size, drop_remainder=drop)

    def labels_of(index: tf.Tensor) -> tf.Tensor:
        label = tf.gather(labels, index)
        return label if num_classes is None else tf.one_hot(label, num_classes)

    if names:
        apply = _augment_fn(names, x.shape[1:], seed, flip_bits=flip_bits, epoch=epoch)
        ds = tf.data.Dataset.zip((order, _batch_seeds(seed))).map(
            lambda index, batch_seed: (
                apply(tf.gather(images, index), batch_seed, index=index, to_float=normalise),
                labels_of(index)),
            num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = order.map(lambda index: (normalise(tf.gather(images, index)), labels_of(index)),
                       num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


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
    #: The training pipeline leaves out each epoch's last, partial batch.
    drop_remainder: bool = False
    #: A ``tf.Variable`` holding the training epoch, for augmentations that read it
    #: (``alternating_flip``); ``training.fit`` sets it at the start of every epoch.
    epoch: Any = None
    #: The training images (after the validation split), uint8, for data-dependent
    #: initialisation (``models.airbench.init_whitening``); ``None`` for image files.
    x_train: np.ndarray | None = None

    @property
    def steps_per_epoch(self) -> int:
        if self.drop_remainder:
            return self.n_train // self.batch_size
        return -(-self.n_train // self.batch_size)


def build(
    splits: Splits,
    batch_size: int,
    profile: Profile | str | None = None,
    seed: int = 0,
    augment: Sequence[str] = (),
    one_hot: bool = False,
    drop_remainder: bool = False,
) -> Pipelines:
    """Train / val / test pipelines for ``splits``.

    When the dataset has no validation split of its own, one is carved out of
    train with ``profile.val_fraction`` (stratified, seeded). ``augment`` applies
    to the training pipeline only; ``one_hot`` turns every split's labels into
    one-hot vectors (for label smoothing); ``drop_remainder`` leaves each training
    epoch's last partial batch out (validation and test keep every sample).
    """
    chosen_profile = get_profile(profile)
    if splits.x_val is not None and splits.y_val is not None:
        x_tr, y_tr, x_va, y_va = splits.x_train, splits.y_train, splits.x_val, splits.y_val
    else:
        x_tr, y_tr, x_va, y_va = split_validation(
            splits.x_train, splits.y_train, chosen_profile.val_fraction, seed
        )
    classes = splits.num_classes if one_hot else None
    epoch = None
    if EPOCH_AUGMENTATIONS & set(augment):
        import tensorflow as tf

        epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
    return Pipelines(
        train=from_arrays(x_tr, y_tr, batch_size, training=True, seed=seed, augment=augment,
                          num_classes=classes, drop_remainder=drop_remainder, epoch=epoch),
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
        drop_remainder=drop_remainder,
        epoch=epoch,
        x_train=x_tr,
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
