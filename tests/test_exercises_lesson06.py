"""Lesson 06 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import dataclasses
import inspect
import math
import types

import keras
import numpy as np
import pytest

from helpers.exercises import core
from helpers.exercises import lesson06 as exercises
from helpers.finetune import two_phase
from helpers.lessons import target_task
from tests.grading import assert_wrong
from tests.solutions import run_solution

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_placeholder_is_not_attempted(question):
    assert question.check(core.____).outcome == core.NOT_ATTEMPTED


# q1 -----------------------------------------------------------------------------------------------


def test_q1_constants_are_the_courses_rates_and_adamws_default_decay():
    assert exercises.PHASE_TWO_RATE == two_phase.FINE_TUNE_LEARNING_RATE == 1e-4
    assert exercises.HEAD_RATE == two_phase.HEAD_LEARNING_RATE == 1e-3
    assert exercises.WEIGHT_DECAY == keras.optimizers.AdamW().weight_decay == 0.004
    assert exercises.DECAY_WEIGHT == 0.5
    assert math.isclose(exercises.DECAY_SHRINK, 2e-7, rel_tol=1e-12)


def test_q1_closed_form_is_what_keras_adamw_does_in_one_step():
    # A zero gradient leaves Adam's own step at 0, so the change is the decay alone (float64:
    # in float32 a change of 2e-7 on 0.5 is only a few units in the last place).
    variable = keras.Variable(np.array([exercises.DECAY_WEIGHT]), dtype="float64")
    optimizer = keras.optimizers.AdamW(
        learning_rate=exercises.PHASE_TWO_RATE, weight_decay=exercises.WEIGHT_DECAY
    )
    optimizer.apply_gradients([(keras.ops.zeros_like(variable), variable)])
    shrink = exercises.DECAY_WEIGHT - float(keras.ops.convert_to_numpy(variable)[0])
    assert shrink == pytest.approx(exercises.DECAY_SHRINK, rel=1e-6)
    assert exercises.q1.check(shrink).passed


@pytest.mark.parametrize(
    "answer",
    [2e-7, np.float32(2e-7), np.float64(2e-7), 2.0e-7 + 1e-10, 2.004e-7, np.array([2e-7])],
    ids=["float", "float32", "float64", "3 digits", "2.004e-7", "one-element array"],
)
def test_q1_accepts_the_shrink_at_three_significant_digits(answer):
    assert exercises.q1.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            2e-6,
            "your shrink 2e-06 uses phase 1's rate, 0.001; the decay in phase 2 runs at phase 2's "
            "rate, exercises.PHASE_TWO_RATE.",
        ),
        (
            2e-3,
            "your shrink 0.002 is weight * weight_decay alone; Keras also multiplies the decay by "
            "the learning rate.",
        ),
        (
            0.002,
            "your shrink 0.002 is weight * weight_decay alone; Keras also multiplies the decay by "
            "the learning rate.",
        ),
        (
            4e-7,
            "your shrink 4e-07 is weight_decay * learning_rate alone; the decay takes that "
            "fraction of the weight, so multiply by the weight too.",
        ),
        (
            -2e-7,
            "your shrink -2e-07 is negative; a shrink is a positive amount, what the weight loses.",
        ),
        (
            0.4999998,
            "your shrink 0.5 is about the weight itself: give by how much one step changes it, "
            "not the weight after the step.",
        ),
        (
            2.01e-7,
            "your shrink is 2.01e-07, close but not precise enough: give 3 significant digits.",
        ),
        (2.1e-6, "your shrink is 2.1e-06, which is too large."),
        (0, "your shrink is 0, which is too small."),
        ("2e-7", "your shrink is '2e-7' (a str); give a number."),
        (float("nan"), "your shrink is nan; give a finite number."),
        (10**400, "your shrink is inf; give a finite number."),
        (np.array([2e-7, 2e-7]), "your shrink is an array of shape (2,); give one number."),
    ],
)
def test_q1_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q1, answer, message)


@pytest.mark.parametrize("answer", [2e-6, 2e-3, 4e-7, 0.4999998, 3e-7, 1e-7, "2e-7"])
def test_q1_feedback_never_shows_the_shrink(answer):
    assert "2e-07" not in exercises.q1.check(answer).message


# q2 -----------------------------------------------------------------------------------------------


def early_stopping(**overrides) -> keras.callbacks.EarlyStopping:
    arguments = {"monitor": "val_loss", "patience": 3, "restore_best_weights": True}
    return keras.callbacks.EarlyStopping(**{**arguments, **overrides})


def test_q2_counts_the_validation_images_of_the_target_task():
    defaults = inspect.signature(target_task.prepare_data).parameters
    assert defaults["validation_count"].default == exercises.VALIDATION_IMAGES == 200


def test_q2_reads_the_arguments_keras_stores_under_their_own_names():
    callback = early_stopping(patience=4, mode="min")
    stored = {
        "monitor": callback.monitor,
        "patience": callback.patience,
        "restore_best_weights": callback.restore_best_weights,
        "mode": callback.mode,
    }
    assert stored == {
        "monitor": "val_loss",
        "patience": 4,
        "restore_best_weights": True,
        "mode": "min",
    }


@pytest.mark.parametrize(
    "callback",
    [
        early_stopping(),
        early_stopping(patience=1),
        early_stopping(patience=10, mode="min"),
        early_stopping(patience=np.int64(5), restore_best_weights=np.True_),
        keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True),  # monitor's default
        early_stopping(patience=3.0, min_delta=1e-3, verbose=1),
    ],
    ids=["patience 3", "patience 1", "patience 10, min", "numpy", "default monitor", "3.0"],
)
def test_q2_accepts_right_callbacks_written_differently(callback):
    assert exercises.q2.check(callback).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            keras.callbacks.EarlyStopping,
            "your answer is the class EarlyStopping itself; call it to build an EarlyStopping "
            "callback: keras.callbacks.EarlyStopping(...).",
        ),
        (
            "val_loss",
            "your answer is 'val_loss'; give an EarlyStopping callback such as "
            "keras.callbacks.EarlyStopping(...).",
        ),
        (
            [early_stopping()],
            "your answer is a list holding the callback; pass the callback itself.",
        ),
        (
            keras.callbacks.ReduceLROnPlateau(),
            "your callback is a ReduceLROnPlateau; phase 2 needs an EarlyStopping callback: "
            "keras.callbacks.EarlyStopping(...).",
        ),
        (
            early_stopping(monitor="loss"),
            "your callback monitors 'loss', measured on the training data: it keeps improving "
            "while the model overfits, so it never says when to stop; watch the validation loss.",
        ),
        (
            early_stopping(monitor="val_accuracy"),
            "your callback monitors 'val_accuracy'; this lesson chooses on the validation loss: "
            "on 200 validation images accuracy moves in steps of 0.5% and often ties, while the "
            "loss shows every change.",
        ),
        (
            early_stopping(monitor="validation_loss"),
            "your callback monitors 'validation_loss', which is not how fit() names the "
            "validation loss; print history.history.keys() to see the names it logs.",
        ),
        (
            early_stopping(restore_best_weights=False),
            "your callback has restore_best_weights=False: the model then keeps the weights of "
            "the last epoch, which come after the best one.",
        ),
        (
            keras.callbacks.EarlyStopping(patience=3),
            "your callback has restore_best_weights=False: the model then keeps the weights of "
            "the last epoch, which come after the best one.",
        ),
        (
            early_stopping(restore_best_weights="yes"),
            "your callback has restore_best_weights='yes'; give True or False.",
        ),
        (
            early_stopping(patience=0),
            "your callback has patience=0: it stops at the first epoch that does not improve, so "
            "one noisy epoch ends phase 2; let it wait a few epochs.",
        ),
        (
            early_stopping(patience=50),
            "your callback has patience=50: it waits longer than phase 2's few epochs last, so "
            "it would never stop early; let it wait a few epochs.",
        ),
        (
            early_stopping(patience=2.5),
            "your callback has patience=2.5; give a whole number of epochs to wait without "
            "improvement.",
        ),
        (
            early_stopping(patience=10**400),
            "your callback has patience=inf; give a whole number of epochs to wait without "
            "improvement.",
        ),
        (
            early_stopping(mode="max"),
            "your callback has mode='max', so it waits for the validation loss to rise; a loss "
            "improves when it falls.",
        ),
    ],
    ids=[
        "class",
        "string",
        "list",
        "other callback",
        "loss",
        "val_accuracy",
        "unknown name",
        "restore False",
        "restore default",
        "restore str",
        "patience 0",
        "patience 50",
        "patience 2.5",
        "patience huge",
        "mode max",
    ],
)
def test_q2_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q2, answer, message)


# q3 -----------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    """What the notebook's phase 2 at a too-high rate returns, as far as q3 reads it."""

    validation_losses: list[float]
    head_validation_loss: float
    best_epoch: int


# Phase 2 hurt from its first epoch: its best (epoch 2) is still above the head's 0.62.
HURT = Run([0.71, 0.66, 0.93, 1.2], head_validation_loss=0.62, best_epoch=2)
# Phase 2 helped: its best (epoch 3) is below the head's 0.62.
HELPED = types.SimpleNamespace(
    validation_losses=[0.6, 0.55, 0.52, 0.58, 0.7], head_validation_loss=0.62, best_epoch=3
)
# Epochs 2 and 4 tie at the lowest loss; EarlyStopping restores the first.
TIED = Run([0.9, 0.7, 0.8, 0.7, 1.0], head_validation_loss=0.75, best_epoch=2)


@pytest.mark.parametrize(
    "answer",
    [
        (2, False, HURT),
        [np.int64(2), np.False_, HURT],
        (3, True, HELPED),
        (np.int32(3), np.bool_(True), HELPED),
        (3.0, True, HELPED),
        (2, True, TIED),
        (4, True, TIED),
        (2, False, Run(np.array([0.9, 0.8, 1.1], dtype="float32"), np.float32(0.7), 2)),
        (1, False, Run([0.8], head_validation_loss=0.7, best_epoch=1)),
    ],
    ids=[
        "hurt",
        "hurt, numpy",
        "helped",
        "helped, numpy",
        "helped, 3.0",
        "tie, first",
        "tie, second",
        "float32 array",
        "one epoch",
    ],
)
def test_q3_accepts_the_reading_of_the_learners_own_run(answer):
    assert exercises.q3.check(answer).passed


def test_q3_is_checked_against_the_run_passed_not_a_constant():
    assert exercises.q3.check((3, True, HELPED)).passed
    assert not exercises.q3.check((3, True, HURT)).passed
    assert exercises.q3.check((2, False, HURT)).passed
    assert not exercises.q3.check((2, False, HELPED)).passed


def test_q3_ignores_nan_epochs_when_finding_the_lowest():
    run = Run([0.8, 0.7, float("nan"), float("inf")], head_validation_loss=0.6, best_epoch=2)
    assert exercises.q3.check((2, False, run)).passed
    for epoch, loss in ((3, "nan"), (4, "inf")):
        assert_wrong(
            exercises.q3,
            (epoch, False, run),
            f"your best epoch {epoch} has a validation loss of {loss}, not a finite loss; "
            "read run.validation_losses again.",
        )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            (3, False, HURT),
            "your best epoch 3: epoch 3's validation loss, 0.93, is higher than another epoch's; "
            "read run.validation_losses again.",
        ),
        (
            (1, False, HURT),
            "your best epoch 1 looks like a 0-based index: epochs count from 1, so "
            "run.validation_losses[0] is epoch 1.",
        ),
        (
            (np.int64(2), True, HELPED),
            "your best epoch 2 looks like a 0-based index: epochs count from 1, so "
            "run.validation_losses[0] is epoch 1.",
        ),
        (
            (9, False, HURT),
            "your best epoch 9 is not an epoch of your run: its phase 2 ran 4 epochs, 1 to 4.",
        ),
        (
            (2.5, False, HURT),
            "your best epoch is 2.5; give a whole number, 1 for phase 2's first epoch.",
        ),
        (
            (10**400, False, HURT),
            "your best epoch is inf; give a whole number, 1 for phase 2's first epoch.",
        ),
        (
            ("2", False, HURT),
            "your best epoch is '2'; give a whole number, 1 for phase 2's first epoch.",
        ),
        (
            (2, True, HURT),
            "your phase_two_helped is True; compare the lowest of run.validation_losses with "
            "run.head_validation_loss again. EarlyStopping restores the best epoch of phase 2, "
            "never the model as it was before phase 2.",
        ),
        (
            (3, False, HELPED),
            "your phase_two_helped is False; compare the lowest of run.validation_losses with "
            "run.head_validation_loss (the loss after phase 1) again: a lower loss is better.",
        ),
        ((2, "False", HURT), "your phase_two_helped is 'False'; give True or False."),
        ((2, 0, HURT), "your phase_two_helped is 0; give True or False."),
        (
            (2, False, {"val_loss": HURT.validation_losses}),
            "your run is a dict, which has no validation_losses and no head_validation_loss; "
            "pass run, what the notebook's phase 2 at the too-high rate returned, as the third "
            "item.",
        ),
        (
            (2, False, types.SimpleNamespace(validation_losses=[0.7])),
            "your run is a SimpleNamespace, which has no head_validation_loss; pass run, what the "
            "notebook's phase 2 at the too-high rate returned, as the third item.",
        ),
        (
            (HURT, 2, False),
            "your answer starts with the run; pass (best_epoch, phase_two_helped, run), "
            "in this order.",
        ),
        (
            (2, False),
            "your answer holds 2 objects; pass (best_epoch, phase_two_helped, run).",
        ),
        (2, "your answer is 2; pass (best_epoch, phase_two_helped, run)."),
        (
            (2, False, Run([], 0.6, 1)),
            "your run's validation_losses is a list; pass the run the notebook's phase 2 "
            "returned: it holds one validation loss per epoch.",
        ),
        (
            (2, False, Run([0.7, "0.6"], 0.6, 1)),
            "your run's validation_losses holds '0.6', not a loss; pass the run the notebook's "
            "phase 2 returned.",
        ),
        (
            (2, False, Run([0.7, 0.6], None, 2)),
            "your run's head_validation_loss is None; pass the run the notebook's phase 2 "
            "returned.",
        ),
        (
            (2, False, Run([float("nan")] * 3, 0.6, 1)),
            "your run's validation losses are all nan or infinite: phase 2 diverged; run it "
            "again before you read it.",
        ),
    ],
)
def test_q3_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q3, answer, message)


@pytest.mark.parametrize("best_epoch", [1, 3, 4])
def test_q3_feedback_never_names_the_right_epoch(best_epoch):
    message = exercises.q3.check((best_epoch, False, HURT)).message
    assert "epoch 2" not in message and "0.66" not in message


# q4 -----------------------------------------------------------------------------------------------


def test_q4_constants_give_the_penalty_of_the_lesson():
    assert exercises.PRETRAINED.tolist() == [0.2, -0.1, 0.05]
    assert exercises.TUNED.tolist() == [0.25, -0.1, 0.0]
    assert exercises.L2_SP_STRENGTH == 0.01
    # 0.01 * (0.05 ** 2 + 0 ** 2 + 0.05 ** 2)
    assert math.isclose(exercises.L2_SP_PENALTY, 5e-5, rel_tol=1e-12)


@pytest.mark.parametrize(
    "answer",
    [5e-5, np.float64(5e-5), np.float32(5e-5), 5.004e-5, np.array(5e-5), 0.00005],
    ids=["float", "float64", "float32", "3 digits", "0-d array", "decimal"],
)
def test_q4_accepts_the_penalty_at_three_significant_digits(answer):
    assert exercises.q4.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            7.25e-4,
            "your penalty 0.000725 is the plain L2 penalty of the tuned weights, which pulls them "
            "towards 0; L2-SP pulls them towards their pretrained values.",
        ),
        (
            5.25e-4,
            "your penalty 0.000525 is the plain L2 penalty of the pretrained weights; L2-SP "
            "penalises how far the tuned weights moved from them.",
        ),
        (
            0.005,
            "your penalty 0.005 is the sum of squares without the strength; multiply by "
            "exercises.L2_SP_STRENGTH.",
        ),
        (
            1e-3,
            "your penalty 0.001 sums absolute differences (an L1 penalty); square each "
            "difference instead.",
        ),
        (
            0,
            "your penalty 0 sums the signed differences, which cancel out; square each "
            "difference before summing.",
        ),
        (
            7.07e-4,
            "your penalty 0.000707 takes the square root of the sum (a distance); the penalty is "
            "the sum of squares itself.",
        ),
        (
            1.67e-5,
            "your penalty 1.67e-05 averages the squared differences; the penalty sums them.",
        ),
        (
            [2.5e-5, 0.0, 2.5e-5],
            "your penalty is a list holding 3 numbers, one per weight; the penalty sums them "
            "into one number.",
        ),
        (
            np.array([2.5e-5, 0.0, 2.5e-5]),
            "your penalty is an array of shape (3,) holding 3 numbers, one per weight; the "
            "penalty sums them into one number.",
        ),
        (-5e-5, "your penalty -5e-05 is negative; a sum of squares is never below 0."),
        (6e-5, "your penalty is 6e-05, which is too large."),
        ("5e-5", "your penalty is '5e-5' (a str); give a number."),
    ],
)
def test_q4_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q4, answer, message)


def test_q4_the_signed_sum_computed_in_floats_is_named_too():
    signed = exercises.L2_SP_STRENGTH * np.sum(exercises.TUNED - exercises.PRETRAINED)
    assert signed != 0  # float rounding leaves about -1e-21
    assert "cancel out" in exercises.q4.check(signed).message


# Every question's solution, run as the learner would, in the names the notebook has defined.


def notebook_namespace() -> dict:
    """What lesson 06 has defined when the learner reaches the exercises (run: a stand-in with
    the attributes of the notebook's phase 2 at a too-high rate)."""
    return {"keras": keras, "np": np, "exercises": exercises, "run": HURT}


ANSWERS = {
    "q1": lambda names: names["shrink"],
    "q2": lambda names: names["early_stopping"],
    "q3": lambda names: (names["best_epoch"], names["phase_two_helped"], names["run"]),
    "q4": lambda names: names["penalty"],
}


def test_every_question_is_covered():
    assert [question.name for question in QUESTIONS] == list(ANSWERS)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_every_solution_passes_when_run(question):
    names = run_solution(question, notebook_namespace())
    feedback = question.check(ANSWERS[question.name](names))
    assert feedback.passed, feedback


@pytest.mark.parametrize("run", [HELPED, TIED], ids=["helped", "tie"])
def test_q3_solution_passes_on_other_runs(run):
    names = run_solution(exercises.q3, {**notebook_namespace(), "run": run})
    assert exercises.q3.check(ANSWERS["q3"](names)).passed


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_every_question_has_two_hints_or_more(question):
    assert len(question.hints) >= 2


# Odd inputs beyond those every lesson meets (tests/test_exercises_any_input.py finds lesson 06's
# questions by itself): each is named by the question's own feedback, never the last resort.
ODD_ANSWERS = {
    "huge int": lambda: 10**400,
    "huge negative int": lambda: -(10**400),
    "huge float": lambda: 1e308,
    "float32 nan": lambda: np.float32("nan"),
    "numpy int": lambda: np.int64(7),
    "numpy bool": lambda: np.True_,
    "empty array": lambda: np.array([]),
    "object": object,
    "complex": lambda: 2e-7 + 1j,
    "list of None": lambda: [None, None, None],
    "triple of huge ints": lambda: (10**400, 10**400, 10**400),
    "nan best epoch": lambda: (float("nan"), True, HURT),
    "huge best epoch": lambda: (10**400, True, HURT),
    "huge patience": lambda: early_stopping(patience=10**400),
}


@pytest.mark.parametrize("kind", ODD_ANSWERS)
@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_odd_answers_get_the_questions_own_feedback(question, kind):
    feedback = question.check(ODD_ANSWERS[kind]())
    assert feedback.outcome == core.INCORRECT, feedback
    assert feedback.message.startswith("your "), feedback
    assert "which this question cannot check" not in feedback.message, feedback
