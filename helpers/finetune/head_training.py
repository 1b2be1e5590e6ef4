"""A new head on cached base features: extract the features once, build the head, train it (lessons 03-05).

A frozen base gives the same features every epoch (without augmentation), so they are computed once and the
head alone trains on them: seconds instead of minutes. The head is built like the head of
`models.build_mobilenet_v2` (pooled features, dropout, `Dense` logits). `two_phase.fine_tune` and the
course's sweeps (`helpers.lessons.head_sweep`) train their heads through this module.
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.finetune import optimizers

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def pooled_features(
    base_model: keras.Model, images: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """Returns `GlobalAveragePooling2D(base_model(images, training=False))`: the input of the head.

    Args:
        base_model: keras.Model, a base returning feature maps `(n, height, width, channels)`.
        images: array `(n, height, width, 3)`, preprocessed as the base expects (MobileNetV2: [-1, 1]).
        batch_size: int, images per forward pass. Defaults to 64.

    Returns:
        A float32 array `(n, channels)`.

    Raises:
        ValueError: if `images` is not a non-empty batch of RGB images or `batch_size` is not a positive int.

    Example:

    >>> base_model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 1, use_bias=False)])
    >>> pooled_features(base_model, np.zeros((3, 4, 4, 3), "float32")).shape
    (3, 2)
    """
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError(
            f"images must have shape (n, height, width, 3) with n >= 1. Received: {images.shape}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1. Received: batch_size={batch_size!r}")
    feature_maps = base_model.predict(images.astype("float32"), batch_size=batch_size, verbose=0)
    return feature_maps.mean(axis=(1, 2)).astype("float32")


def build_head(num_features: int, num_classes: int, dropout: float = 0.2) -> keras.Model:
    """Builds the head alone: `Input(num_features) -> Dropout -> Dense(num_classes)`, emitting logits.

    Args:
        num_features: int, the length of a pooled feature vector (MobileNetV2: 1280).
        num_classes: int >= 2, the units of the `Dense` layer.
        dropout: float in [0, 1), the dropout rate; 0 leaves the layer out. Defaults to 0.2.

    Returns:
        An uncompiled `keras.Sequential`; pair it with `SparseCategoricalCrossentropy(from_logits=True)`.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    >>> build_head(1280, 4).output_shape
    (None, 4)
    """
    for name, value, minimum in (
        ("num_features", num_features, 1),
        ("num_classes", num_classes, 2),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}. Received: {name}={value!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a number in [0, 1). Received: dropout={dropout!r}")
    layers = [keras.Input(shape=(num_features,), name="features")]
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    layers.append(keras.layers.Dense(num_classes, name="logits"))
    return keras.Sequential(layers, name="head")


def check_split(name: str, split) -> tuple[np.ndarray, np.ndarray]:
    """Returns `split = (features, labels)` as float32 features `(n, num_features)` and int labels `(n,)`.

    Raises:
        ValueError: naming `name`, for anything else (wrong shapes, no rows, negative or non-int labels).

    Example:

    >>> [array.shape for array in check_split("train", ([[0.5, 1.0]], [1]))]
    [(1, 2), (1,)]
    """
    if not isinstance(split, tuple | list) or len(split) != 2:
        raise ValueError(
            f"{name} must be a tuple (features, labels). Received: {type(split).__name__}"
        )
    features, labels = np.asarray(split[0], dtype="float32"), np.asarray(split[1])
    if features.ndim != 2 or labels.shape != (len(features),) or len(features) == 0:
        raise ValueError(
            f"{name} must hold features (n, num_features) and n int labels, n >= 1. "
            f"Received: shapes {features.shape} and {labels.shape}"
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0:
        raise ValueError(f"{name} labels must be non-negative ints. Received: dtype {labels.dtype}")
    return features, labels


def train_head(
    train: tuple[np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray],
    learning_rate: float = 1e-3,
    num_classes: int | None = None,
    epochs: int = 10,
    batch_size: int = 32,
    dropout: float = 0.2,
    seed: int = 0,
) -> dict[str, list[float]]:
    """Trains a fresh head with Adam on cached features and returns its per-epoch history.

    The head is seeded with `seed`, so one seed gives one result, whatever ran before.

    Args:
        train: tuple `(features, labels)`: float array `(n, num_features)` and int labels `(n,)`.
        validation: tuple `(features, labels)`, the same kinds.
        learning_rate: float > 0, Adam's learning rate. Defaults to 1e-3.
        num_classes: int or None, the head's units; `None` means `max(label) + 1` over both splits.
            Defaults to `None`.
        epochs: int >= 1, passes over `train`. Defaults to 10.
        batch_size: int >= 1, features per step. Defaults to 32.
        dropout: float in [0, 1), the head's dropout rate. Defaults to 0.2.
        seed: int >= 0, seeds the head's weights, dropout and shuffling. Defaults to 0.

    Returns:
        A dict with lists `"loss"`, `"accuracy"`, `"val_loss"`, `"val_accuracy"`, one value per epoch.

    Raises:
        ValueError: if an argument is out of range, naming it and the value received.

    Example:

    >>> features = np.array([[1.0, 0.0], [0.0, 1.0]] * 4, "float32")
    >>> labels = np.array([0, 1] * 4)
    >>> history = train_head((features, labels), (features, labels), learning_rate=0.1, epochs=3)
    >>> len(history["val_accuracy"])
    3
    """
    train_features, train_labels = check_split("train", train)
    validation_features, validation_labels = check_split("validation", validation)
    if train_features.shape[1] != validation_features.shape[1]:
        raise ValueError(
            "train and validation features must have the same length. "
            f"Received: {train_features.shape[1]} and {validation_features.shape[1]}"
        )
    optimizers.check_learning_rate(learning_rate)
    for name, value, minimum in (
        ("epochs", epochs, 1),
        ("batch_size", batch_size, 1),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an int >= {minimum}. Received: {name}={value!r}")
    largest_label = int(max(train_labels.max(), validation_labels.max()))
    if num_classes is None:
        num_classes = max(largest_label + 1, 2)
    elif (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int)
        or num_classes <= largest_label
    ):
        raise ValueError(
            f"num_classes must be an int above every label. Received: num_classes={num_classes!r}"
        )
    keras.utils.set_random_seed(seed)
    head = build_head(train_features.shape[1], num_classes, dropout=dropout)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = head.fit(
        train_features,
        train_labels,
        validation_data=(validation_features, validation_labels),
        epochs=epochs,
        batch_size=batch_size,
        verbose=0,
    ).history
    return {key: [float(value) for value in history[key]] for key in HISTORY_KEYS}
