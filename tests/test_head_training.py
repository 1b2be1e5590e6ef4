"""Training a head on cached features, and learning-rate sweeps (helpers/head_training.py)."""

import math

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.finetune import head_training
from helpers.lessons import head_sweep


def blobs(seed: int, count: int = 48, num_features: int = 6, num_classes: int = 3):
    """Well-separated Gaussian blobs: features near one-hot class centres, plus noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % num_classes
    centres = 3.0 * np.eye(num_classes, num_features)
    features = centres[labels] + rng.normal(scale=0.5, size=(count, num_features))
    return features.astype("float32"), labels


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


@pytest.mark.parametrize(
    ("images", "batch_size", "message"),
    [
        (
            np.zeros((2, 8, 8)),
            4,
            r"images must have shape \(n, height, width, 3\).*Received: \(2, 8, 8\)",
        ),
        (np.zeros((0, 8, 8, 3)), 4, r"Received: \(0, 8, 8, 3\)"),
        (np.zeros((2, 8, 8, 3)), 0, "batch_size must be an int >= 1. Received: batch_size=0"),
    ],
)
def test_pooled_features_rejects_bad_input(images, batch_size, message):
    base_model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(2, 1)])
    with pytest.raises(ValueError, match=message):
        head_training.pooled_features(base_model, images, batch_size=batch_size)


def test_build_head_is_dropout_then_a_logits_dense_layer():
    head = head_training.build_head(12, 5, dropout=0.3)
    assert [type(layer).__name__ for layer in head.layers] == ["Dropout", "Dense"]
    assert head.layers[0].rate == 0.3
    assert head.layers[-1].get_config()["activation"] == "linear" and head.output_shape == (None, 5)
    assert [
        type(layer).__name__ for layer in head_training.build_head(12, 5, dropout=0).layers
    ] == ["Dense"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_features": 0}, "num_features must be an int >= 1. Received: num_features=0"),
        ({"num_classes": 1}, "num_classes must be an int >= 2. Received: num_classes=1"),
        ({"num_classes": 4.0}, "Received: num_classes=4.0"),
        ({"dropout": 1.0}, r"dropout must be a number in \[0, 1\). Received: dropout=1.0"),
    ],
)
def test_build_head_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
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
    (features, labels), validation = blobs(0, num_classes=3), blobs(1, num_classes=4)
    history = head_training.train_head(
        (features, labels), validation, epochs=1
    )  # labels up to 3: 4 classes
    assert len(history["loss"]) == 1
    with pytest.raises(
        ValueError, match="num_classes must be an int above every label. Received: num_classes=3"
    ):
        head_training.train_head((features, labels), validation, num_classes=3)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"learning_rate": 0.0},
            "learning_rate must be positive and finite. Received: learning_rate=0.0",
        ),
        ({"learning_rate": float("nan")}, "Received: learning_rate=nan"),
        ({"learning_rate": "1e-3"}, "Received: learning_rate='1e-3'"),
        ({"epochs": 0}, "epochs must be an int >= 1. Received: epochs=0"),
        ({"batch_size": 2.5}, "batch_size must be an int >= 1. Received: batch_size=2.5"),
        ({"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
        (
            {"train": np.zeros((4, 3))},
            r"train must be a tuple \(features, labels\). Received: ndarray",
        ),
        ({"train": (np.zeros((4, 3)), np.zeros(3, int))}, r"Received: shapes \(4, 3\) and \(3,\)"),
        (
            {"train": (np.zeros((4, 3)), np.zeros(4))},
            "train labels must be non-negative ints. Received: dtype float64",
        ),
        (
            {"validation": (np.zeros((4, 2)), np.zeros(4, int))},
            "the same length. Received: 3 and 2",
        ),
    ],
)
def test_train_head_rejects_bad_arguments(arguments, message):
    split = (np.zeros((4, 3), "float32"), np.array([0, 1, 0, 1]))
    arguments = {"train": split, "validation": split, **arguments}
    with pytest.raises(ValueError, match=message):
        head_training.train_head(**arguments)


def test_sweep_gives_each_rate_the_history_train_head_gives_it():
    train, validation = blobs(2), blobs(3)
    results = head_sweep.sweep_learning_rates(train, validation, [1e-1, 1e-3], epochs=2, seed=1)
    assert list(results) == [1e-1, 1e-3]
    for (
        learning_rate,
        history,
    ) in results.items():  # train_head is the oracle: same seed, same history
        assert history == head_training.train_head(
            train, validation, learning_rate=learning_rate, epochs=2, seed=1
        )


@pytest.mark.parametrize(
    ("learning_rates", "message"),
    [
        ([], r"learning_rates must be a non-empty sequence. Received: learning_rates=\[\]"),
        (1e-3, "Received: learning_rates=0.001"),
        (
            [1e-3, 0.001],
            r"learning_rates must all differ. Received: learning_rates=\[0.001, 0.001\]",
        ),
        ([1e-3, -1.0], "learning_rate must be positive and finite. Received: learning_rate=-1.0"),
    ],
)
def test_sweep_rejects_bad_learning_rates(learning_rates, message):
    with pytest.raises(ValueError, match=message):
        head_sweep.sweep_learning_rates(blobs(0), blobs(1), learning_rates)


def test_plot_sweep_draws_one_labelled_line_per_rate_on_the_given_axes():
    results = {0.1: {"val_loss": [1.0, 0.5, 0.7]}, 0.001: {"val_loss": [1.2, 1.0, 0.9]}}
    _, ax = plt.subplots()
    assert head_sweep.plot_sweep(results, "val_loss", ax=ax) is ax
    assert [line.get_label() for line in ax.lines] == ["0.1", "0.001"]
    assert list(ax.lines[1].get_ydata()) == [1.2, 1.0, 0.9] and list(ax.lines[1].get_xdata()) == [
        1,
        2,
        3,
    ]
    with pytest.raises(ValueError, match="metric must be one of .* Received: metric='lr'"):
        head_sweep.plot_sweep(results, "lr", ax=ax)
    plt.close("all")
