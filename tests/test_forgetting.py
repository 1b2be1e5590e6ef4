"""Weight drift and source accuracy, checked against closed forms and the model's own predictions."""

import keras
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
    assert all(
        np.array_equal(old, new) for old, new in zip(statistics["bn"], after["bn"], strict=True)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_source_accuracy_matches_the_source_models_own_predictions(seed):
    model, base = tiny_model(seed)
    rng = np.random.default_rng(seed)
    images, labels = rng.normal(size=(40, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 40)
    expected = np.mean(np.argmax(model.predict(images, verbose=0), axis=1) == labels)
    kernel, bias = model.get_layer("head").get_weights()
    assert forgetting.source_accuracy(base, kernel, bias, images, labels) == pytest.approx(expected)


def test_source_accuracy_validates_its_inputs():
    _, base = tiny_model(0)
    images, kernel, bias = np.zeros((4, 8, 8, 3)), np.zeros((4, 3)), np.zeros(3)
    with pytest.raises(
        ValueError, match="labels must be in \\[0, 3\\). Received: labels from 0 to 3"
    ):
        forgetting.source_accuracy(base, kernel, bias, images, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="source_bias.shape=\\(2,\\)"):
        forgetting.source_accuracy(base, kernel, np.zeros(2), images, np.zeros(4, int))
    with pytest.raises(ValueError, match="Received: 4 and 3"):
        forgetting.source_accuracy(base, kernel, bias, images, np.zeros(3, int))


def test_snapshot_of_another_model_is_rejected():
    model, _ = tiny_model(0)
    other = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="elsewhere")])
    with pytest.raises(ValueError, match="before has no weights for layer"):
        forgetting.relative_drift(forgetting.snapshot(other), model)


def test_plot_drift_returns_the_axes():
    import matplotlib.pyplot as plt

    figure, ax = plt.subplots()
    returned = forgetting.plot_drift(
        {"1e-4": {"a": 0.1, "b": 0.0}, "1e-2": {"a": 0.5, "b": 0.2}}, ax=ax
    )
    assert returned is ax and len(ax.lines) == 2 and ax.get_yscale() == "log"
    plt.close(figure)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batchnorm_layers_moved_names_exactly_the_layers_a_training_pass_updated(seed):
    model, base = tiny_model(seed)
    before = forgetting.batchnorm_statistics(model)
    assert forgetting.batchnorm_layers_moved(before, forgetting.batchnorm_statistics(model)) == []
    base(
        np.random.default_rng(seed).normal(size=(4, 8, 8, 3)), training=True
    )  # a training pass updates BN
    assert forgetting.batchnorm_layers_moved(before, forgetting.batchnorm_statistics(model)) == [
        "bn"
    ]
    with pytest.raises(ValueError, match="same BatchNormalization layers"):
        forgetting.batchnorm_layers_moved(before, {})
