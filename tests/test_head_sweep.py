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


def test_choose_learning_rate_takes_the_lowest_final_validation_loss():
    results = {
        0.1: {"val_loss": [0.2, 1.5]},  # lowest at its first epoch, but ends highest
        0.01: {"val_loss": [0.9, 0.4]},
        0.001: {"val_loss": [1.0, 0.4]},  # ties with 0.01: the first in order wins
        np.float32(1e-4): {"val_loss": [1.2, 0.9]},
    }
    assert head_sweep.choose_learning_rate(results) == 0.01
    assert head_sweep.choose_learning_rate({0.5: {"val_loss": [2.0]}}) == 0.5


@pytest.mark.parametrize(
    ("results", "message"),
    [
        (
            [0.1],
            "results must be a dict (what sweep_learning_rates returns). Received: results=[0.1]",
        ),
        (
            {},
            "list(results) must be a list or tuple of at least 1 item. Received: list(results)=[]",
        ),
        (
            {0.1: [0.5]},
            "results[0.1] must be a history dict (what train_head returns). "
            "Received: results[0.1]=[0.5]",
        ),
        (
            {0.1: {"loss": [0.5]}},
            "results[0.1]['val_loss'] must be a list or tuple of at least 1 item. "
            "Received: results[0.1]['val_loss']=None",
        ),
    ],
)
def test_choose_learning_rate_rejects_what_is_no_sweep(results, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        head_sweep.choose_learning_rate(results)


def test_score_on_test_trains_the_sweeps_head_again_and_scores_the_test_split():
    train, validation, test = blobs(2), blobs(3), blobs(4)
    results = head_sweep.sweep_learning_rates(train, validation, [1e-1, 1e-2], epochs=3, seed=5)
    chosen = head_sweep.choose_learning_rate(results)
    scores = head_sweep.score_on_test(train, test, chosen, epochs=3, seed=5)
    # train_head is the oracle: the same head, scored on the test split after each epoch.
    reference = head_training.train_head(train, test, learning_rate=chosen, epochs=3, seed=5)
    assert scores == {"loss": reference["val_loss"][-1], "accuracy": reference["val_accuracy"][-1]}
    # The split scored after each epoch does not change training: the sweep's head, step for step.
    assert reference["loss"] == results[chosen]["loss"]
    assert reference["accuracy"] == results[chosen]["accuracy"]


def test_score_on_test_checks_its_arguments_through_train_head():
    message = "learning_rate must be a positive, finite number"
    with pytest.raises(ValueError, match=re.escape(message)):
        head_sweep.score_on_test(blobs(0), blobs(1), -1.0)
