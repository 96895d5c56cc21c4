"""Lab 06 · ResNet on CIFAR-10: the checks of its exercises and the rubric of its question.

``SOLUTIONS``, ``WRONG`` and ``MODEL_ANSWERS`` as in :mod:`cnnlabs.exercises.lab01`.
The exercises use the lab's setup imports (``keras``, ``np``, ``arithmetic``,
``resnet`` ...) and its variable ``histories`` (the degradation experiment's
per-epoch rows, by network).
"""

from __future__ import annotations

import itertools

from cnnlabs import arithmetic
from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question


def _convs(*layers: tuple[int, int, int]) -> int:
    return sum(arithmetic.conv_params(k, c, f, bias=False) for k, c, f in layers)


#: resnet.residual_module, 256 filters: identity on 256 channels; reduce from 128, stride 2.
_IDENTITY = _convs((1, 256, 64), (3, 64, 64), (1, 64, 256)) + 4 * (256 + 64 + 64)
_REDUCE = _convs((1, 128, 64), (3, 64, 64), (1, 64, 256), (1, 128, 256)) + 4 * (128 + 64 + 64)
#: The basic block on 8x8x16: 16 filters at stride 1; 32 filters at stride 2 (projection).
_BASIC_SAME = _convs((3, 16, 16), (3, 16, 16)) + 2 * 4 * 16
_BASIC_PROJECTION = _convs((3, 16, 32), (3, 32, 32), (1, 16, 32)) + 3 * 4 * 32
_names = itertools.count()
_NETWORKS = ("plain20", "plain56", "resnet56")


@exercise("06.1", points=2, kind="compute",
          goal="for the lab's `resnet.residual_module`, set `identity_module_params` to the "
               "parameters of a module with 256 filters on a 256-channel input (stride 1) and "
               "`reduce_module_params` to those of a module with 256 filters, stride 2 and "
               "`reduce=True` on a 128-channel input")
def _module_params(a: Answers) -> Feedback:
    return a.parts(
        (1, lambda: a.integer("identity_module_params") == _IDENTITY,
         "`identity_module_params` is off: three bias-free convolutions (1x1 to a quarter of "
         "the filters, 3x3, 1x1 back) and three batch norms of 4 values per channel, the "
         "first one on the module's input"),
        (1, lambda: a.integer("reduce_module_params") == _REDUCE,
         "`reduce_module_params` is off: as the identity module, plus the 1x1 convolution on "
         "the shortcut, and the first batch norm sees the input's channels"),
    )


@exercise("06.2", points=3, kind="implement",
          goal="write `residual_block(x, filters, stride, name)`: the original basic block, "
               "3x3 conv (stride) - BN - ReLU - 3x3 conv - BN, plus the shortcut (the input, or "
               "a 1x1 conv with `stride` and BN when the shape changes), added, then ReLU; no "
               "biases in the convolutions")
def _residual_block(a: Answers) -> Feedback:
    import keras

    def model(filters: int, stride: int) -> keras.Model:
        inputs = keras.Input((8, 8, 16))
        out = a.call("residual_block", inputs, filters, stride, name=f"check{next(_names)}")
        if not isinstance(out, keras.KerasTensor):
            raise Wrong(f"`residual_block` should return the block's output tensor, got a "
                        f"{type(out).__name__}")
        return keras.Model(inputs, out)

    def same() -> bool:
        block = model(16, 1)
        return tuple(block.outputs[0].shape) == (None, 8, 8, 16) and \
            block.count_params() == _BASIC_SAME

    def projection() -> bool:
        block = model(32, 2)
        return tuple(block.outputs[0].shape) == (None, 4, 4, 32) and \
            block.count_params() == _BASIC_PROJECTION

    def adds() -> bool:
        return any(isinstance(layer, keras.layers.Add) for layer in model(16, 1).layers)

    return a.parts(
        (1, same, "`residual_block(x, 16, 1, ...)` on an 8x8x16 map is off: same shape out, "
                  "and two bias-free 3x3 convolutions with a batch norm each"),
        (1, projection, "`residual_block(x, 32, 2, ...)` on an 8x8x16 map is off: it halves "
                        "the map, and its shortcut is a bias-free 1x1 convolution with stride "
                        "2 followed by batch norm"),
        (1, adds, "`residual_block` adds nothing: the shortcut is added to the main path "
                  "(keras.layers.Add) before the last ReLU"),
    )


@exercise("06.3", points=2, kind="train-and-read",
          goal="from the degradation experiment's `histories`, set `final_train_loss` to a dict "
               "{network: its last training loss} for every network it trained and `degraded` "
               "to True when plain56 ends with a higher training loss than plain20, else False "
               "(None when the profile did not train plain56)")
def _degradation(a: Answers) -> Feedback:
    histories = a.lab("histories")
    # The smoke profile trains plain20 alone; the others train all three.
    trained = [name for name in _NETWORKS if histories.get(name)]
    if "plain20" not in trained:
        raise Wrong("the lab's `histories` lacks plain20: run the degradation experiment first")
    final = {name: histories[name][-1]["loss"] for name in trained}

    def losses() -> bool:
        answer = a["final_train_loss"]
        if not isinstance(answer, dict):
            raise Wrong(f"`final_train_loss` should be a dict {{network name: loss}}, got a "
                        f"{type(answer).__name__}")
        return all(abs(float(answer.get(name, float("nan"))) - final[name]) < 1e-6
                   for name in trained)

    def degraded() -> bool:
        answer = a["degraded"]
        if "plain56" not in final:
            return answer is None
        if not isinstance(answer, bool):
            raise Wrong(f"`degraded` should be True or False, got a {type(answer).__name__}")
        return answer == bool(final["plain56"] > final["plain20"])

    return a.parts(
        (1, losses, "`final_train_loss` is off: the 'loss' of the last row of each network's "
                    "history (the training loss, not 'val_loss')"),
        (1, degraded, "`degraded` does not match the histories: compare plain56's last "
                      "training loss with plain20's (None when there is no plain56)"),
    )


question("06.4", "What is degradation, how does it differ from overfitting, and how do "
                 "residual connections help?",
         [(1, "a deeper plain network ends with a higher training error than a shallower "
              "one: an optimisation problem"),
          (1, "overfitting is a low training error with a high test error; degradation shows "
              "on the training set itself"),
          (1, "with a shortcut a block only learns a correction to the identity (easy to "
              "make zero), and gradients flow straight back through the additions")])


SOLUTIONS = {
    "06.1": """\
# BEGIN SOLUTION
# TODO: a whole number: three bias-free convolutions and three batch norms (4 per channel)
identity_module_params = (256 * 64 + 3 * 3 * 64 * 64 + 64 * 256) + 4 * (256 + 64 + 64)
# TODO: a whole number: the same, plus the 1x1 convolution on the shortcut
reduce_module_params = (128 * 64 + 3 * 3 * 64 * 64 + 64 * 256 + 128 * 256) + 4 * (128 + 64 + 64)
# END SOLUTION""",
    "06.2": """\
# BEGIN SOLUTION
def residual_block(x, filters, stride, name):
    \"\"\"conv-BN-ReLU, conv-BN, plus the shortcut (projected when the shape changes), ReLU.\"\"\"
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                            name=f"{name}_conv1")(x)
    y = keras.layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = keras.layers.Activation("relu", name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = keras.layers.BatchNormalization(name=f"{name}_bn2")(y)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                       name=f"{name}_proj")(x)
        shortcut = keras.layers.BatchNormalization(name=f"{name}_proj_bn")(shortcut)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)
# END SOLUTION""",
    "06.3": """\
# BEGIN SOLUTION
# TODO: a dict {"plain20": ..., "plain56": ..., "resnet56": ...} of last training losses
final_train_loss = {name: rows[-1]["loss"] for name, rows in histories.items()}
# TODO: True or False (None when there is no plain56)
if "plain56" in final_train_loss:
    degraded = bool(final_train_loss["plain56"] > final_train_loss["plain20"])
else:
    degraded = None
# END SOLUTION""",
}

MODEL_ANSWERS = {
    "06.4": "Degradation is a deeper plain network reaching a higher training error than a "
            "shallower one, although it could copy the shallower one and add identities. It "
            "is an optimisation failure, seen on the training set; overfitting is the "
            "opposite, a low training error with a high test error. A residual block computes "
            "x + F(x): it only has to learn a correction, which is easy to keep near zero, and "
            "the additions pass gradients straight back to the early layers.",
}

_PLAIN = """\
def residual_block(x, filters, stride, name):
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                            name=f"{name}_conv1")(x)
    y = keras.layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = keras.layers.Activation("relu", name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = keras.layers.BatchNormalization(name=f"{name}_bn2")(y)
    return keras.layers.Activation("relu", name=f"{name}_out")(y)"""

_NO_PROJECTION_BN = """\
def residual_block(x, filters, stride, name):
    y = keras.layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=False,
                            name=f"{name}_conv1")(x)
    y = keras.layers.BatchNormalization(name=f"{name}_bn1")(y)
    y = keras.layers.Activation("relu", name=f"{name}_relu1")(y)
    y = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv2")(y)
    y = keras.layers.BatchNormalization(name=f"{name}_bn2")(y)
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = keras.layers.Conv2D(filters, 1, strides=stride, use_bias=False,
                                       name=f"{name}_proj")(x)
    y = keras.layers.Add(name=f"{name}_add")([y, shortcut])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)"""

WRONG = {
    "06.1": [
        WrongAnswer("batch norms left out", """\
identity_module_params = 256 * 64 + 3 * 3 * 64 * 64 + 64 * 256
reduce_module_params = 128 * 64 + 3 * 3 * 64 * 64 + 64 * 256 + 128 * 256""", 0),
        WrongAnswer("the shortcut convolution forgotten", """\
identity_module_params = (256 * 64 + 3 * 3 * 64 * 64 + 64 * 256) + 4 * (256 + 64 + 64)
reduce_module_params = (128 * 64 + 3 * 3 * 64 * 64 + 64 * 256) + 4 * (128 + 64 + 64)""", 1),
    ],
    "06.2": [
        WrongAnswer("no shortcut (a plain block)", _PLAIN, 1),
        WrongAnswer("projection shortcut without batch norm", _NO_PROJECTION_BN, 2),
    ],
    "06.3": [
        WrongAnswer("degradation read the wrong way round", """\
final_train_loss = {name: rows[-1]["loss"] for name, rows in histories.items()}
degraded = bool(final_train_loss["plain56"] < final_train_loss["plain20"])""", 1),
        WrongAnswer("validation losses instead of training losses", """\
final_train_loss = {name: rows[-1]["val_loss"] for name, rows in histories.items()}
degraded = bool(final_train_loss["plain56"] > final_train_loss["plain20"])""", 1,
                    run_dependent=True),
    ],
}
