"""Exercises for lesson 05: read loss curves, check the initial loss, pick phase 2's rate, warm up.

Each question inspects the object the learner passes (`exercises.q1.check(verdicts)`) and names
what it found. `CURVES` holds the five runs of question 1; `curve_diagnosis.diagnose` is the
reference that grades them, in the course's one vocabulary, `curve_diagnosis.VERDICTS`.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_feedback
from helpers.exercises.core import Question, describe, number_feedback
from helpers.finetune import curve_diagnosis, validation
from helpers.lessons import target_task

NUM_CLASSES = target_task.NUM_CLASSES  # question 2: the head of the target task
FRESH_HEAD_LOSS = curve_diagnosis.expected_initial_loss(NUM_CLASSES)  # question 2: ln(4)
# Question 3: what a range test suggested for phase 1 (a new head on a frozen base), and the
# accepted phase-2 rates, 10x to 100x smaller.
PHASE_ONE_RATE = 1e-3
PHASE_TWO_RATES = (PHASE_ONE_RATE / 100, PHASE_ONE_RATE / 10)
PHASE_TWO_PEAK = 1e-4  # question 4: phase 2's rate after the warmup
PHASE_TWO_DECAY_STEPS = 500  # question 4: the steps of the cosine decay after the warmup
SCHEDULE_EXAMPLE = (
    "keras.optimizers.schedules.CosineDecay(0.0, 500, warmup_target=1e-4, warmup_steps=50)"
)
# Question 2's realistic wrong answers, each with what the learner computed instead.
INITIAL_LOSS_MISTAKES = (
    (1 / NUM_CLASSES, "is the probability a fresh head gives each class; the loss is -ln of it"),
    (-FRESH_HEAD_LOSS, "is negative; a cross-entropy, -ln(probability), is never below 0"),
    (
        math.log10(NUM_CLASSES),
        f"is log10({NUM_CLASSES}); Keras's cross-entropy uses the natural logarithm",
    ),
    (
        math.log2(NUM_CLASSES),
        f"is log2({NUM_CLASSES}); Keras's cross-entropy uses the natural logarithm",
    ),
)


def _build_curves() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Five runs, one per verdict, in shuffled order: per-step losses with 5% noise; E per epoch.

    Returns:
        `(training, validation)`: the training losses by curve name, and curve E's validation loss.
    """
    steps = np.arange(30)
    epochs = np.arange(12)
    noise = 1 + 0.05 * np.random.default_rng(5).standard_normal(len(steps))
    start = FRESH_HEAD_LOSS  # every run starts near the loss of a fresh head
    training = {
        # Jumps up and down without getting lower.
        "A": start * (1 + 0.4 * (-1.0) ** steps) * noise,
        # Climbs to about 2,000 and is still finite.
        "B": start * np.exp(0.25 * steps),
        # Falls fast, then flattens.
        "C": (start * np.exp(-steps / 8) + 0.05) * noise,
        # Falls 6% in 30 steps.
        "D": start * (1 - 0.002 * steps) * noise,
        # Per epoch, with a validation loss that turns up.
        "E": start * np.exp(-epochs / 3) + 0.02,
    }
    validation_losses = {"E": list(0.6 + 0.03 * (epochs - 4.0) ** 2)}
    rounded = {
        name: [round(float(loss), 4) for loss in losses] for name, losses in training.items()
    }
    return rounded, validation_losses


CURVES, VALIDATION_LOSSES = _build_curves()


def reference_verdicts() -> dict[str, curve_diagnosis.Diagnosis]:
    """Returns `curve_diagnosis.diagnose` of every curve in `CURVES`, with its validation loss.

    Example:

    >>> {name: diagnosis.verdict for name, diagnosis in reference_verdicts().items()}["B"]
    'diverging'
    """
    return {
        name: curve_diagnosis.diagnose(losses, VALIDATION_LOSSES.get(name))
        for name, losses in CURVES.items()
    }


def _normalised(verdict: str) -> str:
    return verdict.strip().lower()


def verdicts_feedback(answer: Any) -> str | None:
    """q1: a dict naming one verdict per curve; the reference is `curve_diagnosis.diagnose`.

    Example:

    >>> print(verdicts_feedback({"A": "healthy"}))
    your answer has no verdict for 'B', 'C', 'D', 'E'; give one for each of A, B, C, D, E.
    """
    names = ", ".join(CURVES)
    if not isinstance(answer, dict):
        return (
            f"your answer is {describe(answer)}; "
            "give a dict from curve name to verdict, e.g. {'A': 'healthy'}."
        )
    unknown = [name for name in answer if name not in CURVES]
    if unknown:
        return f"{unknown[0]!r} is not one of the curves ({names})."
    missing = [name for name in CURVES if name not in answer]
    if missing:
        missing_names = ", ".join(map(repr, missing))
        return f"your answer has no verdict for {missing_names}; give one for each of {names}."
    allowed = ", ".join(map(repr, curve_diagnosis.VERDICTS))
    for name, verdict in answer.items():
        is_known = isinstance(verdict, str) and _normalised(verdict) in curve_diagnosis.VERDICTS
        if not is_known:
            return f"your verdict for curve {name!r} is {describe(verdict)}; use one of {allowed}."
    wrong = [
        f"curve {name!r} is {diagnosis.verdict}, not {_normalised(answer[name])}: "
        f"{diagnosis.evidence[0]}."
        for name, diagnosis in reference_verdicts().items()
        if _normalised(answer[name]) != diagnosis.verdict
    ]
    return " ".join(wrong) or None


def fresh_head_loss_feedback(initial_loss: Any) -> str | None:
    """q2: the loss a fresh 4-class head starts at, `ln(4)`, within 1%.

    Example:

    >>> print(fresh_head_loss_feedback(2.0))
    your initial loss 2 is log2(4); Keras's cross-entropy uses the natural logarithm.
    """
    if validation.is_number(initial_loss):
        for value, reason in INITIAL_LOSS_MISTAKES:
            if math.isclose(initial_loss, value, rel_tol=1e-2):
                return f"your initial loss {float(initial_loss):g} {reason}."
    return number_feedback(initial_loss, expected=FRESH_HEAD_LOSS, what="initial loss")


def phase_two_rate_feedback(learning_rate: Any) -> str | None:
    """q3: phase 2 starts 10x to 100x below phase 1's rate: `PHASE_TWO_RATES`, ends included.

    Example:

    >>> phase_two_rate_feedback(1e-4) is None
    True
    >>> print(phase_two_rate_feedback(-1e-4))
    your learning rate is -0.0001; a learning rate must be positive.
    """
    is_finite_number = validation.is_number(learning_rate) and math.isfinite(learning_rate)
    if not is_finite_number:
        return (
            f"your learning rate is {describe(learning_rate)}; give a positive number such as 1e-4."
        )
    learning_rate = float(learning_rate)
    if learning_rate <= 0:
        return f"your learning rate is {learning_rate:g}; a learning rate must be positive."
    low, high = PHASE_TWO_RATES
    ratio = PHASE_ONE_RATE / learning_rate
    times_below = f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"
    phase_one = f"phase 1's {PHASE_ONE_RATE:g}"
    if math.isclose(learning_rate, PHASE_ONE_RATE, rel_tol=1e-6):
        return (
            f"your learning rate {learning_rate:g} is {phase_one} again: unfrozen, the pretrained "
            "base takes steps sized for a random head and loses its features; "
            "start 10x to 100x lower."
        )
    if learning_rate > PHASE_ONE_RATE:
        return (
            f"your learning rate {learning_rate:g} is above {phase_one}: phase 2 moves weights "
            "that are already good, and a larger step wrecks them (the loss jumps); "
            "go 10x to 100x below phase 1."
        )
    if learning_rate > high * (1 + 1e-6):
        return (
            f"your learning rate {learning_rate:g} is only {times_below} below {phase_one}; "
            "the pretrained base needs steps 10x to 100x smaller than the new head's."
        )
    if learning_rate < low * (1 - 1e-6):
        return (
            f"your learning rate {learning_rate:g} is {times_below} below {phase_one}: "
            "the loss would barely move in phase 2's few epochs (too low); "
            "stay within 10x to 100x."
        )
    return None


def warmup_schedule_feedback(schedule: Any) -> str | None:
    """q4: a `CosineDecay` warming up to `PHASE_TWO_PEAK`, then decaying for 500 steps.

    Example:

    >>> schedule = keras.optimizers.schedules.CosineDecay(
    ...     0.0, 500, warmup_target=1e-4, warmup_steps=50
    ... )
    >>> warmup_schedule_feedback(schedule) is None
    True
    """
    if isinstance(schedule, keras.optimizers.Optimizer):
        optimizer_name = type(schedule).__name__
        return f"your answer is an optimizer ({optimizer_name}); pass the schedule itself."
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return keras_feedback.wrong_kind_feedback(schedule, "a schedule", SCHEDULE_EXAMPLE)
    if not isinstance(schedule, keras.optimizers.schedules.CosineDecay):
        return (
            f"your schedule is {type(schedule).__name__}; "
            "build keras.optimizers.schedules.CosineDecay."
        )
    config = schedule.get_config()
    target = config["warmup_target"]
    warmup_steps = config["warmup_steps"]
    start = config["initial_learning_rate"]
    decay_steps = config["decay_steps"]
    has_warmup = target is not None and bool(warmup_steps) and warmup_steps > 0
    if not has_warmup:
        return (
            f"your CosineDecay has no warmup (warmup_target={target}, "
            f"warmup_steps={warmup_steps}); "
            f"set warmup_target={PHASE_TWO_PEAK:g} and warmup_steps > 0."
        )
    if not math.isclose(float(target), PHASE_TWO_PEAK, rel_tol=1e-6):
        return f"your warmup_target is {float(target):g}; phase 2 peaks at {PHASE_TWO_PEAK:g}."
    if float(start) >= float(target):
        return f"your warmup starts at {float(start):g}, already at its peak; start from 0.0."
    if decay_steps != PHASE_TWO_DECAY_STEPS:
        return (
            f"your decay_steps is {decay_steps}; phase 2 decays over {PHASE_TWO_DECAY_STEPS} steps."
        )
    return None


q1 = Question(
    name="q1",
    prompt=(
        "Diagnose the five runs in CURVES: give a dict from curve name to one of "
        "curve_diagnosis.VERDICTS."
    ),
    answer_feedback=verdicts_feedback,
    hints=[
        "Plot them: curve_diagnosis.plot_curves(exercises.CURVES, show_verdicts=False). "
        "Curve E also has exercises.VALIDATION_LOSSES.",
        "A climb is diverging, a zig-zag with no progress is too high, a nearly flat line is too "
        "low, and a validation loss that turns up while training falls is overfitting.",
    ],
    solution=(
        "verdicts = {\n"
        "    name: curve_diagnosis.diagnose(loss, exercises.VALIDATION_LOSSES.get(name)).verdict\n"
        "    for name, loss in exercises.CURVES.items()\n"
        "}\n"
        "# {'A': 'too high', 'B': 'diverging', 'C': 'healthy', 'D': 'too low', 'E': 'overfitting'}"
    ),
    explanation="Each learning-rate problem leaves its own shape in the loss curve.",
)

q2 = Question(
    name="q2",
    prompt=(
        f"What loss should a freshly initialised {NUM_CLASSES}-class head start at? Give a number."
    ),
    answer_feedback=fresh_head_loss_feedback,
    hints=[
        "A fresh head gives every class about the same probability.",
        f"The cross-entropy of probability 1/{NUM_CLASSES} is -ln(1/{NUM_CLASSES}) = "
        f"ln({NUM_CLASSES}): math.log({NUM_CLASSES}).",
    ],
    solution=f"initial_loss = math.log({NUM_CLASSES})  # about {FRESH_HEAD_LOSS:.3f}",
    explanation=(
        f"A first loss far from ln({NUM_CLASSES}) means a bug (e.g. logits read as "
        "probabilities) before any training."
    ),
)

q3 = Question(
    name="q3",
    prompt=(
        f"A range test suggests {PHASE_ONE_RATE:g} for phase 1 (the new head on a frozen base). "
        "Which learning rate do you start phase 2 with, once the base is unfrozen?"
    ),
    answer_feedback=phase_two_rate_feedback,
    hints=[
        "In phase 2 every pretrained weight moves too; they are already good, "
        "so take smaller steps.",
        f"Go 10x to 100x below phase 1: between {PHASE_TWO_RATES[0]:g} and {PHASE_TWO_RATES[1]:g}.",
    ],
    solution=(
        f"learning_rate = {PHASE_ONE_RATE:g} / 10  # anything from {PHASE_ONE_RATE:g} / 100 to / 10"
    ),
    explanation="Small steps adapt the pretrained features without destroying them.",
)

q4 = Question(
    name="q4",
    prompt=(
        f"Build phase 2's schedule: a CosineDecay that warms up from 0.0 to {PHASE_TWO_PEAK:g}, "
        f"then decays over {PHASE_TWO_DECAY_STEPS} steps."
    ),
    answer_feedback=warmup_schedule_feedback,
    hints=[
        "keras.optimizers.schedules.CosineDecay takes warmup_target and warmup_steps.",
        f"The first argument is where the warmup starts (0.0); "
        f"decay_steps={PHASE_TWO_DECAY_STEPS}.",
    ],
    solution=(
        "schedule = keras.optimizers.schedules.CosineDecay(\n"
        f"    initial_learning_rate=0.0, decay_steps={PHASE_TWO_DECAY_STEPS}, "
        f"warmup_target={PHASE_TWO_PEAK:g}, warmup_steps=50\n"
        ")"
    ),
    explanation=(
        "The warmup keeps the first, largest gradients of phase 2 from jolting the pretrained base."
    ),
)
