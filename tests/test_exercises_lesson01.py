"""Lesson 01 exercises: reference solutions pass, ____ is "not attempted", wrong answers say why."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
from solutions import run_solution

from helpers.exercises import core
from helpers.exercises import lesson01 as exercises
from helpers.finetune import curve_diagnosis
from helpers.lessons import gradient_descent, lr_explorer

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4, exercises.q5]
# What the notebook has defined when the learner reaches the exercises (its import cell).
NOTEBOOK_NAMESPACE = {
    "plt": plt,
    "np": np,
    "____": core.____,
    "exercises": exercises,
    "curve_diagnosis": curve_diagnosis,
    "gradient_descent": gradient_descent,
    "lr_explorer": lr_explorer,
}
# The names each solution assigns, as the notebook's check cell passes them.
SOLUTION_ANSWERS = {
    "q1": ("threshold",),
    "q2": ("one_step_rate",),
    "q3": ("diagnosis",),
    "q4": ("largest_stable_rate",),
    "q5": ("runs", "pick"),
}


def solution_value(question: core.Question):
    """Runs the reference solution in the notebook's names; returns what the notebook checks."""
    names = run_solution(question, NOTEBOOK_NAMESPACE)
    values = tuple(names[name] for name in SOLUTION_ANSWERS[question.name])
    return values[0] if len(values) == 1 else values


def lesson_runs(rates=exercises.Q5_RATES, **changes):
    """q5's runs as the learner makes them, with `changes` to `gradient_descent.run`'s arguments."""
    arguments = {
        "curvatures": exercises.Q5_CURVATURES,
        "start": exercises.Q5_START,
        "steps": exercises.Q5_STEPS,
    }
    arguments.update(changes)
    return {rate: gradient_descent.run(rate, **arguments) for rate in rates}


def assert_feedback(question: core.Question, answer, message: str | None) -> None:
    """`message=None`: the answer is right; otherwise it is wrong and the feedback starts so."""
    feedback = question.check(answer)
    if message is None:
        assert feedback.passed, str(feedback)
    else:
        assert feedback.outcome == core.INCORRECT and feedback.message.startswith(message)


def test_every_question_of_the_module_is_tested():
    names = sorted(name for name in vars(exercises) if name[0] == "q" and name[1:].isdigit())
    assert names == [question.name for question in QUESTIONS] == sorted(SOLUTION_ANSWERS)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_reference_solution_runs_in_the_notebooks_names_and_passes(question):
    feedback = question.check(solution_value(question))
    assert feedback.passed, str(feedback)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (0.5, None),
        (np.float64(0.5), None),
        (1 / 2, None),
        (np.array(0.5), None),
        (gradient_descent.divergence_threshold([4.0]), None),
        (
            0.25,
            "your threshold is 0.25, which is 1 / curvature: "
            "the rate that lands on the minimum in one step.",
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
        (np.float32(0.25), None),
        (0.5, "your learning rate is 0.5, the divergence threshold: one step there sends w to -w"),
        (
            4,
            "your learning rate is 4, the curvature itself: "
            "one step multiplies w by 1 - 4 * 4 = -15.",
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
    verdicts = {name: gradient_descent.classify(losses) for name, losses in curves.items()}
    assert verdicts == exercises.DIAGNOSIS_ANSWER
    # Each verdict once.
    assert sorted(exercises.DIAGNOSIS_ANSWER.values()) == sorted(gradient_descent.VERDICTS)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"A": "too high", "B": "too low", "C": "diverging", "D": "healthy"}, None),
        ({"A": " Too High", "B": "TOO LOW", "C": "diverging", "D": "healthy"}, None),
        (
            {"A": "healthy", "B": "too low", "C": "diverging", "D": "too high"},
            "curve 'A' is not 'healthy': its loss goes up on some steps while it falls overall; "
            "curve 'D' is not 'too high': its loss falls steadily, by many orders of magnitude.",
        ),
        (
            {"A": "too high", "B": "healthy", "C": "diverging", "D": "healthy"},
            "curve 'B' is not 'healthy': "
            "its loss still sits close to where it started after all the steps.",
        ),
        ({"A": "too high", "B": "too low"}, "your dict has no verdict for curve 'C', 'D'."),
        (
            {"A": "too high", "B": "slow", "C": "diverging", "D": "healthy"},
            "your verdict for curve 'B' is 'slow'; "
            "choose one of 'too low', 'healthy', 'too high', 'diverging'.",
        ),
        ({"A": 1, "B": 2, "C": 3, "D": 4}, "your verdict for curve 'A' is 1; choose one of"),
        ({"E": "healthy"}, "your dict names curve 'E', which is not one of 'A', 'B', 'C', 'D'."),
        (
            ["too high", "too low", "diverging", "healthy"],
            "your answer is a list; give a dict mapping each curve",
        ),
    ],
)
def test_q3_diagnosis(answer, message):
    assert_feedback(exercises.q3, answer, message)


def test_q3_placeholder_inside_the_dict_means_not_attempted():
    assert exercises.q3.check({"A": core.____, "B": "healthy"}).outcome == core.NOT_ATTEMPTED


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (2 / 3, None),
        (0.667, None),
        (0.67, None),  # the lesson prints rates to 2 digits
        (np.float32(0.67), None),
        (gradient_descent.divergence_threshold(exercises.Q4_CURVATURES), None),
        (4.0, "your learning rate is 4, which is 2 / 0.5: the limit of the shallow axis."),
        (
            1 / 3,
            "your learning rate is 0.333333, which is 1 / 3: "
            "it lands the steep axis on its minimum",
        ),
        (2.0, "your learning rate is 2, which is too large."),
        (0.5, "your learning rate is 0.5, which is too small."),
        (0.7, "your learning rate is 0.7, close but not precise enough: give 2 significant"),
        (0.33, "your learning rate is 0.33, which is 1 / 3"),
    ],
)
def test_q4_two_axis_threshold(answer, message):
    assert_feedback(exercises.q4, answer, message)


def test_q4_answer_is_where_the_2d_bowl_starts_to_diverge():
    threshold = solution_value(exercises.q4)
    for fraction, diverges in [(0.99, False), (1.01, True)]:
        run = gradient_descent.run(fraction * threshold, exercises.Q4_CURVATURES, steps=100)
        assert (gradient_descent.classify(run.losses, run.path) == "diverging") is diverges


@pytest.mark.parametrize(
    ("question", "wrong_answers"),
    [
        (exercises.q1, [0.25, 8, 1.0]),
        (exercises.q2, [0.5, 4, 0.1]),
        (exercises.q4, [4.0, 1 / 3, 2.0, 0.7]),
    ],
    ids=["q1", "q2", "q4"],
)
def test_wrong_feedback_never_prints_the_answer(question, wrong_answers):
    answer = solution_value(question)
    for value in wrong_answers:
        message = question.check(value).message
        assert f"{answer:g}" not in message and f"{answer:.2g}" not in message


@pytest.mark.parametrize("old_word", ["good", "too small", "oscillating"])
def test_q3_names_the_courses_verdicts_when_given_lesson_01s_old_words(old_word):
    answer = {**exercises.DIAGNOSIS_ANSWER, "B": old_word}
    message = (
        f"your verdict for curve 'B' is {old_word!r}; "
        "choose one of 'too low', 'healthy', 'too high', 'diverging'."
    )
    assert_feedback(exercises.q3, answer, message)


def test_q3_curves_plot_without_giving_the_verdicts_away():
    import matplotlib.pyplot as plt

    from helpers.finetune import curve_diagnosis

    figure, axes = plt.subplots()
    curve_diagnosis.plot_curves(exercises.diagnosis_curves(), ax=axes, show_verdicts=False)
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["A", "B", "C", "D"]
    plt.close(figure)


@pytest.mark.parametrize(
    ("question", "answer"),
    [
        (exercises.q1, np.float32(0.5)),
        (exercises.q2, np.float64(0.25)),
        (exercises.q4, np.float32(2 / 3)),
    ],
    ids=["q1", "q2", "q4"],
)
def test_numpy_scalars_are_accepted_as_answers(question, answer):
    assert question.check(answer).passed


def test_numpy_scalar_near_misses_get_the_specific_feedback():
    assert_feedback(
        exercises.q1, np.float32(0.25), "your threshold is 0.25, which is 1 / curvature"
    )


def test_q5_the_lessons_runs_make_the_trap_real():
    """The lowest loss of all zigzags, the largest rate diverges: neither shortcut is the pick."""
    runs = lesson_runs()
    verdicts = {rate: gradient_descent.classify(run.losses, run.path) for rate, run in runs.items()}
    lowest_of_all = min(runs, key=lambda rate: runs[rate].losses[-1])
    assert verdicts[lowest_of_all] == "too high"
    assert verdicts[max(runs)] == "diverging"
    steady = [rate for rate, verdict in verdicts.items() if verdict in ("too low", "healthy")]
    pick = min(steady, key=lambda rate: runs[rate].losses[-1])
    # Closed form: the best steady rate is the largest one at or below 1 / (steepest curvature).
    assert pick == max(rate for rate in runs if rate <= 1 / max(exercises.Q5_CURVATURES)) == 0.22
    assert exercises.q5.check((runs, pick)).passed


@pytest.mark.parametrize("pick", [0.22, np.float64(0.22), np.float32(0.22), exercises.Q5_RATES[3]])
def test_q5_right_picks_written_differently(pick):
    assert exercises.q5.check((lesson_runs(), pick)).passed


def test_q5_accepts_the_runs_as_a_list_pair_with_numpy_keys():
    runs = {np.float64(rate): run for rate, run in lesson_runs().items()}
    assert exercises.q5.check([runs, 0.22]).passed


@pytest.mark.parametrize(
    ("pick", "message"),
    [
        (
            0.4,
            "your pick 0.4 zigzags: gradient_descent.classify calls its run 'too high'. "
            "Pick among the runs that do not zigzag.",
        ),
        (0.55, "your pick 0.55 zigzags: gradient_descent.classify calls its run 'diverging'."),
        (0.15, "your pick 0.15 ends at loss 0.00782, but another run that does not zigzag"),
        (0.03, "your pick 0.03 ends at loss 1.19, but another run"),
        (0.25, "your pick is 0.25, which is not one of the rates you ran."),
        ("0.22", "your pick is '0.22', which is not one of the rates you ran."),
    ],
)
def test_q5_wrong_picks_are_named(pick, message):
    assert_feedback(exercises.q5, (lesson_runs(), pick), message)


def test_q5_grades_against_the_learners_own_runs_not_a_constant():
    """A measurement where the 0.22 run zigzags (its path edited) makes 0.15 the right pick."""
    edited = lesson_runs()
    flipped = edited[0.22].path.copy()
    flipped[1::2] *= -1
    edited[0.22] = gradient_descent.Trajectory(
        flipped, gradient_descent.loss(flipped, exercises.Q5_CURVATURES)
    )
    assert_feedback(exercises.q5, (edited, 0.22), "your pick 0.22 zigzags")
    assert exercises.q5.check((edited, 0.15)).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (0.22, "your answer is 0.22; pass (runs, pick)."),
        (([0.22], 0.22), "your runs is a list; give a dict mapping each rate"),
        ({}, "your answer is a dict; pass (runs, pick)."),
        (
            (lesson_runs(rates=exercises.Q5_RATES[:-1]), 0.22),
            "your runs has no run at 0.55; run every rate of exercises.Q5_RATES.",
        ),
        (
            ({**lesson_runs(), 0.3: None}, 0.22),
            "your runs has the key 0.3, which is not one of exercises.Q5_RATES.",
        ),
        (
            ({**lesson_runs(), 0.03: [1.0, 0.5]}, 0.22),
            "your run at 0.03 is a list; give what gradient_descent.run returns.",
        ),
        (
            (lesson_runs(steps=50), 0.22),
            "your run at 0.03 has 50 steps; run 40 (steps=exercises.Q5_STEPS).",
        ),
        (
            (lesson_runs(start=(4.0, 1.0)), 0.22),
            "your run at 0.03 starts at [4.0, 1.0]; start at exercises.Q5_START.",
        ),
        (
            (lesson_runs(curvatures=(1.0, 10.0)), 0.22),
            "your run at 0.03 is not on the bowl exercises.Q5_CURVATURES",
        ),
        (
            (lesson_runs(curvatures=(4.0,), start=(1.0,)), 0.22),
            "your run at 0.03 has a path of shape (41, 1); run it on the 2-D bowl.",
        ),
    ],
    ids=[
        "number",
        "list of runs",
        "dict",
        "missing rate",
        "extra rate",
        "not a run",
        "steps",
        "start",
        "bowl",
        "1-D",
    ],
)
def test_q5_wrong_measurements_are_named(answer, message):
    assert_feedback(exercises.q5, answer, message)
