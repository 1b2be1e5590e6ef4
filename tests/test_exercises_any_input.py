"""Every question of every lesson gives feedback for any input whatsoever, never a traceback.

A learner can pass anything: `None`, a string, an array, half-built models, an object whose
every attribute raises. Each question must answer with an "incorrect" feedback naming what it
received. The last resort in `Question.check` turns an exception into feedback; the ordinary
odd answers must not need it: the question's own checks recognise them and say what to give.
"""

import importlib
import pathlib
import re

import keras
import numpy as np
import pytest

from helpers.exercises import core

LAST_RESORT = "which this question cannot check"


class RaisingEverywhere:
    """An object whose every attribute, conversion and comparison raises."""

    def __getattribute__(self, name):
        raise RuntimeError(f"no {name} here")

    def __float__(self):
        raise RuntimeError("no float")

    def __len__(self):
        raise RuntimeError("no len")

    def __iter__(self):
        raise RuntimeError("no iter")

    def __eq__(self, other):
        raise RuntimeError("no ==")

    __hash__ = None


def unbuilt_model():
    return keras.Sequential([keras.layers.Dense(3)])


def empty_compiled_model():
    model = keras.Sequential()
    model.compile(optimizer="adam", loss="mse")
    return model


def unfinished_functional_model():
    inputs = keras.Input((4,))
    return keras.Model(inputs, keras.layers.Dense(2)(inputs))


# Factories, so that every question gets a fresh object (and pytest never inspects them).
ORDINARY_ODD_ANSWERS = {
    "None": lambda: None,
    "str": lambda: "1e-4",
    "empty str": lambda: "",
    "array": lambda: np.array([[1.0, 2.0], [3.0, 4.0]]),
    "empty list": list,
    "dict of None": lambda: {"A": None},
    "pair of None": lambda: (None, None),
    "triple of None": lambda: (None, None, None),
    "unbuilt model": unbuilt_model,
    "empty compiled model": empty_compiled_model,
    "small functional model": unfinished_functional_model,
    "nan": lambda: float("nan"),
    "negative": lambda: -1,
}
HOSTILE_ANSWERS = {
    "raising object": RaisingEverywhere,
    "tuple holding a raising object": lambda: (RaisingEverywhere(), RaisingEverywhere()),
}

LESSON_MODULES = sorted(
    path.stem
    for path in (pathlib.Path(__file__).resolve().parents[1] / "helpers" / "exercises").glob(
        "lesson*.py"
    )
)


def all_questions():
    for module_name in LESSON_MODULES:
        module = importlib.import_module(f"helpers.exercises.{module_name}")
        for name, value in sorted(vars(module).items()):
            if re.fullmatch(r"q\d+", name):
                yield f"{module_name}.{name}", value


QUESTIONS = dict(all_questions())


@pytest.mark.parametrize("kind", ORDINARY_ODD_ANSWERS)
@pytest.mark.parametrize("question_name", QUESTIONS)
def test_every_question_answers_ordinary_odd_input_with_its_own_feedback(question_name, kind):
    feedback = QUESTIONS[question_name].check(ORDINARY_ODD_ANSWERS[kind]())
    assert feedback.outcome == core.INCORRECT, feedback
    assert feedback.message.startswith("your "), feedback
    assert LAST_RESORT not in feedback.message, feedback


@pytest.mark.parametrize("kind", HOSTILE_ANSWERS)
@pytest.mark.parametrize("question_name", QUESTIONS)
def test_every_question_answers_hostile_input_with_feedback(question_name, kind):
    feedback = QUESTIONS[question_name].check(HOSTILE_ANSWERS[kind]())
    assert feedback.outcome == core.INCORRECT, feedback
    assert feedback.message.startswith("your "), feedback
