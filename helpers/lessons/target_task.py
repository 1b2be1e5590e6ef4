"""The offline target task: target train, validation and test images and a source test set.

Drawn from the shapes task (`shapes_data`): 4 target classes the bundled base never saw, and the
6 source classes it was pretrained on, to measure what fine-tuning forgets. Images are
preprocessed to [-1, 1] as MobileNetV2 expects. `NUM_CLASSES` is the target task's class count,
the one constant every lesson and helper uses for the head's units. Online, `prepare_flowers`
makes the same splits from the TF flower photos, for a base pretrained on ImageNet (lesson 06);
it has no source test set, since ImageNet's images are not part of the course.

For lesson 07, `prepare_data(..., ood_count=n)` adds an out-of-distribution (OOD) test set: target
test images drawn under the shapes' distribution shift (`shapes_data.make_images(...,
shifted=True)`: the same classes on striped or checked backgrounds). Accuracy on it measures how
well the features carry over to images unlike those trained on.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

from helpers.finetune import validation
from helpers.lessons import datasets, shapes_data

NUM_CLASSES = len(shapes_data.TARGET_CLASSES)  # 4: hexagon, heart, crescent, arrow


@dataclasses.dataclass
class TaskData:
    """Images preprocessed to [-1, 1] with int32 labels: target train, validation and test, source
    test, and an optional out-of-distribution target test.

    Rates and other choices are made on `validation`; `target_test` only reports the chosen
    run, so the reported accuracy is not flattered by the choice. Each field is an `(images,
    labels)` pair: float32 images `(n, image_size, image_size, 3)` and labels `(n,)`, target
    labels in `[0, NUM_CLASSES)`, source labels in `[0, shapes_data.NUM_SOURCE_CLASSES)`.
    `ood_test` holds target test images under a distribution shift (lesson 07), or `None`.
    """

    train: tuple[np.ndarray, np.ndarray]
    validation: tuple[np.ndarray, np.ndarray]
    target_test: tuple[np.ndarray, np.ndarray]
    # None when the source task's images are not available (the flowers: ImageNet's are not).
    source_test: tuple[np.ndarray, np.ndarray] | None = None
    num_classes: int = NUM_CLASSES  # the target task's classes: the head's units
    # The shifted target test set (`shapes_data.make_images(..., shifted=True)`), or None. Last,
    # so that positional construction keeps its meaning.
    ood_test: tuple[np.ndarray, np.ndarray] | None = None


def prepare_data(
    images_per_class: int,
    validation_count: int = 200,
    test_count: int = 200,
    source_count: int = 300,
    image_size: int = 96,
    seed: int = 0,
    ood_count: int = 0,
) -> TaskData:
    """Draws target train, validation and test images and source test images for MobileNetV2.

    With `ood_count` > 0 it also draws an out-of-distribution target test set: the target classes
    under the shapes' distribution shift (`shapes_data.make_images(..., shifted=True)`), which
    lesson 07 uses to compare linear probing, fine-tuning and LP-FT beyond the training
    distribution. The other sets do not depend on `ood_count`.

    Args:
        images_per_class: int >= 1, training images per target class.
        validation_count: int >= 1, target validation images, to choose on. Defaults to 200.
        test_count: int >= 1, target test images. Defaults to 200.
        source_count: int >= 1, source test images. Defaults to 300.
        image_size: int >= 32, the height and width. Defaults to 96 (the bundled base's size).
        seed: int >= 0, the data seed. Defaults to 0.
        ood_count: int >= 0, shifted target test images in `TaskData.ood_test`; 0 leaves it
            `None`. Defaults to 0.

    Returns:
        A `TaskData`.

    Raises:
        ValueError: naming the argument, if one is not an int in its range.

    Example:

    >>> data = prepare_data(2, validation_count=4, test_count=4, source_count=6, image_size=32)
    >>> [array.shape for array in data.train], data.validation[0].shape
    ([(8, 32, 32, 3), (8,)], (4, 32, 32, 3))
    >>> data.ood_test is None
    True
    >>> shifted = prepare_data(2, 4, 4, 6, image_size=32, ood_count=4)
    >>> shifted.ood_test[0].shape
    (4, 32, 32, 3)
    """
    images_per_class = validation.check_int("images_per_class", images_per_class, minimum=1)
    validation_count = validation.check_int("validation_count", validation_count, minimum=1)
    test_count = validation.check_int("test_count", test_count, minimum=1)
    source_count = validation.check_int("source_count", source_count, minimum=1)
    image_size = validation.check_int(
        "image_size", image_size, minimum=shapes_data.MINIMUM_IMAGE_SIZE
    )
    seed = validation.check_int("seed", seed, minimum=0)
    ood_count = validation.check_int("ood_count", ood_count, minimum=0)
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
    ood_test = None
    if ood_count > 0:
        pixels, labels = shapes_data.make_images(
            "target", "test", ood_count, image_size, seed, shifted=True
        )
        ood_test = (preprocess(pixels.astype("float32")), labels)
    return TaskData(*prepared, ood_test=ood_test)


def prepare_flowers(
    images_per_class: int,
    validation_count: int = 200,
    test_count: int = 200,
    image_size: int = 96,
    seed: int = 0,
    cache_dir: str | None = None,
) -> TaskData:
    """The flower photos as a target task: a few training photos per class, validation and test.

    The online alternative to `prepare_data`, for a base pretrained on ImageNet
    (`pretrained.build_mobilenet_v2(..., weights="imagenet")`). Training photos come from the
    photos' training split, `images_per_class` of each of the 5 classes; validation and test
    photos from the held-out split, validation first. There is no source test set.

    Args:
        images_per_class: int >= 1, training photos per class.
        validation_count, test_count: int >= 1, held-out photos to choose on and to report on.
            Default to 200 each.
        image_size: int >= 32, the height and width. Defaults to 96.
        seed: int >= 0, the seed of the photos' split and of the training photos picked.
            Defaults to 0.
        cache_dir: str or None, the Keras cache folder (`datasets.load_flowers`). Defaults to None.

    Returns:
        A `TaskData` with `source_test=None`, `ood_test=None` and `num_classes=5`.

    Raises:
        ConnectionError: if the photos are not cached and the machine is offline (within seconds).
        ValueError: for a bad argument, or too few photos for the counts asked.

    Example:

    >>> data = prepare_flowers(30)  # doctest: +SKIP
    >>> data.train[0].shape, data.num_classes, data.source_test  # doctest: +SKIP
    ((150, 96, 96, 3), 5, None)
    """
    images_per_class = validation.check_int("images_per_class", images_per_class, minimum=1)
    validation_count = validation.check_int("validation_count", validation_count, minimum=1)
    test_count = validation.check_int("test_count", test_count, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    (train_images, train_labels), (held_out_images, held_out_labels), class_names = (
        datasets.load_flowers(image_size, seed=seed, cache_dir=cache_dir)
    )
    generator = np.random.default_rng(seed)
    picked = []
    for label in range(len(class_names)):
        of_class = np.flatnonzero(train_labels == label)
        if len(of_class) < images_per_class:
            raise ValueError(
                f"images_per_class must be at most {len(of_class)}, the training photos of "
                f"{class_names[label]!r}. Received: images_per_class={images_per_class}"
            )
        picked.append(generator.choice(of_class, images_per_class, replace=False))
    picked = np.sort(np.concatenate(picked))
    if validation_count + test_count > len(held_out_labels):
        raise ValueError(
            f"validation_count + test_count must be at most {len(held_out_labels)}, the held-out "
            f"photos. Received: validation_count={validation_count}, test_count={test_count}"
        )
    preprocess = keras.applications.mobilenet_v2.preprocess_input  # uint8 pixels to [-1, 1]

    def prepared(images: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return preprocess(images.astype("float32")), labels.astype("int32")

    end = validation_count + test_count
    return TaskData(
        train=prepared(train_images[picked], train_labels[picked]),
        validation=prepared(held_out_images[:validation_count], held_out_labels[:validation_count]),
        target_test=prepared(
            held_out_images[validation_count:end], held_out_labels[validation_count:end]
        ),
        source_test=None,
        num_classes=len(class_names),
    )
