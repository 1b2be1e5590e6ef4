"""Lesson 05 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import json
import math
import pathlib

import keras
import numpy as np
import pytest

from helpers.exercises import core
from helpers.exercises import lesson05 as exercises
from helpers.finetune import curve_diagnosis, lr_finder, lr_suggestions, schedules, two_phase
from tests.grading import assert_wrong
from tests.solutions import run_solution

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4, exercises.q5]
REFERENCE = {"A": "too high", "B": "diverging", "C": "healthy", "D": "too low", "E": "overfitting"}


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


def test_q1_says_how_many_are_wrong_and_why_the_first_one_does_not_fit():
    swapped = {**REFERENCE, "B": "too low", "D": "diverging"}
    assert_wrong(
        exercises.q1,
        swapped,
        "2 of your 5 verdicts are wrong. The first: you called curve 'B' too low, but "
        "a curve trained too low barely falls (less than 10% over the run). "
        "Look at its plot again.",
    )


def test_q1_names_a_zig_zag_read_as_healthy():
    assert_wrong(
        exercises.q1,
        {**REFERENCE, "A": "healthy"},
        "1 of your 5 verdicts is wrong. The first: you called curve 'A' healthy, but "
        "a healthy curve falls steadily and flattens, without jumps. Look at its plot again.",
    )


def test_q1_all_wrong_is_counted_without_the_key():
    wrong_verdicts = ["diverging", "healthy", "too low", "overfitting", "too high"]
    shifted = dict(zip(REFERENCE, wrong_verdicts, strict=True))
    feedback = exercises.q1.check(shifted)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message.startswith("5 of your 5 verdicts are wrong. The first: you called ")


@pytest.mark.parametrize("curve", sorted(REFERENCE))
@pytest.mark.parametrize("verdict", curve_diagnosis.VERDICTS)
def test_q1_feedback_never_names_the_right_verdict_of_a_wrong_curve(curve, verdict):
    if verdict == REFERENCE[curve]:
        return
    message = exercises.q1.check({**REFERENCE, curve: verdict}).message
    others = [other for other in curve_diagnosis.VERDICTS if other != verdict]
    assert not [other for other in others if other in message], message
    assert f"curve {curve!r} {verdict}" in message  # it names what the learner gave


@pytest.mark.parametrize(
    "answer",
    [
        {"E": "Overfitting", "D": "too low ", "C": "HEALTHY", "B": "Diverging", "A": "Too High"},
        dict(sorted(REFERENCE.items(), reverse=True)),
    ],
    ids=["mixed case, reordered", "reversed"],
)
def test_q1_right_answers_written_differently_pass(answer):
    assert exercises.q1.check(answer).passed


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


@pytest.mark.parametrize(
    "learning_rate", [1e-4, np.float32(1e-4), np.float64(1e-3 / 10), 0.0001, 1.2e-4, 6e-5]
)
def test_q3_accepts_the_rule_as_the_lesson_prints_it(learning_rate):
    # "1e-4" has one significant digit: the one number policy accepts 5e-5 to 1.5e-4.
    assert exercises.q3.check(learning_rate).passed


def test_q3_expects_the_rule_of_two_phase():
    assert exercises.PHASE_TWO_RATE == two_phase.FINE_TUNE_LEARNING_RATE == 1e-4
    assert exercises.PHASE_ONE_RATE == two_phase.HEAD_LEARNING_RATE == 1e-3
    assert core.matches_number(1.49e-4, 1e-4, significant_digits=1)
    assert not core.matches_number(1.51e-4, 1e-4, significant_digits=1)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            1e-3,
            "your learning rate 0.001 is phase 1's 0.001 again: unfrozen, the pretrained base "
            "takes steps sized for a random head and loses its features; go lower.",
        ),
        (
            1e-2,
            "your learning rate 0.01 is above phase 1's 0.001: phase 2 moves weights that are "
            "already good, and a larger step wrecks them (the loss jumps); go lower.",
        ),
        (
            5e-4,
            "your learning rate 0.0005 is only 2x below phase 1's 0.001: the pretrained base "
            "needs smaller steps than a new head (see the rule in section 3).",
        ),
        (
            1e-5,
            "your learning rate 1e-05 is 100x below phase 1's 0.001: phase 2's few epochs "
            "barely move the loss at that rate (too low); see the rule in section 3.",
        ),
        (
            np.float32(1e-6),
            "your learning rate 1e-06 is 1,000x below phase 1's 0.001: phase 2's few epochs "
            "barely move the loss at that rate (too low); see the rule in section 3.",
        ),
        (-1e-4, "your learning rate is -0.0001; a learning rate must be positive."),
        ("1e-4", "your learning rate is '1e-4'; give a positive number such as 0.01."),
        (float("inf"), "your learning rate is inf; give a positive number such as 0.01."),
        (True, "your learning rate is True; give a positive number such as 0.01."),
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
    rates = schedules.rates_at(schedule, [0, 25, 50, 300, 550, 600])
    np.testing.assert_allclose(rates, [0.0, 5e-5, 1e-4, 5e-5, 0.0, 0.0], atol=1e-11)


class ReferenceByHand(keras.optimizers.schedules.LearningRateSchedule):
    """The same rates written out: a linear warmup, then half a cosine (a learner's own class)."""

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        warmup = 1e-4 * step / 50
        progress = keras.ops.minimum((step - 50) / 500, 1.0)
        decay = 1e-4 * 0.5 * (1 + keras.ops.cos(math.pi * progress))
        return keras.ops.where(step < 50, warmup, decay)


@pytest.mark.parametrize(
    "schedule",
    [
        schedules.warmup_cosine(1e-4, 550, warmup_steps=50),
        keras.optimizers.schedules.CosineDecay(
            0.0, np.int64(500), alpha=1e-4, warmup_target=np.float32(1e-4), warmup_steps=50
        ),
        ReferenceByHand(),
    ],
    ids=["warmup_cosine", "numpy arguments, tiny alpha", "own class"],
)
def test_q4_right_schedules_written_differently_pass(schedule):
    assert exercises.q4.check(schedule).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            keras.optimizers.schedules.CosineDecay(1e-4, 500),
            "your CosineDecay starts at its highest rate, 0.0001: it has no warmup; "
            "start from 0.0 and rise to the peak.",
        ),
        (
            cosine(initial_learning_rate=1e-4),
            "your CosineDecay starts at its highest rate, 0.0001: it has no warmup; "
            "start from 0.0 and rise to the peak.",
        ),
        (
            cosine(alpha=1.0),
            "your schedule is still at 0.0001 at step 550, 100% of its peak: "
            "it does not decay to near 0.",
        ),
        (
            cosine(warmup_steps=600),
            "your schedule reaches its peak at step 600; warm up over 50 steps.",
        ),
        (
            cosine(warmup_steps=100),
            "your schedule reaches its peak at step 100; warm up over 50 steps.",
        ),
        (
            cosine(initial_learning_rate=-1e-4),
            "your schedule gives -0.0001 at step 0; a rate is never negative.",
        ),
        (
            cosine(initial_learning_rate=1e-5),
            "your schedule starts at 1e-05 at step 0; start the warmup from 0.0.",
        ),
        (
            cosine(warmup_target=1e-3),
            "your schedule peaks at 0.001 (step 50); phase 2 peaks at 1e-4.",
        ),
        (
            cosine(decay_steps=1000),
            "your schedule is still at 5e-05 at step 550, 50% of its peak: "
            "it does not decay to near 0.",
        ),
        (
            cosine(decay_steps=300),
            "your schedule gives 9.97e-05 at step 60: its decay does not last 500 steps after "
            "the warmup, as half a cosine.",
        ),
        (
            keras.optimizers.schedules.ExponentialDecay(1e-4, 500, 0.5),
            "your ExponentialDecay starts at its highest rate, 0.0001: it has no warmup; "
            "start from 0.0 and rise to the peak.",
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


def test_q4_an_int_zero_start_that_raises_when_called_is_named():
    # Lesson 02's pitfall: with the int 0 and a warmup, Keras computes in ints and raises.
    feedback = exercises.q4.check(cosine(initial_learning_rate=0))
    assert feedback.outcome == core.INCORRECT
    assert feedback.message.startswith("your schedule raises when called at a step (TypeError: ")
    assert feedback.message.endswith(
        "so training would stop at its first step. "
        "Its start is the int 0: Keras then computes in ints; write 0.0."
    )


def test_q4_an_int_zero_start_without_a_warmup_stays_at_zero():
    assert_wrong(
        exercises.q4,
        keras.optimizers.schedules.CosineDecay(0, 500),
        "your CosineDecay starts at its highest rate, 0: it has no warmup; "
        "start from 0.0 and rise to the peak.",
    )


# q5 -----------------------------------------------------------------------------------------------


def range_test(
    center: float = 4.0, blow_up: float = 300.0, stop: int = 64
) -> lr_finder.RangeTestResult:
    """A range test's curve in closed form: flat, a fall around 10**-center, then a blow-up."""
    rates = lr_suggestions.exponential_rates(1e-7, 10.0, 100)[:stop]
    losses = 1.4 - 0.5 * np.tanh(np.log10(rates) + center) + blow_up * rates
    suggestions = lr_suggestions.suggest(rates, losses, num_steps=100) if stop > 10 else {}
    return lr_finder.RangeTestResult(rates, losses, losses, 100, True, suggestions)


PHASE_TWO = range_test()
VALLEY = PHASE_TWO.suggestions["valley"]


def test_q5_the_closed_form_test_has_a_valley_below_its_minimum():
    # The suggestions of this curve: valley 1.5e-5, minimum / 10 4.3e-5 (the minimum at 4.3e-4).
    assert round(VALLEY, 6) == 1.5e-5
    assert round(PHASE_TWO.suggestions["minimum_tenth"], 6) == 4.3e-5


@pytest.mark.parametrize(
    "answer",
    [
        (VALLEY, PHASE_TWO),
        [np.float32(2 * VALLEY), PHASE_TWO],
        (VALLEY / 2, PHASE_TWO),
        (np.array(2.9 * VALLEY), PHASE_TWO),
    ],
    ids=["valley", "list, float32, 2x", "half", "0-d array, 2.9x"],
)
def test_q5_a_rate_within_three_times_of_the_measured_valley_passes(answer):
    assert exercises.q5.check(answer).passed


def test_q5_is_checked_against_the_measurement_not_a_constant():
    # The same rate passes one measurement and fails another: the check reads the curve passed in.
    other = range_test(center=2.5, blow_up=10.0, stop=82)  # valley 8.1e-5
    rate = other.suggestions["valley"]
    assert exercises.q5.check((rate, other)).passed
    assert not exercises.q5.check((rate, PHASE_TWO)).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            (1e-3, PHASE_TWO),
            "your learning rate 0.001 is at or above the rate where your range test's smoothed "
            "loss is lowest: from there on the loss blows up; go lower.",
        ),
        (
            (1e-4, PHASE_TWO),
            "your learning rate 0.0001 is more than 3x above your range test's valley "
            "suggestion: too bold for pretrained weights.",
        ),
        (
            (1e-6, PHASE_TWO),
            "your learning rate 1e-06 is more than 3x below your range test's valley suggestion: "
            "phase 2's few epochs would barely move the loss.",
        ),
        (
            (-1e-5, PHASE_TWO),
            "your learning rate is -1e-05; give a positive number.",
        ),
        (("1e-5", PHASE_TWO), "your learning rate is '1e-5'; give a positive number."),
        (
            (1e-3, range_test(center=2.0)),
            "your range test's valley is 4.9e-03, as large as a new head's rate: that is the "
            "test before phase 1 (phase_one); give the one on the unfrozen model.",
        ),
        (
            (1e-5, range_test(stop=8)),
            "your range test has no suggestions (it ran 8 steps); run it with more steps.",
        ),
        (
            (1e-5, PHASE_TWO.suggestions),
            "your range test is a dict; give the result of lr_finder.find_learning_rate on the "
            "unfrozen model (phase_two) as the second item.",
        ),
        (
            1e-5,
            "your answer is 1e-05; give a pair (learning_rate, phase_two): your rate and the "
            "range test you ran before phase 2.",
        ),
    ],
)
def test_q5_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q5, answer, message)


# Every question's solution, run as the learner would, in the names the notebook has defined.


def notebook_namespace() -> dict:
    """What lesson 05 has defined when the learner reaches the exercises (phase_two: a stand-in
    of the same type; tests/test_claims_lesson05.py checks q5 on real range tests)."""
    return {
        "math": math,
        "keras": keras,
        "np": np,
        "curve_diagnosis": curve_diagnosis,
        "schedules": schedules,
        "exercises": exercises,
        "phase_two": PHASE_TWO,
    }


ANSWERS = {
    "q1": lambda names: names["verdicts"],
    "q2": lambda names: names["initial_loss"],
    "q3": lambda names: names["learning_rate"],
    "q4": lambda names: names["schedule"],
    "q5": lambda names: (names["learning_rate"], names["phase_two"]),
}


def test_every_question_is_covered():
    assert [question.name for question in QUESTIONS] == list(ANSWERS)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_every_solution_passes_when_run(question):
    names = run_solution(question, notebook_namespace())
    feedback = question.check(ANSWERS[question.name](names))
    assert feedback.passed, feedback


def test_the_lesson_plots_the_q1_curves_without_giving_their_verdicts_away():
    notebook = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
    cells = json.loads((notebook / "05_diagnosing_the_learning_rate.ipynb").read_text())["cells"]
    sources = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
    plots = [source for source in sources if "plot_curves(exercises.CURVES" in source]
    assert plots and all("show_verdicts=False" in source for source in plots)


@pytest.mark.parametrize(
    "answer", [1e-4, "cosine", None, keras.optimizers.schedules.CosineDecay, [0.0, 1e-4]]
)
def test_q4_feedback_never_shows_the_schedules_arguments(answer):
    message = exercises.q4.check(answer).message
    solution = exercises.q4.solution().text
    assert "warmup_target" in solution and "warmup_target" not in message
    assert "500" not in message and "warmup_steps" not in message
