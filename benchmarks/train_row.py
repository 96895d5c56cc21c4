"""Train one model on one dataset and print a docs/results.md row for it.

Usage (from the repository root, with ``$DATA`` a filled data cache; see
benchmarks/README.md for building one from ../shared/data):

    CNNLABS_DATA_DIR=$DATA python benchmarks/train_row.py lenet mnist --profile cpu

It runs exactly what ``cnnlabs train`` runs (``cnnlabs.run.train``: same recipe, same
data, same evaluation on the official test split), times it, and prints a Markdown row
naming the hardware, the profile and the command. Nothing is written into
docs/ automatically: a figure goes there only after a person has read it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (Linux), else the platform's processor string."""
    info = Path("/proc/cpuinfo")
    if info.is_file():
        for line in info.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("dataset")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cnnlabs import config, run

    start = time.perf_counter()
    results = run.train(args.model, args.dataset, profile=args.profile, epochs=args.epochs,
                        out=args.out, seed=args.seed, verbose=2).results
    wall = time.perf_counter() - start
    gpus = config.gpu_names()
    hardware = ", ".join(gpus) if gpus else f"{cpu_model()}, {os.cpu_count()} cores, no GPU"
    command = (f"CNNLABS_DATA_DIR=$DATA python benchmarks/train_row.py {args.model} "
               f"{args.dataset} --profile {results['profile']}"
               + (f" --epochs {args.epochs}" if args.epochs else "")
               + (f" --seed {args.seed}" if args.seed != 42 else ""))
    # A resumed run (--out of an interrupted one): its epochs' time over all sessions.
    seconds = (f"{results['epoch_seconds_all_sessions']:.0f} s of epochs over all sessions"
               if results["resumed"] else f"{results['train_seconds']:.0f} s ({wall:.0f} s end "
               f"to end)")
    row = (f"| {args.model} | {args.dataset} | {results['profile']} | "
           f"{results['accuracy'] * 100:.2f}% | {results['n']:,} | {results['epochs_trained']} | "
           f"{seconds} | {hardware} | "
           f"TF {results['environment']['tensorflow']}, Keras {results['environment']['keras']} | "
           f"`{command}` |")
    print("\nresults.md row:")
    print(row)
    print(json.dumps({k: results[k] for k in ("accuracy", "n", "train_seconds", "seed")}))


if __name__ == "__main__":
    main()
