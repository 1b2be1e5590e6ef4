"""Exercises for lesson 03 (freeze the base, train a head): logits, freezing, BatchNorm, first loss.

Each question inspects the object the learner passes (`exercises.q2.check((model, base_model))`)
and names what it found. The questions use the shapes target task, whose `NUM_CLASSES` is 4.
Checks that inspect a model look inside its nested base (`keras_feedback.leaf_layers`), so the
whole model and the base itself are judged alike. Question 5 is graded against the learner's own
measurement: the sweep of head learning rates they ran in the notebook.

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
from helpers.exercises.core import Question, as_number, describe, matches_number, number_feedback
from helpers.finetune import validation
from helpers.lessons.target_task import NUM_CLASSES

# Question 4: the lesson prints ln(4) as 1.39, three significant digits.
INITIAL_LOSS_DIGITS = 3
# Question 4's realistic wrong answers, each with what the learner computed instead. They are
# recognised at two significant digits, so that 0.6 for log10(4) = 0.602 is named too.
INITIAL_LOSS_MISTAKES = (
    (1 / NUM_CLASSES, "the probability of each class; the loss is minus the log of it."),
    (
        math.log10(NUM_CLASSES),
        "a base-10 logarithm; cross-entropy uses the natural log (math.log).",
    ),
    (math.log2(NUM_CLASSES), "a base-2 logarithm; cross-entropy uses the natural log (math.log)."),
    (float(NUM_CLASSES), "the number of classes itself; the loss is a logarithm."),
)
MISTAKE_DIGITS = 2
# Question 5: the lesson prints validation losses with 2 decimals; rates that print alike tie.
LOSS_DECIMALS = 2
RATE_DIGITS = 6  # a rate matches a swept rate to float32 precision (np.float32(1e-3) is 1e-3)
POOLING_LAYERS = (keras.layers.GlobalAveragePooling2D, keras.layers.GlobalMaxPooling2D)
BASE_WANTED = "pass exercise_base, the MobileNetV2 base"
SWEEP_WANTED = "pass (results, learning_rate), results being what sweep_learning_rates returned"


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _is_batch_norm(layer: keras.layers.Layer) -> bool:
    return isinstance(layer, keras.layers.BatchNormalization)


def logits_head_feedback(model: Any) -> str | None:
    """q1: a compiled model: a base, pooling, `Dense(4)` without activation, the logits loss.

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
    if not model.layers:
        return "your model has no layers; build it from base_model, pooling and a Dense layer."
    if keras_feedback.nested_model(model) is None:
        return (
            f"your model holds no base model ({_plural(len(model.layers), 'layer')}, none of "
            "them a keras.Model); call base_model(inputs, training=False) and put the head on "
            "its output."
        )
    layers = [layer for layer, _ in keras_feedback.leaf_layers(model)]
    if not any(isinstance(layer, POOLING_LAYERS) for layer in layers):
        return (
            "your model has no pooling layer, so its Dense layer sees feature maps, not one "
            "vector per image; add GlobalAveragePooling2D between the base and the Dense layer."
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
    shape = keras_feedback.single_output_shape(model)
    if shape != (None, NUM_CLASSES):
        return (
            f"your model's output has shape {shape}; it should give one row of "
            f"{NUM_CLASSES} logits per image, (None, {NUM_CLASSES}): pool before the Dense layer."
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
    if any(layer is model for layer in base_model.layers):
        return "your pair is the wrong way round; pass (exercise_model, exercise_base)."
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


def batchnorm_frozen_feedback(answer: Any) -> str | None:
    """q3: every layer of the base trains except BatchNormalization, as `models.unfreeze` leaves it.

    The base may be passed alone or inside its model: every layer of the base is inspected,
    nested models opened (`keras_feedback.leaf_layers`), and a layer trains only when every
    model holding it is trainable too.

    Example:

    >>> print(batchnorm_frozen_feedback("unfreeze"))
    your answer is 'unfreeze'; give the base model (a keras.Model).
    """
    if not isinstance(answer, keras.Model):
        return f"your answer is {describe(answer)}; give the base model (a keras.Model)."
    # Whether each layer trains inside the answer, every model holding it trainable too.
    trains_in_answer = {id(layer): trains for layer, trains in keras_feedback.leaf_layers(answer)}
    base_model = keras_feedback.nested_model(answer) or answer
    with_weights = [
        (layer, trains_in_answer[id(layer)])
        for layer, _ in keras_feedback.leaf_layers(base_model)
        if layer.weights
    ]
    batch_norms = [(layer, trains) for layer, trains in with_weights if _is_batch_norm(layer)]
    if not batch_norms:
        count = _plural(len(with_weights), "layer")
        return (
            f"your model has {count} with weights and no BatchNormalization layer; {BASE_WANTED}."
        )
    others = [(layer, trains) for layer, trains in with_weights if not _is_batch_norm(layer)]
    if not any(trains for _, trains in others):
        return (
            "your base has trainable=False, so none of its layers can train; "
            "set exercise_base.trainable = True first."
        )
    too_trainable = [layer for layer, trains in batch_norms if trains]
    if too_trainable:
        count = _plural(len(too_trainable), "trainable BatchNormalization layer")
        return (
            f"your base still has {count} (of {len(batch_norms)}), so fit moves their moving "
            "statistics; set layer.trainable = False on each, after exercise_base.trainable = True "
            "(which makes every layer trainable)."
        )
    too_frozen = [layer.name for layer, trains in others if not trains]
    if too_frozen:
        count = _plural(len(too_frozen), "layer")
        return (
            f"your base still freezes {count} besides BatchNormalization "
            f"(the first: {too_frozen[0]!r}); the task makes all of them trainable."
        )
    return None


def initial_loss_feedback(answer: Any) -> str | None:
    """q4: the loss of a fresh 4-class head before training, -ln(1/4) = ln(4), about 1.39.

    Accepted as the lesson prints it: 3 significant digits (1.39, 1.386, `np.log(4)`).

    Example:

    >>> print(initial_loss_feedback(0.25))
    your initial loss is 0.25, the probability of each class; the loss is minus the log of it.
    >>> initial_loss_feedback(1.39) is None
    True
    """
    for value, explanation in INITIAL_LOSS_MISTAKES:
        if matches_number(answer, value, MISTAKE_DIGITS):
            return f"your initial loss is {describe(answer)}, {explanation}"
    return number_feedback(
        answer,
        expected=math.log(NUM_CLASSES),
        what="initial loss",
        significant_digits=INITIAL_LOSS_DIGITS,
    )


def _lowest_validation_losses(results: Any) -> tuple[dict[float, float] | None, str | None]:
    """Each rate's lowest validation loss over the epochs, or `(None, message)` if `results` is
    not what `head_sweep.sweep_learning_rates` returns."""
    if not isinstance(results, dict) or not results:
        return None, f"your results is {describe(results)}; {SWEEP_WANTED}."
    lowest = {}
    for rate, history in results.items():
        losses = history.get("val_loss") if isinstance(history, dict) else None
        values = [as_number(loss) for loss in losses] if isinstance(losses, list | tuple) else []
        finite = bool(values) and all(
            value is not None and math.isfinite(value) for value in values
        )
        if not (validation.is_number(rate) and finite):
            return None, (
                f"your results maps {describe(rate)} to {describe(history)}, not a learning "
                f"rate to its history of validation losses; {SWEEP_WANTED}."
            )
        lowest[float(rate)] = min(values)
    return lowest, None


def early_stopping_feedback(answer: Any) -> str | None:
    """q5: `(results, learning_rate)`, the rate whose validation loss gets lowest at any epoch.

    Graded against the learner's own sweep: every rate whose lowest validation loss prints the
    same as the lowest of all (2 decimals) is right.

    Example:

    >>> results = {
    ...     0.01: {"val_loss": [0.9, 0.3, 0.5]},  # lowest 0.30, but ends at 0.50
    ...     0.001: {"val_loss": [1.0, 0.6, 0.4]},  # ends lowest, at 0.40
    ... }
    >>> early_stopping_feedback((results, 0.01)) is None
    True
    >>> print(early_stopping_feedback((results, 0.001)))  # doctest: +NORMALIZE_WHITESPACE
    your pick 0.001 ends with the lowest validation loss, but early stopping keeps each run's
    best epoch: its lowest is 0.40, and another rate goes lower.
    """
    if not isinstance(answer, tuple | list):
        return f"your answer is {describe(answer)}; {SWEEP_WANTED}."
    if len(answer) != 2:
        return f"your answer holds {_plural(len(answer), 'object')}; {SWEEP_WANTED}."
    results, pick = answer
    lowest, problem = _lowest_validation_losses(results)
    if problem:
        return problem
    rate = next((rate for rate in lowest if matches_number(pick, rate, RATE_DIGITS)), None)
    rates = ", ".join(f"{rate:g}" for rate in lowest)
    if rate is None:
        return f"your pick {describe(pick)} is not one of the swept rates ({rates})."
    printed = {rate: f"{loss:.{LOSS_DECIMALS}f}" for rate, loss in lowest.items()}
    best = min(lowest, key=lowest.get)
    if printed[rate] == printed[best]:
        return None
    final = {float(key): as_number(history["val_loss"][-1]) for key, history in results.items()}
    if rate == min(final, key=final.get):
        return (
            f"your pick {rate:g} ends with the lowest validation loss, but early stopping keeps "
            f"each run's best epoch: its lowest is {printed[rate]}, and another rate goes lower."
        )
    return (
        f"your pick {rate:g} gets its validation loss down to {printed[rate]} at best; "
        "another rate goes lower."
    )


q1 = Question(
    name="q1",
    prompt=(
        f"Put a logits head for the {NUM_CLASSES} target classes on base_model and compile it "
        "with the matching loss."
    ),
    answer_feedback=logits_head_feedback,
    hints=[
        "Call base_model on the inputs, pool its feature maps, then one Dense layer with one unit "
        "per class and no activation.",
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
    solution=(
        f"initial_loss_for_{NUM_CLASSES}_classes = math.log({NUM_CLASSES})"
        f"  # about {math.log(NUM_CLASSES):.2f}"
    ),
    explanation=(
        "A fresh head spreads its bets evenly: each class gets probability "
        f"1/{NUM_CLASSES}, and -ln(1/{NUM_CLASSES}) = ln({NUM_CLASSES})."
    ),
)

q5 = Question(
    name="q5",
    prompt=(
        "Early stopping keeps each run at its best epoch. From your sweep's results, which head "
        "learning rate reaches the lowest validation loss at any epoch?"
    ),
    answer_feedback=early_stopping_feedback,
    hints=[
        "results[rate]['val_loss'] lists one validation loss per epoch; "
        "compare each curve's lowest point, not its last.",
        "min(history['val_loss']) for each rate; pass (results, learning_rate).",
    ],
    solution=(
        "lowest = {rate: min(history['val_loss']) for rate, history in results.items()}\n"
        "early_stopping_rate = min(lowest, key=lowest.get)\n"
        "answer = (results, early_stopping_rate)"
    ),
    explanation=(
        "A run's last epoch is not always its best: early stopping "
        "(keras.callbacks.EarlyStopping(restore_best_weights=True)) keeps the best one."
    ),
)
