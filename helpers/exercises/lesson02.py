"""Exercises for lesson 02: optimizers with a custom learning rate, the logits loss, recompiling.

Each question inspects the object the learner passes (`exercises.q1.check(optimizer)`) and names
what it found. `phase_one_model` builds the frozen, trained tiny model that question 4 starts from.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_checks
from helpers.exercises.core import Question, check_number


def check_sgd_with_momentum(optimizer: Any) -> str | None:
    """q1: `keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)`."""
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        return keras_checks.not_an_instance(
            optimizer, "an optimizer", "keras.optimizers.SGD(learning_rate=..., momentum=...)"
        )
    name = type(optimizer).__name__
    if not isinstance(optimizer, keras.optimizers.SGD):
        return f"your optimizer is {name}; the lesson asks for SGD with momentum 0.9."
    momentum = float(optimizer.get_config()["momentum"])
    if not math.isclose(momentum, 0.9, rel_tol=1e-6):
        return f"your optimizer is SGD with momentum {momentum!r}; the lesson asks for 0.9."
    return check_number(float(optimizer.learning_rate), expected=1e-4, what="learning rate")


def check_logits_loss(loss: Any) -> str | None:
    """q2: `keras.losses.SparseCategoricalCrossentropy(from_logits=True)` for a Dense(10) head and int labels."""
    return keras_checks.check_logits_loss(loss, num_classes=10)


def check_effective_step(step: Any) -> str | None:
    """q3: the steady step of SGD(learning_rate=0.01, momentum=0.9) on gradient 1: 0.01 / (1 - 0.9) = 0.1."""
    if isinstance(step, int | float) and not isinstance(step, bool):
        if math.isclose(step, 0.01, rel_tol=1e-3):
            return "your effective step is 0.01, the learning rate alone; momentum keeps adding past steps."
        if math.isclose(step, 0.001, rel_tol=1e-3):
            return "your effective step is 0.001, the learning rate times (1 - momentum); momentum divides instead."
    return check_number(step, expected=0.1, what="effective step")


def check_fresh_optimizer_after_unfreezing(answer: Any) -> str | None:
    """q4: `(model, head_optimizer, finetune_optimizer)`: the model recompiled with a fresh Adam at 1e-5."""
    if not isinstance(answer, tuple | list) or len(answer) != 3:
        given = (
            f"holds {len(answer)} objects"
            if isinstance(answer, tuple | list)
            else f"has type {type(answer).__name__}"
        )
        return f"your answer {given}; pass (model, head_optimizer, finetune_optimizer)."
    model, head_optimizer, finetune_optimizer = answer
    if not isinstance(finetune_optimizer, keras.optimizers.Optimizer):
        return keras_checks.not_an_instance(
            finetune_optimizer, "an optimizer", "keras.optimizers.Adam(learning_rate=...)"
        )
    if finetune_optimizer is head_optimizer:
        steps = int(head_optimizer.iterations.numpy())
        return (
            f"your finetune_optimizer is the first phase's optimizer (it has taken {steps} step{'s' * (steps != 1)}); "
            "Keras 3 needs a fresh optimizer after trainable changes."
        )
    if not isinstance(finetune_optimizer, keras.optimizers.Adam):
        return f"your finetune_optimizer is {type(finetune_optimizer).__name__}; the lesson asks for Adam."
    problem = check_number(
        float(finetune_optimizer.learning_rate), expected=1e-5, what="learning rate"
    )
    if problem:
        return problem
    frozen = len(getattr(model, "non_trainable_weights", []))
    if frozen:
        return f"your model still has {frozen} frozen weight tensors; set base.trainable = True before compiling."
    if getattr(model, "optimizer", None) is not finetune_optimizer:
        return "your model is not compiled with finetune_optimizer; call model.compile(optimizer=finetune_optimizer, ...)."
    return None


def phase_one_model(
    seed: int = 0,
) -> tuple[keras.Model, keras.layers.Layer, keras.optimizers.Optimizer]:
    """Returns `(model, base, head_optimizer)`: a tiny model whose `base` is frozen and whose head has trained.

    It is question 4's starting point: the state right before unfreezing.

    Args:
        seed: int, seeds the weights and data. Defaults to 0.

    Returns:
        A tuple of the compiled `keras.Sequential`, its frozen `Dense` base layer and the Adam it was compiled with.

    Example:

    >>> model, base, head_optimizer = phase_one_model()
    >>> base.trainable, int(head_optimizer.iterations.numpy())
    (False, 1)
    """
    keras.utils.set_random_seed(seed)
    base = keras.layers.Dense(4, activation="relu", name="base")
    model = keras.Sequential(
        [keras.Input((3,)), base, keras.layers.Dense(1, name="head")], name="exercise_model"
    )
    base.trainable = False
    head_optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=head_optimizer, loss="mse")
    features, targets = np.random.default_rng(seed).random((2, 8, 3)).astype("float32")
    model.fit(features, targets[:, :1], batch_size=8, epochs=1, verbose=0)
    return model, base, head_optimizer


q1 = Question(
    name="q1",
    prompt="Build SGD with learning rate 1e-4 and momentum 0.9 (the seed's fine-tuning optimizer).",
    check_answer=check_sgd_with_momentum,
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
    check_answer=check_logits_loss,
    hints=[
        "The head emits logits, not probabilities.",
        "Integer labels need the sparse loss; logits need from_logits=True.",
    ],
    solution="loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
    explanation="Keras now applies the softmax inside the loss.",
)

q3 = Question(
    name="q3",
    prompt="SGD(learning_rate=0.01, momentum=0.9) sees the gradient 1 at every step. How far does it move per step?",
    check_answer=check_effective_step,
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
    check_answer=check_fresh_optimizer_after_unfreezing,
    hints=[
        "A Keras 3 optimizer only updates the variables it first met.",
        "Build a new keras.optimizers.Adam after base.trainable = True, then compile with it.",
    ],
    solution=(
        "base.trainable = True\n"
        "finetune_optimizer = keras.optimizers.Adam(learning_rate=1e-5)\n"
        'model.compile(optimizer=finetune_optimizer, loss="mse")'
    ),
    explanation="The fresh optimizer builds its state for every trainable weight, the unfrozen base included.",
)
