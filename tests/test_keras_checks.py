"""The shared logits-loss checker: right answer, and each kind of wrong answer with its message."""

import keras
import pytest

from helpers.exercises import keras_checks


@pytest.mark.parametrize("num_classes", [2, 4, 10])
def test_the_logits_loss_passes(num_classes):
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert keras_checks.check_logits_loss(loss, num_classes) is None


@pytest.mark.parametrize(
    ("loss", "message"),
    [
        (
            "sparse_categorical_crossentropy",
            "your loss is the string 'sparse_categorical_crossentropy', which treats",
        ),
        (
            keras.losses.SparseCategoricalCrossentropy(),
            "from_logits=False, but Dense(4) without softmax emits logits",
        ),
        (
            keras.losses.CategoricalCrossentropy(from_logits=True),
            "(it expects one-hot labels); the labels are ints 0..3",
        ),
        (
            keras.losses.MeanSquaredError(),
            "your loss is MeanSquaredError; the labels are ints 0..3",
        ),
        (
            keras.losses.SparseCategoricalCrossentropy,
            "your answer is the class SparseCategoricalCrossentropy itself",
        ),
        (None, "your answer is None; give a loss object"),
    ],
)
def test_wrong_losses_are_named(loss, message):
    assert message in keras_checks.check_logits_loss(loss, num_classes=4)
