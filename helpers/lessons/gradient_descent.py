"""Gradient descent in numpy on quadratic bowls, and the verdict on each run (lesson 01).

A quadratic bowl is the simplest loss with a curvature: `loss(w) = 0.5 * sum(curvatures * w**2)`,
minimum at `w = 0`. Near a minimum a smooth loss looks like such a bowl, so what a learning rate
does here (crawl, converge, zigzag, blow up) is what it does to a network. `classify` names what
a run did with the course's verdicts, the words lesson 05 uses for real loss curves. The pictures
of these runs and the interactive explorer live in `lr_explorer`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from helpers.finetune import validation

OPTIMIZERS = ("sgd", "momentum", "adam")
# The course's verdicts on a learning rate, from crawling to blowing up (lesson 05 uses them too).
VERDICTS = ("too low", "healthy", "too high", "diverging")
MOMENTUM = 0.9  # heavy-ball momentum, as in keras.optimizers.SGD(momentum=0.9)
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7  # keras.optimizers.Adam defaults
SLOW_LOSS_RATIO = 1e-2  # "too low": the last loss is still above 1% of the first one
ILL_CONDITIONED_CURVATURES = (1.0, 10.0)  # shallow along w[0], ten times steeper along w[1]
ILL_CONDITIONED_START = (-4.0, 1.0)  # far out along the shallow axis, a little up the steep one


class Trajectory(NamedTuple):
    """What `run` returns: `path` of shape `(steps + 1, dims)`, `losses` of shape `(steps + 1,)`."""

    path: np.ndarray
    losses: np.ndarray


def _check_curvatures(curvatures: Sequence[float]) -> np.ndarray:
    """Returns `curvatures` as a float array, or raises unless they are positive, finite numbers.

    Example:

    >>> _check_curvatures((1.0, 10.0)).tolist()
    [1.0, 10.0]
    >>> _check_curvatures([1.0, 0.0])
    Traceback (most recent call last):
    ...
    ValueError: curvatures[1] must be a positive, finite number. Received: curvatures[1]=0.0
    """
    values = validation.check_sequence("curvatures", curvatures)
    checked = [
        validation.check_positive_number(f"curvatures[{index}]", value)
        for index, value in enumerate(values)
    ]
    return np.array(checked)


def loss(weights: Sequence[float] | np.ndarray, curvatures: Sequence[float]) -> np.ndarray:
    """Returns the bowl's loss `0.5 * sum(curvatures * weights**2)` over the last axis of `weights`.

    Args:
        weights: array-like, one point `(dims,)` or many `(..., dims)`; `inf` and `nan` (a
            diverging run's points) give an `inf` or `nan` loss.
        curvatures: sequence of float, the positive curvature of each axis.

    Returns:
        The loss, an array of shape `weights.shape[:-1]` (0-d for one point).

    Raises:
        ValueError: if a curvature is not positive or `weights` does not match `curvatures`.

    Example:

    >>> float(loss([1.0, 2.0], curvatures=[1.0, 10.0]))
    20.5
    """
    values = _check_curvatures(curvatures)
    points = validation.check_array("weights", weights, (..., len(values)), allow_non_finite=True)
    with np.errstate(over="ignore", invalid="ignore"):
        return 0.5 * np.sum(values * points.astype(float) ** 2, axis=-1)


def gradient(weights: Sequence[float] | np.ndarray, curvatures: Sequence[float]) -> np.ndarray:
    """Returns the gradient of `loss`, `curvatures * weights`: steeper axes pull harder.

    Args:
        weights: array-like, one point `(dims,)` or many `(..., dims)`.
        curvatures: sequence of float, the positive curvature of each axis.

    Returns:
        An array shaped like `weights`.

    Raises:
        ValueError: if a curvature is not positive or `weights` does not match `curvatures`.

    Example:

    >>> gradient([1.0, 2.0], curvatures=[1.0, 10.0]).tolist()
    [1.0, 20.0]
    """
    values = _check_curvatures(curvatures)
    points = validation.check_array("weights", weights, (..., len(values)), allow_non_finite=True)
    return values * points.astype(float)


def divergence_threshold(curvatures: Sequence[float]) -> float:
    """Returns `2 / max(curvatures)`: plain gradient descent diverges above this learning rate.

    Why, on one axis with `loss = curvature / 2 * w**2`: one step is
    `w - learning_rate * curvature * w == (1 - learning_rate * curvature) * w`, so `w` shrinks iff
    `abs(1 - learning_rate * curvature) < 1`, i.e. `0 < learning_rate < 2 / curvature`.
    `learning_rate == 1 / curvature` lands on the minimum in one step; between `1 / curvature` and
    `2 / curvature` the factor is negative, so `w` flips sign every step but still shrinks.
    Each axis has its own factor: the steepest axis sets the limit.

    Args:
        curvatures: sequence of float, the positive curvature of each axis.

    Returns:
        The threshold, a float.

    Raises:
        ValueError: if a curvature is not positive.

    Example:

    >>> divergence_threshold([1.0, 10.0])
    0.2
    """
    return float(2.0 / np.max(_check_curvatures(curvatures)))


def run(
    learning_rate: float,
    curvatures: Sequence[float],
    start: Sequence[float] | None = None,
    steps: int = 50,
    optimizer: str = "sgd",
) -> Trajectory:
    """Runs `steps` optimizer updates on the bowl and returns the path and the losses.

    The updates are Keras's: `"sgd"` is `w -= learning_rate * g`; `"momentum"` is
    `velocity = 0.9 * velocity - learning_rate * g; w += velocity`
    (`keras.optimizers.SGD(momentum=0.9)`); `"adam"` is `keras.optimizers.Adam` with
    `beta_1=0.9, beta_2=0.999, epsilon=1e-7`.

    Args:
        learning_rate: float, the positive step size.
        curvatures: sequence of float, the positive curvature of each axis.
        start: sequence of float, the starting point. Defaults to `None`: 1.0 on every axis.
        steps: int, the number of updates, at least 1. Defaults to 50.
        optimizer: str, one of `"sgd"`, `"momentum"`, `"adam"`. Defaults to `"sgd"`.

    Returns:
        A `Trajectory`: `path` (`steps + 1` points, the start first) and the `losses` along it.
        A diverging run may reach `inf` or `nan`, silently.

    Raises:
        ValueError: if `learning_rate` is not a positive finite number, a curvature is not
            positive, `optimizer` is unknown, `steps < 1`, or `start` is not one finite point
            matching `curvatures`.

    Example:

    >>> run(learning_rate=1.5, curvatures=[1.0], start=[1.0], steps=3).path[:, 0].tolist()
    [1.0, -0.5, 0.25, -0.125]
    """
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    values = _check_curvatures(curvatures)
    optimizer = validation.check_choice("optimizer", optimizer, OPTIMIZERS)
    steps = validation.check_int("steps", steps, minimum=1)
    if start is None:
        weights = np.ones_like(values)
    else:
        weights = validation.check_array("start", start, (len(values),)).astype(float)
    first_moment = np.zeros_like(values)  # momentum's velocity, or Adam's mean gradient
    second_moment = np.zeros_like(values)  # Adam's mean squared gradient
    path = [weights]
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(1, steps + 1):
            slope = values * weights
            if optimizer == "sgd":
                weights = weights - learning_rate * slope
            elif optimizer == "momentum":
                first_moment = MOMENTUM * first_moment - learning_rate * slope
                weights = weights + first_moment
            else:
                first_moment = first_moment + (slope - first_moment) * (1 - BETA_1)
                second_moment = second_moment + (slope**2 - second_moment) * (1 - BETA_2)
                alpha = learning_rate * math.sqrt(1 - BETA_2**step) / (1 - BETA_1**step)
                weights = weights - alpha * first_moment / (np.sqrt(second_moment) + EPSILON)
            path.append(weights)
    return Trajectory(np.array(path), loss(np.array(path), values))


def classify(losses: Sequence[float], path: np.ndarray | None = None) -> str:
    """Returns a run's verdict, read from its losses and, if given, its path.

    The first rule that holds wins:

    - `"diverging"`: a loss is `inf`/`nan`, or the last loss is above the first (caught before
      overflow);
    - `"too high"`: the loss rises on some step, or `path` crosses the minimum (a coordinate
      changes sign between two steps): each step overshoots. Plain gradient descent's loss falls
      even while `w` zigzags across the bowl, so only the path shows that zigzag;
    - `"too low"`: the last loss is still above `SLOW_LOSS_RATIO` (1%) of the first;
    - `"healthy"` otherwise.

    Args:
        losses: sequence of float, the loss at each step, at least two values.
        path: array of shape `(len(losses), dims)`, the points of a run on a bowl centred at 0.
            Defaults to `None` (judge the losses alone).

    Returns:
        One of `VERDICTS`.

    Raises:
        ValueError: if `losses` has fewer than two values or `path` does not match it.

    Example:

    >>> classify([1.0, 0.9, 0.8]), classify([1.0, 0.01, 1e-4])
    ('too low', 'healthy')
    >>> classify([1.0, 0.5, 0.6, 1e-3]), classify([1, 2])
    ('too high', 'diverging')
    """
    loss_values = validation.check_sequence("losses", losses, minimum_length=2)
    curve = validation.check_array("losses", loss_values, ("steps",), allow_non_finite=True)
    values = curve.astype(float)
    if path is not None:
        points_shape = (len(values), "dims")
        path = validation.check_array("path", path, points_shape, allow_non_finite=True)
    if not np.all(np.isfinite(values)) or values[-1] > values[0]:
        return "diverging"
    crosses_the_minimum = path is not None and bool(np.any(path[1:] * path[:-1] < 0))
    if crosses_the_minimum or np.any(np.diff(values) > 0):
        return "too high"
    if values[-1] > SLOW_LOSS_RATIO * values[0]:
        return "too low"
    return "healthy"
