"""Lesson 03 exercises: references pass, ____ is "not attempted", realistic mistakes are named."""

import math

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest
from synthetic_data import blobs

from helpers.exercises import core
from helpers.exercises import lesson03 as exercises
from helpers.finetune import forgetting, head_training, models
from helpers.lessons import datasets, head_sweep, pretrained, shapes_data
from tests.grading import assert_wrong
from tests.solutions import run_solution

IMAGE_SIZE = 32  # tiny images keep the models cheap to build
QUESTIONS = [exercises.q1, exercises.q2, exercises.q3, exercises.q4, exercises.q5]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_placeholder_is_not_attempted(question):
    assert question.check(core.____).outcome == core.NOT_ATTEMPTED


def tiny_base() -> keras.Model:
    """A small stand-in for MobileNetV2: two convolutions, each followed by BatchNormalization."""
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    features = keras.layers.Conv2D(4, 3, use_bias=False, name="conv_a")(inputs)
    features = keras.layers.BatchNormalization(name="bn_a")(features)
    features = keras.layers.ReLU(name="relu_a")(features)
    features = keras.layers.Conv2D(8, 3, use_bias=False, name="conv_b")(features)
    features = keras.layers.BatchNormalization(name="bn_b")(features)
    return keras.Model(inputs, features, name="tiny_base")


def logits_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def head_model(
    base_model,
    units=4,
    activation=None,
    final_layer=None,
    loss=None,
    compile_model=True,
    pooling=True,
):
    """Plays question 1: a head on `base_model`, compiled as the learner might."""
    inputs = keras.Input(shape=(IMAGE_SIZE, IMAGE_SIZE, 3))
    features = base_model(inputs, training=False)
    if pooling:
        features = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(units, activation=activation)(features)
    if final_layer is not None:
        outputs = final_layer(outputs)
    model = keras.Model(inputs, outputs)
    if compile_model:
        model.compile(
            optimizer=keras.optimizers.Adam(learning_rate=1e-3),
            loss=loss if loss is not None else logits_loss(),
            metrics=["accuracy"],
        )
    return model


# q1 -----------------------------------------------------------------------------------------------


def test_q1_reference_passes_on_tiny_and_real_bases():
    assert exercises.q1.check(head_model(tiny_base())).passed
    _, mobilenet_base = pretrained.build_mobilenet_v2(4, image_size=IMAGE_SIZE, weights=None)
    assert exercises.q1.check(head_model(mobilenet_base)).passed


def test_q1_a_sequential_head_passes():
    base_model = tiny_base()
    model = keras.Sequential(
        [
            keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3)),
            base_model,
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4),
        ]
    )
    model.compile(optimizer="adam", loss=logits_loss())
    assert exercises.q1.check(model).passed


def test_q1_max_pooling_dropout_and_another_optimizer_pass():
    base_model = tiny_base()
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    features = keras.layers.GlobalMaxPooling2D()(base_model(inputs, training=False))
    logits = keras.layers.Dense(4, activation=None)(keras.layers.Dropout(0.5)(features))
    model = keras.Model(inputs, logits)
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss=logits_loss())
    assert exercises.q1.check(model).passed


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
        (
            {"pooling": False},
            "your model has no pooling layer, so its Dense layer sees feature maps, not one "
            "vector per image; add GlobalAveragePooling2D between the base and the Dense layer.",
        ),
    ],
)
def test_q1_wrong_answers_are_named(options, message):
    assert_wrong(exercises.q1, head_model(tiny_base(), **options), message)


def test_q1_a_head_without_the_base_is_named():
    head = head_training.build_head(1280, 4)  # the head alone, on cached features
    head.compile(optimizer="adam", loss=logits_loss())
    assert_wrong(
        exercises.q1,
        head,
        "your model holds no base model (2 layers, none of them a keras.Model); "
        "call base_model(inputs, training=False) and put the head on its output.",
    )


def test_q1_no_pooling_on_mobilenet_v2_is_named():
    _, mobilenet_base = pretrained.build_mobilenet_v2(4, image_size=IMAGE_SIZE, weights=None)
    model = head_model(mobilenet_base, pooling=False)
    assert model.output_shape == (None, 1, 1, 4)  # the answer the issue reported as accepted
    feedback = exercises.q1.check(model)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message.startswith("your model has no pooling layer")


def test_q1_pooling_that_keeps_the_map_is_named_by_its_output_shape():
    base_model = tiny_base()
    inputs = keras.Input((IMAGE_SIZE, IMAGE_SIZE, 3))
    pooled = keras.layers.GlobalAveragePooling2D(keepdims=True)(base_model(inputs))
    model = keras.Model(inputs, keras.layers.Dense(4)(pooled))
    model.compile(optimizer="adam", loss=logits_loss())
    assert_wrong(
        exercises.q1,
        model,
        "your model's output has shape (None, 1, 1, 4); it should give one row of 4 logits per "
        "image, (None, 4): pool before the Dense layer.",
    )


def test_q1_needs_a_model_with_layers():
    assert_wrong(
        exercises.q1,
        keras.layers.Dense(4),
        "your answer is a Dense; give the compiled keras.Model.",
    )
    empty = keras.Sequential()
    empty.compile(optimizer="adam", loss="mse")
    assert_wrong(
        exercises.q1,
        empty,
        "your model has no layers; build it from base_model, pooling and a Dense layer.",
    )


# q2 -----------------------------------------------------------------------------------------------


def test_q2_reference_passes():
    model, base_model = pretrained.build_mobilenet_v2(4, image_size=IMAGE_SIZE, weights=None)
    base_model.trainable = False
    assert exercises.q2.check((model, base_model)).passed


def test_q2_models_freeze_and_a_list_pass():
    base_model = tiny_base()
    model = head_model(base_model)
    models.freeze(base_model)
    assert exercises.q2.check([model, base_model]).passed


def test_q2_freezing_every_layer_one_by_one_passes():
    base_model = tiny_base()
    model = head_model(base_model)
    for layer in base_model.layers:
        layer.trainable = False  # BatchNormalization included: nothing in the base trains
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


def test_q2_needs_the_pair_from_one_model_in_order():
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
    base_model.trainable = False
    assert_wrong(
        exercises.q2,
        (base_model, model),
        "your pair is the wrong way round; pass (exercise_model, exercise_base).",
    )
    other_base = tiny_base()
    other_base.trainable = False
    assert_wrong(
        exercises.q2,
        (model, other_base),
        "your exercise_base is not a layer of your exercise_model; "
        "pass the pair build_mobilenet_v2 returned.",
    )


# q3 -----------------------------------------------------------------------------------------------


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


def test_q3_freezing_by_type_name_passes_and_so_does_the_whole_model():
    base_model = tiny_base()
    base_model.trainable = False
    base_model.trainable = True
    batch_norms = [layer for layer in base_model.layers if "BatchNorm" in type(layer).__name__]
    for layer in batch_norms:
        layer.trainable = False
    assert exercises.q3.check(base_model).passed
    # The whole model holding that base is judged by the same layers, the head's Dense too.
    assert exercises.q3.check(head_model(base_model)).passed


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


def test_q3_the_whole_mobilenet_v2_with_every_batch_norm_trainable_is_named():
    # The case: the whole model after `trainable = True`, all 52 BatchNorm layers trainable.
    model, base_model = pretrained.build_mobilenet_v2(4, image_size=IMAGE_SIZE, weights=None)
    models.freeze(base_model)
    model.trainable = False
    model.trainable = True  # opens the nested base too, BatchNormalization included
    assert base_model.trainable
    feedback = exercises.q3.check(model)
    assert feedback.outcome == core.INCORRECT
    assert feedback.message.startswith(
        "your base still has 52 trainable BatchNormalization layers (of 52)"
    )


def test_q3_a_whole_model_whose_base_is_frozen_is_named():
    base_model = tiny_base()
    model = head_model(base_model)
    base_model.trainable = False
    assert_wrong(
        exercises.q3,
        model,
        "your base has trainable=False, so none of its layers can train; "
        "set exercise_base.trainable = True first.",
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


def test_q3_a_model_without_batch_norm_is_named():
    inputs = keras.Input((4,))
    small = keras.Model(inputs, keras.layers.Dense(2)(inputs))
    assert_wrong(
        exercises.q3,
        small,
        "your model has 1 layer with weights and no BatchNormalization layer; "
        "pass exercise_base, the MobileNetV2 base.",
    )


def test_q3_agrees_with_models_unfreeze_layer_by_layer():
    base_model = tiny_base()
    models.freeze(base_model)
    models.unfreeze(base_model)
    assert exercises.q3.check(base_model).passed
    base_model.get_layer("bn_b").trainable = True  # one BatchNormalization layer left trainable
    feedback = exercises.q3.check(base_model)
    assert feedback.message.startswith(
        "your base still has 1 trainable BatchNormalization layer (of 2)"
    )


# q4 -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer",
    [
        math.log(4),
        1.386,
        1.39,  # as the lesson prints ln(4)
        -math.log(1 / 4),
        np.float32(math.log(4)),
        np.log(4),
        np.array([1.386]),
    ],
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
            0.6,
            "your initial loss is 0.6, a base-10 logarithm; "
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
        (
            1.4,
            "your initial loss is 1.4, close but not precise enough: give 3 significant digits.",
        ),
        (0.0, "your initial loss is 0, which is too small."),
        ("1.386", "your initial loss is '1.386' (a str); give a number."),
        (np.array([1.386, 1.386]), "your initial loss is an array of shape (2,); give one number."),
    ],
)
def test_q4_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q4, answer, message)


# q5 -----------------------------------------------------------------------------------------------

# A sweep whose run ending lowest (1e-3) is not the one that got lowest (1e-2, at epoch 2).
RESULTS = {
    0.1: {"val_loss": [1.2, 0.9, 1.6, 1.7]},
    0.01: {"val_loss": [0.8, 0.31, 0.5, 0.52]},
    0.001: {"val_loss": [1.0, 0.7, 0.5, 0.45]},
    0.0001: {"val_loss": [1.3, 1.2, 1.1, 1.0]},
}


@pytest.mark.parametrize("pick", [1e-2, 0.01, np.float32(1e-2), np.float64(0.01)])
def test_q5_the_rate_whose_curve_gets_lowest_passes_however_written(pick):
    assert exercises.q5.check((RESULTS, pick)).passed
    assert exercises.q5.check([RESULTS, pick]).passed


def test_q5_rates_whose_lowest_prints_the_same_tie():
    near_tie = {**RESULTS, 0.001: {"val_loss": [1.0, 0.7, 0.5, 0.314]}}  # prints 0.31 as well
    assert exercises.q5.check((near_tie, 1e-3)).passed
    assert exercises.q5.check((near_tie, 1e-2)).passed


def test_q5_is_graded_against_the_results_passed_in():
    reversed_ranking = {rate: {"val_loss": [0.2]} for rate in (0.1, 0.01)}
    reversed_ranking[0.01] = {"val_loss": [0.9]}
    assert exercises.q5.check((reversed_ranking, 0.1)).passed
    assert not exercises.q5.check((reversed_ranking, 0.01)).passed


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (
            (RESULTS, 1e-3),
            "your pick 0.001 ends with the lowest validation loss, but early stopping keeps each "
            "run's best epoch: its lowest is 0.45, and another rate goes lower.",
        ),
        (
            (RESULTS, 1e-1),
            "your pick 0.1 gets its validation loss down to 0.90 at best; another rate goes lower.",
        ),
        (
            (RESULTS, 0.5),
            "your pick 0.5 is not one of the swept rates (0.1, 0.01, 0.001, 0.0001).",
        ),
        (
            (RESULTS, "1e-2"),
            "your pick '1e-2' is not one of the swept rates (0.1, 0.01, 0.001, 0.0001).",
        ),
        (
            1e-2,
            "your answer is 0.01; pass (results, learning_rate), results being what "
            "sweep_learning_rates returned.",
        ),
        (
            ([0.31, 0.45], 1e-2),
            "your results is a list; pass (results, learning_rate), results being what "
            "sweep_learning_rates returned.",
        ),
        (
            ({0.01: {"val_loss": [float("nan")]}}, 1e-2),
            "your results maps 0.01 to a dict, not a learning rate to its history of validation "
            "losses; pass (results, learning_rate), results being what sweep_learning_rates "
            "returned.",
        ),
    ],
)
def test_q5_wrong_answers_are_named(answer, message):
    assert_wrong(exercises.q5, answer, message)


def test_q5_on_a_real_sweep_agrees_with_each_curves_lowest_point():
    results = head_sweep.sweep_learning_rates(blobs(0), blobs(1), [1e-1, 1e-3], epochs=3, seed=0)
    lowest = {rate: min(history["val_loss"]) for rate, history in results.items()}
    best, other = sorted(lowest, key=lowest.get)
    assert exercises.q5.check((results, best)).passed
    if f"{lowest[other]:.2f}" != f"{lowest[best]:.2f}":
        assert not exercises.q5.check((results, other)).passed


# Every question's solution, run as the learner would, in the names the notebook has defined.


def notebook_namespace(question_name: str) -> dict:
    """What lesson 03 has defined when the learner reaches the question (small stand-ins: a
    32x32 MobileNetV2 with random weights, and a sweep on synthetic features)."""
    _, base_model = pretrained.build_mobilenet_v2(4, image_size=IMAGE_SIZE, weights=None)
    base_model.trainable = False
    names = {
        "math": math,
        "keras": keras,
        "plt": plt,
        "np": np,
        "exercises": exercises,
        "forgetting": forgetting,
        "head_training": head_training,
        "models": models,
        "datasets": datasets,
        "head_sweep": head_sweep,
        "pretrained": pretrained,
        "shapes_data": shapes_data,
        "IMAGE_SIZE": IMAGE_SIZE,
        "base_model": base_model,
    }
    if question_name in ("q2", "q3"):
        exercise_model, exercise_base = pretrained.build_mobilenet_v2(4, IMAGE_SIZE, weights=None)
        if question_name == "q3":
            models.freeze(exercise_base)  # as the notebook's cell before question 3
        names.update(exercise_model=exercise_model, exercise_base=exercise_base)
    if question_name == "q5":
        rates = (1e-1, 1e-2, 1e-3, 1e-4)
        names["results"] = head_sweep.sweep_learning_rates(
            blobs(0), blobs(1), rates, epochs=3, seed=0
        )
    return names


ANSWERS = {
    "q1": lambda names: names["exercise_model"],
    "q2": lambda names: names["answer"],
    "q3": lambda names: names["answer"],
    "q4": lambda names: names["initial_loss_for_4_classes"],
    "q5": lambda names: names["answer"],
}


def test_every_question_is_covered():
    assert [question.name for question in QUESTIONS] == list(ANSWERS)


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda question: question.name)
def test_every_solution_passes_when_run(question):
    names = run_solution(question, notebook_namespace(question.name))
    feedback = question.check(ANSWERS[question.name](names))
    assert feedback.passed, feedback
