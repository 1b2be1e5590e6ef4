"""Data paths: the tf.data pipeline, the flower photos (offline, faked, cached), random arrays."""

import re
import time

import keras
import numpy as np
import pytest

from helpers.lessons import datasets, network
from tests import fake_flowers


def _labelled_images(count, size=4):
    """Images whose pixels all equal 10 * label: a batch shows whether images keep their labels."""
    labels = np.arange(count) % 5
    pixels = (10 * labels)[:, None, None, None]
    images = np.broadcast_to(pixels, (count, size, size, 3)).astype(np.uint8)
    return images, labels


def test_to_dataset_preprocesses_like_mobilenet_v2_and_keeps_the_order():
    images, labels = _labelled_images(7)
    batches = list(datasets.to_dataset(images, labels, batch_size=3))
    assert [len(batch_labels) for _, batch_labels in batches] == [3, 3, 1]
    pixels = np.concatenate([batch.numpy() for batch, _ in batches])
    expected = keras.applications.mobilenet_v2.preprocess_input(images.astype("float32"))
    np.testing.assert_allclose(pixels, expected, atol=1e-6)
    np.testing.assert_allclose(pixels, images / 127.5 - 1.0, atol=1e-6)
    assert (
        np.concatenate([batch_labels.numpy() for _, batch_labels in batches]).tolist()
        == labels.tolist()
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_shuffling_reorders_but_keeps_images_with_their_labels(seed):
    images, labels = _labelled_images(40)
    batch, batch_labels = next(
        iter(datasets.to_dataset(images, labels, batch_size=40, shuffle=True, seed=seed))
    )
    batch, batch_labels = batch.numpy(), batch_labels.numpy()
    assert batch_labels.tolist() != labels.tolist()
    assert sorted(batch_labels.tolist()) == sorted(labels.tolist())
    np.testing.assert_allclose((batch[:, 0, 0, 0] + 1.0) * 127.5, 10 * batch_labels, atol=1e-4)


def test_preprocessed_float_images_pass_unchanged():
    """Images already in [-1, 1] are not preprocessed again (that would give [-1, -0.98])."""
    images, labels = _labelled_images(4)
    preprocessed = images / 127.5 - 1.0
    batch, batch_labels = next(iter(datasets.to_dataset(preprocessed, labels, batch_size=4)))
    np.testing.assert_allclose(batch.numpy(), preprocessed, atol=1e-6)
    assert batch.dtype == "float32" and batch_labels.numpy().tolist() == labels.tolist()


def test_whole_float_labels_and_numpy_scalars_are_accepted():
    images, labels = _labelled_images(6)
    dataset = datasets.to_dataset(
        images,
        labels.astype("float64"),
        batch_size=np.int64(4),
        shuffle=np.bool_(False),
        seed=np.int32(1),
        num_classes=np.int64(5),
    )
    batches = list(dataset)
    assert [len(batch_labels) for _, batch_labels in batches] == [4, 2]
    assert batches[0][1].dtype == "int32"
    assert batches[0][1].numpy().tolist() == labels[:4].tolist()


RAW = np.zeros((2, 4, 4, 3), np.uint8)


@pytest.mark.parametrize(
    ("images", "labels", "keywords", "message"),
    [
        (
            np.zeros((2, 4, 4), np.uint8),
            [0, 1],
            {},
            "images must have shape (n, height, width, 3). Received: images of shape (2, 4, 4)",
        ),
        (
            np.zeros((2, 4, 4, 1)),
            [0, 1],
            {},
            "images must have shape (n, height, width, 3). Received: images of shape (2, 4, 4, 1)",
        ),
        (
            np.full((2, 4, 4, 3), 255.0),
            [0, 1],
            {},
            "images must be preprocessed to [-1, 1] (mobilenet_v2.preprocess_input). "
            "Received: images with values from 255 to 255",
        ),
        (
            np.full((2, 4, 4, 3), np.nan),
            [0, 1],
            {},
            "images must be finite. Received: images with 96 NaN or inf values",
        ),
        (
            np.zeros((2, 4, 4, 3), np.uint16),
            [0, 1],
            {},
            "images.dtype must be one of ('uint8', 'float16', 'float32', 'float64'). "
            "Received: images.dtype='uint16'. Did you mean 'uint8'?",
        ),
        (
            np.zeros((2, 4, 4, 3), np.int64),
            [0, 1],
            {},
            "images.dtype must be one of ('uint8', 'float16', 'float32', 'float64'). "
            "Received: images.dtype='int64'",
        ),
        (RAW, [0], {}, "labels must hold one label per example (2). Received: 1 labels"),
        (RAW, [0, -1], {}, "labels must be in [0, ...). Received: labels with values [-1]"),
        (
            RAW,
            [0.5, 1.7],
            {},
            "labels must be whole class indices (ints). Received: labels with values [0.5, 1.7]",
        ),
        (
            RAW,
            [0, 6],
            {"num_classes": 6},
            "labels must be in [0, 6). Received: labels with values [6]",
        ),
        (RAW, [0, 1], {"batch_size": 0}, "batch_size must be an int >= 1. Received: batch_size=0"),
        (
            RAW,
            [0, 1],
            {"batch_size": 32.0},
            "batch_size must be an int >= 1. Received: batch_size=32.0",
        ),
        (RAW, [0, 1], {"shuffle": "yes"}, "shuffle must be True or False. Received: shuffle='yes'"),
        (RAW, [0, 1], {"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
        (
            RAW,
            [0, 1],
            {"num_classes": 0},
            "num_classes must be None or an int >= 1. Received: num_classes=0",
        ),
    ],
)
def test_to_dataset_rejects_bad_input(images, labels, keywords, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        datasets.to_dataset(images, labels, **keywords)


def test_flowers_fail_fast_and_clearly_on_this_offline_machine(tmp_path, monkeypatch):
    host = "storage.googleapis.com"
    if network.is_reachable(host, timeout=3.0):
        pytest.skip(
            "this machine is online; the offline failure is covered by the faked test below"
        )
    monkeypatch.setattr(
        keras.utils, "get_file", lambda *args, **kwargs: pytest.fail("tried to download")
    )
    started = time.monotonic()
    with pytest.raises(ConnectionError, match="offline shapes task"):
        datasets.load_flowers(cache_dir=str(tmp_path))
    assert time.monotonic() - started < 10


def test_flowers_fail_without_downloading_when_the_server_is_unreachable(tmp_path, monkeypatch):
    monkeypatch.setattr(network, "is_reachable", lambda *args, **kwargs: False)
    monkeypatch.setattr(
        keras.utils, "get_file", lambda *args, **kwargs: pytest.fail("tried to download")
    )
    with pytest.raises(ConnectionError, match=r"Cannot reach storage\.googleapis\.com within 3 s"):
        datasets.download_flowers(cache_dir=str(tmp_path))


def test_load_flowers_with_a_fake_download_then_from_the_cache(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(network, "is_reachable", lambda *args, **kwargs: True)
    monkeypatch.setattr(keras.utils, "get_file", fake_flowers.fake_get_file(calls))
    (train_images, train_labels), (validation_images, validation_labels), names = (
        datasets.load_flowers(image_size=32, validation_fraction=0.2, cache_dir=str(tmp_path))
    )
    assert calls == [datasets.FLOWERS_URL]
    assert names == datasets.FLOWERS_CLASSES
    assert train_images.shape == (20, 32, 32, 3) and validation_images.shape == (5, 32, 32, 3)
    assert train_images.dtype == np.uint8 and train_labels.dtype == np.int32
    labels = np.concatenate([train_labels, validation_labels])
    assert np.bincount(labels).tolist() == [5] * 5
    # Every fake photo of class k has pixel values 40 * k + (0..4): the labels follow the folders.
    pixels = np.concatenate([train_images, validation_images])[:, 0, 0, 0].astype(int)
    assert np.all((pixels - 40 * labels >= 0) & (pixels - 40 * labels < 5))
    # Second call: the photos are cached, so neither the network check nor the download runs.
    monkeypatch.setattr(
        network, "is_reachable", lambda *args, **kwargs: pytest.fail("checked the network")
    )
    (again, _), _, _ = datasets.load_flowers(
        image_size=32, validation_fraction=0.2, cache_dir=str(tmp_path)
    )
    assert calls == [datasets.FLOWERS_URL]
    np.testing.assert_array_equal(again, train_images)


def test_flowers_default_cache_is_keras_home(tmp_path, monkeypatch):
    """Without cache_dir, the photos are looked up and downloaded under $KERAS_HOME, as in Keras."""
    calls = []
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(network, "is_reachable", lambda *args, **kwargs: True)
    monkeypatch.setattr(keras.utils, "get_file", fake_flowers.fake_get_file(calls))
    folder = datasets.download_flowers()
    assert folder.is_relative_to(tmp_path) and calls == [datasets.FLOWERS_URL]


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"image_size": 16}, "image_size must be an int >= 32. Received: image_size=16"),
        (
            {"validation_fraction": 1.0},
            "validation_fraction must be a finite number in (0, 1). "
            "Received: validation_fraction=1.0",
        ),
        ({"seed": 1.5}, "seed must be an int >= 0. Received: seed=1.5"),
        (
            {"cache_dir": 3},
            "cache_dir must be None, a str or a path. Received: cache_dir=3",
        ),
    ],
)
def test_load_flowers_rejects_bad_arguments(keywords, message, monkeypatch):
    monkeypatch.setattr(
        network, "is_reachable", lambda *args, **kwargs: pytest.fail("checked the network")
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        datasets.load_flowers(**keywords)


@pytest.mark.parametrize("timeout", [0, -1.0, float("nan"), "3"])
def test_download_flowers_rejects_a_bad_timeout(timeout):
    message = f"timeout must be a positive, finite number. Received: timeout={timeout!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        datasets.download_flowers(timeout=timeout)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_images_are_repeatable_and_in_range(seed):
    images, labels = datasets.random_images(6, image_size=5, num_classes=3, seed=seed)
    again, again_labels = datasets.random_images(6, image_size=5, num_classes=3, seed=seed)
    assert images.shape == (6, 5, 5, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and set(labels.tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"count": 0}, "count must be an int >= 1. Received: count=0"),
        ({"num_classes": 0}, "num_classes must be an int >= 1. Received: num_classes=0"),
        ({"image_size": 2.0}, "image_size must be an int >= 1. Received: image_size=2.0"),
        ({"seed": -3}, "seed must be an int >= 0. Received: seed=-3"),
    ],
)
def test_random_images_reject_bad_arguments(keywords, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        datasets.random_images(**{"count": 2, **keywords})


def test_random_images_accept_numpy_ints():
    images, labels = datasets.random_images(np.int64(3), np.int32(4), np.int64(2), np.int64(0))
    assert images.shape == (3, 4, 4, 3) and labels.shape == (3,)
