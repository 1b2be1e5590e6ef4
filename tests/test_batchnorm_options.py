"""BatchNormalization options: trainable in `fit` (keras#20285), and AdaBN's re-estimation."""

import re

import keras
import numpy as np
import pytest

from helpers.finetune import batchnorm_options, forgetting, models

SIZE = 32  # the smallest image size MobileNetV2 takes: keeps every test fast


def tiny_base(seed: int = 0) -> tuple[keras.Model, keras.Model]:
    keras.utils.set_random_seed(seed)
    return models.build_mobilenet_v2(2, image_size=SIZE)


def images(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (count, SIZE, SIZE, 3)).astype("float32")


def first_convolution(base_model: keras.Model, batch: np.ndarray) -> np.ndarray:
    """The first BatchNormalization layer's inputs: the output of the convolution before it."""
    convolution = keras.Model(base_model.input, base_model.get_layer("Conv1").output)
    return convolution(batch).numpy().astype("float64")


def learnable_values(base_model: keras.Model) -> dict[str, list[np.ndarray]]:
    """Kernels, gamma and beta of every layer: what an optimizer could change."""
    return forgetting.snapshot(base_model)


def flags(base_model: keras.Model) -> list[tuple]:
    """Each BatchNormalization layer's trainable flag, its variables' flags and its momentum."""
    return [
        (layer.name, layer.trainable, [v.trainable for v in layer.weights], layer.momentum)
        for layer in batchnorm_options.batchnorm_layers(base_model)
    ]


def test_one_batch_gives_the_first_layer_the_numpy_mean_and_biased_variance():
    _, base_model = tiny_base()
    batch = images(16)
    batchnorm_options.reestimate_statistics(base_model, batch)
    inputs = first_convolution(base_model, batch)
    first = base_model.get_layer("bn_Conv1")
    assert first is batchnorm_options.batchnorm_layers(base_model)[0]
    np.testing.assert_allclose(first.moving_mean.numpy(), inputs.mean(axis=(0, 1, 2)), atol=1e-5)
    biased_variance = inputs.var(axis=(0, 1, 2))  # ddof=0: Keras divides by N, not N - 1
    np.testing.assert_allclose(first.moving_variance.numpy(), biased_variance, rtol=1e-4)


def test_after_one_batch_inference_gives_what_the_training_mode_pass_gave():
    _, base_model = tiny_base()
    batch = images(16)
    batchnorm_options.reestimate_statistics(base_model, batch)
    inference = base_model(batch, training=False).numpy()
    # The fresh base's BatchNormalization layers are trainable: training mode uses batch statistics.
    training_mode = base_model(batch, training=True).numpy()
    scale = np.abs(training_mode).max()
    np.testing.assert_allclose(inference, training_mode, atol=1e-5 * scale)
    # The statistics did change: before re-estimation, inference disagreed.
    _, fresh_base = tiny_base()
    assert not np.allclose(fresh_base(batch, training=False).numpy(), training_mode, atol=0.1)


def test_batches_average_the_statistics_weighted_by_batch_size():
    _, base_model = tiny_base()
    batch = images(11)
    batchnorm_options.reestimate_statistics(base_model, batch, batch_size=4)
    # 11 // 4 = 2 batches of nearly equal size: 6 and 5 images.
    parts = [first_convolution(base_model, part) for part in (batch[:6], batch[6:])]
    sizes = np.array([len(part) for part in parts], "float64")
    means = np.stack([part.mean(axis=(0, 1, 2)) for part in parts])
    variances = np.stack([part.var(axis=(0, 1, 2)) for part in parts])
    first = base_model.get_layer("bn_Conv1")
    expected_mean = (sizes[:, None] * means).sum(axis=0) / sizes.sum()
    expected_variance = (sizes[:, None] * variances).sum(axis=0) / sizes.sum()
    np.testing.assert_allclose(first.moving_mean.numpy(), expected_mean, atol=1e-5)
    np.testing.assert_allclose(first.moving_variance.numpy(), expected_variance, rtol=1e-4)
    # The weighted mean of the batch means is the mean over all images.
    np.testing.assert_allclose(expected_mean, first_convolution(base_model, batch).mean((0, 1, 2)))


def test_weights_flags_and_momentum_come_back_unchanged():
    _, base_model = tiny_base()
    models.unfreeze(base_model, top_layers=30)
    base_model.get_layer("bn_Conv1").momentum = 0.9
    before_values, before_flags = learnable_values(base_model), flags(base_model)
    statistics_before = forgetting.batchnorm_statistics(base_model)
    batchnorm_options.reestimate_statistics(base_model, images(8), batch_size=2)
    after_values = learnable_values(base_model)
    assert after_values.keys() == before_values.keys()
    for name, values in before_values.items():
        for before, after in zip(values, after_values[name], strict=True):
            np.testing.assert_array_equal(before, after, err_msg=name)
    assert flags(base_model) == before_flags
    moved = forgetting.batchnorm_layers_moved(
        statistics_before, forgetting.batchnorm_statistics(base_model)
    )
    assert len(moved) == len(batchnorm_options.batchnorm_layers(base_model))


def test_flags_and_momentum_are_restored_after_an_error(monkeypatch):
    _, base_model = tiny_base()
    models.freeze(base_model)
    before_flags = flags(base_model)

    def failing_call(*args, **kwargs):
        raise RuntimeError("out of memory")

    monkeypatch.setattr(base_model.get_layer("block_3_project_BN"), "call", failing_call)
    with pytest.raises(RuntimeError, match="out of memory"):
        batchnorm_options.reestimate_statistics(base_model, images(4))
    assert flags(base_model) == before_flags


@pytest.fixture(scope="module")
def model_and_base():
    return tiny_base()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"images": np.zeros((4, 32, 32), "float32")},
            "images must be a batch of images (n, height, width, channels). "
            "Received: images of shape (4, 32, 32)",
        ),
        (
            {"images": np.zeros((4, 48, 48, 3), "float32")},
            "images must have shape (n, 32, 32, 3). Received: images of shape (4, 48, 48, 3)",
        ),
        (
            {"images": np.zeros((4, 32, 32, 3), "uint8")},
            "images must be preprocessed floats in [-1, 1]",
        ),
        (
            {"images": np.full((4, 32, 32, 3), 2.0, "float32")},
            "images must be preprocessed to [-1, 1]",
        ),
        (
            {"images": np.zeros((1, 32, 32, 3), "float32")},
            "images must hold at least 2 images: statistics need more than one. "
            "Received: images of shape (1, 32, 32, 3)",
        ),
        (
            {"batch_size": 1},
            "batch_size must be None or an int >= 2. Received: batch_size=1",
        ),
        (
            {"batch_size": 4.0},
            "batch_size must be None or an int >= 2. Received: batch_size=4.0",
        ),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_argument(model_and_base, arguments, message):
    _, base_model = model_and_base
    call = {"base_model": base_model, "images": np.zeros((4, SIZE, SIZE, 3), "float32")}
    statistics = forgetting.batchnorm_statistics(base_model)
    with pytest.raises(ValueError, match=re.escape(message)):
        batchnorm_options.reestimate_statistics(**{**call, **arguments})
    assert (
        forgetting.batchnorm_layers_moved(statistics, forgetting.batchnorm_statistics(base_model))
        == []
    )


def test_the_whole_model_is_refused_naming_the_base(model_and_base):
    model, base_model = model_and_base
    expected = f"pass the base (model.get_layer({base_model.name!r}))"
    for function, arguments in (
        (batchnorm_options.batchnorm_layers, ()),
        (batchnorm_options.set_batchnorm_trainable, (True,)),
        (batchnorm_options.reestimate_statistics, (images(4),)),
    ):
        with pytest.raises(ValueError, match=re.escape(expected)):
            function(model, *arguments)
    with pytest.raises(ValueError, match=re.escape("Received: trainable='yes'")):
        batchnorm_options.set_batchnorm_trainable(base_model, "yes")


def fit_one_step(model: keras.Model) -> None:
    """One Adam step on 8 images, eagerly: tracing MobileNetV2's training step costs ~25 s here.

    tests/test_models.py shows the same behaviours in graph mode (`base_model.trainable = True`
    moves every statistic, `models.unfreeze` none), on MobileNetV2 and on a small nested base.
    """
    labels = np.arange(8) % 2
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=loss, run_eagerly=True)
    model.fit(images(8), labels, batch_size=8, epochs=1, verbose=0)


def test_trainable_batchnorm_moves_its_statistics_in_fit_and_unfreeze_alone_does_not():
    model, base_model = tiny_base()
    models.unfreeze(base_model)
    kernels_only = len(base_model.trainable_weights)
    before = forgetting.batchnorm_statistics(base_model)
    fit_one_step(model)
    assert (
        forgetting.batchnorm_layers_moved(before, forgetting.batchnorm_statistics(base_model)) == []
    )

    batchnorm_options.set_batchnorm_trainable(base_model, True)
    layers = batchnorm_options.batchnorm_layers(base_model)
    trainable = {id(weight) for weight in base_model.trainable_weights}
    assert all(id(layer.gamma) in trainable and id(layer.beta) in trainable for layer in layers)
    before = forgetting.batchnorm_statistics(base_model)
    # The model calls the base with training=False; fit's training=True wins (keras#20285).
    fit_one_step(model)
    moved = forgetting.batchnorm_layers_moved(before, forgetting.batchnorm_statistics(base_model))
    assert moved == [layer.name for layer in layers]

    batchnorm_options.set_batchnorm_trainable(base_model, False)
    assert not any(layer.trainable for layer in layers)
    assert len(base_model.trainable_weights) == kernels_only
