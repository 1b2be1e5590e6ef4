"""The divergence guard (helpers/finetune/guards.py): closed-form losses, then real `fit` runs."""

import math
import re

import keras
import numpy as np
import pytest

from helpers.finetune import guards

LN_4 = math.log(4)


def test_a_falling_loss_has_not_diverged():
    assert guards.divergence_reason([1.4, 1.2, 0.9, 0.5], num_classes=4) is None


@pytest.mark.parametrize("step", [0, 1, 4])
@pytest.mark.parametrize("bad_loss", [float("nan"), float("inf")])
def test_a_nan_or_inf_loss_at_step_k_is_named_with_its_step(step, bad_loss):
    losses = [1.0] * step + [bad_loss] + [1.0, 1.0]
    reason = guards.divergence_reason(losses, num_classes=4)
    assert reason == f"the loss turned {bad_loss} at step {step}"


def test_a_climb_past_factor_times_the_first_loss_diverges_at_the_first_step_above():
    # Reference max(2.0, ln 4) = 2.0: with factor 4, 8.0 is exactly 4x (not above), 8.5 is above.
    losses = [2.0, 3.0, 8.0, 8.5, 9.0]
    assert guards.divergence_reason(losses[:3], num_classes=4, factor=4) is None
    assert guards.divergence_reason(losses, num_classes=4, factor=4) == (
        "the loss reached 8.5 at step 3, more than 4x its reference level 2"
    )


def test_a_phase_two_run_that_falls_back_to_chance_does_not_trip():
    # Phase 2 starts from a trained head (loss 0.2) and a too-large rate destroys it: the loss
    # climbs to chance, ln 4 = 1.39, 7x its start, but stays below 4x chance.
    losses = [0.2, 0.5, 1.0, LN_4, 1.5, 1.45]
    assert guards.divergence_reason(losses, num_classes=4, factor=4) is None
    # Without the number of classes the reference is the first loss alone, and the same run trips.
    assert guards.divergence_reason(losses, factor=4) == (
        "the loss reached 1 at step 2, more than 4x its reference level 0.2"
    )


# Keras's running mean of the loss after each batch, recorded on the bundled base's features
# (120 target images, batch 32): lesson 04's phase 2 at 1e-2 (5 epochs of 4 steps), lesson 03's
# head at 1e-1 (first 12 steps, seed 0), and a head at 1e3 (first 4 steps, seed 0).
PHASE_TWO_AT_1E_2 = [0.505, 34.883, 32.793, 35.428, 10.762, 12.985, 11.14, 9.319, 1.982, 2.39]
PHASE_TWO_AT_1E_2 += [2.143, 2.017, 1.484, 1.486, 1.499, 1.528, 1.452, 1.398, 1.442, 1.446]
HEAD_AT_1E_1 = [1.553, 8.538, 7.491, 7.037, 12.278, 9.758, 8.166, 7.436, 4.315, 2.632, 2.514]
HEAD_AT_1E3 = [1.553, 77982.07, 69577.398, 65768.156]


@pytest.mark.parametrize("losses", [PHASE_TWO_AT_1E_2, HEAD_AT_1E_1])
def test_the_lessons_spikes_that_recover_do_not_trip_the_default_factor(losses):
    assert guards.divergence_reason(losses, num_classes=4) is None
    # The range test's 4x would stop these runs that the lessons show on purpose.
    assert guards.divergence_reason(losses, num_classes=4, factor=4) is not None


def test_a_head_at_1e3_trips_the_default_factor_at_its_second_step():
    assert guards.divergence_reason(HEAD_AT_1E3, num_classes=4) == (
        "the loss reached 7.8e+04 at step 1, more than 100x its reference level 1.55"
    )


@pytest.mark.parametrize(
    ("first_loss", "num_classes", "expected"),
    [(0.2, 4, LN_4), (3.0, 4, 3.0), (0.2, 2, math.log(2)), (0.2, None, 0.2)],
)
def test_the_reference_is_the_larger_of_the_first_loss_and_ln_num_classes(
    first_loss, num_classes, expected
):
    assert guards.reference_level(first_loss, num_classes) == pytest.approx(expected)
    threshold = guards.DIVERGENCE_FACTOR * expected
    just_below = [first_loss, threshold * 0.999]
    just_above = [first_loss, threshold * 1.001]
    assert guards.divergence_reason(just_below, num_classes) is None
    assert guards.divergence_reason(just_above, num_classes).startswith("the loss reached")


def test_factor_sets_the_threshold():
    assert guards.divergence_reason([1.0, 2.5], factor=2) == (
        "the loss reached 2.5 at step 1, more than 2x its reference level 1"
    )
    assert guards.divergence_reason([1.0, 2.5], factor=3) is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"losses": []},
            "losses must be a list or tuple of at least 1 item. Received: losses=[]",
        ),
        (
            {"losses": 1.5},
            "losses must be a list or tuple of at least 1 item. Received: losses=1.5",
        ),
        (
            {"losses": [1.0, "high"]},
            "losses must be a numeric array. Received: losses=[1.0, 'high']",
        ),
        ({"num_classes": 1}, "num_classes must be None or an int >= 2. Received: num_classes=1"),
        (
            {"num_classes": 2.5},
            "num_classes must be None or an int >= 2. Received: num_classes=2.5",
        ),
        ({"factor": 1}, "factor must be a finite number > 1. Received: factor=1"),
        ({"factor": float("inf")}, "factor must be a finite number > 1. Received: factor=inf"),
    ],
)
def test_divergence_reason_rejects_bad_arguments(arguments, message):
    arguments = {"losses": [1.0, 2.0], **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        guards.divergence_reason(**arguments)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_classes": 0}, "num_classes must be None or an int >= 2. Received: num_classes=0"),
        ({"factor": 0.5}, "factor must be a finite number > 1. Received: factor=0.5"),
        ({"factor": "4x"}, "factor must be a finite number > 1. Received: factor='4x'"),
    ],
)
def test_the_guard_rejects_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        guards.DivergenceGuard(**arguments)


def test_check_not_diverged_raises_a_value_error_naming_the_rate_only_after_a_divergence():
    guard = guards.DivergenceGuard(num_classes=4)
    assert guards.check_not_diverged(guard, "head_learning_rate", 1e-3) is None
    guard.reason = "the loss reached 750 at step 1, more than 4x its reference level 1.39"
    with pytest.raises(ValueError, match=re.escape("Received: head_learning_rate=1000.0")) as error:
        guards.check_not_diverged(guard, "head_learning_rate", 1e3)
    assert type(error.value) is guards.TrainingDivergedError
    assert str(error.value).startswith(f"Training stopped: {guard.reason}. ")
    message = "guard must be a DivergenceGuard. Received: guard='guard'"
    with pytest.raises(ValueError, match=re.escape(message)):
        guards.check_not_diverged("guard", "learning_rate", 1e-3)


def fit_with_guard(learning_rate, guard, epochs=3):
    """Fits a one-layer classifier on 4 classes with SGD, 8 steps per epoch."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    inputs, labels = rng.normal(size=(32, 5)), rng.integers(0, 4, 32)
    model = keras.Sequential([keras.Input((5,)), keras.layers.Dense(4)])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    callbacks = [guard]
    return model.fit(inputs, labels, batch_size=4, epochs=epochs, verbose=0, callbacks=callbacks)


def test_the_guard_stops_a_diverging_fit_within_a_few_steps():
    guard = guards.DivergenceGuard(num_classes=4)
    history = fit_with_guard(1e4, guard)
    assert guard.reason is not None and len(guard.losses) < 8
    assert len(history.history["loss"]) == 1
    assert guards.divergence_reason(guard.losses, num_classes=4) == guard.reason


def test_the_guard_lets_a_normal_fit_run_and_starts_afresh_for_each_fit():
    guard = guards.DivergenceGuard(num_classes=4)
    fit_with_guard(1e4, guard)
    assert guard.reason is not None
    history = fit_with_guard(1e-2, guard)
    assert guard.reason is None and len(guard.losses) == 3 * 8
    assert len(history.history["loss"]) == 3


def test_numpy_scalars_work_like_python_numbers():
    losses = [1.0, np.float32(2.0), np.float64(6.0)]
    expected = guards.divergence_reason([1.0, 2.0, 6.0], num_classes=4, factor=4.0)
    received = guards.divergence_reason(losses, num_classes=np.int64(4), factor=np.float32(4.0))
    assert expected is not None
    assert received == expected
    guard = guards.DivergenceGuard(num_classes=np.int64(4), factor=np.float32(4.0))
    assert (guard.num_classes, guard.factor) == (4, 4.0)
    assert type(guard.num_classes) is int and type(guard.factor) is float
