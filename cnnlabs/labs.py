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


def install_line(repo: str | None = None, branch: str | None = None) -> str:
    """The ``%pip`` line a notebook's setup cell runs inside Colab."""
    repo, branch = repo or config.REPO, branch or config.BRANCH
    return f'%pip install -q "cnnlabs @ git+https://github.com/{repo}@{branch}"'


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
    """The Markdown lab table of the README."""
    rows = ["| lab | topic | dataset | model | Colab |", "|---|---|---|---|---|"]
    for lab in LABS:
        rows.append(
            f"| [{lab.number:02d}](labs/{lab.filename}) | {lab.title} | {lab.dataset} | "
            f"{lab.model} | {colab_badge(lab)} |"
        )
    return "\n".join(rows)


def sync(readme: Path | None = None) -> list[Path]:
    """Bring every notebook's badge/install line and the README table in step with REPO.

    Returns the files that changed.
    """
    import nbformat

    changed: list[Path] = []
    for lab in LABS:
        path = labs_dir() / lab.filename
        if not path.is_file():
            continue
        nb = nbformat.read(path, as_version=4)
        dirty = False
        for cell in nb.cells:
            synced = sync_text(cell.source, lab)
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
    if not code or install_line() not in _source(code[0]):
        problems.append(f"the first code cell is not the setup cell with: {install_line()}")
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
