"""The lab notebooks: their catalogue, their template, and running them headless.

The catalogue below is the one list of labs: the README table, ``cnnlabs labs
list`` and the template test all read it. The Colab badge and the install line
of every notebook are derived from :data:`cnnlabs.config.REPO`; ``cnnlabs labs
sync`` rewrites them after a fork, and a test fails when they drift.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cnnlabs import config

COLAB_BADGE_IMG = "https://colab.research.google.com/assets/colab-badge.svg"


@dataclass(frozen=True)
class Lab:
    """One numbered notebook."""

    number: int
    slug: str
    title: str
    dataset: str
    model: str

    @property
    def filename(self) -> str:
        return f"{self.number:02d}_{self.slug}.ipynb"


LABS: tuple[Lab, ...] = (
    Lab(0, "setup", "Setup: runtime, GPU, profile and credentials", "-", "-"),
    Lab(
        1,
        "convolution_arithmetic",
        "Convolution arithmetic: sizes, padding, stride, pooling, parameters",
        "6x6 toy image, a bundled photo",
        "NumPy reference conv, VGG16 table",
    ),
    Lab(
        2,
        "activations_and_layers",
        "Activations and layers: why convolutions",
        "MNIST",
        "MLP vs one-layer CNN",
    ),
    Lab(3, "lenet_mnist", "LeNet on MNIST", "MNIST", "LeNet"),
    Lab(4, "minivggnet_cifar10", "MiniVGGNet and AlexNet on CIFAR-10: batch norm, augmentation",
        "CIFAR-10", "MiniVGGNet, AlexNet variant"),
    Lab(5, "minigooglenet_cifar10", "MiniGoogLeNet on CIFAR-10: inception modules", "CIFAR-10",
        "MiniGoogLeNet"),
    Lab(6, "resnet_cifar10", "ResNet on CIFAR-10: degradation and residual modules", "CIFAR-10",
        "ResNet"),
    Lab(7, "medmnist_pneumonia", "PneumoniaMNIST: a medical CNN evaluated like a clinical test",
        "MedMNIST PneumoniaMNIST (28 px)", "small ResNet"),
    Lab(8, "chest_xray_transfer_learning",
        "Chest X-rays: transfer learning, thresholds and Grad-CAM",
        "Kaggle chest X-ray (Kermany et al.)", "MobileNetV2 (ImageNet) fine-tuned"),
    Lab(9, "what_a_cnn_sees",
        "What a CNN sees: filters, feature maps, attributions and synthesised images",
        "MNIST, CIFAR-10, PneumoniaMNIST", "LeNet, MiniVGGNet, small ResNet (trained small)"),
    Lab(10, "detection_from_the_grid_up",
        "Detection from the grid up: IoU, NMS, anchors, YOLO and mAP",
        "MNIST digits on a 64x64 canvas, with boxes (generated)", "yolo_grid (YOLO v1 layout)"),
    Lab(11, "fast_cifar10", "How fast can a CNN learn CIFAR-10? airbench94's tricks one by one",
        "CIFAR-10", "MiniVGGNet, airbench94"),
)


def get(number: int) -> Lab:
    """The lab with this number.

    Raises:
        KeyError: naming the valid numbers.
    """
    for lab in LABS:
        if lab.number == number:
            return lab
    valid = ", ".join(f"{lab.number:02d}" for lab in LABS)
    raise KeyError(f"No lab {number:02d}. Valid labs: {valid}.")


def labs_dir() -> Path:
    """The folder holding the notebooks: ``$CNNLABS_LABS_DIR``, the checkout's, or ``./labs``."""
    env = os.environ.get("CNNLABS_LABS_DIR", "").strip()
    if env:
        return Path(env).expanduser().resolve()
    root = config.project_root()
    return (root / "labs") if root else Path.cwd() / "labs"


def colab_url(lab: Lab, repo: str | None = None, branch: str | None = None) -> str:
    """The Colab address that opens ``lab`` straight from GitHub (default: ``config.REPO``)."""
    repo, branch = repo or config.REPO, branch or config.BRANCH
    return f"https://colab.research.google.com/github/{repo}/blob/{branch}/labs/{lab.filename}"


def colab_badge(lab: Lab, repo: str | None = None, branch: str | None = None) -> str:
    """Markdown for the "Open in Colab" badge of ``lab``."""
    return f"[![Open In Colab]({COLAB_BADGE_IMG})]({colab_url(lab, repo, branch)})"


def student_dir() -> Path:
    """The folder of the student notebooks that ``cnnlabs assign`` writes: ``labs/student/``."""
    return labs_dir() / "student"


def student_colab_url(lab: Lab, repo: str | None = None, branch: str | None = None) -> str:
    """The Colab address of the student notebook of ``lab`` (in ``labs/student/``)."""
    repo, branch = repo or config.REPO, branch or config.BRANCH
    return (f"https://colab.research.google.com/github/{repo}/blob/{branch}/labs/student/"
            f"{lab.filename}")


def student_badge(lab: Lab, repo: str | None = None, branch: str | None = None) -> str:
    """Markdown for the "Open in Colab" badge of the student notebook of ``lab``."""
    return f"[![Open In Colab]({COLAB_BADGE_IMG})]({student_colab_url(lab, repo, branch)})"


def replace_badge(text: str, badge: str) -> str:
    """``text`` with every "Open In Colab" badge replaced by ``badge``."""
    return _BADGE_RE.sub(lambda _m: badge, text)


def install_line(repo: str | None = None, branch: str | None = None) -> str:
    """The ``%pip`` line a notebook's setup cell runs inside Colab."""
    repo, branch = repo or config.REPO, branch or config.BRANCH
    return f'%pip install -q "cnnlabs @ git+https://github.com/{repo}@{branch}"'


#: What a missing cnnlabs tells the student, in every lab's setup cell.
_NOT_INSTALLED = (
    "cnnlabs is not installed, so this lab cannot run. In Colab the %pip line above "
    "installs it from {url}: read its output. If that repository is wrong (a fork, or a "
    "copy elsewhere), change it on the %pip line; or build a wheel in a checkout "
    "(python -m pip wheel . --no-deps -w dist), upload it with the Files panel, run "
    "%pip install cnnlabs-*.whl, and run this cell again. Locally: pip install -e . in the "
    "checkout."
)


def setup_block(repo: str | None = None, branch: str | None = None) -> str:
    """The lines every lab's setup cell starts with: install in Colab, import or explain, home.

    The install runs only inside Colab. When ``import cnnlabs`` still fails, the cell
    stops with what happened and what to do instead of a bare traceback. Then
    ``config.use_home()`` keeps data and runs on Google Drive when ``CNNLABS_HOME`` asks
    for it. Running the cell twice, or again after a kernel restart, is harmless.
    ``cnnlabs labs sync`` writes this block into every notebook.
    """
    url = f"https://github.com/{repo or config.REPO}"
    message = _NOT_INSTALLED.format(url=url)
    wrapped = textwrap.wrap(message, width=84, break_on_hyphens=False)
    quoted = "\n".join(f'        "{line} "' for line in wrapped[:-1])
    quoted += ("\n" if quoted else "") + f'        "{wrapped[-1]}"'
    return "\n".join([
        "# Setup: in Colab this installs cnnlabs; locally, run `pip install -e .` in the "
        "checkout once.",
        "import sys",
        'if "google.colab" in sys.modules:',
        f"    {install_line(repo, branch)}",
        "try:",
        "    import cnnlabs",
        "except ModuleNotFoundError:",
        "    raise SystemExit(",
        quoted + ") from None",
        "from cnnlabs import config",
        'from cnnlabs.exercises import check  # check("03.2") marks exercise 03.2',
        "",
        "config.use_home()  # data and runs on Google Drive when CNNLABS_HOME asks for it",
    ])


def _sync_setup(source: str) -> str:
    """``source`` (a setup cell) with its leading block replaced by :func:`setup_block`."""
    lines = source.split("\n")
    ends = [i for i, line in enumerate(lines) if line.startswith("config.use_home(")]
    if not ends:  # a cell from before the block existed: it ended at the install line
        ends = [i for i, line in enumerate(lines) if "%pip install" in line]
    if not ends:
        return source
    rest = lines[ends[0] + 1:]
    return setup_block() + ("\n" + "\n".join(rest) if rest else "")


_BADGE_RE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
_INSTALL_RE = re.compile(r"%pip install -q \"cnnlabs @ git\+https://github\.com/[^\"]*\"")
_CLONE_RE = re.compile(r"git clone https://github\.com/[\w.-]+/(?P<name>[\w.-]+?)(?:\.git)?"
                       r"(?: && cd (?P<cd>[\w.-]+?)(?![\w-]|\.\w))?(?![\w-]|\.\w)")


def sync_text(text: str, lab: Lab | None) -> str:
    """Rewrite the install line (and, for a lab, its badge) in ``text`` to the current repo."""
    text = _INSTALL_RE.sub(lambda _m: install_line(), text)
    folder = config.REPO.rsplit("/", 1)[-1]

    def clone(m: re.Match) -> str:
        # `&& cd NAME` follows the clone into its folder; any other cd is left alone.
        cd = m.group("cd")
        after = "" if cd is None else f" && cd {folder if cd == m.group('name') else cd}"
        return f"git clone {config_repo_url()}{after}"

    text = _CLONE_RE.sub(clone, text)
    if lab is not None:
        text = _BADGE_RE.sub(lambda _m: colab_badge(lab), text)
    return text


def config_repo_url() -> str:
    """``https://github.com/OWNER/NAME`` for the current :data:`cnnlabs.config.REPO`."""
    return f"https://github.com/{config.REPO}"


def readme_table() -> str:
    """The Markdown lab table of the README: each lab, its notebook and its student version.

    The student column links the notebook ``cnnlabs assign`` writes for each lab with
    exercises (``labs/student/``), with its own Colab badge.
    """
    from cnnlabs.exercises import labs_with_exercises

    graded = set(labs_with_exercises())
    rows = ["| lab | topic | dataset | model | Colab | student version |",
            "|---|---|---|---|---|---|"]
    for lab in LABS:
        student = (f"[notebook](labs/student/{lab.filename}) {student_badge(lab)}"
                   if lab.number in graded else "-")
        rows.append(
            f"| [{lab.number:02d}](labs/{lab.filename}) | {lab.title} | {lab.dataset} | "
            f"{lab.model} | {colab_badge(lab)} | {student} |"
        )
    return "\n".join(rows)


TIMES_START = "<!-- lab-times:start -->"
TIMES_END = "<!-- lab-times:end -->"
_TIMES_RE = re.compile(re.escape(TIMES_START) + r".*?" + re.escape(TIMES_END), re.S)


def times_block(lab: Lab) -> str:
    """The expected-time block of ``lab``'s notebook, between its marker comments.

    Lab 00 holds every lab's estimate (``budget.summary_table``); every other lab its own
    table per profile (``budget.time_table``), both from ``cnnlabs/lab_costs.json``.
    """
    from cnnlabs import budget

    if lab.number == 0:
        body = budget.summary_table(cells=budget.LAB_TABLE_CELLS) + "\n\n" + budget.caption()
    else:
        body = budget.time_table(lab.number)
    return f"{TIMES_START}\n{body}\n{TIMES_END}"


def _sync_times(cells: list[Any], lab: Lab) -> bool:
    """Refresh the expected-time block of a notebook's cells (added to the title cell)."""
    block = times_block(lab)
    for cell in cells:
        if cell.cell_type == "markdown" and TIMES_START in cell.source:
            synced = _TIMES_RE.sub(lambda _m: block, cell.source)
            changed = synced != cell.source
            cell.source = synced
            return changed
    if cells and cells[0].cell_type == "markdown":
        cells[0].source = cells[0].source.rstrip("\n") + "\n\n" + block
        return True
    return False


def sync(readme: Path | None = None) -> list[Path]:
    """Bring every notebook's badge, setup block, time table and the README table in step.

    The badges, install lines and clone commands follow REPO; the expected-time tables
    follow ``cnnlabs/lab_costs.json`` and the lab plans (:func:`times_block`).
    Returns the files that changed.
    """
    import nbformat

    changed: list[Path] = []
    for lab in LABS:
        path = labs_dir() / lab.filename
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=4)
        dirty = _sync_times(nb.cells, lab)
        setup = next((c for c in nb.cells if c.cell_type == "code"), None)
        for cell in nb.cells:
            synced = sync_text(cell.source, lab)
            if cell is setup:
                synced = _sync_setup(synced)
            if synced != cell.source:
                cell.source, dirty = synced, True
        if dirty:  # written the way Jupyter writes it, so the diff is only the changed lines
            nbformat.write(nb, path)
            changed.append(path)
    readme = readme or (labs_dir().parent / "README.md")
    if readme.is_file():
        text = readme.read_text(encoding="utf-8")
        new = re.sub(
            r"(<!-- labs-table:start -->\n).*?(\n<!-- labs-table:end -->)",
            lambda m: m.group(1) + readme_table() + m.group(2),
            text,
            flags=re.S,
        )
        new = sync_text(new, None)
        if new != text:
            readme.write_text(new, encoding="utf-8")
            changed.append(readme)
    return changed


def _source(cell: dict[str, Any]) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def template_problems(path: Path) -> list[str]:
    """Everything in the notebook at ``path`` that breaks the lab template (empty: fine).

    The template: an H1 title first, then this repo's Colab badge for this very
    file; an Overview section; one Setup code cell (the first code cell) that
    holds the Colab install line; no other ``pip install``; no saved outputs or
    execution counts; a Python 3 kernelspec; Summary and Exercises sections at
    the end; ``verbose=2`` wherever a cell calls ``fit``.
    """
    problems: list[str] = []
    nb = json.loads(Path(path).read_text(encoding="utf-8"))
    cells = nb.get("cells", [])
    if not cells:
        return ["the notebook has no cells"]
    first = _source(cells[0])
    if cells[0].get("cell_type") != "markdown" or not first.lstrip().startswith("# "):
        problems.append("the first cell is not a Markdown H1 title")
    lab = next((lab for lab in LABS if lab.filename == Path(path).name), None)
    if lab is None:
        problems.append(f"{Path(path).name} is not in cnnlabs.labs.LABS")
    elif colab_url(lab) not in first:
        problems.append(f"the title cell lacks the Colab badge {colab_url(lab)}")
    headings = [
        line.strip().lower()
        for cell in cells
        if cell.get("cell_type") == "markdown"
        for line in _source(cell).splitlines()
        if line.startswith("## ")
    ]
    for needed in ("## overview", "## setup"):
        if needed not in headings:
            problems.append(f"no '{needed[3:].title()}' section")
    if not headings or not headings[-1].startswith("## exercises"):
        problems.append("the last section is not '## Exercises'")
    if "## summary" not in headings:
        problems.append("no 'Summary' section")
    code = [c for c in cells if c.get("cell_type") == "code"]
    if not code or not _source(code[0]).startswith(setup_block()):
        problems.append("the first code cell does not start with the setup block "
                        "(labs.setup_block(); `cnnlabs labs sync` writes it)")
    for i, cell in enumerate(code[1:], start=2):
        if "pip install" in _source(cell):
            problems.append(f"code cell {i} installs packages outside the setup cell")
    for i, cell in enumerate(code, start=1):
        if cell.get("outputs"):
            problems.append(f"code cell {i} has saved outputs")
        if cell.get("execution_count") is not None:
            problems.append(f"code cell {i} has an execution count")
        for line in _fits_without_verbose_2(_source(cell)):
            problems.append(f"code cell {i} calls fit without verbose=2 (line {line})")
    kernelspec = nb.get("metadata", {}).get("kernelspec", {})
    if kernelspec.get("name") != "python3" or kernelspec.get("language") != "python":
        problems.append("the kernelspec is not Python 3 (name 'python3', language 'python')")
    return problems


def _fits_without_verbose_2(source: str) -> list[int]:
    """Line numbers of the ``fit(...)`` calls in ``source`` that lack a literal ``verbose=2``.

    IPython lines (``%time ...``, ``!ls``) are blanked before parsing and checked as text
    (``%time model.fit(...)`` still counts); a cell that does not parse is checked line by
    line instead.
    """
    import ast

    def by_text(numbered: list[tuple[int, str]]) -> list[int]:
        return [n for n, line in numbered
                if re.search(r"\bfit\(", line) and "verbose=2" not in line]

    lines = source.splitlines()
    magic = [(n, line) for n, line in enumerate(lines, start=1)
             if line.lstrip().startswith(("%", "!"))]
    blanked = {n for n, _ in magic}
    python = "\n".join("" if n in blanked else line for n, line in enumerate(lines, start=1))
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return by_text(list(enumerate(lines, start=1)))
    missing = by_text(magic)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name != "fit":
            continue
        verbose = [k.value for k in node.keywords if k.arg == "verbose"]
        if not (verbose and isinstance(verbose[0], ast.Constant) and verbose[0].value == 2):
            missing.append(node.lineno)
    return sorted(missing)


def _figure_functions() -> set[str]:
    """``module.function`` names whose call makes a figure that a notebook should show."""
    import inspect

    from cnnlabs import explain, plots

    names = {f"plots.{name}" for name, fn in vars(plots).items()
             if inspect.isfunction(fn) and not name.startswith("_")
             and fn.__module__ == plots.__name__
             and "Figure" in str(inspect.signature(fn).return_annotation)}
    names |= {f"explain.{name}" for name in vars(explain) if name.startswith("plot_")}
    return names | {"plt.show"}


def figure_calls(source: str) -> list[tuple[int, bool]]:
    """The calls in a code cell that must each show a figure: ``(line, inside a loop)``.

    A call of a ``plots`` or ``explain.plot_*`` function without ``path=`` (with a
    path it saves instead of showing), or ``plt.show()``.
    """
    import ast

    lines = ["" if line.lstrip().startswith(("%", "!")) else line
             for line in source.splitlines()]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return []
    wanted = _figure_functions()
    found: list[tuple[int, bool]] = []

    def visit(node: ast.AST, looped: bool) -> None:
        looped = looped or isinstance(node, (ast.For, ast.While, ast.comprehension))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and isinstance(node.func.value, ast.Name) \
                and f"{node.func.value.id}.{node.func.attr}" in wanted \
                and not any(k.arg == "path" for k in node.keywords):
            found.append((node.lineno, looped))
        for child in ast.iter_child_nodes(node):
            visit(child, looped)

    visit(tree, False)
    return found


def figure_problem(source: str, outputs: list[dict[str, Any]]) -> str | None:
    """Why the outputs of an executed cell lack the figures its calls should show, or ``None``.

    Each figure call (:func:`figure_calls`) outside a loop must have shown exactly one
    image, so a figure never goes missing and never shows twice; calls inside a loop
    must have shown at least one image each.
    """
    calls = figure_calls(source)
    if not calls:
        return None
    images = sum(1 for out in outputs if "image/png" in (out.get("data") or {}))
    once = sum(1 for _, looped in calls if not looped)
    if images < len(calls) or (once == len(calls) and images != once):
        lines = ", ".join(str(line) for line, _ in calls)
        return (f"the cell's figure calls (lines {lines}) should show {len(calls)} "
                f"image(s){'' if once == len(calls) else ' or more'}, but it shows {images}")
    return None


def run(number: int, profile: str | None = None, out: Path | None = None,
        timeout: int = 1800) -> Path:
    """Execute lab ``number`` headless and save the executed copy in a run folder.

    The notebook runs in the labs folder (as in JupyterLab) under ``profile``
    (default: the current one). Returns the path of the executed notebook; a
    failing cell raises ``nbclient`` 's ``CellExecutionError`` after the
    partial copy has been saved next to it.
    """
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    lab = get(number)
    source = labs_dir() / lab.filename
    if not source.is_file():
        raise FileNotFoundError(
            f"{source} does not exist. Run from a cnnlabs checkout, or set CNNLABS_LABS_DIR."
        )
    nb = nbformat.read(source, as_version=4)
    run_dir = Path(out) if out else config.new_run_dir(f"lab{lab.number:02d}")
    run_dir.mkdir(parents=True, exist_ok=True)
    target = run_dir / lab.filename
    env_profile = config.get_profile(profile).name
    previous = os.environ.get(config.PROFILE_ENV)
    os.environ[config.PROFILE_ENV] = env_profile  # the kernel inherits it
    client = NotebookClient(
        nb, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": str(source.parent)}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError:
        nbformat.write(nb, target)
        raise
    finally:
        if previous is None:
            os.environ.pop(config.PROFILE_ENV, None)
        else:
            os.environ[config.PROFILE_ENV] = previous
    nb.metadata["cnnlabs"] = {"profile": env_profile,
                              "seconds": round(time.perf_counter() - start, 1)}
    nbformat.write(nb, target)
    return target
