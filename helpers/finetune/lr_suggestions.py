"""Reading an LR range test: the swept rates, the smoothed loss, and three suggested rates (lesson 05).

A range test (`lr_finder.find_learning_rate`) trains one step per batch while the learning rate grows
exponentially. Batch losses are noisy, so they are smoothed with a debiased exponential moving average before
anyone reads the curve. The suggestions follow fastai's `lr_find` (fastai/callback/schedule.py):

- **valley**: the longest descending stretch of the smoothed curve (a longest decreasing subsequence), read
  about halfway along: fastai's default suggestion.
- **steepest**: where the smoothed loss falls fastest per decade of learning rate.
- **minimum ÷ 10**: a tenth of the rate at the lowest smoothed loss (the loss is about to blow up there).

Like fastai, the suggestions skip the first tenth of the requested steps (the smoothing has not settled) and
the last 5 recorded steps (the loss is already exploding), and never read past the first NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SUGGESTIONS = ("valley", "steepest", "minimum_tenth")
SKIPPED_LAST_STEPS = 5  # fastai's lr_find drops the last 5 recorded steps before suggesting


def exponential_rates(
    start_learning_rate: float, end_learning_rate: float, num_steps: int
) -> np.ndarray:
    """Returns the range test's rates: `start * (end / start) ** (step / (num_steps - 1))` for each step.

    The first step uses `start_learning_rate` and the last exactly `end_learning_rate`.

    Args:
        start_learning_rate: float > 0, the first rate.
        end_learning_rate: float > `start_learning_rate`, the last rate.
        num_steps: int >= 2, the number of rates.

    Returns:
        A float64 array of `num_steps` rates.

    Raises:
        ValueError: for rates that are not positive, finite and increasing, or fewer than 2 steps.

    Example:

    >>> exponential_rates(1e-3, 1e-1, 3).round(6).tolist()
    [0.001, 0.01, 0.1]
    """
    for name, value in (
        ("start_learning_rate", start_learning_rate),
        ("end_learning_rate", end_learning_rate),
    ):
        if (
            isinstance(value, bool)
            or not isinstance(value, float | int)
            or not 0 < value < float("inf")
        ):
            raise ValueError(
                f"{name} must be a positive, finite number. Received: {name}={value!r}"
            )
    if end_learning_rate <= start_learning_rate:
        raise ValueError(
            "end_learning_rate must be larger than start_learning_rate. "
            f"Received: start_learning_rate={start_learning_rate}, end_learning_rate={end_learning_rate}"
        )
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an int >= 2. Received: num_steps={num_steps!r}")
    fractions = np.arange(num_steps) / (num_steps - 1)
    return start_learning_rate * (end_learning_rate / start_learning_rate) ** fractions


def smooth(losses: Sequence[float], beta: float = 0.98) -> np.ndarray:
    """Returns the debiased exponential moving average of `losses`, as fastai and TensorBoard draw it.

    `average = beta * average + (1 - beta) * loss`, divided by `1 - beta ** (step + 1)` so the first values are
    not pulled towards the average's zero start. A NaN or inf stays in the average from where it appears.

    Args:
        losses: sequence of float, one loss per step.
        beta: float in [0, 1), how much of the past each step keeps. Defaults to 0.98.

    Returns:
        A float64 array as long as `losses`.

    Raises:
        ValueError: if `losses` is not one-dimensional or `beta` is outside [0, 1).

    Example:

    >>> smooth([1.0, 1.0, 1.0]).tolist()  # a constant stays constant: the debiasing removes the zero start
    [1.0, 1.0, 1.0]
    >>> smooth([2.0, 0.0], beta=0.5).tolist()
    [2.0, 0.6666666666666666]
    """
    losses = np.asarray(losses, dtype="float64")
    if losses.ndim != 1:
        raise ValueError(
            f"losses must be a one-dimensional sequence. Received: shape {losses.shape}"
        )
    if isinstance(beta, bool) or not isinstance(beta, float | int) or not 0 <= beta < 1:
        raise ValueError(f"beta must be a number in [0, 1). Received: beta={beta!r}")
    average, smoothed = 0.0, np.empty_like(losses)
    for step, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        smoothed[step] = average / (1 - beta ** (step + 1))
    return smoothed


def _readable(learning_rates, smoothed_losses, num_steps: int | None):
    """The part of the curve fastai reads: after the first tenth, before the last 5 steps and any NaN."""
    learning_rates = np.asarray(learning_rates, dtype="float64")
    smoothed_losses = np.asarray(smoothed_losses, dtype="float64")
    if learning_rates.shape != smoothed_losses.shape or learning_rates.ndim != 1:
        raise ValueError(
            "learning_rates and smoothed_losses must be one-dimensional and equally long. "
            f"Received: shapes {learning_rates.shape} and {smoothed_losses.shape}"
        )
    num_steps = len(learning_rates) if num_steps is None else num_steps
    end = len(learning_rates) - SKIPPED_LAST_STEPS
    not_finite = np.flatnonzero(~np.isfinite(smoothed_losses))
    end = min(end, not_finite[0]) if len(not_finite) else end
    start = num_steps // 10
    if end - start < 2:
        raise ValueError(
            f"the range test recorded too few usable steps to suggest a rate: {len(learning_rates)} steps, of "
            f"which steps {start} to {end} are usable. Lower start_learning_rate or raise num_steps."
        )
    return learning_rates[start:end], smoothed_losses[start:end]


def valley_index(losses: Sequence[float]) -> int:
    """Returns fastai's valley point: 1/3 + 1/6 of the way along the longest decreasing run of `losses`.

    The run is the longest strictly decreasing subsequence (not necessarily contiguous), found in O(n²) as in
    fastai's `valley`; its end and its length bound the valley. This is fastai's rule to the letter, including
    its start one step before the run (`end - length`), so suggestions match fastai's on the same curve.

    Args:
        losses: sequence of float, the smoothed losses.

    Returns:
        int, the index of the suggested step.

    Example:

    >>> valley_index([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.4, 9.0])  # run 0..6; fastai counts its start as -1
    2
    """
    losses = list(losses)
    run_lengths, run_start, run_end = [1] * len(losses), 0, 0
    for later in range(1, len(losses)):
        for earlier in range(later):
            if losses[later] < losses[earlier] and run_lengths[later] < run_lengths[earlier] + 1:
                run_lengths[later] = run_lengths[earlier] + 1
            if run_lengths[run_end] < run_lengths[later]:
                run_end = later
                run_start = run_end - run_lengths[run_end]
    sections = (run_end - run_start) / 3
    return run_start + int(sections) + int(sections / 2)


def suggest(learning_rates, smoothed_losses, num_steps: int | None = None) -> dict[str, float]:
    """Returns the three suggested rates of a range test, as fastai computes them.

    Args:
        learning_rates: sequence of float, the rate of each recorded step.
        smoothed_losses: sequence of float, the smoothed loss of each recorded step (see `smooth`).
        num_steps: int or None, the steps the test was asked for (it may have stopped early); the first
            tenth of them is skipped. Defaults to `None` (the recorded length).

    Returns:
        A dict with keys `"valley"`, `"steepest"` and `"minimum_tenth"`.

    Raises:
        ValueError: if the inputs differ in length or leave fewer than 2 readable steps.

    Example:

    >>> rates = exponential_rates(1e-4, 1.0, 50)
    >>> losses = np.where(rates < 0.1, 2.0 - np.exp(-(np.log10(rates) + 2) ** 2), 9.0)  # a dip, then a blow-up
    >>> {name: f"{rate:.1e}" for name, rate in suggest(rates, losses).items()}
    {'valley': '1.2e-03', 'steepest': '1.7e-03', 'minimum_tenth': '9.1e-04'}
    """
    rates, losses = _readable(learning_rates, smoothed_losses, num_steps)
    slopes = np.diff(losses) / np.diff(np.log(rates))
    return {
        "valley": float(rates[valley_index(losses)]),
        "steepest": float(rates[int(np.argmin(slopes))]),
        "minimum_tenth": float(rates[int(np.argmin(losses))] / 10),
    }


def plot_range_test(
    learning_rates,
    losses,
    smoothed_losses,
    suggestions: dict[str, float] | None = None,
    ax=None,
    label: str = "",
):
    """Plots a range test on a log axis: raw batch losses faintly, the smoothed loss, and the suggestions.

    Args:
        learning_rates, losses, smoothed_losses: sequences of float of one length (a `RangeTestResult`'s).
        suggestions: dict name -> rate or None; each is marked on the smoothed curve. Defaults to `None`.
        ax: matplotlib Axes or None (the current Axes). Defaults to `None`.
        label: str, a prefix for the legend (e.g. `"phase 1"`). Defaults to `""`.

    Returns:
        The matplotlib Axes.

    Example:

    >>> rates = exponential_rates(1e-4, 1.0, 30)
    >>> losses = 2.0 - 0.1 * np.log10(rates)
    >>> ax = plot_range_test(rates, losses, smooth(losses), suggest(rates, smooth(losses)))
    >>> len(ax.lines), ax.get_xscale()
    (5, 'log')
    """
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    learning_rates = np.asarray(learning_rates, dtype="float64")
    finite = np.isfinite(smoothed_losses)
    (line,) = ax.plot(
        learning_rates[finite],
        np.asarray(smoothed_losses)[finite],
        label=f"{label} smoothed".strip(),
    )
    ax.plot(
        learning_rates,
        losses,
        color=line.get_color(),
        alpha=0.25,
        label=f"{label} batch losses".strip(),
    )
    markers = {"valley": "o", "steepest": "v", "minimum_tenth": "s"}
    for name, rate in (suggestions or {}).items():
        value = np.interp(
            np.log(rate), np.log(learning_rates[finite]), np.asarray(smoothed_losses)[finite]
        )
        ax.plot([rate], [value], linestyle="none", marker=markers.get(name, "x"), color=line.get_color(),
                markersize=8, label=f"{label} {name}: {rate:.1e}".strip())  # fmt: skip
    top = np.nanmax(np.asarray(smoothed_losses)[finite][: max(1, len(learning_rates) // 2)])
    ax.set(
        xscale="log",
        xlabel="learning rate (log scale)",
        ylabel="loss",
        ylim=(None, 2 * top if top > 0 else None),
    )
    ax.legend(fontsize="small")
    return ax
