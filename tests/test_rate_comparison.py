"""The phase-2 sweep (helpers/lessons/rate_comparison.py), on tiny models and closed-form values."""

import math
import re

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
        images_per_class=2,
        validation_count=5,
        test_count=6,
        source_count=12,
        image_size=SIZE,
        seed=seed,
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
    # The constant head predicts one class whatever the base does: accuracy is that class's share of
    # the labels.
    share = float(np.mean(data.source_test[1] == seed))
    assert [row.source_accuracy for row in rows] == pytest.approx([share, share])
    for row in rows:  # accuracy over 6 test and 5 validation images: multiples of 1/6 and 1/5
        assert row.target_accuracy * 6 == pytest.approx(round(row.target_accuracy * 6))
        assert row.validation_accuracy * 5 == pytest.approx(round(row.validation_accuracy * 5))
        assert row.validation_loss > 0
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
    # Its update/weight ratio per step is recorded for the same layers; phase 1 records none.
    assert list(rows[1].update_ratios) == expected and rows[0].update_ratios == {}
    assert [name for name, ratio in rows[1].update_ratios.items() if ratio > 0] == ["Conv_1"]
    assert (
        not tf.config.functions_run_eagerly()
    )  # the short fit ran eagerly, and the setting is restored


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"head_epochs": 0}, "head_epochs must be an int >= 1. Received: head_epochs=0"),
        (
            {"fine_tune_epochs": 0},
            "fine_tune_epochs must be an int >= 1. Received: fine_tune_epochs=0",
        ),
        ({"head_epochs": True}, "head_epochs must be an int >= 1. Received: head_epochs=True"),
        ({"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
        (
            {"learning_rates": []},
            "learning_rates must be a list or tuple of at least 1 item. "
            "Received: learning_rates=[]",
        ),
        (
            {"learning_rates": [1e-3, 0.0]},
            "learning_rates[1] must be a positive, finite number. Received: learning_rates[1]=0.0",
        ),
        (
            {"learning_rates": [1e-3, 1e-3]},
            "learning_rates must hold distinct values. Received: learning_rates=[0.001, 0.001]",
        ),
        (
            {"top_layers_options": 20},
            "top_layers_options must be a list or tuple of at least 1 item. "
            "Received: top_layers_options=20",
        ),
        (
            {"source_head": (np.zeros((1280, 6)), np.zeros(6), np.zeros(6))},
            "source_head must be None or a tuple (kernel, bias). Received: a tuple of 3 items",
        ),
        (
            {"top_layers_options": [0]},
            "top_layers_options[0] must be None or an int from 1 to 154. "
            "Received: top_layers_options[0]=0",
        ),
        ({"data": (1, 2)}, "data must be a target_task.TaskData. Received: data=(1, 2)"),
        (
            {"source_head": (np.zeros((1280, 4)), np.zeros(4))},
            "source_head kernel must have shape (num_features, 6). "
            "Received: source_head kernel of shape (1280, 4)",
        ),
        (
            {"source_head": (np.zeros((1280, 6)), np.full(6, np.nan))},
            "source_head bias must be finite. Received: source_head bias with 6 NaN or inf values",
        ),
    ],
)
def test_compare_rejects_bad_arguments_before_training(arguments, message):
    options = {"data": tiny_data(0), "learning_rates": [1e-3], "head_epochs": 1}
    options = {**options, "fine_tune_epochs": 1, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_comparison.compare(**options)


def test_compare_accepts_numpy_scalars_like_python_numbers():
    data = tiny_data(0)
    head = constant_source_head(predicted_class=0)
    python_rows = rate_comparison.compare(data, [1e-3], [3], 1, 1, seed=1, source_head=head)
    numpy_rows = rate_comparison.compare(
        data,
        np.array([1e-3], "float32"),
        [np.int64(3)],
        np.int64(1),
        np.int64(1),
        seed=np.int64(1),
        source_head=head,
    )
    assert [row.label for row in numpy_rows] == [row.label for row in python_rows]
    for python_row, numpy_row in zip(python_rows, numpy_rows, strict=True):
        assert numpy_row.target_accuracy == python_row.target_accuracy
        assert numpy_row.overall_drift == pytest.approx(python_row.overall_drift, rel=1e-3)


def test_a_phase_two_the_guard_stops_is_measured_and_labelled_diverged():
    data = tiny_data(0)
    head = constant_source_head(predicted_class=0)
    # Three phase-2 steps (one batch per epoch): the guard compares the second with the first.
    rows = rate_comparison.compare(data, [1e3], [3], 1, 3, source_head=head)
    assert rows[1].label == "1000, top 3 (diverged)" and rows[1].learning_rate == 1e3
    assert rows[1].stopped_reason.startswith("Training stopped: ")
    assert rows[1].stopped_reason.endswith("Received: fine_tune_learning_rate=1000.0")
    assert rows[0].stopped_reason is None
    assert 0 <= rows[1].target_accuracy <= 1


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"epochs": 0}, "epochs must be an int >= 1. Received: epochs=0"),
        ({"epochs": 2.0}, "epochs must be an int >= 1. Received: epochs=2.0"),
        (
            {"learning_rate": -1e-3},
            "learning_rate must be a positive, finite number or a LearningRateSchedule. "
            "Received: learning_rate=-0.001",
        ),
        ({"seed": "0"}, "seed must be an int >= 0. Received: seed='0'"),
        ({"data": None}, "data must be a target_task.TaskData. Received: data=None"),
    ],
)
def test_from_scratch_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_comparison.from_scratch(**{"data": tiny_data(0), "epochs": 1, **arguments})


def outcome(label, learning_rate, target, source, drift, validation_loss=0.5):
    return rate_comparison.Outcome(
        label,
        learning_rate,
        target,
        source,
        drift,
        {"a": drift, "b": drift / 2},
        validation_accuracy=target,
        validation_loss=validation_loss,
    )


def test_format_table_prints_dashes_for_what_from_scratch_cannot_measure():
    table = rate_comparison.format_table(
        [
            outcome("1e-05", 1e-5, 0.8, 0.99, 0.00061, validation_loss=0.5814),
            outcome("from scratch", None, 0.27, math.nan, math.nan, validation_loss=1.38),
        ]
    )
    assert table.splitlines() == [
        "run                 val loss  val acc  test acc  source    drift",
        "1e-05                  0.581     0.80      0.80    0.99   0.0006",
        "from scratch           1.380     0.27      0.27       -        -",
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
    points = axes[0].containers[0].lines[0]
    assert points.get_xdata().tolist() == [1e-2, 1e-5]
    assert points.get_ydata().tolist() == [0.25, 0.8]
    references = [line for line in axes[0].get_lines() if line.get_linestyle() == "--"]
    assert [line.get_ydata()[0] for line in references] == [0.79, 0.27]  # head only, scratch
    assert axes[1].get_lines()[0].get_ydata()[0] == pytest.approx(1 / 6)  # chance
    source_references = [line for line in axes[1].get_lines() if line.get_linestyle() == "--"]
    assert [line.get_ydata()[0] for line in source_references] == [0.99]
    assert len(axes[2].get_lines()) == 2 and axes[0].get_xscale() == "log"
    plt.close(figure)


def test_plot_comparison_draws_the_mean_and_range_over_seeds_and_the_live_run():
    seeds = [
        [outcome("head only", None, head, 0.99, 0.0), outcome("0.01", 1e-2, target, 0.2, drift)]
        for head, target, drift in ((0.7, 0.3, 0.2), (0.8, 0.2, 0.4), (0.9, 0.7, 0.3))
    ]
    rows = [row for seed_rows in seeds for row in seed_rows]
    live = [outcome("0.01 (diverged)", 1e-2, 0.25, 0.17, 0.5)]
    figure, axes = plt.subplots(1, 3)
    rate_comparison.plot_comparison(rows, axes=axes, live=live)
    container = axes[0].containers[0]
    assert container.lines[0].get_ydata().tolist() == pytest.approx([0.4])  # the mean
    caps = sorted(line.get_ydata()[0] for line in container.lines[1])
    assert caps == pytest.approx([0.2, 0.7])  # min and max over the seeds
    assert "3 seeds" in container.get_label()
    band = axes[0].patches[0]  # head only: shaded from 0.7 to 0.9
    assert (band.get_y(), band.get_y() + band.get_height()) == pytest.approx((0.7, 0.9))
    crosses = [line for line in axes[0].get_lines() if line.get_label() == "this run"]
    assert crosses[0].get_ydata().tolist() == [0.25]
    drift_line = axes[2].get_lines()[0]  # per layer, the mean over seeds
    assert drift_line.get_ydata().tolist() == pytest.approx([0.3, 0.15])
    plt.close(figure)


def test_plot_comparison_rejects_bad_inputs():
    message = (
        "outcomes with a learning_rate must be a list or tuple of at least 1 item. "
        "Received: outcomes with a learning_rate=[]"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_comparison.plot_comparison([outcome("head only", None, 0.79, 0.99, 0.0)])
    figure, axes = plt.subplots(1, 2)
    message = "axes must be a list or tuple of at least 3 items. Received: axes=[<Axes"
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_comparison.plot_comparison([outcome("0.01", 1e-2, 0.25, 0.17, 0.3)], axes=axes)
    plt.close(figure)


@pytest.mark.parametrize(
    ("outcomes", "message"),
    [
        ([], "outcomes must be a list or tuple of at least 1 item. Received: outcomes=[]"),
        (["0.01"], "outcomes[0] must be an Outcome. Received: outcomes[0]='0.01'"),
    ],
)
def test_format_table_and_plot_comparison_reject_what_is_not_a_list_of_outcomes(outcomes, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_comparison.format_table(outcomes)
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_comparison.plot_comparison(outcomes)
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_comparison.format_update_ratios(outcomes)
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_comparison.best_by_validation(outcomes)


# Choosing on validation, budgets, update ratios, stored results ---------------------------------


def test_best_by_validation_chooses_the_lowest_validation_loss_not_the_best_test_accuracy():
    rows = [
        outcome("head only", None, 0.79, 0.99, 0.0, validation_loss=0.3),
        outcome("0.001", 1e-3, 0.95, 0.6, 0.03, validation_loss=0.6),
        outcome("0.0001", 1e-4, 0.84, 0.99, 0.005, validation_loss=0.45),
    ]
    assert rate_comparison.best_by_validation(rows).label == "0.0001"
    message = (
        "outcomes with a learning_rate must be a list or tuple of at least 1 item. "
        "Received: outcomes with a learning_rate=[]"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        rate_comparison.best_by_validation(rows[:1])


@pytest.mark.parametrize(
    ("images_per_class", "epochs", "steps"), [(30, 15, 60), (30, 10, 40), (4, 1, 1), (9, 2, 4)]
)
def test_optimizer_steps_counts_batches_of_32(images_per_class, epochs, steps):
    data = target_task.prepare_data(images_per_class, 1, 1, 1, image_size=SIZE)
    assert rate_comparison.optimizer_steps(data, epochs) == steps
    assert rate_comparison.optimizer_steps(data, np.int64(epochs)) == steps


def test_typical_update_ratio_and_its_table():
    row = rate_comparison.Outcome(
        "0.0001", 1e-4, 0.8, 0.99, 0.005, {}, update_ratios={"a": 5e-4, "b": 2e-3, "c": 0.0}
    )
    assert rate_comparison.typical_update_ratio(row) == pytest.approx(1.25e-3)  # 0 left out
    row.update_ratios["d"] = 1.5e-3  # now the middle one of three
    head = rate_comparison.Outcome("head only", None, 0.8, 0.99, 0.0, {})
    assert math.isnan(rate_comparison.typical_update_ratio(head))
    assert rate_comparison.format_update_ratios([head, row]).splitlines() == [
        "run                 median layer    lowest   highest",
        "0.0001                   1.5e-03   5.0e-04   2.0e-03",
    ]


def test_head_gradients_and_a_run_without_phase_one_on_a_tiny_task():
    data = tiny_data(0)
    gradients = rate_comparison.head_gradients(data, head_epochs=1)
    assert gradients.fresh > 0 and gradients.trained > 0
    head = constant_source_head(predicted_class=1)
    row = rate_comparison.without_phase_one(data, epochs=1, source_head=head)
    assert row.label == "no phase 1, 0.0001" and row.learning_rate == 1e-4
    assert row.overall_drift > 0 and row.update_ratios
    assert row.source_accuracy == pytest.approx(float(np.mean(data.source_test[1] == 1)))


@pytest.mark.parametrize(
    ("function", "arguments", "message"),
    [
        (
            "head_gradients",
            {"head_epochs": 0},
            "head_epochs must be an int >= 1. Received: head_epochs=0",
        ),
        (
            "head_gradients",
            {"head_epochs": 1, "seed": -1},
            "seed must be an int >= 0. Received: seed=-1",
        ),
        ("without_phase_one", {"epochs": 0}, "epochs must be an int >= 1. Received: epochs=0"),
        (
            "without_phase_one",
            {"epochs": 1, "learning_rate": 0.0},
            "learning_rate must be a positive, finite number. Received: learning_rate=0.0",
        ),
        ("optimizer_steps", {"epochs": -1}, "epochs must be an int >= 0. Received: epochs=-1"),
    ],
)
def test_new_measurements_reject_bad_arguments(function, arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(rate_comparison, function)(tiny_data(0), **arguments)


def test_mean_and_range_is_all_nan_when_a_run_cannot_measure_a_number():
    assert rate_comparison.mean_and_range([0.2, 0.4, np.float32(0.3)]) == pytest.approx(
        (0.3, 0.2, 0.4)
    )
    assert all(math.isnan(value) for value in rate_comparison.mean_and_range([0.2, math.nan]))
