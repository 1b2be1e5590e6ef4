"""Exercises for lesson 05: read loss curves, check the initial loss, pick phase 2's rate, warm it up.

Each question inspects the object the learner passes (`exercises.q1.check(verdicts)`) and names what it found.
`CURVES` holds the five runs of question 1; `curve_diagnosis.diagnose` is the reference that grades them.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_checks
from helpers.exercises.core import Question, check_number, describe
from helpers.finetune import curve_diagnosis

NUM_CLASSES = 4  # question 2: the head of the target task
PHASE_ONE_RATE = (
    1e-3  # question 3: what a range test suggested for phase 1 (a new head on a frozen base)
)
PHASE_TWO_RATES = (
    PHASE_ONE_RATE / 100,
    PHASE_ONE_RATE / 10,
)  # question 3: accepted, 10x to 100x smaller
PHASE_TWO_PEAK = 1e-4  # question 4: phase 2's rate after the warmup
PHASE_TWO_DECAY_STEPS = 500  # question 4: the steps of the cosine decay after the warmup
SCHEDULE_EXAMPLE = (
    "keras.optimizers.schedules.CosineDecay(0.0, 500, warmup_target=1e-4, warmup_steps=50)"
)


def _build_curves() -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Five runs, one per verdict, in shuffled order: per-step losses with 5% noise; curve E per epoch."""
    steps, epochs = np.arange(30), np.arange(12)
    noise = 1 + 0.05 * np.random.default_rng(5).standard_normal(len(steps))
    chance = math.log(NUM_CLASSES)  # every run starts near the loss of a fresh head
    training = {
        "A": chance
        * (1 + 0.4 * (-1.0) ** steps)
        * noise,  # jumps up and down without getting lower
        "B": chance * np.exp(0.25 * steps),  # climbs to about 2,000 and is still finite
        "C": (chance * np.exp(-steps / 8) + 0.05) * noise,  # falls fast, then flattens
        "D": chance * (1 - 0.002 * steps) * noise,  # falls 6% in 30 steps
        "E": chance * np.exp(-epochs / 3) + 0.02,  # per epoch, with a validation loss that turns up
    }
    validation = {"E": list(0.6 + 0.03 * (epochs - 4.0) ** 2)}
    return {
        name: [round(float(loss), 4) for loss in losses] for name, losses in training.items()
    }, validation


CURVES, VALIDATION_LOSSES = _build_curves()


def reference_verdicts() -> dict[str, curve_diagnosis.Diagnosis]:
    """Returns `curve_diagnosis.diagnose` of every curve in `CURVES` (with its validation loss, if any)."""
    return {
        name: curve_diagnosis.diagnose(loss, VALIDATION_LOSSES.get(name))
        for name, loss in CURVES.items()
    }


def check_verdicts(answer: Any) -> str | None:
    """q1: a dict naming one verdict per curve; the reference is `curve_diagnosis.diagnose`."""
    names = ", ".join(CURVES)
    if not isinstance(answer, dict):
        return f"your answer is {describe(answer)}; give a dict from curve name to verdict, e.g. {{'A': 'healthy'}}."
    unknown = [name for name in answer if name not in CURVES]
    if unknown:
        return f"{unknown[0]!r} is not one of the curves ({names})."
    missing = [name for name in CURVES if name not in answer]
    if missing:
        return f"your answer has no verdict for {', '.join(map(repr, missing))}; give one for each of {names}."
    verdicts = ", ".join(map(repr, curve_diagnosis.VERDICTS))
    for name, verdict in answer.items():
        if not isinstance(verdict, str) or verdict.strip().lower() not in curve_diagnosis.VERDICTS:
            return f"your verdict for curve {name!r} is {describe(verdict)}; use one of {verdicts}."
    wrong = [
        f"curve {name!r} is {diagnosis.verdict}, not {answer[name].strip().lower()}: {diagnosis.evidence[0]}."
        for name, diagnosis in reference_verdicts().items()
        if answer[name].strip().lower() != diagnosis.verdict
    ]
    return " ".join(wrong) or None


def check_fresh_head_loss(initial_loss: Any) -> str | None:
    """q2: the loss a fresh 4-class head starts at, `ln(4)`, within 1%."""
    if isinstance(initial_loss, int | float) and not isinstance(initial_loss, bool):
        near = {
            1
            / NUM_CLASSES: "is the probability a fresh head gives each class; the loss is -ln of it"
        }
        near[-math.log(NUM_CLASSES)] = (
            "is negative; a cross-entropy, -ln(probability), is never below 0"
        )
        near[math.log10(NUM_CLASSES)] = (
            "is log10(4); Keras's cross-entropy uses the natural logarithm"
        )
        near[math.log2(NUM_CLASSES)] = (
            "is log2(4); Keras's cross-entropy uses the natural logarithm"
        )
        for value, reason in near.items():
            if math.isclose(initial_loss, value, rel_tol=1e-2):
                return f"your initial loss {initial_loss:g} {reason}."
    return check_number(
        initial_loss, expected=math.log(NUM_CLASSES), what="initial loss", relative_tolerance=1e-2
    )


def check_phase_two_rate(learning_rate: Any) -> str | None:
    """q3: phase 2 starts 10x to 100x below phase 1's rate: `PHASE_TWO_RATES`, ends included."""
    if (
        isinstance(learning_rate, bool)
        or not isinstance(learning_rate, int | float)
        or not math.isfinite(learning_rate)
    ):
        return (
            f"your learning rate is {describe(learning_rate)}; give a positive number such as 1e-4."
        )
    if learning_rate <= 0:
        return f"your learning rate is {learning_rate:g}; a learning rate must be positive."
    low, high = PHASE_TWO_RATES
    ratio, phase_one = PHASE_ONE_RATE / learning_rate, f"phase 1's {PHASE_ONE_RATE:g}"
    below = f"{ratio:.0f}x" if ratio >= 10 else f"{ratio:.2g}x"
    if math.isclose(learning_rate, PHASE_ONE_RATE, rel_tol=1e-6):
        return (
            f"your learning rate {learning_rate:g} is {phase_one} again: unfrozen, the pretrained base takes "
            "steps sized for a random head and loses its features; start 10x to 100x lower."
        )
    if learning_rate > PHASE_ONE_RATE:
        return (
            f"your learning rate {learning_rate:g} is above {phase_one}: phase 2 moves weights that are already "
            "good, and a larger step wrecks them (the loss jumps); go 10x to 100x below phase 1."
        )
    if learning_rate > high * (1 + 1e-6):
        return (
            f"your learning rate {learning_rate:g} is only {below} below {phase_one}; "
            "the pretrained base needs steps 10x to 100x smaller than the new head's."
        )
    if learning_rate < low * (1 - 1e-6):
        return (
            f"your learning rate {learning_rate:g} is {below} below {phase_one}: "
            "the loss would barely move in phase 2's few epochs (too low); stay within 10x to 100x."
        )
    return None


def check_warmup_schedule(schedule: Any) -> str | None:
    """q4: a `CosineDecay` warming up to `PHASE_TWO_PEAK`, then decaying over `PHASE_TWO_DECAY_STEPS` steps."""
    if isinstance(schedule, keras.optimizers.Optimizer):
        return f"your answer is an optimizer ({type(schedule).__name__}); pass the schedule itself."
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return keras_checks.not_an_instance(schedule, "a schedule", SCHEDULE_EXAMPLE)
    if not isinstance(schedule, keras.optimizers.schedules.CosineDecay):
        return f"your schedule is {type(schedule).__name__}; build keras.optimizers.schedules.CosineDecay."
    config = schedule.get_config()
    target, warmup_steps, start = (
        config["warmup_target"],
        config["warmup_steps"],
        config["initial_learning_rate"],
    )
    if target is None or not warmup_steps or warmup_steps <= 0:
        return (
            f"your CosineDecay has no warmup (warmup_target={target}, warmup_steps={warmup_steps}); "
            f"set warmup_target={PHASE_TWO_PEAK:g} and warmup_steps > 0."
        )
    if not math.isclose(float(target), PHASE_TWO_PEAK, rel_tol=1e-6):
        return f"your warmup_target is {float(target):g}; phase 2 peaks at {PHASE_TWO_PEAK:g}."
    if float(start) >= float(target):
        return f"your warmup starts at {float(start):g}, already at its peak; start from 0.0."
    if config["decay_steps"] != PHASE_TWO_DECAY_STEPS:
        return f"your decay_steps is {config['decay_steps']}; phase 2 decays over {PHASE_TWO_DECAY_STEPS} steps."
    return None


q1 = Question(
    name="q1",
    prompt="Diagnose the five runs in CURVES: give a dict from curve name to one of curve_diagnosis.VERDICTS.",
    check_answer=check_verdicts,
    hints=[
        "Plot them: curve_diagnosis.plot_curves(exercises.CURVES). Curve E also has exercises.VALIDATION_LOSSES.",
        "A climb is diverging, a zig-zag with no progress is too high, a nearly flat line is too low, and a "
        "validation loss that turns up while training falls is overfitting.",
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
    prompt="What loss should a freshly initialised 4-class head start at? Give a number.",
    check_answer=check_fresh_head_loss,
    hints=[
        "A fresh head gives every class about the same probability.",
        "The cross-entropy of probability 1/4 is -ln(1/4) = ln(4): math.log(4).",
    ],
    solution="initial_loss = math.log(4)  # about 1.386",
    explanation="A first loss far from ln(4) means a bug (e.g. logits read as probabilities) before any training.",
)

q3 = Question(
    name="q3",
    prompt=(
        f"A range test suggests {PHASE_ONE_RATE:g} for phase 1 (the new head on a frozen base). "
        "Which learning rate do you start phase 2 with, once the base is unfrozen?"
    ),
    check_answer=check_phase_two_rate,
    hints=[
        "In phase 2 every pretrained weight moves too; they are already good, so take smaller steps.",
        f"Go 10x to 100x below phase 1: between {PHASE_TWO_RATES[0]:g} and {PHASE_TWO_RATES[1]:g}.",
    ],
    solution=f"learning_rate = {PHASE_ONE_RATE:g} / 10  # anything from {PHASE_ONE_RATE:g} / 100 to / 10",
    explanation="Small steps adapt the pretrained features without destroying them.",
)

q4 = Question(
    name="q4",
    prompt=(
        f"Build phase 2's schedule: a CosineDecay that warms up from 0.0 to {PHASE_TWO_PEAK:g}, "
        f"then decays over {PHASE_TWO_DECAY_STEPS} steps."
    ),
    check_answer=check_warmup_schedule,
    hints=[
        "keras.optimizers.schedules.CosineDecay takes warmup_target and warmup_steps.",
        f"The first argument is where the warmup starts (0.0); decay_steps={PHASE_TWO_DECAY_STEPS}.",
    ],
    solution=(
        "schedule = keras.optimizers.schedules.CosineDecay(\n"
        f"    initial_learning_rate=0.0, decay_steps={PHASE_TWO_DECAY_STEPS}, "
        f"warmup_target={PHASE_TWO_PEAK:g}, warmup_steps=50\n"
        ")"
    ),
    explanation="The warmup keeps the first, largest gradients of phase 2 from jolting the pretrained base.",
)
