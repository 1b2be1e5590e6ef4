"""The target task: the offline shapes (lessons 04-06), the flowers online (lesson 06), checks."""

import re

import keras
import numpy as np
import pytest

from helpers.lessons import datasets, network, shapes_data, target_task
from tests import fake_flowers

SIZE = 32  # the smallest image size: keeps every test fast


def tiny_data(seed: int = 0, **arguments) -> target_task.TaskData:
    sizes = {"images_per_class": 2, "test_count": 6, "source_count": 12, "image_size": SIZE}
    return target_task.prepare_data(**{**sizes, "seed": seed, **arguments})


def test_num_classes_is_the_number_of_target_classes():
    assert target_task.NUM_CLASSES == len(shapes_data.TARGET_CLASSES) == 4


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_set_has_the_requested_shape_and_label_range(seed):
    data = tiny_data(seed)
    expected = {
        "train": (8, target_task.NUM_CLASSES),
        "target_test": (6, target_task.NUM_CLASSES),
        "source_test": (12, shapes_data.NUM_SOURCE_CLASSES),
    }
    for name, (count, num_classes) in expected.items():
        images, labels = getattr(data, name)
        assert images.shape == (count, SIZE, SIZE, 3) and images.dtype == np.float32, name
        assert labels.shape == (count,) and labels.dtype == np.int32, name
        assert labels.min() >= 0 and labels.max() < num_classes, name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_images_are_the_shapes_task_preprocessed_like_keras(seed):
    data = tiny_data(seed, images_per_class=3)
    pixels, labels = shapes_data.make_images("target", "train", 12, SIZE, seed)
    expected = keras.applications.mobilenet_v2.preprocess_input(pixels.astype("float32"))
    np.testing.assert_allclose(data.train[0], expected, atol=1e-6)
    np.testing.assert_allclose(data.train[0], pixels / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(data.train[1], labels)
    assert data.train[0].min() >= -1.0 and data.train[0].max() <= 1.0


def test_training_classes_are_balanced():
    data = tiny_data(images_per_class=3)
    assert np.bincount(data.train[1]).tolist() == [3] * target_task.NUM_CLASSES


def test_the_same_seed_gives_the_same_data_and_another_does_not():
    first, again, other = tiny_data(5), tiny_data(5), tiny_data(6)
    np.testing.assert_array_equal(first.target_test[0], again.target_test[0])
    assert not np.array_equal(first.target_test[0], other.target_test[0])


def test_numpy_scalars_work_like_python_ints():
    from_numpy = target_task.prepare_data(
        np.int64(2),
        test_count=np.int32(6),
        source_count=np.int64(12),
        image_size=np.int64(SIZE),
        seed=np.int64(1),
    )
    from_python = tiny_data(1)
    for name in ("train", "target_test", "source_test"):
        np.testing.assert_array_equal(getattr(from_numpy, name)[0], getattr(from_python, name)[0])


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"images_per_class": 0},
            "images_per_class must be an int >= 1. Received: images_per_class=0",
        ),
        (
            {"images_per_class": 2.0},
            "images_per_class must be an int >= 1. Received: images_per_class=2.0",
        ),
        (
            {"images_per_class": True},
            "images_per_class must be an int >= 1. Received: images_per_class=True",
        ),
        ({"test_count": 0}, "test_count must be an int >= 1. Received: test_count=0"),
        ({"source_count": -3}, "source_count must be an int >= 1. Received: source_count=-3"),
        ({"image_size": 16}, "image_size must be an int >= 32. Received: image_size=16"),
        ({"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
        ({"seed": "0"}, "seed must be an int >= 0. Received: seed='0'"),
        ({"ood_count": -1}, "ood_count must be an int >= 0. Received: ood_count=-1"),
        ({"ood_count": 2.5}, "ood_count must be an int >= 0. Received: ood_count=2.5"),
        ({"ood_count": None}, "ood_count must be an int >= 0. Received: ood_count=None"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_argument(arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        tiny_data(**arguments)


def test_no_ood_test_set_unless_asked():
    assert tiny_data().ood_test is None
    assert tiny_data(ood_count=0).ood_test is None


@pytest.mark.parametrize("seed", [0, 1])
def test_the_ood_test_set_is_the_shifted_target_test_preprocessed(seed):
    data = tiny_data(seed, ood_count=8)
    pixels, labels = shapes_data.make_images("target", "test", 8, SIZE, seed, shifted=True)
    images, ood_labels = data.ood_test
    assert images.shape == (8, SIZE, SIZE, 3) and images.dtype == np.float32
    assert ood_labels.dtype == np.int32
    assert np.bincount(ood_labels).tolist() == [2] * target_task.NUM_CLASSES
    np.testing.assert_allclose(images, pixels / 127.5 - 1.0, atol=1e-6)
    np.testing.assert_array_equal(ood_labels, labels)
    # Asking for it changes no other set.
    without = tiny_data(seed)
    for name in ("train", "validation", "target_test", "source_test"):
        np.testing.assert_array_equal(getattr(data, name)[0], getattr(without, name)[0])


def test_task_data_built_by_position_keeps_its_fields():
    pair = (np.zeros((1, SIZE, SIZE, 3), "float32"), np.zeros(1, "int32"))
    data = target_task.TaskData(pair, pair, pair, None, 5)
    assert data.num_classes == 5 and data.source_test is None and data.ood_test is None


def test_the_flowers_make_the_same_splits_without_a_source_task(tmp_path, monkeypatch):
    monkeypatch.setattr(network, "is_reachable", lambda *args, **kwargs: True)
    monkeypatch.setattr(keras.utils, "get_file", fake_flowers.fake_get_file([], 10))
    data = target_task.prepare_flowers(
        2, validation_count=4, test_count=5, image_size=SIZE, cache_dir=str(tmp_path)
    )
    assert data.num_classes == len(datasets.FLOWERS_CLASSES) == 5
    assert data.source_test is None and data.ood_test is None
    assert np.bincount(data.train[1]).tolist() == [2] * 5
    assert [len(labels) for _, labels in (data.validation, data.target_test)] == [4, 5]
    for images, labels in (data.train, data.validation, data.target_test):
        assert images.shape[1:] == (SIZE, SIZE, 3) and images.dtype == np.float32
        assert images.min() >= -1.0 and images.max() <= 1.0
        assert labels.dtype == np.int32
    # Every fake photo of class k has pixel values 40 * k + (0..9): the labels follow the photos.
    pixels = np.round((data.train[0][:, 0, 0, 0] + 1) * 127.5).astype(int)
    assert np.all((pixels - 40 * data.train[1] >= 0) & (pixels - 40 * data.train[1] < 10))


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"images_per_class": 9}, "the training photos of 'daisy'. Received: images_per_class=9"),
        ({"validation_count": 6, "test_count": 6}, "must be at most 10, the held-out photos"),
        ({"images_per_class": 0}, "Received: images_per_class=0"),
        ({"test_count": True}, "Received: test_count=True"),
    ],
)
def test_the_flowers_reject_counts_they_cannot_fill(tmp_path, monkeypatch, arguments, message):
    monkeypatch.setattr(network, "is_reachable", lambda *args, **kwargs: True)
    monkeypatch.setattr(keras.utils, "get_file", fake_flowers.fake_get_file([], 10))
    settings = {"images_per_class": 2, "validation_count": 4, "test_count": 4, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        target_task.prepare_flowers(**settings, image_size=SIZE, cache_dir=str(tmp_path))


def test_the_flowers_fail_within_seconds_offline(tmp_path, monkeypatch):
    monkeypatch.setattr(network, "is_reachable", lambda *args, **kwargs: False)
    with pytest.raises(ConnectionError):
        target_task.prepare_flowers(2, image_size=SIZE, cache_dir=str(tmp_path))
