"""NumPy reference implementations of convolution, pooling and activations.

These are written for reading, not for speed: each function is a direct
transcription of the definition, and the tests check every one of them
against the Keras op that a real network uses.

Conventions (the same as Keras with its default ``channels_last``):

* An image or feature map is ``(H, W)`` or ``(H, W, C)``; a batch of them is
  ``(N, H, W, C)``, as a Keras layer takes it. The rank decides: 3 axes are
  always one image with ``C`` channels, never a batch of ``(H, W)`` maps, so
  a batch of grayscale images carries its channel axis, ``(N, H, W, 1)``.
  :func:`conv2d`, :func:`conv2d_fft`, :func:`max_pool2d`, :func:`avg_pool2d`
  and :func:`pad` take all three forms and give one result per image: a
  batch in, a batch out.
* A kernel bank is ``(kh, kw, C_in, K)``: height, width, input channels,
  output channels (filters). A single filter may be given as ``(kh, kw)`` or
  ``(kh, kw, C_in)``; it then produces one ``(H', W')`` map.
* "Convolution" means cross-correlation, as in every deep learning framework:
  the kernel is slid over the image *without* being flipped. The true
  (flipped) convolution appears only in :func:`conv2d_fft`, where the
  convolution theorem needs it.
* ``padding`` is zeros per side (an int), ``"valid"`` (none) or ``"same"``
  (TensorFlow's rule: the output has ``ceil(H / stride)`` rows, and an odd
  total padding puts the extra zero at the bottom/right).

Each activation has its exact derivative next to it (``relu_grad`` ...);
:data:`ACTIVATIONS` pairs every activation with its derivative by name, and
:func:`derivative` looks one up. :func:`dropout` and :func:`batch_norm` are
the two layers whose behaviour differs between training and inference.

The module also holds the lectures' worked examples as data (:data:`TOY_IMAGE`,
:data:`TOY_FILTERS`, :data:`PADDING_EXAMPLE`, :data:`STRIDE_EXAMPLE_IMAGE`) and
the classic hand-made kernels (:data:`CLASSIC_KERNELS`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from cnnlabs import arithmetic

__all__ = [
    "ACTIVATIONS",
    "CLASSIC_KERNELS",
    "PADDING_EXAMPLE",
    "STRIDE_EXAMPLE_IMAGE",
    "STRIDE_EXAMPLE_KERNEL",
    "TOY_FILTERS",
    "TOY_IMAGE",
    "TOY_KERNELS",
    "Activation",
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "conv2d_fft",
    "derivative",
    "dropout",
    "elu",
    "elu_grad",
    "gelu",
    "gelu_grad",
    "leaky_relu",
    "leaky_relu_grad",
    "max_pool2d",
    "pad",
    "relu",
    "relu6",
    "relu6_grad",
    "relu_grad",
    "sigmoid",
    "sigmoid_grad",
    "softmax",
    "tanh",
    "tanh_grad",
]

Pair = int | tuple[int, int]
PadSpec = int | tuple[tuple[int, int], tuple[int, int]]


def _frozen(array: np.ndarray) -> np.ndarray:
    """Make a module-level constant read-only, so no caller can change it for everyone."""
    array.setflags(write=False)
    return array


# --------------------------------------------------------------------------- worked examples

#: The 6x6 binary image of the lectures' worked example (seed 001). Its two
#: diagonals and vertical strokes are what :data:`TOY_FILTERS` look for.
#: (One copy of the image in the seed's stride-1 slide drops the 1 in the
#: second column of rows 2 and 5; that copy is a slide typo.)
TOY_IMAGE: np.ndarray = _frozen(
    np.array(
        [
            [1, 0, 0, 0, 0, 1],
            [0, 1, 0, 0, 1, 0],
            [0, 0, 1, 1, 0, 0],
            [1, 0, 0, 0, 1, 0],
            [0, 1, 0, 0, 1, 0],
            [0, 0, 1, 0, 1, 0],
        ]
    )
)

#: The two 3x3 filters of the worked example: filter 1 responds to a
#: down-right diagonal, filter 2 to a vertical line. At stride 1 on
#: :data:`TOY_IMAGE` they give these 4x4 maps::
#:
#:     filter 1:  3 -1 -3 -1      filter 2: -1 -1 -1 -1
#:               -3  1  0 -3                -1 -1 -2  1
#:               -3 -3  0  1                -1 -1 -2  1
#:                3 -2 -2 -1                -1  0 -4  3
#:
#: At stride 2 filter 1 gives ``[[3, -3], [-3, 0]]``. 2x2 max pooling of the
#: stride-1 maps gives ``[[3, 0], [3, 1]]`` and ``[[-1, 1], [0, 3]]``. (The
#: seed's text shows the stride-1 maps cut into 2x2 blocks, in an order the
#: extraction scrambled; the values are the ones above.)
TOY_FILTERS: tuple[np.ndarray, np.ndarray] = (
    _frozen(np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]])),
    _frozen(np.array([[-1, 1, -1], [-1, 1, -1], [-1, 1, -1]])),
)

#: :data:`TOY_FILTERS` as one Keras-style kernel bank of shape (3, 3, 1, 2).
TOY_KERNELS: np.ndarray = _frozen(np.stack(TOY_FILTERS, axis=-1)[:, :, np.newaxis, :])

#: The 7x7 feature map of the lectures' padding slide (seed 001). The slide pads
#: it with 2 zeros per side, giving 11x11. With a 5x5 kernel that is "same"
#: padding (the output stays 7x7); with a 3x3 kernel it is "full" padding
#: (``P = F - 1``, every position the kernel can touch: 9x9 out). A 3x3 kernel
#: keeps 7x7 with ``P = 1``.
PADDING_EXAMPLE: np.ndarray = _frozen(
    np.array(
        [
            [6, 3, 4, 4, 5, 0, 3],
            [4, 7, 4, 0, 4, 0, 4],
            [7, 0, 2, 3, 4, 5, 2],
            [3, 7, 5, 0, 3, 0, 7],
            [5, 8, 1, 2, 5, 4, 2],
            [8, 0, 1, 0, 6, 0, 0],
            [6, 4, 1, 3, 0, 4, 5],
        ]
    )
)

#: The 7x7 image of the stride slide (seed 003, slide 24). With
#: :data:`STRIDE_EXAMPLE_KERNEL` at stride 2 it gives the 3x3 map
#: ``[[91, 100, 88], [69, 91, 117], [44, 72, 74]]``. The slide's first row
#: reads 91, 100, 83: the 83 is an arithmetic slip for 88. The text extraction
#: also lost the zeros: the last row starts with 0, and the kernel has zeros in
#: its centre column below the first row.
STRIDE_EXAMPLE_IMAGE: np.ndarray = _frozen(
    np.array(
        [
            [2, 3, 7, 4, 6, 2, 9],
            [6, 6, 9, 8, 7, 4, 3],
            [3, 4, 8, 3, 8, 9, 7],
            [7, 8, 3, 6, 6, 3, 4],
            [4, 2, 1, 8, 3, 4, 6],
            [3, 2, 4, 1, 9, 8, 3],
            [0, 1, 3, 9, 2, 1, 4],
        ]
    )
)

#: The 3x3 kernel of the stride slide (see :data:`STRIDE_EXAMPLE_IMAGE`).
STRIDE_EXAMPLE_KERNEL: np.ndarray = _frozen(np.array([[3, 4, 4], [1, 0, 2], [-1, 0, 3]]))

#: Hand-made 3x3 kernels from the lectures' "kernel effects" slide (seed 003),
#: plus sharpening. ``edge_laplacian_4`` is the slide's "edge detection 2"
#: (its zeros were lost in the text), ``edge_laplacian_8`` is "edge detection 1".
#: Identity, the edge kernels and sharpen each sum to 1, 0, 0 and 1; the box
#: blur averages its 3x3 neighbourhood.
CLASSIC_KERNELS: dict[str, np.ndarray] = {
    "identity": _frozen(np.array([[0.0, 0, 0], [0, 1, 0], [0, 0, 0]])),
    "edge_laplacian_4": _frozen(np.array([[0.0, 1, 0], [1, -4, 1], [0, 1, 0]])),
    "edge_laplacian_8": _frozen(np.array([[-1.0, -1, -1], [-1, 8, -1], [-1, -1, -1]])),
    "sharpen": _frozen(np.array([[0.0, -1, 0], [-1, 5, -1], [0, -1, 0]])),
    "box_blur": _frozen(np.full((3, 3), 1.0 / 9.0)),
}


# --------------------------------------------------------------------------- helpers


def _pair(name: str, value: Pair) -> tuple[int, int]:
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a (height, width) pair, got {value!r}.")
        pair = (value[0], value[1])
    else:
        pair = (value, value)
    for item in pair:
        if isinstance(item, bool) or not isinstance(item, int | np.integer) or item < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(pair[0]), int(pair[1])


_IMAGE_SHAPES = "(H, W), (H, W, C) or a batch (N, H, W, C)"


def _as_nhwc(x: np.ndarray, what: str) -> np.ndarray:
    """View one image ``(H, W)`` or ``(H, W, C)``, or a batch ``(N, H, W, C)``, as a batch."""
    x = np.asarray(x)
    if x.ndim == 2:
        return x[np.newaxis, :, :, np.newaxis]
    if x.ndim == 3:
        return x[np.newaxis]
    if x.ndim == 4:
        return x
    raise ValueError(
        f"{what} must be {_IMAGE_SHAPES}, got shape {x.shape}. "
        f"Stack single images with np.stack(images) to make a batch; give a batch of "
        f"grayscale images its channel axis, (N, H, W, 1)."
    )


def _unbatch(out: np.ndarray, rank: int) -> np.ndarray:
    """Give a batched result ``(N, H', W', ...)`` back the layout of an input of ``rank`` axes.

    A batch stays a batch; one image ``(H, W, C)`` loses the batch axis, and
    one ``(H, W)`` map loses the channel axis too.
    """
    if rank == 4:
        return out
    return out[0, :, :, 0] if rank == 2 else out[0]


def _padding_amounts(
    padding: int | str, size: tuple[int, int], window: tuple[int, int], stride: tuple[int, int]
) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((top, bottom), (left, right))`` zeros for ``padding`` on an (H, W) input."""
    if isinstance(padding, str):
        name = padding.lower()
        if name == "valid":
            return (0, 0), (0, 0)
        if name == "same":
            rows = arithmetic.same_padding_amounts(size[0], window[0], stride[0])
            cols = arithmetic.same_padding_amounts(size[1], window[1], stride[1])
            return rows, cols
    elif not isinstance(padding, bool) and isinstance(padding, int | np.integer) and padding >= 0:
        return (int(padding), int(padding)), (int(padding), int(padding))
    raise ValueError(f"padding must be 'valid', 'same' or a non-negative integer, got {padding!r}.")


def _check_fits(size: tuple[int, int], window: tuple[int, int], what: str) -> None:
    if window[0] > size[0] or window[1] > size[1]:
        raise ValueError(
            f"The {what} ({window[0]}x{window[1]}) is larger than the padded input "
            f"({size[0]}x{size[1]}). Use a smaller {what}, or more padding."
        )


def pad(x: np.ndarray, padding: PadSpec, value: float = 0.0) -> np.ndarray:
    """Pad the two spatial axes of an image, a feature map or a batch; channels are left alone.

    On a batch this is what ``keras.layers.ZeroPadding2D`` does (with
    ``value=0``): every image gets the same border, and the batch and channel
    axes keep their sizes.

    Args:
        x: one image ``(H, W)`` or ``(H, W, C)``, or a batch ``(N, H, W, C)``.
        padding: the same number of values on every side, or
            ``((top, bottom), (left, right))``.
        value: the fill value (zero padding by default).

    Returns:
        ``x`` with ``top + bottom`` more rows and ``left + right`` more
        columns, in the layout it came in and with its dtype.

    Raises:
        ValueError: for another rank of ``x``, or a negative or malformed ``padding``.

    >>> pad(np.ones((2, 2)), 1).shape
    (4, 4)
    >>> pad(np.ones((8, 2, 2, 3)), ((1, 0), (0, 2))).shape
    (8, 3, 4, 3)
    """
    x = np.asarray(x)
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"x must be {_IMAGE_SHAPES}, got shape {x.shape}.")
    if isinstance(padding, int | np.integer) and not isinstance(padding, bool):
        if padding < 0:
            raise ValueError(f"padding must be non-negative, got {padding}.")
        widths = [(int(padding), int(padding))] * 2
    else:
        try:
            (top, bottom), (left, right) = padding  # type: ignore[misc]
        except (TypeError, ValueError):
            raise ValueError(
                f"padding must be an int or ((top, bottom), (left, right)), got {padding!r}."
            ) from None
        widths = [(int(top), int(bottom)), (int(left), int(right))]
        if min(top, bottom, left, right) < 0:
            raise ValueError(f"padding must be non-negative, got {padding!r}.")
    if x.ndim == 4:
        widths = [(0, 0), *widths, (0, 0)]
    else:
        widths += [(0, 0)] * (x.ndim - 2)
    return np.pad(x, widths, mode="constant", constant_values=value)


# --------------------------------------------------------------------------- convolution


def conv2d(
    image: np.ndarray,
    kernels: np.ndarray,
    stride: Pair = 1,
    padding: int | str = 0,
    bias: float | np.ndarray | None = None,
    dilation: Pair = 1,
) -> np.ndarray:
    """2-D cross-correlation (a CNN "convolution"), the kernel not flipped.

    Each output value is the sum of an elementwise product between the kernel
    and the patch of the (padded) image under it, over all input channels,
    plus the filter's bias. A batch ``(N, H, W, C_in)`` with a bank
    ``(kh, kw, C_in, K)`` gives what ``keras.ops.conv`` (and a ``Conv2D``
    layer) gives: every image is convolved with the same kernels, all at once.

    Args:
        image: one image ``(H, W)`` or ``(H, W, C_in)``, or a batch
            ``(N, H, W, C_in)``. Three axes are always one image.
        kernels: ``(kh, kw)`` or ``(kh, kw, C_in)`` for one filter, or a
            Keras-style bank ``(kh, kw, C_in, K)``.
        stride: step between windows, an int or ``(sh, sw)``.
        padding: zeros per side, ``"valid"`` or ``"same"``.
        bias: a scalar, or one value per filter (``(K,)``).
        dilation: spacing between kernel taps, an int or ``(dh, dw)``.

    Returns:
        For one image, ``(H', W')`` for a single filter and ``(H', W', K)``
        for a bank; for a batch, ``(N, H', W')`` and ``(N, H', W', K)``.
        ``H'`` is given by :func:`cnnlabs.arithmetic.output_size`. Integer
        inputs give an integer result, so the worked examples print as whole
        numbers.

    Raises:
        ValueError: for an image or kernel of another rank, channels that
            differ between the image (or batch) and the kernel, a kernel
            larger than the padded image, or invalid stride/padding/dilation.

    >>> conv2d(TOY_IMAGE, TOY_FILTERS[0])[0]
    array([ 3, -1, -3, -1])
    """
    rank = np.ndim(image)
    x = _as_nhwc(image, "image")
    k = np.asarray(kernels)
    if k.ndim == 2:
        bank = k[:, :, np.newaxis, np.newaxis]
    elif k.ndim == 3:
        bank = k[:, :, :, np.newaxis]
    elif k.ndim == 4:
        bank = k
    else:
        raise ValueError(
            f"kernels must be (kh, kw), (kh, kw, C_in) or (kh, kw, C_in, K), got shape {k.shape}."
        )
    if bank.shape[2] != x.shape[3]:
        held = "each image of the batch has" if rank == 4 else "the image has"
        raise ValueError(
            f"The kernel expects {bank.shape[2]} input channel(s) but {held} "
            f"{x.shape[3]} (image shape {np.shape(image)}, kernel shape {k.shape}). "
            f"The kernel's third axis must equal the image's last axis."
        )
    sh, sw = _pair("stride", stride)
    dh, dw = _pair("dilation", dilation)
    kh, kw = bank.shape[:2]
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)
    (top, bottom), (left, right) = _padding_amounts(padding, x.shape[1:3], span, (sh, sw))
    x = pad(x, ((top, bottom), (left, right)))
    _check_fits(x.shape[1:3], span, "kernel")
    # windows[n, i, j, c] is the span-sized patch of image n whose top-left corner is (i, j).
    windows = sliding_window_view(x, span, axis=(1, 2))[:, ::sh, ::sw, :, ::dh, ::dw]
    out = np.einsum("nijcab,abck->nijk", windows, bank, optimize=True)
    if bias is not None:
        out = out + np.asarray(bias)
    if rank < 4:
        out = out[0]
    return out[..., 0] if k.ndim < 4 else out


def conv2d_fft(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The same 'valid' cross-correlation as :func:`conv2d`, computed with the FFT.

    The convolution theorem says that convolving two signals multiplies their
    Fourier transforms. Cross-correlation is convolution with a flipped
    kernel, so: flip the kernel, zero-pad both arrays to the size of the full
    linear convolution (so the FFT's circular wrap-around does no harm),
    multiply the transforms, transform back, and keep the positions where the
    kernel lies wholly inside the image.

    Args:
        image: ``(H, W)``, or ``(H, W, C)`` with a kernel ``(kh, kw, C)``
            (one filter; the channels are summed), or a batch ``(N, H, W, C)``.
        kernel: ``(kh, kw)`` or ``(kh, kw, C)``.

    Returns:
        A float ``(H - kh + 1, W - kw + 1)`` array for one image,
        ``(N, H - kh + 1, W - kw + 1)`` for a batch, equal to
        ``conv2d(image, kernel)`` up to floating-point rounding.

    Raises:
        ValueError: for an image or kernel of another rank, channels that
            differ between the image and the kernel, or a kernel larger than
            the image.
    """
    batched = np.ndim(image) == 4
    x = _as_nhwc(image, "image").astype(float)
    k = np.asarray(kernel, dtype=float)
    if k.ndim == 2:
        k = k[:, :, np.newaxis]
    elif k.ndim != 3:
        raise ValueError(
            f"kernel must be one filter, (kh, kw) or (kh, kw, C), got shape {k.shape}. "
            f"Use conv2d for a bank of filters (kh, kw, C, K)."
        )
    if k.shape[2] != x.shape[3]:
        raise ValueError(
            f"The kernel expects {k.shape[2]} input channel(s) but the image has {x.shape[3]}."
        )
    height, width = x.shape[1:3]
    kh, kw = k.shape[:2]
    _check_fits((height, width), (kh, kw), "kernel")
    full = (height + kh - 1, width + kw - 1)
    flipped = k[::-1, ::-1, :]
    spectrum = np.fft.rfft2(x, s=full, axes=(1, 2)) * np.fft.rfft2(flipped, s=full, axes=(0, 1))
    convolved = np.fft.irfft2(spectrum, s=full, axes=(1, 2)).sum(axis=3)
    maps = convolved[:, kh - 1 : height, kw - 1 : width]
    return maps if batched else maps[0]


# --------------------------------------------------------------------------- pooling


def _pool_windows(
    x: np.ndarray, pool: Pair, stride: Pair | None, padding: str, fill: float
) -> tuple[np.ndarray, np.ndarray]:
    """Windows ``(N, H', W', C, ph, pw)`` of the padded batch, and which cells are real."""
    data = _as_nhwc(x, "x")
    window = _pair("pool", pool)
    steps = _pair("stride", stride if stride is not None else pool)
    if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
        raise ValueError(f"padding must be 'valid' or 'same' for pooling, got {padding!r}.")
    amounts = _padding_amounts(padding, data.shape[1:3], window, steps)
    padded = data
    if any(amounts[0]) or any(amounts[1]):
        # -inf does not fit an integer array; padding is only needed for "same".
        padded = pad(data.astype(np.result_type(data.dtype, np.float32)), amounts, value=fill)
    _check_fits(padded.shape[1:3], window, "pooling window")
    real = pad(np.ones(data.shape[1:3]), amounts)
    windows = sliding_window_view(padded, window, axis=(1, 2))[:, :: steps[0], :: steps[1]]
    mask = sliding_window_view(real, window)[:: steps[0], :: steps[1]]
    return windows, mask


def max_pool2d(
    x: np.ndarray, pool: Pair = 2, stride: Pair | None = None, padding: str = "valid"
) -> np.ndarray:
    """Max pooling: the largest value of each window, channel by channel.

    On a batch ``(N, H, W, C)`` this is ``keras.ops.max_pool`` (and a
    ``MaxPooling2D`` layer): each image is pooled on its own.

    Args:
        x: one image ``(H, W)`` or ``(H, W, C)``, or a batch ``(N, H, W, C)``.
            Three axes are always one image.
        pool: the window, an int or ``(ph, pw)``.
        stride: the step (default: the window, so windows do not overlap).
        padding: ``"valid"`` or ``"same"``; "same" pads with -inf, so padded
            cells never win.

    Returns:
        ``(H', W')``, ``(H', W', C)`` or ``(N, H', W', C)``, the layout of
        ``x``, with ``H'`` given by :func:`cnnlabs.arithmetic.pool_output_size`.

    Raises:
        ValueError: for ``x`` of another rank, a window larger than the
            (padded) input, or an invalid pool/stride/padding.

    >>> max_pool2d(np.arange(16).reshape(4, 4))
    array([[ 5,  7],
           [13, 15]])
    """
    windows, _ = _pool_windows(x, pool, stride, padding, fill=-np.inf)
    return _unbatch(windows.max(axis=(-2, -1)), np.ndim(x))


def avg_pool2d(
    x: np.ndarray, pool: Pair = 2, stride: Pair | None = None, padding: str = "valid"
) -> np.ndarray:
    """Average pooling: the mean of each window, channel by channel.

    With ``padding="same"`` the padded cells are left out of the mean (each
    edge window averages only the real values it covers), as in TensorFlow.
    On a batch ``(N, H, W, C)`` this is ``keras.ops.average_pool`` (and an
    ``AveragePooling2D`` layer). Arguments, shapes and errors as in
    :func:`max_pool2d`; the result is always float.
    """
    windows, mask = _pool_windows(x, pool, stride, padding, fill=0.0)
    counts = mask.sum(axis=(-2, -1))[:, :, np.newaxis]  # (H', W', 1): the same for every image
    return _unbatch(windows.sum(axis=(-2, -1)) / counts, np.ndim(x))


# --------------------------------------------------------------------------- activations


def relu(x: np.ndarray) -> np.ndarray:
    """Rectified linear unit: ``max(0, x)``."""
    return np.maximum(x, 0)


def relu6(x: np.ndarray) -> np.ndarray:
    """ReLU capped at 6: ``min(max(0, x), 6)`` (used by MobileNet)."""
    return np.clip(x, 0, 6)


def leaky_relu(x: np.ndarray, negative_slope: float = 0.2) -> np.ndarray:
    """``x`` for positive inputs, ``negative_slope * x`` otherwise.

    The default slope 0.2 is that of ``keras.activations.leaky_relu``; the
    ``keras.layers.LeakyReLU`` layer defaults to 0.3 and PyTorch to 0.01.
    """
    x = np.asarray(x)
    return np.where(x > 0, x, negative_slope * x)


def elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Exponential linear unit: ``x`` for positive inputs, ``alpha * (exp(x) - 1)`` otherwise."""
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic sigmoid ``1 / (1 + exp(-x))``, evaluated without overflow for large ``|x|``."""
    x = np.asarray(x, dtype=float)
    # exp of a non-positive number never overflows; pick the form that needs only that.
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + z), z / (1.0 + z))


def tanh(x: np.ndarray) -> np.ndarray:
    """Hyperbolic tangent, ``2 * sigmoid(2x) - 1``."""
    return np.tanh(np.asarray(x, dtype=float))


def gelu(x: np.ndarray) -> np.ndarray:
    """Gaussian error linear unit, exact form: ``x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))``.

    ``Phi`` is the standard normal CDF. This matches
    ``keras.activations.gelu(x, approximate=False)``, not the tanh approximation.
    """
    from scipy.special import erf  # scipy comes with scikit-learn and scikit-image

    x = np.asarray(x, dtype=float)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along ``axis``, shifted by the maximum so that ``exp`` cannot overflow."""
    x = np.asarray(x, dtype=float)
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


# --------------------------------------------------------------------------- derivatives
#
# Where an activation has a kink (ReLU at 0, ReLU6 at 0 and 6, Leaky ReLU and
# ELU at 0) the derivative does not exist. Each function below then returns
# the value TensorFlow's automatic differentiation uses, which is also the
# branch the activation itself takes at that point: 0 for ReLU at 0, 0 for
# ReLU6 at both ends, the negative slope for Leaky ReLU, and ``alpha`` (the
# slope from the left) for ELU.


def relu_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of :func:`relu`: 1 for ``x > 0``, 0 otherwise (0 at the kink)."""
    return (np.asarray(x) > 0).astype(float)


def relu6_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of :func:`relu6`: 1 for ``0 < x < 6``, 0 otherwise (0 at both kinks)."""
    x = np.asarray(x)
    return ((x > 0) & (x < 6)).astype(float)


def leaky_relu_grad(x: np.ndarray, negative_slope: float = 0.2) -> np.ndarray:
    """Derivative of :func:`leaky_relu`: 1 for ``x > 0``, ``negative_slope`` otherwise.

    The slope never drops to zero, so a unit with negative input still learns.
    """
    return np.where(np.asarray(x) > 0, 1.0, float(negative_slope))


def elu_grad(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """Derivative of :func:`elu`: 1 for ``x > 0``, ``alpha * exp(x)`` otherwise.

    Both sides meet at 1 when ``alpha`` is 1, so ELU's slope is continuous there;
    at ``x = 0`` this returns the slope from the left, ``alpha``.
    """
    x = np.asarray(x, dtype=float)
    return np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0)))


def sigmoid_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of :func:`sigmoid`: ``s(x) * (1 - s(x))``, at most 0.25 (at ``x = 0``).

    Computed as ``z / (1 + z)**2`` with ``z = exp(-|x|)`` (the derivative is
    even), which keeps full relative precision far into the tails, where
    ``s * (1 - s)`` would round to 0.
    """
    z = np.exp(-np.abs(np.asarray(x, dtype=float)))
    return z / (1.0 + z) ** 2


def tanh_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of :func:`tanh`: ``1 - tanh(x)**2 = sech(x)**2``, at most 1 (at ``x = 0``).

    Computed as ``4 z / (1 + z)**2`` with ``z = exp(-2|x|)``, which neither
    overflows nor loses the tails to rounding.
    """
    z = np.exp(-2.0 * np.abs(np.asarray(x, dtype=float)))
    return 4.0 * z / (1.0 + z) ** 2


def gelu_grad(x: np.ndarray) -> np.ndarray:
    """Derivative of the exact :func:`gelu`: ``Phi(x) + x * phi(x)``.

    ``Phi`` is the standard normal CDF and ``phi`` its density. Unlike ReLU's,
    this slope is smooth, dips slightly below 0 for negative inputs (to about
    -0.13 near ``x = -1.41``) and overshoots 1 for positive ones (to about 1.13).
    """
    from scipy.special import erf  # scipy comes with scikit-learn and scikit-image

    x = np.asarray(x, dtype=float)
    cdf = 0.5 * (1.0 + erf(x / math.sqrt(2.0)))
    density = np.exp(-0.5 * x**2) / math.sqrt(2.0 * math.pi)
    return cdf + x * density


class Activation(NamedTuple):
    """An activation function and its derivative, both NumPy functions of ``x``.

    Keyword parameters (``negative_slope`` for Leaky ReLU, ``alpha`` for ELU)
    are accepted by both, with the same defaults.
    """

    function: Callable[..., np.ndarray]
    derivative: Callable[..., np.ndarray]


#: Every element-wise activation of the labs, by its ``keras.activations``
#: name, as ``(function, derivative)``. Read-only. Softmax is not here: it
#: mixes its inputs, so its derivative is a matrix (a Jacobian), not a number
#: per input.
ACTIVATIONS: Mapping[str, Activation] = MappingProxyType(
    {
        "sigmoid": Activation(sigmoid, sigmoid_grad),
        "tanh": Activation(tanh, tanh_grad),
        "relu": Activation(relu, relu_grad),
        "leaky_relu": Activation(leaky_relu, leaky_relu_grad),
        "elu": Activation(elu, elu_grad),
        "relu6": Activation(relu6, relu6_grad),
        "gelu": Activation(gelu, gelu_grad),
    }
)


def derivative(name: str, x: np.ndarray, **params: float) -> np.ndarray:
    """The derivative of the activation called ``name`` at ``x``.

    ``params`` go to the derivative, e.g. ``derivative("elu", x, alpha=2.0)``.

    >>> float(derivative("sigmoid", 0.0))
    0.25

    Raises:
        ValueError: for an unknown name; the message lists the valid ones.
    """
    try:
        entry = ACTIVATIONS[name]
    except KeyError:
        valid = ", ".join(ACTIVATIONS)
        raise ValueError(f"Unknown activation {name!r}. Valid: {valid}.") from None
    return entry.derivative(x, **params)


# --------------------------------------------------------------------------- dropout, batch norm


def dropout(
    x: np.ndarray,
    rate: float,
    rng: np.random.Generator | int | None = None,
    training: bool = True,
) -> np.ndarray:
    """Inverted dropout, as ``keras.layers.Dropout`` does it.

    In training each entry is zeroed with probability ``rate`` and the
    survivors are multiplied by ``1 / (1 - rate)``, so every entry keeps its
    expected value and nothing needs rescaling at inference. At inference
    (``training=False``) the input passes through unchanged.

    Args:
        x: any array.
        rate: the probability of dropping an entry, from 0 up to 1 (1 drops everything).
        rng: a NumPy ``Generator``, or a seed for one (``None``: fresh entropy).
            An entry is dropped where ``rng.random(x.shape) < rate``.
        training: whether to drop at all.

    Returns:
        A new float array shaped like ``x``.

    Raises:
        ValueError: if ``rate`` is outside ``[0, 1]``.
    """
    if not 0.0 <= rate <= 1.0:
        raise ValueError(
            f"rate must be between 0 and 1 (the share of entries dropped), got {rate}."
        )
    x = np.asarray(x, dtype=float)
    if not training or rate == 0.0:
        return x.copy()
    if rate == 1.0:
        return np.zeros_like(x)
    dropped = np.random.default_rng(rng).random(x.shape) < rate
    return np.where(dropped, 0.0, x / (1.0 - rate))


def _per_channel(value: float | np.ndarray, what: str, shape: tuple[int, ...]) -> np.ndarray:
    """A number as it is, or one value per channel reshaped to ``shape`` to broadcast."""
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return array
    channels = math.prod(shape)
    if array.size != channels:
        raise ValueError(
            f"{what} must be a number or hold one value per channel ({channels}), "
            f"got shape {array.shape}."
        )
    return array.reshape(shape)


def batch_norm(
    x: np.ndarray,
    gamma: float | np.ndarray = 1.0,
    beta: float | np.ndarray = 0.0,
    eps: float = 1e-3,
    axis: int = -1,
    mean: np.ndarray | None = None,
    variance: np.ndarray | None = None,
) -> np.ndarray:
    """Batch normalisation: ``gamma * (x - mean) / sqrt(variance + eps) + beta``, per channel.

    ``axis`` is the channel axis (-1 for channels-last images); the mean and
    variance are taken over every other axis, the batch included. The
    defaults (``eps=1e-3``, ``axis=-1``) are those of
    ``keras.layers.BatchNormalization``.

    * Training mode (``mean`` and ``variance`` left out): the statistics of
      this very batch, with the biased variance (divided by the count, not
      the count minus one), as Keras uses them. With ``gamma=1`` and
      ``beta=0`` each channel of the output has mean 0 and variance
      ``v / (v + eps)``, just under 1.
    * Inference mode: pass the moving mean and variance a layer collected in
      training, one value per channel. Each sample is then normalised on its
      own, whatever else is in the batch.

    Args:
        x: the batch, e.g. ``(N, H, W, C)``.
        gamma, beta: the learned scale and shift, a number or one per channel.
        eps: added to the variance so that a constant channel does not divide by 0.
        axis: the channel axis.
        mean, variance: moving statistics for inference mode (both or neither).

    Raises:
        ValueError: when only one of ``mean`` and ``variance`` is given, or a
            per-channel argument has the wrong length.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 0:
        raise ValueError("x must have at least one axis.")
    channel_axis = axis % x.ndim
    others = tuple(i for i in range(x.ndim) if i != channel_axis)
    shape = tuple(x.shape[channel_axis] if i == channel_axis else 1 for i in range(x.ndim))
    if (mean is None) != (variance is None):
        raise ValueError("Give both mean and variance (inference mode) or neither (training mode).")
    if mean is None or variance is None:
        mu = x.mean(axis=others, keepdims=True)
        var = x.var(axis=others, keepdims=True)
    else:
        mu = _per_channel(mean, "mean", shape)
        var = _per_channel(variance, "variance", shape)
    scale = _per_channel(gamma, "gamma", shape)
    shift = _per_channel(beta, "beta", shape)
    return scale * (x - mu) / np.sqrt(var + eps) + shift
