"""Lab 11 · How fast can a CNN learn CIFAR-10?: the checks of its exercises and its question.

``SOLUTIONS``, ``WRONG`` and ``MODEL_ANSWERS`` as in :mod:`cnnlabs.exercises.lab01`.
The exercises use the lab's setup imports (``np``, ``tricks`` ...) and its variable
``rungs`` (the ladder's results, one ``tricks.Rung`` per step, in order).
"""

from __future__ import annotations

import math

import numpy as np

from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question

# airbench94's whitening layer on RGB: 2x2x3 = 12 values per patch, 12 eigenvectors and
# their negatives; a 2x2x3 kernel per filter plus a bias each.
_FILTERS = 2 * (2 * 2 * 3)
_PARAMS = 2 * 2 * 3 * _FILTERS + _FILTERS
_SMOOTHING, _CLASSES, _CAT = 0.2, 10, 3
_TARGET = np.full(_CLASSES, _SMOOTHING / _CLASSES)
_TARGET[_CAT] += 1 - _SMOOTHING
_LEAST_LOSS = float(-(_TARGET * np.log(_TARGET)).sum())


@exercise("11.1", points=2, kind="compute",
          goal="airbench94's first layer whitens the 2x2 patches of RGB images with the "
               "eigenvectors of their covariance and the negatives of those: set "
               "`whiten_filters` to its number of filters and `whiten_params` to its "
               "parameters (kernel and bias)")
def _whitening_size(a: Answers) -> Feedback:
    return a.parts(
        (1, lambda: a.integer("whiten_filters") == _FILTERS,
         "`whiten_filters` is off: a 2x2 patch of an RGB image holds 2*2*3 values, the "
         "covariance of those values has as many eigenvectors, and each comes with its "
         "negative"),
        (1, lambda: a.integer("whiten_params") == _PARAMS,
         "`whiten_params` is off: every filter is a 2x2x3 kernel, and every filter has a "
         "bias"),
    )


def _triangle(step: int, total: int, peak: float) -> float:
    """airbench's triangle, as ``cnnlabs.optim.Triangle`` computes it."""
    step = min(step, total)
    top = int(0.23 * total)
    if step < top:
        return peak * (0.2 + 0.8 * step / max(top, 1))
    return peak * (1.0 + (0.07 - 1.0) * (step - top) / max(total - top, 1))


@exercise("11.2", points=3, kind="implement",
          goal="write `triangle_lr(step, total_steps, peak)`: airbench's learning rate, "
               "linear from 0.2 * peak at step 0 up to peak at step int(0.23 * total_steps), "
               "then linear down to 0.07 * peak at total_steps, where it stays")
def _triangle_lr(a: Answers) -> Feedback:
    cases = [(430, 1.5), (84, 0.375)]  # the full recipe's steps, and the cpu ladder's

    def matches(steps_of: object) -> bool:
        for total, peak in cases:
            for step in steps_of(int(0.23 * total), total):
                value = a.call("triangle_lr", step, total, peak)
                try:
                    value = float(value)
                except (TypeError, ValueError):
                    raise Wrong("`triangle_lr` should return one number, the learning rate "
                                "at that step") from None
                if not math.isclose(value, _triangle(step, total, peak), rel_tol=1e-5):
                    return False
        return True

    return a.parts(
        (1, lambda: matches(lambda top, total: (0, 5, 10, 15)),
         "`triangle_lr` is off during the warm-up: it starts at 0.2 * peak and rises in a "
         "straight line"),
        (1, lambda: matches(lambda top, total: (top,)),
         "`triangle_lr` does not reach the peak at step int(0.23 * total_steps)"),
        (1, lambda: matches(lambda top, total: (top + 1, (top + total) // 2, total - 1, total,
                                                total + 50)),
         "`triangle_lr` is off after the peak: it falls in a straight line to 0.07 * peak at "
         "total_steps and stays there"),
    )


@exercise("11.3", points=2, kind="compute",
          goal="with label smoothing 0.2 on CIFAR-10's 10 classes, set `smoothed_target` to "
               "the target vector of a cat (class 3), an array of 10 numbers, and "
               "`least_loss` to the smallest cross-entropy (natural log) a model can reach "
               "on it")
def _smoothing(a: Answers) -> Feedback:
    def target() -> bool:
        value = np.asarray(a["smoothed_target"], dtype=float)
        if value.shape != (_CLASSES,):
            raise Wrong(f"`smoothed_target` should hold 10 numbers, one per class; got shape "
                        f"{value.shape}")
        return bool(np.allclose(value, _TARGET, atol=1e-9))

    return a.parts(
        (1, target, "`smoothed_target` is off: label smoothing keeps 1 - 0.2 on the true "
                    "class and spreads 0.2 evenly over all 10 classes, the true one included"),
        (1, lambda: math.isclose(a.number("least_loss"), _LEAST_LOSS, abs_tol=1e-4),
         "`least_loss` is off: the cross-entropy is smallest when the prediction equals the "
         "target itself, and it is then the target's entropy, -sum(t * log t)"),
    )


def _seconds_to(history: list[dict], target: float) -> float | None:
    total = 0.0
    for row in history:
        total += row["seconds"]
        if row["val_accuracy"] >= target:
            return total
    return None


@exercise("11.4", points=2, kind="implement",
          goal="write `seconds_to_target(history, target)`: the seconds of training until the "
               "first epoch whose 'val_accuracy' reaches `target`, that epoch's own "
               "'seconds' included, or None when no epoch does (history: one dict per epoch)")
def _seconds_to_target(a: Answers) -> Feedback:
    history = [{"epoch": 1, "val_accuracy": 0.41, "seconds": 31.5},
               {"epoch": 2, "val_accuracy": 0.55, "seconds": 24.0},
               {"epoch": 3, "val_accuracy": 0.52, "seconds": 26.5},
               {"epoch": 4, "val_accuracy": 0.63, "seconds": 25.0}]

    def reached() -> bool:
        for target in (0.4, 0.41, 0.5, 0.55, 0.6):
            value = a.call("seconds_to_target", [dict(r) for r in history], target)
            if not isinstance(value, (int, float)) or not math.isclose(
                    value, _seconds_to(history, target)):
                return False
        return True

    def never() -> bool:
        a.call("seconds_to_target", [dict(r) for r in history], 0.5)  # it has a body
        function = a.function("seconds_to_target")
        try:
            value = function([dict(r) for r in history], 0.7)
        except Exception as exc:  # the student's code
            raise Wrong(f"`seconds_to_target` raised {type(exc).__name__} for a target no "
                        "epoch reaches") from None
        return value is None

    return a.parts(
        (1, reached, "`seconds_to_target` is off for a target that is reached: add up the "
                     "epochs' 'seconds' up to and including the first epoch at or above it"),
        (1, never, "`seconds_to_target` should return None when no epoch reaches the target"),
    )


@exercise("11.5", points=2, kind="train-and-read",
          goal="from the ladder's `rungs`, set `biggest_gain` to the label of the step that "
               "raised the test accuracy most over the step before it, and `tta_gain` to the "
               "test accuracy of the last step minus that of the step before it")
def _read_ladder(a: Answers) -> Feedback:
    rungs = a.lab("rungs")
    if len(rungs) < 2:
        raise Wrong("the lab's `rungs` holds fewer than two steps: run the ladder first")
    gains = {r.trick.label: r.accuracy - p.accuracy for p, r in zip(rungs, rungs[1:],
                                                                     strict=False)}

    def biggest() -> bool:
        label = a["biggest_gain"]
        if label not in gains:
            raise Wrong("`biggest_gain` should be the label of one of the steps after the "
                        "first, as `rung.trick.label` gives it")
        return math.isclose(gains[label], max(gains.values()), abs_tol=1e-12)

    return a.parts(
        (1, biggest, "`biggest_gain` is not the step with the largest gain: compare each "
                     "step's accuracy with the accuracy of the step before it, not with the "
                     "first"),
        (1, lambda: math.isclose(a.number("tta_gain"),
                                 rungs[-1].accuracy - rungs[-2].accuracy, abs_tol=1e-9),
         "`tta_gain` is off: the last step's test accuracy minus the one before it (it may "
         "be negative)"),
    )


question("11.6", "Why does the lab compare the steps by the time they take to reach an "
                 "accuracy, rather than by their accuracy after a number of epochs or by the "
                 "images per second they train? Use two rows of your table.",
         [(1, "accuracy per epoch ignores what an epoch costs: a step can win per epoch and "
              "still lose in seconds (a bigger or slower network, a costlier augmentation)"),
          (1, "images per second ignores what the network learns from them: the fastest "
              "network per image (MiniVGGNet here) reaches a given accuracy later"),
          (1, "a correct reading of two rows of the table: the seconds to the target accuracy "
              "of two steps and why one is faster")])


SOLUTIONS = {
    "11.1": """\
# BEGIN SOLUTION
# TODO: a whole number
whiten_filters = 2 * (2 * 2 * 3)
# TODO: a whole number: kernel weights plus biases
whiten_params = 2 * 2 * 3 * whiten_filters + whiten_filters
# END SOLUTION""",
    "11.2": """\
# BEGIN SOLUTION
def triangle_lr(step, total_steps, peak):
    \"\"\"airbench's learning rate at `step` of `total_steps`.\"\"\"
    step = min(step, total_steps)
    top = int(0.23 * total_steps)
    if step < top:
        return peak * (0.2 + 0.8 * step / top)
    return peak * (1 - 0.93 * (step - top) / (total_steps - top))
# END SOLUTION""",
    "11.3": """\
# BEGIN SOLUTION
# TODO: an array of 10 numbers that adds up to 1
smoothed_target = np.full(10, 0.2 / 10)
smoothed_target[3] += 1 - 0.2
# TODO: a number: the cross-entropy of the best possible prediction
least_loss = float(-(smoothed_target * np.log(smoothed_target)).sum())
# END SOLUTION""",
    "11.4": """\
# BEGIN SOLUTION
def seconds_to_target(history, target):
    \"\"\"Seconds until the first epoch whose val_accuracy reaches target, else None.\"\"\"
    total = 0.0
    for row in history:
        total += row["seconds"]
        if row["val_accuracy"] >= target:
            return total
    return None
# END SOLUTION""",
    "11.5": """\
# BEGIN SOLUTION
gains = {r.trick.label: r.accuracy - p.accuracy for p, r in zip(rungs, rungs[1:])}
# TODO: a label, as rung.trick.label gives it
biggest_gain = max(gains, key=gains.get)
# TODO: a number (it may be negative)
tta_gain = rungs[-1].accuracy - rungs[-2].accuracy
# END SOLUTION""",
}

MODEL_ANSWERS = {
    "11.6": "Accuracy after a number of epochs ignores what an epoch costs: airbench94's "
            "network does about four times MiniVGGNet's arithmetic per image, and its "
            "seconds per epoch depend on the precision (bfloat16 here), the batch size and "
            "the machine, none of which the accuracy per epoch shows. Images per second "
            "ignores what is learnt from the images: steps of the ladder that train about "
            "as many images per second differ by many points of accuracy. In the table, "
            "MiniVGGNet needed all its epochs to reach its final validation accuracy, while "
            "the step with patch whitening reached that accuracy after one epoch, in a "
            "fraction of the seconds. Time to a target accuracy combines both, and is what "
            "a person waiting for a model experiences.",
}

WRONG = {
    "11.1": [
        WrongAnswer("the negated filters forgotten", """\
whiten_filters = 2 * 2 * 3
whiten_params = 2 * 2 * 3 * whiten_filters + whiten_filters""", 0),
        WrongAnswer("the biases left out", """\
whiten_filters = 2 * (2 * 2 * 3)
whiten_params = 2 * 2 * 3 * whiten_filters""", 1),
    ],
    "11.2": [
        WrongAnswer("a warm-up from zero", """\
def triangle_lr(step, total_steps, peak):
    step = min(step, total_steps)
    top = int(0.23 * total_steps)
    if step < top:
        return peak * step / top
    return peak * (1 - 0.93 * (step - top) / (total_steps - top))""", 2),
        WrongAnswer("a decay to zero", """\
def triangle_lr(step, total_steps, peak):
    step = min(step, total_steps)
    top = int(0.23 * total_steps)
    if step < top:
        return peak * (0.2 + 0.8 * step / top)
    return peak * (1 - (step - top) / (total_steps - top))""", 2),
        WrongAnswer("no warm-up and no floor", """\
def triangle_lr(step, total_steps, peak):
    return peak * max(0.0, 1 - step / total_steps)""", 0),
    ],
    "11.3": [
        WrongAnswer("the smoothing spread over the other classes only", """\
smoothed_target = np.full(10, 0.2 / 9)
smoothed_target[3] = 1 - 0.2
least_loss = float(-(smoothed_target * np.log(smoothed_target)).sum())""", 0),
        WrongAnswer("a perfect model taken to reach zero loss", """\
smoothed_target = np.full(10, 0.2 / 10)
smoothed_target[3] += 1 - 0.2
least_loss = 0.0""", 1),
    ],
    "11.4": [
        WrongAnswer("the epoch that reaches the target not counted", """\
def seconds_to_target(history, target):
    total = 0.0
    for row in history:
        if row["val_accuracy"] >= target:
            return total
        total += row["seconds"]
    return None""", 1),
        WrongAnswer("the whole run's seconds when the target is never reached", """\
def seconds_to_target(history, target):
    total = 0.0
    for row in history:
        total += row["seconds"]
        if row["val_accuracy"] >= target:
            return total
    return total""", 1),
    ],
    "11.5": [
        WrongAnswer("the most accurate step instead of the biggest gain", """\
biggest_gain = max(rungs, key=lambda r: r.accuracy).trick.label
tta_gain = rungs[-1].accuracy - rungs[-2].accuracy""", 1, run_dependent=True),
        WrongAnswer("the TTA gain with its sign flipped", """\
gains = {r.trick.label: r.accuracy - p.accuracy for p, r in zip(rungs, rungs[1:])}
biggest_gain = max(gains, key=gains.get)
tta_gain = rungs[-2].accuracy - rungs[-1].accuracy""", 1, run_dependent=True),
    ],
}
