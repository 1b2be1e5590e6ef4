"""The LR range test (helpers/lr_finder.py): its sweep, stop rule and batch losses, and that it undoes itself."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import lr_finder, lr_suggestions, models
from helpers.lessons import pretrained

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def classification_data(seed, count=96, features=6, classes=3):
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % classes
    centres = rng.normal(scale=2.0, size=(classes, features))
    return (centres[labels] + rng.normal(size=(count, features))).astype("float32"), labels


def small_model(seed, optimizer="adam", features=6, classes=3):
    """Dense layers with BatchNorm (moving statistics) and Dropout (random-seed state): all the state there is."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((features,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(classes),
        ]
    )
    model.compile(optimizer=optimizer, loss=LOSS)
    return model


class RateSpy(keras.callbacks.Callback):
    """Reads the optimizer's learning rate after the range test has set it, just before each step."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate.numpy()))


def test_the_sweep_uses_the_exponential_schedule_exactly_and_at_most_100_steps():
    model, spy = small_model(0, optimizer="sgd"), RateSpy()
    result = lr_finder.find_learning_rate(
        model, classification_data(0), 1e-5, 1e-1, num_steps=40, callbacks=[spy]
    )
    steps = np.arange(40)
    closed_form = 1e-5 * (1e-1 / 1e-5) ** (steps / 39)
    assert not result.stopped_early and len(result.losses) == len(result.learning_rates) == 40
    np.testing.assert_allclose(result.learning_rates, closed_form, rtol=1e-12)
    assert np.array_equal(
        np.float32(spy.rates), np.float32(result.learning_rates)
    )  # what each step really used
    with pytest.raises(ValueError, match="num_steps must be at most 100. Received: num_steps=101"):
        lr_finder.find_learning_rate(model, classification_data(0), num_steps=101)
    assert (
        lr_finder.find_learning_rate(model, classification_data(0), 1e-5, 1e-3).learning_rates.size
        <= 100
    )


def regression_model(seed):
    """Linear least squares: plain gradient descent diverges above 2 / (largest curvature), loudly."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(), loss="mse")
    inputs = np.random.default_rng(seed).normal(scale=3.0, size=(64, 4)).astype("float32")
    targets = (inputs @ np.arange(1.0, 5.0)).astype("float32")
    return model, inputs, targets


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_early_stop_means_the_smoothed_loss_passed_four_times_its_best(seed):
    model, inputs, targets = regression_model(seed)
    result = lr_finder.find_learning_rate(
        model, tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(16)
    )
    assert result.stopped_early and len(result.losses) < 100
    assert result.smoothed_losses[-1] > 4 * np.min(result.smoothed_losses)
    assert np.all(
        result.smoothed_losses[:-1] <= 4 * np.minimum.accumulate(result.smoothed_losses[:-1])
    )
    np.testing.assert_allclose(
        result.smoothed_losses, lr_suggestions.smooth(result.losses), rtol=1e-12
    )


def test_a_nan_or_inf_loss_stops_the_test_too():
    model, inputs, targets = regression_model(0)
    data = tf.data.Dataset.from_tensor_slices((inputs, targets)).batch(16)
    result = lr_finder.find_learning_rate(
        model, data, 1e-3, 1e30, num_steps=100, divergence_factor=1e300
    )
    assert result.stopped_early and not np.isfinite(result.smoothed_losses[-1])
    assert np.isfinite(result.smoothed_losses[:-1]).all()  # it stopped at the first non-finite loss


def state(model):
    return [variable.numpy().copy() for variable in [*model.variables, *model.optimizer.variables]]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weights_and_optimizer_state_come_back_bitwise_and_training_continues_as_if_untouched(seed):
    data = classification_data(seed)
    model, twin = small_model(seed), small_model(seed)
    for each in (
        model,
        twin,
    ):  # a used optimizer: moments, step count and BatchNorm statistics are not fresh
        each.fit(*data, epochs=1, batch_size=32, verbose=0, shuffle=False)
    before = state(model)
    result = lr_finder.find_learning_rate(model, data, num_steps=30, seed=seed)
    assert len(result.losses) > 0 and len(before) == len(state(model)) > 8
    assert all(np.array_equal(a, b) for a, b in zip(before, state(model), strict=True))
    for each in (model, twin):
        each.fit(*data, epochs=1, batch_size=32, verbose=0, shuffle=False)
    assert all(np.array_equal(a, b) for a, b in zip(state(twin), state(model), strict=True))


def test_a_fresh_optimizer_is_built_first_so_its_zero_state_is_what_comes_back():
    model = small_model(0)
    assert not model.optimizer.built
    lr_finder.find_learning_rate(model, classification_data(0), num_steps=10)
    assert model.optimizer.built and int(model.optimizer.iterations.numpy()) == 0
    assert all(
        not np.any(variable.numpy()) for variable in model.optimizer.variables[2:]
    )  # moments are zero


class RunningMean(keras.callbacks.Callback):
    """Sets each step's rate like the range test but leaves Keras's metrics alone: it sees the running mean."""

    def __init__(self, rates):
        super().__init__()
        self.planned, self.reported = rates, []

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.planned[batch])

    def on_train_batch_end(self, batch, logs=None):
        self.reported.append(float(logs["loss"]))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_own_batch_losses_differ_from_the_running_mean_keras_reports(seed):
    # constructed case: one batch per class, so each batch's loss differs widely from the others
    inputs, labels = classification_data(seed, count=96)
    order = np.argsort(labels, kind="stable")
    data = tf.data.Dataset.from_tensor_slices((inputs[order], labels[order])).batch(32)
    model = small_model(seed, optimizer="sgd")
    model.optimizer.build(model.trainable_variables)
    weights = state(model)
    result = lr_finder.find_learning_rate(model, data, 1e-4, 1e-1, num_steps=30)
    assert all(
        np.array_equal(a, b) for a, b in zip(weights, state(model), strict=True)
    )  # the same start again
    running = RunningMean(result.learning_rates)
    model.fit(
        data.repeat(), epochs=1, steps_per_epoch=30, callbacks=[running], verbose=0, shuffle=False
    )
    # Keras's report is the mean of the batch losses so far; the range test records the batch losses themselves
    np.testing.assert_allclose(
        running.reported, np.cumsum(result.losses) / np.arange(1, 31), rtol=1e-4
    )
    assert np.max(np.abs(np.array(running.reported) - result.losses)) > 0.1


def test_the_finder_runs_on_the_frozen_phase_and_on_the_unfrozen_model():
    keras.utils.set_random_seed(0)
    model, base_model = pretrained.build_mobilenet_v2(3, image_size=32, weights=None)
    images = np.random.default_rng(0).uniform(-1, 1, size=(24, 32, 32, 3)).astype("float32")
    labels = np.arange(24) % 3
    for phase in ("frozen", "unfrozen"):
        models.freeze(base_model) if phase == "frozen" else models.unfreeze(base_model)
        model.compile(optimizer=keras.optimizers.Adam(), loss=LOSS)
        model.optimizer.build(model.trainable_variables)
        before = state(model)
        result = lr_finder.find_learning_rate(model, (images, labels), num_steps=8, batch_size=8)
        assert len(result.losses) == 8 and np.isfinite(result.losses).all(), phase
        assert all(np.array_equal(a, b) for a, b in zip(before, state(model), strict=True)), phase
        trainable = len(model.optimizer.variables)
        assert (trainable > 20) == (
            phase == "unfrozen"
        )  # the optimizer saw the base's weights only when unfrozen


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"start_learning_rate": -1e-3}, "start_learning_rate must be a positive.*-0.001"),
        ({"batch_size": 0}, "batch_size must be an int >= 1. Received: batch_size=0"),
        ({"divergence_factor": 1.0}, "divergence_factor must be a number > 1.*1.0"),
        ({"beta": 1.5}, "beta must be a number in \\[0, 1\\). Received: beta=1.5"),
        (
            {"data": (np.zeros((8, 5), "float32"), np.zeros(8, int))},
            "inputs must have shape \\(n, \\*\\(6,\\)\\).*5",
        ),
        (
            {"data": (np.zeros((8, 6), "float32"), np.full(8, 3))},
            "labels must be in \\[0, 3\\). Received: \\[3\\]",
        ),
    ],
)
def test_bad_arguments_are_named(change, message):
    arguments = {"model": small_model(0), "data": classification_data(0), **change}
    with pytest.raises(ValueError, match=message):
        lr_finder.find_learning_rate(**arguments)


def test_the_model_must_be_compiled_with_a_float_rate():
    uncompiled = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="model must be a compiled keras.Model"):
        lr_finder.find_learning_rate(uncompiled, classification_data(0))
    scheduled = small_model(
        0, optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 10))
    )
    with pytest.raises(ValueError, match="follows a schedule.*CosineDecay"):
        lr_finder.find_learning_rate(scheduled, classification_data(0))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batch_loss_recorder_matches_each_step_computed_by_hand(seed):
    inputs, labels = classification_data(seed, count=64)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    twin = keras.models.clone_model(model)
    twin.set_weights(model.get_weights())
    model.compile(optimizer=keras.optimizers.SGD(0.3), loss=LOSS)
    recorder = lr_finder.BatchLossRecorder()
    model.fit(
        inputs, labels, batch_size=16, epochs=2, shuffle=False, callbacks=[recorder], verbose=0
    )
    optimizer, by_hand = keras.optimizers.SGD(0.3), []
    for epoch_start in range(0, 128, 16):  # oracle: the same 8 steps with GradientTape
        batch = slice(epoch_start % 64, epoch_start % 64 + 16)
        with tf.GradientTape() as tape:
            loss = LOSS(labels[batch], twin(inputs[batch]))
        optimizer.apply(tape.gradient(loss, twin.trainable_variables), twin.trainable_variables)
        by_hand.append(float(loss))
    np.testing.assert_allclose(recorder.losses, by_hand, rtol=1e-5)
