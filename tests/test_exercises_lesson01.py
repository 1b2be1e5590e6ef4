"""Lesson 01 exercises: each reference solution passes, ____ is "not attempted", wrong answers say what is off."""

import numpy as np
import pytest

from helpers.exercises import core
from helpers.exercises import lesson01 as exercises
from helpers.lessons import gradient_descent

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4]
SOLUTION_VARIABLES = {
    "q1": "threshold",
    "q2": "one_step_rate",
    "q3": "diagnosis",
    "q4": "largest_stable_rate",
}


def solution_value(question: core.Question):
    """Runs the reference solution code (our own text, not a learner's) and returns the variable it defines."""
    namespace = {"gradient_descent": gradient_descent}
    exec(question.solution_code, namespace)
    return namespace[SOLUTION_VARIABLES[question.name]]


def assert_feedback(question: core.Question, answer, message: str | None) -> None:
    """`message=None` means the answer is right; otherwise it is wrong and the feedback starts with `message`."""
    feedback = question.check(answer)
    if message is None:
        assert feedback.passed, str(feedback)
    else:
        assert feedback.outcome == core.INCORRECT and feedback.message.startswith(message)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_reference_solution_passes(question):
    feedback = question.check(solution_value(question))
    assert feedback.passed, str(feedback)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (0.5, None),
        (np.float64(0.5), None),
        (gradient_descent.divergence_threshold([4.0]), None),
        (
            0.25,
            "your threshold is 0.25, which is 1 / curvature: the rate that lands on the minimum in one step.",
        ),
        (8, "your threshold is 8: you multiplied by the curvature; the threshold divides by it."),
        (1.0, "your threshold is 1, which is too large."),
        (0.1, "your threshold is 0.1, which is too small."),
        ("0.5", "your threshold is '0.5' (a str); give a number."),
    ],
)
def test_q1_divergence_threshold(answer, message):
    assert_feedback(exercises.q1, answer, message)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (0.25, None),
        (1 / 4, None),
        (0.5, "your learning rate is 0.5, the divergence threshold: one step there sends w to -w"),
        (
            4,
            "your learning rate is 4, the curvature itself: one step multiplies w by 1 - 4 * 4 = -15.",
        ),
        (0.1, "your learning rate is 0.1, which is too small."),
        (None, "your learning rate is None (a NoneType); give a number."),
    ],
)
def test_q2_one_step_learning_rate(answer, message):
    assert_feedback(exercises.q2, answer, message)


def test_q2_answer_really_reaches_the_minimum_in_one_step_and_the_q1_answer_really_is_the_edge():
    one_step = gradient_descent.run(solution_value(exercises.q2), [4.0], start=[3.0], steps=1)
    assert one_step.losses[-1] == pytest.approx(0.0)
    threshold = solution_value(exercises.q1)
    below = gradient_descent.run(0.99 * threshold, [4.0], steps=20).losses
    above = gradient_descent.run(1.01 * threshold, [4.0], steps=20).losses
    assert below[-1] < below[0] and above[-1] > above[0]


def test_q3_answer_is_what_classify_says_about_each_curve():
    curves = exercises.diagnosis_curves()
    assert {
        name: gradient_descent.classify(losses) for name, losses in curves.items()
    } == exercises.DIAGNOSIS_ANSWER
    assert sorted(exercises.DIAGNOSIS_ANSWER.values()) == sorted(
        gradient_descent.VERDICTS
    )  # each verdict once


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"A": "oscillating", "B": "too small", "C": "diverging", "D": "good"}, None),
        ({"A": " Oscillating", "B": "TOO SMALL", "C": "diverging", "D": "good"}, None),
        (
            {"A": "good", "B": "too small", "C": "diverging", "D": "oscillating"},
            "curve 'A' is not 'good': its loss goes up on some steps while it falls overall; "
            "curve 'D' is not 'oscillating': its loss falls steadily, by many orders of magnitude.",
        ),
        (
            {"A": "oscillating", "B": "good", "C": "diverging", "D": "good"},
            "curve 'B' is not 'good': its loss still sits close to where it started after all the steps.",
        ),
        ({"A": "oscillating", "B": "too small"}, "your dict has no verdict for curve 'C', 'D'."),
        (
            {"A": "oscillating", "B": "slow", "C": "diverging", "D": "good"},
            "your verdict for curve 'B' is 'slow'; choose one of 'too small', 'good', 'oscillating', 'diverging'.",
        ),
        ({"A": 1, "B": 2, "C": 3, "D": 4}, "your verdict for curve 'A' is 1; choose one of"),
        ({"E": "good"}, "your dict names curve 'E', which is not one of 'A', 'B', 'C', 'D'."),
        (
            ["oscillating", "too small", "diverging", "good"],
            "your answer is a list; give a dict mapping each curve",
        ),
    ],
)
def test_q3_diagnosis(answer, message):
    assert_feedback(exercises.q3, answer, message)


def test_q3_placeholder_inside_the_dict_means_not_attempted():
    assert exercises.q3.check({"A": core.____, "B": "good"}).outcome == core.NOT_ATTEMPTED


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (2 / 3, None),
        (0.667, None),
        (gradient_descent.divergence_threshold(exercises.Q4_CURVATURES), None),
        (4.0, "your learning rate is 4, which is 2 / 0.5: the limit of the shallow axis."),
        (
            1 / 3,
            "your learning rate is 0.333333, which is 1 / 3: it lands the steep axis on its minimum",
        ),
        (2.0, "your learning rate is 2, which is too large."),
        (0.5, "your learning rate is 0.5, which is too small."),
    ],
)
def test_q4_two_axis_threshold(answer, message):
    assert_feedback(exercises.q4, answer, message)


def test_q4_answer_is_where_the_2d_bowl_starts_to_diverge():
    threshold = solution_value(exercises.q4)
    for fraction, diverges in [(0.99, False), (1.01, True)]:
        run = gradient_descent.run(fraction * threshold, exercises.Q4_CURVATURES, steps=100)
        assert (gradient_descent.classify(run.losses, run.path) == "diverging") is diverges


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_wrong_feedback_never_prints_the_answer(question):
    wrong = {"q1": [0.25, 8, 1.0], "q2": [0.5, 4, 0.1], "q4": [4.0, 1 / 3, 2.0]}.get(
        question.name, []
    )
    answer = solution_value(question)
    for value in wrong:
        message = question.check(value).message
        assert f"{answer:g}" not in message and f"{answer}" not in message
