"""Exercises for lesson 04: recompile for phase 2, unfreeze the top layers, read results, drift.

Each question inspects the object the learner passes (`exercises.q1.check(model)`) and names what
it found. `phase_one_model` builds the small practice model that questions 1 and 2 start from.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_feedback
from helpers.exercises.core import Question, describe, number_feedback
from helpers.finetune import models, validation
from helpers.lessons import pretrained, target_task

NUM_CLASSES = target_task.NUM_CLASSES  # the practice model's Dense logits, as the target task's
HEAD_LEARNING_RATE = 1e-3  # the rate phase_one_model's head trained at
PHASE_TWO_MAXIMUM_RATE = HEAD_LEARNING_RATE / 10  # question 1: phase 2 at least ten times lower
TOP_LAYERS = 20  # question 2: how many top layers of the base to unfreeze
# Question 4: a kernel before fine-tuning (norm 5), and after (the change has norm 0.5).
DRIFT_BEFORE = np.array([[3.0, 0.0], [0.0, 4.0]])
DRIFT_AFTER = np.array([[3.0, 0.3], [0.0, 3.6]])


def _steps(count: int) -> str:
    return f"{count} step" if count == 1 else f"{count} steps"


def phase_one_model(seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """Returns `(model, base_model)`: a small MobileNetV2, its base frozen, its head's Adam used.

    It is the state right before phase 2, for questions 1 and 2 (32x32 inputs, random base
    weights: fast). The Adam has applied one zero gradient, so it is bound to the head's weights,
    as after phase 1.

    Args:
        seed: int >= 0, seeds the weights. Defaults to 0.

    Returns:
        The model, compiled with the head's Adam at `HEAD_LEARNING_RATE`, and its base.

    Raises:
        ValueError: if `seed` is not an int >= 0.

    Example:

    >>> model, base_model = phase_one_model()
    >>> optimizer = model.optimizer
    >>> base_model.trainable, int(optimizer.iterations.numpy()), float(optimizer.learning_rate)
    (False, 1, 0.001)
    """
    seed = validation.check_int("seed", seed, minimum=0)
    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(NUM_CLASSES, image_size=32, weights=None)
    models.freeze(base_model)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=HEAD_LEARNING_RATE), loss=loss)
    # The head's kernel and bias: the weights phase 1's optimizer meets.
    head_weights = model.trainable_weights
    zero_gradients = [keras.ops.zeros_like(weight) for weight in head_weights]
    model.optimizer.apply_gradients(list(zip(zero_gradients, head_weights, strict=True)))
    return model, base_model


def _trainable_batch_norm(base_model: keras.Model) -> list[str]:
    """The names of the base's BatchNormalization layers that `fit` would train."""
    if not base_model.trainable:
        return []
    return [
        layer.name
        for layer in base_model.layers
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def phase_two_compile_feedback(model: Any) -> str | None:
    """q1: the base unfrozen, BatchNorm frozen, a fresh optimizer at <= 1e-4, the logits loss.

    Example:

    >>> model, base_model = phase_one_model()
    >>> print(phase_two_compile_feedback(model))
    your base is still frozen (no trainable weights); unfreeze it before compiling.
    """
    base_model = keras_feedback.nested_model(model) if isinstance(model, keras.Model) else None
    if base_model is None:
        return (
            f"your answer is {describe(model)}; "
            "pass the model from phase_one_model(), after recompiling it."
        )
    if not base_model.trainable_weights:
        return "your base is still frozen (no trainable weights); unfreeze it before compiling."
    batch_norm = _trainable_batch_norm(base_model)
    if batch_norm:
        return (
            f"{len(batch_norm)} BatchNormalization layers of your base are trainable "
            f"(e.g. {batch_norm[0]!r}); keep them frozen, as models.unfreeze does."
        )
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        return "your model is not compiled; call model.compile(optimizer=..., loss=...)."
    steps = int(optimizer.iterations.numpy())
    if steps:
        return (
            f"your optimizer has already taken {_steps(steps)}: it is the head's optimizer; "
            "compile with a fresh one."
        )
    learning_rate = float(optimizer.learning_rate)
    if learning_rate > PHASE_TWO_MAXIMUM_RATE * (1 + 1e-6):
        return (
            f"your learning rate is {learning_rate:g}; phase 2 needs at most "
            f"{PHASE_TWO_MAXIMUM_RATE:g}, ten times below the head's {HEAD_LEARNING_RATE:g}."
        )
    return keras_feedback.logits_loss_feedback(model.loss, num_classes=NUM_CLASSES)


def top_layers_feedback(base_model: Any) -> str | None:
    """q2: the layers `models.unfreeze(base_model, top_layers=20)` makes trainable, and no others.

    Those are the layers with weights among the base's last `TOP_LAYERS`, BatchNormalization
    excluded. The reference is `models.unfreeze` itself, applied to a clone of the learner's base.

    Example:

    >>> _, base_model = phase_one_model()
    >>> models.unfreeze(base_model, top_layers=TOP_LAYERS)
    >>> top_layers_feedback(base_model) is None
    True
    """
    if not isinstance(base_model, keras.Model):
        return f"your answer is {describe(base_model)}; pass base_model."
    nested = keras_feedback.nested_model(base_model)
    if nested is not None:
        return f"your answer is a model holding the base {nested.name!r}; pass base_model itself."
    if not base_model.trainable:
        return (
            "your base is still frozen (base_model.trainable is False), "
            "so none of its layers train."
        )
    batch_norm = _trainable_batch_norm(base_model)
    if batch_norm:
        return (
            f"{len(batch_norm)} BatchNormalization layers are trainable "
            f"(e.g. {batch_norm[0]!r}); keep them frozen."
        )
    wanted = keras_feedback.unfreeze_reference(base_model, top_layers=TOP_LAYERS)
    layers = [
        (layer, trainable)
        for layer, trainable in zip(base_model.layers, wanted, strict=True)
        if layer.weights
    ]
    trainable_count = sum(layer.trainable for layer, _ in layers)
    too_trainable = [layer.name for layer, trainable in layers if layer.trainable and not trainable]
    if too_trainable:
        return (
            f"your base has {trainable_count} trainable layers with weights, "
            f"{len(too_trainable)} of them below the top {TOP_LAYERS} "
            f"(the lowest is {too_trainable[0]!r}); "
            f"unfreeze only base_model.layers[-{TOP_LAYERS}:]."
        )
    too_frozen = [layer.name for layer, trainable in layers if trainable and not layer.trainable]
    if too_frozen:
        return (
            f"{len(too_frozen)} layers with weights in the top {TOP_LAYERS} are still frozen "
            f"(e.g. {too_frozen[0]!r})."
        )
    return None


def _compared_rate(pick: Any, rates: list[float]) -> float | None:
    """The compared rate that `pick` names (float32 precision is enough), or `None`."""
    if not validation.is_number(pick):
        return None
    return next((rate for rate in rates if math.isclose(rate, pick, rel_tol=1e-6)), None)


def source_reading_feedback(answer: Any) -> str | None:
    """q3: `(comparison, kept_most, lost_most)`, the rates keeping most and least source accuracy.

    `kept_most` and `lost_most` are learning rates of the comparison; ties are accepted.

    Example:

    >>> print(source_reading_feedback((1e-5, 1e-2)))
    your answer holds 2 objects; pass (comparison, kept_most, lost_most).
    """
    if not isinstance(answer, tuple | list):
        return f"your answer is {describe(answer)}; pass (comparison, kept_most, lost_most)."
    if len(answer) != 3:
        return f"your answer holds {len(answer)} objects; pass (comparison, kept_most, lost_most)."
    comparison, kept_most, lost_most = answer
    if not isinstance(comparison, list | tuple):
        return f"your comparison is {describe(comparison)}; pass the list that compare() returned."
    source_accuracy_by_rate = {
        row.learning_rate: row.source_accuracy
        for row in comparison
        if getattr(row, "learning_rate", None)
    }
    if len(source_accuracy_by_rate) < 2:
        return (
            "your comparison holds fewer than two fine-tuning runs; "
            "pass the list that compare() returned."
        )
    rates = list(source_accuracy_by_rate)
    rates_text = ", ".join(f"{rate:g}" for rate in rates)
    best_kept = max(source_accuracy_by_rate.values())
    least_kept = min(source_accuracy_by_rate.values())
    for pick, wanted_accuracy, word in (
        (kept_most, best_kept, "most"),
        (lost_most, least_kept, "least"),
    ):
        rate = _compared_rate(pick, rates)
        if rate is None:
            return f"your pick {describe(pick)} is not one of the compared rates ({rates_text})."
        accuracy = source_accuracy_by_rate[rate]
        if accuracy != wanted_accuracy:
            return (
                f"your pick {rate:g} kept {accuracy:.2f} source accuracy; "
                f"another rate kept the {word} ({wanted_accuracy:.2f})."
            )
    return None


def drift_feedback(drift: Any) -> str | None:
    """q4: `norm(DRIFT_AFTER - DRIFT_BEFORE) / norm(DRIFT_BEFORE)` = 0.5 / 5 = 0.1.

    Example:

    >>> print(drift_feedback(0.5))
    your drift 0.5 is the size of the change; divide it by the norm of the weights before.
    """
    change = float(np.linalg.norm(DRIFT_AFTER - DRIFT_BEFORE))
    norm_before = float(np.linalg.norm(DRIFT_BEFORE))
    norm_after = float(np.linalg.norm(DRIFT_AFTER))
    if validation.is_number(drift):
        if math.isclose(drift, change, rel_tol=1e-3):
            return (
                f"your drift {drift:g} is the size of the change; "
                "divide it by the norm of the weights before."
            )
        if math.isclose(drift, change / norm_after, rel_tol=1e-3):
            return (
                f"your drift {drift:g} divides by the norm of the weights after; "
                "divide by the norm before."
            )
    return number_feedback(drift, expected=change / norm_before, what="drift")


q1 = Question(
    name="q1",
    prompt=(
        "Prepare phase_one_model() for phase 2: unfreeze the base with BatchNormalization frozen, "
        "then recompile with a fresh Adam at least ten times below the head's 1e-3 and the "
        "logits loss."
    ),
    answer_feedback=phase_two_compile_feedback,
    hints=[
        "models.unfreeze(base_model) unfreezes the base and keeps its BatchNormalization layers "
        "frozen.",
        "Build a new keras.optimizers.Adam(learning_rate=1e-4) and compile with "
        "keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
    ],
    solution=(
        "model, base_model = exercises.phase_one_model()\n"
        "models.unfreeze(base_model)\n"
        "model.compile(\n"
        "    optimizer=keras.optimizers.Adam(learning_rate=1e-4),\n"
        "    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),\n"
        ")"
    ),
    explanation=(
        "A fresh optimizer meets every unfrozen weight; a small rate keeps them near their "
        "pretrained values."
    ),
)

q2 = Question(
    name="q2",
    prompt=(
        f"Unfreeze only the top {TOP_LAYERS} layers of phase_one_model()'s base, "
        "BatchNormalization frozen."
    ),
    answer_feedback=top_layers_feedback,
    hints=[
        "The base must be trainable for any of its layers to train; then freeze the layers you "
        "do not want.",
        f"models.unfreeze takes top_layers={TOP_LAYERS}.",
    ],
    solution=(
        "model, base_model = exercises.phase_one_model()\n"
        f"models.unfreeze(base_model, top_layers={TOP_LAYERS})"
    ),
    explanation=(
        "Only the top block can drift now; the lower, more general layers keep their pretrained "
        "weights."
    ),
)

q3 = Question(
    name="q3",
    prompt=(
        "From the comparison, which phase-2 rate kept the most source accuracy, "
        "and which kept the least?"
    ),
    answer_feedback=source_reading_feedback,
    hints=[
        "Read the 'source' column of the table, or the middle panel of the figure.",
        "Pass (comparison, kept_most, lost_most): the list and two of its learning rates.",
    ],
    solution=(
        "fine_tuned = [row for row in comparison if row.learning_rate is not None]\n"
        "kept_most = max(fine_tuned, key=lambda row: row.source_accuracy).learning_rate\n"
        "lost_most = min(fine_tuned, key=lambda row: row.source_accuracy).learning_rate\n"
        "exercises.q3.check((comparison, kept_most, lost_most))"
    ),
    explanation=(
        "The larger the rate, the further the base drifts from the features that solved the "
        "source task."
    ),
)

q4 = Question(
    name="q4",
    prompt=(
        "A kernel went from DRIFT_BEFORE to DRIFT_AFTER during fine-tuning. "
        "What is its relative drift?"
    ),
    answer_feedback=drift_feedback,
    hints=[
        "Relative drift is the size of the change divided by the size of the weights before.",
        "np.linalg.norm(after - before) / np.linalg.norm(before)",
    ],
    solution=(
        "before, after = exercises.DRIFT_BEFORE, exercises.DRIFT_AFTER\n"
        "drift = np.linalg.norm(after - before) / np.linalg.norm(before)"
    ),
    explanation="0.5 / 5 = 0.1: the kernel moved by a tenth of its own size.",
)
