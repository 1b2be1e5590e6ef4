"""Exercises for lesson 02: optimizers with a custom learning rate, the logits loss, recompiling.

Each question inspects the object the learner passes (`exercises.q1.check(optimizer)`) and names
what it found. `phase_one_model` builds the frozen, trained tiny model that question 4 starts from.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_feedback
from helpers.exercises.core import Question, number_feedback
from helpers.finetune import validation

NUM_CLASSES = 10  # question 2: the units of the Dense head, with int labels 0..9
MOMENTUM = 0.9  # questions 1 and 3


def _steps(count: int) -> str:
    return f"{count} step" if count == 1 else f"{count} steps"


def sgd_with_momentum_feedback(optimizer: Any) -> str | None:
    """q1: `keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)`; returns what is wrong, if any.

    Example:

    >>> print(sgd_with_momentum_feedback(keras.optimizers.SGD(learning_rate=1e-4)))
    your optimizer is SGD with momentum 0.0; the lesson asks for 0.9.
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        example = "keras.optimizers.SGD(learning_rate=..., momentum=...)"
        return keras_feedback.wrong_kind_feedback(optimizer, "an optimizer", example)
    name = type(optimizer).__name__
    if not isinstance(optimizer, keras.optimizers.SGD):
        return f"your optimizer is {name}; the lesson asks for SGD with momentum {MOMENTUM}."
    momentum = float(optimizer.get_config()["momentum"])
    if not math.isclose(momentum, MOMENTUM, rel_tol=1e-6):
        return f"your optimizer is SGD with momentum {momentum!r}; the lesson asks for {MOMENTUM}."
    learning_rate = float(optimizer.learning_rate)
    return number_feedback(learning_rate, expected=1e-4, what="learning rate")


def head_loss_feedback(loss: Any) -> str | None:
    """q2: the loss for a Dense(10) head without softmax and int labels; returns what is wrong.

    Example:

    >>> head_loss_feedback(keras.losses.SparseCategoricalCrossentropy(from_logits=True)) is None
    True
    """
    return keras_feedback.logits_loss_feedback(loss, num_classes=NUM_CLASSES)


def effective_step_feedback(step: Any) -> str | None:
    """q3: the steady step of SGD(0.01, momentum=0.9) on gradient 1, 0.01 / (1 - 0.9) = 0.1.

    Example:

    >>> print(effective_step_feedback(0.01))
    your effective step is 0.01, the learning rate alone; momentum keeps adding past steps.
    """
    learning_rate = 0.01
    if validation.is_number(step):
        if math.isclose(step, learning_rate, rel_tol=1e-3):
            return (
                f"your effective step is {learning_rate:g}, the learning rate alone; "
                "momentum keeps adding past steps."
            )
        if math.isclose(step, learning_rate * (1 - MOMENTUM), rel_tol=1e-3):
            return (
                f"your effective step is {learning_rate * (1 - MOMENTUM):g}, the learning rate "
                "times (1 - momentum); momentum divides instead."
            )
    expected = learning_rate / (1 - MOMENTUM)
    return number_feedback(step, expected=expected, what="effective step")


def fresh_optimizer_feedback(answer: Any) -> str | None:
    """q4: `(model, head_optimizer, finetune_optimizer)`, the model recompiled with a fresh Adam.

    The fresh Adam runs at 1e-5, and the model's base is unfrozen before compiling.

    Example:

    >>> model, base, head_optimizer = phase_one_model()
    >>> answer = (model, head_optimizer, head_optimizer)
    >>> print(fresh_optimizer_feedback(answer))  # doctest: +NORMALIZE_WHITESPACE
    your finetune_optimizer is the first phase's optimizer (it has taken 1 step); Keras 3 needs a
    fresh optimizer after trainable changes.
    """
    if not isinstance(answer, tuple | list):
        return (
            f"your answer has type {type(answer).__name__}; "
            "pass (model, head_optimizer, finetune_optimizer)."
        )
    if len(answer) != 3:
        return (
            f"your answer holds {len(answer)} objects; "
            "pass (model, head_optimizer, finetune_optimizer)."
        )
    model, head_optimizer, finetune_optimizer = answer
    if not isinstance(finetune_optimizer, keras.optimizers.Optimizer):
        example = "keras.optimizers.Adam(learning_rate=...)"
        return keras_feedback.wrong_kind_feedback(finetune_optimizer, "an optimizer", example)
    if finetune_optimizer is head_optimizer:
        steps_taken = _steps(int(head_optimizer.iterations.numpy()))
        return (
            "your finetune_optimizer is the first phase's optimizer "
            f"(it has taken {steps_taken}); "
            "Keras 3 needs a fresh optimizer after trainable changes."
        )
    if not isinstance(finetune_optimizer, keras.optimizers.Adam):
        optimizer_name = type(finetune_optimizer).__name__
        return f"your finetune_optimizer is {optimizer_name}; the lesson asks for Adam."
    learning_rate = float(finetune_optimizer.learning_rate)
    problem = number_feedback(learning_rate, expected=1e-5, what="learning rate")
    if problem:
        return problem
    frozen = len(getattr(model, "non_trainable_weights", []))
    if frozen:
        return (
            f"your model still has {frozen} frozen weight tensors; "
            "set base.trainable = True before compiling."
        )
    if getattr(model, "optimizer", None) is not finetune_optimizer:
        return (
            "your model is not compiled with finetune_optimizer; "
            "call model.compile(optimizer=finetune_optimizer, ...)."
        )
    return None


def phase_one_model(
    seed: int = 0,
) -> tuple[keras.Model, keras.layers.Layer, keras.optimizers.Optimizer]:
    """Returns `(model, base, head_optimizer)`: a tiny model, its base frozen and its head trained.

    It is question 4's starting point: the state right before unfreezing.

    Args:
        seed: int >= 0, seeds the weights and data. Defaults to 0.

    Returns:
        A tuple of the compiled `keras.Sequential`, its frozen `Dense` base layer and the Adam it
        was compiled with.

    Raises:
        ValueError: if `seed` is not an int >= 0.

    Example:

    >>> model, base, head_optimizer = phase_one_model()
    >>> base.trainable, int(head_optimizer.iterations.numpy())
    (False, 1)
    """
    seed = validation.check_int("seed", seed, minimum=0)
    keras.utils.set_random_seed(seed)
    base = keras.layers.Dense(4, activation="relu", name="base")
    head = keras.layers.Dense(1, name="head")
    model = keras.Sequential([keras.Input((3,)), base, head], name="exercise_model")
    base.trainable = False
    head_optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=head_optimizer, loss="mse")
    features, targets = np.random.default_rng(seed).random((2, 8, 3)).astype("float32")
    model.fit(features, targets[:, :1], batch_size=8, epochs=1, verbose=0)
    return model, base, head_optimizer


q1 = Question(
    name="q1",
    prompt="Build SGD with learning rate 1e-4 and momentum 0.9 (the seed's fine-tuning optimizer).",
    answer_feedback=sgd_with_momentum_feedback,
    hints=[
        "Keras 3 spells it learning_rate=, never lr=.",
        "keras.optimizers.SGD takes learning_rate and momentum.",
    ],
    solution="optimizer = keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)",
    explanation="Momentum 0.9 makes its steady step ten times the learning rate.",
)

q2 = Question(
    name="q2",
    prompt="Give the loss for a Dense(10) head without softmax and integer labels 0..9.",
    answer_feedback=head_loss_feedback,
    hints=[
        "The head emits logits, not probabilities.",
        "Integer labels need the sparse loss; logits need from_logits=True.",
    ],
    solution="loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
    explanation="Keras now applies the softmax inside the loss.",
)

q3 = Question(
    name="q3",
    prompt=(
        "SGD(learning_rate=0.01, momentum=0.9) sees the gradient 1 at every step. "
        "How far does it move per step?"
    ),
    answer_feedback=effective_step_feedback,
    hints=[
        "Each step adds learning_rate * gradient to a velocity that keeps 90% of itself.",
        "The velocity settles where v = 0.9 * v + 0.01.",
    ],
    solution="effective_step = 0.01 / (1 - 0.9)  # 0.1",
    explanation="learning_rate / (1 - momentum) = 0.1, as the measurement showed.",
)

q4 = Question(
    name="q4",
    prompt="Unfreeze the base and recompile the model with a fresh Adam at 1e-5.",
    answer_feedback=fresh_optimizer_feedback,
    hints=[
        "A Keras 3 optimizer only updates the variables it first met.",
        "Build a new keras.optimizers.Adam after base.trainable = True, then compile with it.",
    ],
    solution=(
        "base.trainable = True\n"
        "finetune_optimizer = keras.optimizers.Adam(learning_rate=1e-5)\n"
        'model.compile(optimizer=finetune_optimizer, loss="mse")'
    ),
    explanation=(
        "The fresh optimizer builds its state for every trainable weight, the unfrozen base "
        "included."
    ),
)
