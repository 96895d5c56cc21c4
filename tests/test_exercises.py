"""The exercise framework: check(), the answers a check reads, stubs, cell conventions, assign."""

from __future__ import annotations

import json
import textwrap

import nbformat
import pytest

from cnnlabs import cli, config, exercises, labs
from cnnlabs.exercises import Answers, Feedback, NotAnswered, Wrong, assign, cells


@pytest.fixture(autouse=True)
def _lenient_checks(monkeypatch):
    """``check`` as a student meets it: the root conftest makes it strict for the labs."""
    monkeypatch.delenv(exercises.STRICT_ENV, raising=False)

# --------------------------------------------------------------------------- check()


def _printed(capsys, exercise_id: str, namespace: dict) -> str:
    exercises.check(exercise_id, namespace)
    return capsys.readouterr().out


def test_check_prints_full_marks_on_one_line(capsys):
    assert _printed(capsys, "01.2", {"padded_out": 16}) == "01.2: 1/1 point\n"
    assert _printed(capsys, "01.1", {"conv1_out": 55, "pool1_out": 27.0}) == "01.1: 2/2 points\n"


def test_check_says_not_answered_for_ellipsis_or_a_missing_name(capsys):
    expected = "01.2: 0/1 point: not answered yet (`padded_out` still missing or `...`)\n"
    assert _printed(capsys, "01.2", {"padded_out": ...}) == expected
    assert _printed(capsys, "01.2", {}) == expected
    stub = {}
    exec("def max_pool(feature_map, size=2):\n    ...", stub)
    assert _printed(capsys, "01.6", stub) == (
        "01.6: 0/2 points: not answered yet (`max_pool` returns nothing yet: write its body)\n")


def test_check_gives_a_hint_in_kind_never_the_answer(capsys):
    line = _printed(capsys, "01.1", {"conv1_out": 54, "pool1_out": 27})
    assert line.startswith("01.1: 1/2 points: `conv1_out` is not conv1's output width")
    assert "55" not in line
    assert _printed(capsys, "01.2", {"padded_out": 15.5}) == (
        "01.2: 0/1 point: `padded_out` should be a whole number (a count or a size), got 15.5\n")


def test_check_never_raises_on_errors_in_student_code(capsys):
    namespace: dict = {}
    exec("def conv2d_loops(image, kernel, stride=1):\n    return 1 / 0", namespace)
    line = _printed(capsys, "01.5", namespace)
    assert line.startswith("01.5: 0/3 points: `conv2d_loops` raised ZeroDivisionError")
    assert _printed(capsys, "01.99", {}) == (
        "01.99: No exercise 01.99. Lab 01's exercises: 01.1, 01.2, 01.3, 01.4, 01.5, 01.6.\n")
    assert "two digits, a dot and a number" in _printed(capsys, "3.2", {})
    assert _printed(capsys, None, {}).startswith("None: ")


def test_check_reads_the_callers_variables_outside_a_kernel(capsys):
    exec('check("01.2")', {"check": exercises.check, "padded_out": 16})
    assert capsys.readouterr().out == "01.2: 1/1 point\n"


def test_strict_checks_fail_a_solution_below_full_marks(capsys, monkeypatch):
    monkeypatch.setenv(exercises.STRICT_ENV, "1")
    assert _printed(capsys, "01.2", {"padded_out": 16}) == "01.2: 1/1 point\n"
    with pytest.raises(AssertionError, match="is set and 01.2: 0/1 point: not answered yet"):
        exercises.check("01.2", {})


def test_check_does_nothing_while_the_grader_runs_the_notebook(capsys, monkeypatch):
    monkeypatch.setenv(exercises.GRADING_ENV, "1")
    assert _printed(capsys, "01.2", {"padded_out": 3}) == "01.2: checked by the grader\n"


@pytest.fixture
def toy_exercises(monkeypatch):
    """Two exercises of a lab 99 that exists for these tests only."""
    registry = dict(exercises._EXERCISES)
    monkeypatch.setattr(exercises, "_EXERCISES", registry)

    @exercises.exercise("99.1", points=2, goal="set `x`", kind="compute", time_limit=0.5)
    def _loop(a):
        return a.parts((2, lambda: a.call("f") == 1, "`f` should return 1"))

    @exercises.exercise("99.2", points=1, goal="set `y`", kind="compute")
    def _broken(a):
        raise RuntimeError("a bug in the check")

    return registry


def test_a_student_function_that_loops_forever_is_stopped(toy_exercises):
    namespace: dict = {}
    exec("def f():\n    while True:\n        try:\n            pass\n"
         "        except Exception:\n            pass", namespace)
    result = exercises.run("99.1", namespace)
    assert (result.points, result.status) == (0, "wrong")
    assert result.message == "stopped after 0.5 s: does your code loop forever?"


def test_a_check_that_fails_itself_gives_zero_and_says_so(toy_exercises):
    result = exercises.run("99.2", {"y": 1})
    assert (result.points, result.status) == (0, "error")
    assert result.message == ("the check could not mark this answer "
                              "(RuntimeError: a bug in the check)")


def test_registering_an_exercise_twice_or_with_a_bad_id_fails(toy_exercises):
    with pytest.raises(ValueError, match="registered twice"):
        exercises.exercise("99.1", points=1, goal="g", kind="compute")(lambda a: Feedback(1))
    with pytest.raises(ValueError, match="like '03.2'"):
        exercises.exercise("3.2", points=1, goal="g", kind="compute")
    with pytest.raises(ValueError, match="kind must be one of"):
        exercises.exercise("99.3", points=1, goal="g", kind="guess")


# --------------------------------------------------------------------------- Answers


def test_answers_accept_whole_floats_and_reject_other_kinds():
    a = Answers({"n": 55.0, "m": True, "s": "55", "f": 3, "arr": ...})
    assert a.integer("n") == 55
    with pytest.raises(Wrong, match="should be a whole number"):
        a.integer("m")
    with pytest.raises(Wrong, match="got a str"):
        a.integer("s")
    with pytest.raises(Wrong, match="should be a function"):
        a.function("f")
    with pytest.raises(NotAnswered):
        a["arr"]
    with pytest.raises(Wrong, match="run the lab's cells above"):
        a.lab("report")


def test_parts_mark_each_part_on_its_own():
    a = Answers({"x": 1, "y": 5})
    feedback = a.parts((1, lambda: a["x"] == 1, "x is off"), (2, lambda: a["y"] == 4, "y is off"),
                       (1, lambda: a["z"] == 0, "z is off"))
    assert feedback == Feedback(1, "y is off; `z` is not answered yet")
    with pytest.raises(NotAnswered, match=r"`z`, `w` still missing"):
        a.parts((1, lambda: a["z"], "z"), (1, lambda: a["w"], "w"))


# --------------------------------------------------------------------------- extra tests


def test_extra_tests_pass_fail_or_give_partial_credit():
    source = textwrap.dedent('''
        from cnnlabs.exercises import Feedback, extra_test

        @extra_test("01.2", points=2)
        def padded_is_an_int(a):
            assert isinstance(a["padded_out"], int), "an int, please"

        @extra_test("01.2")
        def returns_false(a):
            return a["padded_out"] > 100

        @extra_test("01.9", points=3, name="half")
        def half_credit(a):
            return Feedback(1.5, "half way")
    ''')
    tests = exercises.load_extra_tests([("hidden.py", source)])
    assert [(t.id, t.points, t.name) for t in tests] == [
        ("01.2", 2.0, "padded_is_an_int"), ("01.2", 1.0, "returns_false"), ("01.9", 3.0, "half")]
    results = [exercises.run_extra(t, {"padded_out": 16.0}) for t in tests]
    assert [(r.points, r.message, r.source) for r in results] == [
        (0, "an int, please", "extra:padded_is_an_int"), (0, "failed", "extra:returns_false"),
        (1.5, "half way", "extra:half")]
    assert exercises.run_extra(tests[0], {}).status == "not answered"
    graded = exercises.grade_namespace(1, {"padded_out": 16}, [("hidden.py", source)])
    assert [(r.exercise, r.points) for r in graded] == [
        ("01.1", 0), ("01.2", 1), ("01.3", 0), ("01.4", 0), ("01.5", 0), ("01.6", 0),
        ("01.2", 2), ("01.2", 0), ("01.9", 1.5)]


# --------------------------------------------------------------------------- stubs


def test_stub_keeps_names_and_drops_the_answers():
    block = textwrap.dedent('''\
        # TODO: the answer
        a = 1
        b, (c, d) = 2, (3, 4)
        e: int = 5
        _helper = 7
        print(a)
        import math
        from os import path''')
    assert assign.stub(block) == textwrap.dedent('''\
        a = ...  # TODO: the answer
        b, (c, d) = (..., (..., ...))  # TODO: the answer
        e: int = ...  # TODO: the answer
        import math
        from os import path''')


def test_stub_keeps_a_functions_header_and_docstring():
    block = textwrap.dedent('''\
        @functools.cache
        def f(x: int,
              y: dict[str, int] = {"a": 1}) -> int:
            """Doc."""
            # a comment
            return x
        # TODO: the slope, a float
        slope = 0.2
        class Net:
            """A net."""
            def forward(self):
                return 1
        def g(x): return x''')
    assert assign.stub(block) == textwrap.dedent('''\
        @functools.cache
        def f(x: int,
              y: dict[str, int] = {"a": 1}) -> int:
            """Doc."""
            ...  # TODO: write the body
        slope = ...  # TODO: the slope, a float
        class Net:
            """A net."""
            ...  # TODO: write the body
        def g(x):
            ...  # TODO: write the body''')


def test_stub_of_a_block_that_keeps_nothing_is_one_line():
    assert assign.stub("print(1)") == "...  # TODO: replace ... with your answer"
    assert assign.stub("# TODO: plot it\nplt.plot(x)") == "...  # TODO: plot it"
    with pytest.raises(ValueError, match="not valid Python on its own"):
        assign.stub("x = (")


def test_markers_inside_a_function_and_code_outside_them():
    cell = textwrap.dedent('''\
        def area(r):
            """Area of a disc."""
            # BEGIN SOLUTION
            result = 3.14159 * r * r
            # END SOLUTION
            return result
        # BEGIN SOLUTION
        # TODO: the area of a unit disc
        unit = area(1)
        # END SOLUTION
        print(unit)''')
    assert assign.stub_code_cell(cell) == textwrap.dedent('''\
        def area(r):
            """Area of a disc."""
            result = ...  # TODO: replace ... with your answer
            return result
        unit = ...  # TODO: the area of a unit disc
        print(unit)''')


def test_a_written_answer_becomes_the_placeholder():
    text = f"**Answer:**\n{cells.BEGIN_TEXT}\nThe model answer.\n{cells.END_TEXT}"
    assert assign.blank_answer_cell(text) == f"**Answer:**\n{cells.ANSWER_PLACEHOLDER}"


# --------------------------------------------------------------------------- cell conventions


def _md(text: str) -> dict:
    return nbformat.v4.new_markdown_cell(text)


def _code(text: str) -> dict:
    return nbformat.v4.new_code_cell(text)


def test_find_items_reads_exercises_and_questions():
    items, problems = cells.find_items([
        _md("### Exercise 01.2 (1 point): set `padded_out`"),
        _code("# BEGIN SOLUTION\npadded_out = 16\n# END SOLUTION"), _code('check("01.2")'),
        _md("### Question 01.7 (written): Why?"), _md("<!-- BEGIN SOLUTION -->\nBecause."
                                                      "\n<!-- END SOLUTION -->")])
    assert problems == []
    assert [(i.kind, i.id, i.points, i.text, i.heading, i.answer, i.check) for i in items] == [
        ("exercise", "01.2", 1.0, "set `padded_out`", 0, 1, 2),
        ("question", "01.7", None, "Why?", 3, 4, None)]


@pytest.mark.parametrize(("notebook_cells", "problem"), [
    ([_md("### Exercise 01.2 (1 point): g"), _code("padded_out = 16"), _code('check("01.2")')],
     "no '# BEGIN SOLUTION' ... '# END SOLUTION' block"),
    ([_md("### Exercise 01.2 (1 point): g"), _code("# BEGIN SOLUTION\nx = 1")],
     "has no '# END SOLUTION'"),
    ([_md("### Exercise 01.2 (1 point): g"), _code("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"),
      _code("check('01.2')\nprint(1)")], 'must be exactly check("01.2")'),
    ([_md("### Exercise 01.2 (1 point): g"), _code("# BEGIN SOLUTION\nx = 1\n# END SOLUTION"),
      _code('check("01.3")')], "checks 01.3 but follows exercise 01.2"),
    ([_md("### Exercise 1.2: g")], "does not follow the form"),
    ([_code("# BEGIN SOLUTION\nx = 1\n# END SOLUTION")], "markers outside an exercise"),
    ([_md("### Question 01.7 (written): Why?"), _code("x = 1")], "Markdown answer cell"),
])
def test_find_items_names_what_breaks_the_conventions(notebook_cells, problem):
    _, problems = cells.find_items(notebook_cells)
    assert any(problem in p for p in problems), problems


def test_written_answers_are_read_from_the_cell_after_the_question():
    notebook_cells = [_md("### Question 01.7 (written): Why?"), _md("Because it is.\n"),
                      _md("### Question 01.8 (written): How?"), _md(cells.ANSWER_PLACEHOLDER)]
    assert cells.written_answers(notebook_cells, ["01.7", "01.8", "01.9"]) == {
        "01.7": "Because it is.", "01.8": "", "01.9": ""}


# --------------------------------------------------------------------------- assign


def _skeleton(lab: labs.Lab) -> nbformat.NotebookNode:
    """A tiny solution notebook of ``lab``: title, setup, a plain cell, then its exercises."""
    notebook = nbformat.v4.new_notebook(metadata={"kernelspec": {
        "name": "python3", "language": "python", "display_name": "Python 3"}})
    notebook.cells = [_md(f"# {lab.number:02d} · Tiny\n\n{labs.colab_badge(lab)}"),
                      _code("import numpy as np\nfrom cnnlabs import arithmetic, reference\n"
                            "from cnnlabs.exercises import check"),
                      _code("print(2 + 2)"), _md("## Exercises"),
                      *assign.exercise_cells(lab.number)]
    return notebook


@pytest.fixture
def tiny_labs(tmp_path, monkeypatch):
    folder = tmp_path / "labs"
    folder.mkdir()
    nbformat.write(_skeleton(labs.get(1)), folder / labs.get(1).filename)
    monkeypatch.setenv("CNNLABS_LABS_DIR", str(folder))
    return folder


def test_the_student_notebook_stubs_every_answer_and_changes_nothing_else(tiny_labs):
    solution = nbformat.read(tiny_labs / labs.get(1).filename, as_version=4)
    student = assign.student_notebook(solution, labs.get(1))
    assert labs.student_colab_url(labs.get(1)) in student.cells[0].source
    assert "labs/student/01_convolution_arithmetic.ipynb" in student.cells[0].source
    items, _ = cells.find_items(student.cells)
    changed = {item.answer for item in items}
    for index, (before, after) in enumerate(zip(solution.cells, student.cells, strict=True)):
        if index == 0:
            continue
        if index in changed:
            assert "SOLUTION" not in after.source and "..." in after.source or \
                after.source == cells.ANSWER_PLACEHOLDER
        else:
            assert after.source == before.source  # headings, check cells, the lab itself
    assert [cells.source(student.cells[i.check]) for i in items if i.kind == "exercise"] == [
        f'check("{e.id}")' for e in exercises.lab_exercises(1)]


def test_assign_writes_once_and_check_finds_drift(tiny_labs, capsys):
    out = tiny_labs / "student"
    assert assign.stale([1]) == [f"{out / labs.get(1).filename}: missing"]
    assert cli.main(["assign", "--lab", "1", "--check"]) == 1
    assert assign.assign([1]) == [out / labs.get(1).filename]
    assert assign.assign([1]) == []  # already up to date
    assert assign.stale([1]) == []
    assert cli.main(["assign", "--lab", "1", "--check"]) == 0
    # The instructor changes a solution and forgets to assign again.
    path = tiny_labs / labs.get(1).filename
    notebook = json.loads(path.read_text())
    notebook["cells"][2]["source"] = "print(2 + 3)"
    path.write_text(json.dumps(notebook))
    assert assign.stale([1]) == [f"{out / labs.get(1).filename}: differs from its solution "
                                 "notebook"]
    capsys.readouterr()
    assert cli.main(["assign", "--lab", "1", "--check"]) == 1
    printed = capsys.readouterr()
    assert "01_convolution_arithmetic.ipynb: differs" in printed.out
    assert "run `cnnlabs assign`" in printed.err


def test_assign_refuses_a_solution_that_breaks_the_conventions(tiny_labs, capsys):
    path = tiny_labs / labs.get(1).filename
    notebook = nbformat.read(path, as_version=4)
    heading = next(c for c in notebook.cells if c.source.startswith("### Exercise 01.2"))
    heading.source = heading.source.replace("(1 point)", "(2 points)")
    notebook.cells.append(_code("conv1_out = 55"))  # the lab itself answers 01.1
    nbformat.write(notebook, path)
    with pytest.raises(ValueError) as raised:
        assign.assign([1])
    message = str(raised.value)
    assert "exercise 01.2: the heading says 2 points, the check gives 1" in message
    assert "exercise 01.1 defines `conv1_out`, which cell" in message
    assert not (tiny_labs / "student").exists()
    assert cli.main(["assign", "--lab", "1"]) == 2
    assert "cannot be assigned" in capsys.readouterr().err


def test_the_committed_student_notebooks_match_their_solutions():
    assert assign.stale() == []


def test_student_badges_derive_from_the_one_repo_setting(monkeypatch):
    monkeypatch.setattr(config, "REPO", "someone/fork")
    assert labs.student_badge(labs.get(3)) == (
        f"[![Open In Colab]({labs.COLAB_BADGE_IMG})](https://colab.research.google.com/github/"
        "someone/fork/blob/main/labs/student/03_lenet_mnist.ipynb)")
    assert labs.student_dir() == labs.labs_dir() / "student"
    assert labs.replace_badge("x " + labs.colab_badge(labs.get(3)), "B") == "x B"


def test_bound_names_reads_a_setup_cell_with_its_colab_only_pip_line():
    setup = labs.setup_block() + "\nimport numpy as np\nfrom cnnlabs.exercises import check\n"
    names = assign.bound_names(setup)
    assert {"sys", "cnnlabs", "config", "np"} <= names
    assert "check" not in names  # importing check() is what the setup cell should do
    assert "check" in assign.bound_names("check = keras.Model(inputs, outputs)")
    assert assign.bound_names("def f(a):\n    b = a\nlam = lambda c: c") == {"f", "lam"}
