"""One compiled model for a sweep (helpers/finetune/restarts.py, two_phase's reuse of it).

The promise: restoring a saved state and restarting the optimizer gives, bit for bit, the run a
freshly built and compiled model makes, without tracing the training step again.
"""

import re

import keras
import numpy as np
import pytest

from helpers.finetune import models, restarts, two_phase
from helpers.lessons import pretrained

IMAGE_SIZE = 32  # MobileNetV2's smallest input: the bundled base still gives real features
NUM_CLASSES = 3
BUILD_SEED = 3


def make_data(count=32):
    rng = np.random.default_rng(0)
    images = rng.uniform(-1.0, 1.0, size=(count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    return images, np.arange(count) % NUM_CLASSES


def fresh_pair():
    """The bundled base with a new head, built from one seed: dropout included."""
    keras.utils.set_random_seed(BUILD_SEED)
    return pretrained.build_mobilenet_v2(NUM_CLASSES, IMAGE_SIZE)


def phase_two(model, base_model, learning_rate, optimizer="adam", **options):
    """Phase 2 alone, seeded as a sweep seeds each run; returns its history."""
    keras.utils.set_random_seed(0)
    return two_phase.fine_tune(
        model,
        base_model,
        make_data(),
        head_epochs=0,
        fine_tune_epochs=2,
        fine_tune_learning_rate=learning_rate,
        optimizer=optimizer,
        batch_size=16,
        verbose=0,
        **options,
    )


def values(model):
    return [variable.numpy().copy() for variable in model.variables]


def test_save_and_restore_bring_back_every_variable_seed_generators_included():
    model, _ = fresh_pair()
    start = restarts.save_state(model)
    seed_indices = [
        index for index, variable in enumerate(model.variables) if "seed_generator" in variable.path
    ]
    assert len(seed_indices) == 1, "the head's dropout has one seed generator"
    model(make_data(4)[0], training=True)  # draws a dropout mask: the generator moves on
    for variable in model.trainable_variables:
        variable.assign(variable.numpy() + 1.0)
    seed_state = model.variables[seed_indices[0]].numpy()
    assert not np.array_equal(seed_state, start.values[seed_indices[0]])
    restarts.restore_state(model, start)
    for restored, saved in zip(values(model), start.values, strict=True):
        np.testing.assert_array_equal(restored, saved)


def test_a_saved_state_is_a_copy_the_model_cannot_change():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    start = restarts.save_state(model)
    kernel_before = start.values[0].copy()
    model.layers[0].kernel.assign(np.full((2, 1), 7.0))
    np.testing.assert_array_equal(start.values[0], kernel_before)


@pytest.mark.parametrize(
    "state, message",
    [
        (None, "state must be a ModelState (restarts.save_state). Received: state=None"),
        ([np.zeros((2, 1))], "state must be a ModelState"),
    ],
)
def test_restore_state_refuses_what_is_not_a_state(state, message):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        restarts.restore_state(model, state)


def test_restore_state_refuses_another_models_state_and_changes_nothing():
    small = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)], name="small")
    deeper = keras.Sequential(
        [keras.Input((2,)), keras.layers.Dense(1), keras.layers.Dense(1)], name="deeper"
    )
    before = values(deeper)
    with pytest.raises(ValueError, match="Received: a state of 'small' whose 2 variables, where"):
        restarts.restore_state(deeper, restarts.save_state(small))
    for now, then in zip(values(deeper), before, strict=True):
        np.testing.assert_array_equal(now, then)


@pytest.mark.parametrize("model", [None, "model", keras.layers.Dense(1)])
def test_save_state_names_what_is_not_a_model(model):
    with pytest.raises(ValueError, match=f"model must be a keras.Model. Received: model={model!r}"):
        restarts.save_state(model)


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_restart_optimizer_is_a_new_optimizer_at_the_new_rate(name):
    from helpers.finetune import optimizers

    variable = keras.Variable(np.array([1.0, -2.0], "float32"))
    used = optimizers.make_optimizer(name, 0.1)
    for _ in range(3):
        used.apply_gradients([(np.array([0.5, 0.25], "float32"), variable)])
    restarts.restart_optimizer(used, np.float32(0.01))  # a numpy scalar, like a float
    fresh = optimizers.make_optimizer(name, 0.01)
    fresh.build([variable])
    assert [slot.shape for slot in used.variables] == [slot.shape for slot in fresh.variables]
    for restarted, new in zip(used.variables, fresh.variables, strict=True):
        np.testing.assert_array_equal(restarted.numpy(), new.numpy())


def test_restart_optimizer_gives_a_loss_scale_optimizer_its_first_scale_back():
    # Mixed float16 (lesson 08): compile wraps the optimizer in a LossScaleOptimizer, whose scale
    # starts at 2**15 and halves when a step overflows. Set to zero, every gradient would be 0/0.
    variable = keras.Variable(np.array([1.0, -2.0], "float32"))
    used = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1, momentum=0.9))
    for gradient in ([0.5, 0.25], [np.inf, 0.0], [0.5, 0.25]):  # the inf step halves the scale
        used.apply_gradients([(np.array(gradient, "float32"), variable)])
    assert float(used.dynamic_scale.numpy()) == used.initial_scale / 2
    restarts.restart_optimizer(used, 0.01)
    fresh = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01, momentum=0.9))
    fresh.build([variable])
    for restarted, new in zip(used.variables, fresh.variables, strict=True):
        np.testing.assert_array_equal(restarted.numpy(), new.numpy())
    assert float(used.dynamic_scale.numpy()) == used.initial_scale == 2.0**15


@pytest.mark.parametrize("learning_rate", [0.0, float("nan"), "1e-3"])
def test_restart_optimizer_names_a_bad_rate(learning_rate):
    optimizer = keras.optimizers.Adam(1e-3)
    message = "learning_rate must be a positive, finite number. "
    message += f"Received: learning_rate={learning_rate!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        restarts.restart_optimizer(optimizer, learning_rate)


def test_restart_optimizer_refuses_a_schedule_and_anything_not_an_optimizer():
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    with pytest.raises(ValueError, match="optimizer must have a float learning rate to restart"):
        restarts.restart_optimizer(keras.optimizers.SGD(schedule), 0.1)
    message = "optimizer must be a Keras optimizer. Received: optimizer='adam'"
    with pytest.raises(ValueError, match=message):
        restarts.restart_optimizer("adam", 0.1)


# Adam end to end (each run traces MobileNetV2's step: seconds); every optimizer's restart is
# checked against a new optimizer above.
@pytest.mark.parametrize("optimizer", ["adam"])
def test_a_restored_and_restarted_run_is_bitwise_a_fresh_builds_run(optimizer):
    fresh_model, fresh_base = fresh_pair()
    fresh_history = phase_two(fresh_model, fresh_base, 1e-4, optimizer)

    model, base_model = fresh_pair()
    start = restarts.save_state(model)
    phase_two(model, base_model, 1e-2, optimizer)  # another rate first: moments, steps, seeds move
    traced_step = model.train_function
    restarts.restore_state(model, start)
    history = phase_two(model, base_model, 1e-4, optimizer)

    assert model.train_function is traced_step, "the second run traced its step again"
    assert history.loss == fresh_history.loss
    assert history.accuracy == fresh_history.accuracy
    for reused, fresh in zip(values(model), values(fresh_model), strict=True):
        np.testing.assert_array_equal(reused, fresh)


def tiny_pair():
    """A pair shaped as `build_mobilenet_v2`'s (base, pooling, head) with a three-layer base: its
    training step traces in a fraction of a second."""
    keras.utils.set_random_seed(BUILD_SEED)
    base_model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3),
            keras.layers.BatchNormalization(),
            keras.layers.Conv2D(4, 3),
        ],
        name="tiny_base",
    )
    images = keras.Input((8, 8, 3))
    outputs = keras.layers.GlobalAveragePooling2D()(base_model(images, training=False))
    for layer in models.head_layers(NUM_CLASSES):
        outputs = layer(outputs)
    return keras.Model(images, outputs), base_model


def test_fine_tune_compiles_again_when_the_traced_step_no_longer_fits():
    model, base_model = tiny_pair()
    rng = np.random.default_rng(0)
    images = rng.uniform(-1.0, 1.0, size=(32, 8, 8, 3)).astype("float32")
    data = (images, np.arange(32) % NUM_CLASSES)

    def phase_two(model, base_model, learning_rate, optimizer="adam", **options):
        return two_phase.fine_tune(
            model,
            base_model,
            data,
            head_epochs=0,
            fine_tune_epochs=1,
            fine_tune_learning_rate=learning_rate,
            optimizer=optimizer,
            verbose=0,
            **options,
        )

    start = restarts.save_state(model)
    steps = []
    runs = [
        {},  # the first run compiles
        {"top_layers": 1},  # other trainable weights: a new step
        {"top_layers": 1},  # the same weights again: reused
        {"optimizer": "sgd", "top_layers": 1},  # another optimizer: a new step
    ]
    for options in runs:
        restarts.restore_state(model, start)
        options = {"optimizer": "adam", **options}
        phase_two(model, base_model, 1e-4, **options)
        steps.append(model.train_function)
    assert [steps[1] is steps[0], steps[2] is steps[1], steps[3] is steps[2]] == [
        False,
        True,
        False,
    ]
    # Compiled by hand in between: fine_tune compiles its own again.
    model.compile(optimizer="adam", loss="mse")
    phase_two(model, base_model, 1e-4, optimizer="sgd", top_layers=1)
    assert model.train_function is not steps[3]
    assert model.loss.__class__ is keras.losses.SparseCategoricalCrossentropy
    # A schedule is part of the traced step: a new one.
    schedule = keras.optimizers.schedules.CosineDecay(1e-4, decay_steps=4)
    after_hand_compile = model.train_function
    phase_two(model, base_model, schedule, optimizer="sgd", top_layers=1)
    assert model.train_function is not after_hand_compile
