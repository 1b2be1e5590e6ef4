"""Reading an LR range test: the swept rates, the smoothed loss, three suggested rates (lesson 05).

A range test (`lr_finder.find_learning_rate`) trains one step per batch while the learning rate
grows exponentially. Batch losses are noisy, so they are smoothed with a debiased exponential
moving average before anyone reads the curve. The suggestions follow fastai's `lr_find`
(fastai/callback/schedule.py):

- **valley**: the longest descending stretch of the smoothed curve (a longest decreasing
  subsequence), read about halfway along: fastai's default suggestion.
- **steepest**: where the smoothed loss falls fastest per decade of learning rate.
- **minimum ÷ 10**: a tenth of the rate at the lowest smoothed loss (the loss is about to blow up
  there).

Like fastai, the suggestions skip the first tenth of the requested steps (the smoothing has not
settled) and the last 5 recorded steps (the loss is already exploding), and never read past the
first NaN.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.finetune import validation

SUGGESTIONS = ("valley", "steepest", "minimum_tenth")
SKIPPED_LAST_STEPS = 5  # fastai's lr_find drops the last 5 recorded steps before suggesting
MARKERS = {"valley": "o", "steepest": "v", "minimum_tenth": "s"}


def exponential_rates(
    start_learning_rate: float, end_learning_rate: float, num_steps: int
) -> np.ndarray:
    """Returns the range test's rates: `start * (end / start) ** (step / (num_steps - 1))` per step.

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
    >>> exponential_rates(1e-1, 1e-3, 3)
    Traceback (most recent call last):
    ...
    ValueError: end_learning_rate must be a finite number > 0.1. Received: end_learning_rate=0.001
    """
    start_learning_rate = validation.check_positive_number(
        "start_learning_rate", start_learning_rate
    )
    end_learning_rate = validation.check_number(
        "end_learning_rate", end_learning_rate, minimum=start_learning_rate, include_minimum=False
    )
    num_steps = validation.check_int("num_steps", num_steps, minimum=2)
    fractions = np.arange(num_steps) / (num_steps - 1)
    return start_learning_rate * (end_learning_rate / start_learning_rate) ** fractions


def smooth(losses: Sequence[float], beta: float = 0.98) -> np.ndarray:
    """Returns the debiased exponential moving average of `losses`, as fastai and TensorBoard do.

    `average = beta * average + (1 - beta) * loss`, divided by `1 - beta ** (step + 1)` so the first
    values are not pulled towards the average's zero start. A NaN or inf stays in the average from
    where it appears.

    Args:
        losses: 1-D sequence of numbers, one loss per step (NaN and inf allowed).
        beta: float in [0, 1), how much of the past each step keeps. Defaults to 0.98.

    Returns:
        A float64 array as long as `losses`.

    Raises:
        ValueError: if `losses` is not a 1-D sequence of numbers or `beta` is outside [0, 1).

    Example:

    >>> smooth([1.0, 1.0, 1.0]).tolist()  # a constant stays constant: no pull towards zero
    [1.0, 1.0, 1.0]
    >>> smooth([2.0, 0.0], beta=0.5).tolist()
    [2.0, 0.6666666666666666]
    """
    losses = validation.check_array("losses", losses, ("steps",), allow_non_finite=True)
    beta = validation.check_probability("beta", beta)
    smoothed = np.empty(len(losses), dtype="float64")
    average = 0.0
    for step, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        smoothed[step] = average / (1 - beta ** (step + 1))
    return smoothed


def _checked_learning_rates(learning_rates: object) -> np.ndarray:
    """Returns the rates as float64, or raises unless they are positive, finite and increasing.

    Descending or negative rates would turn into negative or meaningless suggestions.
    """
    rates = validation.check_array("learning_rates", learning_rates, ("steps",)).tolist()
    validation.check_int("len(learning_rates)", len(rates), minimum=1)
    validation.check_positive_number("learning_rates[0]", rates[0])
    for step in range(1, len(rates)):
        validation.check_number(
            f"learning_rates[{step}]", rates[step], minimum=rates[step - 1], include_minimum=False
        )
    return np.array(rates, dtype="float64")


def _readable(
    learning_rates: object, smoothed_losses: object, num_steps: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the part fastai reads: after the first tenth, before the last 5 steps and any NaN."""
    rates = _checked_learning_rates(learning_rates)
    losses = validation.check_array(
        "smoothed_losses", smoothed_losses, (len(rates),), allow_non_finite=True
    )
    num_steps = validation.check_optional_int("num_steps", num_steps, minimum=len(rates))
    num_steps = len(rates) if num_steps is None else num_steps
    start = num_steps // 10
    end = len(rates) - SKIPPED_LAST_STEPS
    not_finite = np.flatnonzero(~np.isfinite(losses))
    if len(not_finite):
        end = min(end, int(not_finite[0]))
    if end - start < 2:
        raise ValueError(
            "the range test recorded too few usable steps to suggest a rate: "
            f"{len(rates)} steps, of which steps {start} to {end} are usable. "
            "Lower start_learning_rate or raise num_steps."
        )
    return rates[start:end], losses[start:end].astype("float64")


def valley_index(losses: Sequence[float]) -> int:
    """Returns fastai's valley point: 1/3 + 1/6 of the way along the longest decreasing run.

    The run is the longest strictly decreasing subsequence of `losses` (not necessarily
    contiguous), found in O(n²) as in fastai's `valley`; its end and its length bound the valley.
    This is fastai's rule to the letter, including its start one step before the run (`end -
    length`), so suggestions match fastai's on the same curve.

    Args:
        losses: 1-D sequence of finite numbers, the smoothed losses; at least one.

    Returns:
        int, the index of the suggested step.

    Raises:
        ValueError: if `losses` is not a non-empty 1-D sequence of finite numbers.

    Example:

    >>> valley_index([5.0, 4.0, 3.0, 2.0, 1.0, 0.5, 0.4, 9.0])  # run 0..6; fastai's start: -1
    2
    """
    losses = validation.check_array("losses", losses, ("steps",)).tolist()
    validation.check_int("len(losses)", len(losses), minimum=1)
    run_lengths = [1] * len(losses)
    run_end = 0
    run_start = 0
    for later in range(1, len(losses)):
        for earlier in range(later):
            extends_a_longer_run = run_lengths[earlier] + 1 > run_lengths[later]
            if losses[later] < losses[earlier] and extends_a_longer_run:
                run_lengths[later] = run_lengths[earlier] + 1
            if run_lengths[later] > run_lengths[run_end]:
                run_end = later
                run_start = run_end - run_lengths[run_end]
    sections = (run_end - run_start) / 3
    return run_start + int(sections) + int(sections / 2)


def suggest(
    learning_rates: Sequence[float],
    smoothed_losses: Sequence[float],
    num_steps: int | None = None,
) -> dict[str, float]:
    """Returns the three suggested rates of a range test, as fastai computes them.

    Args:
        learning_rates: 1-D sequence of positive, increasing rates, one per recorded step.
        smoothed_losses: 1-D sequence, the smoothed loss of each recorded step (see `smooth`); NaN
            and inf are allowed (nothing from the first of them on is read).
        num_steps: int or None, the steps the test was asked for (it may have stopped early, so
            at least `len(learning_rates)`); the first tenth of them is skipped. Defaults to
            `None` (the recorded length).

    Returns:
        A dict with keys `"valley"`, `"steepest"` and `"minimum_tenth"`.

    Raises:
        ValueError: for rates that are not positive and increasing, inputs of different lengths,
            a `num_steps` below the recorded steps, or fewer than 2 readable steps.

    Example:

    >>> rates = exponential_rates(1e-4, 1.0, 50)
    >>> dip = 2.0 - np.exp(-((np.log10(rates) + 2) ** 2))
    >>> losses = np.where(rates < 0.1, dip, 9.0)  # a dip around 1e-2, then a blow-up
    >>> {name: f"{rate:.1e}" for name, rate in suggest(rates, losses).items()}
    {'valley': '1.2e-03', 'steepest': '1.7e-03', 'minimum_tenth': '9.1e-04'}
    >>> suggest(rates, losses, num_steps=-5)
    Traceback (most recent call last):
    ...
    ValueError: num_steps must be None or an int >= 50. Received: num_steps=-5
    """
    rates, losses = _readable(learning_rates, smoothed_losses, num_steps)
    slopes = np.diff(losses) / np.diff(np.log(rates))
    return {
        "valley": float(rates[valley_index(losses)]),
        "steepest": float(rates[int(np.argmin(slopes))]),
        "minimum_tenth": float(rates[int(np.argmin(losses))] / 10),
    }


def plot_range_test(
    learning_rates: Sequence[float],
    losses: Sequence[float],
    smoothed_losses: Sequence[float],
    suggestions: dict[str, float] | None = None,
    ax: plt.Axes | None = None,
    label: str = "",
) -> plt.Axes:
    """Plots a range test on a log axis: batch losses faintly, the smoothed loss, the suggestions.

    Args:
        learning_rates: 1-D sequence of positive, increasing rates (a `RangeTestResult`'s).
        losses: 1-D sequence, the batch losses, as long as `learning_rates`.
        smoothed_losses: 1-D sequence, the smoothed losses, as long as `learning_rates`.
        suggestions: dict name -> positive rate, or None; each is marked on the smoothed curve.
            Defaults to `None`.
        ax: matplotlib Axes or None (the current Axes). Defaults to `None`.
        label: str, a prefix for the legend (e.g. `"phase 1"`). Defaults to `""`.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: for rates that are not positive and increasing, curves of another length, or a
            suggestion that is not a positive rate.

    Example:

    >>> rates = exponential_rates(1e-4, 1.0, 30)
    >>> losses = 2.0 - 0.1 * np.log10(rates)
    >>> ax = plot_range_test(rates, losses, smooth(losses), suggest(rates, smooth(losses)))
    >>> len(ax.lines), ax.get_xscale()
    (5, 'log')
    """
    rates = _checked_learning_rates(learning_rates)
    length = (len(rates),)
    losses = validation.check_array("losses", losses, length, allow_non_finite=True)
    smoothed = validation.check_array(
        "smoothed_losses", smoothed_losses, length, allow_non_finite=True
    )
    suggestions = validation.check_instance(
        "suggestions", {} if suggestions is None else suggestions, dict, "a dict or None"
    )
    for name, rate in suggestions.items():
        validation.check_positive_number(f"suggestions[{name!r}]", rate)
    label = validation.check_instance("label", label, str, "a str")

    ax = plt.gca() if ax is None else ax
    finite = np.isfinite(smoothed)
    (line,) = ax.plot(rates[finite], smoothed[finite], label=f"{label} smoothed".strip())
    color = line.get_color()
    ax.plot(rates, losses, color=color, alpha=0.25, label=f"{label} batch losses".strip())
    for name, rate in suggestions.items():
        height = np.interp(np.log(rate), np.log(rates[finite]), smoothed[finite])
        ax.plot(
            [rate],
            [height],
            linestyle="none",
            marker=MARKERS.get(name, "x"),
            color=color,
            markersize=8,
            label=f"{label} {name}: {rate:.1e}".strip(),
        )
    ax.set(xscale="log", xlabel="learning rate (log scale)", ylabel="loss")
    # The top of the y axis: twice the highest smoothed loss of the first half, so that the
    # final blow-up does not squash the interesting part of the curve.
    first_half = smoothed[: max(1, len(rates) // 2)]
    first_half = first_half[np.isfinite(first_half)]
    if first_half.size and first_half.max() > 0:
        ax.set_ylim(top=2 * first_half.max())
    ax.legend(fontsize="small")
    return ax
