"""``cnnlabs grade`` end to end, on tiny notebooks of lab 01 (each runs in a real kernel).

One grading run (two at a time) covers full marks, untouched stubs, partial marks,
check cells deleted, emptied or tampered with, a cell that raises, an endless loop, a
kernel that dies, a file that is not JSON, and the instructor's extra tests.
"""

from __future__ import annotations

import copy
import csv
import io
import textwrap
from pathlib import Path

import nbformat
import pytest

from cnnlabs import cli, labs
from cnnlabs.exercises import assign, cells, grade, lab01

LAB = labs.get(1)
ANSWER = "The stack sees 7x7 too, with fewer weights."

HIDDEN = textwrap.dedent('''\
    import numpy as np

    from cnnlabs.exercises import extra_test


    @extra_test("01.2")
    def padded_out_is_an_int(a):
        assert isinstance(a["padded_out"], int), "`padded_out` should be an int"


    @extra_test("01.8", points=2)
    def a_wide_kernel(a):
        out = a.call("conv2d_loops", np.ones((5, 9)), np.ones((3, 5)))
        assert np.shape(out) == (3, 5), "a 3x5 kernel on a 5x9 image gives 3x5"
''')


def _solution() -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "language": "python", "display_name": "Python 3"}})
    notebook.cells = [
        nbformat.v4.new_markdown_cell(f"# 01 · Tiny\n\n{labs.colab_badge(LAB)}"),
        nbformat.v4.new_code_cell("import numpy as np\nfrom cnnlabs import arithmetic, reference"
                                  "\nfrom cnnlabs.exercises import check"),
        nbformat.v4.new_code_cell("total = sum(range(10))\nprint(total)"),
        nbformat.v4.new_markdown_cell("## Exercises"),
        *assign.exercise_cells(1),
    ]
    return notebook


def _answer_cell(notebook, exercise_id: str):
    items, _ = cells.find_items(notebook.cells)
    return notebook.cells[next(i.answer for i in items if i.id == exercise_id)]


def _without_checks(notebook, replacement: str | None):
    notebook = copy.deepcopy(notebook)
    if replacement is None:
        notebook.cells = [c for c in notebook.cells if not c.source.startswith("check(")]
    else:
        for cell in notebook.cells:
            if cell.source.startswith("check("):
                cell.source = replacement
    return notebook


def _insert_after_check(notebook, exercise_id: str, source: str):
    notebook = copy.deepcopy(notebook)
    index = next(i for i, c in enumerate(notebook.cells) if c.source == f'check("{exercise_id}")')
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return notebook


#: The wrong answers of the partial submission, and the points they earn.
PARTIAL = {"01.1": 1, "01.3": 1, "01.5": 2, "01.6": 1}
TAMPER = ("import cnnlabs.exercises as ex\nex.grade_namespace = lambda *a, **k: []\n"
          "ex._EXERCISES.clear()\ncheck = print")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    folder = tmp_path_factory.mktemp("submissions")
    solution = _solution()
    student = assign.student_notebook(solution, LAB)
    question = next(i for i in cells.find_items(student.cells)[0] if i.kind == "question")
    partial = copy.deepcopy(student)
    partial.cells[question.answer].source = ANSWER
    for exercise_id, points in PARTIAL.items():
        wrong = next(w for w in lab01.WRONG[exercise_id] if w.points == points)
        _answer_cell(partial, exercise_id).source = wrong.code
    for exercise_id in ("01.2", "01.4"):
        _answer_cell(partial, exercise_id).source = lab01.SOLUTIONS[exercise_id]
    raises = copy.deepcopy(solution)
    _answer_cell(raises, "01.3").source = ("alex_conv2_params = 5 * 5 * 96 * 256 + 256\n"
                                          "raise RuntimeError('boom')\nalex_fc6_params = 1")
    raises.cells[2].source = "print(undefined_name)"
    notebooks = {
        "solution": solution, "student": student, "partial": partial,
        "partial_no_checks": _without_checks(partial, None),
        "partial_pass_checks": _without_checks(partial, "pass"),
        "partial_tampered": _without_checks(partial, TAMPER),
        "raises": raises,
        "loop": _insert_after_check(solution, "01.2", "while True:\n    pass"),
        "crash": _insert_after_check(solution, "01.4", "import os\nos._exit(1)"),
    }
    for name, notebook in notebooks.items():
        nbformat.write(notebook, folder / f"{name}.ipynb")
    (folder / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    tests = tmp_path_factory.mktemp("hidden")
    (tests / "hidden.py").write_text(HIDDEN, encoding="utf-8")
    out = tmp_path_factory.mktemp("grades")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    rows = grade.grade([folder], 1, tests=tests, jobs=2, timeout=120, cell_timeout=10, out=out)
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before  # only read
    return {row.submission: row for row in rows}, out


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def test_grades_csv_has_one_row_per_submission(graded):
    rows, out = graded
    what_happened = {name: (row.status, row.details) for name, row in rows.items()}
    assert (out / "grades.csv").read_text(encoding="utf-8") == textwrap.dedent('''\
        submission,01.1,01.2,01.3,01.4,01.5,01.6,01.8,total,max,status
        broken.ipynb,0,0,0,0,0,0,0,0,15,"invalid notebook (Notebook does not appear to be JSON: '{""cells"": [')"
        crash.ipynb,2,2,2,2,3,2,2,15,15,"kernel died in code cell 11, which was left out"
        loop.ipynb,2,2,0,0,0,0,0,4,15,timeout (code cell 7)
        partial.ipynb,1,2,1,2,2,1,0,9,15,ok
        partial_no_checks.ipynb,1,2,1,2,2,1,0,9,15,ok
        partial_pass_checks.ipynb,1,2,1,2,2,1,0,9,15,ok
        partial_tampered.ipynb,1,2,1,2,2,1,0,9,15,ok
        raises.ipynb,2,2,1,2,3,2,2,14,15,"errors in code cells 2, 7"
        solution.ipynb,2,2,2,2,3,2,2,15,15,ok
        student.ipynb,0,0,0,0,0,0,0,0,15,ok
        '''), what_happened  # noqa: E501


def test_check_cells_deleted_emptied_or_tampered_with_change_nothing(graded):
    rows, _ = graded
    reference = rows["partial.ipynb"]
    for name in ("partial_no_checks.ipynb", "partial_pass_checks.ipynb",
                 "partial_tampered.ipynb"):
        assert rows[name].results == reference.results
        assert rows[name].written == reference.written


def test_feedback_lists_every_exercise_with_its_points_and_message(graded):
    _, out = graded
    text = (out / "feedback" / "partial.md").read_text(encoding="utf-8")
    assert text == textwrap.dedent('''\
        # Feedback: partial.ipynb

        Lab 01 · Convolution arithmetic: sizes, padding, stride, pooling, parameters

        **9/15 points** for the auto-checked exercises. Status: ok.

        ## Exercises

        - **01.1** (1/2 points): `pool1_out` is not the pool's output width: pooling follows the same formula, and its input is conv1's output, not the image
        - **01.2** (1/1 point): correct
          - test `padded_out_is_an_int` (1/1 point): passed
        - **01.3** (1/2 points): `alex_conv2_params` is off: a filter spans every input channel (F*F*D_in weights), and each filter has a bias
        - **01.4** (2/2 points): correct
        - **01.5** (2/3 points): `conv2d_loops` gets stride 2 wrong: window (i, j) starts at row i*S, column j*S
        - **01.6** (1/2 points): `max_pool` on a 9x9 map with size 3 returns shape (4, 4): not the number of windows that fit along each side
        - **01.8**
          - test `a_wide_kernel` (0/2 points): `conv2d_loops` raised ValueError: operands could not be broadcast together with shapes (3,3) (3,5)

        ## Written answers (graded by hand)

        - **01.7**: answered
        ''')  # noqa: E501
    assert sorted(p.name for p in (out / "feedback").iterdir()) == sorted(
        f"{name}.md" for name in ("broken", "crash", "loop", "partial", "partial_no_checks",
                                  "partial_pass_checks", "partial_tampered", "raises",
                                  "solution", "student"))


def test_what_went_wrong_is_in_the_feedback(graded):
    rows, out = graded
    assert rows["raises.ipynb"].details == [
        "code cell 2: NameError: name 'undefined_name' is not defined",
        "code cell 7: RuntimeError: boom"]
    loop = (out / "feedback" / "loop.md").read_text(encoding="utf-8")
    assert ("- code cell 7: stopped at the time limit (120 s for the notebook, 10 s per cell); "
            "the cells after it did not run\n") in loop
    assert "- **01.3** (0/2 points): not answered yet" in loop
    assert rows["crash.ipynb"].details == [
        "code cell 11: the kernel died running it; the notebook ran again without it"]
    broken = (out / "feedback" / "broken.md").read_text(encoding="utf-8")
    assert "- **01.1** (0/2 points): not graded (see the status)\n" in broken


def test_written_answers_are_exported_for_hand_grading(graded):
    _, out = graded
    rows = _csv(out / "written_answers.csv")
    assert list(rows[0]) == ["submission", "question", "answer"]
    answers = {row["submission"]: row["answer"] for row in rows}
    assert len(rows) == 10 and {row["question"] for row in rows} == {"01.7"}
    assert answers["partial.ipynb"] == ANSWER
    assert answers["student.ipynb"] == answers["broken.ipynb"] == ""
    assert answers["solution.ipynb"] == lab01.MODEL_ANSWERS["01.7"]
    rubric = (out / "rubric.md").read_text(encoding="utf-8")
    assert "## 01.7 (3 points)" in rubric and "- 1 point: the same 7x7 receptive field" in rubric


def test_the_executed_copies_keep_neither_the_grading_cell_nor_the_extra_tests(graded):
    _, out = graded
    executed = sorted(p.name for p in (out / "executed").iterdir())
    assert "broken.ipynb" not in executed and "solution.ipynb" in executed
    for path in (out / "executed").iterdir():
        text = path.read_text(encoding="utf-8")
        assert "a_wide_kernel" not in text and "CNNLABS-GRADES" not in text


# --------------------------------------------------------------------------- without kernels


def test_collect_names_notebooks_and_refuses_nothing_to_grade(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "b").mkdir()
    for path in ("a/x.ipynb", "a/deep/x.ipynb", "b/x.ipynb", "a/.ipynb_checkpoints/x.ipynb"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}")
    found = grade.collect([tmp_path / "a", tmp_path / "b" / "x.ipynb"])
    assert [s.name for s in found] == ["deep/x.ipynb", "x.ipynb", "x.ipynb (2)"]
    with pytest.raises(FileNotFoundError, match="does not exist"):
        grade.collect([tmp_path / "missing.ipynb"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="No notebooks"):
        grade.collect([tmp_path / "empty"])


def test_plan_refuses_what_cannot_be_graded(tmp_path):
    with pytest.raises(ValueError, match="Lab 00 has no auto-checked exercises"):
        grade.plan(0)
    with pytest.raises(ValueError, match="No lab 42"):
        grade.plan(42)
    (tmp_path / "bad.py").write_text("def broken(:\n")
    with pytest.raises(ValueError, match="extra tests in .* do not load: SyntaxError"):
        grade.plan(1, tests=tmp_path)
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        grade.plan(1, tests=tmp_path / "bad.py")


def test_the_grade_command_reports_bad_arguments_in_one_line(tmp_path, capsys):
    assert cli.main(["grade", str(tmp_path / "none.ipynb"), "--lab", "1"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["grade", str(tmp_path)])  # --lab is required
