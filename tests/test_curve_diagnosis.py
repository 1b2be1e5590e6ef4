"""Curve diagnosis (lesson 05): closed-form curves per verdict, real Keras runs, and the initial-loss check."""

import functools
import math

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.finetune import curve_diagnosis, head_training
from helpers.finetune.two_phase import FineTuneHistory
from helpers.lessons import pretrained, shapes_data

STEPS = np.arange(40)
DECAY = 2.0 * np.exp(-STEPS / 10)  # a healthy run: the loss shrinks by e every 10 steps


def window_mean(values, end: bool) -> float:
    window = max(1, round(len(values) * curve_diagnosis.WINDOW_FRACTION))
    return float(np.mean(values[-window:] if end else values[:window]))


# Closed-form curves -------------------------------------------------------------------------------------------


def test_exponential_decay_is_healthy_and_reports_its_progress():
    diagnosis = curve_diagnosis.diagnose(DECAY)
    progress = 1 - window_mean(DECAY, end=True) / window_mean(DECAY, end=False)
    assert diagnosis.verdict == "healthy" and f"fell {progress:.0%}" in diagnosis.evidence[0]
    assert diagnosis.advice == curve_diagnosis.ADVICE["healthy"]
    assert str(diagnosis) == f"healthy: {diagnosis.evidence[0]}; keep this learning rate"


def test_a_nearly_flat_decay_is_too_low_and_names_the_chance_level():
    flat = math.log(4) * (1 - 0.001 * STEPS)  # 3.5% progress in 40 steps
    diagnosis = curve_diagnosis.diagnose(flat, num_classes=4)
    assert diagnosis.verdict == "too low"
    assert any("ln(4) = 1.39" in sentence for sentence in diagnosis.evidence)
    assert not any("ln(" in sentence for sentence in curve_diagnosis.diagnose(flat).evidence)


def test_a_zig_zag_around_a_constant_is_too_high():
    zig_zag = (
        1.5 + 0.5 * (-1.0) ** STEPS
    )  # 2, 1, 2, 1, ...: every step moves by 1 / 1.5 = 67% of the level
    diagnosis = curve_diagnosis.diagnose(zig_zag)
    assert diagnosis.verdict == "too high" and "median 67% per step" in diagnosis.evidence[0]


def test_a_spike_above_twice_the_start_is_too_high():
    spiky = DECAY.copy()
    spiky[3] = 2.5 * DECAY[0]
    diagnosis = curve_diagnosis.diagnose(spiky)
    assert diagnosis.verdict == "too high" and "at step 3, x2.5" in diagnosis.evidence[0]


def test_a_finite_climb_to_ten_thousand_is_diverging_and_names_the_step():
    growth = math.log(1e4 / 1.4) / 39
    climb = 1.4 * np.exp(growth * STEPS)  # 1.4 -> 1e4, never nan
    first_above_three_times = math.ceil(math.log(curve_diagnosis.EXPLOSION_FACTOR) / growth)
    diagnosis = curve_diagnosis.diagnose(climb)
    assert diagnosis.verdict == "diverging"
    assert (
        f"passed 3x its first value 1.4 at step {first_above_three_times}" in diagnosis.evidence[0]
    )
    assert "1e+04 at step 39" in diagnosis.evidence[1]


@pytest.mark.parametrize("bad_value", [float("nan"), float("inf")])
def test_a_curve_with_nan_or_inf_is_diverging(bad_value):
    broken = DECAY.copy()
    broken[25:] = bad_value
    diagnosis = curve_diagnosis.diagnose(broken)
    assert diagnosis.verdict == "diverging" and diagnosis.evidence == (
        f"the loss is {bad_value} at step 25",
    )


def test_a_rebound_ten_times_above_the_lowest_level_is_diverging():
    rebound = np.concatenate(
        [np.geomspace(1.4, 0.05, 20), np.geomspace(0.05, 1.2, 20)]
    )  # never above its start
    diagnosis = curve_diagnosis.diagnose(rebound)
    assert diagnosis.verdict == "diverging" and diagnosis.evidence[0].startswith("the loss fell to")


def test_training_falls_while_validation_turns_up_is_overfitting():
    epochs = np.arange(12)
    training, validation = (
        2.0 * np.exp(-epochs / 3),
        0.5 + 0.02 * (epochs - 5) ** 2,
    )  # lowest at epoch 5
    diagnosis = curve_diagnosis.diagnose(training, validation)
    assert (
        diagnosis.verdict == "overfitting"
        and "lowest (0.5) at step 5, ends at 1.22" in diagnosis.evidence[0]
    )
    still_falling = 0.5 + 1.5 * np.exp(-epochs / 4)
    assert curve_diagnosis.diagnose(training, still_falling).verdict == "healthy"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_curves_keep_their_verdict(seed):
    noise = 1 + 0.1 * np.random.default_rng(seed).standard_normal(
        len(STEPS)
    )  # 10% per-step batch noise
    assert curve_diagnosis.diagnose(DECAY * noise).verdict == "healthy"
    assert (
        curve_diagnosis.diagnose(math.log(4) * noise).verdict == "too low"
    )  # noise alone is no oscillation


def test_diagnose_history_reads_dicts_keras_histories_and_fine_tune_histories():
    training, validation = [1.0, 0.6, 0.4, 0.3], [0.9, 0.7, 0.8, 1.0]
    history = keras.callbacks.History()
    history.history = {"loss": training, "val_loss": validation}
    assert (
        curve_diagnosis.diagnose_history({"loss": training, "val_loss": validation}).verdict
        == "overfitting"
    )
    assert curve_diagnosis.diagnose_history(history).verdict == "overfitting"
    fine_tune = FineTuneHistory(
        loss=training,
        accuracy=[0.5] * 4,
        val_loss=[],
        val_accuracy=[],
        phase_boundary=2,
        head_learning_rate=1e-3,
        fine_tune_learning_rate=1e-5,
        note="phase 1: cached",
    )
    assert (
        curve_diagnosis.diagnose_history(fine_tune).verdict == "healthy"
    )  # no validation: no overfitting


# Real curves: a small network trained with SGD, one batch loss per step ----------------------------------------


@functools.cache
def real_curve(
    learning_rate: float, seed: int, steps: int = 40, batch_size: int = 32
) -> tuple[float, ...]:
    """Per-step losses of Dense(16, relu) -> Dense(4) logits on 4 linearly separable classes.

    A hidden layer matters: a linear softmax model's gradient is bounded by its inputs, so even SGD at 10.0
    never explodes there (measured: Dense(4) alone fell from 2.0 to 0.1-0.5 in 40 steps at rate 10).
    """
    data = np.random.default_rng(1234)
    true_weights, features = data.normal(size=(8, 4)), data.normal(size=(512, 8)).astype("float32")
    labels = np.argmax(features @ true_weights, axis=1)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)]
    )
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=learning_rate), loss=loss)
    batches = np.random.default_rng(seed)
    losses = []
    for _ in range(steps):
        batch = batches.choice(len(features), batch_size, replace=False)
        losses.append(
            float(model.train_on_batch(features[batch], labels[batch]))
        )  # this batch's own loss
    return tuple(losses)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("learning_rate", "verdict"), [(30.0, "diverging"), (1e-6, "too low"), (0.3, "healthy")]
)
def test_real_runs_get_the_verdict_of_their_learning_rate(learning_rate, verdict, seed):
    assert (
        curve_diagnosis.diagnose(real_curve(learning_rate, seed), num_classes=4).verdict == verdict
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_real_divergence_is_caught_while_the_loss_is_still_finite(seed):
    losses = np.array(real_curve(30.0, seed))
    assert not np.all(np.isfinite(losses))  # this run does reach nan or inf ...
    first_ten = losses[:10]
    assert (
        np.all(np.isfinite(first_ten)) and first_ten.max() < 1e30
    )  # ... long after its first ten steps
    assert curve_diagnosis.diagnose(first_ten).verdict == "diverging"


# The initial loss -------------------------------------------------------------------------------------------------


def fresh_head_logits(
    features: np.ndarray, num_classes: int, seed: int, activation=None
) -> np.ndarray:
    keras.utils.set_random_seed(seed)
    head = keras.Sequential(
        [keras.Input(features.shape[1:]), keras.layers.Dense(num_classes, activation=activation)]
    )
    return keras.ops.convert_to_numpy(head(features))


def mean_loss(labels, outputs, from_logits: bool) -> float:
    return float(
        keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)(labels, outputs)
    )


def pooled_like_features(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random stand-ins for MobileNetV2's pooled features: 1280 values >= 0, mean and std about 0.18 (measured)."""
    generator = np.random.default_rng(seed)
    return generator.exponential(0.18, size=(256, 1280)).astype("float32"), generator.integers(
        0, 10, 256
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("num_classes", [2, 4, 10])
def test_a_fresh_head_starts_near_ln_num_classes(num_classes, seed):
    features, labels = pooled_like_features(seed)
    labels = labels % num_classes
    initial_loss = mean_loss(
        labels, fresh_head_logits(features, num_classes, seed), from_logits=True
    )
    assert curve_diagnosis.check_initial_loss(initial_loss, num_classes) is None
    assert curve_diagnosis.expected_initial_loss(num_classes) == pytest.approx(
        math.log(num_classes)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("num_classes", [4, 10])
def test_the_seeds_bug_logits_read_as_probabilities_is_flagged(num_classes, seed):
    features, labels = pooled_like_features(seed)
    labels = labels % num_classes
    logits = fresh_head_logits(features, num_classes, seed)
    initial_loss = mean_loss(
        labels, logits, from_logits=False
    )  # what compile(loss="sparse_...") computes
    message = curve_diagnosis.check_initial_loss(initial_loss, num_classes)
    assert initial_loss > math.log(num_classes) + 1.0
    assert (
        message.startswith(f"the first loss {initial_loss:.3g} is")
        and "from_logits=False" in message
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_softmax_outputs_read_as_logits_start_near_ln_num_classes_too(seed):
    features, labels = pooled_like_features(seed)
    probabilities = fresh_head_logits(features, 10, seed, activation="softmax")
    assert (
        curve_diagnosis.check_initial_loss(mean_loss(labels, probabilities, from_logits=True), 10)
        is None
    )


def test_a_trained_start_is_flagged_below_ln_num_classes():
    message = curve_diagnosis.check_initial_loss(0.2, num_classes=4)
    assert (
        message.startswith("the first loss 0.2 is 1.19 below ln(4) = 1.39")
        and "trained already" in message
    )


@pytest.fixture(scope="module")
def bundled_features() -> np.ndarray:
    images, _ = shapes_data.make_images("target", "train", 64, image_size=96, seed=0)
    _, base_model = pretrained.build_mobilenet_v2(len(shapes_data.TARGET_CLASSES))
    return head_training.pooled_features(base_model, images)


@pytest.mark.slow
@pytest.mark.parametrize("num_classes", [2, 4, 10])
def test_fresh_heads_on_the_bundled_base_start_within_tolerance(bundled_features, num_classes):
    labels = np.random.default_rng(num_classes).integers(
        0, num_classes, len(bundled_features)
    )  # balanced task
    for seed in [0, 1, 2]:
        logits = fresh_head_logits(bundled_features, num_classes, seed)
        assert (
            curve_diagnosis.check_initial_loss(
                mean_loss(labels, logits, from_logits=True), num_classes
            )
            is None
        )
        buggy = mean_loss(labels, logits, from_logits=False)
        if num_classes >= 4:  # with 2 classes the bug can start at ln(2) by chance
            assert "from_logits=False" in curve_diagnosis.check_initial_loss(buggy, num_classes)


# Validation and plotting -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        (
            {"loss": [1.0]},
            r"loss must hold at least 2 values\. Received: loss=\[1\.0\] \(length 1\)",
        ),
        (
            {"loss": "1.0, 0.5"},
            "loss must be a 1-D sequence of numbers >= 0. Received: loss='1.0, 0.5'",
        ),
        ({"loss": [[1.0, 0.5]]}, "loss must be a 1-D sequence"),
        ({"loss": [1.0, -0.5]}, "loss must be a 1-D sequence of numbers >= 0"),
        (
            {"loss": [1.0, 0.5], "validation_loss": [1.0]},
            r"validation_loss must hold one value per loss \(2\)",
        ),
        (
            {"loss": [1.0, 0.5], "num_classes": 1},
            "num_classes must be an int >= 2. Received: num_classes=1",
        ),
        ({"loss": [1.0, 0.5], "num_classes": True}, "Received: num_classes=True"),
    ],
)
def test_diagnose_rejects_bad_input_naming_the_argument(arguments, match):
    with pytest.raises(ValueError, match=match):
        curve_diagnosis.diagnose(**arguments)


def test_other_functions_reject_bad_input_naming_the_argument():
    with pytest.raises(ValueError, match="history must be"):
        curve_diagnosis.diagnose_history({"val_loss": [1.0, 0.5]})
    with pytest.raises(
        ValueError, match="initial_loss must be a finite number. Received: initial_loss=nan"
    ):
        curve_diagnosis.check_initial_loss(float("nan"), 4)
    with pytest.raises(
        ValueError, match="tolerance must be a positive number. Received: tolerance=0"
    ):
        curve_diagnosis.check_initial_loss(1.4, 4, tolerance=0)
    with pytest.raises(
        ValueError, match="num_classes must be an int >= 2. Received: num_classes=4.0"
    ):
        curve_diagnosis.expected_initial_loss(4.0)
    with pytest.raises(ValueError, match="losses_by_label must be a non-empty mapping"):
        curve_diagnosis.plot_curves({})


def test_plot_curves_draws_one_line_per_label_with_its_verdict():
    _, ax = plt.subplots()
    climb = list(1.4 * 10.0 ** (STEPS / 10)) + [float("nan")]
    returned = curve_diagnosis.plot_curves({"0.3": DECAY, "30": climb}, ax=ax)
    assert returned is ax and len(ax.lines) == 2 and ax.get_yscale() == "log"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == [
        "0.3: healthy",
        "30: diverging",
    ]
    assert ax.lines[1].get_xdata().tolist() == STEPS.tolist()  # the nan at step 40 is left out
    plt.close(ax.figure)
