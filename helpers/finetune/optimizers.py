"""Keras 3 optimizers with a custom learning rate: build one, read its rate, change it (lessons 02-05).

`make_optimizer` builds Adam, SGD with momentum or RMSprop from a name and a `learning_rate`;
`learning_rate_of` and `set_learning_rate` read and change the rate of an optimizer that exists.
How far each optimizer moves a weight, and the Keras 3 pitfalls, are lesson 02's demos (`step_sizes`).
"""

from __future__ import annotations

import math

import keras
import numpy as np

OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
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
        kind = (
            "a float (Keras 3 rejects ints)"
            if isinstance(learning_rate, int)
            else "a float or a schedule"
        )
        raise ValueError(f"learning_rate must be {kind}. Received: learning_rate={learning_rate!r}")
    if not math.isfinite(learning_rate) or learning_rate <= 0:
        raise ValueError(
            f"learning_rate must be positive and finite. Received: learning_rate={learning_rate}"
        )


def make_optimizer(
    name: str, learning_rate: float | Schedule, **options: float
) -> keras.optimizers.Optimizer:
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


def check_optimizer(optimizer: keras.optimizers.Optimizer) -> None:
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            f"optimizer must be a keras.optimizers.Optimizer. Received: optimizer={optimizer!r}"
        )


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
    check_optimizer(optimizer)
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
    check_optimizer(optimizer)
    schedule = optimizer.get_config()["learning_rate"]
    if isinstance(schedule, dict):
        raise ValueError(
            "optimizer follows a schedule, so its learning rate cannot be set; build a new optimizer. "
            f"Received: optimizer={type(optimizer).__name__}(learning_rate={schedule['class_name']}(...))"
        )
    if isinstance(learning_rate, Schedule):
        raise ValueError(
            f"learning_rate must be a float here. Received: learning_rate={learning_rate!r}"
        )
    check_learning_rate(learning_rate)
    optimizer.learning_rate = float(learning_rate)
