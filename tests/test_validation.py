"""The one validation module: each rule, one wording, numpy scalars alike, bools never numbers."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import validation


def message(name, wanted, received):
    return re.escape(f"{name} must be {wanted}. Received: {name}={received!r}")


@pytest.mark.parametrize("value", [1, 32, np.int64(32), np.int32(1), np.uint8(7)])
def test_check_int_accepts_python_and_numpy_ints_and_returns_a_python_int(value):
    result = validation.check_int("batch_size", value, minimum=1)
    assert result == int(value) and type(result) is int


@pytest.mark.parametrize(
    "value", [0, -3, 1.0, 32.5, True, np.bool_(True), "32", None, np.float64(2)]
)
def test_check_int_rejects_everything_else_with_one_wording(value):
    with pytest.raises(ValueError, match=message("batch_size", "an int >= 1", value)):
        validation.check_int("batch_size", value, minimum=1)


def test_check_int_words_each_range():
    with pytest.raises(ValueError, match=message("top_layers", "an int from 1 to 154", 155)):
        validation.check_int("top_layers", 155, minimum=1, maximum=154)
    with pytest.raises(ValueError, match=message("offset", "an int <= 0", 2)):
        validation.check_int("offset", 2, maximum=0)
    with pytest.raises(ValueError, match=message("count", "an int", "a")):
        validation.check_int("count", "a")


def test_check_optional_int_keeps_none_and_says_none_is_allowed():
    assert validation.check_optional_int("num_steps", None, minimum=2) is None
    assert validation.check_optional_int("num_steps", np.int16(5), minimum=2) == 5
    with pytest.raises(ValueError, match=message("num_steps", "None or an int >= 2", -5)):
        validation.check_optional_int("num_steps", -5, minimum=2)


@pytest.mark.parametrize("value", [1e-3, 1, np.float32(1e-3), np.float64(0.5), np.int64(2)])
def test_check_positive_number_accepts_python_and_numpy_numbers(value):
    result = validation.check_positive_number("learning_rate", value)
    assert result == pytest.approx(float(value)) and type(result) is float


@pytest.mark.parametrize(
    "value", [0, -1e-3, float("nan"), float("inf"), np.float32("nan"), True, "1e-3", None, [1e-3]]
)
def test_check_positive_number_rejects_zero_negative_nan_inf_bools_and_non_numbers(value):
    with pytest.raises(
        ValueError, match=message("learning_rate", "a positive, finite number", value)
    ):
        validation.check_positive_number("learning_rate", value)


def test_check_number_words_open_and_closed_intervals():
    assert validation.check_number("dropout", 0, 0, 1, include_maximum=False) == 0.0
    with pytest.raises(ValueError, match=message("dropout", "a finite number in [0, 1)", 1)):
        validation.check_number("dropout", 1, 0, 1, include_maximum=False)
    with pytest.raises(ValueError, match=message("factor", "a finite number > 1", 1.0)):
        validation.check_number("factor", 1.0, minimum=1, include_minimum=False)
    with pytest.raises(ValueError, match=message("beta", "a finite number in (0, 1]", 0.0)):
        validation.check_number("beta", 0.0, 0, 1, include_minimum=False)
    with pytest.raises(ValueError, match=message("shift", "a finite number", float("inf"))):
        validation.check_number("shift", float("inf"))


def test_check_probability_and_check_bool():
    assert validation.check_probability("dropout", np.float32(0.25)) == 0.25
    assert validation.check_probability("momentum", 1, include_one=True) == 1.0
    with pytest.raises(ValueError, match=message("dropout", "a finite number in [0, 1)", -0.1)):
        validation.check_probability("dropout", -0.1)
    assert validation.check_bool("shuffle", np.bool_(False)) is False
    with pytest.raises(ValueError, match=message("shuffle", "True or False", 1)):
        validation.check_bool("shuffle", 1)


def test_check_choice_suggests_the_closest_name_and_only_when_one_is_close():
    assert validation.check_choice("optimizer", "sgd", ("adam", "sgd")) == "sgd"
    with pytest.raises(ValueError, match=r"Received: optimizer='Adam'\. Did you mean 'adam'\?"):
        validation.check_choice("optimizer", "Adam", ("adam", "sgd"))
    with pytest.raises(ValueError) as error:
        validation.check_choice("optimizer", "lion", ("adam", "sgd"))
    assert (
        str(error.value) == "optimizer must be one of ('adam', 'sgd'). Received: optimizer='lion'"
    )
    with pytest.raises(ValueError, match=re.escape("Received: optimizer=3")):
        validation.check_choice("optimizer", 3, ("adam", "sgd"))


def test_check_instance_describes_big_values_instead_of_printing_them():
    assert validation.check_instance("model", 3, int, "an int") == 3
    with pytest.raises(ValueError) as error:
        validation.check_instance("model", np.zeros((100, 100)), keras.Model, "a keras.Model")
    assert str(error.value) == (
        "model must be a keras.Model. Received: model=<array of shape (100, 100) and dtype float64>"
    )


def test_check_learning_rate_accepts_numbers_and_float_schedules():
    assert validation.check_learning_rate("learning_rate", 1) == 1.0
    assert validation.check_learning_rate("learning_rate", np.float32(0.5)) == 0.5
    schedule = keras.optimizers.schedules.ExponentialDecay(1e-3, 10, 0.5)
    assert validation.check_learning_rate("learning_rate", schedule) is schedule


@pytest.mark.parametrize("value", [0, -1.0, float("nan"), True, "0.001", None])
def test_check_learning_rate_rejects_bad_numbers(value):
    wanted = "a positive, finite number or a LearningRateSchedule"
    with pytest.raises(ValueError, match=message("learning_rate", wanted, value)):
        validation.check_learning_rate("learning_rate", value)


def test_check_learning_rate_calls_a_schedule_and_catches_an_int_start():
    int_start = keras.optimizers.schedules.CosineDecay(
        0, decay_steps=10, warmup_target=1e-3, warmup_steps=2
    )
    with pytest.raises(
        ValueError, match=r"fine_tune_learning_rate must be a schedule of float rates"
    ):
        validation.check_learning_rate("fine_tune_learning_rate", int_start)
    negative = keras.optimizers.schedules.PolynomialDecay(-1e-3, 10)
    with pytest.raises(ValueError, match=r"at step 0 it gives -0\.001"):
        validation.check_learning_rate("learning_rate", negative)
    with pytest.raises(
        ValueError, match=re.escape("Received: learning_rate=<PolynomialDecay schedule>")
    ):
        validation.check_learning_rate("learning_rate", negative)


def test_check_labels_accepts_whole_floats_and_refuses_to_truncate():
    labels = validation.check_labels("labels", np.array([0.0, 3.0, 1.0]), num_classes=4)
    assert labels.dtype == np.int32 and labels.tolist() == [0, 3, 1]
    with pytest.raises(ValueError, match=re.escape("labels with values [0.5, 1.7]")):
        validation.check_labels("labels", [0.5, 1.7, 2.0])


@pytest.mark.parametrize(
    "labels, expected",
    [
        ([0, 4], "labels must be in [0, 4). Received: labels with values [4]"),
        ([-1, 0], "labels must be in [0, 4). Received: labels with values [-1]"),
        (
            [],
            "labels must be a non-empty 1-D array of class indices. Received: labels of shape (0,)",
        ),
        ([[0, 1]], "Received: labels of shape (1, 2)"),
        (["a", "b"], "labels must be a numeric array. Received: labels=['a', 'b']"),
        ([0, float("nan")], "labels with values [nan]"),
        ([True, False], "labels must be a numeric array"),
    ],
)
def test_check_labels_names_what_is_wrong(labels, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        validation.check_labels("labels", labels, num_classes=4)


def test_check_labels_counts_one_label_per_example():
    with pytest.raises(
        ValueError, match=re.escape("one label per example (3). Received: 2 labels")
    ):
        validation.check_labels("labels", [0, 1], count=3)


def test_check_images_accepts_preprocessed_floats():
    images = validation.check_images("images", np.zeros((2, 8, 8, 3), "float64"), (8, 8, 3))
    assert images.dtype == np.float32 and images.shape == (2, 8, 8, 3)


@pytest.mark.parametrize(
    "images, expected",
    [
        (np.zeros((8, 8, 3)), "images must be a batch of images (n, height, width, channels)"),
        (np.zeros((0, 8, 8, 3)), "images must hold at least one image"),
        (np.zeros((2, 8, 8, 1)), "images must have shape (n, 8, 8, 3). Received: images of shape"),
        (np.zeros((2, 9, 8, 3)), "images must have shape (n, 8, 8, 3)"),
        (np.full((2, 8, 8, 3), 200, "uint8"), "not raw pixels. Received: images of dtype uint8"),
        (np.full((2, 8, 8, 3), 200, "uint16"), "Received: images of dtype uint16"),
        (np.full((2, 8, 8, 3), np.nan), "images must be finite. Received: images with 384 NaN"),
        (np.full((2, 8, 8, 3), 255.0), "Received: images with values from 255 to 255"),
        ("cat.jpg", "images must be a numeric array. Received: images='cat.jpg'"),
    ],
)
def test_check_images_names_what_is_wrong(images, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        validation.check_images("images", images, (8, 8, 3))


def test_check_features_wants_a_finite_two_dimensional_array():
    assert validation.check_features("features", [[1, 2]], num_features=2).dtype == np.float32
    with pytest.raises(ValueError, match=re.escape("(n, 3). Received: features of shape (1, 2)")):
        validation.check_features("features", [[1, 2]], num_features=3)
    with pytest.raises(ValueError, match=re.escape("Received: features with 1 NaN or inf values")):
        validation.check_features("features", [[1, float("inf")]])


def batched(images, labels, batch_size=2):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)


def test_check_dataset_passes_a_good_dataset_through_unchanged():
    dataset = batched(np.zeros((4, 8, 8, 3), "float32"), [0, 1, 2, 3])
    assert validation.check_dataset("train_data", dataset, (8, 8, 3), num_classes=4) is dataset


@pytest.mark.parametrize(
    "dataset, expected",
    [
        (
            batched(np.full((4, 8, 8, 3), 255, "uint8"), [0, 1, 2, 3]),
            "train_data images must be preprocessed floats in [-1, 1]",
        ),
        (
            batched(np.full((4, 8, 8, 3), np.nan, "float32"), [0, 1, 2, 3]),
            "train_data images must be finite",
        ),
        (
            batched(np.zeros((4, 8, 8, 3), "float32"), [0.5, 1.0, 2.0, 3.0]),
            "train_data labels must be whole class indices (ints). "
            "Received: train_data labels with values [0.5]",
        ),
        (
            batched(np.zeros((4, 8, 8, 3), "float32"), [0, 9, 2, 3]),
            "train_data labels must be in [0, 4). Received: train_data labels with values [9]",
        ),
        (
            batched(np.zeros((0, 8, 8, 3), "float32"), np.zeros(0, "int32")),
            "train_data must hold at least one batch. Received: an empty dataset",
        ),
        (
            tf.data.Dataset.from_tensor_slices((np.zeros((4, 8, 8, 3), "float32"), [0, 1, 2, 3])),
            "call .batch() on a dataset of single images",
        ),
        (
            tf.data.Dataset.from_tensor_slices(np.zeros((4, 8, 8, 3), "float32")).batch(2),
            "train_data must yield (images, labels) batches",
        ),
        ([np.zeros((4, 8, 8, 3))], "train_data must be a tf.data.Dataset. Received: train_data="),
    ],
)
def test_check_dataset_peeks_at_the_first_batch(dataset, expected):
    with pytest.raises(ValueError, match=re.escape(expected)):
        validation.check_dataset("train_data", dataset, (8, 8, 3), num_classes=4)


def test_check_callbacks_wants_a_list_of_keras_callbacks():
    stop = keras.callbacks.EarlyStopping()
    assert validation.check_callbacks("callbacks", (stop,)) == [stop]
    assert validation.check_callbacks("callbacks", None) == []
    with pytest.raises(
        ValueError, match=message("callbacks", "None or a list of keras.callbacks.Callback", "abc")
    ):
        validation.check_callbacks("callbacks", "abc")
    with pytest.raises(ValueError, match=re.escape("Received: an element 'abc'")):
        validation.check_callbacks("callbacks", [stop, "abc"])


def test_check_sequence_refuses_strings_sets_and_short_sequences():
    assert validation.check_sequence("learning_rates", np.array([1e-2, 1e-3])) == [1e-2, 1e-3]
    for value in ("abc", {1e-3}, [1e-3], None):
        with pytest.raises(
            ValueError,
            match=re.escape("learning_rates must be a list or tuple of at least 2 items"),
        ):
            validation.check_sequence("learning_rates", value, minimum_length=2)


def test_is_number_and_is_int_agree_with_the_rules():
    assert [
        validation.is_number(value) for value in (1, 1.5, np.float16(1), np.bool_(True), 1j)
    ] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert [validation.is_int(value) for value in (1, np.uint64(1), 1.0, False)] == [
        True,
        True,
        False,
        False,
    ]


def test_check_text_wants_non_blank_strings():
    assert validation.check_text("solution", "rate = 1e-3") == "rate = 1e-3"
    for value in ("", "   ", None, 3):
        with pytest.raises(ValueError, match=message("solution", "a non-blank str", value)):
            validation.check_text("solution", value)


def test_check_array_matches_sizes_names_and_leading_axes():
    assert validation.check_array("start", np.float32([1, 2]), (2,)).dtype == np.float32
    assert validation.check_array("path", np.zeros((3, 4, 2)), (..., 2)).shape == (3, 4, 2)
    losses = validation.check_array(
        "losses", [1.0, float("nan")], ("steps",), allow_non_finite=True
    )
    assert np.isnan(losses[1])
    with pytest.raises(
        ValueError, match=re.escape("start must have shape (2,). Received: start of shape (3,)")
    ):
        validation.check_array("start", [1, 2, 3], (2,))
    with pytest.raises(ValueError, match=re.escape("must have shape (samples, num_classes)")):
        validation.check_array("logits", [1.0, 2.0], ("samples", "num_classes"))
    with pytest.raises(
        ValueError, match=re.escape("losses must be finite. Received: losses with 1 NaN")
    ):
        validation.check_array("losses", [1.0, float("inf")], ("steps",))


def test_check_learning_rates_names_the_bad_item_and_refuses_repeats():
    assert validation.check_learning_rates("learning_rates", (1e-2, np.float64(1e-3))) == [
        1e-2,
        1e-3,
    ]
    with pytest.raises(
        ValueError, match=message("learning_rates[1]", "a positive, finite number", 0)
    ):
        validation.check_learning_rates("learning_rates", [1e-3, 0])
    with pytest.raises(ValueError, match=re.escape("learning_rates must hold distinct values")):
        validation.check_learning_rates("learning_rates", [1e-3, 1e-3])


def test_check_pair_and_check_one_of():
    assert validation.check_pair("train", [1, 2], "a tuple (features, labels)") == (1, 2)
    with pytest.raises(
        ValueError, match=re.escape("train must be a tuple (features, labels). Received: train=3")
    ):
        validation.check_pair("train", 3, "a tuple (features, labels)")
    assert validation.check_one_of("alpha", np.float32(0.35), (0.35, 0.5)) == 0.35
    with pytest.raises(ValueError, match=message("alpha", "one of (0.35, 0.5)", True)):
        validation.check_one_of("alpha", True, (0.35, 0.5))


def test_check_float_schedule_reads_the_configured_start():
    floats = keras.optimizers.schedules.PiecewiseConstantDecay([5], [1e-3, 1e-4])
    assert validation.check_float_schedule("learning_rate", floats) is floats
    ints = keras.optimizers.schedules.PiecewiseConstantDecay([5], [1, 0])
    with pytest.raises(ValueError, match=re.escape("Received: learning_rate with values=[1, 0]")):
        validation.check_float_schedule("learning_rate", ints)
    with pytest.raises(
        ValueError, match=re.escape("learning_rate must be a keras LearningRateSchedule")
    ):
        validation.check_float_schedule("learning_rate", 1e-3)
