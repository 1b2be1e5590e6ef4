"""Data paths for the lessons: tf.data pipelines, the flower photos online, random arrays.

The offline shapes task (`helpers.shapes_data`) is the default everywhere. Learners
with internet can swap in the TensorFlow flower photos with `load_flowers()`, which
fails within seconds, with a clear message, when the network is unreachable. The
seed example's random arrays stay available as a smoke test (`random_images`).
Used by every lesson that trains on images (lessons 3 onwards).
"""

from __future__ import annotations

import pathlib

import numpy as np

from helpers.lessons import network


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}. Received: {name}={value!r}")
    return int(value)


def to_dataset(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    num_classes: int | None = None,
):
    """Builds a batched `tf.data.Dataset` of MobileNetV2-ready images and int labels.

    Applies `keras.applications.mobilenet_v2.preprocess_input`, which maps uint8
    pixels to floats in [-1, 1], the range the MobileNetV2 base expects.

    Args:
        images: array `(n, height, width, 3)` of pixels in [0, 255].
        labels: int array `(n,)` of class indices.
        batch_size: int, images per batch. Defaults to 32.
        shuffle: bool, whether to reshuffle the examples every epoch. Defaults to `False`.
        seed: int, the shuffle seed. Defaults to 0.
        num_classes: int or `None`, when given every label must be below it. Defaults to `None`.

    Returns:
        A `tf.data.Dataset` of `(images float32, labels int32)` batches, prefetched.

    Raises:
        ValueError: if the shapes disagree, a label is negative or not below `num_classes`,
            or `batch_size` is not a positive int.

    Example:

    >>> dataset = to_dataset(np.full((5, 8, 8, 3), 255, np.uint8), np.arange(5), batch_size=2)
    >>> images, labels = next(iter(dataset))
    >>> images.shape.as_list(), float(images.numpy().max()), labels.numpy().tolist()
    ([2, 8, 8, 3], 1.0, [0, 1])
    """
    import keras
    import tensorflow as tf

    images, labels = np.asarray(images), np.asarray(labels)
    batch_size = _check_int("batch_size", batch_size, 1)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"images must have shape (n, height, width, 3). Received: images.shape={images.shape}"
        )
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(
            f"labels must be 1-D with one label per image ({len(images)}). Received: labels.shape={labels.shape}"
        )
    if len(labels) and labels.min() < 0:
        raise ValueError(f"labels must be non-negative. Received: labels.min()={labels.min()}")
    if num_classes is not None:
        num_classes = _check_int("num_classes", num_classes, 1)
        if len(labels) and labels.max() >= num_classes:
            raise ValueError(
                f"labels must be below num_classes={num_classes}. Received: labels.max()={labels.max()}"
            )
    dataset = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32)))
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    preprocess = keras.applications.mobilenet_v2.preprocess_input
    dataset = dataset.batch(batch_size).map(
        lambda batch, batch_labels: (preprocess(tf.cast(batch, tf.float32)), batch_labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


FLOWERS_URL = (
    "https://storage.googleapis.com/download.tensorflow.org/example_images/flower_photos.tgz"
)
FLOWERS_CLASSES = ("daisy", "dandelion", "roses", "sunflowers", "tulips")
OFFLINE_MESSAGE = (
    "Cannot reach {host} within {timeout:g} s, so the flower photos cannot be downloaded. "
    "This machine looks offline: the course's default, the offline shapes task "
    "(`helpers.shapes_data.make_images`), needs no download."
)


def _find_photos_folder(folder: str | pathlib.Path) -> pathlib.Path | None:
    """Returns the folder (itself or one level down) that holds the class subfolders, or `None`."""
    folder = pathlib.Path(folder)
    for candidate in (folder, *sorted(path for path in folder.glob("*") if path.is_dir())):
        if all((candidate / name).is_dir() for name in FLOWERS_CLASSES):
            return candidate
    return None


def download_flowers(cache_dir: str | None = None, timeout: float = 3.0) -> pathlib.Path:
    """Returns the folder of TF flower photos, downloading the archive once into the Keras cache.

    A socket check runs before any download, so an offline machine fails within
    `timeout` seconds instead of hanging. A copy already in the cache needs no network.

    Args:
        cache_dir: str or `None`, the Keras cache folder (`keras.utils.get_file`'s
            `cache_dir`); `None` means `~/.keras`. Defaults to `None`.
        timeout: float, seconds the reachability check may take. Defaults to 3.0.

    Returns:
        A `pathlib.Path` holding one subfolder of JPEG photos per class.

    Raises:
        ConnectionError: if the photos are not cached and the server is unreachable.
        ValueError: if `timeout` is not positive.

    Example:

    >>> folder = download_flowers()  # doctest: +SKIP
    >>> sorted(path.name for path in folder.iterdir() if path.is_dir())  # doctest: +SKIP
    ['daisy', 'dandelion', 'roses', 'sunflowers', 'tulips']
    """
    import urllib.parse

    import keras

    if not timeout > 0:
        raise ValueError(f"timeout must be positive. Received: timeout={timeout!r}")
    cache = pathlib.Path(cache_dir).expanduser() if cache_dir is not None else network.keras_home()
    cached = _find_photos_folder(cache / "datasets" / "flower_photos")
    if cached is not None:
        return cached
    host = urllib.parse.urlsplit(FLOWERS_URL).hostname
    if not (cache / "datasets" / "flower_photos_archive").exists() and not network.is_reachable(
        host, timeout=timeout
    ):
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
    cache_dir: str | None = None,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray], tuple[str, ...]]:
    """Loads the TF flower photos (5 classes, 3,670 photos) as resized uint8 arrays.

    The online alternative to the shapes target task: real photos for learners with internet.

    Args:
        image_size: int, height and width after resizing, at least 32. Defaults to 96.
        validation_fraction: float in (0, 1), the share of photos held out. Defaults to 0.2.
        seed: int, the seed of the train/validation split. Defaults to 0.
        cache_dir: str or `None`, the Keras cache folder. Defaults to `None` (`~/.keras`).

    Returns:
        `((train_images, train_labels), (validation_images, validation_labels), class_names)`
        with uint8 images `(n, image_size, image_size, 3)` and int32 labels.

    Raises:
        ConnectionError: if the photos are not cached and the machine is offline (within about 3 s).
        ValueError: if an argument is out of range.

    Example:

    >>> (train_images, train_labels), validation, class_names = load_flowers()  # doctest: +SKIP
    >>> train_images.shape, class_names  # doctest: +SKIP
    ((2936, 96, 96, 3), ('daisy', 'dandelion', 'roses', 'sunflowers', 'tulips'))
    """
    import keras

    image_size = _check_int("image_size", image_size, 32)
    if not 0 < validation_fraction < 1:
        raise ValueError(
            f"validation_fraction must be between 0 and 1. Received: validation_fraction={validation_fraction!r}"
        )
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
    """Random pixels and random labels, as in the course's seed example: a smoke test, nothing to learn.

    Args:
        count: int, how many images (positive).
        image_size: int, height and width (positive). Defaults to 96.
        num_classes: int, labels are drawn from `range(num_classes)`. Defaults to 10.
        seed: int, the seed of the random generator. Defaults to 0.

    Returns:
        `(images uint8 (count, image_size, image_size, 3), labels int32 (count,))`.

    Raises:
        ValueError: if an argument is not a positive int (a non-negative one for `seed`).

    Example:

    >>> images, labels = random_images(4, image_size=8, num_classes=3)
    >>> images.shape, images.dtype.name, bool(labels.max() < 3)
    ((4, 8, 8, 3), 'uint8', True)
    """
    count = _check_int("count", count, 1)
    image_size = _check_int("image_size", image_size, 1)
    num_classes = _check_int("num_classes", num_classes, 1)
    rng = np.random.default_rng(_check_int("seed", seed, 0))
    images = rng.integers(0, 256, size=(count, image_size, image_size, 3), dtype=np.uint8)
    return images, rng.integers(0, num_classes, size=count).astype(np.int32)
