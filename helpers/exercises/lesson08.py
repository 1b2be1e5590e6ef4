"""Exercises for lesson 08: the linear scaling rule, accumulated batches, which rule holds, float16.

Each question inspects the object the learner passes (`exercises.q1.check(rate)`) and names what
it found. Questions 1, 2 and 4 are numbers, graded by the course's one number policy
(`core.number_feedback`: 3 significant digits), with their typical mistakes named; their right
values come from the course's own code (`rate_scaling.scaled_learning_rate`,
`distribution.global_batch_size`) and from numpy (`np.spacing`). Question 3 is graded against the
stored study that the lesson's first section plots (`batch_scaling`), read when the answer is
checked, never at import.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
from typing import Any

import numpy as np

from helpers.exercises.core import Question, as_number, describe, matches_number, number_feedback
from helpers.finetune import distribution, mixed_precision, rate_scaling
from helpers.lessons import batch_scaling, course, rate_comparison

# Question 1: phase 2 with SGD moves from one device to several GPUs, by the linear rule.
SGD_RATE = 1e-3  # phase 2's SGD (momentum 0.9) rate at the base batch on one device
BASE_BATCH_SIZE = batch_scaling.BASE_BATCH_SIZE  # 32, the course's batch size
GPUS = 4  # the replicas of the new run
IMAGES_PER_GPU = 32  # each replica's share of a batch
GLOBAL_BATCH_SIZE = distribution.global_batch_size(IMAGES_PER_GPU, GPUS)  # 128
SCALED_RATE = rate_scaling.scaled_learning_rate(SGD_RATE, BASE_BATCH_SIZE, GLOBAL_BATCH_SIZE)
_BATCH_GROWTH = GLOBAL_BATCH_SIZE / BASE_BATCH_SIZE  # 4.0
# Question 1's realistic wrong answers, each with what the learner computed instead.
RATE_MISTAKES = (
    (
        rate_scaling.scaled_learning_rate(
            SGD_RATE, BASE_BATCH_SIZE, GLOBAL_BATCH_SIZE, rule="square root"
        ),
        "follows the square-root rule; the question asks for the linear rule of Goyal et al., "
        "which multiplies the rate by the batch's growth itself, not by its square root",
    ),
    (
        SGD_RATE,
        f"is the one-device rate unchanged; with {GPUS} GPUs of {IMAGES_PER_GPU} images each, "
        f"the global batch is larger than {BASE_BATCH_SIZE}, and the rule moves the rate with it",
    ),
    (
        SGD_RATE / _BATCH_GROWTH,
        "divides the one-device rate; a larger batch averages away more of the gradient's "
        "noise, so the linear rule multiplies the rate",
    ),
    (
        SGD_RATE * _BATCH_GROWTH**2,
        "multiplies the one-device rate by the batch's growth squared; the linear rule "
        "multiplies by it once",
    ),
    (
        SGD_RATE * GLOBAL_BATCH_SIZE,
        "multiplies the one-device rate by the global batch itself; the rule multiplies it by "
        "the ratio of the new batch to the old",
    ),
)

# Question 2: replicas and gradient accumulation together.
PER_REPLICA_BATCH_SIZE = 8  # each replica's share of a batch
REPLICAS = 2  # MirroredStrategy's devices
ACCUMULATION_STEPS = 4  # the optimizer's gradient_accumulation_steps
IMAGES_PER_UPDATE = (
    distribution.global_batch_size(PER_REPLICA_BATCH_SIZE, REPLICAS) * ACCUMULATION_STEPS
)  # 64
# Question 2's realistic wrong answers, each with what the learner counted instead.
COUNT_MISTAKES = (
    (
        distribution.global_batch_size(PER_REPLICA_BATCH_SIZE, REPLICAS),
        f"is the global batch of one step ({PER_REPLICA_BATCH_SIZE} x {REPLICAS}); it forgets "
        "the accumulation: the optimizer averages the gradients of several steps before it "
        "updates the weights",
    ),
    (
        PER_REPLICA_BATCH_SIZE * ACCUMULATION_STEPS,
        "counts one replica's images over the accumulated steps; it forgets the replicas: under "
        "MirroredStrategy each step averages the gradients of every replica's share",
    ),
    (
        PER_REPLICA_BATCH_SIZE,
        "is one replica's share of one step; the update averages over every replica and every "
        "accumulated step",
    ),
    (
        ACCUMULATION_STEPS,
        "is the number of accumulated steps, not of images",
    ),
    (
        REPLICAS,
        "is the number of replicas, not of images",
    ),
    (
        PER_REPLICA_BATCH_SIZE + ACCUMULATION_STEPS,
        "adds the numbers; replicas and accumulation each multiply the images an update sees",
    ),
    (
        PER_REPLICA_BATCH_SIZE + REPLICAS + ACCUMULATION_STEPS,
        "adds the numbers; replicas and accumulation each multiply the images an update sees",
    ),
)

# Question 3: which rule the stored study's best rates for SGD with momentum follow.
OPTIMIZER = "sgd"  # SGD with momentum 0.9, as batch_scaling names it
SCALING_SECTION = 1  # the lesson's section whose plot and table show the study
RULES = rate_scaling.RULES  # each rule's exponent: linear 1.0, square root 0.5
EXPONENT_DECIMALS = 2  # batch_scaling.format_best_rates prints the exponent with 2 decimals
# Other ways to name each rule; words such as "rule" or "scaling" are ignored.
RULE_SYNONYMS = {
    "sqrt": "square root",
    "squareroot": "square root",
    "root": "square root",
}
_FILLER_WORDS = frozenset({"rule", "the", "scaling", "law"})
_RULES_TEXT = "'linear' or 'square root'"

# Question 4: float16's spacing at 1.0, what a float16 weight of 1.0 can move by.
WEIGHT = 1.0  # the weight the question asks about
FLOAT16_SPACING = float(np.spacing(np.float16(WEIGHT)))  # 2**-10, about 0.000977
PHASE_TWO_UPDATE = 1e-5  # a typical phase-2 update, as in mixed_precision's docstring
# Question 4's realistic wrong answers, each with what the learner gave instead.
SPACING_MISTAKES = (
    (
        FLOAT16_SPACING / 2,
        "is half the spacing: the threshold below which an update added to 1.0 rounds away (to "
        "the nearest float16), and the gap down to the float16 just below 1.0; the question asks "
        "for the gap up to the next larger one",
    ),
    (
        float(mixed_precision.weight_spacing(WEIGHT, "float32")),
        "is float32's spacing at 1.0; float16 keeps far fewer bits after the binary point, so its "
        "numbers lie much farther apart",
    ),
    (
        float(np.spacing(np.float64(WEIGHT))),
        "is float64's spacing at 1.0; float16 keeps far fewer bits after the binary point, so its "
        "numbers lie much farther apart",
    ),
    (
        float(mixed_precision.weight_spacing(WEIGHT, "bfloat16")),  # 2**-7
        "is bfloat16's spacing at 1.0; bfloat16 keeps 7 bits after the binary point, float16 more",
    ),
    (
        float(np.finfo(np.float16).tiny),
        "is float16's smallest normal number; the spacing grows with the number, and the "
        "question asks for it at 1.0",
    ),
    (
        float(np.finfo(np.float16).smallest_subnormal),
        "is float16's smallest positive number, its spacing at 0; the spacing grows with the "
        "number, and the question asks for it at 1.0",
    ),
)


def _number(answer: Any) -> float | None:
    """`core.as_number`, with an int too large for a float (10**400) read as infinite, and a
    bfloat16 value (`np.spacing` of one) read as the number it holds."""
    try:
        value = as_number(answer)
    except OverflowError:  # float(10**400)
        return math.inf if answer > 0 else -math.inf
    if value is not None:
        return value
    try:
        array = np.asarray(answer)
        if array.size == 1 and array.dtype.name == "bfloat16":
            return float(array.reshape(()))
    except Exception:  # objects numpy cannot read are not numbers
        pass
    return None


def scaled_rate_feedback(rate: Any) -> str | None:
    """q1: the linear rule's rate for `GPUS` replicas of `IMAGES_PER_GPU`, `SCALED_RATE` (4e-3).

    Example:

    >>> scaled_rate_feedback(np.float32(4e-3)) is None
    True
    >>> print(scaled_rate_feedback(2e-3))  # doctest: +NORMALIZE_WHITESPACE
    your rate 0.002 follows the square-root rule; the question asks for the linear rule of Goyal
    et al., which multiplies the rate by the batch's growth itself, not by its square root.
    """
    value = _number(rate)
    if value is None or not math.isfinite(value):
        return number_feedback(rate if value is None else value, SCALED_RATE, "rate")
    if value < 0:
        return f"your rate {value:g} is negative; a learning rate is positive."
    for mistake, reason in RATE_MISTAKES:
        if matches_number(value, mistake):
            return f"your rate {value:g} {reason}."
    return number_feedback(value, SCALED_RATE, "rate")


def images_per_update_feedback(count: Any) -> str | None:
    """q2: the images one update averages over, `IMAGES_PER_UPDATE` (8 x 2 x 4 = 64).

    Example:

    >>> images_per_update_feedback(np.int64(64)) is None
    True
    >>> print(images_per_update_feedback(4))
    your count 4 is the number of accumulated steps, not of images.
    """
    value = _number(count)
    if value is None or not math.isfinite(value):
        return number_feedback(count if value is None else value, IMAGES_PER_UPDATE, "count")
    if matches_number(value, IMAGES_PER_UPDATE):
        return None
    if value < 0:
        return f"your count {value:g} is negative; count the images an update averages over."
    if value != round(value):
        return f"your count {value:g} is not a whole number; count the images."
    for mistake, reason in COUNT_MISTAKES:
        if value == mistake:
            return f"your count {value:g} {reason}."
    return number_feedback(value, IMAGES_PER_UPDATE, "count")


def _normalised_rule(text: str) -> str:
    """Lowercase words without punctuation, filler words ("rule") dropped."""
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return " ".join(word for word in words if word not in _FILLER_WORDS)


_RULE_NAMES = {
    **{_normalised_rule(rule): rule for rule in RULES},
    **{_normalised_rule(name): rule for name, rule in RULE_SYNONYMS.items()},
}


def rule_of(answer: str) -> str | None:
    """Returns the rule of `RULES` that `answer` names, or `None`.

    Case, punctuation and words such as "rule" do not matter; `RULE_SYNONYMS` name the rules too.

    Example:

    >>> rule_of("Linear rule"), rule_of("square-root"), rule_of("sqrt"), rule_of("neither")
    ('linear', 'square root', 'square root', None)
    """
    return _RULE_NAMES.get(_normalised_rule(answer))


def measured_exponent() -> float:
    """Returns the mean over seeds of the stored study's exponent for SGD with momentum.

    Reads `batch_scaling.load_results(batch_scaling.RESULTS_PATH)` at every call, so the module
    imports without it. The mean is the one `batch_scaling.format_best_rates` prints.

    Raises:
        ValueError: if the stored study is missing or holds no SGD runs to fit.
    """
    seeds = batch_scaling.load_results(batch_scaling.RESULTS_PATH)
    exponents = batch_scaling.exponents(seeds, OPTIMIZER)
    mean, _, _ = rate_comparison.mean_and_range(exponents)
    return mean


def _stored_study_path() -> str:
    """`batch_scaling.RESULTS_PATH`, relative to the course's folder when it lies inside."""
    path = pathlib.Path(batch_scaling.RESULTS_PATH)
    try:
        return str(path.relative_to(course.COURSE_ROOT))
    except ValueError:  # a path outside the course
        return str(path)


def _error_text(error: Exception) -> str:
    """`"ValueError: reason"` on one line, the reason cut at 100 characters (or the type alone)."""
    reason = " ".join(str(error).split())
    reason = reason if len(reason) <= 100 else reason[:97] + "..."
    return f"{type(error).__name__}: {reason}" if reason else type(error).__name__


def closer_rules(exponent: float) -> tuple[str, ...]:
    """Returns the rules whose exponent lies closest to `exponent` as the lesson prints it.

    Both rules come back when the printed exponent lies halfway between them.

    Example:

    >>> closer_rules(0.91), closer_rules(0.3), closer_rules(0.749)
    (('linear',), ('square root',), ('linear', 'square root'))
    """
    printed = round(exponent, EXPONENT_DECIMALS)
    distances = {rule: abs(printed - rule_exponent) for rule, rule_exponent in RULES.items()}
    closest = min(distances.values())
    return tuple(rule for rule, distance in distances.items() if distance <= closest + 1e-9)


def rule_feedback(answer: Any) -> str | None:
    """q3: the rule whose exponent lies closer to the stored study's mean exponent for SGD.

    A wrong rule hears where to look in the lesson, never the measured exponent.

    Example:

    >>> print(rule_feedback("neither"))  # doctest: +NORMALIZE_WHITESPACE
    your answer 'neither' is not one of the rules: 'linear' or 'square root'; the question asks
    which of the two the measurements follow more closely.
    """
    if not isinstance(answer, str):
        return (
            f"your answer is {describe(answer)}; give one of the rules as a string: {_RULES_TEXT}."
        )
    rule = rule_of(answer)
    if rule is None:
        return (
            f"your answer {describe(answer)} is not one of the rules: {_RULES_TEXT}; the question "
            "asks which of the two the measurements follow more closely."
        )
    if not os.path.exists(batch_scaling.RESULTS_PATH):
        return (
            f"your rule {rule!r} cannot be checked yet: the stored study, "
            f"{_stored_study_path()}, is missing; scripts/batch_scaling_seeds.py writes it."
        )
    try:
        exponent = measured_exponent()
    except (ValueError, OSError, KeyError, TypeError) as error:  # another version, or unreadable
        return (
            f"your rule {rule!r} cannot be checked: the stored study, {_stored_study_path()}, "
            f"cannot be read ({_error_text(error)})."
        )
    if not math.isfinite(exponent):
        return (
            f"your rule {rule!r} cannot be checked: the stored study, {_stored_study_path()}, "
            "gives no finite exponent for SGD with momentum."
        )
    if rule in closer_rules(exponent):
        return None
    return (
        f"your rule {rule!r} (exponent {RULES[rule]:g}) lies farther from the best rates measured "
        f"for SGD with momentum than the other rule. Look again at section {SCALING_SECTION}: "
        "which rule's line do the best rates follow in the plot, and which rule's exponent is the "
        "table's fitted exponent closer to?"
    )


def spacing_feedback(spacing: Any) -> str | None:
    """q4: the gap from 1.0 to the next larger float16 number, `FLOAT16_SPACING` (2**-10).

    Example:

    >>> spacing_feedback(np.spacing(np.float16(1.0))) is None
    True
    >>> print(spacing_feedback(1.19e-7))  # doctest: +NORMALIZE_WHITESPACE
    your spacing 1.19e-07 is float32's spacing at 1.0; float16 keeps far fewer bits after the
    binary point, so its numbers lie much farther apart.
    """
    value = _number(spacing)
    if value is None or not math.isfinite(value):
        return number_feedback(spacing if value is None else value, FLOAT16_SPACING, "spacing")
    if value < 0:
        return (
            f"your spacing {value:g} is negative; the spacing is a gap between two numbers, give "
            "its size."
        )
    for mistake, reason in SPACING_MISTAKES:
        if matches_number(value, mistake):
            return f"your spacing {value:g} {reason}."
    return number_feedback(value, FLOAT16_SPACING, "spacing")


q1 = Question(
    name="q1",
    prompt=(
        f"Phase 2 ran well with SGD (momentum 0.9) at exercises.SGD_RATE ({SGD_RATE:g}) with "
        f"batch {BASE_BATCH_SIZE} on one device. You move to {GPUS} GPUs with {IMAGES_PER_GPU} "
        "images per replica. By the linear scaling rule (Goyal et al. 2017), what learning rate "
        "do you use?"
    ),
    answer_feedback=scaled_rate_feedback,
    hints=[
        f"With {GPUS} replicas of {IMAGES_PER_GPU} images each, how many images does one update "
        "average over (distribution.global_batch_size)? The rule compares that batch with the "
        f"batch of {BASE_BATCH_SIZE} the rate was found at.",
        "The linear rule multiplies the rate by new batch / old batch: "
        "rate_scaling.scaled_learning_rate(base_learning_rate, base_batch_size, batch_size).",
    ],
    solution=(
        "global_batch = distribution.global_batch_size(exercises.IMAGES_PER_GPU, exercises.GPUS)\n"
        "rate = rate_scaling.scaled_learning_rate(\n"
        "    exercises.SGD_RATE, exercises.BASE_BATCH_SIZE, global_batch\n"
        ")\n"
        f"# {SCALED_RATE:.3g}"
    ),
    explanation=(
        f"The global batch grew {_BATCH_GROWTH:g}x, and so does the rate. Goyal et al. pair the "
        "rule with a warmup (rate_scaling.LinearWarmup): the scaled rate is too large for the "
        "first steps, while the weights still change fast."
    ),
)

q2 = Question(
    name="q2",
    prompt=(
        f"MirroredStrategy runs {REPLICAS} replicas with {PER_REPLICA_BATCH_SIZE} images each per "
        f"step, and the optimizer has gradient_accumulation_steps={ACCUMULATION_STEPS}. How many "
        "images does each update of the weights average over?"
    ),
    answer_feedback=images_per_update_feedback,
    hints=[
        "Under MirroredStrategy the replicas' gradients are averaged before each step, so one "
        "step sees the global batch (distribution.global_batch_size).",
        f"With gradient_accumulation_steps={ACCUMULATION_STEPS}, Keras averages the gradients of "
        f"{ACCUMULATION_STEPS} steps and updates the weights once: multiply the global batch by "
        "the accumulation steps.",
    ],
    solution=(
        "global_batch = distribution.global_batch_size(\n"
        "    exercises.PER_REPLICA_BATCH_SIZE, exercises.REPLICAS\n"
        ")\n"
        "images_per_update = global_batch * exercises.ACCUMULATION_STEPS\n"
        f"# {IMAGES_PER_UPDATE}"
    ),
    explanation=(
        "Replicas and accumulation both enlarge the batch an update averages over, so both move "
        "the learning rate by the scaling rule: accumulation trades time for memory, replicas "
        "trade devices for time."
    ),
)

q3 = Question(
    name="q3",
    prompt=(
        f"In section {SCALING_SECTION}'s plot and table of the stored study, which rule do the "
        f"best rates of SGD with momentum follow more closely: {_RULES_TEXT}? Give it as a "
        "string."
    ),
    answer_feedback=rule_feedback,
    hints=[
        "On log-log axes each rule is a straight line: the linear rule has slope 1, the "
        "square-root rule slope 0.5. Which line do the measured best rates run along?",
        "The table's exponent is the fitted slope, one per seed "
        "(batch_scaling.exponents(seeds, 'sgd')): take its mean and pick the rule whose exponent "
        "(rate_scaling.RULES) lies closer.",
    ],
    solution=(
        "seeds = batch_scaling.load_results()\n"
        'exponent = np.mean(batch_scaling.exponents(seeds, "sgd"))\n'
        "distances = {\n"
        "    name: abs(rule_exponent - exponent)\n"
        "    for name, rule_exponent in rate_scaling.RULES.items()\n"
        "}\n"
        "rule = min(distances, key=distances.get)"
    ),
    explanation=(
        "A scaling rule is a starting point, not a law: a few measured batch sizes say how far "
        "the rate should move for your model and data."
    ),
)

q4 = Question(
    name="q4",
    prompt=(
        "Mixed precision computes in float16. What is the spacing of float16 numbers at 1.0: the "
        "gap from 1.0 up to the next larger float16 number (what np.spacing gives)?"
    ),
    answer_feedback=spacing_feedback,
    hints=[
        "float16 holds 11 significant bits: the leading 1 and 10 bits after the binary point. "
        "Between 1 and 2, how far apart are numbers with 10 bits after the binary point?",
        "Or ask numpy: np.spacing(np.float16(1.0)). An update smaller than half this gap rounds "
        f"away when it is added to 1.0 in float16: phase 2's update of {PHASE_TWO_UPDATE:g} is "
        "about 50 times smaller than half of it, so it vanishes.",
    ],
    solution=(f"spacing = float(np.spacing(np.float16(1.0)))\n# {FLOAT16_SPACING:.3g}"),
    explanation=(
        "Updates below half this gap vanish when a float16 weight of 1.0 takes them; phase 2's "
        "updates of 1e-5 to 1e-4 all would, which is why mixed precision keeps float32 master "
        "weights and computes in float16 only."
    ),
)
