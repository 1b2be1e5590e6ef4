"""Self-check exercises, one module per lesson (`lesson01`, `lesson02`, ...), built on `core`."""

from helpers.exercises.core import Feedback, Question, ____

__all__ = ["____", "Feedback", "Question"]
