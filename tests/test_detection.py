"""cnnlabs.detection: boxes, IoU, NMS, grid targets, AP and mAP, against Keras, TensorFlow
and cases worked by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnlabs import detection
from cnnlabs.detection import Detections, GridSpec


def random_boxes(n: int, seed: int, size: float = 100.0) -> np.ndarray:
    """``n`` random ``xyxy`` boxes with positive sides inside ``[0, size]``."""
    rng = np.random.default_rng(seed)
    corner = rng.uniform(0, size * 0.8, (n, 2))
    sides = rng.uniform(size * 0.05, size * 0.4, (n, 2))
    return np.concatenate([corner, np.minimum(corner + sides, size)], axis=1)


# --- boxes and IoU ------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b", "expected"), [
    ([0, 0, 2, 2], [3, 3, 5, 5], 0.0),            # disjoint
    ([0, 0, 4, 4], [1, 1, 3, 3], 4 / 16),         # one inside the other
    ([0, 0, 2, 2], [2, 0, 4, 2], 0.0),            # touching along an edge
    ([0, 0, 2, 2], [2, 2, 4, 4], 0.0),            # touching at a corner
    ([0, 0, 2, 2], [1, 1, 3, 3], 1 / 7),          # overlapping by one unit square
    ([0, 0, 2, 2], [0, 0, 2, 2], 1.0),            # identical
    ([0, 0, 4, 2], [2, 0, 6, 2], 4 / 12),         # half of each
    ([1, 1, 1, 1], [0, 0, 2, 2], 0.0),            # a zero-area point inside a box
    ([1, 1, 1, 1], [1, 1, 1, 1], 0.0),            # two identical zero-area boxes
    ([0, 1, 2, 1], [0, 0, 2, 2], 0.0),            # a zero-height line through a box
])
def test_iou_of_hand_worked_pairs(a, b, expected):
    assert detection.iou([a], [b])[0, 0] == pytest.approx(expected, abs=1e-12)
    assert detection.iou([b], [a])[0, 0] == pytest.approx(expected, abs=1e-12)


def test_iou_matches_keras_compute_iou_on_random_boxes():
    from keras.utils import bounding_boxes

    a, b = random_boxes(40, seed=1), random_boxes(30, seed=2)
    ours = detection.iou(a, b)
    theirs = np.asarray(bounding_boxes.compute_iou(a.astype("float32"), b.astype("float32"),
                                                   "xyxy"))
    assert ours.shape == (40, 30)
    assert (ours > 0).sum() > 20  # enough overlapping pairs for the comparison to mean something
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_iou_of_no_boxes_is_an_empty_matrix():
    assert detection.iou([], random_boxes(3, 0)).shape == (0, 3)
    assert detection.iou(random_boxes(2, 0), np.zeros((0, 4))).shape == (2, 0)


@pytest.mark.parametrize(("boxes", "message"), [
    ([[5, 0, 2, 2]], "negative width"),                # x2 < x1
    ([[0, 5, 2, 2]], "negative width or height"),      # y2 < y1
    ([[0, 0, np.nan, 2]], "NaN"),
    ([[0, 0, 2]], r"shaped \(N, 4\)"),
])
def test_bad_boxes_are_refused_with_a_clear_error(boxes, message):
    with pytest.raises(ValueError, match=message):
        detection.iou(boxes, [[0, 0, 1, 1]])


def test_centre_size_boxes_with_negative_sizes_are_refused():
    with pytest.raises(ValueError, match="negative width"):
        detection.convert_boxes([[5, 5, -2, 3]], "center_xywh", "xyxy")


FORMATS = ["xyxy", "yxyx", "xywh", "center_xywh", "rel_xyxy", "rel_yxyx", "rel_xywh",
           "rel_center_xywh"]


@pytest.mark.parametrize("target", FORMATS)
def test_box_conversions_match_keras_convert_format(target):
    from keras.utils import bounding_boxes

    boxes = random_boxes(12, seed=3, size=60)
    ours = detection.convert_boxes(boxes, "xyxy", target, image_size=(60, 80))
    theirs = np.asarray(bounding_boxes.convert_format(boxes.astype("float32"), "xyxy", target,
                                                      height=60, width=80))
    np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=1e-4)
    back = detection.convert_boxes(ours, target, "xyxy", image_size=(60, 80))
    np.testing.assert_allclose(back, boxes, atol=1e-9)


def test_box_conversions_worked_by_hand():
    box = [[10, 20, 30, 60]]  # x1, y1, x2, y2 in an image 80 high and 40 wide
    assert detection.convert_boxes(box, "xyxy", "center_xywh").tolist() == [[20, 40, 20, 40]]
    assert detection.convert_boxes(box, "xyxy", "xywh").tolist() == [[10, 20, 20, 40]]
    assert detection.convert_boxes(box, "xyxy", "yxyx").tolist() == [[20, 10, 60, 30]]
    assert detection.convert_boxes(box, "xyxy", "rel_xyxy", image_size=(80, 40)).tolist() == [
        [0.25, 0.25, 0.75, 0.75]]
    with pytest.raises(ValueError, match="image_size"):
        detection.convert_boxes(box, "xyxy", "rel_xyxy")
    with pytest.raises(ValueError, match="Unknown box format"):
        detection.convert_boxes(box, "xyxy", "ltrb")


# --- non-max suppression ------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("iou_threshold", [0.3, 0.5, 0.7])
def test_nms_keeps_the_same_boxes_as_tensorflow(seed, iou_threshold):
    import tensorflow as tf

    boxes = random_boxes(60, seed=seed)
    scores = np.random.default_rng(seed + 10).random(60)
    for max_outputs, score_threshold in ((60, -math.inf), (10, -math.inf), (60, 0.4)):
        theirs = tf.image.non_max_suppression(
            detection.convert_boxes(boxes, "xyxy", "yxyx").astype("float32"),
            scores.astype("float32"), max_outputs, iou_threshold=iou_threshold,
            score_threshold=score_threshold).numpy()
        ours = detection.non_max_suppression(boxes, scores, iou_threshold=iou_threshold,
                                             score_threshold=score_threshold,
                                             max_outputs=max_outputs)
        assert ours.tolist() == theirs.tolist()
        assert 0 < len(ours) <= max_outputs


def test_per_class_nms_is_one_tensorflow_nms_per_class():
    import tensorflow as tf

    boxes = random_boxes(80, seed=5)
    rng = np.random.default_rng(6)
    scores, classes = rng.random(80), rng.integers(0, 3, 80)
    ours = detection.non_max_suppression(boxes, scores, iou_threshold=0.4, classes=classes)
    expected = []
    for c in range(3):
        members = np.flatnonzero(classes == c)
        kept = tf.image.non_max_suppression(boxes[members].astype("float32"),
                                            scores[members].astype("float32"), 80,
                                            iou_threshold=0.4).numpy()
        expected.extend(members[kept])
    expected = sorted(expected, key=lambda i: -scores[i])
    assert ours.tolist() == expected
    agnostic = detection.non_max_suppression(boxes, scores, iou_threshold=0.4)
    assert len(agnostic) < len(ours)  # boxes of other classes no longer suppress each other


def test_nms_worked_by_hand():
    boxes = [[0, 0, 10, 10], [1, 0, 11, 10], [20, 20, 30, 30], [0, 0, 10, 10]]
    scores = [0.9, 0.8, 0.7, 0.95]
    # Box 3 (0.95) suppresses its twin 0 (IoU 1) and box 1 (IoU 9/11 = 0.82); 2 is apart.
    assert detection.non_max_suppression(boxes, scores).tolist() == [3, 2]
    assert detection.non_max_suppression(boxes, scores, iou_threshold=0.9).tolist() == [3, 1, 2]
    assert detection.non_max_suppression(boxes, scores, classes=[0, 0, 0, 1]).tolist() == [
        3, 0, 2]
    assert detection.non_max_suppression(boxes, scores, max_outputs=1).tolist() == [3]
    assert detection.non_max_suppression(boxes, scores, score_threshold=0.9).tolist() == [3]


def test_nms_of_nothing_is_nothing_and_nan_scores_are_refused():
    assert detection.non_max_suppression(np.zeros((0, 4)), []).tolist() == []
    assert detection.non_max_suppression([[0, 0, 1, 1]], [0.5], max_outputs=0).tolist() == []
    with pytest.raises(ValueError, match="NaN"):
        detection.non_max_suppression([[0, 0, 1, 1], [0, 0, 2, 2]], [0.5, np.nan])
    with pytest.raises(ValueError, match="one number per box"):
        detection.non_max_suppression([[0, 0, 1, 1]], [0.5, 0.4])
    with pytest.raises(ValueError, match="must lie in 0"):
        detection.non_max_suppression([[0, 0, 1, 1]], [0.5], classes=[-1])


# --- the grid -----------------------------------------------------------------------------------


def test_yolo_v1_on_pascal_voc_outputs_7_by_7_by_30():
    spec = GridSpec(grid_size=7, boxes=2, classes=20)
    assert spec.shape == (7, 7, 30) and math.prod(spec.shape) == 1470  # the lecture's figure
    with_anchors = GridSpec(grid_size=13, boxes=5, classes=20,
                            anchors=[(0.1, 0.1)] * 5)  # YOLO v2: 5 anchors of (5 + 20)
    assert with_anchors.shape == (13, 13, 125)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"grid_size": 0, "boxes": 2, "classes": 3}, "grid_size"),
    ({"grid_size": 4, "boxes": 2.5, "classes": 3}, "boxes"),
    ({"grid_size": 4, "boxes": 2, "classes": 3, "anchors": [(0.1, 0.2)]}, "one anchor"),
    ({"grid_size": 4, "boxes": 1, "classes": 3, "anchors": [(0.0, 0.2)]}, "positive"),
])
def test_bad_grid_specs_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GridSpec(**kwargs)


def test_encode_writes_the_label_vector_relative_to_the_cell():
    # A 3x3 grid on a 90x90 image: the box (40..70, 10..34) has its centre at (55, 22),
    # in the cell of row 0, column 1, whose top-left corner is (30, 0) and side 30.
    spec = GridSpec(grid_size=3, boxes=2, classes=4)
    box = detection.convert_boxes([[40, 10, 70, 34]], "xyxy", "rel_xyxy", image_size=(90, 90))
    target = detection.encode(box, [2], spec)
    expected = np.zeros(14)
    expected[:5] = [1, 25 / 30, 22 / 30, 30 / 30, 24 / 30]  # P, bx, by, bw, bh
    expected[10 + 2] = 1  # c3
    np.testing.assert_allclose(target[0, 1], expected, atol=1e-6)
    assert np.count_nonzero(target) == np.count_nonzero(expected)


@pytest.mark.parametrize("anchors", [None, [(0.1, 0.3), (0.3, 0.1), (0.2, 0.2)]])
def test_encode_then_decode_gives_back_the_boxes(anchors):
    spec = GridSpec(grid_size=8, boxes=3, classes=10, anchors=anchors)
    rng = np.random.default_rng(4)
    for _ in range(20):
        n = int(rng.integers(1, 6))
        cells = rng.permutation(64)[:n]  # distinct cells, so no object is left out
        col_row = np.stack([cells % 8, cells // 8], axis=1)
        centre = (col_row + rng.uniform(0.05, 0.95, (n, 2))) / 8
        size = rng.uniform(0.05, 0.3, (n, 2))  # up to 2.4 cells: bw, bh may exceed 1
        boxes = detection.convert_boxes(np.concatenate([centre, size], axis=1),
                                        "rel_center_xywh", "rel_xyxy")
        boxes = boxes[((boxes >= 0) & (boxes <= 1)).all(axis=1)]  # inside the image
        n = len(boxes)
        classes = rng.integers(0, 10, n)
        found, scores, labels = detection.decode(detection.encode(boxes, classes, spec), spec,
                                                 score_threshold=0.5)
        order_in, order_out = np.lexsort(boxes.T[::-1]), np.lexsort(found.T[::-1])
        np.testing.assert_allclose(found[order_out], boxes[order_in], atol=1e-6)
        assert labels[order_out].tolist() == classes[order_in].tolist()
        assert scores.tolist() == [1.0] * n


def test_an_image_without_objects_encodes_to_zeros_and_decodes_to_nothing():
    spec = GridSpec(grid_size=4, boxes=2, classes=3)
    target = detection.encode(np.zeros((0, 4)), [], spec)
    assert target.shape == (4, 4, 13) and not target.any()
    boxes, scores, classes = detection.decode(target, spec)
    assert boxes.shape == (0, 4) and scores.size == 0 and classes.size == 0
    assert len(detection.postprocess(target, spec)) == 0


def test_two_objects_in_one_cell_keep_the_larger_without_anchors_and_both_with_anchors():
    small, large = [0.30, 0.30, 0.36, 0.42], [0.20, 0.20, 0.45, 0.45]  # centres in one cell
    v1 = GridSpec(grid_size=4, boxes=2, classes=3)
    assert detection.assign([small, large], v1).tolist() == [[-1, -1, -1], [1, 1, 0]]
    target = detection.encode([small, large], [0, 1], v1)
    assert target[1, 1, 0] == 1 and target[1, 1, 5] == 0 and target[1, 1, 10 + 1] == 1
    anchored = GridSpec(grid_size=4, boxes=2, classes=3, anchors=[(0.06, 0.12), (0.25, 0.25)])
    assert detection.assign([small, large], anchored).tolist() == [[1, 1, 0], [1, 1, 1]]


def test_anchors_are_assigned_by_the_iou_of_their_shapes():
    anchors = [(0.1, 0.4), (0.4, 0.1), (0.2, 0.2)]
    shapes = [(0.08, 0.35), (0.5, 0.12), (0.22, 0.18)]  # tall, wide, square
    overlap = detection.anchor_shapes_iou(shapes, anchors)
    assert overlap.argmax(axis=1).tolist() == [0, 1, 2]
    # Tall box and tall anchor, centred: intersection 0.08 x 0.35, union 0.04.
    assert overlap[0, 0] == pytest.approx(0.08 * 0.35 / 0.04)
    spec = GridSpec(grid_size=2, boxes=3, classes=2, anchors=anchors)
    boxes = detection.convert_boxes([[0.25, 0.25, *shapes[0]], [0.75, 0.75, *shapes[1]]],
                                    "rel_center_xywh", "rel_xyxy")
    assert detection.assign(boxes, spec).tolist() == [[0, 0, 0], [1, 1, 1]]


@pytest.mark.parametrize(("boxes", "classes", "message"), [
    ([[0.1, 0.1, 0.2, 0.2]], [3], "must lie in 0 to 2"),
    ([[0.1, 0.1, 0.2, 0.2]], [-1], "must lie in 0"),
    ([[0.1, 0.1, 0.2, 0.2]], [0.5], "whole class indices"),
    ([[0.3, 0.1, 0.2, 0.2]], [0], "negative width"),
    ([[10, 10, 20, 20]], [0], "relative to the image"),
    ([[0.1, 0.1, 0.2, 0.2]], [0, 1], "one class index per box"),
])
def test_bad_objects_are_refused_when_encoding(boxes, classes, message):
    with pytest.raises(ValueError, match=message):
        detection.encode(boxes, classes, GridSpec(grid_size=4, boxes=1, classes=3))


def test_decode_refuses_nan_and_wrong_shapes():
    spec = GridSpec(grid_size=2, boxes=1, classes=2)
    grid = np.zeros(spec.shape)
    grid[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        detection.decode(grid, spec)
    with pytest.raises(ValueError, match="one image"):
        detection.decode(np.zeros((1, *spec.shape)), spec)


def test_postprocess_suppresses_duplicates_of_one_object():
    spec = GridSpec(grid_size=2, boxes=2, classes=2)
    grid = np.zeros(spec.shape)
    # Both slots of cell (0, 0) see the same object of class 1 with slightly different boxes.
    grid[0, 0, :10] = [0.9, 0.5, 0.5, 1.0, 1.0, 0.6, 0.55, 0.5, 1.0, 1.0]
    grid[0, 0, 10:] = [0.2, 0.8]
    found = detection.postprocess(grid, spec, score_threshold=0.1)
    assert len(found) == 1 and found.classes.tolist() == [1]
    assert found.scores[0] == pytest.approx(0.9 * 0.8)
    np.testing.assert_allclose(found.boxes[0], [0.0, 0.0, 0.5, 0.5])


# --- average precision --------------------------------------------------------------------------


def test_average_precision_of_a_ranked_list_worked_by_hand():
    # Three objects; ranked detections hit, miss, hit, miss, hit.
    hits = np.array([1, 0, 1, 0, 1], dtype=bool)
    tp = np.cumsum(hits)
    recall, precision = tp / 3, tp / np.arange(1, 6)
    # Monotone envelope 1, 2/3, 2/3, 3/5, 3/5: area 1/3 * (1 + 2/3 + 3/5) = 34/45.
    assert detection.average_precision(recall, precision, "all") == pytest.approx(34 / 45)
    # 11 points: recall 0-0.3 -> 1 (4 points), 0.4-0.6 -> 2/3 (3), 0.7-1.0 -> 3/5 (4).
    assert detection.average_precision(recall, precision, "11") == pytest.approx(
        (4 + 3 * 2 / 3 + 4 * 0.6) / 11)
    # 101 points: recall 0-0.33 -> 1 (34), 0.34-0.66 -> 2/3 (33), 0.67-1.00 -> 3/5 (34).
    assert detection.average_precision(recall, precision, "101") == pytest.approx(
        (34 + 33 * 2 / 3 + 34 * 0.6) / 101)
    with pytest.raises(ValueError, match="interpolation"):
        detection.average_precision(recall, precision, "voc")


def _image(boxes, classes, scores=None):
    boxes = np.asarray(boxes, dtype=float).reshape(-1, 4)
    if scores is None:
        return boxes, np.asarray(classes)
    return Detections(boxes, np.asarray(scores, dtype=float), np.asarray(classes))


def test_a_perfect_detector_scores_one_and_only_false_positives_score_zero():
    truth = [_image([[0, 0, 10, 10], [20, 20, 30, 40]], [0, 1]), _image([[5, 5, 15, 15]], [1])]
    perfect = [_image(b, c, [0.9] * len(c)) for b, c in truth]
    report = detection.evaluate(perfect, [b for b, _ in truth], [c for _, c in truth], ["a", "b"])
    assert report.ap50 == [1.0, 1.0] and report.map50 == 1.0
    assert report.map50_11 == 1.0 and report.map50_95 == pytest.approx(1.0)
    wrong = [_image([[50, 50, 60, 60]], [0], [0.9]), _image([[40, 0, 50, 10]], [1], [0.8])]
    report = detection.evaluate(wrong, [b for b, _ in truth], [c for _, c in truth], ["a", "b"])
    assert report.ap50 == [0.0, 0.0] and report.map50 == 0.0 and report.map50_95 == 0.0


def test_evaluate_ranks_detections_across_images():
    # The ranked list of the hand-worked test, spread over two images of one class.
    truth_boxes = [[[0, 0, 10, 10], [20, 0, 30, 10]], [[0, 0, 10, 10]]]
    found = [
        _image([[0, 0, 10, 10], [50, 50, 60, 60], [20, 0, 30, 10]], [0, 0, 0], [0.9, 0.8, 0.5]),
        _image([[40, 40, 45, 45], [0, 0, 10, 10]], [0, 0], [0.6, 0.4]),
    ]
    # Ranked: 0.9 hit, 0.8 miss, 0.6 miss, 0.5 hit, 0.4 hit -> different from the hand list,
    # so work it out: precision 1, 1/2, 1/3, 2/4, 3/5 at recall 1/3, 1/3, 1/3, 2/3, 1.
    report = detection.evaluate(found, truth_boxes, [[0, 0], [0]], ["digit"])
    assert report.ap50[0] == pytest.approx((1 + 0.6 + 0.6) / 3)
    assert report.n_objects == [3] and report.n_detections == [5]


def test_a_second_detection_of_one_object_is_a_false_positive():
    truth = [[[0, 0, 10, 10]]]
    twice = [_image([[0, 0, 10, 10], [0, 0, 10, 9]], [0, 0], [0.9, 0.95])]
    report = detection.evaluate(twice, truth, [[0]], ["a"])
    # The better-scoring box (IoU 0.9) takes the object; the other is a false positive,
    # ranked second: recall reaches 1 at precision 1 already.
    assert report.ap50[0] == 1.0
    late = [_image([[0, 0, 10, 10], [0, 0, 10, 9]], [0, 0], [0.9, 0.95])]
    report = detection.evaluate(late, [[[0, 0, 10, 10], [0, 0, 10, 9]]], [[0, 0]], ["a"])
    assert report.ap50[0] == 1.0  # two objects, two matching detections


def test_coco_map_averages_ten_iou_thresholds():
    # IoU 0.72: a hit at 0.50, 0.55, 0.60, 0.65, 0.70; a miss at 0.75 ... 0.95.
    report = detection.evaluate([_image([[0, 0, 10, 7.2]], [0], [0.9])], [[[0, 0, 10, 10]]],
                                [[0]], ["a"])
    assert report.ap50 == [1.0] and report.map50_95 == pytest.approx(0.5)


def test_classes_without_objects_are_left_out_of_the_mean():
    report = detection.evaluate([_image([[0, 0, 10, 10], [30, 30, 40, 40]], [0, 2], [0.9, 0.7])],
                                [[[0, 0, 10, 10]]], [[0]], ["a", "b", "c"])
    assert report.ap50[0] == 1.0 and math.isnan(report.ap50[1]) and math.isnan(report.ap50[2])
    assert report.map50 == 1.0 and report.n_detections == [1, 0, 1]
    saved = report.to_dict()
    assert saved["per_class"]["b"]["ap50"] is None and saved["map50"] == 1.0
    assert "mAP@0.5 1.0000" in report.text


def test_nothing_detected_and_images_without_objects_give_a_correct_result():
    empty = [_image(np.zeros((0, 4)), [], []), _image(np.zeros((0, 4)), [], [])]
    report = detection.evaluate(empty, [[[0, 0, 5, 5]], np.zeros((0, 4))], [[1], []], ["a", "b"])
    assert report.ap50[1] == 0.0 and math.isnan(report.ap50[0]) and report.map50 == 0.0
    report = detection.evaluate(empty, [np.zeros((0, 4))] * 2, [[], []], ["a", "b"])
    assert math.isnan(report.map50)  # nothing to find: no AP at all, rather than a fake 0 or 1


@pytest.mark.parametrize(("found", "truth", "classes", "message"), [
    ([_image([[0, 0, 1, 1]], [0], [np.nan])], [[[0, 0, 1, 1]]], [[0]], "NaN"),
    ([_image([[0, 0, 1, 1]], [5], [0.5])], [[[0, 0, 1, 1]]], [[0]], "must lie in 0 to 1"),
    ([_image([[0, 0, 1, 1]], [0], [0.5])], [[[0, 0, 1, 1]]], [[2]], "must lie in 0 to 1"),
    ([_image([[2, 0, 1, 1]], [0], [0.5])], [[[0, 0, 1, 1]]], [[0]], "negative width"),
    ([], [[[0, 0, 1, 1]]], [[0]], "one entry per image"),
])
def test_bad_detections_or_truth_are_refused(found, truth, classes, message):
    with pytest.raises(ValueError, match=message):
        detection.evaluate(found, truth, classes, ["a", "b"])
