"""Transfer learning over ``keras.applications`` backbones.

:func:`transfer` builds ``raw pixels -> preprocessing -> backbone -> global
average pool -> dropout -> softmax`` for one of five ImageNet backbones:

================  =====================  ==========================================
backbone          preprocessing          ImageNet weights (``include_top=False``)
================  =====================  ==========================================
mobilenetv2       "tf": [-1, 1]          one file per size 96..224, no hash check
resnet50v2        "tf": [-1, 1]          md5-checked
densenet121       "torch": mean/std      md5-checked
efficientnetb0    none (built in)        md5-checked
vgg16             "caffe": BGR - mean    md5-checked
================  =====================  ==========================================

The model takes RAW pixels in [0, 255]: its first layer is
:class:`BackbonePreprocessing`, so a saved model can never be fed input scaled
for another backbone. A 1-channel input (grayscale X-rays) is repeated to 3.

Design: the backbone is a *nested* model, a layer named ``"backbone"``, called
with ``training=False`` (the keras.io recipe). Its BatchNormalization layers
therefore always run in inference mode, also while the backbone is fine-tuned,
so a small batch can never wreck the ImageNet statistics; and freezing is one
flag (``backbone.trainable``). Grad-CAM (:mod:`cnnlabs.explain`) looks inside it.

Training in two phases (re-compile after every change of trainability, or
Keras keeps training with the old setting)::

    model = transfer("mobilenetv2", (224, 224, 3), 2)   # backbone frozen
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    model.fit(...)                                       # phase 1: the head only
    unfreeze_top(model, 30)                              # phase 2: fine-tune
    model.compile(keras.optimizers.Adam(1e-5), "sparse_categorical_crossentropy")
    model.fit(...)

Weights: ``"imagenet"`` fetches the official file into the Keras cache
(``$KERAS_HOME/models/``, else ``~/.keras/models/``) unless a file of that name
is already there. Offline, pre-place it there (see :func:`weights_path`), or
pass ``weights=<path>`` or ``weights=None`` (random initialisation).
"""

from __future__ import annotations

import math
import os
import tempfile
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
from keras import layers, ops

from cnnlabs.models import _TRANSFER_API, check_classes, check_input, predictions

__all__ = sorted(_TRANSFER_API)  # one list, kept in cnnlabs.models for the lazy import

_TF_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"

#: ImageNet channel statistics (RGB) used by the "torch" and "caffe" modes.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)

MODES = ("tf", "torch", "caffe", "none")


class NoPretrainedWeightsWarning(UserWarning):
    """Issued when a transfer model is built without pretrained weights (``weights=None``)."""


class WeightsUnavailableError(RuntimeError):
    """The ImageNet weights file is neither cached nor downloadable (e.g. offline)."""


@dataclass(frozen=True)
class Backbone:
    """Everything :func:`transfer` needs to know about one ``keras.applications`` backbone.

    Attributes:
        name: the name :func:`transfer` accepts.
        constructor: attribute of ``keras.applications`` building it.
        family: ``keras.applications`` submodule with its ``preprocess_input``.
        mode: preprocessing, one of :data:`MODES`.
        default_size: the ImageNet training resolution.
        url_dir: folder of the official weights files.
        file_template: file name of the ``include_top=False`` weights;
            ``{size}`` is replaced by the weights resolution (MobileNetV2 only).
        file_hash: md5 Keras checks the file against (None: no check).
        sizes: resolutions with their own weights file; others use ``default_size``.
    """

    name: str
    constructor: str
    family: str
    mode: str
    default_size: int
    url_dir: str
    file_template: str
    file_hash: str | None
    sizes: tuple[int, ...] = ()
    min_size: int = 32

    def weights_size(self, input_shape: Sequence[int] | None = None) -> int:
        """The resolution whose weights file Keras uses for ``input_shape`` (H, W, ...)."""
        if self.sizes and input_shape is not None:
            rows, cols = int(input_shape[0]), int(input_shape[1])
            if rows == cols and rows in self.sizes:
                return rows
        return self.default_size

    def weights_file(self, input_shape: Sequence[int] | None = None) -> str:
        """File name of the ``include_top=False`` ImageNet weights for ``input_shape``."""
        return self.file_template.format(size=self.weights_size(input_shape))

    def weights_url(self, input_shape: Sequence[int] | None = None) -> str:
        """Official URL of :meth:`weights_file`."""
        return self.url_dir + self.weights_file(input_shape)

    def application(self) -> Callable[..., keras.Model]:
        """The ``keras.applications`` constructor."""
        return getattr(keras.applications, self.constructor)

    def preprocess_input(self) -> Callable[..., Any]:
        """Keras' own ``keras.applications.<family>.preprocess_input`` (the reference)."""
        return getattr(keras.applications, self.family).preprocess_input


#: The single source of truth: backbone name -> :class:`Backbone`.
BACKBONES: dict[str, Backbone] = {
    b.name: b
    for b in (
        Backbone("mobilenetv2", "MobileNetV2", "mobilenet_v2", "tf", 224,
                 _TF_BASE + "mobilenet_v2/",
                 "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5",
                 None, sizes=(96, 128, 160, 192, 224)),
        Backbone("resnet50v2", "ResNet50V2", "resnet_v2", "tf", 224,
                 _TF_BASE + "resnet/",
                 "resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "fac2f116257151a9d068a22e544a4917"),
        Backbone("densenet121", "DenseNet121", "densenet", "torch", 224,
                 _TF_BASE + "densenet/",
                 "densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "30ee3e1110167f948a6b9946edeeb738"),
        Backbone("efficientnetb0", "EfficientNetB0", "efficientnet", "none", 224,
                 "https://storage.googleapis.com/keras-applications/",
                 "efficientnetb0_notop.h5",
                 "50bc09e76180e00e4465e1a485ddc09d"),
        Backbone("vgg16", "VGG16", "vgg16", "caffe", 224,
                 _TF_BASE + "vgg16/",
                 "vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 "6d6bbae143d832006294945121d1f1fc"),
    )
}

#: backbone name -> preprocessing mode (see :func:`apply_preprocessing`).
PREPROCESS: dict[str, str] = {name: b.mode for name, b in BACKBONES.items()}


def get_backbone(name: str) -> Backbone:
    """The :class:`Backbone` called ``name`` (case-insensitive).

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    key = str(name).lower()
    if key not in BACKBONES:
        raise ValueError(
            f"Unknown backbone {name!r}. Valid backbones: {', '.join(BACKBONES)}."
        )
    return BACKBONES[key]


# --------------------------------------------------------------------------- preprocessing


def apply_preprocessing(x: Any, mode: str) -> Any:
    """Map raw RGB pixels in [0, 255] the way a backbone was trained (``keras.ops``).

    A last axis of size 1 (grayscale) is repeated to 3 channels first.

    Args:
        x: images, channels last, float pixels in [0, 255].
        mode: ``"tf"`` ([-1, 1]), ``"torch"`` (/255, ImageNet mean/std),
            ``"caffe"`` (RGB -> BGR, minus ImageNet means) or ``"none"``.
    """
    if mode not in MODES:
        raise ValueError(f"Unknown preprocessing mode {mode!r}; expected one of {MODES}.")
    x = ops.cast(x, "float32")
    if x.shape[-1] == 1:
        x = ops.repeat(x, 3, axis=-1)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        mean = ops.convert_to_tensor(IMAGENET_MEAN, "float32")
        std = ops.convert_to_tensor(IMAGENET_STD, "float32")
        return (x / 255.0 - mean) / std
    if mode == "caffe":
        return ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEAN_BGR, "float32")
    return x


def preprocessing(backbone: str) -> Callable[[Any], Any]:
    """The function mapping raw [0, 255] RGB (or gray) pixels for ``backbone``.

    Models from :func:`transfer` already contain it; use this in a data
    pipeline only for a model built without it.
    """
    mode = get_backbone(backbone).mode

    def preprocess(x: Any) -> Any:
        return apply_preprocessing(x, mode)

    preprocess.__name__ = f"preprocess_{get_backbone(backbone).name}"
    return preprocess


@keras.saving.register_keras_serializable(package="cnnlabs")
class BackbonePreprocessing(layers.Layer):
    """Raw [0, 255] pixels -> a backbone's input scale; gray is repeated to RGB.

    Holds no weights: the constants follow from ``mode``, so ``model.save`` /
    ``keras.models.load_model`` restore it from its config alone.
    """

    def __init__(self, mode: str = "tf", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Unknown preprocessing mode {mode!r}; expected one of {MODES}.")
        self.mode = mode

    def call(self, inputs: Any) -> Any:
        return apply_preprocessing(inputs, self.mode)

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        return (*tuple(input_shape)[:-1], 3)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


# --------------------------------------------------------------------------- weights


def keras_cache_dir() -> Path:
    """The folder Keras caches downloads in: ``$KERAS_HOME``, else ``~/.keras``.

    Like ``keras.utils.get_file``, falls back to ``/tmp/.keras`` when the
    folder is not writable.
    """
    base = Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()
    try:
        base.mkdir(parents=True, exist_ok=True)  # as Keras does for its home when imported
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        tmp = Path("/tmp")
        base = (tmp if tmp.is_dir() else Path(tempfile.gettempdir())) / ".keras"
    return base


def weights_path(backbone: str, input_shape: Sequence[int] = (224, 224, 3)) -> Path:
    """Where the ``include_top=False`` ImageNet weights of ``backbone`` are (to be) cached.

    A file of this name placed there beforehand is used without network
    (for MobileNetV2 as is; for the others it must match Keras' md5 hash).
    """
    spec = get_backbone(backbone)
    return keras_cache_dir() / "models" / spec.weights_file(input_shape)


def _unavailable_message(spec: Backbone, input_shape: Sequence[int], target: Path,
                         error: BaseException) -> str:
    hash_note = (
        f"Keras checks its md5 hash ({spec.file_hash}), so it must be the official file"
        if spec.file_hash
        else "Keras does not check its hash"
    )
    mismatch = ""
    if target.exists():
        mismatch = (" (a file of that name is there, but its md5 does not match: "
                    "replace it with the official file, or delete it to download again)")
    return (
        f"ImageNet weights for {spec.name} are not available: could not use or download "
        f"{spec.weights_file(input_shape)!r} ({type(error).__name__}: {error}).\n"
        f"  official URL: {spec.weights_url(input_shape)}\n"
        f"  place it at:  {target}{mismatch}\n"
        f"A file of that name at that path is used without any network access; "
        f"{hash_note}. The folder is $KERAS_HOME/models (KERAS_HOME defaults to ~/.keras).\n"
        f"Alternatives: transfer(..., weights='path/to/{spec.weights_file(input_shape)}') "
        f"loads a copy stored elsewhere; weights=None trains from random "
        f"initialisation (no pretraining: much worse accuracy on small data sets)."
    )


def fetch_weights(backbone: str, input_shape: Sequence[int] = (224, 224, 3)) -> Path:
    """Path of the cached ImageNet ``include_top=False`` weights, downloading them if needed.

    Raises:
        WeightsUnavailableError: when the file is not cached and cannot be
            downloaded; the message names the file, its URL and where to put it.
    """
    spec = get_backbone(backbone)
    target = weights_path(spec.name, input_shape)
    if target.exists():
        # A cached or pre-placed file: checked once here (Keras would delete a mismatching
        # file and download again; the user's file is kept instead).
        from cnnlabs.datasets.download import md5_file

        if spec.file_hash and md5_file(target) != spec.file_hash:
            raise WeightsUnavailableError(_unavailable_message(
                spec, input_shape, target, ValueError("md5 mismatch")))
        return target
    try:
        found = keras.utils.get_file(
            spec.weights_file(input_shape),
            spec.weights_url(input_shape),
            cache_subdir="models",
            file_hash=spec.file_hash,
            cache_dir=str(target.parent.parent),
        )
    except Exception as error:  # noqa: BLE001 - any download failure means "unavailable"
        if target.exists():
            target.unlink()  # a download that failed its hash check
        raise WeightsUnavailableError(
            _unavailable_message(spec, input_shape, target, error)
        ) from error
    return Path(found)


# --------------------------------------------------------------------------- the model


def transfer(
    backbone: str,
    input_shape: Sequence[int] = (224, 224, 3),
    classes: int = 2,
    weights: str | Path | None = "imagenet",
    dropout: float = 0.2,
    name: str | None = None,
) -> keras.Model:
    """A classifier on a ``keras.applications`` backbone, for raw [0, 255] pixels.

    Layers: ``image`` -> ``preprocess`` (:class:`BackbonePreprocessing`) ->
    ``backbone`` (nested, ``include_top=False``, called with ``training=False``)
    -> ``avg_pool`` -> ``dropout`` -> ``predictions`` (softmax, float32).
    The backbone comes back **frozen** (:func:`freeze_backbone`), ready for
    the feature-extraction phase; see :func:`unfreeze_top` for fine-tuning.

    Args:
        backbone: one of :data:`BACKBONES` (case-insensitive).
        input_shape: (H, W, C) with H, W >= 32 and C 1 (gray, repeated) or 3.
        classes: number of output classes.
        weights: ``"imagenet"`` (cached or downloaded), ``None`` (random) or
            the path of backbone weights (an official ``*_notop.h5`` file or a
            ``.weights.h5`` saved from the backbone).
        dropout: dropout rate before the classifier (0 for none).
        name: model name; default ``transfer_<backbone>``.

    Raises:
        ValueError: unknown backbone, bad shape or class count.
        WeightsUnavailableError: ``"imagenet"`` weights neither cached nor downloadable.
        FileNotFoundError: ``weights`` is a path that does not exist.

    Example:
        >>> model = transfer("mobilenetv2", (224, 224, 3), 2, weights=None)
        >>> model.count_params()
        2260546
    """
    spec = get_backbone(backbone)
    h, w, c = check_input(spec.name, input_shape, spec.min_size)
    if c not in (1, 3):
        raise ValueError(f"{spec.name} expects 1 (gray) or 3 (RGB) channels; got {c}.")
    classes = check_classes(classes)
    if not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"dropout must be in [0, 1); got {dropout}.")

    weights_file: str | None = None
    if isinstance(weights, str) and weights == "imagenet":
        weights_file = str(fetch_weights(spec.name, (h, w, 3)))
    elif weights is not None:
        if not Path(weights).is_file():
            raise FileNotFoundError(f"No weights file at {weights}.")
        weights_file = str(weights)

    else:
        warnings.warn(
            f"NO PRETRAINED WEIGHTS: {spec.name} starts from random weights (weights=None). "
            "This is not transfer learning, and its accuracy says nothing about it; use "
            "weights='imagenet' (or a weights file) for real results.",
            NoPretrainedWeightsWarning,
            stacklevel=2,
        )

    base = spec.application()(include_top=False, weights=None, input_shape=(h, w, 3),
                              name="backbone")
    if weights_file is not None:
        try:
            base.load_weights(weights_file)
        except (OSError, ValueError) as exc:  # a cut-short download, or another network's file
            raise WeightsUnavailableError(
                f"Cannot read the {spec.name} weights in {weights_file} "
                f"({type(exc).__name__}: {exc}). The file is probably incomplete (a download "
                f"cut short) or not {spec.name}'s include_top=False weights for {h}x{w} inputs. "
                + (f"It was left as it is: delete it to download again, or replace it with "
                   f"the official file, {spec.weights_url((h, w, 3))}."
                   if weights == "imagenet" else
                   "It was left as it is: pass a complete copy of the weights file.")
            ) from exc

    inputs = keras.Input((h, w, c), name="image")
    x = BackbonePreprocessing(spec.mode, name="preprocess")(inputs)
    x = base(x, training=False)  # BatchNormalization always in inference mode
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    if dropout:
        x = layers.Dropout(float(dropout), name="dropout")(x)
    outputs = predictions(x, int(classes))
    model = keras.Model(inputs, outputs, name=name or f"transfer_{spec.name}")
    freeze_backbone(model)
    return model


def backbone_of(model: keras.Model) -> keras.Model:
    """The nested backbone (the layer named ``"backbone"``) of a :func:`transfer` model."""
    try:
        return model.get_layer("backbone")
    except ValueError as error:
        raise ValueError(
            f"Model {model.name!r} has no layer named 'backbone'; build it with transfer()."
        ) from error


def _backbone_layers(base: keras.Model) -> list[keras.layers.Layer]:
    return [lyr for lyr in base.layers if not isinstance(lyr, layers.InputLayer)]


def freeze_backbone(model: keras.Model) -> keras.Model:
    """Freeze the whole backbone: only the head trains (feature extraction).

    Re-compile the model afterwards. Returns ``model``.
    """
    backbone_of(model).trainable = False
    return model


def unfreeze_top(model: keras.Model, num_layers: int) -> keras.Model:
    """Fine-tune the top ``num_layers`` layers of the backbone; everything below stays frozen.

    Layers are counted in ``backbone.layers`` order (the input layer
    excluded); ``num_layers`` larger than the backbone unfreezes all of it.
    BatchNormalization layers always stay frozen (and, being called with
    ``training=False``, in inference mode). Re-compile the model afterwards.

    Raises:
        ValueError: ``num_layers`` <= 0 (use :func:`freeze_backbone`).
    """
    if int(num_layers) <= 0:
        raise ValueError(f"num_layers must be a positive number of layers; got {num_layers}. "
                         "To freeze the whole backbone use freeze_backbone(model).")
    base = backbone_of(model)
    base.trainable = True
    stack = _backbone_layers(base)
    first = max(0, len(stack) - int(num_layers))
    for i, lyr in enumerate(stack):
        lyr.trainable = i >= first and not isinstance(lyr, layers.BatchNormalization)
    return model


def _count(variables: Sequence[Any]) -> int:
    return sum(math.prod(int(d) for d in v.shape) for v in variables)


def trainable_summary(model: keras.Model) -> dict[str, int]:
    """Trainable / non-trainable parameter counts and trainable backbone layers.

    Keys: ``trainable_params``, ``non_trainable_params``, ``total_params``,
    ``backbone_layers`` (layers of the backbone, input excluded) and
    ``trainable_backbone_layers`` (of those, the ones with trainable weights).
    """
    base = backbone_of(model)
    trainable = _count(model.trainable_weights)
    frozen = _count(model.non_trainable_weights)
    stack = _backbone_layers(base)
    return {
        "trainable_params": trainable,
        "non_trainable_params": frozen,
        "total_params": trainable + frozen,
        "backbone_layers": len(stack),
        "trainable_backbone_layers": sum(1 for lyr in stack if lyr.trainable_weights),
    }
