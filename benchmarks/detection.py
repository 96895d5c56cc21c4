"""Train the grid detector on the generated MNIST detection set, one run per seed; print the row.

Usage (from the repository root, with ``$DATA`` a filled data cache; see
benchmarks/README.md for building one from ../shared/data):

    CNNLABS_DATA_DIR=$DATA python benchmarks/detection.py --profile cpu --seeds 42 1 2

Each seed is exactly ``cnnlabs train yolo_grid mnist_detection --seed S``
(``cnnlabs.run.train``: same recipe, data and evaluation on the held-out generated
test set). It prints each run's mAP@0.5, mAP@[.5:.95] and time, the median over the
seeds, the per-class AP@0.5 of the median run, and a Markdown row naming the
hardware, the profile and the command. Nothing is written into docs/ automatically.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="yolo_grid")
    parser.add_argument("--dataset", default="mnist_detection")
    parser.add_argument("--profile", default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    parser.add_argument("--out", type=Path, default=None,
                        help="a folder for the run folders (one per seed)")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from train_row import cpu_model

    from cnnlabs import config, run

    rows = []
    start_all = time.perf_counter()
    for seed in args.seeds:
        out = None if args.out is None else args.out / f"seed{seed}"
        start = time.perf_counter()
        result = run.train(args.model, args.dataset, profile=args.profile, epochs=args.epochs,
                           seed=seed, out=out, verbose=2, plot=False)
        wall = time.perf_counter() - start
        rows.append((seed, result.results, wall))
        print(f"seed {seed}: mAP@0.5 {result.results['map50']:.4f}, mAP@[.5:.95] "
              f"{result.results['map50_95']:.4f}, {result.results['train_seconds']:.0f} s of "
              f"training, {wall:.0f} s end to end", flush=True)
    total = time.perf_counter() - start_all

    map50 = statistics.median(r["map50"] for _, r, _ in rows)
    map50_95 = statistics.median(r["map50_95"] for _, r, _ in rows)
    walls = statistics.median(w for *_, w in rows)
    _, middle, _ = sorted(rows, key=lambda row: row[1]["map50"])[len(rows) // 2]
    print("\nper run:")
    for seed, results, wall in rows:
        print(f"  seed {seed}: mAP@0.5 {results['map50']:.4f}  mAP@[.5:.95] "
              f"{results['map50_95']:.4f}  11-point mAP@0.5 {results['map50_11point']:.4f}  "
              f"epochs {results['epochs_trained']}  {wall:.0f} s")
    print(f"median of {len(rows)}: mAP@0.5 {map50:.4f}, mAP@[.5:.95] {map50_95:.4f}, "
          f"{walls:.0f} s per run; {total:.0f} s in all")
    print(f"per-class AP@0.5 of the median run (seed {middle['seed']}):")
    for name, values in middle["per_class"].items():
        print(f"  {name}: {values['ap50']:.4f} ({values['objects']} objects)")

    gpus = config.gpu_names()
    hardware = ", ".join(gpus) if gpus else f"{cpu_model()}, {os.cpu_count()} cores, no GPU"
    command = ("CNNLABS_DATA_DIR=$DATA python benchmarks/detection.py --profile "
               f"{middle['profile']} --seeds {' '.join(map(str, args.seeds))}"
               + (f" --epochs {args.epochs}" if args.epochs else ""))
    env = middle["environment"]
    print("\nresults.md row:")
    print(f"| {args.model} | {args.dataset} | {middle['profile']} | {map50:.4f} | {map50_95:.4f} "
          f"| {middle['n']:,} | {middle['epochs_trained']} | {walls:.0f} s per run (median of "
          f"{len(rows)}) | {hardware} | TF {env['tensorflow']}, Keras {env['keras']} | "
          f"`{command}` |")


if __name__ == "__main__":
    main()
