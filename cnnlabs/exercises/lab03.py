"""Lab 03 · LeNet on MNIST: the checks of its exercises and the rubric of its question.

``SOLUTIONS``, ``WRONG`` and ``MODEL_ANSWERS`` as in :mod:`cnnlabs.exercises.lab01`;
``DEPENDS`` names the exercises whose answers another one builds on. The exercises
use the lab's setup imports and its variables ``data``, ``recipe`` and ``report``
(the test report of the lab's LeNet).
"""

from __future__ import annotations

import functools

import numpy as np

from cnnlabs import arithmetic
from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question

#: The 100-unit LeNet of exercise 03.2, counted layer by layer.
_LENET_100 = (arithmetic.conv_params(5, 1, 20) + arithmetic.conv_params(5, 20, 50)
              + arithmetic.dense_params(7 * 7 * 50, 100) + arithmetic.dense_params(100, 10))


@exercise("03.1", points=2, kind="compute",
          goal="LeNet with 'valid' padding (no zeros added) on 28x28 digits: set "
               "`valid_flatten` to the number of values Flatten produces and "
               "`valid_dense_params` to the parameters of the 500-unit dense layer after it")
def _valid_lenet(a: Answers) -> Feedback:
    side = 28
    for kernel, stride in [(5, 1), (2, 2), (5, 1), (2, 2)]:
        side = arithmetic.output_size(side, kernel, stride)
    flatten = side * side * 50
    dense = arithmetic.dense_params(flatten, 500)
    return a.parts(
        (1, lambda: a.integer("valid_flatten") == flatten,
         "`valid_flatten` is off: follow the side through both convolutions (5x5, no padding) "
         "and both 2x2 pools, then multiply by the channels of the last convolution"),
        (1, lambda: a.integer("valid_dense_params") == dense,
         "`valid_dense_params` is off: one weight per flattened value per unit, plus one bias "
         "per unit"),
    )


@exercise("03.2", points=3, kind="build",
          goal="build `lenet_100`: the lab's LeNet (same layers, 'same' padding) with a "
               "100-unit dense layer instead of 500")
def _lenet_100(a: Answers) -> Feedback:
    return a.parts(
        (1, lambda: a.shapes("lenet_100") == ((None, 28, 28, 1), (None, 10)),
         "`lenet_100` should take 28x28x1 digits and give 10 class scores"),
        (2, lambda: a.model("lenet_100").count_params() == _LENET_100,
         "`lenet_100` has the wrong number of parameters: keep every layer of the lab's LeNet "
         "(both conv-pool blocks) and change only the width of the hidden dense layer"),
    )


@exercise("03.3", points=2, kind="implement",
          goal="write `per_class_recall(confusion)`: the recall of every class from a confusion "
               "matrix whose rows are the true classes, as a 1-D array")
def _per_class_recall(a: Answers) -> Feedback:
    small = np.array([[5, 1, 0], [2, 6, 2], [0, 3, 9]])
    rng = np.random.default_rng(3)
    large = rng.integers(0, 8, size=(10, 10)) + np.diag(rng.integers(20, 60, size=10))

    def case(confusion: np.ndarray) -> bool:
        out = np.asarray(a.call("per_class_recall", confusion.copy()), dtype=float)
        if out.shape != (len(confusion),):
            raise Wrong(f"`per_class_recall` returns shape {out.shape} for {len(confusion)} "
                        "classes: one recall per class")
        return np.allclose(out, np.diag(confusion) / confusion.sum(axis=1))

    return a.parts(
        (1, lambda: case(small),
         "`per_class_recall` is off on a 3-class matrix: recall is the share of a class's "
         "true samples that are predicted as that class"),
        (1, lambda: case(large),
         "`per_class_recall` is off on a 10-class matrix: it must work for any number of "
         "classes"),
    )


def _pair(value: object) -> tuple[int, int]:
    try:
        first, second = value  # type: ignore[misc]
        return int(first), int(second)
    except (TypeError, ValueError):
        raise Wrong(f"`most_confused` should be a pair of digits (true, predicted), got "
                    f"{value!r}") from None


@exercise("03.4", points=2, kind="train-and-read",
          goal="from the test `report` of the lab's LeNet, set `most_confused` to the pair "
               "(true digit, predicted digit) that occurs most often among its mistakes")
def _most_confused(a: Answers) -> Feedback:
    confusion = np.asarray(a.lab("report").confusion)
    mistakes = confusion.copy()
    np.fill_diagonal(mistakes, 0)
    pair = _pair(a["most_confused"])
    worst = mistakes.max()
    if worst == 0:
        return Feedback(2)  # no mistakes at all: nothing to find
    if not all(0 <= digit < len(confusion) for digit in pair):
        raise Wrong(f"`most_confused` should hold two class indices from 0 to "
                    f"{len(confusion) - 1}")
    if mistakes[pair] == worst:
        return Feedback(2)
    if mistakes[pair[::-1]] == worst:
        return Feedback(1, "`most_confused` is the wrong way round: the confusion matrix's rows "
                           "are the true digits, its columns the predictions")
    return Feedback(0, "`most_confused` is not the most frequent mistake: leave out the "
                       "diagonal (the right answers) and find the largest count")


@exercise("03.5", points=2, kind="train-and-read", time_limit=180,
          goal="train `lenet_100` (exercise 03.2) with the lab's `recipe` and `data` using "
               "`training.fit`, then set `lenet_100_accuracy` to its test accuracy from "
               "`evaluation.evaluate`")
def _lenet_100_accuracy(a: Answers) -> Feedback:
    model = a.model("lenet_100")
    data = a.lab("data")

    @functools.cache
    def measured() -> float:
        from cnnlabs import evaluation

        return evaluation.evaluate(model, data.test, data.y_test, data.class_names).accuracy

    return a.parts(
        (1, lambda: abs(a.number("lenet_100_accuracy") - measured()) < 1e-6,
         "`lenet_100_accuracy` is not the test accuracy of `lenet_100` as it is now: "
         "evaluate it on the test split after training, as a fraction"),
        (1, lambda: measured() >= 0.3,
         "`lenet_100` has not learned: its test accuracy is near the 10% of guessing; train "
         "it with training.fit first"),
    )


question("03.6", "Almost all of LeNet's parameters sit in one layer. Which one, why there, and "
                 "what would you change to shrink the network?",
         [(1, "the first dense layer (about 1.2 M of the 1.26 M parameters)"),
          (1, "it connects every one of the 7x7x50 = 2,450 flattened values to each of its 500 "
              "units, while the convolutions share a few weights across all positions"),
          (1, "a narrower dense layer, more pooling before it, or global average pooling "
              "instead of Flatten")])


SOLUTIONS = {
    "03.1": """\
# BEGIN SOLUTION
# TODO: a whole number: 28 -> conv 5x5 -> pool 2 -> conv 5x5 -> pool 2, times 50 channels
valid_flatten = 4 * 4 * 50
# TODO: a whole number: inputs * units + units
valid_dense_params = valid_flatten * 500 + 500
# END SOLUTION""",
    "03.2": """\
# BEGIN SOLUTION
# TODO: a keras.Model for 28x28x1 digits that ends in a 10-way softmax
lenet_100 = keras.Sequential([
    keras.Input(shape=(28, 28, 1)),
    layers.Conv2D(20, 5, padding="same", activation="relu"),
    layers.MaxPooling2D(pool_size=2, strides=2),
    layers.Conv2D(50, 5, padding="same", activation="relu"),
    layers.MaxPooling2D(pool_size=2, strides=2),
    layers.Flatten(),
    layers.Dense(100, activation="relu"),
    layers.Dense(10, activation="softmax"),
], name="lenet_100")
# END SOLUTION""",
    "03.3": """\
# BEGIN SOLUTION
def per_class_recall(confusion):
    \"\"\"Recall of every class: the diagonal over the row sums (rows are the true classes).\"\"\"
    confusion = np.asarray(confusion, dtype=float)
    return np.diag(confusion) / confusion.sum(axis=1)
# END SOLUTION""",
    "03.4": """\
# BEGIN SOLUTION
_mistakes = report.confusion.copy()
np.fill_diagonal(_mistakes, 0)
# TODO: a pair (true digit, predicted digit) of ints
most_confused = tuple(int(i) for i in np.unravel_index(np.argmax(_mistakes), _mistakes.shape))
# END SOLUTION""",
    "03.5": """\
lenet_100_run = config.new_run_dir("lab03-lenet-100")  # the run folder of this exercise
# BEGIN SOLUTION
training.fit(lenet_100, data, recipe, lenet_100_run, verbose=2)
# TODO: train lenet_100 first; then a fraction, from evaluation.evaluate(...).accuracy
lenet_100_accuracy = evaluation.evaluate(lenet_100, data.test, data.y_test,
                                         data.class_names).accuracy
# END SOLUTION""",
}

#: Exercises whose answers another exercise needs (they run first in tests and fixtures).
DEPENDS = {"03.5": ["03.2"]}

MODEL_ANSWERS = {
    "03.6": "The first dense layer holds 1,225,500 of the 1,256,080 parameters. It connects "
            "each of the 2,450 values of the flattened 7x7x50 map to each of its 500 units, "
            "whereas a convolution reuses its few weights at every position. A narrower dense "
            "layer (exercise 03.2), more pooling before Flatten, or global average pooling "
            "would shrink the network most.",
}

WRONG = {
    "03.1": [
        WrongAnswer("'same' padding assumed (the lab's numbers)", """\
valid_flatten = 7 * 7 * 50
valid_dense_params = valid_flatten * 500 + 500""", 0),
        WrongAnswer("bias left out of the dense layer", """\
valid_flatten = 4 * 4 * 50
valid_dense_params = valid_flatten * 500""", 1),
    ],
    "03.2": [
        WrongAnswer("the second pooling left out", """\
inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(20, 5, padding="same", activation="relu")(inputs)
x = layers.MaxPooling2D(2)(x)
x = layers.Conv2D(50, 5, padding="same", activation="relu")(x)
x = layers.Flatten()(x)
x = layers.Dense(100, activation="relu")(x)
lenet_100 = keras.Model(inputs, layers.Dense(10, activation="softmax")(x))""", 1),
        WrongAnswer("the dense layer left at 500 units", """\
inputs = keras.Input(shape=(28, 28, 1))
x = layers.Conv2D(20, 5, padding="same", activation="relu")(inputs)
x = layers.MaxPooling2D(2)(x)
x = layers.Conv2D(50, 5, padding="same", activation="relu")(x)
x = layers.MaxPooling2D(2)(x)
x = layers.Flatten()(x)
x = layers.Dense(500, activation="relu")(x)
lenet_100 = keras.Model(inputs, layers.Dense(10, activation="softmax")(x))""", 1),
    ],
    "03.3": [
        WrongAnswer("columns instead of rows (precision)", """\
def per_class_recall(confusion):
    confusion = np.asarray(confusion, dtype=float)
    return np.diag(confusion) / confusion.sum(axis=0)""", 0),
        WrongAnswer("written for three classes only", """\
def per_class_recall(confusion):
    return np.array([confusion[i, i] / confusion[i].sum() for i in range(3)])""", 1),
    ],
    "03.4": [
        WrongAnswer("the diagonal left in (the most frequent cell overall)", """\
true_digit, predicted_digit = np.unravel_index(np.argmax(report.confusion),
                                               report.confusion.shape)
most_confused = (int(true_digit), int(predicted_digit))""", 0),
        WrongAnswer("(predicted, true) instead of (true, predicted)", """\
mistakes = report.confusion.copy()
np.fill_diagonal(mistakes, 0)
true_digit, predicted_digit = np.unravel_index(np.argmax(mistakes), mistakes.shape)
most_confused = (int(predicted_digit), int(true_digit))""", 1, run_dependent=True),
    ],
    "03.5": [
        WrongAnswer("evaluated without training", """\
lenet_100_accuracy = evaluation.evaluate(lenet_100, data.test, data.y_test,
                                         data.class_names).accuracy""", 1),
    ],
}
