"""Keras 3's decoupled weight decay measured exactly against its rule, and L2 under Adam.

The rule, from `_apply_weight_decay` in keras/src/optimizers/base_optimizer.py (and its TensorFlow
override in keras/src/backend/tensorflow/optimizer.py): before each step, every trainable variable
becomes `variable - variable * weight_decay * learning_rate`, in the variable's dtype, whatever
the optimizer. With a zero gradient nothing else moves the weight, so one step shows the rule
alone: a shrink by `weight_decay * learning_rate`, in proportion to each weight's size.

An L2 penalty `l2 * sum(w ** 2)` instead adds `2 * l2 * w` to the gradient, and Adam normalises
it (keras/src/optimizers/adam.py, `Adam.update_step`): small and large weights move by nearly the
same amount, the learning rate.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

WEIGHTS = np.array([0.5, 0.01, -3.0, 1e-3, 7.25, -123.456], "float32")
# Each optimizer's class and options besides the learning rate and the weight decay.
OPTIMIZERS = {
    "Adam": (keras.optimizers.Adam, {}),
    "AdamW": (keras.optimizers.AdamW, {}),
    "SGD, momentum 0.9": (keras.optimizers.SGD, {"momentum": 0.9}),
    "RMSprop": (keras.optimizers.RMSprop, {}),
}


def make(name, learning_rate, weight_decay):
    optimizer_class, options = OPTIMIZERS[name]
    return optimizer_class(learning_rate, weight_decay=weight_decay, **options)


def within_ulps(received, expected, weights, ulps):
    """Whether each value is within `ulps` float32 spacings of its weight from the expected one."""
    spacing = np.spacing(np.abs(np.asarray(weights, "float32"))).astype("float64")
    difference = np.abs(np.asarray(received, "float64") - expected)
    return bool(np.all(difference <= ulps * spacing))


def one_step(optimizer, gradient, weights=WEIGHTS):
    """The weights after one `apply_gradients` of `gradient`, as a float32 array."""
    variable = keras.Variable(weights)
    optimizer.apply_gradients([(np.asarray(gradient, "float32"), variable)])
    return variable.numpy()


def decoupled_rule(weights, learning_rate, weight_decay):
    """Keras's rule in numpy float32, in its order: `w - ((w * weight_decay) * learning_rate)`."""
    weights = np.asarray(weights, "float32")
    return weights - weights * np.float32(weight_decay) * np.float32(learning_rate)


@pytest.mark.parametrize("name", OPTIMIZERS)
@pytest.mark.parametrize("learning_rate", [1e-3, 1e-4, 3e-2])
@pytest.mark.parametrize("weight_decay", [4e-3, 1e-2, 0.5])
def test_with_a_zero_gradient_one_step_is_exactly_the_decoupled_rule(
    name, learning_rate, weight_decay
):
    optimizer = make(name, learning_rate, weight_decay)
    after = one_step(optimizer, np.zeros_like(WEIGHTS))
    # Bit for bit (measured: no ulp of difference for any of these optimizers).
    np.testing.assert_array_equal(after, decoupled_rule(WEIGHTS, learning_rate, weight_decay))
    assert not np.array_equal(after, WEIGHTS)


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_the_decay_scales_with_the_learning_rate(name):
    weights = np.array([0.5, -2.0, 64.0], "float32")
    moves = {}
    for learning_rate in (1e-3, 1e-4):
        after = one_step(make(name, learning_rate, 0.5), np.zeros(3), weights)
        moves[learning_rate] = weights.astype("float64") - after
    # 10x the rate, 10x the decay, to float32 precision: each move is off by at most half a
    # spacing of its weight, so `10 * move` by five.
    assert within_ulps(moves[1e-3], 10 * moves[1e-4], weights, ulps=6)
    # In proportion to each weight: `w * weight_decay * learning_rate`.
    assert within_ulps(moves[1e-3], weights * 0.5 * 1e-3, weights, ulps=1)


def test_adam_with_weight_decay_is_exactly_adamw():
    gradient = np.array([0.3, -0.2, 1e-4, 5.0, -7.0, 0.1], "float32")
    with_decay = one_step(keras.optimizers.Adam(1e-3, weight_decay=0.01), gradient)
    adamw = one_step(keras.optimizers.AdamW(1e-3, weight_decay=0.01), gradient)
    np.testing.assert_array_equal(with_decay, adamw)
    without_decay = one_step(keras.optimizers.Adam(1e-3), gradient)
    assert not np.array_equal(with_decay, without_decay)


def test_adamw_defaults_to_a_decay_adam_does_not_have():
    assert keras.optimizers.AdamW().weight_decay == 0.004
    assert keras.optimizers.Adam().weight_decay is None


def test_adams_first_step_on_an_l2_penalty_is_about_the_learning_rate_for_every_weight():
    """Keras Adam's first step, from `Adam.update_step` in keras/src/optimizers/adam.py.

    With `m` and `v` starting at 0 and `local_step = 1`:

        m = 0 + (g - 0) * (1 - beta_1) = (1 - beta_1) * g
        v = 0 + (g**2 - 0) * (1 - beta_2) = (1 - beta_2) * g**2
        alpha = learning_rate * sqrt(1 - beta_2) / (1 - beta_1)
        step = m * alpha / (sqrt(v) + epsilon)
             = learning_rate * sqrt(1 - beta_2) * g / (sqrt(1 - beta_2) * abs(g) + epsilon)
             = learning_rate * g / (abs(g) + epsilon / sqrt(1 - beta_2))

    Keras computes `1 - beta_2 ** local_step` in float32, where `beta_2` is float32(0.999) =
    0.99900001287..., so `sqrt(1 - beta_2_power)` is about 6.4e-6 (relative) below
    `sqrt(0.001)` and every Adam step about that much shorter than the formula: the comparison
    allows a relative 2e-5 of the step, plus the rounding of the float32 result (2 spacings of
    the weight).

    The loss `l2 * sum(w**2)` has the gradient `g = 2 * l2 * w`. While `abs(g)` is well above
    `epsilon / sqrt(1 - beta_2)` (1e-7 / sqrt(0.001), about 3.2e-6) the step is about
    `learning_rate * sign(w)`: a weight of 0.01 moves nearly as far as one of 0.5, where
    decoupled decay moves each by `w * weight_decay * learning_rate`, 50x apart.
    """
    learning_rate, l2 = 1e-3, 1e-2
    weights = np.array([0.5, 0.01, -3.0, 1e-3, 7.25], "float32")
    variable = keras.Variable(weights)
    optimizer = keras.optimizers.Adam(learning_rate)
    with tf.GradientTape() as tape:
        loss = l2 * keras.ops.sum(keras.ops.square(variable))
    optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])
    gradient = 2 * l2 * weights.astype("float64")
    floor = optimizer.epsilon / np.sqrt(1 - optimizer.beta_2)
    closed_form = learning_rate * gradient / (np.abs(gradient) + floor)
    difference = np.abs(variable.numpy() - (weights - closed_form))
    tolerance = 2 * np.spacing(np.abs(weights)) + 2e-5 * np.abs(closed_form)
    assert np.all(difference <= tolerance), difference / np.abs(closed_form)
    moves = np.abs(weights - variable.numpy().astype("float64"))
    large, small = moves[0], moves[1]  # the weights 0.5 and 0.01
    assert small / large > 0.98  # nearly the same step
    decay = np.abs(weights - decoupled_rule(weights, learning_rate, 4e-3).astype("float64"))
    assert decay[0] / decay[1] == pytest.approx(50, rel=1e-2)  # decay: in proportion
