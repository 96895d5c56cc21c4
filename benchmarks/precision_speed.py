"""Training steps/s of each CIFAR-10 model in float32, and in mixed precision with XLA.

Usage (from the repository root, on a GPU machine):

    python benchmarks/precision_speed.py [MODEL ...] [--steps 50] [--budget 120]

and on a CPU with bfloat16 instructions (AVX512_BF16 or AMX), without XLA:

    python benchmarks/precision_speed.py airbench94 --policy mixed_bfloat16 --no-xla --steps 10

For each model (default: one of each CIFAR family) it builds the network as
``cnnlabs train`` does for its ``full`` recipe (batch size, optimizer, loss) and times
the same training step twice in one process: in float32 without XLA, then under the
``mixed_float16`` policy (``--policy``) with ``jit_compile=True`` (``--no-xla``:
without). The data is one random batch held in memory and repeated, so the figures
are the model's compute alone. It prints one row per model as soon as it is
measured: steps/s and images/s of both, and their ratio. ``--budget`` (seconds)
stops starting new models once it is spent. Nothing is asserted: speed is
recorded, not tested.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import time

from train_row import cpu_model

#: One model of each CIFAR-10 family (the gpu_full.sh ones first).
CIFAR_MODELS = ("airbench94", "minivggnet", "alexnet_cifar", "minigooglenet", "resnet_cifar",
                "shallownet", "resnet20", "plain20", "densenet_mini", "vgg16")
#: Steps before the clock starts: tracing, compiling and autotuning.
WARMUP_STEPS = 5


def steps_per_second(name: str, policy: str, jit: bool, steps: int) -> tuple[float, int]:
    """Training steps/s of ``name`` under ``policy`` (with XLA when ``jit``), and the batch size."""
    import keras
    import numpy as np
    import tensorflow as tf

    from cnnlabs import models, recipes, training

    keras.backend.clear_session()
    keras.config.set_dtype_policy(policy)
    try:
        recipe = dataclasses.replace(recipes.recipe(name, "full", "cifar10"), jit_compile=jit)
        model = models.build(name, (32, 32, 3), 10)
        one_hot = recipe.label_smoothing > 0
        training.compile_model(model, recipe, steps_per_epoch=50, one_hot=one_hot)
        rng = np.random.default_rng(0)
        x = rng.random((recipe.batch_size, 32, 32, 3), dtype=np.float32)
        y = rng.integers(0, 10, recipe.batch_size)
        labels = np.eye(10, dtype="float32")[y] if one_hot else y
        batch = tf.data.Dataset.from_tensors((x, labels)).repeat()
        times: list[float] = []
        clock = keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: times.append(time.perf_counter()))
        model.fit(batch, steps_per_epoch=WARMUP_STEPS + steps, epochs=1, verbose=0,
                  callbacks=[clock])
        return steps / (times[-1] - times[WARMUP_STEPS - 1]), recipe.batch_size
    finally:
        keras.config.set_dtype_policy("float32")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", default=list(CIFAR_MODELS))
    parser.add_argument("--steps", type=int, default=50, help="timed steps per figure")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds after which no new model is started")
    parser.add_argument("--policy", default="mixed_float16",
                        help="the dtype policy compared with float32 (mixed_bfloat16 on a CPU)")
    parser.add_argument("--no-xla", dest="xla", action="store_false",
                        help="compile the compared step without XLA")
    args = parser.parse_args()
    fast_name = args.policy + (" + XLA" if args.xla else "")

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from cnnlabs import config

    gpus = config.gpu_names()
    hardware = ", ".join(gpus) if gpus else f"{cpu_model()}, {os.cpu_count()} cores, no GPU"
    print(f"float32 vs {fast_name}, training steps/s, {args.steps} timed steps; "
          f"{hardware}", flush=True)
    print(f"| model | batch | float32 steps/s | {fast_name} steps/s | ratio | float32 img/s | "
          f"{fast_name} img/s |", flush=True)
    print("|---|---|---|---|---|---|---|", flush=True)
    start = time.perf_counter()
    for name in args.models:
        if args.budget is not None and time.perf_counter() - start > args.budget:
            print(f"| {name} | not measured: the {args.budget:.0f} s budget is spent |",
                  flush=True)
            continue
        try:
            plain, batch = steps_per_second(name, "float32", False, args.steps)
            fast, _ = steps_per_second(name, args.policy, args.xla, args.steps)
        except Exception as exc:  # one model's failure must not hide the others' rows
            print(f"| {name} | FAILED: {type(exc).__name__}: {str(exc)[:200]} |", flush=True)
            continue
        print(f"| {name} | {batch} | {plain:.3g} | {fast:.3g} | {fast / plain:.2f} | "
              f"{plain * batch:.0f} | {fast * batch:.0f} |", flush=True)


if __name__ == "__main__":
    main()
