"""Lab time budgets: every training a lab runs, per profile, and how long the lab takes.

:data:`PLANS` declares, for each lab, the trainings it runs under each profile: the
model, the dataset, how many training images and how many epochs. Batch sizes come
from the model's recipe (``recipes.recipe``) and input shapes from the dataset
catalogue. A lab asks :func:`plan` for its sizes, and the time table at its top comes
from :func:`lab_seconds` over the same plan, so the table and the lab cannot drift.
The plans are cut to fit a class period; the published-accuracy recipes stay the
defaults of ``recipes.recipe`` and ``cnnlabs train``.

How long a lab takes is estimated from costs measured on one machine and stored in
``lab_costs.json`` (``python benchmarks/lab_times.py --measure`` writes it): the
seconds one training step and one prediction step take for each model, input shape
and batch size the plans use; the seconds each dataset takes to load under each
profile; and the wall time of each lab under the ``smoke`` profile, which gives the
lab's fixed overhead (kernel start, imports, figures). A lab's time is then

    sum over its trainings of (training steps x train cost + prediction steps x
    prediction cost) + its overhead + its data loading.

On another CPU the measured figures are scaled by the number of cores (linearly: twice
the cores, half the time; optimistic beyond a few cores). On a GPU whose costs were
measured (``--measure`` on that GPU), those are used; otherwise a step is taken to cost
the CPU's time divided by :data:`GPU_CLASSES`' factor, plus a fixed cost per step, and
loading and overhead are not scaled (Colab's GPU runtimes have two CPU cores, like the
measuring machine). Those GPU figures are estimates, and say so.

Nothing here imports TensorFlow, except :func:`device` (to list the GPUs).
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cnnlabs import config
from cnnlabs.config import Profile

#: The measured costs, inside the package (``benchmarks/lab_times.py --measure`` writes it).
COSTS_FILE = Path(__file__).with_name("lab_costs.json")
#: The key of the measuring CPU's figures in :data:`COSTS_FILE`.
CPU = "cpu"
#: The class budget: the longest a lab may take, in minutes, per (profile, device class).
BUDGET_MINUTES = {("smoke", "cpu"): 1, ("cpu", "cpu"): 15, ("full", "T4"): 45,
                  ("full", "H100"): 15}


@dataclass(frozen=True)
class GPUClass:
    """How a GPU's step time is estimated from the CPU's when it was not measured.

    A step takes ``cpu_seconds / factor + per_step``.

    Attributes:
        name: ``"T4"`` or ``"H100"``.
        factor: how many times faster than the measuring CPU the GPU computes a step.
        per_step: the seconds every step costs on it however small the model (the step
            loop, kernel launches, the input pipeline's hand-over).
        tags: a GPU whose name contains one of these belongs to this class.
    """

    name: str
    factor: float
    per_step: float
    tags: tuple[str, ...] = ()


#: The GPU classes of the time tables. The factors are estimates, not measurements;
#: docs/results.md ("Lab times") gives the reasoning. A GPU matching no tag is taken as
#: a T4 (the slowest class, so the estimate errs long).
GPU_CLASSES: dict[str, GPUClass] = {
    "T4": GPUClass("T4", factor=20.0, per_step=0.005, tags=("T4",)),
    "H100": GPUClass("H100", factor=60.0, per_step=0.004, tags=("H100", "H200")),
}


@dataclass(frozen=True)
class Planned:
    """One training of a lab, as declared: per profile, how many images and epochs.

    Attributes:
        label: the name the lab uses for this training (``plan(...)[label]``).
        model: a ``models.build`` name, ``transfer_<backbone>``, or a network the lab
            builds itself (``mlp``, ``cnn``: lab 02).
        dataset: the catalogue name of the data it trains on.
        sizes: profile name -> ``(images, epochs)``: the training images handed to the
            chain (``None``: the whole training split the profile loads) and the epochs
            (``None``: the recipe's). A profile missing here does not run this training.
        recipe: the ``recipes.recipe`` name when it is not ``model`` (transfer phases).
        options: model builder options, as ``(name, value)`` pairs.
        evaluate: whether the lab predicts the test split afterwards.
        medmnist_size: the MedMNIST image side when it is not 28.
        stand_ins: profile name -> ``(model, options)``: a smaller network of the same
            family that profile trains instead (the lab builds ``plan(...)[label].model``),
            where tracing the real one alone would take most of ``smoke``'s minute.
    """

    label: str
    model: str
    dataset: str
    sizes: Mapping[str, tuple[int | None, int | None]]
    recipe: str | None = None
    options: tuple[tuple[str, Any], ...] = ()
    evaluate: bool = True
    medmnist_size: int | None = None
    stand_ins: Mapping[str, tuple[str, tuple[tuple[str, Any], ...]]] = field(
        default_factory=dict)


@dataclass(frozen=True)
class Training:
    """One training of a lab under one profile, with every size resolved.

    Attributes:
        lab: the lab's number.
        label: the lab's name for it.
        model, recipe, dataset, options: as in :class:`Planned`.
        input_shape: ``(H, W, C)`` of the images the model takes.
        images: what the lab passes to ``datasets.subsample`` (``None``: no subsample).
        n_train, n_val, n_test: images trained on, validated on each epoch, and
            predicted after training (0 when the lab does not evaluate).
        epochs: epochs to train.
        batch_size: the recipe's batch size.
        drop_remainder: whether each epoch leaves out its last, partial batch.
        predict_val: whether the validation split is predicted once more after
            training (two-class datasets choose their threshold on it).
        data_name: the data as loaded, the key of its loading cost: the dataset, or
            ``pneumoniamnist_64`` for a MedMNIST dataset at another size.
    """

    lab: int
    label: str
    model: str
    recipe: str
    dataset: str
    options: tuple[tuple[str, Any], ...]
    input_shape: tuple[int, int, int]
    images: int | None
    n_train: int
    n_val: int
    n_test: int
    epochs: int
    batch_size: int
    drop_remainder: bool = False
    predict_val: bool = False
    data_name: str = ""

    @property
    def steps_per_epoch(self) -> int:
        """Training steps in one epoch: ``ceil(n_train / batch_size)`` (or the floor)."""
        if self.drop_remainder:
            return self.n_train // self.batch_size
        return math.ceil(self.n_train / self.batch_size)

    @property
    def steps(self) -> int:
        """Training steps in all: steps per epoch times epochs."""
        return self.steps_per_epoch * self.epochs

    @property
    def predict_steps(self) -> int:
        """Prediction steps: validation after every epoch, then the test split (and val)."""
        val = math.ceil(self.n_val / self.batch_size)
        after = math.ceil(self.n_test / self.batch_size) + (val if self.predict_val else 0)
        return val * self.epochs + (after if self.n_test else 0)

    @property
    def run_label(self) -> str:
        """``labNN-<label>``, the name of its run folder (``config.lab_run_dir``)."""
        slug = re.sub(r"[^a-z0-9]+", "-", self.label.lower()).strip("-")
        return f"lab{self.lab:02d}-{slug}"

    @property
    def key(self) -> str:
        """The key of this training's step costs: model, options, recipe, shape, batch."""
        return cost_key(self.model, self.options, self.recipe, self.input_shape,
                        self.batch_size)



def cost_key(model: str, options: Sequence[tuple[str, Any]], recipe: str,
             input_shape: Sequence[int], batch_size: int) -> str:
    """``model[opt=value,...]:recipe|HxWxC|bBATCH``, the key of one step cost."""
    name = model + (f"[{','.join(f'{k}={v}' for k, v in options)}]" if options else "")
    if recipe != model:
        name += f":{recipe}"
    return f"{name}|{'x'.join(str(int(s)) for s in input_shape)}|b{int(batch_size)}"


def _sizes(smoke: tuple[int | None, int | None] | None,
           cpu: tuple[int | None, int | None] | None,
           full: tuple[int | None, int | None] | None) -> dict[str, tuple[int | None, int | None]]:
    return {name: value for name, value in (("smoke", smoke), ("cpu", cpu), ("full", full))
            if value is not None}


_ALL = None  # every training image the profile loads
_RECIPE = None  # the recipe's epochs


def _course(name: str, profiles: Sequence[str] = tuple(config.PROFILES)) -> Planned:
    """A network lab 09 explains, sized as ``lab_models.course_model`` trains it.

    The profile's ``demo_samples`` training images and the course's cap on the epochs
    (:data:`cnnlabs.lab_models.COURSE_MODELS`), under the label that names its run folder;
    only in ``profiles``.
    """
    from cnnlabs.lab_models import COURSE_MODELS

    spec = COURSE_MODELS[name]
    return Planned(spec.name, spec.model, spec.dataset,
                   {p: (config.PROFILES[p].demo_samples, spec.epochs) for p in profiles})


def _ladder() -> tuple[Planned, ...]:
    """Lab 11's trainings: the steps of ``tricks.ladder`` that train, on one CIFAR-10 subset.

    Every step trains as many epochs as the ladder's airbench94 recipe has under the
    profile (``tricks.target_recipe``); the airbench94 steps with that recipe, MiniVGGNet
    with its own. ``smoke`` trains the first step and the last one only.
    """
    from cnnlabs import tricks

    steps = [step for step in tricks.ladder("cpu") if step.retrain]
    in_smoke = {steps[0].label, steps[-1].label}
    images = {"smoke": _ALL, "cpu": 8_000, "full": _ALL}
    return tuple(
        Planned(step.label, step.model, "cifar10",
                {p: (n, tricks.target_recipe(p).epochs) for p, n in images.items()
                 if p != "smoke" or step.label in in_smoke},
                recipe=tricks.RECIPE if step.model == "airbench94" else None)
        for step in steps)


#: Every training each lab runs, per profile: ``(images, epochs)`` (see :class:`Planned`).
#: ``smoke`` checks the plumbing in seconds; ``cpu`` fits 15 minutes on a 2-core CPU;
#: ``full`` fits 45 minutes on a T4-class GPU and 15 on an H100.
PLANS: dict[int, tuple[Planned, ...]] = {
    0: (),
    1: (),
    2: (
        Planned("mlp", "mlp", "mnist", _sizes((_ALL, 1), (_ALL, _RECIPE), (_ALL, _RECIPE))),
        Planned("cnn", "cnn", "mnist", _sizes((_ALL, 1), (_ALL, _RECIPE), (_ALL, _RECIPE))),
    ),
    3: (
        Planned("lenet", "lenet", "mnist", _sizes((_ALL, 1), (_ALL, _RECIPE), (_ALL, _RECIPE))),
    ),
    4: tuple(
        Planned(label, model, "cifar10", _sizes((512, 1), (4_000, 6), (_ALL, 20)),
                options=options)
        for label, model, options in (
            ("MiniVGGNet + aug", "minivggnet", ()),
            ("MiniVGGNet, no BN + aug", "minivggnet", (("batch_norm", False),)),
            ("MiniVGGNet, no aug", "minivggnet", ()),
            ("AlexNet variant + aug", "alexnet_cifar", ()),
        )
    ),
    5: (
        Planned("minigooglenet", "minigooglenet", "cifar10",
                _sizes((_ALL, 1), (8_000, 5), (_ALL, 30))),
    ),
    6: (
        # smoke trains plain20 alone and a three-module ResNet: tracing the deep networks'
        # training steps takes about 20-30 s of CPU each, more than smoke's minute allows.
        Planned("plain20", "plain20", "cifar10", _sizes((512, 1), (4_000, 5), (_ALL, 12)),
                evaluate=False),
        *(Planned(name, name, "cifar10", _sizes(None, (4_000, 5), (_ALL, 12)),
                  evaluate=False) for name in ("plain56", "resnet56")),
        Planned("resnet_cifar", "resnet_cifar", "cifar10",
                _sizes((_ALL, 1), (4_000, 3), (_ALL, 20)),
                stand_ins={"smoke": ("resnet", (("stages", (1, 1, 1)),
                                                ("filters", (16, 16, 32, 64))))}),
    ),
    7: (
        Planned("28 px", "resnet_medmnist", "pneumoniamnist",
                _sizes((_ALL, 1), (_ALL, 30), (_ALL, _RECIPE))),
        Planned("64 px", "resnet_medmnist", "pneumoniamnist",
                _sizes(None, None, (_ALL, _RECIPE)), medmnist_size=64),
    ),
    8: (
        Planned("1 feature extraction", "transfer_mobilenetv2", "chest_xray",
                _sizes((_ALL, 1), (_ALL, _RECIPE), (_ALL, _RECIPE)), recipe="transfer_features",
                evaluate=False),
        Planned("2 fine-tuning", "transfer_mobilenetv2", "chest_xray",
                _sizes((_ALL, 1), (_ALL, _RECIPE), (_ALL, _RECIPE)), recipe="transfer_finetune"),
    ),
    9: (
        _course("lenet"),
        _course("minivggnet"),
        # Not in smoke: tracing the ResNet's training step alone takes a third of its minute.
        _course("pneumonia", ("cpu", "full")),
    ),
    10: (
        Planned("yolo_grid", "yolo_grid", "mnist_detection",
                _sizes((_ALL, 1), (_ALL, _RECIPE), (_ALL, _RECIPE))),
    ),
    11: _ladder(),
}


def _check_lab(lab: int) -> None:
    if lab not in PLANS:
        valid = ", ".join(f"{n:02d}" for n in PLANS)
        raise KeyError(f"No lab {lab:02d} in the plans. Valid labs: {valid}.")


def input_shape(dataset: str, profile: Profile, medmnist_size: int | None = None
                ) -> tuple[int, int, int]:
    """``(H, W, C)`` of ``dataset``'s images as a lab feeds them to its model.

    Photos (the chest X-rays) are resized to ``profile.image_size`` in RGB; a MedMNIST
    dataset at another size has that side; everything else has its catalogue shape.
    """
    from cnnlabs import datasets
    from cnnlabs.datasets.catalog import medmnist_entry

    if dataset == "chest_xray":
        return (profile.image_size, profile.image_size, 3)
    entry = (medmnist_entry(dataset, medmnist_size) if medmnist_size
             else datasets.info(dataset))
    return tuple(int(s) for s in entry.image_shape)  # type: ignore[return-value]


def resolve(lab: int, planned: Planned, profile: Profile) -> Training:
    """``planned`` sized for ``profile``: images, splits, epochs, batch size, input shape.

    The counts follow the chain: the profile caps the training and test splits when the
    data loads, the lab may subsample the training split to ``images``, and validation
    is the dataset's own split (MedMNIST) or ``round(images * profile.val_fraction)``
    carved out of the training images (by patient for the chest X-rays, so there it is
    approximate). The profile's epoch cap applies last.
    """
    from cnnlabs import datasets, recipes

    images, epochs = planned.sizes[profile.name]
    entry = datasets.info(planned.dataset)
    loaded = entry.train_size
    if profile.train_samples is not None:
        loaded = min(loaded, profile.train_samples)
    n_images = loaded if images is None else min(images, loaded)
    own_val = entry.loader == "medmnist" and entry.val_size is not None
    if own_val:
        n_val, n_train = int(entry.val_size), n_images
    else:
        n_val = int(round(n_images * profile.val_fraction))
        n_train = n_images - n_val
    n_test = entry.test_size if profile.test_samples is None else min(entry.test_size,
                                                                      profile.test_samples)
    recipe_name = planned.recipe or planned.model
    recipe = recipes.recipe(recipe_name, profile, planned.dataset, epochs=epochs)
    model, options = planned.stand_ins.get(profile.name, (planned.model, planned.options))
    return Training(
        lab=lab, label=planned.label, model=model, recipe=recipe_name,
        dataset=planned.dataset, options=tuple(options),
        input_shape=input_shape(planned.dataset, profile, planned.medmnist_size),
        images=images, n_train=n_train, n_val=n_val,
        n_test=n_test if planned.evaluate else 0, epochs=recipe.epochs,
        batch_size=recipe.batch_size, drop_remainder=recipe.drop_remainder,
        predict_val=planned.evaluate and entry.num_classes == 2,
        data_name=(f"{planned.dataset}_{planned.medmnist_size}" if planned.medmnist_size
                   else planned.dataset),
    )


def plan(lab: int, profile: str | Profile | None = None) -> dict[str, Training]:
    """The trainings lab ``lab`` runs under ``profile``, by label, in the lab's order.

    Example:
        >>> plan(3, "cpu")["lenet"].epochs
        12

    Raises:
        KeyError: for a lab that is not in :data:`PLANS` (the message lists them).
    """
    _check_lab(lab)
    chosen = config.get_profile(profile)
    return {p.label: resolve(lab, p, chosen) for p in PLANS[lab] if chosen.name in p.sizes}


def trainings(profiles: Sequence[str] = tuple(config.PROFILES)) -> list[Training]:
    """Every training of every lab under ``profiles``."""
    return [t for name in profiles for lab in PLANS for t in plan(lab, name).values()]


# --- costs ---------------------------------------------------------------------------


class MissingCostError(KeyError):
    """A cost the estimate needs was never measured."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def load_costs(path: Path | str | None = None) -> dict[str, Any]:
    """The measured costs (:data:`COSTS_FILE`, or ``path``); empty when there are none."""
    path = Path(path) if path is not None else COSTS_FILE
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


@dataclass(frozen=True)
class Device:
    """Where a lab runs, and how its time is estimated there.

    Attributes:
        name: what the tables call it (``"CPU, 2 cores"``, ``"T4"``, ``"Tesla T4"``).
        kind: ``"cpu"`` or a :data:`GPU_CLASSES` name.
        measured: the key of its own measured costs in the costs file, or ``None``
            (then it is scaled from the measuring CPU's).
        scale: for a CPU: its time over the measuring CPU's (cores there / cores here).
        estimated: True when the figures are scaled from another device's.
    """

    name: str
    kind: str
    measured: str | None = None
    scale: float = 1.0
    estimated: bool = False

    @property
    def describe(self) -> str:
        """The device, and how its figures were obtained when they are not its own."""
        if not self.estimated:
            return self.name
        if self.kind == "cpu":
            return f"{self.name}, scaled from the measuring CPU's by core count"
        return f"{self.name}, estimated as a {self.kind}-class GPU"


def cpu_device(cores: int | None = None, costs: Mapping[str, Any] | None = None) -> Device:
    """A CPU with ``cores`` cores (default: this machine's), scaled from the measuring one."""
    costs = load_costs() if costs is None else costs
    reference = int(costs.get(CPU, {}).get("machine", {}).get("cores") or 2)
    cores = cores or os.cpu_count() or 1
    return Device(f"CPU, {cores} cores", "cpu", measured=CPU, scale=reference / cores,
                  estimated=cores != reference)


def gpu_device(name: str, costs: Mapping[str, Any] | None = None) -> Device:
    """The GPU ``name``: its own measured costs when stored, else its class's estimate."""
    costs = load_costs() if costs is None else costs
    kind = next((c.name for c in GPU_CLASSES.values() if any(t in name for t in c.tags)), "T4")
    if name in costs:
        return Device(name, kind, measured=name)
    measured = next((key for key, value in costs.items() if key != CPU
                     and value.get("machine", {}).get("class") == kind), None)
    return Device(name, kind, measured=measured, estimated=measured is None)


def device(gpus: Sequence[str] | None = None, cores: int | None = None,
           costs: Mapping[str, Any] | None = None) -> Device:
    """This machine: its first GPU (``gpus``, default ``config.gpu_names()``), else its CPU."""
    gpus = config.gpu_names() if gpus is None else gpus
    return gpu_device(gpus[0], costs) if gpus else cpu_device(cores, costs)


def _figures(costs: Mapping[str, Any], dev: Device) -> dict[str, Any]:
    key = dev.measured or CPU
    if key not in costs:
        raise MissingCostError(f"No measured costs for {key!r} in {COSTS_FILE.name}: run "
                               "python benchmarks/lab_times.py --measure on that machine.")
    return costs[key]


def step_seconds(training: Training, dev: Device,
                 costs: Mapping[str, Any] | None = None) -> float:
    """Seconds ``training``'s steps take on ``dev``: training and prediction steps.

    Raises:
        MissingCostError: the costs file lacks this training's model, shape and batch.
    """
    costs = load_costs() if costs is None else costs
    figures = _figures(costs, dev)
    step = figures.get("steps", {}).get(training.key)
    if step is None:
        raise MissingCostError(
            f"No measured step cost for {training.key} (lab {training.lab:02d}, "
            f"{training.label!r}): run python benchmarks/lab_times.py --measure.")
    train, predict = float(step["train"]), float(step["predict"])
    if dev.kind != "cpu" and dev.measured is None:
        gpu = GPU_CLASSES[dev.kind]
        train, predict = (s / gpu.factor + gpu.per_step for s in (train, predict))
    elif dev.kind == "cpu":
        train, predict = train * dev.scale, predict * dev.scale
    return training.steps * train + training.predict_steps * predict


def _load_seconds(figures: Mapping[str, Any], data_key: str, profile: str) -> float:
    """The measured loading time of ``data_key`` under ``profile`` (0 when not measured).

    A MedMNIST dataset at a size that was not measured (``pneumoniamnist_64``, which
    is not in the offline cache) takes its 28 px figure.
    """
    loads = figures.get("loads", {})
    base = re.sub(r"_\d+$", "", data_key)
    for key in (f"{data_key}@{profile}", f"{base}@{profile}"):
        if key in loads:
            return _seconds(loads[key])
    return 0.0


def _seconds(figure: float | Mapping[str, Any]) -> float:
    """A stored figure's seconds: a number, or the ``"seconds"`` of a measurement record."""
    return float(figure["seconds"] if isinstance(figure, Mapping) else figure)


def _datasets(lab: int, profile: str) -> list[str]:
    return sorted({t.data_name for t in plan(lab, profile).values()})


def overhead_seconds(lab: int, profile: str | Profile, dev: Device,
                     costs: Mapping[str, Any] | None = None) -> float:
    """Seconds lab ``lab`` spends outside its training steps: start, loading, figures.

    The fixed part is the lab's measured ``smoke`` wall time less its smoke steps and
    smoke loading; the loading of the profile's data is added to it. Both are measured
    on the CPU, and only a CPU's figures are scaled (by cores).
    """
    costs = load_costs() if costs is None else costs
    name = config.get_profile(profile).name
    cpu = costs.get(CPU, {})
    smoke_wall = cpu.get("labs", {}).get(f"{lab:02d}")
    if smoke_wall is None:
        raise MissingCostError(f"No measured smoke run of lab {lab:02d}: run python "
                               "benchmarks/lab_times.py --measure-labs.")
    reference = cpu_device(costs.get(CPU, {}).get("machine", {}).get("cores"), costs)
    smoke_steps = sum(step_seconds(t, reference, costs) for t in plan(lab, "smoke").values())
    fixed = max(0.0, _seconds(smoke_wall) - smoke_steps
                - sum(_load_seconds(cpu, d, "smoke") for d in _datasets(lab, "smoke")))
    total = fixed + sum(_load_seconds(cpu, d, name) for d in _datasets(lab, name))
    return total * dev.scale if dev.kind == "cpu" else total


def lab_seconds(lab: int, profile: str | Profile, dev: Device,
                costs: Mapping[str, Any] | None = None) -> float:
    """The estimated wall time of lab ``lab`` under ``profile`` on ``dev``, in seconds."""
    costs = load_costs() if costs is None else costs
    steps = sum(step_seconds(t, dev, costs) for t in plan(lab, profile).values())
    return steps + overhead_seconds(lab, profile, dev, costs)


# --- tables --------------------------------------------------------------------------


def minutes(seconds: float) -> str:
    """Seconds as minutes with one decimal: ``"12.3"``."""
    return f"{seconds / 60:.1f}"


def reference_devices(costs: Mapping[str, Any] | None = None) -> dict[str, Device]:
    """The devices of the time tables: the measuring CPU, a T4 and an H100."""
    costs = load_costs() if costs is None else costs
    cores = costs.get(CPU, {}).get("machine", {}).get("cores")
    return {"cpu": cpu_device(cores, costs), "T4": gpu_device("T4", costs),
            "H100": gpu_device("H100", costs)}


#: The cells of a lab's table: (profile, device), in order.
LAB_TABLE_CELLS = (("smoke", "cpu"), ("cpu", "cpu"), ("full", "T4"), ("full", "H100"))


def _where(kind: str, dev: Device, costs: Mapping[str, Any]) -> str:
    if kind == "cpu":
        return f"{costs.get(CPU, {}).get('machine', {}).get('cores', 2)}-core CPU"
    return f"{kind} GPU" + (" (estimate)" if dev.estimated else "")


def time_table(lab: int, costs: Mapping[str, Any] | None = None) -> str:
    """The Markdown table of lab ``lab``'s expected time per profile (``labs sync`` writes it)."""
    costs = load_costs() if costs is None else costs
    devices = reference_devices(costs)
    rows = ["| profile | on | expected time |", "|---|---|---|"]
    for profile, kind in LAB_TABLE_CELLS:
        seconds = lab_seconds(lab, profile, devices[kind], costs)
        rows.append(f"| `{profile}` | {_where(kind, devices[kind], costs)} | "
                    f"{minutes(seconds)} min |")
    return "\n".join(rows) + "\n\n" + caption(costs)


def caption(costs: Mapping[str, Any] | None = None) -> str:
    """The line under every time table: where the figures come from."""
    costs = load_costs() if costs is None else costs
    machine = costs.get(CPU, {}).get("machine", {})
    gpus = "; ".join(f"{c.name}: CPU step time / {c.factor:g} + {c.per_step * 1000:g} ms"
                     for c in GPU_CLASSES.values())
    return (f"Estimated from step costs measured on {machine.get('name', 'a 2-core CPU')} "
            f"(`python benchmarks/lab_times.py`). GPU times are estimates scaled from the "
            f"CPU ({gpus}) until measured on such a GPU; see docs/results.md, \"Lab times\".")


#: The columns of :func:`summary_table`: (profile, device), in order.
SUMMARY_CELLS = (("smoke", "cpu"), ("cpu", "cpu"), ("full", "cpu"), ("cpu", "T4"),
                 ("full", "T4"), ("full", "H100"))


def summary_rows(costs: Mapping[str, Any] | None = None,
                 cells: Sequence[tuple[str, str]] = SUMMARY_CELLS
                 ) -> list[tuple[int, list[float]]]:
    """``(lab, seconds in each (profile, device) of cells)`` for every lab."""
    costs = load_costs() if costs is None else costs
    devices = reference_devices(costs)
    return [(lab, [lab_seconds(lab, p, devices[k], costs) for p, k in cells]) for lab in PLANS]


def summary_table(costs: Mapping[str, Any] | None = None,
                  cells: Sequence[tuple[str, str]] = SUMMARY_CELLS) -> str:
    """Estimated minutes of every lab, one column per (profile, device) of ``cells``.

    The default columns: every profile on the measuring CPU, ``cpu`` and ``full`` on a
    T4, ``full`` on an H100.
    """
    costs = load_costs() if costs is None else costs
    devices = reference_devices(costs)
    head = ["lab"] + [f"`{p}` on {_where(k, devices[k], costs)}" for p, k in cells]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for lab, seconds in summary_rows(costs, cells):
        rows.append(f"| {lab:02d} | " + " | ".join(f"{minutes(s)} min" for s in seconds) + " |")
    return "\n".join(rows)


def over_budget(costs: Mapping[str, Any] | None = None) -> list[str]:
    """Every (lab, profile, device) whose estimate exceeds :data:`BUDGET_MINUTES`."""
    costs = load_costs() if costs is None else costs
    devices = reference_devices(costs)
    found = []
    for lab in PLANS:
        for (profile, kind), limit in BUDGET_MINUTES.items():
            seconds = lab_seconds(lab, profile, devices[kind], costs)
            if seconds > limit * 60:
                found.append(f"lab {lab:02d}, {profile} on {kind}: {minutes(seconds)} min "
                             f"> {limit} min")
    return found


# --- in a lab ------------------------------------------------------------------------


def _about(seconds: float) -> str:
    return "under a minute" if seconds < 60 else f"about {max(1, round(seconds / 60))} min"


def estimate(lab: int, labels: str | Sequence[str] | None = None,
             profile: str | Profile | None = None, *, dev: Device | None = None,
             now: datetime | None = None, costs: Mapping[str, Any] | None = None) -> str:
    """Print, and return, when the trainings about to start should be done.

    "about 4 min on this machine (CPU, 2 cores): done around 14:32". A lab calls it
    before each long training cell; a training that resumes from its backup, or
    reloads a finished run, takes less.

    Args:
        lab: the lab's number.
        labels: the trainings (labels of :func:`plan`); ``None``: all of the lab's.
        profile: the profile (default: the current one).
        dev: the device (default: :func:`device`, this machine).
        now: the time to count from (default: now).
        costs: the measured costs (default: :data:`COSTS_FILE`).
    """
    costs = load_costs() if costs is None else costs
    dev = device(costs=costs) if dev is None else dev
    planned = plan(lab, profile)
    chosen = (list(planned) if labels is None
              else [labels] if isinstance(labels, str) else list(labels))
    unknown = [label for label in chosen if label not in planned]
    if unknown:
        raise KeyError(f"Lab {lab:02d} has no training {unknown[0]!r} in this profile. "
                       f"Its trainings: {', '.join(planned) or 'none'}.")
    try:
        seconds = sum(step_seconds(planned[label], dev, costs) for label in chosen)
    except MissingCostError as exc:
        line = f"no time estimate: {exc}"
    else:
        done = (now or datetime.now()) + timedelta(seconds=seconds)
        line = f"{_about(seconds)} on this machine ({dev.describe}): done around {done:%H:%M}"
    print(line)
    return line


def _profile_for(gpus: Sequence[str]) -> Profile:
    """The profile a lab picks: ``$CNNLABS_PROFILE``, else full with a GPU and cpu without."""
    chosen = os.environ.get(config.PROFILE_ENV, "").strip().lower()
    if chosen in ("", "auto"):
        chosen = "full" if gpus else "cpu"
    return config.get_profile(chosen)


def profile_report(gpus: Sequence[str] | None = None, cores: int | None = None,
                   costs: Mapping[str, Any] | None = None) -> str:
    """What lab 00 says about the hardware: GPU or not, the profile, the longest lab.

    Args:
        gpus: the GPU names (default: ``config.gpu_names()``).
        cores: the CPU cores (default: this machine's).
        costs: the measured costs (default: :data:`COSTS_FILE`).

    Returns:
        A few lines: a plain statement when there is no GPU, which profile every lab
        will use, and the expected time of the longest lab on this machine.
    """
    costs = load_costs() if costs is None else costs
    gpus = config.gpu_names() if gpus is None else list(gpus)
    profile = _profile_for(gpus)
    dev = device(gpus, cores, costs)
    forced = os.environ.get(config.PROFILE_ENV, "").strip().lower() not in ("", "auto")
    why = f" (set by {config.PROFILE_ENV})" if forced else ""
    if gpus:
        lines = [f"GPU: {', '.join(gpus)}; every lab will use the `{profile.name}` "
                 f"profile{why}."]
    else:
        lines = [f"NO GPU: every lab will run on the CPU, with the `{profile.name}` "
                 f"profile{why}."]
    try:
        times = {lab: lab_seconds(lab, profile, dev, costs) for lab in PLANS}
    except MissingCostError as exc:
        lines.append(f"No time estimate: {exc}")
        return "\n".join(lines)
    longest = max(times, key=times.__getitem__)
    lines.append(f"The longest lab, {longest:02d}, should take {_about(times[longest])} on "
                 f"this machine ({dev.describe}).")
    if not gpus and profile.name == "full":
        lines.append("The `full` profile is sized for a GPU: on this CPU it takes far "
                     "longer than a class period. Unset CNNLABS_PROFILE to get `cpu`.")
    return "\n".join(lines)
