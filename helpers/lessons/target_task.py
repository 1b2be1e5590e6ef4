"""The offline target task: target train, validation and test images and a source test set.

Drawn from the shapes task (`shapes_data`): 4 target classes the bundled base never saw, and the
6 source classes it was pretrained on, to measure what fine-tuning forgets. Images are
preprocessed to [-1, 1] as MobileNetV2 expects. `NUM_CLASSES` is the target task's class count,
the one constant every lesson and helper uses for the head's units.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from helpers.finetune import validation
from helpers.lessons import shapes_data

NUM_CLASSES = len(shapes_data.TARGET_CLASSES)  # 4: hexagon, heart, crescent, arrow


@dataclasses.dataclass
class TaskData:
    """Images preprocessed to [-1, 1] with int32 labels: target train, validation and test, and
    source test.

    Rates and other choices are made on `validation`; `target_test` only reports the chosen
    run, so the reported accuracy is not flattered by the choice. Each field is an `(images,
    labels)` pair: float32 images `(n, image_size, image_size, 3)` and labels `(n,)`, target
    labels in `[0, NUM_CLASSES)`, source labels in `[0, shapes_data.NUM_SOURCE_CLASSES)`.
    """

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    target_test: tuple[np.ndarray, np.ndarray]
    source_test: tuple[np.ndarray, np.ndarray]


def prepare_data(
    images_per_class: int,
    validation_count: int = 200,
    test_count: int = 200,
    source_count: int = 300,
    image_size: int = 96,
    seed: int = 0,
) -> TaskData:
    """Draws target train, validation and test images and source test images for MobileNetV2.

    Args:
        images_per_class: int >= 1, training images per target class.
        validation_count: int >= 1, target validation images, to choose on. Defaults to 200.
        test_count: int >= 1, target test images. Defaults to 200.
        source_count: int >= 1, source test images. Defaults to 300.
        image_size: int >= 32, the height and width. Defaults to 96 (the bundled base's size).
        seed: int >= 0, the data seed. Defaults to 0.

    Returns:
        A `TaskData`.

    Raises:
        ValueError: naming the argument, if one is not an int in its range.

    Example:

    >>> data = prepare_data(2, validation_count=4, test_count=4, source_count=6, image_size=32)
    >>> [array.shape for array in data.train], data.validation[0].shape
    ([(8, 32, 32, 3), (8,)], (4, 32, 32, 3))
    """
    images_per_class = validation.check_int("images_per_class", images_per_class, minimum=1)
    validation_count = validation.check_int("validation_count", validation_count, minimum=1)
    test_count = validation.check_int("test_count", test_count, minimum=1)
    source_count = validation.check_int("source_count", source_count, minimum=1)
    image_size = validation.check_int(
        "image_size", image_size, minimum=shapes_data.MINIMUM_IMAGE_SIZE
    )
    seed = validation.check_int("seed", seed, minimum=0)
    sets = (
        ("target", "train", images_per_class * NUM_CLASSES),
        ("target", "validation", validation_count),
        ("target", "test", test_count),
        ("source", "test", source_count),
    )
    preprocess = keras.applications.mobilenet_v2.preprocess_input  # uint8 pixels to [-1, 1]
    prepared = []
    for task, split, count in sets:
        pixels, labels = shapes_data.make_images(task, split, count, image_size, seed)
        prepared.append((preprocess(pixels.astype("float32")), labels))
    return TaskData(*prepared)
