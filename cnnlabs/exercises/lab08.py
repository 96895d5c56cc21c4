"""Lab 08 · chest X-rays and transfer learning: the checks of its exercises and the rubrics.

``SOLUTIONS``, ``WRONG``, ``DEPENDS`` and ``MODEL_ANSWERS`` as in
:mod:`cnnlabs.exercises.lab03`. The exercises use the lab's setup imports (``np``,
``chest_xray`` ...) and its variable ``report`` (the test report at the threshold
chosen on the patient-grouped validation split).
"""

from __future__ import annotations

import numpy as np

from cnnlabs import arithmetic
from cnnlabs.datasets.chest_xray import patient_id
from cnnlabs.exercises import Answers, Feedback, Wrong, WrongAnswer, exercise, question

_PNEUMONIA_NAMES = ("person123_bacteria_456.jpeg", "person1_virus_6.jpeg",
                    "person1500_bacteria_3917.jpeg")
_NORMAL_NAMES = ("IM-0115-0001.jpeg", "IM-0117-0001-0002.jpeg", "NORMAL2-IM-1419-0001.jpeg")


def _files() -> list[str]:
    """A mock Kaggle file list: several X-rays for most patients, both naming styles."""
    rng = np.random.default_rng(8)
    names = []
    for person in range(1, 19):
        for image in range(int(rng.integers(1, 4))):
            kind = "bacteria" if rng.random() < 0.6 else "virus"
            names.append(f"person{person}_{kind}_{person * 10 + image}.jpeg")
    for patient in range(101, 113):
        names.append(f"IM-{patient:04d}-0001.jpeg")
        if rng.random() < 0.5:
            names.append(f"IM-{patient:04d}-0001-0002.jpeg")
    for patient in range(1400, 1406):
        names.append(f"NORMAL2-IM-{patient}-0001.jpeg")
    return [names[i] for i in rng.permutation(len(names))]


@exercise("08.1", points=2, kind="implement",
          goal="write `patient_of(filename)`: the patient in a Kaggle chest X-ray file name, "
               "'person123_bacteria_456.jpeg' -> 'person123', 'IM-0115-0001.jpeg' -> "
               "'IM-0115', 'NORMAL2-IM-1419-0001.jpeg' -> 'NORMAL2-IM-1419'")
def _patient_of(a: Answers) -> Feedback:
    def case(names: tuple[str, ...]) -> bool:
        return all(a.call("patient_of", name) == patient_id(name) for name in names)

    return a.parts(
        (1, lambda: case(_PNEUMONIA_NAMES),
         "`patient_of` is off for the 'personN_..._M.jpeg' names (pneumonia): the patient is "
         "the part before the first underscore"),
        (1, lambda: case(_NORMAL_NAMES),
         "`patient_of` is off for the normal X-rays ('IM-0115-0001.jpeg', "
         "'IM-0117-0001-0002.jpeg', 'NORMAL2-IM-1419-0001.jpeg'): the image numbers at the "
         "end are not part of the patient"),
    )


@exercise("08.2", points=2, kind="implement",
          goal="write `grouped_split(filenames, val_fraction, seed)`: split a list of file "
               "names into (train, val) lists, about `val_fraction` of the patients in val, so "
               "that no patient has X-rays on both sides")
def _grouped_split(a: Answers) -> Feedback:
    files = _files()

    def split() -> tuple[list[str], list[str]]:
        answer = a.call("grouped_split", list(files), 0.2, 0)
        try:
            train, val = (list(side) for side in answer)
        except (TypeError, ValueError):
            raise Wrong("`grouped_split` should return two lists: (train, val)") from None
        return train, val

    def complete() -> bool:
        train, val = split()
        return bool(train) and bool(val) and sorted(train + val) == sorted(files)

    def grouped() -> bool:
        train, val = split()
        return not {patient_id(n) for n in train} & {patient_id(n) for n in val}

    return a.parts(
        (1, complete, "`grouped_split` should use every file exactly once, with files on both "
                      "sides"),
        (1, grouped, "`grouped_split` puts X-rays of the same patient on both sides: choose "
                     "the validation patients first, then take all of their files"),
    )


@exercise("08.3", points=2, kind="compute",
          goal="set `head_params_256` to the trainable parameters of a head with a 256-unit "
               "dense layer before the 2-class softmax, on MobileNetV2's 1,280 pooled "
               "features, and `densenet_head_params` to those of the lab's plain head (the "
               "2-class softmax alone) on DenseNet121's 1,024 features")
def _head_params(a: Answers) -> Feedback:
    hidden = arithmetic.dense_params(1280, 256) + arithmetic.dense_params(256, 2)
    plain = arithmetic.dense_params(1024, 2)
    return a.parts(
        (1, lambda: a.integer("head_params_256") == hidden,
         "`head_params_256` is off: two dense layers (1,280 -> 256 -> 2), each with a weight "
         "per input per unit and a bias per unit"),
        (1, lambda: a.integer("densenet_head_params") == plain,
         "`densenet_head_params` is off: one dense layer from the 1,024 features to 2 "
         "classes, with biases (pooling and dropout have no parameters)"),
    )


@exercise("08.4", points=2, kind="train-and-read",
          goal="from the test `report`, set `missed_cases` to the number of pneumonia X-rays "
               "the model calls normal and `false_alarms` to the number of normal X-rays it "
               "calls pneumonia")
def _missed_cases(a: Answers) -> Feedback:
    confusion = np.asarray(a.lab("report").confusion)
    return a.parts(
        (1, lambda: a.integer("missed_cases") == confusion[1, 0],
         "`missed_cases` is off: a count of false negatives (true pneumonia, predicted "
         "normal); the confusion matrix's rows are the true classes"),
        (1, lambda: a.integer("false_alarms") == confusion[0, 1],
         "`false_alarms` is off: a count of false positives (true normal, predicted "
         "pneumonia)"),
    )


question("08.5", "Why is the validation split of the chest X-rays grouped by patient, and "
                 "what would a plain random split of the images do to the validation figures?",
         [(1, "one child can have several X-rays, which look alike"),
          (1, "a random split puts X-rays of the same child in train and validation, so the "
              "model can score by recognising the child: validation figures become optimistic"),
          (1, "the threshold and model choices made on such a split would not hold on new "
              "patients")])

question("08.6", "Name two shortcuts a chest X-ray classifier could learn instead of the "
                 "lungs, and say how Grad-CAM helps to catch them.",
         [(1, "two plausible shortcuts: text markers or labels burnt into the film, the "
              "position or size of the patient, the edge of the film, scanner or hospital "
              "differences, image processing"),
          (1, "Grad-CAM shows which regions drive the decision: heat outside the lungs points "
              "to a shortcut (though it proves nothing on its own)")])


SOLUTIONS = {
    "08.1": """\
# BEGIN SOLUTION
def patient_of(filename):
    \"\"\"The patient in a Kaggle chest X-ray file name (the image numbers dropped).\"\"\"
    stem = filename.rsplit(".", 1)[0]
    if stem.startswith("person"):
        return stem.split("_")[0]
    parts = stem.split("-")
    return "-".join(parts[:3] if parts[0].startswith("NORMAL") else parts[:2])
# END SOLUTION""",
    "08.2": """\
# BEGIN SOLUTION
def grouped_split(filenames, val_fraction, seed):
    \"\"\"Split file names into (train, val) so that no patient is on both sides.\"\"\"
    patients = sorted({patient_of(name) for name in filenames})
    rng = np.random.default_rng(seed)
    count = max(1, round(val_fraction * len(patients)))
    chosen = set(rng.choice(patients, size=count, replace=False))
    train = [name for name in filenames if patient_of(name) not in chosen]
    val = [name for name in filenames if patient_of(name) in chosen]
    return train, val
# END SOLUTION""",
    "08.3": """\
# BEGIN SOLUTION
# TODO: a whole number: inputs * units + units for each dense layer
head_params_256 = (1280 * 256 + 256) + (256 * 2 + 2)
# TODO: a whole number
densenet_head_params = 1024 * 2 + 2
# END SOLUTION""",
    "08.4": """\
# BEGIN SOLUTION
# TODO: a whole number, from report.confusion (rows: true NORMAL, PNEUMONIA)
missed_cases = int(report.confusion[1, 0])
# TODO: a whole number
false_alarms = int(report.confusion[0, 1])
# END SOLUTION""",
}

#: Exercises whose answers another exercise needs (they run first in tests and fixtures).
DEPENDS = {"08.2": ["08.1"]}

MODEL_ANSWERS = {
    "08.5": "Many children have several X-rays (person123_bacteria_456 and "
            "person123_virus_457 are the same child), and X-rays of one child look alike. A "
            "random split of the images would put some of a child's X-rays in train and "
            "others in validation, so the model could score by recognising the child rather "
            "than pneumonia. The validation figures, and the threshold chosen on them, would "
            "then be optimistic for new patients.",
    "08.6": "The network may read text markers or labels on the film, the way the child is "
            "positioned, the edges of the film, or differences between machines and image "
            "processing that go with one class. Grad-CAM shows which regions drive the "
            "decision: heat on a marker, the shoulders or the border instead of the lungs "
            "points to such a shortcut, though a plausible map proves nothing by itself.",
}

WRONG = {
    "08.1": [
        WrongAnswer("split at the first underscore for every name", """\
def patient_of(filename):
    return filename.split("_")[0]""", 1),
        WrongAnswer("the part before the first hyphen", """\
def patient_of(filename):
    return filename.split("-")[0]""", 0),
    ],
    "08.2": [
        WrongAnswer("a random split of the files", """\
def grouped_split(filenames, val_fraction, seed):
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(filenames))
    cut = int(round(val_fraction * len(filenames)))
    return [filenames[i] for i in order[cut:]], [filenames[i] for i in order[:cut]]""", 1),
    ],
    "08.3": [
        WrongAnswer("biases left out", """\
head_params_256 = 1280 * 256 + 256 * 2
densenet_head_params = 1024 * 2""", 0),
        WrongAnswer("the 256-unit layer left out", """\
head_params_256 = 1280 * 2 + 2
densenet_head_params = 1024 * 2 + 2""", 1),
    ],
    "08.4": [
        WrongAnswer("false negatives and false positives swapped", """\
missed_cases = int(report.confusion[0, 1])
false_alarms = int(report.confusion[1, 0])""", 0, run_dependent=True),
        WrongAnswer("false alarms as a rate instead of a count", """\
missed_cases = int(report.confusion[1, 0])
false_alarms = report.confusion[0, 1] / report.confusion[0].sum()""", 1,
                    run_dependent=True),
    ],
}
