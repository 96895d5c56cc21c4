"""Model builders: one file per architecture family, one registry.

``build(name, input_shape, classes)`` is the single entry point the CLI, the
recipes and the notebooks use. Each family module registers its builders with
the :func:`register` decorator; :func:`names` and :func:`build` import the
family modules on first use, so ``import cnnlabs.models`` stays cheap (no
TensorFlow) until a model is needed.

Every builder takes ``include_top`` and ``pooling`` as ``keras.applications``
does: ``include_top=False`` returns the feature extractor (up to the last
convolutional feature map), optionally globally pooled, to use as a backbone.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cnnlabs.arithmetic import is_integer

if TYPE_CHECKING:
    import keras

Builder = Callable[..., "keras.Model"]

#: model name -> builder, filled by the @register decorators of the family modules.
_BUILDERS: dict[str, Builder] = {}
#: Modules of this package that hold no @register builders: never imported by the registry.
_NOT_FAMILIES = frozenset({"transfer_learning"})
_discovered = False

#: The ``pooling`` values of a feature extractor (``include_top=False``).
POOLING = (None, "avg", "max")


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator: make ``fn(input_shape, classes, **kwargs)`` buildable as ``name``.

    Names are case-insensitive (kept in lower case).

    Raises:
        ValueError: when another builder already has ``name``.
    """
    key = name.lower()

    def wrap(fn: Builder) -> Builder:
        known = _BUILDERS.get(key)
        if known is not None and (known.__module__, known.__qualname__) != (
                fn.__module__, fn.__qualname__):
            raise ValueError(f"Model name {name!r} is already registered by "
                             f"{known.__module__}.{known.__qualname__}; choose another name.")
        _BUILDERS[key] = fn
        return fn

    return wrap


def _discover() -> None:
    """Import every family module once, so that their @register decorators have run."""
    global _discovered
    if _discovered:
        return
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_") and module.name not in _NOT_FAMILIES:
            importlib.import_module(f"{__name__}.{module.name}")
    _discovered = True


def names() -> list[str]:
    """Every model name :func:`build` accepts, sorted."""
    _discover()
    return sorted(_BUILDERS)


def get_builder(name: str) -> Builder:
    """The builder function registered as ``name`` (case-insensitive).

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    _discover()
    key = str(name).lower()
    if key not in _BUILDERS:
        raise ValueError(f"Unknown model {name!r}. Valid models: {', '.join(names())}.")
    return _BUILDERS[key]


def build(name: str, input_shape: Sequence[int], classes: int | None,
          **kwargs: Any) -> keras.Model:
    """Build model ``name`` for images of ``input_shape`` (H, W, C) and ``classes`` outputs.

    Args:
        name: a registered model name (see :func:`names`).
        input_shape: (height, width, channels).
        classes: output classes, 2 or more. With ``include_top=False`` there is
            no classifier: ``classes`` is ignored and may be None (a number given
            is still checked).
        **kwargs: the builder's own options, e.g. ``include_top=False`` and
            ``pooling="avg"`` for the feature extractor.

    Raises:
        ValueError: for an unknown name, a bad class count or a bad option.

    Example:
        >>> model = build("lenet", (28, 28, 1), 10)
        >>> model.count_params()
        1256080
        >>> build("lenet", (28, 28, 1), None, include_top=False, pooling="avg").output_shape
        (None, 50)
    """
    builder = get_builder(name)
    if classes is None:
        if kwargs.get("include_top", True):
            raise ValueError(f"{name}: classes=None builds no classifier; give the number of "
                             "classes, or pass include_top=False for the feature extractor.")
    else:
        classes = check_classes(classes)
    # Every builder checks input_shape with check_input, which also makes it ints.
    return builder(tuple(input_shape), classes, **kwargs)


def check_classes(classes: Any) -> int:
    """``classes`` as an int of 2 or more: a softmax over one class always outputs 1.0,
    so its loss is 0 and nothing would train.

    Raises:
        ValueError: for a non-integer or a number below 2.
    """
    if not is_integer(classes) or classes < 2:
        raise ValueError(f"classes must be a whole number of 2 or more (one softmax output "
                         f"per class); got {classes!r}.")
    return int(classes)


def predictions(x: Any, classes: int, **dense_kwargs: Any) -> Any:
    """The softmax output layer every classifier here ends with, named ``predictions``.

    It always computes in float32, so that a model built under the
    ``mixed_float16`` policy (``training.set_precision``) still produces exact,
    well-scaled probabilities; under the default float32 policy this changes nothing.
    """
    from keras import layers

    return layers.Dense(classes, activation="softmax", dtype="float32", name="predictions",
                        **dense_kwargs)(x)


def check_top(include_top: bool, pooling: str | None) -> None:
    """Check a builder's ``include_top`` and ``pooling`` before anything is built.

    Raises:
        ValueError: for a ``pooling`` other than None, ``"avg"`` and ``"max"``, or
            a ``pooling`` given with ``include_top=True`` (the classifier has its own).
    """
    if pooling not in POOLING:
        raise ValueError(f"pooling must be None (the 4D feature map), 'avg' (global average) "
                         f"or 'max' (global max pooling); got {pooling!r}.")
    if include_top and pooling is not None:
        raise ValueError(f"pooling={pooling!r} applies to the feature extractor only: pass "
                         "include_top=False with it, or leave pooling=None for the classifier.")


def feature_extractor(inputs: Any, features: Any, pooling: str | None, name: str) -> keras.Model:
    """The model ``include_top=False`` returns: ``inputs`` -> ``features``, pooled by ``pooling``.

    Args:
        inputs: the model's ``keras.Input``.
        features: the last convolutional feature map (batch, H, W, C).
        pooling: None keeps the 4D map; ``"avg"`` or ``"max"`` pools it globally to
            (batch, C) with a layer named ``avg_pool`` or ``max_pool``.
        name: the model's name (the same as the full classifier's).
    """
    import keras

    if pooling == "avg":
        features = keras.layers.GlobalAveragePooling2D(name="avg_pool")(features)
    elif pooling == "max":
        features = keras.layers.GlobalMaxPooling2D(name="max_pool")(features)
    return keras.Model(inputs, features, name=name)


def check_input(name: str, input_shape: Sequence[int], min_size: int) -> tuple[int, int, int]:
    """Validate ``input_shape`` as (H, W, C) with H, W >= ``min_size``; return it as ints.

    Raises:
        ValueError: naming the model, the shape and the minimum size.
    """
    if not all(is_integer(d) for d in input_shape):
        raise ValueError(f"{name}: input_shape must be whole numbers (height, width, "
                         f"channels); got {tuple(input_shape)}.")
    shape = tuple(int(d) for d in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"{name} expects input_shape (height, width, channels); got {shape}.")
    if shape[0] < min_size or shape[1] < min_size:
        raise ValueError(
            f"{name} needs images of at least {min_size}x{min_size} pixels; got "
            f"{shape[0]}x{shape[1]}. Resize or pad the input."
        )
    return shape  # type: ignore[return-value]


def architecture(model: keras.Model) -> list[tuple[str, tuple, int]]:
    """(layer class, output shape, parameters) for each layer of ``model`` except the input."""
    rows = []
    for layer in model.layers:
        if layer.__class__.__name__ == "InputLayer":
            continue
        shape = tuple(layer.output.shape[1:])
        rows.append((layer.__class__.__name__, shape, int(layer.count_params())))
    return rows


def compare(model: keras.Model, reference: keras.Model) -> list[str]:
    """Differences between two models' layer sequences (empty: same architecture).

    A notebook that builds a model by hand uses this to check it against the
    library's builder: same layer types in the same order, same output shapes,
    same parameter counts.
    """
    ours, theirs = architecture(model), architecture(reference)
    problems = []
    if len(ours) != len(theirs):
        problems.append(f"{len(ours)} layers against {len(theirs)}")
    for i, (a, b) in enumerate(zip(ours, theirs, strict=False), start=1):
        if a != b:
            problems.append(f"layer {i}: {a} against {b}")
    if model.count_params() != reference.count_params():
        problems.append(f"{model.count_params():,} parameters against {reference.count_params():,}")
    return problems


def ensemble(members: Sequence[keras.Model], name: str = "ensemble") -> keras.Model:
    """One model whose output is the mean of the ``members``' outputs.

    For classifiers ending in softmax this averages their class probabilities, the
    plain ensemble: several networks trained alike from different seeds make
    different mistakes, and their mean ranks the samples better than most of
    them alone. The result is an ordinary Keras model: ``predict``, ``evaluate``,
    ``evaluation.evaluate_binary`` and ``save`` work on it. The members share
    their weights with it (nothing is copied) and appear in it as ``member_0``,
    ``member_1``, ...

    Example:
        >>> a, b = build("lenet", (28, 28, 1), 10), build("lenet", (28, 28, 1), 10)
        >>> ensemble([a, b]).count_params() == 2 * a.count_params()
        True

    Raises:
        ValueError: for fewer than two members, a member without exactly one
            input and one output, or members whose input or output shapes differ.
    """
    import keras

    members = list(members)
    if len(members) < 2:
        raise ValueError(f"An ensemble needs at least two models; got {len(members)}.")
    for i, member in enumerate(members):
        if len(member.inputs) != 1 or len(member.outputs) != 1:
            raise ValueError(
                f"Member {i} ({member.name}) has {len(member.inputs)} inputs and "
                f"{len(member.outputs)} outputs; an ensemble member needs one of each."
            )
    in_shapes = [tuple(m.inputs[0].shape[1:]) for m in members]
    out_shapes = [tuple(m.outputs[0].shape[1:]) for m in members]
    for what, shapes in (("input", in_shapes), ("output", out_shapes)):
        if len(set(shapes)) > 1:
            raise ValueError(f"Ensemble members must share one {what} shape; got {shapes}.")
    inputs = keras.Input(in_shapes[0], name="image")
    # Wrapping each member under its own name lets copies of one architecture
    # (all called "resnet_medmnist", say) sit side by side in one model.
    outputs = [keras.Model(m.inputs[0], m.outputs[0], name=f"member_{i}")(inputs)
               for i, m in enumerate(members)]
    mean = keras.layers.Average(dtype="float32", name="mean")(outputs)
    return keras.Model(inputs, mean, name=name)


#: Names of cnnlabs.models.transfer_learning available as cnnlabs.models.<name>.
_TRANSFER_API = frozenset({
    "BACKBONES", "PREPROCESS", "Backbone", "BackbonePreprocessing", "NoPretrainedWeightsWarning",
    "WeightsUnavailableError",
    "apply_preprocessing", "backbone_of", "fetch_weights", "freeze_backbone", "get_backbone",
    "keras_cache_dir", "preprocessing", "trainable_summary", "transfer", "unfreeze_top",
    "weights_path",
})


def __getattr__(name: str) -> Any:
    """``models.transfer``, ``models.freeze_backbone``...: imported on first use."""
    if name in _TRANSFER_API:
        return getattr(importlib.import_module("cnnlabs.models.transfer_learning"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
