"""Runs a question's reference solution as a learner would: its code, in the notebook's names."""

from typing import Any

from helpers.exercises import core


def run_solution(question: core.Question, namespace: dict[str, Any]) -> dict[str, Any]:
    """Executes `question.solution().text` in a copy of `namespace` and returns that copy.

    `namespace` holds what the notebook has defined when the learner reaches the question
    (imports, data, models); the test then checks the names the solution assigned, e.g.
    `question.check(names["threshold"])`.
    """
    names = dict(namespace)
    exec(question.solution().text, names)  # noqa: S102 (the course's own reference code)
    return names
