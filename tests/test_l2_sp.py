"""L2-SP (helpers/finetune/l2_sp.py): the penalty, its gradient and where Keras counts it.

Every value is compared with its closed form: the penalty `strength * sum((w - w0) ** 2)`, its
gradient `2 * strength * (w - w0)`, and one plain SGD step `w - learning_rate * gradient`.
"""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import l2_sp, models

STRENGTH_WANTED = "strength must be a finite number >= 0."


def mobilenet_pair():
    keras.utils.set_random_seed(0)
    return models.build_mobilenet_v2(2, image_size=32)


def small_base(bias_regularizer=None, kernel_regularizer=None):
    """Conv2D (with a bias), BatchNormalization, DepthwiseConv2D, Dense: one kernel each."""
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((5, 5, 2)),
            keras.layers.Conv2D(
                3,
                3,
                bias_regularizer=bias_regularizer,
                kernel_regularizer=kernel_regularizer,
                name="conv",
            ),
            keras.layers.BatchNormalization(name="batch_norm"),
            keras.layers.DepthwiseConv2D(3, name="depthwise"),
            keras.layers.Flatten(),
            keras.layers.Dense(2, name="dense"),
        ],
        name="small_base",
    )


def move_kernels(base_model, seed=0, scale=0.1):
    """Adds random offsets to every kernel; returns {path: offset}."""
    rng = np.random.default_rng(seed)
    offsets = {}
    for variable in base_model.weights:
        if isinstance(variable.regularizer, l2_sp.L2SP):
            offset = rng.normal(scale=scale, size=variable.shape).astype("float32")
            variable.assign(variable.numpy() + offset)
            offsets[variable.path] = offset
    return offsets


def test_the_penalty_is_strength_times_the_squared_distance():
    regularizer = l2_sp.L2SP(0.1, reference=[1.0, 2.0])
    # (1.5 - 1) ** 2 + (1 - 2) ** 2 = 1.25
    value = regularizer(keras.ops.convert_to_tensor(np.array([1.5, 1.0], "float32")))
    assert float(value) == pytest.approx(0.1 * 1.25, rel=1e-7)
    # At the reference it is exactly zero.
    assert float(regularizer(keras.ops.convert_to_tensor([1.0, 2.0]))) == 0.0


def test_the_gradient_is_twice_strength_times_the_distance():
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(3, 4)).astype("float32")
    weights = reference + rng.normal(scale=0.5, size=(3, 4)).astype("float32")
    strength = 0.3
    variable = tf.Variable(weights)
    with tf.GradientTape() as tape:
        value = l2_sp.L2SP(strength, reference)(variable)
    gradient = tape.gradient(value, variable).numpy()
    expected = 2 * strength * (weights.astype("float64") - reference)
    np.testing.assert_allclose(gradient, expected, rtol=1e-6)
    assert float(value) == pytest.approx(strength * np.sum((weights - reference) ** 2), rel=1e-6)


def test_the_reference_is_a_float32_copy():
    reference = np.array([[1.0, 2.0]])  # float64, and changed afterwards
    regularizer = l2_sp.L2SP(np.float32(0.5), reference)
    reference[0, 0] = 100.0
    assert regularizer.reference.dtype == np.float32
    np.testing.assert_array_equal(regularizer.reference, [[1.0, 2.0]])
    assert type(regularizer.strength) is float and regularizer.strength == 0.5


def test_attach_gives_each_kernel_and_nothing_else_a_penalty_at_its_current_value():
    _, base_model = mobilenet_pair()
    kernel_layers = [
        layer
        for layer in base_model.layers
        if isinstance(layer, keras.layers.Conv2D | keras.layers.DepthwiseConv2D)
    ]
    assert len(kernel_layers) == 52  # 35 Conv2D, 17 DepthwiseConv2D
    assert l2_sp.attach(base_model, strength=1e-3) == 52
    kernel_ids = {id(layer.kernel) for layer in kernel_layers}
    for variable in base_model.weights:
        if id(variable) in kernel_ids:
            assert isinstance(variable.regularizer, l2_sp.L2SP), variable.path
            assert variable.regularizer.strength == 1e-3
            np.testing.assert_array_equal(variable.regularizer.reference, variable.numpy())
        else:  # BatchNormalization's gamma, beta and statistics
            assert variable.regularizer is None, variable.path
    assert l2_sp.penalty(base_model) == 0.0


def test_attach_skips_biases_and_batch_norm_and_counts_dense_and_depthwise_kernels():
    base_model = small_base()
    assert l2_sp.attach(base_model, 0.5) == 3
    attached = [
        variable.path
        for variable in base_model.weights
        if isinstance(variable.regularizer, l2_sp.L2SP)
    ]
    assert attached == [f"small_base/{name}/kernel" for name in ("conv", "depthwise", "dense")]


def test_a_frozen_base_adds_nothing_to_the_loss_an_unfrozen_one_adds_the_penalty():
    model, base_model = mobilenet_pair()
    l2_sp.attach(base_model, strength=1e-2)
    offsets = move_kernels(base_model, scale=0.05)
    expected = sum(1e-2 * np.sum(offset.astype("float64") ** 2) for offset in offsets.values())
    assert l2_sp.penalty(base_model) == pytest.approx(expected, rel=1e-5)
    models.freeze(base_model)
    assert model.losses == []
    # penalty() counts frozen kernels too: what unfreezing switches on.
    assert l2_sp.penalty(base_model) == pytest.approx(expected, rel=1e-5)
    models.unfreeze(base_model)
    losses = model.losses
    assert len(losses) == 52
    assert float(keras.ops.sum(losses)) == pytest.approx(l2_sp.penalty(base_model), rel=1e-6)
    # Only the top layers unfrozen: only their kernels count.
    models.unfreeze(base_model, top_layers=3)
    assert len(model.losses) == 1  # Conv_1's kernel
    conv_kernel = base_model.get_layer("Conv_1").kernel
    expected_top = 1e-2 * np.sum(offsets[conv_kernel.path].astype("float64") ** 2)
    assert float(model.losses[0]) == pytest.approx(expected_top, rel=1e-5)


def test_one_sgd_step_on_the_penalty_moves_a_kernel_back_by_its_closed_form():
    base_model = small_base()
    strength, learning_rate = 0.25, 0.1
    l2_sp.attach(base_model, strength)
    kernel = base_model.get_layer("conv").kernel
    pretrained = kernel.numpy().copy()
    move_kernels(base_model, seed=2, scale=0.5)
    moved = kernel.numpy().copy()
    optimizer = keras.optimizers.SGD(learning_rate, momentum=0.0)
    variables = base_model.trainable_variables
    with tf.GradientTape() as tape:
        loss = keras.ops.sum(base_model.losses)  # no data loss: the penalty alone
    pairs = zip(tape.gradient(loss, variables), variables, strict=True)
    # Biases and BatchNormalization have no penalty: no gradient reaches them.
    penalised = [(gradient, variable) for gradient, variable in pairs if gradient is not None]
    assert [variable.path for _, variable in penalised] == [
        f"small_base/{name}/kernel" for name in ("conv", "depthwise", "dense")
    ]
    optimizer.apply_gradients(penalised)
    after = kernel.numpy()
    expected = moved - learning_rate * 2 * strength * (moved.astype("float64") - pretrained)
    # float32 arithmetic: within a few units in the last place of the weight.
    np.testing.assert_allclose(after, expected, rtol=0, atol=4 * np.spacing(np.abs(moved)).max())
    assert not np.allclose(after, moved)  # it did move
    # Measured: bit for bit the float32 arithmetic in TensorFlow's order (the square's gradient
    # `2 * distance`, times `strength`, times the learning rate).
    gradient = np.float32(strength) * (np.float32(2) * (moved - pretrained))
    np.testing.assert_array_equal(after, moved - gradient * np.float32(learning_rate))


def test_detach_removes_only_the_l2_sp_penalties():
    user_l2 = keras.regularizers.L2(1e-4)
    base_model = small_base(bias_regularizer=user_l2)
    bias = base_model.get_layer("conv").bias
    assert bias.regularizer is user_l2
    assert l2_sp.attach(base_model, 0.5) == 3
    assert bias.regularizer is user_l2
    assert l2_sp.detach(base_model) == 3
    assert bias.regularizer is user_l2
    others = [variable for variable in base_model.weights if variable is not bias]
    assert all(variable.regularizer is None for variable in others)
    assert l2_sp.detach(base_model) == 0
    assert l2_sp.penalty(base_model) == 0.0


def test_attach_refuses_a_kernel_with_a_regularizer_of_its_own_and_changes_nothing():
    user_l2 = keras.regularizers.L2(1e-4)
    base_model = small_base(kernel_regularizer=user_l2)
    message = (
        "base_model's kernels must have no regularizer of their own for L2-SP to attach (remove "
        "it first). Received: small_base/conv/kernel with <keras.src.regularizers.regularizers.L2"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        l2_sp.attach(base_model, 0.5)
    assert base_model.get_layer("conv").kernel.regularizer is user_l2
    assert base_model.get_layer("dense").kernel.regularizer is None


def test_attaching_again_takes_the_current_values_as_the_reference():
    base_model = small_base()
    l2_sp.attach(base_model, 0.5)
    move_kernels(base_model)
    assert l2_sp.penalty(base_model) > 0
    assert l2_sp.attach(base_model, 0.5) == 3
    assert l2_sp.penalty(base_model) == 0.0


def test_get_config_and_from_config_round_trip():
    regularizer = l2_sp.L2SP(0.1, reference=np.array([[1.0, 2.5]], "float32"))
    config = regularizer.get_config()
    assert config == {"strength": 0.1, "reference": [[1.0, 2.5]]}
    rebuilt = l2_sp.L2SP.from_config(config)
    np.testing.assert_array_equal(rebuilt.reference, regularizer.reference)
    assert rebuilt.strength == regularizer.strength
    # Registered: Keras's own serialisation finds the class by name.
    serialized = keras.saving.serialize_keras_object(regularizer)
    assert serialized["registered_name"] == "gentle_fine_tuning>L2SP"
    restored = keras.saving.deserialize_keras_object(serialized)
    weights = keras.ops.convert_to_tensor([[0.0, 0.5]])
    assert type(restored) is l2_sp.L2SP
    assert float(restored(weights)) == pytest.approx(0.1 * (1.0 + 4.0), rel=1e-7)


@pytest.mark.parametrize("strength", [-1, -1e-3, float("nan"), float("inf"), True, "0.1", None])
def test_a_bad_strength_is_named_with_its_value(strength):
    message = f"{STRENGTH_WANTED} Received: strength={strength!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        l2_sp.L2SP(strength, reference=[1.0])
    base_model = small_base()
    with pytest.raises(ValueError, match=re.escape(message)):
        l2_sp.attach(base_model, strength)
    assert all(variable.regularizer is None for variable in base_model.weights)


@pytest.mark.parametrize("function", [l2_sp.detach, l2_sp.penalty])
def test_a_base_model_that_is_not_a_model_is_named(function):
    message = "base_model must be a keras.Model. Received: base_model='mobilenet'"
    with pytest.raises(ValueError, match=re.escape(message)):
        function("mobilenet")
    with pytest.raises(ValueError, match=re.escape(message)):
        l2_sp.attach("mobilenet", 1e-3)


def test_the_whole_model_is_refused_as_a_base():
    model, _ = mobilenet_pair()
    with pytest.raises(ValueError, match=re.escape("base_model must be the base, not a model")):
        l2_sp.attach(model, 1e-3)


def test_a_bad_reference_or_weights_of_another_shape_are_named():
    message = "reference must be finite. Received: reference with 1 NaN or inf values"
    with pytest.raises(ValueError, match=re.escape(message)):
        l2_sp.L2SP(0.1, reference=[1.0, float("nan")])
    message = "weights must have the reference's shape (2,). Received: weights of shape (3,)"
    with pytest.raises(ValueError, match=re.escape(message)):
        l2_sp.L2SP(0.1, reference=[1.0, 2.0])(keras.ops.zeros((3,)))


@pytest.mark.parametrize("strength", [np.float32(0.5), np.float64(0.5), np.int64(2), 2])
def test_numpy_scalars_work_like_python_numbers(strength):
    base_model = small_base()
    assert l2_sp.attach(base_model, strength) == 3
    offsets = move_kernels(base_model, seed=3)
    expected = float(strength) * sum(
        np.sum(offset.astype("float64") ** 2) for offset in offsets.values()
    )
    assert l2_sp.penalty(base_model) == pytest.approx(expected, rel=1e-5)
    assert all(
        type(variable.regularizer.strength) is float
        for variable in base_model.weights
        if variable.regularizer is not None
    )
