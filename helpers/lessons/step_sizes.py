"""How far each optimizer moves a weight, and the Keras 3 pitfalls around learning rates (lesson 02).

The same `learning_rate` moves weights differently in Adam, SGD with momentum and RMSprop, as
`steady_gradient_steps` measures; the pitfall demos cover `lr=` and reusing an optimizer after unfreezing.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from helpers.finetune import optimizers
from helpers.finetune.optimizers import OPTIMIZER_CLASSES


def steady_gradient_steps(
    optimizer: keras.optimizers.Optimizer, steps: int = 20, gradient: float = 1.0
) -> list[float]:
    """Returns how far a fresh optimizer moves one weight at each step when the gradient never changes.

    A constant gradient (loss `gradient * w`) isolates each optimizer's rescaling: SGD with momentum `m`
    speeds up towards `learning_rate * gradient / (1 - m)`; RMSprop's first step is about
    `learning_rate / sqrt(1 - rho)`; Adam's bias correction keeps its steps near `learning_rate`.

    Args:
        optimizer: a fresh `keras.optimizers.Optimizer` (one that has not taken a step yet).
        steps: int, how many updates to apply. Defaults to 20.
        gradient: float, the constant non-zero gradient. Defaults to 1.0.

    Returns:
        A list of `steps` floats: the distance the weight moved at each update.

    Raises:
        ValueError: if `optimizer` is not fresh, `steps` < 1 or `gradient` is zero or not finite.

    Example:

    >>> moves = steady_gradient_steps(optimizers.make_optimizer("sgd", 0.01, momentum=0.5), steps=3)
    >>> [round(move, 6) for move in moves]
    [0.01, 0.015, 0.0175]
    """
    optimizers.check_optimizer(optimizer)
    if int(optimizer.iterations.numpy()) != 0 or optimizer.built:
        raise ValueError(
            f"optimizer must be fresh (no steps taken yet). Received: optimizer={optimizer.name}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int. Received: steps={steps!r}")
    number = isinstance(gradient, int | float) and not isinstance(gradient, bool)
    if not number or not math.isfinite(gradient) or gradient == 0:
        raise ValueError(
            f"gradient must be a finite non-zero number. Received: gradient={gradient!r}"
        )
    weight = keras.Variable(np.zeros(1), dtype="float64", name="weight")
    constant_gradient = keras.ops.convert_to_tensor(np.full(1, float(gradient)), dtype="float64")
    positions = [0.0]
    for _ in range(steps):
        optimizer.apply_gradients([(constant_gradient, weight)])
        positions.append(float(weight.numpy()[0]))
    return [abs(after - before) for before, after in zip(positions, positions[1:], strict=False)]


def legacy_keyword_error(name: str = "adam") -> str:
    """Returns the error Keras 3 raises for the Keras 2 spelling `Adam(lr=1e-3)`.

    Args:
        name: str, `"adam"`, `"sgd"` or `"rmsprop"`. Defaults to `"adam"`.

    Returns:
        str, `"<error type>: <message>"`, or `"no error"` if Keras accepted `lr=`.

    Raises:
        ValueError: for an unknown `name`.

    Example:

    >>> legacy_keyword_error("sgd")
    "ValueError: Argument(s) not recognized: {'lr': 0.001}"
    """
    if name not in OPTIMIZER_CLASSES:
        raise ValueError(f"name must be one of {tuple(OPTIMIZER_CLASSES)}. Received: name={name!r}")
    try:
        OPTIMIZER_CLASSES[name](lr=1e-3)
    except (TypeError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return "no error"


def recompile_after_unfreezing(reuse_optimizer: bool, seed: int = 0) -> str:
    """Freezes a layer, trains, unfreezes it, recompiles and trains again; returns what happened.

    A Keras 3 optimizer is bound to the variables it first updated: after unfreezing, the same object
    meets new variables and `fit` raises. A fresh optimizer trains the whole model.

    Args:
        reuse_optimizer: bool, recompile with the first phase's optimizer (`True`) or a fresh one.
        seed: int, seeds the tiny model and data. Defaults to 0.

    Returns:
        str, `"trained: the unfrozen base changed"`, or the error's type and message.

    Example:

    >>> recompile_after_unfreezing(reuse_optimizer=False)
    'trained: the unfrozen base changed'
    """
    keras.utils.set_random_seed(seed)
    base, head = keras.layers.Dense(4, name="base"), keras.layers.Dense(1, name="head")
    model = keras.Sequential([keras.Input((3,)), base, head], name="tiny_model")
    features, targets = np.random.default_rng(seed).random((2, 8, 3)).astype("float32")
    base.trainable = False
    first_optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=first_optimizer, loss="mse")
    model.fit(features, targets[:, :1], epochs=1, verbose=0)
    base.trainable = True
    model.compile(
        optimizer=first_optimizer if reuse_optimizer else keras.optimizers.Adam(1e-5), loss="mse"
    )
    before = base.get_weights()[0].copy()
    try:
        model.fit(features, targets[:, :1], epochs=1, verbose=0)
    except ValueError as error:
        return f"{type(error).__name__}: {error}"
    changed = not np.array_equal(before, base.get_weights()[0])
    return "trained: the unfrozen base changed" if changed else "trained: the base did not change"
