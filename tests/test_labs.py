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
        (lambda nb: nb["cells"].pop(), "Exercises"),
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
