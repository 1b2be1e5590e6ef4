"""Lesson 08 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.exercises import core
from helpers.exercises import lesson08 as exercises
from helpers.finetune import distribution, mixed_precision, rate_scaling
from helpers.lessons import batch_scaling, course
from tests.grading import assert_wrong
from tests.solutions import run_solution

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_placeholder_is_not_attempted(question):
    assert question.check(core.____).outcome == core.NOT_ATTEMPTED


# q1 -----------------------------------------------------------------------------------------------


def test_q1_constants_are_the_prompts_setting():
    assert exercises.SGD_RATE == 1e-3
    assert exercises.BASE_BATCH_SIZE == batch_scaling.BASE_BATCH_SIZE == 32
    assert (exercises.GPUS, exercises.IMAGES_PER_GPU) == (4, 32)
    assert exercises.GLOBAL_BATCH_SIZE == distribution.global_batch_size(32, 4) == 128
    assert "1e-3" not in exercises.q1.prompt and "(0.001)" in exercises.q1.prompt
    assert "4 GPUs with 32 images per replica" in exercises.q1.prompt


def test_q1_rate_is_the_courses_linear_rule_and_the_closed_form():
    assert rate_scaling.scaled_learning_rate(1e-3, 32, 128) == exercises.SCALED_RATE
    assert math.isclose(exercises.SCALED_RATE, 1e-3 * 128 / 32, rel_tol=1e-12)
    assert f"{exercises.SCALED_RATE:.3g}" == "0.004"


def test_q1_mistakes_are_not_the_right_rate_and_differ_from_each_other():
    mistakes = [mistake for mistake, _ in exercises.RATE_MISTAKES]
    assert not any(core.matches_number(mistake, exercises.SCALED_RATE) for mistake in mistakes)
    assert len({f"{mistake:.3g}" for mistake in mistakes}) == len(mistakes)
    assert mistakes[0] == rate_scaling.scaled_learning_rate(1e-3, 32, 128, rule="square root")


@pytest.mark.parametrize(
    "answer",
    [
        4e-3,
        0.004,
        np.float32(4e-3),
        np.float64(4e-3),
        1e-3 * 4,
        4.004e-3,
        np.array([4e-3]),
        np.array(0.004),
        tf.constant(4e-3),
    ],
    ids=[
        "float",
        "decimal",
        "float32",
        "float64",
        "product",
        "4.004e-3",
        "one-element array",
        "0-d array",
        "tensor",
    ],
)
def test_q1_accepts_the_rate_at_three_significant_digits(answer):
    assert exercises.q1.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            2e-3,
            "your rate 0.002 follows the square-root rule; the question asks for the linear rule "
            "of Goyal et al., which multiplies the rate by the batch's growth itself, not by its "
            "square root.",
        ),
        (
            1e-3,
            "your rate 0.001 is the one-device rate unchanged; with 4 GPUs of 32 images each, the "
            "global batch is larger than 32, and the rule moves the rate with it.",
        ),
        (
            2.5e-4,
            "your rate 0.00025 divides the one-device rate; a larger batch averages away more of "
            "the gradient's noise, so the linear rule multiplies the rate.",
        ),
        (
            1.6e-2,
            "your rate 0.016 multiplies the one-device rate by the batch's growth squared; the "
            "linear rule multiplies by it once.",
        ),
        (
            0.128,
            "your rate 0.128 multiplies the one-device rate by the global batch itself; the rule "
            "multiplies it by the ratio of the new batch to the old.",
        ),
        (-4e-3, "your rate -0.004 is negative; a learning rate is positive."),
        (
            4.02e-3,
            "your rate is 0.00402, close but not precise enough: give 3 significant digits.",
        ),
        (8e-3, "your rate is 0.008, which is too large."),
        (3e-3, "your rate is 0.003, which is too small."),
        ("4e-3", "your rate is '4e-3' (a str); give a number."),
        (None, "your rate is None (a NoneType); give a number."),
        (float("nan"), "your rate is nan; give a finite number."),
        (10**400, "your rate is inf; give a finite number."),
        ([4e-3, 4e-3], "your rate is a list (a list); give a number."),
        (np.array([4e-3, 1e-3]), "your rate is an array of shape (2,); give one number."),
    ],
    ids=[
        "square-root rule",
        "unchanged",
        "divided",
        "squared",
        "times the global batch",
        "negative",
        "two digits",
        "too large",
        "too small",
        "string",
        "None",
        "nan",
        "huge int",
        "list",
        "two numbers",
    ],
)
def test_q1_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q1, answer, message)


@pytest.mark.parametrize("answer", [2e-3, 1e-3, 2.5e-4, 1.6e-2, 0.128, 3e-3, 4.02e-3, "x"])
def test_q1_feedback_never_shows_the_rate(answer):
    message = exercises.q1.check(answer).message
    assert "0.004," not in message and "0.004 " not in message and "4e-03" not in message
    assert "4x" not in message and "128" not in message.replace("0.128", "")


# q2 -----------------------------------------------------------------------------------------------


def test_q2_count_is_the_global_batch_times_the_accumulation_steps():
    assert (exercises.PER_REPLICA_BATCH_SIZE, exercises.REPLICAS) == (8, 2)
    assert exercises.ACCUMULATION_STEPS == 4
    assert exercises.IMAGES_PER_UPDATE == distribution.global_batch_size(8, 2) * 4 == 64


def test_q2_keras_accumulation_averages_the_steps_gradients_into_one_update():
    """Four accumulated steps on 16 images each update the weights as one step on all 64 do."""
    generator = np.random.default_rng(0)
    features = generator.normal(size=(64, 3)).astype("float32")
    targets = generator.normal(size=(64, 1)).astype("float32")

    def trained_kernel(batch_size: int, **options) -> np.ndarray:
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, use_bias=False)])
        model.layers[0].kernel.assign(np.ones((3, 1), dtype="float32"))
        model.compile(optimizer=keras.optimizers.SGD(0.1, **options), loss="mse")
        model.fit(features, targets, batch_size=batch_size, shuffle=False, epochs=1, verbose=0)
        return keras.ops.convert_to_numpy(model.layers[0].kernel)

    accumulated = trained_kernel(16, gradient_accumulation_steps=4)
    one_batch = trained_kernel(64)
    np.testing.assert_allclose(accumulated, one_batch, rtol=1e-5)
    assert not np.allclose(one_batch, 1.0)


def test_q2_mistakes_are_not_the_right_count():
    mistakes = [mistake for mistake, _ in exercises.COUNT_MISTAKES]
    assert exercises.IMAGES_PER_UPDATE not in mistakes
    assert mistakes[:5] == [16, 32, 8, 4, 2]


@pytest.mark.parametrize(
    "answer",
    [64, 64.0, np.int64(64), np.int32(64), np.float32(64), np.array([64]), 8 * 2 * 4],
    ids=["int", "float", "int64", "int32", "float32", "one-element array", "product"],
)
def test_q2_accepts_the_count(answer):
    assert exercises.q2.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            16,
            "your count 16 is the global batch of one step (8 x 2); it forgets the accumulation: "
            "the optimizer averages the gradients of several steps before it updates the weights.",
        ),
        (
            32,
            "your count 32 counts one replica's images over the accumulated steps; it forgets the "
            "replicas: under MirroredStrategy each step averages the gradients of every replica's "
            "share.",
        ),
        (
            8,
            "your count 8 is one replica's share of one step; the update averages over every "
            "replica and every accumulated step.",
        ),
        (np.int64(4), "your count 4 is the number of accumulated steps, not of images."),
        (2.0, "your count 2 is the number of replicas, not of images."),
        (
            12,
            "your count 12 adds the numbers; replicas and accumulation each multiply the images "
            "an update sees.",
        ),
        (
            14,
            "your count 14 adds the numbers; replicas and accumulation each multiply the images "
            "an update sees.",
        ),
        (64.5, "your count 64.5 is not a whole number; count the images."),
        (-64, "your count -64 is negative; count the images an update averages over."),
        (0, "your count is 0, which is too small."),
        (128, "your count is 128, which is too large."),
        (63, "your count is 63, which is too small."),
        ("64", "your count is '64' (a str); give a number."),
        (float("inf"), "your count is inf; give a finite number."),
    ],
    ids=[
        "no accumulation",
        "no replicas",
        "per replica",
        "accumulation steps",
        "replicas",
        "8 + 4",
        "8 + 2 + 4",
        "not whole",
        "negative",
        "zero",
        "too large",
        "too small",
        "string",
        "inf",
    ],
)
def test_q2_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q2, answer, message)


@pytest.mark.parametrize("answer", [16, 32, 8, 4, 2, 12, 63, 64.5, "x"])
def test_q2_feedback_never_shows_the_count(answer):
    assert "64" not in exercises.q2.check(answer).message.replace("64.5", "")


# q3 -----------------------------------------------------------------------------------------------


def test_q3_rules_are_the_courses_rules_and_the_table_prints_the_exponent_at_two_decimals():
    assert exercises.RULES == rate_scaling.RULES == {"linear": 1.0, "square root": 0.5}
    assert exercises.OPTIMIZER in batch_scaling.OPTIMIZERS
    seeds = [synthetic_seed(0, sgd_exponent=0.8123)]
    assert "exponent: 0.81 (0.81-0.81)" in batch_scaling.format_best_rates(seeds)


def synthetic_seed(seed: int, sgd_exponent: float, adam_exponent: float = 0.3):
    """A `SeedScaling` whose best rates follow `rate ~ batch_size ** exponent` exactly.

    Each run's loss is a parabola in log(rate) around its batch size's best rate, which
    `rate_scaling.best_rate` recovers exactly between grid points.
    """
    runs = []
    for optimizer, exponent, base_rate in (
        ("sgd", sgd_exponent, 4e-3),
        ("adam", adam_exponent, 4e-4),
    ):
        for size in batch_scaling.BATCH_SIZES:
            best = base_rate * (size / batch_scaling.BASE_BATCH_SIZE) ** exponent
            for rate in batch_scaling.LEARNING_RATES[optimizer]:
                loss = 0.3 + math.log2(rate / best) ** 2
                runs.append(batch_scaling.ScalingRun(optimizer, size, rate, loss, 0.9, 1.0))
    return batch_scaling.SeedScaling(seed, tuple(runs), 60.0)


def test_synthetic_seeds_have_the_exponents_they_were_built_with():
    seed_scaling = synthetic_seed(0, sgd_exponent=0.9, adam_exponent=0.3)
    assert batch_scaling.exponents([seed_scaling], "sgd") == [pytest.approx(0.9)]
    assert batch_scaling.exponents([seed_scaling], "adam") == [pytest.approx(0.3)]


@pytest.fixture
def stored_study(monkeypatch, tmp_path):
    """Stores synthetic seeds with the given SGD exponents where the question reads the study."""
    path = tmp_path / "batch_scaling_seeds.json"
    monkeypatch.setattr(batch_scaling, "RESULTS_PATH", path)
    original_load_results = batch_scaling.load_results
    reads = []

    def load_results(results_path=path):
        reads.append(results_path)
        return original_load_results(results_path)

    monkeypatch.setattr(batch_scaling, "load_results", load_results)

    def store(sgd_exponents, adam_exponent: float = 0.3) -> list:
        seeds = [
            synthetic_seed(seed, exponent, adam_exponent)
            for seed, exponent in enumerate(sgd_exponents)
        ]
        path.write_text(batch_scaling.to_json(seeds, run={}), encoding="utf-8")
        return reads

    return store


LINEAR_STUDY = (0.93, 1.05, 0.88)  # mean 0.95
SQUARE_ROOT_STUDY = (0.41, 0.62, 0.55)  # mean 0.53
STUDIES = {"linear": LINEAR_STUDY, "square root": SQUARE_ROOT_STUDY}


@pytest.mark.parametrize(
    ("exponents", "answer"),
    [
        (LINEAR_STUDY, "linear"),
        (LINEAR_STUDY, "Linear"),
        (LINEAR_STUDY, " Linear rule "),
        (LINEAR_STUDY, "the linear scaling rule"),
        (LINEAR_STUDY, "LINEAR"),
        (LINEAR_STUDY, np.str_("linear")),
        (SQUARE_ROOT_STUDY, "square root"),
        (SQUARE_ROOT_STUDY, "square-root"),
        (SQUARE_ROOT_STUDY, "Square root rule"),
        (SQUARE_ROOT_STUDY, "sqrt"),
        (SQUARE_ROOT_STUDY, "sqrt rule"),
        (SQUARE_ROOT_STUDY, "squareroot"),
        (SQUARE_ROOT_STUDY, "the square-root scaling rule"),
    ],
)
def test_q3_accepts_the_closer_rule_however_it_is_written(stored_study, exponents, answer):
    stored_study(exponents)
    assert exercises.q3.check(answer).passed


def test_q3_is_graded_against_the_stored_numbers_not_a_constant(stored_study):
    for exponents, right in ((LINEAR_STUDY, "linear"), (SQUARE_ROOT_STUDY, "square root")):
        stored_study(exponents)
        assert [exercises.q3.check(rule).passed for rule in exercises.RULES] == [
            rule == right for rule in exercises.RULES
        ]


@pytest.mark.parametrize(
    ("exponents", "right"),
    [
        ((1.6,), "linear"),  # steeper than both rules
        ((0.1,), "square root"),  # flatter than both
        ((0.76,), "linear"),
        ((0.74,), "square root"),
        ((-0.2,), "square root"),
    ],
)
def test_q3_the_closer_rule_wins_even_outside_the_two_rules(stored_study, exponents, right):
    stored_study(exponents)
    for rule in exercises.RULES:
        assert exercises.q3.check(rule).passed == (rule == right), rule


def test_q3_both_rules_are_right_when_the_printed_exponent_lies_halfway(stored_study):
    stored_study((0.7, 0.8))  # mean 0.75, halfway between 0.5 and 1
    assert exercises.q3.check("linear").passed
    assert exercises.q3.check("square root").passed


def test_q3_grades_sgd_not_adam(stored_study):
    stored_study(LINEAR_STUDY, adam_exponent=0.5)
    assert exercises.q3.check("linear").passed
    stored_study(SQUARE_ROOT_STUDY, adam_exponent=1.0)
    assert exercises.q3.check("square root").passed


def test_q3_reads_the_study_when_checking_never_before(stored_study):
    reads = stored_study(LINEAR_STUDY)
    assert reads == []
    exercises.q3.check("linear")
    exercises.q3.check("sqrt")
    exercises.q3.check("neither")  # not a rule: nothing to read
    assert reads == [batch_scaling.RESULTS_PATH] * 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            "square root",
            "your rule 'square root' (exponent 0.5) lies farther from the best rates measured for "
            "SGD with momentum than the other rule. Look again at section 1: which rule's line do "
            "the best rates follow in the plot, and which rule's exponent is the table's fitted "
            "exponent closer to?",
        ),
        (
            "sqrt",
            "your rule 'square root' (exponent 0.5) lies farther from the best rates measured for "
            "SGD with momentum than the other rule. Look again at section 1: which rule's line do "
            "the best rates follow in the plot, and which rule's exponent is the table's fitted "
            "exponent closer to?",
        ),
        (
            "neither",
            "your answer 'neither' is not one of the rules: 'linear' or 'square root'; the "
            "question asks which of the two the measurements follow more closely.",
        ),
        (
            "both",
            "your answer 'both' is not one of the rules: 'linear' or 'square root'; the question "
            "asks which of the two the measurements follow more closely.",
        ),
        (
            "quadratic",
            "your answer 'quadratic' is not one of the rules: 'linear' or 'square root'; the "
            "question asks which of the two the measurements follow more closely.",
        ),
        (
            "",
            "your answer '' is not one of the rules: 'linear' or 'square root'; the question asks "
            "which of the two the measurements follow more closely.",
        ),
        (
            1.0,
            "your answer is 1; give one of the rules as a string: 'linear' or 'square root'.",
        ),
        (
            ["linear"],
            "your answer is a list; give one of the rules as a string: 'linear' or 'square root'.",
        ),
        (
            None,
            "your answer is None; give one of the rules as a string: 'linear' or 'square root'.",
        ),
    ],
)
def test_q3_wrong_answers_are_named(stored_study, answer, message):
    stored_study(LINEAR_STUDY)
    assert_wrong(exercises.q3, answer, message)


@pytest.mark.parametrize("study", STUDIES)
def test_q3_feedback_never_states_the_measured_exponent_or_the_right_rule(stored_study, study):
    stored_study(STUDIES[study])
    mean = float(np.mean(STUDIES[study]))
    wrong = next(rule for rule in exercises.RULES if rule != study)
    message = exercises.q3.check(wrong).message
    assert f"{mean:.2f}" not in message and f"{mean:.1f}" not in message
    assert repr(study) not in message


def test_q3_a_missing_study_is_said_to_be_missing(monkeypatch, tmp_path):
    absent = tmp_path / "batch_scaling_seeds.json"
    monkeypatch.setattr(batch_scaling, "RESULTS_PATH", absent)
    assert_wrong(
        exercises.q3,
        "linear",
        f"your rule 'linear' cannot be checked yet: the stored study, {absent}, is missing; "
        "scripts/batch_scaling_seeds.py writes it.",
    )
    assert_wrong(
        exercises.q3,
        "neither",
        "your answer 'neither' is not one of the rules: 'linear' or 'square root'; the question "
        "asks which of the two the measurements follow more closely.",
    )


def test_q3_names_a_missing_study_in_the_course_folder_by_its_relative_path(monkeypatch):
    assert batch_scaling.RESULTS_PATH == course.COURSE_ROOT / "data" / "batch_scaling_seeds.json"
    monkeypatch.setattr(batch_scaling, "RESULTS_PATH", course.COURSE_ROOT / "data" / "no.json")
    assert_wrong(
        exercises.q3,
        "sqrt",
        "your rule 'square root' cannot be checked yet: the stored study, data/no.json, is "
        "missing; scripts/batch_scaling_seeds.py writes it.",
    )


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "(JSONDecodeError: Expecting value: line 1 column 1 (char 0))."),
        ('{"runs": []}', "(KeyError: 'seeds')."),
        ('{"seeds": []}', "(ValueError: seeds must be a list or tuple of at least 1 item."),
    ],
    ids=["not JSON", "no seeds key", "no seeds"],
)
def test_q3_an_unreadable_study_is_named(monkeypatch, tmp_path, text, reason):
    path = tmp_path / "batch_scaling_seeds.json"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setattr(batch_scaling, "RESULTS_PATH", path)
    message = exercises.q3.check("linear").message
    assert message.startswith(
        f"your rule 'linear' cannot be checked: the stored study, {path}, cannot be read "
    )
    assert reason in message


def test_q3_a_study_without_sgd_runs_is_named(stored_study, monkeypatch):
    stored_study(LINEAR_STUDY)
    seeds = batch_scaling.load_results()
    adam_only = [
        batch_scaling.SeedScaling(
            seed.seed, tuple(run for run in seed.runs if run.optimizer == "adam"), seed.seconds
        )
        for seed in seeds
    ]
    batch_scaling.RESULTS_PATH.write_text(batch_scaling.to_json(adam_only, run={}))
    message = exercises.q3.check("linear").message
    assert "cannot be read (ValueError: batch_sizes must be" in message


@pytest.mark.skipif(
    not batch_scaling.RESULTS_PATH.exists(), reason="the stored study is not written yet"
)
def test_q3_right_answer_is_the_rule_closer_to_the_stored_mean_exponent():
    seeds = batch_scaling.load_results()
    mean = float(np.mean(batch_scaling.exponents(seeds, "sgd")))
    distances = {
        rule: abs(round(mean, 2) - exponent) for rule, exponent in rate_scaling.RULES.items()
    }
    for rule, distance in distances.items():
        assert exercises.q3.check(rule).passed == (distance <= min(distances.values()) + 1e-9)
    assert sum(exercises.q3.check(rule).passed for rule in distances) >= 1
    printed = f"exponent: {mean:.2f}"
    assert printed in batch_scaling.format_best_rates(seeds).split("Adam")[0]


# q4 -----------------------------------------------------------------------------------------------


def test_q4_spacing_is_numpys_the_courses_and_the_closed_form():
    assert exercises.FLOAT16_SPACING == float(np.spacing(np.float16(1.0))) == 2.0**-10
    assert float(mixed_precision.weight_spacing(1.0, "float16")) == exercises.FLOAT16_SPACING
    assert float(np.finfo(np.float16).eps) == exercises.FLOAT16_SPACING
    assert np.float16(1.0) + np.float16(exercises.FLOAT16_SPACING) > np.float16(1.0)
    assert f"{exercises.FLOAT16_SPACING:.3g}" == "0.000977"


def test_q4_updates_below_half_the_spacing_vanish_as_the_hint_says():
    half = exercises.FLOAT16_SPACING / 2
    one = np.float16(1.0)
    assert one + np.float16(half * 1.01) != one  # a little above half the gap: it survives
    assert one + np.float16(half * 0.99) == one  # a little below: it rounds away
    assert mixed_precision.vanished_updates(1.0, exercises.PHASE_TWO_UPDATE) == 1.0
    assert mixed_precision.vanished_updates(1.0, exercises.PHASE_TWO_UPDATE, "float32") == 0.0
    assert round(half / exercises.PHASE_TWO_UPDATE, -1) == 50  # "about 50 times smaller"
    assert "about 50 times smaller" in exercises.q4.hints[-1]
    assert mixed_precision.vanished_updates(1.0, 1e-4) == 1.0  # "updates of 1e-5 to 1e-4"


def test_q4_mistakes_are_the_other_spacings_and_not_the_right_one():
    spacings = [mistake for mistake, _ in exercises.SPACING_MISTAKES]
    assert spacings[:4] == [
        2.0**-11,
        float(np.spacing(np.float32(1.0))),
        float(np.spacing(np.float64(1.0))),
        float(np.spacing(np.array(1.0, dtype=tf.bfloat16.as_numpy_dtype))),
    ]
    assert spacings[4:] == [2.0**-14, 2.0**-24]  # float16's smallest normal and subnormal
    assert not any(core.matches_number(value, exercises.FLOAT16_SPACING) for value in spacings)


@pytest.mark.parametrize(
    "answer",
    [
        0.000977,
        9.77e-4,
        2**-10,
        1 / 1024,
        np.spacing(np.float16(1.0)),
        np.finfo(np.float16).eps,
        np.float32(0.000977),
        np.array([9.77e-4]),
        tf.constant(2**-10, dtype=tf.float16),
    ],
    ids=[
        "decimal",
        "scientific",
        "power of two",
        "fraction",
        "np.spacing",
        "epsilon",
        "float32",
        "one-element array",
        "float16 tensor",
    ],
)
def test_q4_accepts_the_spacing_at_three_significant_digits(answer):
    assert exercises.q4.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            4.88e-4,
            "your spacing 0.000488 is half the spacing: the threshold below which an update added "
            "to 1.0 rounds away (to the nearest float16), and the gap down to the float16 just "
            "below 1.0; the question asks for the gap up to the next larger one.",
        ),
        (
            1.19e-7,
            "your spacing 1.19e-07 is float32's spacing at 1.0; float16 keeps far fewer bits "
            "after the binary point, so its numbers lie much farther apart.",
        ),
        (
            np.finfo(np.float64).eps,
            "your spacing 2.22045e-16 is float64's spacing at 1.0; float16 keeps far fewer bits "
            "after the binary point, so its numbers lie much farther apart.",
        ),
        (
            7.81e-3,
            "your spacing 0.00781 is bfloat16's spacing at 1.0; bfloat16 keeps 7 bits after the "
            "binary point, float16 more.",
        ),
        (
            np.spacing(np.array(1.0, dtype=tf.bfloat16.as_numpy_dtype)),
            "your spacing 0.0078125 is bfloat16's spacing at 1.0; bfloat16 keeps 7 bits after "
            "the binary point, float16 more.",
        ),
        (
            6.10e-5,
            "your spacing 6.1e-05 is float16's smallest normal number; the spacing grows with the "
            "number, and the question asks for it at 1.0.",
        ),
        (
            5.96e-8,
            "your spacing 5.96e-08 is float16's smallest positive number, its spacing at 0; the "
            "spacing grows with the number, and the question asks for it at 1.0.",
        ),
        (
            -9.77e-4,
            "your spacing -0.000977 is negative; the spacing is a gap between two numbers, give "
            "its size.",
        ),
        (
            9.8e-4,
            "your spacing is 0.00098, close but not precise enough: give 3 significant digits.",
        ),
        (1e-3, "your spacing is 0.001, which is too large."),
        (1e-5, "your spacing is 1e-05, which is too small."),
        ("0.000977", "your spacing is '0.000977' (a str); give a number."),
        (float("-inf"), "your spacing is -inf; give a finite number."),
        (np.array([9.77e-4, 9.77e-4]), "your spacing is an array of shape (2,); give one number."),
    ],
    ids=[
        "half the spacing",
        "float32",
        "float64",
        "bfloat16",
        "bfloat16 value",
        "smallest normal",
        "smallest subnormal",
        "negative",
        "two digits",
        "too large",
        "too small",
        "string",
        "-inf",
        "two numbers",
    ],
)
def test_q4_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q4, answer, message)


@pytest.mark.parametrize("answer", [4.88e-4, 1.19e-7, 7.81e-3, 6.1e-5, 5.96e-8, 1e-3, 9.8e-4, "x"])
def test_q4_feedback_never_shows_the_spacing(answer):
    message = exercises.q4.check(answer).message
    assert "0.000977" not in message and "9.77e-04" not in message and "2**-10" not in message


# Every question's solution, run as the learner would, in the names the notebook has defined.


def notebook_namespace() -> dict:
    """What lesson 08 has defined when the learner reaches the exercises."""
    return {
        "np": np,
        "exercises": exercises,
        "batch_scaling": batch_scaling,
        "distribution": distribution,
        "rate_scaling": rate_scaling,
    }


ANSWERS = {
    "q1": lambda names: names["rate"],
    "q2": lambda names: names["images_per_update"],
    "q3": lambda names: names["rule"],
    "q4": lambda names: names["spacing"],
}


def test_every_question_is_covered():
    assert [question.name for question in QUESTIONS] == list(ANSWERS)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_every_solution_passes_when_run(stored_study, question):
    stored_study(LINEAR_STUDY)
    names = run_solution(question, notebook_namespace())
    feedback = question.check(ANSWERS[question.name](names))
    assert feedback.passed, feedback


@pytest.mark.parametrize("study", STUDIES)
def test_q3_solution_passes_on_other_studies(stored_study, study):
    stored_study(STUDIES[study])
    names = run_solution(exercises.q3, notebook_namespace())
    assert names["rule"] == study
    assert exercises.q3.check(ANSWERS["q3"](names)).passed


@pytest.mark.skipif(
    not batch_scaling.RESULTS_PATH.exists(), reason="the stored study is not written yet"
)
def test_q3_solution_passes_on_the_stored_study():
    names = run_solution(exercises.q3, notebook_namespace())
    assert exercises.q3.check(ANSWERS["q3"](names)).passed


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_every_question_has_two_hints_or_more(question):
    assert len(question.hints) >= 2


# Odd inputs beyond those every lesson meets (tests/test_exercises_any_input.py finds lesson 08's
# questions by itself): each is named by the question's own feedback, never the last resort.
ODD_ANSWERS = {
    "huge int": lambda: 10**400,
    "huge negative int": lambda: -(10**400),
    "huge float": lambda: 1e308,
    "float32 nan": lambda: np.float32("nan"),
    "numpy int": lambda: np.int64(7),
    "numpy bool": lambda: np.True_,
    "bool": lambda: True,
    "empty array": lambda: np.array([]),
    "object": object,
    "complex": lambda: 4e-3 + 1j,
    "bytes": lambda: b"linear",
    "numpy str": lambda: np.str_("neither"),
    "list of None": lambda: [None, None, None],
    "dict": lambda: {"rate": 4e-3},
    "function": lambda: math.sqrt,
    "class": lambda: float,
}


@pytest.mark.parametrize("kind", ODD_ANSWERS)
@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_odd_answers_get_the_questions_own_feedback(stored_study, question, kind):
    stored_study(LINEAR_STUDY)
    feedback = question.check(ODD_ANSWERS[kind]())
    assert feedback.outcome == core.INCORRECT, feedback
    assert feedback.message.startswith("your "), feedback
    assert "which this question cannot check" not in feedback.message, feedback
