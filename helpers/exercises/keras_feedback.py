"""Feedback shared by the Keras exercises of lessons 02-05: one rule, one wording, wherever asked.

Each `*_feedback` function returns `None` for a right answer, or a message naming what the learner
gave. `unfreeze_reference` asks `helpers.finetune.models.unfreeze` which layers it would make
trainable, so the exercises on unfreezing grade by the course's own rule.

Example:

>>> import keras
>>> right = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
>>> logits_loss_feedback(right, num_classes=4) is None
True
>>> string_loss = "sparse_categorical_crossentropy"
>>> print(logits_loss_feedback(string_loss, num_classes=4))  # doctest: +NORMALIZE_WHITESPACE
your loss is the string 'sparse_categorical_crossentropy', which treats the outputs as
probabilities; compile with keras.losses.SparseCategoricalCrossentropy(from_logits=True).
"""

from __future__ import annotations

from typing import Any

import keras

from helpers.exercises.core import describe
from helpers.finetune import models, validation

LOGITS_LOSS = "keras.losses.SparseCategoricalCrossentropy(from_logits=True)"


def wrong_kind_feedback(answer: Any, what: str, example: str) -> str:
    """Returns the message for an answer of the wrong kind; it names a class passed uncalled.

    Args:
        answer: the learner's answer.
        what: str, the kind of object wanted, with its article ("an optimizer").
        example: str, code that builds one, quoted in the message.

    Returns:
        The message.

    Example:

    >>> print(wrong_kind_feedback(keras.optimizers.SGD, "an optimizer", "keras.optimizers.SGD()"))
    your answer is the class SGD itself; call it to build an optimizer: keras.optimizers.SGD().
    >>> print(wrong_kind_feedback("sgd", "an optimizer", "keras.optimizers.SGD()"))
    your answer is 'sgd'; give an optimizer such as keras.optimizers.SGD().
    """
    what = validation.check_text("what", what)
    example = validation.check_text("example", example)
    if isinstance(answer, type):
        class_name = answer.__name__
        return f"your answer is the class {class_name} itself; call it to build {what}: {example}."
    return f"your answer is {describe(answer)}; give {what} such as {example}."


def logits_loss_feedback(loss: Any, num_classes: int) -> str | None:
    """Returns `None` for `SparseCategoricalCrossentropy(from_logits=True)`, else what is wrong.

    The course's heads end in `Dense(num_classes)` without softmax (logits), and its labels are
    ints, so only the sparse cross-entropy on logits fits.

    Args:
        loss: the learner's loss (a compiled model's `model.loss`, or a loss they built).
        num_classes: int, the units of the head (>= 2), used in the messages.

    Returns:
        `None` when right, otherwise a message naming the loss received.

    Raises:
        ValueError: if `num_classes` is not an int >= 2.
    """
    num_classes = validation.check_int("num_classes", num_classes, minimum=2)
    if isinstance(loss, str):
        return (
            f"your loss is the string {loss!r}, which treats the outputs as probabilities; "
            f"compile with {LOGITS_LOSS}."
        )
    if not isinstance(loss, keras.losses.Loss):
        return wrong_kind_feedback(loss, "a loss object", LOGITS_LOSS)
    if not isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        wants_one_hot = isinstance(loss, keras.losses.CategoricalCrossentropy)
        one_hot_note = " (it expects one-hot labels)" if wants_one_hot else ""
        return (
            f"your loss is {type(loss).__name__}{one_hot_note}; "
            f"the labels are ints 0..{num_classes - 1}, so use SparseCategoricalCrossentropy."
        )
    if not loss.get_config()["from_logits"]:
        return (
            f"your loss has from_logits=False, but Dense({num_classes}) without softmax emits "
            "logits: set from_logits=True."
        )
    return None


def nested_model(model: keras.Model) -> keras.Model | None:
    """Returns the first layer of `model` that is itself a model (its base), or `None`.

    Example:

    >>> _, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> nested_model(base_model) is None
    True
    """
    return next((layer for layer in model.layers if isinstance(layer, keras.Model)), None)


def single_output_shape(model: keras.Model) -> tuple[int | None, ...] | None:
    """Returns the output shape of a built model with one output, else `None`.

    A learner's model may be unbuilt (a `Sequential` without an `Input`) or have several
    outputs; both give `None` instead of Keras's `AttributeError`, so a check can name them.

    Args:
        model: keras.Model, the learner's model.

    Returns:
        A tuple such as `(None, 4)`, or `None`.

    Raises:
        ValueError: if `model` is not a keras.Model (the exercise's author passes it).

    Example:

    >>> single_output_shape(keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)]))
    (None, 4)
    >>> single_output_shape(keras.Sequential([keras.layers.Dense(4)])) is None
    True
    """
    model = validation.check_instance("model", model, keras.Model, "a keras.Model")
    if not model.built:
        return None
    shape = model.output_shape
    is_one_shape = isinstance(shape, tuple) and all(
        size is None or isinstance(size, int) for size in shape
    )
    return shape if is_one_shape else None


def leaf_layers(model: keras.Model) -> list[tuple[keras.layers.Layer, bool]]:
    """Returns every layer inside `model`, nested models opened, with whether it really trains.

    A layer trains when it and every model that holds it are trainable. Checks that inspect a
    learner's model use this, so a BatchNormalization layer inside a nested base is seen as
    well as one at the top.

    Args:
        model: keras.Model, the learner's model or base.

    Returns:
        A list of `(layer, trains)` pairs in depth-first order; nested models themselves are
        not listed, their layers are.

    Example:

    >>> model, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> model.trainable = True
    >>> batch_norms = [
    ...     trains
    ...     for layer, trains in leaf_layers(model)
    ...     if isinstance(layer, keras.layers.BatchNormalization)
    ... ]
    >>> len(batch_norms), all(batch_norms)
    (52, True)
    """
    model = validation.check_instance("model", model, keras.Model, "a keras.Model")
    found = []

    def visit(layer: keras.layers.Layer, parents_train: bool) -> None:
        trains = parents_train and bool(layer.trainable)
        if isinstance(layer, keras.Model):
            for inner in layer.layers:
                visit(inner, trains)
        else:
            found.append((layer, trains))

    for layer in model.layers:
        visit(layer, bool(model.trainable))
    return found


def unfreeze_reference(base_model: keras.Model, top_layers: int | None = None) -> list[bool]:
    """Returns, per layer of `base_model`, whether `models.unfreeze` would make it trainable.

    It unfreezes a clone (same layers, fresh weights), so the learner's base is left untouched.

    Args:
        base_model: keras.Model, the learner's base; it holds no nested model.
        top_layers: int or None, as for `models.unfreeze`. Defaults to `None` (all layers).

    Returns:
        A list of bools, one per layer of `base_model.layers`, in order.

    Example:

    >>> _, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> wanted = unfreeze_reference(base_model, top_layers=3)
    >>> pairs = zip(base_model.layers, wanted, strict=True)
    >>> [layer.name for layer, trainable in pairs if trainable]
    ['Conv_1', 'out_relu']
    """
    base_model = validation.check_instance("base_model", base_model, keras.Model, "a keras.Model")
    reference = keras.models.clone_model(base_model)
    models.unfreeze(reference, top_layers=top_layers)
    return [layer.trainable for layer in reference.layers]
