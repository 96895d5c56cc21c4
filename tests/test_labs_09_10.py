"""Labs 09 and 10 behind their notebooks: their plans (a reloaded detector run: test_yolo)."""

from __future__ import annotations

from cnnlabs import budget, config, lab_models


def test_lab_09_plans_the_course_networks_as_lab_models_trains_them():
    for profile in ("smoke", "cpu", "full"):
        chosen = config.get_profile(profile)
        for label, training in budget.plan(9, profile).items():
            spec = lab_models.COURSE_MODELS[label]
            assert (training.model, training.dataset) == (spec.model, spec.dataset)
            assert training.images == chosen.demo_samples
            assert training.epochs == chosen.epochs(spec.epochs)
            assert training.run_label == f"{spec.lab}-{spec.name}"  # its run folder
    assert list(budget.plan(9, "smoke")) == ["lenet", "minivggnet"]
    assert list(budget.plan(9, "cpu")) == ["lenet", "minivggnet", "pneumonia"]


def test_lab_10_trains_the_detector_recipe_on_the_whole_generated_set():
    from cnnlabs import recipes

    cpu = budget.plan(10, "cpu")["yolo_grid"]
    assert (cpu.n_train, cpu.n_val, cpu.n_test) == (10_800, 1_200, 2_000)
    assert cpu.epochs == recipes.recipe("yolo_grid", "cpu", "mnist_detection").epochs == 15
    assert cpu.input_shape == (64, 64, 1) and cpu.steps_per_epoch == 169
    assert budget.plan(10, "smoke")["yolo_grid"].epochs == 1
