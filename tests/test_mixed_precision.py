"""Mixed precision: vanishing float16 updates, the policy scope, and what Keras builds under it.

helpers/finetune/mixed_precision.py, `models.head_layers`' float32 logits and
helpers/lessons/precision_comparison.py. The numpy expectations come from `np.spacing` and the
round-to-nearest rule, never from hard-coded numbers.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import head_training, mixed_precision, models
from helpers.lessons import precision_comparison, target_task

IMAGE_SIZE = 32  # the smallest size MobileNetV2 accepts: keeps every test fast
PHASE_TWO_RATE = 1e-5  # a small phase-2 rate: Adam moves each weight by about this much a step
NUMPY_DTYPES = {"float16": np.float16, "bfloat16": tf.bfloat16.as_numpy_dtype}


@pytest.fixture(autouse=True)
def float32_afterwards():
    """Every test starts and ends under float32, even one that fails inside a mixed policy."""
    keras.mixed_precision.set_global_policy("float32")
    yield
    keras.mixed_precision.set_global_policy("float32")


def global_policy_name():
    return keras.mixed_precision.global_policy().name


# The numpy demonstration: why the master weights stay float32.


def test_a_phase_two_update_vanishes_from_float16_weights_and_survives_in_float32():
    rng = np.random.default_rng(0)
    weights = rng.uniform(0.1, 1.0, size=1000)
    updates = PHASE_TWO_RATE * rng.uniform(0.5, 1.5, size=1000)  # rate times a gradient of ~1
    # Closed form: an update vanishes when it is below half the gap to the next float.
    stored_weights = weights.astype(np.float16)
    stored_updates = updates.astype(np.float16)
    half_gaps = np.spacing(stored_weights).astype("float64") / 2
    expected = float(np.mean(stored_updates.astype("float64") < half_gaps))
    assert expected == 1.0  # every gap near 0.1-1 is at least 2**-14, far above 2 * 1.5e-5
    assert mixed_precision.vanished_updates(weights, updates) == expected
    # float32's gaps near 0.1-1 are at most 2**-24 * 2: every update survives.
    assert np.all(updates > np.spacing(weights.astype(np.float32)) / 2)
    assert mixed_precision.vanished_updates(weights, updates, dtype="float32") == 0.0


@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32"])
@pytest.mark.parametrize(("multiple", "vanished"), [(0.4, 1.0), (0.6, 0.0)])
def test_an_update_survives_exactly_when_it_exceeds_half_the_spacing(dtype, multiple, vanished):
    # No weight is a power of two, so its gap is the same on both sides.
    weights = np.array([0.3, 0.7, 3.0, -0.3, 12.5])
    updates = multiple * mixed_precision.weight_spacing(weights, dtype)
    for sign in (1, -1):
        assert mixed_precision.vanished_updates(weights, sign * updates, dtype) == vanished


@pytest.mark.parametrize(("dtype", "fraction_bits"), [("float16", 10), ("bfloat16", 7)])
def test_the_spacing_is_numpys_and_follows_the_fraction_bits(dtype, fraction_bits):
    weights = np.array([0.1, 0.3, 0.5, 1.0, 3.0, -0.7])
    spacing = mixed_precision.weight_spacing(weights, dtype)
    stored = weights.astype(NUMPY_DTYPES[dtype])
    assert np.array_equal(spacing, np.abs(np.spacing(stored)).astype("float64"))
    exponents = np.floor(np.log2(np.abs(stored.astype("float64"))))
    assert np.array_equal(spacing, 2.0 ** (exponents - fraction_bits))


def test_numpy_scalars_and_broadcasting_are_accepted():
    assert mixed_precision.vanished_updates(np.float32(0.5), np.float64(PHASE_TWO_RATE)) == 1.0
    weights = np.array([[0.5, 0.5], [0.002, 0.002]])
    # Near 0.002 the float16 gap is 2**-19 (about 1.9e-6): a 1e-5 update survives there.
    assert mixed_precision.vanished_updates(weights, PHASE_TWO_RATE) == 0.5
    assert mixed_precision.weight_spacing(np.float16(1.0)).shape == ()


def test_keras_keeps_float32_master_weights_so_small_updates_survive():
    with mixed_precision.policy("mixed_float16"):
        model = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(16), *models.head_layers(2, dropout=0)]
        )
    model.compile(
        optimizer=keras.optimizers.Adam(PHASE_TWO_RATE),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    kernel = model.layers[0].kernel
    before = kernel.numpy().copy()
    rng = np.random.default_rng(0)
    features = rng.normal(size=(16, 8)).astype("float32")
    model.train_on_batch(features, rng.integers(0, 2, size=16))
    after = kernel.numpy()
    assert kernel.dtype == "float32"
    assert np.all(after != before)  # Adam's first step moves every weight by about the rate
    changes = after.astype("float64") - before.astype("float64")
    lost_in_float16 = mixed_precision.vanished_updates(before, changes)
    half_gaps = mixed_precision.weight_spacing(before) / 2
    assert lost_in_float16 == pytest.approx(np.mean(np.abs(changes) < half_gaps), abs=0.02)
    assert lost_in_float16 > 0.5  # float16 weights would have kept most of them unchanged


# The policy scope.


def test_policy_sets_the_global_policy_and_restores_the_previous_one():
    with mixed_precision.policy("mixed_bfloat16") as outer:
        assert outer.name == global_policy_name() == "mixed_bfloat16"
        with mixed_precision.policy("mixed_float16"):
            assert global_policy_name() == "mixed_float16"
        assert global_policy_name() == "mixed_bfloat16"
    assert global_policy_name() == "float32"


def test_policy_restores_the_previous_one_when_the_block_raises():
    with pytest.raises(RuntimeError, match="inside"), mixed_precision.policy("mixed_float16"):
        raise RuntimeError("raised inside the block")
    assert global_policy_name() == "float32"


# What Keras builds under each policy.


def test_under_mixed_float16_the_course_model_stores_float32_and_computes_float16():
    with mixed_precision.policy("mixed_float16"):
        model, base_model = models.build_mobilenet_v2(4, image_size=IMAGE_SIZE)
    precision = mixed_precision.describe_precision(model)
    assert precision.policy == "mixed_float16"
    assert precision.variable_dtypes == ("float32",)
    assert precision.compute_dtype == base_model.compute_dtype == "float16"
    assert base_model.get_layer("Conv1").compute_dtype == "float16"
    assert precision.logits_compute_dtype == "float32"
    assert precision.output_dtype == "float32"
    assert (precision.loss_scaling, precision.loss_scale) == (False, None)  # not compiled yet
    # Compiled after the block: the model keeps its policy, and compile wraps the optimizer.
    adam = keras.optimizers.Adam(1e-4)
    model.compile(optimizer=adam, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert model.optimizer.inner_optimizer is adam
    precision = mixed_precision.describe_precision(model)
    assert (precision.loss_scaling, precision.loss_scale) == (True, 2.0**15)


def test_under_mixed_bfloat16_there_is_no_loss_scaling():
    with mixed_precision.policy("mixed_bfloat16"):
        model, _ = models.build_mobilenet_v2(4, image_size=IMAGE_SIZE)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    precision = mixed_precision.describe_precision(model)
    assert precision.compute_dtype == "bfloat16"
    assert (precision.variable_dtypes, precision.logits_compute_dtype) == (("float32",), "float32")
    assert not precision.loss_scaling and not isinstance(
        model.optimizer, keras.optimizers.LossScaleOptimizer
    )


def test_under_float32_the_logits_layer_is_unchanged():
    logits = models.head_layers(4)[-1]
    plain = keras.layers.Dense(4, name="logits")
    assert logits.get_config() == plain.get_config()
    with mixed_precision.policy("mixed_float16"):
        head = head_training.build_head(1280, 4)
    assert head.get_layer("logits").compute_dtype == "float32"
    assert head.get_layer("dropout").compute_dtype == "float16"


@pytest.mark.skipif(not mixed_precision.gpu_available(), reason="needs a GPU (none visible)")
def test_on_a_gpu_a_mixed_float16_step_computes_in_float16():
    with mixed_precision.policy("mixed_float16"):
        model, base_model = models.build_mobilenet_v2(4, image_size=IMAGE_SIZE)
    images = np.zeros((4, IMAGE_SIZE, IMAGE_SIZE, 3), "float32")
    assert keras.backend.standardize_dtype(base_model(images).dtype) == "float16"
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    loss = model.train_on_batch(images, np.array([0, 1, 2, 3]))
    assert math.isfinite(float(loss))


# The comparison.


def test_compare_policies_fine_tunes_each_policy_from_one_start():
    sizes = {"validation_count": 8, "test_count": 2, "source_count": 2, "image_size": IMAGE_SIZE}
    data = target_task.prepare_data(2, **sizes)
    outcomes = precision_comparison.compare_policies(
        data, ("float32", "mixed_float16"), head_epochs=1, fine_tune_epochs=2, batch_size=4
    )
    assert [outcome.policy for outcome in outcomes] == ["float32", "mixed_float16"]
    float32, mixed = outcomes
    assert (float32.precision.compute_dtype, mixed.precision.compute_dtype) == (
        "float32",
        "float16",
    )
    assert (float32.precision.loss_scaling, mixed.precision.loss_scaling) == (False, True)
    assert mixed.precision.logits_compute_dtype == "float32"
    for outcome in outcomes:
        assert outcome.stopped_reason is None
        assert 0 < outcome.warm_epoch_seconds < outcome.first_epoch_seconds  # the first traces
        correct = outcome.validation_accuracy * 8  # a whole number of the 8 validation images
        assert correct == pytest.approx(round(correct))
        assert math.isfinite(outcome.validation_loss)
    assert global_policy_name() == "float32"


# Bad inputs name the argument and the value received.

BAD_CALLS = [
    (
        lambda: mixed_precision.weight_spacing(0.5, dtype="float61"),
        "dtype must be one of ('float16', 'bfloat16', 'float32'). Received: dtype='float61'. "
        "Did you mean 'float16'?",
    ),
    (
        lambda: mixed_precision.vanished_updates([], 1e-5),
        "weights must hold at least one value. Received: weights of shape (0,)",
    ),
    (
        lambda: mixed_precision.vanished_updates([0.5, np.nan], 1e-5),
        "weights must be finite. Received: weights with 1 NaN or inf values",
    ),
    (
        lambda: mixed_precision.vanished_updates(0.5, "1e-5"),
        "updates must be a numeric array. Received: updates='1e-5'",
    ),
    (
        lambda: mixed_precision.vanished_updates([1e5, 0.5], 1e-5),
        "weights must fit in float16 (magnitude <= 65504). Received: weights holding 100000.0",
    ),
    (
        lambda: mixed_precision.vanished_updates(np.ones(3), np.ones(2)),
        "updates must broadcast to the shape of weights (3,). Received: updates of shape (2,)",
    ),
    (
        lambda: mixed_precision.policy("float16").__enter__(),
        "name must be one of ('float32', 'mixed_float16', 'mixed_bfloat16'). "
        "Received: name='float16'. Did you mean 'float32'?",
    ),
    (
        lambda: mixed_precision.describe_precision("mobilenet"),
        "model must be a keras.Model. Received: model='mobilenet'",
    ),
]


@pytest.mark.parametrize(("call", "message"), BAD_CALLS)
def test_bad_inputs_name_the_argument_and_the_value(call, message):
    with pytest.raises(ValueError) as raised:
        call()
    assert str(raised.value) == message
    assert global_policy_name() == "float32"


@pytest.fixture(scope="module")
def tiny_data():
    sizes = {"validation_count": 2, "test_count": 2, "source_count": 2, "image_size": IMAGE_SIZE}
    return target_task.prepare_data(1, **sizes)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"policies": "float32"},
            "policies must be a list or tuple of at least 1 item. Received: policies='float32'",
        ),
        (
            {"policies": ["float32", "float32"]},
            "policies must not repeat a policy. Received: policies=['float32', 'float32']",
        ),
        (
            {"fine_tune_epochs": np.int64(1)},
            "fine_tune_epochs must be an int >= 2. Received: fine_tune_epochs=np.int64(1)",
        ),
        (
            {"learning_rate": 0.0},
            "learning_rate must be a positive, finite number. Received: learning_rate=0.0",
        ),
        ({"head_epochs": -1}, "head_epochs must be an int >= 0. Received: head_epochs=-1"),
    ],
)
def test_compare_policies_checks_its_arguments_before_training(tiny_data, arguments, message):
    with pytest.raises(ValueError) as raised:
        precision_comparison.compare_policies(tiny_data, **arguments)
    assert str(raised.value) == message


def test_describe_precision_refuses_an_unbuilt_model():
    with pytest.raises(ValueError, match="model must be built, with layers. Received: model="):
        mixed_precision.describe_precision(keras.Sequential([keras.layers.Dense(2)]))
