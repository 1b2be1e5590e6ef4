"""Weight drift and source accuracy (helpers/finetune/forgetting.py), against closed forms."""

import re

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.finetune import forgetting


def tiny_base(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    return keras.Model(inputs, keras.layers.ReLU()(x), name="tiny_base")


def tiny_model(seed: int, num_classes: int = 3) -> tuple[keras.Model, keras.Model]:
    base = tiny_base(seed)
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(base(inputs, training=False))
    return keras.Model(inputs, keras.layers.Dense(num_classes, name="head")(x)), base


def preprocessed_images(seed: int, count: int) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, size=(count, 8, 8, 3)).astype("float32")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_drift_is_zero_without_change_and_scales_in_closed_form(seed):
    model, base = tiny_model(seed)
    before = forgetting.snapshot(model)
    assert set(forgetting.relative_drift(before, model).values()) == {0.0}
    kernel, bias = base.get_layer("conv").get_weights()
    base.get_layer("conv").set_weights([kernel * 1.25, bias * 1.25])
    drift = forgetting.relative_drift(before, model)
    assert drift["conv"] == pytest.approx(0.25, rel=1e-5)
    assert drift["bn"] == 0.0 and drift["head"] == 0.0
    assert 0 < forgetting.overall_drift(before, model) < 0.25


def test_overall_drift_is_the_drift_of_all_weights_together_in_closed_form():
    model, _ = tiny_model(0)
    before = forgetting.snapshot(model)
    # Every weight scaled by 1.5 (the nested base as one layer); the BatchNorm statistics too,
    # but they are not counted.
    for layer in model.layers:
        layer.set_weights([weight * 1.5 for weight in layer.get_weights()])
    assert forgetting.overall_drift(before, model) == pytest.approx(0.5, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_frozen_layers_do_not_drift_while_the_head_does(seed):
    model, base = tiny_model(seed)
    base.trainable = False
    before, statistics = forgetting.snapshot(model), forgetting.batchnorm_statistics(model)
    model.compile(
        keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    rng = np.random.default_rng(seed)
    model.fit(rng.normal(size=(16, 8, 8, 3)), rng.integers(0, 3, 16), epochs=2, verbose=0)
    drift = forgetting.relative_drift(before, model)
    assert drift["conv"] == 0.0 and drift["bn"] == 0.0 and drift["head"] > 0.0
    after = forgetting.batchnorm_statistics(model)
    pairs = zip(statistics["bn"], after["bn"], strict=True)
    assert all(np.array_equal(old, new) for old, new in pairs)


SNAPSHOT_WANTED = (
    "before must be a snapshot of this model (forgetting.snapshot(model), taken before training)."
)


@pytest.mark.parametrize("drift", [forgetting.relative_drift, forgetting.overall_drift])
def test_a_snapshot_of_another_model_or_an_empty_one_is_rejected(drift):
    model, _ = tiny_model(0)
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="elsewhere")])
    model_layers = "but the model's are ['conv', 'bn', 'head']"
    message = f"{SNAPSHOT_WANTED} Received: before with layers ['elsewhere'], {model_layers}"
    with pytest.raises(ValueError, match=re.escape(message)):
        drift(forgetting.snapshot(other), model)
    message = f"{SNAPSHOT_WANTED} Received: before with layers [], {model_layers}"
    with pytest.raises(ValueError, match=re.escape(message)):
        drift({}, model)
    message = f"{SNAPSHOT_WANTED[:-1]}. Received: before=[1.0]"
    with pytest.raises(ValueError, match=re.escape(message)):
        drift([1.0], model)


def test_a_snapshot_of_a_model_with_other_shapes_is_rejected():
    model, _ = tiny_model(0)
    smaller, _ = tiny_model(0, num_classes=2)
    message = (
        f"{SNAPSHOT_WANTED} Received: before['head'] with weight shapes [(4, 2), (2,)], "
        "but the layer's are [(4, 3), (3,)]"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        forgetting.overall_drift(forgetting.snapshot(smaller), model)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_source_accuracy_matches_the_source_models_own_predictions(seed):
    model, base = tiny_model(seed)
    images = preprocessed_images(seed, 40)
    labels = np.random.default_rng(seed).integers(0, 3, 40)
    expected = np.mean(np.argmax(model.predict(images, verbose=0), axis=1) == labels)
    kernel, bias = model.get_layer("head").get_weights()
    assert forgetting.source_accuracy(base, kernel, bias, images, labels) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"labels": np.array([0, 1, 2, 3])},
            "labels must be in [0, 3). Received: labels with values [3]",
        ),
        (
            {"labels": np.zeros(3, int)},
            "labels must hold one label per example (4). Received: 3 labels",
        ),
        (
            {"source_bias": np.zeros(2)},
            "source_bias must have shape (3,). Received: source_bias of shape (2,)",
        ),
        (
            {"source_kernel": np.zeros((5, 3))},
            "source_kernel must have shape (4, classes). Received: source_kernel of shape (5, 3)",
        ),
        (
            {"images": np.full((4, 8, 8, 3), 255, np.uint8)},
            "images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input), "
            "not raw pixels. Received: images of dtype uint8",
        ),
        ({"batch_size": 0}, "batch_size must be an int >= 1. Received: batch_size=0"),
        ({"base_model": "base"}, "base_model must be a keras.Model. Received: base_model='base'"),
    ],
)
def test_source_accuracy_rejects_bad_arguments_naming_them(arguments, message):
    _, base = tiny_model(0)
    arguments = {
        "base_model": base,
        "source_kernel": np.zeros((4, 3)),
        "source_bias": np.zeros(3),
        "images": np.zeros((4, 8, 8, 3)),
        "labels": np.zeros(4, int),
        **arguments,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        forgetting.source_accuracy(**arguments)


def test_plot_drift_returns_the_axes():
    figure, ax = plt.subplots()
    runs = {"1e-4": {"a": 0.1, "b": 0.0}, "1e-2": {"a": 0.5, "b": 0.2}}
    returned = forgetting.plot_drift(runs, ax=ax)
    assert returned is ax and len(ax.lines) == 2 and ax.get_yscale() == "log"
    message = "drift_by_run must be a dict of relative_drift. Received: drift_by_run=[0.1]"
    with pytest.raises(ValueError, match=re.escape(message)):
        forgetting.plot_drift([0.1], ax=ax)
    plt.close(figure)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batchnorm_layers_moved_names_exactly_the_layers_a_training_pass_updated(seed):
    model, base = tiny_model(seed)
    before = forgetting.batchnorm_statistics(model)
    assert forgetting.batchnorm_layers_moved(before, forgetting.batchnorm_statistics(model)) == []
    # A training pass updates BatchNormalization's statistics.
    base(preprocessed_images(seed, 4), training=True)
    moved = forgetting.batchnorm_layers_moved(before, forgetting.batchnorm_statistics(model))
    assert moved == ["bn"]
    message = (
        "before and after must describe the same BatchNormalization layers. "
        "Received: before with layers ['bn'], after with layers []"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        forgetting.batchnorm_layers_moved(before, {})


def test_numpy_scalars_work_like_python_numbers():
    model, base = tiny_model(1)
    images = preprocessed_images(1, 10)
    labels = np.arange(10) % 3
    kernel, bias = model.get_layer("head").get_weights()
    python = forgetting.source_accuracy(base, kernel, bias, images, labels, batch_size=4)
    numpy = forgetting.source_accuracy(base, kernel, bias, images, labels, np.int64(4))
    assert numpy == python


# The update/weight ratio of one step -------------------------------------------------------------


def dense_model(seed: int, optimizer: keras.optimizers.Optimizer) -> keras.Model:
    """One Dense layer without bias, random weights: its gradient has a closed form."""
    keras.utils.set_random_seed(seed)
    layer = keras.layers.Dense(1, use_bias=False, name="dense")
    model = keras.Sequential([keras.Input((5,)), layer])
    model.compile(optimizer=optimizer, loss="mse")
    return model


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_update_ratio_of_an_sgd_step_is_rate_times_gradient_over_weights(seed):
    model = dense_model(seed, keras.optimizers.SGD(learning_rate=0.05))
    rng = np.random.default_rng(seed)
    inputs, target = rng.normal(size=(1, 5)), rng.normal(size=(1, 1))
    kernel = model.layers[0].get_weights()[0]
    # loss = (inputs @ kernel - target) ** 2, so its gradient is 2 * inputs * residual.
    gradient = 2 * inputs.T * (inputs @ kernel - target)
    expected = 0.05 * np.linalg.norm(gradient) / np.linalg.norm(kernel)
    recorder = forgetting.UpdateRatioRecorder(model, steps=1)
    model.fit(inputs, target, batch_size=1, epochs=1, callbacks=[recorder], verbose=0)
    assert recorder.mean_ratios()["dense"] == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adams_first_step_moves_each_weight_by_its_rate_whatever_the_gradient(seed):
    model = dense_model(seed, keras.optimizers.Adam(learning_rate=1e-3))
    rng = np.random.default_rng(seed)
    inputs = rng.normal(size=(1, 5)) * 10.0 ** rng.integers(-2, 3)  # gradients of any size
    kernel = model.layers[0].get_weights()[0]
    recorder = forgetting.UpdateRatioRecorder(model, steps=1)
    model.fit(inputs, rng.normal(size=(1, 1)), epochs=1, callbacks=[recorder], verbose=0)
    # Each weight moves by the rate: norm(step) = 1e-3 * sqrt(5), i.e. the rate / rms(weights).
    root_mean_square = np.sqrt(np.mean(kernel**2))
    assert recorder.mean_ratios()["dense"] == pytest.approx(1e-3 / root_mean_square, rel=1e-3)


def test_update_ratio_recorder_keeps_only_the_first_steps_and_frozen_layers_record_zero():
    model, base = tiny_model(0)
    base.get_layer("conv").trainable = False
    model.compile(
        keras.optimizers.Adam(1e-2), keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    recorder = forgetting.UpdateRatioRecorder(model, steps=3)
    assert recorder.mean_ratios() == {}
    rng = np.random.default_rng(0)
    images, labels = preprocessed_images(0, 20), rng.integers(0, 3, 20)
    model.fit(images, labels, batch_size=4, epochs=2, callbacks=[recorder], verbose=0)
    assert len(recorder.ratios) == 3  # of 10 steps
    means = recorder.mean_ratios()
    assert means["conv"] == 0.0 and means["head"] > 0.0
    assert means["head"] == pytest.approx(np.mean([step["head"] for step in recorder.ratios]))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"steps": 0}, "steps must be an int >= 1. Received: steps=0"),
        ({"steps": 2.0}, "steps must be an int >= 1. Received: steps=2.0"),
        ({"model": "model"}, "model must be a keras.Model. Received: model='model'"),
    ],
)
def test_update_ratio_recorder_rejects_bad_arguments(arguments, message):
    model, _ = tiny_model(0)
    with pytest.raises(ValueError, match=re.escape(message)):
        forgetting.UpdateRatioRecorder(**{"model": model, **arguments})


def test_update_ratio_recorder_accepts_a_numpy_step_count():
    model, _ = tiny_model(0)
    assert forgetting.UpdateRatioRecorder(model, steps=np.int64(2)).steps == 2


# The gradient that reaches the base --------------------------------------------------------------


def reference_gradient_norm(model, base, images, labels):
    """The same gradient taken the plain way: the base unfrozen, tf.GradientTape on its weights."""
    import tensorflow as tf

    base.trainable = True
    weights = [weight for weight in base.get_layer("conv").trainable_weights]
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        value = loss(labels, model(images, training=False))
    gradients = tape.gradient(value, weights)
    return float(np.sqrt(sum(np.sum(np.square(gradient)) for gradient in gradients)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_base_gradient_norm_matches_a_plain_gradient_tape_frozen_or_not(seed):
    model, base = tiny_model(seed)
    images = preprocessed_images(seed, 10)
    labels = np.random.default_rng(seed).integers(0, 3, 10)
    base.trainable = False
    frozen = forgetting.base_gradient_norm(model, base, images, labels, batch_size=3)
    expected = reference_gradient_norm(model, base, images, labels)
    unfrozen = forgetting.base_gradient_norm(model, base, images, labels)
    assert frozen == pytest.approx(expected, rel=1e-4) and unfrozen == pytest.approx(
        expected, rel=1e-4
    )
    assert expected > 0


def test_base_gradient_norm_is_zero_when_the_head_ignores_the_features():
    model, base = tiny_model(0)
    kernel, bias = model.get_layer("head").get_weights()
    model.get_layer("head").set_weights([np.zeros_like(kernel), bias])
    images, labels = preprocessed_images(0, 4), np.array([0, 1, 2, 0])
    assert forgetting.base_gradient_norm(model, base, images, labels) == 0.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"labels": np.array([0, 1, 2, 3])}, "labels must be in [0, 3). Received: labels with"),
        ({"labels": np.zeros(3, int)}, "labels must hold one label per example (4)."),
        ({"images": np.zeros((4, 9, 9, 3))}, "images must have shape (n, 8, 8, 3)."),
        ({"batch_size": 0}, "batch_size must be an int >= 1. Received: batch_size=0"),
        ({"base_model": None}, "base_model must be a keras.Model. Received: base_model=None"),
    ],
)
def test_base_gradient_norm_rejects_bad_arguments(arguments, message):
    model, base = tiny_model(0)
    arguments = {
        "model": model,
        "base_model": base,
        "images": np.zeros((4, 8, 8, 3)),
        "labels": np.zeros(4, int),
        **arguments,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        forgetting.base_gradient_norm(**arguments)


def test_plot_update_ratios_draws_each_run_and_the_rule_of_thumb():
    figure, ax = plt.subplots()
    runs = {"1e-4": {"a": 1e-3, "b": 0.0}, "1e-2": {"a": 0.1, "b": 0.2}}
    assert forgetting.plot_update_ratios(runs, ax=ax) is ax
    assert len(ax.lines) == 3 and ax.get_yscale() == "log"
    assert ax.lines[2].get_ydata()[0] == forgetting.HEALTHY_UPDATE_RATIO == 1e-3
    assert np.isnan(ax.lines[0].get_ydata()[1])  # a frozen layer's 0 is left out
    message = (
        "ratios_by_run must be a dict of UpdateRatioRecorder.mean_ratios. "
        "Received: ratios_by_run=[0.1]"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        forgetting.plot_update_ratios([0.1], ax=ax)
    plt.close(figure)
