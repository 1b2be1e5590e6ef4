"""Checks shared by the Keras exercises of lessons 02-04: one rule, one wording, wherever it is asked.

Example:

>>> import keras
>>> check_logits_loss(keras.losses.SparseCategoricalCrossentropy(from_logits=True), num_classes=4)
>>> check_logits_loss("sparse_categorical_crossentropy", num_classes=4)  # doctest: +ELLIPSIS
"your loss is the string 'sparse_categorical_crossentropy', which treats the outputs as probabilities; ..."
"""

from __future__ import annotations

from typing import Any

import keras

from helpers.exercises.core import describe

LOGITS_LOSS = "keras.losses.SparseCategoricalCrossentropy(from_logits=True)"


def not_an_instance(answer: Any, what: str, example: str) -> str:
    """Returns a message for an answer of the wrong kind, naming a class passed without calling it.

    Example:

    >>> not_an_instance(keras.optimizers.SGD, "an optimizer", "keras.optimizers.SGD(learning_rate=1e-4)")
    'your answer is the class SGD itself; call it to build an optimizer: keras.optimizers.SGD(learning_rate=1e-4).'
    """
    if isinstance(answer, type):
        return f"your answer is the class {answer.__name__} itself; call it to build {what}: {example}."
    return f"your answer is {describe(answer)}; give {what} such as {example}."


def check_logits_loss(loss: Any, num_classes: int) -> str | None:
    """Returns `None` for `SparseCategoricalCrossentropy(from_logits=True)`, else what is wrong with `loss`.

    The course's heads end in `Dense(num_classes)` without softmax (logits) and its labels are ints.

    Args:
        loss: the learner's loss (a compiled model's `model.loss`, or a loss they built).
        num_classes: int, the units of the head, used in the messages.

    Returns:
        `None` when right, otherwise a message naming the loss received.
    """
    if isinstance(loss, str):
        return f"your loss is the string {loss!r}, which treats the outputs as probabilities; compile with {LOGITS_LOSS}."
    if not isinstance(loss, keras.losses.Loss):
        return not_an_instance(loss, "a loss object", LOGITS_LOSS)
    if not isinstance(loss, keras.losses.SparseCategoricalCrossentropy):
        one_hot = (
            " (it expects one-hot labels)"
            if isinstance(loss, keras.losses.CategoricalCrossentropy)
            else ""
        )
        return (
            f"your loss is {type(loss).__name__}{one_hot}; the labels are ints 0..{num_classes - 1}, "
            "so use SparseCategoricalCrossentropy."
        )
    if not loss.get_config()["from_logits"]:
        return (
            f"your loss has from_logits=False, but Dense({num_classes}) without softmax emits logits: "
            "set from_logits=True."
        )
    return None
