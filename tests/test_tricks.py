"""Lab 11's ladder (cnnlabs.tricks), the shortened airbench94 recipe, and lab 11's checks."""

from __future__ import annotations

import inspect
from dataclasses import fields, replace

import numpy as np
import pytest

from cnnlabs import budget, exercises, recipes, tricks

AIRBENCH = recipes.RECIPES["airbench94"]


def test_shortened_scales_the_learning_rate_with_the_batch_and_keeps_the_shares():
    short = recipes.shortened(AIRBENCH["cpu"], 3, 256)
    assert (short.epochs, short.batch_size, short.learning_rate) == (3, 256, 0.375)
    assert short.lookahead_start == 1  # 3 of 10 epochs -> 1 of 3
    assert short.freeze_after == ((r"^whiten/bias$", 1.0),)
    assert short.weight_decay == AIRBENCH["cpu"].weight_decay  # L2 in a batch-mean loss
    assert recipes.shortened(AIRBENCH["full"], 10, 1024) == AIRBENCH["full"]
    assert recipes.shortened(AIRBENCH["cpu"], 20).lookahead_start == 6
    for epochs, batch in ((0, 256), (3, 0), (2.5, 256)):
        with pytest.raises(ValueError, match="whole epochs"):
            recipes.shortened(AIRBENCH["cpu"], epochs, batch)


def test_the_short_recipe_is_airbench94_at_the_labs_budget():
    assert recipes.recipe(tricks.RECIPE, "full") == AIRBENCH["full"]
    cpu = recipes.recipe(tricks.RECIPE, "cpu")
    assert cpu == recipes.shortened(AIRBENCH["cpu"], 3, 256)
    assert cpu.cpu_bfloat16 and cpu.tta == 2 and cpu.label_smoothing == 0.2


@pytest.mark.parametrize("profile", ["smoke", "cpu", "full"])
def test_each_step_switches_on_one_trick_and_the_last_is_the_airbench94_recipe(profile):
    steps = tricks.ladder(profile)
    assert [s.label for s in steps] == [tricks.BASELINE, tricks.PLAIN,
                                        *(label for label, _, _ in tricks.TRICKS)]
    target = tricks.target_recipe(profile)
    assert steps[0].model == "minivggnet" and steps[0].overrides == {}
    assert steps[0].recipe(profile) == replace(recipes.recipe("minivggnet", profile),
                                               epochs=target.epochs)
    for before, step, (_, switched, options) in zip(steps[1:-1], steps[2:], tricks.TRICKS,
                                                    strict=True):
        old, new = before.recipe(profile), step.recipe(profile)
        changed = {f.name for f in fields(new) if getattr(old, f.name) != getattr(new, f.name)}
        assert changed == set(switched)
        assert set(before.model_options) - set(step.model_options) == set(options)
        assert set(step.changes) == set(switched) | set(options)
        assert all(getattr(new, name) == getattr(target, name) for name in switched)
    assert steps[-1].recipe(profile) == target and steps[-1].model_options == {}
    assert [s.retrain for s in steps] == [True] * 8 + [False]  # TTA only evaluates


def test_the_plain_step_trains_without_any_trick():
    plain = tricks.ladder("cpu")[1]
    recipe = plain.recipe("cpu")
    assert (recipe.label_smoothing, recipe.lr_multipliers, recipe.freeze_after) == (0, (), ())
    assert (recipe.schedule, recipe.lookahead_every, recipe.tta) == ("constant", 0, 0)
    assert recipe.augment == ("flip", "crop")  # MiniVGGNet's augmentation
    assert (recipe.optimizer, recipe.nesterov, recipe.batch_size) == ("sgd_l2", True, 256)
    assert plain.model_options == {"whitening": False, "bn_momentum": 0.99}


def test_other_epochs_shorten_the_target_again():
    steps = tricks.ladder("cpu", epochs=6)
    assert {s.epochs for s in steps} == {6}
    assert steps[-1].recipe("cpu").lookahead_start == 2
    assert tricks.target_recipe("smoke", epochs=5).epochs == 1  # smoke's cap


def test_the_airbench_options_of_the_ladder_are_the_builders_defaults():
    from cnnlabs.models import airbench

    defaults = inspect.signature(airbench.airbench94).parameters
    assert {k: defaults[k].default for k in tricks.AIRBENCH_OPTIONS} == tricks.AIRBENCH_OPTIONS


def test_without_whitening_the_first_layer_is_a_learned_convolution():
    from cnnlabs import models
    from cnnlabs.models import airbench

    model = models.build("airbench94", (32, 32, 3), 10, whitening=False)
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_variables)
    assert (model.count_params(), trainable) == (1_973_944, 1_971_352 + 288)
    assert airbench.whitening_layer(model) is None
    assert model.get_layer("patch_conv").kernel.shape == (2, 2, 3, 24)


def test_plan_11_trains_the_ladders_steps_with_their_batch_sizes_and_epochs():
    for profile in ("smoke", "cpu", "full"):
        plan = budget.plan(11, profile)
        steps = {s.label: s for s in tricks.ladder(profile) if s.retrain}
        assert set(plan) <= set(steps)
        for label, planned in plan.items():
            step = steps[label]
            assert planned.run_label == step.run_label
            assert planned.epochs == step.epochs == tricks.target_recipe(profile).epochs
            assert planned.batch_size == step.recipe(profile).batch_size
        assert len({p.images for p in plan.values()}) == 1
    assert list(budget.plan(11, "smoke")) == [tricks.BASELINE, tricks.TRICKS[-2][0]]
    assert len(budget.plan(11, "cpu")) == 8


def test_seconds_to_counts_up_to_the_first_epoch_at_the_target():
    history = [{"val_accuracy": 0.40, "seconds": 10.0}, {"val_accuracy": 0.55, "seconds": 8.0},
               {"val_accuracy": 0.50, "seconds": 9.0}, {"val_accuracy": 0.60, "seconds": 7.5}]
    assert tricks.seconds_to(history, 0.40) == 10.0
    assert tricks.seconds_to(history, 0.55) == 18.0
    assert tricks.seconds_to(history, 0.58) == 34.5
    assert tricks.seconds_to(history, 0.61) is None
    assert tricks.seconds_to([], 0.1) is None


def _rung(step: tricks.Trick, accuracy: float, seconds: float, images: int,
          val: list[float]) -> tricks.Rung:
    history = [{"epoch": i + 1, "val_accuracy": v, "seconds": seconds / len(val)}
               for i, v in enumerate(val)]
    return tricks.Rung(step, accuracy, None, seconds, images, history, None)


def test_table_gives_gains_speed_and_seconds_to_the_target():
    steps = tricks.ladder("cpu")
    rungs = [_rung(steps[0], 0.5, 60.0, 21_600, [0.3, 0.4, 0.5]),
             _rung(steps[7], 0.625, 90.0, 21_600, [0.45, 0.55, 0.6]),
             _rung(steps[8], 0.6375, 0.0, 0, [0.45, 0.55, 0.6])]
    lines = tricks.table(rungs, target=0.5).splitlines()
    assert lines[0].endswith("| s to 50.0% val |")
    assert lines[2] == "| MiniVGGNet, its recipe | - | 0.5000 |  | 60 | 360 | 60 |"
    assert lines[3] == ("| + alternating flip, reflect shift | augment=('alternating_flip', "
                        "'reflect_shift') | 0.6250 | +12.5 pt | 90 | 240 | 60 |")
    assert lines[4] == "| + TTA (mirror, 1-pixel shifts) | tta=2 | 0.6375 | +1.2 pt | 0 | - | - |"
    assert "s to" not in tricks.table(rungs)


def test_climb_names_the_valid_steps_for_an_unknown_one():
    with pytest.raises(KeyError, match="Its training steps: MiniVGGNet, its recipe"):
        tricks.climb(None, "smoke", only=["+ TTA (mirror, 1-pixel shifts)"])


def test_climb_trains_a_step_then_evaluates_it_with_tta_and_reloads_it(tmp_path):
    from cnnlabs import datasets

    data = datasets.mock("cifar10", 320, 64, seed=0)
    last = tricks.TRICKS[-2][0]
    folders = lambda step: tmp_path / step.run_label  # noqa: E731
    rungs = tricks.climb(data, "smoke", only=[last], run_dir=folders, log=None, verbose=0,
                         plot=False)
    assert [r.trick.label for r in rungs] == [last, tricks.TRICKS[-1][0]]
    trained, tta = rungs
    assert trained.images == trained.run.data.n_train == 240 and trained.seconds > 0
    assert (tta.seconds, tta.images, tta.run) == (0.0, 0, trained.run)
    assert tta.report.n == trained.report.n == 64
    again = tricks.climb(data, "smoke", only=[last], run_dir=folders, log=None, verbose=0,
                         plot=False)
    assert [r.accuracy for r in again] == [r.accuracy for r in rungs]  # reloaded, not retrained
    assert again[0].history == trained.history


# --- lab 11's exercises: tests/test_exercise_checks.py runs their solutions, stubs and
# wrong answers with the other labs'; these check the lab's own choices. ----------------

ENTRIES = exercises.lab_exercises(11)


def _module():
    import importlib

    return importlib.import_module("cnnlabs.exercises.lab11")


def test_lab11_has_five_exercises_of_several_kinds_and_a_written_question():
    module = _module()
    assert [e.id for e in ENTRIES] == ["11.1", "11.2", "11.3", "11.4", "11.5"]
    assert [q.id for q in exercises.lab_questions(11)] == ["11.6"]
    assert set(module.SOLUTIONS) == {e.id for e in ENTRIES}
    assert set(module.MODEL_ANSWERS) == {"11.6"}
    assert {e.kind for e in ENTRIES} == {"compute", "implement", "train-and-read"}
    assert sum(e.points for e in ENTRIES) == 11


def test_lab11_checks_agree_with_the_library():
    from cnnlabs.exercises import lab11
    from cnnlabs.optim import Triangle

    for total, peak in ((430, 1.5), (84, 0.375)):
        schedule = Triangle(peak, total, 0.23, 0.2, 0.07)
        for step in (0, 7, int(0.23 * total), total // 2, total, total + 9):
            assert lab11._triangle(step, total, peak) == pytest.approx(float(schedule(step)))
    rows = [{"val_accuracy": 0.5, "seconds": 3.0}, {"val_accuracy": 0.7, "seconds": 2.0}]
    assert lab11._seconds_to(rows, 0.6) == tricks.seconds_to(rows, 0.6) == 5.0
    entropy = 0.82 * np.log(1 / 0.82) + 0.18 * np.log(50)  # -sum(t log t) of the target
    assert lab11._LEAST_LOSS == pytest.approx(entropy, abs=1e-12)
