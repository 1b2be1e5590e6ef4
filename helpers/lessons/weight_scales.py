"""How big a pretrained base's weights are, and the gradients a fresh head sends them (lesson 02).

An optimizer's step means little on its own: lesson 02 sets it against these two scales. The
weights are those fine-tuning moves, every weight of the base's layers except BatchNormalization's
(the course keeps BatchNorm frozen, lesson 04). A gradient is measured per weight: the size of
`d loss / d weight` for one batch, the loss being the cross-entropy of the model's logits.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import validation

PERCENTILES = (10, 50, 90)  # the spread `gradient_sizes` reports: low, median, high


def fine_tuned_weights(base_model: keras.Model) -> list[keras.Variable]:
    """Returns the weights fine-tuning moves: every layer's, nested models opened, BatchNorm's not.

    Args:
        base_model: keras.Model, e.g. the MobileNetV2 base of `pretrained.build_mobilenet_v2`.

    Returns:
        A list of variables, in layer order, whether the layers are trainable now or not.

    Raises:
        ValueError: if `base_model` is not a keras.Model.

    Example:

    >>> base_model = keras.Sequential(
    ...     [keras.Input((3,)), keras.layers.Dense(2), keras.layers.BatchNormalization()]
    ... )
    >>> [weight.name for weight in fine_tuned_weights(base_model)]
    ['kernel', 'bias']
    """
    base_model = validation.check_instance("base_model", base_model, keras.Model, "a keras.Model")
    found = []
    for layer in base_model.layers:
        if isinstance(layer, keras.Model):
            found += fine_tuned_weights(layer)
        elif not isinstance(layer, keras.layers.BatchNormalization):
            found += list(layer.weights)
    return found


def median_weight_size(base_model: keras.Model) -> float:
    """Returns the median of `abs(weight)` over the weights fine-tuning moves in `base_model`.

    Half of the base's weights are smaller than this: a step of this size rewrites a typical
    weight completely.

    Args:
        base_model: keras.Model, the base whose weights fine-tuning moves.

    Returns:
        float, the median absolute value.

    Raises:
        ValueError: if `base_model` is not a keras.Model or holds no such weight.

    Example:

    >>> layer = keras.layers.Dense(2, kernel_initializer="ones", bias_initializer="zeros")
    >>> median_weight_size(keras.Sequential([keras.Input((2,)), layer]))  # 4 ones, 2 zeros
    1.0
    """
    values = _flat_sizes([weight.numpy() for weight in _checked_weights(base_model)])
    return float(np.median(values))


def gradient_sizes(
    model: keras.Model,
    base_model: keras.Model,
    images: np.ndarray,
    labels: Sequence[int] | np.ndarray,
    percentiles: Sequence[float] = PERCENTILES,
) -> dict[float, float]:
    """Returns percentiles of `abs(d loss / d weight)` over the base's weights, for one batch.

    The loss is the mean sparse cross-entropy of `model`'s logits on `(images, labels)`, with
    `training=False` (BatchNorm's statistics and dropout as in inference). The weights are
    `fine_tuned_weights(base_model)`, measured whether `base_model` is frozen or not; nothing
    is updated.

    Args:
        model: keras.Model whose output is logits, one per class, with `base_model` inside.
        base_model: keras.Model, the base of `model`.
        images: array of shape `(n, height, width, channels)`, preprocessed to [-1, 1].
        labels: sequence of `n` ints in `[0, classes)`.
        percentiles: sequence of floats in [0, 100]. Defaults to `PERCENTILES` (10, 50, 90).

    Returns:
        A dict `{percentile: size}`, in the order of `percentiles`.

    Raises:
        ValueError: if an argument is of the wrong kind, `base_model` is not inside `model`,
            the images or labels are invalid, or a percentile is outside [0, 100].

    Example:

    >>> base_model = keras.Sequential(
    ...     [keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 3), keras.layers.Flatten()]
    ... )
    >>> model = keras.Sequential([base_model, keras.layers.Dense(3)])
    >>> images = np.zeros((2, 4, 4, 3), "float32")
    >>> sizes = gradient_sizes(model, base_model, images, [0, 1], percentiles=[0, 100])
    >>> list(sizes), sizes[100] >= sizes[0] >= 0
    ([0.0, 100.0], True)
    """
    model = validation.check_instance("model", model, keras.Model, "a keras.Model")
    weights = _checked_weights(base_model)
    if not any(layer is base_model for layer in model.layers):
        raise ValueError(
            f"base_model must be a layer of model. Received: base_model={base_model.name!r}, "
            f"model with layers {[layer.name for layer in model.layers]}"
        )
    images = validation.check_images("images", images, image_shape=model.input_shape[1:])
    num_classes = int(model.output_shape[-1])
    labels = validation.check_labels("labels", labels, num_classes, count=len(images))
    percentiles = [
        validation.check_number(f"percentiles[{index}]", value, minimum=0, maximum=100)
        for index, value in enumerate(validation.check_sequence("percentiles", percentiles))
    ]
    loss_function = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        for weight in weights:
            tape.watch(weight.value)  # a frozen weight is not watched by default
        loss = loss_function(labels, model(images, training=False))
    gradients = tape.gradient(loss, [weight.value for weight in weights])
    values = _flat_sizes(
        [
            np.zeros(weight.shape) if gradient is None else gradient.numpy()
            for weight, gradient in zip(weights, gradients, strict=True)
        ]
    )
    return {percentile: float(np.percentile(values, percentile)) for percentile in percentiles}


def _checked_weights(base_model: object) -> list[keras.Variable]:
    """`fine_tuned_weights(base_model)`, or a ValueError when there are none."""
    weights = fine_tuned_weights(base_model)
    if not weights:
        raise ValueError(
            "base_model must hold weights outside BatchNormalization. "
            f"Received: base_model={base_model.name!r} without any"
        )
    return weights


def _flat_sizes(arrays: list[np.ndarray]) -> np.ndarray:
    """The absolute values of all `arrays`, in one flat float64 array."""
    return np.concatenate([np.abs(np.asarray(array, dtype="float64")).ravel() for array in arrays])
