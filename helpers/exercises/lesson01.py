"""Exercises for lesson 01, what a learning rate does: thresholds, one-step rates, reading curves.

Numbers are accepted as the lesson prints its rates and factors, to `SIGNIFICANT_DIGITS` digits
(`core.number_feedback`): `0.67` for 2 / 3. Question 5 is graded against the learner's own runs.

Example:

>>> print(q1.check(2 / 4))
Correct! Gradient descent on this bowl converges for learning rates between 0 and that value.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from helpers.exercises.core import Question, describe, matches_number, number_feedback
from helpers.lessons import gradient_descent

# The lesson prints learning rates and factors to 2 significant digits ("0.99", "+0.95").
SIGNIFICANT_DIGITS = 2
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
# q5: the learner runs every rate on this bowl and picks from the runs. Steep axis 4, so rates
# above 1 / 4 zigzag and above 2 / 4 diverge; the lowest loss of all belongs to a zigzagging run.
Q5_CURVATURES = (0.5, 4.0)
Q5_START = (-4.0, 1.0)
Q5_STEPS = 40
Q5_RATES = (0.03, 0.08, 0.15, 0.22, 0.28, 0.4, 0.55)
ZIGZAG_VERDICTS = ("too high", "diverging")  # runs that overshoot the minimum or blow up
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
    """Whether `answer` is `value` as the lesson prints it: the policy of `number_feedback`."""
    return matches_number(answer, value, SIGNIFICANT_DIGITS)


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
    return number_feedback(
        answer, expected=2 / Q1_CURVATURE, what="threshold", significant_digits=SIGNIFICANT_DIGITS
    )


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
    return number_feedback(
        answer,
        expected=1 / Q1_CURVATURE,
        what="learning rate",
        significant_digits=SIGNIFICANT_DIGITS,
    )


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

    >>> two_axis_threshold_feedback(2 / 3) is None, two_axis_threshold_feedback(0.67) is None
    (True, True)
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
    return number_feedback(
        answer, expected=2 / steep, what="learning rate", significant_digits=SIGNIFICANT_DIGITS
    )


def run_check_feedback(rate: float, run: Any) -> str | None:
    """Returns `None` if `run` is a q5 run at `rate`, else what is wrong with it (q5's helper).

    A q5 run comes from `gradient_descent.run(rate, Q5_CURVATURES, Q5_START, steps=Q5_STEPS)`:
    its path has `Q5_STEPS + 1` points, starts at `Q5_START` and its losses are the bowl's.

    Example:

    >>> print(run_check_feedback(0.1, gradient_descent.run(0.1, Q5_CURVATURES, Q5_START)))
    your run at 0.1 has 50 steps; run 40 (steps=exercises.Q5_STEPS).
    """
    if not isinstance(run, gradient_descent.Trajectory):
        return f"your run at {rate:g} is {describe(run)}; give what gradient_descent.run returns."
    path = np.asarray(run.path)
    if path.ndim != 2 or path.shape[1] != len(Q5_CURVATURES) or len(run.losses) != len(path):
        return f"your run at {rate:g} has a path of shape {path.shape}; run it on the 2-D bowl."
    if len(path) != Q5_STEPS + 1:
        return (
            f"your run at {rate:g} has {len(path) - 1} steps; "
            f"run {Q5_STEPS} (steps=exercises.Q5_STEPS)."
        )
    if not np.allclose(path[0], Q5_START):
        return f"your run at {rate:g} starts at {path[0].tolist()}; start at exercises.Q5_START."
    with np.errstate(over="ignore", invalid="ignore"):
        bowl_losses = gradient_descent.loss(path, Q5_CURVATURES)
        on_the_bowl = np.allclose(run.losses, bowl_losses, rtol=1e-9, equal_nan=True)
    if not on_the_bowl:
        return (
            f"your run at {rate:g} is not on the bowl exercises.Q5_CURVATURES; "
            "pass curvatures=exercises.Q5_CURVATURES."
        )
    return None


def measured_pick_feedback(answer: Any) -> str | None:
    """q5: `(runs, pick)`, the non-zigzagging rate with the lowest final loss in the learner's runs.

    `runs` maps each rate of `Q5_RATES` to its run on the bowl `Q5_CURVATURES`. The verdicts and
    losses come from those runs, the learner's own measurement: `gradient_descent.classify`
    reads each one, and the pick must be the run with the lowest final loss among those that
    neither zigzag nor diverge.

    Returns `None` for the right answer, otherwise what is wrong with it.

    Example:

    >>> runs = {
    ...     rate: gradient_descent.run(rate, Q5_CURVATURES, Q5_START, steps=Q5_STEPS)
    ...     for rate in Q5_RATES
    ... }
    >>> print(measured_pick_feedback((runs, 0.4)))  # doctest: +NORMALIZE_WHITESPACE
    your pick 0.4 zigzags: gradient_descent.classify calls its run 'too high'. Pick among the
    runs that do not zigzag.
    """
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        return f"your answer is {describe(answer)}; pass (runs, pick)."
    runs, pick = answer
    if not isinstance(runs, dict):
        return (
            f"your runs is {describe(runs)}; give a dict mapping each rate of "
            "exercises.Q5_RATES to gradient_descent.run(rate, ...)."
        )
    rates = {}
    for key in runs:
        rate = next((rate for rate in Q5_RATES if matches_number(key, rate)), None)
        if rate is None:
            return f"your runs has the key {describe(key)}, which is not one of exercises.Q5_RATES."
        rates[rate] = runs[key]
    missing = [rate for rate in Q5_RATES if rate not in rates]
    if missing:
        missing_rates = ", ".join(f"{rate:g}" for rate in missing)
        return f"your runs has no run at {missing_rates}; run every rate of exercises.Q5_RATES."
    for rate, run in rates.items():
        problem = run_check_feedback(rate, run)
        if problem:
            return problem
    picked = next((rate for rate in Q5_RATES if matches_number(pick, rate)), None)
    if picked is None:
        return f"your pick is {describe(pick)}, which is not one of the rates you ran."
    verdicts = {
        rate: gradient_descent.classify(run.losses, run.path) for rate, run in rates.items()
    }
    if verdicts[picked] in ZIGZAG_VERDICTS:
        return (
            f"your pick {picked:g} zigzags: gradient_descent.classify calls its run "
            f"{verdicts[picked]!r}. Pick among the runs that do not zigzag."
        )
    final_losses = {
        rate: float(run.losses[-1])
        for rate, run in rates.items()
        if verdicts[rate] not in ZIGZAG_VERDICTS
    }
    best = min(final_losses, key=final_losses.get)
    if final_losses[picked] > final_losses[best]:
        return (
            f"your pick {picked:g} ends at loss {final_losses[picked]:.3g}, but another run that "
            "does not zigzag ends lower."
        )
    return None


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

q5 = Question(
    name="q5",
    prompt=(
        "Run gradient_descent.run for every rate of exercises.Q5_RATES on the bowl "
        "exercises.Q5_CURVATURES from exercises.Q5_START for exercises.Q5_STEPS steps. Among the "
        "runs that do not zigzag or diverge, which rate reaches the lowest loss? Pass (runs, pick)."
    ),
    answer_feedback=measured_pick_feedback,
    hints=[
        "Keep the runs in a dict {rate: run}; gradient_descent.classify(run.losses, run.path) "
        "gives each run's verdict.",
        "Drop the runs that are 'too high' or 'diverging', then compare run.losses[-1].",
    ],
    solution=(
        "runs = {\n"
        "    rate: gradient_descent.run(\n"
        "        rate, exercises.Q5_CURVATURES, exercises.Q5_START, steps=exercises.Q5_STEPS\n"
        "    )\n"
        "    for rate in exercises.Q5_RATES\n"
        "}\n"
        "verdicts = {rate: gradient_descent.classify(run.losses, run.path) "
        "for rate, run in runs.items()}\n"
        "steady = [rate for rate in runs if verdicts[rate] in ('too low', 'healthy')]\n"
        "pick = min(steady, key=lambda rate: runs[rate].losses[-1])"
    ),
    explanation=(
        "The best such rate sits just below 1 / (steepest curvature): faster rates overshoot "
        "the steep axis. The lowest loss of all belongs to a zigzagging run, not far below "
        "where the steep axis diverges (2 / 4)."
    ),
)
