"""Exercises for lesson 01, what a learning rate does: thresholds, one-step rates, reading curves.

Example:

>>> print(q1.check(2 / 4))
Correct! Gradient descent on this bowl converges for learning rates between 0 and that value.
"""

from __future__ import annotations

import math
from typing import Any

from helpers.exercises.core import Question, describe, number_feedback
from helpers.finetune import validation
from helpers.lessons import gradient_descent

Q1_CURVATURE = 4.0  # the bowl of q1 and q2: loss(w) = 4 / 2 * w**2
Q4_CURVATURES = (3.0, 0.5)  # the 2-D bowl of q4: steep axis first, so "take the last one" is wrong
# q3's runs, by name: (learning_rate, optimizer) on the bowl 2 / 2 * w**2, 40 steps from w = 1.
DIAGNOSIS_RUNS = {
    "A": (0.4, "momentum"),
    "B": (0.002, "sgd"),
    "C": (1.05, "sgd"),
    "D": (0.2, "sgd"),
}
DIAGNOSIS_ANSWER = {"A": "too high", "B": "too low", "C": "diverging", "D": "healthy"}
# What a curve with each verdict looks like, without naming the verdict.
_CLUES = {
    "too low": "its loss still sits close to where it started after all the steps",
    "healthy": "its loss falls steadily, by many orders of magnitude",
    "too high": "its loss goes up on some steps while it falls overall",
    "diverging": "its loss ends higher than it started",
}


def diagnosis_curves() -> dict[str, list[float]]:
    """Returns the four loss curves of q3, by name.

    Plot them with `curve_diagnosis.plot_curves(curves, show_verdicts=False)`: the verdicts are
    what q3 asks for.

    Example:

    >>> sorted(diagnosis_curves())
    ['A', 'B', 'C', 'D']
    """
    curves = {}
    for name, (learning_rate, optimizer) in DIAGNOSIS_RUNS.items():
        run = gradient_descent.run(
            learning_rate, curvatures=[2.0], start=[1.0], steps=40, optimizer=optimizer
        )
        curves[name] = run.losses.tolist()
    return curves


def _is_close(answer: Any, value: float) -> bool:
    """Whether `answer` is a number within 0.1% of `value` (the tolerance of `number_feedback`)."""
    return validation.is_number(answer) and math.isclose(answer, value, rel_tol=1e-3)


def threshold_feedback(answer: Any) -> str | None:
    """q1: the learning rate above which gradient descent diverges on `4 / 2 * w**2`.

    Returns `None` for the right answer, otherwise what is wrong with it.

    Example:

    >>> print(threshold_feedback(8))
    your threshold is 8: you multiplied by the curvature; the threshold divides by it.
    """
    if _is_close(answer, 1 / Q1_CURVATURE):
        return (
            f"your threshold is {describe(answer)}, which is 1 / curvature: the rate that lands "
            "on the minimum in one step. Gradient descent still converges above it, zigzagging "
            "across the minimum."
        )
    if _is_close(answer, 2 * Q1_CURVATURE):
        return (
            f"your threshold is {describe(answer)}: you multiplied by the curvature; "
            "the threshold divides by it."
        )
    return number_feedback(answer, expected=2 / Q1_CURVATURE, what="threshold")


def one_step_rate_feedback(answer: Any) -> str | None:
    """q2: the learning rate that reaches the minimum of `4 / 2 * w**2` in one step.

    Returns `None` for the right answer, otherwise what is wrong with it.

    Example:

    >>> one_step_rate_feedback(0.25) is None
    True
    """
    if _is_close(answer, 2 / Q1_CURVATURE):
        return (
            f"your learning rate is {describe(answer)}, the divergence threshold: one step there "
            "sends w to -w, so the loss never shrinks."
        )
    if _is_close(answer, Q1_CURVATURE):
        return (
            f"your learning rate is {describe(answer)}, the curvature itself: one step multiplies "
            "w by 1 - 4 * 4 = -15."
        )
    return number_feedback(answer, expected=1 / Q1_CURVATURE, what="learning rate")


def diagnosis_feedback(answer: Any) -> str | None:
    """q3: a dict mapping each curve name of `diagnosis_curves()` to its verdict.

    Returns `None` for the right answer, otherwise what is wrong with it: for each wrong verdict,
    what that curve shows.

    Example:

    >>> print(diagnosis_feedback({"A": "too high", "B": "too low"}))
    your dict has no verdict for curve 'C', 'D'.
    """
    names = ", ".join(repr(name) for name in DIAGNOSIS_ANSWER)
    if not isinstance(answer, dict):
        return (
            f"your answer is {describe(answer)}; give a dict mapping each curve ({names}) "
            "to a verdict."
        )
    missing = [name for name in DIAGNOSIS_ANSWER if name not in answer]
    unknown = [name for name in answer if name not in DIAGNOSIS_ANSWER]
    if unknown:
        return f"your dict names curve {describe(unknown[0])}, which is not one of {names}."
    if missing:
        missing_names = ", ".join(repr(name) for name in missing)
        return f"your dict has no verdict for curve {missing_names}."
    verdicts = ", ".join(repr(verdict) for verdict in gradient_descent.VERDICTS)
    problems = []
    for name, expected in DIAGNOSIS_ANSWER.items():
        given = answer[name]
        is_a_verdict = isinstance(given, str) and given.strip().lower() in gradient_descent.VERDICTS
        if not is_a_verdict:
            return (
                f"your verdict for curve {name!r} is {describe(given)}; choose one of {verdicts}."
            )
        if given.strip().lower() != expected:
            problems.append(f"curve {name!r} is not {given!r}: {_CLUES[expected]}")
    if problems:
        return f"{'; '.join(problems)}."
    return None


def two_axis_threshold_feedback(answer: Any) -> str | None:
    """q4: the learning rate above which gradient descent diverges on the bowl (3.0, 0.5).

    Returns `None` for the right answer, otherwise what is wrong with it.

    Example:

    >>> two_axis_threshold_feedback(2 / 3) is None
    True
    """
    steep = max(Q4_CURVATURES)
    shallow = min(Q4_CURVATURES)
    if _is_close(answer, 2 / shallow):
        return (
            f"your learning rate is {describe(answer)}, which is 2 / {shallow:g}: the limit of the "
            "shallow axis. The steep axis blows up long before that."
        )
    if _is_close(answer, 1 / steep):
        return (
            f"your learning rate is {describe(answer)}, which is 1 / {steep:g}: it lands the steep "
            "axis on its minimum in one step, and larger rates still converge."
        )
    return number_feedback(answer, expected=2 / steep, what="learning rate")


q1 = Question(
    name="q1",
    prompt=(
        "Gradient descent on loss(w) = 4 / 2 * w**2 (curvature 4): above which learning rate "
        "does it diverge?"
    ),
    answer_feedback=threshold_feedback,
    hints=[
        "One step multiplies w by (1 - learning_rate * 4). "
        "When does that factor have a size of 1 or more?",
        "Solve abs(1 - learning_rate * 4) = 1 for the positive learning rate that is not 0.",
    ],
    solution="threshold = 2 / 4  # or gradient_descent.divergence_threshold([4.0])",
    explanation=(
        "Gradient descent on this bowl converges for learning rates between 0 and that value."
    ),
)

q2 = Question(
    name="q2",
    prompt=(
        "Which learning rate reaches the minimum of loss(w) = 4 / 2 * w**2 in exactly one step, "
        "from any w?"
    ),
    answer_feedback=one_step_rate_feedback,
    hints=[
        "One step gives (1 - learning_rate * 4) * w. Which factor sends every w to 0?",
        "Solve 1 - learning_rate * 4 = 0.",
    ],
    solution="one_step_rate = 1 / 4",
    explanation="At 1 / curvature the step follows the slope exactly down to the minimum.",
)

q3 = Question(
    name="q3",
    prompt=(
        "Plot `exercises.diagnosis_curves()` with "
        "`curve_diagnosis.plot_curves(..., show_verdicts=False)` and give a dict mapping each "
        f"curve name to one of {gradient_descent.VERDICTS}."
    ),
    answer_feedback=diagnosis_feedback,
    hints=[
        "Compare each curve's last loss with its first one, "
        "then look for steps where the loss goes up.",
        "Higher at the end: diverging. Bumpy on the way down: too high. Barely lower: too low.",
    ],
    solution="diagnosis = " + repr(DIAGNOSIS_ANSWER),
    explanation="These are the rules `gradient_descent.classify` applies to a loss curve.",
)

q4 = Question(
    name="q4",
    prompt=(
        "Above which learning rate does gradient descent diverge on the 2-D bowl with "
        "curvatures (3.0, 0.5)?"
    ),
    answer_feedback=two_axis_threshold_feedback,
    hints=[
        "Each axis has its own factor (1 - learning_rate * curvature); "
        "the run diverges if either one does.",
        "The steepest axis reaches its limit 2 / curvature first.",
    ],
    solution=(
        "largest_stable_rate = 2 / 3.0  # or gradient_descent.divergence_threshold([3.0, 0.5])"
    ),
    explanation="One steep direction caps the learning rate for the whole model.",
)
