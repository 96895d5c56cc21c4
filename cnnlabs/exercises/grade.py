"""``cnnlabs grade``: run submitted notebooks and mark them with the checks of the package.

Each submission runs in a fresh kernel, in the ``smoke`` profile, in a scratch
working folder of its own, under a time limit, ``jobs`` at a time. Errors do not
stop it: a cell that raises costs only what depends on it. After the last cell,
one grading cell, written by the grader, imports :mod:`cnnlabs.exercises` afresh
from the installed package, adds the instructor's extra tests, marks the kernel's
variables and prints the results as one JSON line behind a marker that only this
run knows. Nothing else the notebook prints is read, and the ``check`` cells do
nothing while grading, so deleting or rewriting them changes nothing.

The grader writes ``grades.csv`` (one row per submission), one Markdown feedback
file per submission, ``written_answers.csv`` (the free-text answers, for hand
grading) and ``rubric.md``. A notebook that is not valid JSON, loops past its
time limit or kills its kernel gets a row that says so, and grading goes on.
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cnnlabs import config, labs
from cnnlabs.exercises import (
    GRADING_ENV,
    STRICT_ENV,
    ExtraTest,
    Result,
    _format_points,
    cells,
    lab_exercises,
    lab_questions,
    load_extra_tests,
)

#: Seconds a grading cell may take on top of the checks' own limits.
GRADING_CELL_MARGIN = 60.0
GRADES_FILE = "grades.csv"
WRITTEN_FILE = "written_answers.csv"
RUBRIC_FILE = "rubric.md"
FEEDBACK_DIR = "feedback"
EXECUTED_DIR = "executed"
_TIMEOUT_ENAME = "CellTimeout"
#: Kernel deaths after which the notebook runs again without the cell that killed it.
MAX_RESTARTS = 2
#: nbclient's own log lines (a timeout, a dead kernel): the status and feedback say it better.
_SILENT = logging.getLogger("cnnlabs.exercises.grade.nbclient")
_SILENT.addHandler(logging.NullHandler())
_SILENT.propagate = False

#: The grading cell. It runs in a fresh globals dict, so names the student rebound
#: (``print``, ``json``, ``list`` ...) cannot reach it.
_GRADER = '''\
import json, sys
for _name in [m for m in sys.modules if m.split(".")[:2] == ["cnnlabs", "exercises"]]:
    del sys.modules[_name]
from cnnlabs.exercises import grade_namespace
_results = grade_namespace(LAB, NAMESPACE, SOURCES)
sys.stdout.write(MARKER + json.dumps([r.to_dict() for r in _results]) + "\\n")
sys.stdout.flush()
'''


@dataclass
class Submission:
    """One submitted notebook: its name in the CSV and its path."""

    name: str
    path: Path


@dataclass
class Graded:
    """The grade of one submission.

    Attributes:
        submission: its name in the CSV.
        path: the notebook file.
        results: one :class:`~cnnlabs.exercises.Result` per check and extra test.
        status: ``ok``, or what went wrong (``errors in code cells 4, 9``,
            ``timeout (code cell 7, after 600 s)``, ``kernel died (code cell 3)``,
            ``invalid notebook (...)``, ``grader error (...)``).
        details: one line per failing cell, for the feedback.
        written: the answer of each written question ('' when blank).
        seconds: wall time spent on it.
        max_points: the most it could earn (the lab's exercises and extra tests).
    """

    submission: str
    path: Path
    results: list[Result] = field(default_factory=list)
    status: str = "ok"
    details: list[str] = field(default_factory=list)
    written: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    max_points: float = 0.0

    def points(self, exercise_id: str) -> float:
        return sum(r.points for r in self.results if r.exercise == exercise_id)

    @property
    def total(self) -> float:
        return sum(r.points for r in self.results)


@dataclass
class Plan:
    """What every submission of one grading run is marked against (see :func:`plan`).

    Attributes:
        lab: the lab.
        columns: the CSV's exercise columns: the lab's ids, then extra tests' own ids.
        max_points: the most each column can earn.
        questions: the lab's written questions.
        sources: the extra-test files, ``(name, source)``, sent to each kernel.
        extras: the extra tests they hold (for this lab).
        timeout, cell_timeout: seconds per notebook and per cell (``None``: no own limit).
        grading_timeout: seconds the grading cell may take.
    """

    lab: labs.Lab
    columns: list[str]
    max_points: dict[str, float]
    questions: list[Any]
    sources: list[tuple[str, str]]
    extras: list[ExtraTest]
    timeout: float
    cell_timeout: float | None
    grading_timeout: float

    @property
    def total(self) -> float:
        return sum(self.max_points.values())

    def zero_results(self, message: str) -> list[Result]:
        """0 for every exercise and extra test: nothing could be marked."""
        out = [Result(e.id, 0.0, e.points, message, "error")
               for e in lab_exercises(self.lab.number)]
        out += [Result(t.id, 0.0, t.points, message, "error", f"extra:{t.name}")
                for t in self.extras]
        return out


# --------------------------------------------------------------------------- inputs


def collect(paths: Iterable[Path | str]) -> list[Submission]:
    """The notebooks among ``paths``: files as they are, folders searched recursively.

    Names are the file name for a file and the path inside the folder for a folder;
    a name that repeats gets `` (2)``, `` (3)`` ... Checkpoint folders are skipped.

    Raises:
        FileNotFoundError: for a path that does not exist.
        ValueError: when no notebook is found.
    """
    found: list[Submission] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for notebook in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" in notebook.parts:
                    continue
                found.append(Submission(notebook.relative_to(path).as_posix(), notebook))
        elif path.is_file():
            found.append(Submission(path.name, path))
        else:
            raise FileNotFoundError(f"{path} does not exist: give notebooks or folders of them.")
    if not found:
        raise ValueError("No notebooks (*.ipynb) found in " + ", ".join(map(str, paths)) + ".")
    seen: dict[str, int] = {}
    for submission in found:
        count = seen.get(submission.name, 0) + 1
        seen[submission.name] = count
        if count > 1:
            submission.name = f"{submission.name} ({count})"
    return found


def read_tests(folder: Path | None) -> list[tuple[str, str]]:
    """``(file name, source)`` of every ``*.py`` in ``folder`` (sorted), for the kernel.

    Raises:
        FileNotFoundError: when ``folder`` is not a folder.
    """
    if folder is None:
        return []
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--tests {folder} is not a folder of extra-test files (*.py).")
    return [(path.name, path.read_text(encoding="utf-8")) for path in sorted(folder.glob("*.py"))]


def _kernel_env(scratch: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault(config.DATA_ENV, str(config.data_dir()))  # before HOME goes: data stays found
    env.pop(config.HOME_ENV, None)  # runs stay in the scratch folder
    env[config.PROFILE_ENV] = "smoke"
    env[config.RUNS_ENV] = str(scratch / "runs")
    env[GRADING_ENV] = "1"
    env.pop(STRICT_ENV, None)
    env["MPLBACKEND"] = "Agg"  # figures are not looked at: do not render them
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def plan(lab: int, tests: Path | None = None, timeout: float = 600.0,
         cell_timeout: float | None = None) -> Plan:
    """Everything a grading run of lab ``lab`` needs, checked before any kernel starts.

    Raises:
        ValueError: for a lab without exercises, a bad timeout, or an extra-test
            file that does not load.
        FileNotFoundError: for a missing tests folder.
    """
    try:
        entry = labs.get(lab)
    except KeyError as exc:
        raise ValueError(exc.args[0]) from None
    exercises = lab_exercises(entry.number)
    if not exercises:
        raise ValueError(f"Lab {entry.number:02d} has no auto-checked exercises to grade.")
    if not timeout > 0 or (cell_timeout is not None and not cell_timeout > 0):
        raise ValueError("Timeouts must be positive numbers of seconds.")
    sources = read_tests(tests)
    try:
        extras = [t for t in load_extra_tests(sources) if t.lab == entry.number]
    except Exception as exc:
        raise ValueError(f"The extra tests in {tests} do not load: {type(exc).__name__}: "
                         f"{exc}") from None
    columns = [e.id for e in exercises]
    max_points = {e.id: float(e.points) for e in exercises}
    for test in extras:
        if test.id not in max_points:
            columns.append(test.id)
            max_points[test.id] = 0.0
        max_points[test.id] += test.points
    limits = sum(e.time_limit for e in exercises) + 60.0 * len(extras)
    return Plan(entry, columns, max_points, lab_questions(entry.number), sources, extras,
                float(timeout), cell_timeout, limits + GRADING_CELL_MARGIN)


# --------------------------------------------------------------------------- one submission


def _outputs_text(cell: Any) -> str:
    return "".join(
        "".join(out.get("text", "")) if isinstance(out.get("text", ""), list)
        else out.get("text", "")
        for out in cell.get("outputs", [])
        if out.get("output_type") == "stream" and out.get("name") == "stdout"
    )


def _grading_source(plan: Plan, marker: str) -> str:
    program = (f"LAB = {plan.lab.number!r}\nSOURCES = {plan.sources!r}\n"
               f"MARKER = {marker!r}\n" + _GRADER)
    # globals() is called in the cell's own frame: the kernel's variables.
    return ("import builtins as __cnnlabs_builtins__\n"
            f"__cnnlabs_builtins__.exec({program!r}, {{'__name__': '__cnnlabs_grader__', "
            "'NAMESPACE': __cnnlabs_builtins__.globals()})")


async def _shutdown(client: Any) -> None:
    km, kc = client.km, client.kc
    try:
        if kc is not None:
            kc.stop_channels()
        if km is not None and await _maybe_await(km.is_alive()):
            await _maybe_await(km.shutdown_kernel(now=True))
    except Exception:
        pass
    finally:
        if km is not None:
            try:
                await _maybe_await(km.cleanup_resources())
            except Exception:
                pass
        client.kc = client.km = None


async def _maybe_await(value: Any) -> Any:
    return await value if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future) else value


class _Attempt:
    """One run of a notebook in a fresh kernel: what it found."""

    def __init__(self) -> None:
        self.errors: dict[int, str] = {}
        self.timed_out: int | None = None
        self.running: int | None = None  # the cell being executed
        self.results: list[Result] | None = None
        self.grader_error: str | None = None
        self.died = False


async def _attempt(notebook: Any, plan: Plan, skip: set[int], deadline: float,
                   code_number: dict[int, int]) -> _Attempt:
    """Run the code cells of ``notebook`` (except ``skip``), then the grading cell.

    A kernel that dies sets ``died``, with ``running`` the cell it died in (``None``:
    while grading, -1: while starting); any other failure sets ``grader_error``.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    attempt = _Attempt()

    def on_error(cell: Any, cell_index: int, execute_reply: dict) -> None:
        content = execute_reply.get("content", {})
        if content.get("ename") == _TIMEOUT_ENAME:
            attempt.timed_out = cell_index
        else:
            attempt.errors[cell_index] = (f"{content.get('ename', 'Error')}: "
                                          f"{content.get('evalue', '')}")

    def cell_budget(cell: Any) -> int:
        left = max(1.0, deadline - time.monotonic())
        if plan.cell_timeout is not None:
            left = min(left, plan.cell_timeout)
        return int(left + 0.999)

    scratch = Path(tempfile.mkdtemp(prefix="cnnlabs-grade-"))
    quiet = not os.environ.get("CNNLABS_DEBUG", "").strip()
    client = NotebookClient(
        notebook, kernel_name="python3", allow_errors=True, timeout_func=cell_budget,
        interrupt_on_timeout=True, startup_timeout=120, on_cell_error=on_error,
        # After an interrupted cell, wait for the kernel's last messages: a reader left
        # behind would take the next cell's output (the grading cell's) for its own.
        iopub_timeout=60,
        error_on_timeout={"ename": _TIMEOUT_ENAME, "evalue": "time limit reached",
                          "traceback": []},
        resources={"metadata": {"path": str(scratch)}}, **({"log": _SILENT} if quiet else {}))
    marker = f"CNNLABS-GRADES-{uuid.uuid4().hex}:"
    attempt.running = -1  # starting the kernel
    try:
        client.km = client.create_kernel_manager()
        if os.name == "posix":  # sockets in the scratch folder: no race for TCP ports
            client.km.transport = "ipc"
            client.km.ip = str(scratch / "kernel")
        streams = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL} if quiet else {}
        await client.async_start_new_kernel(cwd=str(scratch), env=_kernel_env(scratch),
                                            **streams)
        await client.async_start_new_kernel_client()
        for index, cell in enumerate(list(notebook.cells)):
            if cell.cell_type != "code" or index in skip:
                continue
            if time.monotonic() >= deadline:
                attempt.timed_out = index
                break
            attempt.running = index
            await client.async_execute_cell(cell, index, execution_count=code_number[index])
            if attempt.timed_out is not None:
                break
        attempt.running = None  # grading
        grading = nbformat.v4.new_code_cell(_grading_source(plan, marker))
        notebook.cells.append(grading)
        client.timeout_func = None
        client.timeout = int(plan.grading_timeout)
        try:
            await client.async_execute_cell(grading, len(notebook.cells) - 1)
        finally:
            notebook.cells.pop()
        line = next((line for line in _outputs_text(grading).splitlines()
                     if line.startswith(marker)), None)
        failure = next((out for out in grading.get("outputs", [])
                        if out.get("output_type") == "error"), None)
        if line is not None:
            attempt.results = [Result.from_dict(d) for d in json.loads(line[len(marker):])]
        elif failure is not None and failure.get("ename") == _TIMEOUT_ENAME:
            attempt.grader_error = "the grading cell ran out of time"
        else:
            attempt.grader_error = (f"{failure.get('ename')}: {failure.get('evalue')}"
                                    if failure else "the grading cell printed no result")
    except DeadKernelError:
        attempt.died = True
    except Exception as exc:  # the kernel would not start, ...
        attempt.grader_error = f"{type(exc).__name__}: {exc}"
    finally:
        await _shutdown(client)
        shutil.rmtree(scratch, ignore_errors=True)
    return attempt


async def _run_notebook(notebook: Any, plan: Plan, graded: Graded, executed: Path | None) -> None:
    """Execute ``notebook`` and its grading cell; fill ``graded`` in.

    A cell that kills the kernel is left out and the notebook runs again in a fresh
    kernel (up to :data:`MAX_RESTARTS` times), so that it costs only what depends on it.
    """
    import nbformat

    code_number = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            code_number[index] = len(code_number) + 1
    deadline = time.monotonic() + plan.timeout
    killers: list[int] = []
    while True:
        attempt = await _attempt(notebook, plan, set(killers), deadline, code_number)
        if not (attempt.died and attempt.running is not None and attempt.running >= 0):
            break
        killers.append(attempt.running)
        if len(killers) > MAX_RESTARTS or time.monotonic() >= deadline:
            break
    statuses: list[str] = []
    if killers:
        where = ", ".join(str(code_number[i]) for i in killers)
        if attempt.died:
            statuses.append(f"kernel died (code cell {where})")
        else:
            statuses.append(f"kernel died in code cell {where}, which was left out")
        graded.details += [f"code cell {code_number[i]}: the kernel died running it"
                           + ("" if attempt.died else "; the notebook ran again without it")
                           for i in killers]
    elif attempt.died:
        statuses.append("kernel died " + ("while starting" if attempt.running == -1
                                          else "while grading"))
    if attempt.grader_error is not None:
        statuses.append(f"grader error ({attempt.grader_error})")
    if attempt.timed_out is not None:
        limit = f"{plan.timeout:g} s for the notebook"
        if plan.cell_timeout is not None:
            limit += f", {plan.cell_timeout:g} s per cell"
        number = code_number[attempt.timed_out]
        statuses.append(f"timeout (code cell {number})")
        graded.details.append(f"code cell {number}: stopped at the time limit ({limit}); the "
                              "cells after it did not run")
    failed = sorted(i for i in attempt.errors if i != attempt.timed_out)
    if failed:
        statuses.append("errors in code cells " + ", ".join(str(code_number[i]) for i in failed))
        graded.details += [f"code cell {code_number[i]}: {attempt.errors[i]}" for i in failed]
    graded.status = "; ".join(statuses) or "ok"
    graded.results = attempt.results or []
    if executed is not None:  # for the instructor: what ran, with its outputs and tracebacks
        try:
            executed.parent.mkdir(parents=True, exist_ok=True)
            nbformat.write(notebook, executed)
        except Exception as exc:
            graded.details.append(f"the executed copy could not be saved ({exc})")


def _complete(graded: Graded, plan: Plan) -> None:
    """Give every exercise and extra test a result, 0 for what could not be marked."""
    if not graded.results:
        graded.results = plan.zero_results("not graded (see the status)")


async def grade_one(submission: Submission, plan: Plan, out: Path | None = None) -> Graded:
    """Grade one submission (see the module docstring); never raises for the notebook's sake."""
    import nbformat

    start = time.monotonic()
    graded = Graded(submission.name, submission.path, max_points=plan.total)
    try:
        notebook = nbformat.reads(submission.path.read_text(encoding="utf-8"), as_version=4)
        if not isinstance(notebook.get("cells"), list):
            raise ValueError("it has no list of cells")
    except Exception as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        graded.status = f"invalid notebook ({reason[:200]})"
    else:
        graded.written = cells.written_answers(notebook.cells, [q.id for q in plan.questions])
        executed = out / EXECUTED_DIR / _file_name(submission.name, ".ipynb") if out else None
        await _run_notebook(notebook, plan, graded, executed)
    graded.written = graded.written or {q.id: "" for q in plan.questions}
    _complete(graded, plan)
    graded.seconds = time.monotonic() - start
    return graded


async def _grade_all(submissions: Sequence[Submission], plan: Plan, jobs: int, out: Path | None,
                     progress: Callable[[Graded], None] | None) -> list[Graded]:
    gate = asyncio.Semaphore(jobs)

    async def one(submission: Submission) -> Graded:
        async with gate:
            graded = await grade_one(submission, plan, out)
        if progress is not None:
            progress(graded)
        return graded

    return list(await asyncio.gather(*(one(s) for s in submissions)))


# --------------------------------------------------------------------------- outputs


def _file_name(name: str, suffix: str) -> str:
    stem = name[:-len(".ipynb")] if name.endswith(".ipynb") else name
    return re.sub(r"[^\w.()-]+", "_", stem.replace("/", "__")) + suffix


def write_grades(rows: Sequence[Graded], plan: Plan, path: Path) -> None:
    """``grades.csv``: submission, one column per exercise id, total, max, status."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["submission", *plan.columns, "total", "max", "status"])
        for row in rows:
            writer.writerow([row.submission,
                             *(_format_points(row.points(c)) for c in plan.columns),
                             _format_points(row.total), _format_points(plan.total), row.status])


def write_written(rows: Sequence[Graded], plan: Plan, path: Path) -> None:
    """``written_answers.csv``: submission, question, answer (one row per question)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["submission", "question", "answer"])
        for row in rows:
            for q in plan.questions:
                writer.writerow([row.submission, q.id, row.written.get(q.id, "")])


def rubric(plan: Plan) -> str:
    """The written questions of the lab with their rubrics, as Markdown."""
    lines = ["# Rubric of the written questions", "",
             f"Lab {plan.lab.number:02d} · {plan.lab.title}", ""]
    for q in plan.questions:
        lines += [f"## {q.id} ({_format_points(q.points)} points)", "", q.question, ""]
        lines += [f"- {_format_points(p)} {'point' if p == 1 else 'points'}: {what}"
                  for p, what in q.rubric]
        lines.append("")
    return "\n".join(lines)


def feedback(row: Graded, plan: Plan) -> str:
    """The Markdown feedback of one submission: points and message per exercise."""
    def points(earned: float, available: float) -> str:
        unit = "point" if available == 1 else "points"
        return f"{_format_points(earned)}/{_format_points(available)} {unit}"

    lines = [f"# Feedback: {row.submission}", "",
             f"Lab {plan.lab.number:02d} · {plan.lab.title}", "",
             f"**{points(row.total, plan.total)}** for the auto-checked exercises. "
             f"Status: {row.status}.", ""]
    if row.details:
        lines += ["## What happened when the notebook ran", ""]
        lines += [f"- {detail}" for detail in row.details] + [""]
    lines += ["## Exercises", ""]
    for column in plan.columns:
        own = [r for r in row.results if r.exercise == column and r.source == "check"]
        extra = [r for r in row.results if r.exercise == column and r.source != "check"]
        if own:
            result = own[0]
            lines.append(f"- **{column}** ({points(result.points, result.max_points)}): "
                         f"{result.message or 'correct'}")
        else:
            lines.append(f"- **{column}**")
        for result in extra:
            name = result.source.split(":", 1)[1]
            lines.append(f"  - test `{name}` ({points(result.points, result.max_points)}): "
                         f"{result.message or 'passed'}")
    if plan.questions:
        lines += ["", "## Written answers (graded by hand)", ""]
        for q in plan.questions:
            state = "answered" if row.written.get(q.id) else "no answer"
            lines.append(f"- **{q.id}**: {state}")
    return "\n".join(lines) + "\n"


def grade(submissions: Iterable[Path | str], lab: int, *, tests: Path | None = None,
          jobs: int = 1, timeout: float = 600.0, cell_timeout: float | None = None,
          out: Path | None = None, progress: Callable[[Graded], None] | None = None
          ) -> list[Graded]:
    """Grade submitted notebooks of lab ``lab`` and write the results into ``out``.

    Args:
        submissions: notebook files, or folders searched for ``*.ipynb``.
        lab: the lab number; its checks come from the installed package.
        tests: a folder of extra-test files (``*.py``, see
            :func:`cnnlabs.exercises.extra_test`), kept out of the student notebooks.
        jobs: submissions graded at the same time.
        timeout: seconds one notebook may run, all its cells together.
        cell_timeout: seconds one cell may run (default: no limit of its own).
        out: the folder for ``grades.csv``, ``feedback/``, ``written_answers.csv``,
            ``rubric.md`` and ``executed/`` (default: ``grades-labNN`` in the
            working folder). Submitted files are only read.
        progress: called with each submission's grade as soon as it is done.

    Returns:
        One :class:`Graded` per submission, in the order found.

    Raises:
        ValueError, FileNotFoundError: for bad arguments, before anything runs.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be 1 or more, got {jobs}.")
    graded_plan = plan(lab, tests, timeout, cell_timeout)
    found = collect(submissions)
    folder = Path(out) if out is not None else Path.cwd() / f"grades-lab{lab:02d}"
    folder.mkdir(parents=True, exist_ok=True)
    work = _grade_all(found, graded_plan, jobs, folder, progress)
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # the usual case: no event loop here
        rows = asyncio.run(work)
    else:  # called from a notebook, whose kernel runs a loop: use a thread of our own
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(1) as pool:
            rows = pool.submit(asyncio.run, work).result()
    write_grades(rows, graded_plan, folder / GRADES_FILE)
    feedback_dir = folder / FEEDBACK_DIR
    feedback_dir.mkdir(exist_ok=True)
    for row in rows:
        (feedback_dir / _file_name(row.submission, ".md")).write_text(
            feedback(row, graded_plan), encoding="utf-8")
    if graded_plan.questions:
        write_written(rows, graded_plan, folder / WRITTEN_FILE)
        (folder / RUBRIC_FILE).write_text(rubric(graded_plan), encoding="utf-8")
    return rows
