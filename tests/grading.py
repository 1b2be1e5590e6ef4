"""A wrong answer checked as the exercise tests check it: marked incorrect, with its feedback."""

from helpers.exercises import core


def assert_wrong(question: core.Question, answer, message: str) -> None:
    """Asserts that `question` marks `answer` incorrect with exactly the feedback `message`.

    Example:

    >>> from helpers.exercises import lesson08
    >>> assert_wrong(lesson08.q2, 32, lesson08.q2.check(32).message)
    """
    feedback = question.check(answer)
    assert feedback.outcome == core.INCORRECT, feedback
    assert feedback.message == message
