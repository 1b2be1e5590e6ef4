"""The shared Keras feedback: the logits loss, wrong kinds of answers, the unfreezing reference."""

import re

import keras
import numpy as np
import pytest

from helpers.exercises import keras_feedback
from helpers.finetune import models


@pytest.mark.parametrize("num_classes", [2, 4, 10, np.int64(4)])
def test_the_logits_loss_passes(num_classes):
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    assert keras_feedback.logits_loss_feedback(loss, num_classes) is None


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
    assert message in keras_feedback.logits_loss_feedback(loss, num_classes=4)


@pytest.mark.parametrize("num_classes", [1, 4.0, True, "4"])
def test_the_number_of_classes_is_checked(num_classes):
    message = f"num_classes must be an int >= 2. Received: num_classes={num_classes!r}"
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with pytest.raises(ValueError, match=re.escape(message)):
        keras_feedback.logits_loss_feedback(loss, num_classes)


def test_wrong_kind_feedback_names_a_class_passed_uncalled_and_other_answers():
    example = "keras.optimizers.SGD()"
    assert keras_feedback.wrong_kind_feedback(keras.optimizers.SGD, "an optimizer", example) == (
        "your answer is the class SGD itself; call it to build an optimizer: "
        "keras.optimizers.SGD()."
    )
    assert keras_feedback.wrong_kind_feedback(0.1, "an optimizer", example) == (
        "your answer is 0.1; give an optimizer such as keras.optimizers.SGD()."
    )
    with pytest.raises(
        ValueError, match=re.escape("what must be a non-blank str. Received: what=''")
    ):
        keras_feedback.wrong_kind_feedback(0.1, "", example)


def small_base() -> keras.Model:
    """Conv -> BatchNorm -> ReLU -> Conv -> BatchNorm: 6 layers with the input, 4 with weights."""
    inputs = keras.Input((8, 8, 3))
    features = keras.layers.Conv2D(2, 3, name="conv_a")(inputs)
    features = keras.layers.BatchNormalization(name="bn_a")(features)
    features = keras.layers.ReLU(name="relu_a")(features)
    features = keras.layers.Conv2D(2, 3, name="conv_b")(features)
    features = keras.layers.BatchNormalization(name="bn_b")(features)
    return keras.Model(inputs, features, name="small_base")


@pytest.mark.parametrize(
    ("top_layers", "trainable_names"),
    [
        (None, ["conv_a", "conv_b"]),
        (2, ["conv_b"]),
        (np.int64(4), ["conv_b"]),
        (5, ["conv_a", "conv_b"]),
    ],
)
def test_unfreeze_reference_is_what_models_unfreeze_does(top_layers, trainable_names):
    base_model = small_base()
    models.freeze(base_model)
    wanted = keras_feedback.unfreeze_reference(base_model, top_layers=top_layers)
    pairs = zip(base_model.layers, wanted, strict=True)
    trainable_with_weights = [
        layer.name for layer, trainable in pairs if trainable and layer.weights
    ]
    assert trainable_with_weights == trainable_names
    assert not base_model.trainable  # the learner's base is left as it was
    models.unfreeze(base_model, top_layers=top_layers)
    assert wanted == [layer.trainable for layer in base_model.layers]


def test_unfreeze_reference_needs_a_model():
    message = "base_model must be a keras.Model. Received: base_model='base'"
    with pytest.raises(ValueError, match=re.escape(message)):
        keras_feedback.unfreeze_reference("base")


def test_nested_model_finds_the_base_inside_a_model():
    base_model = small_base()
    model = keras.Sequential([keras.Input((8, 8, 3)), base_model, keras.layers.Flatten()])
    assert keras_feedback.nested_model(model) is base_model
    assert keras_feedback.nested_model(base_model) is None


def test_single_output_shape_names_one_output_and_gives_none_otherwise():
    inputs = keras.Input((4,))
    one = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    two = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    assert keras_feedback.single_output_shape(one) == (None, 2)
    assert keras_feedback.single_output_shape(two) is None  # Keras gives a list of shapes
    assert keras_feedback.single_output_shape(keras.Sequential([keras.layers.Dense(3)])) is None
    assert keras_feedback.single_output_shape(keras.Sequential()) is None
    base_model = small_base()
    assert keras_feedback.single_output_shape(base_model) == (None, 4, 4, 2)


def test_single_output_shape_needs_a_model():
    message = "model must be a keras.Model. Received: model=None"
    with pytest.raises(ValueError, match=re.escape(message)):
        keras_feedback.single_output_shape(None)
