"""Data paths: the tf.data pipeline, the flower photos (offline failure, fake download, cache) and random arrays."""

import pathlib
import time

import keras
import numpy as np
import pytest

from helpers.lessons import datasets, network


def _labelled_images(count, size=4):
    """Images whose every pixel equals 10 * label, so a batch shows whether images and labels stay paired."""
    labels = np.arange(count) % 5
    images = np.broadcast_to((10 * labels)[:, None, None, None], (count, size, size, 3)).astype(
        np.uint8
    )
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


@pytest.mark.parametrize(
    ("images", "labels", "keywords", "message"),
    [
        (np.zeros((2, 4, 4)), np.zeros(2, int), {}, r"images.shape=\(2, 4, 4\)"),
        (np.zeros((2, 4, 4, 1)), np.zeros(2, int), {}, r"images.shape=\(2, 4, 4, 1\)"),
        (np.zeros((3, 4, 4, 3)), np.zeros(2, int), {}, r"labels.shape=\(2,\)"),
        (np.zeros((2, 4, 4, 3)), np.array([0, -1]), {}, r"labels.min\(\)=-1"),
        (np.zeros((2, 4, 4, 3)), np.array([0, 6]), {"num_classes": 6}, r"labels.max\(\)=6"),
        (np.zeros((2, 4, 4, 3)), np.array([0, 1]), {"batch_size": 0}, "batch_size=0"),
    ],
)
def test_to_dataset_rejects_bad_input(images, labels, keywords, message):
    with pytest.raises(ValueError, match=message):
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


def _fake_get_file(calls, photos_per_class=5):
    """A stand-in for `keras.utils.get_file` that 'extracts' tiny PNG photos the way Keras 3 lays them out."""

    def get_file(fname, origin, extract, cache_dir):
        calls.append(origin)
        extracted = pathlib.Path(cache_dir) / "datasets" / fname
        for class_index, name in enumerate(datasets.FLOWERS_CLASSES):
            (extracted / "flower_photos" / name).mkdir(parents=True, exist_ok=True)
            for photo in range(photos_per_class):
                pixels = np.full((20, 30, 3), 40 * class_index + photo, dtype=np.uint8)
                keras.utils.save_img(
                    extracted / "flower_photos" / name / f"{photo}.png", pixels, scale=False
                )
        return str(extracted)

    return get_file


def test_load_flowers_with_a_fake_download_then_from_the_cache(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(network, "is_reachable", lambda *args, **kwargs: True)
    monkeypatch.setattr(keras.utils, "get_file", _fake_get_file(calls))
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
    """Without cache_dir, the photos are looked up and downloaded under $KERAS_HOME, as Keras itself does."""
    calls = []
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(network, "is_reachable", lambda *args, **kwargs: True)
    monkeypatch.setattr(keras.utils, "get_file", _fake_get_file(calls))
    folder = datasets.download_flowers()
    assert folder.is_relative_to(tmp_path) and calls == [datasets.FLOWERS_URL]


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"image_size": 16}, "image_size=16"),
        ({"validation_fraction": 1.0}, "validation_fraction=1.0"),
    ],
)
def test_load_flowers_rejects_bad_arguments(keywords, message):
    with pytest.raises(ValueError, match=message):
        datasets.load_flowers(**keywords)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_images_are_repeatable_and_in_range(seed):
    images, labels = datasets.random_images(6, image_size=5, num_classes=3, seed=seed)
    again, again_labels = datasets.random_images(6, image_size=5, num_classes=3, seed=seed)
    assert images.shape == (6, 5, 5, 3) and images.dtype == np.uint8
    assert labels.dtype == np.int32 and set(labels.tolist()) <= {0, 1, 2}
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, again_labels)


@pytest.mark.parametrize(
    ("keywords", "message"), [({"count": 0}, "count=0"), ({"num_classes": 0}, "num_classes=0")]
)
def test_random_images_reject_bad_arguments(keywords, message):
    with pytest.raises(ValueError, match=message):
        datasets.random_images(**{"count": 2, **keywords})
