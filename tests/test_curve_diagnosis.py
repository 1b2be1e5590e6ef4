"""Curve diagnosis (lesson 05): closed-form curves per verdict, real Keras runs, initial loss."""

import functools
import math
import re

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


# Closed-form curves ------------------------------------------------------------------------------


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
    # 2, 1, 2, 1, ...: every step moves by 1 / 1.5 = 67% of the level
    zig_zag = 1.5 + 0.5 * (-1.0) ** STEPS
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
    # never above its start
    rebound = np.concatenate([np.geomspace(1.4, 0.05, 20), np.geomspace(0.05, 1.2, 20)])
    diagnosis = curve_diagnosis.diagnose(rebound)
    assert diagnosis.verdict == "diverging" and diagnosis.evidence[0].startswith("the loss fell to")


def test_training_falls_while_validation_turns_up_is_overfitting():
    epochs = np.arange(12)
    training = 2.0 * np.exp(-epochs / 3)
    validation = 0.5 + 0.02 * (epochs - 5) ** 2  # lowest at epoch 5
    diagnosis = curve_diagnosis.diagnose(training, validation)
    assert (
        diagnosis.verdict == "overfitting"
        and "lowest (0.5) at step 5, ends at 1.22" in diagnosis.evidence[0]
    )
    still_falling = 0.5 + 1.5 * np.exp(-epochs / 4)
    assert curve_diagnosis.diagnose(training, still_falling).verdict == "healthy"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_curves_keep_their_verdict(seed):
    # 10% per-step batch noise
    noise = 1 + 0.1 * np.random.default_rng(seed).standard_normal(len(STEPS))
    assert curve_diagnosis.diagnose(DECAY * noise).verdict == "healthy"
    # noise alone is no oscillation
    assert curve_diagnosis.diagnose(math.log(4) * noise).verdict == "too low"


def test_diagnose_history_reads_dicts_keras_histories_and_fine_tune_histories():
    training = [1.0, 0.6, 0.4, 0.3]
    validation = [0.9, 0.7, 0.8, 1.0]
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
    # no validation: no overfitting
    assert curve_diagnosis.diagnose_history(fine_tune).verdict == "healthy"


# Real curves: a small network trained with SGD, one batch loss per step --------------------------


@functools.cache
def real_curve(
    learning_rate: float, seed: int, steps: int = 40, batch_size: int = 32
) -> tuple[float, ...]:
    """Per-step losses of Dense(16, relu) -> Dense(4) logits on 4 linearly separable classes.

    A hidden layer matters: a linear softmax model's gradient is bounded by its inputs, so even SGD
    at 10.0 never explodes there (measured: Dense(4) alone fell from 2.0 to 0.1-0.5 in 40 steps at
    rate 10).
    """
    data = np.random.default_rng(1234)
    true_weights = data.normal(size=(8, 4))
    features = data.normal(size=(512, 8)).astype("float32")
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
        # this batch's own loss
        losses.append(float(model.train_on_batch(features[batch], labels[batch])))
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
    # ... long after its first ten steps
    assert np.all(np.isfinite(first_ten)) and first_ten.max() < 1e30
    assert curve_diagnosis.diagnose(first_ten).verdict == "diverging"


# The initial loss --------------------------------------------------------------------------------


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
    """Random stand-ins for MobileNetV2's pooled features: 1280 values >= 0, mean and std ~0.18.

    The mean and the standard deviation were measured on the bundled base.
    """
    generator = np.random.default_rng(seed)
    features = generator.exponential(0.18, size=(256, 1280)).astype("float32")
    labels = generator.integers(0, 10, 256)
    return features, labels


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("num_classes", [2, 4, 10])
def test_a_fresh_head_starts_near_ln_num_classes(num_classes, seed):
    features, labels = pooled_like_features(seed)
    labels = labels % num_classes
    initial_loss = mean_loss(
        labels, fresh_head_logits(features, num_classes, seed), from_logits=True
    )
    assert curve_diagnosis.initial_loss_warning(initial_loss, num_classes) is None
    assert curve_diagnosis.expected_initial_loss(num_classes) == pytest.approx(
        math.log(num_classes)
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("num_classes", [4, 10])
def test_the_seeds_bug_logits_read_as_probabilities_is_flagged(num_classes, seed):
    features, labels = pooled_like_features(seed)
    labels = labels % num_classes
    logits = fresh_head_logits(features, num_classes, seed)
    # what compile(loss="sparse_...") computes
    initial_loss = mean_loss(labels, logits, from_logits=False)
    message = curve_diagnosis.initial_loss_warning(initial_loss, num_classes)
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
        curve_diagnosis.initial_loss_warning(mean_loss(labels, probabilities, from_logits=True), 10)
        is None
    )


def test_a_trained_start_is_flagged_below_ln_num_classes():
    message = curve_diagnosis.initial_loss_warning(0.2, num_classes=4)
    assert (
        message.startswith("the first loss 0.2 is 1.19 below ln(4) = 1.39")
        and "trained already" in message
    )


@pytest.fixture(scope="module")
def bundled_features() -> np.ndarray:
    pixels, _ = shapes_data.make_images("target", "train", 64, image_size=96, seed=0)
    images = keras.applications.mobilenet_v2.preprocess_input(pixels.astype("float32"))
    _, base_model = pretrained.build_mobilenet_v2(len(shapes_data.TARGET_CLASSES))
    return head_training.pooled_features(base_model, images)


@pytest.mark.slow
@pytest.mark.parametrize("num_classes", [2, 4, 10])
def test_fresh_heads_on_the_bundled_base_start_within_tolerance(bundled_features, num_classes):
    # balanced task
    labels = np.random.default_rng(num_classes).integers(0, num_classes, len(bundled_features))
    for seed in [0, 1, 2]:
        logits = fresh_head_logits(bundled_features, num_classes, seed)
        assert (
            curve_diagnosis.initial_loss_warning(
                mean_loss(labels, logits, from_logits=True), num_classes
            )
            is None
        )
        buggy = mean_loss(labels, logits, from_logits=False)
        if num_classes >= 4:  # with 2 classes the bug can start at ln(2) by chance
            assert "from_logits=False" in curve_diagnosis.initial_loss_warning(buggy, num_classes)


# Far above chance, and NaN from the start ------------------------------------------------------


def test_a_flat_curve_far_above_chance_is_diverging_never_too_low():
    """fine_tune at rate 1e3 trained on at a loss of ~750 (4 classes): ln(4) is 1.39."""
    stuck_far_above = [751.0, 748.5, 752.2, 749.9, 750.4]
    assert curve_diagnosis.diagnose(stuck_far_above).verdict == "too low"  # chance unknown
    diagnosis = curve_diagnosis.diagnose(stuck_far_above, num_classes=4)
    assert diagnosis.verdict == "diverging"
    assert diagnosis.evidence[0] == (
        "the loss sits around 750 (its median), x541 the chance level ln(4) = 1.39"
    )
    assert "worse than guessing" in diagnosis.evidence[1]


@pytest.mark.parametrize(
    ("level", "verdict"),
    [
        (2.5 * math.log(4), "too high"),
        (9.0 * math.log(4), "too high"),
        (11 * math.log(4), "diverging"),
    ],
)
def test_a_flat_curve_above_twice_chance_is_too_high_and_above_ten_times_diverging(level, verdict):
    flat = level * (1 - 0.001 * STEPS)  # 3.5% progress: "too low" without num_classes
    assert curve_diagnosis.diagnose(flat).verdict == "too low"
    assert curve_diagnosis.diagnose(flat, num_classes=4).verdict == verdict


def test_a_stalled_run_just_below_twice_chance_stays_too_low():
    """Measured: untrained networks that barely move sit at up to 1.54x ln(4)."""
    flat = 1.9 * math.log(4) * (1 - 0.001 * STEPS)
    assert curve_diagnosis.diagnose(flat, num_classes=4).verdict == "too low"


@pytest.mark.parametrize("seed", [0, 1])
def test_a_real_head_history_at_rate_1e3_reads_diverging_with_the_chance_level(seed):
    """Adam at 1e3 on pooled-like features: per-epoch losses in the tens of thousands."""
    features, labels = pooled_like_features(seed)
    keras.utils.set_random_seed(seed)
    head = keras.Sequential([keras.Input((1280,)), keras.layers.Dense(4)])
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    head.compile(optimizer=keras.optimizers.Adam(1e3), loss=loss)
    history = head.fit(features, labels % 4, epochs=4, batch_size=32, verbose=0)
    diagnosis = curve_diagnosis.diagnose_history(history, num_classes=4)
    assert diagnosis.verdict == "diverging" and "ln(4) = 1.39" in diagnosis.evidence[0]


@pytest.mark.parametrize("first", [float("nan"), float("inf")])
def test_a_loss_that_is_not_finite_from_the_start_blames_the_inputs(first):
    word = "NaN" if math.isnan(first) else "inf"
    for curve in ([first] * 10, [first, *DECAY[1:]]):
        diagnosis = curve_diagnosis.diagnose(curve, num_classes=4)
        assert diagnosis.verdict == "diverging"
        assert diagnosis.evidence == (f"the first loss is already {word}",)
        assert diagnosis.advice == curve_diagnosis.BROKEN_INPUT_ADVICE
        assert "check the inputs for NaN or inf" in str(diagnosis)
        assert "lower" not in diagnosis.advice and "raise" not in diagnosis.advice


def test_nan_features_give_a_nan_first_loss_in_keras():
    """Why the first loss blames the data: NaN inputs make the loss NaN before any update."""
    features, labels = pooled_like_features(0)
    features[0, 0] = np.nan
    keras.utils.set_random_seed(0)
    head = keras.Sequential([keras.Input((1280,)), keras.layers.Dense(4)])
    head.compile(
        optimizer=keras.optimizers.SGD(1e-6),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = head.fit(features, labels % 4, epochs=2, batch_size=256, verbose=0)
    assert curve_diagnosis.diagnose_history(history).evidence == ("the first loss is already NaN",)


# Validation and plotting -------------------------------------------------------------------------


def received(name, value) -> str:
    return f"Received: {name}={value!r}"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"loss": [1.0]}, "len(loss) must be an int >= 2. Received: len(loss)=1"),
        ({"loss": "1.0, 0.5"}, "loss must be a numeric array. Received: loss='1.0, 0.5'"),
        ({"loss": None}, "loss must be a numeric array. Received: loss=None"),
        (
            {"loss": [[1.0, 0.5]]},
            "loss must have shape (steps,). Received: loss of shape (1, 2)",
        ),
        (
            {"loss": [1.0, -0.5]},
            "min(loss) must be a finite number >= 0. Received: min(loss)=-0.5",
        ),
        (
            {"loss": [1.0, -np.inf]},
            "min(loss) must be a finite number >= 0. Received: min(loss)=-inf",
        ),
        (
            {"loss": [1.0, 0.5], "validation_loss": [1.0]},
            "validation_loss must have shape (2,). Received: validation_loss of shape (1,)",
        ),
        (
            {"loss": [1.0, 0.5], "num_classes": 1},
            "num_classes must be None or an int >= 2. Received: num_classes=1",
        ),
        (
            {"loss": [1.0, 0.5], "num_classes": True},
            "num_classes must be None or an int >= 2. Received: num_classes=True",
        ),
    ],
)
def test_diagnose_rejects_bad_input_naming_the_argument(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        curve_diagnosis.diagnose(**arguments)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: curve_diagnosis.diagnose_history({"val_loss": [1.0, 0.5]}),
            "history['loss'] must be a numeric array. Received: history['loss']=None",
        ),
        (
            lambda: curve_diagnosis.diagnose_history({"loss": [1.0, 0.5], "val_loss": [1.0]}),
            "history['val_loss'] must have shape (2,). Received: history['val_loss'] of shape (1,)",
        ),
        (
            lambda: curve_diagnosis.initial_loss_warning(float("nan"), 4),
            "initial_loss must be a finite number. Received: initial_loss=nan",
        ),
        (
            lambda: curve_diagnosis.initial_loss_warning("1.4", 4),
            "initial_loss must be a finite number. Received: initial_loss='1.4'",
        ),
        (
            lambda: curve_diagnosis.initial_loss_warning(1.4, 4, tolerance=0),
            "tolerance must be a positive, finite number. Received: tolerance=0",
        ),
        (
            lambda: curve_diagnosis.expected_initial_loss(4.0),
            "num_classes must be an int >= 2. Received: num_classes=4.0",
        ),
        (
            lambda: curve_diagnosis.plot_curves({}),
            "len(losses_by_label) must be an int >= 1. Received: len(losses_by_label)=0",
        ),
        (
            lambda: curve_diagnosis.plot_curves([1.0, 0.5]),
            "losses_by_label must be a mapping from label to losses. "
            "Received: losses_by_label=[1.0, 0.5]",
        ),
        (
            lambda: curve_diagnosis.plot_curves({"a": [1.0, 0.5]}, show_verdicts="no"),
            "show_verdicts must be True or False. Received: show_verdicts='no'",
        ),
        (
            lambda: curve_diagnosis.plot_curves({"a": [1.0]}),
            "len(losses_by_label['a']) must be an int >= 2. Received: len(losses_by_label['a'])=1",
        ),
        (
            lambda: curve_diagnosis.plot_curves({"a": ["x"]}, show_verdicts=False),
            "losses_by_label['a'] must be a numeric array. Received: losses_by_label['a']=['x']",
        ),
    ],
)
def test_other_functions_reject_bad_input_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()
    plt.close("all")


@pytest.mark.parametrize(
    ("integer", "number"), [(np.int64, np.float32), (np.int32, np.float64), (int, float)]
)
def test_numpy_scalars_and_arrays_work_like_python_numbers(integer, number):
    assert curve_diagnosis.expected_initial_loss(integer(4)) == math.log(4)
    assert curve_diagnosis.initial_loss_warning(number(1.42), integer(4), number(0.3)) is None
    warning = curve_diagnosis.initial_loss_warning(number(0.2), integer(4))
    assert warning.startswith("the first loss 0.2 is 1.19 below ln(4) = 1.39")
    flat = (math.log(4) * (1 - 0.001 * STEPS)).astype(number)
    assert str(curve_diagnosis.diagnose(flat, num_classes=integer(4))) == str(
        curve_diagnosis.diagnose(flat.tolist(), num_classes=4)
    )


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


def test_plot_curves_without_verdicts_shows_labels_alone_and_accepts_any_numeric_curve():
    _, ax = plt.subplots()
    # A single value, a zero, a negative value and an inf: no diagnosis would accept these.
    curves = {"one step": [0.5], "learning_rate=2.1": [4.0, 0.0, -1.0, float("inf"), 9.0]}
    returned = curve_diagnosis.plot_curves(curves, ax=ax, show_verdicts=False)
    assert returned is ax and ax.get_yscale() == "log"
    assert [text.get_text() for text in ax.get_legend().get_texts()] == list(curves)
    assert ax.lines[0].get_xdata().tolist() == [0]
    # Non-positive and non-finite points are left out.
    assert ax.lines[1].get_xdata().tolist() == [0, 4]
    assert ax.lines[1].get_ydata().tolist() == [4.0, 9.0]
    plt.close(ax.figure)
