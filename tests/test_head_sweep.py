"""Lesson 03's sweep of head learning rates and its plot (helpers/lessons/head_sweep.py)."""

import re

import matplotlib.pyplot as plt
import numpy as np
import pytest
from synthetic_data import blobs

from helpers.finetune import guards, head_training
from helpers.lessons import head_sweep


def test_sweep_gives_each_rate_the_history_train_head_gives_it():
    train, validation = blobs(2), blobs(3)
    results = head_sweep.sweep_learning_rates(train, validation, [1e-1, 1e-3], epochs=2, seed=1)
    assert list(results) == [1e-1, 1e-3]
    # train_head is the oracle: same seed, same history.
    for learning_rate, history in results.items():
        expected = head_training.train_head(
            train, validation, learning_rate=learning_rate, epochs=2, seed=1
        )
        assert history == expected


def test_a_diverging_rate_trains_to_the_end_unless_asked_to_stop():
    train, validation = blobs(2), blobs(3)
    results = head_sweep.sweep_learning_rates(train, validation, [1e3, 1e-3], epochs=3, seed=1)
    assert [len(history["loss"]) for history in results.values()] == [3, 3]
    assert results[1e3]["loss"][-1] > 100 * results[1e-3]["loss"][-1]
    message = "Received: learning_rate=1000.0"
    with pytest.raises(guards.TrainingDivergedError, match=re.escape(message)):
        head_sweep.sweep_learning_rates(
            train, validation, [1e3], epochs=3, seed=1, stop_on_divergence=True
        )


def test_sweep_accepts_numpy_rates_and_keys_them_as_python_floats():
    train, validation = blobs(2), blobs(3)
    rates = np.array([1e-1, 1e-3], "float32")
    results = head_sweep.sweep_learning_rates(train, validation, rates, epochs=1, seed=1)
    assert [type(rate) for rate in results] == [float, float]
    assert list(results) == pytest.approx([1e-1, 1e-3])
    python_rates = [float(rate) for rate in rates]
    assert results == head_sweep.sweep_learning_rates(
        train, validation, python_rates, epochs=1, seed=1
    )


@pytest.mark.parametrize(
    ("learning_rates", "message"),
    [
        (
            [],
            "learning_rates must be a list or tuple of at least 1 item. "
            "Received: learning_rates=[]",
        ),
        (
            1e-3,
            "learning_rates must be a list or tuple of at least 1 item. "
            "Received: learning_rates=0.001",
        ),
        (
            [1e-3, 0.001],
            "learning_rates must hold distinct values. Received: learning_rates=[0.001, 0.001]",
        ),
        (
            [1e-3, -1.0],
            "learning_rates[1] must be a positive, finite number. Received: learning_rates[1]=-1.0",
        ),
        (
            [True],
            "learning_rates[0] must be a positive, finite number. Received: learning_rates[0]=True",
        ),
    ],
)
def test_sweep_rejects_bad_learning_rates(learning_rates, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        head_sweep.sweep_learning_rates(blobs(0), blobs(1), learning_rates)


def test_sweep_rejects_a_stop_on_divergence_that_is_not_a_bool():
    message = "stop_on_divergence must be True or False. Received: stop_on_divergence='yes'"
    with pytest.raises(ValueError, match=re.escape(message)):
        head_sweep.sweep_learning_rates(blobs(0), blobs(1), [1e-3], stop_on_divergence="yes")


def test_plot_sweep_draws_one_labelled_line_per_rate_on_the_given_axes():
    results = {0.1: {"val_loss": [1.0, 0.5, 0.7]}, 0.001: {"val_loss": [1.2, 1.0, 0.9]}}
    _, ax = plt.subplots()
    assert head_sweep.plot_sweep(results, "val_loss", ax=ax) is ax
    assert [line.get_label() for line in ax.lines] == ["0.1", "0.001"]
    assert list(ax.lines[1].get_ydata()) == [1.2, 1.0, 0.9]
    assert list(ax.lines[1].get_xdata()) == [1, 2, 3]
    plt.close("all")


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"metric": "lr"},
            "metric must be one of ('loss', 'accuracy', 'val_loss', 'val_accuracy'). "
            "Received: metric='lr'",
        ),
        ({"metric": "val_los"}, "Received: metric='val_los'. Did you mean 'val_loss'?"),
        (
            {"results": [0.1]},
            "results must be a dict (what sweep_learning_rates returns). Received: results=[0.1]",
        ),
        ({"ax": "left"}, "ax must be None or a matplotlib Axes. Received: ax='left'"),
    ],
)
def test_plot_sweep_rejects_bad_arguments(arguments, message):
    results = {0.1: {"val_loss": [1.0, 0.5, 0.7]}}
    with pytest.raises(ValueError, match=re.escape(message)):
        head_sweep.plot_sweep(**{"results": results, "metric": "val_loss", **arguments})
    plt.close("all")
