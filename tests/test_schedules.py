"""Learning-rate schedules (helpers/finetune/schedules.py): closed forms, `fit` and TensorBoard."""

import math
import re

import keras
import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import schedules

matplotlib.use("Agg")


def warmup_cosine_reference(peak, total_steps, warmup_steps, initial, final_fraction, num_steps):
    """Linear warmup from `initial` to `peak`, then 0.5 * (1 + cos(pi * t / T)) down to the floor.

    The floor is `final_fraction * peak`.
    """
    step = np.arange(num_steps, dtype=np.float64)
    warmup = initial + (peak - initial) * step / max(warmup_steps, 1)
    decay_steps = total_steps - warmup_steps
    t = np.minimum(step - warmup_steps, decay_steps)
    decay = peak * (
        (1 - final_fraction) * 0.5 * (1 + np.cos(np.pi * t / decay_steps)) + final_fraction
    )
    return np.where(step < warmup_steps, warmup, decay)


def one_cycle_reference(max_lr, total_steps, pct_start, div_factor, final_div_factor):
    """PyTorch's OneCycleLR(anneal_strategy="cos", three_phase=False).get_lr(), in plain Python."""
    initial_lr = max_lr / div_factor
    min_lr = initial_lr / final_div_factor
    phases = [
        {"end_step": float(pct_start * total_steps) - 1, "start_lr": initial_lr, "end_lr": max_lr},
        {"end_step": total_steps - 1, "start_lr": max_lr, "end_lr": min_lr},
    ]

    def annealing_cos(start, end, pct):
        cos_out = math.cos(math.pi * pct) + 1
        return end + (start - end) / 2.0 * cos_out

    rates = []
    for step_num in range(total_steps):
        start_step = 0
        for i, phase in enumerate(phases):
            end_step = phase["end_step"]
            if step_num <= end_step or i == len(phases) - 1:
                pct = (step_num - start_step) / (end_step - start_step)
                rates.append(annealing_cos(phase["start_lr"], phase["end_lr"], pct))
                break
            start_step = phase["end_step"]
    return np.array(rates)


@pytest.mark.parametrize(
    ("peak", "total_steps", "warmup_steps", "initial", "final_fraction"),
    [
        (1e-3, 20, 5, 0.0, 0.0),
        (1e-4, 12, 0, 0.0, 0.1),
        (3e-2, 9, 8, 1e-3, 0.5),
        (1e-5, 1, 0, 0.0, 0.0),
    ],
)
def test_warmup_cosine_is_keras_cosine_decay_with_the_closed_form(
    peak, total_steps, warmup_steps, initial, final_fraction
):
    schedule = schedules.warmup_cosine(peak, total_steps, warmup_steps, initial, final_fraction)
    assert type(schedule) is keras.optimizers.schedules.CosineDecay
    assert schedule.get_config() == {
        "initial_learning_rate": initial,
        "decay_steps": total_steps - warmup_steps,
        "alpha": final_fraction,
        "name": "CosineDecay",
        "warmup_target": peak,
        "warmup_steps": warmup_steps,
    }
    num_steps = total_steps + 4  # constant after total_steps
    expected = warmup_cosine_reference(
        peak, total_steps, warmup_steps, initial, final_fraction, num_steps
    )
    np.testing.assert_allclose(
        schedules.learning_rates(schedule, num_steps), expected, rtol=1e-5, atol=1e-12
    )
    assert schedules.learning_rates(schedule, num_steps)[warmup_steps] == pytest.approx(
        peak, rel=1e-6
    )


def test_warmup_cosine_default_starts_at_zero_in_float():
    rates = schedules.learning_rates(
        schedules.warmup_cosine(1e-3, total_steps=10, warmup_steps=4), 3
    )
    # an int 0 would have made it int32 zeros
    np.testing.assert_allclose(rates, [0.0, 2.5e-4, 5e-4], rtol=1e-6)


@pytest.mark.parametrize(
    ("max_learning_rate", "total_steps", "warmup_fraction", "div_factor", "final_div_factor"),
    [
        (1e-2, 100, 0.3, 25.0, 1e4),
        (0.1, 37, 0.25, 10.0, 100.0),
        (3e-4, 10, 0.5, 4.0, 1e3),
        (1e-3, 7, 0.2, 25.0, 1e4),
    ],
)
def test_one_cycle_matches_pytorch_one_cycle_lr(
    max_learning_rate, total_steps, warmup_fraction, div_factor, final_div_factor
):
    schedule = schedules.OneCycle(
        max_learning_rate, total_steps, warmup_fraction, div_factor, final_div_factor
    )
    expected = one_cycle_reference(
        max_learning_rate, total_steps, warmup_fraction, div_factor, final_div_factor
    )
    rates = schedules.learning_rates(schedule, total_steps + 5)
    np.testing.assert_allclose(rates[:total_steps], expected, rtol=1e-5)  # float32 against float64
    initial = max_learning_rate / div_factor
    final = initial / final_div_factor
    assert rates[0] == pytest.approx(initial, rel=1e-6)
    assert rates[total_steps - 1] == pytest.approx(final, rel=1e-6)
    assert np.all(rates[total_steps:] == rates[total_steps - 1])  # constant after the cycle
    peak_step = warmup_fraction * total_steps - 1
    # the peak falls on a step: there the rate is exactly the maximum
    if float(peak_step).is_integer():
        assert rates[int(peak_step)] == np.float32(max_learning_rate)
    assert rates.max() <= np.float32(max_learning_rate)
    assert np.argmax(rates) in (math.floor(peak_step), math.ceil(peak_step))


def test_one_cycle_works_on_tensors_ints_and_in_float32():
    schedule = schedules.OneCycle(0.1, total_steps=10, warmup_fraction=0.5)
    for step in (4, np.int64(4), tf.constant(4), tf.Variable(4, dtype="int64")):
        value = schedule(step)
        assert value.dtype == tf.float32 and float(value) == pytest.approx(0.1)


def test_one_cycle_inside_fit_uses_the_logged_rate_at_every_step():
    total_steps = 12  # 2 epochs of 6 batches of 1
    schedule = schedules.OneCycle(0.2, total_steps, warmup_fraction=0.4)
    model = keras.Sequential(
        [keras.Input((1,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    logger = schedules.LearningRateLogger()
    history = model.fit(
        np.ones((6, 1)), np.ones(6), batch_size=1, epochs=2, callbacks=[logger], verbose=0
    )
    np.testing.assert_allclose(
        logger.learning_rates, schedules.learning_rates(schedule, total_steps), rtol=1e-6
    )
    assert history.history["learning_rate"] == [logger.learning_rates[5], logger.learning_rates[11]]
    # loss (w - 1)^2, gradient 2 (w - 1): plain SGD with the logged rates gives the trained weight
    weight = 0.0
    for rate in logger.learning_rates:
        weight -= rate * 2 * (weight - 1)
    assert float(model.get_weights()[0][0, 0]) == pytest.approx(weight, rel=1e-5)


def test_one_cycle_serialization_round_trip():
    schedule = schedules.OneCycle(
        3e-3, 50, warmup_fraction=0.2, div_factor=10.0, final_div_factor=100.0, name="ramp"
    )
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert type(restored) is schedules.OneCycle and restored.get_config() == schedule.get_config()
    optimizer = keras.optimizers.deserialize(
        keras.optimizers.serialize(keras.optimizers.Adam(learning_rate=schedule))
    )
    for step in (0, 9, 30, 60):  # the restored optimizer follows the same schedule
        optimizer.iterations.assign(step)
        assert float(optimizer.learning_rate) == float(schedule(step))
    assert schedules.OneCycle.from_config(schedule.get_config()).get_config()["name"] == "ramp"


def test_plot_schedule_draws_one_line_per_schedule():
    mapping = {
        "warmup": schedules.warmup_cosine(1e-3, 20, 4),
        "one-cycle": schedules.OneCycle(1e-3, 20),
    }
    figure, ax = plt.subplots()
    assert schedules.plot_schedule(mapping, 20, ax=ax) is ax
    assert [line.get_label() for line in ax.lines] == ["warmup", "one-cycle"]
    for line, schedule in zip(ax.lines, mapping.values(), strict=True):
        np.testing.assert_array_equal(line.get_ydata(), schedules.learning_rates(schedule, 20))
        np.testing.assert_array_equal(line.get_xdata(), np.arange(20))
    ax.clear()
    schedules.plot_schedule(mapping["one-cycle"], 20, ax=ax, log_scale=True)
    assert len(ax.lines) == 1 and ax.lines[0].get_label() == "OneCycle" and ax.get_yscale() == "log"
    plt.close(figure)


def test_logger_and_continuing_tensorboard_count_steps_on_across_fits(tmp_path, read_scalars):
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    logger = schedules.LearningRateLogger(log_dir=tmp_path)
    tensorboard = schedules.ContinuingTensorBoard(tmp_path, update_freq="batch", write_graph=False)
    data = (np.ones((4, 1)), np.ones(4))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05), loss="mse")
    # steps 1-4
    model.fit(*data, batch_size=2, epochs=2, callbacks=[logger, tensorboard], verbose=0)
    schedule = schedules.warmup_cosine(0.1, total_steps=4, warmup_steps=2)
    # a fresh optimizer
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=schedule), loss="mse")
    # steps 5-6
    model.fit(*data, batch_size=2, epochs=1, callbacks=[logger, tensorboard], verbose=0)
    expected = [0.05] * 4 + list(schedules.learning_rates(schedule, 2))
    np.testing.assert_allclose(logger.learning_rates, expected, rtol=1e-6)
    scalars = read_scalars(tmp_path / "train")
    assert sorted(scalars["learning_rate"]) == sorted(scalars["batch_loss"]) == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(
        [scalars["learning_rate"][step] for step in range(1, 7)], expected, rtol=1e-6
    )


def test_keras_tensorboard_alone_restarts_its_steps(tmp_path, read_scalars):
    """Why ContinuingTensorBoard exists: Keras's callback writes a second fit over steps 1, 2."""
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    tensorboard = keras.callbacks.TensorBoard(tmp_path, update_freq="batch", write_graph=False)
    for _ in range(2):
        model.fit(np.ones((4, 1)), np.ones(4), batch_size=2, callbacks=[tensorboard], verbose=0)
    assert sorted(read_scalars(tmp_path / "train")["batch_loss"]) == [1, 2]


def test_rates_at_reads_chosen_steps_of_the_closed_form_and_agrees_with_learning_rates():
    schedule = schedules.warmup_cosine(1e-3, 100, 10)
    steps = [0, 5, 10, 55, 99, 100, 150]
    expected = warmup_cosine_reference(1e-3, 100, 10, 0.0, 0.0, 151)[steps]
    # float32 arithmetic: about 1e-7 of the peak
    np.testing.assert_allclose(schedules.rates_at(schedule, steps), expected, rtol=1e-6, atol=1e-10)
    assert (
        schedules.rates_at(schedule, list(range(12))).tolist()
        == schedules.learning_rates(schedule, 12).tolist()
    )
    assert schedules.rates_at(schedule, (np.int64(10),)).tolist() == [pytest.approx(1e-3)]


def test_rates_at_raises_what_the_schedule_raises_when_called():
    # Lesson 02's pitfall: the int 0 as a warmup's start makes Keras compute in ints, and the
    # schedule raises only when called (q4 of lesson 05 turns this into feedback).
    int_start = keras.optimizers.schedules.CosineDecay(0, 100, warmup_target=1e-3, warmup_steps=10)
    with pytest.raises(TypeError):
        schedules.rates_at(int_start, [0, 50])


def received(name, value) -> str:
    return f"Received: {name}={value!r}"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: schedules.warmup_cosine(0.0, 10, 2),
            "peak_learning_rate must be a positive, finite number. "
            + received("peak_learning_rate", 0.0),
        ),
        (
            lambda: schedules.warmup_cosine(float("inf"), 10, 2),
            "peak_learning_rate must be a positive, finite number. "
            + received("peak_learning_rate", float("inf")),
        ),
        (
            lambda: schedules.warmup_cosine(1e-3, 0, 0),
            "total_steps must be an int >= 1. Received: total_steps=0",
        ),
        (
            lambda: schedules.warmup_cosine(1e-3, 10.0, 2),
            "total_steps must be an int >= 1. Received: total_steps=10.0",
        ),
        (
            lambda: schedules.warmup_cosine(1e-3, 10, 10),
            "warmup_steps must be an int from 0 to 9. Received: warmup_steps=10",
        ),
        (
            lambda: schedules.warmup_cosine(1e-3, 10, -1),
            "warmup_steps must be an int from 0 to 9. Received: warmup_steps=-1",
        ),
        (
            lambda: schedules.warmup_cosine(1e-3, 10, 2, initial_learning_rate=1e-2),
            "initial_learning_rate must be a finite number in [0, 0.001]. "
            "Received: initial_learning_rate=0.01",
        ),
        (
            lambda: schedules.warmup_cosine(1e-3, 10, 2, final_fraction=1.5),
            "final_fraction must be a finite number in [0, 1]. Received: final_fraction=1.5",
        ),
        (
            lambda: schedules.OneCycle(-1.0, 10),
            "max_learning_rate must be a positive, finite number. Received: max_learning_rate=-1.0",
        ),
        (
            lambda: schedules.OneCycle(1e-3, 10, warmup_fraction=1.0),
            "warmup_fraction must be a finite number in (0.1, 1). Received: warmup_fraction=1.0",
        ),
        (
            # the peak step 0.3 * 3 - 1 would come before step 0
            lambda: schedules.OneCycle(1e-3, 3, warmup_fraction=0.3),
            "warmup_fraction must be a finite number in (0.333333, 1). "
            "Received: warmup_fraction=0.3",
        ),
        (
            lambda: schedules.OneCycle(1e-3, 10, div_factor=0),
            "div_factor must be a positive, finite number. Received: div_factor=0",
        ),
        (
            lambda: schedules.OneCycle(1e-3, 10, final_div_factor=float("nan")),
            "final_div_factor must be a positive, finite number. Received: final_div_factor=nan",
        ),
        (
            lambda: schedules.OneCycle(1e-3, True),
            "total_steps must be an int >= 2. Received: total_steps=True",
        ),
        (
            lambda: schedules.OneCycle(1e-3, 10, name=""),
            "name must be a non-blank str. Received: name=''",
        ),
        (
            lambda: schedules.learning_rates(1e-3, 5),
            "schedule must be a keras LearningRateSchedule. Received: schedule=0.001",
        ),
        (
            lambda: schedules.learning_rates(schedules.OneCycle(1e-3, 10), 0),
            "num_steps must be an int >= 1. Received: num_steps=0",
        ),
        (
            lambda: schedules.rates_at(schedules.OneCycle(1e-3, 10), []),
            "steps must be a list or tuple of at least 1 item. Received: steps=[]",
        ),
        (
            lambda: schedules.rates_at(schedules.OneCycle(1e-3, 10), [0, -1]),
            "steps[1] must be an int >= 0. Received: steps[1]=-1",
        ),
        (
            lambda: schedules.plot_schedule(schedules.OneCycle(1e-3, 10), 5, log_scale="yes"),
            "log_scale must be True or False. Received: log_scale='yes'",
        ),
        (
            lambda: schedules.LearningRateLogger(log_dir=3),
            "log_dir must be a str, a path or None. Received: log_dir=3",
        ),
    ],
)
def test_bad_inputs_raise_value_error_naming_them(build, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        build()


@pytest.mark.parametrize(
    ("number", "integer"),
    [(np.float32, np.int64), (np.float64, np.int32), (float, int)],
)
def test_numpy_scalars_work_like_python_numbers(number, integer):
    warmup = schedules.warmup_cosine(
        number(1e-3), integer(10), integer(2), number(0.0), number(0.1)
    )
    np.testing.assert_allclose(
        schedules.learning_rates(warmup, integer(12)),
        schedules.learning_rates(schedules.warmup_cosine(1e-3, 10, 2, 0.0, 0.1), 12),
        rtol=1e-6,
    )
    one_cycle = schedules.OneCycle(number(1e-2), integer(10), number(0.4), number(25), number(1e4))
    reference = schedules.OneCycle(1e-2, 10, 0.4, 25, 1e4)
    np.testing.assert_allclose(
        schedules.learning_rates(one_cycle, 12), schedules.learning_rates(reference, 12), rtol=1e-6
    )
    # Python numbers in the config: Keras saves it as JSON with the model.
    config = one_cycle.get_config()
    assert [type(value) for value in config.values()] == [float, int, float, float, float, str]
    restored = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(one_cycle)
    )
    assert restored.get_config() == config
