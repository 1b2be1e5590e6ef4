"""Exercises for lesson 06: weight decay and the learning rate, early stopping, L2-SP.

Each question inspects the object the learner passes (`exercises.q2.check(early_stopping)`) and
names what it found. Questions 1 and 4 are closed forms, graded by the course's one number policy
(`core.number_feedback`: 3 significant digits), with their typical mistakes named. Question 2
reads an `EarlyStopping` callback through its constructor's arguments, which Keras stores on it.
Question 3 is graded against the learner's own run of phase 2 at a too-high rate: any object with
`validation_losses` and `head_validation_loss` attributes.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_feedback
from helpers.exercises.core import Question, as_number, describe, matches_number, number_feedback
from helpers.finetune import two_phase

# Question 1: Keras applies decoupled weight decay as
# `variable -= variable * weight_decay * learning_rate` (BaseOptimizer._apply_weight_decay).
DECAY_WEIGHT = 0.5  # the weight before the step
HEAD_RATE = two_phase.HEAD_LEARNING_RATE  # 1e-3, phase 1's rate: a typical slip in question 1
PHASE_TWO_RATE = two_phase.FINE_TUNE_LEARNING_RATE  # 1e-4, the course's phase-2 rate
WEIGHT_DECAY = 0.004  # keras.optimizers.AdamW's default weight_decay
DECAY_SHRINK = DECAY_WEIGHT * WEIGHT_DECAY * PHASE_TWO_RATE  # 2e-7
# Question 1's realistic wrong answers, each with what the learner computed instead.
SHRINK_MISTAKES = (
    (
        DECAY_WEIGHT * WEIGHT_DECAY * HEAD_RATE,
        f"uses phase 1's rate, {HEAD_RATE:g}; the decay in phase 2 runs at phase 2's rate, "
        "exercises.PHASE_TWO_RATE",
    ),
    (
        DECAY_WEIGHT * WEIGHT_DECAY,
        "is weight * weight_decay alone; Keras also multiplies the decay by the learning rate",
    ),
    (
        WEIGHT_DECAY * PHASE_TWO_RATE,
        "is weight_decay * learning_rate alone; the decay takes that fraction of the weight, "
        "so multiply by the weight too",
    ),
)

# Question 2: an EarlyStopping that waits 1 to 10 epochs without improvement. Patience 0 stops at
# the first noisy epoch; over 10 it outlasts the few epochs of phase 2.
MINIMUM_PATIENCE = 1
MAXIMUM_PATIENCE = 10
# target_task.prepare_data's default validation set: its accuracy moves in steps of 1/200.
VALIDATION_IMAGES = 200
# Names the kind of object only: the arguments are the answer.
CALLBACK_EXAMPLE = "keras.callbacks.EarlyStopping(...)"
TRAINING_METRICS = ("loss", "accuracy")  # what fit() logs on the training data

# Question 3: the answer the learner passes, in this order.
RUN_ANSWER = "(best_epoch, phase_two_helped, run)"
RUN_ATTRIBUTES = ("validation_losses", "head_validation_loss")

# Question 4: one kernel before and after some steps of phase 2, and the L2-SP strength.
PRETRAINED = np.array([0.2, -0.1, 0.05])
TUNED = np.array([0.25, -0.1, 0.0])
L2_SP_STRENGTH = 0.01
_DIFFERENCES = TUNED - PRETRAINED
L2_SP_PENALTY = L2_SP_STRENGTH * float(np.sum(_DIFFERENCES**2))  # 5e-5
# Question 4's realistic wrong answers, each with what the learner computed instead.
PENALTY_MISTAKES = (
    (
        L2_SP_STRENGTH * float(np.sum(TUNED**2)),
        "is the plain L2 penalty of the tuned weights, which pulls them towards 0; L2-SP pulls "
        "them towards their pretrained values",
    ),
    (
        L2_SP_STRENGTH * float(np.sum(PRETRAINED**2)),
        "is the plain L2 penalty of the pretrained weights; L2-SP penalises how far the tuned "
        "weights moved from them",
    ),
    (
        float(np.sum(_DIFFERENCES**2)),
        "is the sum of squares without the strength; multiply by exercises.L2_SP_STRENGTH",
    ),
    (
        L2_SP_STRENGTH * float(np.sum(np.abs(_DIFFERENCES))),
        "sums absolute differences (an L1 penalty); square each difference instead",
    ),
    (
        L2_SP_STRENGTH * float(np.sqrt(np.sum(_DIFFERENCES**2))),
        "takes the square root of the sum (a distance); the penalty is the sum of squares itself",
    ),
    (
        L2_SP_STRENGTH * float(np.mean(_DIFFERENCES**2)),
        "averages the squared differences; the penalty sums them",
    ),
)
# Question 4: the signed differences sum to 0 (up to float rounding): a penalty this small says
# the learner summed them without squaring.
CANCELLED = 1e-12


def _number(answer: Any) -> float | None:
    """`core.as_number`, with an int too large for a float (10**400) read as infinite."""
    try:
        return as_number(answer)
    except OverflowError:  # float(10**400)
        return math.inf if answer > 0 else -math.inf


def shrink_feedback(shrink: Any) -> str | None:
    """q1: one step's decoupled decay, `DECAY_WEIGHT * WEIGHT_DECAY * PHASE_TWO_RATE` = 2e-7.

    Any number Python, numpy or a size-1 array holds is read (`core.as_number`), as in lesson 05.

    Example:

    >>> shrink_feedback(np.float32(2e-7)) is None
    True
    >>> print(shrink_feedback(0.002))  # doctest: +NORMALIZE_WHITESPACE
    your shrink 0.002 is weight * weight_decay alone; Keras also multiplies the decay by the
    learning rate.
    >>> print(shrink_feedback(-2e-7))
    your shrink -2e-07 is negative; a shrink is a positive amount, what the weight loses.
    """
    value = _number(shrink)
    if value is None:
        return number_feedback(shrink, expected=DECAY_SHRINK, what="shrink")
    if not math.isfinite(value):
        return number_feedback(value, expected=DECAY_SHRINK, what="shrink")
    if value < 0:
        return (
            f"your shrink {value:g} is negative; a shrink is a positive amount, "
            "what the weight loses."
        )
    if matches_number(value, DECAY_WEIGHT):
        return (
            f"your shrink {value:g} is about the weight itself: give by how much one step "
            "changes it, not the weight after the step."
        )
    for mistake, reason in SHRINK_MISTAKES:
        if matches_number(value, mistake):
            return f"your shrink {value:g} {reason}."
    return number_feedback(value, expected=DECAY_SHRINK, what="shrink")


def early_stopping_feedback(callback: Any) -> str | None:
    """q2: `EarlyStopping` on `"val_loss"`, restoring the best weights, with patience 1 to 10.

    The callback is read through the arguments of its constructor, which Keras 3 stores on it
    under the same names (`monitor`, `mode`, `restore_best_weights`, `patience`).

    Example:

    >>> right = keras.callbacks.EarlyStopping(
    ...     monitor="val_loss", patience=3, restore_best_weights=True
    ... )
    >>> early_stopping_feedback(right) is None
    True
    >>> print(early_stopping_feedback(keras.callbacks.EarlyStopping(restore_best_weights=True)))
    your callback has patience=0: it stops at the first epoch that does not improve, so one
    noisy epoch ends phase 2; let it wait a few epochs.
    """
    if isinstance(callback, list | tuple) and any(
        isinstance(item, keras.callbacks.EarlyStopping) for item in callback
    ):
        return (
            f"your answer is {describe(callback)} holding the callback; pass the callback itself."
        )
    if isinstance(callback, keras.callbacks.Callback) and not isinstance(
        callback, keras.callbacks.EarlyStopping
    ):
        return (
            f"your callback is a {type(callback).__name__}; phase 2 needs an EarlyStopping "
            f"callback: {CALLBACK_EXAMPLE}."
        )
    if not isinstance(callback, keras.callbacks.EarlyStopping):
        return keras_feedback.wrong_kind_feedback(
            callback, "an EarlyStopping callback", CALLBACK_EXAMPLE
        )
    return _monitor_feedback(callback.monitor, callback.mode) or _restore_and_patience_feedback(
        callback.restore_best_weights, callback.patience
    )


def _monitor_feedback(monitor: Any, mode: Any) -> str | None:
    """What is wrong with the watched quantity and its direction, or `None`."""
    if monitor in TRAINING_METRICS:
        return (
            f"your callback monitors {monitor!r}, measured on the training data: it keeps "
            "improving while the model overfits, so it never says when to stop; watch the "
            "validation loss."
        )
    if monitor == "val_accuracy":
        return (
            "your callback monitors 'val_accuracy'; this lesson chooses on the validation loss: "
            f"on {VALIDATION_IMAGES} validation images accuracy moves in steps of "
            f"{1 / VALIDATION_IMAGES:.1%} and often ties, while the loss shows every change."
        )
    if monitor != "val_loss":
        return (
            f"your callback monitors {describe(monitor)}, which is not how fit() names the "
            "validation loss; print history.history.keys() to see the names it logs."
        )
    if mode == "max":
        return (
            "your callback has mode='max', so it waits for the validation loss to rise; "
            "a loss improves when it falls."
        )
    return None


def _restore_and_patience_feedback(restore_best_weights: Any, patience: Any) -> str | None:
    """What is wrong with restoring the best weights and the patience, or `None`."""
    if not isinstance(restore_best_weights, bool | np.bool_):
        return (
            f"your callback has restore_best_weights={describe(restore_best_weights)}; "
            "give True or False."
        )
    if not restore_best_weights:
        return (
            "your callback has restore_best_weights=False: the model then keeps the weights "
            "of the last epoch, which come after the best one."
        )
    value = _number(patience)
    if value is None or not math.isfinite(value) or value != int(value):
        shown = describe(patience) if value is None else f"{value:g}"
        return (
            f"your callback has patience={shown}; give a whole number of epochs "
            "to wait without improvement."
        )
    if value < MINIMUM_PATIENCE:
        return (
            f"your callback has patience={value:g}: it stops at the first epoch that does not "
            "improve, so one noisy epoch ends phase 2; let it wait a few epochs."
        )
    if value > MAXIMUM_PATIENCE:
        return (
            f"your callback has patience={value:g}: it waits longer than phase 2's few epochs "
            "last, so it would never stop early; let it wait a few epochs."
        )
    return None


def _has_run_attributes(value: Any) -> bool:
    return all(hasattr(value, name) for name in RUN_ATTRIBUTES)


def _read_run(run: Any) -> tuple[list[float], float] | str:
    """`(validation_losses, head_validation_loss)` as floats, or the message saying what is wrong.

    Any object with the two attributes is a run (duck typing): the notebook's result, or a
    `types.SimpleNamespace` in the tests.
    """
    missing = [name for name in RUN_ATTRIBUTES if not hasattr(run, name)]
    if missing:
        return (
            f"your run is {describe(run)}, which has no {' and no '.join(missing)}; pass run, "
            "what the notebook's phase 2 at the too-high rate returned, as the third item."
        )
    losses = run.validation_losses
    is_sequence = isinstance(losses, list | tuple) or (
        isinstance(losses, np.ndarray) and losses.ndim == 1
    )
    if not is_sequence or len(losses) == 0:
        return (
            f"your run's validation_losses is {describe(losses)}; pass the run the notebook's "
            "phase 2 returned: it holds one validation loss per epoch."
        )
    values = [_number(loss) for loss in losses]
    if None in values:
        return (
            f"your run's validation_losses holds {describe(losses[values.index(None)])}, "
            "not a loss; pass the run the notebook's phase 2 returned."
        )
    head_loss = _number(run.head_validation_loss)
    if head_loss is None or not math.isfinite(head_loss):
        return (
            f"your run's head_validation_loss is {describe(run.head_validation_loss)}; "
            "pass the run the notebook's phase 2 returned."
        )
    if not any(math.isfinite(value) for value in values):
        return (
            "your run's validation losses are all nan or infinite: phase 2 diverged; "
            "run it again before you read it."
        )
    return values, head_loss


def _best_epoch_feedback(best_epoch: Any, losses: list[float]) -> str | None:
    """Whether `best_epoch` (1-based) is an epoch with the lowest loss; tied epochs all count."""
    value = _number(best_epoch)
    if value is None or not math.isfinite(value) or value != int(value):
        shown = describe(best_epoch) if value is None else f"{value:g}"
        return f"your best epoch is {shown}; give a whole number, 1 for phase 2's first epoch."
    epoch = int(value)
    lowest = min(loss for loss in losses if math.isfinite(loss))
    best_epochs = {index + 1 for index, loss in enumerate(losses) if loss == lowest}
    if epoch in best_epochs:
        return None
    if epoch + 1 in best_epochs:
        return (
            f"your best epoch {epoch} looks like a 0-based index: epochs count from 1, so "
            "run.validation_losses[0] is epoch 1."
        )
    if not 1 <= epoch <= len(losses):
        return (
            f"your best epoch {epoch} is not an epoch of your run: its phase 2 ran "
            f"{len(losses)} epochs, 1 to {len(losses)}."
        )
    loss = losses[epoch - 1]
    if not math.isfinite(loss):
        return (
            f"your best epoch {epoch} has a validation loss of {loss:g}, not a finite loss; "
            "read run.validation_losses again."
        )
    return (
        f"your best epoch {epoch}: epoch {epoch}'s validation loss, {loss:.4g}, is higher than "
        "another epoch's; read run.validation_losses again."
    )


def _helped_feedback(phase_two_helped: Any, losses: list[float], head_loss: float) -> str | None:
    """Whether `phase_two_helped` says if phase 2's lowest validation loss beat the head's."""
    if not isinstance(phase_two_helped, bool | np.bool_):
        return f"your phase_two_helped is {describe(phase_two_helped)}; give True or False."
    helped = min(loss for loss in losses if math.isfinite(loss)) < head_loss
    if bool(phase_two_helped) == helped:
        return None
    if phase_two_helped:
        return (
            "your phase_two_helped is True; compare the lowest of run.validation_losses with "
            "run.head_validation_loss again. EarlyStopping restores the best epoch of phase 2, "
            "never the model as it was before phase 2."
        )
    return (
        "your phase_two_helped is False; compare the lowest of run.validation_losses with "
        "run.head_validation_loss (the loss after phase 1) again: a lower loss is better."
    )


def run_reading_feedback(answer: Any) -> str | None:
    """q3: `(best_epoch, phase_two_helped, run)`, read from the learner's own run of phase 2.

    `best_epoch` is 1-based, `argmin(run.validation_losses) + 1` (any epoch tied at the lowest
    loss counts); `phase_two_helped` says whether that lowest loss is below
    `run.head_validation_loss`. Numpy ints and bools are accepted.

    Example:

    >>> from types import SimpleNamespace
    >>> run = SimpleNamespace(
    ...     validation_losses=[0.9, 0.8, 1.1], head_validation_loss=0.7, best_epoch=2
    ... )
    >>> run_reading_feedback((2, False, run)) is None
    True
    >>> print(run_reading_feedback((1, False, run)))  # doctest: +NORMALIZE_WHITESPACE
    your best epoch 1 looks like a 0-based index: epochs count from 1, so
    run.validation_losses[0] is epoch 1.
    """
    if not isinstance(answer, tuple | list):
        return f"your answer is {describe(answer)}; pass {RUN_ANSWER}."
    if len(answer) != 3:
        return f"your answer holds {len(answer)} objects; pass {RUN_ANSWER}."
    best_epoch, phase_two_helped, run = answer
    if not _has_run_attributes(run) and _has_run_attributes(best_epoch):
        return f"your answer starts with the run; pass {RUN_ANSWER}, in this order."
    read = _read_run(run)
    if isinstance(read, str):
        return read
    losses, head_loss = read
    return _best_epoch_feedback(best_epoch, losses) or _helped_feedback(
        phase_two_helped, losses, head_loss
    )


def penalty_feedback(penalty: Any) -> str | None:
    """q4: the L2-SP penalty, `L2_SP_STRENGTH * sum((TUNED - PRETRAINED) ** 2)` = 5e-5.

    Example:

    >>> penalty_feedback(5e-5) is None
    True
    >>> print(penalty_feedback(0.005))  # doctest: +NORMALIZE_WHITESPACE
    your penalty 0.005 is the sum of squares without the strength; multiply by
    exercises.L2_SP_STRENGTH.
    """
    if _holds_one_number_per_weight(penalty):
        return (
            f"your penalty is {describe(penalty)} holding {PRETRAINED.size} numbers, one per "
            "weight; the penalty sums them into one number."
        )
    value = _number(penalty)
    if value is None:
        return number_feedback(penalty, expected=L2_SP_PENALTY, what="penalty")
    if not math.isfinite(value):
        return number_feedback(value, expected=L2_SP_PENALTY, what="penalty")
    if abs(value) <= CANCELLED:
        return (
            f"your penalty {value:g} sums the signed differences, which cancel out; square each "
            "difference before summing."
        )
    if value < 0:
        return f"your penalty {value:g} is negative; a sum of squares is never below 0."
    for mistake, reason in PENALTY_MISTAKES:
        if matches_number(value, mistake):
            return f"your penalty {value:g} {reason}."
    return number_feedback(value, expected=L2_SP_PENALTY, what="penalty")


def _holds_one_number_per_weight(value: Any) -> bool:
    """Whether `value` is a list, tuple or array of as many numbers as the kernel has weights."""
    if isinstance(value, np.ndarray):
        return value.ndim == 1 and value.size == PRETRAINED.size and _number(value[0]) is not None
    if not isinstance(value, list | tuple):
        return False
    return len(value) == PRETRAINED.size and all(_number(item) is not None for item in value)


q1 = Question(
    name="q1",
    prompt=(
        f"A weight of exercises.DECAY_WEIGHT ({DECAY_WEIGHT:g}) trains in phase 2 with Adam at "
        f"exercises.PHASE_TWO_RATE ({PHASE_TWO_RATE:g}) and "
        f"weight_decay=exercises.WEIGHT_DECAY ({WEIGHT_DECAY:g}, AdamW's default). By how much "
        "does the decay alone shrink it in one step?"
    ),
    answer_feedback=shrink_feedback,
    hints=[
        "Keras applies the decay apart from the gradient step (decoupled), as "
        "variable -= variable * weight_decay * learning_rate.",
        "The shrink is the amount subtracted: the product of the weight, the weight decay and "
        "phase 2's learning rate.",
    ],
    solution=(
        "shrink = exercises.DECAY_WEIGHT * exercises.WEIGHT_DECAY * exercises.PHASE_TWO_RATE\n"
        f"# {DECAY_SHRINK:g}"
    ),
    explanation=(
        "The decay scales with the learning rate: lower phase 2's rate tenfold and the same "
        "weight_decay pulls ten times more gently."
    ),
)

q2 = Question(
    name="q2",
    prompt=(
        "Build the EarlyStopping callback for phase 2: stop when the validation loss stops "
        "improving, and put back the best weights."
    ),
    answer_feedback=early_stopping_feedback,
    hints=[
        "keras.callbacks.EarlyStopping takes monitor, patience and restore_best_weights; "
        "fit() names the validation loss as it prints it in history.history.",
        f"Watch the validation loss, wait a few epochs ({MINIMUM_PATIENCE} to "
        f"{MAXIMUM_PATIENCE}) before stopping, and ask for the best epoch's weights back.",
    ],
    solution=(
        "early_stopping = keras.callbacks.EarlyStopping(\n"
        '    monitor="val_loss", patience=3, restore_best_weights=True\n'
        ")"
    ),
    explanation=(
        "Phase 2 stops once the validation loss has not improved for a few epochs, and the model "
        "keeps its best epoch, not its last."
    ),
)

q3 = Question(
    name="q3",
    prompt=(
        "In your run at the too-high rate, at which epoch of phase 2 was the validation loss "
        "lowest, and did phase 2 beat the head alone (True or False)? "
        f"Pass {RUN_ANSWER}."
    ),
    answer_feedback=run_reading_feedback,
    hints=[
        "run.validation_losses holds phase 2's validation loss after each epoch, epoch 1 first; "
        "run.head_validation_loss is the loss after phase 1, before phase 2.",
        "np.argmin gives a 0-based index: add 1 for the epoch. Phase 2 helped if its lowest "
        "validation loss is below the head's.",
    ],
    solution=(
        "best_epoch = int(np.argmin(run.validation_losses)) + 1  # epochs count from 1\n"
        "phase_two_helped = min(run.validation_losses) < run.head_validation_loss"
    ),
    explanation=(
        "EarlyStopping gives back the best epoch of phase 2, never the model before it: at a "
        "too-high rate even that epoch can be worse than the head alone."
    ),
)

q4 = Question(
    name="q4",
    prompt=(
        f"A kernel's pretrained values are exercises.PRETRAINED = {PRETRAINED.tolist()}; after "
        f"some steps it holds exercises.TUNED = {TUNED.tolist()}. What is its L2-SP penalty with "
        f"strength exercises.L2_SP_STRENGTH ({L2_SP_STRENGTH:g})? The penalty is "
        "strength * sum((w - w_pretrained) ** 2)."
    ),
    answer_feedback=penalty_feedback,
    hints=[
        "Subtract the pretrained values from the tuned ones, weight by weight: "
        "exercises.TUNED - exercises.PRETRAINED.",
        "Square each difference, sum the squares with np.sum, then multiply by the strength.",
    ],
    solution=(
        "penalty = exercises.L2_SP_STRENGTH * np.sum(\n"
        "    (exercises.TUNED - exercises.PRETRAINED) ** 2\n"
        f")  # {L2_SP_PENALTY:g}"
    ),
    explanation=(
        "L2-SP pulls each weight back towards its pretrained value, not towards 0: weights that "
        "did not move cost nothing."
    ),
)
