"""The ``cnnlabs`` console script (also ``python -m cnnlabs``): a thin layer over the library.

Commands:

- ``cnnlabs info``: versions, GPUs, the profile and the data folder;
- ``cnnlabs train MODEL DATASET``: :func:`cnnlabs.run.train`: train, evaluate, write a
  run folder;
- ``cnnlabs models``: the model names;
- ``cnnlabs data list`` / ``cnnlabs data fetch NAME``: the dataset cache;
- ``cnnlabs labs list`` / ``cnnlabs labs run N`` / ``cnnlabs labs sync``: the notebooks;
- ``cnnlabs assign [--lab N] [--check]``: the student notebooks, from the solutions;
- ``cnnlabs grade SUBMISSION... --lab N``: run and mark submitted notebooks.

Heavy imports (TensorFlow) happen inside the commands, so ``--help`` is instant.
TensorFlow's start-up notices are kept out of the output unless ``--debug`` (or
``CNNLABS_DEBUG=1``) asks for everything.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DEBUG_ENV = "CNNLABS_DEBUG"


class UsageError(Exception):
    """A mistake in the command line or its inputs: printed as one line, exit status 2."""


def _debug() -> bool:
    return bool(os.environ.get(DEBUG_ENV, "").strip())


def _start_tensorflow() -> None:
    """TensorFlow, started quietly unless debugging (see ``config.start_tensorflow``)."""
    from cnnlabs import config

    if not _debug():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    config.start_tensorflow(quiet=not _debug())


def cmd_info(args: argparse.Namespace) -> int:
    _start_tensorflow()
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


def cmd_train(args: argparse.Namespace) -> int:
    _start_tensorflow()
    from cnnlabs import run

    data_options = {key: value for key, value in (("image_size", args.image_size),
                                                  ("color_mode", args.color))
                    if value is not None}
    try:
        run.train(args.model, args.dataset, profile=args.profile, epochs=args.epochs,
                  batch_size=args.batch_size, out=args.out, seed=args.seed,
                  verbose=args.verbose, data_options=data_options)
    except KeyboardInterrupt:
        hint = f" --out {args.out}" if args.out else " --out RUN_FOLDER (printed above)"
        print(f"\nInterrupted. Run the same command with{hint} to resume from the last backup.",
              file=sys.stderr)
        return 130
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from cnnlabs import config, datasets

    if args.data_command == "list":
        invalid = False
        for name in datasets.names():
            state = datasets.status(name)
            invalid = invalid or state.state == "invalid"
            print(f"{name:<14} {datasets.info(name).title:<40} {state.describe()}")
        print(f"cache: {config.data_dir()} (set {config.DATA_ENV} to change)")
        if invalid:
            print("`cnnlabs data fetch NAME` says what is wrong with an invalid copy and the fix")
        return 0
    path = datasets.fetch(args.name, progress=True)  # checks the copy as the loader would
    print(f"{args.name}: {path}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from cnnlabs import run

    for name in run.model_names():
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
    if not _debug():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the kernels inherit it
    try:
        lab = labs.get(args.number)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from exc
    print(f"running {lab.filename} headless (profile {args.profile or 'from environment'}) ...")
    start = time.perf_counter()
    path = labs.run(args.number, profile=args.profile, out=args.out, timeout=args.timeout)
    print(f"done in {time.perf_counter() - start:.0f} s; executed copy: {path}")
    return 0


def cmd_assign(args: argparse.Namespace) -> int:
    from cnnlabs import labs
    from cnnlabs.exercises import assign

    try:
        numbers = [labs.get(n).number for n in args.lab] if args.lab else None
    except KeyError as exc:
        raise UsageError(exc.args[0]) from exc
    if args.check:
        stale = assign.stale(numbers, args.out)
        for line in stale:
            print(line)
        if stale:
            print(f"{len(stale)} student notebook(s) out of step with their solutions: run "
                  "`cnnlabs assign` and commit the result", file=sys.stderr)
            return 1
        print("student notebooks match their solutions")
        return 0
    written = assign.assign(numbers, args.out)
    for path in written:
        print(f"wrote {path}")
    print("student notebooks already up to date" if not written
          else f"{len(written)} student notebook(s) written")
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    if not _debug():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # the kernels inherit it
    from cnnlabs.exercises import grade

    out = args.out or Path(f"grades-lab{args.lab:02d}")

    def progress(row: grade.Graded) -> None:
        print(f"{row.submission}: {row.total:g}/{row.max_points:g} points, {row.status} "
              f"({row.seconds:.0f} s)", flush=True)

    start = time.perf_counter()
    rows = grade.grade(args.submissions, args.lab, tests=args.tests, jobs=args.jobs,
                       timeout=args.timeout, cell_timeout=args.cell_timeout, out=out,
                       progress=progress)
    elapsed = time.perf_counter() - start
    print(f"graded {len(rows)} submission(s) in {elapsed:.0f} s "
          f"({elapsed / len(rows):.1f} s each, {args.jobs} at a time); "
          f"{out / grade.GRADES_FILE}, feedback in {out / grade.FEEDBACK_DIR}")
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
    parser.add_argument("--debug", action="store_true",
                        help=f"show TensorFlow's start-up output and full tracebacks "
                             f"(as {DEBUG_ENV}=1 does)")
    sub = parser.add_subparsers(dest="command", required=True)

    # --debug after the command too; SUPPRESS keeps a sub-command from resetting it.
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help=argparse.SUPPRESS)
    info = sub.add_parser("info", help="versions, GPUs, profile and data folder",
                          parents=[debug])
    info.add_argument("--json", action="store_true", help="print the facts as JSON")
    info.set_defaults(func=cmd_info)

    tr = sub.add_parser("train", help="train MODEL on DATASET, evaluate, write a run folder",
                        parents=[debug])
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
    tr.add_argument("--image-size", type=_positive_int, default=None, metavar="N",
                    help="image folders (chest_xray): resize to N x N pixels "
                         "(default: the profile's)")
    tr.add_argument("--color", choices=["rgb", "grayscale"], default=None,
                    help="image folders (chest_xray): colour mode (default: rgb)")
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

    asg = sub.add_parser("assign", help="write the student notebooks (labs/student/) from the "
                                        "solution notebooks", parents=[debug])
    asg.add_argument("--lab", type=int, action="append", metavar="N",
                     help="only lab N (repeat for more; default: every lab)")
    asg.add_argument("--check", action="store_true",
                     help="write nothing; list the student notebooks that differ from what "
                          "assign would write, and exit 1 if any")
    asg.add_argument("--out", type=Path, default=None,
                     help="folder of the student notebooks (default: labs/student/)")
    asg.set_defaults(func=cmd_assign)

    gr = sub.add_parser("grade", help="run and mark submitted notebooks of lab N",
                        parents=[debug])
    gr.add_argument("submissions", nargs="+", type=Path, metavar="SUBMISSION",
                    help="submitted notebooks, or folders of them")
    gr.add_argument("--lab", type=int, required=True, metavar="N", help="the lab they answer")
    gr.add_argument("--tests", type=Path, default=None, metavar="DIR",
                    help="a folder of extra tests (*.py), kept out of the student notebooks")
    gr.add_argument("--jobs", type=_positive_int, default=1, metavar="J",
                    help="submissions run at the same time (default: 1)")
    gr.add_argument("--timeout", type=_positive_int, default=600, metavar="S",
                    help="seconds one notebook may run, all cells together (default: 600)")
    gr.add_argument("--cell-timeout", type=_positive_int, default=None, metavar="S",
                    help="seconds one cell may run (default: no limit of its own)")
    gr.add_argument("--out", type=Path, default=None, metavar="DIR",
                    help="folder for grades.csv, feedback/ and written_answers.csv "
                         "(default: grades-labNN)")
    gr.set_defaults(func=cmd_grade)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    if args.debug:
        os.environ[DEBUG_ENV] = "1"
    if getattr(args, "verbose", "auto") is None:
        args.verbose = 1 if sys.stdout.isatty() else 2
    from cnnlabs.datasets.errors import DatasetError

    try:
        return args.func(args)
    except (UsageError, ValueError, DatasetError, FileNotFoundError) as exc:
        if _debug():
            raise
        print(f"cnnlabs: error: {exc}", file=sys.stderr)
        return 2
