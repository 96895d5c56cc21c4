"""Model builders: one file per architecture family, one registry.

``build(name, input_shape, classes)`` is the single entry point the CLI, the
recipes and the notebooks use. Each family module registers its builders with
:func:`register`; they are imported lazily so that ``import cnnlabs.models``
stays cheap until a model is actually built.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from cnnlabs.arithmetic import is_integer

if TYPE_CHECKING:
    import keras

Builder = Callable[..., "keras.Model"]

#: model name -> module that defines it (imported on first use).
_FAMILIES: dict[str, str] = {
    "lenet": "cnnlabs.models.lenet",
    "lenet5": "cnnlabs.models.lenet",
    "shallownet": "cnnlabs.models.shallownet",
    "alexnet": "cnnlabs.models.alexnet",
    "alexnet_cifar": "cnnlabs.models.alexnet",
    "vgg16": "cnnlabs.models.vgg",
    "minivggnet": "cnnlabs.models.minivggnet",
    "minigooglenet": "cnnlabs.models.minigooglenet",
    "resnet": "cnnlabs.models.resnet",
    "resnet_cifar": "cnnlabs.models.resnet",
    "resnet_small": "cnnlabs.models.resnet",
    "resnet_xray": "cnnlabs.models.resnet",
    "resnet_medmnist": "cnnlabs.models.resnet",
    "densenet_mini": "cnnlabs.models.densenet",
    "plain20": "cnnlabs.models.plainnet",
    "plain56": "cnnlabs.models.plainnet",
    "resnet20": "cnnlabs.models.plainnet",
    "resnet56": "cnnlabs.models.plainnet",
}
_BUILDERS: dict[str, Builder] = {}


def register(name: str) -> Callable[[Builder], Builder]:
    """Decorator: make ``fn(input_shape, classes, **kwargs)`` buildable as ``name``."""

    def wrap(fn: Builder) -> Builder:
        _BUILDERS[name] = fn
        return fn

    return wrap


def names() -> list[str]:
    """Every model name :func:`build` accepts, sorted."""
    return sorted(_FAMILIES)


def get_builder(name: str) -> Builder:
    """The builder function registered as ``name``.

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    key = name.lower()
    if key not in _FAMILIES:
        raise ValueError(f"Unknown model {name!r}. Valid models: {', '.join(names())}.")
    if key not in _BUILDERS:
        importlib.import_module(_FAMILIES[key])
    return _BUILDERS[key]


def build(name: str, input_shape: Sequence[int], classes: int, **kwargs: Any) -> keras.Model:
    """Build model ``name`` for images of ``input_shape`` (H, W, C) and ``classes`` outputs.

    Example:
        >>> model = build("lenet", (28, 28, 1), 10)
        >>> model.count_params()
        1256080
    """
    # Every builder checks input_shape with check_input, which also makes it ints.
    return get_builder(name)(tuple(input_shape), check_classes(classes), **kwargs)


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
