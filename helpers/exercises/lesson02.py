"""Exercises for lesson 02: optimizers with a custom learning rate, the logits loss, recompiling.

Each question inspects the object the learner passes (`exercises.q1.check(optimizer)`) and names
what it found. Numbers are accepted as the lesson prints them (`core.number_feedback`).
`phase_one_model` builds the frozen, trained tiny model that question 4 starts from; question 5
is graded against the step sizes the learner measured.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_feedback
from helpers.exercises.core import Question, as_number, describe, matches_number, number_feedback
from helpers.finetune import validation

NUM_CLASSES = 10  # question 2: the units of the Dense head, with int labels 0..9
MOMENTUM = 0.9  # questions 1 and 3
Q1_LEARNING_RATE = 1e-4  # the seed example's fine-tuning SGD
HEAD_LEARNING_RATE = 1e-3  # question 4: phase 1's Adam, as in section 5
FINE_TUNE_LEARNING_RATE = 1e-4  # question 4: the course's phase-2 rule, a tenth of the head's
# Question 5: total distance over Q5_STEPS steps on a steady gradient of Q5_GRADIENT, a typical
# per-weight gradient of the pretrained base (section 3 measures 1e-4 to 1e-2).
Q5_OPTIMIZERS = ("sgd", "rmsprop", "adam")  # as optimizers.make_optimizer names them
Q5_LEARNING_RATE = 1e-3
Q5_GRADIENT = 2e-3
Q5_STEPS = 20
# The lesson prints step sizes to 3 significant digits (its step-size table).
SIGNIFICANT_DIGITS = 3


def _steps(count: int) -> str:
    return f"{count} step" if count == 1 else f"{count} steps"


def _constant_learning_rate(optimizer: keras.optimizers.Optimizer) -> float | None:
    """The optimizer's learning rate if it is a constant number, `None` for a schedule."""
    return as_number(optimizer.get_config().get("learning_rate"))


def sgd_with_momentum_feedback(optimizer: Any) -> str | None:
    """q1: `keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)`; returns what is wrong, if any.

    Example:

    >>> print(sgd_with_momentum_feedback(keras.optimizers.SGD(learning_rate=1e-4)))
    your optimizer is SGD with momentum 0; the lesson asks for 0.9.
    """
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        example = "keras.optimizers.SGD(learning_rate=..., momentum=...)"
        return keras_feedback.wrong_kind_feedback(optimizer, "an optimizer", example)
    name = type(optimizer).__name__
    if type(optimizer) is not keras.optimizers.SGD:
        return f"your optimizer is {name}; the lesson asks for SGD with momentum {MOMENTUM}."
    momentum = optimizer.get_config()["momentum"]
    if not matches_number(momentum, MOMENTUM, SIGNIFICANT_DIGITS):
        return (
            f"your optimizer is SGD with momentum {describe(momentum)}; "
            f"the lesson asks for {MOMENTUM}."
        )
    if optimizer.get_config().get("nesterov"):
        return "your optimizer is SGD with nesterov=True; the lesson asks for plain momentum."
    learning_rate = _constant_learning_rate(optimizer)
    if learning_rate is None:
        return "your optimizer follows a schedule; give it a constant learning rate."
    return number_feedback(
        learning_rate, Q1_LEARNING_RATE, "learning rate", significant_digits=SIGNIFICANT_DIGITS
    )


def head_loss_feedback(loss: Any) -> str | None:
    """q2: the loss for a Dense(10) head without softmax and int labels; returns what is wrong.

    Example:

    >>> head_loss_feedback(keras.losses.SparseCategoricalCrossentropy(from_logits=True)) is None
    True
    """
    return keras_feedback.logits_loss_feedback(loss, num_classes=NUM_CLASSES)


def effective_step_feedback(step: Any) -> str | None:
    """q3: the steady step of SGD(0.01, momentum=0.9) on gradient 1, 0.01 * 1 / (1 - 0.9) = 0.1.

    Example:

    >>> print(effective_step_feedback(0.01))
    your effective step is 0.01, the learning rate alone; momentum keeps adding past steps.
    """
    learning_rate = 0.01
    if matches_number(step, learning_rate, SIGNIFICANT_DIGITS):
        return (
            f"your effective step is {describe(step)}, the learning rate alone; "
            "momentum keeps adding past steps."
        )
    if matches_number(step, learning_rate * (1 - MOMENTUM), SIGNIFICANT_DIGITS):
        return (
            f"your effective step is {describe(step)}, the learning rate times (1 - momentum); "
            "momentum divides instead."
        )
    if matches_number(step, learning_rate * (1 + MOMENTUM), SIGNIFICANT_DIGITS):
        return (
            f"your effective step is {describe(step)}, the second step; the steps keep growing "
            "until momentum has settled."
        )
    expected = learning_rate / (1 - MOMENTUM)
    return number_feedback(step, expected, "effective step", significant_digits=SIGNIFICANT_DIGITS)


def fresh_optimizer_feedback(answer: Any) -> str | None:
    """q4: `(model, head_optimizer, finetune_optimizer)`, the model recompiled with a fresh Adam.

    The fresh Adam (exactly `keras.optimizers.Adam`, not a subclass such as AdamW) runs at the
    course's phase-2 rate, a tenth of the head's: 1e-4. The model's base is unfrozen, nested
    layers included, before compiling.

    Example:

    >>> model, base, head_optimizer = phase_one_model()
    >>> answer = (model, head_optimizer, head_optimizer)
    >>> print(fresh_optimizer_feedback(answer))  # doctest: +NORMALIZE_WHITESPACE
    your finetune_optimizer is the first phase's optimizer (it has taken 1 step); Keras 3 needs a
    fresh optimizer after trainable changes.
    """
    wanted = "pass (model, head_optimizer, finetune_optimizer)."
    if not isinstance(answer, tuple | list):
        return f"your answer is {describe(answer)}; {wanted}"
    if len(answer) != 3:
        return f"your answer holds {len(answer)} objects; {wanted}"
    model, head_optimizer, finetune_optimizer = answer
    if not isinstance(model, keras.Model):
        example = "exercises.phase_one_model()"
        return f"your model is {describe(model)}; give the model from {example}."
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
    if type(finetune_optimizer) is not keras.optimizers.Adam:
        optimizer_name = type(finetune_optimizer).__name__
        return f"your finetune_optimizer is {optimizer_name}; the lesson asks for Adam."
    learning_rate = _constant_learning_rate(finetune_optimizer)
    if learning_rate is None:
        return "your finetune_optimizer follows a schedule; give it a constant learning rate."
    problem = number_feedback(
        learning_rate,
        FINE_TUNE_LEARNING_RATE,
        "learning rate",
        significant_digits=SIGNIFICANT_DIGITS,
    )
    if problem:
        return problem
    frozen = [
        layer.name
        for layer, trains in keras_feedback.leaf_layers(model)
        if layer.weights and not trains
    ]
    if frozen:
        shown = ", ".join(repr(name) for name in frozen[:3]) + (", ..." if len(frozen) > 3 else "")
        return (
            f"your model still has {len(frozen)} frozen layer{'s' if len(frozen) != 1 else ''} "
            f"({shown}); set base.trainable = True before compiling."
        )
    if getattr(model, "optimizer", None) is not finetune_optimizer:
        return (
            "your model is not compiled with finetune_optimizer; "
            "call model.compile(optimizer=finetune_optimizer, ...)."
        )
    return None


def _measured_moves(name: str, moves: Any) -> list[float] | str:
    """The learner's moves for one optimizer as floats, or the feedback saying what is wrong."""
    if not isinstance(moves, list | tuple | np.ndarray):
        return (
            f"your moves[{name!r}] is {describe(moves)}; give the list "
            "step_sizes.steady_gradient_steps returns."
        )
    values = [as_number(move) for move in moves]
    if len(values) != Q5_STEPS:
        return f"your moves[{name!r}] holds {len(values)} steps; measure {Q5_STEPS}."
    if any(value is None or not np.isfinite(value) or value < 0 for value in values):
        return f"your moves[{name!r}] holds something other than distances (numbers >= 0)."
    return values


def furthest_optimizer_feedback(answer: Any) -> str | None:
    """q5: `(moves, name)`: which optimizer moved furthest in the learner's own measurement.

    `moves` maps each of `Q5_OPTIMIZERS` to the `Q5_STEPS` moves that
    `step_sizes.steady_gradient_steps` measured at `Q5_LEARNING_RATE` and `Q5_GRADIENT`; `name`
    must be the optimizer whose moves add up to the longest distance. SGD's first move,
    `learning_rate * gradient` exactly, shows whether the measurement used the asked values.

    Returns `None` for the right answer, otherwise what is wrong with it.

    Example:

    >>> moves = {"sgd": [2e-6] * 20, "rmsprop": [1e-3] * 20, "adam": [1e-3] * 19 + [2e-3]}
    >>> furthest_optimizer_feedback((moves, "adam")) is None
    True
    >>> print(furthest_optimizer_feedback((moves, "rmsprop")))  # doctest: +NORMALIZE_WHITESPACE
    your optimizer 'rmsprop' moved the weight 0.02 in your measurement, but another moved it
    further: add up each optimizer's moves.
    """
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        return f"your answer is {describe(answer)}; pass (moves, name)."
    moves, name = answer
    names = ", ".join(repr(name) for name in Q5_OPTIMIZERS)
    if not isinstance(moves, dict):
        return (
            f"your moves is {describe(moves)}; give a dict mapping {names} to the list "
            "step_sizes.steady_gradient_steps returns."
        )
    if sorted(map(str, moves)) != sorted(Q5_OPTIMIZERS):
        given = ", ".join(describe(key) for key in moves) or "no optimizer"
        return f"your moves has {given}; measure exactly {names}."
    distances = {}
    for optimizer_name in Q5_OPTIMIZERS:
        values = _measured_moves(optimizer_name, moves[optimizer_name])
        if isinstance(values, str):
            return values
        distances[optimizer_name] = sum(values)
    first_sgd_move = as_number(moves["sgd"][0])
    if not matches_number(first_sgd_move, Q5_LEARNING_RATE * Q5_GRADIENT, SIGNIFICANT_DIGITS):
        return (
            f"your moves['sgd'] start with {describe(first_sgd_move)}, but SGD's first move is "
            "learning_rate * gradient: measure at exercises.Q5_LEARNING_RATE and "
            "exercises.Q5_GRADIENT."
        )
    if not isinstance(name, str) or name.strip().lower() not in Q5_OPTIMIZERS:
        return f"your optimizer name is {describe(name)}; choose one of {names}."
    chosen = name.strip().lower()
    furthest = max(distances, key=distances.get)
    if distances[chosen] < distances[furthest]:
        return (
            f"your optimizer {chosen!r} moved the weight {distances[chosen]:.3g} in your "
            "measurement, but another moved it further: add up each optimizer's moves."
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
    solution="sgd_for_fine_tuning = keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)",
    explanation=(
        "On a steady slope momentum 0.9 settles at ten times plain SGD's step, "
        "learning_rate * |g| / (1 - 0.9): ten learning rates only where |g| = 1."
    ),
)

q2 = Question(
    name="q2",
    prompt="Give the loss for a Dense(10) head without softmax and integer labels 0..9.",
    answer_feedback=head_loss_feedback,
    hints=[
        "The head emits logits, not probabilities.",
        "Integer labels need the sparse loss; logits need from_logits=True.",
    ],
    solution="logits_loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)",
    explanation="Keras now applies the softmax inside the loss.",
)

q3 = Question(
    name="q3",
    prompt=(
        "SGD(learning_rate=0.01, momentum=0.9) sees the gradient 1 at every step. "
        "How far does it move per step once it has settled?"
    ),
    answer_feedback=effective_step_feedback,
    hints=[
        "Each step adds learning_rate * gradient to a velocity that keeps 90% of itself.",
        "The velocity settles where v = 0.9 * v + 0.01.",
    ],
    solution="effective_step = 0.01 / (1 - 0.9)  # 0.1",
    explanation=(
        "learning_rate * |g| / (1 - momentum) = 0.1 for |g| = 1, as the measurement showed; "
        "at |g| = 1e-3 it would be 1e-4. Adam's step stays about one learning rate."
    ),
)

q4 = Question(
    name="q4",
    prompt=(
        "Unfreeze the base and recompile the model with a fresh Adam at 1e-4, a tenth of the "
        "head's 1e-3."
    ),
    answer_feedback=fresh_optimizer_feedback,
    hints=[
        "A Keras 3 optimizer only updates the variables it first met.",
        "Build a new keras.optimizers.Adam after base.trainable = True, then compile with it.",
    ],
    solution=(
        "base.trainable = True\n"
        "finetune_optimizer = keras.optimizers.Adam(learning_rate=1e-4)\n"
        'model.compile(optimizer=finetune_optimizer, loss="mse")'
    ),
    explanation=(
        "The fresh optimizer builds its state for every trainable weight, the unfrozen base "
        "included."
    ),
)

q5 = Question(
    name="q5",
    prompt=(
        "Measure 20 steps of 'sgd', 'rmsprop' and 'adam' (optimizers.make_optimizer, learning "
        "rate exercises.Q5_LEARNING_RATE) on a steady gradient of exercises.Q5_GRADIENT with "
        "step_sizes.steady_gradient_steps. Which one moves the weight furthest in total? "
        "Pass (moves, name)."
    ),
    answer_feedback=furthest_optimizer_feedback,
    hints=[
        "moves = {name: step_sizes.steady_gradient_steps(optimizers.make_optimizer(name, ...), "
        "steps=..., gradient=...) for name in ...}",
        "The total distance is sum(moves[name]); name the optimizer with the largest total.",
    ],
    solution=(
        "moves = {\n"
        "    name: step_sizes.steady_gradient_steps(\n"
        "        optimizers.make_optimizer(name, exercises.Q5_LEARNING_RATE),\n"
        "        steps=exercises.Q5_STEPS,\n"
        "        gradient=exercises.Q5_GRADIENT,\n"
        "    )\n"
        "    for name in exercises.Q5_OPTIMIZERS\n"
        "}\n"
        "furthest = max(moves, key=lambda name: sum(moves[name]))"
    ),
    explanation=(
        "Which optimizer moves furthest at the same learning rate depends on the gradient's "
        "size: compare the table of section 3."
    ),
)
