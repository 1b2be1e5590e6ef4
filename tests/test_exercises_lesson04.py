"""Lesson 04 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import math
import re

import keras
import numpy as np
import pytest

from helpers.exercises import core
from helpers.exercises import lesson04 as exercises
from helpers.finetune import models, schedules
from helpers.lessons import rate_comparison
from helpers.lessons.rate_comparison import Outcome
from tests.grading import assert_wrong
from tests.solutions import run_solution

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4, exercises.q5]
WHOLE_BASE_WANTED = "pass practice_model from exercises.phase_one_model(), after recompiling it."


def logits_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_placeholder_is_not_attempted(question):
    assert question.check(core.____).outcome == core.NOT_ATTEMPTED


def test_phase_one_model_is_frozen_with_a_used_head_optimizer():
    model, base_model = exercises.phase_one_model()
    assert not base_model.trainable_weights and len(model.trainable_weights) == 2
    assert int(model.optimizer.iterations.numpy()) == 1


# q1 -------------------------------------------------------------------------------------------


def unfreeze_by_hand(base_model: keras.Model) -> None:
    """The whole base trainable, BatchNormalization frozen, written as a loop."""
    base_model.trainable = True
    for layer in base_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False


@pytest.mark.parametrize(
    "optimizer",
    [
        lambda: keras.optimizers.Adam(learning_rate=3e-5),
        lambda: keras.optimizers.Adam(1e-5),
        # A warmup to 1e-4, then a decay: read by calling it, its peak is in range.
        lambda: keras.optimizers.Adam(schedules.warmup_cosine(1e-4, 200, 20)),
    ],
    ids=["3e-5", "1e-5", "warmup to 1e-4"],
)
def test_q1_accepts_right_answers_written_otherwise(optimizer):
    model, base_model = exercises.phase_one_model()
    unfreeze_by_hand(base_model)
    model.compile(optimizer=optimizer(), loss=logits_loss())
    assert exercises.q1.check(model).passed


def q1_answer(mistake: str):
    model, base_model = exercises.phase_one_model()
    if mistake == "no unfreeze":
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=1e-4), loss=logits_loss())
        return model
    if mistake == "whole model trainable":
        base_model.trainable = True  # every layer of the base, BatchNormalization too
        model.trainable = True
    elif mistake == "top 20 only":
        models.unfreeze(base_model, top_layers=20)
    else:
        models.unfreeze(base_model)
    optimizers = {
        "reused optimizer": model.optimizer,
        "head rate": keras.optimizers.Adam(learning_rate=1e-3),
        "zero rate": keras.optimizers.Adam(learning_rate=0.0),
        "negative rate": keras.optimizers.Adam(learning_rate=-1e-4),
        "tiny rate": keras.optimizers.Adam(learning_rate=1e-10),
        "sgd": keras.optimizers.SGD(learning_rate=1e-4),
        "rmsprop": keras.optimizers.RMSprop(learning_rate=1e-4),
        "int-0 schedule": keras.optimizers.Adam(
            keras.optimizers.schedules.CosineDecay(0, 100, warmup_target=1e-4, warmup_steps=10)
        ),
        "schedule peaking at 1e-3": keras.optimizers.Adam(schedules.warmup_cosine(1e-3, 200, 20)),
    }
    optimizer = optimizers.get(mistake, keras.optimizers.Adam(learning_rate=1e-4))
    loss = "sparse_categorical_crossentropy" if mistake == "string loss" else logits_loss()
    model.compile(optimizer=optimizer, loss=loss)
    return model


RATE_RANGE = "phase 2 wants 1e-05 to 0.0001, ten to a hundred times below the head's 0.001."


@pytest.mark.parametrize(
    ("mistake", "message"),
    [
        (
            "no unfreeze",
            "your base is still frozen (none of its layers trains); unfreeze it before compiling.",
        ),
        (
            "whole model trainable",
            "your base has 52 trainable BatchNormalization layers (e.g. 'bn_Conv1'); "
            "keep them frozen, as models.unfreeze does.",
        ),
        (
            "top 20 only",
            "your base has 45 frozen layers with weights besides BatchNorm "
            "(the lowest is 'Conv1'); this question unfreezes the whole base.",
        ),
        (
            "reused optimizer",
            "your optimizer has already taken 1 step: it is the head's optimizer; "
            "compile with a fresh one.",
        ),
        ("head rate", f"your learning rate is 0.001; {RATE_RANGE}"),
        ("zero rate", f"your learning rate is 0, too small for the base to move; {RATE_RANGE}"),
        ("negative rate", "your learning rate goes down to -0.0001; a rate is never negative."),
        (
            "tiny rate",
            f"your learning rate is 1e-10, too small for the base to move; {RATE_RANGE}",
        ),
        (
            "sgd",
            "your optimizer is SGD; the head trained with Adam and the rule of a smaller rate "
            "compares Adam with Adam: compile with keras.optimizers.Adam.",
        ),
        (
            "rmsprop",
            "your optimizer is RMSprop; the head trained with Adam and the rule of a smaller "
            "rate compares Adam with Adam: compile with keras.optimizers.Adam.",
        ),
        ("schedule peaking at 1e-3", f"your schedule's highest rate is 0.001; {RATE_RANGE}"),
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


def test_q1_names_a_schedule_that_raises_when_called():
    feedback = exercises.q1.check(q1_answer("int-0 schedule"))
    assert feedback.outcome == core.INCORRECT
    assert feedback.message.startswith("your learning-rate schedule raises when called (")
    assert feedback.message.endswith("a schedule built from the int 0 computes in ints: write 0.0.")


def test_q1_names_what_is_not_the_practice_model():
    assert_wrong(
        exercises.q1,
        keras.optimizers.Adam(learning_rate=1e-4),
        f"your answer is an Adam; {WHOLE_BASE_WANTED}",
    )
    _, base_model = exercises.phase_one_model()
    models.unfreeze(base_model)
    assert_wrong(
        exercises.q1,
        base_model,
        "your answer is the base alone; pass the whole model (practice_model), "
        "which holds the optimizer.",
    )
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    assert_wrong(
        exercises.q1,
        other,
        "your answer is a Sequential model with 1 layers with weights, not the practice "
        f"MobileNetV2 (104); {WHOLE_BASE_WANTED}",
    )


# q2 -------------------------------------------------------------------------------------------


def test_q2_accepts_the_base_or_the_whole_model_and_a_hand_written_loop():
    model, base_model = exercises.phase_one_model()
    models.unfreeze(base_model, top_layers=exercises.TOP_LAYERS)
    assert exercises.q2.check(model).passed
    _, base_model = exercises.phase_one_model()
    base_model.trainable = True
    for index, layer in enumerate(base_model.layers):
        top = index >= len(base_model.layers) - exercises.TOP_LAYERS
        layer.trainable = top and not isinstance(layer, keras.layers.BatchNormalization)
    assert exercises.q2.check(base_model).passed


def test_q2_looks_inside_the_model_after_model_trainable_is_set():
    model, base_model = exercises.phase_one_model()
    base_model.trainable = True  # every layer of the base, BatchNormalization too
    model.trainable = True
    message = (
        "your base has 52 trainable BatchNormalization layers (e.g. 'bn_Conv1'); "
        "keep them frozen, as models.unfreeze does."
    )
    assert_wrong(exercises.q2, model, message)
    assert_wrong(exercises.q2, base_model, message)


def test_q2_a_frozen_model_freezes_the_base_it_holds():
    model, base_model = exercises.phase_one_model()
    models.unfreeze(base_model, top_layers=exercises.TOP_LAYERS)
    model.trainable = False
    assert_wrong(
        exercises.q2,
        model,
        "your base is still frozen (none of its layers trains); unfreeze its top layers.",
    )


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
        "your base has 7 trainable BatchNormalization layers (e.g. 'block_15_expand_BN'); "
        "keep them frozen, as models.unfreeze does.",
    )


def test_q2_names_a_base_left_frozen():
    _, base_model = exercises.phase_one_model()
    for layer in base_model.layers[-exercises.TOP_LAYERS :]:
        if not isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = True
    assert_wrong(
        exercises.q2,
        base_model,
        "your base is still frozen (none of its layers trains); unfreeze its top layers.",
    )


def test_q2_names_missing_top_layers():
    _, base_model = exercises.phase_one_model()
    models.unfreeze(base_model, top_layers=exercises.TOP_LAYERS)
    base_model.get_layer("Conv_1").trainable = False
    assert_wrong(
        exercises.q2,
        base_model,
        "your base still has 1 frozen layers with weights in the top 20 (e.g. 'Conv_1').",
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


def test_q3_reference_passes_and_ties_are_accepted():
    assert exercises.q3.check((MEASURED, 1e-5, 1e-2)).passed
    tied = comparison({1e-2: 0.17, 1e-4: 0.99, 1e-5: 0.99})
    assert exercises.q3.check((tied, 1e-4, 1e-2)).passed
    assert exercises.q3.check((tied, 1e-5, 1e-2)).passed


def test_q3_accepts_every_pick_that_prints_like_the_best():
    # 0.974 and 0.966 both print as 0.97 in the table: the learner cannot tell them apart.
    near_tie = comparison({1e-2: 0.17, 1e-4: 0.966, 1e-5: 0.974})
    assert exercises.q3.check((near_tie, 1e-4, 1e-2)).passed
    assert exercises.q3.check((near_tie, 1e-5, 1e-2)).passed


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
            (MEASURED, 1e-4, 1e-2),
            "your pick 0.0001 kept 0.98 source accuracy; another rate kept the most (0.99).",
        ),
        (
            (MEASURED, 1e-6, 1e-2),
            "your pick 1e-06 is not one of the compared rates (0.01, 0.001, 0.0001, 1e-05).",
        ),
        (
            (MEASURED, "1e-5", 1e-2),
            "your pick '1e-5' is not one of the compared rates (0.01, 0.001, 0.0001, 1e-05).",
        ),
        (
            (MEASURED, None, None),
            "your pick None is not one of the compared rates (0.01, 0.001, 0.0001, 1e-05).",
        ),
        ((1e-5, 1e-2), "your answer holds 2 objects; pass (comparison, kept_most, lost_most)."),
        (
            ([MEASURED[1]], 1e-5, 1e-2),
            "your comparison holds 1 fine-tuning runs; "
            "pass the list compare() returned, with two rates or more.",
        ),
        (
            ([None, None], 1e-5, 1e-2),
            "your comparison holds 0 fine-tuning runs; "
            "pass the list compare() returned, with two rates or more.",
        ),
        (
            (MEASURED[1], 1e-5, 1e-2),
            "your comparison is an Outcome; pass the list compare() returned.",
        ),
        ((0.5, 1e-5, 1e-2), "your comparison is 0.5; pass the list compare() returned."),
    ],
)
def test_q3_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q3, answer, message)


# q4 -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer", [0.1, np.float32(0.1), np.float64(0.1), np.array(0.1), 0.1004], ids=str
)
def test_q4_accepts_drifts_as_the_lesson_prints_them(answer):
    assert exercises.q4.check(answer).passed


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
            np.float32(0.5),
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


# q5 -------------------------------------------------------------------------------------------


def ratio_run(rate: float, median_ratio: float) -> Outcome:
    """A fine-tuning run whose layers' update/weight ratios have the given median."""
    ratios = {"low": median_ratio / 3, "middle": median_ratio, "high": median_ratio * 3}
    return Outcome(f"{rate:g}", rate, 0.8, 0.9, 0.01, {}, update_ratios=ratios)


# As measured: Adam moves each weight by about the rate, weights are about 0.1 in size.
RATIOS = [
    Outcome("head only", None, 0.79, 0.99, 0.0, {}),
    ratio_run(1e-2, 0.11),
    ratio_run(1e-3, 1.2e-2),
    ratio_run(1e-4, 1.3e-3),
    ratio_run(1e-5, 1.4e-4),
]


def test_q5_accepts_the_nearest_rate_given_as_any_number():
    assert exercises.q5.check((RATIOS, 1e-4)).passed
    assert exercises.q5.check((RATIOS, np.float32(1e-4))).passed
    assert exercises.q5.check((tuple(RATIOS), np.array([1e-4]))).passed


def test_q5_is_graded_against_the_measurement_passed_in():
    # Weights ten times smaller: every ratio ten times larger, and 1e-5 comes nearest.
    smaller_weights = [RATIOS[0]] + [
        ratio_run(row.learning_rate, rate_comparison.typical_update_ratio(row) * 10)
        for row in RATIOS[1:]
    ]
    assert exercises.q5.check((smaller_weights, 1e-5)).passed
    assert not exercises.q5.check((smaller_weights, 1e-4)).passed


def test_q5_accepts_both_rates_of_a_tie_in_decades():
    tie = [ratio_run(1e-3, 2e-3), ratio_run(1e-4, 5e-4)]  # a factor of 2 above, 2 below
    assert exercises.q5.check((tie, 1e-3)).passed and exercises.q5.check((tie, 1e-4)).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            (RATIOS, 1e-2),
            "your pick 0.01 moves its median layer by 1.1e-01 of its size per step, "
            "2.0 decades from 0.001; another rate comes nearer.",
        ),
        (
            (RATIOS, 1e-5),
            "your pick 1e-05 moves its median layer by 1.4e-04 of its size per step, "
            "0.9 decades from 0.001; another rate comes nearer.",
        ),
        (
            (RATIOS, 3e-4),
            "your pick 0.0003 is not one of the compared rates (0.01, 0.001, 0.0001, 1e-05).",
        ),
        (
            (RATIOS, "1e-4"),
            "your pick '1e-4' is not one of the compared rates (0.01, 0.001, 0.0001, 1e-05).",
        ),
        ((RATIOS,), "your answer holds 1 objects; pass (comparison, rate)."),
        (
            (MEASURED, 1e-4),
            "your comparison holds no update/weight ratios; pass the list "
            "rate_comparison.compare() returned in this notebook.",
        ),
        (1e-4, "your answer is 0.0001; pass (comparison, rate)."),
    ],
)
def test_q5_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q5, answer, message)


# Every solution, run as the learner would -------------------------------------------------------


def notebook_namespace() -> dict:
    """The names the notebook has defined when the learner reaches the exercises."""
    return {
        "exercises": exercises,
        "keras": keras,
        "models": models,
        "np": np,
        "rate_comparison": rate_comparison,
        "comparison": RATIOS[:1]
        + [
            Outcome(row.label, row.learning_rate, 0.8, source, 0.01, {}, update_ratios=ratios)
            for row, source, ratios in zip(
                RATIOS[1:],
                (0.2, 0.6, 0.99, 0.99),
                (row.update_ratios for row in RATIOS[1:]),
                strict=True,
            )
        ],
    }


ANSWERS = {
    "q1": lambda names: names["phase_two_model"],
    "q2": lambda names: names["unfrozen_base"],
    "q3": lambda names: (names["comparison"], names["kept_most"], names["lost_most"]),
    "q4": lambda names: names["drift"],
    "q5": lambda names: (names["comparison"], names["nearest_rate"]),
}


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_every_solution_passes_when_run(question):
    names = run_solution(question, notebook_namespace())
    feedback = question.check(ANSWERS[question.name](names))
    assert feedback.passed, feedback


@pytest.mark.parametrize("seed", [-1, 0.5, "0", True])
def test_phase_one_model_rejects_a_bad_seed(seed):
    message = f"seed must be an int >= 0. Received: seed={seed!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        exercises.phase_one_model(seed=seed)
