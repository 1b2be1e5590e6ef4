"""Stop training once the loss turns NaN or climbs far above its start (lessons 03-05).

A learning rate far too high does not always produce a NaN: at `learning_rate=1e3` a fresh head on
the offline task trains on at a loss near 750 while chance is `ln(4) ≈ 1.39`, and every later number
is garbage. `DivergenceGuard` watches the loss after every batch and stops `fit` when

- the loss is NaN or infinite, or
- the loss climbs above `DIVERGENCE_FACTOR` (4, as the range test uses) times its reference level:
  the larger of the first batch's loss and `ln(num_classes)`, the loss of a uniform guess. A phase-2
  run that starts at a low loss and falls back to chance is a bad run, not a diverging one; a run 4x
  above chance has diverged.

`check_not_diverged` then raises a `TrainingDivergedError` (a `ValueError`) that names the learning
rate, so a learner reads what went wrong and what to change instead of a loss of 750.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from helpers.finetune import validation

DIVERGENCE_FACTOR = (
    4.0  # stop once the loss passes 4x its reference level (the range test's factor)
)


class TrainingDivergedError(ValueError):
    """Training was stopped because its loss turned NaN/inf or climbed far above its start."""


def divergence_reason(
    losses: Sequence[float],
    num_classes: int | None = None,
    factor: float = DIVERGENCE_FACTOR,
) -> str | None:
    """Returns why a run with these per-batch losses has diverged, or `None` while it has not.

    The reference level is the larger of the first loss and `ln(num_classes)` (chance level for a
    classifier); the run has diverged once a loss is NaN or inf, or above `factor` times that level.

    Args:
        losses: sequence of floats, the loss after each batch so far (at least one).
        num_classes: int >= 2 or None, the number of classes; `None` uses the first loss alone.
            Defaults to `None`.
        factor: float > 1, how far above the reference level counts as diverged. Defaults to 4.

    Returns:
        A sentence naming the step and the loss, or `None`.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    >>> divergence_reason([1.4, 1.2, 0.9], num_classes=4) is None
    True
    >>> divergence_reason([1.0, 30.0, 750.0], num_classes=4)
    'the loss reached 30 at step 2, more than 4x its reference level 1.39'
    >>> divergence_reason([1.4, float("nan")])
    'the loss turned nan at step 2'
    """
    values = validation.check_sequence("losses", losses)
    num_classes = validation.check_optional_int("num_classes", num_classes, minimum=2)
    factor = validation.check_number("factor", factor, minimum=1, include_minimum=False)
    chance = 0.0 if num_classes is None else math.log(num_classes)
    reference = None
    for step, loss in enumerate(values, start=1):
        loss = float(loss)
        if not math.isfinite(loss):
            return f"the loss turned {loss} at step {step}"
        if reference is None:
            reference = max(loss, chance)
        if loss > factor * reference:
            return (
                f"the loss reached {loss:.3g} at step {step}, more than {factor:g}x its reference "
                f"level {reference:.3g}"
            )
    return None


class DivergenceGuard(keras.callbacks.Callback):
    """Stops `fit` as soon as `divergence_reason` finds the loss diverged; `reason` says why.

    Keras reports the running mean of the loss at batch end; the mean of a diverging run still
    passes the threshold within a few batches, and a NaN shows at once.

    Args:
        num_classes: int >= 2 or None, passed to `divergence_reason`. Defaults to `None`.
        factor: float > 1, passed to `divergence_reason`. Defaults to 4.

    Example:

    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer=keras.optimizers.SGD(1e6), loss="mse")
    >>> guard = DivergenceGuard(num_classes=2)
    >>> import numpy as np
    >>> inputs, targets = np.ones((8, 1)), np.tile([0.0, 1.0], (8, 1))
    >>> history = model.fit(inputs, targets, batch_size=1, epochs=3, verbose=0, callbacks=[guard])
    >>> guard.reason is not None, len(guard.losses) < 24
    (True, True)
    """

    def __init__(self, num_classes: int | None = None, factor: float = DIVERGENCE_FACTOR) -> None:
        super().__init__()
        self.num_classes = validation.check_optional_int("num_classes", num_classes, minimum=2)
        self.factor = validation.check_number("factor", factor, minimum=1, include_minimum=False)
        self.losses: list[float] = []
        self.reason: str | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.losses = []
        self.reason = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not logs or "loss" not in logs:
            return
        self.losses.append(float(logs["loss"]))
        if self.reason is None:
            self.reason = divergence_reason(self.losses, self.num_classes, self.factor)
        if self.reason is not None:
            self.model.stop_training = True


def check_not_diverged(guard: DivergenceGuard, argument_name: str, learning_rate: object) -> None:
    """Raises a `TrainingDivergedError` naming the learning rate if `guard` stopped its run.

    Args:
        guard: the `DivergenceGuard` that watched the run.
        argument_name: str, the learning rate's argument name, e.g. `"fine_tune_learning_rate"`.
        learning_rate: the rate (or schedule) the run used, echoed in the message.

    Raises:
        TrainingDivergedError: if `guard.reason` is set.

    Example:

    >>> guard = DivergenceGuard()
    >>> guard.reason = "the loss turned nan at step 3"
    >>> check_not_diverged(guard, "learning_rate", 1000.0)
    Traceback (most recent call last):
    ...
    guards.TrainingDivergedError: Training stopped: the loss turned nan at step 3. The learning
    rate is far too high for this model: lower it about 10x (or check the data for NaN).
    Received: learning_rate=1000.0
    """
    validation.check_instance("guard", guard, DivergenceGuard, "a DivergenceGuard")
    if guard.reason is None:
        return
    raise TrainingDivergedError(
        f"Training stopped: {guard.reason}. The learning rate is far too high for this model: "
        "lower it about 10x (or check the data for NaN). "
        f"Received: {argument_name}={learning_rate!r}"
    )
