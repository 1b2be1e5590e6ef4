"""A sweep of learning rates for a new head on cached features, and its plot (lesson 03).

Each rate trains a fresh head (`head_training.train_head`) on one set of features with the same
seed, so the curves differ only by the learning rate. The rate is chosen on the validation split
(`choose_learning_rate`); the test split only reports the chosen head (`score_on_test`), so the
reported score is not flattered by the choice.
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


def choose_learning_rate(results: dict[float, dict[str, list[float]]]) -> float:
    """Returns the learning rate whose head ends with the lowest validation loss.

    The choice reads the validation split only; `score_on_test` then reports the chosen head on
    the test split. Of rates that tie exactly, the first in `results` is returned.

    Args:
        results: dict, the return value of `sweep_learning_rates`.

    Returns:
        The chosen learning rate, a key of `results`.

    Raises:
        ValueError: if `results` is not a non-empty dict of histories, each with a non-empty
            `"val_loss"` list.

    Example:

    >>> results = {0.1: {"val_loss": [1.0, 1.6]}, 0.01: {"val_loss": [0.9, 0.4]}}
    >>> choose_learning_rate(results)
    0.01
    """
    checks.check_instance("results", results, dict, "a dict (what sweep_learning_rates returns)")
    checks.check_sequence("list(results)", list(results))
    final_losses = {}
    for learning_rate, history in results.items():
        name = f"results[{learning_rate!r}]"
        checks.check_instance(name, history, dict, "a history dict (what train_head returns)")
        losses = checks.check_sequence(f"{name}['val_loss']", history.get("val_loss"))
        final_losses[learning_rate] = losses[-1]
    return min(final_losses, key=final_losses.get)


def score_on_test(
    train: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    learning_rate: float,
    **options,
) -> dict[str, float]:
    """Trains the head at `learning_rate` as the sweep did and returns its test loss and accuracy.

    With the sweep's `seed`, `epochs` and other options, this is the sweep's head again: the
    data scored after each epoch does not change the training, so the head trains step for
    step as in the sweep (a test checks it), and is scored on a split the choice never saw.

    Args:
        train: tuple `(features, labels)`, as for `sweep_learning_rates`.
        test: tuple `(features, labels)`, the test split.
        learning_rate: float > 0, the chosen rate (`choose_learning_rate`).
        **options: passed to `train_head`, as they were to `sweep_learning_rates` (`epochs`,
            `batch_size`, `dropout`, `seed`, `num_classes`).

    Returns:
        A dict `{"loss": ..., "accuracy": ...}` on the test split after the last epoch.

    Raises:
        ValueError: if `train_head` rejects an argument.
        guards.TrainingDivergedError: if the run diverges.

    Example:

    >>> features, labels = np.eye(2, dtype="float32").repeat(4, axis=0), np.repeat([0, 1], 4)
    >>> sorted(score_on_test((features, labels), (features, labels), 0.1, epochs=1))
    ['accuracy', 'loss']
    """
    history = head_training.train_head(train, test, learning_rate=learning_rate, **options)
    return {"loss": history["val_loss"][-1], "accuracy": history["val_accuracy"][-1]}


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
