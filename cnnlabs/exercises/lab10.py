"""Lab 10 · detection from the grid up: the checks of its exercises and the rubric of its question.

``SOLUTIONS``, ``WRONG`` and ``MODEL_ANSWERS`` as in :mod:`cnnlabs.exercises.lab01`.
The exercises use the lab's setup imports (``np``, ``detection`` ...) and its variable
``report`` (the detector's ``detection.DetectionReport`` on the test split).
"""

from __future__ import annotations

import math

import numpy as np

from cnnlabs import detection
from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question

#: The boxes of exercise 10.1, corners (x1, y1, x2, y2) in pixels.
_A, _B, _C = (2, 2, 6, 6), (4, 3, 8, 7), (6, 2, 9, 6)


@exercise("10.1", points=2, kind="compute",
          goal="boxes A = (2, 2, 6, 6), B = (4, 3, 8, 7) and C = (6, 2, 9, 6), corners (x1, y1, "
               "x2, y2) in pixels: set `iou_ab` to the IoU of A and B, and `iou_ac` to the IoU "
               "of A and C")
def _iou_by_hand(a: Answers) -> Feedback:
    overlaps = detection.iou([_A], [_B, _C])[0]
    return a.parts(
        (1, lambda: abs(a.number("iou_ab") - overlaps[0]) < 1e-3,
         "`iou_ab` is off: the intersection is a rectangle (the larger left and top edges, "
         "the smaller right and bottom ones); divide its area by the union, the two areas "
         "less the intersection"),
        (1, lambda: abs(a.number("iou_ac") - overlaps[1]) < 1e-3,
         "`iou_ac` is off: boxes that only touch along an edge share no area (x2 = 6 is the "
         "right edge of A, not a pixel column of it)"),
    )


def _pair(value: object, name: str) -> tuple[int, int]:
    try:
        first, second = value  # type: ignore[misc]
        return int(first), int(second)
    except (TypeError, ValueError):
        raise Wrong(f"`{name}` should be a pair (row, column), got {value!r}") from None


@exercise("10.2", points=2, kind="compute",
          goal="the detector's 8 x 8 grid on the 64 x 64 canvas, a digit with box (37, 6, 49, "
               "28) in pixels: set `cell` to the (row, column) of the cell responsible for it, "
               "and `label_vector` to its (P, bx, by, bw, bh) in that cell")
def _grid_cell(a: Answers) -> Feedback:
    spec = detection.GridSpec(grid_size=8, boxes=1, classes=10)
    relative = detection.convert_boxes([[37, 6, 49, 28]], "xyxy", "rel_xyxy", image_size=(64, 64))
    row, col, _ = detection.assign(relative, spec)[0]
    expected = detection.encode(relative, [0], spec)[row, col, :5]

    def vector() -> bool:
        try:
            values = np.asarray(a["label_vector"], dtype=float).reshape(-1)
        except (TypeError, ValueError):
            raise Wrong("`label_vector` should be five numbers (P, bx, by, bw, bh)") from None
        if values.shape != (5,):
            raise Wrong(f"`label_vector` should be five numbers (P, bx, by, bw, bh), got "
                        f"{values.size}")
        return bool(np.allclose(values, expected, atol=1e-3))

    return a.parts(
        (1, lambda: _pair(a["cell"], "cell") == (row, col),
         "`cell` is off: the cell holding the box's centre, (row, column) = (floor(centre y / "
         "cell size), floor(centre x / cell size)), rows counted from the top"),
        (1, vector,
         "`label_vector` is off: P is 1; bx and by are the centre's offset from the cell's "
         "top-left corner, in cells; bw and bh the box's size, in cells too"),
    )


def _reference_nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    return detection.non_max_suppression(boxes, scores, iou_threshold=threshold).tolist()


def _random_boxes(seed: int, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, 80, size=(n, 2))
    size = rng.uniform(8, 30, size=(n, 2))
    return np.round(np.concatenate([corner, corner + size], axis=1), 2), rng.permutation(n) / n


#: A chain of boxes: 1 overlaps 0, 2 overlaps 1 (not 0), 3 overlaps 2 (not 0 or 1); listed
#: in another order than their scores.
_CHAIN = (np.array([[20, 0, 30, 10], [0, 0, 10, 10], [10, 0, 20, 10], [5, 0, 15, 10],
                    [15, 0, 25, 10]], dtype=float),
          np.array([0.5, 0.9, 0.6, 0.8, 0.7]))


@exercise("10.3", points=3, kind="implement",
          goal="write `greedy_nms(boxes, scores, iou_threshold)`: class-agnostic greedy "
               "non-max suppression of `xyxy` boxes (N, 4), the indices of the boxes kept, "
               "best score first; a box is dropped when its IoU with a kept box is more than "
               "`iou_threshold` (`detection.iou` may help)")
def _greedy_nms(a: Answers) -> Feedback:
    cases = [_CHAIN, *(_random_boxes(seed) for seed in (1, 2, 3))]

    def kept(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
        out = a.call("greedy_nms", boxes.copy(), scores.copy(), threshold)
        try:
            return [int(i) for i in np.asarray(out).reshape(-1)]
        except (TypeError, ValueError):
            raise Wrong("`greedy_nms` should return the indices of the kept boxes") from None

    def chain() -> bool:
        return set(kept(*_CHAIN, 0.3)) == set(_reference_nms(*_CHAIN, 0.3))

    def random_sets() -> bool:
        return all(set(kept(b, s, t)) == set(_reference_nms(b, s, t))
                   for b, s in cases[1:] for t in (0.2, 0.5))

    def best_first() -> bool:
        return all(kept(b, s, 0.5) == sorted(kept(b, s, 0.5), key=lambda i: -s[i])
                   for b, s in cases)

    return a.parts(
        (1, chain,
         "`greedy_nms` keeps the wrong boxes of a chain in which box 1 overlaps box 0, box 2 "
         "overlaps box 1 but not box 0, and so on: only boxes that are kept suppress others, "
         "so take the boxes best score first and compare each with the boxes kept so far"),
        (1, random_sets,
         "`greedy_nms` keeps the wrong boxes among 40 random ones: drop a box when its IoU "
         "with a kept box is more than the threshold, never when it is equal or less"),
        (1, best_first,
         "`greedy_nms` returns the kept indices in the wrong order: best score first"),
    )


def _monotone_ap(hits: list[bool], n_truth: int) -> float:
    flags = np.asarray(hits, dtype=bool)
    tp = np.cumsum(flags)
    precision = tp / np.arange(1, len(flags) + 1)
    return detection.average_precision(tp / n_truth, precision, "all")


@exercise("10.4", points=2, kind="implement",
          goal="write `ap_all_points(hits, n_truth)`: the average precision of one class from "
               "its detections ranked best score first (`hits`: True for a true positive) and "
               "its number of true objects, the area under the precision-recall curve made "
               "monotone (all-point interpolation, VOC 2010 on)")
def _average_precision(a: Answers) -> Feedback:
    def value(hits: list[bool], n_truth: int) -> float:
        out = a.call("ap_all_points", list(hits), n_truth)
        try:
            return float(out)
        except (TypeError, ValueError):
            raise Wrong(f"`ap_all_points` should return one number, got {out!r}") from None

    def missed_objects() -> bool:
        return math.isclose(value([True, False, True], 3), _monotone_ap([True, False, True], 3),
                            abs_tol=1e-6)

    def rising_precision() -> bool:
        rng = np.random.default_rng(4)
        lists = [[True, False, False, True, True], *[list(rng.random(30) < 0.5)
                                                     for _ in range(3)]]
        return all(math.isclose(value(h, sum(h) + 2), _monotone_ap(h, sum(h) + 2), abs_tol=1e-6)
                   for h in lists)

    return a.parts(
        (1, missed_objects,
         "`ap_all_points` is off for hit, miss, hit with 3 true objects: recall divides the "
         "hits so far by all the true objects, including those never found"),
        (1, rising_precision,
         "`ap_all_points` is off where precision rises again further down the list: make the "
         "curve monotone first, the precision at each recall being the best at that recall "
         "or any higher one"),
    )


@exercise("10.5", points=2, kind="train-and-read",
          goal="from the lab's test `report`, set `hardest_digit` to the digit (class index) "
               "with the lowest AP@0.5, and `localisation_gap` to mAP@0.5 minus mAP@[.5:.95]")
def _read_report(a: Answers) -> Feedback:
    report = a.lab("report")
    ap50 = np.asarray(report.ap50, dtype=float)
    lowest = np.nanmin(ap50)

    def hardest() -> bool:
        digit = a.integer("hardest_digit")
        if not 0 <= digit < len(ap50):
            raise Wrong(f"`hardest_digit` should be a class index from 0 to {len(ap50) - 1}")
        return bool(ap50[digit] == lowest)

    return a.parts(
        (1, hardest,
         "`hardest_digit` is not the class with the lowest AP@0.5: read `report.ap50`, one AP "
         "per class in class order"),
        (1, lambda: abs(a.number("localisation_gap") - (report.map50 - report.map50_95)) < 1e-6,
         "`localisation_gap` is off: `report.map50` less `report.map50_95` (a positive "
         "number: the stricter IoU thresholds lower the AP)"),
    )


question("10.6", "mAP@[.5:.95] comes out well below mAP@0.5 for this detector. What does the "
                 "difference measure, why does an 8 x 8 grid on 64 px digits make it large "
                 "(for the thin digit 1 most of all), and what would you change to close it?",
         [(1, "mAP@[.5:.95] averages the AP over IoU thresholds 0.5 to 0.95: the gap measures "
              "how tightly the boxes fit, not whether the digits are found"),
          (1, "the boxes are small (a few to 24 px) and each cell is 8 px: an error of a pixel "
              "or two is a large share of the box, and a 3 px wide 1 loses a third of its IoU "
              "for one pixel"),
          (1, "a finer grid or anchors, a loss on the IoU itself, more epochs or more data "
              "would tighten the boxes")])


SOLUTIONS = {
    "10.1": """\
# BEGIN SOLUTION
# TODO: a fraction: intersection area / (area A + area B - intersection area)
iou_ab = (2 * 3) / (16 + 16 - 2 * 3)  # the intersection is x 4..6, y 3..6
# TODO: a fraction
iou_ac = 0.0  # A and C share the edge x = 6 and no area
# END SOLUTION""",
    "10.2": """\
# BEGIN SOLUTION
# centre (43, 17) px; cells are 64 / 8 = 8 px
# TODO: a pair (row, column)
cell = (17 // 8, 43 // 8)
# TODO: five numbers (P, bx, by, bw, bh), positions and sizes in cell units
label_vector = (1.0, 43 / 8 - 5, 17 / 8 - 2, (49 - 37) / 8, (28 - 6) / 8)
# END SOLUTION""",
    "10.3": """\
# BEGIN SOLUTION
def greedy_nms(boxes, scores, iou_threshold):
    \"\"\"Indices of the boxes kept by greedy NMS, best score first.\"\"\"
    boxes, scores = np.asarray(boxes, dtype=float), np.asarray(scores, dtype=float)
    kept = []
    for i in np.argsort(-scores, kind="stable"):
        if not kept or detection.iou(boxes[i:i + 1], boxes[kept]).max() <= iou_threshold:
            kept.append(int(i))
    return kept
# END SOLUTION""",
    "10.4": """\
# BEGIN SOLUTION
def ap_all_points(hits, n_truth):
    \"\"\"All-point average precision of one class's ranked detections.\"\"\"
    hits = np.asarray(hits, dtype=bool)
    true_positives = np.cumsum(hits)
    recall = np.concatenate([[0.0], true_positives / n_truth])
    precision = np.concatenate([[0.0], true_positives / np.arange(1, len(hits) + 1)])
    envelope = np.maximum.accumulate(precision[::-1])[::-1]  # best precision from here on
    return float(np.sum(np.diff(recall) * envelope[1:]))
# END SOLUTION""",
    "10.5": """\
# BEGIN SOLUTION
# TODO: a class index, where report.ap50 is lowest
hardest_digit = int(np.nanargmin(report.ap50))
# TODO: a number: report.map50 less report.map50_95
localisation_gap = report.map50 - report.map50_95
# END SOLUTION""",
}

MODEL_ANSWERS = {
    "10.6": "mAP@0.5 counts a detection as right when its box overlaps the true one by half; "
            "mAP@[.5:.95] averages the AP over thresholds up to 0.95, so it also asks how "
            "tightly the box fits. The gap measures localisation, not recognition. The digits' "
            "boxes are small, from a few pixels to 24 px, while each grid cell is 8 px and the "
            "network sees the image through two poolings more before the grid: an error of a "
            "pixel or two in a box edge is a large share of a small box. A 1 is about 3 px "
            "wide, so one pixel too many on one side costs a third of its IoU. A finer grid "
            "(or a stride-4 head), anchors fitted to the digit shapes, a loss on the IoU of "
            "the boxes rather than on their coordinates, and more epochs would tighten them.",
}

WRONG = {
    "10.1": [
        WrongAnswer("intersection over the area of A", """\
iou_ab = 6 / 16
iou_ac = 0.0""", 1),
        WrongAnswer("pixels counted inclusively (x2 taken as a column of the box)", """\
iou_ab = (3 * 4) / (25 + 25 - 3 * 4)
iou_ac = (1 * 5) / (25 + 20 - 1 * 5)""", 0),
    ],
    "10.2": [
        WrongAnswer("(column, row)", """\
cell = (5, 2)
label_vector = (1.0, 0.375, 0.125, 1.5, 2.75)""", 1),
        WrongAnswer("the centre and size relative to the image", """\
cell = (2, 5)
label_vector = (1.0, 43 / 64, 17 / 64, 12 / 64, 22 / 64)""", 1),
    ],
    "10.3": [
        WrongAnswer("each box compared with the best box only", """\
def greedy_nms(boxes, scores, iou_threshold):
    order = np.argsort(-np.asarray(scores))
    best = order[0]
    overlaps = detection.iou(np.asarray(boxes)[[best]], np.asarray(boxes))[0]
    return [int(best)] + [int(i) for i in order[1:] if overlaps[i] <= iou_threshold]""", 1),
        WrongAnswer("kept in the order of the input", """\
def greedy_nms(boxes, scores, iou_threshold):
    boxes = np.asarray(boxes, dtype=float)
    kept = []
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        if not kept or detection.iou(boxes[i:i + 1], boxes[kept]).max() <= iou_threshold:
            kept.append(int(i))
    return sorted(kept)""", 2),
    ],
    "10.4": [
        WrongAnswer("precision not made monotone", """\
def ap_all_points(hits, n_truth):
    hits = np.asarray(hits, dtype=bool)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    return float(np.sum(precision[hits]) / n_truth)""", 1),
        WrongAnswer("recall over the objects found instead of all", """\
def ap_all_points(hits, n_truth):
    hits = np.asarray(hits, dtype=bool)
    tp = np.cumsum(hits)
    precision = tp / np.arange(1, len(hits) + 1)
    envelope = np.maximum.accumulate(precision[::-1])[::-1]
    return float(np.mean(envelope[hits]))""", 0),
    ],
    "10.5": [
        WrongAnswer("the easiest digit", """\
hardest_digit = int(np.nanargmax(report.ap50))
localisation_gap = report.map50 - report.map50_95""", 1, run_dependent=True),
        WrongAnswer("the gap the wrong way round", """\
hardest_digit = int(np.nanargmin(report.ap50))
localisation_gap = report.map50_95 - report.map50""", 1, run_dependent=True),
    ],
}
