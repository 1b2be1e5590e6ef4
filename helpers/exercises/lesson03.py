"""Exercises for lesson 03, freeze the base and train a head: the logits head, freezing, BatchNorm, the first loss.

Each question inspects the object the learner passes (`exercises.q2.check((model, base_model))`) and names what
it found. The questions use the shapes target task: `TARGET_CLASSES` has 4 classes.

Example:

>>> print(q4.check(math.log(4)))
Correct! A fresh head spreads its bets evenly: each class gets probability 1/4, and -ln(1/4) = ln(4).
"""

from __future__ import annotations

import math
from typing import Any

import keras

from helpers.exercises import keras_checks
from helpers.exercises.core import Question, check_number, describe
from helpers.lessons.shapes_data import TARGET_CLASSES

NUM_CLASSES = len(TARGET_CLASSES)  # 4: hexagon, heart, crescent, arrow


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' * (count != 1)}"


def check_logits_head(model: Any) -> str | None:
    """q1: a compiled model ending in `Dense(4)` without activation, with the logits loss."""
    if not isinstance(model, keras.Model):
        return f"your answer is {describe(model)}; give the compiled keras.Model."
    if not model.compiled:
        return "your model is not compiled yet; call exercise_model.compile(optimizer=..., loss=..., metrics=[...])."
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense):
        return f"your model ends with a {type(last).__name__} layer; end it with the Dense layer that emits the logits."
    if last.units != NUM_CLASSES:
        return f"your last Dense layer has {_plural(last.units, 'unit')}; the target task has {NUM_CLASSES} classes."
    activation = last.get_config()["activation"]
    if activation != "linear":
        return (
            f"your last Dense layer has activation={activation!r}; the head emits logits, "
            "so leave the activation out and let the loss apply the softmax."
        )
    return keras_checks.check_logits_loss(model.loss, num_classes=NUM_CLASSES)


def check_frozen_base(answer: Any) -> str | None:
    """q2: `(model, base_model)` with the base frozen (no trainable weights) and the head still trainable."""
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        given = (
            f"holds {_plural(len(answer), 'object')}"
            if isinstance(answer, tuple | list)
            else f"is {describe(answer)}"
        )
        return f"your answer {given}; pass the pair (exercise_model, exercise_base)."
    model, base_model = answer
    if not isinstance(model, keras.Model) or not isinstance(base_model, keras.Model):
        return f"your pair holds {describe(model)} and {describe(base_model)}; pass (exercise_model, exercise_base)."
    if not any(layer is base_model for layer in model.layers):
        return "your exercise_base is not a layer of your exercise_model; pass the pair build_mobilenet_v2 returned."
    trainable = len(base_model.trainable_weights)
    if trainable:
        return (
            f"your base still has {_plural(trainable, 'trainable weight tensor')}; calling it with training=False "
            "does not freeze its weights: set exercise_base.trainable = False."
        )
    if not model.trainable_weights:
        return (
            "your model has no trainable weights at all: model.trainable = False froze the head too; "
            "freeze only the base."
        )
    return None


def check_batchnorm_frozen(base_model: Any) -> str | None:
    """q3: a base whose layers are all trainable except its BatchNormalization layers (what `models.unfreeze` does)."""
    if not isinstance(base_model, keras.Model):
        return f"your answer is {describe(base_model)}; give the base model (a keras.Model)."
    if not base_model.trainable:
        return "your base has trainable=False, so none of its layers can train; set exercise_base.trainable = True first."
    layers = [layer for layer in base_model.layers if layer.weights]
    batch_norms = [layer for layer in layers if isinstance(layer, keras.layers.BatchNormalization)]
    still_trainable = [layer for layer in batch_norms if layer.trainable]
    if still_trainable:
        return (
            f"your base still has {_plural(len(still_trainable), 'trainable BatchNormalization layer')} "
            f"(of {len(batch_norms)}), so fit moves their moving statistics; set layer.trainable = False on each, "
            "after exercise_base.trainable = True (which makes every layer trainable)."
        )
    frozen = [layer.name for layer in layers if not layer.trainable and layer not in batch_norms]
    if frozen:
        return (
            f"your base still freezes {_plural(len(frozen), 'layer')} besides BatchNormalization "
            f"(the first: {frozen[0]!r}); the task makes all of them trainable."
        )
    return None


def check_initial_loss(answer: Any) -> str | None:
    """q4: the loss of a fresh 4-class head before training: -ln(1/4) = ln(4), about 1.386."""
    is_number = isinstance(answer, int | float) and not isinstance(answer, bool)
    known_mistakes = {
        1 / NUM_CLASSES: "the probability of each class; the loss is minus the log of it.",
        math.log10(
            NUM_CLASSES
        ): "a base-10 logarithm; cross-entropy uses the natural log (math.log).",
        math.log2(
            NUM_CLASSES
        ): "a base-2 logarithm; cross-entropy uses the natural log (math.log).",
        float(NUM_CLASSES): "the number of classes itself; the loss is a logarithm.",
    }
    for value, explanation in known_mistakes.items():
        if is_number and math.isclose(answer, value, rel_tol=1e-3):
            return f"your initial loss is {describe(answer)}, {explanation}"
    return check_number(answer, expected=math.log(NUM_CLASSES), what="initial loss")


q1 = Question(
    name="q1",
    prompt="Put a logits head for the 4 target classes on base_model and compile it with the matching loss.",
    check_answer=check_logits_head,
    hints=[
        "Pool the feature maps, then one Dense layer with one unit per class and no activation.",
        "Compile with keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
    ],
    solution=(
        "inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3))\n"
        "features = base_model(inputs, training=False)\n"
        "features = keras.layers.GlobalAveragePooling2D()(features)\n"
        "logits = keras.layers.Dense(4)(features)  # no softmax: logits\n"
        "exercise_model = keras.Model(inputs, logits)\n"
        "exercise_model.compile(\n"
        "    optimizer=keras.optimizers.Adam(learning_rate=1e-3),\n"
        "    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),\n"
        '    metrics=["accuracy"],\n'
        ")"
    ),
    explanation="The loss applies the softmax itself, in a numerically stable way.",
)

q2 = Question(
    name="q2",
    prompt="Freeze exercise_base so that only the head of exercise_model trains; pass (exercise_model, exercise_base).",
    check_answer=check_frozen_base,
    hints=[
        "training=False changes how BatchNormalization computes; it does not stop the optimizer.",
        "One attribute of the base model freezes every weight inside it.",
    ],
    solution="exercise_base.trainable = False\nanswer = (exercise_model, exercise_base)",
    explanation="Only the head's kernel and bias are left for the optimizer.",
)

q3 = Question(
    name="q3",
    prompt="Without models.unfreeze, make every layer of exercise_base trainable except BatchNormalization.",
    check_answer=check_batchnorm_frozen,
    hints=[
        "base.trainable = True sets trainable = True on every layer inside the base, BatchNormalization included.",
        "Loop over exercise_base.layers afterwards and freeze those that are keras.layers.BatchNormalization.",
    ],
    solution=(
        "exercise_base.trainable = True\n"
        "for layer in exercise_base.layers:\n"
        "    if isinstance(layer, keras.layers.BatchNormalization):\n"
        "        layer.trainable = False\n"
        "answer = exercise_base"
    ),
    explanation="A frozen BatchNormalization layer runs in inference mode and keeps its statistics, as measured above.",
)

q4 = Question(
    name="q4",
    prompt="What loss do you expect from a freshly built head for the 4 target classes, before any training?",
    check_answer=check_initial_loss,
    hints=[
        "A fresh head has tiny logits, so its softmax gives every class about the same probability.",
        "The cross-entropy of one example is -log(probability of its true class).",
    ],
    solution="initial_loss = math.log(4)  # about 1.386",
    explanation="A fresh head spreads its bets evenly: each class gets probability 1/4, and -ln(1/4) = ln(4).",
)
