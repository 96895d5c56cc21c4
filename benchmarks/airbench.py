"""Train the airbench94 recipe with several seeds; mean, min and max test accuracy, and seconds.

Usage (from the repository root, with ``$DATA`` a filled data cache):

    CNNLABS_DATA_DIR=$DATA python benchmarks/airbench.py --runs 2 --profile cpu

Each run is exactly ``cnnlabs train airbench94 cifar10`` (``run.train``: the recipe,
the whitening set from the training images, test-time augmentation on the official
test split), with seeds 0, 1, 2, ... It prints one row per run as soon as it ends
(test accuracy with TTA, the validation accuracy of each epoch without it, training
seconds), then the summary: mean, min and max accuracy over the runs, the mean
training seconds, and the seconds to 94% (``--target``): the mean training time of a
recipe whose mean accuracy reaches the target, as airbench reports it (blank when
the mean falls short). ``--minutes`` stops starting new runs once that much time has
passed (at least ``--min-runs`` run anyway). ``--smoke`` trains on 2,048 images for
one epoch, to check the script.

The CIFAR-10 copy of the course machines is JPEG (quality 75), about half a point
below the exact images in accuracy: say so next to any figure made from it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from typing import Any

from train_row import cpu_model


def summarise(rows: list[dict[str, Any]], target: float = 0.94) -> dict[str, Any]:
    """Mean, min and max accuracy of ``rows``, their mean seconds, and seconds to ``target``.

    Args:
        rows: one dictionary per run, with ``accuracy`` and ``train_seconds``.
        target: the accuracy the mean must reach for ``seconds_to_target``.

    Returns:
        ``runs``, ``mean``, ``min``, ``max``, ``mean_seconds`` and ``seconds_to_target``
        (the mean seconds when the mean accuracy reaches ``target``, else ``None``).

    Raises:
        ValueError: for no rows.
    """
    if not rows:
        raise ValueError("No runs to summarise.")
    accuracies = [float(row["accuracy"]) for row in rows]
    seconds = statistics.fmean(float(row["train_seconds"]) for row in rows)
    mean = statistics.fmean(accuracies)
    return {"runs": len(rows), "mean": mean, "min": min(accuracies), "max": max(accuracies),
            "mean_seconds": seconds,
            "seconds_to_target": seconds if mean >= target - 1e-12 else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--min-runs", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=None,
                        help="start no new run after this many minutes")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--target", type=float, default=0.94)
    parser.add_argument("--out", default=None, help="folder for the run folders")
    parser.add_argument("--smoke", action="store_true",
                        help="2,048 training images, one epoch: checks the script only")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cnnlabs import config, datasets, run

    gpus = config.gpu_names()
    hardware = ", ".join(gpus) if gpus else f"{cpu_model()}, {os.cpu_count()} cores, no GPU"
    load = os.getloadavg()[0]
    print(f"airbench94 on {hardware}; load average {load:.2f}", flush=True)
    splits = datasets.load("cifar10", args.profile)
    epochs = args.epochs
    if args.smoke:
        splits.x_train, splits.y_train = splits.x_train[:2048], splits.y_train[:2048]
        epochs = 1
    print(splits.describe(), flush=True)
    start = time.perf_counter()
    rows = []
    for i in range(args.runs):
        elapsed = (time.perf_counter() - start) / 60
        if args.minutes is not None and i >= args.min_runs and elapsed >= args.minutes:
            print(f"stopping after {i} runs: {elapsed:.1f} of {args.minutes} minutes used")
            break
        seed = args.first_seed + i
        out = None if args.out is None else os.path.join(args.out, f"airbench94-s{seed}")
        result = run.train("airbench94", splits, profile=args.profile, seed=seed, epochs=epochs,
                           out=out, verbose=0, plot=False, log=None)
        history = [round(row.get("val_accuracy", float("nan")), 4)
                   for row in json.loads((result.run_dir / "history.json").read_text())]
        row = {"seed": seed, "accuracy": result.results["accuracy"],
               "train_seconds": result.results["train_seconds"],
               "epochs": result.results["epochs_trained"], "val_accuracy": history,
               "profile": result.results["profile"], "run_dir": str(result.run_dir)}
        rows.append(row)
        print(f"| run {i + 1} | seed {seed} | test accuracy (TTA) {row['accuracy']:.4f} | "
              f"{row['epochs']} epochs | {row['train_seconds']:.1f} s | val by epoch "
              f"{history} |", flush=True)
    summary = summarise(rows, args.target)
    to_target = (f"{summary['seconds_to_target']:.1f} s" if summary["seconds_to_target"]
                 is not None else f"not reached (mean below {args.target:.0%})")
    print(f"| airbench94 | {splits.name} ({'mock' if splits.is_mock else splits.source}) | "
          f"{rows[0]['profile']} | {summary['runs']} runs | mean {summary['mean']:.4f} | "
          f"min {summary['min']:.4f} | max {summary['max']:.4f} | "
          f"mean {summary['mean_seconds']:.1f} s of training | to {args.target:.0%}: "
          f"{to_target} | {hardware} | load "
          f"{load:.2f} -> {os.getloadavg()[0]:.2f} |", flush=True)
    print(json.dumps({"summary": summary, "runs": rows}))


if __name__ == "__main__":
    main()
