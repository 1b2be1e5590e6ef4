"""Training inputs (helpers/training_inputs.py): data is checked against the model, then batched and shuffled."""

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


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_batches_reshuffle_every_epoch_in_the_same_order_for_the_same_seed(seed):
    first = training_inputs.batches(tf.data.Dataset.range(20), batch_size=4, seed=seed)
    second = training_inputs.batches(
        tf.data.Dataset.range(20), batch_size=4, seed=seed
    )  # e.g. cached features
    epochs = [[value for batch in first for value in batch.numpy().tolist()] for _ in range(2)]
    assert epochs[0] != epochs[1] and sorted(epochs[0]) == sorted(epochs[1]) == list(range(20))
    assert [
        [value for batch in second for value in batch.numpy().tolist()] for _ in range(2)
    ] == epochs


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
    assert sorted(map(tuple, shuffled_images[:, 0, 0])) == sorted(
        map(tuple, images.astype("float32")[:, 0, 0])
    )
    assert not np.array_equal(shuffled_images, images.astype("float32"))  # really shuffled


def test_prepare_passes_datasets_and_none_through(model):
    images, labels = make_data(0)
    dataset = tf.data.Dataset.from_tensor_slices((images.astype("float32"), labels)).batch(5)
    assert training_inputs.prepare(dataset, "train_data", model, 4, 0) == (dataset, dataset)
    assert training_inputs.prepare(None, "validation_data", model, 4, None) == (None, None)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            [1, 2, 3],
            "train_data must be a tf.data.Dataset or a tuple (images, labels). Received: <class 'list'>",
        ),
        (
            (np.zeros((2, 5, 4, 3)), np.zeros(2, int)),
            "train_data images must have shape (n, *(4, 4, 3))",
        ),
        ((np.zeros((2, 4, 4, 3), np.uint8), np.zeros(2, int)), "must be preprocessed to [-1, 1]"),
        ((np.full((2, 4, 4, 3), 255.0), np.zeros(2, int)), "must be preprocessed to [-1, 1]"),
        (
            (np.zeros((2, 4, 4, 3)), np.zeros(3, int)),
            "labels must be ints, one per image. Received: labels of shape",
        ),
        ((np.zeros((2, 4, 4, 3)), np.array([0.0, 1.0])), "train_data labels must be ints"),
        (
            (np.zeros((2, 4, 4, 3)), np.array([0, 3])),
            "train_data labels must be in [0, 3). Received: [0, 3]",
        ),
        ((np.zeros((2, 4, 4, 3)), np.array([-1, 0])), "Received: [-1, 0]"),
        (
            tf.data.Dataset.range(3),
            "train_data must yield batches of (images (None, 4, 4, 3), labels)",
        ),
        (
            tf.data.Dataset.from_tensor_slices((np.zeros((2, 5, 5, 3), "float32"), [0, 1])).batch(
                2
            ),
            "train_data must yield batches of (images (None, 4, 4, 3), labels)",
        ),
    ],
)
def test_prepare_rejects_bad_data_naming_it(model, data, message):
    with pytest.raises(ValueError) as error:
        training_inputs.prepare(data, "train_data", model, batch_size=4, seed=0)
    assert message in str(error.value)
