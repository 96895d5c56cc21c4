"""Probes of the PneumoniaMNIST recipe: one change at a time, one seed, same evaluation.

These are the "tried on the way" rows of docs/results.md: each run trains
``resnet_medmnist`` (28 px input) with the library recipe for PneumoniaMNIST
plus one change, then evaluates exactly as ``cnnlabs train`` does (threshold
chosen on the official validation split, applied to the official test split).

Usage (from the repository root, with ``$DATA`` a filled data cache):

    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py standardize
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py upsample2 --epochs 15
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe --reg 5e-4
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe \\
        --augment crop,rotate,zoom,contrast,brightness

Probes:
    recipe       the library recipe, with the overrides given (--reg, --augment)
    standardize  a per-image standardisation layer (zero mean, unit variance) first
    upsample2    bilinear upsampling to 56 px inside the model (about 4x the compute)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROBES = ("recipe", "standardize", "upsample2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=PROBES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--reg", type=float, default=None, help="L2 factor of the conv layers")
    parser.add_argument("--augment", default=None, help="comma-separated AUGMENTATIONS names")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    from medical import hardware

    from cnnlabs import config, datasets, evaluation, models, pipelines, training

    prof = config.get_profile("cpu")
    config.seed_everything(args.seed)
    splits = datasets.load("pneumoniamnist", prof, seed=args.seed)
    r = training.recipe("resnet_medmnist", prof, "pneumoniamnist", epochs=args.epochs)
    if args.augment is not None:
        r = replace(r, augment=tuple(n for n in args.augment.split(",") if n))
    data = pipelines.build(splits, r.batch_size, prof, seed=args.seed, augment=r.augment)

    shape = splits.input_shape
    scale = 2 if args.probe == "upsample2" else 1
    inner = (shape[0] * scale, shape[1] * scale, shape[2])
    kwargs = {"reg": args.reg} if args.reg is not None else {}
    model = models.build("resnet_medmnist", inner, 2, **kwargs)
    if args.probe != "recipe":
        inputs = keras.Input(shape)
        x = inputs
        if args.probe == "upsample2":
            x = keras.layers.Resizing(inner[0], inner[1], interpolation="bilinear")(x)
        else:
            mean = keras.ops.mean(x, axis=(1, 2, 3), keepdims=True)
            std = keras.ops.std(x, axis=(1, 2, 3), keepdims=True)
            x = (x - mean) / keras.ops.maximum(std, 1.0 / 255.0)
        model = keras.Model(inputs, model(x))

    run_dir = config.new_run_dir(f"probe-{args.probe}-pneumoniamnist-s{args.seed}")
    start = time.perf_counter()
    training.fit(model, data, r, run_dir, verbose=2, plot=False)
    seconds = time.perf_counter() - start
    report = evaluation.evaluate_binary(model, data.val, data.y_val, data.test, data.y_test,
                                        data.class_names, run_dir=run_dir)
    e = report.extra
    changes = ", ".join(f"{k} {v}" for k, v in (("reg", args.reg), ("augment", args.augment))
                        if v is not None)
    print(report)
    print(f"\nprobe {args.probe}{' (' + changes + ')' if changes else ''}, seed {args.seed}, "
          f"{r.epochs} epochs, {hardware()}")
    print(f"| ACC (val threshold) {report.accuracy:.4f} | ACC at 0.5 {e['accuracy_at_0.5']:.4f} | "
          f"AUC {e['auc']:.4f} | threshold {e['threshold']:.3f} | {seconds:.0f} s |")
    print(json.dumps({"probe": args.probe, "seed": args.seed, "epochs": r.epochs,
                      "accuracy": report.accuracy, "auc": e["auc"],
                      "accuracy_at_0.5": e["accuracy_at_0.5"], "threshold": e["threshold"]}))


if __name__ == "__main__":
    main()
