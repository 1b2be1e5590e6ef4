"""A logits head's loss: from_logits=False reports a different, wrong loss; numpy is the oracle."""

import pathlib
import re

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf

from helpers.lessons import losses

EPSILON = 1e-7  # keras.backend.epsilon(), the clip Keras applies to "probabilities"


def random_logits(
    seed: int, samples: int = 6, num_classes: int = 10
) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    logits = generator.normal(0.0, 3.0, size=(samples, num_classes)).astype("float32")
    return logits, generator.integers(0, num_classes, size=samples)


def clipped_probability_loss(logits: np.ndarray, labels: np.ndarray) -> float:
    """What Keras does with from_logits=False: clip the logits as if probabilities, renormalise."""
    probabilities = np.clip(logits.astype("float64"), EPSILON, 1 - EPSILON)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    return float(-np.mean(np.log(probabilities[np.arange(len(labels)), labels])))


def test_the_epsilon_oracle_matches_keras():
    assert keras.backend.epsilon() == EPSILON


def test_lesson_02_names_kerass_clip_and_the_outcome_of_training_with_each_loss():
    """The clip is Keras's epsilon; the training claim is `test_training_with_the_wrong_loss...`."""
    lesson = (
        pathlib.Path(__file__).resolve().parents[1]
        / "notebooks"
        / ("02_optimizers_and_learning_rates.ipynb")
    )
    cells = nbformat.read(lesson, as_version=4).cells
    text = " ".join(" ".join(cell.source.split()) for cell in cells if cell.cell_type == "markdown")
    clip = re.search(r"clips each into `\[([\d.e-]+), 1 - ([\d.e-]+)\]`", text)
    assert clip and {float(value) for value in clip.groups()} == {keras.backend.epsilon()}
    assert "counts as probability 1e-7" in text and keras.backend.epsilon() == 1e-7
    assert "ends with a higher cross-entropy and a lower accuracy" in text


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_from_logits_true_equals_the_numpy_reference(seed):
    logits, labels = random_logits(seed)
    comparison = losses.compare(logits, labels)
    assert comparison.with_from_logits == pytest.approx(comparison.reference, rel=1e-5)
    direct = -np.mean(
        np.log(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True))[np.arange(6), labels]
    )
    # The stable log-softmax is the plain formula.
    assert comparison.reference == pytest.approx(direct, rel=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_from_logits_false_reports_a_different_loss_that_clips_logits_as_probabilities(seed):
    logits, labels = random_logits(seed)
    comparison = losses.compare(logits, labels)
    assert abs(comparison.without_from_logits - comparison.reference) > 0.1
    assert comparison.without_from_logits == pytest.approx(
        clipped_probability_loss(logits, labels), rel=1e-4
    )


def test_from_logits_false_has_zero_gradient_for_logits_outside_zero_to_one():
    logits = tf.Variable([[2.0, -1.0, 0.5, 3.0]])
    labels = np.array([0])
    for from_logits, expected_zeros in [(False, [True, True, False, True]), (True, [False] * 4)]:
        with tf.GradientTape() as tape:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)(
                labels, logits
            )
        gradient = tape.gradient(loss, logits).numpy()[0]
        assert (gradient == 0).tolist() == expected_zeros


def test_compiling_a_logits_head_with_the_string_loss_reports_the_wrong_value():
    """The seed's compile, Dense(10) + 'sparse_categorical_crossentropy', gives the wrong loss."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(10)])
    features = np.random.default_rng(0).normal(size=(16, 8)).astype("float32")
    labels = np.arange(16) % 10
    comparison = losses.compare(keras.ops.convert_to_numpy(model(features)), labels)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    reported_wrong = model.evaluate(features, labels, batch_size=16, verbose=0)
    model.compile(
        optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    reported_right = model.evaluate(features, labels, batch_size=16, verbose=0)
    assert reported_wrong == pytest.approx(comparison.without_from_logits, rel=1e-4)
    assert reported_right == pytest.approx(comparison.reference, rel=1e-4)
    assert abs(reported_wrong - reported_right) > 0.1


@pytest.mark.parametrize("seed", [0, 1])
def test_a_softmax_head_with_the_default_loss_is_also_right(seed):
    """The other fix: Dense(10, activation="softmax") outputs what from_logits=False expects."""
    logits, labels = random_logits(seed)
    probabilities = keras.ops.softmax(logits)
    loss = float(keras.losses.SparseCategoricalCrossentropy()(labels, probabilities))
    assert loss == pytest.approx(losses.reference_cross_entropy(logits, labels), rel=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_training_with_the_wrong_loss_learns_worse(seed):
    outcomes = losses.train_with_each_loss(seed=seed, steps=40)
    wrong, right = outcomes["from_logits=False"], outcomes["from_logits=True"]
    assert wrong.cross_entropy > 2 * right.cross_entropy
    assert wrong.accuracy < right.accuracy


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        ([0, 3], "labels must be in [0, 3). Received: labels with values [3]"),
        ([-1, 0], "labels must be in [0, 3). Received: labels with values [-1]"),
        (
            [0.5, 1.7],
            "labels must be whole class indices (ints). Received: labels with values [0.5, 1.7]",
        ),
        ([0, 1, 2], "labels must hold one label per example (2). Received: 3 labels"),
        (["a", "b"], "labels must be a numeric array. Received: labels=['a', 'b']"),
    ],
)
def test_bad_labels_raise_value_error_naming_labels_and_num_classes(labels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        losses.compare(np.zeros((2, 3)), labels)


def test_whole_float_labels_count_as_class_indices():
    logits, labels = random_logits(0, samples=4, num_classes=3)
    as_floats = losses.compare(logits, labels.astype("float64"))
    assert as_floats == losses.compare(logits, labels)


def test_without_the_check_tensorflow_raises_a_kernel_error_for_out_of_range_labels():
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the valid range"):
        keras.losses.SparseCategoricalCrossentropy(from_logits=True)(
            np.array([0, 3]), np.zeros((2, 3))
        )


@pytest.mark.parametrize(
    ("logits", "message"),
    [
        (
            [0.0, 1.0],
            "logits must have shape (samples, num_classes). Received: logits of shape (2,)",
        ),
        (
            np.zeros((2, 2, 1)),
            "logits must have shape (samples, num_classes). Received: logits of shape (2, 2, 1)",
        ),
        (
            [[np.nan, 0.0], [0.0, 0.0]],
            "logits must be finite. Received: logits with 1 NaN or inf values",
        ),
    ],
)
def test_bad_logits_raise_value_error(logits, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        losses.reference_cross_entropy(logits, [0, 0])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
        ({"steps": 0}, "steps must be an int >= 1. Received: steps=0"),
        ({"steps": 2.0}, "steps must be an int >= 1. Received: steps=2.0"),
        ({"seed": True}, "seed must be an int >= 0. Received: seed=True"),
    ],
)
def test_train_with_each_loss_validates_its_arguments(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        losses.train_with_each_loss(**arguments)


def test_train_with_each_loss_accepts_numpy_ints():
    outcomes = losses.train_with_each_loss(seed=np.int64(0), steps=np.int32(2))
    assert sorted(outcomes) == ["from_logits=False", "from_logits=True"]
