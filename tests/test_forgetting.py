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
