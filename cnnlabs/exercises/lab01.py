"""Lab 01 · convolution arithmetic: the checks of its exercises and the rubric of its question.

``SOLUTIONS`` holds the answer block of each exercise as the solution notebook has it
(between the ``# BEGIN SOLUTION`` and ``# END SOLUTION`` lines), ``WRONG`` realistic
wrong answers with the points they earn, and ``MODEL_ANSWERS`` the model answer of
each written question. The exercises use only the lab's setup imports (``np``,
``arithmetic``, ``reference``).
"""

from __future__ import annotations

import numpy as np

from cnnlabs import arithmetic, reference
from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question

_FORMULA = "floor((W - F + 2P) / S) + 1"


@exercise("01.1", points=2, kind="compute",
          goal="AlexNet's first layers: set `conv1_out` to the width of conv1's output (227-px "
               "input, 11x11 filters, stride 4, no padding) and `pool1_out` to the width after "
               "the 3x3 max pool with stride 2 that follows it")
def _alexnet_widths(a: Answers) -> Feedback:
    conv1 = arithmetic.output_size(227, 11, 4)
    pool1 = arithmetic.output_size(conv1, 3, 2)
    return a.parts(
        (1, lambda: a.integer("conv1_out") == conv1,
         f"`conv1_out` is not conv1's output width: apply {_FORMULA}, every term of it"),
        (1, lambda: a.integer("pool1_out") == pool1,
         "`pool1_out` is not the pool's output width: pooling follows the same formula, "
         "and its input is conv1's output, not the image"),
    )


@exercise("01.2", points=1, kind="compute",
          goal="set `padded_out` to the output width of a 5x5 convolution with stride 2 and 2 "
               "zeros of padding on each side, on a 32-px input")
def _padded_width(a: Answers) -> Feedback:
    expected = arithmetic.output_size(32, 5, 2, 2)
    return a.parts(
        (1, lambda: a.integer("padded_out") == expected,
         f"`padded_out` is not the output width: in {_FORMULA}, P is the padding on each "
         "side, so 2P zeros are added in all"),
    )


@exercise("01.3", points=2, kind="compute",
          goal="set `alex_conv2_params` to the parameters of AlexNet's conv2 (256 5x5 filters "
               "over all 96 input channels) and `alex_fc6_params` to those of fc6 (4,096 units "
               "on the flattened 6x6x256 map)")
def _alexnet_params(a: Answers) -> Feedback:
    conv2 = arithmetic.conv_params(5, 96, 256)
    fc6 = arithmetic.dense_params(6 * 6 * 256, 4096)
    return a.parts(
        (1, lambda: a.integer("alex_conv2_params") == conv2,
         "`alex_conv2_params` is off: a filter spans every input channel (F*F*D_in weights), "
         "and each filter has a bias"),
        (1, lambda: a.integer("alex_fc6_params") == fc6,
         "`alex_fc6_params` is off: a dense layer has one weight per input per unit, plus "
         "one bias per unit"),
    )


@exercise("01.4", points=2, kind="compute",
          goal="set `stem_rf` to the receptive field, in pixels, of one unit after a 7x7 "
               "convolution with stride 2, a 3x3 max pool with stride 2 and two 3x3 "
               "convolutions with stride 1")
def _stem_receptive_field(a: Answers) -> Feedback:
    expected = arithmetic.receptive_field([(7, 2), (3, 2), (3, 1), (3, 1)])[-1].size
    return a.parts(
        (2, lambda: a.integer("stem_rf") == expected,
         "`stem_rf` is off: each layer adds (F - 1) times the jump, and the jump is the "
         "product of all the strides before that layer"),
    )


def _same(a: Answers, name: str, args: tuple, expected: np.ndarray, what: str,
          flipped: np.ndarray | None = None, averaged: np.ndarray | None = None) -> bool:
    """Whether ``name(*args)`` gives ``expected``; :class:`Wrong` says how it differs."""
    out = np.asarray(a.call(name, *args), dtype=float)
    if out.shape != expected.shape:
        raise Wrong(f"`{name}` on {what} returns shape {out.shape}: not the number of windows "
                    "that fit along each side")
    if np.allclose(out, expected):
        return True
    if flipped is not None and np.allclose(out, flipped):
        raise Wrong(f"`{name}` flips the kernel: CNN layers slide it as it is "
                    "(cross-correlation), as Keras does")
    if averaged is not None and np.allclose(out, averaged):
        raise Wrong(f"`{name}` averages each window: max pooling keeps the largest value")
    return False


@exercise("01.5", points=3, kind="implement",
          goal="write `conv2d_loops(image, kernel, stride=1)`: the valid cross-correlation of a "
               "2-D image with a 2-D kernel, with explicit loops, as a NumPy array")
def _conv_loops(a: Answers) -> Feedback:
    rng = np.random.default_rng(1)
    noisy, kernel = rng.normal(size=(9, 7)), rng.normal(size=(3, 3))
    toy, diagonal = reference.TOY_IMAGE.astype(float), reference.TOY_FILTERS[0].astype(float)
    big = reference.STRIDE_EXAMPLE_IMAGE.astype(float)
    slanted = reference.STRIDE_EXAMPLE_KERNEL.astype(float)

    def case(image: np.ndarray, k: np.ndarray, stride: int, what: str) -> bool:
        return _same(a, "conv2d_loops", (image.copy(), k.copy(), stride),
                     reference.conv2d(image, k, stride=stride), what,
                     flipped=reference.conv2d(image, k[::-1, ::-1], stride=stride))

    return a.parts(
        (1, lambda: case(toy, diagonal, 1, "the 6x6 toy image"),
         "`conv2d_loops` gets the lab's 6x6 example wrong at stride 1"),
        (1, lambda: case(noisy, kernel, 1, "a 9x7 image"),
         "`conv2d_loops` gets a 9x7 image with a random 3x3 kernel wrong at stride 1"),
        (1, lambda: case(big, slanted, 2, "the 7x7 stride example"),
         "`conv2d_loops` gets stride 2 wrong: window (i, j) starts at row i*S, column j*S"),
    )


@exercise("01.6", points=2, kind="implement",
          goal="write `max_pool(feature_map, size=2)`: max pooling of a 2-D map over "
               "non-overlapping size x size windows (stride = size), dropping leftover rows "
               "and columns")
def _max_pool(a: Answers) -> Feedback:
    rng = np.random.default_rng(2)
    maps = reference.conv2d(reference.TOY_IMAGE, reference.TOY_FILTERS[0]).astype(float)
    odd = rng.integers(-9, 10, size=(7, 5)).astype(float)
    nine = rng.integers(-9, 10, size=(9, 9)).astype(float)

    def case(x: np.ndarray, size: int, what: str) -> bool:
        return _same(a, "max_pool", (x.copy(), size), reference.max_pool2d(x, size), what,
                     averaged=reference.avg_pool2d(x, size))

    return a.parts(
        (1, lambda: case(maps, 2, "the 4x4 feature map"),
         "`max_pool` gets the 4x4 feature map of the lab wrong"),
        (1, lambda: case(odd, 2, "a 7x5 map") and case(nine, 3, "a 9x9 map with size 3"),
         "`max_pool` gets maps whose sides are not multiples of the window wrong: only whole "
         "windows count, and the window size is the `size` argument"),
    )


question("01.7", "A stack of three 3x3 convolutions replaces one 7x7 convolution in VGG. "
                 "What does the stack keep, and what does it gain?",
         [(1, "the same 7x7 receptive field (3 -> 5 -> 7)"),
          (1, "fewer weights: 3 * 9 C^2 = 27 C^2 against 49 C^2 for C channels in and out"),
          (1, "three non-linearities instead of one, so a more expressive function")])


SOLUTIONS = {
    "01.1": """\
# BEGIN SOLUTION
# TODO: a whole number, from the output-size formula
conv1_out = (227 - 11 + 2 * 0) // 4 + 1
pool1_out = (conv1_out - 3) // 2 + 1
# END SOLUTION""",
    "01.2": """\
# BEGIN SOLUTION
# TODO: a whole number
padded_out = (32 - 5 + 2 * 2) // 2 + 1
# END SOLUTION""",
    "01.3": """\
# BEGIN SOLUTION
# TODO: a whole number: F*F*D_in*K + K for a convolution, inputs*units + units for a dense layer
alex_conv2_params = 5 * 5 * 96 * 256 + 256
alex_fc6_params = 6 * 6 * 256 * 4096 + 4096
# END SOLUTION""",
    "01.4": """\
# BEGIN SOLUTION
# TODO: each layer adds (F - 1) * jump; the jump is the product of the strides before it
stem_rf = 1 + (7 - 1) * 1 + (3 - 1) * 2 + (3 - 1) * 4 + (3 - 1) * 4
# END SOLUTION""",
    "01.5": """\
# BEGIN SOLUTION
def conv2d_loops(image, kernel, stride=1):
    \"\"\"Valid cross-correlation of a 2-D `image` with a 2-D `kernel`, with loops.\"\"\"
    f_h, f_w = kernel.shape
    out_h = (image.shape[0] - f_h) // stride + 1
    out_w = (image.shape[1] - f_w) // stride + 1
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            patch = image[i * stride:i * stride + f_h, j * stride:j * stride + f_w]
            out[i, j] = np.sum(patch * kernel)
    return out
# END SOLUTION""",
    "01.6": """\
# BEGIN SOLUTION
def max_pool(feature_map, size=2):
    \"\"\"Max over non-overlapping size x size windows of a 2-D map; leftovers are dropped.\"\"\"
    out_h, out_w = feature_map.shape[0] // size, feature_map.shape[1] // size
    out = np.zeros((out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            out[i, j] = feature_map[i * size:(i + 1) * size, j * size:(j + 1) * size].max()
    return out
# END SOLUTION""",
}

MODEL_ANSWERS = {
    "01.7": "Three stacked 3x3 convolutions see a 7x7 patch of the input, like one 7x7 "
            "convolution: the field grows 3, 5, 7. They need 27 C^2 weights instead of 49 C^2, "
            "and put a ReLU after each layer, so the stack computes a more complex function "
            "with fewer parameters.",
}

WRONG = {
    "01.1": [
        WrongAnswer("off by one: the + 1 forgotten", """\
conv1_out = (227 - 11) // 4
pool1_out = (conv1_out - 3) // 2""", 0),
        WrongAnswer("the pool applied to the image instead of conv1's output", """\
conv1_out = (227 - 11) // 4 + 1
pool1_out = (227 - 3) // 2 + 1""", 1),
    ],
    "01.2": [
        WrongAnswer("padding forgotten", "padded_out = (32 - 5) // 2 + 1", 0),
        WrongAnswer("padding counted on one side only", "padded_out = (32 - 5 + 2) // 2 + 1", 0),
    ],
    "01.3": [
        WrongAnswer("biases left out", """\
alex_conv2_params = 5 * 5 * 96 * 256
alex_fc6_params = 6 * 6 * 256 * 4096""", 0),
        WrongAnswer("input channels forgotten in the convolution", """\
alex_conv2_params = 5 * 5 * 256 + 256
alex_fc6_params = 6 * 6 * 256 * 4096 + 4096""", 1),
    ],
    "01.4": [
        WrongAnswer("strides ignored (every layer adds F - 1)", "stem_rf = 7 + 2 + 2 + 2", 0),
    ],
    "01.5": [
        WrongAnswer("kernel flipped (a true convolution)", """\
def conv2d_loops(image, kernel, stride=1):
    kernel = kernel[::-1, ::-1]
    f = kernel.shape[0]
    n_h = (image.shape[0] - f) // stride + 1
    n_w = (image.shape[1] - f) // stride + 1
    out = np.zeros((n_h, n_w))
    for i in range(n_h):
        for j in range(n_w):
            out[i, j] = np.sum(image[i * stride:i * stride + f, j * stride:j * stride + f] * kernel)
    return out""", 1),
        WrongAnswer("stride used for the size but not for the window position", """\
def conv2d_loops(image, kernel, stride=1):
    f = kernel.shape[0]
    n_h = (image.shape[0] - f) // stride + 1
    n_w = (image.shape[1] - f) // stride + 1
    out = np.zeros((n_h, n_w))
    for i in range(n_h):
        for j in range(n_w):
            out[i, j] = np.sum(image[i:i + f, j:j + f] * kernel)
    return out""", 2),
        WrongAnswer("off by one: one window short on each side", """\
def conv2d_loops(image, kernel, stride=1):
    f = kernel.shape[0]
    n_h, n_w = (image.shape[0] - f) // stride, (image.shape[1] - f) // stride
    out = np.zeros((n_h, n_w))
    for i in range(n_h):
        for j in range(n_w):
            out[i, j] = np.sum(image[i * stride:i * stride + f, j * stride:j * stride + f] * kernel)
    return out""", 0),
    ],
    "01.6": [
        WrongAnswer("average instead of max", """\
def max_pool(feature_map, size=2):
    h, w = feature_map.shape[0] // size, feature_map.shape[1] // size
    return feature_map[:h * size, :w * size].reshape(h, size, w, size).mean(axis=(1, 3))""", 0),
        WrongAnswer("the window size hard-coded to 2", """\
def max_pool(feature_map, size=2):
    h, w = feature_map.shape[0] // 2, feature_map.shape[1] // 2
    return feature_map[:h * 2, :w * 2].reshape(h, 2, w, 2).max(axis=(1, 3))""", 1),
    ],
}
