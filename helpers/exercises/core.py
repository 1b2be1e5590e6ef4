"""Questions, feedback, hints and solutions: the self-check machinery of lessons 01-08.

In the spirit of Kaggle's learntools, each question is a small declarative object. The learner
passes the object to check (`q1.check(optimizer)`); the question's feedback function inspects the
object and never executes learner text or reads the notebook's globals. The placeholder `____`
means "not attempted yet", never "wrong".

Feedback renders as coloured HTML in Jupyter and reads well as plain text.

Example:

>>> def learning_rate_feedback(answer):
...     return number_feedback(answer, expected=0.001, what="learning rate")
>>> question = Question(
...     name="q0",
...     prompt="Give the learning rate 0.001.",
...     answer_feedback=learning_rate_feedback,
...     hints=["It is one thousandth."],
...     solution="learning_rate = 1e-3",
... )
>>> print(question.check(____))
Not attempted yet: replace ____ with your answer, then run the cell again.
>>> print(question.check(0.01))
Not quite: your learning rate is 0.01, which is too large.
>>> print(question.check(1e-3))
Correct!
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from helpers.finetune import validation

CORRECT = "correct"
INCORRECT = "incorrect"
NOT_ATTEMPTED = "not attempted"

_LABELS = {CORRECT: "Correct!", INCORRECT: "Not quite:", NOT_ATTEMPTED: "Not attempted yet:"}
_COLOURS = {CORRECT: "#1b7f3b", INCORRECT: "#b3261e", NOT_ATTEMPTED: "#6b6b6b"}
_NOTE_COLOUR = "#3465a4"


class Placeholder:
    """The blank `____` that learners replace with their answer."""

    def __repr__(self) -> str:
        return "____"


____ = Placeholder()


def contains_placeholder(value: Any) -> bool:
    """Returns whether `value` is `____` or a list, tuple, set or dict holding one.

    Example:

    >>> contains_placeholder([1, ____]), contains_placeholder({"a": 1})
    (True, False)
    """
    if isinstance(value, Placeholder):
        return True
    if isinstance(value, dict):
        return any(contains_placeholder(item) for item in [*value.keys(), *value.values()])
    if isinstance(value, list | tuple | set | frozenset):
        return any(contains_placeholder(item) for item in value)
    return False


def _boxed_html(colour: str, title: str, body: str) -> str:
    """A box with a coloured left border, a bold title and `body` (already escaped HTML)."""
    return (
        f'<div style="border-left: 4px solid {colour}; padding: 4px 10px;">'
        f'<strong style="color: {colour};">{html.escape(title)}</strong> {body}</div>'
    )


@dataclass(frozen=True)
class Feedback:
    """The result of `Question.check()`: an outcome and a message naming what the learner gave.

    Attributes:
        outcome: str, one of `"correct"`, `"incorrect"`, `"not attempted"`.
        message: str, what was right or wrong, in the learner's terms.
    """

    outcome: str
    message: str = ""

    @property
    def passed(self) -> bool:
        """`True` when the answer is correct."""
        return self.outcome == CORRECT

    def __str__(self) -> str:
        label = _LABELS[self.outcome]
        return f"{label} {self.message}" if self.message else label

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        colour = _COLOURS[self.outcome]
        return _boxed_html(colour, _LABELS[self.outcome], html.escape(self.message))


@dataclass(frozen=True)
class Note:
    """A hint or a solution: plain text in a terminal, a styled box in Jupyter.

    Attributes:
        title: str, e.g. `"Hint 1 of 2"` or `"Solution to q1:"`.
        text: str, the hint or the solution's code.
        is_code: bool, whether `text` is code (shown on its own lines, in a `<pre>` block).
    """

    title: str
    text: str
    is_code: bool = False

    def __str__(self) -> str:
        if self.is_code:
            return f"{self.title}\n{self.text}"
        return f"{self.title}: {self.text}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        body = html.escape(self.text)
        if self.is_code:
            body = f"<pre>{body}</pre>"
        return _boxed_html(_NOTE_COLOUR, self.title, body)


class Question:
    """One exercise question with `check()`, `hint(level)` and `solution()`.

    Each lesson module builds its questions once (`q1`, `q2`, ...); the notebook calls
    `exercises.q1.check(answer)`.

    Args:
        name: str, how the lesson refers to it, e.g. `"q1"`.
        prompt: str, the task in one or two sentences.
        answer_feedback: callable taking the learner's answer and returning `None` when it is
            right, or a message naming what is wrong.
        hints: sequence of str, from gentle (level 1) to nearly the answer; at least one.
        solution: str, the reference code, shown by `solution()`.
        explanation: str, optional sentence added to the "Correct!" feedback. Defaults to `""`.

    Raises:
        ValueError: if a text is blank, `hints` is empty or `answer_feedback` is not callable.

    Example:

    >>> question = Question("q9", "Give 2.", lambda answer: None, ["Two."], "answer = 2")
    >>> question
    q9: Give 2.
    >>> Question("q9", "Give 2.", lambda answer: None, [], "answer = 2")
    Traceback (most recent call last):
    ...
    ValueError: hints must be a list or tuple of at least 1 item. Received: hints=[]
    """

    def __init__(
        self,
        name: str,
        prompt: str,
        answer_feedback: Callable[[Any], str | None],
        hints: Sequence[str],
        solution: str,
        explanation: str = "",
    ) -> None:
        self.name = validation.check_text("name", name)
        self.prompt = validation.check_text("prompt", prompt)
        self._answer_feedback = validation.check_instance(
            "answer_feedback", answer_feedback, Callable, "a function of the answer"
        )
        hints = validation.check_sequence("hints", hints, minimum_length=1)
        self.hints = tuple(
            validation.check_text(f"hints[{index}]", hint) for index, hint in enumerate(hints)
        )
        self.solution_code = validation.check_text("solution", solution)
        self.explanation = validation.check_instance("explanation", explanation, str, "a str")

    def check(self, answer: Any = ____) -> Feedback:
        """Checks the learner's answer and returns feedback naming what they gave.

        The learner's API, as in Kaggle's learntools: it returns feedback and never raises on a
        wrong answer.

        Args:
            answer: the object to check (a number, an optimizer, a model, ...). The placeholder
                `____` means "not attempted". Defaults to `____`.

        Returns:
            A `Feedback`; its `passed` property is `True` for a correct answer.
        """
        try:
            attempted = not contains_placeholder(answer)
            problem = self._answer_feedback(answer) if attempted else None
        except Exception as error:  # any input gets feedback, never a traceback
            return Feedback(INCORRECT, _unexpected_answer_message(answer, error))
        if not attempted:
            return Feedback(
                NOT_ATTEMPTED, "replace ____ with your answer, then run the cell again."
            )
        if problem:
            return Feedback(INCORRECT, problem)
        return Feedback(CORRECT, self.explanation)

    def hint(self, level: int = 1) -> Note:
        """Returns hint number `level` (1 is the gentlest).

        Args:
            level: int, from 1 to the number of hints. Defaults to 1.

        Returns:
            A `Note` whose title says which hint it is and how to ask for the next one.

        Raises:
            ValueError: if `level` is not an int from 1 to the number of hints.
        """
        count = len(self.hints)
        level = validation.check_int("level", level, minimum=1, maximum=count)
        title = f"Hint {level} of {count}"
        if level < count:
            title += f" (more: {self.name}.hint({level + 1}))"
        return Note(title, self.hints[level - 1])

    def solution(self) -> Note:
        """Returns the reference solution as code."""
        return Note(f"Solution to {self.name}:", self.solution_code, is_code=True)

    def __repr__(self) -> str:
        return f"{self.name}: {self.prompt}"


def _unexpected_answer_message(answer: Any, error: Exception) -> str:
    """The feedback for an answer that made its question's check fail: what it was, and why."""
    reason = " ".join(str(error).split())
    if len(reason) > 120:
        reason = reason[:117] + "..."
    return (
        f"your answer is {describe(answer)}, which this question cannot check "
        f"({type(error).__name__}: {reason}). Give what the question asks for."
    )


def describe(value: Any) -> str:
    """Returns a short description of a learner's value for feedback messages.

    It never raises, whatever the value: an array is described by its shape, any other object
    by its type.

    Example:

    >>> describe(0.5), describe(np.float32(0.25)), describe("adam"), describe([1, 2])
    ('0.5', '0.25', "'adam'", 'a list')
    >>> describe(np.zeros((2, 3)))
    'an array of shape (2, 3)'
    """
    try:
        if isinstance(value, bool | np.bool_) or value is None:
            return repr(bool(value)) if value is not None else "None"
        if validation.is_number(value):
            return f"{float(value):g}"
        if isinstance(value, str):
            shown = value if len(value) <= 40 else value[:37] + "..."
            return repr(shown)
        if isinstance(value, np.ndarray):
            return f"an array of shape {value.shape}"
    except Exception:  # an object whose attributes raise is still described by its type
        pass
    name = type(value).__name__
    article = "an" if name[:1].lower() in "aeiou" else "a"
    return f"{article} {name}"


def as_number(answer: Any) -> float | None:
    """Returns `answer` as a float if it is one real number, else `None`; never raises.

    Python and numpy ints and floats, 0-d and size-1 arrays and scalar tensors are numbers here;
    strings, bools, `None`, complex numbers and longer arrays are not.

    Example:

    >>> as_number(np.float32(0.5)), as_number(np.array([2])), as_number("1"), as_number([1, 2])
    (0.5, 2.0, None, None)
    """
    if answer is None or isinstance(answer, str | bytes | bool | np.bool_):
        return None
    if validation.is_number(answer):
        return float(answer)
    try:
        array = np.asarray(answer)
        is_real = np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)
        if array.size != 1 or not is_real:
            return None
        return float(array.reshape(()))
    except Exception:  # objects numpy cannot read are not numbers
        return None


def number_tolerance(expected: float, significant_digits: int = 3) -> float:
    """Returns half a unit in the last of `significant_digits` digits of `expected`.

    The course's one precision policy: a number is right when it rounds like the value the
    lesson prints, e.g. `1.39` for ln 4 (3 digits) or `0.67` for 2/3 (2 digits).

    Example:

    >>> number_tolerance(math.log(4)), number_tolerance(2 / 3, significant_digits=2)
    (0.005, 0.005)
    """
    expected = validation.check_number("expected", expected)
    significant_digits = validation.check_int("significant_digits", significant_digits, minimum=1)
    if expected == 0:
        return 0.0
    exponent = math.floor(math.log10(abs(expected))) - significant_digits + 1
    return 0.5 * 10.0**exponent


def matches_number(answer: Any, expected: float, significant_digits: int = 3) -> bool:
    """Returns whether `answer` is a number that agrees with `expected` as the lesson prints it.

    Accepted: within `number_tolerance(expected, significant_digits)` of `expected`, plus a
    little slack for floating-point rounding. Never raises on the learner's `answer`.

    Example:

    >>> matches_number(1.39, math.log(4)), matches_number(1.4, math.log(4))
    (True, False)
    >>> matches_number(np.float32(1e-4), 1e-4), matches_number("1e-4", 1e-4)
    (True, False)
    """
    value = as_number(answer)
    if value is None or not math.isfinite(value):
        return False
    tolerance = number_tolerance(expected, significant_digits)
    slack = 1e-9 * max(abs(expected), tolerance)
    return abs(value - expected) <= tolerance + slack


def number_feedback(
    answer: Any, expected: float, what: str, significant_digits: int = 3
) -> str | None:
    """Returns `None` if `answer` is `expected` as the lesson prints it, else a message saying why.

    Every numeric question uses this one policy (see `number_tolerance`): the answer is right
    when it agrees with `expected` to `significant_digits` significant digits, the precision at
    which the lesson prints it. The message names the value received and whether it is too
    large or too small, never the expected value itself, so the learner can try again.

    Args:
        answer: the learner's value.
        expected: float, the right value.
        what: str, what the number is ("learning rate"), used in the message.
        significant_digits: int >= 1, the digits the lesson prints. Defaults to 3.

    Returns:
        `None` when right, otherwise the message.

    Raises:
        ValueError: if `expected`, `what` or `significant_digits` is invalid (the exercise's
            author passes them, not the learner).

    Example:

    >>> number_feedback(np.float32(0.1), expected=0.1, what="step") is None
    True
    >>> number_feedback("0.1", expected=0.1, what="step")
    "your step is '0.1' (a str); give a number."
    >>> number_feedback(0.2, expected=0.1, what="step")
    'your step is 0.2, which is too large.'
    >>> number_feedback(1.4, expected=math.log(4), what="loss")
    'your loss is 1.4, close but not precise enough: give 3 significant digits.'
    """
    expected = validation.check_number("expected", expected)
    what = validation.check_text("what", what)
    significant_digits = validation.check_int("significant_digits", significant_digits, minimum=1)
    value = as_number(answer)
    if value is None:
        shape = getattr(answer, "shape", None) if isinstance(answer, np.ndarray) else None
        if shape is not None:
            return f"your {what} is {describe(answer)}; give one number."
        return f"your {what} is {describe(answer)} (a {type(answer).__name__}); give a number."
    if not math.isfinite(value):
        return f"your {what} is {value:g}; give a finite number."
    if matches_number(value, expected, significant_digits):
        return None
    if significant_digits > 1 and matches_number(value, expected, significant_digits - 1):
        return (
            f"your {what} is {value:g}, close but not precise enough: "
            f"give {significant_digits} significant digits."
        )
    direction = "too large" if value > expected else "too small"
    return f"your {what} is {value:g}, which is {direction}."
