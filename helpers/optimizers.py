"""Keras 3 optimizers with a custom learning rate: build, read, change, measure (used by lesson 02).

The same `learning_rate` moves weights differently in Adam, SGD with momentum and RMSprop, as
`steady_gradient_steps` measures; the pitfall demos cover `lr=`, int schedules and reused optimizers.
"""

from __future__ import annotations

import math

import keras
import numpy as np

OPTIMIZER_CLASSES = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}
DEFAULT_MOMENTUM = 0.9  # the course's SGD momentum; Keras's own default is 0.0
Schedule = keras.optimizers.schedules.LearningRateSchedule


def check_learning_rate(learning_rate: float | Schedule) -> None:
    """Raises a clear `ValueError` for a learning rate that Keras 3 rejects or silently mishandles.

    A plain rate must be a positive, finite float (Keras 3 refuses the int `1`). A schedule takes the
    dtype of its start: `PolynomialDecay(0, ..., end_learning_rate=1e-3)` casts 1e-3 to the int 0.

    Args:
        learning_rate: float or `keras.optimizers.schedules.LearningRateSchedule`.

    Raises:
        ValueError: if `learning_rate` is not a positive finite float or a schedule of floats.

    Example:

    >>> check_learning_rate(1e-3)
    >>> check_learning_rate(-0.1)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be positive and finite. Received: learning_rate=-0.1
    """
    if isinstance(learning_rate, Schedule):
        config = learning_rate.get_config()
        for key in ("initial_learning_rate", "values"):
            values = np.atleast_1d(np.asarray(config.get(key, []), dtype=object))
            if any(isinstance(value, int | np.integer) for value in values):
                raise ValueError(
                    f"A schedule's {key} must be float (write 0.0, not 0): Keras casts an int schedule's "
                    f"rates to int32, so it stays at 0 or fails. Received: {key}={config[key]!r}"
                )
        return
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, float | np.floating):
        kind = "a float (Keras 3 rejects ints)" if isinstance(learning_rate, int) else "a float or a schedule"
        raise ValueError(f"learning_rate must be {kind}. Received: learning_rate={learning_rate!r}")
    if not math.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(f"learning_rate must be positive and finite. Received: learning_rate={learning_rate}")


def make_optimizer(name: str, learning_rate: float | Schedule, **options: float) -> keras.optimizers.Optimizer:
    """Returns a fresh Keras optimizer (`"adam"`, `"sgd"` or `"rmsprop"`) with a checked learning rate.

    Fresh matters: Keras 3 binds an optimizer to its first variables (see `recompile_after_unfreezing`).

    Args:
        name: str, `"adam"`, `"sgd"` or `"rmsprop"` (any case).
        learning_rate: float or schedule, checked by `check_learning_rate`.
        **options: keyword arguments for the Keras class. SGD's `momentum` defaults to 0.9.

    Returns:
        A new `keras.optimizers.Adam`, `SGD` or `RMSprop`.

    Raises:
        ValueError: for an unknown `name`, a bad `learning_rate`, or `momentum` outside [0, 1).

    Example:

    >>> optimizer = make_optimizer("sgd", learning_rate=1e-2)
    >>> type(optimizer).__name__, optimizer.get_config()["momentum"]
    ('SGD', 0.9)
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in OPTIMIZER_CLASSES:
        raise ValueError(f"name must be one of {tuple(OPTIMIZER_CLASSES)}. Received: name={name!r}")
    check_learning_rate(learning_rate)
    if key == "sgd":
        options.setdefault("momentum", DEFAULT_MOMENTUM)
    momentum = options.get("momentum", 0.0)
    if isinstance(momentum, bool) or not isinstance(momentum, int | float) or not 0 <= momentum < 1:
        raise ValueError(f"momentum must be a number in [0, 1). Received: momentum={momentum!r}")
    learning_rate = learning_rate if isinstance(learning_rate, Schedule) else float(learning_rate)
    return OPTIMIZER_CLASSES[key](learning_rate=learning_rate, **options)


def _check_optimizer(optimizer: keras.optimizers.Optimizer) -> None:
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(f"optimizer must be a keras.optimizers.Optimizer. Received: optimizer={optimizer!r}")


def learning_rate_of(optimizer: keras.optimizers.Optimizer) -> float:
    """Returns the optimizer's current learning rate as a float (a schedule's value at this step).

    Args:
        optimizer: `keras.optimizers.Optimizer`.

    Returns:
        float, `optimizer.learning_rate` now; for a schedule, its value at `optimizer.iterations`.

    Raises:
        ValueError: if `optimizer` is not a Keras optimizer.

    Example:

    >>> round(learning_rate_of(keras.optimizers.Adam(learning_rate=1e-4)), 8)
    0.0001
    """
    _check_optimizer(optimizer)
    return float(optimizer.learning_rate)


def set_learning_rate(optimizer: keras.optimizers.Optimizer, learning_rate: float) -> None:
    """Changes the learning rate of an optimizer built with a float, the Keras 3 way.

    Keras 3 assigns `optimizer.learning_rate = value`; a schedule's rate cannot be set (build anew).

    Args:
        optimizer: `keras.optimizers.Optimizer` built with a float learning rate.
        learning_rate: float, the new positive, finite learning rate.

    Raises:
        ValueError: for a bad `learning_rate` or an optimizer that follows a schedule.

    Example:

    >>> optimizer = keras.optimizers.SGD(learning_rate=1e-2)
    >>> set_learning_rate(optimizer, 1e-3)
    >>> round(learning_rate_of(optimizer), 8)
    0.001
    """
    _check_optimizer(optimizer)
    schedule = optimizer.get_config()["learning_rate"]
    if isinstance(schedule, dict):
        raise ValueError(
            "optimizer follows a schedule, so its learning rate cannot be set; build a new optimizer. "
            f"Received: optimizer={type(optimizer).__name__}(learning_rate={schedule['class_name']}(...))"
        )
    if isinstance(learning_rate, Schedule):
        raise ValueError(f"learning_rate must be a float here. Received: learning_rate={learning_rate!r}")
    check_learning_rate(learning_rate)
    optimizer.learning_rate = float(learning_rate)


def steady_gradient_steps(optimizer: keras.optimizers.Optimizer, steps: int = 20, gradient: float = 1.0) -> list[float]:
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

    >>> moves = steady_gradient_steps(make_optimizer("sgd", 0.01, momentum=0.5), steps=3)
    >>> [round(move, 6) for move in moves]
    [0.01, 0.015, 0.0175]
    """
    _check_optimizer(optimizer)
    if int(optimizer.iterations.numpy()) != 0 or optimizer.built:
        raise ValueError(f"optimizer must be fresh (no steps taken yet). Received: optimizer={optimizer.name}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive int. Received: steps={steps!r}")
    number = isinstance(gradient, int | float) and not isinstance(gradient, bool)
    if not number or not math.isfinite(gradient) or gradient == 0:
        raise ValueError(f"gradient must be a finite non-zero number. Received: gradient={gradient!r}")
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
    model.compile(optimizer=first_optimizer if reuse_optimizer else keras.optimizers.Adam(1e-5), loss="mse")
    before = base.get_weights()[0].copy()
    try:
        model.fit(features, targets[:, :1], epochs=1, verbose=0)
    except ValueError as error:
        return f"{type(error).__name__}: {error}"
    changed = not np.array_equal(before, base.get_weights()[0])
    return "trained: the unfrozen base changed" if changed else "trained: the base did not change"
