"""The offline target task of lessons 04 and 05: target train, validation and test images, a source test set.

Drawn from the shapes task (`shapes_data`): 4 target classes the bundled base never saw, and the 6 source
classes it was pretrained on, to measure what fine-tuning forgets. Images are preprocessed to [-1, 1] as
MobileNetV2 expects.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from helpers.lessons import shapes_data

NUM_CLASSES = len(shapes_data.TARGET_CLASSES)  # the target task's classes


@dataclasses.dataclass
class TaskData:
    """Images preprocessed to [-1, 1] with int labels: target train and test sets, a source test set."""

    train: tuple[np.ndarray, np.ndarray]
    target_test: tuple[np.ndarray, np.ndarray]
    source_test: tuple[np.ndarray, np.ndarray]


def prepare_data(
    images_per_class: int,
    test_count: int = 200,
    source_count: int = 300,
    image_size: int = 96,
    seed: int = 0,
) -> TaskData:
    """Draws target train and test images and source test images, preprocessed as MobileNetV2 expects.

    Args:
        images_per_class: int, training images per target class (>= 1).
        test_count, source_count: int, target and source test images. Default to 200 and 300.
        image_size, seed: int, the height and width (>= 32), the data seed. Default to 96 (the base's size) and 0.

    Returns:
        A `TaskData`.

    Raises:
        ValueError: if an argument is out of range (see `shapes_data.make_images`).

    Example:

    >>> [array.shape for array in prepare_data(2, test_count=4, source_count=6, image_size=32).train]
    [(8, 32, 32, 3), (8,)]
    """
    if (
        isinstance(images_per_class, bool)
        or not isinstance(images_per_class, int)
        or images_per_class < 1
    ):
        raise ValueError(
            f"images_per_class must be an int >= 1. Received: images_per_class={images_per_class!r}"
        )
    train_count = images_per_class * NUM_CLASSES
    sets = (
        ("target", "train", train_count),
        ("target", "test", test_count),
        ("source", "test", source_count),
    )
    drawn = [
        shapes_data.make_images(task, split, count, image_size, seed) for task, split, count in sets
    ]
    return TaskData(
        *[(images.astype("float32") / 127.5 - 1.0, labels) for images, labels in drawn]
    )  # preprocess_input
