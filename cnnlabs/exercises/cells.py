"""The cell conventions of exercises and written questions in a lab notebook.

An auto-checked exercise is three cells in a row:

1. Markdown whose first line is ``### Exercise NN.M (P points): <one-line goal>``
   (``1 point`` for one);
2. code holding the answer between a ``# BEGIN SOLUTION`` line and an
   ``# END SOLUTION`` line (code outside the markers stays in the student version);
3. code whose whole source is ``check("NN.M")``.

A written question is two Markdown cells: ``### Question NN.M (written): <question>``,
then the answer cell, whose model answer sits between ``<!-- BEGIN SOLUTION -->`` and
``<!-- END SOLUTION -->`` lines (the student version has :data:`ANSWER_PLACEHOLDER`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

EXERCISE_RE = re.compile(
    r"^###\s+Exercise\s+(?P<id>\d{2}\.\d+)\s+\((?P<points>\d+(?:\.\d+)?)\s+points?\):\s*"
    r"(?P<text>\S.*?)\s*$")
QUESTION_RE = re.compile(r"^###\s+Question\s+(?P<id>\d{2}\.\d+)\s+\(written\):\s*"
                         r"(?P<text>\S.*?)\s*$")
CHECK_RE = re.compile(r"""^check\(\s*(?P<q>["'])(?P<id>\d{2}\.\d+)(?P=q)\s*\)$""")
BEGIN_CODE, END_CODE = "# BEGIN SOLUTION", "# END SOLUTION"
BEGIN_TEXT, END_TEXT = "<!-- BEGIN SOLUTION -->", "<!-- END SOLUTION -->"
#: The answer cell of a written question in a student notebook.
ANSWER_PLACEHOLDER = "*Your answer here.*"


def source(cell: Any) -> str:
    """A cell's source as one string (notebook JSON keeps it as a list of lines)."""
    text = cell.get("source", "")
    return "".join(text) if isinstance(text, list) else str(text)


def first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


@dataclass(frozen=True)
class Item:
    """An exercise or a written question found in a notebook.

    Attributes:
        kind: ``"exercise"`` or ``"question"``.
        id: ``"NN.M"``.
        points: the points its heading states (exercises), else ``None``.
        text: the goal or the question, as the heading states it.
        heading: index of the heading cell.
        answer: index of the answer cell (the code cell, or the Markdown answer).
        check: index of the check cell (exercises).
    """

    kind: str
    id: str
    points: float | None
    text: str
    heading: int
    answer: int | None
    check: int | None


def blocks(text: str, begin: str, end: str) -> list[tuple[int, int]]:
    """``(begin line, end line)`` indices of every solution block in ``text``.

    Raises:
        ValueError: for a marker without its partner, or blocks inside blocks.
    """
    found: list[tuple[int, int]] = []
    start: int | None = None
    for i, line in enumerate(text.split("\n")):
        marker = line.strip()
        if marker == begin:
            if start is not None:
                raise ValueError(f"'{begin}' on line {i + 1} inside another solution block")
            start = i
        elif marker == end:
            if start is None:
                raise ValueError(f"'{end}' on line {i + 1} without '{begin}' before it")
            found.append((start, i))
            start = None
    if start is not None:
        raise ValueError(f"'{begin}' on line {start + 1} has no '{end}'")
    return found


def find_items(cells: Sequence[Any]) -> tuple[list[Item], list[str]]:
    """The exercises and questions of a notebook, and what breaks the conventions.

    Returns:
        ``(items, problems)``; ``problems`` names each cell by its number (from 1).
    """
    items: list[Item] = []
    problems: list[str] = []
    claimed: set[int] = set()
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        heading = first_line(source(cell))
        exercise = EXERCISE_RE.match(heading)
        written = QUESTION_RE.match(heading)
        where = f"cell {index + 1}"
        if exercise:
            ex_id = exercise["id"]
            answer = index + 1 if index + 1 < len(cells) else None
            check_at = index + 2 if index + 2 < len(cells) else None
            if answer is None or cells[answer].get("cell_type") != "code":
                problems.append(f"{where} (exercise {ex_id}): the next cell must be the code "
                                "cell holding the answer")
                answer = None
            else:
                _has_blocks(source(cells[answer]), BEGIN_CODE, END_CODE, problems,
                            f"cell {answer + 1} (exercise {ex_id})")
            if check_at is None or cells[check_at].get("cell_type") != "code" or \
                    (m := CHECK_RE.match(source(cells[check_at]).strip())) is None:
                problems.append(f"{where} (exercise {ex_id}): the cell after the answer must be "
                                f'exactly check("{ex_id}")')
                check_at = None
            elif m["id"] != ex_id:
                problems.append(f"cell {check_at + 1} checks {m['id']} but follows exercise "
                                f"{ex_id}")
            items.append(Item("exercise", ex_id, float(exercise["points"]), exercise["text"],
                              index, answer, check_at))
            claimed.update(i for i in (answer, check_at) if i is not None)
        elif written:
            q_id = written["id"]
            answer = index + 1 if index + 1 < len(cells) else None
            if answer is None or cells[answer].get("cell_type") != "markdown":
                problems.append(f"{where} (question {q_id}): the next cell must be the Markdown "
                                "answer cell")
                answer = None
            else:
                _has_blocks(source(cells[answer]), BEGIN_TEXT, END_TEXT, problems,
                            f"cell {answer + 1} (question {q_id})")
                claimed.add(answer)
            items.append(Item("question", q_id, None, written["text"], index, answer, None))
        elif heading.startswith("### Exercise") or heading.startswith("### Question"):
            problems.append(f"{where}: heading {heading!r} does not follow the form "
                            "'### Exercise NN.M (P points): goal' or "
                            "'### Question NN.M (written): question'")
    for index, cell in enumerate(cells):
        text = source(cell)
        begin = BEGIN_CODE if cell.get("cell_type") == "code" else BEGIN_TEXT
        if index not in claimed and begin in text:
            problems.append(f"cell {index + 1}: solution markers outside an exercise or question")
    seen: set[str] = set()
    for item in items:
        if item.id in seen:
            problems.append(f"{item.kind} {item.id} appears twice")
        seen.add(item.id)
    return items, problems


def _has_blocks(text: str, begin: str, end: str, problems: list[str], where: str) -> bool:
    try:
        found = blocks(text, begin, end)
    except ValueError as exc:
        problems.append(f"{where}: {exc}")
        return False
    if not found:
        problems.append(f"{where}: no '{begin}' ... '{end}' block")
        return False
    return True


def written_answers(cells: Sequence[Any], question_ids: Sequence[str]) -> dict[str, str]:
    """The answer text of each question in ``question_ids`` ('' when blank or missing).

    The answer is the Markdown cell right after the question's heading; the
    untouched placeholder counts as blank.
    """
    answers = {q: "" for q in question_ids}
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "markdown":
            continue
        match = QUESTION_RE.match(first_line(source(cell)))
        if not match or match["id"] not in answers or answers[match["id"]]:
            continue
        if index + 1 < len(cells) and cells[index + 1].get("cell_type") == "markdown":
            lines = [line for line in source(cells[index + 1]).split("\n")
                     if line.strip() not in (BEGIN_TEXT, END_TEXT)]
            text = "\n".join(lines).strip()
            answers[match["id"]] = "" if text == ANSWER_PLACEHOLDER else text
    return answers
