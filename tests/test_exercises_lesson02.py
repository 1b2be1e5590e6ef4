"""Lesson 02 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import re

import keras
import numpy as np
import pytest

from helpers.exercises import ____, core
from helpers.exercises import lesson02 as exercises


def assert_wrong(question: core.Question, answer, message: str) -> None:
    feedback = question.check(answer)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message == message


def test_q1_reference_passes():
    assert exercises.q1.check(keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            keras.optimizers.SGD(learning_rate=1e-4),
            "your optimizer is SGD with momentum 0.0; the lesson asks for 0.9.",
        ),
        (
            keras.optimizers.Adam(learning_rate=1e-4),
            "your optimizer is Adam; the lesson asks for SGD with momentum 0.9.",
        ),
        (
            keras.optimizers.SGD(learning_rate=1e-2, momentum=0.9),
            "your learning rate is 0.01, which is too large.",
        ),
        (
            keras.optimizers.SGD,
            "your answer is the class SGD itself; call it to build an optimizer: "
            "keras.optimizers.SGD(learning_rate=..., momentum=...).",
        ),
        (
            "sgd",
            "your answer is 'sgd'; give an optimizer such as "
            "keras.optimizers.SGD(learning_rate=..., momentum=...).",
        ),
    ],
)
def test_q1_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q1, answer, message)


def test_q2_reference_passes():
    assert exercises.q2.check(keras.losses.SparseCategoricalCrossentropy(from_logits=True)).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            keras.losses.SparseCategoricalCrossentropy(),
            "your loss has from_logits=False, but Dense(10) without softmax emits logits: "
            "set from_logits=True.",
        ),
        (
            "sparse_categorical_crossentropy",
            "your loss is the string 'sparse_categorical_crossentropy', which treats the outputs "
            "as probabilities; "
            "compile with keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
        ),
        (
            keras.losses.CategoricalCrossentropy(from_logits=True),
            "your loss is CategoricalCrossentropy (it expects one-hot labels); "
            "the labels are ints 0..9, so use SparseCategoricalCrossentropy.",
        ),
        (
            keras.losses.sparse_categorical_crossentropy,
            "your answer is a function; give a loss object such as "
            "keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
        ),
    ],
)
def test_q2_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q2, answer, message)


@pytest.mark.parametrize("answer", [0.1, 0.01 / (1 - 0.9), np.float32(0.1), np.float64(0.1)])
def test_q3_reference_passes(answer):
    assert exercises.q3.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            0.01,
            "your effective step is 0.01, the learning rate alone; "
            "momentum keeps adding past steps.",
        ),
        (
            np.float32(0.01),
            "your effective step is 0.01, the learning rate alone; "
            "momentum keeps adding past steps.",
        ),
        (
            0.001,
            "your effective step is 0.001, the learning rate times (1 - momentum); "
            "momentum divides instead.",
        ),
        (0.019, "your effective step is 0.019, which is too small."),
        (1.0, "your effective step is 1, which is too large."),
        ("0.1", "your effective step is '0.1' (a str); give a number."),
    ],
)
def test_q3_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q3, answer, message)


def finetune(optimizer_factory, unfreeze: bool = True, compile_model: bool = True):
    """Plays question 4 from the phase-one model; returns the tuple the notebook checks."""
    model, base, head_optimizer = exercises.phase_one_model()
    base.trainable = unfreeze
    finetune_optimizer = optimizer_factory(head_optimizer)
    if compile_model:
        model.compile(optimizer=finetune_optimizer, loss="mse")
    return model, head_optimizer, finetune_optimizer


def fresh_adam(head_optimizer):
    return keras.optimizers.Adam(learning_rate=1e-5)


def reused_optimizer(head_optimizer):
    return head_optimizer


def adam_at_the_head_rate(head_optimizer):
    return keras.optimizers.Adam(learning_rate=1e-3)


def sgd_with_momentum(head_optimizer):
    return keras.optimizers.SGD(learning_rate=1e-5, momentum=0.9)


def test_q4_reference_passes():
    assert exercises.q4.check(finetune(fresh_adam)).passed


def test_q4_placeholder_inside_the_tuple_is_not_attempted():
    model, _, head_optimizer = exercises.phase_one_model()
    assert exercises.q4.check((model, head_optimizer, ____)).outcome == core.NOT_ATTEMPTED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"optimizer_factory": reused_optimizer},
            "your finetune_optimizer is the first phase's optimizer (it has taken 1 step); "
            "Keras 3 needs a fresh optimizer after trainable changes.",
        ),
        (
            {"optimizer_factory": adam_at_the_head_rate},
            "your learning rate is 0.001, which is too large.",
        ),
        (
            {"optimizer_factory": sgd_with_momentum},
            "your finetune_optimizer is SGD; the lesson asks for Adam.",
        ),
        (
            {"optimizer_factory": fresh_adam, "unfreeze": False},
            "your model still has 2 frozen weight tensors; "
            "set base.trainable = True before compiling.",
        ),
        (
            {"optimizer_factory": fresh_adam, "compile_model": False},
            "your model is not compiled with finetune_optimizer; "
            "call model.compile(optimizer=finetune_optimizer, ...).",
        ),
    ],
)
def test_q4_wrong_answers_are_named(kwargs, message):
    assert_wrong(exercises.q4, finetune(**kwargs), message)


def test_q4_needs_the_three_objects():
    model, _, head_optimizer = exercises.phase_one_model()
    for answer, given in [
        (keras.optimizers.Adam(1e-5), "has type Adam"),
        ((model, head_optimizer), "holds 2 objects"),
    ]:
        assert_wrong(
            exercises.q4,
            answer,
            f"your answer {given}; pass (model, head_optimizer, finetune_optimizer).",
        )


def test_phase_one_model_takes_numpy_seeds_and_rejects_bad_ones():
    model, base, _ = exercises.phase_one_model(seed=np.int64(1))
    assert not base.trainable and model.name == "exercise_model"
    for seed in [-1, 1.5, "0"]:
        message = f"seed must be an int >= 0. Received: seed={seed!r}"
        with pytest.raises(ValueError, match=re.escape(message)):
            exercises.phase_one_model(seed=seed)
