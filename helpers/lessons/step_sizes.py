"""How far each optimizer moves a weight, and Keras 3's learning-rate pitfalls (lesson 02).

The same `learning_rate` moves weights differently in Adam, SGD with momentum and RMSprop, as
`steady_gradient_steps` measures; the pitfall demos cover `lr=` and reusing an optimizer after
unfreezing.
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.finetune import optimizers, validation


def steady_gradient_steps(
    optimizer: keras.optimizers.Optimizer, steps: int = 20, gradient: float = 1.0
) -> list[float]:
    """Returns how far a fresh optimizer moves one weight at each step of a never-changing gradient.

    A constant gradient (loss `gradient * w`) isolates each optimizer's rescaling: SGD with
    momentum `m` speeds up towards `learning_rate * gradient / (1 - m)`; RMSprop's first step is
    about `learning_rate / sqrt(1 - rho)`; Adam's bias correction keeps its steps near
    `learning_rate`.

    Args:
        optimizer: a fresh `keras.optimizers.Optimizer` (one that has not taken a step yet).
        steps: int >= 1, how many updates to apply. Defaults to 20.
        gradient: float, the constant positive gradient. Defaults to 1.0.

    Returns:
        A list of `steps` floats: the distance the weight moved at each update.

    Raises:
        ValueError: if `optimizer` is not a fresh optimizer, `steps` is not an int >= 1 or
            `gradient` is not a positive, finite number.

    Example:

    >>> moves = steady_gradient_steps(optimizers.make_optimizer("sgd", 0.01, momentum=0.5), steps=3)
    >>> [round(move, 6) for move in moves]
    [0.01, 0.015, 0.0175]
    """
    optimizer = optimizers.check_optimizer(optimizer)
    steps = validation.check_int("steps", steps, minimum=1)
    gradient = validation.check_positive_number("gradient", gradient)
    has_stepped = optimizer.built or int(optimizer.iterations.numpy()) != 0
    if has_stepped:
        # A used optimizer carries momentum from its past steps, so its moves would not be its own.
        raise ValueError(
            f"optimizer must be fresh (no steps taken yet). Received: optimizer={optimizer.name}"
        )
    weight = keras.Variable(np.zeros(1), dtype="float64", name="weight")
    constant_gradient = keras.ops.convert_to_tensor(np.full(1, gradient), dtype="float64")
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
        ValueError: for an unknown `name`, suggesting the closest one.

    Example:

    >>> legacy_keyword_error("sgd")
    "ValueError: Argument(s) not recognized: {'lr': 0.001}"
    """
    name = validation.check_choice("name", name, optimizers.OPTIMIZER_CLASSES)
    try:
        optimizers.OPTIMIZER_CLASSES[name](lr=1e-3)
    except (TypeError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return "no error"


def recompile_after_unfreezing(reuse_optimizer: bool, seed: int = 0) -> str:
    """Freezes a layer, trains, unfreezes it, recompiles and trains again; returns what happened.

    A Keras 3 optimizer is bound to the variables it first updated: after unfreezing, the same
    object meets new variables and `fit` raises. A fresh optimizer trains the whole model.

    Args:
        reuse_optimizer: bool, recompile with the first phase's optimizer (`True`) or a fresh one.
        seed: int >= 0, seeds the tiny model and data. Defaults to 0.

    Returns:
        str, `"trained: the unfrozen base changed"`, or the error's type and message.

    Raises:
        ValueError: if `reuse_optimizer` is not a bool or `seed` not an int >= 0.

    Example:

    >>> recompile_after_unfreezing(reuse_optimizer=False)
    'trained: the unfrozen base changed'
    """
    reuse_optimizer = validation.check_bool("reuse_optimizer", reuse_optimizer)
    seed = validation.check_int("seed", seed, minimum=0)
    keras.utils.set_random_seed(seed)
    base = keras.layers.Dense(4, name="base")
    head = keras.layers.Dense(1, name="head")
    model = keras.Sequential([keras.Input((3,)), base, head], name="tiny_model")
    features, targets = np.random.default_rng(seed).random((2, 8, 3)).astype("float32")
    base.trainable = False
    first_optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=first_optimizer, loss="mse")
    model.fit(features, targets[:, :1], epochs=1, verbose=0)
    base.trainable = True
    second_optimizer = first_optimizer if reuse_optimizer else keras.optimizers.Adam(1e-5)
    model.compile(optimizer=second_optimizer, loss="mse")
    before = base.get_weights()[0].copy()
    try:
        model.fit(features, targets[:, :1], epochs=1, verbose=0)
    except ValueError as error:
        return f"{type(error).__name__}: {error}"
    changed = not np.array_equal(before, base.get_weights()[0])
    return "trained: the unfrozen base changed" if changed else "trained: the base did not change"
