"""The phase-2 sweep helper (helpers/rate_comparison.py), on tiny random-weight models and closed-form values."""

import math

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
import tensorflow as tf

from helpers.lessons import rate_comparison, shapes_data, target_task

SIZE = 32  # the smallest MobileNetV2 input: keeps every run fast
SOURCE_CLASSES = len(shapes_data.SOURCE_CLASSES)


def constant_source_head(predicted_class: int) -> tuple[np.ndarray, np.ndarray]:
    """A source head whose logits ignore the features: it always predicts `predicted_class`."""
    bias = np.zeros(SOURCE_CLASSES, "float32")
    bias[predicted_class] = 1.0
    return np.zeros((1280, SOURCE_CLASSES), "float32"), bias


def tiny_data(seed: int) -> target_task.TaskData:
    return target_task.prepare_data(
        images_per_class=2, test_count=6, source_count=12, image_size=SIZE, seed=seed
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prepare_data_matches_keras_preprocessing_and_balances_classes(seed):
    data = target_task.prepare_data(
        images_per_class=3, test_count=8, source_count=12, image_size=SIZE, seed=seed
    )
    raw_images, raw_labels = shapes_data.make_images("target", "train", 12, SIZE, seed)
    expected = keras.applications.mobilenet_v2.preprocess_input(raw_images.astype("float32"))
    np.testing.assert_allclose(data.train[0], expected, atol=1e-6)
    np.testing.assert_array_equal(data.train[1], raw_labels)
    assert np.bincount(data.train[1]).tolist() == [3, 3, 3, 3]
    assert data.target_test[0].shape == (8, SIZE, SIZE, 3) and data.source_test[0].shape == (
        12,
        SIZE,
        SIZE,
        3,
    )
    assert data.source_test[1].max() < SOURCE_CLASSES


def test_prepare_data_rejects_a_bad_count():
    with pytest.raises(
        ValueError, match=r"images_per_class must be an int >= 1. Received: images_per_class=0"
    ):
        target_task.prepare_data(images_per_class=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compare_measures_a_run_against_the_head_it_started_from(seed):
    data = tiny_data(seed)
    head = constant_source_head(predicted_class=seed)
    rows = rate_comparison.compare(data, [1e-2], [3], 1, 1, seed=seed, source_head=head)
    assert [row.label for row in rows] == ["head only", "0.01, top 3"]
    assert [row.learning_rate for row in rows] == [None, 1e-2]
    # The constant head predicts one class whatever the base does: accuracy is that class's share of the labels.
    share = float(np.mean(data.source_test[1] == seed))
    assert [row.source_accuracy for row in rows] == pytest.approx([share, share])
    for row in rows:  # accuracy over 6 test images: a multiple of 1/6
        assert row.target_accuracy * 6 == pytest.approx(round(row.target_accuracy * 6))
    base = keras.applications.MobileNetV2(
        input_shape=(SIZE, SIZE, 3), alpha=0.35, include_top=False, weights=None
    )
    batch_norm = keras.layers.BatchNormalization
    expected = [
        layer.name for layer in base.layers if layer.weights and not isinstance(layer, batch_norm)
    ]
    assert list(rows[0].layer_drift) == expected and list(rows[1].layer_drift) == expected
    assert rows[0].overall_drift == 0.0 and set(rows[0].layer_drift.values()) == {0.0}
    # With the top 3 layers unfrozen, only Conv_1 has weights that may move.
    assert [name for name, drift in rows[1].layer_drift.items() if drift > 0] == ["Conv_1"]
    assert rows[1].overall_drift > 0
    assert (
        not tf.config.functions_run_eagerly()
    )  # the short fit ran eagerly, and the setting is restored


@pytest.mark.parametrize(
    ("name", "value"), [("head_epochs", 0), ("fine_tune_epochs", 0), ("head_epochs", True)]
)
def test_compare_rejects_bad_epochs(name, value):
    options = {"head_epochs": 1, "fine_tune_epochs": 1, name: value}
    with pytest.raises(ValueError, match=f"{name} must be an int >= 1. Received: {name}={value!r}"):
        rate_comparison.compare(tiny_data(0), [1e-3], **options)


def test_from_scratch_rejects_zero_epochs():
    with pytest.raises(ValueError, match="epochs must be an int >= 1. Received: epochs=0"):
        rate_comparison.from_scratch(tiny_data(0), epochs=0)


def outcome(label, learning_rate, target, source, drift):
    return rate_comparison.Outcome(
        label, learning_rate, target, source, drift, {"a": drift, "b": drift / 2}
    )


def test_format_table_prints_dashes_for_what_from_scratch_cannot_measure():
    table = rate_comparison.format_table(
        [
            outcome("1e-05", 1e-5, 0.8, 0.99, 0.00061),
            outcome("from scratch", None, 0.27, math.nan, math.nan),
        ]
    )
    assert table.splitlines() == [
        "run                 target  source    drift",
        "1e-05                 0.80    0.99   0.0006",
        "from scratch          0.27       -        -",
    ]


def test_plot_comparison_draws_rates_as_points_and_references_as_lines():
    rows = [
        outcome("head only", None, 0.79, 0.99, 0.0),
        outcome("0.01", 1e-2, 0.25, 0.17, 0.3),
        outcome("1e-05", 1e-5, 0.8, 0.99, 0.0006),
        outcome("from scratch", None, 0.27, math.nan, math.nan),
    ]
    figure, axes = plt.subplots(1, 3)
    returned = rate_comparison.plot_comparison(rows, axes=axes)
    assert list(returned) == list(axes)
    target_lines = axes[0].get_lines()
    assert target_lines[0].get_xdata().tolist() == [1e-2, 1e-5]
    assert target_lines[0].get_ydata().tolist() == [0.25, 0.8]
    assert [line.get_ydata()[0] for line in target_lines[1:]] == [
        0.79,
        0.27,
    ]  # head only, from scratch
    source_references = [
        line.get_ydata()[0] for line in axes[1].get_lines()[2:]
    ]  # after chance and the points
    assert axes[1].get_lines()[0].get_ydata()[0] == pytest.approx(1 / 6) and source_references == [
        0.99
    ]
    assert len(axes[2].get_lines()) == 2 and axes[0].get_xscale() == "log"
    plt.close(figure)


def test_plot_comparison_rejects_bad_inputs():
    with pytest.raises(ValueError, match="outcomes must hold a run with a learning rate"):
        rate_comparison.plot_comparison([outcome("head only", None, 0.79, 0.99, 0.0)])
    figure, axes = plt.subplots(1, 2)
    with pytest.raises(ValueError, match="axes must hold three Axes. Received: 2 Axes"):
        rate_comparison.plot_comparison([outcome("0.01", 1e-2, 0.25, 0.17, 0.3)], axes=axes)
    plt.close(figure)
