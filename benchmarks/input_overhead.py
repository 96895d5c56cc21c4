"""What the input pipeline costs: training images/s with augmentation, without, and compute only.

Usage (from the repository root, with ``$DATA`` a filled data cache):

    CNNLABS_DATA_DIR=$DATA python benchmarks/input_overhead.py minivggnet [MODEL ...]

For each model it builds the CIFAR-10 training pipeline as ``run.train`` does
(``pipelines.build`` with the model's recipe: batch size, augmentation, one-hot
labels for label smoothing, drop_remainder) and measures, in one process and
interleaved round by round so that a change in the machine's load hits every
configuration alike, the training throughput in images/s:

- ``augmented``: the recipe's pipeline;
- ``plain``: the same pipeline without augmentation;
- ``compute``: one batch of that pipeline held in memory and repeated, so the
  input pipeline costs nothing: the model's compute alone;
- ``keras_layers`` (with ``--reference``): the recipe's augmentation applied with the
  Keras preprocessing layers of ``pipelines.augmenter`` to float32 batches cached
  per image, shuffled and batched, for comparison.

It prints two rows per model, the medians over the rounds: images per second of
wall-clock time, and images per second of this process's CPU time (steadier on a
machine shared with other jobs, whose load slows the wall clock but not the CPU
work per image), each with the overhead of the input pipeline,
``1 - augmented / compute`` (and ``1 - plain / compute``). Nothing is asserted:
speed is recorded, not tested.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time

from train_row import cpu_model


def keras_layer_pipeline(x, y, batch_size, augment, seed, num_classes):
    """The recipe's augmentation with Keras preprocessing layers on cached float batches."""
    import tensorflow as tf

    from cnnlabs import pipelines

    ds = tf.data.Dataset.from_tensor_slices((x, y.astype("int64")))
    ds = ds.map(lambda image, label: (pipelines.normalise(image), label),
                num_parallel_calls=tf.data.AUTOTUNE).cache()
    ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size)
    aug = pipelines.augmenter(augment, x.shape[1:], seed)
    ds = ds.map(lambda images, label: (tf.clip_by_value(aug(images, training=True), 0.0, 1.0),
                                       label), num_parallel_calls=tf.data.AUTOTUNE)
    if num_classes:
        ds = ds.map(lambda images, label: (images, tf.one_hot(label, num_classes)))
    return ds.prefetch(tf.data.AUTOTUNE)


#: Steps of every timed fit left out of the figure: the pipeline fills its buffers.
WARMUP_STEPS = 3


def measure(model_name: str, splits, profile: str, steps: int | None, seconds: float,
            rounds: int, seed: int, reference: bool) -> dict[str, list[float]]:
    """Images/s of each configuration, one figure per round.

    Each figure times ``steps`` training steps, or (``steps=None``) as many as take about
    ``seconds`` at the compute-only speed.
    """
    import keras

    from cnnlabs import config, models, pipelines, recipes, training

    class Clock(keras.callbacks.Callback):
        """The seconds from the end of step ``WARMUP_STEPS`` to the end of the last step."""

        def __init__(self) -> None:
            super().__init__()
            self.start = self.end = self.cpu_start = self.cpu_end = 0.0

        def on_train_batch_end(self, batch, logs=None):
            self.end, self.cpu_end = time.perf_counter(), time.process_time()
            if batch == WARMUP_STEPS - 1:
                self.start, self.cpu_start = self.end, self.cpu_end

    recipe = recipes.recipe(model_name, profile, "cifar10")
    config.seed_everything(seed)
    one_hot = recipe.label_smoothing > 0
    data = {
        name: pipelines.build(splits, recipe.batch_size, profile, seed=seed,
                              augment=recipe.augment if name == "augmented" else (),
                              one_hot=one_hot, drop_remainder=recipe.drop_remainder)
        for name in ("augmented", "plain")
    }
    sources = {
        "augmented": data["augmented"].train.repeat(),
        "plain": data["plain"].train.repeat(),
        "compute": data["plain"].train.take(1).cache().repeat(),
    }
    if reference:
        train = data["plain"]
        x = train.x_train
        sources["keras_layers"] = keras_layer_pipeline(
            x, train.y_train, recipe.batch_size, recipe.augment, seed,
            splits.num_classes if one_hot else None).repeat()
    epoch = data["augmented"].epoch
    training.set_precision(recipe)  # as run.train: bfloat16 where a CPU recipe asks for it
    model = models.build(model_name, splits.input_shape, splits.num_classes)
    training.compile_model(model, recipe, data["plain"].steps_per_epoch, one_hot=one_hot)
    clock = Clock()
    model.fit(sources["compute"], steps_per_epoch=WARMUP_STEPS + 3, epochs=1, verbose=0,
              callbacks=[clock])  # traces and compiles; times 3 steps
    if steps is None:
        steps = max(5, math.ceil(seconds / ((clock.end - clock.start) / 3)))
    figures: dict[str, list[float]] = {name: [] for name in sources}
    figures.update({f"{name} per CPU s": [] for name in sources})
    for _ in range(rounds):
        for name, source in sources.items():
            if epoch is not None:
                epoch.assign_add(1)
            clock = Clock()
            model.fit(source, steps_per_epoch=WARMUP_STEPS + steps, epochs=1, verbose=0,
                      callbacks=[clock])
            figures[name].append(steps * recipe.batch_size / (clock.end - clock.start))
            figures[f"{name} per CPU s"].append(
                steps * recipe.batch_size / (clock.cpu_end - clock.cpu_start))
    keras.backend.clear_session()
    keras.config.set_dtype_policy("float32")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=["minivggnet"])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per figure")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="without --steps: time about this long per figure")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reference", action="store_true",
                        help="also time the Keras-layer augmentation for comparison")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cnnlabs import config, datasets

    splits = datasets.load("cifar10", args.profile, seed=args.seed)
    gpus = config.gpu_names()
    hardware = ", ".join(gpus) if gpus else f"{cpu_model()}, {os.cpu_count()} cores, no GPU"
    print(f"{hardware}; load average before: {os.getloadavg()[0]:.2f}; "
          f"{args.rounds} rounds of {args.steps or f'about {args.seconds:.0f} s'} per figure; "
          f"profile {args.profile}")
    header = ("| model | measured as | augmented | plain | compute | overhead (augmented) | "
              "overhead (plain) |" + (" keras layers |" if args.reference else ""))
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for name in args.models:
        figures = measure(name, splits, args.profile, args.steps, args.seconds, args.rounds,
                          args.seed, args.reference)
        median = {k: statistics.median(v) for k, v in figures.items()}
        for clock, suffix in (("img/s (wall clock)", ""), ("img per CPU second", " per CPU s")):
            aug, plain, compute = (median[k + suffix] for k in ("augmented", "plain", "compute"))
            row = (f"| {name} | {clock} | {aug:.0f} | {plain:.0f} | {compute:.0f} | "
                   f"{1 - aug / compute:.1%} | {1 - plain / compute:.1%} |")
            if args.reference:
                row += f" {median['keras_layers' + suffix]:.0f} |"
            print(row, flush=True)
        print("  rounds: " + "; ".join(f"{k} " + ", ".join(f"{v:.0f}" for v in vs)
                                       for k, vs in figures.items()), flush=True)
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
