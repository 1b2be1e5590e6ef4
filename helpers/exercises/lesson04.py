"""Exercises for lesson 04: recompile for phase 2, unfreeze the top layers, read the comparison, compute a drift.

Each question inspects the object the learner passes (`exercises.q1.check(model)`) and names what it found.
`phase_one_model` builds the small practice model that questions 1 and 2 start from.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_checks
from helpers.exercises.core import Question, check_number, describe
from helpers.finetune import models
from helpers.lessons import pretrained

NUM_CLASSES = 4  # the practice model's head: Dense(4) logits, as the target shapes task
HEAD_LEARNING_RATE = 1e-3  # the rate phase_one_model's head trained at
TOP_LAYERS = 20  # question 2: how many top layers of the base to unfreeze
DRIFT_BEFORE = np.array(
    [[3.0, 0.0], [0.0, 4.0]]
)  # question 4: a kernel before fine-tuning (norm 5)
DRIFT_AFTER = np.array([[3.0, 0.3], [0.0, 3.6]])  # ... and after (the change has norm 0.5)


def phase_one_model(seed: int = 0) -> tuple[keras.Model, keras.Model]:
    """Returns `(model, base_model)`: a small MobileNetV2 with a frozen base, its head's Adam one step in.

    It is the state right before phase 2, for questions 1 and 2 (32x32 inputs, random base weights: fast).
    The step applies a zero gradient: the optimizer is bound to the head, as after phase 1.

    Args:
        seed: int, seeds the weights. Defaults to 0.

    Returns:
        The model, compiled with the head's Adam at 1e-3, and its base.

    Example:

    >>> model, base_model = phase_one_model()
    >>> base_model.trainable, int(model.optimizer.iterations.numpy()), float(model.optimizer.learning_rate)
    (False, 1, 0.001)
    """
    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(NUM_CLASSES, image_size=32, weights=None)
    models.freeze(base_model)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=HEAD_LEARNING_RATE), loss=loss)
    head_weights = (
        model.trainable_weights
    )  # the head's kernel and bias: what phase 1's optimizer meets
    model.optimizer.apply_gradients(
        [(keras.ops.zeros_like(weight), weight) for weight in head_weights]
    )
    return model, base_model


def _base_of(model: Any) -> keras.Model | None:
    layers = getattr(model, "layers", [])
    return next((layer for layer in layers if isinstance(layer, keras.Model)), None)


def _trainable_batch_norm(base_model: keras.Model) -> list[str]:
    if not base_model.trainable:
        return []
    return [
        layer.name
        for layer in base_model.layers
        if isinstance(layer, keras.layers.BatchNormalization) and layer.trainable
    ]


def check_phase_two_compile(model: Any) -> str | None:
    """q1: base unfrozen with BatchNormalization frozen, a fresh optimizer at <= 1e-4, a logits loss."""
    base_model = _base_of(model)
    if not isinstance(model, keras.Model) or base_model is None:
        return f"your answer is {describe(model)}; pass the model from phase_one_model(), after recompiling it."
    if not base_model.trainable_weights:
        return "your base is still frozen (no trainable weights); unfreeze it before compiling."
    batch_norm = _trainable_batch_norm(base_model)
    if batch_norm:
        return (
            f"{len(batch_norm)} BatchNormalization layers of your base are trainable (e.g. {batch_norm[0]!r}); "
            "keep them frozen, as models.unfreeze does."
        )
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        return "your model is not compiled; call model.compile(optimizer=..., loss=...)."
    steps = int(optimizer.iterations.numpy())
    if steps:
        return (
            f"your optimizer has already taken {steps} step{'s' * (steps != 1)}: it is the head's optimizer; "
            "compile with a fresh one."
        )
    learning_rate = float(optimizer.learning_rate)
    if learning_rate > HEAD_LEARNING_RATE / 10 * (1 + 1e-6):
        return (
            f"your learning rate is {learning_rate:g}; phase 2 needs at most {HEAD_LEARNING_RATE / 10:g}, "
            f"ten times below the head's {HEAD_LEARNING_RATE:g}."
        )
    return keras_checks.check_logits_loss(getattr(model, "loss", None), num_classes=NUM_CLASSES)


def check_top_layers(base_model: Any) -> str | None:
    """q2: exactly the layers with weights among the base's last `TOP_LAYERS` are trainable, BatchNorm excluded."""
    if not isinstance(base_model, keras.Model):
        return f"your answer is {describe(base_model)}; pass base_model."
    if not base_model.trainable:
        return "your base is still frozen (base_model.trainable is False), so none of its layers train."
    batch_norm = _trainable_batch_norm(base_model)
    if batch_norm:
        return f"{len(batch_norm)} BatchNormalization layers are trainable (e.g. {batch_norm[0]!r}); keep them frozen."
    first_top = len(base_model.layers) - TOP_LAYERS
    trainable = [
        index for index, layer in enumerate(base_model.layers) if layer.trainable and layer.weights
    ]
    below = [base_model.layers[index].name for index in trainable if index < first_top]
    if below:
        return (
            f"your base has {len(trainable)} trainable layers with weights, {len(below)} of them below the top "
            f"{TOP_LAYERS} (the lowest is {below[0]!r}); unfreeze only base_model.layers[-{TOP_LAYERS}:]."
        )
    expected = [
        layer.name
        for layer in base_model.layers[first_top:]
        if layer.weights and not isinstance(layer, keras.layers.BatchNormalization)
    ]
    frozen = [name for name in expected if not base_model.get_layer(name).trainable]
    if frozen:
        return f"{len(frozen)} layers with weights in the top {TOP_LAYERS} are still frozen (e.g. {frozen[0]!r})."
    return None


def check_source_reading(answer: Any) -> str | None:
    """q3: `(comparison, kept_most, lost_most)`: the rates that kept the most and the least source accuracy."""
    if not isinstance(answer, tuple | list) or len(answer) != 3:
        given = (
            f"holds {len(answer)} objects"
            if isinstance(answer, tuple | list)
            else f"is {describe(answer)}"
        )
        return f"your answer {given}; pass (comparison, kept_most, lost_most)."
    comparison, kept_most, lost_most = answer
    runs = {
        row.learning_rate: row.source_accuracy
        for row in comparison
        if getattr(row, "learning_rate", None)
    }
    if len(runs) < 2:
        return "your comparison holds fewer than two fine-tuning runs; pass the list that compare() returned."
    rates = ", ".join(f"{rate:g}" for rate in runs)
    for pick, best, word in (
        (kept_most, max(runs.values()), "most"),
        (lost_most, min(runs.values()), "least"),
    ):
        match = next(
            (rate for rate in runs if isinstance(pick, float | int) and math.isclose(rate, pick)),
            None,
        )
        if match is None:
            return f"your pick {describe(pick)} is not one of the compared rates ({rates})."
        if runs[match] != best:
            return (
                f"your pick {match:g} kept {runs[match]:.2f} source accuracy; "
                f"another rate kept the {word} ({best:.2f})."
            )
    return None


def check_drift(drift: Any) -> str | None:
    """q4: `norm(DRIFT_AFTER - DRIFT_BEFORE) / norm(DRIFT_BEFORE)` = 0.5 / 5 = 0.1."""
    change = float(np.linalg.norm(DRIFT_AFTER - DRIFT_BEFORE))
    if isinstance(drift, int | float) and not isinstance(drift, bool):
        if math.isclose(drift, change, rel_tol=1e-3):
            return f"your drift {drift:g} is the size of the change; divide it by the norm of the weights before."
        if math.isclose(drift, change / float(np.linalg.norm(DRIFT_AFTER)), rel_tol=1e-3):
            return f"your drift {drift:g} divides by the norm of the weights after; divide by the norm before."
    return check_number(drift, expected=change / float(np.linalg.norm(DRIFT_BEFORE)), what="drift")


q1 = Question(
    name="q1",
    prompt=(
        "Prepare phase_one_model() for phase 2: unfreeze the base with BatchNormalization frozen, then recompile "
        "with a fresh Adam at least ten times below the head's 1e-3 and the logits loss."
    ),
    check_answer=check_phase_two_compile,
    hints=[
        "models.unfreeze(base_model) unfreezes the base and keeps its BatchNormalization layers frozen.",
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
    explanation="A fresh optimizer meets every unfrozen weight; a small rate keeps them near their pretrained values.",
)

q2 = Question(
    name="q2",
    prompt=f"Unfreeze only the top {TOP_LAYERS} layers of phase_one_model()'s base, BatchNormalization frozen.",
    check_answer=check_top_layers,
    hints=[
        "The base must be trainable for any of its layers to train; then freeze the layers you do not want.",
        f"models.unfreeze takes top_layers={TOP_LAYERS}.",
    ],
    solution=(
        f"model, base_model = exercises.phase_one_model()\nmodels.unfreeze(base_model, top_layers={TOP_LAYERS})"
    ),
    explanation="Only the top block can drift now; the lower, more general layers keep their pretrained weights.",
)

q3 = Question(
    name="q3",
    prompt="From the comparison, which phase-2 rate kept the most source accuracy, and which kept the least?",
    check_answer=check_source_reading,
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
    explanation="The larger the rate, the further the base drifts from the features that solved the source task.",
)

q4 = Question(
    name="q4",
    prompt="A kernel went from DRIFT_BEFORE to DRIFT_AFTER during fine-tuning. What is its relative drift?",
    check_answer=check_drift,
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
