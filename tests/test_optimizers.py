"""Optimizers with a custom learning rate (helpers/finetune/optimizers.py): build, read, change."""

import re

import keras
import numpy as np
import pytest

from helpers.finetune import optimizers

schedules = keras.optimizers.schedules


def learning_rate_message(value) -> str:
    wanted = "a positive, finite number or a LearningRateSchedule"
    return re.escape(f"learning_rate must be {wanted}. Received: learning_rate={value!r}")


@pytest.mark.parametrize(
    ("name", "keras_class"),
    [
        ("adam", keras.optimizers.Adam),
        ("SGD", keras.optimizers.SGD),
        ("rmsprop", keras.optimizers.RMSprop),
    ],
)
def test_make_optimizer_returns_a_fresh_keras_optimizer(name, keras_class):
    first = optimizers.make_optimizer(name, learning_rate=3e-4)
    second = optimizers.make_optimizer(name, learning_rate=3e-4)
    assert type(first) is keras_class and first is not second
    assert int(first.iterations.numpy()) == 0
    assert optimizers.learning_rate_of(first) == pytest.approx(3e-4, rel=1e-6)


def test_sgd_gets_the_course_momentum_unless_told_otherwise():
    assert optimizers.make_optimizer("sgd", 1e-2).get_config()["momentum"] == pytest.approx(0.9)
    assert optimizers.make_optimizer("sgd", 1e-2, momentum=0.0).get_config()["momentum"] == 0.0
    assert optimizers.make_optimizer("rmsprop", 1e-3).get_config()["momentum"] == 0.0
    # Keras's own default
    assert keras.optimizers.SGD(learning_rate=1e-2).get_config()["momentum"] == 0.0


@pytest.mark.parametrize(
    ("learning_rate", "momentum"),
    [
        (1, 0.5),
        (np.int64(1), np.float32(0.5)),
        (np.float32(1.0), np.float64(0.5)),
        (np.float64(1.0), 0.5),
    ],
)
def test_numpy_scalars_and_ints_work_like_python_floats(learning_rate, momentum):
    """Keras 3 refuses the int 1 itself; make_optimizer hands it a float."""
    optimizer = optimizers.make_optimizer("sgd", learning_rate, momentum=momentum)
    assert optimizers.learning_rate_of(optimizer) == 1.0
    assert optimizer.get_config()["momentum"] == 0.5
    optimizers.set_learning_rate(optimizer, learning_rate / 2)
    assert optimizers.learning_rate_of(optimizer) == 0.5


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
@pytest.mark.parametrize(
    ("weight_decay", "expected"),
    [(None, None), (0.01, 0.01), (np.float32(0.25), 0.25), (np.int64(1), 1.0)],
)
def test_weight_decay_reaches_the_keras_optimizer(name, weight_decay, expected):
    optimizer = optimizers.make_optimizer(name, 1e-3, weight_decay=weight_decay)
    assert optimizer.weight_decay == expected
    assert type(optimizer.weight_decay) is type(expected)


def test_keras_itself_rejects_an_int_learning_rate():
    """Why make_optimizer converts ints: Keras 3 refuses them, with a longer message."""
    with pytest.raises(ValueError, match="should be float"):
        keras.optimizers.SGD(learning_rate=1)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"name": "adamw", "learning_rate": 1e-3},
            re.escape(
                "name must be one of ('adam', 'sgd', 'rmsprop'). Received: name='adamw'. "
                "Did you mean 'adam'?"
            ),
        ),
        (
            {"name": 3, "learning_rate": 1e-3},
            re.escape("name must be one of ('adam', 'sgd', 'rmsprop'). Received: name=3"),
        ),
        ({"name": "adam", "learning_rate": 0.0}, learning_rate_message(0.0)),
        ({"name": "adam", "learning_rate": -0.1}, learning_rate_message(-0.1)),
        ({"name": "adam", "learning_rate": float("inf")}, learning_rate_message(float("inf"))),
        ({"name": "adam", "learning_rate": float("nan")}, learning_rate_message(float("nan"))),
        ({"name": "adam", "learning_rate": "1e-3"}, learning_rate_message("1e-3")),
        ({"name": "adam", "learning_rate": True}, learning_rate_message(True)),
        (
            {"name": "sgd", "learning_rate": 1e-2, "momentum": 1.0},
            re.escape("momentum must be a finite number in [0, 1). Received: momentum=1.0"),
        ),
        (
            {"name": "sgd", "learning_rate": 1e-2, "momentum": -0.1},
            re.escape("momentum must be a finite number in [0, 1). Received: momentum=-0.1"),
        ),
        (
            {"name": "rmsprop", "learning_rate": 1e-2, "momentum": True},
            re.escape("momentum must be a finite number in [0, 1). Received: momentum=True"),
        ),
        (
            {"name": "adam", "learning_rate": 1e-3, "weight_decay": -1},
            re.escape("weight_decay must be a finite number >= 0. Received: weight_decay=-1"),
        ),
        (
            {"name": "sgd", "learning_rate": 1e-3, "weight_decay": float("nan")},
            re.escape("weight_decay must be a finite number >= 0. Received: weight_decay=nan"),
        ),
        (
            {"name": "rmsprop", "learning_rate": 1e-3, "weight_decay": True},
            re.escape("weight_decay must be a finite number >= 0. Received: weight_decay=True"),
        ),
        (
            {"name": "adam", "learning_rate": 1e-3, "weight_decay": "1e-2"},
            re.escape("weight_decay must be a finite number >= 0. Received: weight_decay='1e-2'"),
        ),
    ],
)
def test_make_optimizer_rejects_bad_arguments_naming_them(arguments, message):
    with pytest.raises(ValueError, match=message):
        optimizers.make_optimizer(**arguments)


def test_keras_accepts_a_negative_learning_rate_silently_but_make_optimizer_does_not():
    assert float(keras.optimizers.SGD(learning_rate=-0.01).learning_rate) == pytest.approx(-0.01)
    with pytest.raises(ValueError, match=learning_rate_message(-0.01)):
        optimizers.make_optimizer("sgd", learning_rate=-0.01)


@pytest.mark.parametrize(
    ("schedule", "received"),
    [
        (
            schedules.PolynomialDecay(0, decay_steps=10, end_learning_rate=1e-3),
            "initial_learning_rate=0",
        ),
        (
            schedules.CosineDecay(0, decay_steps=10, warmup_target=1e-3, warmup_steps=5),
            "initial_learning_rate=0",
        ),
        (schedules.PiecewiseConstantDecay([5], [0, 1e-3]), "values=[0, 0.001]"),
    ],
)
def test_make_optimizer_rejects_a_schedule_of_ints(schedule, received):
    message = (
        "learning_rate must be a schedule of float rates (write 0.0, not 0): Keras casts an int "
        "schedule's rates to int32, so it stays at 0 or fails. "
        f"Received: learning_rate with {received}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        optimizers.make_optimizer("adam", schedule)


def test_an_int_start_casts_the_schedules_other_rates_to_int():
    """Why the int 0 sticks: the schedule takes the start's dtype, so the end rate 1.5 becomes 1."""
    assert float(schedules.PolynomialDecay(0, decay_steps=10, end_learning_rate=1.5)(10)) == 1.0
    assert float(schedules.PolynomialDecay(0.0, decay_steps=10, end_learning_rate=1.5)(10)) == 1.5


def test_make_optimizer_accepts_a_schedule_that_starts_at_float_zero():
    warmup = schedules.CosineDecay(0.0, decay_steps=10, warmup_target=1e-3, warmup_steps=5)
    assert optimizers.learning_rate_of(optimizers.make_optimizer("adam", warmup)) == 0.0


def test_learning_rate_of_follows_a_schedule_step_by_step():
    decay = schedules.ExponentialDecay(1e-2, decay_steps=1, decay_rate=0.5)
    optimizer = optimizers.make_optimizer("sgd", decay, momentum=0.0)
    variable = keras.Variable(np.zeros(2, dtype="float32"))
    for step in range(4):
        assert optimizers.learning_rate_of(optimizer) == pytest.approx(1e-2 * 0.5**step, rel=1e-6)
        optimizer.apply_gradients([(np.ones(2, dtype="float32"), variable)])


def test_set_learning_rate_changes_the_steps_the_optimizer_takes():
    optimizer = optimizers.make_optimizer("sgd", 1e-2, momentum=0.0)
    variable = keras.Variable(np.zeros(1, dtype="float32"))
    optimizer.apply_gradients([(np.ones(1, dtype="float32"), variable)])
    optimizers.set_learning_rate(optimizer, 1e-3)
    optimizer.apply_gradients([(np.ones(1, dtype="float32"), variable)])
    assert optimizers.learning_rate_of(optimizer) == pytest.approx(1e-3, rel=1e-6)
    assert float(variable.numpy()[0]) == pytest.approx(-1e-2 - 1e-3, rel=1e-6)


@pytest.mark.parametrize("learning_rate", [0.0, -1e-3, float("nan"), "1e-3", True])
def test_set_learning_rate_validates_the_value(learning_rate):
    wanted = "a positive, finite number"
    message = re.escape(
        f"learning_rate must be {wanted}. Received: learning_rate={learning_rate!r}"
    )
    with pytest.raises(ValueError, match=message):
        optimizers.set_learning_rate(keras.optimizers.Adam(1e-3), learning_rate)


def test_set_learning_rate_refuses_a_scheduled_optimizer_as_keras_does():
    scheduled = keras.optimizers.Adam(
        schedules.ExponentialDecay(1e-3, decay_steps=10, decay_rate=0.5)
    )
    with pytest.raises(TypeError, match="not settable"):
        scheduled.learning_rate = 1e-4
    message = (
        "cannot be set; build a new optimizer. "
        "Received: optimizer=Adam(learning_rate=ExponentialDecay(...))"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        optimizers.set_learning_rate(scheduled, 1e-4)
    with pytest.raises(ValueError, match="learning_rate must be a positive, finite number"):
        optimizers.set_learning_rate(
            keras.optimizers.Adam(1e-3), schedules.ExponentialDecay(1e-3, 10, 0.5)
        )


@pytest.mark.parametrize("not_an_optimizer", ["adam", None, 1e-3])
def test_functions_that_take_an_optimizer_reject_other_things(not_an_optimizer):
    message = re.escape(
        f"optimizer must be a keras.optimizers.Optimizer. Received: optimizer={not_an_optimizer!r}"
    )
    for function in (optimizers.learning_rate_of, optimizers.check_optimizer):
        with pytest.raises(ValueError, match=message):
            function(not_an_optimizer)
    with pytest.raises(ValueError, match=message):
        optimizers.set_learning_rate(not_an_optimizer, 1e-3)
