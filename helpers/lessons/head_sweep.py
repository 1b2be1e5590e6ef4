"""A sweep of learning rates for a new head on cached features, and its plot (lesson 03).

Each rate trains a fresh head (`head_training.train_head`) on one set of features with the same seed, so
the curves differ only by the learning rate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from helpers.finetune import head_training, optimizers

METRICS = head_training.HISTORY_KEYS  # what `plot_sweep` can draw


def sweep_learning_rates(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    learning_rates: Sequence[float] = (1e-1, 1e-2, 1e-3, 1e-4),
    **options,
) -> dict[float, dict[str, list[float]]]:
    """Trains one fresh head per learning rate on the same features (same seed) and returns every history.

    Args:
        train, validation: tuples `(features, labels)`, as for `train_head`.
        learning_rates: sequence of floats > 0, all different. Defaults to `(1e-1, 1e-2, 1e-3, 1e-4)`.
        **options: passed to `train_head` (`epochs`, `batch_size`, `dropout`, `seed`, `num_classes`).

    Returns:
        A dict from each learning rate (as a float, in the given order) to its `train_head` history.

    Raises:
        ValueError: if `learning_rates` is empty, repeats a rate, or holds a bad rate.

    Example:

    >>> features, labels = np.eye(2, dtype="float32").repeat(4, axis=0), np.repeat([0, 1], 4)
    >>> list(sweep_learning_rates((features, labels), (features, labels), [0.1, 0.01], epochs=1))
    [0.1, 0.01]
    """
    if (
        isinstance(learning_rates, str)
        or not isinstance(learning_rates, Sequence)
        or not learning_rates
    ):
        raise ValueError(
            f"learning_rates must be a non-empty sequence. Received: learning_rates={learning_rates!r}"
        )
    for rate in learning_rates:
        optimizers.check_learning_rate(rate)
    rates = [float(rate) for rate in learning_rates]
    if len(set(rates)) != len(rates):
        raise ValueError(
            f"learning_rates must all differ. Received: learning_rates={list(learning_rates)!r}"
        )
    return {
        rate: head_training.train_head(train, validation, learning_rate=rate, **options)
        for rate in rates
    }


def plot_sweep(results: dict[float, dict[str, list[float]]], metric: str = "val_accuracy", ax=None):
    """Plots one metric per epoch for every learning rate of `sweep_learning_rates`.

    Args:
        results: dict, the return value of `sweep_learning_rates`.
        metric: str, one of `METRICS`. Defaults to `"val_accuracy"`.
        ax: matplotlib Axes or None (the current Axes). Defaults to `None`.

    Returns:
        The matplotlib Axes, with one line per learning rate.

    Raises:
        ValueError: if `metric` is not one of `METRICS`.

    Example:

    >>> results = {0.01: {"val_accuracy": [0.5, 0.8]}, 0.001: {"val_accuracy": [0.3, 0.4]}}
    >>> len(plot_sweep(results).lines)
    2
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    if metric not in METRICS:
        raise ValueError(f"metric must be one of {METRICS}. Received: metric={metric!r}")
    ax = plt.gca() if ax is None else ax
    for learning_rate, history in results.items():
        values = history[metric]
        ax.plot(range(1, len(values) + 1), values, marker="o", label=f"{learning_rate:g}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole numbers
    ax.set(
        xlabel="epoch",
        ylabel=metric.replace("_", " "),
        title=f"Head only: {metric.replace('_', ' ')}",
    )
    ax.legend(title="learning rate")
    return ax
