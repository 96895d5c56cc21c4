"""Lab 09 · what a CNN sees: the checks of its exercises and the rubric of its question.

``SOLUTIONS``, ``WRONG`` and ``MODEL_ANSWERS`` as in :mod:`cnnlabs.exercises.lab01`.
The exercises use the lab's setup imports (``np``, ``arithmetic``, ``explain`` ...) and
its variables ``pixel_neighbours`` and ``feature_neighbours`` (the nearest training
digits of the lab's test digits, in pixel and in feature space), ``query_labels`` and
``gallery_labels``.
"""

from __future__ import annotations

import numpy as np

from cnnlabs import arithmetic
from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question

#: MiniVGGNet up to its second pooling: two 3x3 convolutions, a 2x2 pool with stride 2, twice.
_VGG_TO_POOL2 = [(3, 1), (3, 1), (2, 2), (3, 1), (3, 1), (2, 2)]


@exercise("09.1", points=2, kind="compute",
          goal="MiniVGGNet stacks two 3x3 convolutions (stride 1), a 2x2 max pool with stride 2, "
               "two more 3x3 convolutions and another such pool: set `rf_vgg_pool2` to the side "
               "of the input square that one unit after the second pool sees, and "
               "`jump_vgg_pool2` to the input pixels between two neighbouring units there")
def _vgg_receptive_field(a: Answers) -> Feedback:
    field = arithmetic.receptive_field(_VGG_TO_POOL2)[-1]
    return a.parts(
        (1, lambda: a.integer("rf_vgg_pool2") == field.size,
         "`rf_vgg_pool2` is off: each layer widens the field by (kernel - 1) times the jump "
         "before it, not by (kernel - 1) alone"),
        (1, lambda: a.integer("jump_vgg_pool2") == field.jump,
         "`jump_vgg_pool2` is off: the jump is the product of the strides of every layer up "
         "to and including this one"),
    )


def _cam_case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Activations and gradients (6, 5, 4), and their weighted sum before the ReLU."""
    rng = np.random.default_rng(9)
    activations = np.maximum(rng.normal(size=(6, 5, 4)), 0.0)
    gradients = rng.normal(size=(6, 5, 4))
    raw = (activations * gradients.mean(axis=(0, 1))).sum(axis=-1)
    return activations, gradients, raw


@exercise("09.2", points=3, kind="implement",
          goal="write `gradcam_from(activations, gradients)`: the Grad-CAM map (h, w) of one "
               "image from a layer's activations and the gradients of the class score with "
               "respect to them, both (h, w, channels): each channel weighted by the mean of "
               "its gradient over all positions, summed over the channels, negative values set "
               "to 0 (not resized, not scaled)")
def _gradcam_from(a: Answers) -> Feedback:
    activations, gradients, raw = _cam_case()

    def answer() -> np.ndarray:
        out = a.call("gradcam_from", activations.copy(), gradients.copy())
        try:
            out = np.asarray(out, dtype=float)
        except (TypeError, ValueError):
            raise Wrong("`gradcam_from` should return an array of numbers (h, w)") from None
        if out.shape != raw.shape:
            raise Wrong(f"`gradcam_from` returns shape {out.shape} for activations shaped "
                        f"{activations.shape}: one value per position (h, w)")
        return out

    return a.parts(
        (1, lambda: answer() is not None,
         "`gradcam_from` should return one value per position"),
        (1, lambda: np.all(np.abs(answer()[raw <= 0]) < 1e-6) and np.all(answer() >= -1e-6),
         "`gradcam_from` keeps negative evidence, or gives positions whose weighted sum is "
         "negative a value: Grad-CAM keeps the positive part of the sum (a ReLU after summing "
         "over the channels)"),
        (1, lambda: np.allclose(answer()[raw > 0], raw[raw > 0], rtol=1e-4, atol=1e-6),
         "`gradcam_from` is off where the map is positive: weigh each channel's activations "
         "by the mean of that channel's gradient over all positions, then sum the channels"),
    )


@exercise("09.3", points=2, kind="implement",
          goal="write `integrated_gradients_by_hand(gradient_of, x, baseline, steps)`: the "
               "integrated gradients of `x` against `baseline` (arrays of one shape) for a "
               "function whose gradient at a point is `gradient_of(point)`: (x - baseline) "
               "times the mean gradient at the midpoints of `steps` equal pieces of the straight "
               "path from baseline to x")
def _integrated_gradients(a: Answers) -> Feedback:
    rng = np.random.default_rng(3)

    def run(gradient_of, x: np.ndarray, baseline: np.ndarray, steps: int) -> np.ndarray:
        out = a.call("integrated_gradients_by_hand", gradient_of, x.copy(), baseline.copy(),
                     steps)
        try:
            out = np.asarray(out, dtype=float)
        except (TypeError, ValueError):
            raise Wrong("`integrated_gradients_by_hand` should return an array shaped like "
                        "`x`") from None
        if out.shape != x.shape:
            raise Wrong(f"`integrated_gradients_by_hand` returns shape {out.shape} for x "
                        f"shaped {x.shape}: one attribution per value of x")
        return out

    def complete() -> bool:
        x = np.array([[0.5, -1.0, 1.5], [2.0, 0.25, -0.75]])
        # f(x) = sum(x ** 2): the attributions add up to f(x) - f(0)
        attributions = run(lambda point: 2.0 * np.asarray(point), x, np.zeros_like(x), 16)
        return bool(np.isclose(attributions.sum(), (x ** 2).sum(), rtol=1e-4))

    def per_value() -> bool:
        x = rng.uniform(-1.5, 1.5, size=(4, 4))
        baseline = rng.uniform(-0.5, 0.5, size=(4, 4))
        # f(x) = sum(x ** 3): value i's share is x_i ** 3 - baseline_i ** 3
        attributions = run(lambda point: 3.0 * np.asarray(point) ** 2, x, baseline, 64)
        return bool(np.allclose(attributions, x ** 3 - baseline ** 3, atol=2e-3))

    return a.parts(
        (1, complete,
         "`integrated_gradients_by_hand` breaks completeness for f(x) = sum(x**2) from a zero "
         "baseline: the attributions must add up to f(x) - f(baseline); average the gradient "
         "at points along the path, at the middle of each piece, and multiply by x - baseline"),
        (1, per_value,
         "`integrated_gradients_by_hand` is off for f(x) = sum(x**3) from a non-zero "
         "baseline: the path runs from the baseline to x, baseline + alpha * (x - baseline)"),
    )


@exercise("09.4", points=2, kind="train-and-read",
          goal="set `pixel_agreement` to the share of all the neighbours in the lab's "
               "`pixel_neighbours` whose label (`gallery_labels`) is their query's "
               "(`query_labels`), and `feature_agreement` to that share for "
               "`feature_neighbours`")
def _agreement(a: Answers) -> Feedback:
    gallery_labels = np.asarray(a.lab("gallery_labels"))
    query_labels = np.asarray(a.lab("query_labels"))

    def share(name: str) -> float:
        indices = np.asarray(a.lab(name).indices)
        return float((gallery_labels[indices] == query_labels[:, None]).mean())

    return a.parts(
        (1, lambda: abs(a.number("pixel_agreement") - share("pixel_neighbours")) < 1e-6,
         "`pixel_agreement` is off: count every neighbour of every query (all k columns of "
         "`pixel_neighbours.indices`) and divide by their number, a fraction from 0 to 1"),
        (1, lambda: abs(a.number("feature_agreement") - share("feature_neighbours")) < 1e-6,
         "`feature_agreement` is off: the same share for `feature_neighbours.indices`"),
    )


question("09.5", "Saliency, occlusion, integrated gradients and Grad-CAM each answer \"where "
                 "does the network look?\". Which would you show a radiologist for the "
                 "PneumoniaMNIST network, and what can each of them miss?",
         [(1, "Grad-CAM is class-specific and shows regions, but at the resolution of the "
              "last feature map (7x7 here): it misses fine detail and can spread over the "
              "border"),
          (1, "gradients (saliency, SmoothGrad, guided backpropagation) are pixel-sharp but "
              "noisy and local (a tiny change at this very image; saturated evidence gets no "
              "gradient); integrated gradients add up to the score change (completeness) but "
              "depend on the baseline"),
          (1, "occlusion measures the drop directly and needs no gradient, but depends on the "
              "patch size and the fill value; no map proves the network right: compare "
              "methods and check them against known cases")])


SOLUTIONS = {
    "09.1": """\
# BEGIN SOLUTION
# TODO: a whole number of pixels: each layer adds (kernel - 1) x the jump before it
rf_vgg_pool2 = (1 + (3 - 1) * 1 + (3 - 1) * 1 + (2 - 1) * 1  # conv, conv, pool: jump 1
                + (3 - 1) * 2 + (3 - 1) * 2 + (2 - 1) * 2)  # conv, conv, pool: jump 2
# TODO: a whole number of pixels: the product of the strides
jump_vgg_pool2 = 1 * 1 * 2 * 1 * 1 * 2
# END SOLUTION""",
    "09.2": """\
# BEGIN SOLUTION
def gradcam_from(activations, gradients):
    \"\"\"Grad-CAM of one image: channels weighted by their mean gradient, summed, then ReLU.\"\"\"
    weights = np.mean(gradients, axis=(0, 1))  # one weight per channel
    return np.maximum(np.sum(activations * weights, axis=-1), 0.0)
# END SOLUTION""",
    "09.3": """\
# BEGIN SOLUTION
def integrated_gradients_by_hand(gradient_of, x, baseline, steps):
    \"\"\"(x - baseline) times the mean gradient at the midpoints of the straight path.\"\"\"
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    alphas = (np.arange(steps) + 0.5) / steps
    mean_gradient = np.mean([gradient_of(baseline + a * (x - baseline)) for a in alphas], axis=0)
    return (x - baseline) * mean_gradient
# END SOLUTION""",
    "09.4": """\
# BEGIN SOLUTION
# TODO: a fraction: neighbours whose gallery label is their query's label, over all of them
pixel_agreement = float(np.mean(gallery_labels[pixel_neighbours.indices]
                                == query_labels[:, None]))
# TODO: a fraction: the same for feature_neighbours
feature_agreement = float(np.mean(gallery_labels[feature_neighbours.indices]
                                  == query_labels[:, None]))
# END SOLUTION""",
}

MODEL_ANSWERS = {
    "09.5": "Grad-CAM first: it is specific to the class the network decided, and it shows "
            "which region of the X-ray carried that decision. But it only has the resolution "
            "of the last feature map (7x7 for this ResNet), so it blurs over fine structures "
            "and can bleed onto the border of the image. Saliency maps are pixel-sharp but "
            "noisy, and they describe what a tiny change does at this very image: evidence "
            "the network is already sure about (saturated) gets no gradient. Integrated "
            "gradients fix that with completeness (the attributions add up to the score "
            "change) but depend on the baseline chosen (a black image is not a healthy lung). "
            "Occlusion measures the drop in the score directly, without gradients, but the "
            "answer depends on the patch size and on what the patch is filled with. None of "
            "them proves that the network is right; I would show Grad-CAM next to occlusion, "
            "and only after checking the methods on cases with a known answer.",
}

WRONG = {
    "09.1": [
        WrongAnswer("every layer widens the field by kernel - 1 (the jump forgotten)", """\
rf_vgg_pool2 = 1 + 2 + 2 + 1 + 2 + 2 + 1
jump_vgg_pool2 = 4""", 1),
        WrongAnswer("the second pool left out", """\
rf_vgg_pool2 = 14
jump_vgg_pool2 = 2""", 0),
    ],
    "09.2": [
        WrongAnswer("no ReLU after the sum", """\
def gradcam_from(activations, gradients):
    return np.sum(activations * np.mean(gradients, axis=(0, 1)), axis=-1)""", 2),
        WrongAnswer("summed gradients instead of their mean", """\
def gradcam_from(activations, gradients):
    return np.maximum(np.sum(activations * np.sum(gradients, axis=(0, 1)), axis=-1), 0.0)""", 2),
        WrongAnswer("a ReLU on each channel before the sum", """\
def gradcam_from(activations, gradients):
    weights = np.mean(gradients, axis=(0, 1))
    return np.sum(np.maximum(activations * weights, 0.0), axis=-1)""", 1),
    ],
    "09.3": [
        WrongAnswer("the gradient at x alone, no path", """\
def integrated_gradients_by_hand(gradient_of, x, baseline, steps):
    return (np.asarray(x) - np.asarray(baseline)) * gradient_of(np.asarray(x))""", 0),
        WrongAnswer("the path starts at zero whatever the baseline", """\
def integrated_gradients_by_hand(gradient_of, x, baseline, steps):
    x = np.asarray(x, dtype=float)
    alphas = (np.arange(steps) + 0.5) / steps
    return x * np.mean([gradient_of(a * x) for a in alphas], axis=0)""", 1),
        WrongAnswer("left end points instead of midpoints", """\
def integrated_gradients_by_hand(gradient_of, x, baseline, steps):
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    alphas = np.arange(steps) / steps
    return (x - baseline) * np.mean([gradient_of(baseline + a * (x - baseline))
                                     for a in alphas], axis=0)""", 0),
    ],
    "09.4": [
        WrongAnswer("the nearest neighbour only", """\
pixel_agreement = float(np.mean(gallery_labels[pixel_neighbours.indices[:, 0]] == query_labels))
feature_agreement = float(np.mean(gallery_labels[feature_neighbours.indices[:, 0]]
                                  == query_labels))""", 0, run_dependent=True),
        WrongAnswer("a percentage for pixel space", """\
pixel_agreement = 100 * float(np.mean(gallery_labels[pixel_neighbours.indices]
                                      == query_labels[:, None]))
feature_agreement = float(np.mean(gallery_labels[feature_neighbours.indices]
                                  == query_labels[:, None]))""", 1),
    ],
}
