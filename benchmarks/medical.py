"""The medical rows of docs/results.md (and docs/experiments/pneumoniamnist.md): PneumoniaMNIST
over seeds, saved models scored again, and the chest X-rays.

Usage (from the repository root, with ``$DATA`` a filled data cache; see
benchmarks/README.md):

    # PneumoniaMNIST at 28 px: one `cnnlabs train` run per seed, then the median
    CNNLABS_DATA_DIR=$DATA python benchmarks/medical.py pneumoniamnist resnet_small \\
        --profile cpu --seeds 42 1 2

    # PneumoniaMNIST: the saved models of earlier runs, one by one and as an ensemble
    # (models.ensemble, the mean of their probabilities; --groups K makes K ensembles of
    # consecutive runs and their median; as many groups as runs gives the median of the
    # single models), and the best test accuracy any threshold could give (hindsight,
    # not a result). --tta-shift D: test-time augmentation, each score the mean over
    # the nine circular shifts of the image by -D, 0 or D pixels down and across
    CNNLABS_DATA_DIR=$DATA python benchmarks/medical.py pneumoniamnist-models \\
        RUN_DIR [RUN_DIR ...] [--groups K] [--tta-shift D]

    # Chest X-rays, transfer learning in two phases (cnnlabs.run.fit_transfer, as lab 08);
    # needs the ImageNet weights in the Keras cache or a network connection
    CNNLABS_DATA_DIR=$DATA python benchmarks/medical.py chest_xray --backbone mobilenetv2 \\
        --profile full

    # Chest X-rays, a CNN from the library trained from scratch (no pretrained weights)
    CNNLABS_DATA_DIR=$DATA python benchmarks/medical.py chest_xray --scratch resnet_xray \\
        --profile cpu --size 128 --color grayscale

Every run chooses its decision threshold on the validation split (the official
one for PneumoniaMNIST, the patient-grouped one for the chest X-rays) and reports
the official test split: accuracy at that threshold and at 0.5, AUC, sensitivity,
specificity and the majority baseline. Nothing is written into docs/: a figure
goes there after a person has read it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras
    import numpy as np
    import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parent))

from train_row import cpu_model  # noqa: E402

KEYS = ("accuracy", "accuracy_at_0.5", "auc", "sensitivity", "specificity", "threshold")


def hardware() -> str:
    """The machine in words, for the hardware column: the GPUs, else CPU model and cores."""
    from cnnlabs import config

    gpus = config.gpu_names()
    return ", ".join(gpus) if gpus else f"{cpu_model()}, {os.cpu_count()} cores, no GPU"


def pneumoniamnist(args: argparse.Namespace) -> None:
    """Train ``args.model`` on PneumoniaMNIST once per seed (``cnnlabs.run.train``, as
    ``cnnlabs train``) and print each seed's row and the column medians."""
    from cnnlabs import run

    rows = []
    for seed in args.seeds:
        out = args.out / f"{args.model}-pneumoniamnist-{args.profile}-s{seed}" if args.out else None
        start = time.perf_counter()
        result = run.train(args.model, "pneumoniamnist", profile=args.profile, seed=seed,
                           epochs=args.epochs, out=out, verbose=2).results
        result["wall_seconds"] = time.perf_counter() - start
        rows.append(result)
    print(f"\nPneumoniaMNIST (28 px), {args.model}, profile {args.profile}, {hardware()}")
    print("| seed | ACC (val threshold) | ACC at 0.5 | AUC | sensitivity | specificity | "
          "threshold | training time |")
    print("|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['seed']} | {row['accuracy']:.4f} | {row['accuracy_at_0.5']:.4f} | "
              f"{row['auc']:.4f} | {row['sensitivity']:.4f} | {row['specificity']:.4f} | "
              f"{row['threshold']:.3f} | {row['train_seconds']:.0f} s |")
    medians = {k: statistics.median(r[k] for r in rows) for k in KEYS}
    print(f"| median | {medians['accuracy']:.4f} | {medians['accuracy_at_0.5']:.4f} | "
          f"{medians['auc']:.4f} | {medians['sensitivity']:.4f} | "
          f"{medians['specificity']:.4f} | | |")
    print(json.dumps({"medians": medians, "runs": [{k: r[k] for k in (*KEYS, "seed")}
                                                   for r in rows]}))


def hindsight_accuracy(y_true: Sequence[int], scores: Sequence[float]) -> float:
    """The best accuracy any single threshold gives on these very labels.

    Choosing the threshold on the test labels is exactly what a result must not do;
    this number only shows how much of the gap to a target is the model itself and
    how much the threshold carried over from validation.
    """
    import numpy as np

    y_true, scores = np.asarray(y_true), np.asarray(scores)
    return max(float(((scores >= t) == y_true).mean()) for t in np.unique(scores))


def shifted_scores(model: keras.Model, dataset: tf.data.Dataset, shift: int = 0) -> np.ndarray:
    """Class-1 scores of ``model`` on a batched ``(x, y)`` dataset, in order.

    With ``shift`` D > 0 (test-time augmentation), each score is the mean over the
    nine circular shifts of the image by -D, 0 or D pixels down and across.
    """
    import numpy as np

    from cnnlabs import evaluation

    if not shift:
        return evaluation.predict(model, dataset)[:, 1]
    import tensorflow as tf

    offsets = [(dy, dx) for dy in (-shift, 0, shift) for dx in (-shift, 0, shift)]
    return np.mean([evaluation.predict(model, dataset.map(
        lambda x, y, o=o: (tf.roll(x, o, axis=(1, 2)), y)))[:, 1] for o in offsets], axis=0)


def pneumoniamnist_models(args: argparse.Namespace) -> None:
    """Score saved PneumoniaMNIST models again: each one, each ensemble of ``args.groups``
    consecutive runs, and the medians; the threshold is chosen on validation every time."""
    import keras
    import numpy as np

    from cnnlabs import config, datasets, evaluation, models, pipelines

    runs = list(args.runs)
    groups = args.groups or (1 if len(runs) > 1 else 0)
    if groups and len(runs) % groups:
        raise SystemExit(f"{len(runs)} run folders do not split into {groups} equal groups.")
    prof = config.get_profile("cpu")
    splits = datasets.load("pneumoniamnist", prof, seed=0)
    data = pipelines.build(splits, 256, prof)  # no augmentation; val and test keep their order
    y_val, y_test = np.asarray(data.y_val), np.asarray(data.y_test)

    def row(name: str, model: keras.Model) -> dict[str, float]:
        p_val = shifted_scores(model, data.val, args.tta_shift)
        p_test = shifted_scores(model, data.test, args.tta_shift)
        threshold = evaluation.choose_threshold(y_val, p_val)
        report = evaluation.binary_report(y_test, p_test, threshold, data.class_names)
        at_half, _ = evaluation.medmnist_metrics(y_test, p_test, "binary-class")  # > 0.5
        result = {"accuracy": report.accuracy, "accuracy_at_0.5": at_half,
                  "auc": report.extra["auc"], "threshold": threshold,
                  "hindsight": hindsight_accuracy(y_test, p_test)}
        print(f"| {name} | {result['accuracy']:.4f} | {result['accuracy_at_0.5']:.4f} | "
              f"{result['auc']:.4f} | {threshold:.3f} | {result['hindsight']:.4f} |")
        return result

    print("| model | ACC (val threshold) | ACC at 0.5 | AUC | threshold | "
          "best ACC at any threshold (hindsight) |")
    print("|---|---|---|---|---|---|")
    members, singles = [], []
    for run in runs:
        members.append(keras.saving.load_model(run / "model.keras", compile=False))
        singles.append(row(run.name, members[-1]))
    if not groups:
        return
    size = len(runs) // groups
    if size == 1:  # one model per group: the rows above, and their median
        results, what = singles, "models"
    else:
        results, what = [], "ensembles"
        for g in range(groups):
            chosen = slice(g * size, (g + 1) * size)
            names = ", ".join(run.name.rsplit("-", 1)[-1] for run in runs[chosen])
            results.append(row(f"mean of {size} models ({names})",
                               models.ensemble(members[chosen], name=f"ensemble_{g}")))
    if groups > 1:
        medians = {k: statistics.median(r[k] for r in results) for k in results[0]}
        print(f"| median of the {groups} {what} | {medians['accuracy']:.4f} | "
              f"{medians['accuracy_at_0.5']:.4f} | {medians['auc']:.4f} | | |")
        print(json.dumps({"medians": medians, what: results}))


def chest_xray(args: argparse.Namespace) -> None:
    """Train on the chest X-rays through ``cnnlabs.run.train`` (two transfer phases, or one
    model from scratch) and print the test row: accuracy at the validation threshold,
    sensitivity, specificity, AUC."""
    from cnnlabs import config, run

    prof = config.get_profile(args.profile)
    size = args.size or prof.image_size
    model = f"{run.TRANSFER_PREFIX}{args.backbone}" if args.backbone else args.scratch
    label = args.backbone or args.scratch
    weights = None if args.weights == "none" else args.weights
    result = run.train(
        model, "chest_xray", profile=prof, seed=args.seed, epochs=args.epochs,
        data_options={"image_size": size, "color_mode": args.color},
        model_options={"weights": weights} if args.backbone else None,
        out=args.out or config.new_run_dir(f"chest_xray-{label}-{size}-{prof.name}"),
        verbose=2)
    report, e = result.report, result.report.extra
    how = (f"{args.backbone} (weights {args.weights})" if args.backbone
           else f"{args.scratch} from scratch")
    epochs = " + ".join(str(r.epochs) for r in result.recipes)
    print("\nresults.md row:")
    print(f"| {how} | {size} px {args.color} | {prof.name} | {report.accuracy * 100:.1f}% | "
          f"{e['sensitivity'] * 100:.1f}% | {e['specificity'] * 100:.1f}% | {e['auc']:.3f} | "
          f"{e['threshold']:.3f} | {epochs} | {result.seconds:.0f} s | {hardware()} |")
    print(json.dumps({k: e.get(k, report.accuracy) for k in KEYS}))


def main() -> None:
    """Parse the command line and run one task."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="task", required=True)
    p = sub.add_parser("pneumoniamnist")
    p.add_argument("model")
    p.add_argument("--profile", default="cpu")
    p.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    m = sub.add_parser("pneumoniamnist-models")
    m.add_argument("runs", type=Path, nargs="+", help="run folders holding model.keras")
    m.add_argument("--groups", type=int, default=None,
                   help="average the runs in this many consecutive equal groups (default: "
                        "one group of all); each group is one models.ensemble, and as many "
                        "groups as runs gives the median of the single models")
    m.add_argument("--tta-shift", type=int, default=0, metavar="D",
                   help="test-time augmentation: average the scores over the nine circular "
                        "shifts by -D, 0 and D pixels (default 0: none)")
    c = sub.add_parser("chest_xray")
    which = c.add_mutually_exclusive_group(required=True)
    which.add_argument("--backbone", help="a models.transfer backbone (two phases)")
    which.add_argument("--scratch", help="a models.build name, trained from scratch")
    c.add_argument("--weights", default="imagenet", help="imagenet, none, or a weights file")
    c.add_argument("--profile", default="cpu")
    c.add_argument("--size", type=int, default=None, help="image side (default: the profile's)")
    c.add_argument("--color", default="rgb", choices=("rgb", "grayscale"))
    c.add_argument("--epochs", type=int, default=None)
    c.add_argument("--seed", type=int, default=42)
    c.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    tasks = {"pneumoniamnist": pneumoniamnist, "pneumoniamnist-models": pneumoniamnist_models,
             "chest_xray": chest_xray}
    tasks[args.task](args)


if __name__ == "__main__":
    main()
