"""A sweep of learning rates for a new head on cached features, and its plot (lesson 03).

Each rate trains a fresh head (`head_training.train_head`) on one set of features with the same
seed, so the curves differ only by the learning rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.axes
import numpy as np

from helpers.finetune import head_training
from helpers.finetune import validation as checks

METRICS = head_training.HISTORY_KEYS  # what `plot_sweep` can draw


def sweep_learning_rates(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    learning_rates: Sequence[float] = (1e-1, 1e-2, 1e-3, 1e-4),
    stop_on_divergence: bool = False,
    **options,
) -> dict[float, dict[str, list[float]]]:
    """Trains one fresh head per learning rate on the same features and returns every history.

    Every head starts from the same seed, so the histories differ only by the rate. The rates are
    checked before the first head trains, so a bad one fails at once rather than after the others.
    A sweep is there to compare curves, so by default every rate trains to the end, even one whose
    loss explodes: its curve then shows the explosion beside the others, where `train_head`'s
    divergence guard would stop the sweep with an error.

    Args:
        train, validation: tuples `(features, labels)`, as for `train_head`.
        learning_rates: sequence of distinct floats > 0. Defaults to `(1e-1, 1e-2, 1e-3, 1e-4)`.
        stop_on_divergence: bool, passed to `train_head`: `True` stops a diverging rate and
            raises. Defaults to `False`.
        **options: passed to `train_head` (`epochs`, `batch_size`, `dropout`, `seed`,
            `num_classes`).

    Returns:
        A dict from each learning rate (as a float, in the given order) to its `train_head` history.

    Raises:
        ValueError: if `learning_rates` is not a non-empty sequence of distinct positive numbers, or
            `train_head` rejects an argument.

    Example:

    >>> features, labels = np.eye(2, dtype="float32").repeat(4, axis=0), np.repeat([0, 1], 4)
    >>> list(sweep_learning_rates((features, labels), (features, labels), [0.1, 0.01], epochs=1))
    [0.1, 0.01]
    """
    rates = checks.check_learning_rates("learning_rates", learning_rates)
    stop_on_divergence = checks.check_bool("stop_on_divergence", stop_on_divergence)
    return {
        rate: head_training.train_head(
            train,
            validation,
            learning_rate=rate,
            stop_on_divergence=stop_on_divergence,
            **options,
        )
        for rate in rates
    }


def plot_sweep(
    results: dict[float, dict[str, list[float]]],
    metric: str = "val_accuracy",
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.axes.Axes:
    """Plots one metric per epoch for every learning rate of `sweep_learning_rates`.

    Args:
        results: dict, the return value of `sweep_learning_rates`.
        metric: str, one of `METRICS`. Defaults to `"val_accuracy"`.
        ax: matplotlib Axes or None (the current Axes). Defaults to `None`.

    Returns:
        The matplotlib Axes, with one line per learning rate.

    Raises:
        ValueError: if `results` is not a dict, `metric` is not one of `METRICS` or `ax` is not an
            Axes.

    Example:

    >>> results = {0.01: {"val_accuracy": [0.5, 0.8]}, 0.001: {"val_accuracy": [0.3, 0.4]}}
    >>> len(plot_sweep(results).lines)
    2
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    checks.check_instance("results", results, dict, "a dict (what sweep_learning_rates returns)")
    metric = checks.check_choice("metric", metric, METRICS)
    if ax is None:
        ax = plt.gca()
    checks.check_instance("ax", ax, matplotlib.axes.Axes, "None or a matplotlib Axes")
    for learning_rate, history in results.items():
        values = history[metric]
        ax.plot(range(1, len(values) + 1), values, marker="o", label=f"{learning_rate:g}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    words = metric.replace("_", " ")
    ax.set(xlabel="epoch", ylabel=words, title=f"Head only: {words}")
    ax.legend(title="learning rate")
    return ax
