"""Probes of the PneumoniaMNIST recipe: one change at a time, one seed, same evaluation.

These are the "tried on the way" rows of docs/experiments/pneumoniamnist.md: each run trains
``resnet_medmnist`` (28 px input; ``--model`` swaps in another library CNN) with
the library recipe for PneumoniaMNIST
plus one change, then evaluates exactly as ``cnnlabs train`` does (threshold
chosen on the official validation split, applied to the official test split).

Usage (from the repository root, with ``$DATA`` a filled data cache):

    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py standardize
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py upsample2 --epochs 15
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe --reg 5e-4
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe \\
        --augment crop,rotate,zoom,contrast,brightness
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe --ema 0.995
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe --mixup 0.2
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe --erase 0.5
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe --batch-size 32
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe --sam 0.05
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe --model lenet5
    CNNLABS_DATA_DIR=$DATA python benchmarks/pneumoniamnist_probes.py recipe \
        --model resnet_small --augment flip,crop --epochs 20 --no-class-weights

Probes:
    recipe       the library recipe, with the changes given (--reg, --augment, --ema,
                 --mixup, --erase, --batch-size, --sam, --label-smoothing,
                 --no-class-weights, --model; --augment none: no augmentation)
    standardize  a per-image standardisation layer (zero mean, unit variance) first
    upsample2    bilinear upsampling to 56 px inside the model (about 4x the compute)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PROBES = ("recipe", "standardize", "upsample2")
MODEL = "resnet_medmnist"  # the network of every probe unless --model names another


def _mixup(alpha: float, seed: int):
    """A ``Dataset.map`` mixing each batch with a shuffled copy of itself (one-hot labels)."""
    import tensorflow as tf

    gen = tf.random.Generator.from_seed(seed)

    def mix(images, labels):
        n = tf.shape(images)[0]
        seeds = gen.make_seeds(2)
        g1 = tf.random.stateless_gamma([n], seed=seeds[:, 0], alpha=alpha)
        g2 = tf.random.stateless_gamma([n], seed=seeds[:, 1], alpha=alpha)
        lam = g1 / (g1 + g2)
        order = tf.argsort(gen.uniform([n]))
        lam_x = tf.reshape(lam, [-1, 1, 1, 1])
        lam_y = tf.reshape(lam, [-1, 1])
        images = lam_x * images + (1.0 - lam_x) * tf.gather(images, order)
        labels = lam_y * labels + (1.0 - lam_y) * tf.gather(labels, order)
        return images, labels

    return mix


def _random_erase(probability: float, seed: int):
    """A ``Dataset.map`` erasing one random rectangle per image with ``probability``.

    Random erasing (Zhong et al. 2020): the rectangle covers 2-25% of the image,
    with an aspect ratio between 0.3 and 3.3, and is filled with uniform noise in
    [0, 1]. It works on batches of shape (n, height, width, channels).

    Not ``keras.layers.RandomErasing``: that layer draws each image's probability
    from [0, factor] and fills with normal noise, so it does not apply the paper's
    setting that the probe measured.
    """
    import tensorflow as tf

    gen = tf.random.Generator.from_seed(seed)

    def erase(images, labels):
        shape = tf.shape(images)
        n, height, width = shape[0], shape[1], shape[2]
        h_f, w_f = tf.cast(height, tf.float32), tf.cast(width, tf.float32)
        area = gen.uniform([n], 0.02, 0.25) * h_f * w_f
        aspect = tf.exp(gen.uniform([n], tf.math.log(0.3), tf.math.log(3.3)))
        eh = tf.minimum(tf.round(tf.sqrt(area * aspect)), h_f)
        ew = tf.minimum(tf.round(tf.sqrt(area / aspect)), w_f)
        top = tf.floor(gen.uniform([n]) * (h_f - eh + 1.0))
        left = tf.floor(gen.uniform([n]) * (w_f - ew + 1.0))
        rows = tf.cast(tf.range(height), tf.float32)[None, :]
        cols = tf.cast(tf.range(width), tf.float32)[None, :]
        in_rows = (rows >= top[:, None]) & (rows < (top + eh)[:, None])
        in_cols = (cols >= left[:, None]) & (cols < (left + ew)[:, None])
        chosen = gen.uniform([n]) < probability
        mask = in_rows[:, :, None] & in_cols[:, None, :] & chosen[:, None, None]
        mask = tf.cast(mask[..., None], images.dtype)
        noise = gen.uniform(tf.shape(images), dtype=images.dtype)
        return images * (1.0 - mask) + noise * mask, labels

    return erase


def _sam_model(model, rho: float):
    """``model`` rebuilt as a functional model whose ``train_step`` is sharpness-aware (SAM).

    Foret et al. (2021): step to the worst nearby weights (a gradient step of
    norm ``rho``), take the gradient there, and apply it at the original weights.
    Each step costs two forward and backward passes.
    """
    import keras
    import tensorflow as tf

    @keras.saving.register_keras_serializable(package="probes")
    class SAM(keras.Model):
        def train_step(self, data):
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            variables = self.trainable_variables
            with tf.GradientTape() as tape:
                loss = self.compute_loss(x=x, y=y, y_pred=self(x, training=True),
                                         sample_weight=sample_weight, training=True)
            grads = tape.gradient(loss, variables)
            scale = rho / (tf.linalg.global_norm(grads) + 1e-12)
            steps = [g * scale for g in grads]
            for v, e in zip(variables, steps, strict=True):
                v.assign_add(e)
            with tf.GradientTape() as tape:
                y_pred = self(x, training=True)
                sharp_loss = self.compute_loss(x=x, y=y, y_pred=y_pred,
                                               sample_weight=sample_weight, training=True)
            grads = tape.gradient(sharp_loss, variables)
            for v, e in zip(variables, steps, strict=True):
                v.assign_sub(e)
            self.optimizer.apply(grads, variables)
            for metric in self.metrics:  # the loss at the weights themselves, as Keras logs it
                if metric.name == "loss":
                    metric.update_state(loss, sample_weight=tf.shape(x)[0])
            return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    return SAM(model.inputs, model.outputs, name=f"sam_{model.name}")


def _ema_optimizer(momentum: float):
    """An optimizer factory for ``run.train``: the recipe's optimizer with weight EMA on.

    Keras copies the averaged weights into the model when ``fit`` ends, so the
    evaluation sees the EMA weights.
    """
    from cnnlabs import training

    def make(recipe, steps_per_epoch):
        opt = training.make_optimizer(recipe, steps_per_epoch)
        return type(opt).from_config({**opt.get_config(), "use_ema": True,
                                      "ema_momentum": momentum})

    return make


def _one_hot(data):
    """The pipelines with one-hot labels (mixup mixes labels as well as images)."""
    import tensorflow as tf

    classes = len(data.class_names)

    def encode(ds):
        return ds.map(lambda x, y: (x, tf.one_hot(y, classes)))

    return replace(data, train=encode(data.train), val=encode(data.val), test=encode(data.test),
                   one_hot=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("probe", choices=PROBES)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--model", default=MODEL,
                        help=f"a models.build name, trained with {MODEL}'s recipe")
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--reg", type=float, default=None, help="L2 factor of the conv layers")
    parser.add_argument("--augment", default=None, help="comma-separated AUGMENTATIONS names")
    parser.add_argument("--ema", type=float, default=None,
                        help="evaluate an exponential moving average of the weights (momentum)")
    parser.add_argument("--mixup", type=float, default=None,
                        help="mixup within each training batch, Beta(alpha, alpha) per sample")
    parser.add_argument("--erase", type=float, default=None,
                        help="random erasing of one rectangle per image with this probability")
    parser.add_argument("--batch-size", type=int, default=None, help="instead of the recipe's")
    parser.add_argument("--sam", type=float, default=None,
                        help="sharpness-aware minimisation with this neighbourhood radius rho")
    parser.add_argument("--label-smoothing", type=float, default=None,
                        help="share of the target mass spread over both classes")
    parser.add_argument("--no-class-weights", action="store_true",
                        help="weigh every training image equally")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import keras
    from medical import hardware

    from cnnlabs import config, models, run

    changes = {}
    if args.augment is not None:  # "" (or "none"): no augmentation
        changes["augment"] = tuple(n for n in args.augment.split(",") if n and n != "none")
    if args.label_smoothing is not None:
        changes["label_smoothing"] = args.label_smoothing
    if args.no_class_weights:
        changes["balance_classes"] = False

    def prepare(data):
        if args.mixup is not None and not data.one_hot:
            data = _one_hot(data)
        if args.mixup is not None:
            data = replace(data, train=data.train.map(_mixup(args.mixup, args.seed)))
        if args.erase is not None:
            data = replace(data, train=data.train.map(_random_erase(args.erase, args.seed)))
        return data

    def build(shape, classes):
        scale = 2 if args.probe == "upsample2" else 1
        inner = (shape[0] * scale, shape[1] * scale, shape[2])
        kwargs = {"l2": args.reg} if args.reg is not None else {}
        model = models.build(args.model, inner, classes, **kwargs)
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
        return _sam_model(model, args.sam) if args.sam is not None else model

    # The recipe is the one of MODEL on PneumoniaMNIST, whatever network --model builds.
    result = run.train(
        MODEL, "pneumoniamnist", profile="cpu", seed=args.seed, epochs=args.epochs,
        batch_size=args.batch_size, overrides=changes, build_model=build, prepare_data=prepare,
        optimizer=_ema_optimizer(args.ema) if args.ema is not None else None, plot=False,
        out=config.new_run_dir(f"probe-{args.probe}-{args.model}-pneumoniamnist-s{args.seed}"))
    report, r = result.report, result.recipe
    e = report.extra
    changes = ", ".join(f"{k} {v}" for k, v in (("reg", args.reg), ("augment", args.augment),
                                                 ("ema", args.ema), ("mixup", args.mixup),
                                                 ("erase", args.erase),
                                                 ("batch size", args.batch_size),
                                                 ("sam", args.sam),
                                                 ("label smoothing", args.label_smoothing),
                                                 ("class weights",
                                                  "off" if args.no_class_weights else None),
                                                 ("model", None if args.model == MODEL
                                                  else args.model))
                        if v is not None)
    print(f"\nprobe {args.probe}{' (' + changes + ')' if changes else ''}, seed {args.seed}, "
          f"{r.epochs} epochs, {hardware()}")
    print(f"| ACC (val threshold) {report.accuracy:.4f} | ACC at 0.5 {e['accuracy_at_0.5']:.4f} | "
          f"AUC {e['auc']:.4f} | threshold {e['threshold']:.3f} | {result.seconds:.0f} s |")
    print(json.dumps({"probe": args.probe, "changes": changes, "seed": args.seed,
                      "epochs": r.epochs,
                      "accuracy": report.accuracy, "auc": e["auc"],
                      "accuracy_at_0.5": e["accuracy_at_0.5"], "threshold": e["threshold"]}))


if __name__ == "__main__":
    main()
