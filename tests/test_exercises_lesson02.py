"""Lesson 02 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf
from grading import assert_wrong
from solutions import run_solution

from helpers.exercises import ____, core
from helpers.exercises import lesson02 as exercises
from helpers.finetune import optimizers
from helpers.lessons import losses, step_sizes

QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4, exercises.q5]
# The names each solution assigns, as the notebook's check cell passes them.
SOLUTION_ANSWERS = {
    "q1": ("sgd_for_fine_tuning",),
    "q2": ("logits_loss",),
    "q3": ("effective_step",),
    "q4": ("model", "head_optimizer", "finetune_optimizer"),
    "q5": ("moves", "furthest"),
}


def notebook_namespace() -> dict:
    """What the notebook has defined when the learner reaches the exercises."""
    model, base, head_optimizer = exercises.phase_one_model()
    return {
        "keras": keras,
        "np": np,
        "tf": tf,
        "____": ____,
        "exercises": exercises,
        "optimizers": optimizers,
        "losses": losses,
        "step_sizes": step_sizes,
        "model": model,
        "base": base,
        "head_optimizer": head_optimizer,
    }


def solution_answer(question: core.Question):
    """Runs the reference solution in the notebook's names; returns what the notebook checks."""
    names = run_solution(question, notebook_namespace())
    values = tuple(names[name] for name in SOLUTION_ANSWERS[question.name])
    return values[0] if len(values) == 1 else values


def test_every_question_of_the_module_is_tested():
    names = sorted(name for name in vars(exercises) if re.fullmatch(r"q\d+", name))
    assert names == [question.name for question in QUESTIONS] == sorted(SOLUTION_ANSWERS)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_reference_solution_runs_in_the_notebooks_names_and_passes(question):
    feedback = question.check(solution_answer(question))
    assert feedback.passed, str(feedback)


@pytest.mark.parametrize(
    "answer",
    [
        keras.optimizers.SGD(momentum=0.9, learning_rate=np.float64(1e-4)),
        optimizers.make_optimizer("sgd", 1e-4),  # the course's default momentum is 0.9
        keras.optimizers.SGD(0.0001, 0.9),
    ],
    ids=["numpy rate", "make_optimizer", "positional"],
)
def test_q1_right_answers_written_differently(answer):
    assert exercises.q1.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            keras.optimizers.SGD(learning_rate=1e-4),
            "your optimizer is SGD with momentum 0; the lesson asks for 0.9.",
        ),
        (
            keras.optimizers.Adam(learning_rate=1e-4),
            "your optimizer is Adam; the lesson asks for SGD with momentum 0.9.",
        ),
        (
            keras.optimizers.SGD(learning_rate=1e-2, momentum=0.9),
            "your learning rate is 0.01, which is too large.",
        ),
        (
            keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9, nesterov=True),
            "your optimizer is SGD with nesterov=True; the lesson asks for plain momentum.",
        ),
        (
            keras.optimizers.SGD(
                keras.optimizers.schedules.ExponentialDecay(1e-4, 100, 0.5), momentum=0.9
            ),
            "your optimizer follows a schedule; give it a constant learning rate.",
        ),
        (
            keras.optimizers.SGD,
            "your answer is the class SGD itself; call it to build an optimizer: "
            "keras.optimizers.SGD(learning_rate=..., momentum=...).",
        ),
        (
            "sgd",
            "your answer is 'sgd'; give an optimizer such as "
            "keras.optimizers.SGD(learning_rate=..., momentum=...).",
        ),
    ],
    ids=["no momentum", "adam", "rate", "nesterov", "schedule", "class", "string"],
)
def test_q1_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q1, answer, message)


@pytest.mark.parametrize(
    "answer",
    [
        keras.losses.SparseCategoricalCrossentropy(True),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True, name="loss"),
    ],
    ids=["positional", "named"],
)
def test_q2_right_answers_written_differently(answer):
    assert exercises.q2.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            keras.losses.SparseCategoricalCrossentropy(),
            "your loss has from_logits=False, but Dense(10) without softmax emits logits: "
            "set from_logits=True.",
        ),
        (
            "sparse_categorical_crossentropy",
            "your loss is the string 'sparse_categorical_crossentropy', which treats the outputs "
            "as probabilities; "
            "compile with keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
        ),
        (
            keras.losses.CategoricalCrossentropy(from_logits=True),
            "your loss is CategoricalCrossentropy (it expects one-hot labels); "
            "the labels are ints 0..9, so use SparseCategoricalCrossentropy.",
        ),
        (
            keras.losses.sparse_categorical_crossentropy,
            "your answer is a function; give a loss object such as "
            "keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
        ),
    ],
)
def test_q2_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q2, answer, message)


@pytest.mark.parametrize(
    "answer",
    [0.1, 0.01 / (1 - 0.9), np.float32(0.1), np.float64(0.1), np.array([0.1]), 1e-1],
)
def test_q3_right_answers_written_differently(answer):
    assert exercises.q3.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            0.01,
            "your effective step is 0.01, the learning rate alone; "
            "momentum keeps adding past steps.",
        ),
        (
            np.float32(0.01),
            "your effective step is 0.01, the learning rate alone; "
            "momentum keeps adding past steps.",
        ),
        (
            0.001,
            "your effective step is 0.001, the learning rate times (1 - momentum); "
            "momentum divides instead.",
        ),
        (
            0.019,
            "your effective step is 0.019, the second step; "
            "the steps keep growing until momentum has settled.",
        ),
        (0.05, "your effective step is 0.05, which is too small."),
        (1.0, "your effective step is 1, which is too large."),
        ("0.1", "your effective step is '0.1' (a str); give a number."),
        (np.array([0.1, 0.1]), "your effective step is an array of shape (2,); give one number."),
    ],
)
def test_q3_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q3, answer, message)


def finetune(optimizer_factory, unfreeze: bool = True, compile_model: bool = True):
    """Plays question 4 from the phase-one model; returns the tuple the notebook checks."""
    model, base, head_optimizer = exercises.phase_one_model()
    base.trainable = unfreeze
    finetune_optimizer = optimizer_factory(head_optimizer)
    if compile_model:
        model.compile(optimizer=finetune_optimizer, loss="mse")
    return model, head_optimizer, finetune_optimizer


def fresh_adam(head_optimizer):
    return keras.optimizers.Adam(learning_rate=1e-4)


def fresh_adam_at_a_tenth_of_the_heads_rate(head_optimizer):
    return keras.optimizers.Adam(optimizers.learning_rate_of(head_optimizer) / 10)


def fresh_adam_from_make_optimizer(head_optimizer):
    return optimizers.make_optimizer("adam", np.float32(1e-4))


def reused_optimizer(head_optimizer):
    return head_optimizer


def adam_at_the_head_rate(head_optimizer):
    return keras.optimizers.Adam(learning_rate=1e-3)


def adam_at_the_old_rule(head_optimizer):
    return keras.optimizers.Adam(learning_rate=1e-5)


def adamw(head_optimizer):
    return keras.optimizers.AdamW(learning_rate=1e-4)


def sgd_with_momentum(head_optimizer):
    return keras.optimizers.SGD(learning_rate=1e-4, momentum=0.9)


@pytest.mark.parametrize(
    "factory",
    [fresh_adam, fresh_adam_at_a_tenth_of_the_heads_rate, fresh_adam_from_make_optimizer],
    ids=lambda factory: factory.__name__,
)
def test_q4_right_answers_written_differently(factory):
    assert exercises.q4.check(finetune(factory)).passed


def test_q4_accepts_a_list_and_the_base_unfrozen_through_the_model():
    model, _, head_optimizer = exercises.phase_one_model()
    model.get_layer("base").trainable = True
    finetune_optimizer = keras.optimizers.Adam(1e-4)
    model.compile(optimizer=finetune_optimizer, loss="mse")
    assert exercises.q4.check([model, head_optimizer, finetune_optimizer]).passed


def test_q4_placeholder_inside_the_tuple_is_not_attempted():
    model, _, head_optimizer = exercises.phase_one_model()
    assert exercises.q4.check((model, head_optimizer, ____)).outcome == core.NOT_ATTEMPTED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"optimizer_factory": reused_optimizer},
            "your finetune_optimizer is the first phase's optimizer (it has taken 1 step); "
            "Keras 3 needs a fresh optimizer after trainable changes.",
        ),
        (
            {"optimizer_factory": adam_at_the_head_rate},
            "your learning rate is 0.001, which is too large.",
        ),
        (
            {"optimizer_factory": adam_at_the_old_rule},
            "your learning rate is 1e-05, which is too small.",
        ),
        (
            {"optimizer_factory": adamw},
            "your finetune_optimizer is AdamW; the lesson asks for Adam.",
        ),
        (
            {"optimizer_factory": sgd_with_momentum},
            "your finetune_optimizer is SGD; the lesson asks for Adam.",
        ),
        (
            {"optimizer_factory": fresh_adam, "unfreeze": False},
            "your model still has 1 frozen layer ('base'); "
            "set base.trainable = True before compiling.",
        ),
        (
            {"optimizer_factory": fresh_adam, "compile_model": False},
            "your model is not compiled with finetune_optimizer; "
            "call model.compile(optimizer=finetune_optimizer, ...).",
        ),
    ],
    ids=["reused", "head rate", "old rule", "adamw", "sgd", "frozen", "not compiled"],
)
def test_q4_wrong_answers_are_named(kwargs, message):
    assert_wrong(exercises.q4, finetune(**kwargs), message)


def test_q4_looks_inside_a_nested_base():
    """A base that is itself a model, frozen inside a trainable model, is still frozen."""
    base = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4, name="base_dense")], name="nested_base"
    )
    model = keras.Sequential([keras.Input((3,)), base, keras.layers.Dense(1)])
    base.trainable = False
    head_optimizer = keras.optimizers.Adam(1e-3)
    finetune_optimizer = keras.optimizers.Adam(1e-4)
    model.compile(optimizer=finetune_optimizer, loss="mse")
    assert_wrong(
        exercises.q4,
        (model, head_optimizer, finetune_optimizer),
        "your model still has 1 frozen layer ('base_dense'); "
        "set base.trainable = True before compiling.",
    )


def test_q4_needs_the_three_objects():
    model, _, head_optimizer = exercises.phase_one_model()
    for answer, given in [
        (keras.optimizers.Adam(1e-5), "is an Adam"),
        ((model, head_optimizer), "holds 2 objects"),
        (np.zeros(3), "is an array of shape (3,)"),
    ]:
        assert_wrong(
            exercises.q4,
            answer,
            f"your answer {given}; pass (model, head_optimizer, finetune_optimizer).",
        )
    assert_wrong(
        exercises.q4,
        ("model", head_optimizer, keras.optimizers.Adam(1e-4)),
        "your model is 'model'; give the model from exercises.phase_one_model().",
    )


def test_phase_one_model_takes_numpy_seeds_and_rejects_bad_ones():
    model, base, _ = exercises.phase_one_model(seed=np.int64(1))
    assert not base.trainable and model.name == "exercise_model"
    for seed in [-1, 1.5, "0"]:
        message = f"seed must be an int >= 0. Received: seed={seed!r}"
        with pytest.raises(ValueError, match=re.escape(message)):
            exercises.phase_one_model(seed=seed)


def measured_moves(
    gradient=exercises.Q5_GRADIENT, steps=exercises.Q5_STEPS, names=exercises.Q5_OPTIMIZERS
):
    """Question 5's measurement as the learner makes it, with real Keras optimizers."""
    return {
        name: step_sizes.steady_gradient_steps(
            optimizers.make_optimizer(name, exercises.Q5_LEARNING_RATE),
            steps=steps,
            gradient=gradient,
        )
        for name in names
    }


def test_q5_measurement_puts_rmsprop_first_with_a_clear_margin():
    """At |g| = 2e-3 RMSprop moves 27.6 learning rates in 20 steps, Adam 20.0, SGD 0.24."""
    totals = {
        name: sum(moves) / exercises.Q5_LEARNING_RATE for name, moves in measured_moves().items()
    }
    assert totals["rmsprop"] == pytest.approx(27.6, abs=0.05)
    assert totals["adam"] == pytest.approx(20.0, abs=0.05)
    assert totals["sgd"] == pytest.approx(0.24, abs=0.005)


@pytest.mark.parametrize("name", ["rmsprop", "RMSprop", " rmsprop ", np.str_("rmsprop")], ids=repr)
def test_q5_right_answers_written_differently(name):
    assert exercises.q5.check((measured_moves(), name)).passed


def test_q5_accepts_arrays_and_a_list_pair():
    moves = {name: np.array(values) for name, values in measured_moves().items()}
    assert exercises.q5.check([moves, "rmsprop"]).passed


@pytest.mark.parametrize(
    ("gradient", "furthest"), [(1e-4, "adam"), (2e-3, "rmsprop"), (0.3, "sgd")]
)
def test_q5_grades_against_the_measurement_passed_in(gradient, furthest):
    """The ranking changes with the gradient's size; the grader follows the learner's numbers."""
    moves = measured_moves(gradient=gradient)
    totals = {name: sum(values) for name, values in moves.items()}
    assert max(totals, key=totals.get) == furthest
    # The measurement is at another gradient than asked, so SGD's first move gives it away...
    if gradient != exercises.Q5_GRADIENT:
        assert exercises.q5.check((moves, furthest)).message.startswith(
            "your moves['sgd'] start with"
        )
    # ...while the same ranking with SGD's first move as asked is graded on its own numbers.
    moves["sgd"] = [exercises.Q5_LEARNING_RATE * exercises.Q5_GRADIENT, *moves["sgd"][1:]]
    totals["sgd"] = sum(moves["sgd"])
    assert exercises.q5.check((moves, max(totals, key=totals.get))).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            (measured_moves(), "adam"),
            "your optimizer 'adam' moved the weight 0.02 in your measurement, but another moved "
            "it further: add up each optimizer's moves.",
        ),
        (
            (measured_moves(), "sgd"),
            "your optimizer 'sgd' moved the weight 0.000242 in your measurement, but another "
            "moved it further: add up each optimizer's moves.",
        ),
        (
            (measured_moves(), "nadam"),
            "your optimizer name is 'nadam'; choose one of 'sgd', 'rmsprop', 'adam'.",
        ),
        (
            (measured_moves(), keras.optimizers.RMSprop()),
            "your optimizer name is a RMSprop; choose one of 'sgd', 'rmsprop', 'adam'.",
        ),
        ("rmsprop", "your answer is 'rmsprop'; pass (moves, name)."),
        (
            ([1.0, 2.0], "rmsprop"),
            "your moves is a list; give a dict mapping 'sgd', 'rmsprop', 'adam' to the list "
            "step_sizes.steady_gradient_steps returns.",
        ),
        (
            (measured_moves(names=("sgd", "adam")), "adam"),
            "your moves has 'sgd', 'adam'; measure exactly 'sgd', 'rmsprop', 'adam'.",
        ),
        (
            (measured_moves(steps=5), "rmsprop"),
            "your moves['sgd'] holds 5 steps; measure 20.",
        ),
        (
            ({**measured_moves(), "adam": 0.02}, "rmsprop"),
            "your moves['adam'] is 0.02; give the list step_sizes.steady_gradient_steps returns.",
        ),
        (
            ({**measured_moves(), "adam": [-1e-3] * 20}, "rmsprop"),
            "your moves['adam'] holds something other than distances (numbers >= 0).",
        ),
        (
            (measured_moves(gradient=1.0), "sgd"),
            "your moves['sgd'] start with 0.001, but SGD's first move is learning_rate * "
            "gradient: measure at exercises.Q5_LEARNING_RATE and exercises.Q5_GRADIENT.",
        ),
    ],
    ids=[
        "adam",
        "sgd",
        "unknown name",
        "optimizer object",
        "name only",
        "list",
        "missing optimizer",
        "steps",
        "number",
        "negative",
        "other gradient",
    ],
)
def test_q5_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q5, answer, message)
