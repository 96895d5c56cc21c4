"""How long each lab takes under each profile: measure step costs, print the time table.

Usage (from the repository root; ``$DATA`` a filled data cache, see benchmarks/README.md):

    python benchmarks/lab_times.py                  # the table, from cnnlabs/lab_costs.json
    python benchmarks/lab_times.py --check          # ... and exit 1 if a lab is over budget
    python benchmarks/lab_times.py --measure        # time the training and prediction steps
    CNNLABS_DATA_DIR=$DATA python benchmarks/lab_times.py --measure-loads
    CNNLABS_DATA_DIR=$DATA python benchmarks/lab_times.py --measure-labs   # smoke wall times

``--measure`` builds every model of ``cnnlabs.budget.PLANS`` at each input shape and batch
size a plan uses, compiles it with its recipe, and times training steps on random images
through the recipe's input pipeline (augmentation included): two warm-up steps, then
steps until about ``--seconds`` have passed, and the median step is kept; prediction
steps are timed the same way. Every figure stores the step's wall time, its CPU time (all
threads of the process) and the system load (``os.getloadavg``) before and after. On a
CPU the estimate is the CPU time divided by ``--parallelism`` (1.6), the cores an idle
2-core machine keeps busy in a step: the wall time of a step on a shared machine depends
on the other jobs, its CPU time hardly (docs/results.md, "Lab times", has the
calibration). On a GPU the figures are the wall times, stored under the GPU's name, and
the tables use them instead of the scaled estimate. ``--measure-loads`` times loading
each dataset as the labs do (decoding every image file once, for the chest X-rays), and
``--measure-labs`` runs each lab headless under the ``smoke`` profile: its time gives the
lab's fixed overhead (both counted at their CPU time: mostly one thread). ``--wait``
waits for a quiet machine before each figure. After a change of plans or costs,
``cnnlabs labs sync`` rewrites the labs' tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from train_row import cpu_model


def load_average() -> list[float]:
    """The 1, 5 and 15-minute system load."""
    return [round(x, 2) for x in os.getloadavg()]


def machine_key() -> tuple[str, dict[str, Any]]:
    """The costs file key of this machine and its description."""
    import keras
    import tensorflow as tf

    from cnnlabs import budget, config

    gpus = config.gpu_names()
    facts = {"tensorflow": tf.__version__, "keras": keras.__version__,
             "python": platform.python_version(),
             "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d")}
    if gpus:
        kind = budget.gpu_device(gpus[0], {}).kind
        return gpus[0], {"name": gpus[0], "class": kind, **facts}
    cores = os.cpu_count() or 1
    return budget.CPU, {"name": f"{cpu_model()}, {cores} cores, no GPU", "cores": cores,
                        **facts}


# --- the networks lab 02 builds by hand (not in the model registry) ------------------------


def lab02_network(name: str, shape: tuple[int, ...], classes: int) -> Any:
    """Lab 02's MLP or one-layer CNN, layer for layer (its parameter counts are checked)."""
    import keras
    from keras import layers

    if name == "mlp":
        model = keras.Sequential([keras.Input(shape=shape), layers.Flatten(),
                                  layers.Dense(80, activation="relu"),
                                  layers.Dense(classes, activation="softmax")], name="mlp")
        expected = 63_610
    else:
        model = keras.Sequential([keras.Input(shape=shape),
                                  layers.Conv2D(32, 3, padding="same", activation="relu"),
                                  layers.MaxPooling2D(2), layers.Flatten(),
                                  layers.Dense(classes, activation="softmax")], name="cnn")
        expected = 63_050
    if shape == (28, 28, 1) and classes == 10:
        assert model.count_params() == expected, "lab 02's networks changed: update this copy"
    return model


def build(training: Any) -> tuple[Any, Any]:
    """The model and recipe of ``training``, built and compiled as the lab does."""
    import warnings

    from cnnlabs import datasets, models, recipes
    from cnnlabs import training as fitting

    # The optimizer, augmentation and class weights are the same in every profile.
    recipe = recipes.recipe(training.recipe, "cpu", training.dataset)
    fitting.set_precision(recipe)
    classes = datasets.info(training.dataset).num_classes
    shape = tuple(training.input_shape)
    if training.model in ("mlp", "cnn"):
        model = lab02_network(training.model, shape, classes)
    elif training.model.startswith("transfer_"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # no pretrained weights: timing only
            model = models.transfer(training.model.removeprefix("transfer_"), shape, classes,
                                    weights=None)
        if recipe.unfreeze:
            models.unfreeze_top(model, recipe.unfreeze)
    else:
        model = models.build(training.model, shape, classes, **dict(training.options))
    fitting.compile_model(model, recipe, 100, one_hot=recipe.label_smoothing > 0)
    return model, recipe


class _Clock:
    """Times of the batch ends of one ``fit`` or ``predict``; stops after ``seconds``."""

    def __init__(self, warmup: int, seconds: float, min_steps: int) -> None:
        self.warmup, self.seconds, self.min_steps = warmup, seconds, min_steps
        self.ends: list[float] = []
        self.cpu: list[float] = []  # the process's CPU time at each batch end

    def tick(self, model: Any) -> None:
        self.ends.append(time.perf_counter())
        self.cpu.append(time.process_time())
        timed = len(self.ends) - 1 - self.warmup
        if timed >= self.min_steps and self.ends[-1] - self.ends[self.warmup] >= self.seconds:
            model.stop_training = True

    def step(self) -> float:
        """The median wall time of a step after the warm-up."""
        return statistics.median(_diffs(self.ends[self.warmup:]))

    def cpu_step(self) -> float:
        """The median CPU time (all threads) of a step after the warm-up."""
        return statistics.median(_diffs(self.cpu[self.warmup:]))


def _diffs(values: list[float]) -> list[float]:
    return [b - a for a, b in zip(values, values[1:], strict=False)]


def measure(training: Any, seconds: float, warmup: int = 2, min_steps: int = 5,
            max_steps: int = 200) -> dict[str, Any]:
    """Seconds per training step and per prediction step of ``training``'s model."""
    import keras
    import numpy as np
    import tensorflow as tf

    from cnnlabs import pipelines, recipes

    keras.backend.clear_session()
    model, recipe = build(training)
    batch = training.batch_size
    rng = np.random.default_rng(0)
    shape = tuple(training.input_shape)
    classes = model.output_shape[-1]
    x = rng.integers(0, 256, (batch * 8, *shape), dtype="uint8")  # 8 batches, repeated
    y = (np.arange(len(x)) % classes).astype("int64")
    if len(model.output_shape) == 4:  # a grid detector learns (S, S, depth) targets
        y = np.zeros((len(x), *model.output_shape[1:]), "int64")
    one_hot = recipe.label_smoothing > 0 and len(model.output_shape) == 2
    # Alternating flips read the epoch from a variable that the training loop advances.
    epoch = tf.Variable(0, dtype=tf.int64, trainable=False) \
        if "alternating_flip" in recipe.augment else None
    train = pipelines.from_arrays(x, y, batch, training=True, seed=0, augment=recipe.augment,
                                  num_classes=classes if one_hot else None, epoch=epoch)
    train = train.repeat().take(warmup + max_steps + 1)
    weights = recipes.class_weights(y) if recipe.balance_classes else None
    before = load_average()
    clock = _Clock(warmup, seconds, min_steps)
    tick = keras.callbacks.LambdaCallback(on_train_batch_end=lambda *_, **__: clock.tick(model))
    model.fit(train, epochs=1, verbose=0, callbacks=[tick], class_weight=weights)
    train_step, train_steps, train_cpu = clock.step(), len(clock.ends) - 1 - warmup, \
        clock.cpu_step()
    clock = _Clock(warmup, seconds / 2, min_steps)
    tick = keras.callbacks.LambdaCallback(on_predict_batch_end=lambda *_, **__: clock.tick(model))
    test = pipelines.from_arrays(x, y, batch, training=False).repeat()
    # Prediction costs about a third of a training step: time about seconds / 2 of it.
    steps = int(min(40, max(min_steps, seconds / 2 / max(train_step / 3, 1e-3))))
    model.predict(test.take(warmup + 1 + steps), verbose=0, callbacks=[tick])
    return {"train_wall": round(train_step, 5), "predict_wall": round(clock.step(), 5),
            "train_cpu": round(train_cpu, 5), "predict_cpu": round(clock.cpu_step(), 5),
            "train_steps_timed": train_steps, "predict_steps_timed": len(clock.ends) - 1 - warmup,
            "load_before": before, "load_after": load_average()}


def choose(figure: dict[str, Any], parallelism: float | None,
           fields: tuple[str, ...] = ("train", "predict")) -> dict[str, Any]:
    """``figure`` with the seconds the estimates use: CPU time / parallelism, or the wall time.

    On a shared CPU the wall time of a step says as much about the other jobs as about
    the step: it doubled between loads of 2 and 7 on the measuring machine. The CPU time
    the step used (all its threads) moved by about 15% over the same range, and divided
    by the cores an idle machine keeps busy during a step (``parallelism``) it gives the
    step's idle wall time. ``parallelism=None`` keeps the wall time (a GPU, whose work
    the CPU time does not count, or a machine known to be idle).
    """
    for name in fields:  # "train" reads train_wall and train_cpu; "seconds" wall and cpu
        prefix = "" if name == "seconds" else f"{name}_"
        wall, cpu = figure[f"{prefix}wall"], figure[f"{prefix}cpu"]
        figure[name] = wall if parallelism is None else round(cpu / parallelism, 5)
    figure["method"] = "wall time" if parallelism is None else f"CPU time / {parallelism:g}"
    return figure


def _cpu_seconds() -> float:
    """CPU time of this process and of its finished children (a lab's kernel), all threads."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def measure_load(data_name: str, profile: str) -> dict[str, Any]:
    """Wall and CPU seconds to load ``data_name`` under ``profile`` as the labs do.

    The chest X-rays are decoded once, as the first epoch of a lab's pipeline does.
    """
    from cnnlabs import datasets, pipelines
    from cnnlabs.datasets import chest_xray

    before, cpu, start = load_average(), _cpu_seconds(), time.perf_counter()
    if data_name == "chest_xray":
        xray = chest_xray.load(profile, color_mode="rgb", seed=42)
        data = pipelines.build_files(xray, 32, seed=42, value_range=pipelines.RAW_PIXELS,
                                     cache=Path(tempfile.mkdtemp()) / "cache")
        for split in (data.train, data.val, data.test):  # the first pass decodes and caches
            for _ in split:
                pass
    else:
        datasets.load(data_name, profile, seed=42)
    return {"wall": round(time.perf_counter() - start, 1),
            "cpu": round(_cpu_seconds() - cpu, 1), "load_before": before,
            "load_after": load_average()}


def measure_lab(number: int) -> dict[str, Any]:
    """Wall and CPU seconds of lab ``number`` run headless under ``smoke``, in fresh folders."""
    from cnnlabs import config, labs

    with tempfile.TemporaryDirectory() as runs:
        previous = os.environ.get(config.RUNS_ENV)
        os.environ[config.RUNS_ENV] = runs
        try:
            before, cpu, start = load_average(), _cpu_seconds(), time.perf_counter()
            labs.run(number, profile="smoke", out=Path(runs) / "executed")
            return {"wall": round(time.perf_counter() - start, 1),
                    "cpu": round(_cpu_seconds() - cpu, 1), "load_before": before,
                    "load_after": load_average()}
        finally:
            if previous is None:
                os.environ.pop(config.RUNS_ENV, None)
            else:
                os.environ[config.RUNS_ENV] = previous


def wait_until_quiet(limit: float | None, poll: float = 15.0) -> None:
    """Wait until the 1-minute system load is below ``limit`` (``None``: do not wait)."""
    if limit is None:
        return
    while os.getloadavg()[0] >= limit:
        time.sleep(poll)


def _good(figure: dict[str, Any] | None, limit: float | None) -> bool:
    """Whether a stored figure exists and, with ``limit``, was taken below that load."""
    if figure is None:
        return False
    return limit is None or figure.get("load_before", [0.0])[0] < limit


def save(path: Path, key: str, machine: dict[str, Any], section: str,
         values: dict[str, Any]) -> None:
    """Merge ``values`` into ``section`` of ``key``'s figures in the costs file."""
    costs = json.loads(path.read_text()) if path.is_file() else {}
    entry = costs.setdefault(key, {})
    entry["machine"] = {**entry.get("machine", {}), **machine}
    entry.setdefault(section, {}).update(values)
    path.write_text(json.dumps(costs, indent=1, sort_keys=True) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", action="store_true", help="time training/prediction steps")
    parser.add_argument("--measure-loads", action="store_true", help="time dataset loading")
    parser.add_argument("--measure-labs", type=int, nargs="*", default=None, metavar="LAB",
                        help="time labs under smoke (default: every lab)")
    parser.add_argument("--only", default=None, help="measure only keys containing this text")
    parser.add_argument("--missing", action="store_true", help="measure only keys not stored")
    parser.add_argument("--seconds", type=float, default=8.0, help="timing per step figure")
    parser.add_argument("--wait", action="store_true",
                        help="before each figure, wait until the 1-minute load is below --quiet")
    parser.add_argument("--quiet", type=float, default=2.5, metavar="LOAD",
                        help="the load --wait and --missing accept (2.5)")
    parser.add_argument("--parallelism", type=float, default=1.6,
                        help="cores an idle CPU keeps busy in a training step: a step's CPU "
                             "time / this is its estimate (1.6; 0: the wall time)")
    parser.add_argument("--recompute", action="store_true",
                        help="recompute the stored estimates from their wall and CPU times "
                             "with --parallelism, without measuring")
    parser.add_argument("--check", action="store_true", help="exit 1 when a lab is over budget")
    parser.add_argument("--costs", type=Path, default=None, help="the costs file")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import warnings

    warnings.filterwarnings("ignore", message=".*shuffle=True.*was passed")
    from cnnlabs import budget

    path = args.costs or budget.COSTS_FILE
    parallelism, serial = args.parallelism or None, 1.0 if args.parallelism else None
    if args.recompute:
        costs = budget.load_costs(path)
        for key, figures in costs.items():
            gpu = key != budget.CPU
            for figure in figures.get("steps", {}).values():
                choose(figure, None if gpu else parallelism)
            for section in ("loads", "labs"):
                for figure in figures.get(section, {}).values():
                    choose(figure, None if gpu else serial, fields=("seconds",))
        path.write_text(json.dumps(costs, indent=1, sort_keys=True) + "\n")
    measuring = args.measure or args.measure_loads or args.measure_labs is not None
    if measuring:
        from cnnlabs import config

        config.start_tensorflow()
        key, machine = machine_key()
        stored = budget.load_costs(path).get(key, {})
        if key != budget.CPU:  # a GPU: its work is not in the CPU time
            parallelism = serial = None
    if args.measure:
        seen: dict[str, Any] = {}
        for training in budget.trainings():
            seen.setdefault(training.key, training)
        for cost_key, training in seen.items():
            if args.only and args.only not in cost_key:
                continue
            if args.missing and _good(stored.get("steps", {}).get(cost_key), args.quiet):
                continue
            wait_until_quiet(args.quiet if args.wait else None)
            figure = choose(measure(training, args.seconds), parallelism)
            print(f"{cost_key:58s} train {figure['train'] * 1000:7.1f} ms (wall "
                  f"{figure['train_wall'] * 1000:7.1f}, CPU {figure['train_cpu'] * 1000:7.1f}) "
                  f"predict {figure['predict'] * 1000:6.1f} ms  load "
                  f"{figure['load_before'][0]:.2f}->{figure['load_after'][0]:.2f}", flush=True)
            save(path, key, machine, "steps", {cost_key: figure})
    if args.measure_loads:
        wanted = sorted({(t.data_name, name) for name in budget.config.PROFILES
                         for t in budget.trainings([name])})
        for data_name, profile in wanted:
            name = f"{data_name}@{profile}"
            if args.only and args.only not in name:
                continue
            if args.missing and _good(stored.get("loads", {}).get(name), args.quiet):
                continue
            wait_until_quiet(args.quiet if args.wait else None)
            try:
                figure = measure_load(data_name, profile)
            except Exception as exc:  # not cached here (pneumoniamnist_64): not measured
                print(f"{name:30s} not measured: {type(exc).__name__}: {exc}"[:200])
                continue
            figure = choose(figure, serial, fields=("seconds",))
            print(f"{name:30s} {figure['seconds']:7.1f} s (wall {figure['wall']:.1f}, CPU "
                  f"{figure['cpu']:.1f})  load {figure['load_before'][0]:.2f}->"
                  f"{figure['load_after'][0]:.2f}", flush=True)
            save(path, key, machine, "loads", {name: figure})
    if args.measure_labs is not None:
        for number in args.measure_labs or list(budget.PLANS):
            if args.missing and _good(stored.get("labs", {}).get(f"{number:02d}"), args.quiet):
                continue
            wait_until_quiet(args.quiet if args.wait else None)
            figure = choose(measure_lab(number), serial, fields=("seconds",))
            print(f"lab {number:02d} smoke: {figure['seconds']:.1f} s (wall {figure['wall']:.1f}, "
                  f"CPU {figure['cpu']:.1f})  load {figure['load_before'][0]:.2f}->"
                  f"{figure['load_after'][0]:.2f}", flush=True)
            save(path, key, machine, "labs", {f"{number:02d}": figure})
    if measuring:
        return 0

    costs = budget.load_costs(path)
    print("Estimated minutes per lab and profile (cnnlabs.budget, "
          f"{path.name}):\n")
    print(budget.summary_table(costs))
    print()
    print(budget.caption(costs))
    problems = budget.over_budget(costs)
    for problem in problems:
        print("OVER BUDGET:", problem)
    return 1 if args.check and problems else 0


if __name__ == "__main__":
    sys.exit(main())
