"""Lab 05 · MiniGoogLeNet on CIFAR-10: the checks of its exercises and the rubric of its question.

``SOLUTIONS``, ``WRONG`` and ``MODEL_ANSWERS`` as in :mod:`cnnlabs.exercises.lab01`.
The exercises use the lab's setup imports (``keras``, ``np``, ``minigooglenet`` ...)
and its variable ``report`` (the test report of the lab's MiniGoogLeNet).
"""

from __future__ import annotations

import itertools

import numpy as np

from cnnlabs import arithmetic
from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question


def _conv_module(kernel: int, channels: int, filters: int) -> int:
    """Parameters of a conv module: a convolution with bias, then batch norm (4 per channel)."""
    return arithmetic.conv_params(kernel, channels, filters) + 4 * filters


#: 16x16x24 -> inception3 with 8, 12 and 4 filters.
_INCEPTION3 = _conv_module(1, 24, 8) + _conv_module(3, 24, 12) + _conv_module(5, 24, 4)
#: conv 32 -> inception(16, 16) -> downsample(32) -> inception(32, 32) -> GAP -> dense 10.
_MINI_INCEPTION = (_conv_module(3, 3, 32) + _conv_module(1, 32, 16) + _conv_module(3, 32, 16)
                   + _conv_module(3, 32, 32) + _conv_module(1, 64, 32) + _conv_module(3, 64, 32)
                   + arithmetic.dense_params(64, 10))
_names = itertools.count()


@exercise("05.1", points=2, kind="compute",
          goal="the 3x3 branch of GoogLeNet's inception 3a, on a 28x28x192 map: set "
               "`direct_3x3_params` to the parameters of a 3x3 convolution from 192 to 128 "
               "channels and `bottleneck_3x3_params` to those of a 1x1 convolution to 96 "
               "channels followed by the 3x3 convolution to 128")
def _bottleneck(a: Answers) -> Feedback:
    direct = arithmetic.conv_params(3, 192, 128)
    bottleneck = arithmetic.conv_params(1, 192, 96) + arithmetic.conv_params(3, 96, 128)
    return a.parts(
        (1, lambda: a.integer("direct_3x3_params") == direct,
         "`direct_3x3_params` is off: F*F*D_in*K weights plus one bias per filter"),
        (1, lambda: a.integer("bottleneck_3x3_params") == bottleneck,
         "`bottleneck_3x3_params` is off: count both convolutions, each with its biases; the "
         "3x3 one now sees only the bottleneck's channels"),
    )


@exercise("05.2", points=3, kind="implement",
          goal="write `inception3(x, filters_1x1, filters_3x3, filters_5x5, name)`: an "
               "inception module with three `minigooglenet.conv_module` branches (1x1, 3x3 and "
               "5x5) concatenated along the channels, its layer names built from `name`")
def _inception3(a: Answers) -> Feedback:
    import keras

    def module(x, *filters: int):
        out = a.call("inception3", x, *filters, name=f"check{next(_names)}")
        if not isinstance(out, keras.KerasTensor):
            raise Wrong(f"`inception3` should return the module's output tensor, got a "
                        f"{type(out).__name__}")
        return out

    def single() -> keras.Model:
        inputs = keras.Input((16, 16, 24))
        return keras.Model(inputs, module(inputs, 8, 12, 4))

    def twice() -> bool:
        inputs = keras.Input((16, 16, 24))
        try:
            keras.Model(inputs, module(module(inputs, 8, 12, 4), 4, 4, 4))
        except ValueError as exc:
            raise Wrong(f"two `inception3` modules in one model fail ({exc}): give every "
                        "layer a name made from `name`") from None
        return True

    return a.parts(
        (1, lambda: tuple(single().outputs[0].shape) == (None, 16, 16, 24),
         "`inception3(x, 8, 12, 4, ...)` on a 16x16x24 map should give 16x16 maps with "
         "8 + 12 + 4 channels"),
        (1, lambda: single().count_params() == _INCEPTION3,
         "`inception3` has the wrong number of parameters: three conv modules (convolution "
         "and batch norm), with kernels 1, 3 and 5"),
        (1, twice, "two `inception3` modules do not fit in one model"),
    )


@exercise("05.3", points=2, kind="build",
          goal="build `mini_inception` for 32x32x3 images from the lab's modules: "
               "conv_module(32, 3x3), inception_module(16, 16), downsample_module(32), "
               "inception_module(32, 32), global average pooling, Dense(10, softmax)")
def _mini_inception(a: Answers) -> Feedback:
    return a.parts(
        (1, lambda: a.shapes("mini_inception") == ((None, 32, 32, 3), (None, 10)),
         "`mini_inception` should take 32x32x3 images and give 10 class scores"),
        (1, lambda: a.model("mini_inception").count_params() == _MINI_INCEPTION,
         "`mini_inception` has the wrong number of parameters: compare each module, and the "
         "pooling before the classifier, with the goal"),
    )


def _recalls(confusion: np.ndarray) -> np.ndarray:
    rows = confusion.sum(axis=1)
    return np.divide(np.diag(confusion), rows, out=np.zeros(len(rows)), where=rows > 0)


@exercise("05.4", points=2, kind="train-and-read",
          goal="from the test `report` of the lab's MiniGoogLeNet, set `worst_class` to the "
               "name of the class with the lowest recall and `worst_recall` to that recall")
def _worst_class(a: Answers) -> Feedback:
    report = a.lab("report")
    recalls = _recalls(np.asarray(report.confusion))
    names = list(report.class_names)
    lowest = float(recalls.min())

    def named() -> bool:
        name = a["worst_class"]
        if name not in names:
            raise Wrong("`worst_class` should be a class name, as in report.class_names")
        return abs(recalls[names.index(name)] - lowest) < 1e-9

    return a.parts(
        (1, named, "`worst_class` is not a class with the lowest recall"),
        (1, lambda: abs(a.number("worst_recall") - lowest) < 1e-6,
         "`worst_recall` is not the lowest recall: a fraction, the share of a class's test "
         "images that are classified as that class"),
    )


question("05.5", "MiniGoogLeNet ends with global average pooling instead of Flatten and a "
                 "large dense layer. What does that buy?",
         [(1, "far fewer parameters: the classifier sees one value per channel, not one per "
              "position and channel"),
          (1, "less overfitting: no large dense layer to memorise the training set"),
          (1, "the network accepts other input sizes, since the pooled vector's length does "
              "not depend on the map's size")])


SOLUTIONS = {
    "05.1": """\
# BEGIN SOLUTION
# TODO: a whole number: F*F*D_in*K + K
direct_3x3_params = 3 * 3 * 192 * 128 + 128
# TODO: a whole number: the 1x1 convolution plus the 3x3 convolution
bottleneck_3x3_params = (1 * 1 * 192 * 96 + 96) + (3 * 3 * 96 * 128 + 128)
# END SOLUTION""",
    "05.2": """\
# BEGIN SOLUTION
def inception3(x, filters_1x1, filters_3x3, filters_5x5, name):
    \"\"\"1x1, 3x3 and 5x5 conv modules side by side, concatenated along the channels.\"\"\"
    branch1 = minigooglenet.conv_module(x, filters_1x1, 1, name=f"{name}_1x1")
    branch3 = minigooglenet.conv_module(x, filters_3x3, 3, name=f"{name}_3x3")
    branch5 = minigooglenet.conv_module(x, filters_5x5, 5, name=f"{name}_5x5")
    return keras.layers.Concatenate(name=f"{name}_concat")([branch1, branch3, branch5])
# END SOLUTION""",
    "05.3": """\
# BEGIN SOLUTION
_inputs = keras.Input((32, 32, 3))
_x = minigooglenet.conv_module(_inputs, 32, 3, name="ex_conv")
_x = minigooglenet.inception_module(_x, 16, 16, name="ex_inception1")
_x = minigooglenet.downsample_module(_x, 32, name="ex_down")
_x = minigooglenet.inception_module(_x, 32, 32, name="ex_inception2")
_x = keras.layers.GlobalAveragePooling2D(name="ex_pool")(_x)
_outputs = keras.layers.Dense(10, activation="softmax", name="ex_softmax")(_x)
# TODO: a keras.Model from keras.Input((32, 32, 3)) to a 10-way softmax
mini_inception = keras.Model(_inputs, _outputs, name="mini_inception")
# END SOLUTION""",
    "05.4": """\
# BEGIN SOLUTION
_recall = np.diag(report.confusion) / report.confusion.sum(axis=1)
# TODO: a class name, from report.class_names
worst_class = report.class_names[int(np.argmin(_recall))]
# TODO: a fraction between 0 and 1
worst_recall = float(_recall.min())
# END SOLUTION""",
}

MODEL_ANSWERS = {
    "05.5": "Global average pooling turns each of the last maps into one number, so the "
            "classifier has one weight per channel and class (650 parameters here) instead of "
            "one per position, channel and class. With no large dense layer there is little "
            "to memorise, so the network overfits less, and since the pooled vector's length "
            "does not depend on the map's size the network also runs on larger images.",
}

_FLATTEN = """\
inputs = keras.Input((32, 32, 3))
x = minigooglenet.conv_module(inputs, 32, 3, name="w_conv")
x = minigooglenet.inception_module(x, 16, 16, name="w_inception1")
x = minigooglenet.downsample_module(x, 32, name="w_down")
x = minigooglenet.inception_module(x, 32, 32, name="w_inception2")
x = keras.layers.Flatten()(x)
mini_inception = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))"""

WRONG = {
    "05.1": [
        WrongAnswer("biases left out", """\
direct_3x3_params = 3 * 3 * 192 * 128
bottleneck_3x3_params = 192 * 96 + 3 * 3 * 96 * 128""", 0),
        WrongAnswer("the bottleneck's 1x1 convolution not counted", """\
direct_3x3_params = 3 * 3 * 192 * 128 + 128
bottleneck_3x3_params = 3 * 3 * 96 * 128 + 128""", 1),
    ],
    "05.2": [
        WrongAnswer("the 5x5 branch left out", """\
def inception3(x, filters_1x1, filters_3x3, filters_5x5, name):
    branch1 = minigooglenet.conv_module(x, filters_1x1, 1, name=f"{name}_1x1")
    branch3 = minigooglenet.conv_module(x, filters_3x3, 3, name=f"{name}_3x3")
    return keras.layers.Concatenate(name=f"{name}_concat")([branch1, branch3])""", 1),
        WrongAnswer("fixed layer names (`name` ignored)", """\
def inception3(x, filters_1x1, filters_3x3, filters_5x5, name):
    branch1 = minigooglenet.conv_module(x, filters_1x1, 1, name="b1")
    branch3 = minigooglenet.conv_module(x, filters_3x3, 3, name="b3")
    branch5 = minigooglenet.conv_module(x, filters_5x5, 5, name="b5")
    return keras.layers.Concatenate(name="concat")([branch1, branch3, branch5])""", 2),
    ],
    "05.3": [
        WrongAnswer("Flatten instead of global average pooling", _FLATTEN, 1),
    ],
    "05.4": [
        WrongAnswer("the highest recall instead of the lowest", """\
recall = np.diag(report.confusion) / report.confusion.sum(axis=1)
worst_class = report.class_names[int(np.argmax(recall))]
worst_recall = float(recall.max())""", 0),
        WrongAnswer("a class index instead of its name", """\
recall = np.diag(report.confusion) / report.confusion.sum(axis=1)
worst_class = int(np.argmin(recall))
worst_recall = float(recall.min())""", 1),
    ],
}
