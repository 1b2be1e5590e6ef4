"""How the learning rate should move with the batch size, and how to read that off measurements.

Two rules say how to rescale a rate that worked at `base_batch_size` for a new batch size:

- the linear scaling rule (Goyal et al., "Accurate, Large Minibatch SGD: Training ImageNet in 1
  Hour", 2017): multiply the rate by `batch_size / base_batch_size`, with a gradual warmup over
  the first steps, since the scaled rate is too large while the weights change fast;
- the square-root rule (Krizhevsky, "One weird trick for parallelizing convolutional neural
  networks", 2014; Hoffer et al. 2017): multiply by `sqrt(batch_size / base_batch_size)`, which
  keeps the variance of each step's noise the same.

Both are power laws, `rate = base_rate * (batch_size / base_batch_size) ** exponent` with exponent
1 or 1/2, so measured best rates say which one they follow through `scaling_exponent`: the slope
of log(rate) against log(batch size). `best_rate` reads a grid's best rate between its grid points;
`LinearWarmup` ramps the rate up as a callback, changing the optimizer's rate variable, so a model
compiled once keeps its traced training step (a warmup schedule is traced into it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from helpers.finetune import restarts, validation

RULES = {"linear": 1.0, "square root": 0.5}  # the exponent of each rule


def scaled_learning_rate(
    base_learning_rate: float, base_batch_size: int, batch_size: int, rule: str = "linear"
) -> float:
    """Rescales a learning rate found at one batch size for another, by a scaling rule.

    Args:
        base_learning_rate: float > 0, the rate that works at `base_batch_size`.
        base_batch_size: int >= 1, the batch size it was found at.
        batch_size: int >= 1, the new batch size (with several replicas: the global batch,
            per-replica batch times replicas).
        rule: `"linear"` (times `batch_size / base_batch_size`) or `"square root"` (times its
            square root). Defaults to `"linear"`.

    Returns:
        float, the rescaled rate.

    Raises:
        ValueError: naming the argument, for a value out of range or an unknown rule.

    Example:

    >>> scaled_learning_rate(1e-3, 32, 128)
    0.004
    >>> scaled_learning_rate(1e-3, 32, 128, rule="square root")
    0.002
    """
    base_learning_rate = validation.check_positive_number("base_learning_rate", base_learning_rate)
    base_batch_size = validation.check_int("base_batch_size", base_batch_size, minimum=1)
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    exponent = RULES[validation.check_choice("rule", rule, tuple(RULES))]
    return base_learning_rate * (batch_size / base_batch_size) ** exponent


def scaling_exponent(batch_sizes: Sequence[int], learning_rates: Sequence[float]) -> float:
    """The slope of log(learning rate) against log(batch size), by least squares.

    1 means the rates follow the linear rule, 0.5 the square-root rule, 0 that the best rate does
    not depend on the batch size.

    Args:
        batch_sizes: sequence of at least two distinct ints >= 1.
        learning_rates: sequence of floats > 0, one per batch size (e.g. the best rate at each).

    Returns:
        float, the exponent of the fitted power law.

    Raises:
        ValueError: naming the argument, for lengths that differ, fewer than two distinct batch
            sizes, or values out of range.

    Example:

    >>> round(scaling_exponent([8, 32, 128], [1e-3, 4e-3, 1.6e-2]), 6)
    1.0
    >>> round(scaling_exponent([8, 32, 128], [1e-3, 2e-3, 4e-3]), 6)
    0.5
    """
    sizes, rates = _rates_by_batch_size(batch_sizes, learning_rates)
    if len(set(sizes)) < 2:
        raise ValueError(
            f"batch_sizes must hold at least two different sizes. Received: batch_sizes={sizes}"
        )
    slope, _ = np.polyfit(np.log(sizes), np.log(rates), 1)
    return float(slope)


def best_rate(learning_rates: Sequence[float], losses: Sequence[float]) -> float:
    """The rate of lowest loss on a grid, placed between grid points by a parabola.

    A parabola in log(rate) through the lowest loss and its two neighbours puts the best rate
    between grid points, so a grid spaced by factors of 2 still resolves exponents like 0.5; the
    estimate stays nearer the grid's best rate than either neighbour. At either end of the grid,
    or beside a diverged run, the grid's best rate is returned as it is. Non-finite losses
    (diverged runs) count as the worst.

    Args:
        learning_rates: sequence of at least two distinct floats > 0, in increasing order.
        losses: sequence of floats (NaN or inf for a diverged run), one per rate, not all
            non-finite.

    Returns:
        float, the estimated best rate, within the grid's range.

    Raises:
        ValueError: naming the argument, for rates not increasing, lengths that differ, or no
            finite loss.

    Example:

    >>> rates = [1e-4, 2e-4, 4e-4, 8e-4]
    >>> losses = [(math.log2(rate / 3e-4)) ** 2 for rate in rates]  # lowest at 3e-4
    >>> round(best_rate(rates, losses), 10)
    0.0003
    >>> best_rate(rates, [0.5, 0.4, 0.3, float("nan")])  # at the edge of the finite runs
    0.0004
    """
    rates = validation.check_learning_rates("learning_rates", learning_rates)
    increasing = all(earlier < later for earlier, later in zip(rates, rates[1:], strict=False))
    if len(rates) < 2 or not increasing:
        raise ValueError(
            "learning_rates must hold at least two rates in increasing order. "
            f"Received: learning_rates={rates}"
        )
    values = validation.check_sequence("losses", losses)
    if len(values) != len(rates):
        raise ValueError(
            "losses must hold one loss per learning rate. Received: "
            f"{len(values)} losses for {len(rates)} learning_rates"
        )
    numbers = []
    for index, value in enumerate(values):
        if not validation.is_number(value):
            raise ValueError(f"losses[{index}] must be a number. Received: {value!r}")
        numbers.append(float(value) if math.isfinite(float(value)) else math.inf)
    if all(math.isinf(number) for number in numbers):
        raise ValueError(f"losses must hold at least one finite loss. Received: losses={values}")
    lowest = int(np.argmin(numbers))
    if lowest in (0, len(rates) - 1):
        return rates[lowest]
    neighbours = numbers[lowest - 1 : lowest + 2]
    if any(math.isinf(number) for number in neighbours):
        return rates[lowest]
    # The vertex from the rises to each neighbour, exact even when a rise is rounding-sized (a
    # least-squares fit is not). The left rise is > 0 (argmin takes the first lowest loss), the
    # right one >= 0: the parabola opens upwards and its vertex lies between the midpoints to the
    # neighbours.
    left, centre, right = (math.log(rate) for rate in rates[lowest - 1 : lowest + 2])
    left_gap = centre - left
    right_gap = right - centre
    left_rise = neighbours[0] - neighbours[1]
    right_rise = neighbours[2] - neighbours[1]
    shift = (right_gap**2 * left_rise - left_gap**2 * right_rise) / (
        2 * (left_rise * right_gap + right_rise * left_gap)
    )
    return float(math.exp(centre + shift))


class LinearWarmup(keras.callbacks.Callback):
    """Ramps the optimizer's learning rate linearly up to its set value over the first steps.

    At step `s` (counting from 0) of each `fit`, for `s < warmup_steps`, the rate is
    `rate * (s + 1) / warmup_steps`; afterwards it is `rate`, the optimizer's rate when `fit`
    began. This is Goyal et al.'s gradual warmup for the linear scaling rule. It assigns the
    optimizer's rate variable, so the traced training step is kept; the optimizer needs a float
    learning rate, not a schedule.

    Args:
        warmup_steps: int >= 1, the steps over which the rate climbs.

    Example:

    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> model.compile(keras.optimizers.SGD(0.1), "mse")
    >>> warmup = LinearWarmup(4)
    >>> _ = model.fit(np.ones((6, 1)), np.ones((6, 1)), batch_size=1, callbacks=[warmup], verbose=0)
    >>> [round(rate, 4) for rate in warmup.rates]
    [0.025, 0.05, 0.075, 0.1, 0.1, 0.1]
    """

    def __init__(self, warmup_steps: int) -> None:
        super().__init__()
        self.warmup_steps = validation.check_int("warmup_steps", warmup_steps, minimum=1)
        self.rates: list[float] = []  # the rate of each step of the last fit
        self._target = math.nan
        self._step = 0

    def on_train_begin(self, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        # `optimizer.learning_rate` is a schedule's current value, never the schedule itself.
        if not restarts.has_float_learning_rate(optimizer):
            configured = optimizer.get_config()["learning_rate"]
            schedule = configured.get("class_name", "a schedule")
            raise ValueError(
                "LinearWarmup needs an optimizer with a float learning rate. Received: "
                f"an optimizer following {schedule}"
            )
        self._target = float(optimizer.learning_rate)
        self._step = 0
        self.rates = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        fraction = min(1.0, (self._step + 1) / self.warmup_steps)
        rate = self._target * fraction
        if self._step < self.warmup_steps:  # after the ramp the rate stays put
            self.model.optimizer.learning_rate.assign(rate)
        self.rates.append(rate)
        self._step += 1

    def on_train_end(self, logs: dict | None = None) -> None:
        self.model.optimizer.learning_rate.assign(self._target)


def plot_rates_against_rules(
    batch_sizes: Sequence[int],
    learning_rates: Sequence[float],
    base_batch_size: int,
    label: str = "best rate",
    ax: Axes | None = None,
) -> Axes:
    """Plots best rates against batch size on log-log axes, with both rules through one point.

    The rules are drawn through the rate measured at `base_batch_size`, so the plot shows which
    slope the measurements follow.

    Args:
        batch_sizes: sequence of ints >= 1, including `base_batch_size`.
        learning_rates: sequence of floats > 0, one per batch size.
        base_batch_size: int, the batch size the rules start from.
        label: str, the legend label of the measurements. Defaults to `"best rate"`.
        ax: matplotlib Axes to draw on, or None for a new figure. Defaults to None.

    Returns:
        The Axes.

    Raises:
        ValueError: naming the argument, for bad values or a base batch size not measured.

    Example:

    >>> ax = plot_rates_against_rules([8, 32, 128], [1e-3, 3e-3, 9e-3], 32)
    >>> [line.get_label() for line in ax.get_lines()]
    ['best rate', 'linear rule', 'square-root rule']
    """
    sizes, rates = _rates_by_batch_size(batch_sizes, learning_rates)
    base_batch_size = validation.check_one_of("base_batch_size", base_batch_size, sizes)
    label = validation.check_text("label", label)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    base_rate = rates[sizes.index(base_batch_size)]
    ax.plot(sizes, rates, "o-", label=label)
    for rule, style in (("linear", "--"), ("square root", ":")):
        rule_rates = [
            scaled_learning_rate(base_rate, base_batch_size, size, rule) for size in sizes
        ]
        ax.plot(sizes, rule_rates, style, color="grey", label=f"{rule.replace(' ', '-')} rule")
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="learning rate")
    ax.set_xticks(sizes, [str(size) for size in sizes])
    ax.minorticks_off()
    ax.legend()
    return ax


def _positive_numbers(name: str, values: object) -> list[float]:
    """Returns `values` as a list of floats > 0 (repeats allowed: two batch sizes may share one)."""
    return [
        validation.check_positive_number(f"{name}[{index}]", value)
        for index, value in enumerate(validation.check_sequence(name, values))
    ]


def _rates_by_batch_size(
    batch_sizes: object, learning_rates: object
) -> tuple[list[int], list[float]]:
    """Returns the batch sizes (ints >= 1, at least two) and one rate > 0 for each."""
    sizes = [
        validation.check_int(f"batch_sizes[{index}]", size, minimum=1)
        for index, size in enumerate(validation.check_sequence("batch_sizes", batch_sizes, 2))
    ]
    rates = _positive_numbers("learning_rates", learning_rates)
    if len(rates) != len(sizes):
        raise ValueError(
            "learning_rates must hold one rate per batch size. Received: "
            f"{len(rates)} learning_rates for {len(sizes)} batch_sizes"
        )
    return sizes, rates
