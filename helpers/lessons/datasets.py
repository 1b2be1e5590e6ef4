"""Image pipelines (tf.data), the flower photos online (lesson 03) and random smoke-test arrays.

The offline shapes task (`helpers.lessons.shapes_data`) is the default everywhere. Learners with
internet can swap in the TensorFlow flower photos with `load_flowers()`, which fails within
seconds, with a clear message, when the network is unreachable. The seed example's random arrays
stay available as a smoke test (`random_images`).
"""

from __future__ import annotations

import os
import pathlib
import urllib.parse

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import models, validation
from helpers.lessons import network

# The pixel types `to_dataset` takes: raw 8-bit pixels, or floats already preprocessed to [-1, 1].
IMAGE_DTYPES = ("uint8", "float16", "float32", "float64")


def to_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    num_classes: int | None = None,
) -> tf.data.Dataset:
    """Builds a batched `tf.data.Dataset` of MobileNetV2-ready images and int labels.

    Raw uint8 pixels (0 to 255, as `shapes_data.make_images` and `load_flowers` give them) are
    preprocessed batch by batch with `keras.applications.mobilenet_v2.preprocess_input`, which maps
    them to [-1, 1], the range the MobileNetV2 base expects. Float images must already be in
    [-1, 1] and pass unchanged: preprocessing them a second time would squash them into
    [-1, -0.98]. Any other pixel type (uint16, int64) is an error, as are NaN and inf.

    Args:
        images: array `(n, height, width, 3)`, uint8 pixels or floats in [-1, 1].
        labels: array `(n,)` of class indices; whole floats such as `2.0` count as indices.
        batch_size: int >= 1, images per batch. Defaults to 32.
        shuffle: bool, whether to reshuffle the examples every epoch. Defaults to `False`.
        seed: int >= 0, the shuffle seed. Defaults to 0.
        num_classes: int >= 1 or `None`; when given, every label must be below it. Defaults to
            `None`.

    Returns:
        A `tf.data.Dataset` of `(images float32, labels int32)` batches, prefetched.

    Raises:
        ValueError: naming the argument, for images of another pixel type, shape or range, labels
            that are not one class index per image, or a bad `batch_size`, `shuffle`, `seed` or
            `num_classes`.

    Example:

    >>> dataset = to_dataset(np.full((5, 8, 8, 3), 255, np.uint8), np.arange(5), batch_size=2)
    >>> images, labels = next(iter(dataset))
    >>> images.shape.as_list(), float(images.numpy().max()), labels.numpy().tolist()
    ([2, 8, 8, 3], 1.0, [0, 1])
    >>> to_dataset(np.full((2, 8, 8, 3), 255.0), [0, 1])
    Traceback (most recent call last):
    ...
    ValueError: images must be preprocessed to [-1, 1] (mobilenet_v2.preprocess_input).
    Received: images with values from 255 to 255
    """
    images = validation.check_array("images", images, ("n", "height", "width", 3))
    dtype_name = validation.check_choice("images.dtype", images.dtype.name, IMAGE_DTYPES)
    holds_raw_pixels = dtype_name == "uint8"
    if not holds_raw_pixels:
        images = validation.check_images("images", images)
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    shuffle = validation.check_bool("shuffle", shuffle)
    seed = validation.check_int("seed", seed, minimum=0)
    num_classes = validation.check_optional_int("num_classes", num_classes, minimum=1)
    labels = validation.check_labels("labels", labels, num_classes, count=len(images))
    dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if holds_raw_pixels:
        dataset = dataset.map(_preprocess_batch, num_parallel_calls=tf.data.AUTOTUNE)
    return dataset.prefetch(tf.data.AUTOTUNE)


def _preprocess_batch(images: tf.Tensor, labels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Maps a batch of uint8 pixels to MobileNetV2's [-1, 1]; the labels pass unchanged."""
    preprocess = keras.applications.mobilenet_v2.preprocess_input
    return preprocess(tf.cast(images, tf.float32)), labels


FLOWERS_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
)
FLOWERS_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")
OFFLINE_MESSAGE = (
    "Cannot reach {host} within {timeout:g} s, so the flower photos cannot be downloaded. "
    "This machine looks offline: the course's default, the offline shapes task "
    "(`helpers.lessons.shapes_data.make_images`), needs no download."
)


def _find_photos_folder(folder: str | pathlib.Path) -> pathlib.Path | None:
    """Returns the folder (itself or one level down) that holds the class subfolders, or `None`."""
    folder = pathlib.Path(folder)
    for candidate in (folder, *sorted(path for path in folder.glob("*") if path.is_dir())):
        if all((candidate / name).is_dir() for name in FLOWERS_CLASSES):
            return candidate
    return None


def download_flowers(
    cache_dir: str | os.PathLike | None = None,
    timeout: float = network.REACHABILITY_TIMEOUT_SECONDS,
) -> pathlib.Path:
    """Returns the folder of TF flower photos, downloading the archive once into the Keras cache.

    A socket check runs before any download, so an offline machine fails within
    `timeout` seconds instead of hanging. A copy already in the cache needs no network.

    Args:
        cache_dir: str, path or `None`, the Keras cache folder (`keras.utils.get_file`'s
            `cache_dir`); `None` means `$KERAS_HOME`, else `~/.keras`. Defaults to `None`.
        timeout: float > 0, seconds the reachability check may take. Defaults to 3.0.

    Returns:
        A `pathlib.Path` holding one subfolder of JPEG photos per class.

    Raises:
        ConnectionError: if the photos are not cached and the server is unreachable.
        ValueError: if `timeout` is not a positive number or `cache_dir` not a path.

    Example:

    >>> folder = download_flowers()  # doctest: +SKIP
    >>> sorted(path.name for path in folder.iterdir() if path.is_dir())  # doctest: +SKIP
    ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']
    """
    timeout = validation.check_positive_number("timeout", timeout)
    path_kinds = (str, os.PathLike, type(None))
    validation.check_instance("cache_dir", cache_dir, path_kinds, "None, a str or a path")
    cache = network.keras_home() if cache_dir is None else pathlib.Path(cache_dir).expanduser()
    cached = _find_photos_folder(cache / "datasets" / "flower_photos")
    if cached is not None:
        return cached
    host = urllib.parse.urlsplit(FLOWERS_URL).hostname
    archive_is_cached = (cache / "datasets" / "flower_photos_archive").exists()
    if not archive_is_cached and not network.is_reachable(host, timeout=timeout):
        raise ConnectionError(OFFLINE_MESSAGE.format(host=host, timeout=timeout))
    extracted = keras.utils.get_file(
        "flower_photos", origin=FLOWERS_URL, extract=True, cache_dir=str(cache)
    )
    folder = _find_photos_folder(extracted)
    if folder is None:
        raise ConnectionError(
            f"The flower archive at {extracted} holds no folders named {FLOWERS_CLASSES}."
        )
    return folder


def load_flowers(
    image_size: int = 96,
    validation_fraction: float = 0.2,
    seed: int = 0,
    cache_dir: str | os.PathLike | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], tuple[str, ...]]:
    """Loads the TF flower photos (5 classes, 3,670 photos) as resized uint8 arrays.

    The online alternative to the shapes target task: real photos for learners with internet.

    Args:
        image_size: int >= 32, height and width after resizing. Defaults to 96.
        validation_fraction: float in (0, 1), the share of photos held out. Defaults to 0.2.
        seed: int >= 0, the seed of the train/validation split. Defaults to 0.
        cache_dir: str, path or `None`, the Keras cache folder. Defaults to `None`
            (`$KERAS_HOME`, else `~/.keras`).

    Returns:
        `((train_images, train_labels), (validation_images, validation_labels), class_names)`
        with uint8 images `(n, image_size, image_size, 3)` and int32 labels.

    Raises:
        ConnectionError: if the photos are not cached and the machine is offline (within about
            3 s).
        ValueError: if an argument is out of range.

    Example:

    >>> (train_images, train_labels), validation, class_names = load_flowers()  # doctest: +SKIP
    >>> train_images.shape, class_names  # doctest: +SKIP
    ((2936, 96, 96, 3), ('daisy', 'dandelion', 'roses', 'sunflowers', 'tulips'))
    """
    image_size = validation.check_int("image_size", image_size, minimum=models.MINIMUM_IMAGE_SIZE)
    validation_fraction = validation.check_number(
        "validation_fraction",
        validation_fraction,
        minimum=0,
        maximum=1,
        include_minimum=False,
        include_maximum=False,
    )
    seed = validation.check_int("seed", seed, minimum=0)
    folder = download_flowers(cache_dir=cache_dir)
    splits = keras.utils.image_dataset_from_directory(
        folder,
        validation_split=validation_fraction,
        subset="both",
        seed=seed,
        image_size=(image_size, image_size),
        batch_size=None,
        shuffle=True,
    )
    arrays = []
    for split in splits:
        pairs = list(split.as_numpy_iterator())
        images = np.stack([np.round(image).clip(0, 255).astype(np.uint8) for image, _ in pairs])
        arrays.append((images, np.array([label for _, label in pairs], dtype=np.int32)))
    return arrays[0], arrays[1], tuple(splits[0].class_names)


def random_images(
    count: int, image_size: int = 96, num_classes: int = 10, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Returns random pixels and labels, as in the course's seed example: a smoke test, no task.

    Args:
        count: int >= 1, how many images.
        image_size: int >= 1, height and width. Defaults to 96.
        num_classes: int >= 1, labels are drawn from `range(num_classes)`. Defaults to 10.
        seed: int >= 0, the seed of the random generator. Defaults to 0.

    Returns:
        `(images uint8 (count, image_size, image_size, 3), labels int32 (count,))`.

    Raises:
        ValueError: if an argument is not an int in its range.

    Example:

    >>> images, labels = random_images(4, image_size=8, num_classes=3)
    >>> images.shape, images.dtype.name, bool(labels.max() < 3)
    ((4, 8, 8, 3), 'uint8', True)
    """
    count = validation.check_int("count", count, minimum=1)
    image_size = validation.check_int("image_size", image_size, minimum=1)
    num_classes = validation.check_int("num_classes", num_classes, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, image_size, image_size, 3), dtype=np.uint8)
    labels = rng.integers(0, num_classes, size=count).astype(np.int32)
    return images, labels
