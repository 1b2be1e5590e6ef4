"""Augmentation for images in [-1, 1]: which layers, what they change, and bad arguments."""

import re

import keras
import numpy as np
import pytest

from helpers.finetune import augmentation

IMAGES = np.linspace(-1, 1, 4 * 16 * 16 * 3, dtype="float32").reshape(4, 16, 16, 3)


def layer_names(model: keras.Sequential) -> list[str]:
    return [layer.__class__.__name__ for layer in model.layers]


def test_each_option_adds_its_layer_and_zero_leaves_it_out():
    assert layer_names(augmentation.build_augmentation(0, 0, 0, flip=False)) == []
    assert layer_names(augmentation.build_augmentation(0.1, 0, 0, flip=False)) == ["RandomRotation"]
    assert layer_names(augmentation.build_augmentation(0, 0.1, 0, flip=False)) == [
        "RandomTranslation"
    ]
    assert layer_names(augmentation.build_augmentation(0, 0, 0.3, flip=True)) == [
        "RandomFlip",
        "RandomContrast",
    ]


def test_contrast_keeps_mobilenet_inputs_in_their_range():
    # Keras's RandomContrast clips to (0, 255) unless told otherwise: that would zero every
    # negative pixel of a preprocessed image.
    contrast_only = augmentation.build_augmentation(0, 0, 0.5, flip=False, seed=3)
    changed = np.asarray(contrast_only(IMAGES, training=True))
    assert changed.min() >= -1.0 and changed.max() <= 1.0
    assert changed.min() < 0.0
    assert not np.array_equal(changed, IMAGES)


def test_flip_only_mirrors_images_left_right():
    flip_only = augmentation.build_augmentation(0, 0, 0, flip=True, seed=0)
    changed = np.asarray(flip_only(IMAGES, training=True))
    for original, image in zip(IMAGES, changed, strict=True):
        assert np.array_equal(image, original) or np.array_equal(image, original[:, ::-1])
    assert not np.array_equal(changed, IMAGES)


def test_inference_passes_images_through_unchanged():
    layers = augmentation.build_augmentation(seed=5)
    assert np.array_equal(np.asarray(layers(IMAGES, training=False)), IMAGES)


def test_the_same_seed_gives_the_same_first_batch():
    first = augmentation.build_augmentation(seed=7)(IMAGES, training=True)
    second = augmentation.build_augmentation(seed=7)(IMAGES, training=True)
    np.testing.assert_array_equal(np.asarray(first), np.asarray(second))


def test_numpy_scalars_are_accepted():
    layers = augmentation.build_augmentation(np.float32(0.1), np.float64(0.05), 0.0, np.bool_(True))
    assert layer_names(layers) == ["RandomFlip", "RandomRotation", "RandomTranslation"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"rotation": -0.1},
            "rotation must be a finite number in [0, 0.5]. Received: rotation=-0.1",
        ),
        ({"rotation": 0.7}, "Received: rotation=0.7"),
        ({"translation": 1.0}, "Received: translation=1.0"),
        ({"contrast": float("nan")}, "Received: contrast=nan"),
        ({"contrast": True}, "Received: contrast=True"),
        ({"flip": "yes"}, "Received: flip='yes'"),
        ({"seed": -1}, "Received: seed=-1"),
    ],
)
def test_bad_arguments_are_named(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        augmentation.build_augmentation(**arguments)
