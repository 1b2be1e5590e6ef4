"""Self-check exercises: questions with `check()`, `hint()` and `solution()`.

In the spirit of Kaggle's learntools, each question is a small declarative object.
The learner passes the object to check (`q1.check(optimizer)`); checkers inspect
objects and never execute learner text or read the notebook's globals. The
placeholder `____` means "not attempted yet", never "wrong".

Feedback renders as coloured HTML in Jupyter and reads well as plain text.

Example:

>>> question = Question(
...     name="q0",
...     prompt="Give the learning rate 0.001.",
...     check_answer=lambda answer: check_number(answer, expected=0.001, what="learning rate"),
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

CORRECT = "correct"
INCORRECT = "incorrect"
NOT_ATTEMPTED = "not attempted"

_LABELS = {CORRECT: "Correct!", INCORRECT: "Not quite:", NOT_ATTEMPTED: "Not attempted yet:"}
_COLOURS = {CORRECT: "#1b7f3b", INCORRECT: "#b3261e", NOT_ATTEMPTED: "#6b6b6b"}


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


@dataclass(frozen=True)
class Feedback:
    """The result of `check()`: an outcome and a message naming what the learner gave.

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
        return " ".join(part for part in (_LABELS[self.outcome], self.message) if part)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        colour = _COLOURS[self.outcome]
        label = html.escape(_LABELS[self.outcome])
        return (
            f'<div style="border-left: 4px solid {colour}; padding: 4px 10px;">'
            f'<strong style="color: {colour};">{label}</strong> {html.escape(self.message)}</div>'
        )


@dataclass(frozen=True)
class Note:
    """A hint or a solution: plain text in a terminal, a styled box in Jupyter."""

    title: str
    text: str
    is_code: bool = False

    def __str__(self) -> str:
        return f"{self.title}\n{self.text}" if self.is_code else f"{self.title}: {self.text}"

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        body = html.escape(self.text)
        body = f"<pre>{body}</pre>" if self.is_code else body
        return (
            '<div style="border-left: 4px solid #3465a4; padding: 4px 10px;">'
            f"<strong>{html.escape(self.title)}</strong> {body}</div>"
        )


class Question:
    """One exercise question with `check()`, `hint(level)` and `solution()`.

    Args:
        name: str, how the lesson refers to it, e.g. `"q1"`.
        prompt: str, the task in one or two sentences.
        check_answer: callable taking the learner's answer and returning `None`
            when it is right, or a message naming what is wrong.
        hints: sequence of str, from gentle (level 1) to nearly the answer.
        solution: str, the reference code, shown by `solution()`.
        explanation: str, optional sentence added to the "Correct!" feedback.

    Raises:
        ValueError: if `hints` is empty or `solution` is blank.
    """

    def __init__(
        self,
        name: str,
        prompt: str,
        check_answer: Callable[[Any], str | None],
        hints: Sequence[str],
        solution: str,
        explanation: str = "",
    ) -> None:
        if not hints:
            raise ValueError(f"hints must hold at least one hint. Received: hints={hints!r}")
        if not solution.strip():
            raise ValueError(f"solution must not be blank. Received: solution={solution!r}")
        self.name = name
        self.prompt = prompt
        self._check_answer = check_answer
        self.hints = tuple(hints)
        self.solution_code = solution
        self.explanation = explanation

    def check(self, answer: Any = ____) -> Feedback:
        """Checks the learner's answer and returns feedback naming what they gave.

        Args:
            answer: the object to check (a number, an optimizer, a model, ...).
                The placeholder `____` means "not attempted".

        Returns:
            A `Feedback`; its `passed` property is `True` for a correct answer.
        """
        if contains_placeholder(answer):
            return Feedback(
                NOT_ATTEMPTED, "replace ____ with your answer, then run the cell again."
            )
        problem = self._check_answer(answer)
        if problem:
            return Feedback(INCORRECT, problem)
        return Feedback(CORRECT, self.explanation)

    def hint(self, level: int = 1) -> Note:
        """Returns hint number `level` (1 is the gentlest).

        Raises:
            ValueError: if `level` is not between 1 and the number of hints.
        """
        if (
            isinstance(level, bool)
            or not isinstance(level, int)
            or not 1 <= level <= len(self.hints)
        ):
            raise ValueError(
                f"level must be an int from 1 to {len(self.hints)}. Received: level={level!r}"
            )
        more = f" (more: {self.name}.hint({level + 1}))" if level < len(self.hints) else ""
        return Note(f"Hint {level} of {len(self.hints)}{more}", self.hints[level - 1])

    def solution(self) -> Note:
        """Returns the reference solution as code."""
        return Note(f"Solution to {self.name}:", self.solution_code, is_code=True)

    def __repr__(self) -> str:
        return f"{self.name}: {self.prompt}"


def describe(value: Any) -> str:
    """Returns a short description of a learner's value for feedback messages.

    Example:

    >>> describe(0.5), describe("adam"), describe([1, 2])
    ('0.5', "'adam'", 'a list')
    """
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, int | float):
        return f"{value:g}"
    if isinstance(value, str):
        return repr(value)
    return f"a {type(value).__name__}"


def check_number(
    answer: Any, expected: float, what: str, relative_tolerance: float = 1e-3
) -> str | None:
    """Checks a numeric answer; returns `None` if close to `expected`, else a message.

    Args:
        answer: the learner's value.
        expected: float, the right value.
        what: str, what the number is ("learning rate"), used in the message.
        relative_tolerance: float, accepted relative error. Defaults to 1e-3.

    Returns:
        `None` when right, otherwise a message naming the value received and
        whether it is too large or too small (never the expected value itself).

    Example:

    >>> check_number("0.1", expected=0.1, what="step")
    "your step is '0.1' (a str); give a number."
    >>> check_number(0.2, expected=0.1, what="step")
    'your step is 0.2, which is too large.'
    """
    if (
        isinstance(answer, bool)
        or not isinstance(answer, int | float)
        and not hasattr(answer, "__float__")
    ):
        return f"your {what} is {describe(answer)} (a {type(answer).__name__}); give a number."
    value = float(answer)
    if not math.isfinite(value):
        return f"your {what} is {value:g}; give a finite number."
    if math.isclose(value, expected, rel_tol=relative_tolerance):
        return None
    direction = "too large" if value > expected else "too small"
    return f"your {what} is {value:g}, which is {direction}."
