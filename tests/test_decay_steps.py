"""Lesson 06's measured steps (helpers/lessons/decay_steps.py) against their closed forms.

Decoupled decay: `w - w * weight_decay * learning_rate` in float32, exactly. L2 under Adam, first
step: `learning_rate * g / (abs(g) + epsilon / sqrt(1 - beta_2))` with `g = 2 * l2 * w`
(derived in tests/test_weight_decay_rule.py).
"""

import re

import numpy as np
import pytest

from helpers.lessons import decay_steps

WEIGHTS = [0.5, 0.01, -2.0, 1e-3]
EPSILON, BETA_2 = 1e-7, 0.999  # Keras Adam's defaults


def adam_l2_closed_form(learning_rate, l2, weights):
    weights = np.asarray(weights, "float32").astype("float64")
    gradient = 2 * l2 * weights
    return weights - learning_rate * gradient / (np.abs(gradient) + EPSILON / np.sqrt(1 - BETA_2))


@pytest.mark.parametrize("learning_rate", [1e-3, 1e-4])
@pytest.mark.parametrize("weight_decay", [0.004, 0.5])
def test_decay_step_is_exactly_the_decoupled_rule(learning_rate, weight_decay):
    weights = np.array(WEIGHTS, "float32")
    expected = weights - weights * np.float32(weight_decay) * np.float32(learning_rate)
    received = decay_steps.decay_step(learning_rate, weight_decay, WEIGHTS)
    assert received.dtype == np.float32
    np.testing.assert_array_equal(received, expected)


def test_no_decay_leaves_the_weights_bitwise():
    np.testing.assert_array_equal(
        decay_steps.decay_step(1e-3, 0.0, WEIGHTS), np.array(WEIGHTS, "float32")
    )


@pytest.mark.parametrize("learning_rate", [1e-3, 1e-4])
@pytest.mark.parametrize("l2", [1e-2, 0.5])
def test_l2_step_is_adams_first_step_on_the_penalty(learning_rate, l2):
    weights = np.array(WEIGHTS, "float32")
    received = decay_steps.l2_step(learning_rate, l2, WEIGHTS)
    expected = adam_l2_closed_form(learning_rate, l2, WEIGHTS)
    # Keras's float32 `1 - beta_2 ** 1` shortens every step by ~6.4e-6 (relative), and the
    # float32 result rounds to the weight's spacing.
    tolerance = 2 * np.spacing(np.abs(weights)) + 2e-5 * np.abs(expected - weights)
    assert np.all(np.abs(received - expected) <= tolerance), received - expected
    # A weight 50x smaller moves by nearly as much.
    moves = np.abs(received - np.array(WEIGHTS, "float32"))
    assert moves[1] / moves[0] > 0.98


def test_format_steps_shows_each_weights_move_per_rate():
    text = decay_steps.format_steps(
        [1e-3, 1e-4], np.array([0.5, 0.01]), weight_decay=0.004, l2=1e-2
    )
    rows = text.split("\n")
    assert len(rows) == 2
    for row, learning_rate in zip(rows, (1e-3, 1e-4), strict=True):
        # The float32 rule: at 1e-4 the moves are a few spacings of each weight, so they show
        # rounded (2.1e-07, not 2.0e-07).
        weights = np.array([0.5, 0.01], "float32")
        decayed = weights - weights * np.float32(0.004) * np.float32(learning_rate)
        decay = np.abs(decayed.astype("float64") - weights)
        l2_moves = np.abs(adam_l2_closed_form(learning_rate, 1e-2, [0.5, 0.01]) - [0.5, 0.01])
        assert row == (
            f"rate {learning_rate:.0e}: "
            f"decay moves 0.5 by {decay[0]:.1e}, 0.01 by {decay[1]:.1e}; "
            f"L2 moves 0.5 by {l2_moves[0]:.1e}, 0.01 by {l2_moves[1]:.1e}"
        )
    assert rows[0] == (
        "rate 1e-03: decay moves 0.5 by 2.0e-06, 0.01 by 4.0e-08; "
        "L2 moves 0.5 by 1.0e-03, 0.01 by 9.8e-04"
    )


def test_numpy_scalars_work_like_python_numbers():
    np.testing.assert_array_equal(
        decay_steps.decay_step(np.float32(1e-3), np.float64(0.5), np.array(WEIGHTS)),
        decay_steps.decay_step(float(np.float32(1e-3)), 0.5, WEIGHTS),
    )
    np.testing.assert_array_equal(
        decay_steps.l2_step(np.float64(1e-3), np.int64(1), tuple(WEIGHTS)),
        decay_steps.l2_step(1e-3, 1, WEIGHTS),
    )
    assert decay_steps.format_steps(np.array([1e-3]), WEIGHTS, np.float32(0.5), np.int64(1)) == (
        decay_steps.format_steps([1e-3], WEIGHTS, 0.5, 1)
    )


RATE = "learning_rate must be a positive, finite number."
WEIGHTS_SHAPE = "weights must have shape (weights,)."


@pytest.mark.parametrize("function", [decay_steps.decay_step, decay_steps.l2_step])
@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((0.0, 0.1, WEIGHTS), f"{RATE} Received: learning_rate=0.0"),
        ((float("nan"), 0.1, WEIGHTS), f"{RATE} Received: learning_rate=nan"),
        ((True, 0.1, WEIGHTS), f"{RATE} Received: learning_rate=True"),
        (("1e-3", 0.1, WEIGHTS), f"{RATE} Received: learning_rate='1e-3'"),
        ((1e-3, 0.1, [[0.5]]), f"{WEIGHTS_SHAPE} Received: weights of shape (1, 1)"),
        ((1e-3, 0.1, 0.5), f"{WEIGHTS_SHAPE} Received: weights of shape ()"),
        (
            (1e-3, 0.1, []),
            "weights must be a list or tuple of at least 1 item. Received: weights=[]",
        ),
        (
            (1e-3, 0.1, [0.5, float("inf")]),
            "weights must be finite. Received: weights with 1 NaN or inf values",
        ),
    ],
)
def test_a_bad_rate_or_bad_weights_are_named(function, arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        function(*arguments)


@pytest.mark.parametrize("value", [-1, float("nan"), True, "0.1", None])
def test_a_bad_weight_decay_or_l2_is_named(value):
    for name, function in (
        ("weight_decay", decay_steps.decay_step),
        ("l2", decay_steps.l2_step),
    ):
        message = f"{name} must be a finite number >= 0. Received: {name}={value!r}"
        with pytest.raises(ValueError, match=re.escape(message)):
            function(1e-3, value, WEIGHTS)
        options = {"weight_decay": 0.1, "l2": 0.1, name: value}
        with pytest.raises(ValueError, match=re.escape(message)):
            decay_steps.format_steps([1e-3], WEIGHTS, **options)


@pytest.mark.parametrize(
    ("learning_rates", "message"),
    [
        ([], "learning_rates must be a list or tuple of at least 1 item"),
        ([1e-3, 1e-3], "learning_rates must hold distinct values"),
        ([1e-3, -1.0], "learning_rates[1]"),
        ("1e-3", "learning_rates must be a list or tuple"),
    ],
)
def test_format_steps_names_bad_learning_rates(learning_rates, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        decay_steps.format_steps(learning_rates, WEIGHTS, 0.1, 0.1)


def test_format_steps_names_bad_weights():
    with pytest.raises(ValueError, match=re.escape(f"{WEIGHTS_SHAPE} Received: weights of shape")):
        decay_steps.format_steps([1e-3], [[0.5, 0.01]], 0.1, 0.1)
