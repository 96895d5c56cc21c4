"""The ``cnnlabs`` console script (also ``python -m cnnlabs``).

Commands:

- ``cnnlabs info``: versions, GPUs, the profile and the data folder;
- ``cnnlabs train MODEL DATASET``: train, evaluate, and write a run folder;
- ``cnnlabs models``: the model names;
- ``cnnlabs data list`` / ``cnnlabs data fetch NAME``: the dataset cache;
- ``cnnlabs labs list`` / ``cnnlabs labs run N`` / ``cnnlabs labs sync``: the notebooks.

Heavy imports (TensorFlow) happen inside the commands, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any


class UsageError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit status 2."""


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def cmd_info(args: argparse.Namespace) -> int:
    _quiet_tensorflow()
    from cnnlabs import config

    facts = config.environment()
    if args.json:
        print(json.dumps(facts, indent=2))
        return 0
    profile = facts.pop("profile")
    width = max(len(k) for k in facts)
    for key, value in facts.items():
        if key == "gpus":
            value = ", ".join(value) if value else "none (CPU only)"
        print(f"{key:<{width}}  {value}")
    print(f"{'profile':<{width}}  {profile['name']}  "
          f"(set {config.PROFILE_ENV}=smoke|cpu|full to change)")
    return 0


def train(model_name: str, dataset_name: str, *, profile: str | None = None,
          epochs: int | None = None, batch_size: int | None = None, out: Path | None = None,
          seed: int = 42, verbose: int | str = "auto") -> dict[str, Any]:
    """Train ``model_name`` on ``dataset_name``, evaluate on the test split, write a run folder.

    Reusing ``out`` after an interruption resumes the run from its backup.
    Returns the results dictionary also saved as ``results.json``.
    """
    _quiet_tensorflow()
    from cnnlabs import config, datasets, evaluation, models, pipelines, training

    prof = config.get_profile(profile)
    models.get_builder(model_name)  # unknown names fail before any data is loaded
    datasets.info(dataset_name)
    from cnnlabs.datasets.medmnist_info import MEDMNIST, MULTI_LABEL

    flag = MEDMNIST.get(dataset_name.lower())
    if flag is not None and flag.task == MULTI_LABEL:
        raise UsageError(
            f"{dataset_name} is a multi-label task ({len(flag.labels)} yes/no labels per "
            "image); cnnlabs train handles single-label classification (one softmax class "
            "per image) only. Train it in Python with sigmoid outputs and binary "
            "cross-entropy, and score it with evaluation.medmnist_metrics."
        )
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise UsageError(f"--out {out} is a file, not a run folder; choose another --out.")
    config.seed_everything(seed)
    splits = datasets.load(dataset_name, prof, seed=seed)
    print(splits.describe())
    for note in splits.notes:
        print(f"  note: {note}")
    r = training.recipe(model_name, prof, dataset_name, epochs=epochs, batch_size=batch_size)
    data = pipelines.build(splits, r.batch_size, prof, seed=seed, augment=r.augment,
                           one_hot=r.label_smoothing > 0)
    precision = training.set_precision(r)
    if precision != "float32":
        print(f"mixed precision: {precision}")
    model = models.build(model_name, splits.input_shape, splits.num_classes)
    run_dir = Path(out) if out else config.new_run_dir(f"{model_name}-{dataset_name}-{prof.name}")
    resuming = _check_run_folder(run_dir, {
        "model": model_name, "dataset": dataset_name, "profile": prof.name,
        "recipe": asdict(r), "seed": seed,
    })
    print(f"profile {prof.name}: {r.epochs} epochs, batch {r.batch_size}, {r.optimizer} "
          f"lr {r.learning_rate} ({r.schedule}); train {data.n_train}, val {data.n_val}, "
          f"test {data.n_test}")
    print(("resuming from the backup in " if resuming else "run folder: ") + str(run_dir))
    start = time.perf_counter()
    training.fit(model, data, r, run_dir, verbose=verbose)
    seconds = time.perf_counter() - start
    # Count from history.json, which spans every session of a resumed run (and stops
    # where TerminateOnNaN stopped the training), not from the recipe.
    rows = training.read_history(run_dir)
    epoch_seconds = round(sum(row.get("seconds", 0.0) for row in rows), 1)
    extra = {
        "model": model_name,
        "dataset": dataset_name,
        "profile": prof.name,
        "recipe": asdict(r),
        "parameters": int(model.count_params()),
        "train_seconds": round(seconds, 1),  # this session's fit
        "epochs_trained": len(rows),
        "epoch_seconds_all_sessions": epoch_seconds,
        "resumed": resuming,
        "mock_data": splits.is_mock,
        "data_source": splits.source,
        "seed": seed,
        "environment": {k: v for k, v in config.environment().items() if k != "profile"},
    }
    if splits.num_classes == 2:
        # Two classes (PneumoniaMNIST): the threshold comes from validation, and the
        # report adds AUC, sensitivity, specificity and the majority baseline.
        report = evaluation.evaluate_binary(model, data.val, data.y_val, data.test, data.y_test,
                                            data.class_names, run_dir=run_dir, extra=extra)
    else:
        report = evaluation.evaluate(model, data.test, data.y_test, data.class_names,
                                     run_dir=run_dir, split="test", extra=extra)
    print()
    if splits.is_mock:
        print("WARNING: trained on MOCK data; these numbers say nothing about the model.")
    print(f"Classification report: {model_name} on {dataset_name} "
          f"({report.split}, n={report.n})")
    print(report.text)
    timing = (f"in {seconds:.0f} s this session ({epoch_seconds:.0f} s of epochs over all "
              f"sessions)" if resuming else f"in {seconds:.0f} s")
    print(f"test accuracy {report.accuracy:.4f} after {len(rows)} epochs {timing}")
    print(f"run folder: {run_dir}")
    return report.to_dict()


RUN_FILE = "run.json"


def _check_run_folder(run_dir: Path, run: dict[str, Any]) -> bool:
    """Claim ``run_dir`` for this run; True when it resumes an interrupted one.

    A folder that holds a finished run, or another run's backup, is refused
    rather than overwritten.
    """
    from cnnlabs import evaluation, training

    if (run_dir / training.BACKUP_DIR).is_dir():
        previous = run_dir / RUN_FILE
        if previous.is_file() and json.loads(previous.read_text()) != json.loads(json.dumps(run)):
            raise UsageError(
                f"{run_dir} holds the backup of a different run ({previous} differs from this "
                "command's model, dataset, profile, recipe or seed). Resume it with the same "
                "command, or choose another --out."
            )
        return True
    if (run_dir / evaluation.RESULTS_FILE).is_file():
        raise UsageError(f"{run_dir} already holds a finished run; choose another --out.")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / RUN_FILE).write_text(json.dumps(run, indent=2))
    return False


def cmd_train(args: argparse.Namespace) -> int:
    try:
        train(args.model, args.dataset, profile=args.profile, epochs=args.epochs,
              batch_size=args.batch_size, out=args.out, seed=args.seed,
              verbose=args.verbose)
    except KeyboardInterrupt:
        hint = f" --out {args.out}" if args.out else " --out RUN_FOLDER (printed above)"
        print(f"\nInterrupted. Run the same command with{hint} to resume from the last backup.",
              file=sys.stderr)
        return 130
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from cnnlabs import config, datasets

    if args.data_command == "list":
        for name in datasets.names():
            copy = datasets.cached(name)
            where = f"cached ({copy})" if copy else "not cached"
            print(f"{name:<14} {datasets.info(name).title:<40} {where}")
        print(f"cache: {config.data_dir()} (set {config.DATA_ENV} to change)")
        return 0
    path = datasets.fetch(args.name, progress=True)
    print(f"{args.name}: {path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from cnnlabs import models

    for name in models.names():
        print(name)
    return 0


def cmd_labs(args: argparse.Namespace) -> int:
    from cnnlabs import labs

    if args.labs_command == "list":
        folder = labs.labs_dir()
        for lab in labs.LABS:
            flag = "" if (folder / lab.filename).is_file() else "  (missing here)"
            print(f"{lab.number:02d}  {lab.filename:<36} {lab.title}{flag}")
        return 0
    if args.labs_command == "sync":
        changed = labs.sync()
        for path in changed:
            print(f"updated {path}")
        print("badges and install lines match" if not changed else f"{len(changed)} files updated")
        return 0
    _quiet_tensorflow()
    try:
        lab = labs.get(args.number)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from exc
    print(f"running {lab.filename} headless (profile {args.profile or 'from environment'}) ...")
    start = time.perf_counter()
    path = labs.run(args.number, profile=args.profile, out=args.out, timeout=args.timeout)
    print(f"done in {time.perf_counter() - start:.0f} s; executed copy: {path}")
    return 0


def _positive_int(text: str) -> int:
    """argparse type: an integer of 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and docs)."""
    parser = argparse.ArgumentParser(
        prog="cnnlabs", description="Course labs for convolutional neural networks."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="versions, GPUs, profile and data folder")
    info.add_argument("--json", action="store_true", help="print the facts as JSON")
    info.set_defaults(func=cmd_info)

    tr = sub.add_parser("train", help="train MODEL on DATASET, evaluate, write a run folder")
    tr.add_argument("model", help="model name, e.g. lenet")
    tr.add_argument("dataset", help="dataset name, e.g. mnist")
    tr.add_argument("--profile", choices=["smoke", "cpu", "full", "auto"], default=None,
                    help="sizing profile (default: $CNNLABS_PROFILE, else auto)")
    tr.add_argument("--epochs", type=_positive_int, default=None,
                    help="override the recipe's epochs")
    tr.add_argument("--batch-size", type=_positive_int, default=None,
                    help="override the batch size")
    tr.add_argument("--out", type=Path, default=None,
                    help="run folder (reuse one to resume an interrupted run)")
    tr.add_argument("--seed", type=int, default=42)
    tr.add_argument("--verbose", type=int, choices=[0, 1, 2], default=None,
                    help="Keras verbosity (default: progress bar on a terminal, 2 otherwise)")
    tr.set_defaults(func=cmd_train)

    mo = sub.add_parser("models", help="the model names that train and build accept")
    mo.set_defaults(func=cmd_models)

    data = sub.add_parser("data", help="the dataset cache")
    dsub = data.add_subparsers(dest="data_command", required=True)
    dsub.add_parser("list", help="datasets in the catalogue")
    fetch = dsub.add_parser("fetch", help="download a dataset into the cache")
    fetch.add_argument("name")
    data.set_defaults(func=cmd_data)

    lb = sub.add_parser("labs", help="the lab notebooks")
    lsub = lb.add_subparsers(dest="labs_command", required=True)
    lsub.add_parser("list", help="list the labs")
    lsub.add_parser("sync", help="rewrite badges and install lines from cnnlabs.config.REPO")
    run = lsub.add_parser("run", help="execute lab N headless; save the executed copy")
    run.add_argument("number", type=int)
    run.add_argument("--profile", choices=["smoke", "cpu", "full", "auto"], default=None)
    run.add_argument("--out", type=Path, default=None, help="folder for the executed copy")
    run.add_argument("--timeout", type=int, default=3600, help="seconds allowed per cell")
    lb.set_defaults(func=cmd_labs)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if getattr(args, "verbose", "auto") is None:
        args.verbose = 1 if sys.stdout.isatty() else 2
    from cnnlabs.datasets.errors import DatasetError

    try:
        return args.func(args)
    except (UsageError, ValueError, DatasetError, FileNotFoundError) as exc:
        if os.environ.get("CNNLABS_DEBUG"):
            raise
        print(f"cnnlabs: error: {exc}", file=sys.stderr)
        return 2
