"""Reading a range test (helpers/lr_suggestions.py): the sweep, the smoothing and fastai's three suggestions."""

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
        ((-1e-3, 1.0, 10), "start_learning_rate must be a positive.*-0.001"),
        ((1e-3, float("inf"), 10), "end_learning_rate must be a positive.*inf"),
        ((1.0, 1e-3, 10), "end_learning_rate must be larger.*end_learning_rate=0.001"),
        ((1e-3, 1.0, 1), "num_steps must be an int >= 2.*num_steps=1"),
        ((1e-3, 1.0, 10.0), "num_steps must be an int.*num_steps=10.0"),
    ],
)
def test_exponential_rates_reject_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
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
    with pytest.raises(ValueError, match="beta must be a number in \\[0, 1\\). Received: beta=1.0"):
        lr_suggestions.smooth([1.0, 2.0], beta=1.0)
    with pytest.raises(ValueError, match="losses must be a one-dimensional.*\\(2, 2\\)"):
        lr_suggestions.smooth(np.ones((2, 2)))


def reference_valley(losses):
    """fastai's rule from its definition: the longest decreasing subsequence ending at the first longest end."""
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
    """A smooth dip with its minimum at `minimum_rate`, then an explosion: its answers are known in closed form."""
    decades = np.log10(rates) - np.log10(minimum_rate)
    return np.where(rates < explode_rate, 2.0 - np.exp(-(decades**2)), 50.0)


def test_suggestions_read_the_curve_where_fastai_reads_it():
    rates = lr_suggestions.exponential_rates(1e-6, 10.0, 100)
    losses = curve(rates)
    suggestions = lr_suggestions.suggest(rates, losses)
    readable = slice(10, 95)  # fastai skips the first tenth and the last 5 steps
    assert suggestions["minimum_tenth"] == rates[readable][np.argmin(losses[readable])] / 10
    assert suggestions["minimum_tenth"] == pytest.approx(1e-3, rel=0.1)  # the dip is at 1e-2
    # steepest descent of 2 - exp(-u^2) in u = log10(rate / 1e-2) is at u = -1/sqrt(2): 10**(-2 - 0.707)
    assert suggestions["steepest"] == pytest.approx(10 ** (-2 - 2**-0.5), rel=0.1)
    assert rates[10] <= suggestions["valley"] < 1e-2  # on the way down, before the minimum


def test_suggestions_stop_at_the_first_nan_and_need_enough_steps():
    rates = lr_suggestions.exponential_rates(1e-6, 10.0, 100)
    losses = curve(rates, minimum_rate=1e-1, explode_rate=1.0)
    losses[60:] = (
        np.nan
    )  # the curve still falls at step 59: the suggestions may only use steps before 60
    suggestions = lr_suggestions.suggest(rates, losses)
    assert suggestions["minimum_tenth"] == rates[59] / 10
    with pytest.raises(ValueError, match="too few usable steps"):
        lr_suggestions.suggest(rates[:14], losses[:14], num_steps=100)  # stopped before step 10 + 5
    with pytest.raises(ValueError, match="equally long.*\\(100,\\) and \\(99,\\)"):
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
