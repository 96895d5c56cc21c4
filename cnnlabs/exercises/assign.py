"""``cnnlabs assign``: the student notebooks, generated from the solution notebooks.

The notebooks in ``labs/`` are the instructor's complete versions. For each lab
with exercises, :func:`student_notebook` replaces every solution block by a stub
(:func:`stub`) and every model answer by :data:`~cnnlabs.exercises.cells.ANSWER_PLACEHOLDER`,
points the Colab badge at the student copy, and leaves every other cell as it is.
The student notebooks are committed in ``labs/student/``; :func:`stale` lists the
ones that differ from what :func:`assign` would write, and a test fails on them.
"""

from __future__ import annotations

import ast
import copy
import io
import re
import textwrap
import tokenize
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cnnlabs import labs
from cnnlabs.exercises import cells, lab_exercises, lab_questions

#: The comment of an assignment stub when the solution gives no ``# TODO:`` hint.
GENERIC_HINT = "replace ... with your answer"
#: The comment of a function stub's body when the solution gives no hint.
GENERIC_BODY_HINT = "write the body"
_TODO_RE = re.compile(r"^\s*#\s*TODO:\s*(?P<hint>.*?)\s*$")


# --------------------------------------------------------------------------- stubs


def _header_end(lines: list[str], node: ast.AST) -> tuple[int, int]:
    """``(line, column)`` just after the ``:`` that ends a def or class header (1-based line)."""
    start = node.lineno
    text = "\n".join(lines[start - 1:node.end_lineno]) + "\n"
    depth = 0
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.OP:
            if token.string in "([{":
                depth += 1
            elif token.string in ")]}":
                depth -= 1
            elif token.string == ":" and depth == 0:
                return start + token.end[0] - 1, token.end[1]
    raise ValueError(f"cannot find the end of the header on line {start}")


def _ellipses(target: ast.expr) -> str:
    """``...`` shaped like an assignment target: ``a, (b, c)`` gets ``..., (..., ...)``."""
    if isinstance(target, (ast.Tuple, ast.List)):
        inner = ", ".join(_ellipses(element) for element in target.elts)
        return f"({inner})" if len(target.elts) > 1 else f"({inner},)"
    return "..."


def _names(target: ast.expr) -> list[str]:
    if isinstance(target, ast.Name):
        return [target.id]
    if isinstance(target, ast.Starred):
        return _names(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return [name for element in target.elts for name in _names(element)]
    return []


def _helper(targets: list[ast.expr]) -> bool:
    """An assignment to names that all start with ``_``: the solution's own helper."""
    names = [name for target in targets for name in _names(target)]
    return bool(names) and all(name.startswith("_") for name in names)


def _assignable(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return True
    if isinstance(target, ast.Starred):
        return _assignable(target.value)
    if isinstance(target, (ast.Tuple, ast.List)):
        return all(_assignable(element) for element in target.elts)
    return False


def _definition_stub(lines: list[str], node: ast.AST, hint: str | None) -> list[str]:
    """A def or class: its decorators and header, its docstring, then ``...  # TODO``."""
    first = node.decorator_list[0].lineno if node.decorator_list else node.lineno
    end_line, end_col = _header_end(lines, node)
    header = lines[first - 1:end_line - 1] + [lines[end_line - 1][:end_col]]
    indent = re.match(r"\s*", lines[node.lineno - 1]).group(0)
    body = node.body[0]
    body_indent = indent + "    "
    if body.lineno > end_line:
        body_indent = re.match(r"\s*", lines[body.lineno - 1]).group(0)
    out = list(header)
    docstring = (isinstance(body, ast.Expr) and isinstance(body.value, ast.Constant)
                 and isinstance(body.value.value, str))
    if docstring:
        if body.lineno > end_line:
            out += lines[body.lineno - 1:body.end_lineno]
        else:
            out.append(body_indent + ast.get_source_segment("\n".join(lines), body))
    out.append(f"{body_indent}...  # TODO: {hint or GENERIC_BODY_HINT}")
    return out


def stub(block: str) -> str:
    """The student's version of a solution block (the lines between the markers).

    For each top-level statement of the block:

    - ``name = expr`` (also ``a, b = ...``, ``x: T = ...``) becomes
      ``name = ...  # TODO: <hint>``, unless every name it assigns starts with
      ``_`` (a helper of the solution: it goes);
    - ``def f(...)`` (and ``class``) keeps its decorators, header and docstring,
      and gets ``...  # TODO: <hint or "write the body">`` as its body;
    - imports stay as they are; everything else goes.

    The hint of a statement is the ``# TODO: ...`` comment line just above it,
    else the one that opens the block, else a generic one. A block that keeps
    nothing becomes a single ``...  # TODO: <hint>`` line. The block's own
    indentation is kept, so markers may sit inside a function.

    Raises:
        ValueError: if the block is not valid Python on its own.
    """
    raw = block.split("\n")
    body = textwrap.dedent(block)
    indent = ""
    for original, dedented in zip(raw, body.split("\n"), strict=True):
        if dedented.strip():
            indent = original[: len(original) - len(dedented)]
            break
    try:
        tree = ast.parse(body)
    except SyntaxError as exc:
        raise ValueError(f"the solution block is not valid Python on its own "
                         f"(line {exc.lineno}: {exc.msg})") from None
    lines = body.split("\n")
    hints = {n: m["hint"] for n, line in enumerate(lines, start=1)
             if (m := _TODO_RE.match(line)) and m["hint"]}
    opening = next((line for line in lines if line.strip()), "")
    block_hint = m["hint"] if (m := _TODO_RE.match(opening)) and m["hint"] else None
    out: list[str] = []
    previous_end = 0
    for node in tree.body:
        first = (node.decorator_list[0].lineno
                 if getattr(node, "decorator_list", None) else node.lineno)
        own = [hints[n] for n in sorted(hints) if previous_end < n < first]
        hint = own[-1] if own else block_hint
        previous_end = node.end_lineno
        segment = ast.get_source_segment(body, node)
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and \
                _helper(getattr(node, "targets", None) or [node.target]):
            continue
        if isinstance(node, ast.Assign) and all(_assignable(t) for t in node.targets):
            targets = " = ".join(ast.get_source_segment(body, t) for t in node.targets)
            out.append(f"{targets} = {_ellipses(node.targets[0])}  "
                       f"# TODO: {hint or GENERIC_HINT}")
        elif isinstance(node, ast.AnnAssign) and node.value is not None and \
                _assignable(node.target):
            target = ast.get_source_segment(body, node.target)
            annotation = ast.get_source_segment(body, node.annotation)
            out.append(f"{target}: {annotation} = ...  # TODO: {hint or GENERIC_HINT}")
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out += _definition_stub(lines, node, hint)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out += segment.split("\n")
    if not out:
        out = [f"...  # TODO: {block_hint or GENERIC_HINT}"]
    return "\n".join(indent + line if line else line for line in out)


def stub_code_cell(text: str) -> str:
    """A code cell's source with every solution block replaced by its :func:`stub`."""
    lines = text.split("\n")
    out: list[str] = []
    position = 0
    for begin, end in cells.blocks(text, cells.BEGIN_CODE, cells.END_CODE):
        out += lines[position:begin]
        out += stub("\n".join(lines[begin + 1:end])).split("\n")
        position = end + 1
    return "\n".join(out + lines[position:])


def blank_answer_cell(text: str) -> str:
    """A Markdown answer cell with every model answer replaced by the placeholder."""
    lines = text.split("\n")
    out: list[str] = []
    position = 0
    for begin, end in cells.blocks(text, cells.BEGIN_TEXT, cells.END_TEXT):
        out += lines[position:begin] + [cells.ANSWER_PLACEHOLDER]
        position = end + 1
    return "\n".join(out + lines[position:])


# --------------------------------------------------------------------------- notebooks


class _Bindings(ast.NodeVisitor):
    """The names a cell binds at the top level (not inside functions, classes, lambdas)."""

    def __init__(self) -> None:
        self.names: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.names.add(node.id)

    def _scope(self, node: Any) -> None:
        self.names.add(node.name)
        for decorator in node.decorator_list:
            self.visit(decorator)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _scope

    def visit_Lambda(self, node: ast.Lambda) -> None:
        pass

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        for alias in node.names:
            if node.module == "cnnlabs.exercises" and alias.name == alias.asname == "check" or \
                    node.module == "cnnlabs.exercises" and alias.name == "check" and \
                    alias.asname is None:
                continue  # the setup cell's import of check() itself
            self.visit(alias)

    def visit_alias(self, node: ast.alias) -> None:
        if node.name != "*":
            self.names.add((node.asname or node.name).split(".")[0])


def bound_names(text: str) -> set[str]:
    """The names a code cell binds at the top level (IPython ``%``/``!`` lines ignored)."""
    lines = [line[: len(line) - len(line.lstrip())] + "pass"  # keeps an `if` around %pip valid
             if line.lstrip().startswith(("%", "!")) else line for line in text.split("\n")]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set()
    visitor = _Bindings()
    visitor.visit(tree)
    return visitor.names


def exercise_cells(number: int) -> list[Any]:
    """The cells of lab ``number``'s exercises and questions, as its solution notebook holds them.

    Built from the registry (headings), the lab module's ``SOLUTIONS`` (the answer
    cells) and ``MODEL_ANSWERS`` (the written answers), in id order: for each
    exercise its heading, answer and check cells; for each question its heading and
    answer cells. Paste them into the notebook's Exercises section.
    """
    import importlib

    import nbformat

    module = importlib.import_module(f"cnnlabs.exercises.lab{number:02d}")
    new_md, new_code = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    entries: list[tuple[str, list[Any]]] = []
    for entry in lab_exercises(number):
        unit = "point" if entry.points == 1 else "points"
        entries.append((entry.id, [
            new_md(f"### Exercise {entry.id} ({entry.points:g} {unit}): {entry.goal}"),
            new_code(module.SOLUTIONS[entry.id]),
            new_code(f'check("{entry.id}")'),
        ]))
    for entry in lab_questions(number):
        answer = module.MODEL_ANSWERS[entry.id]
        entries.append((entry.id, [
            new_md(f"### Question {entry.id} (written): {entry.question}"),
            new_md(f"{cells.BEGIN_TEXT}\n{answer}\n{cells.END_TEXT}"),
        ]))
    entries.sort(key=lambda item: int(item[0].split(".")[1]))
    return [cell for _, group in entries for cell in group]


def problems(notebook: Any, lab: labs.Lab) -> list[str]:
    """What keeps ``notebook`` (the solution of ``lab``) from becoming a student notebook.

    Checks the cell conventions (:mod:`cnnlabs.exercises.cells`), that every
    heading matches an exercise or question registered for the lab (same id,
    points and text) and that every registered one has its cells, and that
    every stub is valid Python. A notebook without any exercise or question
    has no problems (and no student version).
    """
    items, found = cells.find_items(notebook["cells"])
    if not items and not found:
        return []
    prefix = f"{lab.number:02d}."
    registered = {e.id: e for e in lab_exercises(lab.number)}
    asked = {q.id: q for q in lab_questions(lab.number)}
    for item in items:
        if not item.id.startswith(prefix):
            found.append(f"{item.kind} {item.id} is in lab {lab.number:02d}: its id must start "
                         f"with {prefix}")
        if item.kind == "exercise":
            entry = registered.get(item.id)
            if entry is None:
                found.append(f"exercise {item.id} has no check: register it in "
                             f"cnnlabs/exercises/lab{lab.number:02d}.py")
                continue
            if item.points != entry.points:
                found.append(f"exercise {item.id}: the heading says {item.points:g} points, the "
                             f"check gives {entry.points:g}")
            if item.text != entry.goal:
                found.append(f"exercise {item.id}: the heading's goal differs from the "
                             f"registered one: {entry.goal!r}")
            if item.answer is not None:
                try:
                    stubbed = stub_code_cell(cells.source(notebook["cells"][item.answer]))
                except ValueError as exc:
                    found.append(f"exercise {item.id}: {exc}")
                    continue
                if not any(line.lstrip().startswith(("%", "!")) for line in stubbed.split("\n")):
                    try:
                        ast.parse(stubbed)
                    except SyntaxError as exc:
                        found.append(f"exercise {item.id}: the student's cell would not parse "
                                     f"(line {exc.lineno}: {exc.msg})")
        else:
            entry = asked.get(item.id)
            if entry is None:
                found.append(f"question {item.id} has no rubric: register it in "
                             f"cnnlabs/exercises/lab{lab.number:02d}.py")
            elif item.text != entry.question:
                found.append(f"question {item.id}: the heading's question differs from the "
                             f"registered one: {entry.question!r}")
    present = {item.id for item in items}
    for missing in [*registered, *asked]:
        if missing not in present:
            found.append(f"{missing} is registered but the notebook has no cells for it")
    found += _clashes(notebook["cells"], items)
    return found


def _clashes(notebook_cells: list[Any], items: list[cells.Item]) -> list[str]:
    """Names an exercise's answer binds that another cell binds too, and rebinding `check`.

    An unanswered exercise must look unanswered: if the lab itself defines one of its
    names, the untouched student notebook would be marked as if it had answered.
    """
    found: list[str] = []
    answer_of = {item.answer: item for item in items
                 if item.kind == "exercise" and item.answer is not None}
    bound = {i: bound_names(cells.source(cell)) for i, cell in enumerate(notebook_cells)
             if cell.get("cell_type") == "code"}
    for index, item in answer_of.items():
        try:
            names = bound_names(stub_code_cell(cells.source(notebook_cells[index])))
        except ValueError:
            continue
        for other, other_names in bound.items():
            for name in sorted(names & other_names) if other != index else []:
                found.append(f"exercise {item.id} defines `{name}`, which cell {other + 1} "
                             "defines too: an unanswered exercise would look answered")
    for index, names in bound.items():
        if "check" in names:
            found.append(f"cell {index + 1} rebinds `check`, which the exercises' check cells "
                         "call: rename that variable")
    return found


def student_notebook(solution: Any, lab: labs.Lab) -> Any | None:
    """The student version of the solution notebook of ``lab`` (``None``: no exercises).

    Raises:
        ValueError: listing the :func:`problems` of the solution notebook.
    """
    found = problems(solution, lab)
    if found:
        raise ValueError(f"{lab.filename} cannot be assigned:\n- " + "\n- ".join(found))
    items, _ = cells.find_items(solution["cells"])
    if not items:
        return None
    notebook = copy.deepcopy(solution)
    answers = {item.answer: item.kind for item in items if item.answer is not None}
    for index, cell in enumerate(notebook["cells"]):
        kind = answers.get(index)
        if kind == "exercise":
            cell["source"] = stub_code_cell(cells.source(cell))
        elif kind == "question":
            cell["source"] = blank_answer_cell(cells.source(cell))
        if cell.get("cell_type") == "code":
            cell["outputs"], cell["execution_count"] = [], None
    title = notebook["cells"][0]
    title["source"] = labs.replace_badge(cells.source(title), labs.student_badge(lab))
    return notebook


def _text(notebook: Any) -> str:
    """The notebook as Jupyter writes it (so a diff shows only changed lines)."""
    import nbformat

    text = nbformat.writes(notebook)
    return text if text.endswith("\n") else text + "\n"


def expected(number: int) -> str | None:
    """The text of lab ``number``'s student notebook as :func:`assign` writes it, or ``None``.

    Raises:
        FileNotFoundError: when the solution notebook is missing.
        ValueError: when it breaks the conventions (see :func:`problems`).
    """
    import nbformat

    lab = labs.get(number)
    path = labs.labs_dir() / lab.filename
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist. Run from a cnnlabs checkout, or set "
                                "CNNLABS_LABS_DIR.")
    student = student_notebook(nbformat.read(path, as_version=4), lab)
    return None if student is None else _text(student)


def _numbers(numbers: Iterable[int] | None) -> list[int]:
    return [lab.number for lab in labs.LABS] if numbers is None else [labs.get(n).number
                                                                      for n in numbers]


def assign(numbers: Iterable[int] | None = None, out: Path | None = None) -> list[Path]:
    """Write the student notebooks of the labs ``numbers`` (default: all) into ``out``.

    ``out`` defaults to ``labs/student/``. Labs without exercises get no student
    notebook. Returns the files written (unchanged ones are left alone).

    Raises:
        ValueError: when a solution notebook breaks the conventions; nothing is
            written then.
    """
    folder = Path(out) if out is not None else labs.student_dir()
    texts = {number: expected(number) for number in _numbers(numbers)}
    written: list[Path] = []
    for number, text in texts.items():
        if text is None:
            continue
        path = folder / labs.get(number).filename
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", newline="\n")
        written.append(path)
    return written


def stale(numbers: Iterable[int] | None = None, out: Path | None = None) -> list[str]:
    """Every student notebook that differs from what :func:`assign` would write.

    Returns ``"path: why"`` lines: missing, out of date, or present although its
    solution has no exercises. Empty when everything is in step.
    """
    folder = Path(out) if out is not None else labs.student_dir()
    found: list[str] = []
    for number in _numbers(numbers):
        path = folder / labs.get(number).filename
        try:
            text = expected(number)
        except (ValueError, FileNotFoundError) as exc:
            found.append(f"{path}: {exc}")
            continue
        if text is None:
            if path.exists():
                found.append(f"{path}: should not exist (its solution has no exercises)")
        elif not path.is_file():
            found.append(f"{path}: missing")
        elif path.read_text(encoding="utf-8") != text:
            found.append(f"{path}: differs from its solution notebook")
    return found
