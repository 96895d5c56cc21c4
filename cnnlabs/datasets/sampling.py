"""Sample caps: which samples of a split to keep, as indices into its labels.

A profile caps the training and test splits (``train_samples``, ``test_samples``).
:class:`Cap` turns that cap into indices (stratified by class, seeded) and a
note; :func:`cnnlabs.datasets.cache.apply_cap` applies those indices to arrays
or to file lists, so a file-based dataset is capped before anything is decoded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cnnlabs.config import Profile

#: The capped splits, with the seed stream and the word used in notes.
CAPPED_SPLITS = (("train", 0, "training"), ("test", 1, "test"))


def stratified_indices(
    labels: np.ndarray, n: int | None, rng: np.random.Generator | int = 0
) -> np.ndarray:
    """Indices of a class-stratified random sample of ``n`` of ``labels``.

    Each class gets its proportional share of ``n`` (rounded by largest
    remainder, so the total is exactly ``n``); the members of each class are
    drawn at random without replacement, and the result is shuffled. ``n`` of
    ``None``, or at least ``len(labels)``, selects everything in the original
    order. Deterministic for a given seed.

    Raises:
        ValueError: ``n`` is negative.
    """
    labels = np.asarray(labels)
    total = len(labels)
    if n is None or n >= total:
        return np.arange(total)
    if n < 0:
        raise ValueError(f"Cannot take {n} samples.")
    generator = np.random.default_rng(rng)
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    exact = counts * (n / total)
    quotas = np.floor(exact).astype(np.int64)
    leftover = n - int(quotas.sum())
    # Largest remainders first; a stable sort breaks ties by class index.
    quotas[np.argsort(quotas - exact, kind="stable")[:leftover]] += 1
    chosen = [
        generator.choice(np.flatnonzero(inverse == k), size=int(q), replace=False)
        for k, q in enumerate(quotas)
    ]
    return generator.permutation(np.concatenate(chosen))


@dataclass(frozen=True)
class Cap:
    """How many training and test samples one load keeps, and how they are drawn.

    Attributes:
        train: the cap on the training split (``None``: all of it).
        test: the cap on the test split (``None``: all of it).
        seed: seeds the draw; each split has its own stream (``[seed, 0]`` for
            train, ``[seed, 1]`` for test), so the same seed keeps the same samples.
        reason: why the cap applies, for the notes (``"profile smoke"``).
    """

    train: int | None
    test: int | None
    seed: int = 0
    reason: str = ""

    @classmethod
    def of(cls, profile: Profile | None, seed: int = 0) -> Cap:
        """The cap of ``profile`` (``None``: no cap at all), drawn with ``seed``."""
        if profile is None:
            return cls(None, None, seed)
        return cls(profile.train_samples, profile.test_samples, seed, f"profile {profile.name}")

    def choose(
        self, split: str, labels: np.ndarray, *, shuffle: bool = False
    ) -> tuple[np.ndarray | None, str | None]:
        """The indices to keep of ``split``, whose labels are ``labels``, and the note saying so.

        Class-index labels are sampled with :func:`stratified_indices`; multi-hot
        labels (ChestMNIST) by a seeded random choice, since stratifying them is
        not defined. A split within its cap is kept whole: ``(None, None)``, or,
        with ``shuffle``, a seeded permutation of it and no note.
        """
        stream, word = {name: (s, w) for name, s, w in CAPPED_SPLITS}[split]
        n = self.train if split == "train" else self.test
        labels = np.asarray(labels)
        total = len(labels)
        rng = np.random.default_rng([self.seed, stream])
        if n is None or n >= total:
            return (rng.permutation(total), None) if shuffle else (None, None)
        if labels.ndim > 1:
            keep = rng.choice(total, size=n, replace=False)
            detail = f"; {self.reason}" if self.reason else ""
            how = f" at random (multi-label, not stratified{detail})"
        else:
            keep = stratified_indices(labels, n, rng)
            how = f" ({self.reason})" if self.reason else ""
        return keep, f"subsampled to {n} of {total} {word} images{how}"


def grouped_holdout(
    labels: np.ndarray, groups: Sequence[str], fraction: float, seed: int = 0
) -> np.ndarray:
    """A mask of the samples to hold out: stratified by class, whole groups only.

    The samples of one group (say, one patient) all land on the same side. A
    group with samples of several classes counts for the class most of them
    have (the lower class index on a tie). Within each class, groups are
    shuffled (seeded) and held out until the class's held-out share of
    *samples* is as close to ``fraction`` as whole groups allow; each class
    keeps at least one group. Same labels, groups and seed, same mask.

    Raises:
        ValueError: ``fraction`` is not in ``[0, 1)``.
    """
    if not 0.0 <= float(fraction) < 1.0:
        raise ValueError(f"val_fraction must be in [0, 1); got {fraction}.")
    members: dict[str, list[int]] = {}
    for i, group in enumerate(groups):
        members.setdefault(group, []).append(i)
    by_class: dict[int, list[str]] = {}
    for group, indices in members.items():
        votes = Counter(int(labels[i]) for i in indices)
        label = min(votes, key=lambda k: (-votes[k], k))
        by_class.setdefault(label, []).append(group)

    held = np.zeros(len(groups), dtype=bool)
    for label in sorted(by_class):
        keys = sorted(by_class[label])
        keys = [keys[i] for i in np.random.default_rng([seed, label]).permutation(len(keys))]
        sizes = [len(members[k]) for k in keys]
        target = float(fraction) * sum(sizes)
        taken, chosen = 0, []
        for k, size in zip(keys, sizes, strict=True):
            if taken + size <= target + 1e-9 and len(chosen) < len(keys) - 1:
                chosen.append(k)
                taken += size
        # One more group if that brings the share closer to the target.
        picked = set(chosen)
        rest = [(size, k) for k, size in zip(keys, sizes, strict=True) if k not in picked]
        if len(rest) > 1:
            size, k = min(rest, key=lambda item: abs(taken + item[0] - target))
            if abs(taken + size - target) < abs(taken - target):
                chosen.append(k)
        for k in chosen:
            held[members[k]] = True
    return held


__all__ = ["CAPPED_SPLITS", "Cap", "grouped_holdout", "stratified_indices"]
