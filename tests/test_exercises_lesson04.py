"""Lesson 04 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import math
import re

import keras
import numpy as np
import pytest

from helpers.exercises import core
from helpers.exercises import lesson04 as exercises
from helpers.finetune import models
from helpers.lessons.rate_comparison import Outcome

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4]


def assert_wrong(question: core.Question, answer, message: str) -> None:
    feedback = question.check(answer)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message == message


def logits_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_phase_one_model_is_frozen_with_a_used_head_optimizer():
    model, base_model = exercises.phase_one_model()
    assert not base_model.trainable_weights and len(model.trainable_weights) == 2
    assert int(model.optimizer.iterations.numpy()) == 1


# q1 -------------------------------------------------------------------------------------------


def test_q1_reference_passes():
    model, base_model = exercises.phase_one_model()
    models.unfreeze(base_model)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-4), loss=logits_loss())
    assert exercises.q1.check(model).passed


def q1_answer(mistake: str):
    model, base_model = exercises.phase_one_model()
    if mistake == "no unfreeze":
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-4), loss=logits_loss())
        return model
    if mistake == "batch norm trainable":
        base_model.trainable = True
    else:
        models.unfreeze(base_model)
    optimizer = {
        "reused optimizer": model.optimizer,
        "head rate": keras.optimizers.Adam(learning_rate=1e-3),
    }.get(mistake, keras.optimizers.Adam(learning_rate=1e-5))
    loss = "sparse_categorical_crossentropy" if mistake == "string loss" else logits_loss()
    model.compile(optimizer=optimizer, loss=loss)
    return model


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (
            "no unfreeze",
            "your base is still frozen (no trainable weights); unfreeze it before compiling.",
        ),
        (
            "batch norm trainable",
            "52 BatchNormalization layers of your base are trainable (e.g. 'bn_Conv1'); "
            "keep them frozen, as models.unfreeze does.",
        ),
        (
            "reused optimizer",
            "your optimizer has already taken 1 step: it is the head's optimizer; "
            "compile with a fresh one.",
        ),
        (
            "head rate",
            "your learning rate is 0.001; phase 2 needs at most 0.0001, "
            "ten times below the head's 0.001.",
        ),
        (
            "string loss",
            "your loss is the string 'sparse_categorical_crossentropy', which treats the outputs "
            "as probabilities; "
            "compile with keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
        ),
    ],
)
def test_q1_wrong_answers_are_named(mistake, message):
    assert_wrong(exercises.q1, q1_answer(mistake), message)


def test_q1_rejects_something_that_is_not_a_model():
    assert_wrong(
        exercises.q1,
        keras.optimizers.Adam(learning_rate=1e-4),
        "your answer is a Adam; pass the model from phase_one_model(), after recompiling it.",
    )


# q2 -------------------------------------------------------------------------------------------


def test_q2_names_the_whole_model_passed_instead_of_its_base():
    model, base_model = exercises.phase_one_model()
    models.unfreeze(base_model, top_layers=exercises.TOP_LAYERS)
    assert_wrong(
        exercises.q2,
        model,
        f"your answer is a model holding the base {base_model.name!r}; pass base_model itself.",
    )


def test_q2_reference_passes():
    _, base_model = exercises.phase_one_model()
    models.unfreeze(base_model, top_layers=exercises.TOP_LAYERS)
    assert exercises.q2.check(base_model).passed


def test_q2_accepts_a_hand_written_loop():
    _, base_model = exercises.phase_one_model()
    base_model.trainable = True
    for index, layer in enumerate(base_model.layers):
        top = index >= len(base_model.layers) - exercises.TOP_LAYERS
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)
    assert exercises.q2.check(base_model).passed


def test_q2_names_a_fully_unfrozen_base():
    _, base_model = exercises.phase_one_model()
    models.unfreeze(base_model)
    assert_wrong(
        exercises.q2,
        base_model,
        "your base has 52 trainable layers with weights, 45 of them below the top 20 "
        "(the lowest is 'Conv1'); "
        "unfreeze only base_model.layers[-20:].",
    )


def test_q2_names_trainable_batch_norm_in_the_top_layers():
    _, base_model = exercises.phase_one_model()
    base_model.trainable = True
    for layer in base_model.layers[: -exercises.TOP_LAYERS]:
        layer.trainable = False
    assert_wrong(
        exercises.q2,
        base_model,
        "7 BatchNormalization layers are trainable (e.g. 'block_15_expand_BN'); keep them frozen.",
    )


def test_q2_names_a_base_left_frozen():
    _, base_model = exercises.phase_one_model()
    for layer in base_model.layers[-exercises.TOP_LAYERS :]:
        if not isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = True
    assert_wrong(
        exercises.q2,
        base_model,
        "your base is still frozen (base_model.trainable is False), so none of its layers train.",
    )


def test_q2_names_missing_top_layers():
    _, base_model = exercises.phase_one_model()
    models.unfreeze(base_model, top_layers=exercises.TOP_LAYERS)
    base_model.get_layer("Conv_1").trainable = False
    assert_wrong(
        exercises.q2,
        base_model,
        "1 layers with weights in the top 20 are still frozen (e.g. 'Conv_1').",
    )


# q3 -------------------------------------------------------------------------------------------


def comparison(source_by_rate: dict[float, float]) -> list[Outcome]:
    head = Outcome("head only", None, 0.79, 0.99, 0.0, {})
    rows = [
        Outcome(f"{rate:g}", rate, 0.5, source, rate, {}) for rate, source in source_by_rate.items()
    ]
    return [head, *rows]


MEASURED = comparison({1e-2: 0.17, 1e-3: 0.65, 1e-4: 0.98, 1e-5: 0.99})


def test_q3_accepts_numpy_picks():
    assert exercises.q3.check((MEASURED, np.float32(1e-5), np.float64(1e-2))).passed


def test_q3_names_a_comparison_that_is_not_a_list():
    assert_wrong(
        exercises.q3,
        (0.5, 1e-5, 1e-2),
        "your comparison is 0.5; pass the list that compare() returned.",
    )


def test_q3_reference_passes_and_ties_are_accepted():
    assert exercises.q3.check((MEASURED, 1e-5, 1e-2)).passed
    tied = comparison({1e-2: 0.17, 1e-4: 0.99, 1e-5: 0.99})
    assert (
        exercises.q3.check((tied, 1e-4, 1e-2)).passed
        and exercises.q3.check((tied, 1e-5, 1e-2)).passed
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            (MEASURED, 1e-2, 1e-5),
            "your pick 0.01 kept 0.17 source accuracy; another rate kept the most (0.99).",
        ),
        (
            (MEASURED, 1e-5, 1e-3),
            "your pick 0.001 kept 0.65 source accuracy; another rate kept the least (0.17).",
        ),
        (
            (MEASURED, 1e-6, 1e-2),
            "your pick 1e-06 is not one of the compared rates (0.01, 0.001, 0.0001, 1e-05).",
        ),
        (
            (MEASURED, "1e-5", 1e-2),
            "your pick '1e-5' is not one of the compared rates (0.01, 0.001, 0.0001, 1e-05).",
        ),
        ((1e-5, 1e-2), "your answer holds 2 objects; pass (comparison, kept_most, lost_most)."),
        (
            ([MEASURED[0]], 1e-5, 1e-2),
            "your comparison holds fewer than two fine-tuning runs; "
            "pass the list that compare() returned.",
        ),
    ],
)
def test_q3_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q3, answer, message)


# q4 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [0.1, np.float32(0.1), np.float64(0.1)])
def test_q4_accepts_numpy_drifts(answer):
    assert exercises.q4.check(answer).passed


def test_q4_names_a_numpy_drift_of_the_change_alone():
    assert_wrong(
        exercises.q4,
        np.float32(0.5),
        "your drift 0.5 is the size of the change; divide it by the norm of the weights before.",
    )


def test_q4_reference_passes_and_matches_the_closed_form():
    before, after = exercises.DRIFT_BEFORE, exercises.DRIFT_AFTER
    drift = np.linalg.norm(after - before) / np.linalg.norm(before)
    assert math.isclose(drift, 0.5 / 5) and exercises.q4.check(drift).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            0.5,
            "your drift 0.5 is the size of the change; "
            "divide it by the norm of the weights before.",
        ),
        (
            0.5 / math.sqrt(3.0**2 + 0.3**2 + 3.6**2),
            "your drift 0.106479 divides by the norm of the weights after; "
            "divide by the norm before.",
        ),
        (0.2, "your drift is 0.2, which is too large."),
        ("0.1", "your drift is '0.1' (a str); give a number."),
    ],
)
def test_q4_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q4, answer, message)


@pytest.mark.parametrize("seed", [-1, 0.5, "0", True])
def test_phase_one_model_rejects_a_bad_seed(seed):
    message = f"seed must be an int >= 0. Received: seed={seed!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        exercises.phase_one_model(seed=seed)
