"""Exercises for lesson 03 (freeze the base, train a head): logits, freezing, BatchNorm, first loss.

Each question inspects the object the learner passes (`exercises.q2.check((model, base_model))`)
and names what it found. The questions use the shapes target task, whose `NUM_CLASSES` is 4.

Example:

>>> print(q4.check(math.log(4)))  # doctest: +NORMALIZE_WHITESPACE
Correct! A fresh head spreads its bets evenly: each class gets probability 1/4, and
-ln(1/4) = ln(4).
"""

from __future__ import annotations

import math
from typing import Any

import keras

from helpers.exercises import keras_feedback
from helpers.exercises.core import Question, describe, number_feedback
from helpers.finetune import validation
from helpers.lessons.target_task import NUM_CLASSES

# Question 4's realistic wrong answers, each with what the learner computed instead.
INITIAL_LOSS_MISTAKES = (
    (1 / NUM_CLASSES, "the probability of each class; the loss is minus the log of it."),
    (
        math.log10(NUM_CLASSES),
        "a base-10 logarithm; cross-entropy uses the natural log (math.log).",
    ),
    (math.log2(NUM_CLASSES), "a base-2 logarithm; cross-entropy uses the natural log (math.log)."),
    (float(NUM_CLASSES), "the number of classes itself; the loss is a logarithm."),
)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def logits_head_feedback(model: Any) -> str | None:
    """q1: a compiled model ending in `Dense(4)` without activation, with the logits loss.

    Example:

    >>> print(logits_head_feedback(keras.layers.Dense(4)))
    your answer is a Dense; give the compiled keras.Model.
    """
    if not isinstance(model, keras.Model):
        return f"your answer is {describe(model)}; give the compiled keras.Model."
    if not model.compiled:
        return (
            "your model is not compiled yet; "
            "call exercise_model.compile(optimizer=..., loss=..., metrics=[...])."
        )
    last = model.layers[-1]
    if not isinstance(last, keras.layers.Dense):
        return (
            f"your model ends with a {type(last).__name__} layer; "
            "end it with the Dense layer that emits the logits."
        )
    if last.units != NUM_CLASSES:
        units = _plural(last.units, "unit")
        return f"your last Dense layer has {units}; the target task has {NUM_CLASSES} classes."
    activation = last.get_config()["activation"]
    if activation != "linear":
        return (
            f"your last Dense layer has activation={activation!r}; the head emits logits, "
            "so leave the activation out and let the loss apply the softmax."
        )
    return keras_feedback.logits_loss_feedback(model.loss, num_classes=NUM_CLASSES)


def frozen_base_feedback(answer: Any) -> str | None:
    """q2: `(model, base_model)`, the base frozen (no trainable weights) and the head trainable.

    Example:

    >>> print(frozen_base_feedback(keras.layers.Dense(4)))
    your answer is a Dense; pass the pair (exercise_model, exercise_base).
    """
    if not isinstance(answer, tuple | list):
        return f"your answer is {describe(answer)}; pass the pair (exercise_model, exercise_base)."
    if len(answer) != 2:
        count = _plural(len(answer), "object")
        return f"your answer holds {count}; pass the pair (exercise_model, exercise_base)."
    model, base_model = answer
    both_models = isinstance(model, keras.Model) and isinstance(base_model, keras.Model)
    if not both_models:
        return (
            f"your pair holds {describe(model)} and {describe(base_model)}; "
            "pass (exercise_model, exercise_base)."
        )
    if not any(layer is base_model for layer in model.layers):
        return (
            "your exercise_base is not a layer of your exercise_model; "
            "pass the pair build_mobilenet_v2 returned."
        )
    trainable = len(base_model.trainable_weights)
    if trainable:
        tensors = _plural(trainable, "trainable weight tensor")
        return (
            f"your base still has {tensors}; calling it with training=False "
            "does not freeze its weights: set exercise_base.trainable = False."
        )
    if not model.trainable_weights:
        return (
            "your model has no trainable weights at all: model.trainable = False froze the head "
            "too; freeze only the base."
        )
    return None


def batchnorm_frozen_feedback(base_model: Any) -> str | None:
    """q3: every layer of the base trainable except BatchNormalization, as `models.unfreeze` does.

    The reference is `models.unfreeze` itself, applied to a clone of the learner's base.

    Example:

    >>> print(batchnorm_frozen_feedback("unfreeze"))
    your answer is 'unfreeze'; give the base model (a keras.Model).
    """
    if not isinstance(base_model, keras.Model):
        return f"your answer is {describe(base_model)}; give the base model (a keras.Model)."
    nested = keras_feedback.nested_model(base_model)
    if nested is not None:
        return (
            f"your answer is a model holding the base {nested.name!r}; "
            "pass the base itself (exercise_base)."
        )
    if not base_model.trainable:
        return (
            "your base has trainable=False, so none of its layers can train; "
            "set exercise_base.trainable = True first."
        )
    wanted = keras_feedback.unfreeze_reference(base_model)
    layers = [
        (layer, trainable)
        for layer, trainable in zip(base_model.layers, wanted, strict=True)
        if layer.weights
    ]
    batch_norms = [
        layer for layer, _ in layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    too_trainable = [layer for layer, trainable in layers if layer.trainable and not trainable]
    if too_trainable:
        count = _plural(len(too_trainable), "trainable BatchNormalization layer")
        return (
            f"your base still has {count} (of {len(batch_norms)}), so fit moves their moving "
            "statistics; set layer.trainable = False on each, after exercise_base.trainable = True "
            "(which makes every layer trainable)."
        )
    too_frozen = [layer.name for layer, trainable in layers if trainable and not layer.trainable]
    if too_frozen:
        count = _plural(len(too_frozen), "layer")
        return (
            f"your base still freezes {count} besides BatchNormalization "
            f"(the first: {too_frozen[0]!r}); the task makes all of them trainable."
        )
    return None


def initial_loss_feedback(answer: Any) -> str | None:
    """q4: the loss of a fresh 4-class head before training, -ln(1/4) = ln(4), about 1.386.

    Example:

    >>> print(initial_loss_feedback(0.25))
    your initial loss is 0.25, the probability of each class; the loss is minus the log of it.
    """
    if validation.is_number(answer):
        for value, explanation in INITIAL_LOSS_MISTAKES:
            if math.isclose(answer, value, rel_tol=1e-3):
                return f"your initial loss is {describe(answer)}, {explanation}"
    return number_feedback(answer, expected=math.log(NUM_CLASSES), what="initial loss")


q1 = Question(
    name="q1",
    prompt=(
        f"Put a logits head for the {NUM_CLASSES} target classes on base_model and compile it "
        "with the matching loss."
    ),
    answer_feedback=logits_head_feedback,
    hints=[
        "Pool the feature maps, then one Dense layer with one unit per class and no activation.",
        "Compile with keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
    ],
    solution=(
        "inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3))\n"
        "features = base_model(inputs, training=False)\n"
        "features = keras.layers.GlobalAveragePooling2D()(features)\n"
        f"logits = keras.layers.Dense({NUM_CLASSES})(features)  # no softmax: logits\n"
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
    prompt=(
        "Freeze exercise_base so that only the head of exercise_model trains; "
        "pass (exercise_model, exercise_base)."
    ),
    answer_feedback=frozen_base_feedback,
    hints=[
        "training=False changes how BatchNormalization computes; it does not stop the optimizer.",
        "One attribute of the base model freezes every weight inside it.",
    ],
    solution="exercise_base.trainable = False\nanswer = (exercise_model, exercise_base)",
    explanation="Only the head's kernel and bias are left for the optimizer.",
)

q3 = Question(
    name="q3",
    prompt=(
        "Without models.unfreeze, make every layer of exercise_base trainable except "
        "BatchNormalization."
    ),
    answer_feedback=batchnorm_frozen_feedback,
    hints=[
        "base.trainable = True sets trainable = True on every layer inside the base, "
        "BatchNormalization included.",
        "Loop over exercise_base.layers afterwards and freeze those that are "
        "keras.layers.BatchNormalization.",
    ],
    solution=(
        "exercise_base.trainable = True\n"
        "for layer in exercise_base.layers:\n"
        "    if isinstance(layer, keras.layers.BatchNormalization):\n"
        "        layer.trainable = False\n"
        "answer = exercise_base"
    ),
    explanation=(
        "A frozen BatchNormalization layer runs in inference mode and keeps its statistics, "
        "as measured above."
    ),
)

q4 = Question(
    name="q4",
    prompt=(
        f"What loss do you expect from a freshly built head for the {NUM_CLASSES} target "
        "classes, before any training?"
    ),
    answer_feedback=initial_loss_feedback,
    hints=[
        "A fresh head has tiny logits, so its softmax gives every class about the same "
        "probability.",
        "The cross-entropy of one example is -log(probability of its true class).",
    ],
    solution=f"initial_loss = math.log({NUM_CLASSES})  # about {math.log(NUM_CLASSES):.3f}",
    explanation=(
        "A fresh head spreads its bets evenly: each class gets probability "
        f"1/{NUM_CLASSES}, and -ln(1/{NUM_CLASSES}) = ln({NUM_CLASSES})."
    ),
)
