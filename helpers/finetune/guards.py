"""A callback that stops a run whose loss turns NaN or explodes, and its error (lessons 03-05).

A learning rate far too high does not always produce a NaN: at `learning_rate=1e3` a fresh head on
the bundled base's features trains on at a loss of 10,000 and more while chance is
`ln(4) ≈ 1.39`, and every later number is garbage. `DivergenceGuard` watches the loss after every
batch and stops `fit` when

- the loss is NaN or infinite, or
- the loss climbs above `DIVERGENCE_FACTOR` (100) times its reference level: the larger of the
  first batch's loss and `ln(num_classes)`, the loss of a uniform guess.

Why 100 and not the range test's 4: a rate that is too high but not hopeless spikes and recovers.
Lesson 04's phase 2 at 1e-2 runs at 25x chance for its first steps (the mean of its first two
batches is 35) and then settles at chance; lesson 03's head at 1e-1 peaks near 8x and then learns.
Those are bad runs for the lessons to show, not diverging ones. At 1e3 the loss is 10^4 to 10^6
times chance from the second step on, far above 100x. Taking the larger of the first loss and
`ln(num_classes)` as the reference keeps a phase-2 run that starts low (a trained head) and falls
back to chance from counting as a climb.

`check_not_diverged` then raises a `TrainingDivergedError` (a `ValueError`) that names the learning
rate, so a learner reads what went wrong and what to change instead of a loss of 10,000.
`head_training.train_head` and `two_phase.fine_tune` guard every run this way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import keras

from helpers.finetune import validation

# Stop once the loss passes 100x its reference level (see the module docstring for why 100).
DIVERGENCE_FACTOR = 100.0


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
        losses: sequence of numbers, the loss after each batch so far (at least one).
        num_classes: int >= 2 or None, the number of classes; `None` uses the first loss alone.
            Defaults to `None`.
        factor: float > 1, how far above the reference level counts as diverged. Defaults to
            `DIVERGENCE_FACTOR` (100).

    Returns:
        A sentence naming the step and the loss, or `None`.

    Raises:
        ValueError: if an argument is out of range, naming it and the value received.

    Example:

    >>> divergence_reason([1.4, 1.2, 0.9], num_classes=4) is None
    True
    >>> divergence_reason([1.0, 30.0, 2.0], num_classes=4) is None  # a spike that recovers
    True
    >>> divergence_reason([1.0, 750.0], num_classes=4)
    'the loss reached 750 at step 1, more than 100x its reference level 1.39'
    >>> divergence_reason([1.0, 30.0], num_classes=4, factor=4)
    'the loss reached 30 at step 1, more than 4x its reference level 1.39'
    >>> divergence_reason([1.4, float("nan")])
    'the loss turned nan at step 1'
    """
    values = validation.check_sequence("losses", losses)
    values = validation.check_array("losses", values, ("steps",), allow_non_finite=True)
    num_classes = validation.check_optional_int("num_classes", num_classes, minimum=2)
    factor = validation.check_number("factor", factor, minimum=1, include_minimum=False)
    reference = reference_level(float(values[0]), num_classes)
    for step, loss in enumerate(values.tolist()):
        reason = _step_reason(step, float(loss), reference, factor)
        if reason is not None:
            return reason
    return None


def reference_level(first_loss: float, num_classes: int | None) -> float:
    """Returns the level a loss is compared with: the larger of `first_loss` and `ln(num_classes)`.

    Example:

    >>> round(reference_level(0.2, 4), 3), reference_level(3.0, 4)
    (1.386, 3.0)
    """
    chance = 0.0 if num_classes is None else math.log(num_classes)
    return max(first_loss, chance)


def _step_reason(step: int, loss: float, reference: float, factor: float) -> str | None:
    """Returns why `loss` at `step` means divergence (NaN/inf, or above `factor * reference`)."""
    if not math.isfinite(loss):
        return f"the loss turned {loss} at step {step}"
    if loss > factor * reference:
        return (
            f"the loss reached {loss:.3g} at step {step}, more than {factor:g}x its reference "
            f"level {reference:.3g}"
        )
    return None


class DivergenceGuard(keras.callbacks.Callback):
    """Stops `fit` as soon as the loss diverges (see `divergence_reason`); `reason` says why.

    Keras reports the running mean of the loss at batch end; the mean of a diverging run still
    passes the threshold within a few batches, and a NaN shows at once. Each `fit` starts afresh
    (its own first loss, `reason` back to `None`), so one guard can watch several phases.

    Args:
        num_classes: int >= 2 or None, passed to `divergence_reason`. Defaults to `None`.
        factor: float > 1, passed to `divergence_reason`. Defaults to 100.

    Raises:
        ValueError: if an argument is out of range, naming it and the value received.

    Example:

    >>> import numpy as np
    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer=keras.optimizers.SGD(1e6), loss="mse")
    >>> guard = DivergenceGuard(num_classes=2)
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
        self.reference: float | None = None
        self.reason: str | None = None

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.losses = []
        self.reference = None
        self.reason = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        has_loss = bool(logs) and "loss" in logs
        if self.reason is not None or not has_loss:
            return
        loss = float(logs["loss"])
        self.losses.append(loss)
        if self.reference is None:
            self.reference = reference_level(loss, self.num_classes)
        self.reason = _step_reason(len(self.losses) - 1, loss, self.reference, self.factor)
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
        ValueError: if `guard` is not a `DivergenceGuard`.

    Example:

    >>> guard = DivergenceGuard()
    >>> guard.reason = "the loss turned nan at step 3"
    >>> try:
    ...     check_not_diverged(guard, "learning_rate", 1000.0)
    ... except TrainingDivergedError as error:
    ...     print(error)
    Training stopped: the loss turned nan at step 3. The learning rate is far too high for this
    model: lower it about 10x (or check the data for NaN). Received: learning_rate=1000.0
    """
    validation.check_instance("guard", guard, DivergenceGuard, "a DivergenceGuard")
    if guard.reason is None:
        return
    raise TrainingDivergedError(
        f"Training stopped: {guard.reason}. The learning rate is far too high for this model: "
        "lower it about 10x (or check the data for NaN). "
        f"Received: {argument_name}={learning_rate!r}"
    )
