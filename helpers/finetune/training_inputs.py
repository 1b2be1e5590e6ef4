"""Training data for fine-tuning: checked against the model first, then batched (lessons 03-05).

`two_phase.fine_tune` accepts arrays or a `tf.data.Dataset`; a wrong shape, raw uint8 pixels, NaN
images or a label outside the classes fails here with a message naming the argument, before any
training starts.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from helpers.finetune import validation

DATA_WANTED = "a tf.data.Dataset or a tuple (images, labels)"


def batches(slices: tf.data.Dataset, batch_size: int, seed: int | None) -> tf.data.Dataset:
    """Batches a dataset of single examples, reshuffled every epoch with `seed` (`None`: in order).

    The same `seed` gives the same order for images and for their cached features, epoch after
    epoch.

    Args:
        slices: tf.data.Dataset, one example per element (finite, e.g. `from_tensor_slices`).
        batch_size: int >= 1, the batch size.
        seed: int >= 0 or None, the shuffling seed; `None` keeps the order.

    Returns:
        A batched, prefetched `tf.data.Dataset`.

    Raises:
        ValueError: naming the argument, for anything else.

    Example:

    >>> [batch.numpy().tolist() for batch in batches(tf.data.Dataset.range(5), 2, None)]
    [[0, 1], [2, 3], [4]]
    """
    validation.check_instance("slices", slices, tf.data.Dataset, "a tf.data.Dataset")
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    seed = validation.check_optional_int("seed", seed, minimum=0)
    if seed is not None:
        slices = slices.shuffle(slices.cardinality(), seed=seed, reshuffle_each_iteration=True)
    return slices.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def prepare(
    data: object, name: str, model: keras.Model, batch_size: int, seed: int | None
) -> tuple[tf.data.Dataset | None, tf.data.Dataset | None]:
    """Checks training or validation data against `model` and returns it as batches.

    A dataset's first batch is read to check it (`validation.check_dataset`); arrays are checked
    whole.

    Args:
        data: a `tf.data.Dataset` of `(images, labels)` batches (passed through as it is), a tuple
            `(images, labels)` of arrays (images preprocessed to [-1, 1], int labels), or `None`.
        name: str, the argument's name for error messages, e.g. `"train_data"`.
        model: keras.Model, whose input shape and number of outputs the data must fit.
        batch_size: int >= 1, the batch size for arrays.
        seed: int >= 0 or None, reshuffles arrays every epoch; `None` keeps their order.

    Returns:
        `(batches, ordered_batches)`: two datasets of `(images, labels)` batches, the second never
        shuffled (for computing features once); `(None, None)` when `data` is `None`.

    Raises:
        ValueError: naming `name` and what was received, for a wrong type, no examples, a wrong
            image shape, raw or NaN pixels, a label count or fractional labels that do not fit, or
            a label outside `[0, model.output_shape[-1])`.

    Example:

    >>> import numpy as np
    >>> layers = [keras.Input((2, 2, 3)), keras.layers.Flatten(), keras.layers.Dense(2)]
    >>> model = keras.Sequential(layers)
    >>> images = np.zeros((3, 2, 2, 3))
    >>> train, ordered = prepare((images, np.array([0, 1, 1])), "train_data", model, 2, None)
    >>> [labels.numpy().tolist() for _, labels in ordered]
    [[0, 1], [1]]
    >>> prepare((images, np.array([0, 1, 2])), "train_data", model, 2, None)
    Traceback (most recent call last):
    ...
    ValueError: train_data labels must be in [0, 2). Received: train_data labels with values [2]
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    seed = validation.check_optional_int("seed", seed, minimum=0)
    if data is None:
        return None, None
    image_shape = model.input_shape[1:]
    num_classes = model.output_shape[-1]
    if isinstance(data, tf.data.Dataset):
        validation.check_dataset(name, data, image_shape=image_shape, num_classes=num_classes)
        return data, data
    images, labels = validation.check_pair(name, data, DATA_WANTED)
    images = validation.check_images(f"{name} images", images, image_shape=image_shape)
    labels = validation.check_labels(f"{name} labels", labels, num_classes, count=len(images))
    # One copy of the arrays, read in two orders.
    slices = tf.data.Dataset.from_tensor_slices((images, labels))
    return batches(slices, batch_size, seed), batches(slices, batch_size, None)
