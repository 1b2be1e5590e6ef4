"""Lesson 03 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import math

import keras
import numpy as np
import pytest

from helpers.exercises import core
from helpers.exercises import lesson03 as exercises
from helpers.finetune import models
from helpers.lessons import pretrained

IMAGE_SIZE = 32  # tiny images keep the models cheap to build


def assert_wrong(question: core.Question, answer, message: str) -> None:
    feedback = question.check(answer)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message == message


def tiny_base() -> keras.Model:
    """A small stand-in for MobileNetV2: two convolutions, each followed by BatchNormalization."""
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    features = keras.layers.Conv2D(4, 3, use_bias=False, name="conv_a")(inputs)
    features = keras.layers.BatchNormalization(name="bn_a")(features)
    features = keras.layers.ReLU(name="relu_a")(features)
    features = keras.layers.Conv2D(8, 3, use_bias=False, name="conv_b")(features)
    features = keras.layers.BatchNormalization(name="bn_b")(features)
    return keras.Model(inputs, features, name="tiny_base")


def head_model(
    base_model, units=4, activation=None, final_layer=None, loss=None, compile_model=True
):
    """Plays question 1: a head on `base_model`, compiled as the learner might."""
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    features = base_model(inputs, training=False)
    features = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(units, activation=activation)(features)
    if final_layer is not None:
        outputs = final_layer(outputs)
    model = keras.Model(inputs, outputs)
    if compile_model:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=1e-3),
            loss=loss
            if loss is not None
            else keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    return model


ALL_QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4]


def test_q1_reference_passes_on_tiny_and_real_bases():
    assert exercises.q1.check(head_model(tiny_base())).passed
    _, mobilenet_base = pretrained.build_mobilenet_v2(4, image_size=IMAGE_SIZE, weights=None)
    assert exercises.q1.check(head_model(mobilenet_base)).passed


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"activation": "softmax"},
            "your last Dense layer has activation='softmax'; the head emits logits, "
            "so leave the activation out and let the loss apply the softmax.",
        ),
        ({"units": 10}, "your last Dense layer has 10 units; the target task has 4 classes."),
        ({"units": 1}, "your last Dense layer has 1 unit; the target task has 4 classes."),
        (
            {"final_layer": keras.layers.Softmax()},
            "your model ends with a Softmax layer; "
            "end it with the Dense layer that emits the logits.",
        ),
        (
            {"loss": "sparse_categorical_crossentropy"},
            "your loss is the string 'sparse_categorical_crossentropy', which treats the outputs "
            "as probabilities; "
            "compile with keras.losses.SparseCategoricalCrossentropy(from_logits=True).",
        ),
        (
            {"loss": keras.losses.SparseCategoricalCrossentropy()},
            "your loss has from_logits=False, but Dense(4) without softmax emits logits: "
            "set from_logits=True.",
        ),
        (
            {"loss": keras.losses.CategoricalCrossentropy(from_logits=True)},
            "your loss is CategoricalCrossentropy (it expects one-hot labels); "
            "the labels are ints 0..3, so use SparseCategoricalCrossentropy.",
        ),
        (
            {"compile_model": False},
            "your model is not compiled yet; "
            "call exercise_model.compile(optimizer=..., loss=..., metrics=[...]).",
        ),
    ],
)
def test_q1_wrong_answers_are_named(options, message):
    assert_wrong(exercises.q1, head_model(tiny_base(), **options), message)


def test_q1_needs_a_model():
    assert_wrong(
        exercises.q1,
        keras.layers.Dense(4),
        "your answer is a Dense; give the compiled keras.Model.",
    )


def test_q2_reference_passes():
    model, base_model = pretrained.build_mobilenet_v2(4, image_size=IMAGE_SIZE, weights=None)
    base_model.trainable = False
    assert exercises.q2.check((model, base_model)).passed


def test_q2_training_false_alone_does_not_freeze():
    model, base_model = pretrained.build_mobilenet_v2(4, image_size=IMAGE_SIZE, weights=None)
    count = len(base_model.trainable_weights)  # the oracle: Keras's own count
    assert count > 100
    assert_wrong(
        exercises.q2,
        (model, base_model),
        f"your base still has {count} trainable weight tensors; calling it with training=False "
        "does not freeze its weights: set exercise_base.trainable = False.",
    )


def test_q2_freezing_only_some_layers_is_named():
    base_model = tiny_base()
    model = head_model(base_model)
    base_model.get_layer("conv_a").trainable = False  # conv_b and both BatchNorm layers still train
    assert_wrong(
        exercises.q2,
        (model, base_model),
        "your base still has 5 trainable weight tensors; calling it with training=False "
        "does not freeze its weights: set exercise_base.trainable = False.",
    )


def test_q2_freezing_the_whole_model_is_named():
    base_model = tiny_base()
    model = head_model(base_model)
    model.trainable = False
    assert_wrong(
        exercises.q2,
        (model, base_model),
        "your model has no trainable weights at all: model.trainable = False froze the head too; "
        "freeze only the base.",
    )


def test_q2_needs_the_pair_from_one_model():
    base_model = tiny_base()
    model = head_model(base_model)
    assert_wrong(
        exercises.q2,
        model,
        "your answer is a Functional; pass the pair (exercise_model, exercise_base).",
    )
    assert_wrong(
        exercises.q2,
        (model,),
        "your answer holds 1 object; pass the pair (exercise_model, exercise_base).",
    )
    other_base = tiny_base()
    other_base.trainable = False
    assert_wrong(
        exercises.q2,
        (model, other_base),
        "your exercise_base is not a layer of your exercise_model; "
        "pass the pair build_mobilenet_v2 returned.",
    )


def unfreeze_by_hand(base_model):
    """The reference solution of question 3, from a base frozen for phase 1 as in the notebook."""
    base_model.trainable = False
    base_model.trainable = True
    for layer in base_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    return base_model


def test_q3_reference_and_models_unfreeze_pass():
    assert exercises.q3.check(unfreeze_by_hand(tiny_base())).passed
    _, mobilenet_base = pretrained.build_mobilenet_v2(4, image_size=IMAGE_SIZE, weights=None)
    models.freeze(mobilenet_base)
    models.unfreeze(mobilenet_base)  # the course's helper is the oracle
    assert exercises.q3.check(mobilenet_base).passed


def test_q3_trainable_true_alone_leaves_batch_norm_trainable():
    base_model = tiny_base()
    base_model.trainable = False  # as after phase 1
    base_model.trainable = True
    assert_wrong(
        exercises.q3,
        base_model,
        "your base still has 2 trainable BatchNormalization layers (of 2), "
        "so fit moves their moving statistics; "
        "set layer.trainable = False on each, after exercise_base.trainable = True "
        "(which makes every layer trainable).",
    )


def test_q3_freezing_batch_norm_before_trainable_true_is_undone():
    base_model = tiny_base()
    base_model.trainable = False  # as after phase 1
    for layer in base_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    base_model.trainable = True  # the wrong order: this makes every layer trainable again
    feedback = exercises.q3.check(base_model)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message.startswith(
        "your base still has 2 trainable BatchNormalization layers (of 2)"
    )


def test_q3_a_frozen_base_is_named():
    base_model = tiny_base()
    base_model.trainable = False
    assert_wrong(
        exercises.q3,
        base_model,
        "your base has trainable=False, so none of its layers can train; "
        "set exercise_base.trainable = True first.",
    )


def test_q3_freezing_other_layers_too_is_named():
    base_model = unfreeze_by_hand(tiny_base())
    base_model.get_layer("conv_a").trainable = False
    assert_wrong(
        exercises.q3,
        base_model,
        "your base still freezes 1 layer besides BatchNormalization (the first: 'conv_a'); "
        "the task makes all of them trainable.",
    )
    assert_wrong(
        exercises.q3, "unfreeze", "your answer is 'unfreeze'; give the base model (a keras.Model)."
    )


@pytest.mark.parametrize(
    "answer", [math.log(4), 1.386, -math.log(1 / 4), np.float32(math.log(4)), np.log(4)]
)
def test_q4_reference_passes(answer):
    assert exercises.q4.check(answer).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            0.25,
            "your initial loss is 0.25, the probability of each class; "
            "the loss is minus the log of it.",
        ),
        (
            math.log10(4),
            "your initial loss is 0.60206, a base-10 logarithm; "
            "cross-entropy uses the natural log (math.log).",
        ),
        (
            2.0,
            "your initial loss is 2, a base-2 logarithm; "
            "cross-entropy uses the natural log (math.log).",
        ),
        (4, "your initial loss is 4, the number of classes itself; the loss is a logarithm."),
        (
            np.float32(0.25),
            "your initial loss is 0.25, the probability of each class; "
            "the loss is minus the log of it.",
        ),
        (0.0, "your initial loss is 0, which is too small."),
        ("1.386", "your initial loss is '1.386' (a str); give a number."),
    ],
)
def test_q4_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q4, answer, message)


def test_q3_names_the_whole_model_passed_instead_of_its_base():
    base_model = unfreeze_by_hand(tiny_base())
    model = head_model(base_model)
    assert_wrong(
        exercises.q3,
        model,
        "your answer is a model holding the base 'tiny_base'; "
        "pass the base itself (exercise_base).",
    )


def test_q3_accepts_a_base_unfrozen_by_models_unfreeze_and_agrees_with_it_layer_by_layer():
    base_model = tiny_base()
    models.freeze(base_model)
    models.unfreeze(base_model)
    assert exercises.q3.check(base_model).passed
    base_model.get_layer("bn_b").trainable = True  # one BatchNormalization layer left trainable
    feedback = exercises.q3.check(base_model)
    assert feedback.message.startswith(
        "your base still has 1 trainable BatchNormalization layer (of 2)"
    )
