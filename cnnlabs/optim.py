"""Schedules and optimizers beyond Keras' own: one-cycle, triangle, SGD as PyTorch defines it.

:class:`OneCycle` is Smith's one-cycle learning rate; :class:`Triangle` airbench's
linear warm-up and decay. :class:`CoupledSGD` is the optimizer of the ``airbench94`` recipe
(``recipes.RECIPES["airbench94"]``, ``optimizer="sgd_l2"``). Three things set it
apart from ``keras.optimizers.SGD``:

- weight decay is an L2 term added to the gradient, so it passes through momentum
  (``torch.optim.SGD``'s ``weight_decay``), where Keras' is decoupled;
- each variable can have its own learning-rate multiplier, chosen by a pattern on
  its path (airbench trains the BatchNorm biases 64 times faster), and can be frozen
  after a number of steps (the whitening bias, after 3 epochs);
- lookahead: every few steps after a start, an exponential moving average of the
  weights is updated and copied back into the model, and at the end of every epoch
  the model takes the average's values. The average's decay rises over the run,
  ``decay**every * (step / total_steps)**power``: it follows the weights closely at
  first and averages strongly at the end. The averages are optimizer variables, so
  a backup keeps them and a resumed run goes on exactly.

``training`` builds them from a recipe (``learning_rate_schedule``, ``make_optimizer``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="cnnlabs")
class OneCycle(keras.optimizers.schedules.LearningRateSchedule):
    """Smith's one-cycle learning rate: up, then down far below the start.

    The rate rises linearly from ``peak / div_factor`` to ``peak`` over the first
    ``warmup_share`` of the steps, then falls along a cosine to
    ``peak / (div_factor * final_div_factor)`` at ``total_steps``, and stays there.
    (L. N. Smith and N. Topin, "Super-convergence", 2017.)
    """

    def __init__(self, peak: float, total_steps: int, warmup_share: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4) -> None:
        if total_steps < 2 or not 0.0 < warmup_share < 1.0:
            raise ValueError("OneCycle needs total_steps >= 2 and 0 < warmup_share < 1.")
        self.peak = float(peak)
        self.total_steps = int(total_steps)
        self.warmup_share = float(warmup_share)
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)

    def __call__(self, step: Any) -> Any:
        ops = keras.ops
        step = ops.cast(step, "float32")
        start = self.peak / self.div_factor
        end = start / self.final_div_factor
        up_steps = max(1.0, round(self.total_steps * self.warmup_share))
        down_steps = max(1.0, self.total_steps - up_steps)
        rising = start + (self.peak - start) * ops.minimum(step / up_steps, 1.0)
        progress = ops.clip((step - up_steps) / down_steps, 0.0, 1.0)
        falling = end + (self.peak - end) * 0.5 * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < up_steps, rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "total_steps": self.total_steps,
                "warmup_share": self.warmup_share, "div_factor": self.div_factor,
                "final_div_factor": self.final_div_factor}


@keras.saving.register_keras_serializable(package="cnnlabs")
class Triangle(keras.optimizers.schedules.LearningRateSchedule):
    """airbench's learning rate: linearly up to the peak, then linearly down.

    The rate rises from ``peak * start_ratio`` at step 0 to ``peak`` at step
    ``int(peak_share * total_steps)``, then falls to ``peak * end_ratio`` at
    ``total_steps``, and stays there.
    """

    def __init__(self, peak: float, total_steps: int, peak_share: float = 0.23,
                 start_ratio: float = 0.2, end_ratio: float = 0.07) -> None:
        if total_steps < 1 or not 0.0 <= peak_share < 1.0:
            raise ValueError("Triangle needs total_steps >= 1 and 0 <= peak_share < 1.")
        self.peak, self.total_steps = float(peak), int(total_steps)
        self.peak_share = float(peak_share)
        self.start_ratio, self.end_ratio = float(start_ratio), float(end_ratio)

    def __call__(self, step: Any) -> Any:
        step = ops.minimum(ops.cast(step, "float32"), float(self.total_steps))
        top = float(int(self.peak_share * self.total_steps))
        rising = self.start_ratio + (1.0 - self.start_ratio) * step / max(top, 1.0)
        falling = 1.0 + (self.end_ratio - 1.0) * (step - top) / max(self.total_steps - top, 1.0)
        return self.peak * ops.where(step < top, rising, falling)

    def get_config(self) -> dict[str, Any]:
        return {"peak": self.peak, "total_steps": self.total_steps,
                "peak_share": self.peak_share, "start_ratio": self.start_ratio,
                "end_ratio": self.end_ratio}


@keras.saving.register_keras_serializable(package="cnnlabs")
class CoupledSGD(keras.optimizers.Optimizer):
    """Nesterov SGD with coupled weight decay, learning-rate multipliers, freezing, lookahead.

    The update of a variable ``w`` with multiplier ``m`` (``m = 1`` unless a pattern
    matches), at learning rate ``lr``, is PyTorch's::

        g = gradient + (l2 / m) * w         # the decay of w per step does not depend on m
        buffer = momentum * buffer + g
        w -= lr * m * (g + momentum * buffer)     # Nesterov; plain momentum: buffer

    Args:
        learning_rate: a float or a ``LearningRateSchedule``.
        momentum: the momentum, in [0, 1).
        nesterov: Nesterov momentum.
        l2: the L2 coefficient added to the gradient (coupled weight decay).
        lr_multipliers: ``(pattern, multiplier)`` pairs: a variable whose path
            (``"block1_bn1/beta"``) matches ``re.search(pattern)`` trains with the
            multiplier of the first matching pair.
        freeze_after: ``(pattern, steps)`` pairs: a matching variable is updated for
            its first ``steps`` optimizer steps only (no gradient, decay or momentum
            after that).
        lookahead_every: update the moving average every this many steps (0: no
            lookahead).
        lookahead_start: the first step (0-based) that may update the average.
        lookahead_decay: the per-step decay the average tends to.
        lookahead_power: how fast the decay rises over the run.
        total_steps: the steps of the whole run (needed by lookahead).
        epoch_steps: the steps of one epoch; at each epoch end the model takes the
            average's values (``None``: never).

    Raises:
        ValueError: for a momentum outside [0, 1), a negative ``l2``, a multiplier of
            0 or less, a pattern that is not a regular expression, or lookahead
            without ``total_steps``.
    """

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.9, nesterov: bool = True,
                 l2: float = 0.0, lr_multipliers: Sequence[Sequence[Any]] = (),
                 freeze_after: Sequence[Sequence[Any]] = (), lookahead_every: int = 0,
                 lookahead_start: int = 0, lookahead_decay: float = 0.95,
                 lookahead_power: float = 3.0, total_steps: int | None = None,
                 epoch_steps: int | None = None, name: str = "coupled_sgd",
                 **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1); got {momentum}.")
        if l2 < 0:
            raise ValueError(f"l2 must be 0 or more; got {l2}.")
        self.momentum, self.nesterov, self.l2 = float(momentum), bool(nesterov), float(l2)
        self.lr_multipliers = [(str(p), float(m)) for p, m in lr_multipliers]
        self.freeze_after = [(str(p), int(s)) for p, s in freeze_after]
        for pattern in [p for p, _ in [*self.lr_multipliers, *self.freeze_after]]:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}.") from None
        if any(m <= 0 for _, m in self.lr_multipliers):
            raise ValueError(f"learning-rate multipliers must be above 0; got "
                             f"{self.lr_multipliers} (freeze a variable with freeze_after).")
        self.lookahead_every, self.lookahead_start = int(lookahead_every), int(lookahead_start)
        self.lookahead_decay, self.lookahead_power = float(lookahead_decay), float(lookahead_power)
        if self.lookahead_every and not total_steps:
            raise ValueError("lookahead needs total_steps, the steps of the whole run.")
        self.total_steps = None if total_steps is None else int(total_steps)
        self.epoch_steps = None if epoch_steps is None else int(epoch_steps)
        self._also_averaged: list[Any] = []

    def average_also(self, variables: Sequence[Any]) -> None:
        """Average these variables too (e.g. BatchNorm moving statistics); before ``build``.

        PyTorch's lookahead averages the whole ``state_dict``, which holds the
        BatchNorm running statistics as well as the weights.
        """
        if self.built:
            raise ValueError("average_also must come before the optimizer is built.")
        self._also_averaged = [v for v in variables if "float" in str(v.dtype)]

    def _first(self, pairs: list[tuple[str, Any]], path: str, default: Any) -> Any:
        return next((value for pattern, value in pairs if re.search(pattern, path)), default)

    def build(self, variables: Sequence[Any]) -> None:
        if self.built:
            return
        super().build(variables)
        self.multipliers = [self._first(self.lr_multipliers, v.path, 1.0) for v in variables]
        self.freeze_steps = [self._first(self.freeze_after, v.path, None) for v in variables]
        self.momentums = self.add_optimizer_variables(variables, "momentum")
        self.averaged = list(variables) + self._also_averaged
        self.averages = []
        if self.lookahead_every:
            self.averages = [self.add_variable_from_reference(v, name="average")
                             for v in self.averaged]

    def update_step(self, gradient: Any, variable: Any, learning_rate: Any) -> None:
        index = self._get_variable_index(variable)
        multiplier, freeze = self.multipliers[index], self.freeze_steps[index]
        buffer = self.momentums[index]
        dtype = variable.dtype
        gradient = ops.cast(gradient, dtype)
        if self.l2:
            gradient = gradient + ops.cast(self.l2 / multiplier, dtype) * variable
        momentum = ops.cast(self.momentum, dtype)
        new_buffer = momentum * buffer + gradient
        step = gradient + momentum * new_buffer if self.nesterov else new_buffer
        new_variable = variable - ops.cast(learning_rate, dtype) * multiplier * step
        if freeze is not None:
            active = ops.less(self.iterations, freeze)
            new_buffer = ops.where(active, new_buffer, buffer)
            new_variable = ops.where(active, new_variable, variable)
        self.assign(buffer, new_buffer)
        self.assign(variable, new_variable)

    def first_lookahead_step(self) -> int:
        """The step count (1-based) at which the moving average starts, as a copy."""
        every = self.lookahead_every
        return math.ceil((self.lookahead_start + 1) / every) * every

    def lookahead_rho(self, steps: Any) -> Any:
        """The decay of the average at the update after ``steps`` steps (1-based)."""
        progress = ops.cast(steps, "float32") / float(self.total_steps)
        return (self.lookahead_decay ** self.lookahead_every) * progress ** self.lookahead_power

    def apply(self, grads: Sequence[Any], trainable_variables: Sequence[Any] | None = None
              ) -> None:
        super().apply(grads, trainable_variables)
        if self.lookahead_every and self.averages:
            self._lookahead()

    def _lookahead(self) -> None:
        steps = self.iterations  # after this step's update: the steps done
        first = self.first_lookahead_step()
        due = ops.logical_and(ops.equal(steps % self.lookahead_every, 0),
                              ops.greater_equal(steps, first))
        start = ops.equal(steps, first)
        blend = ops.logical_and(due, ops.logical_not(start))
        copy_back = blend
        if self.epoch_steps:
            epoch_end = ops.logical_and(ops.equal(steps % self.epoch_steps, 0),
                                        ops.greater_equal(steps, first))
            copy_back = ops.logical_or(blend, epoch_end)
        rho = self.lookahead_rho(steps)
        for variable, average in zip(self.averaged, self.averages, strict=True):
            value = ops.cast(variable, average.dtype)
            mixed = ops.cast(rho, average.dtype) * average + (1 - ops.cast(rho, average.dtype)
                                                             ) * value
            new_average = ops.where(start, value, ops.where(blend, mixed, average))
            self.assign(average, new_average)
            self.assign(variable, ops.where(copy_back, ops.cast(new_average, variable.dtype),
                                            variable))

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update({
            "momentum": self.momentum, "nesterov": self.nesterov, "l2": self.l2,
            "lr_multipliers": [list(p) for p in self.lr_multipliers],
            "freeze_after": [list(p) for p in self.freeze_after],
            "lookahead_every": self.lookahead_every, "lookahead_start": self.lookahead_start,
            "lookahead_decay": self.lookahead_decay, "lookahead_power": self.lookahead_power,
            "total_steps": self.total_steps, "epoch_steps": self.epoch_steps,
        })
        return config
