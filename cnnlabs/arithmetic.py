"""Convolution arithmetic: output sizes, padding, parameters, memory, receptive fields.

Everything here is plain Python integer arithmetic, so the answers are exact
and the module imports instantly (no TensorFlow). The lab notebooks and the
tests check these numbers against the shapes and parameter counts Keras
produces.

Conventions
-----------
* Sizes are one spatial dimension at a time. A layer with a square kernel on a
  square input applies the same formula to height and width.
* ``padding`` is either a number of zeros added on *each* side, or one of the
  Keras names: ``"valid"`` (no padding) or ``"same"`` (enough padding that the
  output has ``ceil(input / stride)`` positions, as Keras and TensorFlow do).
* A dilated kernel of size ``F`` with dilation ``d`` covers
  ``d * (F - 1) + 1`` input positions (its *effective* size).
* Shapes are channels-last, as in Keras: ``(height, width, channels)``.

The central formula, for an input of size ``W``, kernel ``F``, padding ``P``
and stride ``S``::

    output = floor((W - F + 2P) / S) + 1

Example: ``output_size(224, 7, stride=1, padding=3)`` is
``(224 - 7 + 2*3) / 1 + 1 = 224``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "LENET5_SPECS",
    "VGG16_SPECS",
    "LayerRow",
    "LayerSpec",
    "ReceptiveField",
    "Totals",
    "activation_memory_bytes",
    "conv_params",
    "dense_params",
    "effective_kernel",
    "format_table",
    "is_integer",
    "layer_table",
    "output_size",
    "pool_output_size",
    "receptive_field",
    "same_padding",
    "same_padding_amounts",
    "totals",
]

Padding = int | str
Kernel = int | tuple[int, int]
LayerKind = Literal["conv", "pool", "dense", "flatten"]

_PADDING_NAMES = ("valid", "same")


# --------------------------------------------------------------------------- validation


def _positive(name: str, value: object) -> int:
    """``value`` as an int, or a ValueError saying that ``name`` must be a positive integer.

    NumPy integers (``np.prod(shape)``, an array element) count as integers; bools do not.
    """
    if not is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def is_integer(value: object) -> bool:
    """True for Python and NumPy integers, False for bools, floats and everything else.

    The one test of "a whole number" that cnnlabs' argument checks share.
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _padding(padding: Padding) -> int | str:
    """Normalise ``padding`` to a non-negative int or ``"valid"``/``"same"``."""
    if isinstance(padding, str):
        name = padding.lower()
        if name not in _PADDING_NAMES:
            raise ValueError(
                f"padding must be 'valid', 'same' or a non-negative integer, got {padding!r}."
            )
        return name
    if not is_integer(padding) or padding < 0:
        raise ValueError(
            f"padding must be 'valid', 'same' or a non-negative integer, got {padding!r}."
        )
    return int(padding)


def _pair(name: str, value: Kernel) -> tuple[int, int]:
    """An int or an ``(h, w)`` pair as a validated ``(h, w)`` pair."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or an (height, width) pair, got {value!r}.")
        return _positive(f"{name} height", value[0]), _positive(f"{name} width", value[1])
    size = _positive(name, value)
    return size, size


# --------------------------------------------------------------------------- sizes


def effective_kernel(kernel: int, dilation: int = 1) -> int:
    """The number of input positions a dilated kernel spans: ``dilation * (kernel - 1) + 1``.

    >>> effective_kernel(3, dilation=2)
    5
    """
    kernel = _positive("kernel", kernel)
    dilation = _positive("dilation", dilation)
    return dilation * (kernel - 1) + 1


def output_size(
    input_size: int,
    kernel: int,
    stride: int = 1,
    padding: Padding = 0,
    dilation: int = 1,
    *,
    exact: bool = False,
) -> int:
    """The number of output positions of a convolution or pooling window along one axis.

    For an integer ``padding`` (zeros on each side) this is
    ``floor((W - F + 2P) / S) + 1`` with ``F`` the effective (dilated) kernel size.
    ``"valid"`` means ``P = 0``. ``"same"`` gives ``ceil(W / S)``, whatever
    the kernel, because the framework pads as much as it needs to.

    Args:
        input_size: ``W``, positions along the axis (e.g. the image width).
        kernel: ``F``, the kernel (or pooling window) size.
        stride: ``S``, the step between windows.
        padding: ``P`` zeros on each side, or ``"valid"`` / ``"same"``.
        dilation: spacing between kernel taps (1: an ordinary kernel).
        exact: when True, raise if the windows do not tile the padded input
            exactly (``(W - F + 2P)`` not divisible by ``S``). Keras, TensorFlow
            and PyTorch silently drop the leftover positions (the floor); some
            textbooks call such hyperparameters invalid.

    Returns:
        The output size along this axis.

    Raises:
        ValueError: for non-positive sizes, negative or unknown padding, a
            kernel that does not fit in the padded input, or (with ``exact``)
            a stride that does not tile the input.

    >>> output_size(224, 7, stride=1, padding=3)
    224
    >>> output_size(227, 11, stride=4)
    55
    >>> output_size(7, 3, stride=2, padding="same")
    4
    """
    input_size = _positive("input_size", input_size)
    stride = _positive("stride", stride)
    span = effective_kernel(kernel, dilation)
    pad = _padding(padding)
    if pad == "same":
        return math.ceil(input_size / stride)
    pad = 0 if pad == "valid" else pad
    padded = input_size + 2 * pad
    if span > padded:
        raise ValueError(
            f"A kernel spanning {span} positions does not fit in an input of size "
            f"{input_size} with padding {pad} on each side ({padded} positions). "
            "Use a smaller kernel, more padding, or padding='same'."
        )
    if exact and (padded - span) % stride:
        raise ValueError(
            f"Stride {stride} does not tile the input exactly: (W - F + 2P) = "
            f"{padded - span} is not divisible by {stride}; the last "
            f"{(padded - span) % stride} position(s) would be dropped."
        )
    return (padded - span) // stride + 1


def same_padding(kernel: int, dilation: int = 1) -> int:
    """Zeros to add on *each* side so that a stride-1 convolution keeps the input size.

    This is ``(F - 1) / 2`` for an odd effective kernel size ``F``: 1 for a 3x3
    kernel, 2 for a 5x5 and 3 for a 7x7. Even kernels cannot be centred, so
    they need one more zero on one side than on the other; use
    :func:`same_padding_amounts` for them (and for strides above 1).

    Raises:
        ValueError: when the effective kernel size is even.

    >>> same_padding(3), same_padding(5), same_padding(3, dilation=2)
    (1, 2, 2)
    """
    span = effective_kernel(kernel, dilation)
    if span % 2 == 0:
        raise ValueError(
            f"An even kernel (effective size {span}) has no symmetric 'same' padding; "
            "use same_padding_amounts(), which puts the extra zero after the input."
        )
    return (span - 1) // 2


def same_padding_amounts(
    input_size: int, kernel: int, stride: int = 1, dilation: int = 1
) -> tuple[int, int]:
    """The ``(before, after)`` zeros Keras/TensorFlow add for ``padding="same"``.

    The total is whatever makes ``ceil(W / S)`` windows fit; when it is odd the
    extra zero goes *after* the input (bottom or right), as TensorFlow does.

    >>> same_padding_amounts(7, 3)
    (1, 1)
    >>> same_padding_amounts(6, 3, stride=2)
    (0, 1)
    """
    input_size = _positive("input_size", input_size)
    stride = _positive("stride", stride)
    span = effective_kernel(kernel, dilation)
    out = math.ceil(input_size / stride)
    total = max((out - 1) * stride + span - input_size, 0)
    return total // 2, total - total // 2


def pool_output_size(
    input_size: int, pool: int = 2, stride: int | None = None, padding: Padding = "valid"
) -> int:
    """The output size of a pooling layer: :func:`output_size` with stride defaulting to ``pool``.

    >>> pool_output_size(224), pool_output_size(55, pool=3, stride=2)
    (112, 27)
    """
    return output_size(input_size, pool, stride if stride is not None else pool, padding)


# --------------------------------------------------------------------------- parameters, memory


def conv_params(kernel: Kernel, in_channels: int, filters: int, bias: bool = True) -> int:
    """Trainable parameters of a 2-D convolution: ``F*F*D_in*K`` weights plus ``K`` biases.

    ``kernel`` is ``F`` for a square kernel or ``(F_h, F_w)``; ``D_in`` is
    ``in_channels`` and ``K`` is ``filters``.

    >>> conv_params(5, 6, 16)
    2416
    >>> conv_params((3, 3), 3, 64, bias=False)
    1728
    """
    height, width = _pair("kernel", kernel)
    in_channels = _positive("in_channels", in_channels)
    filters = _positive("filters", filters)
    return height * width * in_channels * filters + (filters if bias else 0)


def dense_params(inputs: int, units: int, bias: bool = True) -> int:
    """Trainable parameters of a fully connected layer: ``inputs * units`` weights plus ``units``.

    >>> dense_params(400, 120)
    48120
    """
    inputs = _positive("inputs", inputs)
    units = _positive("units", units)
    return inputs * units + (units if bias else 0)


def activation_memory_bytes(values: int, bytes_per_value: int = 4) -> int:
    """Bytes needed to hold ``values`` numbers (4 per value for float32, 2 for float16).

    >>> activation_memory_bytes(1_000_000)
    4000000
    """
    if not is_integer(values) or values < 0:
        raise ValueError(f"values must be a non-negative integer, got {values!r}.")
    return int(values) * _positive("bytes_per_value", bytes_per_value)


# --------------------------------------------------------------------------- receptive fields


@dataclass(frozen=True)
class ReceptiveField:
    """What one unit of a layer's output sees of the network's input, along one axis.

    Attributes:
        size: the receptive field, in input pixels.
        jump: the distance, in input pixels, between neighbouring output units
            (the product of all strides so far, also called the effective stride).
    """

    size: int
    jump: int


def receptive_field(layers: Iterable[tuple[int, ...] | LayerSpec]) -> list[ReceptiveField]:
    """The receptive field after each layer of a stack of convolutions and poolings.

    Each layer grows the field by ``(F_eff - 1) * jump`` where ``jump`` is the
    product of the strides before it; its own stride then multiplies the jump::

        size_out = size_in + (F_eff - 1) * jump_in,   jump_out = jump_in * S

    Padding shifts where the field sits but not how big it is, so it plays no part.

    Args:
        layers: ``(kernel, stride)`` or ``(kernel, stride, dilation)`` tuples, or
            ``conv``/``pool`` :class:`LayerSpec` objects with square kernels.

    Returns:
        One :class:`ReceptiveField` per layer, in order.

    Raises:
        ValueError: for a dense or flatten layer (a dense unit sees the whole
            input), a non-square kernel, or invalid sizes.

    >>> [rf.size for rf in receptive_field([(3, 1), (3, 1), (3, 1)])]
    [3, 5, 7]
    >>> [rf.size for rf in receptive_field([(3, 1), (2, 2), (3, 1)])]
    [3, 4, 8]
    """
    size, jump = 1, 1
    fields: list[ReceptiveField] = []
    for layer in layers:
        if isinstance(layer, LayerSpec):
            if layer.kind not in ("conv", "pool"):
                raise ValueError(
                    f"Layer {layer.name or layer.kind!r} is a {layer.kind} layer; receptive "
                    "fields are defined for conv and pool layers only (a dense unit sees "
                    "the whole input)."
                )
            kh, kw = layer.kernel_hw
            sh, sw = layer.stride_hw
            if kh != kw or sh != sw:
                raise ValueError(f"Layer {layer.name!r} is not square; give one axis as tuples.")
            kernel, stride, dilation = kh, sh, layer.dilation
        else:
            if not 2 <= len(layer) <= 3:
                raise ValueError(
                    f"Each layer must be (kernel, stride) or (kernel, stride, dilation), "
                    f"got {layer!r}."
                )
            kernel, stride = layer[0], layer[1]
            dilation = layer[2] if len(layer) == 3 else 1
        span = effective_kernel(kernel, dilation)
        size += (span - 1) * jump
        jump *= _positive("stride", stride)
        fields.append(ReceptiveField(size=size, jump=jump))
    return fields


# --------------------------------------------------------------------------- layer tables


@dataclass(frozen=True)
class LayerSpec:
    """One layer of a network, described by just what the arithmetic needs.

    Build specs with the class methods :meth:`conv`, :meth:`pool`, :meth:`dense`
    and :meth:`flatten` rather than filling the fields by hand. Activations,
    dropout and the like are left out: they change neither shapes nor
    parameter counts.

    Attributes:
        kind: ``"conv"``, ``"pool"``, ``"dense"`` or ``"flatten"``.
        name: the label printed in tables (blank: ``kind`` plus position).
        filters: output channels of a conv layer.
        units: outputs of a dense layer.
        kernel: kernel size of a conv layer, window size of a pool layer.
        stride: step of the window (``None`` for a pool: the window size).
        padding: zeros per side, ``"valid"`` or ``"same"``.
        dilation: spacing between kernel taps (conv only).
        mode: ``"max"`` or ``"avg"`` (pool only; it does not change the arithmetic).
        bias: whether a conv or dense layer has biases.
    """

    kind: LayerKind
    name: str = ""
    filters: int | None = None
    units: int | None = None
    kernel: Kernel = 1
    stride: Kernel | None = 1
    padding: Padding = "valid"
    dilation: int = 1
    mode: Literal["max", "avg"] = "max"
    bias: bool = True

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "pool", "dense", "flatten"):
            raise ValueError(
                f"kind must be 'conv', 'pool', 'dense' or 'flatten', got {self.kind!r}."
            )
        if self.kind == "conv":
            _positive("filters", self.filters)
        if self.kind == "dense":
            _positive("units", self.units)
        if self.kind in ("conv", "pool"):
            _pair("kernel", self.kernel)
            _pair("stride", self.stride if self.stride is not None else self.kernel)
            _padding(self.padding)
            _positive("dilation", self.dilation)
        if self.mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg', got {self.mode!r}.")

    @classmethod
    def conv(
        cls,
        filters: int,
        kernel: Kernel,
        stride: Kernel = 1,
        padding: Padding = "valid",
        *,
        dilation: int = 1,
        bias: bool = True,
        name: str = "",
    ) -> LayerSpec:
        """A 2-D convolution with ``filters`` output channels."""
        return cls(
            "conv",
            name,
            filters=filters,
            kernel=kernel,
            stride=stride,
            padding=padding,
            dilation=dilation,
            bias=bias,
        )

    @classmethod
    def pool(
        cls,
        size: Kernel = 2,
        stride: Kernel | None = None,
        padding: Padding = "valid",
        *,
        mode: Literal["max", "avg"] = "max",
        name: str = "",
    ) -> LayerSpec:
        """A 2-D pooling window (stride defaults to the window size, as in Keras)."""
        return cls("pool", name, kernel=size, stride=stride, padding=padding, mode=mode)

    @classmethod
    def dense(cls, units: int, *, bias: bool = True, name: str = "") -> LayerSpec:
        """A fully connected layer over a flat input."""
        return cls("dense", name, units=units, bias=bias)

    @classmethod
    def flatten(cls, name: str = "flatten") -> LayerSpec:
        """Reshape a feature map into a vector (no parameters, no new values)."""
        return cls("flatten", name)

    @property
    def kernel_hw(self) -> tuple[int, int]:
        """The kernel (or pool window) as ``(height, width)``."""
        return _pair("kernel", self.kernel)

    @property
    def stride_hw(self) -> tuple[int, int]:
        """The stride as ``(height, width)``; a pool without a stride steps by its window."""
        return _pair("stride", self.stride if self.stride is not None else self.kernel)

    def describe(self) -> str:
        """A short human description, e.g. ``conv 5x5 s1 valid``."""
        if self.kind in ("conv", "pool"):
            kh, kw = self.kernel_hw
            sh, sw = self.stride_hw
            stride = f"s{sh}" if sh == sw else f"s{sh}x{sw}"
            label = "conv" if self.kind == "conv" else f"{self.mode}pool"
            extra = f" d{self.dilation}" if self.dilation != 1 else ""
            return f"{label} {kh}x{kw} {stride} {self.padding}{extra}"
        if self.kind == "dense":
            return f"dense {self.units}"
        return "flatten"


@dataclass(frozen=True)
class LayerRow:
    """One row of a layer table: what a layer outputs and what it stores.

    Attributes:
        name: the layer's label.
        kind: ``"input"``, ``"conv"``, ``"pool"``, ``"dense"`` or ``"flatten"``.
        description: e.g. ``conv 3x3 s1 same``.
        output_shape: channels-last, e.g. ``(28, 28, 6)`` or ``(120,)``.
        activations: values in the output, the product of ``output_shape``.
        weights: kernel or matrix entries.
        biases: bias entries.
    """

    name: str
    kind: str
    description: str
    output_shape: tuple[int, ...]
    activations: int
    weights: int
    biases: int

    @property
    def params(self) -> int:
        """Trainable parameters: weights plus biases."""
        return self.weights + self.biases

    @property
    def stores_activations(self) -> bool:
        """False for flatten, which is a reshape: its output reuses its input's memory."""
        return self.kind != "flatten"


def layer_table(specs: Sequence[LayerSpec], input_shape: Sequence[int]) -> list[LayerRow]:
    """Walk ``specs`` from ``input_shape`` and describe each layer's output and parameters.

    The first row is the input itself. Conv and pool layers need a
    ``(height, width, channels)`` input; a dense layer needs a flat one, so put
    a flatten between them (as Keras does).

    Raises:
        ValueError: when a layer cannot take the shape it receives (a kernel
            larger than the feature map, a dense layer on an unflattened map ...);
            the message names the layer.
    """
    shape = tuple(input_shape)
    for size in shape:
        _positive("input_shape entries", size)
    if len(shape) not in (1, 3):
        raise ValueError(
            f"input_shape must be (height, width, channels) or (features,), got {shape!r}."
        )
    rows = [LayerRow("input", "input", "input", shape, math.prod(shape), 0, 0)]
    for index, spec in enumerate(specs, start=1):
        name = spec.name or f"{spec.kind}{index}"
        weights = biases = 0
        if spec.kind in ("conv", "pool"):
            if len(shape) != 3:
                raise ValueError(
                    f"Layer {name!r} ({spec.kind}) needs a (height, width, channels) input, "
                    f"got {shape!r}."
                )
            height, width, channels = shape
            kh, kw = spec.kernel_hw
            sh, sw = spec.stride_hw
            try:
                out_h = output_size(height, kh, sh, spec.padding, spec.dilation)
                out_w = output_size(width, kw, sw, spec.padding, spec.dilation)
            except ValueError as error:
                raise ValueError(f"Layer {name!r}: {error}") from error
            if spec.kind == "conv":
                assert spec.filters is not None
                weights = kh * kw * channels * spec.filters
                biases = spec.filters if spec.bias else 0
                channels = spec.filters
            shape = (out_h, out_w, channels)
        elif spec.kind == "flatten":
            shape = (math.prod(shape),)
        else:  # dense
            assert spec.units is not None
            if len(shape) != 1:
                raise ValueError(
                    f"Layer {name!r} (dense) needs a flat input, got {shape!r}; "
                    "add LayerSpec.flatten() before it."
                )
            weights = shape[0] * spec.units
            biases = spec.units if spec.bias else 0
            shape = (spec.units,)
        rows.append(
            LayerRow(name, spec.kind, spec.describe(), shape, math.prod(shape), weights, biases)
        )
    return rows


@dataclass(frozen=True)
class Totals:
    """Totals over a layer table.

    Attributes:
        params: trainable parameters (weights plus biases).
        weights: parameters without the biases.
        activations: values stored for one example's forward pass, input
            included, flatten rows excluded (a reshape stores nothing new).
    """

    params: int
    weights: int
    activations: int

    def activation_bytes(self, bytes_per_value: int = 4) -> int:
        """Bytes for :attr:`activations` at ``bytes_per_value`` each (4: float32)."""
        return activation_memory_bytes(self.activations, bytes_per_value)


def totals(rows: Iterable[LayerRow]) -> Totals:
    """Sum parameters and stored activations over ``rows`` (see :class:`Totals`)."""
    rows = list(rows)
    return Totals(
        params=sum(row.params for row in rows),
        weights=sum(row.weights for row in rows),
        activations=sum(row.activations for row in rows if row.stores_activations),
    )


def format_table(rows: Sequence[LayerRow], bytes_per_value: int | None = None) -> str:
    """A plain-text table of ``rows`` with a total line; integers only, so it prints stably.

    With ``bytes_per_value`` a column gives each layer's activation memory in
    kilobytes (1 kB = 1,000 bytes), rounded to a whole number.
    """
    header = ["layer", "type", "output shape", "activations", "params"]
    if bytes_per_value is not None:
        header.append("memory kB")
    lines: list[list[str]] = [header]
    for row in rows:
        activations = f"{row.activations:,}" if row.stores_activations else f"({row.activations:,})"
        cells = [
            row.name,
            row.description,
            "x".join(str(n) for n in row.output_shape),
            activations,
            f"{row.params:,}",
        ]
        if bytes_per_value is not None:
            stored = row.activations if row.stores_activations else 0
            cells.append(f"{round(activation_memory_bytes(stored, bytes_per_value) / 1e3):,}")
        lines.append(cells)
    total = totals(rows)
    footer = ["total", "", "", f"{total.activations:,}", f"{total.params:,}"]
    if bytes_per_value is not None:
        footer.append(f"{round(total.activation_bytes(bytes_per_value) / 1e3):,}")
    lines.append(footer)
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    numeric = {3, 4, 5}
    text = []
    for n, line in enumerate(lines):
        cells = [
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        ]
        text.append("  ".join(cells).rstrip())
        if n == 0 or n == len(lines) - 2:
            text.append("  ".join("-" * width for width in widths))
    return "\n".join(text)


#: LeNet-5 (LeCun, Bottou, Bengio and Haffner, "Gradient-Based Learning Applied
#: to Document Recognition", Proc. IEEE 1998) on a 32x32x1 input, in the form
#: most courses tabulate: parameter-free subsampling, C3 connected to all six
#: S2 maps, and a plain 10-unit output layer. Parameters per layer: C1 156,
#: C3 2,416, C5 48,120, F6 10,164, output 850; 61,706 in all. (The paper's own
#: network differs in three places: each subsampling map had a trainable
#: coefficient and bias, 12 and 32 parameters for S2 and S4; C3 used a sparse
#: connection table, 1,516 parameters; and the output was a layer of radial
#: basis functions.) C5 is a 5x5 convolution on a 5x5 map, so its output is
#: 1x1x120 and it is the same as a dense layer on the 400 flattened values.
LENET5_SPECS: tuple[LayerSpec, ...] = (
    LayerSpec.conv(6, 5, name="C1"),
    LayerSpec.pool(2, mode="avg", name="S2"),
    LayerSpec.conv(16, 5, name="C3"),
    LayerSpec.pool(2, mode="avg", name="S4"),
    LayerSpec.conv(120, 5, name="C5"),
    LayerSpec.flatten(),
    LayerSpec.dense(84, name="F6"),
    LayerSpec.dense(10, name="output"),
)


def _vgg_block(block: int, convs: int, filters: int) -> list[LayerSpec]:
    layers = [
        LayerSpec.conv(filters, 3, padding="same", name=f"block{block}_conv{i}")
        for i in range(1, convs + 1)
    ]
    layers.append(LayerSpec.pool(2, name=f"block{block}_pool"))
    return layers


#: VGG16, configuration D of Simonyan and Zisserman, "Very Deep Convolutional
#: Networks for Large-Scale Image Recognition" (ICLR 2015), on a 224x224x3
#: input with 1,000 classes. Layer names follow ``keras.applications.VGG16``.
#: 138,357,544 parameters (138,344,128 weights and 13,416 biases). One image's
#: forward pass stores 15,237,608 values including the input: 60,950,432 bytes
#: in float32, about 61 MB.
VGG16_SPECS: tuple[LayerSpec, ...] = (
    *_vgg_block(1, 2, 64),
    *_vgg_block(2, 2, 128),
    *_vgg_block(3, 3, 256),
    *_vgg_block(4, 3, 512),
    *_vgg_block(5, 3, 512),
    LayerSpec.flatten(),
    LayerSpec.dense(4096, name="fc1"),
    LayerSpec.dense(4096, name="fc2"),
    LayerSpec.dense(1000, name="predictions"),
)
