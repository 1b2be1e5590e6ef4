"""Reading a range test (helpers/finetune/lr_suggestions.py): sweep, smoothing, suggestions."""

import re

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.finetune import lr_suggestions

matplotlib.use("Agg")


def test_exponential_rates_follow_the_closed_form_and_hit_both_ends():
    rates = lr_suggestions.exponential_rates(1e-7, 10.0, 100)
    steps = np.arange(100)
    expected = np.exp(np.log(1e-7) + steps / 99 * (np.log(10.0) - np.log(1e-7)))
    np.testing.assert_allclose(rates, expected, rtol=1e-12)
    assert rates[0] == 1e-7 and rates[-1] == pytest.approx(10.0, rel=1e-14)
    ratios = rates[1:] / rates[:-1]  # a constant factor per step: equal spacing on a log axis
    np.testing.assert_allclose(ratios, ratios[0], rtol=1e-10)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            (-1e-3, 1.0, 10),
            "start_learning_rate must be a positive, finite number. "
            "Received: start_learning_rate=-0.001",
        ),
        (
            (1e-3, float("inf"), 10),
            "end_learning_rate must be a finite number > 0.001. Received: end_learning_rate=inf",
        ),
        (
            (1.0, 1e-3, 10),
            "end_learning_rate must be a finite number > 1. Received: end_learning_rate=0.001",
        ),
        ((1e-3, 1.0, 1), "num_steps must be an int >= 2. Received: num_steps=1"),
        ((1e-3, 1.0, 10.0), "num_steps must be an int >= 2. Received: num_steps=10.0"),
    ],
)
def test_exponential_rates_reject_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_suggestions.exponential_rates(*arguments)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.98])
def test_smooth_equals_the_normalised_weighted_average_of_the_past(seed, beta):
    losses = np.random.default_rng(seed).uniform(0.5, 3.0, size=40)
    for step in range(len(losses)):  # oracle: weights beta**age, normalised to sum to one
        weights = beta ** np.arange(step, -1, -1.0)
        expected = np.sum(weights * losses[: step + 1]) / np.sum(weights)
        assert lr_suggestions.smooth(losses, beta)[step] == pytest.approx(expected, rel=1e-12)


def test_smooth_keeps_a_constant_and_carries_nan_forward():
    np.testing.assert_allclose(lr_suggestions.smooth(np.full(30, 2.5)), 2.5, rtol=1e-12)
    smoothed = lr_suggestions.smooth([1.0, 1.0, np.nan, 1.0])
    assert np.isfinite(smoothed[:2]).all() and np.isnan(smoothed[2:]).all()
    message = "beta must be a finite number in [0, 1). Received: beta=1.0"
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_suggestions.smooth([1.0, 2.0], beta=1.0)
    message = "losses must have shape (steps,). Received: losses of shape (2, 2)"
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_suggestions.smooth(np.ones((2, 2)))


def reference_valley(losses):
    """fastai's rule from its definition: the longest decreasing subsequence, first longest end."""
    lengths = []
    for later, loss in enumerate(losses):
        lengths.append(
            1
            + max(
                [lengths[earlier] for earlier in range(later) if loss < losses[earlier]], default=0
            )
        )
    end = int(np.argmax(lengths))  # the first index reaching the longest run
    start = end - lengths[end]
    return start + int((end - start) / 3) + int((end - start) / 3 / 2)


@pytest.mark.parametrize("seed", range(6))
def test_valley_matches_the_reference_rule_on_random_curves(seed):
    losses = np.random.default_rng(seed).normal(size=25).cumsum()
    assert lr_suggestions.valley_index(losses) == reference_valley(list(losses))


def test_valley_lies_inside_the_longest_descent():
    losses = [3.0, 3.1, 2.9, 2.5, 2.0, 1.5, 1.0, 0.8, 0.7, 5.0, 9.0]  # descends over steps 1..8
    index = lr_suggestions.valley_index(losses)
    assert 1 < index < 8 and losses[index] < losses[1]


def curve(rates, minimum_rate=1e-2, explode_rate=0.1):
    """A smooth dip with its minimum at `minimum_rate`, then a blow-up: answers in closed form."""
    decades = np.log10(rates) - np.log10(minimum_rate)
    return np.where(rates < explode_rate, 2.0 - np.exp(-(decades**2)), 50.0)


def test_suggestions_read_the_curve_where_fastai_reads_it():
    rates = lr_suggestions.exponential_rates(1e-6, 10.0, 100)
    losses = curve(rates)
    suggestions = lr_suggestions.suggest(rates, losses)
    readable = slice(10, 95)  # fastai skips the first tenth and the last 5 steps
    assert suggestions["minimum_tenth"] == rates[readable][np.argmin(losses[readable])] / 10
    assert suggestions["minimum_tenth"] == pytest.approx(1e-3, rel=0.1)  # the dip is at 1e-2
    # steepest descent of 2 - exp(-u^2) in u = log10(rate / 1e-2) is at u = -1/sqrt(2): 10**(-2 -
    # 0.707)
    assert suggestions["steepest"] == pytest.approx(10 ** (-2 - 2**-0.5), rel=0.1)
    assert rates[10] <= suggestions["valley"] < 1e-2  # on the way down, before the minimum


def test_suggestions_stop_at_the_first_nan_and_need_enough_steps():
    rates = lr_suggestions.exponential_rates(1e-6, 10.0, 100)
    losses = curve(rates, minimum_rate=1e-1, explode_rate=1.0)
    # the curve still falls at step 59: the suggestions may only use steps before 60
    losses[60:] = np.nan
    suggestions = lr_suggestions.suggest(rates, losses)
    assert suggestions["minimum_tenth"] == rates[59] / 10
    with pytest.raises(ValueError, match="too few usable steps"):
        lr_suggestions.suggest(rates[:14], losses[:14], num_steps=100)  # stopped before step 10 + 5
    message = "smoothed_losses must have shape (100,). Received: smoothed_losses of shape (99,)"
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_suggestions.suggest(rates, losses[:-1])


def test_plot_marks_each_suggestion_on_a_log_axis():
    rates = lr_suggestions.exponential_rates(1e-6, 10.0, 100)
    losses = curve(rates)
    suggestions = lr_suggestions.suggest(rates, losses)
    figure, ax = plt.subplots()
    assert (
        lr_suggestions.plot_range_test(
            rates, losses, lr_suggestions.smooth(losses), suggestions, ax=ax
        )
        is ax
    )
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    assert ax.get_xscale() == "log" and len(ax.lines) == 2 + len(suggestions)
    assert any(label.startswith("valley: ") for label in labels) and any(
        "minimum_tenth" in label for label in labels
    )
    plt.close(figure)


DESCENDING = lr_suggestions.exponential_rates(1e-6, 10.0, 100)[::-1]


@pytest.mark.parametrize(
    ("rates", "message"),
    [
        (
            DESCENDING,
            "learning_rates[1] must be a finite number > 10. "
            f"Received: learning_rates[1]={float(DESCENDING[1])!r}",
        ),
        (
            -lr_suggestions.exponential_rates(1e-6, 10.0, 100),
            "learning_rates[0] must be a positive, finite number. "
            "Received: learning_rates[0]=-1e-06",
        ),
        (
            np.full(100, 1e-3),
            "learning_rates[1] must be a finite number > 0.001. Received: learning_rates[1]=0.001",
        ),
        (np.array([]), "len(learning_rates) must be an int >= 1. Received: len(learning_rates)=0"),
        (["1e-3"] * 100, "learning_rates must be a numeric array."),
    ],
)
def test_suggest_refuses_rates_that_do_not_increase_instead_of_suggesting_negative_ones(
    rates, message
):
    losses = curve(lr_suggestions.exponential_rates(1e-6, 10.0, 100))
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_suggestions.suggest(rates, losses[: len(rates)])


@pytest.mark.parametrize("num_steps", [-5, 0, 99, 100.0, True])
def test_suggest_refuses_a_num_steps_below_the_recorded_steps(num_steps):
    rates = lr_suggestions.exponential_rates(1e-6, 10.0, 100)
    message = f"num_steps must be None or an int >= 100. Received: num_steps={num_steps!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_suggestions.suggest(rates, curve(rates), num_steps=num_steps)


@pytest.mark.parametrize(
    ("losses", "message"),
    [
        ([], "len(losses) must be an int >= 1. Received: len(losses)=0"),
        ([1.0, float("nan")], "losses must be finite. Received: losses with 1 NaN or inf values"),
        ([[1.0, 2.0]], "losses must have shape (steps,). Received: losses of shape (1, 2)"),
    ],
)
def test_valley_index_refuses_what_has_no_valley(losses, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_suggestions.valley_index(losses)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"suggestions": {"valley": -1.0}},
            "suggestions['valley'] must be a positive, finite number. "
            "Received: suggestions['valley']=-1.0",
        ),
        (
            {"suggestions": [1e-3]},
            "suggestions must be a dict or None. Received: suggestions=[0.001]",
        ),
        ({"label": 1}, "label must be a str. Received: label=1"),
        (
            {"losses": np.ones(99)},
            "losses must have shape (100,). Received: losses of shape (99,)",
        ),
    ],
)
def test_plot_range_test_refuses_bad_arguments(change, message):
    rates = lr_suggestions.exponential_rates(1e-6, 10.0, 100)
    losses = curve(rates)
    arguments = {
        "learning_rates": rates,
        "losses": losses,
        "smoothed_losses": lr_suggestions.smooth(losses),
        **change,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_suggestions.plot_range_test(**arguments)


@pytest.mark.parametrize(
    ("number", "integer"), [(np.float32, np.int64), (np.float64, np.int32), (float, int)]
)
def test_numpy_scalars_work_like_python_numbers(number, integer):
    rates = lr_suggestions.exponential_rates(number(1e-6), number(10.0), integer(100))
    np.testing.assert_allclose(rates, lr_suggestions.exponential_rates(1e-6, 10.0, 100), rtol=1e-6)
    losses = curve(rates)
    smoothed = lr_suggestions.smooth(losses, beta=number(0.5))
    np.testing.assert_allclose(smoothed, lr_suggestions.smooth(losses, beta=0.5), rtol=1e-12)
    assert lr_suggestions.suggest(rates, losses, num_steps=integer(100)) == (
        lr_suggestions.suggest(rates, losses)
    )
