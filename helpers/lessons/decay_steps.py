"""One Adam step on known weights: decoupled weight decay against an L2 penalty (lesson 06).

Both pull weights towards zero, but not alike. Decoupled weight decay shrinks each weight by
`weight * weight_decay * learning_rate` before Adam's step (Keras's `_apply_weight_decay`), in
proportion to its size. An L2 penalty `l2 * sum(w ** 2)` adds `2 * l2 * w` to the gradient, which
Adam then normalises: its first step is `learning_rate * g / (abs(g) + epsilon / sqrt(1 -
beta_2))` with `g = 2 * l2 * w`, about `learning_rate` for a large weight and a small one alike.
`decay_step` and `l2_step` take that one step with a real Keras Adam; `format_steps` prints them
side by side for lesson 06.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import validation


def _checked_weights(weights: object) -> np.ndarray:
    """Returns `weights` as a non-empty, finite float32 array `(n,)`, or raises naming them."""
    array = validation.check_array("weights", weights, ("weights",))
    validation.check_sequence("weights", array)  # at least one weight
    return array.astype("float32")


def decay_step(learning_rate: float, weight_decay: float, weights: object) -> np.ndarray:
    """Returns `weights` after one Keras Adam step with a zero gradient and `weight_decay`.

    The gradient is zero, so Adam's own step is zero and the move is the decay alone:
    `weights - weights * weight_decay * learning_rate`, in float32.

    Args:
        learning_rate: float > 0, Adam's learning rate.
        weight_decay: float >= 0, Adam's decoupled `weight_decay`.
        weights: 1-D array-like of finite numbers, the weights before the step (held as float32).

    Returns:
        A float32 numpy array of the weights after the step.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> decay_step(1e-3, 0.5, [0.5, 0.01]).tolist()  # moves of 2.5e-4 and 5e-6
    [0.49975..., 0.00999...]
    """
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    weight_decay = validation.check_number("weight_decay", weight_decay, minimum=0)
    variable = keras.Variable(_checked_weights(weights), name="weights")
    optimizer = keras.optimizers.Adam(learning_rate, weight_decay=weight_decay)
    optimizer.apply_gradients([(keras.ops.zeros_like(variable), variable)])
    return variable.numpy()


def l2_step(learning_rate: float, l2: float, weights: object) -> np.ndarray:
    """Returns `weights` after one Keras Adam step (no weight decay) on the loss `l2 * sum(w**2)`.

    The first step of Adam on the gradient `g = 2 * l2 * w` is
    `learning_rate * g / (abs(g) + epsilon / sqrt(1 - beta_2))`: about `learning_rate` for every
    weight whose `abs(g)` is well above `epsilon / sqrt(1 - beta_2)` (about 3.2e-6).

    Args:
        learning_rate: float > 0, Adam's learning rate.
        l2: float >= 0, the penalty's factor.
        weights: 1-D array-like of finite numbers, the weights before the step (held as float32).

    Returns:
        A float32 numpy array of the weights after the step.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> l2_step(1e-3, 0.5, [0.5, 0.01]).tolist()  # both move by about 1e-3
    [0.49900..., 0.00900...]
    """
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    l2 = validation.check_number("l2", l2, minimum=0)
    variable = keras.Variable(_checked_weights(weights), name="weights")
    optimizer = keras.optimizers.Adam(learning_rate)
    with tf.GradientTape() as tape:
        loss = l2 * keras.ops.sum(keras.ops.square(variable))
    optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])
    return variable.numpy()


def format_steps(
    learning_rates: Sequence[float],
    weights: object,
    weight_decay: float,
    l2: float,
) -> str:
    """Returns a text table: for each learning rate, how far each method moves each weight.

    One row per rate, from `decay_step` and `l2_step`; the distances are measured on float32
    weights, so a move below a weight's float32 spacing (`np.spacing(weight)`) shows as 0.

    Args:
        learning_rates: sequence of distinct positive floats, one row each.
        weights: 1-D array-like of finite numbers, the weights both methods start from.
        weight_decay: float >= 0, the decoupled weight decay.
        l2: float >= 0, the L2 penalty's factor.

    Returns:
        str, one line per learning rate, e.g. `rate 1e-03: decay moves 0.5 by 2.5e-04, 0.01 by
        5.0e-06; L2 moves 0.5 by 1.0e-03, 0.01 by 1.0e-03`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> print(format_steps([1e-3, 1e-4], [0.5, 0.01], weight_decay=0.5, l2=0.5))  # 2 lines
    rate 1e-03: decay moves 0.5 by 2.5e-04, 0.01 by 5.0e-06;
    L2 moves 0.5 by 1.0e-03, 0.01 by 1.0e-03
    rate 1e-04: decay moves 0.5 by 2.5e-05, 0.01 by 5.0e-07;
    L2 moves 0.5 by 1.0e-04, 0.01 by 1.0e-04
    """
    learning_rates = validation.check_learning_rates("learning_rates", learning_rates)
    weights = _checked_weights(weights)
    weight_decay = validation.check_number("weight_decay", weight_decay, minimum=0)
    l2 = validation.check_number("l2", l2, minimum=0)
    rows = []
    for learning_rate in learning_rates:
        decayed = decay_step(learning_rate, weight_decay, weights)
        penalised = l2_step(learning_rate, l2, weights)
        decay_words = _moves(weights, decayed)
        l2_words = _moves(weights, penalised)
        rows.append(f"rate {learning_rate:.0e}: decay moves {decay_words}; L2 moves {l2_words}")
    return "\n".join(rows)


def _moves(before: np.ndarray, after: np.ndarray) -> str:
    """`0.5 by 2.5e-04, 0.01 by 5.0e-06`: each weight and how far it moved."""
    distances = np.abs(after.astype("float64") - before.astype("float64"))
    return ", ".join(
        f"{weight:g} by {distance:.1e}" for weight, distance in zip(before, distances, strict=True)
    )
