"""The exercise system: placeholder, feedback, hints and solutions."""

import importlib
import pathlib
import re

import pytest

from helpers.exercises import core


def make_question() -> core.Question:
    return core.Question(
        name="q9",
        prompt="Give the learning rate 0.001.",
        check_answer=lambda answer: core.check_number(answer, expected=1e-3, what="learning rate"),
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


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (0.01, "your learning rate is 0.01, which is too large."),
        (1e-5, "your learning rate is 1e-05, which is too small."),
        ("0.001", "your learning rate is '0.001' (a str); give a number."),
        (float("nan"), "your learning rate is nan; give a finite number."),
        (True, "your learning rate is True (a bool); give a number."),
    ],
)
def test_wrong_answers_name_what_was_given(answer, message):
    feedback = make_question().check(answer)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message == message
    assert str(feedback) == f"Not quite: {message}"


def test_feedback_renders_as_html_with_escaped_text():
    rendered = (
        core.Feedback(core.INCORRECT, "<script>").__class__(core.INCORRECT, "a < b")._repr_html_()
    )
    assert "Not quite:" in rendered and "a &lt; b" in rendered


def test_hints_have_levels():
    question = make_question()
    assert str(question.hint()) == "Hint 1 of 2 (more: q9.hint(2)): It is one thousandth."
    assert str(question.hint(2)) == "Hint 2 of 2: Write 1e-3."
    for level in [0, 3, "2", True]:
        with pytest.raises(ValueError, match=f"Received: level={level!r}"):
            question.hint(level)


def test_solution_shows_code():
    note = make_question().solution()
    assert str(note) == "Solution to q9:\nlearning_rate = 1e-3"
    assert "<pre>learning_rate = 1e-3</pre>" in note._repr_html_()


def test_question_needs_hints_and_a_solution():
    with pytest.raises(ValueError, match="hints"):
        core.Question("q", "p", lambda answer: None, hints=[], solution="x = 1")
    with pytest.raises(ValueError, match="solution"):
        core.Question("q", "p", lambda answer: None, hints=["h"], solution="  ")


def test_describe_names_values_in_the_learners_terms():
    assert (
        core.describe(0.1) == "0.1"
        and core.describe(None) == "None"
        and core.describe({}) == "a dict"
    )


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
def test_every_lesson_question_treats_the_placeholder_as_not_attempted_and_has_hints_and_a_solution(
    module_name,
):
    for question in questions_of(module_name):
        assert question.check(core.____).outcome == core.NOT_ATTEMPTED, question.name
        assert question.check().outcome == core.NOT_ATTEMPTED, question.name
        for level in range(1, len(question.hints) + 1):
            assert question.hint(level).text.strip(), (question.name, level)
        assert question.solution().text.strip(), question.name
        assert str(question.solution()).startswith(f"Solution to {question.name}:")


def test_every_lesson_notebook_has_its_exercise_module():
    notebooks = sorted(
        (pathlib.Path(__file__).parent.parent / "notebooks").glob("[0-9][0-9]_*.ipynb")
    )
    assert (
        len(notebooks) >= 5
        and [f"lesson{notebook.name[:2]}" for notebook in notebooks] == LESSON_MODULES
    )
