"""The LR range test (helpers/finetune/lr_finder.py): sweep, stop rule, batch losses, undo."""

import re

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
    """Dense layers with BatchNorm (moving statistics) and Dropout (random-seed state).

    Together they hold every kind of state a model has.
    """
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
    """Reads the optimizer's learning rate after the range test has set it, before each step."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_train_batch_begin(self, batch, logs=None):
        self.rates.append(float(self.model.optimizer.learning_rate.numpy()))


def test_the_sweep_uses_the_exponential_schedule_exactly_and_at_most_100_steps():
    model = small_model(0, optimizer="sgd")
    spy = RateSpy()
    result = lr_finder.find_learning_rate(
        model, classification_data(0), 1e-5, 1e-1, num_steps=40, callbacks=[spy]
    )
    steps = np.arange(40)
    closed_form = 1e-5 * (1e-1 / 1e-5) ** (steps / 39)
    assert not result.stopped_early and len(result.losses) == len(result.learning_rates) == 40
    np.testing.assert_allclose(result.learning_rates, closed_form, rtol=1e-12)
    # what each step really used
    assert np.array_equal(np.float32(spy.rates), np.float32(result.learning_rates))
    message = "num_steps must be an int from 2 to 100. Received: num_steps=101"
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_finder.find_learning_rate(model, classification_data(0), num_steps=101)
    assert (
        lr_finder.find_learning_rate(model, classification_data(0), 1e-5, 1e-3).learning_rates.size
        <= 100
    )


def diverging_classifier(seed):
    """Dense(16, relu) -> Dense(3) with plain SGD: at rates of a few units its logits blow up.

    Measured: with the default sweep (1e-7 to 10) the smoothed loss passes 4x its best between
    rates 4.8 and 6.9 (seeds 0-2); from 1e-3 to 1e30 it reaches NaN after 22-24 steps.
    """
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(3)]
    )
    model.compile(optimizer=keras.optimizers.SGD(), loss=LOSS)
    inputs, labels = classification_data(seed)
    return model, tf.data.Dataset.from_tensor_slices((inputs, labels)).batch(16)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_early_stop_means_the_smoothed_loss_passed_four_times_its_best(seed):
    model, data = diverging_classifier(seed)
    result = lr_finder.find_learning_rate(model, data)
    assert result.stopped_early and len(result.losses) < 100
    assert result.smoothed_losses[-1] > 4 * np.min(result.smoothed_losses)
    assert np.all(
        result.smoothed_losses[:-1] <= 4 * np.minimum.accumulate(result.smoothed_losses[:-1])
    )
    np.testing.assert_allclose(
        result.smoothed_losses, lr_suggestions.smooth(result.losses), rtol=1e-12
    )


def test_a_nan_or_inf_loss_stops_the_test_too():
    model, data = diverging_classifier(0)
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
    # a used optimizer: moments, step count and BatchNorm statistics are not fresh
    for each in (
        model,
        twin,
    ):
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
    # moments are zero
    assert all(not np.any(variable.numpy()) for variable in model.optimizer.variables[2:])


class RunningMean(keras.callbacks.Callback):
    """Sets each step's rate like the range test, but sees Keras's running mean of the loss."""

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
    # the same start again
    assert all(np.array_equal(a, b) for a, b in zip(weights, state(model), strict=True))
    running = RunningMean(result.learning_rates)
    model.fit(
        data.repeat(), epochs=1, steps_per_epoch=30, callbacks=[running], verbose=0, shuffle=False
    )
    # Keras's report is the mean of the batch losses so far; the range test records the batch losses
    # themselves
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
        # the optimizer saw the base's weights only when unfrozen
        assert (trainable > 20) == (phase == "unfrozen")


def image_model():
    """A tiny model on 8x8 RGB images: the range test checks its data like training_inputs does."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(2, 1),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    model.compile(optimizer="adam", loss=LOSS)
    return model


def images_and_labels(dtype="float32", bad_value=None):
    images = np.random.default_rng(0).uniform(-1, 1, size=(12, 8, 8, 3)).astype(dtype)
    if bad_value is not None:
        images[3, 0, 0, 0] = bad_value
    return images, np.arange(12) % 3


def as_dataset(arrays, batch_size=4):
    return tf.data.Dataset.from_tensor_slices(arrays).batch(batch_size)


def test_images_are_checked_like_training_data_and_good_ones_train():
    model = image_model()
    for data in (images_and_labels(), as_dataset(images_and_labels())):
        result = lr_finder.find_learning_rate(model, data, num_steps=5, batch_size=4)
        assert len(result.losses) == 5 and np.isfinite(result.losses).all()


RAW_PIXELS = (
    "data images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input), "
    "not raw pixels. Received: data images of dtype uint8"
)
NAN_IMAGES = "data images must be finite. Received: data images with 1 NaN or inf values"
RAW_IMAGES = np.full((12, 8, 8, 3), 255, "uint8"), np.arange(12) % 3


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (RAW_IMAGES, RAW_PIXELS),
        (as_dataset(RAW_IMAGES), RAW_PIXELS),
        (images_and_labels(bad_value=np.nan), NAN_IMAGES),
        (as_dataset(images_and_labels(bad_value=np.nan)), NAN_IMAGES),
        (
            as_dataset(images_and_labels(bad_value=np.inf), batch_size=12),
            NAN_IMAGES,
        ),
        (
            (images_and_labels()[0], np.full(12, 3)),
            "data labels must be in [0, 3). Received: data labels with values [3]",
        ),
    ],
)
def test_raw_or_nan_images_and_wrong_labels_raise_before_any_step(data, message):
    model = image_model()
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_finder.find_learning_rate(model, data, num_steps=5, batch_size=4)
    assert not model.optimizer.built  # no step ran


FEATURES, LABELS = classification_data(0)
NAN_FEATURES = FEATURES.copy()
NAN_FEATURES[5, 2] = np.nan
DATA_WANTED = "data must be a tf.data.Dataset or a tuple (inputs, labels). "


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"model": "small_model"},
            "model must be a compiled keras.Model. Received: model='small_model'",
        ),
        (
            {"start_learning_rate": -1e-3},
            "start_learning_rate must be a positive, finite number. "
            "Received: start_learning_rate=-0.001",
        ),
        (
            {"end_learning_rate": 1e-8},
            "end_learning_rate must be a finite number > 1e-07. Received: end_learning_rate=1e-08",
        ),
        ({"num_steps": 1}, "num_steps must be an int from 2 to 100. Received: num_steps=1"),
        ({"batch_size": 0}, "batch_size must be an int >= 1. Received: batch_size=0"),
        ({"batch_size": 8.0}, "batch_size must be an int >= 1. Received: batch_size=8.0"),
        (
            {"divergence_factor": 1.0},
            "divergence_factor must be a finite number > 1. Received: divergence_factor=1.0",
        ),
        ({"beta": 1.5}, "beta must be a finite number in [0, 1). Received: beta=1.5"),
        ({"seed": -1}, "seed must be None or an int >= 0. Received: seed=-1"),
        (
            {"callbacks": "abc"},
            "callbacks must be None or a list of keras.callbacks.Callback. "
            "Received: callbacks='abc'",
        ),
        ({"data": "abc"}, DATA_WANTED + "Received: data='abc'"),
        ({"data": (FEATURES, LABELS, LABELS)}, DATA_WANTED + "Received: a tuple of 3 items"),
        (
            {"data": (np.zeros((8, 5), "float32"), np.zeros(8, int))},
            "data inputs must be a non-empty array (n, 6). Received: data inputs of shape (8, 5)",
        ),
        (
            {"data": (FEATURES, np.full(len(FEATURES), 3))},
            "data labels must be in [0, 3). Received: data labels with values [3]",
        ),
        (
            {"data": (FEATURES, LABELS + 0.5)},
            "data labels must be whole class indices (ints). Received: data labels with values",
        ),
        (
            {"data": (NAN_FEATURES, LABELS)},
            "data inputs must be finite. Received: data inputs with 1 NaN or inf values",
        ),
        (
            {"data": as_dataset((NAN_FEATURES, LABELS), batch_size=96)},
            "data inputs must be finite. Received: data inputs with 1 NaN or inf values",
        ),
        (
            {"data": as_dataset((FEATURES, LABELS)).take(0)},
            "data's first batch must be an (inputs, labels) pair (an empty dataset has none). "
            "Received: data's first batch=None",
        ),
    ],
)
def test_bad_arguments_are_named(change, message):
    arguments = {"model": small_model(0), "data": (FEATURES, LABELS), **change}
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_finder.find_learning_rate(**arguments)


def test_the_model_must_be_compiled_with_a_float_rate():
    uncompiled = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    message = (
        "model.optimizer must be a keras.optimizers.Optimizer (call model.compile first). "
        "Received: model.optimizer=None"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_finder.find_learning_rate(uncompiled, classification_data(0))
    scheduled = small_model(
        0, optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(1e-3, 10))
    )
    message = (
        "model.optimizer follows a schedule, so the range test cannot set its rate; compile the "
        "model with a float learning rate. Received: model.optimizer=Adam(learning_rate="
        "CosineDecay(...))"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_finder.find_learning_rate(scheduled, classification_data(0))


@pytest.mark.parametrize(
    ("number", "integer"), [(np.float32, np.int64), (np.float64, np.int32), (float, int)]
)
def test_numpy_scalars_work_like_python_numbers(number, integer):
    arguments = {
        "start_learning_rate": 1e-5,
        "end_learning_rate": 1e-1,
        "num_steps": 12,
        "batch_size": 16,
        "beta": 0.5,
        "divergence_factor": 4,
        "seed": 1,
    }
    reference = lr_finder.find_learning_rate(small_model(0), (FEATURES, LABELS), **arguments)
    converted = {
        key: integer(value) if isinstance(value, int) else number(value)
        for key, value in arguments.items()
    }
    result = lr_finder.find_learning_rate(small_model(0), (FEATURES, LABELS), **converted)
    np.testing.assert_allclose(result.learning_rates, reference.learning_rates, rtol=1e-6)
    np.testing.assert_allclose(result.losses, reference.losses, rtol=1e-4)
    assert result.num_steps == 12 and type(result.num_steps) is int


def test_seed_none_keeps_the_order_of_array_data():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(3)])
    model.compile(optimizer="sgd", loss=LOSS)
    in_order = float(LOSS(LABELS[:32], model(FEATURES[:32])))  # before the first update
    for seed, same_batch in [(None, True), (0, False)]:
        result = lr_finder.find_learning_rate(model, (FEATURES, LABELS), num_steps=3, seed=seed)
        assert (result.losses[0] == pytest.approx(in_order, rel=1e-5)) == same_batch, seed


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
    optimizer = keras.optimizers.SGD(0.3)
    by_hand = []
    for epoch_start in range(0, 128, 16):  # oracle: the same 8 steps with GradientTape
        batch = slice(epoch_start % 64, epoch_start % 64 + 16)
        with tf.GradientTape() as tape:
            loss = LOSS(labels[batch], twin(inputs[batch]))
        optimizer.apply(tape.gradient(loss, twin.trainable_variables), twin.trainable_variables)
        by_hand.append(float(loss))
    np.testing.assert_allclose(recorder.losses, by_hand, rtol=1e-5)
