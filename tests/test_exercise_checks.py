"""Every lab's checks: solutions earn full marks, stubs nothing, wrong answers what we intend.

Each answer runs in a namespace prepared like the lab's at its Exercises section:
the lab's imports plus the few lab variables the exercises read, built small.
"""

from __future__ import annotations

import importlib

import pytest

from cnnlabs import exercises
from cnnlabs.exercises import assign

LABS = list(range(1, 12))

#: What each lab's kernel holds when its exercises run (imports and lab variables).
CONTEXTS = {
    1: """\
import numpy as np
from cnnlabs import arithmetic, reference
""",
    2: """\
import keras
import numpy as np
from keras import layers
from cnnlabs import arithmetic, reference
""",
    3: """\
import keras
import numpy as np
from keras import layers
from cnnlabs import config, datasets, evaluation, models, pipelines, recipes, training
config.seed_everything(42)
profile = config.get_profile("smoke")
mnist = datasets.load("mnist", profile)
recipe = recipes.recipe("lenet", profile)
data = pipelines.build(mnist, recipe.batch_size, profile, seed=42)
# The lab's test report, with a known most frequent mistake: 4 read as 9.
rng = np.random.default_rng(0)
y_pred = np.where(rng.random(data.n_test) < 0.9, data.y_test, rng.integers(0, 10, data.n_test))
y_pred[np.flatnonzero(data.y_test == 4)[:12]] = 9
report = evaluation.classification_report(data.y_test, y_pred, data.class_names)
""",
    4: """\
import json
import tempfile
from pathlib import Path
from types import SimpleNamespace
import keras
import numpy as np
from keras import layers
from cnnlabs import training
# The comparison's runs: a test accuracy and a history folder each.
runs = {}
for label, accuracy, rows in [
        ("MiniVGGNet + aug", 0.61, [(0.52, 0.55), (0.66, 0.62)]),
        ("MiniVGGNet, no BN + aug", 0.48, [(0.41, 0.44), (0.50, 0.49)]),
        ("MiniVGGNet, no aug", 0.57, [(0.60, 0.52), (0.81, 0.58)]),
        ("AlexNet variant + aug", 0.55, [(0.45, 0.47), (0.58, 0.56)])]:
    run_dir = Path(tempfile.mkdtemp())
    history = [{"epoch": i + 1, "accuracy": a, "val_accuracy": v}
               for i, (a, v) in enumerate(rows)]
    (run_dir / training.HISTORY_FILE).write_text(json.dumps(history))
    runs[label] = SimpleNamespace(report=SimpleNamespace(accuracy=accuracy), run_dir=run_dir)
""",
    5: """\
import keras
import numpy as np
from cnnlabs import evaluation
from cnnlabs.models import minigooglenet
# The lab's test report, in which "cat" has the lowest recall.
names = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
         "truck"]
y_true = np.repeat(np.arange(10), 20)
y_pred = y_true.copy()
rng = np.random.default_rng(0)
for c, wrong in enumerate([2, 1, 6, 11, 5, 8, 3, 4, 1, 2]):
    y_pred[np.flatnonzero(y_true == c)[:wrong]] = (c + 1 + rng.integers(0, 9)) % 10
report = evaluation.classification_report(y_true, y_pred, names)
""",
    6: """\
import keras
import numpy as np
from cnnlabs import arithmetic
from cnnlabs.models import resnet
# The degradation experiment's histories: plain56 ends above plain20.
histories = {
    "plain20": [{"epoch": 1, "loss": 1.92, "val_loss": 1.81},
                {"epoch": 2, "loss": 1.41, "val_loss": 1.52}],
    "plain56": [{"epoch": 1, "loss": 2.11, "val_loss": 2.02},
                {"epoch": 2, "loss": 1.73, "val_loss": 1.77}],
    "resnet56": [{"epoch": 1, "loss": 1.85, "val_loss": 1.79},
                 {"epoch": 2, "loss": 1.22, "val_loss": 1.38}],
}
""",
    7: """\
from types import SimpleNamespace
import keras
import numpy as np
from cnnlabs import evaluation, pipelines

rng = np.random.default_rng(0)

def split(n):  # pneumonia (1) is the majority and a little brighter
    y = (rng.random(n) < 0.7).astype(int)
    brightness = rng.normal(0.4 + 0.1 * y, 0.08)[:, None, None, None]
    x = np.clip(brightness + rng.normal(0, 0.1, (n, 28, 28, 1)), 0, 1)
    return (x * 255).astype("uint8"), y

(x_val, y_val), (x_test, y_test) = split(120), split(160)
data = SimpleNamespace(val=pipelines.from_arrays(x_val, y_val, 32, training=False),
                       y_val=y_val, test=pipelines.from_arrays(x_test, y_test, 32, training=False),
                       y_test=y_test, class_names=["normal", "pneumonia"])
# A model whose pneumonia score grows with the image's brightness.
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.GlobalAveragePooling2D(),
                          keras.layers.Dense(2, activation="softmax")])
model.set_weights([np.array([[-10.0, 10.0]], "float32"), np.array([4.5, -4.5], "float32")])
report = evaluation.evaluate_binary(model, data.val, data.y_val, data.test, data.y_test,
                                    data.class_names)
""",
    8: """\
import numpy as np
from cnnlabs import evaluation
from cnnlabs.datasets import chest_xray
# The test report at a threshold chosen on validation: 234 normal, 390 pneumonia.
rng = np.random.default_rng(0)
y_test = np.r_[np.zeros(234, int), np.ones(390, int)]
scores = np.clip(rng.normal(0.35 + 0.3 * y_test, 0.2), 0, 1)
report = evaluation.binary_report(y_test, scores, 0.5, ["NORMAL", "PNEUMONIA"])
""",
    9: """\
import keras
import numpy as np
from cnnlabs import arithmetic, explain
# The three nearest of ten gallery digits for each of four queries, in pixel and in
# feature space: their first neighbours all agree, the others do not all.
gallery_labels = np.array([0, 1, 2, 3, 0, 1, 2, 3, 0, 1])
query_labels = np.array([0, 1, 2, 3])
pixel_neighbours = explain.Neighbours(np.array([[0, 1, 4], [5, 2, 3], [6, 0, 1], [3, 7, 9]]),
                                      np.zeros((4, 3), "float32"))
feature_neighbours = explain.Neighbours(np.array([[0, 4, 8], [1, 5, 9], [2, 6, 3], [7, 3, 0]]),
                                        np.zeros((4, 3), "float32"))
""",
    10: """\
import numpy as np
from cnnlabs import detection
from cnnlabs.detection import GridSpec
# The detector's test report: digit 1 has the lowest AP@0.5.
ap50 = [0.95, 0.81, 0.92, 0.93, 0.93, 0.93, 0.93, 0.92, 0.87, 0.91]
ap50_95 = [0.66, 0.41, 0.60, 0.62, 0.61, 0.62, 0.63, 0.60, 0.55, 0.58]
report = detection.DetectionReport(
    split="test", n_images=200, class_names=[str(d) for d in range(10)], n_objects=[50] * 10,
    n_detections=[80] * 10, ap50=ap50, ap50_11=[v - 0.03 for v in ap50], ap50_95=ap50_95,
    map50=float(np.mean(ap50)), map50_11=float(np.mean(ap50)) - 0.03,
    map50_95=float(np.mean(ap50_95)))
""",
    11: """\
import numpy as np
from types import SimpleNamespace
from cnnlabs import tricks
# The ladder's results: the biggest gain is not the last step's, and TTA gains 0.8 points.
rungs = [SimpleNamespace(trick=SimpleNamespace(label=label), accuracy=accuracy)
         for label, accuracy in [("MiniVGGNet, its recipe", 0.452),
                                 ("airbench94 net, plain SGD", 0.581),
                                 ("+ triangle schedule", 0.642),
                                 ("+ alternating flip, reflect shift", 0.655),
                                 ("+ TTA (mirror, 1-pixel shifts)", 0.663)]]
""",
}

_contexts: dict[int, dict] = {}


def _module(lab: int):
    return importlib.import_module(f"cnnlabs.exercises.lab{lab:02d}")


def _answer(exercise_id: str, code: str, stubs: bool = False) -> dict:
    """The lab's namespace after the exercises this one builds on, then ``code``.

    With ``stubs`` those exercises are left as the student notebook has them.
    """
    lab = int(exercise_id[:2])
    if lab not in _contexts:
        namespace: dict = {}
        exec(CONTEXTS[lab], namespace)
        _contexts[lab] = namespace
    namespace = dict(_contexts[lab])
    module = _module(lab)
    for needed in getattr(module, "DEPENDS", {}).get(exercise_id, []):
        solution = module.SOLUTIONS[needed]
        exec(assign.stub_code_cell(solution) if stubs else solution, namespace)
    exec(code, namespace)
    return namespace


EXERCISES = [e for lab in LABS for e in exercises.lab_exercises(lab)]
WRONG = [(e.id, w) for e in EXERCISES for w in _module(e.lab).WRONG.get(e.id, [])]


@pytest.mark.parametrize("entry", EXERCISES, ids=[e.id for e in EXERCISES])
def test_the_solution_earns_full_marks(entry):
    result = exercises.run(entry.id, _answer(entry.id, _module(entry.lab).SOLUTIONS[entry.id]))
    assert (result.points, result.status, result.message) == (entry.points, "correct", "")


@pytest.mark.parametrize("entry", EXERCISES, ids=[e.id for e in EXERCISES])
def test_the_untouched_stub_earns_nothing(entry):
    stubbed = assign.stub_code_cell(_module(entry.lab).SOLUTIONS[entry.id])
    result = exercises.run(entry.id, _answer(entry.id, stubbed, stubs=True))
    assert (result.points, result.status) == (0, "not answered")
    assert result.message.startswith("not answered yet (`")


@pytest.mark.parametrize(("exercise_id", "wrong"), WRONG,
                         ids=[f"{i}-{w.label}" for i, w in WRONG])
def test_a_realistic_wrong_answer_earns_the_intended_points(exercise_id, wrong):
    result = exercises.run(exercise_id, _answer(exercise_id, wrong.code))
    assert result.points == wrong.points, result.message
    assert result.status in ("partial", "wrong")
    assert result.message  # it says what kind of answer is expected


@pytest.mark.parametrize("lab", LABS)
def test_every_lab_has_three_to_six_exercises_and_a_question_or_two(lab):
    entries = exercises.lab_exercises(lab)
    questions = exercises.lab_questions(lab)
    module = _module(lab)
    assert 3 <= len(entries) <= 6 and 1 <= len(questions) <= 2
    numbers = sorted(int(x.id.split(".")[1]) for x in [*entries, *questions])
    assert numbers == list(range(1, len(numbers) + 1))  # 01.1, 01.2, ... with no gaps
    assert set(module.SOLUTIONS) == {e.id for e in entries}
    assert set(module.MODEL_ANSWERS) == {q.id for q in questions}
    assert all(module.WRONG.get(e.id) for e in entries)  # every exercise has a fixture
    assert all("\n" not in e.goal for e in entries)
    kinds = {e.kind for e in entries}
    assert kinds <= set(exercises.KINDS) and len(kinds) >= 2


def test_the_labs_cover_every_kind_of_exercise():
    assert {e.kind for e in EXERCISES} == set(exercises.KINDS)
