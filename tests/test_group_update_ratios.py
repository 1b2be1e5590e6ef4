"""Update/weight ratio per layer group (helpers/finetune/group_update_ratios.py), closed forms."""

import math

import keras
import matplotlib.axes
import numpy as np
import pytest

from helpers.finetune import discriminative_rates, forgetting, group_update_ratios


def chain_model(
    trainable_high: bool = True,
) -> tuple[keras.Model, dict[str, list[keras.layers.Layer]]]:
    """`prediction = high * (low_0 * x_0 + low_1 * x_1)`, every weight starting at 1."""
    low = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="low")
    high = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="high")
    high.trainable = trainable_high
    model = keras.Sequential([keras.Input((2,)), low, high])
    return model, {"low": [low], "high": [high]}


def closed_form_ratios(learning_rates: dict[str, float], steps: int) -> dict[str, list[float]]:
    """Plain SGD on `loss = (high * low_0)**2` (input (1, 0), target 0), from all-ones weights.

    The gradients are `2 * high**2 * low_0` for `low_0`, 0 for `low_1`, `2 * high * low_0**2`
    for `high`.
    """
    low_0, low_1, high = 1.0, 1.0, 1.0
    ratios = {"low": [], "high": []}
    for _ in range(steps):
        low_step = learning_rates["low"] * 2 * high**2 * low_0
        high_step = learning_rates["high"] * 2 * high * low_0**2
        ratios["low"].append(abs(low_step) / math.hypot(low_0, low_1))
        ratios["high"].append(abs(high_step) / abs(high))
        low_0, high = low_0 - low_step, high - high_step
    return ratios


def test_ratios_match_the_closed_form_of_plain_sgd_with_one_rate():
    model, groups = chain_model()
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    recorder = group_update_ratios.GroupUpdateRatios(groups)
    features, targets = np.array([[1.0, 0.0]] * 3), np.zeros((3, 1))
    model.fit(features, targets, batch_size=1, callbacks=[recorder], verbose=0)
    expected = closed_form_ratios({"low": 0.1, "high": 0.1}, steps=3)
    assert list(recorder.ratios) == ["low", "high"]
    for name in groups:
        assert recorder.ratios[name] == pytest.approx(expected[name], rel=1e-5)
    assert recorder.ratios["low"][0] == pytest.approx(0.2 / math.sqrt(2), rel=1e-6)


def test_ratios_follow_each_groups_discriminative_rate():
    model, groups = chain_model()
    rates = {"low": 0.01, "high": 0.1}
    optimizer = discriminative_rates.discriminative_optimizer(groups, rates, "sgd", momentum=0.0)
    model.compile(optimizer=optimizer, loss="mse")
    recorder = group_update_ratios.GroupUpdateRatios(groups)
    features, targets = np.array([[1.0, 0.0]] * 2), np.zeros((2, 1))
    model.fit(features, targets, batch_size=1, callbacks=[recorder], verbose=0)
    expected = closed_form_ratios(rates, steps=2)
    for name in groups:
        assert recorder.ratios[name] == pytest.approx(expected[name], rel=1e-5)
    medians = recorder.median_ratios()
    assert medians == {name: pytest.approx(np.median(expected[name]), rel=1e-5) for name in groups}


def test_a_frozen_group_records_exactly_zero_and_the_other_its_closed_form():
    model, groups = chain_model(trainable_high=False)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    recorder = group_update_ratios.GroupUpdateRatios(groups)
    features, targets = np.array([[1.0, 0.0]] * 2), np.zeros((2, 1))
    model.fit(features, targets, batch_size=1, callbacks=[recorder], verbose=0)
    assert recorder.ratios["high"] == [0.0, 0.0]
    expected = closed_form_ratios({"low": 0.1, "high": 0.0}, steps=2)
    assert recorder.ratios["low"] == pytest.approx(expected["low"], rel=1e-5)
    assert recorder.median_ratios()["high"] == 0.0


def test_the_median_leaves_out_the_steps_a_group_spent_frozen():
    model, groups = chain_model(trainable_high=False)
    recorder = group_update_ratios.GroupUpdateRatios(groups)
    features, targets = np.array([[1.0, 0.0]] * 2), np.zeros((2, 1))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    model.fit(features, targets, batch_size=1, callbacks=[recorder], verbose=0)
    groups["high"][0].trainable = True  # unfrozen for the next fit, as gradual unfreezing does
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    model.fit(features, targets, batch_size=1, callbacks=[recorder], verbose=0)
    assert recorder.ratios["high"][:2] == [0.0, 0.0]
    moved = recorder.ratios["high"][2:]
    assert min(moved) > 0
    assert recorder.median_ratios()["high"] == pytest.approx(np.median(moved), rel=1e-12)


def test_one_ratio_per_batch_and_group_across_epochs_and_fit_calls():
    keras.utils.set_random_seed(0)
    low, high = keras.layers.Dense(3, name="low"), keras.layers.Dense(1, name="high")
    model = keras.Sequential([keras.Input((4,)), low, high])
    model.compile(optimizer="adam", loss="mse")
    recorder = group_update_ratios.GroupUpdateRatios({"low": [low], "high": [high]})
    assert recorder.median_ratios() == {}
    features = np.random.default_rng(0).normal(size=(10, 4))
    targets = np.zeros((10, 1))
    model.fit(features, targets, batch_size=3, epochs=2, callbacks=[recorder], verbose=0)
    assert [len(values) for values in recorder.ratios.values()] == [8, 8]  # 4 batches, 2 epochs
    model.fit(features, targets, batch_size=5, callbacks=[recorder], verbose=0)
    assert [len(values) for values in recorder.ratios.values()] == [10, 10]
    assert all(value > 0 for values in recorder.ratios.values() for value in values)


def test_batch_normalization_statistics_are_not_weights_but_gamma_and_beta_are():
    batch_norm = keras.layers.BatchNormalization(name="bn")
    dense = keras.layers.Dense(1, name="dense")
    model = keras.Sequential([keras.Input((2,)), batch_norm, dense])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    recorder = group_update_ratios.GroupUpdateRatios({"bn": [batch_norm], "dense": [dense]})
    assert [variable.name for variable in recorder.variables_by_group["bn"]] == ["gamma", "beta"]
    batch_norm.trainable = False  # now fit moves neither gamma, beta nor the statistics
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    features = np.random.default_rng(1).normal(size=(4, 2))
    model.fit(features, np.ones((4, 1)), callbacks=[recorder], verbose=0)
    assert recorder.ratios["bn"] == [0.0] and recorder.ratios["dense"][0] > 0


def test_plot_draws_one_line_per_group_in_order_and_the_dashed_guide():
    ratios = {"stem": [1e-4, 0.0, 2e-4], "blocks": [5e-4, 6e-4, 7e-4], "head": [1e-2, 5e-3, 2e-3]}
    ax = group_update_ratios.plot_group_ratios(ratios)
    assert isinstance(ax, matplotlib.axes.Axes)
    lines = ax.get_lines()
    assert [line.get_label() for line in lines[:3]] == ["stem", "blocks", "head"]
    assert len(lines) == 4
    assert lines[3].get_linestyle() == "--"
    assert list(lines[3].get_ydata()) == [forgetting.HEALTHY_UPDATE_RATIO] * 2
    assert list(lines[0].get_xdata()) == [1, 2, 3]
    assert np.isnan(lines[0].get_ydata()[1])  # a frozen step leaves a gap on the log scale
    assert ax.get_yscale() == "log"


def test_format_ratios_is_a_table_of_groups_by_runs():
    medians = {
        "1e-3 everywhere": {"stem": 3.14e-3, "head": 1.2e-3},
        "discriminative": {"stem": np.float32(3.1e-4), "head": 1.2e-3, "extra": 0.0},
    }
    table = group_update_ratios.format_ratios(medians)
    assert table.splitlines() == [
        "group  1e-3 everywhere  discriminative",
        "stem           3.1e-03         3.1e-04",
        "head           1.2e-03         1.2e-03",
        "extra                -         0.0e+00",
    ]


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ([1e-3], "ratios must be a dict from group name to its per-step ratios"),
        ({}, "ratios must be a dict from group name to its per-step ratios "),
        ({"low": 1e-3}, "for medians, use format_ratios. Received: ratios['low']=0.001"),
        ({"low": [1e-3, -1.0]}, "ratios['low'] must hold ratios >= 0. Received: ratios['low']"),
        ({"low": [[1e-3]]}, "ratios['low'] must have shape (steps,). Received: ratios['low']"),
        ({"low": ["fast"]}, "ratios['low'] must be a numeric array. Received: ratios['low']"),
        ({"low": [np.nan]}, "ratios['low'] must be finite. Received: ratios['low'] with 1 NaN"),
        ({"": [1e-3]}, "ratios key must be a non-blank str. Received: ratios key=''"),
    ],
)
def test_bad_ratios_to_plot_are_named_with_the_value_received(ratios, message):
    with pytest.raises(ValueError) as raised:
        group_update_ratios.plot_group_ratios(ratios)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("medians_by_run", "message"),
    [
        ([{"low": 1e-3}], "medians_by_run must be a dict from run label to GroupUpdateRatios"),
        ({}, "Received: medians_by_run={}"),
        ({"run": [1e-3]}, "medians_by_run['run'] must be a dict from group name to median"),
        ({"run": {"low": -1.0}}, "medians_by_run['run']['low'] must be a finite number >= 0."),
        ({"run": {"low": "small"}}, "Received: medians_by_run['run']['low']='small'"),
        ({3: {"low": 1e-3}}, "medians_by_run key must be a non-blank str. Received:"),
    ],
)
def test_bad_medians_to_format_are_named_with_the_value_received(medians_by_run, message):
    with pytest.raises(ValueError) as raised:
        group_update_ratios.format_ratios(medians_by_run)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ("stem", "groups must be a dict from group name to a list of layers. Received: groups"),
        ({"low": []}, "groups['low'] must be a non-empty list of Keras layers."),
        ({"low": ["dense"]}, "groups['low'] must be a non-empty list of Keras layers."),
    ],
)
def test_bad_groups_are_named_with_the_value_received(groups, message):
    with pytest.raises(ValueError) as raised:
        group_update_ratios.GroupUpdateRatios(groups)
    assert message in str(raised.value)
