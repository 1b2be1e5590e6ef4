"""Exercises for lesson 05: read loss curves, check the initial loss, pick phase 2's rate, warm up.

Each question inspects the object the learner passes (`exercises.q1.check(verdicts)`) and names
what it found. `CURVES` holds the five runs of question 1; `curve_diagnosis.diagnose` is the
reference that grades them, in the course's one vocabulary, `curve_diagnosis.VERDICTS`. Question 4
reads a schedule by calling it; question 5 grades a rate against the learner's own range test.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_feedback
from helpers.exercises.core import Question, as_number, describe, matches_number, number_feedback
from helpers.finetune import curve_diagnosis, lr_finder, schedules, two_phase
from helpers.lessons import target_task

NUM_CLASSES = target_task.NUM_CLASSES  # question 2: the head of the target task
FRESH_HEAD_LOSS = curve_diagnosis.expected_initial_loss(NUM_CLASSES)  # question 2: ln(4)
# Question 3: the course's phase-2 rule, a tenth of the head's rate (1e-4 after 1e-3). The lesson
# prints it as "1e-4", one significant digit, so the one number policy accepts 5e-5 to 1.5e-4.
PHASE_ONE_RATE = two_phase.HEAD_LEARNING_RATE
PHASE_TWO_RATE = two_phase.FINE_TUNE_LEARNING_RATE
PHASE_TWO_RATE_DIGITS = 1
PHASE_TWO_PEAK = PHASE_TWO_RATE  # question 4: phase 2's rate after the warmup
PHASE_TWO_WARMUP_STEPS = 50  # question 4: the warmup's steps, from 0.0 up to the peak
PHASE_TWO_DECAY_STEPS = 500  # question 4: the steps of the cosine decay after the warmup
# Names the kind of object only: the arguments are the answer.
SCHEDULE_EXAMPLE = "keras.optimizers.schedules.CosineDecay(...)"
# Question 4 calls the schedule at these steps: every 10th up to 50 steps past the decay's end,
# and the steps on either side of the warmup's end and of the decay's end.
_DECAY_END = PHASE_TWO_WARMUP_STEPS + PHASE_TWO_DECAY_STEPS
SCHEDULE_STEPS = tuple(
    sorted(
        set(range(0, _DECAY_END + 51, 10))
        | {PHASE_TWO_WARMUP_STEPS - 1, PHASE_TWO_WARMUP_STEPS + 1, _DECAY_END - 1}
    )
)
SCHEDULE_TOLERANCE = 1e-3  # question 4: rates agree to 0.1% of the peak (float32 gives ~1e-7)
NEAR_ZERO = 0.01  # question 4: a decay "ends near 0" below 1% of its peak
# Question 5: the learner's rate must lie within this factor of their range test's valley.
VALLEY_FACTOR = 3.0
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
# Question 1: what a curve given each verdict looks like, said when a learner's verdict is wrong
# (the learner's verdict, never the right one: the feedback must not give the answer away).
VERDICT_SIGNS = {
    "diverging": "a diverging curve climbs far above where it started",
    "too high": "a curve trained too high jumps up and down between steps",
    "too low": "a curve trained too low barely falls (less than 10% over the run)",
    "healthy": "a healthy curve falls steadily and flattens, without jumps",
    "overfitting": "an overfitting run has a validation loss that turns up while training falls",
}


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

    A wrong answer hears how many verdicts are wrong and why the first wrong one does not fit,
    never the right verdicts.

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
        name
        for name, diagnosis in reference_verdicts().items()
        if _normalised(answer[name]) != diagnosis.verdict
    ]
    if not wrong:
        return None
    first = _normalised(answer[wrong[0]])
    count = f"{len(wrong)} of your {len(CURVES)} verdicts {'is' if len(wrong) == 1 else 'are'}"
    return (
        f"{count} wrong. The first: you called curve {wrong[0]!r} {first}, but "
        f"{VERDICT_SIGNS[first]}. Look at its plot again."
    )


def fresh_head_loss_feedback(initial_loss: Any) -> str | None:
    """q2: the loss a fresh 4-class head starts at, `ln(4)`, to 3 digits as the lesson prints it.

    Example:

    >>> print(fresh_head_loss_feedback(2.0))
    your initial loss 2 is log2(4); Keras's cross-entropy uses the natural logarithm.
    """
    for value, reason in INITIAL_LOSS_MISTAKES:
        if matches_number(initial_loss, value):
            return f"your initial loss {as_number(initial_loss):g} {reason}."
    return number_feedback(initial_loss, expected=FRESH_HEAD_LOSS, what="initial loss")


def phase_two_rate_feedback(learning_rate: Any) -> str | None:
    """q3: the course's phase-2 rule, a tenth of the head's rate: `PHASE_TWO_RATE` (1e-4).

    Accepted as the lesson prints it, "1e-4" (one significant digit: 5e-5 to 1.5e-4), by the one
    number policy of `core.number_feedback`.

    Example:

    >>> phase_two_rate_feedback(np.float32(1e-4)) is None
    True
    >>> print(phase_two_rate_feedback(-1e-4))
    your learning rate is -0.0001; a learning rate must be positive.
    """
    value = as_number(learning_rate)
    if value is None or not math.isfinite(value):
        return (
            f"your learning rate is {describe(learning_rate)}; give a positive number such as 0.01."
        )
    if value <= 0:
        return f"your learning rate is {value:g}; a learning rate must be positive."
    if number_feedback(value, PHASE_TWO_RATE, "learning rate", PHASE_TWO_RATE_DIGITS) is None:
        return None
    ratio = PHASE_ONE_RATE / value
    times_below = f"{ratio:,.0f}x" if ratio >= 10 else f"{ratio:.2g}x"
    phase_one = f"phase 1's {PHASE_ONE_RATE:g}"
    if matches_number(value, PHASE_ONE_RATE, significant_digits=2):
        return (
            f"your learning rate {value:g} is {phase_one} again: unfrozen, the pretrained "
            "base takes steps sized for a random head and loses its features; go lower."
        )
    if value > PHASE_ONE_RATE:
        return (
            f"your learning rate {value:g} is above {phase_one}: phase 2 moves weights "
            "that are already good, and a larger step wrecks them (the loss jumps); go lower."
        )
    if value > PHASE_TWO_RATE:
        return (
            f"your learning rate {value:g} is only {times_below} below {phase_one}: the pretrained "
            "base needs smaller steps than a new head (see the rule in section 3)."
        )
    return (
        f"your learning rate {value:g} is {times_below} below {phase_one}: phase 2's few epochs "
        "barely move the loss at that rate (too low); see the rule in section 3."
    )


def reference_schedule() -> keras.optimizers.schedules.CosineDecay:
    """Question 4's schedule: a warmup from 0.0 to `PHASE_TWO_PEAK` in 50 steps, a 500-step decay.

    Example:

    >>> schedules.rates_at(reference_schedule(), [0, 25, 50, 300, 550]).round(7).tolist()
    [0.0, 5e-05, 0.0001, 5e-05, 0.0]
    """
    return keras.optimizers.schedules.CosineDecay(
        0.0,
        PHASE_TWO_DECAY_STEPS,
        warmup_target=PHASE_TWO_PEAK,
        warmup_steps=PHASE_TWO_WARMUP_STEPS,
    )


def warmup_schedule_feedback(schedule: Any) -> str | None:
    """q4: a schedule that warms up from 0.0 to `PHASE_TWO_PEAK` in 50 steps, then decays for 500.

    The schedule is read by calling it at `SCHEDULE_STEPS`, never from its configuration: the
    rates must be the reference's (`reference_schedule`) to 0.1% of the peak. An exception from
    calling it (an int 0 as the start makes Keras compute in ints) becomes feedback.

    Example:

    >>> schedule = keras.optimizers.schedules.CosineDecay(
    ...     0.0, 500, warmup_target=1e-4, warmup_steps=50
    ... )
    >>> warmup_schedule_feedback(schedule) is None
    True
    >>> never_decays = keras.optimizers.schedules.CosineDecay(
    ...     0.0, 500, alpha=1.0, warmup_target=1e-4, warmup_steps=50
    ... )
    >>> print(warmup_schedule_feedback(never_decays))
    your schedule is still at 0.0001 at step 550, 100% of its peak: it does not decay to near 0.
    """
    if isinstance(schedule, keras.optimizers.Optimizer):
        optimizer_name = type(schedule).__name__
        return f"your answer is an optimizer ({optimizer_name}); pass the schedule itself."
    if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        return keras_feedback.wrong_kind_feedback(schedule, "a schedule", SCHEDULE_EXAMPLE)
    try:
        rates = schedules.rates_at(schedule, SCHEDULE_STEPS)
    except Exception as error:  # the learner's schedule may raise anything when called
        return _uncallable_schedule_feedback(schedule, error)
    rate_at = dict(zip(SCHEDULE_STEPS, rates, strict=True))
    return _schedule_shape_feedback(type(schedule).__name__, rate_at)


def _uncallable_schedule_feedback(schedule: Any, error: Exception) -> str:
    """The message for a schedule that raises when called: the error, and the int-0 pitfall."""
    reason = " ".join(str(error).split())
    reason = reason if len(reason) <= 100 else reason[:97] + "..."
    message = (
        f"your schedule raises when called at a step ({type(error).__name__}: {reason}), "
        "so training would stop at its first step"
    )
    try:
        start = schedule.get_config().get("initial_learning_rate")
    except Exception:  # a schedule without a usable configuration
        start = None
    if isinstance(start, int | np.integer):
        return f"{message}. Its start is the int {start}: Keras then computes in ints; write 0.0."
    return message + "."


def _schedule_shape_feedback(name: str, rate_at: dict[int, float]) -> str | None:
    """Compares the called rates with the reference: start, peak, where it peaks, the decay."""
    steps = list(rate_at)
    rates = np.array(list(rate_at.values()))
    if not np.all(np.isfinite(rates)):
        step = steps[int(np.argmin(np.isfinite(rates)))]
        return f"your schedule gives {rate_at[step]:g} at step {step}; a rate must be finite."
    if rates.min() < 0:
        step = steps[int(np.argmin(rates))]
        return f"your schedule gives {rate_at[step]:g} at step {step}; a rate is never negative."
    peak = float(rates.max())
    peak_step = steps[int(np.argmax(rates))]
    if peak_step == 0:
        return (
            f"your {name} starts at its highest rate, {peak:g}: it has no warmup; "
            "start from 0.0 and rise to the peak."
        )
    if rate_at[0] != 0.0:
        return f"your schedule starts at {rate_at[0]:g} at step 0; start the warmup from 0.0."
    if not matches_number(peak, PHASE_TWO_PEAK, significant_digits=3):
        return f"your schedule peaks at {peak:g} (step {peak_step}); phase 2 peaks at 1e-4."
    if peak_step != PHASE_TWO_WARMUP_STEPS:
        return (
            f"your schedule reaches its peak at step {peak_step}; "
            f"warm up over {PHASE_TWO_WARMUP_STEPS} steps."
        )
    end = rate_at[_DECAY_END]
    if end > NEAR_ZERO * peak:
        return (
            f"your schedule is still at {end:g} at step {_DECAY_END}, {end / peak:.0%} of its "
            "peak: it does not decay to near 0."
        )
    reference = schedules.rates_at(reference_schedule(), steps)
    off = np.abs(rates - reference) > SCHEDULE_TOLERANCE * PHASE_TWO_PEAK
    if np.any(off):
        step = steps[int(np.argmax(off))]
        return (
            f"your schedule gives {rate_at[step]:.3g} at step {step}: its decay does not last "
            f"{PHASE_TWO_DECAY_STEPS} steps after the warmup, as half a cosine."
        )
    return None


def range_test_rate_feedback(answer: Any) -> str | None:
    """q5: phase 2's rate read from the learner's own range test on the unfrozen model.

    The answer is a pair `(learning_rate, range_test)`, the range test being the notebook's
    `phase_two` (a `lr_finder.RangeTestResult`). The rate must lie within 3x of that test's valley
    and below the rate where its smoothed loss is lowest: checked against the measurement, not a
    constant. A test whose valley is within 3x of the head's rate or above (what a fresh head's
    test finds) is named as the wrong measurement.

    Example:

    >>> from helpers.finetune import lr_suggestions
    >>> rates = lr_suggestions.exponential_rates(1e-7, 10.0, 100)[:64]  # it stopped at step 64
    >>> losses = 1.4 - 0.5 * np.tanh(np.log10(rates) + 4) + 300 * rates  # falls, then blows up
    >>> suggestions = lr_suggestions.suggest(rates, losses, num_steps=100)
    >>> test = lr_finder.RangeTestResult(rates, losses, losses, 100, True, suggestions)
    >>> range_test_rate_feedback((suggestions["valley"], test)) is None
    True
    >>> print(range_test_rate_feedback((1e-3, test)))  # doctest: +NORMALIZE_WHITESPACE
    your learning rate 0.001 is at or above the rate where your range test's smoothed loss is
    lowest: from there on the loss blows up; go lower.
    """
    if not (isinstance(answer, list | tuple) and len(answer) == 2):
        return (
            f"your answer is {describe(answer)}; give a pair (learning_rate, phase_two): your "
            "rate and the range test you ran before phase 2."
        )
    learning_rate, range_test = answer
    if not isinstance(range_test, lr_finder.RangeTestResult):
        return (
            f"your range test is {describe(range_test)}; give the result of "
            "lr_finder.find_learning_rate on the unfrozen model (phase_two) as the second item."
        )
    valley = range_test.suggestions.get("valley")
    if valley is None:
        return (
            f"your range test has no suggestions (it ran {len(range_test.losses)} steps); "
            "run it with more steps."
        )
    if valley > PHASE_ONE_RATE / VALLEY_FACTOR:
        return (
            f"your range test's valley is {valley:.1e}, as large as a new head's rate: that is "
            "the test before phase 1 (phase_one); give the one on the unfrozen model."
        )
    value = as_number(learning_rate)
    if value is None or not math.isfinite(value) or value <= 0:
        return f"your learning rate is {describe(learning_rate)}; give a positive number."
    lowest = float(range_test.suggestions["minimum_tenth"]) * 10  # where the loss is lowest
    if value >= lowest:
        return (
            f"your learning rate {value:g} is at or above the rate where your range test's "
            "smoothed loss is lowest: from there on the loss blows up; go lower."
        )
    if value > VALLEY_FACTOR * valley:
        return (
            f"your learning rate {value:g} is more than {VALLEY_FACTOR:g}x above your range "
            "test's valley suggestion: too bold for pretrained weights."
        )
    if value < valley / VALLEY_FACTOR:
        return (
            f"your learning rate {value:g} is more than {VALLEY_FACTOR:g}x below your range "
            "test's valley suggestion: phase 2's few epochs would barely move the loss."
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
        f"The new head trained with Adam at {PHASE_ONE_RATE:g} (phase 1, frozen base). Which "
        "learning rate do you start phase 2 with, once the base is unfrozen?"
    ),
    answer_feedback=phase_two_rate_feedback,
    hints=[
        "In phase 2 every pretrained weight moves too; they are already good, "
        "so take smaller steps than the new head's.",
        "The course's rule (section 3): a tenth of the head's rate, then confirm it with a range "
        "test on the unfrozen model.",
    ],
    solution=f"learning_rate = {PHASE_ONE_RATE:g} / 10  # a tenth of the head's rate",
    explanation=(
        "Small steps adapt the pretrained features without destroying them; the range test on "
        "the unfrozen model (q5) confirms the rate on your own data."
    ),
)

q4 = Question(
    name="q4",
    prompt=(
        f"Build phase 2's schedule: a CosineDecay that warms up from 0.0 to {PHASE_TWO_PEAK:g} "
        f"over {PHASE_TWO_WARMUP_STEPS} steps, then decays over {PHASE_TWO_DECAY_STEPS} steps "
        "to 0."
    ),
    answer_feedback=warmup_schedule_feedback,
    hints=[
        "keras.optimizers.schedules.CosineDecay takes warmup_target and warmup_steps; check "
        "yours by calling it: schedules.learning_rates(schedule, 600).",
        "The first argument is where the warmup starts, as a float (0.0, not 0); decay_steps "
        "counts the steps after the warmup.",
    ],
    solution=(
        "schedule = keras.optimizers.schedules.CosineDecay(\n"
        f"    initial_learning_rate=0.0, decay_steps={PHASE_TWO_DECAY_STEPS}, "
        f"warmup_target={PHASE_TWO_PEAK:g}, warmup_steps={PHASE_TWO_WARMUP_STEPS}\n"
        ")"
    ),
    explanation=(
        "The warmup keeps the first, largest gradients of phase 2 from jolting the pretrained base."
    ),
)

q5 = Question(
    name="q5",
    prompt=(
        "Read the range test you ran on the unfrozen model (phase_two, section 3) and pick "
        "phase 2's learning rate: check (learning_rate, phase_two)."
    ),
    answer_feedback=range_test_rate_feedback,
    hints=[
        "Plot it: phase_two.plot(). Stay well below the rate where the smoothed loss is lowest.",
        "The valley suggestion, phase_two.suggestions['valley'], is a good first guess; "
        "a rate within 3x of it is fine.",
    ],
    solution='learning_rate = phase_two.suggestions["valley"]',
    explanation=(
        "Your own measurement confirms (or corrects) the rule of a tenth of the head's rate; "
        "the valley errs on the cautious side."
    ),
)
