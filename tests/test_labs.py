"""Every notebook follows the lab template, and badges come from one repository URL."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cnnlabs import config, labs

LABS_DIR = Path(__file__).resolve().parent.parent / "labs"
README = LABS_DIR.parent / "README.md"
NOTEBOOKS = sorted(LABS_DIR.glob("*.ipynb"))


def test_every_notebook_is_catalogued_and_every_catalogued_lab_exists():
    assert [p.name for p in NOTEBOOKS] == [lab.filename for lab in labs.LABS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_follows_the_template(path):
    assert labs.template_problems(path) == []


def _good_notebook() -> dict:
    return json.loads((LABS_DIR / labs.get(3).filename).read_text())


def _before_exercises(cells: list[dict]) -> list[dict]:
    """The cells in front of the '## Exercises' section (the section and its exercises gone)."""
    start = next(i for i, cell in enumerate(cells)
                 if "".join(cell["source"]).startswith("## Exercises"))
    return cells[:start]


def _write(tmp_path: Path, nb: dict) -> Path:
    path = tmp_path / labs.get(3).filename
    path.write_text(json.dumps(nb))
    return path


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda nb: nb["cells"][5].update(outputs=[{"output_type": "stream", "name": "stdout",
                                                    "text": "x"}], execution_count=3),
         "saved outputs"),
        (lambda nb: nb["cells"].pop(0), "H1 title"),
        (lambda nb: nb["cells"][0].update(source="# 03 · LeNet\n\nno badge"), "Colab badge"),
        (lambda nb: nb["metadata"].pop("kernelspec"), "kernelspec"),
        (lambda nb: nb.update(cells=_before_exercises(nb["cells"])), "Exercises"),
        (lambda nb: nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                                        "execution_count": None,
                                        "source": "%pip install numpy"}), "outside the setup"),
        (lambda nb: nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                                        "execution_count": None,
                                        "source": "model.fit(x, y, epochs=3)"}), "verbose=2"),
        # verbose=2 in one call does not excuse another call in the same cell
        (lambda nb: nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                                        "execution_count": None,
                                        "source": "model.fit(x, y, verbose=2)\n"
                                                  "model.fit(x, y)"}),
         "fit without verbose=2 (line 2)"),
        # a line magic in front of the call does not hide it
        (lambda nb: nb["cells"].append({"cell_type": "code", "metadata": {}, "outputs": [],
                                        "execution_count": None,
                                        "source": "%time history = model.fit(x, epochs=3)"}),
         "fit without verbose=2 (line 1)"),
    ],
)
def test_template_check_catches_each_kind_of_damage(tmp_path, damage, expected):
    nb = copy.deepcopy(_good_notebook())
    damage(nb)
    problems = labs.template_problems(_write(tmp_path, nb))
    assert any(expected in p for p in problems), problems


def test_badges_and_install_lines_derive_from_the_one_repo_setting():
    assert labs.colab_url(labs.get(3)) == (
        f"https://colab.research.google.com/github/{config.REPO}/blob/{config.BRANCH}/labs/"
        "03_lenet_mnist.ipynb"
    )
    assert config.REPO in labs.install_line()
    for path in NOTEBOOKS:
        text = path.read_text()
        assert labs.install_line().replace('"', '\\"') in text


def test_readme_lab_table_is_generated_from_the_catalogue():
    text = README.read_text()
    assert labs.readme_table() in text
    assert labs.install_line() in text
    assert f"git clone {labs.config_repo_url()}" in text


def test_sync_rewrites_a_forked_repository_everywhere(tmp_path, monkeypatch):
    folder = tmp_path / "labs"
    folder.mkdir()
    nb = _good_notebook()
    (folder / labs.get(3).filename).write_text(json.dumps(nb))
    readme = tmp_path / "README.md"
    readme.write_text("git clone https://github.com/cnnlabs/cnnlabs && cd cnnlabs\n"
                      "<!-- labs-table:start -->\nold\n<!-- labs-table:end -->\n")
    monkeypatch.setenv("CNNLABS_LABS_DIR", str(folder))
    monkeypatch.setattr(config, "REPO", "someone/fork")
    changed = labs.sync(readme)
    assert len(changed) == 2
    text = (folder / labs.get(3).filename).read_text()
    assert "someone/fork" in text and "cnnlabs/cnnlabs" not in text
    assert "git clone https://github.com/someone/fork && cd fork\n" in readme.read_text()
    assert "github/someone/fork/blob/main/labs/03_lenet_mnist.ipynb" in readme.read_text()
    assert labs.sync(readme) == []  # idempotent
    # Only the changed lines differ: sources stay lists of lines, as Jupyter writes them.
    rewritten = json.loads(text)
    assert all(isinstance(c["source"], list) for c in rewritten["cells"] if c["source"])


def test_unknown_lab_number_lists_the_valid_ones():
    with pytest.raises(KeyError, match="Valid labs: 00, 01, 02, 03, 04, 05, 06"):
        labs.get(42)


@pytest.mark.parametrize("number", [7, 8])
def test_medical_labs_run_on_mock_data_when_nothing_is_cached(number, empty_data_dir, tmp_path):
    """A student without the data still gets a lab that runs end to end (smoke, mock data)."""
    executed = labs.run(number, profile="smoke", out=tmp_path / "run")
    nb = json.loads(executed.read_text(encoding="utf-8"))
    printed = "".join(
        "".join(output.get("text", ""))
        for cell in nb["cells"] if cell["cell_type"] == "code"
        for output in cell.get("outputs", [])
    )
    assert "MOCK" in printed
    assert "majority baseline" in printed and "sensitivity" in printed
    assert list(empty_data_dir.iterdir()) == []  # mock data is written to the run folder only


def test_sync_follows_only_the_cloned_folder(monkeypatch):
    monkeypatch.setattr(config, "REPO", "someone/my.fork")
    assert labs.sync_text("(`git clone https://github.com/cnnlabs/cnnlabs && cd cnnlabs`).",
                          None) == "(`git clone https://github.com/someone/my.fork && cd my.fork`)."
    assert labs.sync_text("git clone https://github.com/cnnlabs/cnnlabs.git && cd elsewhere",
                          None) == "git clone https://github.com/someone/my.fork && cd elsewhere"


def _image() -> dict:
    return {"output_type": "display_data", "data": {"image/png": "iVBORw0KGgo="}}


@pytest.mark.parametrize(("source", "images", "problem"), [
    ("plots.montage(x)", 1, None),
    ("plots.montage(x)", 0, "shows 0"),  # a figure that never appears
    ("plots.montage(x)", 2, "shows 2"),  # shown twice
    ("plots.training_curves(rows, path=p)", 0, None),  # saved, not shown
    ("for r in runs:\n    plots.roc_curve(r)", 3, None),
    ("for r in runs:\n    plots.roc_curve(r)", 0, "or more"),
    ("explain.plot_gradcam(model, x)\nplt.show()", 2, None),
    ("%time plots.montage(x)\nprint(1)", 0, None),  # a line magic is not parsed
    ("print('no figure')", 0, None),
])
def test_figure_problem_counts_the_images_each_figure_call_shows(source, images, problem):
    found = labs.figure_problem(source, [_image()] * images)
    assert (found is None) if problem is None else (problem in found)


def _runnable(block: str) -> str:
    """The setup block as plain Python: the Colab-only %pip line becomes a no-op."""
    return "\n".join("    pass" if line.lstrip().startswith("%pip") else line
                     for line in block.splitlines())


def test_the_setup_block_explains_a_missing_cnnlabs_instead_of_a_traceback(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "cnnlabs", None)  # import cnnlabs now fails
    with pytest.raises(SystemExit) as stopped:
        exec(_runnable(labs.setup_block()), {})
    message = str(stopped.value)
    assert "cnnlabs is not installed" in message
    assert f"https://github.com/{config.REPO}" in message
    assert "pip wheel . --no-deps -w dist" in message and "%pip install cnnlabs-*.whl" in message


def test_the_setup_block_can_run_twice_in_one_kernel(monkeypatch):
    monkeypatch.delenv(config.HOME_ENV, raising=False)
    namespace: dict = {}
    for _ in range(2):
        exec(_runnable(labs.setup_block()), namespace)
    assert namespace["config"] is config


def test_sync_writes_the_setup_block_into_an_old_setup_cell(tmp_path, monkeypatch):
    folder = tmp_path / "labs"
    folder.mkdir()
    nb = _good_notebook()
    setup = next(c for c in nb["cells"] if c["cell_type"] == "code")
    setup["source"] = ("# Setup\nimport sys\nif \"google.colab\" in sys.modules:\n"
                       f"    {labs.install_line()}\n\nimport numpy as np\n")
    (folder / labs.get(3).filename).write_text(json.dumps(nb))
    monkeypatch.setenv("CNNLABS_LABS_DIR", str(folder))
    labs.sync(tmp_path / "no-readme.md")
    rewritten = json.loads((folder / labs.get(3).filename).read_text())
    source = "".join(next(c for c in rewritten["cells"] if c["cell_type"] == "code")["source"])
    assert source == labs.setup_block() + "\n\nimport numpy as np\n"
    assert labs.template_problems(folder / labs.get(3).filename) == []
