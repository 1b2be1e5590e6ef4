"""Scaling the learning rate with the batch size (helpers/finetune/rate_scaling.py).

The rules and the exponent are compared with closed forms (exact power laws, the least-squares
slope `cov(x, y) / var(x)`); `best_rate` with exact parabolas in log(rate) and with the vertex of
the parabola through three points, solved as a linear system. `LinearWarmup` is checked against
Keras's own warmup (`CosineDecay` with `warmup_target` and no decay) and against the weights it
moves: under mean absolute error with every prediction below its target and every input 1, the
gradient of the kernel and the bias is -1 at every step, so plain SGD moves each weight by exactly
the step's rate, and Adam (a constant gradient: `m_hat / sqrt(v_hat)` is 1) by the rate too, up
to its epsilon.
"""

import math
import re

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.finetune import rate_scaling

BATCH_SIZES = (8, 16, 32, 64, 128)
BASE_BATCH_SIZE = 32
TARGET = 1000.0  # far above every prediction: mean absolute error has gradient -1 throughout


# scaled_learning_rate: the two rules.


@pytest.mark.parametrize("batch_size", BATCH_SIZES + (1, 48, 1024))
def test_the_linear_rule_multiplies_by_the_batch_ratio(batch_size):
    rate = rate_scaling.scaled_learning_rate(3e-3, BASE_BATCH_SIZE, batch_size)
    assert rate == pytest.approx(3e-3 * batch_size / BASE_BATCH_SIZE, rel=1e-12)
    assert isinstance(rate, float)


@pytest.mark.parametrize("batch_size", BATCH_SIZES + (1, 48, 1024))
def test_the_square_root_rule_multiplies_by_the_square_root_of_the_ratio(batch_size):
    rate = rate_scaling.scaled_learning_rate(3e-3, BASE_BATCH_SIZE, batch_size, "square root")
    assert rate == pytest.approx(3e-3 * math.sqrt(batch_size / BASE_BATCH_SIZE), rel=1e-12)


def test_each_rule_quadruples_the_batch_as_its_exponent_says():
    assert rate_scaling.RULES == {"linear": 1.0, "square root": 0.5}
    linear = rate_scaling.scaled_learning_rate(1e-3, 32, 128, "linear")
    square_root = rate_scaling.scaled_learning_rate(1e-3, 32, 128, "square root")
    assert (linear, square_root) == (pytest.approx(4e-3), pytest.approx(2e-3))
    halved = rate_scaling.scaled_learning_rate(1e-3, 32, 8, "square root")
    assert halved == pytest.approx(5e-4, rel=1e-12)


@pytest.mark.parametrize("rule", ["linear", "square root"])
def test_the_base_batch_keeps_the_rate_and_the_rules_compose(rule):
    assert rate_scaling.scaled_learning_rate(2.5e-4, 64, 64, rule) == 2.5e-4
    via_128 = rate_scaling.scaled_learning_rate(
        rate_scaling.scaled_learning_rate(1e-3, 16, 128, rule), 128, 512, rule
    )
    direct = rate_scaling.scaled_learning_rate(1e-3, 16, 512, rule)
    assert via_128 == pytest.approx(direct, rel=1e-12)


def test_numpy_scalars_are_accepted_as_python_numbers():
    rate = rate_scaling.scaled_learning_rate(np.float32(1e-3), np.int64(32), np.int32(128))
    assert type(rate) is float
    assert rate == pytest.approx(4e-3, rel=1e-6)
    rate = rate_scaling.scaled_learning_rate(np.float64(1e-3), 32, np.int64(8), "square root")
    assert rate == pytest.approx(5e-4, rel=1e-12)


@pytest.mark.parametrize(
    ("arguments", "argument", "received"),
    [
        ((0.0, 32, 64), "base_learning_rate", "0.0"),
        ((-1, 32, 64), "base_learning_rate", "-1"),
        ((float("nan"), 32, 64), "base_learning_rate", "nan"),
        ((float("inf"), 32, 64), "base_learning_rate", "inf"),
        (("1e-3", 32, 64), "base_learning_rate", "'1e-3'"),
        ((True, 32, 64), "base_learning_rate", "True"),
        ((1e-3, 0, 64), "base_batch_size", "0"),
        ((1e-3, 32.0, 64), "base_batch_size", "32.0"),
        ((1e-3, 32, -8), "batch_size", "-8"),
        ((1e-3, 32, 64.5), "batch_size", "64.5"),
        ((1e-3, 32, None), "batch_size", "None"),
    ],
)
def test_bad_scaling_arguments_are_named_with_the_value_received(arguments, argument, received):
    with pytest.raises(ValueError) as raised:
        rate_scaling.scaled_learning_rate(*arguments)
    message = str(raised.value)
    assert message.startswith(f"{argument} must ")
    assert message.endswith(f"Received: {argument}={received}")


def test_an_unknown_rule_lists_the_rules_and_suggests_only_a_near_one():
    message = "rule must be one of ('linear', 'square root'). Received: rule='cubic'"
    with pytest.raises(ValueError) as raised:
        rate_scaling.scaled_learning_rate(1e-3, 32, 64, rule="cubic")
    assert str(raised.value) == message
    with pytest.raises(ValueError, match=re.escape("rule='sqrt'")):
        rate_scaling.scaled_learning_rate(1e-3, 32, 64, rule="sqrt")
    with pytest.raises(ValueError, match=re.escape("Did you mean 'square root'?")):
        rate_scaling.scaled_learning_rate(1e-3, 32, 64, rule="square-root")
    with pytest.raises(ValueError, match=re.escape("Received: rule=0.5")):
        rate_scaling.scaled_learning_rate(1e-3, 32, 64, rule=0.5)


# scaling_exponent: the slope of log(rate) against log(batch size).


@pytest.mark.parametrize("exponent", [1.0, 0.5, 0.0, -0.3, 1.7])
def test_an_exact_power_law_gives_its_exponent(exponent):
    rates = [2e-3 * (size / BASE_BATCH_SIZE) ** exponent for size in BATCH_SIZES]
    assert np.isclose(rate_scaling.scaling_exponent(BATCH_SIZES, rates), exponent, atol=1e-12)
    two_points = rate_scaling.scaling_exponent([10, 1000], [rates[0], rates[0] * 100**exponent])
    assert np.isclose(two_points, exponent, atol=1e-12)


def test_the_exponent_follows_each_rule_and_ignores_the_base_rate_and_the_order():
    for rule, exponent in rate_scaling.RULES.items():
        for base_rate in (1e-5, 0.3):
            rates = [
                rate_scaling.scaled_learning_rate(base_rate, BASE_BATCH_SIZE, size, rule)
                for size in BATCH_SIZES
            ]
            assert np.isclose(rate_scaling.scaling_exponent(BATCH_SIZES, rates), exponent)
            shuffled = [4, 0, 2, 1, 3]
            sizes = [BATCH_SIZES[index] for index in shuffled]
            shuffled_rates = [rates[index] for index in shuffled]
            assert np.isclose(rate_scaling.scaling_exponent(sizes, shuffled_rates), exponent)


def test_the_exponent_is_the_least_squares_slope_of_noisy_rates():
    rng = np.random.default_rng(8)
    for _ in range(20):
        sizes = sorted(rng.choice(np.arange(1, 513), size=6, replace=False).tolist())
        rates = (1e-3 * np.exp(rng.normal(size=6))).tolist()
        logs, log_rates = np.log(sizes), np.log(rates)
        slope = np.cov(logs, log_rates, bias=True)[0, 1] / np.var(logs)
        assert np.isclose(rate_scaling.scaling_exponent(sizes, rates), slope, rtol=1e-9)


def test_repeated_rates_and_repeated_sizes_are_allowed_when_two_sizes_differ():
    assert np.isclose(rate_scaling.scaling_exponent([8, 32, 128], [1e-3] * 3), 0.0, atol=1e-12)
    repeated = rate_scaling.scaling_exponent(
        np.array([8, 8, 32, 32]), np.array([1e-3, 1e-3, 4e-3, 4e-3])
    )
    assert np.isclose(repeated, 1.0)
    assert isinstance(repeated, float)


@pytest.mark.parametrize(
    ("batch_sizes", "learning_rates", "message"),
    [
        (
            [8, 32, 128],
            [1e-3, 2e-3],
            "learning_rates must hold one rate per batch size. "
            "Received: 2 learning_rates for 3 batch_sizes",
        ),
        (
            [32],
            [1e-3],
            "batch_sizes must be a list or tuple of at least 2 items. Received: batch_sizes=[32]",
        ),
        (
            [32, 32, 32],
            [1e-3, 2e-3, 3e-3],
            "batch_sizes must hold at least two different sizes. "
            "Received: batch_sizes=[32, 32, 32]",
        ),
        ([8, 0], [1e-3, 2e-3], "Received: batch_sizes[1]=0"),
        ([8, 16.0], [1e-3, 2e-3], "Received: batch_sizes[1]=16.0"),
        ([8, 16], [1e-3, 0.0], "Received: learning_rates[1]=0.0"),
        ([8, 16], [float("nan"), 1e-3], "Received: learning_rates[0]=nan"),
        ("8, 16", [1e-3, 2e-3], "Received: batch_sizes='8, 16'"),
        ([8, 16], 1e-3, "Received: learning_rates=0.001"),
    ],
)
def test_bad_exponent_arguments_are_named(batch_sizes, learning_rates, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_scaling.scaling_exponent(batch_sizes, learning_rates)


# best_rate: the grid's best rate, placed between grid points.

GRID = [2.5e-4 * 2**power for power in range(8)]  # batch_scaling's SGD grid


@pytest.mark.parametrize("vertex", [3.6e-4, 7.1e-4, 1e-3, 2.2e-3, 5e-3, 9.99e-3, 2.2e-2])
def test_a_parabola_in_log_rate_gives_its_vertex_between_grid_points(vertex):
    losses = [0.3 + 0.7 * (math.log(rate) - math.log(vertex)) ** 2 for rate in GRID]
    assert rate_scaling.best_rate(GRID, losses) == pytest.approx(vertex, rel=1e-9)


def test_an_uneven_grid_and_nan_far_away_still_give_the_vertex():
    rates = [1e-4, 3e-4, 4e-4, 1e-3, 5e-3]
    losses = [(math.log10(rate) - math.log10(4.5e-4)) ** 2 for rate in rates]
    assert rate_scaling.best_rate(rates, losses) == pytest.approx(4.5e-4, rel=1e-9)
    losses[-1] = float("nan")
    losses[0] = float("inf")
    assert rate_scaling.best_rate(rates, losses) == pytest.approx(4.5e-4, rel=1e-9)
    as_arrays = rate_scaling.best_rate(np.array(rates), np.array(losses, "float32"))
    assert as_arrays == pytest.approx(4.5e-4, rel=1e-5)


def test_the_grid_point_itself_comes_back_when_the_parabola_is_centred_on_it():
    losses = [(math.log2(rate / 2e-3)) ** 2 for rate in GRID]
    assert rate_scaling.best_rate(GRID, losses) == pytest.approx(2e-3, rel=1e-12)


def test_scaling_every_rate_scales_the_best_rate():
    losses = [0.9, 0.4, 0.35, 0.6, 1.2, 2.0, 3.0, 9.0]
    best = rate_scaling.best_rate(GRID, losses)
    assert rate_scaling.best_rate([rate * 1e3 for rate in GRID], losses) == pytest.approx(
        best * 1e3, rel=1e-9
    )
    assert rate_scaling.best_rate(GRID, [loss * 7 + 3 for loss in losses]) == pytest.approx(
        best, rel=1e-9
    )


@pytest.mark.parametrize(
    ("losses", "expected"),
    [
        ([0.1, 0.2, 0.3, 0.4], 1e-4),  # lowest at the smallest rate
        ([0.4, 0.3, 0.2, 0.1], 8e-4),  # at the largest
        ([0.4, 0.3, 0.2, float("nan")], 4e-4),  # beside a diverged run: the grid point
        ([0.4, 0.3, 0.2, float("inf")], 4e-4),
        ([float("nan"), 0.3, 0.4, 0.5], 2e-4),
        ([float("-inf"), 0.3, 0.4, 0.5], 2e-4),  # -inf is not finite: the worst too
        ([float("nan"), float("nan"), 5.0, float("inf")], 4e-4),  # one finite loss
        ([0.1, 0.1, 0.1, 0.1], 1e-4),  # all equal: the first
    ],
)
def test_ends_and_diverged_neighbours_give_the_grid_point(losses, expected):
    rates = [1e-4, 2e-4, 4e-4, 8e-4]
    assert rate_scaling.best_rate(rates, losses) == expected


def test_a_tie_with_the_right_neighbour_gives_the_midpoint_even_at_rounding_size():
    rates = [1e-3, 2e-3, 4e-3, 8e-3]
    midpoint = math.sqrt(2e-3 * 4e-3)  # the vertex of any parabola with f(2e-3) == f(4e-3)
    assert rate_scaling.best_rate(rates, [0.7, 0.5, 0.5, 0.9]) == pytest.approx(midpoint)
    for base in (0.5, 1.0, 3.0):
        # A left rise of one or two float spacings: a least-squares fit of the three points
        # gets a curvature of rounding noise and a vertex anywhere (once: the left rate).
        for spacings in (1, 2):
            losses = [base + spacings * np.spacing(base), base, base, 2 * base]
            assert rate_scaling.best_rate(rates, losses) == pytest.approx(midpoint, rel=1e-9)


def parabola_vertex(log_rates, losses) -> float:
    """The vertex of the parabola through three points, from its coefficients (a linear solve)."""
    curvature, slope, _ = np.linalg.solve(np.vander(log_rates, 3), losses)
    return -slope / (2 * curvature)


def test_random_grids_give_a_rate_nearer_the_grid_best_than_either_neighbour():
    rng = np.random.default_rng(0)
    for _ in range(300):
        count = int(rng.integers(2, 9))
        rates = np.sort(np.exp(rng.uniform(np.log(1e-6), np.log(1.0), size=count))).tolist()
        losses = rng.uniform(0.0, 3.0, size=count)
        losses[rng.random(count) < 0.2] = rng.choice([np.nan, np.inf])
        if not np.any(np.isfinite(losses)):
            losses[int(rng.integers(count))] = 1.0
        best = rate_scaling.best_rate(rates, losses.tolist())
        assert rates[0] <= best <= rates[-1]
        worst_for_nan = np.where(np.isfinite(losses), losses, np.inf)
        lowest = int(np.argmin(worst_for_nan))
        at_edge = lowest in (0, count - 1)
        if at_edge or not np.all(np.isfinite(worst_for_nan[lowest - 1 : lowest + 2])):
            assert best == rates[lowest]
            continue
        low, centre, high = rates[lowest - 1 : lowest + 2]
        assert (
            math.sqrt(low * centre) * (1 - 1e-12) <= best <= math.sqrt(centre * high) * (1 + 1e-12)
        )
        vertex = parabola_vertex(np.log([low, centre, high]), losses[lowest - 1 : lowest + 2])
        assert best == pytest.approx(math.exp(vertex), rel=1e-6)


@pytest.mark.parametrize(
    ("learning_rates", "losses", "message"),
    [
        (
            [2e-4, 1e-4],
            [0.1, 0.2],
            "learning_rates must hold at least two rates in increasing order. "
            "Received: learning_rates=[0.0002, 0.0001]",
        ),
        (
            [1e-4],
            [0.1],
            "at least two rates in increasing order. Received: learning_rates=[0.0001]",
        ),
        ([1e-4, 1e-4], [0.1, 0.2], "learning_rates must hold distinct values"),
        ([1e-4, 0.0], [0.1, 0.2], "Received: learning_rates[1]=0.0"),
        ([1e-4, 2e-4], [0.1], "losses must hold one loss per learning rate. Received: 1 losses"),
        ([1e-4, 2e-4], [0.1, "0.2"], "losses[1] must be a number. Received: '0.2'"),
        ([1e-4, 2e-4], [None, 0.2], "losses[0] must be a number. Received: None"),
        ([1e-4, 2e-4], [True, 0.2], "losses[0] must be a number. Received: True"),
        ([1e-4, 2e-4], 0.1, "losses must be a list or tuple"),
        (
            [1e-4, 2e-4],
            [float("nan"), float("inf")],
            "losses must hold at least one finite loss. Received: losses=[nan, inf]",
        ),
    ],
)
def test_bad_grids_are_named(learning_rates, losses, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_scaling.best_rate(learning_rates, losses)


# LinearWarmup: the rate of each step, read from the optimizer, from Keras and from the weights.


class StepRecorder(keras.callbacks.Callback):
    """Records, after each step, the optimizer's rate and the kernel and bias of a Dense(1)."""

    def __init__(self) -> None:
        super().__init__()
        self.rates: list[float] = []
        self.weights: list[np.ndarray] = []

    def on_train_begin(self, logs=None):
        self.weights = [self.weight_vector()]
        self.rates = []

    def on_train_batch_end(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate))
        self.weights.append(self.weight_vector())

    def weight_vector(self) -> np.ndarray:
        return np.concatenate([np.ravel(weight) for weight in self.model.get_weights()])

    def steps(self) -> np.ndarray:
        """Each step's change of every weight, shape (steps, weights)."""
        return np.diff(np.array(self.weights, dtype=float), axis=0)


def constant_gradient_model(optimizer: keras.optimizers.Optimizer) -> keras.Model:
    """A Dense(1) from zeros whose weights get gradient -1 at every step (module docstring)."""
    layer = keras.layers.Dense(1, kernel_initializer="zeros", bias_initializer="zeros")
    model = keras.Sequential([keras.Input((1,)), layer])
    model.compile(optimizer, "mean_absolute_error")
    return model


def fit_steps(model, steps_per_epoch, epochs, callbacks, batch_size=2):
    count = steps_per_epoch * batch_size
    inputs = np.ones((count, 1), "float32")
    targets = np.full((count, 1), TARGET, "float32")
    return model.fit(
        inputs, targets, batch_size=batch_size, epochs=epochs, callbacks=callbacks, verbose=0
    )


def warmup_rates(learning_rate, warmup_steps, steps):
    """The closed form: `learning_rate * (step + 1) / warmup_steps`, then `learning_rate`."""
    return [learning_rate * min(1.0, (step + 1) / warmup_steps) for step in range(steps)]


@pytest.mark.parametrize("optimizer_name", ["sgd", "adam"])
def test_each_steps_weight_change_is_the_warmed_up_rate(optimizer_name):
    learning_rate = 0.3
    optimizer = (
        keras.optimizers.SGD(learning_rate)
        if optimizer_name == "sgd"
        else keras.optimizers.Adam(learning_rate)
    )
    model = constant_gradient_model(optimizer)
    warmup = rate_scaling.LinearWarmup(4)
    recorder = StepRecorder()
    fit_steps(model, steps_per_epoch=3, epochs=2, callbacks=[warmup, recorder])
    expected = warmup_rates(learning_rate, 4, 6)  # the ramp carries on into the second epoch
    assert expected == pytest.approx([0.075, 0.15, 0.225, 0.3, 0.3, 0.3])
    assert warmup.rates == pytest.approx(expected, rel=1e-6)  # the target is a float32
    assert recorder.rates == pytest.approx(expected, rel=1e-6)
    steps = recorder.steps()
    assert steps.shape == (6, 2)
    for weight in range(2):  # the kernel and the bias move up by the step's rate
        np.testing.assert_allclose(steps[:, weight], expected, rtol=1e-5, atol=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(learning_rate)


def test_the_ramp_matches_keras_warmup_one_step_ahead():
    # CosineDecay with alpha=1 never decays: it warms up from 0 at step 0 to the target at
    # `warmup_steps`, and stays there. LinearWarmup's first step already takes a share.
    learning_rate, warmup_steps, steps = 0.05, 5, 9
    keras_warmup = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=10, alpha=1.0, warmup_target=learning_rate, warmup_steps=warmup_steps
    )
    reference = [float(keras_warmup(step + 1)) for step in range(steps)]
    model = constant_gradient_model(keras.optimizers.SGD(learning_rate))
    warmup = rate_scaling.LinearWarmup(warmup_steps)
    fit_steps(model, steps_per_epoch=steps, epochs=1, callbacks=[warmup])
    assert warmup.rates == pytest.approx(reference, rel=1e-6)


def test_a_second_fit_ramps_again_and_a_short_fit_leaves_the_target_rate():
    model = constant_gradient_model(keras.optimizers.SGD(0.2))
    warmup = rate_scaling.LinearWarmup(10)
    recorder = StepRecorder()
    fit_steps(model, steps_per_epoch=3, epochs=1, callbacks=[warmup, recorder])
    first = [0.02, 0.04, 0.06]
    assert warmup.rates == pytest.approx(first)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.2)  # not 0.06
    fit_steps(model, steps_per_epoch=2, epochs=1, callbacks=[warmup, recorder])
    assert warmup.rates == pytest.approx([0.02, 0.04])  # from the start, at the same target
    np.testing.assert_allclose(recorder.steps()[:, 0], [0.02, 0.04], rtol=1e-5, atol=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.2)


def test_the_target_is_the_rate_set_when_fit_begins():
    model = constant_gradient_model(keras.optimizers.SGD(0.2))
    warmup = rate_scaling.LinearWarmup(2)
    fit_steps(model, steps_per_epoch=2, epochs=1, callbacks=[warmup])
    model.optimizer.learning_rate.assign(0.5)
    recorder = StepRecorder()
    fit_steps(model, steps_per_epoch=3, epochs=1, callbacks=[warmup, recorder])
    assert warmup.rates == pytest.approx([0.25, 0.5, 0.5])
    np.testing.assert_allclose(recorder.steps()[:, 1], [0.25, 0.5, 0.5], rtol=1e-5, atol=1e-6)


def test_one_warmup_step_is_the_full_rate_from_the_start():
    model = constant_gradient_model(keras.optimizers.SGD(0.1))
    warmup = rate_scaling.LinearWarmup(np.int64(1))
    assert type(warmup.warmup_steps) is int
    fit_steps(model, steps_per_epoch=3, epochs=1, callbacks=[warmup])
    assert warmup.rates == pytest.approx([0.1, 0.1, 0.1])


def test_a_schedule_is_refused_when_fit_begins_and_nothing_trains():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    model = constant_gradient_model(keras.optimizers.SGD(schedule))
    before = [weight.copy() for weight in model.get_weights()]
    message = (
        "LinearWarmup needs an optimizer with a float learning rate. "
        "Received: an optimizer following ExponentialDecay"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        fit_steps(model, steps_per_epoch=2, epochs=1, callbacks=[rate_scaling.LinearWarmup(2)])
    for weight, old in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(weight, old)


@pytest.mark.parametrize("warmup_steps", [0, -3, 2.0, True, None, "4"])
def test_bad_warmup_steps_are_named(warmup_steps):
    message = f"warmup_steps must be an int >= 1. Received: warmup_steps={warmup_steps!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_scaling.LinearWarmup(warmup_steps)


# plot_rates_against_rules


def slope_on_log_axes(line) -> float:
    return float(np.polyfit(np.log(line.get_xdata()), np.log(line.get_ydata()), 1)[0])


def test_the_plot_draws_the_measurements_and_both_rules_through_the_base_point():
    sizes = [8, 16, 32, 64, 128]
    rates = [1e-3, 1.5e-3, 3e-3, 4e-3, 7e-3]
    figure, ax = plt.subplots()
    returned = rate_scaling.plot_rates_against_rules(sizes, rates, 32, "SGD", ax=ax)
    assert returned is ax
    measured, linear, square_root = ax.get_lines()
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["SGD", "linear rule", "square-root rule"]
    np.testing.assert_array_equal(measured.get_xdata(), sizes)
    np.testing.assert_array_equal(measured.get_ydata(), rates)
    for line, exponent in ((linear, 1.0), (square_root, 0.5)):
        np.testing.assert_array_equal(line.get_xdata(), sizes)
        assert line.get_ydata()[2] == pytest.approx(3e-3, rel=1e-12)  # through batch 32's rate
        assert slope_on_log_axes(line) == pytest.approx(exponent, rel=1e-9)
    assert (ax.get_xscale(), ax.get_yscale()) == ("log", "log")
    assert [tick.get_text() for tick in ax.get_xticklabels()] == [str(size) for size in sizes]
    assert ax.get_legend() is not None
    plt.close(figure)


def test_the_plot_makes_its_own_axes_and_starts_the_rules_at_any_measured_size():
    ax = rate_scaling.plot_rates_against_rules(np.array([16, 64]), [2e-3, 5e-3], np.int64(64))
    _, linear, square_root = ax.get_lines()
    assert list(linear.get_ydata()) == pytest.approx([1.25e-3, 5e-3])
    assert list(square_root.get_ydata()) == pytest.approx([2.5e-3, 5e-3])
    assert ax.get_lines()[0].get_label() == "best rate"
    plt.close(ax.figure)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            ([8, 32, 128], [1e-3, 2e-3, 4e-3], 16),
            "base_batch_size must be one of (8, 32, 128). Received: base_batch_size=16",
        ),
        (([8, 32], [1e-3], 8), "Received: 1 learning_rates for 2 batch_sizes"),
        (([8], [1e-3], 8), "batch_sizes must be a list or tuple of at least 2 items"),
        (([8, 32], [1e-3, -2e-3], 8), "Received: learning_rates[1]=-0.002"),
        (([8, 32], [1e-3, 2e-3], 8, " "), "label must be a non-blank str. Received: label=' '"),
    ],
)
def test_bad_plot_arguments_are_named_and_draw_nothing(arguments, message):
    figure, ax = plt.subplots()
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_scaling.plot_rates_against_rules(*arguments, ax=ax)
    assert ax.get_lines() == []
    plt.close(figure)
