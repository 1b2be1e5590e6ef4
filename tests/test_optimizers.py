"""Optimizers with a custom learning rate: building, reading, changing, step sizes and Keras 3 pitfalls."""

import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import optimizers
from helpers.lessons import step_sizes

schedules = keras.optimizers.schedules


@pytest.mark.parametrize(
    ("name", "keras_class"),
    [
        ("adam", keras.optimizers.Adam),
        ("SGD", keras.optimizers.SGD),
        ("rmsprop", keras.optimizers.RMSprop),
    ],
)
def test_make_optimizer_returns_a_fresh_keras_optimizer(name, keras_class):
    first = optimizers.make_optimizer(name, learning_rate=3e-4)
    second = optimizers.make_optimizer(name, learning_rate=3e-4)
    assert type(first) is keras_class and first is not second
    assert int(first.iterations.numpy()) == 0
    assert optimizers.learning_rate_of(first) == pytest.approx(3e-4, rel=1e-6)


def test_sgd_gets_the_course_momentum_unless_told_otherwise():
    assert optimizers.make_optimizer("sgd", 1e-2).get_config()["momentum"] == pytest.approx(0.9)
    assert optimizers.make_optimizer("sgd", 1e-2, momentum=0.0).get_config()["momentum"] == 0.0
    assert optimizers.make_optimizer("rmsprop", 1e-3).get_config()["momentum"] == 0.0
    assert (
        keras.optimizers.SGD(learning_rate=1e-2).get_config()["momentum"] == 0.0
    )  # Keras's own default


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"name": "adamw", "learning_rate": 1e-3},
            re.escape("name must be one of ('adam', 'sgd', 'rmsprop'). Received: name='adamw'"),
        ),
        ({"name": "adam", "learning_rate": 0.0}, "Received: learning_rate=0.0"),
        (
            {"name": "adam", "learning_rate": -0.1},
            "learning_rate must be positive and finite. Received: learning_rate=-0.1",
        ),
        ({"name": "adam", "learning_rate": float("inf")}, "Received: learning_rate=inf"),
        ({"name": "adam", "learning_rate": float("nan")}, "Received: learning_rate=nan"),
        (
            {"name": "adam", "learning_rate": 1},
            r"a float \(Keras 3 rejects ints\). Received: learning_rate=1",
        ),
        ({"name": "adam", "learning_rate": "1e-3"}, "Received: learning_rate='1e-3'"),
        (
            {"name": "sgd", "learning_rate": 1e-2, "momentum": 1.0},
            r"momentum must be a number in \[0, 1\). Received: momentum=1.0",
        ),
        ({"name": "sgd", "learning_rate": 1e-2, "momentum": -0.1}, "Received: momentum=-0.1"),
        ({"name": "rmsprop", "learning_rate": 1e-2, "momentum": True}, "Received: momentum=True"),
    ],
)
def test_make_optimizer_rejects_bad_arguments_naming_them(arguments, message):
    with pytest.raises(ValueError, match=message):
        optimizers.make_optimizer(**arguments)


def test_keras_accepts_a_negative_learning_rate_silently_but_make_optimizer_does_not():
    assert float(keras.optimizers.SGD(learning_rate=-0.01).learning_rate) == pytest.approx(-0.01)
    with pytest.raises(ValueError, match="Received: learning_rate=-0.01"):
        optimizers.make_optimizer("sgd", learning_rate=-0.01)


def test_keras_itself_rejects_an_int_learning_rate():
    """The reason `check_learning_rate` refuses ints: Keras 3 does too, with a longer message."""
    with pytest.raises(ValueError, match="should be float"):
        keras.optimizers.SGD(learning_rate=1)


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.PolynomialDecay(0, decay_steps=10, end_learning_rate=1e-3),
        schedules.CosineDecay(0, decay_steps=10, warmup_target=1e-3, warmup_steps=5),
        schedules.PiecewiseConstantDecay([5], [0, 1e-3]),
    ],
)
def test_make_optimizer_rejects_a_schedule_of_ints(schedule):
    with pytest.raises(ValueError, match=r"must be float \(write 0.0, not 0\)"):
        optimizers.make_optimizer("adam", schedule)


def test_make_optimizer_accepts_a_schedule_that_starts_at_float_zero():
    warmup = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=1e-3, warmup_steps=5)
    assert optimizers.learning_rate_of(optimizers.make_optimizer("adam", warmup)) == 0.0


def test_learning_rate_of_follows_a_schedule_step_by_step():
    decay = schedules.ExponentialDecay(1e-2, decay_steps=1, decay_rate=0.5)
    optimizer = optimizers.make_optimizer("sgd", decay, momentum=0.0)
    variable = keras.Variable(np.zeros(2, dtype="float32"))
    for step in range(4):
        assert optimizers.learning_rate_of(optimizer) == pytest.approx(1e-2 * 0.5**step, rel=1e-6)
        optimizer.apply_gradients([(np.ones(2, dtype="float32"), variable)])


def test_set_learning_rate_changes_the_steps_the_optimizer_takes():
    optimizer = optimizers.make_optimizer("sgd", 1e-2, momentum=0.0)
    variable = keras.Variable(np.zeros(1, dtype="float32"))
    optimizer.apply_gradients([(np.ones(1, dtype="float32"), variable)])
    optimizers.set_learning_rate(optimizer, 1e-3)
    optimizer.apply_gradients([(np.ones(1, dtype="float32"), variable)])
    assert optimizers.learning_rate_of(optimizer) == pytest.approx(1e-3, rel=1e-6)
    assert float(variable.numpy()[0]) == pytest.approx(-1e-2 - 1e-3, rel=1e-6)


@pytest.mark.parametrize("learning_rate", [0.0, -1e-3, 1, float("nan")])
def test_set_learning_rate_validates_the_value(learning_rate):
    with pytest.raises(ValueError, match=f"Received: learning_rate={learning_rate}"):
        optimizers.set_learning_rate(keras.optimizers.Adam(1e-3), learning_rate)


def test_set_learning_rate_refuses_a_scheduled_optimizer_as_keras_does():
    scheduled = keras.optimizers.Adam(
        schedules.ExponentialDecay(1e-3, decay_steps=10, decay_rate=0.5)
    )
    with pytest.raises(TypeError, match="not settable"):
        scheduled.learning_rate = 1e-4
    with pytest.raises(
        ValueError,
        match=re.escape(
            "cannot be set; build a new optimizer. Received: optimizer=Adam(learning_rate=ExponentialDecay(...))"
        ),
    ):
        optimizers.set_learning_rate(scheduled, 1e-4)
    with pytest.raises(ValueError, match="learning_rate must be a float here"):
        optimizers.set_learning_rate(
            keras.optimizers.Adam(1e-3), schedules.ExponentialDecay(1e-3, 10, 0.5)
        )


@pytest.mark.parametrize("not_an_optimizer", ["adam", None, 1e-3])
def test_functions_that_take_an_optimizer_reject_other_things(not_an_optimizer):
    for function in (optimizers.learning_rate_of, step_sizes.steady_gradient_steps):
        with pytest.raises(ValueError, match=f"Received: optimizer={not_an_optimizer!r}"):
            function(not_an_optimizer)


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 0.99])
def test_momentum_steps_follow_the_closed_form_and_approach_learning_rate_over_one_minus_momentum(
    momentum,
):
    """Keras SGD: velocity = m * velocity - lr * g, so step k moves lr * g * (1 - m**k) / (1 - m)."""
    learning_rate, gradient, steps = 0.01, 2.0, 60
    moves = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("sgd", learning_rate, momentum=momentum),
        steps=steps,
        gradient=gradient,
    )
    closed_form = [
        learning_rate * gradient * (1 - momentum**step) / (1 - momentum)
        for step in range(1, steps + 1)
    ]
    np.testing.assert_allclose(moves, closed_form, rtol=1e-5)
    if momentum <= 0.9:  # 0.99 needs hundreds of steps to get there
        assert moves[-1] == pytest.approx(learning_rate * gradient / (1 - momentum), rel=1e-2)


def test_momentum_point_nine_makes_the_effective_step_ten_times_the_learning_rate():
    moves = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("sgd", 0.01, momentum=0.9), steps=100
    )
    assert moves[0] == pytest.approx(0.01, rel=1e-6) and moves[-1] == pytest.approx(0.1, rel=1e-4)


@pytest.mark.parametrize("gradient", [1.0, 0.5, 100.0])
@pytest.mark.parametrize("rho", [0.9, 0.99])
def test_rmsprop_first_step_is_larger_than_adams_by_one_over_sqrt_one_minus_rho(gradient, rho):
    learning_rate = 1e-3
    rmsprop = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("rmsprop", learning_rate, rho=rho), 5, gradient
    )
    adam = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("adam", learning_rate), 5, gradient
    )
    np.testing.assert_allclose(
        adam, learning_rate, rtol=1e-4
    )  # bias correction: each steady step ~ lr
    assert rmsprop[0] / adam[0] == pytest.approx(
        1 / math.sqrt(1 - rho), rel=1e-4
    )  # 3.16 for rho=0.9
    # Reference: Keras RMSprop has no bias correction; after k steps velocity = (1 - rho**k) * g**2.
    expected = [
        learning_rate * gradient / math.sqrt((1 - rho**step) * gradient**2 + 1e-7)
        for step in range(1, 6)
    ]
    np.testing.assert_allclose(rmsprop, expected, rtol=1e-5)


def test_steady_gradient_steps_needs_a_fresh_optimizer_and_sane_arguments():
    used = optimizers.make_optimizer("adam", 1e-3)
    step_sizes.steady_gradient_steps(used, steps=1)
    with pytest.raises(ValueError, match="optimizer must be fresh"):
        step_sizes.steady_gradient_steps(used)
    for steps in [0, 2.5, True]:
        with pytest.raises(ValueError, match=f"Received: steps={steps!r}"):
            step_sizes.steady_gradient_steps(optimizers.make_optimizer("adam", 1e-3), steps=steps)
    for gradient in [0.0, float("nan"), "1"]:
        with pytest.raises(ValueError, match="gradient must be a finite non-zero number"):
            step_sizes.steady_gradient_steps(
                optimizers.make_optimizer("adam", 1e-3), gradient=gradient
            )


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_keras_2_lr_keyword_raises_value_error_in_keras_3(name):
    assert (
        step_sizes.legacy_keyword_error(name)
        == "ValueError: Argument(s) not recognized: {'lr': 0.001}"
    )
    with pytest.raises(ValueError, match=r"Argument\(s\) not recognized"):
        optimizers.OPTIMIZER_CLASSES[name](lr=1e-3)
    with pytest.raises(ValueError, match="Received: name='nadam'"):
        step_sizes.legacy_keyword_error("nadam")


@pytest.mark.parametrize("end_learning_rate", [1e-3, 0.5])
def test_polynomial_decay_from_int_zero_stays_at_zero_and_never_moves_the_weights(
    end_learning_rate,
):
    stuck = schedules.PolynomialDecay(0, decay_steps=10, end_learning_rate=end_learning_rate)
    rising = schedules.PolynomialDecay(0.0, decay_steps=10, end_learning_rate=end_learning_rate)
    assert [float(stuck(step)) for step in range(0, 12, 2)] == [0.0] * 6
    assert float(rising(10)) == pytest.approx(end_learning_rate, rel=1e-6)
    assert step_sizes.steady_gradient_steps(keras.optimizers.SGD(stuck), steps=4) == [0.0] * 4
    assert all(
        move > 0
        for move in step_sizes.steady_gradient_steps(keras.optimizers.SGD(rising), steps=4)[1:]
    )


def test_an_int_start_casts_the_schedules_other_rates_to_int():
    """Why the int 0 sticks: the schedule takes the start's dtype, so the end rate 1.5 is truncated to 1."""
    assert float(schedules.PolynomialDecay(0, decay_steps=10, end_learning_rate=1.5)(10)) == 1.0
    assert float(schedules.PolynomialDecay(0.0, decay_steps=10, end_learning_rate=1.5)(10)) == 1.5


def test_cosine_decay_warmup_from_int_zero_raises_a_dtype_error_while_float_zero_warms_up():
    broken = schedules.CosineDecay(0, decay_steps=100, warmup_target=1e-3, warmup_steps=10)
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32"):
        broken(1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32"):
        step_sizes.steady_gradient_steps(keras.optimizers.Adam(broken), steps=1)
    working = schedules.CosineDecay(0.0, decay_steps=100, warmup_target=1e-3, warmup_steps=10)
    assert [float(working(step)) for step in (0, 5, 10)] == pytest.approx(
        [0.0, 5e-4, 1e-3], rel=1e-6
    )


def test_reusing_the_optimizer_after_unfreezing_raises_unknown_variable():
    outcome = step_sizes.recompile_after_unfreezing(reuse_optimizer=True)
    assert outcome.startswith("ValueError: Unknown variable: <Variable path=tiny_model/base/kernel")
    assert (
        "This optimizer can only be called for the variables it was originally built with"
        in outcome
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_a_fresh_optimizer_after_unfreezing_trains_the_base(seed):
    assert (
        step_sizes.recompile_after_unfreezing(reuse_optimizer=False, seed=seed)
        == "trained: the unfrozen base changed"
    )
