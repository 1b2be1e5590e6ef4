"""Lesson 07 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import functools
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.exercises import core
from helpers.exercises import lesson07 as exercises
from helpers.finetune import discriminative_rates, layer_groups, optimizers, stages, two_phase
from helpers.lessons import course, recipes_over_seeds
from tests.grading import assert_wrong
from tests.solutions import run_solution

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_placeholder_is_not_attempted(question):
    assert question.check(core.____).outcome == core.NOT_ATTEMPTED


# q1 -----------------------------------------------------------------------------------------------


def test_q1_constants_are_the_courses_rates_and_ulmfits_factor():
    assert exercises.HEAD_RATE == two_phase.HEAD_LEARNING_RATE == 1e-3
    assert exercises.PHASE_TWO_RATE == two_phase.FINE_TUNE_LEARNING_RATE == 1e-4
    assert exercises.ULMFIT_FACTOR == discriminative_rates.ULMFIT_FACTOR == 2.6
    assert exercises.GROUP_NAMES == layer_groups.GROUP_NAMES


def test_q1_the_group_sits_three_groups_below_the_head_as_the_prompt_says():
    names = layer_groups.GROUP_NAMES
    assert names[-4:] == ("blocks 6-12", "blocks 13-16", "top", "head")
    assert exercises.GROUPS_BELOW_HEAD[exercises.GROUP] == 3
    assert "head -> top -> blocks 13-16 -> blocks 6-12" in exercises.q1.prompt


def test_q1_rate_is_the_courses_group_rates_and_the_closed_form():
    rates = discriminative_rates.group_rates(layer_groups.GROUP_NAMES, top_rate=1e-3)
    assert rates["blocks 6-12"] == exercises.GROUP_RATE
    assert math.isclose(exercises.GROUP_RATE, 1e-3 / 2.6**3, rel_tol=1e-12)
    assert f"{exercises.GROUP_RATE:.3g}" == "5.69e-05"


@pytest.mark.parametrize(
    "answer",
    [
        5.69e-5,
        np.float32(5.69e-5),
        np.float64(5.69e-5),
        1e-3 / 2.6**3,
        5.694e-5,
        np.array([5.69e-5]),
        0.0000569,
    ],
    ids=["float", "float32", "float64", "exact", "5.694e-5", "one-element array", "decimal"],
)
def test_q1_accepts_the_rate_at_three_significant_digits(answer):
    assert exercises.q1.check(answer).passed


def test_q1_accepts_the_value_group_rates_gives():
    rates = discriminative_rates.group_rates(layer_groups.GROUP_NAMES, exercises.HEAD_RATE)
    assert exercises.q1.check(rates["blocks 6-12"]).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            1e-3 / 2.6**2,
            "your rate 0.000147929 is the rate of 'blocks 13-16', 2 groups below the head; "
            "'blocks 6-12' is 3 groups below it.",
        ),
        (
            1e-3 / 2.6**4,
            "your rate 2.1883e-05 is the rate of 'blocks 3-5', 4 groups below the head; "
            "'blocks 6-12' is 3 groups below it.",
        ),
        (
            3.85e-4,
            "your rate 0.000385 is the rate of 'top', 1 group below the head; 'blocks 6-12' is 3 "
            "groups below it.",
        ),
        (
            1e-3 / 2.6**6,
            "your rate 3.23713e-06 is the rate of 'stem', 6 groups below the head; 'blocks 6-12' "
            "is 3 groups below it.",
        ),
        (
            1e-3 * 2.6**3,
            "your rate 0.017576 multiplies the head's rate by 2.6 per group; lower groups train "
            "slower, so divide.",
        ),
        (
            1e-3 / (2.6 * 3),
            "your rate 0.000128205 divides the head's rate by 2.6 * 3; each group divides the "
            "rate of the group above it once more, so the divisions multiply.",
        ),
        (
            1e-3,
            "your rate 0.001 is the head's own rate; each group below the head trains 2.6 times "
            "slower than the group above it.",
        ),
        (-5.69e-5, "your rate -5.69e-05 is negative; a learning rate is positive."),
        (5.7e-5, "your rate is 5.7e-05, close but not precise enough: give 3 significant digits."),
        (8e-5, "your rate is 8e-05, which is too large."),
        (1e-5, "your rate is 1e-05, which is too small."),
        ("5.69e-5", "your rate is '5.69e-5' (a str); give a number."),
        (float("nan"), "your rate is nan; give a finite number."),
        (10**400, "your rate is inf; give a finite number."),
        (
            discriminative_rates.group_rates(layer_groups.GROUP_NAMES, 1e-3),
            "your rate is a dict of rates; give the one number for 'blocks 6-12'.",
        ),
        (np.array([5.69e-5, 1e-3]), "your rate is an array of shape (2,); give one number."),
    ],
    ids=[
        "two divisions",
        "four divisions",
        "one division",
        "six divisions",
        "multiplied",
        "2.6 * 3",
        "head's rate",
        "negative",
        "two digits",
        "too large",
        "too small",
        "string",
        "nan",
        "huge int",
        "dict of rates",
        "two numbers",
    ],
)
def test_q1_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q1, answer, message)


@pytest.mark.parametrize("answer", [1e-3 / 2.6**2, 1e-3 / 2.6**4, 1e-3 * 2.6**3, 1e-3, 6e-5, "x"])
def test_q1_feedback_never_shows_the_rate(answer):
    message = exercises.q1.check(answer).message
    assert "5.69e-05" not in message and "5.68958e-05" not in message


# q2 -----------------------------------------------------------------------------------------------


def test_q2_adams_constants_are_keras_defaults():
    config = keras.optimizers.Adam().get_config()
    assert (config["beta_1"], config["beta_2"]) == (exercises.ADAM_BETA_1, exercises.ADAM_BETA_2)
    assert exercises.GRADIENT == 0.03


def test_q2_step_is_keras_adams_closed_form():
    # Keras's Adam: alpha = lr * sqrt(1 - beta_2 ** t) / (1 - beta_1 ** t), and the step is
    # alpha * m / (sqrt(v) + epsilon), with m and v the uncorrected averages.
    learning_rate, gradient = exercises.PHASE_TWO_RATE, exercises.GRADIENT
    beta_1, beta_2, epsilon = 0.9, 0.999, keras.optimizers.Adam().get_config()["epsilon"]
    alpha = learning_rate * math.sqrt(1 - beta_2) / (1 - beta_1)
    m, v = (1 - beta_1) * gradient, (1 - beta_2) * gradient**2
    expected = alpha * m / (math.sqrt(v) + epsilon)
    assert math.isclose(exercises.ADAM_FIRST_STEP, expected, rel_tol=1e-5)
    assert f"{exercises.ADAM_FIRST_STEP:.2e}" == "1.00e-04"


@pytest.mark.parametrize("gradient", [3e-3, 0.3, 30.0])
def test_q2_adams_first_step_is_about_the_rate_whatever_the_gradient(gradient):
    step = exercises.adam_first_step(gradient, exercises.PHASE_TWO_RATE)
    assert step == pytest.approx(exercises.PHASE_TWO_RATE, rel=1e-2)


@pytest.mark.parametrize(
    "answer",
    [
        1e-4,
        1.00e-4,
        0.0001,
        np.float32(1e-4),
        np.float64(exercises.ADAM_FIRST_STEP),
        np.array(1e-4),
        1e-4 * 0.03 / (0.03 + 1e-7),  # the textbook form, epsilon added to sqrt(v_hat)
        9.999e-5,
    ],
    ids=["1e-4", "1.00e-4", "decimal", "float32", "measured", "0-d array", "textbook", "9.999e-5"],
)
def test_q2_accepts_the_step_at_three_significant_digits(answer):
    assert exercises.q2.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            3e-6,
            "your step 3e-06 is SGD's step, learning_rate * gradient; Adam first scales the "
            "gradient by its own running averages.",
        ),
        (
            9e-8,
            "your step 9e-08 multiplies the rate by the squared gradient; Adam takes the square "
            "root of the squared gradients' average and divides by it.",
        ),
        (
            1e-4 / 0.03,
            "your step 0.00333333 divides the rate by the gradient; Adam's ratio "
            "m_hat / sqrt(v_hat) has the gradient both above and below the line.",
        ),
        (
            0.03,
            "your step 0.03 is the gradient itself; the step is the learning rate times Adam's "
            "ratio m_hat / sqrt(v_hat).",
        ),
        (
            1e-3,
            "your step 0.001 uses the head's rate; this Adam runs at phase 2's rate, "
            "exercises.PHASE_TWO_RATE.",
        ),
        (
            3.16e-4,
            "your step 0.000316 leaves out Adam's bias correction: after one step m and v still "
            "hold most of their zero start, so Keras divides them by (1 - beta_1 ** step) and "
            "(1 - beta_2 ** step).",
        ),
        (
            -1e-4,
            "your step -0.0001 is negative: the weight moves down, but the question asks how far "
            "it moves, a distance; give its absolute value.",
        ),
        (1.1e-4, "your step is 0.00011, which is too large."),
        (5e-5, "your step is 5e-05, which is too small."),
        (
            9.99e-5,
            "your step is 9.99e-05, close but not precise enough: give 3 significant digits.",
        ),
        ("1e-4", "your step is '1e-4' (a str); give a number."),
        (float("inf"), "your step is inf; give a finite number."),
        ([1e-4, 1e-4], "your step is a list (a list); give a number."),
    ],
    ids=[
        "SGD",
        "squared gradient",
        "rate over gradient",
        "gradient",
        "head's rate",
        "no bias correction",
        "negative",
        "too large",
        "too small",
        "truncated",
        "string",
        "inf",
        "list",
    ],
)
def test_q2_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q2, answer, message)


@pytest.mark.parametrize("answer", [3e-6, 9e-8, 0.03, 3.16e-4, 2e-4, 5e-5, 9.99e-5, "x"])
def test_q2_feedback_never_shows_the_step(answer):
    message = exercises.q2.check(answer).message
    assert "0.0001," not in message and "9.99888e-05" not in message and "1e-04" not in message


# q3 -----------------------------------------------------------------------------------------------


def make_adam():
    return keras.optimizers.Adam(learning_rate=1e-4)


def make_built_adam():
    optimizer = keras.optimizers.Adam(learning_rate=1e-4)
    optimizer.build([keras.Variable(np.zeros(1, dtype="float32"))])
    return optimizer


SHARED_ADAM = keras.optimizers.Adam(learning_rate=1e-4)
RIGHT_FUNCTIONS = {
    "def": make_adam,
    "lambda": lambda: keras.optimizers.Adam(1e-4),
    "lambda, keyword": lambda: keras.optimizers.Adam(learning_rate=1e-4),
    "course helper": lambda: optimizers.make_optimizer("adam", 1e-4),
    "partial": functools.partial(keras.optimizers.Adam, 1e-4),
    "float32 rate": lambda: keras.optimizers.Adam(float(np.float32(1e-4))),
    "exercises constant": lambda: keras.optimizers.Adam(exercises.PHASE_TWO_RATE),
}


@pytest.mark.parametrize("name", RIGHT_FUNCTIONS)
def test_q3_accepts_functions_that_build_a_new_adam(name):
    assert exercises.q3.check(RIGHT_FUNCTIONS[name]).passed


def once_then_raise():
    optimizers_left = iter([keras.optimizers.Adam(1e-4)])
    return lambda: next(optimizers_left)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            keras.optimizers.Adam(1e-4),
            "your make_optimizer is an optimizer itself (Adam), not a function: gradual_unfreeze "
            "calls make_optimizer() to get a new optimizer for each stage. Pass a function that "
            "builds one.",
        ),
        (
            lambda: SHARED_ADAM,
            "your make_optimizer returns the same optimizer at every call: Keras binds an "
            "optimizer to the variables it first trained, so each stage needs a fresh one. Build "
            "the optimizer inside the function.",
        ),
        (
            lambda: "adam",
            "your make_optimizer returns the string 'adam'; each stage compiles with the object "
            "it returns, and fit_stage needs a Keras optimizer, not its name.",
        ),
        (
            lambda: keras.optimizers.SGD(1e-4),
            "your make_optimizer returns SGD; the question asks for Adam.",
        ),
        (
            lambda: keras.optimizers.RMSprop(1e-4),
            "your make_optimizer returns RMSprop; the question asks for Adam.",
        ),
        (
            lambda: keras.optimizers.AdamW(1e-4),
            "your make_optimizer returns AdamW; the question asks for Adam.",
        ),
        (
            lambda: keras.optimizers.Adam(1e-3),
            "your make_optimizer's Adam has learning rate 0.001, the head's rate in phase 1; the "
            "stages fine-tune the base at phase 2's rate, exercises.PHASE_TWO_RATE.",
        ),
        (
            keras.optimizers.Adam,
            "your make_optimizer's Adam has learning rate 0.001, the head's rate in phase 1; the "
            "stages fine-tune the base at phase 2's rate, exercises.PHASE_TWO_RATE.",
        ),
        (
            lambda: keras.optimizers.Adam(1e-5),
            "your make_optimizer's learning rate is 1e-05, which is too small.",
        ),
        (
            lambda: keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-4, 100)),
            "your make_optimizer's Adam follows a schedule (CosineDecay); the question asks for "
            "the constant rate exercises.PHASE_TWO_RATE.",
        ),
        (
            lambda learning_rate: keras.optimizers.Adam(learning_rate),
            "your make_optimizer raises when called (TypeError: <lambda>() missing 1 required "
            "positional argument: 'learning_rate'); gradual_unfreeze calls make_optimizer(), with "
            "no arguments, once per stage.",
        ),
        (
            lambda: keras.optimizers.Adam(1e-4) / 2,
            "your make_optimizer raises when called (TypeError: unsupported operand type(s) for "
            "/: 'Adam' and 'int'); gradual_unfreeze calls make_optimizer(), with no arguments, "
            "once per stage.",
        ),
        (
            once_then_raise(),
            "your make_optimizer raises on its second call (StopIteration); gradual_unfreeze "
            "calls make_optimizer(), with no arguments, once per stage.",
        ),
        (
            make_built_adam,
            "your make_optimizer returns an optimizer that is already built (it has trained "
            "variables), and fit_stage refuses it: Keras binds an optimizer to the variables it "
            "first trained. Build a new one at each call.",
        ),
        (
            lambda: None,
            "your make_optimizer returns None: a def needs a return statement; return a new "
            "Keras optimizer.",
        ),
        (
            lambda: keras.optimizers.Adam,
            "your make_optimizer returns the class Adam itself; call the class inside the "
            "function to build an optimizer.",
        ),
        (lambda: 1e-4, "your make_optimizer returns 0.0001; return a new Keras optimizer."),
        (
            "adam",
            "your make_optimizer is 'adam'; give a function of no arguments that returns a new "
            "Keras optimizer.",
        ),
        (
            keras.Sequential([keras.layers.Dense(2)]),
            "your make_optimizer is a Sequential; give a function of no arguments that returns a "
            "new Keras optimizer.",
        ),
    ],
    ids=[
        "optimizer instance",
        "same instance",
        "string returned",
        "SGD",
        "RMSprop",
        "AdamW",
        "head's rate",
        "Adam class",
        "too small",
        "schedule",
        "needs an argument",
        "raises",
        "second call raises",
        "built",
        "returns None",
        "returns a class",
        "returns a number",
        "string",
        "model",
    ],
)
def test_q3_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q3, answer, message)


def test_q3_names_a_learning_rate_given_as_a_function_without_a_warning(recwarn):
    assert_wrong(
        exercises.q3,
        lambda: keras.optimizers.Adam(make_learning_rate),
        "your make_optimizer's Adam follows a schedule (a function); the question asks for the "
        "constant rate exercises.PHASE_TWO_RATE.",
    )
    assert [str(warning.message) for warning in recwarn] == []


def make_learning_rate():
    return 1e-4


def test_q3_accepted_function_trains_two_stages_where_a_shared_optimizer_is_refused():
    """What q3 grades is what stages.fit_stage needs: a new optimizer at every stage."""
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    batches = tf.data.Dataset.from_tensor_slices((np.eye(2), [0, 1])).batch(2)
    for stage in range(2):
        stages.fit_stage(model, make_adam(), batches, None, stage, 1, verbose=0)
    shared = keras.optimizers.Adam(1e-4)
    stages.fit_stage(model, shared, batches, None, 2, 1, verbose=0)
    with pytest.raises(ValueError, match="optimizer must be fresh"):
        stages.fit_stage(model, shared, batches, None, 3, 1, verbose=0)
    assert not exercises.q3.check(lambda: shared).passed


# q4 -----------------------------------------------------------------------------------------------


def test_q4_options_are_the_batchnorm_options_of_the_studys_runs():
    batchnorm_of = {recipe.label: recipe.batchnorm for recipe in recipes_over_seeds.recipes()}
    assert {option: batchnorm_of[label] for option, label in exercises.BATCHNORM_RUNS.items()} == {
        "frozen": "frozen",
        "trainable": "trainable",
        "re-estimated": "re-estimated",
    }
    recipe_of = {recipe.label: recipe for recipe in recipes_over_seeds.recipes()}
    compared = [recipe_of[label] for label in exercises.BATCHNORM_RUNS.values()]
    assert {(recipe.kind, recipe.start, recipe.learning_rate) for recipe in compared} == {
        ("uniform", "probe", 1e-4)
    }


def test_q4_names_a_missing_study_in_the_course_folder_by_its_relative_path(monkeypatch):
    assert recipes_over_seeds.RESULTS_PATH == course.COURSE_ROOT / "data" / "recipes_seeds.json"
    monkeypatch.setattr(recipes_over_seeds, "RESULTS_PATH", course.COURSE_ROOT / "data" / "no.json")
    assert_wrong(
        exercises.q4,
        "trainable",
        "your option 'trainable' cannot be checked yet: the stored study, data/no.json, is "
        "missing; scripts/recipes_seeds.py writes it.",
    )


def fake_summary(means: dict[str, float]) -> dict:
    """What `recipes_over_seeds.summarize` returns, for the three BatchNorm runs and one more."""
    summary = {"linear probe": {"ood_accuracy": (0.99, 0.98, 1.0)}}
    for option, mean in means.items():
        run = {"ood_accuracy": (mean, mean - 0.02, mean + 0.02), "target_accuracy": (0.9,) * 3}
        summary[exercises.BATCHNORM_RUNS[option]] = run
    return summary


@pytest.fixture
def stored_study(monkeypatch, tmp_path):
    """Sets the stored study to a fake summary with the given mean OOD accuracy per option."""
    path = tmp_path / "recipes_seeds.json"
    path.write_text("{}")
    monkeypatch.setattr(recipes_over_seeds, "RESULTS_PATH", path)
    reads = []

    def store(means: dict[str, float]) -> list:
        def load_results(results_path=path):
            reads.append(results_path)
            return [results_path]

        monkeypatch.setattr(recipes_over_seeds, "load_results", load_results)
        monkeypatch.setattr(recipes_over_seeds, "summarize", lambda seeds: fake_summary(means))
        return reads

    return store


TRAINABLE_BEST = {"frozen": 0.55, "trainable": 0.61, "re-estimated": 0.42}
ADABN_BEST = {"frozen": 0.55, "trainable": 0.4, "re-estimated": 0.71}
FROZEN_BEST = {"frozen": 0.63, "trainable": 0.5, "re-estimated": 0.6}
STUDIES = {"trainable best": TRAINABLE_BEST, "AdaBN best": ADABN_BEST, "frozen best": FROZEN_BEST}


@pytest.mark.parametrize(
    ("means", "answer"),
    [
        (TRAINABLE_BEST, "trainable"),
        (TRAINABLE_BEST, " Trainable "),
        (TRAINABLE_BEST, "TRAINABLE BatchNorm"),
        (TRAINABLE_BEST, "batch norm trainable"),
        (TRAINABLE_BEST, "train"),
        (TRAINABLE_BEST, "trained"),
        (TRAINABLE_BEST, "LP-FT 1e-4, trainable BatchNorm"),
        (TRAINABLE_BEST, np.str_("trainable")),
        (ADABN_BEST, "re-estimated"),
        (ADABN_BEST, "Re-estimated statistics"),
        (ADABN_BEST, "re estimated"),
        (ADABN_BEST, "reestimated"),
        (ADABN_BEST, "AdaBN"),
        (ADABN_BEST, "LP-FT 1e-4, AdaBN"),
        (FROZEN_BEST, "frozen"),
        (FROZEN_BEST, "Frozen BatchNorm"),
        (FROZEN_BEST, "freeze"),
        (FROZEN_BEST, "LP-FT 1e-4"),
    ],
)
def test_q4_accepts_the_best_option_however_it_is_written(stored_study, means, answer):
    stored_study(means)
    assert exercises.q4.check(answer).passed


def test_q4_options_that_print_the_same_as_the_best_are_right(stored_study):
    stored_study({"frozen": 0.612, "trainable": 0.608, "re-estimated": 0.5})  # both print 0.61
    assert exercises.q4.check("frozen").passed
    assert exercises.q4.check("trainable").passed
    assert not exercises.q4.check("re-estimated").passed


def test_q4_is_graded_against_the_stored_numbers_not_a_constant(stored_study):
    for best, means in (("trainable", TRAINABLE_BEST), ("re-estimated", ADABN_BEST)):
        stored_study(means)
        assert [exercises.q4.check(option).passed for option in exercises.BATCHNORM_RUNS] == [
            option == best for option in exercises.BATCHNORM_RUNS
        ]


def test_q4_reads_the_study_when_checking_never_before(stored_study):
    reads = stored_study(TRAINABLE_BEST)
    assert reads == []
    exercises.q4.check("frozen")
    exercises.q4.check("trainable")
    assert reads == [recipes_over_seeds.RESULTS_PATH] * 2


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            "frozen",
            "your option 'frozen' (the run 'LP-FT 1e-4') kept a mean out-of-distribution "
            "accuracy of 0.55 over the seeds; another option kept more. Read the OOD accuracy "
            "column of section 6's table again.",
        ),
        (
            "AdaBN",
            "your option 're-estimated' (the run 'LP-FT 1e-4, AdaBN') kept a mean "
            "out-of-distribution accuracy of 0.42 over the seeds; another option kept more. Read "
            "the OOD accuracy column of section 6's table again.",
        ),
        (
            "Freeze",
            "your option 'frozen' (the run 'LP-FT 1e-4') kept a mean out-of-distribution "
            "accuracy of 0.55 over the seeds; another option kept more. Read the OOD accuracy "
            "column of section 6's table again.",
        ),
        (
            "dropout",
            "your answer 'dropout' is not one of the options: 'frozen', 'trainable' or "
            "'re-estimated'.",
        ),
        (
            "frozen or trainable",
            "your answer 'frozen or trainable' is not one of the options: 'frozen', 'trainable' "
            "or 're-estimated'.",
        ),
        (
            "LP-FT 1e-3",
            "your answer 'LP-FT 1e-3' is not one of the options: 'frozen', 'trainable' or "
            "'re-estimated'.",
        ),
        ("", "your answer '' is not one of the options: 'frozen', 'trainable' or 're-estimated'."),
        (
            ["trainable"],
            "your answer is a list; give one of the options as a string: 'frozen', 'trainable' "
            "or 're-estimated'.",
        ),
        (
            0.61,
            "your answer is 0.61; give one of the options as a string: 'frozen', 'trainable' or "
            "'re-estimated'.",
        ),
    ],
)
def test_q4_wrong_answers_are_named(stored_study, answer, message):
    stored_study(TRAINABLE_BEST)
    assert_wrong(exercises.q4, answer, message)


@pytest.mark.parametrize("study", STUDIES)
def test_q4_feedback_never_names_the_best_option_or_its_mean(stored_study, study):
    means = STUDIES[study]
    stored_study(means)
    best = max(means, key=means.get)
    for option in exercises.BATCHNORM_RUNS:
        if option == best:
            continue
        message = exercises.q4.check(option).message
        assert f"{means[best]:.2f}" not in message
        assert repr(best) not in message and exercises.BATCHNORM_RUNS[best] + "'" not in message


def test_q4_a_missing_study_is_said_to_be_missing(monkeypatch, tmp_path):
    absent = tmp_path / "recipes_seeds.json"
    monkeypatch.setattr(recipes_over_seeds, "RESULTS_PATH", absent)
    assert_wrong(
        exercises.q4,
        "frozen",
        f"your option 'frozen' cannot be checked yet: the stored study, {absent}, is missing; "
        "scripts/recipes_seeds.py writes it.",
    )
    assert_wrong(
        exercises.q4,
        "dropout",
        "your answer 'dropout' is not one of the options: 'frozen', 'trainable' or 're-estimated'.",
    )


def test_q4_a_study_without_the_runs_is_named(stored_study, monkeypatch):
    stored_study(TRAINABLE_BEST)
    summary = fake_summary(TRAINABLE_BEST)
    del summary["LP-FT 1e-4, AdaBN"]
    monkeypatch.setattr(recipes_over_seeds, "summarize", lambda seeds: summary)
    message = exercises.q4.check("frozen").message
    assert message.startswith("your option 'frozen' cannot be checked: the stored study, ")
    assert "cannot be read (ValueError: the stored study must hold the runs" in message


@pytest.mark.skipif(
    not recipes_over_seeds.RESULTS_PATH.exists(), reason="the stored study is not written yet"
)
def test_q4_right_answer_is_the_option_with_the_highest_stored_mean():
    summary = recipes_over_seeds.summarize(recipes_over_seeds.load_results())
    means = {
        option: summary[label]["ood_accuracy"][0]
        for option, label in exercises.BATCHNORM_RUNS.items()
    }
    best = max(means, key=means.get)
    assert exercises.q4.check(best).passed
    for option, mean in means.items():
        prints_as_best = f"{mean:.2f}" == f"{means[best]:.2f}"
        assert exercises.q4.check(option).passed == prints_as_best


# Every question's solution, run as the learner would, in the names the notebook has defined.


def notebook_namespace() -> dict:
    """What lesson 07 has defined when the learner reaches the exercises."""
    return {
        "keras": keras,
        "np": np,
        "exercises": exercises,
        "recipes_over_seeds": recipes_over_seeds,
    }


ANSWERS = {
    "q1": lambda names: names["rate"],
    "q2": lambda names: names["step"],
    "q3": lambda names: names["make_optimizer"],
    "q4": lambda names: names["option"],
}


def test_every_question_is_covered():
    assert [question.name for question in QUESTIONS] == list(ANSWERS)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_every_solution_passes_when_run(stored_study, question):
    stored_study(TRAINABLE_BEST)
    names = run_solution(question, notebook_namespace())
    feedback = question.check(ANSWERS[question.name](names))
    assert feedback.passed, feedback


@pytest.mark.parametrize("study", STUDIES)
def test_q4_solution_passes_on_other_studies(stored_study, study):
    stored_study(STUDIES[study])
    names = run_solution(exercises.q4, notebook_namespace())
    assert names["option"] == max(STUDIES[study], key=STUDIES[study].get)
    assert exercises.q4.check(ANSWERS["q4"](names)).passed


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_every_question_has_two_hints_or_more(question):
    assert len(question.hints) >= 2


# Odd inputs beyond those every lesson meets (tests/test_exercises_any_input.py finds lesson 07's
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
    "complex": lambda: 1e-4 + 1j,
    "bytes": lambda: b"frozen",
    "numpy str": lambda: np.str_("dropout"),
    "list of None": lambda: [None, None, None],
    "function returning None": lambda: lambda: None,
    "function raising": lambda: functools.partial(math.sqrt, -1.0),
}


@pytest.mark.parametrize("kind", ODD_ANSWERS)
@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_odd_answers_get_the_questions_own_feedback(stored_study, question, kind):
    stored_study(TRAINABLE_BEST)
    feedback = question.check(ODD_ANSWERS[kind]())
    assert feedback.outcome == core.INCORRECT, feedback
    assert feedback.message.startswith("your "), feedback
    assert "which this question cannot check" not in feedback.message, feedback
