"""Training inputs (helpers/finetune/training_inputs.py): data checked against the model."""

import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import training_inputs

NUM_CLASSES = 3


@pytest.fixture(scope="module")
def model():
    return keras.Sequential(
        [keras.Input((4, 4, 3)), keras.layers.Flatten(), keras.layers.Dense(NUM_CLASSES)]
    )


def make_data(seed, count=10):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1.0, 1.0, size=(count, 4, 4, 3)), np.arange(count) % NUM_CLASSES


def epoch_order(dataset):
    return np.concatenate([np.asarray(labels) for *_, labels in dataset]).tolist()


def test_batches_keep_order_without_seed():
    dataset = training_inputs.batches(tf.data.Dataset.range(7), batch_size=3, seed=None)
    assert [batch.numpy().tolist() for batch in dataset] == [[0, 1, 2], [3, 4, 5], [6]]


def one_epoch(dataset):
    return [value for batch in dataset for value in batch.numpy().tolist()]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batches_reshuffle_every_epoch_in_the_same_order_for_the_same_seed(seed):
    first = training_inputs.batches(tf.data.Dataset.range(20), batch_size=4, seed=seed)
    # A second dataset with the same seed, e.g. the cached features of the first one's images.
    second = training_inputs.batches(tf.data.Dataset.range(20), batch_size=4, seed=seed)
    epochs = [one_epoch(first) for _ in range(2)]
    assert epochs[0] != epochs[1] and sorted(epochs[0]) == sorted(epochs[1]) == list(range(20))
    assert [one_epoch(second) for _ in range(2)] == epochs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_prepare_arrays_gives_float32_int32_batches_shuffled_and_in_order(model, seed):
    images, labels = make_data(seed)
    shuffled, ordered = training_inputs.prepare(
        (images, labels), "train_data", model, batch_size=4, seed=seed
    )
    batch_images, batch_labels = next(iter(ordered))
    assert batch_images.dtype == tf.float32 and batch_labels.dtype == tf.int32
    np.testing.assert_allclose(
        np.concatenate([np.asarray(x) for x, _ in ordered]), images.astype("float32")
    )
    assert epoch_order(ordered) == labels.tolist()
    shuffled_images = np.concatenate([np.asarray(x) for x, _ in shuffled])
    first_pixels = sorted(map(tuple, images.astype("float32")[:, 0, 0]))
    assert sorted(map(tuple, shuffled_images[:, 0, 0])) == first_pixels
    # Really shuffled.
    assert not np.array_equal(shuffled_images, images.astype("float32"))


def test_prepare_passes_datasets_and_none_through(model):
    images, labels = make_data(0)
    dataset = tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels)).batch(5)
    assert training_inputs.prepare(dataset, "train_data", model, 4, 0) == (dataset, dataset)
    assert training_inputs.prepare(None, "validation_data", model, 4, None) == (None, None)


def dataset_of(images, labels, batch_size=2):
    return tf.data.Dataset.from_tensor_slices((images, labels)).batch(batch_size)


GOOD_IMAGES = np.zeros((2, 4, 4, 3), "float32")
NAN_IMAGES = np.where(np.arange(2 * 4 * 4 * 3).reshape(2, 4, 4, 3) == 5, np.nan, 0.0)
NAN_MESSAGE = (
    "train_data images must be finite. Received: train_data images with 1 NaN or inf values"
)
WANTED = "train_data must be a tf.data.Dataset or a tuple (images, labels)."
RAW_PIXELS = (
    "train_data images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input), "
    "not raw pixels. Received: train_data images of dtype uint8"
)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1, 2, 3], f"{WANTED} Received: a list of 3 items"),
        ((GOOD_IMAGES, [0, 1], [1.0, 1.0]), f"{WANTED} Received: a tuple of 3 items"),
        ("images.npy", f"{WANTED} Received: train_data='images.npy'"),
        (
            (np.zeros((2, 5, 4, 3)), np.zeros(2, int)),
            "train_data images must have shape (n, 4, 4, 3). "
            "Received: train_data images of shape (2, 5, 4, 3)",
        ),
        (
            (np.zeros((0, 4, 4, 3)), np.zeros(0, int)),
            "train_data images must hold at least one image. "
            "Received: train_data images of shape (0, 4, 4, 3)",
        ),
        ((np.zeros((2, 4, 4, 3), np.uint8), np.zeros(2, int)), RAW_PIXELS),
        (
            (np.full((2, 4, 4, 3), 255.0), np.zeros(2, int)),
            "train_data images must be preprocessed to [-1, 1] (mobilenet_v2.preprocess_input). "
            "Received: train_data images with values from 255 to 255",
        ),
        (
            (NAN_IMAGES, np.zeros(2, int)),
            NAN_MESSAGE,
        ),
        (
            (GOOD_IMAGES, np.zeros(3, int)),
            "train_data labels must hold one label per example (2). Received: 3 labels",
        ),
        (
            (GOOD_IMAGES, np.array([0.5, 1.0])),
            "train_data labels must be whole class indices (ints). "
            "Received: train_data labels with values [0.5]",
        ),
        (
            (GOOD_IMAGES, np.array([0, 3])),
            "train_data labels must be in [0, 3). Received: train_data labels with values [3]",
        ),
        (
            (GOOD_IMAGES, np.array([-1, 0])),
            "train_data labels must be in [0, 3). Received: train_data labels with values [-1]",
        ),
        (
            tf.data.Dataset.range(3),
            "train_data must yield (images, labels) batches. Received: elements",
        ),
        (
            dataset_of(np.zeros((2, 5, 5, 3), "float32"), [0, 1]),
            "train_data images must have shape (n, 4, 4, 3). "
            "Received: train_data images of shape (2, 5, 5, 3)",
        ),
        (dataset_of(np.zeros((2, 4, 4, 3), np.uint8), [0, 1]), RAW_PIXELS),
        (
            dataset_of(NAN_IMAGES.astype("float32"), [0, 1]),
            NAN_MESSAGE,
        ),
        (
            dataset_of(GOOD_IMAGES, [0.0, 0.5]),
            "train_data labels must be whole class indices (ints). "
            "Received: train_data labels with values [0.5]",
        ),
        (
            dataset_of(GOOD_IMAGES, [0, 7]),
            "train_data labels must be in [0, 3). Received: train_data labels with values [7]",
        ),
        (
            dataset_of(GOOD_IMAGES, [0, 1]).filter(lambda images, labels: False),
            "train_data must hold at least one batch. Received: an empty dataset",
        ),
    ],
)
def test_prepare_rejects_bad_data_naming_it(model, data, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        training_inputs.prepare(data, "train_data", model, batch_size=4, seed=0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1. Received: batch_size=0"),
        ({"batch_size": 2.0}, "batch_size must be an int >= 1. Received: batch_size=2.0"),
        ({"seed": -1}, "seed must be None or an int >= 0. Received: seed=-1"),
        ({"model": "mobilenet"}, "model must be a keras.Model. Received: model='mobilenet'"),
    ],
)
def test_prepare_rejects_bad_arguments_naming_them(model, arguments, message):
    arguments = {"data": make_data(0), "name": "train_data", "model": model, **arguments}
    arguments = {"batch_size": 4, "seed": 0, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        training_inputs.prepare(**arguments)


def test_prepare_accepts_whole_float_labels_as_class_indices(model):
    images, _ = make_data(0, count=3)
    _, ordered = training_inputs.prepare(
        (images, np.array([0.0, 2.0, 1.0])), "train_data", model, 4, None
    )
    assert epoch_order(ordered) == [0, 2, 1]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"batch_size": 0}, "batch_size must be an int >= 1. Received: batch_size=0"),
        ({"seed": 1.5}, "seed must be None or an int >= 0. Received: seed=1.5"),
        ({"slices": [1, 2]}, "slices must be a tf.data.Dataset. Received: slices=[1, 2]"),
    ],
)
def test_batches_rejects_bad_arguments_naming_them(arguments, message):
    arguments = {"slices": tf.data.Dataset.range(4), "batch_size": 2, "seed": 0, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        training_inputs.batches(**arguments)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_scalars_work_like_python_numbers(model, seed):
    data = make_data(seed)
    python = training_inputs.prepare(data, "train_data", model, batch_size=4, seed=seed)
    numpy = training_inputs.prepare(data, "train_data", model, np.int64(4), np.int64(seed))
    for python_batches, numpy_batches in zip(python, numpy, strict=True):
        assert epoch_order(python_batches) == epoch_order(numpy_batches)
