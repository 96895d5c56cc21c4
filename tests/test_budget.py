"""Lab time budgets: plan arithmetic, estimates, the tables in the labs, lab 00's report."""

from __future__ import annotations

import json
import math
import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from cnnlabs import budget, config, labs
from cnnlabs.budget import Planned

LABS_DIR = Path(__file__).resolve().parent.parent / "labs"


def _costs(train: float = 0.1, predict: float = 0.05, smoke_wall: float = 30.0,
           loads: dict | None = None) -> dict:
    """Stand-in costs: every step of every plan costs ``train`` / ``predict`` seconds."""
    keys = {t.key for t in budget.trainings()}
    return {"cpu": {
        "machine": {"cores": 2, "name": "a test CPU"},
        "steps": {key: {"train": train, "predict": predict} for key in keys},
        "loads": loads or {},
        "labs": {f"{lab:02d}": smoke_wall for lab in budget.PLANS},
    }}


def test_resolve_counts_images_validation_steps_and_epochs_by_hand():
    planned = Planned("x", "minivggnet", "cifar10", {"cpu": (5_000, 8)})
    t = budget.resolve(4, planned, config.get_profile("cpu"))
    # 10% of the 5,000 images validate; the recipe's batch is 64.
    assert (t.n_train, t.n_val, t.n_test, t.batch_size, t.epochs) == (4_500, 500, 10_000, 64, 8)
    assert t.steps == math.ceil(4_500 / 64) * 8 == 71 * 8
    assert t.predict_steps == 8 * math.ceil(500 / 64) + math.ceil(10_000 / 64) == 64 + 157
    assert t.input_shape == (32, 32, 3) and t.run_label == "lab04-x"
    assert t.key == "minivggnet|32x32x3|b64"


def test_resolve_applies_the_profile_caps_in_smoke():
    planned = Planned("y", "lenet", "mnist", {"smoke": (None, 5)})
    t = budget.resolve(3, planned, config.get_profile("smoke"))
    # smoke loads 1,024 training and 512 test images, validates on 25%, runs one epoch.
    assert (t.n_train, t.n_val, t.n_test, t.epochs, t.batch_size) == (768, 256, 512, 1, 64)
    assert (t.steps, t.predict_steps) == (12, 4 + 8)


def test_medmnist_keeps_its_own_validation_split_and_predicts_it_again():
    planned = Planned("28 px", "resnet_medmnist", "pneumoniamnist", {"cpu": (None, 30)})
    t = budget.resolve(7, planned, config.get_profile("cpu"))
    assert (t.n_train, t.n_val, t.n_test, t.batch_size) == (4_708, 524, 624, 128)
    assert t.predict_val  # two classes: the threshold is chosen on validation
    assert t.steps == 37 * 30
    assert t.predict_steps == 5 * 30 + 5 + 5
    sized = Planned("64 px", "resnet_medmnist", "pneumoniamnist", {"full": (None, 3)},
                    medmnist_size=64)
    bigger = budget.resolve(7, sized, config.get_profile("full"))
    assert bigger.input_shape == (64, 64, 1) and bigger.data_name == "pneumoniamnist_64"


def test_photos_take_the_profile_image_size_and_transfer_phases_their_recipe():
    plan = budget.plan(8, "cpu")
    features, finetune = plan["1 feature extraction"], plan["2 fine-tuning"]
    size = config.get_profile("cpu").image_size
    assert features.input_shape == finetune.input_shape == (size, size, 3)
    assert features.key.startswith("transfer_mobilenetv2:transfer_features|")
    assert features.n_test == 0 and finetune.n_test == 624  # evaluated after phase 2 only


def test_a_stand_in_replaces_the_model_in_its_profile_only():
    planned = Planned("big", "resnet_cifar", "cifar10", {"smoke": (None, 1), "cpu": (100, 1)},
                      stand_ins={"smoke": ("resnet", (("stages", (1, 1, 1)),))})
    small = budget.resolve(6, planned, config.get_profile("smoke"))
    real = budget.resolve(6, planned, config.get_profile("cpu"))
    assert (small.model, small.options, small.recipe) == ("resnet", (("stages", (1, 1, 1)),),
                                                         "resnet_cifar")
    assert small.key == "resnet[stages=(1, 1, 1)]:resnet_cifar|32x32x3|b128"
    assert (real.model, real.options, real.key) == ("resnet_cifar", (),
                                                    "resnet_cifar|32x32x3|b128")
    assert small.run_label == real.run_label == "lab06-big"


def test_plan_follows_the_profile_and_names_the_valid_labs():
    assert list(budget.plan(7, "full")) == [f"{s} px" for s in config.PROFILES["full"]
                                            .medmnist_sizes]
    for name, profile in config.PROFILES.items():
        assert list(budget.plan(7, name)) == [f"{s} px" for s in profile.medmnist_sizes]
    assert budget.plan(1, "cpu") == {}
    with pytest.raises(KeyError, match="Valid labs: 00, 01"):
        budget.plan(42, "cpu")


def test_step_seconds_on_the_cpu_a_larger_cpu_and_a_scaled_gpu():
    costs = _costs(train=0.1, predict=0.05)
    t = budget.plan(3, "cpu")["lenet"]
    on_cpu = budget.step_seconds(t, budget.cpu_device(2, costs), costs)
    assert on_cpu == pytest.approx(t.steps * 0.1 + t.predict_steps * 0.05)
    assert budget.step_seconds(t, budget.cpu_device(4, costs), costs) == pytest.approx(
        on_cpu / 2)  # twice the cores, half the time
    t4 = budget.gpu_device("Tesla T4", costs)
    assert (t4.kind, t4.estimated) == ("T4", True)
    assert budget.step_seconds(t, t4, costs) == pytest.approx(
        t.steps * (0.1 / 20 + 0.005) + t.predict_steps * (0.05 / 20 + 0.005))
    h100 = budget.gpu_device("NVIDIA H100 80GB HBM3", costs)
    assert h100.kind == "H100"
    assert budget.step_seconds(t, h100, costs) == pytest.approx(
        t.steps * (0.1 / 60 + 0.004) + t.predict_steps * (0.05 / 60 + 0.004))
    assert budget.gpu_device("NVIDIA A100-SXM4-40GB", costs).kind == "T4"  # errs long


def test_a_measured_gpu_uses_its_own_costs():
    costs = _costs()
    costs["Tesla T4"] = {"machine": {"class": "T4"},
                         "steps": {k: {"train": 0.01, "predict": 0.001}
                                   for k in costs["cpu"]["steps"]}}
    t4 = budget.gpu_device("Tesla T4", costs)
    assert (t4.measured, t4.estimated) == ("Tesla T4", False)
    t = budget.plan(3, "full")["lenet"]
    assert budget.step_seconds(t, t4, costs) == pytest.approx(
        t.steps * 0.01 + t.predict_steps * 0.001)
    assert budget.gpu_device("T4", costs).measured == "Tesla T4"  # the class's figures


def test_overhead_is_the_smoke_wall_less_its_steps_plus_the_profile_loading():
    costs = _costs(train=0.1, predict=0.05, smoke_wall=60.0,
                   loads={"mnist@smoke": 2.0, "mnist@cpu": 5.0})
    cpu = budget.cpu_device(2, costs)
    smoke = budget.plan(3, "smoke")["lenet"]
    smoke_steps = smoke.steps * 0.1 + smoke.predict_steps * 0.05
    fixed = 60.0 - smoke_steps - 2.0
    assert budget.overhead_seconds(3, "smoke", cpu, costs) == pytest.approx(60.0 - smoke_steps)
    assert budget.overhead_seconds(3, "cpu", cpu, costs) == pytest.approx(fixed + 5.0)
    assert budget.lab_seconds(3, "smoke", cpu, costs) == pytest.approx(60.0)
    t4 = budget.gpu_device("T4", costs)  # loading and start-up are not scaled on a GPU
    assert budget.overhead_seconds(3, "cpu", t4, costs) == pytest.approx(fixed + 5.0)
    # A size that was not measured takes its 28 px figure.
    assert budget._load_seconds({"loads": {"pneumoniamnist@full": 3.0}},
                                "pneumoniamnist_64", "full") == 3.0


def test_missing_costs_say_which_command_measures_them():
    costs = _costs()
    del costs["cpu"]["steps"]["lenet|28x28x1|b128"]
    with pytest.raises(budget.MissingCostError, match="lab_times.py --measure"):
        budget.lab_seconds(3, "cpu", budget.cpu_device(2, costs), costs)


def test_time_table_and_caption_from_stand_in_costs():
    costs = _costs(train=0.1, predict=0.05, smoke_wall=30.0)
    table = budget.time_table(1, costs)  # lab 01 trains nothing: its smoke wall throughout
    assert table.splitlines()[:6] == [
        "| profile | on | expected time |",
        "|---|---|---|",
        "| `smoke` | 2-core CPU | 0.5 min |",
        "| `cpu` | 2-core CPU | 0.5 min |",
        "| `full` | T4 GPU (estimate) | 0.5 min |",
        "| `full` | H100 GPU (estimate) | 0.5 min |",
    ]
    assert "T4: CPU step time / 20 + 5 ms; H100: CPU step time / 60 + 4 ms" in table
    summary = budget.summary_table(costs)
    assert summary.splitlines()[0].startswith("| lab | `smoke` on 2-core CPU |")
    assert len(summary.splitlines()) == 2 + len(budget.PLANS)


def test_estimate_prints_minutes_device_and_the_time_it_ends(capsys):
    costs = _costs(train=0.1, predict=0.05)
    cpu = budget.cpu_device(2, costs)
    t = budget.plan(3, "cpu")["lenet"]
    seconds = t.steps * 0.1 + t.predict_steps * 0.05
    start = datetime(2024, 5, 6, 14, 0)
    line = budget.estimate(3, "lenet", "cpu", dev=cpu, now=start, costs=costs)
    end = start + timedelta(seconds=seconds)
    assert line == (f"about {round(seconds / 60)} min on this machine (CPU, 2 cores): done "
                    f"around {end:%H:%M}")
    assert capsys.readouterr().out == line + "\n"
    with pytest.raises(KeyError, match="Its trainings: lenet"):
        budget.estimate(3, "resnet", "cpu", dev=cpu, costs=costs)


def test_profile_report_says_plainly_when_there_is_no_gpu(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    costs = _costs()
    report = budget.profile_report(gpus=[], cores=2, costs=costs)
    lines = report.splitlines()
    assert lines[0] == "NO GPU: every lab will run on the CPU, with the `cpu` profile."
    times = {lab: budget.lab_seconds(lab, "cpu", budget.cpu_device(2, costs), costs)
             for lab in budget.PLANS}
    longest = max(times, key=times.__getitem__)
    assert lines[1] == (f"The longest lab, {longest:02d}, should take about "
                        f"{round(times[longest] / 60)} min on this machine (CPU, 2 cores).")
    assert len(lines) == 2
    eight = budget.profile_report(gpus=[], cores=8, costs=costs).splitlines()[1]
    assert eight.endswith("(CPU, 8 cores, scaled from the measuring CPU's by core count).")


def test_profile_report_with_a_gpu_and_with_the_profile_forced(monkeypatch):
    monkeypatch.delenv(config.PROFILE_ENV, raising=False)
    costs = _costs()
    report = budget.profile_report(gpus=["Tesla T4"], costs=costs)
    lines = report.splitlines()
    assert lines[0] == "GPU: Tesla T4; every lab will use the `full` profile."
    assert lines[1].endswith("on this machine (Tesla T4, estimated as a T4-class GPU).")
    assert "NO GPU" not in report
    monkeypatch.setenv(config.PROFILE_ENV, "full")
    forced = budget.profile_report(gpus=[], cores=2, costs=costs).splitlines()
    assert forced[0] == ("NO GPU: every lab will run on the CPU, with the `full` profile "
                         "(set by CNNLABS_PROFILE).")
    assert "Unset CNNLABS_PROFILE to get `cpu`" in forced[2]


# --- the committed costs, the plans and the notebooks -------------------------------------


def test_every_training_of_every_plan_has_a_measured_cost_and_every_lab_a_smoke_run():
    costs = budget.load_costs()
    steps = costs["cpu"]["steps"]
    assert sorted({t.key for t in budget.trainings()} - set(steps)) == []
    assert sorted(costs["cpu"]["labs"]) == [f"{lab:02d}" for lab in budget.PLANS]


def test_every_lab_fits_its_class_budget_in_the_committed_estimates():
    assert budget.over_budget() == []


@pytest.mark.parametrize("lab", labs.LABS, ids=[lab.filename for lab in labs.LABS])
def test_each_lab_shows_the_time_table_that_the_costs_give(lab):
    """`cnnlabs labs sync` writes it; this fails when plans or costs changed without a sync."""
    nb = json.loads((LABS_DIR / lab.filename).read_text(encoding="utf-8"))
    markdown = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown"]
    blocks = [re.search(re.escape(labs.TIMES_START) + ".*?" + re.escape(labs.TIMES_END),
                        text, re.S) for text in markdown]
    found = [m.group(0) for m in blocks if m]
    assert found == [labs.times_block(lab)], "run `cnnlabs labs sync`"
    if lab.number:
        assert labs.TIMES_START in markdown[0]  # each lab opens with its table


def test_sync_adds_the_time_table_to_the_title_cell_once(tmp_path, monkeypatch):
    folder = tmp_path / "labs"
    folder.mkdir()
    lab = labs.get(3)
    nb = json.loads((LABS_DIR / lab.filename).read_text(encoding="utf-8"))
    title = "".join(nb["cells"][0]["source"])
    bare = re.sub(r"\n*" + re.escape(labs.TIMES_START) + ".*?" + re.escape(labs.TIMES_END),
                  "", title, flags=re.S)
    nb["cells"][0]["source"] = bare
    (folder / lab.filename).write_text(json.dumps(nb))
    monkeypatch.setenv("CNNLABS_LABS_DIR", str(folder))
    assert labs.sync(tmp_path / "no-readme.md") == [folder / lab.filename]
    synced = json.loads((folder / lab.filename).read_text())
    assert "".join(synced["cells"][0]["source"]) == bare + "\n\n" + labs.times_block(lab)
    assert labs.sync(tmp_path / "no-readme.md") == []  # idempotent
    assert labs.template_problems(folder / lab.filename) == []
