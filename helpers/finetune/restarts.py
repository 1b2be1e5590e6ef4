"""One compiled model for a whole sweep: restore its starting state, restart its optimizer.

Tracing MobileNetV2's training step costs 5-18 s on 2 CPU cores, and `compile` throws the traced
step away. A sweep over learning rates or seeds therefore keeps one compiled model and, before each
run, puts it back where a freshly built one would start:

- `save_state` / `restore_state` copy every variable of the model: weights, BatchNormalization
  statistics and the state of each dropout layer's seed generator (which `get_weights` leaves
  out), so dropout draws the same masks as in a fresh build.
- `restart_optimizer` sets the optimizer's step counter and moments back to zero and its learning
  rate to the new one: the optimizer a new `compile` would make, in the variables the traced step
  already reads.

`two_phase.fine_tune` restarts the optimizer itself when it is handed a model it compiled before,
for the same trainable weights; `tests/test_restarts.py` checks that such a run is bitwise the run
of a freshly built and compiled model.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from helpers.finetune import validation


@dataclasses.dataclass(frozen=True)
class ModelState:
    """A copy of every variable of one model (`model.variables`), in order."""

    # The model's name, for error messages.
    model_name: str
    values: tuple[np.ndarray, ...]


def save_state(model: keras.Model) -> ModelState:
    """Copies every variable of `model`: weights, BatchNorm statistics, dropout seed generators.

    Args:
        model: a built Keras model.

    Returns:
        A `ModelState` for `restore_state`.

    Raises:
        ValueError: if `model` is not a Keras model.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> start = save_state(model)
    >>> _ = model.layers[0].kernel.assign(np.ones((2, 1)))
    >>> restore_state(model, start)
    >>> bool(np.array_equal(model.layers[0].kernel.numpy(), start.values[0]))
    True
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    values = tuple(np.array(variable.numpy(), copy=True) for variable in model.variables)
    return ModelState(model_name=model.name, values=values)


def restore_state(model: keras.Model, state: ModelState) -> None:
    """Writes a `ModelState` back into `model`, every variable as it was when saved.

    Args:
        model: the Keras model `state` was saved from, or one built the same way.
        state: ModelState, from `save_state`.

    Raises:
        ValueError: if `state` is not a `ModelState` of a model with `model`'s variables (their
            number and shapes), naming what differs.

    Example:

    >>> first = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="first")
    >>> other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)], name="other")
    >>> restore_state(other, save_state(first))
    Traceback (most recent call last):
    ...
    ValueError: state must be saved from a model with the variables of model. Received: a state of
    'first' whose variable 0 has shape (2, 1), where model 'other' has (3, 1)
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    validation.check_instance("state", state, ModelState, "a ModelState (restarts.save_state)")
    variables = model.variables
    problem = None
    if len(variables) != len(state.values):
        problem = f"{len(state.values)} variables, where model {model.name!r} has {len(variables)}"
    else:
        for index, (variable, value) in enumerate(zip(variables, state.values, strict=True)):
            if tuple(variable.shape) != value.shape:
                problem = (
                    f"variable {index} has shape {value.shape}, where model {model.name!r} has "
                    f"{tuple(variable.shape)}"
                )
                break
    if problem is not None:
        raise ValueError(
            "state must be saved from a model with the variables of model. "
            f"Received: a state of {state.model_name!r} whose {problem}"
        )
    for variable, value in zip(variables, state.values, strict=True):
        variable.assign(value)


def restart_optimizer(optimizer: keras.optimizers.Optimizer, learning_rate: float) -> None:
    """Sets an optimizer back to its first step at a new learning rate, keeping its variables.

    The step counter and every slot (Adam's moments, momentum, RMSprop's averages) go back to
    zero and a `LossScaleOptimizer`'s loss scale to its initial value, as in a new optimizer of
    the same kind; the learning rate variable takes
    `learning_rate`. A training step traced for this optimizer reads these variables, so it can
    run again without tracing.

    Args:
        optimizer: a Keras optimizer created with a float learning rate (a schedule is part of the
            traced step and cannot be changed).
        learning_rate: float > 0, the new rate.

    Raises:
        ValueError: if `optimizer` is not a Keras optimizer with a float learning rate, or
            `learning_rate` is not a number > 0.

    Example:

    >>> optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    >>> variable = keras.Variable([1.0, 2.0])
    >>> _ = optimizer.apply_gradients([(np.array([0.5, 0.5]), variable)])
    >>> restart_optimizer(optimizer, 1e-4)
    >>> int(optimizer.iterations.numpy()), float(optimizer.learning_rate.numpy())
    (0, 0.0001)
    >>> [float(np.abs(slot.numpy()).max()) for slot in optimizer.variables[2:]]
    [0.0, 0.0]
    """
    validation.check_instance(
        "optimizer", optimizer, keras.optimizers.Optimizer, "a Keras optimizer"
    )
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    if not has_float_learning_rate(optimizer):
        raise ValueError(
            "optimizer must have a float learning rate to restart (a schedule is traced into the "
            f"training step). Received: optimizer with learning rate {optimizer.learning_rate!r}"
        )
    # Mixed float16's LossScaleOptimizer (lesson 08) starts its loss scale high, not at zero: a
    # zero scale would turn every gradient into 0/0.
    loss_scale = getattr(optimizer, "dynamic_scale", None)
    for variable in optimizer.variables:
        if variable is optimizer.learning_rate:
            continue
        if variable is loss_scale:
            variable.assign(optimizer.initial_scale)
            continue
        variable.assign(np.zeros(variable.shape, dtype=variable.dtype))
    optimizer.learning_rate.assign(learning_rate)


def has_float_learning_rate(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether `optimizer`'s learning rate is a variable (a float), not a schedule.

    Example:

    >>> has_float_learning_rate(keras.optimizers.SGD(learning_rate=0.1))
    True
    >>> schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    >>> has_float_learning_rate(keras.optimizers.SGD(learning_rate=schedule))
    False
    """
    return any(variable is optimizer.learning_rate for variable in optimizer.variables)
