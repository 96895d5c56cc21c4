"""Lab 11's ladder: MiniVGGNet, then airbench94 one trick at a time; print the per-trick table.

Usage (from the repository root, with ``$DATA`` a filled data cache):

    CNNLABS_DATA_DIR=$DATA python benchmarks/tricks.py --profile cpu

It trains the steps of ``cnnlabs.tricks.ladder`` (each one ``run.train`` call, as lab 11
does) on the same stratified CIFAR-10 training subset, for the same epochs, and tests
each on the official test split: by default the sizes of lab 11's plan for the profile
(``budget.plan(11, profile)``; ``cpu``: 8,000 images, 10% of them held out for
validation, 3 epochs), so the table is the one the lab shows. ``--images`` and
``--epochs`` change them. One line per step is printed as soon as it is done; then the
Markdown table (test accuracy, gain over the step before, training seconds, training
images per second, seconds to reach the MiniVGGNet step's final validation accuracy),
with the hardware, the load, the profile and the command. ``--out DIR`` keeps the run
folders there, one per step, and a second run with the same ``--out`` reloads the
finished ones.

The CIFAR-10 copy of the course machines is JPEG (quality 75), about half a point
below the exact images in accuracy: say so next to any figure made from it.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from train_row import cpu_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default=None)
    parser.add_argument("--images", type=int, default=None,
                        help="training images, validation included (default: lab 11's plan)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of every step (default: lab 11's plan)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=None, help="folder for the run folders")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cnnlabs import budget, config, datasets, tricks

    profile = config.get_profile(args.profile)
    planned = next(iter(budget.plan(11, profile).values()))
    images = args.images if args.images is not None else planned.images
    epochs = args.epochs if args.epochs is not None else planned.epochs
    gpus = config.gpu_names()
    hardware = ", ".join(gpus) if gpus else f"{cpu_model()}, {os.cpu_count()} cores, no GPU"
    load = os.getloadavg()
    print(f"lab 11 ladder on {hardware}; load average {load[0]:.2f}", flush=True)

    cifar = datasets.load("cifar10", profile, seed=args.seed)
    subset = datasets.subsample(cifar, images, None, seed=args.seed,
                                reason=f"profile {profile.name}, lab 11 ladder")
    print(subset.describe(), flush=True)
    root = args.out or Path(tempfile.mkdtemp(prefix="tricks-"))

    def done(rung: tricks.Rung) -> None:
        speed = rung.images_per_second
        print(f"  {rung.trick.label}: test accuracy {rung.accuracy:.4f}, training "
              f"{rung.seconds:.0f} s" + ("" if speed is None else f", {speed:.0f} images/s")
              + f", load {os.getloadavg()[0]:.2f}", flush=True)

    start = time.perf_counter()
    rungs = tricks.climb(subset, profile, epochs=epochs, seed=args.seed, verbose=0, plot=False,
                         log=None, run_dir=lambda trick: root / trick.run_label, done=done)
    wall = time.perf_counter() - start
    target = rungs[0].history[-1]["val_accuracy"]
    first = rungs[0].run
    command = (f"CNNLABS_DATA_DIR=$DATA python benchmarks/tricks.py --profile {profile.name}"
               + (f" --images {args.images}" if args.images is not None else "")
               + (f" --epochs {args.epochs}" if args.epochs is not None else "")
               + (f" --seed {args.seed}" if args.seed != 42 else ""))
    print()
    print(tricks.table(rungs, target=target))
    print()
    print(f"CIFAR-10 ({'mock' if subset.is_mock else 'the course copy, JPEG quality 75'}): "
          f"{first.data.n_train:,} training and {first.data.n_val:,} validation images "
          f"(a stratified subset of {images if images is not None else 'all'}), "
          f"{epochs} epoch(s) per step, seed {args.seed}; tested on {first.data.n_test:,} "
          f"images of the official test split. Profile {profile.name}; {hardware}; "
          f"TF {first.results['environment']['tensorflow']}, Keras "
          f"{first.results['environment']['keras']}; load average {load[0]:.2f} -> "
          f"{os.getloadavg()[0]:.2f}; {wall / 60:.1f} min in all. Command: `{command}`.")
    print(f"run folders: {root}")


if __name__ == "__main__":
    main()
