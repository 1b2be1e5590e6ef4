"""Exercises for lesson 04: recompile for phase 2, unfreeze top layers, read results, drift, steps.

Each question inspects the object the learner passes (`exercises.q1.check(model)`) and names what
it found. `phase_one_model` builds the small practice model that questions 1 and 2 start from.
Checks that inspect a model look inside its nested base (`keras_feedback.leaf_layers`), so the
whole model and the base itself are judged alike; a schedule is read by calling it. Question 5
is graded against the learner's own measurement: the comparison they ran in the notebook.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import keras
import numpy as np

from helpers.exercises import keras_feedback
from helpers.exercises.core import Question, describe, matches_number, number_feedback
from helpers.finetune import forgetting, models, schedules, two_phase, validation
from helpers.lessons import pretrained, rate_comparison, target_task

NUM_CLASSES = target_task.NUM_CLASSES  # the practice model's Dense logits, as the target task's
HEAD_LEARNING_RATE = two_phase.HEAD_LEARNING_RATE  # the rate phase_one_model's head trained at
# Question 1: phase 2 with Adam 10 to 100 times below the head's rate (the course's rule is a
# tenth: 1e-4); below a hundredth the base barely moves in a few epochs.
PHASE_TWO_MAXIMUM_RATE = HEAD_LEARNING_RATE / 10
PHASE_TWO_MINIMUM_RATE = HEAD_LEARNING_RATE / 100
RATE_SLACK = 1e-6  # float32 stores 1e-4 as 9.9999997e-05
# Question 1 reads a schedule by calling it at these steps (phase 2's first thousand).
SCHEDULE_STEPS = tuple(range(0, 1001, 10))
TOP_LAYERS = 20  # question 2: how many top layers of the base to unfreeze
# Question 4: a kernel before fine-tuning (norm 5), and after (the change has norm 0.5).
DRIFT_BEFORE = np.array([[3.0, 0.0], [0.0, 4.0]])
DRIFT_AFTER = np.array([[3.0, 0.3], [0.0, 3.6]])
ACCURACY_DIGITS = 2  # question 3: format_table prints accuracies with 2 decimals
# Question 5: CS231n's rule of thumb for one step's update/weight ratio.
HEALTHY_UPDATE_RATIO = forgetting.HEALTHY_UPDATE_RATIO
BASE_WANTED = "pass practice_base (or practice_model) from exercises.phase_one_model()"
MODEL_WANTED = "pass practice_model from exercises.phase_one_model(), after recompiling it"


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


@functools.cache
def _practice_layer_names() -> tuple[str, ...]:
    """The names of phase_one_model()'s base's layers with weights: what a practice base holds."""
    _, base_model = phase_one_model()
    return _names_with_weights(base_model)


def _names_with_weights(model: keras.Model) -> tuple[str, ...]:
    """The names of the model's own layers that hold weights (input layers get new names)."""
    return tuple(layer.name for layer in model.layers if layer.weights)


def _practice_base(answer: Any, wanted: str) -> tuple[keras.Model | None, str | None]:
    """Returns `(base, None)` for the practice model or its base, else `(None, message)`."""
    if not isinstance(answer, keras.Model):
        return None, f"your answer is {describe(answer)}; {wanted}."
    nested = keras_feedback.nested_model(answer)
    base_model = answer if nested is None else nested
    names = _names_with_weights(base_model)
    if names != _practice_layer_names():
        return None, (
            f"your answer is a {type(answer).__name__} model with {len(names)} layers with "
            f"weights, not the practice MobileNetV2 ({len(_practice_layer_names())}); {wanted}."
        )
    return base_model, None


def _base_layers_that_train(answer: keras.Model, base_model: keras.Model) -> dict[str, bool]:
    """Per layer with weights of `base_model`: whether it trains inside `answer`, parents too."""
    in_base = {id(layer) for layer in base_model.layers}
    return {
        layer.name: trains
        for layer, trains in keras_feedback.leaf_layers(answer)
        if id(layer) in in_base and layer.weights
    }


def _batch_norm_feedback(trains: dict[str, bool], base_model: keras.Model) -> str | None:
    """The message when BatchNormalization layers of the base train, else `None`."""
    batch_norm = [
        layer.name
        for layer in base_model.layers
        if isinstance(layer, keras.layers.BatchNormalization) and trains.get(layer.name)
    ]
    if not batch_norm:
        return None
    return (
        f"your base has {len(batch_norm)} trainable BatchNormalization layers "
        f"(e.g. {batch_norm[0]!r}); keep them frozen, as models.unfreeze does."
    )


def _learning_rates(optimizer: keras.optimizers.Optimizer) -> np.ndarray:
    """The optimizer's rate, or its schedule's rates at `SCHEDULE_STEPS`, read by calling it."""
    configured = optimizer.get_config()["learning_rate"]
    if isinstance(configured, dict):  # a schedule, serialized: rebuild it and call it
        schedule = keras.optimizers.schedules.deserialize(configured)
        return schedules.rates_at(schedule, SCHEDULE_STEPS)
    return np.array([float(configured)])


def _rate_feedback(optimizer: keras.optimizers.Optimizer) -> str | None:
    """The message when the optimizer's rate (a schedule's peak) is outside phase 2's range."""
    try:
        rates = _learning_rates(optimizer)
    except Exception as error:  # a learner's schedule may raise anything when called
        reason = " ".join(str(error).split())
        reason = reason if len(reason) <= 100 else reason[:97] + "..."
        return (
            f"your learning-rate schedule raises when called ({type(error).__name__}: "
            f"{reason}); a schedule built from the int 0 computes in ints: write 0.0."
        )
    kind = "learning rate" if len(rates) == 1 else "schedule's highest rate"
    if not np.all(np.isfinite(rates)):
        return f"your {kind} is {rates[~np.isfinite(rates)][0]:g}; a rate must be finite."
    if rates.min() < 0:
        return f"your learning rate goes down to {rates.min():g}; a rate is never negative."
    peak = float(rates.max())
    wanted = (
        f"phase 2 wants {PHASE_TWO_MINIMUM_RATE:g} to {PHASE_TWO_MAXIMUM_RATE:g}, ten to a "
        f"hundred times below the head's {HEAD_LEARNING_RATE:g}"
    )
    if peak > PHASE_TWO_MAXIMUM_RATE * (1 + RATE_SLACK):
        return f"your {kind} is {peak:g}; {wanted}."
    if peak < PHASE_TWO_MINIMUM_RATE * (1 - RATE_SLACK):
        return f"your {kind} is {peak:g}, too small for the base to move; {wanted}."
    return None


def phase_two_compile_feedback(model: Any) -> str | None:
    """q1: the whole base unfrozen, BatchNorm frozen, a fresh Adam 10-100x below 1e-3, logits.

    Example:

    >>> model, base_model = phase_one_model()
    >>> print(phase_two_compile_feedback(model))
    your base is still frozen (none of its layers trains); unfreeze it before compiling.
    """
    base_model, problem = _practice_base(model, MODEL_WANTED)
    if problem:
        return problem
    if model is base_model:
        return (
            "your answer is the base alone; pass the whole model (practice_model), "
            "which holds the optimizer."
        )
    trains = _base_layers_that_train(model, base_model)
    if not any(trains.values()):
        return (
            "your base is still frozen (none of its layers trains); unfreeze it before compiling."
        )
    batch_norm = _batch_norm_feedback(trains, base_model)
    if batch_norm:
        return batch_norm
    still_frozen = [
        layer.name
        for layer in base_model.layers
        if layer.weights
        and not isinstance(layer, keras.layers.BatchNormalization)
        and not trains[layer.name]
    ]
    if still_frozen:
        return (
            f"your base has {len(still_frozen)} frozen layers with weights besides BatchNorm "
            f"(the lowest is {still_frozen[0]!r}); this question unfreezes the whole base."
        )
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        return "your model is not compiled; call model.compile(optimizer=..., loss=...)."
    if type(optimizer) is not keras.optimizers.Adam:
        return (
            f"your optimizer is {type(optimizer).__name__}; the head trained with Adam and the "
            "rule of a smaller rate compares Adam with Adam: compile with keras.optimizers.Adam."
        )
    steps = int(optimizer.iterations.numpy())
    if steps:
        return (
            f"your optimizer has already taken {_steps(steps)}: it is the head's optimizer; "
            "compile with a fresh one."
        )
    rate_problem = _rate_feedback(optimizer)
    if rate_problem:
        return rate_problem
    return keras_feedback.logits_loss_feedback(model.loss, num_classes=NUM_CLASSES)


def top_layers_feedback(answer: Any) -> str | None:
    """q2: the layers `models.unfreeze(base_model, top_layers=20)` makes trainable, and no others.

    Those are the layers with weights among the base's last `TOP_LAYERS`, BatchNormalization
    excluded. The reference is `models.unfreeze` itself, applied to a clone of the learner's base.
    The base may be passed alone or inside its model; a layer trains when it and every model
    holding it are trainable.

    Example:

    >>> model, base_model = phase_one_model()
    >>> models.unfreeze(base_model, top_layers=TOP_LAYERS)
    >>> top_layers_feedback(base_model) is None, top_layers_feedback(model) is None
    (True, True)
    """
    base_model, problem = _practice_base(answer, BASE_WANTED)
    if problem:
        return problem
    trains = _base_layers_that_train(answer, base_model)
    if not any(trains.values()):
        return "your base is still frozen (none of its layers trains); unfreeze its top layers."
    batch_norm = _batch_norm_feedback(trains, base_model)
    if batch_norm:
        return batch_norm
    wanted = keras_feedback.unfreeze_reference(base_model, top_layers=TOP_LAYERS)
    layers = [
        (layer.name, trains[layer.name], should_train)
        for layer, should_train in zip(base_model.layers, wanted, strict=True)
        if layer.weights
    ]
    trainable_count = sum(trains_now for _, trains_now, _ in layers)
    too_trainable = [name for name, trains_now, should in layers if trains_now and not should]
    if too_trainable:
        return (
            f"your base has {trainable_count} trainable layers with weights, "
            f"{len(too_trainable)} of them below the top {TOP_LAYERS} "
            f"(the lowest is {too_trainable[0]!r}); "
            f"unfreeze only base_model.layers[-{TOP_LAYERS}:]."
        )
    too_frozen = [name for name, trains_now, should in layers if should and not trains_now]
    if too_frozen:
        return (
            f"your base still has {len(too_frozen)} frozen layers with weights in the top "
            f"{TOP_LAYERS} (e.g. {too_frozen[0]!r})."
        )
    return None


def _fine_tuned_runs(comparison: Any) -> tuple[list[rate_comparison.Outcome] | None, str | None]:
    """The comparison's runs with a rate, or `(None, message)` if it is not compare()'s list."""
    if not isinstance(comparison, list | tuple):
        return None, f"your comparison is {describe(comparison)}; pass the list compare() returned."
    runs = [
        row
        for row in comparison
        if isinstance(row, rate_comparison.Outcome) and row.learning_rate is not None
    ]
    if len(runs) < 2:
        return None, (
            f"your comparison holds {len(runs)} fine-tuning runs; "
            "pass the list compare() returned, with two rates or more."
        )
    return runs, None


def _picked_run(pick: Any, runs: list[rate_comparison.Outcome]) -> rate_comparison.Outcome | None:
    """The run whose rate `pick` names (float32 precision is enough), or `None`."""
    return next((run for run in runs if matches_number(pick, run.learning_rate, 6)), None)


def _not_compared_feedback(pick: Any, runs: list[rate_comparison.Outcome]) -> str:
    """The message for a pick that names none of the runs' rates."""
    rates = ", ".join(f"{run.learning_rate:g}" for run in runs)
    return f"your pick {describe(pick)} is not one of the compared rates ({rates})."


def source_reading_feedback(answer: Any) -> str | None:
    """q3: `(comparison, kept_most, lost_most)`, the rates keeping most and least source accuracy.

    `kept_most` and `lost_most` are learning rates of the comparison; every rate whose source
    accuracy prints the same (2 decimals, as `format_table`) as the best or the worst is right.

    Example:

    >>> print(source_reading_feedback((1e-5, 1e-2)))
    your answer holds 2 objects; pass (comparison, kept_most, lost_most).
    """
    if not isinstance(answer, tuple | list):
        return f"your answer is {describe(answer)}; pass (comparison, kept_most, lost_most)."
    if len(answer) != 3:
        return f"your answer holds {len(answer)} objects; pass (comparison, kept_most, lost_most)."
    comparison, kept_most, lost_most = answer
    runs, problem = _fine_tuned_runs(comparison)
    if problem:
        return problem
    printed = {id(run): f"{run.source_accuracy:.{ACCURACY_DIGITS}f}" for run in runs}
    best = max(runs, key=lambda run: run.source_accuracy)
    worst = min(runs, key=lambda run: run.source_accuracy)
    for pick, wanted, word in ((kept_most, best, "most"), (lost_most, worst, "least")):
        run = _picked_run(pick, runs)
        if run is None:
            return _not_compared_feedback(pick, runs)
        if printed[id(run)] != printed[id(wanted)]:
            return (
                f"your pick {run.learning_rate:g} kept {printed[id(run)]} source accuracy; "
                f"another rate kept the {word} ({printed[id(wanted)]})."
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
    if matches_number(drift, change):
        return (
            f"your drift {describe(drift)} is the size of the change; "
            "divide it by the norm of the weights before."
        )
    if matches_number(drift, change / norm_after):
        return (
            f"your drift {describe(drift)} divides by the norm of the weights after; "
            "divide by the norm before."
        )
    return number_feedback(drift, expected=change / norm_before, what="drift")


def _decades_from_healthy(run: rate_comparison.Outcome) -> float:
    """How many decades the run's printed median ratio (2 digits) lies from 1e-3."""
    printed = float(f"{rate_comparison.typical_update_ratio(run):.1e}")
    return abs(math.log10(printed / HEALTHY_UPDATE_RATIO))


def update_ratio_feedback(answer: Any) -> str | None:
    """q5: `(comparison, rate)`, the rate whose median layer's update/weight ratio is nearest 1e-3.

    Graded against the learner's own comparison: the distance is counted in decades (factors of
    10) from the median printed by `rate_comparison.format_update_ratios`, and every rate as
    near as the nearest is right.

    Example:

    >>> def run(rate, ratio):
    ...     return rate_comparison.Outcome(f"{rate:g}", rate, 0.8, 0.9, 0.1, {},
    ...                                    update_ratios={"a": ratio})
    >>> comparison = [run(1e-2, 0.1), run(1e-4, 1.1e-3), run(1e-5, 1.2e-4)]
    >>> print(update_ratio_feedback((comparison, 1e-5)))  # doctest: +NORMALIZE_WHITESPACE
    your pick 1e-05 moves its median layer by 1.2e-04 of its size per step, 0.9 decades from
    1e-3; another rate comes nearer.
    >>> update_ratio_feedback((comparison, 1e-4)) is None
    True
    """
    if not isinstance(answer, tuple | list):
        return f"your answer is {describe(answer)}; pass (comparison, rate)."
    if len(answer) != 2:
        return f"your answer holds {len(answer)} objects; pass (comparison, rate)."
    comparison, pick = answer
    runs, problem = _fine_tuned_runs(comparison)
    if problem:
        return problem
    measured = [run for run in runs if not math.isnan(rate_comparison.typical_update_ratio(run))]
    if not measured:
        return (
            "your comparison holds no update/weight ratios; pass the list "
            "rate_comparison.compare() returned in this notebook."
        )
    run = _picked_run(pick, measured)
    if run is None:
        return _not_compared_feedback(pick, measured)
    nearest = min(_decades_from_healthy(other) for other in measured)
    distance = _decades_from_healthy(run)
    if distance > nearest + 1e-9:
        ratio = rate_comparison.typical_update_ratio(run)
        return (
            f"your pick {run.learning_rate:g} moves its median layer by {ratio:.1e} of its size "
            f"per step, {distance:.1f} decades from {HEALTHY_UPDATE_RATIO:g}; "
            "another rate comes nearer."
        )
    return None


q1 = Question(
    name="q1",
    prompt=(
        "Prepare phase_one_model() for phase 2: unfreeze the whole base with BatchNormalization "
        "frozen, then recompile with a fresh Adam ten to a hundred times below the head's 1e-3 "
        "and the logits loss."
    ),
    answer_feedback=phase_two_compile_feedback,
    hints=[
        "models.unfreeze(base_model) unfreezes the base and keeps its BatchNormalization layers "
        "frozen. Then compile with a new optimizer: the head's has already taken steps.",
        f"Phase 2's rate lies from {PHASE_TWO_MINIMUM_RATE:g} to {PHASE_TWO_MAXIMUM_RATE:g} "
        "(the course's rule is a tenth of the head's rate); compile with "
        "keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
    ],
    solution=(
        "practice_model, practice_base = exercises.phase_one_model()\n"
        "models.unfreeze(practice_base)\n"
        "practice_model.compile(\n"
        "    optimizer=keras.optimizers.Adam(learning_rate=1e-4),\n"
        "    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),\n"
        ")\n"
        "phase_two_model = practice_model"
    ),
    explanation=(
        "A fresh optimizer meets every unfrozen weight; a tenth of the head's rate keeps them "
        "near their pretrained values."
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
        "practice_model, practice_base = exercises.phase_one_model()\n"
        f"models.unfreeze(practice_base, top_layers={TOP_LAYERS})\n"
        "unfrozen_base = practice_base"
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

q5 = Question(
    name="q5",
    prompt=(
        "From the update/weight ratios you measured, which phase-2 rate moves the median layer "
        "nearest to CS231n's rule of thumb, 1e-3 of its size per step?"
    ),
    answer_feedback=update_ratio_feedback,
    hints=[
        "Read the 'median layer' column of rate_comparison.format_update_ratios(comparison).",
        "Count the distance in factors of ten: 2e-3 and 5e-4 are equally far from 1e-3. "
        "Pass (comparison, rate).",
    ],
    solution=(
        "fine_tuned = [row for row in comparison if row.learning_rate is not None]\n"
        "def decades_from_rule(row):\n"
        "    median = rate_comparison.typical_update_ratio(row)\n"
        "    return abs(np.log10(median / 1e-3))\n"
        "nearest_rate = min(fine_tuned, key=decades_from_rule).learning_rate\n"
        "exercises.q5.check((comparison, nearest_rate))"
    ),
    explanation=(
        "With Adam each weight moves by about the learning rate per step, so the ratio is about "
        "rate / typical weight size; lesson 04's weights are near 0.1 in size."
    ),
)
