"""The exercise system: placeholder, feedback, hints, solutions, and the questions' own checks."""

import importlib
import math
import pathlib
import re

import numpy as np
import pytest

from helpers.exercises import core
from tests.test_exercises_any_input import RaisingEverywhere


def learning_rate_feedback(answer):
    return core.number_feedback(answer, expected=1e-3, what="learning rate")


def make_question() -> core.Question:
    return core.Question(
        name="q9",
        prompt="Give the learning rate 0.001.",
        answer_feedback=learning_rate_feedback,
        hints=["It is one thousandth.", "Write 1e-3."],
        solution="learning_rate = 1e-3",
        explanation="Adam's default.",
    )


def test_placeholder_means_not_attempted():
    feedback = make_question().check(core.____)
    assert feedback.outcome == core.NOT_ATTEMPTED and not feedback.passed
    assert make_question().check().outcome == core.NOT_ATTEMPTED
    assert make_question().check([1, core.____]).outcome == core.NOT_ATTEMPTED


def test_right_answer_passes_with_its_explanation():
    feedback = make_question().check(0.001)
    assert feedback.passed and str(feedback) == "Correct! Adam's default."


@pytest.mark.parametrize("answer", [np.float32(1e-3), np.float64(1e-3), np.array(1e-3)])
def test_numpy_numbers_are_numbers(answer):
    assert make_question().check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (0.01, "your learning rate is 0.01, which is too large."),
        (1e-5, "your learning rate is 1e-05, which is too small."),
        (np.float32(0.01), "your learning rate is 0.01, which is too large."),
        ("0.001", "your learning rate is '0.001' (a str); give a number."),
        (float("nan"), "your learning rate is nan; give a finite number."),
        (True, "your learning rate is True (a bool); give a number."),
        (np.bool_(True), "your learning rate is True (a bool); give a number."),
        ([0.001, 0.01], "your learning rate is a list (a list); give a number."),
        (np.array([1e-3, 1e-2]), "your learning rate is an array of shape (2,); give one number."),
        (None, "your learning rate is None (a NoneType); give a number."),
    ],
)
def test_wrong_answers_name_what_was_given(answer, message):
    feedback = make_question().check(answer)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message == message
    assert str(feedback) == f"Not quite: {message}"


def test_feedback_renders_as_html_with_escaped_text():
    rendered = core.Feedback(core.INCORRECT, "a < b")._repr_html_()
    assert "Not quite:" in rendered and "a &lt; b" in rendered


def test_hints_have_levels():
    question = make_question()
    assert str(question.hint()) == "Hint 1 of 2 (more: q9.hint(2)): It is one thousandth."
    assert str(question.hint(2)) == "Hint 2 of 2: Write 1e-3."
    assert str(question.hint(np.int64(2))) == "Hint 2 of 2: Write 1e-3."


@pytest.mark.parametrize("level", [0, 3, "2", True, 1.0])
def test_a_hint_level_out_of_range_names_the_level(level):
    message = f"level must be an int from 1 to 2. Received: level={level!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        make_question().hint(level)


def test_solution_shows_code():
    note = make_question().solution()
    assert str(note) == "Solution to q9:\nlearning_rate = 1e-3"
    assert "<pre>learning_rate = 1e-3</pre>" in note._repr_html_()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("hints", [], "hints must be a list or tuple of at least 1 item. Received: hints=[]"),
        ("hints", "one hint", "hints must be a list or tuple of at least 1 item."),
        ("hints", ["a", " "], "hints[1] must be a non-blank str. Received: hints[1]=' '"),
        ("solution", "  ", "solution must be a non-blank str. Received: solution='  '"),
        ("name", "", "name must be a non-blank str. Received: name=''"),
        ("explanation", None, "explanation must be a str. Received: explanation=None"),
        (
            "answer_feedback",
            "q9",
            "answer_feedback must be a function of the answer. Received: answer_feedback='q9'",
        ),
    ],
)
def test_a_question_needs_texts_hints_and_a_feedback_function(field, value, message):
    arguments = {
        "name": "q",
        "prompt": "p",
        "answer_feedback": learning_rate_feedback,
        "hints": ["h"],
        "solution": "x = 1",
        field: value,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        core.Question(**arguments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"expected": "0.1", "what": "step"},
            "expected must be a finite number. Received: expected='0.1'",
        ),
        ({"expected": 0.1, "what": ""}, "what must be a non-blank str. Received: what=''"),
        (
            {"expected": 0.1, "what": "step", "significant_digits": 0},
            "significant_digits must be an int >= 1. Received: significant_digits=0",
        ),
    ],
)
def test_number_feedback_rejects_a_bad_reference(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        core.number_feedback(0.1, **arguments)


@pytest.mark.parametrize(
    ("expected", "digits", "right", "wrong"),
    [
        # ln 4 = 1.3863, printed 1.39 by lessons 03 and 05.
        (math.log(4), 3, [1.39, 1.386, np.float32(1.3863), np.array([1.39])], [1.38, 1.4, 1.395]),
        # 2/3, printed 0.67.
        (2 / 3, 2, [0.67, 0.667, 2 / 3, np.float64(0.6667)], [0.66, 0.7, 0.6, 0.675]),
        # A learning rate, printed 1e-04.
        (1e-4, 1, [1e-4, np.float32(1e-4), 0.0001, 1.04e-4], [1e-3, 1e-5, 1.6e-4]),
    ],
)
def test_numbers_are_right_at_the_precision_the_lesson_prints(expected, digits, right, wrong):
    for answer in right:
        assert core.number_feedback(answer, expected, "value", digits) is None, answer
    for answer in wrong:
        message = core.number_feedback(answer, expected, "value", digits)
        assert message.startswith(f"your value is {float(np.asarray(answer)):g}"), answer


def test_a_number_close_but_too_coarse_is_told_so_without_the_answer():
    message = core.number_feedback(1.4, math.log(4), "initial loss")
    assert message == (
        "your initial loss is 1.4, close but not precise enough: give 3 significant digits."
    )
    assert "1.39" not in message


def test_the_tolerance_is_half_a_unit_in_the_last_printed_digit():
    assert core.number_tolerance(1.386, 3) == pytest.approx(0.005)
    assert core.number_tolerance(123.0, 2) == pytest.approx(5.0)
    assert core.number_tolerance(3e-4, 1) == pytest.approx(5e-5)
    assert core.number_tolerance(0.0) == 0.0


ODD_ANSWERS = {
    "None": lambda: None,
    "str": lambda: "1e-3",
    "array": lambda: np.array([[1.0, 2.0]]),
    "raising": RaisingEverywhere,
    "object": object,
    "complex": lambda: 1 + 2j,
}


@pytest.mark.parametrize("kind", ODD_ANSWERS)
def test_odd_answers_get_feedback_not_a_traceback(kind):
    feedback = make_question().check(ODD_ANSWERS[kind]())
    assert feedback.outcome == core.INCORRECT and feedback.message.startswith("your ")


def test_a_feedback_function_that_fails_still_gives_feedback_naming_the_answer():
    def fragile(answer):
        return answer.learning_rate > 0  # AttributeError for most answers

    question = core.Question("q9", "Give an optimizer.", fragile, ["An Adam."], "x = 1")
    feedback = question.check(3.5)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message.startswith("your answer is 3.5, which this question cannot check")
    assert "AttributeError" in feedback.message


def test_number_feedback_accepts_numpy_references():
    assert core.number_feedback(0.1, expected=np.float32(0.1), what="step") is None


def test_describe_names_values_in_the_learners_terms():
    assert core.describe(0.1) == "0.1"
    assert core.describe(np.float32(0.25)) == "0.25"
    assert core.describe(None) == "None"
    assert core.describe({}) == "a dict"
    assert core.describe(object()) == "an object"
    assert core.describe(np.ones((2, 2))) == "an array of shape (2, 2)"
    assert core.describe("x" * 100) == repr("x" * 37 + "...")
    assert core.describe(RaisingEverywhere()) == "a RaisingEverywhere"


LESSON_MODULES = sorted(
    path.stem
    for path in (pathlib.Path(__file__).resolve().parents[1] / "helpers" / "exercises").glob(
        "lesson*.py"
    )
)


def questions_of(module_name: str) -> list[core.Question]:
    module = importlib.import_module(f"helpers.exercises.{module_name}")
    return [value for name, value in sorted(vars(module).items()) if re.fullmatch(r"q\d+", name)]


@pytest.mark.parametrize("module_name", LESSON_MODULES)
def test_every_lesson_has_at_least_three_questions_named_in_order(module_name):
    questions = questions_of(module_name)
    assert len(questions) >= 3
    assert all(isinstance(question, core.Question) for question in questions)
    assert [question.name for question in questions] == [
        f"q{number}" for number in range(1, len(questions) + 1)
    ]


@pytest.mark.parametrize("module_name", LESSON_MODULES)
def test_every_question_treats_the_placeholder_as_not_attempted_and_has_hints_and_a_solution(
    module_name,
):
    for question in questions_of(module_name):
        assert question.check(core.____).outcome == core.NOT_ATTEMPTED, question.name
        assert question.check().outcome == core.NOT_ATTEMPTED, question.name
        for level in range(1, len(question.hints) + 1):
            assert question.hint(level).text.strip(), (question.name, level)
        assert question.solution().text.strip(), question.name
        assert str(question.solution()).startswith(f"Solution to {question.name}:")


@pytest.mark.parametrize("module_name", LESSON_MODULES)
def test_exercise_functions_named_check_raise_and_feedback_functions_return_messages(module_name):
    """`check_*` raises (as in helpers.finetune.validation); a function returning a message is
    named for it (`*_feedback`), so no public `check_*` function may live in an exercise module."""
    module = importlib.import_module(f"helpers.exercises.{module_name}")
    names = [
        name
        for name, value in vars(module).items()
        if callable(value) and getattr(value, "__module__", None) == module.__name__
    ]
    assert [name for name in names if name.startswith("check_")] == []


def test_every_lesson_notebook_has_its_exercise_module():
    notebooks = sorted(
        (pathlib.Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")
    )
    assert len(notebooks) >= 5
    assert [f"lesson{notebook.name[:2]}" for notebook in notebooks] == LESSON_MODULES
