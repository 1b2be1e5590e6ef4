"""Lesson 02's optimizer demos (helpers/lessons/step_sizes.py): step sizes and Keras 3 pitfalls."""

import math
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import optimizers
from helpers.lessons import step_sizes

schedules = keras.optimizers.schedules


@pytest.mark.parametrize("not_an_optimizer", ["adam", None, 1e-3])
def test_steady_gradient_steps_rejects_what_is_not_an_optimizer(not_an_optimizer):
    with pytest.raises(ValueError, match=f"Received: optimizer={not_an_optimizer!r}"):
        step_sizes.steady_gradient_steps(not_an_optimizer)


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 0.99])
def test_momentum_steps_follow_the_closed_form_and_approach_learning_rate_over_one_minus_momentum(
    momentum,
):
    """Keras SGD: velocity = m * velocity - lr * g: step k moves lr * g * (1 - m**k) / (1 - m)."""
    learning_rate = 0.01
    gradient = 2.0
    steps = 60
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
    # bias correction: each steady step ~ lr
    np.testing.assert_allclose(adam, learning_rate, rtol=1e-4)
    # 3.16 for rho=0.9
    assert rmsprop[0] / adam[0] == pytest.approx(1 / math.sqrt(1 - rho), rel=1e-4)
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
        expected = f"gradient must be a positive, finite number. Received: gradient={gradient!r}"
        with pytest.raises(ValueError, match=re.escape(expected)):
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
