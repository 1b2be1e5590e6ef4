"""The MobileNetV2 builder and BatchNorm-safe freezing (helpers/finetune/models.py)."""

import re

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
    # Logits: no softmax.
    assert model.get_layer("logits").get_config()["activation"] == "linear"
    assert model.output_shape == (None, 5)


def test_zero_dropout_leaves_the_dropout_layer_out():
    model, _ = models.build_mobilenet_v2(2, image_size=IMAGE_SIZE, dropout=0)
    assert not any(isinstance(layer, keras.layers.Dropout) for layer in model.layers)


@pytest.mark.parametrize(("alpha", "first_filters"), [(0.35, 16), (1.0, 32)])
def test_alpha_sets_the_width_of_the_base(alpha, first_filters):
    _, base_model = models.build_mobilenet_v2(2, image_size=IMAGE_SIZE, alpha=alpha)
    # 32 * alpha, rounded up to a multiple of 8.
    assert base_model.get_layer("Conv1").filters == first_filters


WEIGHTS_WANTED = "weights must be None or the path to a .h5 weights file."


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_classes": 1}, "num_classes must be an int >= 2. Received: num_classes=1"),
        ({"num_classes": 3.0}, "num_classes must be an int >= 2. Received: num_classes=3.0"),
        ({"num_classes": True}, "num_classes must be an int >= 2. Received: num_classes=True"),
        ({"image_size": 31}, "image_size must be an int >= 32. Received: image_size=31"),
        ({"image_size": 96.0}, "image_size must be an int >= 32. Received: image_size=96.0"),
        (
            {"alpha": 0.4},
            "alpha must be one of (0.35, 0.5, 0.75, 1.0, 1.3, 1.4). Received: alpha=0.4",
        ),
        (
            {"alpha": "0.35"},
            "alpha must be one of (0.35, 0.5, 0.75, 1.0, 1.3, 1.4). Received: alpha='0.35'",
        ),
        ({"dropout": 1.0}, "dropout must be a finite number in [0, 1). Received: dropout=1.0"),
        ({"dropout": -0.1}, "dropout must be a finite number in [0, 1). Received: dropout=-0.1"),
        ({"weights": "bundled"}, f"{WEIGHTS_WANTED} Received: weights='bundled'"),
        ({"weights": "base.keras"}, f"{WEIGHTS_WANTED} Received: weights='base.keras'"),
        ({"weights": 3}, f"{WEIGHTS_WANTED} Received: weights=3"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_them(arguments, message):
    arguments = {"num_classes": 2, "image_size": IMAGE_SIZE, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        models.build_mobilenet_v2(**arguments)


def test_a_missing_weights_file_is_named(tmp_path):
    path = tmp_path / "missing.weights.h5"
    message = f"weights file not found. Received: weights={str(path)!r}"
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        models.build_mobilenet_v2(2, image_size=IMAGE_SIZE, weights=path)


def test_head_layers_are_the_head_of_the_model():
    model, _ = models.build_mobilenet_v2(4, image_size=IMAGE_SIZE, dropout=0.3)
    head = models.head_layers(4, dropout=0.3)
    model_head = [model.get_layer("dropout"), model.get_layer("logits")]
    assert [layer.get_config() for layer in head] == [layer.get_config() for layer in model_head]


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
    message = (
        f"top_layers must be None or an int from 1 to 154. Received: top_layers={top_layers!r}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        models.unfreeze(base_model, top_layers=top_layers)


def nested_message(base_name, model_repr):
    return (
        "base_model must be the base, not a model that contains it: pass the base "
        f"(model.get_layer({base_name!r})), so that its BatchNormalization layers stay frozen. "
        f"Received: base_model={model_repr}"
    )


@pytest.mark.parametrize("function", [models.freeze, models.unfreeze])
def test_freezing_or_unfreezing_the_whole_model_is_refused_naming_the_base(function):
    model, base_model = models.build_mobilenet_v2(2, image_size=IMAGE_SIZE)
    models.freeze(base_model)
    trainable_before = [layer.trainable for layer in base_model.layers]
    message = nested_message("mobilenetv2_0.35_32", repr(model))
    with pytest.raises(ValueError, match=re.escape(message)):
        function(model)
    # Nothing changed: the base stays frozen, BatchNormalization included.
    assert [layer.trainable for layer in base_model.layers] == trainable_before
    assert not base_model.trainable


def test_a_small_nested_sequential_is_refused_and_its_plain_base_accepted():
    base_model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3), keras.layers.BatchNormalization()],
        name="small_base",
    )
    model = keras.Sequential([keras.Input((4,)), base_model, keras.layers.Dense(2)], name="outer")
    message = nested_message("small_base", repr(model))
    for function in (models.freeze, models.unfreeze):
        with pytest.raises(ValueError, match=re.escape(message)):
            function(model)
    models.unfreeze(base_model)
    dense, batch_norm = base_model.layers
    assert base_model.trainable and dense.trainable and not batch_norm.trainable
    models.freeze(base_model)
    assert base_model.trainable_weights == []


@pytest.mark.parametrize("function", [models.freeze, models.unfreeze])
def test_a_base_that_is_no_model_is_refused(function):
    message = "base_model must be a keras.Model. Received: base_model='base'"
    with pytest.raises(ValueError, match=re.escape(message)):
        function("base")


def test_numpy_scalars_work_like_python_numbers():
    python = {"num_classes": 3, "image_size": IMAGE_SIZE, "alpha": 0.35, "dropout": 0.3}
    numpy = {
        "num_classes": np.int64(3),
        "image_size": np.int64(IMAGE_SIZE),
        "alpha": np.float32(0.35),
        "dropout": np.float32(0.3),
    }
    (python_model, python_base), (numpy_model, numpy_base) = [
        models.build_mobilenet_v2(**arguments) for arguments in (python, numpy)
    ]
    assert [layer.name for layer in numpy_model.layers] == [
        layer.name for layer in python_model.layers
    ]
    assert numpy_base.name == python_base.name == "mobilenetv2_0.35_32"
    assert numpy_model.count_params() == python_model.count_params()
    assert numpy_model.output_shape == python_model.output_shape == (None, 3)
    numpy_rate = numpy_model.get_layer("dropout").rate
    assert numpy_rate == pytest.approx(python_model.get_layer("dropout").rate, rel=1e-6)
    models.unfreeze(python_base, top_layers=10)
    models.unfreeze(numpy_base, top_layers=np.int64(10))
    python_flags = [layer.trainable for layer in python_base.layers]
    assert [layer.trainable for layer in numpy_base.layers] == python_flags


# Both behaviours on MobileNetV2, first eagerly (as lesson 03 shows them, `run_eagerly=True`),
# then in graph mode (the default `compile`, below). keras-team/keras#20285 reports the first:
# `fit` calls the model with `training=True`, which replaces the base's `training=False`.
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_trainable_base_called_with_training_false_still_moves_batch_norm_statistics(seed):
    # The Keras 3 fact behind unfreeze(): `base_model(x, training=False)` does not protect
    # BatchNormalization.
    keras.utils.set_random_seed(seed)
    model, base_model = models.build_mobilenet_v2(3, image_size=IMAGE_SIZE, dropout=0)
    models.freeze(base_model)
    # The usual unfreeze: every layer, BatchNormalization included.
    base_model.trainable = True
    before = moving_statistics(base_model)
    images = fit_once(model, seed, run_eagerly=True)
    after = moving_statistics(base_model)
    # Every one moved.
    assert all(not np.array_equal(old, new) for old, new in zip(before, after, strict=True))
    # In training mode the base normalises with batch statistics, so the two modes disagree.
    training, inference = model(images, training=True), model(images, training=False)
    assert not np.allclose(training, inference)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unfreeze_keeps_batch_norm_statistics_bitwise_while_the_base_learns(seed):
    keras.utils.set_random_seed(seed)
    model, base_model = models.build_mobilenet_v2(3, image_size=IMAGE_SIZE, dropout=0)
    models.unfreeze(base_model)
    statistics = moving_statistics(base_model)
    kernel = base_model.get_layer("Conv1").kernel.numpy().copy()
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
    # The base did train.
    assert not np.array_equal(kernel, base_model.get_layer("Conv1").kernel.numpy())
    # BatchNormalization runs in inference mode even in a training-mode call.
    np.testing.assert_array_equal(model(images, training=True), model(images, training=False))


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
    # Keras 3 skips `trainable = True` on an already trainable model.
    assert not base_model.layers[-1].trainable
    models.freeze(base_model)
    # The usual unfreeze: every layer, BatchNormalization included.
    base_model.trainable = True
    fit_once(model, seed, run_eagerly=False)
    assert all(
        not np.array_equal(old, new)
        for old, new in zip(before, moving_statistics(base_model), strict=True)
    )


# Graph mode on MobileNetV2 itself. Tracing its training step costs 5-8 s with BatchNormalization
# frozen and 14-19 s with it training (measured on 2 shared cores), so each behaviour is compiled
# once, and the three seeds run through that one traced step: each seed loads the weights of a
# model built with that seed (`set_weights` assigns them in place; nothing is traced again) and
# trains on its own images.
SEEDS = [0, 1, 2]


def gammas_and_betas(base_model):
    return [
        variable.numpy().copy()
        for layer in batch_norm_layers(base_model)
        for variable in (layer.gamma, layer.beta)
    ]


def graph_mode_run(model, base_model, weights, seed):
    """One epoch of 2 steps through the compiled graph, from `weights` (those seed `seed` built)."""
    model.set_weights(weights)
    rng = np.random.default_rng(seed)
    images = rng.uniform(-1.0, 1.0, size=(8, IMAGE_SIZE, IMAGE_SIZE, 3)).astype("float32")
    labels = rng.integers(0, 3, size=8)
    before = {
        "statistics": moving_statistics(base_model),
        "gammas and betas": gammas_and_betas(base_model),
        "Conv1 kernel": base_model.get_layer("Conv1").kernel.numpy().copy(),
    }
    model.fit(images, labels, batch_size=4, epochs=1, verbose=0)
    after = {
        "statistics": moving_statistics(base_model),
        "gammas and betas": gammas_and_betas(base_model),
        "Conv1 kernel": base_model.get_layer("Conv1").kernel.numpy(),
    }
    return before, after


@pytest.fixture(scope="module")
def graph_mode_runs():
    """For each behaviour and seed: the base's statistics and weights before and after `fit`."""
    seeded_weights = {}
    for seed in SEEDS:
        keras.utils.set_random_seed(seed)
        seeded_model, _ = models.build_mobilenet_v2(3, image_size=IMAGE_SIZE, dropout=0)
        seeded_weights[seed] = seeded_model.get_weights()
    model, base_model = models.build_mobilenet_v2(3, image_size=IMAGE_SIZE, dropout=0)
    runs = {}
    for behaviour in ("trainable = True", "models.unfreeze"):
        models.freeze(base_model)
        if behaviour == "trainable = True":
            base_model.trainable = True  # the usual unfreeze: BatchNormalization included
        else:
            models.unfreeze(base_model)
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=1e-3),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        assert not model.run_eagerly  # graph mode: fit traces the training step once
        for seed in SEEDS:
            runs[behaviour, seed] = graph_mode_run(model, base_model, seeded_weights[seed], seed)
    return runs


def all_equal(before, after):
    return [np.array_equal(old, new) for old, new in zip(before, after, strict=True)]


@pytest.mark.parametrize("seed", SEEDS)
def test_in_graph_mode_a_trainable_base_moves_every_batch_norm_statistic(graph_mode_runs, seed):
    before, after = graph_mode_runs["trainable = True", seed]
    equal = all_equal(before["statistics"], after["statistics"])
    assert len(equal) == 2 * 52  # a moving mean and a moving variance per BatchNorm layer
    assert not any(equal)


@pytest.mark.parametrize("seed", SEEDS)
def test_in_graph_mode_unfreeze_keeps_batch_norm_bitwise_while_the_base_learns(
    graph_mode_runs, seed
):
    before, after = graph_mode_runs["models.unfreeze", seed]
    assert all(all_equal(before["statistics"], after["statistics"]))
    assert all(all_equal(before["gammas and betas"], after["gammas and betas"]))
    assert not np.array_equal(before["Conv1 kernel"], after["Conv1 kernel"])  # the base trained
