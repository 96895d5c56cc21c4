"""Lab 04 · MiniVGGNet on CIFAR-10: the checks of its exercises and the rubric of its question.

``SOLUTIONS``, ``WRONG`` and ``MODEL_ANSWERS`` as in :mod:`cnnlabs.exercises.lab01`.
The exercises use the lab's setup imports (``np``, ``training`` ...) plus ``keras``
and ``layers``, and its variable ``runs`` (the comparison's results, by label).
"""

from __future__ import annotations

import numpy as np

from cnnlabs import arithmetic
from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question

_BLOCK_CONVS = arithmetic.conv_params(3, 3, 32) + arithmetic.conv_params(3, 32, 32)
_BLOCK_NORMS = 2 * 4 * 32
_BLOCK_NET = _BLOCK_CONVS + _BLOCK_NORMS + arithmetic.dense_params(16 * 16 * 32, 10)


@exercise("04.1", points=2, kind="compute",
          goal="MiniVGGNet's first block on 32x32x3 images is two 3x3 convolutions with 32 "
               "filters, each followed by batch normalisation: set `block_conv_params` to the "
               "parameters of the two convolutions and `block_bn_params` to those of the two "
               "batch-norm layers (trainable or not)")
def _block_params(a: Answers) -> Feedback:
    return a.parts(
        (1, lambda: a.integer("block_conv_params") == _BLOCK_CONVS,
         "`block_conv_params` is off: each convolution has F*F*D_in*K weights plus K biases, "
         "and the second one sees the first one's channels"),
        (1, lambda: a.integer("block_bn_params") == _BLOCK_NORMS,
         "`block_bn_params` is off: a batch-norm layer keeps four values per channel (gamma "
         "and beta, trained, and the moving mean and variance, not trained)"),
    )


@exercise("04.2", points=3, kind="build",
          goal="build `vgg_block_net` for 32x32x3 images: two Conv2D(32, 3, 'same') layers "
               "each followed by ReLU and BatchNormalization, MaxPooling2D(2), Dropout(0.25), "
               "Flatten and Dense(10, softmax)")
def _vgg_block_net(a: Answers) -> Feedback:
    import keras

    def dropout() -> bool:
        rates = [layer.rate for layer in a.model("vgg_block_net").layers
                 if isinstance(layer, keras.layers.Dropout)]
        return any(abs(rate - 0.25) < 1e-9 for rate in rates)

    return a.parts(
        (1, lambda: a.shapes("vgg_block_net") == ((None, 32, 32, 3), (None, 10)),
         "`vgg_block_net` should take 32x32x3 images and give 10 class scores"),
        (1, lambda: a.model("vgg_block_net").count_params() == _BLOCK_NET,
         "`vgg_block_net` has the wrong number of parameters: compare each layer (filters, "
         "padding, batch normalisation, pooling) with the goal"),
        (1, dropout, "`vgg_block_net` has no Dropout layer with rate 0.25"),
    )


@exercise("04.3", points=2, kind="implement",
          goal="write `smooth_labels(y, classes, eps=0.1)`: one-hot labels with label "
               "smoothing, (1 - eps) on the true class plus eps / classes on every class, as "
               "an array (len(y), classes)")
def _smooth_labels(a: Answers) -> Feedback:
    cases = [(np.array([0, 2, 1, 2]), 3, 0.1), (np.arange(10)[::-1].copy(), 10, 0.2)]

    def outputs() -> list[tuple[np.ndarray, np.ndarray]]:
        pairs = []
        for y, classes, eps in cases:
            out = np.asarray(a.call("smooth_labels", y.copy(), classes, eps), dtype=float)
            if out.shape != (len(y), classes):
                raise Wrong(f"`smooth_labels` returns shape {out.shape} for {len(y)} labels and "
                            f"{classes} classes: one row per label, one column per class")
            pairs.append((out, (1 - eps) * np.eye(classes)[y] + eps / classes))
        return pairs

    return a.parts(
        (1, lambda: all(np.allclose(out.sum(axis=1), 1.0) for out, _ in outputs()),
         "the rows of `smooth_labels` do not add up to 1: a smoothed label is still a "
         "probability distribution"),
        (1, lambda: all(np.allclose(out, expected) for out, expected in outputs()),
         "`smooth_labels` puts the wrong values in the rows: eps is spread evenly over all "
         "the classes, and `eps` is an argument"),
    )


@exercise("04.4", points=2, kind="train-and-read",
          goal="from the comparison's `runs`, set `best_run` to the label of the run with the "
               "highest test accuracy and `aug_gap` to the final training accuracy minus the "
               "final validation accuracy of \"MiniVGGNet + aug\" (from its history)")
def _read_runs(a: Answers) -> Feedback:
    from cnnlabs import training

    runs = a.lab("runs")
    accuracies = {label: result.report.accuracy for label, result in runs.items()}
    best = max(accuracies.values())
    rows = training.read_history(runs["MiniVGGNet + aug"].run_dir) if \
        "MiniVGGNet + aug" in runs else []
    if not rows:
        raise Wrong("the lab's run \"MiniVGGNet + aug\" has no history: run the lab's "
                    "comparison first")
    gap = rows[-1]["accuracy"] - rows[-1]["val_accuracy"]

    def best_label() -> bool:
        label = a["best_run"]
        if label not in accuracies:
            raise Wrong(f"`best_run` should be one of the labels of `runs` "
                        f"({', '.join(map(repr, accuracies))})")
        return accuracies[label] == best

    return a.parts(
        (1, best_label, "`best_run` is not the run with the highest test accuracy: read each "
                        "run's report.accuracy"),
        (1, lambda: abs(a.number("aug_gap") - gap) < 1e-6,
         "`aug_gap` is off: the last row of the run's history gives 'accuracy' (training) and "
         "'val_accuracy'; subtract the second from the first"),
    )


question("04.5", "Augmentation lowers MiniVGGNet's training accuracy but raises its test "
                 "accuracy. Why? Name one augmentation that would be wrong for chest X-rays, "
                 "and why.",
         [(1, "each epoch shows altered copies of the photos, so the network cannot memorise "
              "the training set (training accuracy drops)"),
          (1, "it learns features that survive the changes, which generalise to unseen "
              "photos: regularisation through data"),
          (1, "a horizontal flip for chest X-rays (it puts the heart on the wrong side), or "
              "another change that alters the label or creates impossible images")])


SOLUTIONS = {
    "04.1": """\
# BEGIN SOLUTION
# TODO: a whole number
block_conv_params = (3 * 3 * 3 * 32 + 32) + (3 * 3 * 32 * 32 + 32)
# TODO: a whole number: four values per channel for each batch-norm layer
block_bn_params = 2 * 4 * 32
# END SOLUTION""",
    "04.2": """\
# BEGIN SOLUTION
# TODO: a keras.Model for 32x32x3 images that ends in a 10-way softmax
vgg_block_net = keras.Sequential([
    keras.Input(shape=(32, 32, 3)),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.BatchNormalization(),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.BatchNormalization(),
    layers.MaxPooling2D(2),
    layers.Dropout(0.25),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
], name="vgg_block_net")
# END SOLUTION""",
    "04.3": """\
# BEGIN SOLUTION
def smooth_labels(y, classes, eps=0.1):
    \"\"\"One-hot labels with label smoothing: (1 - eps) * one_hot + eps / classes.\"\"\"
    one_hot = np.eye(classes)[np.asarray(y)]
    return (1 - eps) * one_hot + eps / classes
# END SOLUTION""",
    "04.4": """\
# BEGIN SOLUTION
# TODO: a label, one of the keys of runs
best_run = max(runs, key=lambda label: runs[label].report.accuracy)
_last = training.read_history(runs["MiniVGGNet + aug"].run_dir)[-1]
# TODO: a number: training accuracy minus validation accuracy, at the last epoch
aug_gap = _last["accuracy"] - _last["val_accuracy"]
# END SOLUTION""",
}

MODEL_ANSWERS = {
    "04.5": "With augmentation every epoch shows flipped and shifted copies of the photos, so "
            "the network cannot memorise the training set and its training accuracy stays "
            "lower. What it learns must hold for all the copies, which is also what holds for "
            "new photos: augmentation regularises through the data. A horizontal flip would "
            "be wrong for chest X-rays: it puts the heart on the right, an image no patient "
            "produces.",
}

WRONG = {
    "04.1": [
        WrongAnswer("biases left out", """\
block_conv_params = 3 * 3 * 3 * 32 + 3 * 3 * 32 * 32
block_bn_params = 2 * 4 * 32""", 1),
        WrongAnswer("only the trainable batch-norm values (gamma, beta) counted", """\
block_conv_params = (3 * 3 * 3 * 32 + 32) + (3 * 3 * 32 * 32 + 32)
block_bn_params = 2 * 2 * 32""", 1),
    ],
    "04.2": [
        WrongAnswer("batch normalisation left out", """\
vgg_block_net = keras.Sequential([
    keras.Input(shape=(32, 32, 3)),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.MaxPooling2D(2),
    layers.Dropout(0.25),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
])""", 2),
        WrongAnswer("dropout left out", """\
vgg_block_net = keras.Sequential([
    keras.Input(shape=(32, 32, 3)),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.BatchNormalization(),
    layers.Conv2D(32, 3, padding="same", activation="relu"),
    layers.BatchNormalization(),
    layers.MaxPooling2D(2),
    layers.Flatten(),
    layers.Dense(10, activation="softmax"),
])""", 2),
    ],
    "04.3": [
        WrongAnswer("smoothing added without scaling the one-hot part", """\
def smooth_labels(y, classes, eps=0.1):
    return np.eye(classes)[np.asarray(y)] + eps / classes""", 0),
        WrongAnswer("eps spread over the other classes only", """\
def smooth_labels(y, classes, eps=0.1):
    one_hot = np.eye(classes)[np.asarray(y)]
    return one_hot * (1 - eps) + (1 - one_hot) * eps / (classes - 1)""", 1),
    ],
    "04.4": [
        WrongAnswer("the gap with its sign flipped", """\
best_run = max(runs, key=lambda label: runs[label].report.accuracy)
last = training.read_history(runs["MiniVGGNet + aug"].run_dir)[-1]
aug_gap = last["val_accuracy"] - last["accuracy"]""", 1),
        WrongAnswer("the best accuracy instead of the best run's label", """\
best_run = max(run.report.accuracy for run in runs.values())
last = training.read_history(runs["MiniVGGNet + aug"].run_dir)[-1]
aug_gap = last["accuracy"] - last["val_accuracy"]""", 1),
    ],
}
