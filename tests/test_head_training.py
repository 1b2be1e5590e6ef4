"""A new head on cached features (helpers/finetune/head_training.py): extract, build, train."""

import math
import re

import keras
import numpy as np
import pytest
from synthetic_data import blobs

from helpers.finetune import guards, head_training, models


def small_base():
    return keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)])


def test_pooled_features_match_keras_global_average_pooling():
    keras.utils.set_random_seed(0)
    base_model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(5, 3), keras.layers.BatchNormalization()]
    )
    images = np.random.default_rng(0).uniform(-1, 1, size=(7, 8, 8, 3)).astype("float32")
    expected = keras.layers.GlobalAveragePooling2D()(base_model(images, training=False)).numpy()
    np.testing.assert_allclose(
        head_training.pooled_features(base_model, images, batch_size=3), expected, atol=1e-6
    )


def test_pooled_features_trace_one_forward_pass_per_base_for_any_batch_size():
    keras.utils.set_random_seed(0)
    base_model = keras.Sequential(
        [keras.Input((8, 8, 3)), keras.layers.Conv2D(5, 3), keras.layers.BatchNormalization()]
    )
    images = np.random.default_rng(0).uniform(-1, 1, size=(7, 8, 8, 3)).astype("float32")
    batches = [head_training.pooled_features(base_model, images, size) for size in (3, 4, 7)]
    # Batches of 3 end with a batch of 1, of 4 with one of 3: three shapes, one trace.
    forward = head_training._inference_function(base_model)
    assert forward.experimental_get_tracing_count() == 1
    # The same images give the features `predict` gives, in whatever batches they run.
    by_predict = base_model.predict(images, batch_size=3, verbose=0).mean(axis=(1, 2))
    for features in batches:
        np.testing.assert_allclose(features, by_predict, rtol=1e-5, atol=1e-6)
    # Another base gets its own trace, and its own features.
    other_base = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(5, 3)])
    other = head_training.pooled_features(other_base, images)
    assert head_training._inference_function(other_base) is not forward
    assert not np.allclose(other, batches[0])


NAN_IMAGES = np.where(np.arange(2 * 8 * 8 * 3).reshape(2, 8, 8, 3) < 2, np.nan, 0.0)


@pytest.mark.parametrize(
    ("images", "batch_size", "message"),
    [
        (
            np.zeros((2, 8, 8)),
            4,
            "images must be a batch of images (n, height, width, channels). "
            "Received: images of shape (2, 8, 8)",
        ),
        (
            np.zeros((0, 8, 8, 3)),
            4,
            "images must hold at least one image. Received: images of shape (0, 8, 8, 3)",
        ),
        (
            np.zeros((2, 6, 6, 3)),
            4,
            "images must have shape (n, 8, 8, 3). Received: images of shape (2, 6, 6, 3)",
        ),
        (
            np.full((2, 8, 8, 3), 255, np.uint8),
            4,
            "images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input), "
            "not raw pixels. Received: images of dtype uint8",
        ),
        (NAN_IMAGES, 4, "images must be finite. Received: images with 2 NaN or inf values"),
        (np.zeros((2, 8, 8, 3)), 0, "batch_size must be an int >= 1. Received: batch_size=0"),
        (np.zeros((2, 8, 8, 3)), 2.0, "batch_size must be an int >= 1. Received: batch_size=2.0"),
    ],
)
def test_pooled_features_rejects_bad_input(images, batch_size, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        head_training.pooled_features(small_base(), images, batch_size=batch_size)


def test_pooled_features_rejects_a_base_that_is_no_model():
    message = "base_model must be a keras.Model. Received: base_model='mobilenet'"
    with pytest.raises(ValueError, match=re.escape(message)):
        head_training.pooled_features("mobilenet", np.zeros((2, 8, 8, 3)))


def test_build_head_is_dropout_then_a_logits_dense_layer():
    head = head_training.build_head(12, 5, dropout=0.3)
    assert [type(layer).__name__ for layer in head.layers] == ["Dropout", "Dense"]
    assert head.layers[0].rate == 0.3
    assert head.layers[-1].get_config()["activation"] == "linear" and head.output_shape == (None, 5)
    without_dropout = head_training.build_head(12, 5, dropout=0)
    assert [type(layer).__name__ for layer in without_dropout.layers] == ["Dense"]


@pytest.mark.parametrize("dropout", [0.0, 0.3])
def test_build_head_is_the_head_of_build_mobilenet_v2(dropout):
    keras.utils.set_random_seed(0)
    model, base_model = models.build_mobilenet_v2(3, image_size=32, dropout=dropout)
    head = head_training.build_head(1280, 3, dropout=dropout)
    model_head = model.layers[model.layers.index(base_model) + 2 :]
    assert [layer.name for layer in head.layers] == [layer.name for layer in model_head]
    for head_layer, model_layer in zip(head.layers, model_head, strict=True):
        assert head_layer.get_config() == model_layer.get_config()
    # A head trained on cached features drops into the model: same logits as features -> head.
    head.set_weights([np.random.default_rng(0).normal(size=w.shape) for w in head.get_weights()])
    model.get_layer("logits").set_weights(head.get_layer("logits").get_weights())
    images = np.random.default_rng(1).uniform(-1, 1, size=(4, 32, 32, 3)).astype("float32")
    features = head_training.pooled_features(base_model, images)
    np.testing.assert_allclose(
        model.predict(images, verbose=0), head.predict(features, verbose=0), rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_features": 0}, "num_features must be an int >= 1. Received: num_features=0"),
        ({"num_classes": 1}, "num_classes must be an int >= 2. Received: num_classes=1"),
        ({"num_classes": 4.0}, "num_classes must be an int >= 2. Received: num_classes=4.0"),
        ({"dropout": 1.0}, "dropout must be a finite number in [0, 1). Received: dropout=1.0"),
        ({"dropout": True}, "dropout must be a finite number in [0, 1). Received: dropout=True"),
    ],
)
def test_build_head_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        head_training.build_head(**{"num_features": 4, "num_classes": 3, **arguments})


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_initial_loss_of_a_fresh_head_on_small_features_is_about_ln_num_classes(seed):
    # Tiny features make tiny logits: the softmax is near uniform and the loss near ln(3).
    features, labels = blobs(seed)
    keras.utils.set_random_seed(seed)
    head = head_training.build_head(features.shape[1], 3)
    head.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert abs(head.evaluate(features * 1e-3, labels, verbose=0) - math.log(3)) < 1e-2


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_train_head_learns_separable_blobs_and_records_every_epoch(seed):
    train, validation = blobs(seed), blobs(seed + 10)
    history = head_training.train_head(
        train, validation, learning_rate=1e-2, epochs=15, batch_size=8, seed=seed
    )
    assert sorted(history) == sorted(head_training.HISTORY_KEYS)
    assert all(len(values) == 15 for values in history.values())
    assert history["val_loss"][-1] < 0.5 * math.log(3) and history["val_accuracy"][-1] >= 0.9


def test_train_head_is_reproducible_for_one_seed_and_differs_across_seeds():
    train, validation = blobs(0), blobs(1)
    first = head_training.train_head(train, validation, epochs=3, seed=4)
    assert first == head_training.train_head(train, validation, epochs=3, seed=4)
    assert first["loss"] != head_training.train_head(train, validation, epochs=3, seed=5)["loss"]


def test_train_head_infers_the_number_of_classes_from_both_splits():
    # Training labels go up to 2, validation labels up to 3: 4 classes.
    (features, labels), validation = blobs(0, num_classes=3), blobs(1, num_classes=4)
    history = head_training.train_head((features, labels), validation, epochs=1)
    assert len(history["loss"]) == 1
    message = "validation labels must be in [0, 3). Received: validation labels with values [3]"
    with pytest.raises(ValueError, match=re.escape(message)):
        head_training.train_head((features, labels), validation, num_classes=3)


SPLIT = (np.zeros((4, 3), "float32"), np.array([0, 1, 0, 1]))
NAN_FEATURES = np.where(np.eye(4, 3) == 1, np.nan, 0.0)
RATE_WANTED = "learning_rate must be a positive, finite number or a LearningRateSchedule."


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"learning_rate": 0.0}, f"{RATE_WANTED} Received: learning_rate=0.0"),
        ({"learning_rate": float("nan")}, f"{RATE_WANTED} Received: learning_rate=nan"),
        ({"learning_rate": "1e-3"}, f"{RATE_WANTED} Received: learning_rate='1e-3'"),
        ({"learning_rate": True}, f"{RATE_WANTED} Received: learning_rate=True"),
        ({"epochs": 0}, "epochs must be an int >= 1. Received: epochs=0"),
        ({"batch_size": 2.5}, "batch_size must be an int >= 1. Received: batch_size=2.5"),
        ({"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
        ({"dropout": 1.0}, "dropout must be a finite number in [0, 1). Received: dropout=1.0"),
        ({"num_classes": 1}, "num_classes must be None or an int >= 2. Received: num_classes=1"),
        (
            {"stop_on_divergence": "yes"},
            "stop_on_divergence must be True or False. Received: stop_on_divergence='yes'",
        ),
        (
            {"train": np.zeros((4, 3))},
            "train must be a tuple (features, labels). "
            "Received: train=<array of shape (4, 3) and dtype float64>",
        ),
        (
            {"train": (np.zeros((4, 3)), [0, 1], [1, 1])},
            "train must be a tuple (features, labels). Received: a tuple of 3 items",
        ),
        (
            {"train": (np.zeros((0, 3)), np.zeros(0, int))},
            "train features must be a non-empty array (n, num_features). "
            "Received: train features of shape (0, 3)",
        ),
        (
            {"train": (NAN_FEATURES, np.zeros(4, int))},
            "train features must be finite. Received: train features with 3 NaN or inf values",
        ),
        (
            {"train": (np.zeros((4, 3)), np.zeros(3, int))},
            "train labels must hold one label per example (4). Received: 3 labels",
        ),
        (
            {"train": (np.zeros((4, 3)), np.array([0, 0.5, 1, 1]))},
            "train labels must be whole class indices (ints). "
            "Received: train labels with values [0.5]",
        ),
        (
            {"train": (np.zeros((4, 3)), np.array([0, -2, 1, 1]))},
            "train labels must be in [0, ...). Received: train labels with values [-2]",
        ),
        (
            {"validation": (np.zeros((4, 2)), np.zeros(4, int))},
            "validation features must be a non-empty array (n, 3). "
            "Received: validation features of shape (4, 2)",
        ),
    ],
)
def test_train_head_rejects_bad_arguments(arguments, message):
    arguments = {"train": SPLIT, "validation": SPLIT, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        head_training.train_head(**arguments)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_diverging_rate_stops_the_run_and_names_the_rate(seed):
    train, validation = blobs(seed), blobs(seed + 10)
    with pytest.raises(guards.TrainingDivergedError) as error:
        head_training.train_head(train, validation, learning_rate=1e3, epochs=5, seed=seed)
    assert isinstance(error.value, ValueError)
    message = str(error.value)
    assert message.startswith("Training stopped: the loss ")
    assert message.endswith("Received: learning_rate=1000.0")


def test_stop_on_divergence_false_trains_on_at_a_diverging_rate():
    # A grid search needs every rate's outcome: the run finishes, its loss far above chance.
    train, validation = blobs(0), blobs(10)
    history = head_training.train_head(
        train, validation, learning_rate=1e3, epochs=3, stop_on_divergence=False
    )
    assert len(history["loss"]) == 3
    assert min(history["loss"]) > guards.DIVERGENCE_FACTOR * math.log(3)


@pytest.mark.parametrize("learning_rate", [1e-1, 1e-2, 1e-3, 1e-4])
def test_the_lesson_rates_do_not_trip_the_guard(learning_rate):
    # Lesson 03 sweeps 1e-1 to 1e-4: the fast rates wobble, but never 4x above chance.
    history = head_training.train_head(blobs(0), blobs(1), learning_rate=learning_rate, epochs=5)
    assert len(history["loss"]) == 5


def test_numpy_scalars_work_like_python_numbers():
    train, validation = blobs(0), blobs(1)
    python = {
        "learning_rate": 1e-2,
        "num_classes": 3,
        "epochs": 2,
        "batch_size": 8,
        "dropout": 0.25,
        "seed": 1,
    }
    numpy = {
        "learning_rate": np.float32(1e-2),
        "num_classes": np.int64(3),
        "epochs": np.int64(2),
        "batch_size": np.int64(8),
        "dropout": np.float32(0.25),
        "seed": np.int64(1),
    }
    expected = head_training.train_head(train, validation, **python)
    received = head_training.train_head(train, validation, **numpy)
    for key in head_training.HISTORY_KEYS:
        assert received[key] == pytest.approx(expected[key], rel=1e-6), key
    images = np.random.default_rng(0).uniform(-1, 1, size=(5, 8, 8, 3))
    base_model = small_base()
    np.testing.assert_array_equal(
        head_training.pooled_features(base_model, images, batch_size=np.int64(2)),
        head_training.pooled_features(base_model, images, batch_size=2),
    )
    numpy_head = head_training.build_head(np.int64(6), np.int64(3), dropout=np.float32(0.25))
    python_head = head_training.build_head(6, 3, dropout=0.25)
    assert [layer.get_config() for layer in numpy_head.layers] == [
        layer.get_config() for layer in python_head.layers
    ]
