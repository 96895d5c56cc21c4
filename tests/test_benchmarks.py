"""The pure helpers of the benchmark scripts (their training runs are not tests)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import medical  # noqa: E402


def test_hindsight_accuracy_is_the_best_single_threshold():
    y = [0, 0, 1, 1, 1]
    scores = [0.1, 0.6, 0.4, 0.7, 0.9]
    # thresholds 0.1 / 0.4 / 0.6 / 0.7 / 0.9 give 3/5, 4/5, 3/5, 4/5, 3/5 correct
    assert medical.hindsight_accuracy(y, scores) == pytest.approx(0.8)


def test_hindsight_accuracy_bounds_every_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    scores = np.clip(0.3 * y + rng.normal(0.35, 0.2, 200), 0, 1)
    best = medical.hindsight_accuracy(y, scores)
    for t in (0.2, 0.5, 0.8):
        assert best >= ((scores >= t) == y).mean()
    assert medical.hindsight_accuracy(y, np.where(y == 1, 0.9, 0.1)) == 1.0
