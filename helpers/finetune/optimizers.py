"""Keras 3 optimizers by name with a checked learning rate; reading and changing it (lessons 02-05).

`make_optimizer` builds Adam, SGD with momentum or RMSprop from a name and a `learning_rate`;
`learning_rate_of` and `set_learning_rate` read and change the rate of an optimizer that exists.
Every argument is checked by `helpers.finetune.validation`. How far each optimizer moves a weight,
and the Keras 3 pitfalls, are lesson 02's demos (`helpers.lessons.step_sizes`).
"""

from __future__ import annotations

import keras

from helpers.finetune import validation

OPTIMIZER_CLASSES = {
    "adam": keras.optimizers.Adam,
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
}
DEFAULT_MOMENTUM = 0.9  # the course's SGD momentum; Keras's own default is 0.0
Schedule = validation.Schedule


def check_optimizer(optimizer: object) -> keras.optimizers.Optimizer:
    """Returns `optimizer`, or raises unless it is a `keras.optimizers.Optimizer`.

    Example:

    >>> check_optimizer("adam")
    Traceback (most recent call last):
    ...
    ValueError: optimizer must be a keras.optimizers.Optimizer. Received: optimizer='adam'
    """
    return validation.check_instance(
        "optimizer", optimizer, keras.optimizers.Optimizer, "a keras.optimizers.Optimizer"
    )


def check_plain_learning_rate(
    name: str,
    optimizer: keras.optimizers.Optimizer,
    consequence: str = "its learning rate cannot be set; build a new optimizer",
) -> keras.optimizers.Optimizer:
    """Returns `optimizer`, or raises if it follows a schedule instead of holding a plain rate.

    A schedule's rate cannot be assigned (Keras raises a `TypeError`), so code that sets the
    rate step by step, like `set_learning_rate` or the range test, needs a plain one.

    Args:
        name: str, the argument's name, e.g. `"optimizer"` or `"model.optimizer"`.
        optimizer: `keras.optimizers.Optimizer`.
        consequence: str, what a schedule prevents, for the message. Defaults to "its learning
            rate cannot be set; build a new optimizer".

    Returns:
        The optimizer, unchanged.

    Raises:
        ValueError: naming `name` and the schedule it follows.

    Example:

    >>> decay = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5)
    >>> check_plain_learning_rate("optimizer", keras.optimizers.SGD(decay))
    Traceback (most recent call last):
    ...
    ValueError: optimizer follows a schedule, so its learning rate cannot be set; build a new
    optimizer. Received: optimizer=SGD(learning_rate=ExponentialDecay(...))
    """
    learning_rate = optimizer.get_config()["learning_rate"]
    follows_a_schedule = isinstance(learning_rate, dict)  # a serialized LearningRateSchedule
    if follows_a_schedule:
        described = f"{type(optimizer).__name__}(learning_rate={learning_rate['class_name']}(...))"
        raise ValueError(
            f"{name} follows a schedule, so {consequence}. Received: {name}={described}"
        )
    return optimizer


def make_optimizer(
    name: str, learning_rate: float | Schedule, **options: object
) -> keras.optimizers.Optimizer:
    """Returns a fresh Keras optimizer (`"adam"`, `"sgd"` or `"rmsprop"`) with a checked rate.

    Fresh matters: Keras 3 binds an optimizer to the variables it first updates, so a model that
    is unfrozen and recompiled needs a new one (`step_sizes.recompile_after_unfreezing`).

    Args:
        name: str, `"adam"`, `"sgd"` or `"rmsprop"` (any case).
        learning_rate: a positive number (Python or numpy, int or float) or a schedule of float
            rates.
        **options: keyword arguments for the Keras class. SGD's `momentum` defaults to 0.9;
            `weight_decay` (float >= 0 or None) is Keras's decoupled decay, applied before each
            step as `variable.assign_sub(variable * weight_decay * learning_rate)`.

    Returns:
        A new `keras.optimizers.Adam`, `SGD` or `RMSprop`.

    Raises:
        ValueError: for an unknown `name`, a bad `learning_rate`, `momentum` outside [0, 1), or
            a `weight_decay` that is neither None nor a finite number >= 0.

    Example:

    >>> optimizer = make_optimizer("SGD", learning_rate=1)
    >>> type(optimizer).__name__, optimizer.get_config()["momentum"]
    ('SGD', 0.9)
    >>> make_optimizer("adamw", 1e-3)
    Traceback (most recent call last):
    ...
    ValueError: name must be one of ('adam', 'sgd', 'rmsprop'). Received: name='adamw'.
    Did you mean 'adam'?
    """
    lowercase_name = name.lower() if isinstance(name, str) else name
    key = validation.check_choice("name", lowercase_name, OPTIMIZER_CLASSES)
    learning_rate = validation.check_learning_rate("learning_rate", learning_rate)
    if key == "sgd":
        options.setdefault("momentum", DEFAULT_MOMENTUM)
    if "momentum" in options:
        options["momentum"] = validation.check_probability("momentum", options["momentum"])
    if options.get("weight_decay") is not None:
        options["weight_decay"] = validation.check_number(
            "weight_decay", options["weight_decay"], minimum=0
        )
    return OPTIMIZER_CLASSES[key](learning_rate=learning_rate, **options)


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
    """Changes the learning rate of an optimizer built with a plain rate, the Keras 3 way.

    Keras 3 assigns `optimizer.learning_rate = value`. An optimizer that follows a schedule has no
    rate to assign (Keras raises a `TypeError`): build a new optimizer instead.

    Args:
        optimizer: `keras.optimizers.Optimizer` built with a plain learning rate.
        learning_rate: the new positive, finite learning rate (Python or numpy, int or float).

    Raises:
        ValueError: for a bad `learning_rate` or an optimizer that follows a schedule.

    Example:

    >>> optimizer = keras.optimizers.SGD(learning_rate=1e-2)
    >>> set_learning_rate(optimizer, 1e-3)
    >>> round(learning_rate_of(optimizer), 8)
    0.001
    """
    check_optimizer(optimizer)
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    check_plain_learning_rate("optimizer", optimizer)
    optimizer.learning_rate = learning_rate
