"""airbench94: Keller Jordan's fast CIFAR-10 network, in Keras 3.

The network of K. Jordan, "94% on CIFAR-10 in 3.29 seconds on a single GPU"
(arXiv:2404.00498, 2024; github.com/KellerJordan/cifar10-airbench). Its first layer
is a frozen 2x2 convolution whose filters whiten the image patches, set from the
training images before training (:func:`init_whitening`); three blocks follow, each
conv -> max pool -> BN -> GELU -> conv -> BN -> GELU. The BatchNorms have no
learnable scale and a fast momentum (0.6), and every 3x3 convolution starts as an
identity map on its first input channels (Dirac initialisation), an implicit
residual. The logits are scaled by 1/9 before the softmax. On 32x32x3 with 10
classes it has 1,973,944 parameters, 1,971,352 of them trainable:

=========  ==============================================  ========  =========
block      layers                                          output    params
=========  ==============================================  ========  =========
normalize  (x - CIFAR-10 mean) / std, per channel          32x32x3          0
whiten     PatchWhitening 2x2 valid, 24 filters, GELU      31x31x24   288 + 24
block1     Conv 64 3x3, MaxPool 2, BN, GELU,               15x15x64    50,688
           Conv 64 3x3, BN, GELU                                       + 384 BN
block2     the same with 256 filters                       7x7x256    737,280
                                                                     + 1,536 BN
block3     the same with 256 filters                       3x3x256  1,179,648
                                                                     + 1,536 BN
head       MaxPool 3, Flatten, Dense 10 (no bias),         10           2,560
           x 1/9, softmax
=========  ==============================================  ========  =========

(The whitening kernel, 288 values, is not trainable; its 24 biases are. Each BN
holds a trainable bias and its moving mean and variance.) The training recipe,
``recipes.RECIPES["airbench94"]``, holds the rest of the method: label smoothing,
Nesterov SGD with coupled weight decay, a 64x learning rate for the BN biases, a
triangular schedule, lookahead, alternating flips and 2-pixel translations, and
test-time augmentation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from keras import layers

from cnnlabs.models import check_input, check_top, feature_extractor, register

#: The per-channel mean and standard deviation of the CIFAR-10 training images, in [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
#: A 2x2 valid convolution, then three 2x2 poolings, then a 3x3 one: 1 + 3 * 2**3 = 25.
MIN_SIZE = 25
#: Images the whitening filters are estimated from (the original's 5,000).
WHITENING_IMAGES = 5000
#: Below this share of the largest eigenvalue, a patch direction counts as absent.
MIN_EIGENVALUE_RATIO = 1e-6


@keras.saving.register_keras_serializable(package="cnnlabs")
class PatchWhitening(layers.Layer):
    """A frozen ``k x k`` valid convolution that whitens image patches, with a learnable bias.

    A ``k x k x C`` patch has ``d = k * k * C`` values. The layer has ``2 d`` filters:
    the ``d`` eigenvectors of the patch covariance, each divided by the square root
    of its eigenvalue (plus ``eps``), and their negatives, so that after a GELU both
    signs of every whitened direction survive. The filters are set from data by
    :meth:`adapt` and never trained; the bias is trainable (the recipe freezes it
    after a few epochs).

    Args:
        kernel_size: the patch side ``k``.
        eps: added to every eigenvalue before the square root, so that directions
            with almost no variance are not blown up.
    """

    def __init__(self, kernel_size: int = 2, eps: float = 5e-4, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kernel_size = int(kernel_size)
        self.eps = float(eps)

    def build(self, input_shape: Sequence[int | None]) -> None:
        channels = int(input_shape[-1])
        self.patch_dims = self.kernel_size * self.kernel_size * channels
        self.kernel = self.add_weight(
            name="kernel", shape=(self.kernel_size, self.kernel_size, channels,
                                  2 * self.patch_dims),
            initializer="zeros", trainable=False)
        self.bias = self.add_weight(name="bias", shape=(2 * self.patch_dims,),
                                    initializer="zeros")

    def call(self, inputs: Any) -> Any:
        outputs = keras.ops.conv(inputs, self.kernel, strides=1, padding="valid")
        return outputs + self.bias

    def compute_output_shape(self, input_shape: Sequence[int | None]) -> tuple:
        k = self.kernel_size
        height, width = input_shape[1], input_shape[2]
        return (input_shape[0], None if height is None else height - k + 1,
                None if width is None else width - k + 1, 2 * k * k * int(input_shape[-1]))

    def adapt(self, images: np.ndarray) -> np.ndarray:
        """Set the filters from ``images`` (already normalised as the layer sees them).

        Returns:
            The eigenvalues of the patch covariance, largest first.

        Raises:
            ValueError: for a degenerate patch set (see :func:`whitening_filters`).
        """
        images = np.asarray(images, dtype="float64")
        if not self.built:
            self.build(images.shape)
        kernel, eigenvalues = whitening_filters(images, self.kernel_size, self.eps)
        self.kernel.assign(kernel.astype(self.kernel.dtype))
        return eigenvalues

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kernel_size": self.kernel_size, "eps": self.eps}


def image_patches(images: np.ndarray, kernel_size: int) -> np.ndarray:
    """Every ``k x k`` patch of every image, flattened in (row, column, channel) order.

    Args:
        images: ``(N, H, W, C)`` floats.
        kernel_size: the patch side ``k``.

    Returns:
        ``(N * (H - k + 1) * (W - k + 1), k * k * C)``.
    """
    k = int(kernel_size)
    windows = np.lib.stride_tricks.sliding_window_view(images, (k, k), axis=(1, 2))
    # (N, H-k+1, W-k+1, C, k, k) -> rows, cols, channels in the kernel's own order.
    return windows.transpose(0, 1, 2, 4, 5, 3).reshape(-1, k * k * images.shape[-1])


def whitening_filters(images: np.ndarray, kernel_size: int = 2,
                      eps: float = 5e-4) -> tuple[np.ndarray, np.ndarray]:
    """The kernel of a :class:`PatchWhitening` layer for ``images``, and the eigenvalues.

    The patch covariance is the uncentred second moment ``P^T P / n`` of the
    patches (as in airbench; the images are normalised, so their mean is near
    zero). Its eigenvectors, scaled by ``1 / sqrt(eigenvalue + eps)`` and ordered by
    decreasing eigenvalue, are the first ``d`` filters; their negatives the next ``d``.

    Args:
        images: ``(N, H, W, C)`` floats, normalised as the layer will see them.
        kernel_size: the patch side ``k``.
        eps: added to every eigenvalue.

    Returns:
        ``(kernel, eigenvalues)``: the ``(k, k, C, 2 d)`` kernel and the ``d``
        eigenvalues, largest first.

    Raises:
        ValueError: when the images are not ``(N, H, W, C)`` with ``H, W >= k``, when
            there are fewer patches than ten per patch value (too few images), or when
            the patches do not span every direction (constant or otherwise degenerate
            images, e.g. grey or all one colour): the filters would then blow up
            directions the data never showed.
    """
    images = np.asarray(images, dtype="float64")
    k = int(kernel_size)
    if images.ndim != 4 or images.shape[1] < k or images.shape[2] < k:
        raise ValueError(f"Whitening needs images shaped (N, H, W, C) with H and W at least "
                         f"{k}; got {images.shape}.")
    dims = k * k * images.shape[-1]
    patches = image_patches(images, k)
    if len(patches) < 10 * dims:
        raise ValueError(
            f"Too few images to estimate the {dims}x{dims} patch covariance: "
            f"{len(images)} image(s) give {len(patches)} patches; at least {10 * dims} are "
            f"needed (the recipe uses {WHITENING_IMAGES:,} training images). Pass more images.")
    if not np.isfinite(patches).all():
        raise ValueError("The whitening images hold NaN or infinite values.")
    covariance = patches.T @ patches / len(patches)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    if eigenvalues[0] <= 0 or eigenvalues[-1] < MIN_EIGENVALUE_RATIO * eigenvalues[0]:
        raise ValueError(
            f"The whitening patches are degenerate: they vary in fewer than {dims} "
            f"independent directions (eigenvalues of the patch covariance, largest first: "
            f"{np.array2string(eigenvalues, precision=3)}). This happens with constant "
            "images, grey images in a colour model, or only a few distinct images. "
            "Initialise the whitening layer from the real training images.")
    scaled = eigenvectors / np.sqrt(eigenvalues + eps)  # one filter per column
    filters = np.concatenate([scaled, -scaled], axis=1)
    return filters.reshape(k, k, images.shape[-1], 2 * dims), eigenvalues


def whitening_layer(model: keras.Model) -> PatchWhitening | None:
    """The model's :class:`PatchWhitening` layer, or ``None`` when it has none."""
    for layer in model.layers:
        if isinstance(layer, PatchWhitening):
            return layer
    return None


def init_whitening(model: keras.Model, images: np.ndarray,
                   max_images: int | None = WHITENING_IMAGES) -> np.ndarray:
    """Set ``model``'s whitening filters from training ``images``; the eigenvalues.

    The images pass through the layers in front of the whitening layer (the
    normalisation), so they are given as the pipelines feed the model: uint8
    pixels, or floats in [0, 1].

    Args:
        model: a model with a :class:`PatchWhitening` layer, e.g. ``airbench94``.
        images: training images ``(N, H, W, C)``; never validation or test images.
        max_images: use only the first this many (``None``: all).

    Returns:
        The eigenvalues of the patch covariance, largest first.

    Raises:
        ValueError: for a model without a whitening layer, or a degenerate patch set.
    """
    layer = whitening_layer(model)
    if layer is None:
        raise ValueError(f"{model.name} has no PatchWhitening layer to initialise.")
    images = np.asarray(images if max_images is None else images[:max_images])
    if images.dtype == np.uint8:
        images = images.astype("float32") / 255.0
    front = keras.Model(model.inputs, layer.input)
    seen = np.asarray(front.predict(images.astype("float32"), batch_size=500, verbose=0))
    return layer.adapt(seen)


@keras.saving.register_keras_serializable(package="cnnlabs")
class Dirac(keras.initializers.Initializer):
    """Identity on the first input channels, PyTorch's default uniform elsewhere.

    Output filter ``i < min(in, out)`` is 1 at the centre of input channel ``i`` and
    0 elsewhere, so the convolution starts as a copy of its input on those channels
    (an implicit residual connection); the other filters are drawn uniformly from
    ``+-1/sqrt(fan_in)``, ``torch.nn.Conv2d``'s default.
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def __call__(self, shape: Sequence[int], dtype: Any = None) -> Any:
        kh, kw, fan_in_channels, filters = (int(s) for s in shape)
        uniform = keras.initializers.VarianceScaling(
            scale=1 / 3, mode="fan_in", distribution="uniform", seed=self.seed)
        kernel = np.array(keras.ops.convert_to_numpy(uniform(shape, dtype="float32")))
        identity = min(fan_in_channels, filters)
        kernel[..., :identity] = 0.0
        kernel[kh // 2, kw // 2, np.arange(identity), np.arange(identity)] = 1.0
        return keras.ops.convert_to_tensor(kernel, dtype=dtype or "float32")

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def torch_default() -> keras.initializers.Initializer:
    """``torch.nn.Linear`` / ``Conv2d``'s default: uniform in ``+-1/sqrt(fan_in)``."""
    return keras.initializers.VarianceScaling(scale=1 / 3, mode="fan_in",
                                              distribution="uniform")


def conv_group(x, filters: int, bn_momentum: float, name: str):
    """Conv 3x3 -> MaxPool 2 -> BN -> GELU -> Conv 3x3 -> BN -> GELU, as one named block.

    The convolutions have no bias (BN follows) and start as :class:`Dirac`; the
    BatchNorms have no scale (``scale=False``), only a bias, and ``epsilon=1e-12``.
    """
    def bn(x, which: str):
        return layers.BatchNormalization(momentum=bn_momentum, epsilon=1e-12, scale=False,
                                         name=f"{name}_bn{which}")(x)

    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=Dirac(),
                      name=f"{name}_conv1")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = layers.Activation("gelu", name=f"{name}_gelu1")(bn(x, "1"))
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, kernel_initializer=Dirac(),
                      name=f"{name}_conv2")(x)
    return layers.Activation("gelu", name=f"{name}_gelu2")(bn(x, "2"))


@register("airbench94")
def airbench94(input_shape: Sequence[int], classes: int | None, *,
               widths: Sequence[int] = (64, 256, 256), whitening_kernel: int = 2,
               whitening: bool = True, bn_momentum: float = 0.6, logit_scale: float = 1 / 9,
               mean: Sequence[float] = CIFAR10_MEAN, std: Sequence[float] = CIFAR10_STD,
               include_top: bool = True, pooling: str | None = None) -> keras.Model:
    """airbench94: 1,973,944 parameters on 32x32x3 with 10 classes.

    The whitening filters start at zero: set them from the training images with
    :func:`init_whitening` before training (``run.train`` does).

    Args:
        input_shape: (height, width, channels), at least 25x25; pixels in [0, 1].
        classes: output classes (ignored with ``include_top=False``).
        widths: the filters of the three blocks.
        whitening_kernel: the side of the whitening patches.
        whitening: True: the first layer is the frozen :class:`PatchWhitening`, set from
            the data; False: a trainable ``k x k`` convolution named ``patch_conv`` with
            as many filters takes its place (PyTorch's default uniform initialisation,
            zero bias), learned like any other layer: the ablation lab 11 measures.
        bn_momentum: the BatchNorms' moving-average momentum (Keras' convention: the
            share of the old value kept; PyTorch's ``momentum=0.4``).
        logit_scale: the logits are multiplied by this before the softmax.
        mean, std: per-channel normalisation of the [0, 1] input.
        include_top: False returns the feature extractor, up to ``block3``.
        pooling: with ``include_top=False``: None (the 4D map), ``"avg"`` or ``"max"``.

    Raises:
        ValueError: for an input under 25x25, three widths not given, a ``mean`` or
            ``std`` that does not match the channels, or a bad ``pooling``.
    """
    check_top(include_top, pooling)
    shape = check_input("airbench94", input_shape, min_size=MIN_SIZE + whitening_kernel - 2)
    if len(widths) != 3 or min(int(w) for w in widths) < 1:
        raise ValueError(f"airbench94 needs three block widths; got {tuple(widths)}.")
    if len(mean) != shape[2] or len(std) != shape[2] or min(std) <= 0:
        raise ValueError(f"mean and std need one value per channel ({shape[2]}), std above 0; "
                         f"got mean={tuple(mean)}, std={tuple(std)}.")
    inputs = keras.Input(shape=shape, name="image")
    # Both compute in float32 under mixed precision: the whitening multiplies the
    # faintest patch directions by up to 1/sqrt(eps) ~ 45, and would amplify the
    # rounding of float16 or bfloat16 pixels as much. They are a sliver of the compute.
    x = layers.Normalization(mean=list(mean), variance=[s * s for s in std],
                             dtype="float32", name="normalize")(inputs)
    if whitening:
        x = PatchWhitening(whitening_kernel, dtype="float32", name="whiten")(x)
    else:
        x = layers.Conv2D(2 * whitening_kernel * whitening_kernel * shape[2], whitening_kernel,
                          kernel_initializer=torch_default(), dtype="float32",
                          name="patch_conv")(x)
    x = layers.Activation("gelu", name="whiten_gelu")(x)
    for i, width in enumerate(widths, start=1):
        x = conv_group(x, int(width), bn_momentum, name=f"block{i}")
    if not include_top:
        return feature_extractor(inputs, x, pooling, name="airbench94")
    x = layers.MaxPooling2D(3, name="head_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(classes, use_bias=False, kernel_initializer=torch_default(),
                     name="logits")(x)
    x = layers.Rescaling(logit_scale, name="logit_scale")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="predictions")(x)
    return keras.Model(inputs, outputs, name="airbench94")
