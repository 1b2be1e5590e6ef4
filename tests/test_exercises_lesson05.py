"""Lesson 05 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import json
import math
import pathlib

import keras
import numpy as np
import pytest

from helpers.exercises import core
from helpers.exercises import lesson05 as exercises
from helpers.finetune import curve_diagnosis

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4]
REFERENCE = {"A": "too high", "B": "diverging", "C": "healthy", "D": "too low", "E": "overfitting"}


def assert_wrong(question: core.Question, answer, message: str) -> None:
    feedback = question.check(answer)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message == message


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_placeholder_is_not_attempted(question):
    assert question.check(core.____).outcome == core.NOT_ATTEMPTED


# q1 -----------------------------------------------------------------------------------------------


def test_the_curves_hold_one_run_per_verdict_by_the_reference():
    verdicts = {
        name: diagnosis.verdict for name, diagnosis in exercises.reference_verdicts().items()
    }
    assert verdicts == REFERENCE and sorted(verdicts.values()) == sorted(curve_diagnosis.VERDICTS)
    assert all(len(losses) >= 12 for losses in exercises.CURVES.values())


def test_the_verdicts_are_the_courses_one_vocabulary():
    assert curve_diagnosis.VERDICTS == (
        "diverging",
        "too high",
        "too low",
        "healthy",
        "overfitting",
    )
    assert set(REFERENCE.values()) == set(curve_diagnosis.VERDICTS)


def test_q1_reference_passes_in_any_case_and_spacing():
    assert exercises.q1.check(dict(REFERENCE)).passed
    assert exercises.q1.check(
        {name: f" {verdict.upper()}" for name, verdict in REFERENCE.items()}
    ).passed


def evidence(name: str) -> str:
    return exercises.reference_verdicts()[name].evidence[0]


def test_q1_names_each_curve_that_is_wrong():
    swapped = {**REFERENCE, "B": "too low", "D": "diverging"}
    assert_wrong(
        exercises.q1,
        swapped,
        f"curve 'B' is diverging, not too low: {evidence('B')}. "
        f"curve 'D' is too low, not diverging: {evidence('D')}.",
    )


def test_q1_names_a_zig_zag_read_as_healthy():
    assert_wrong(
        exercises.q1,
        {**REFERENCE, "A": "healthy"},
        f"curve 'A' is too high, not healthy: {evidence('A')}.",
    )


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            list(REFERENCE.values()),
            "your answer is a list; give a dict from curve name to verdict, e.g. {'A': 'healthy'}.",
        ),
        ({**REFERENCE, "F": "healthy"}, "'F' is not one of the curves (A, B, C, D, E)."),
        (
            {"A": "too high", "B": "diverging", "C": "healthy"},
            "your answer has no verdict for 'D', 'E'; give one for each of A, B, C, D, E.",
        ),
        (
            {**REFERENCE, "A": "oscillating"},
            "your verdict for curve 'A' is 'oscillating'; "
            "use one of 'diverging', 'too high', 'too low', 'healthy', 'overfitting'.",
        ),
        (
            {**REFERENCE, "D": "too small"},
            "your verdict for curve 'D' is 'too small'; "
            "use one of 'diverging', 'too high', 'too low', 'healthy', 'overfitting'.",
        ),
        (
            {**REFERENCE, "C": 1},
            "your verdict for curve 'C' is 1; "
            "use one of 'diverging', 'too high', 'too low', 'healthy', 'overfitting'.",
        ),
    ],
)
def test_q1_wrong_shapes_are_named(answer, message):
    assert_wrong(exercises.q1, answer, message)


def test_q1_hint_plots_the_curves_without_giving_the_verdicts_away():
    assert "show_verdicts=False" in exercises.q1.hint(1).text


# q2 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer", [math.log(4), 1.39, np.float32(math.log(4)), np.log(4)])
def test_q2_reference_passes_and_rounded_values_too(answer):
    assert exercises.q2.check(answer).passed


def test_q2_expects_the_fresh_head_loss_of_curve_diagnosis():
    assert exercises.FRESH_HEAD_LOSS == curve_diagnosis.expected_initial_loss(4) == math.log(4)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            0.25,
            "your initial loss 0.25 is the probability a fresh head gives each class; "
            "the loss is -ln of it.",
        ),
        (
            np.float32(0.25),
            "your initial loss 0.25 is the probability a fresh head gives each class; "
            "the loss is -ln of it.",
        ),
        (
            -math.log(4),
            "your initial loss -1.38629 is negative; "
            "a cross-entropy, -ln(probability), is never below 0.",
        ),
        (
            math.log10(4),
            "your initial loss 0.60206 is log10(4); "
            "Keras's cross-entropy uses the natural logarithm.",
        ),
        (2.0, "your initial loss 2 is log2(4); Keras's cross-entropy uses the natural logarithm."),
        (4, "your initial loss is 4, which is too large."),
        ("ln(4)", "your initial loss is 'ln(4)' (a str); give a number."),
    ],
)
def test_q2_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q2, answer, message)


# q3 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("learning_rate", [1e-4, 3e-5, 1e-5, np.float32(1e-4), np.float64(3e-5)])
def test_q3_accepts_ten_to_a_hundred_times_below_phase_one(learning_rate):
    assert exercises.q3.check(learning_rate).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            1e-3,
            "your learning rate 0.001 is phase 1's 0.001 again: unfrozen, the pretrained base "
            "takes steps sized for a random head and loses its features; "
            "start 10x to 100x lower.",
        ),
        (
            1e-2,
            "your learning rate 0.01 is above phase 1's 0.001: phase 2 moves weights that are "
            "already good, and a larger step wrecks them (the loss jumps); "
            "go 10x to 100x below phase 1.",
        ),
        (
            5e-4,
            "your learning rate 0.0005 is only 2x below phase 1's 0.001; "
            "the pretrained base needs steps 10x to 100x smaller than the new head's.",
        ),
        (
            1e-6,
            "your learning rate 1e-06 is 1000x below phase 1's 0.001: "
            "the loss would barely move in phase 2's few epochs (too low); "
            "stay within 10x to 100x.",
        ),
        (-1e-4, "your learning rate is -0.0001; a learning rate must be positive."),
        ("1e-4", "your learning rate is '1e-4'; give a positive number such as 1e-4."),
        (float("inf"), "your learning rate is inf; give a positive number such as 1e-4."),
        (True, "your learning rate is True; give a positive number such as 1e-4."),
    ],
)
def test_q3_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q3, answer, message)


# q4 -----------------------------------------------------------------------------------------------


def cosine(**overrides) -> keras.optimizers.schedules.CosineDecay:
    arguments = {
        "initial_learning_rate": 0.0,
        "decay_steps": 500,
        "warmup_target": 1e-4,
        "warmup_steps": 50,
    }
    return keras.optimizers.schedules.CosineDecay(**{**arguments, **overrides})


def test_q4_reference_passes_and_warms_up_to_the_peak():
    schedule = cosine()
    assert exercises.q4.check(schedule).passed
    assert float(schedule(0)) == 0.0
    assert float(schedule(50)) == pytest.approx(exercises.PHASE_TWO_PEAK)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            keras.optimizers.schedules.CosineDecay(1e-4, 500),
            "your CosineDecay has no warmup (warmup_target=None, warmup_steps=0); "
            "set warmup_target=0.0001 and warmup_steps > 0.",
        ),
        (cosine(warmup_target=1e-3), "your warmup_target is 0.001; phase 2 peaks at 0.0001."),
        (
            cosine(initial_learning_rate=1e-4),
            "your warmup starts at 0.0001, already at its peak; start from 0.0.",
        ),
        (cosine(decay_steps=1000), "your decay_steps is 1000; phase 2 decays over 500 steps."),
        (
            keras.optimizers.schedules.ExponentialDecay(1e-4, 500, 0.5),
            "your schedule is ExponentialDecay; build keras.optimizers.schedules.CosineDecay.",
        ),
        (
            keras.optimizers.schedules.CosineDecay,
            "your answer is the class CosineDecay itself; call it to build a schedule: "
            f"{exercises.SCHEDULE_EXAMPLE}.",
        ),
        (
            keras.optimizers.Adam(learning_rate=1e-4),
            "your answer is an optimizer (Adam); pass the schedule itself.",
        ),
    ],
)
def test_q4_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q4, answer, message)


def test_the_lesson_plots_the_q1_curves_without_giving_their_verdicts_away():
    notebook = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
    cells = json.loads((notebook / "05_diagnosing_the_learning_rate.ipynb").read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    plots = [source for source in sources if "plot_curves(exercises.CURVES" in source]
    assert plots and all("show_verdicts=False" in source for source in plots)
