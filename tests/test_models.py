"""The MobileNetV2 builder and BatchNorm-safe freezing (helpers/finetune/models.py)."""

import keras
import numpy as np
import pytest

from helpers.finetune import models

IMAGE_SIZE = 32  # the smallest size MobileNetV2 accepts: keeps every test fast


def batch_norm_layers(base_model):
    return [
        layer for layer in base_model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]


def moving_statistics(base_model):
    return [
        variable.numpy().copy()
        for layer in batch_norm_layers(base_model)
        for variable in (layer.moving_mean, layer.moving_variance)
    ]


def weights_of(model):
    return [variable.numpy().copy() for variable in model.weights]


def fit_once(model, seed, run_eagerly, count=8):
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 1.0, size=(count, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    labels = rng.integers(0, model.output_shape[-1], size=count)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=run_eagerly,
    )
    model.fit(images, labels, batch_size=4, epochs=1, verbose=0)
    return images


def test_the_model_is_base_pooling_dropout_and_a_logits_layer():
    model, base_model = models.build_mobilenet_v2(5, image_size=IMAGE_SIZE, dropout=0.3)
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer",
        "Functional",
        "GlobalAveragePooling2D",
        "Dropout",
        "Dense",
    ]
    assert model.layers[1] is base_model and model.input_shape == (None, IMAGE_SIZE, IMAGE_SIZE, 3)
    assert model.get_layer("dropout").rate == 0.3
    assert model.get_layer("logits").get_config()["activation"] == "linear"  # logits: no softmax
    assert model.output_shape == (None, 5)


def test_zero_dropout_leaves_the_dropout_layer_out():
    model, _ = models.build_mobilenet_v2(2, image_size=IMAGE_SIZE, dropout=0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


@pytest.mark.parametrize(("alpha", "first_filters"), [(0.35, 16), (1.0, 32)])
def test_alpha_sets_the_width_of_the_base(alpha, first_filters):
    _, base_model = models.build_mobilenet_v2(2, image_size=IMAGE_SIZE, alpha=alpha)
    assert (
        base_model.get_layer("Conv1").filters == first_filters
    )  # 32 * alpha, rounded up to a multiple of 8


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_classes": 1}, "num_classes must be an int >= 2. Received: num_classes=1"),
        ({"num_classes": 3.0}, "Received: num_classes=3.0"),
        ({"num_classes": True}, "Received: num_classes=True"),
        ({"image_size": 31}, "image_size must be an int >= 32. Received: image_size=31"),
        ({"image_size": 96.0}, "Received: image_size=96.0"),
        ({"alpha": 0.4}, "Received: alpha=0.4"),
        ({"dropout": 1.0}, "dropout must be a number in [0, 1). Received: dropout=1.0"),
        ({"dropout": -0.1}, "Received: dropout=-0.1"),
        ({"weights": "bundled"}, "Received: weights='bundled'"),
        ({"weights": "base.keras"}, "Received: weights='base.keras'"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(arguments, message):
    arguments = {"num_classes": 2, "image_size": IMAGE_SIZE, **arguments}
    with pytest.raises(ValueError) as error:
        models.build_mobilenet_v2(**arguments)
    assert message in str(error.value)


def test_freeze_leaves_only_the_head_trainable():
    model, base_model = models.build_mobilenet_v2(3, image_size=IMAGE_SIZE)
    models.freeze(base_model)
    assert base_model.trainable_weights == []
    assert [variable.path for variable in model.trainable_weights] == [
        "logits/kernel",
        "logits/bias",
    ]


@pytest.fixture(scope="module")
def shared_base():
    return models.build_mobilenet_v2(2, image_size=IMAGE_SIZE)[1]


@pytest.mark.parametrize("top_layers", [None, 3, 10, 60])
def test_unfreeze_opens_the_top_layers_but_never_batch_normalization(shared_base, top_layers):
    base_model = shared_base
    models.freeze(base_model)
    models.unfreeze(base_model, top_layers=top_layers)
    layers = base_model.layers
    first_open = 0 if top_layers is None else len(layers) - top_layers
    for index, layer in enumerate(layers):
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        assert layer.trainable == (index >= first_open and not is_batch_norm), layer.name
    expected = [
        variable
        for layer in layers[first_open:]
        if layer.trainable
        for variable in layer.trainable_weights
    ]
    assert len(base_model.trainable_weights) == len(expected) > 0
    assert all(not layer.trainable for layer in batch_norm_layers(base_model))


@pytest.mark.parametrize("top_layers", [0, 155, -1, 2.0, True])
def test_unfreeze_rejects_top_layers_out_of_range(shared_base, top_layers):
    base_model = shared_base
    assert len(base_model.layers) == 154
    with pytest.raises(
        ValueError,
        match=rf"top_layers must be None or an int from 1 to 154.*top_layers={top_layers!r}",
    ):
        models.unfreeze(base_model, top_layers=top_layers)


# MobileNetV2 fits eagerly here: tracing its training step costs 5-20 s on 2 shared CPUs. The override of
# `training=False` happens in `Functional.call` in both modes: `test_..._in_graph_mode` checks a small nested
# base under graph-mode `fit`, and tests/test_two_phase.py checks unfreeze() on MobileNetV2 under graph mode.
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_trainable_base_called_with_training_false_still_moves_batch_norm_statistics(seed):
    # The Keras 3 fact behind unfreeze(): `base_model(x, training=False)` does not protect BatchNormalization.
    keras.utils.set_random_seed(seed)
    model, base_model = models.build_mobilenet_v2(3, image_size=IMAGE_SIZE, dropout=0)
    models.freeze(base_model)
    base_model.trainable = True  # the usual unfreeze: every layer, BatchNormalization included
    before = moving_statistics(base_model)
    images = fit_once(model, seed, run_eagerly=True)
    after = moving_statistics(base_model)
    assert all(
        not np.array_equal(old, new) for old, new in zip(before, after, strict=True)
    )  # every one moved
    # In training mode the base normalises with batch statistics, so the two modes disagree.
    training, inference = model(images, training=True), model(images, training=False)
    assert not np.allclose(training, inference)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unfreeze_keeps_batch_norm_statistics_bitwise_while_the_base_learns(seed):
    keras.utils.set_random_seed(seed)
    model, base_model = models.build_mobilenet_v2(3, image_size=IMAGE_SIZE, dropout=0)
    models.unfreeze(base_model)
    statistics, kernel = (
        moving_statistics(base_model),
        base_model.get_layer("Conv1").kernel.numpy().copy(),
    )
    gammas = [layer.gamma.numpy().copy() for layer in batch_norm_layers(base_model)]
    images = fit_once(model, seed, run_eagerly=True)
    assert all(
        np.array_equal(old, new)
        for old, new in zip(statistics, moving_statistics(base_model), strict=True)
    )
    layers = batch_norm_layers(base_model)
    assert all(
        np.array_equal(old, layer.gamma.numpy()) for old, layer in zip(gammas, layers, strict=True)
    )
    assert not np.array_equal(
        kernel, base_model.get_layer("Conv1").kernel.numpy()
    )  # the base did train
    np.testing.assert_array_equal(
        model(images, training=True), model(images, training=False)
    )  # inference mode


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_same_holds_for_a_small_nested_base_in_graph_mode(seed):
    keras.utils.set_random_seed(seed)
    base_inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    base_outputs = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3)(base_inputs))
    base_model = keras.Model(base_inputs, base_outputs)
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    features = keras.layers.GlobalAveragePooling2D()(base_model(inputs, training=False))
    model = keras.Model(inputs, keras.layers.Dense(3)(features))
    before = moving_statistics(base_model)
    models.unfreeze(base_model)
    fit_once(model, seed, run_eagerly=False)
    assert all(
        np.array_equal(old, new)
        for old, new in zip(before, moving_statistics(base_model), strict=True)
    )
    base_model.trainable = True
    assert not base_model.layers[
        -1
    ].trainable  # Keras 3 skips `trainable = True` on an already trainable model
    models.freeze(base_model)
    base_model.trainable = True  # the usual unfreeze: every layer, BatchNormalization included
    fit_once(model, seed, run_eagerly=False)
    assert all(
        not np.array_equal(old, new)
        for old, new in zip(before, moving_statistics(base_model), strict=True)
    )
