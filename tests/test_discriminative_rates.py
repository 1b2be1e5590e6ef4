"""Discriminative learning rates (helpers/finetune/discriminative_rates.py), measured from updates.

The rates are compared with closed forms (ULMFiT's powers of 2.6, fastai's geometric spacing).
Each group's rate is then read back from how far its weights move: SGD's first step is exactly
`-learning_rate * gradient` (with momentum too: the velocity starts at 0), and Adam's first step
(keras/src/optimizers/adam.py, with its bias correction) is
`-learning_rate * gradient / (abs(gradient) + epsilon / sqrt(1 - beta_2))`, about the learning rate
for every weight with a gradient.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import discriminative_rates, layer_groups, models

BETA_1 = 0.9  # Keras's Adam defaults
BETA_2 = 0.999
EPSILON = 1e-7
# Adam's first step is `learning_rate * g / (abs(g) + ADAM_FIRST_STEP_EPSILON)`.
ADAM_FIRST_STEP_EPSILON = EPSILON / math.sqrt(1 - BETA_2)


def two_group_model(seed: int) -> tuple[keras.Model, dict[str, list[keras.layers.Layer]]]:
    keras.utils.set_random_seed(seed)
    low = keras.layers.Dense(8, activation="tanh", name="low")
    high = keras.layers.Dense(2, name="high")
    model = keras.Sequential([keras.Input((4,)), low, high])
    return model, {"low": [low], "high": [high]}


def regression_data(seed: int, count: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(count, 4)).astype("float32")
    targets = rng.normal(size=(count, 2)).astype("float32")
    return features, targets


def group_values(groups: dict) -> dict[str, np.ndarray]:
    """Each group's learnable weights as one float64 vector."""
    return {
        name: np.concatenate([np.ravel(variable.numpy()) for variable in variables]).astype(float)
        for name, variables in layer_groups.group_variables(groups).items()
    }


def group_gradients(model: keras.Model, groups: dict, features, targets) -> dict[str, np.ndarray]:
    """The mean-squared-error gradient for each group's learnable weights, as one vector."""
    variables_by_group = layer_groups.group_variables(groups)
    variables = [variable for group in variables_by_group.values() for variable in group]
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(targets, model(features, training=True))
    gradients = dict(zip(map(id, variables), tape.gradient(loss, variables), strict=True))
    return {
        name: np.concatenate([np.ravel(gradients[id(variable)]) for variable in group])
        for name, group in variables_by_group.items()
    }


def float32_spacing(values: np.ndarray) -> float:
    """The largest gap between neighbouring float32 numbers near these weights: the error of a
    measured change `after - before`."""
    return float(np.spacing(np.float32(np.max(np.abs(values)))))


def adam_bound(step: int) -> float:
    """The largest `abs(m_hat) / sqrt(v_hat)` Adam can reach at `step` (1-based), any gradients.

    `m_hat = sum(a_i * g_i)`, `v_hat = sum(c_i * g_i**2)` with weights summing to 1; by
    Cauchy-Schwarz `m_hat**2 <= sum(a_i**2 / c_i) * v_hat`. At step 1 it is 1; it grows slowly.
    """
    ages = np.arange(step)[::-1]  # how many steps ago each gradient came
    first_weights = (1 - BETA_1) * BETA_1**ages / (1 - BETA_1**step)
    second_weights = (1 - BETA_2) * BETA_2**ages / (1 - BETA_2**step)
    return float(np.sqrt(np.sum(first_weights**2 / second_weights)))


class GroupSteps(keras.callbacks.Callback):
    """Records each group's change `after - before` over every training step."""

    def __init__(self, groups: dict) -> None:
        super().__init__()
        self.groups = groups
        self.steps: list[dict[str, np.ndarray]] = []

    def on_train_batch_begin(self, batch, logs=None):
        self._before = group_values(self.groups)

    def on_train_batch_end(self, batch, logs=None):
        after = group_values(self.groups)
        self.steps.append({name: after[name] - self._before[name] for name in after})


# The closed forms.


def test_group_rates_divide_by_2_6_for_each_group_below_the_top():
    names = ("stem", "middle", "top", "head")
    rates = discriminative_rates.group_rates(names, top_rate=1e-3)
    assert discriminative_rates.ULMFIT_FACTOR == 2.6
    assert list(rates) == list(names)
    expected = [1e-3 / 2.6**3, 1e-3 / 2.6**2, 1e-3 / 2.6, 1e-3]
    assert list(rates.values()) == pytest.approx(expected, rel=1e-12)
    assert rates["head"] == 1e-3
    neighbour_ratios = np.array(list(rates.values()))[1:] / np.array(list(rates.values()))[:-1]
    assert neighbour_ratios == pytest.approx(2.6, rel=1e-12)


def test_group_rates_accept_numpy_scalars_and_factor_one_gives_one_rate():
    rates = discriminative_rates.group_rates(["a", "b", "c"], np.float32(0.5), np.int64(2))
    assert rates == {"a": 0.125, "b": 0.25, "c": 0.5}
    assert set(discriminative_rates.group_rates(("a", "b"), 1e-3, factor=1).values()) == {1e-3}
    assert discriminative_rates.group_rates(["only"], 1e-3) == {"only": 1e-3}


def fastai_even_mults(start: float, stop: float, count: int) -> list[float]:
    """fastcore.basics.even_mults, which fastai's `slice(start, stop)` uses."""
    if count == 1:
        return stop
    step = (stop / start) ** (1 / (count - 1))
    return [start * step**index for index in range(count)]


@pytest.mark.parametrize("count", [2, 3, 7])
def test_rates_between_match_fastai_and_are_geometric_with_exact_end_points(count):
    names = [f"group {index}" for index in range(count)]
    rates = discriminative_rates.rates_between(names, lowest_rate=1e-6, highest_rate=1e-3)
    values = list(rates.values())
    assert list(rates) == names
    assert values == pytest.approx(fastai_even_mults(1e-6, 1e-3, count), rel=1e-12)
    assert values[0] == 1e-6 and values[-1] == 1e-3
    neighbour_ratios = np.array(values[1:]) / np.array(values[:-1])
    assert neighbour_ratios == pytest.approx(1000 ** (1 / (count - 1)), rel=1e-12)


def test_rates_between_give_one_group_the_highest_rate_as_fastai_does():
    rates = discriminative_rates.rates_between(["head"], np.float32(0.5), np.float64(2.0))
    assert rates == {"head": 2.0} == {"head": fastai_even_mults(0.5, 2.0, 1)}
    equal = discriminative_rates.rates_between(("a", "b", "c"), 1e-3, 1e-3)
    assert list(equal.values()) == pytest.approx([1e-3] * 3, rel=1e-12)


# Bad inputs: each names the argument and echoes the value.


@pytest.mark.parametrize(
    ("function", "arguments", "argument", "received"),
    [
        ("group_rates", (["a", "b"], 0), "top_rate", "0"),
        ("group_rates", (["a", "b"], float("nan")), "top_rate", "nan"),
        ("group_rates", (["a", "b"], True), "top_rate", "True"),
        ("group_rates", (["a", "b"], "1e-3"), "top_rate", "'1e-3'"),
        ("group_rates", (["a", "b"], 1e-3, 0.5), "factor", "0.5"),
        ("group_rates", (["a", "b"], 1e-3, np.inf), "factor", "inf"),
        ("group_rates", ("ab", 1e-3), "group_names", "'ab'"),
        ("group_rates", ([], 1e-3), "group_names", "[]"),
        ("group_rates", (["a", "a"], 1e-3), "group_names", "['a', 'a']"),
        ("group_rates", (["a", " "], 1e-3), "group_names[1]", "' '"),
        ("group_rates", (["a", 3], 1e-3), "group_names[1]", "3"),
        ("rates_between", (["a", "b"], 1e-2, 1e-3), "lowest_rate", "0.01"),
        ("rates_between", (["a", "b"], 0.0, 1e-3), "lowest_rate", "0.0"),
        ("rates_between", (["a", "b"], 1e-5, -1.0), "highest_rate", "-1.0"),
        ("rates_between", ({"a": 1}, 1e-5, 1e-3), "group_names", "{'a': 1}"),
    ],
)
def test_bad_rate_arguments_are_named_with_the_value_received(
    function, arguments, argument, received
):
    with pytest.raises(ValueError) as raised:
        getattr(discriminative_rates, function)(*arguments)
    message = str(raised.value)
    assert message.startswith(f"{argument} must ")
    assert message.endswith(f"Received: {argument}={received}")


MISSING_HIGH = "Received: learning_rates missing ['high']"
RATES = {"low": 1e-3, "high": 1e-2}


@pytest.mark.parametrize(
    ("groups_kind", "learning_rates", "options", "message"),
    [
        ("not a dict", RATES, {}, "groups must be a dict from group name to a list of layers"),
        ("empty", RATES, {}, "groups['low'] must be a non-empty list of Keras layers."),
        ("both", {"low": 1e-3}, {}, "keys, ['low', 'high']. " + MISSING_HIGH),
        ("both", {**RATES, "top": 1.0}, {}, "Received: learning_rates with extra keys ['top']"),
        ("both", {"high": 1.0, "head": 1.0}, {}, "missing ['low'] and with extra keys ['head']"),
        ("both", [1e-3, 1e-2], {}, "Received: learning_rates=[0.001, 0.01]"),
        ("both", {**RATES, "low": 0}, {}, "Received: learning_rates['low']=0"),
        ("both", {**RATES, "high": "fast"}, {}, "Received: learning_rates['high']='fast'"),
        ("both", RATES, {"optimizer": "adamw"}, "Received: optimizer='adamw'. Did you mean"),
        ("both", RATES, {"optimizer": "sgd", "momentum": 1.5}, "Received: momentum=1.5"),
        ("both", RATES, {"learning_rate": 1.0}, "Received: learning_rate=1.0"),
        ("twice", RATES, {}, "high/kernel' in groups 'low' and 'high'"),
    ],
)
def test_bad_optimizer_arguments_are_named_with_the_value_received(
    groups_kind, learning_rates, options, message
):
    _, groups = two_group_model(seed=0)
    groups_by_kind = {
        "not a dict": [groups["low"], groups["high"]],
        "both": groups,
        "empty": {"low": [], "high": groups["high"]},
        "twice": {"low": groups["low"] + groups["high"], "high": groups["high"]},
    }
    with pytest.raises(ValueError) as raised:
        discriminative_rates.discriminative_optimizer(
            groups_by_kind[groups_kind], learning_rates, **options
        )
    assert message in str(raised.value)


def test_a_trainable_variable_in_no_group_is_named_when_training_starts():
    model, groups = two_group_model(seed=0)
    optimizer = discriminative_rates.discriminative_optimizer(
        {"high": groups["high"]}, {"high": 1e-3}
    )
    model.compile(optimizer=optimizer, loss="mse")
    features, targets = regression_data(seed=0, count=4)
    with pytest.raises(
        ValueError, match=r"Received: the trainable variable '\w+/low/kernel' in none"
    ):
        model.fit(features, targets, verbose=0)


def test_a_frozen_layer_in_no_group_is_fine_and_stays_put():
    model, groups = two_group_model(seed=0)
    groups["low"][0].trainable = False
    before = group_values(groups)["low"]
    optimizer = discriminative_rates.discriminative_optimizer(
        {"high": groups["high"]}, {"high": 1e-2}
    )
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(*regression_data(seed=0, count=4), verbose=0)
    assert np.array_equal(group_values(groups)["low"], before)


# Each group gets its rate, measured from its updates.


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_first_step_moves_each_group_by_minus_its_rate_times_its_gradient(momentum):
    model, groups = two_group_model(seed=1)
    rates = discriminative_rates.group_rates(list(groups), top_rate=0.1, factor=10)
    optimizer = discriminative_rates.discriminative_optimizer(
        groups, rates, "sgd", momentum=momentum
    )
    model.compile(optimizer=optimizer, loss="mse")
    features, targets = regression_data(seed=1, count=8)
    gradients = group_gradients(model, groups, features, targets)
    before = group_values(groups)
    recorder = GroupSteps(groups)
    model.fit(features, targets, batch_size=8, callbacks=[recorder], verbose=0)
    for name, rate in rates.items():
        change = recorder.steps[0][name]
        tolerance = float32_spacing(before[name])
        np.testing.assert_allclose(change, -rate * gradients[name], rtol=1e-5, atol=tolerance)
        clearly_moved = np.abs(gradients[name]) > 1e-3
        measured = change[clearly_moved] / gradients[name][clearly_moved]
        assert measured == pytest.approx(-rate, rel=1e-3)


def test_adam_first_step_moves_every_weight_by_its_groups_rate_whatever_its_gradient():
    model, groups = two_group_model(seed=2)
    rates = {"low": 1e-3, "high": 1e-2}
    optimizer = discriminative_rates.discriminative_optimizer(groups, rates, "Adam")
    model.compile(optimizer=optimizer, loss="mse")
    features, targets = regression_data(seed=2, count=8)
    gradients = group_gradients(model, groups, features, targets)
    before = group_values(groups)
    recorder = GroupSteps(groups)
    model.fit(features, targets, batch_size=8, callbacks=[recorder], verbose=0)
    for name, rate in rates.items():
        change = recorder.steps[0][name]
        gradient = gradients[name]
        expected = -rate * gradient / (np.abs(gradient) + ADAM_FIRST_STEP_EPSILON)
        np.testing.assert_allclose(change, expected, rtol=1e-5, atol=float32_spacing(before[name]))
        assert np.max(np.abs(change)) == pytest.approx(rate, rel=1e-3)
    # The gradients differ in size by orders of magnitude; Adam's steps do not.
    assert np.ptp(np.log10(np.abs(gradients["low"]))) > 1


def steps_with_scaled_low_gradient(
    optimizer_name: str, scale: float, seed: int, steps: int = 3
) -> list[dict[str, np.ndarray]]:
    """Each group's change over `steps` steps of one optimizer, the low group's gradient scaled.

    A per-layer gradient multiplier: the usual way to give one optimizer several rates.
    """
    model, groups = two_group_model(seed=seed)
    features, targets = regression_data(seed=seed, count=16)
    optimizer = keras.optimizers.get(optimizer_name)  # Keras's defaults: SGD without momentum
    optimizer.learning_rate = 1e-3
    variables = model.trainable_variables
    low_variables = {id(variable) for variable in groups["low"][0].trainable_variables}
    changes = []
    for _ in range(steps):
        before = group_values(groups)
        with tf.GradientTape() as tape:
            loss = keras.losses.MeanSquaredError()(targets, model(features, training=True))
        gradients = [
            gradient * scale if id(variable) in low_variables else gradient
            for gradient, variable in zip(tape.gradient(loss, variables), variables, strict=True)
        ]
        optimizer.apply(gradients, variables)
        after = group_values(groups)
        changes.append({name: after[name] - before[name] for name in after})
    return changes


@pytest.mark.parametrize("seed", [0, 1])
def test_scaling_a_groups_gradient_changes_sgd_steps_but_not_adam_steps(seed):
    # Why discriminative rates need one optimizer per group: a per-layer gradient multiplier
    # scales SGD's step, but Adam divides it away (up to epsilon).
    adam_plain = steps_with_scaled_low_gradient("adam", scale=1.0, seed=seed)
    adam_scaled = steps_with_scaled_low_gradient("adam", scale=100.0, seed=seed)
    for plain, scaled in zip(adam_plain, adam_scaled, strict=True):
        for name in ("low", "high"):
            difference = np.linalg.norm(scaled[name] - plain[name]) / np.linalg.norm(plain[name])
            assert difference < 1e-2
    sgd_plain = steps_with_scaled_low_gradient("sgd", scale=1.0, seed=seed, steps=1)[0]
    sgd_scaled = steps_with_scaled_low_gradient("sgd", scale=100.0, seed=seed, steps=1)[0]
    sgd_growth = np.linalg.norm(sgd_scaled["low"]) / np.linalg.norm(sgd_plain["low"])
    assert sgd_growth == pytest.approx(100, rel=1e-3)  # to float32 precision of small steps
    np.testing.assert_allclose(sgd_scaled["high"], sgd_plain["high"], rtol=1e-5, atol=1e-9)


def test_fit_keeps_each_groups_adam_steps_within_its_rate_over_several_steps():
    model, groups = two_group_model(seed=3)
    rates = discriminative_rates.group_rates(list(groups), top_rate=1e-2, factor=10)
    model.compile(
        optimizer=discriminative_rates.discriminative_optimizer(groups, rates), loss="mse"
    )
    features, targets = regression_data(seed=3, count=40)
    gradients = group_gradients(model, groups, features[:8], targets[:8])
    spacing = {name: float32_spacing(values) for name, values in group_values(groups).items()}
    recorder = GroupSteps(groups)
    model.fit(features, targets, batch_size=8, shuffle=False, callbacks=[recorder], verbose=0)
    assert len(recorder.steps) == 5
    for name, rate in rates.items():
        first = recorder.steps[0][name]
        expected = -rate * gradients[name] / (np.abs(gradients[name]) + ADAM_FIRST_STEP_EPSILON)
        np.testing.assert_allclose(first, expected, rtol=1e-5, atol=spacing[name])
        assert np.max(np.abs(first)) == pytest.approx(rate, rel=1e-3)
        for step, changes in enumerate(recorder.steps, start=1):
            largest = np.max(np.abs(changes[name]))
            assert largest <= rate * adam_bound(step) * (1 + 1e-5) + 2 * spacing[name]
            assert largest > 0.5 * rate  # each step is about the group's rate, not far below
    assert 1 < adam_bound(5) < 1.02


def test_each_group_may_follow_its_own_schedule_counting_its_own_steps():
    model, groups = two_group_model(seed=4)
    halving = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=1, decay_rate=0.5)
    learning_rates = {"low": halving, "high": np.float32(1e-3)}
    optimizer = discriminative_rates.discriminative_optimizer(groups, learning_rates, "sgd")
    model.compile(optimizer=optimizer, loss="mse")
    model.fit(*regression_data(seed=4, count=8), batch_size=2, verbose=0)  # 4 steps
    low_optimizer, high_optimizer = model.optimizer.optimizers
    assert int(low_optimizer.iterations) == int(high_optimizer.iterations) == 4
    assert float(low_optimizer.learning_rate) == pytest.approx(1e-2 * 0.5**4, rel=1e-6)
    assert float(high_optimizer.learning_rate) == pytest.approx(1e-3, rel=1e-6)


def test_mobilenet_v2_with_its_base_unfrozen_trains_each_group_at_its_rate():
    model, base_model = models.build_mobilenet_v2(4, image_size=32, dropout=0)
    models.unfreeze(base_model)
    groups = layer_groups.mobilenet_v2_groups(model, base_model)
    rates = discriminative_rates.group_rates(layer_groups.GROUP_NAMES, top_rate=1e-3)
    model.compile(
        optimizer=discriminative_rates.discriminative_optimizer(groups, rates),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    batch_norm_layers = [
        layer for layer in base_model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    batch_norm_before = [layer.get_weights() for layer in batch_norm_layers]
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, size=(8, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, 4, size=8)
    gradients = mobilenet_gradients(model, groups, images, labels)
    before = group_values(groups)
    recorder = GroupSteps(groups)
    model.fit(images, labels, batch_size=8, callbacks=[recorder], verbose=0)
    assert len(model.optimizer.optimizers) == len(groups) == 7
    # BatchNormalization stays frozen: its gamma and beta never reach the optimizer.
    for layer, weights in zip(batch_norm_layers, batch_norm_before, strict=True):
        pairs = zip(weights, layer.get_weights(), strict=True)
        assert all(np.array_equal(old, new) for old, new in pairs)
    for name, rate in rates.items():
        gradient = gradients[name]
        expected = -rate * gradient / (np.abs(gradient) + ADAM_FIRST_STEP_EPSILON)
        change = recorder.steps[0][name]
        np.testing.assert_allclose(change, expected, rtol=1e-4, atol=float32_spacing(before[name]))
        assert np.max(np.abs(change)) <= rate * (1 + 1e-5)
    # Where a gradient is far above epsilon, the step is the group's rate itself. With random
    # weights only the head's are (about 0.4); the base's are near 1e-11, far below Adam's
    # effective epsilon (3e-6), so the formula above, not the rate, sizes their steps.
    head_change = recorder.steps[0]["head"]
    assert np.max(np.abs(head_change)) == pytest.approx(rates["head"], rel=1e-3)


def mobilenet_gradients(model, groups, images, labels) -> dict[str, np.ndarray]:
    """The cross-entropy gradient for each group's learnable weights; 0 for a frozen one."""
    variables_by_group = layer_groups.group_variables(groups)
    variables = [variable for group in variables_by_group.values() for variable in group]
    loss_function = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_function(labels, model(images, training=True))
    gradients = tape.gradient(loss, variables, unconnected_gradients="zero")
    by_variable = {
        id(variable): np.ravel(gradient) if variable.trainable else np.zeros(variable.shape).ravel()
        for variable, gradient in zip(variables, gradients, strict=True)
    }
    return {
        name: np.concatenate([by_variable[id(variable)] for variable in group])
        for name, group in variables_by_group.items()
    }
