"""Training inputs for fine-tuning: check images and labels early, then batch them (lesson 03, lesson 04).

`two_phase.fine_tune` accepts arrays or a `tf.data.Dataset`; a wrong shape, raw uint8 pixels or a label
outside the classes fails here with a clear message, before any training starts.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def batches(slices: tf.data.Dataset, batch_size: int, seed: int | None) -> tf.data.Dataset:
    """Batches a dataset of single examples, reshuffled every epoch with `seed` (`None`: in order).

    The same `seed` gives the same order for images and for their cached features, epoch after epoch.

    Args:
        slices: tf.data.Dataset, one example per element.
        batch_size: int >= 1, the batch size.
        seed: int or None, the shuffling seed; `None` keeps the order.

    Returns:
        A batched, prefetched `tf.data.Dataset`.

    Example:

    >>> [batch.numpy().tolist() for batch in batches(tf.data.Dataset.range(5), 2, None)]
    [[0, 1], [2, 3], [4]]
    """
    if seed is not None:
        slices = slices.shuffle(slices.cardinality(), seed=seed, reshuffle_each_iteration=True)
    return slices.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def prepare(data, name: str, model: keras.Model, batch_size: int, seed: int | None):
    """Checks training or validation data against `model` and returns it as batches.

    Args:
        data: a `tf.data.Dataset` of `(images, labels)` batches (passed through as it is), a tuple
            `(images, labels)` of arrays (images preprocessed to [-1, 1], int labels), or `None`.
        name: str, the argument's name for error messages, e.g. `"train_data"`.
        model: keras.Model, whose input shape and number of outputs the data must fit.
        batch_size: int >= 1, the batch size for arrays.
        seed: int or None, reshuffles arrays every epoch; `None` keeps their order.

    Returns:
        `(batches, ordered_batches)`: two datasets of `(images, labels)` batches, the second never
        shuffled (for computing features once); `(None, None)` when `data` is `None`.

    Raises:
        ValueError: naming `name` and what was received, for a wrong type, image shape, pixel range,
            label count, label type or a label outside `[0, model.output_shape[-1])`.

    Example:

    >>> model = keras.Sequential([keras.Input((2, 2, 3)), keras.layers.Flatten(), keras.layers.Dense(2)])
    >>> train, ordered = prepare((np.zeros((3, 2, 2, 3)), np.array([0, 1, 1])), "train_data", model, 2, None)
    >>> [labels.numpy().tolist() for _, labels in ordered]
    [[0, 1], [1]]
    >>> prepare((np.zeros((3, 2, 2, 3)), np.array([0, 1, 2])), "train_data", model, 2, None)
    Traceback (most recent call last):
    ...
    ValueError: train_data labels must be in [0, 2). Received: [0, 1, 2]
    """
    if data is None:
        return None, None
    if isinstance(data, tf.data.Dataset):
        spec, batch_shape = data.element_spec, (None, *model.input_shape[1:])
        if (
            not isinstance(spec, tuple)
            or len(spec) != 2
            or not spec[0].shape.is_compatible_with(batch_shape)
        ):
            raise ValueError(
                f"{name} must yield batches of (images {batch_shape}, labels). Received: {spec}"
            )
        return data, data
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ValueError(
            f"{name} must be a tf.data.Dataset or a tuple (images, labels). Received: {type(data)}"
        )
    images, labels = np.asarray(data[0]), np.asarray(data[1])
    if images.shape[1:] != tuple(model.input_shape[1:]):
        raise ValueError(
            f"{name} images must have shape (n, *{model.input_shape[1:]}). Received: {images.shape}"
        )
    if images.dtype == np.uint8 or (
        images.size and not -1.0 <= images.min() <= images.max() <= 1.0
    ):
        raise ValueError(
            f"{name} images must be preprocessed to [-1, 1] (mobilenet_v2.preprocess_input)."
        )
    num_classes = model.output_shape[-1]
    if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{name} labels must be ints, one per image. Received: labels of shape {labels.shape}"
        )
    if len(labels) and not 0 <= labels.min() <= labels.max() < num_classes:
        raise ValueError(
            f"{name} labels must be in [0, {num_classes}). Received: {sorted(set(labels.tolist()))}"
        )
    slices = tf.data.Dataset.from_tensor_slices(
        (images.astype("float32"), labels.astype("int32"))
    )  # one copy
    return batches(slices, batch_size, seed), batches(slices, batch_size, None)
