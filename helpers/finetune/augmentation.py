"""Data augmentation with Keras preprocessing layers, for images in [-1, 1] (lesson 06).

Each epoch sees every training image flipped, rotated, shifted and with its contrast changed at
random: more variety from the same few images. The price: the frozen base's features change with
every augmented image, so phase 1 can no longer train the head on features computed once
(`two_phase.fine_tune` runs the whole model every epoch when given an augmentation).
"""

from __future__ import annotations

import keras

from helpers.finetune import validation

# MobileNetV2's inputs (mobilenet_v2.preprocess_input): RandomContrast clips to this range, and
# its Keras default is (0, 255).
VALUE_RANGE = (-1.0, 1.0)


def build_augmentation(
    rotation: float = 0.05,
    translation: float = 0.1,
    contrast: float = 0.2,
    flip: bool = True,
    seed: int = 0,
) -> keras.Sequential:
    """Returns a `keras.Sequential` of random flip, rotation, translation and contrast.

    The layers change images only when called with `training=True` (as `fine_tune` calls them on
    the training set); at inference they pass images through unchanged.

    Args:
        rotation: float in [0, 0.5], the largest rotation as a fraction of a full turn (0.05:
            up to 18 degrees either way); 0 leaves it out. Defaults to 0.05.
        translation: float in [0, 1), the largest shift as a fraction of the height and width;
            0 leaves it out. Defaults to 0.1.
        contrast: float in [0, 1), the largest contrast change (0.2: a factor in [0.8, 1.2]);
            0 leaves it out. Defaults to 0.2.
        flip: bool, whether to flip left-right at random. Defaults to True.
        seed: int >= 0, seeds each layer. Defaults to 0.

    Returns:
        A `keras.Sequential` named "augmentation" (empty when every option is off).

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> import numpy as np
    >>> augmentation = build_augmentation(seed=1)
    >>> [layer.__class__.__name__ for layer in augmentation.layers]
    ['RandomFlip', 'RandomRotation', 'RandomTranslation', 'RandomContrast']
    >>> images = np.linspace(-1, 1, 2 * 8 * 8 * 3, dtype="float32").reshape(2, 8, 8, 3)
    >>> changed = np.asarray(augmentation(images, training=True))
    >>> bool(np.any(changed != images)), bool(changed.min() >= -1 and changed.max() <= 1)
    (True, True)
    >>> bool(np.all(np.asarray(augmentation(images, training=False)) == images))
    True
    """
    rotation = validation.check_number("rotation", rotation, minimum=0.0, maximum=0.5)
    translation = validation.check_number(
        "translation", translation, minimum=0.0, maximum=1.0, include_maximum=False
    )
    contrast = validation.check_number(
        "contrast", contrast, minimum=0.0, maximum=1.0, include_maximum=False
    )
    flip = validation.check_bool("flip", flip)
    seed = validation.check_int("seed", seed, minimum=0)
    layers = []
    if flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=seed))
    if rotation:
        layers.append(keras.layers.RandomRotation(rotation, seed=seed + 1))
    if translation:
        layers.append(keras.layers.RandomTranslation(translation, translation, seed=seed + 2))
    if contrast:
        layers.append(keras.layers.RandomContrast(contrast, value_range=VALUE_RANGE, seed=seed + 3))
    return keras.Sequential(layers, name="augmentation")
