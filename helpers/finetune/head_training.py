"""A new head on cached base features: extract them once, build the head, train it (lessons 03-05).

A frozen base gives the same features every epoch (without augmentation), so they are computed once
and the head alone trains on them: seconds instead of minutes. `pooled_features` is the one feature
extractor of the course; `build_head` builds the head of `models.build_mobilenet_v2` (the same
`models.head_layers`: dropout, `Dense` logits) on its own. `two_phase.fine_tune` and the course's
sweeps (`helpers.lessons.head_sweep`) train their heads through this module, and every run stops
with a `guards.TrainingDivergedError` once its loss diverges.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import guards, models

# `validation` is also the name of `train_head`'s argument (the validation split).
from helpers.finetune import validation as checks

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


def pooled_features(base_model: keras.Model, images: object, batch_size: int = 64) -> np.ndarray:
    """Returns `GlobalAveragePooling2D(base_model(images, training=False))`: the head's input.

    This is what the full model feeds its head, computed once: the head can then train on the
    features alone while the base stays frozen.

    Args:
        base_model: keras.Model, a base returning feature maps `(n, height, width, channels)`.
        images: array `(n, height, width, 3)` fitting the base's input, preprocessed to [-1, 1]
            (`mobilenet_v2.preprocess_input`).
        batch_size: int >= 1, images per forward pass. Defaults to 64.

    Returns:
        A float32 array `(n, channels)`.

    Raises:
        ValueError: naming the argument, if `images` is not a non-empty batch of preprocessed images
            of the base's input shape, or `batch_size` is not an int >= 1.

    Example:

    >>> base_model = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Conv2D(2, 1)])
    >>> pooled_features(base_model, np.zeros((3, 4, 4, 3), "float32")).shape
    (3, 2)
    >>> pooled_features(base_model, np.full((3, 4, 4, 3), 255, "uint8"))
    Traceback (most recent call last):
    ...
    ValueError: images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input),
    not raw pixels. Received: images of dtype uint8
    """
    checks.check_instance("base_model", base_model, keras.Model, "a keras.Model")
    images = checks.check_images("images", images, image_shape=base_model.input_shape[1:])
    batch_size = checks.check_int("batch_size", batch_size, minimum=1)
    forward = _inference_function(base_model)
    feature_maps = [
        forward(images[start : start + batch_size]).numpy()
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(feature_maps).mean(axis=(1, 2)).astype("float32")


def _inference_function(base_model: keras.Model) -> tf.types.experimental.PolymorphicFunction:
    """The base's forward pass in inference mode, traced once per base and reused for every call.

    Any batch size runs through the one trace (its batch dimension is left open). `predict`
    would trace again on every new base and build its data pipeline on every call.
    """
    forward = _INFERENCE_FUNCTIONS.get(base_model)
    if forward is None:
        image_shape = tuple(base_model.input_shape[1:])
        signature = [tf.TensorSpec((None, *image_shape), tf.float32)]
        # A weak reference: the cached function must not keep its base alive.
        base_reference = weakref.ref(base_model)

        @tf.function(input_signature=signature)
        def forward(images: tf.Tensor) -> tf.Tensor:
            return base_reference()(images, training=False)

        _INFERENCE_FUNCTIONS[base_model] = forward
    return forward


# One traced forward pass per base model; an entry goes when its base is garbage-collected.
_INFERENCE_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def build_head(num_features: int, num_classes: int, dropout: float = 0.2) -> keras.Model:
    """Builds the head alone: `Input(num_features) -> Dropout -> Dense(num_classes)` logits.

    Its layers are `models.head_layers`, the head `models.build_mobilenet_v2` puts on the pooled
    base, so a head trained here has the layers and weights of that model's head.

    Args:
        num_features: int >= 1, the length of a pooled feature vector (MobileNetV2: 1280).
        num_classes: int >= 2, the units of the `Dense` layer.
        dropout: float in [0, 1), the dropout rate; 0 leaves the layer out. Defaults to 0.2.

    Returns:
        An uncompiled `keras.Sequential` named "head"; pair it with
        `SparseCategoricalCrossentropy(from_logits=True)`.

    Raises:
        ValueError: if an argument is out of range, naming it and the value received.

    Example:

    >>> build_head(1280, 4).output_shape
    (None, 4)
    >>> build_head(1280, 1)
    Traceback (most recent call last):
    ...
    ValueError: num_classes must be an int >= 2. Received: num_classes=1
    """
    num_features = checks.check_int("num_features", num_features, minimum=1)
    layers = models.head_layers(num_classes, dropout)
    features = keras.Input(shape=(num_features,), name="features")
    return keras.Sequential([features, *layers], name="head")


def check_split(
    name: str, split: object, num_features: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Returns `split = (features, labels)` as float32 features `(n, num_features)` and int labels.

    Args:
        name: str, the argument's name, e.g. `"train"`.
        split: a tuple `(features, labels)`: finite numbers `(n, num_features)`, `n` whole class
            indices.
        num_features: int or None, the width the features must have. Defaults to `None` (any).

    Returns:
        `(features, labels)`: a float32 array and an int32 array.

    Raises:
        ValueError: naming `name`, for anything else (not a pair, wrong shapes, no rows, NaN
            features, negative or fractional labels, a label count that differs).

    Example:

    >>> [array.shape for array in check_split("train", ([[0.5, 1.0]], [1]))]
    [(1, 2), (1,)]
    >>> check_split("train", ([[0.5, 1.0]], [1.5]))
    Traceback (most recent call last):
    ...
    ValueError: train labels must be whole class indices (ints). Received: train labels with values
    [1.5]
    """
    features, labels = checks.check_pair(name, split, "a tuple (features, labels)")
    features = checks.check_features(f"{name} features", features, num_features)
    labels = checks.check_labels(f"{name} labels", labels, count=len(features))
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
    stop_on_divergence: bool = True,
) -> dict[str, list[float]]:
    """Trains a fresh head with Adam on cached features and returns its per-epoch history.

    The head is seeded with `seed`, so one seed gives one result, whatever ran before. A
    `guards.DivergenceGuard` watches the loss: a rate far too high (the loss NaN, or 4x above the
    larger of its start and chance) stops the run with a `guards.TrainingDivergedError` naming the
    rate. A grid search that needs every rate's outcome passes `stop_on_divergence=False`.

    Args:
        train: tuple `(features, labels)`: float array `(n, num_features)` and int labels `(n,)`.
        validation: tuple `(features, labels)`, the same kinds.
        learning_rate: float > 0 or a `LearningRateSchedule`, Adam's learning rate. Defaults to
            1e-3.
        num_classes: int >= 2 or None, the head's units; `None` means `max(label) + 1` over both
            splits (at least 2). Defaults to `None`.
        epochs: int >= 1, passes over `train`. Defaults to 10.
        batch_size: int >= 1, features per step. Defaults to 32.
        dropout: float in [0, 1), the head's dropout rate. Defaults to 0.2.
        seed: int >= 0, seeds the head's weights, dropout and shuffling. Defaults to 0.
        stop_on_divergence: bool, whether a diverging run stops and raises. Defaults to `True`.

    Returns:
        A dict with lists `"loss"`, `"accuracy"`, `"val_loss"`, `"val_accuracy"`, one value per
        epoch.

    Raises:
        ValueError: if an argument is out of range, naming it and the value received.
        guards.TrainingDivergedError: (a `ValueError`) if the run diverged and
            `stop_on_divergence` is `True`.

    Example:

    >>> features = np.array([[1.0, 0.0], [0.0, 1.0]] * 4, "float32")
    >>> labels = np.array([0, 1] * 4)
    >>> history = train_head((features, labels), (features, labels), learning_rate=0.1, epochs=3)
    >>> len(history["val_accuracy"])
    3
    """
    train_features, train_labels = check_split("train", train)
    num_features = train_features.shape[1]
    validation_features, validation_labels = check_split("validation", validation, num_features)
    learning_rate = checks.check_learning_rate("learning_rate", learning_rate)
    epochs = checks.check_int("epochs", epochs, minimum=1)
    batch_size = checks.check_int("batch_size", batch_size, minimum=1)
    dropout = checks.check_probability("dropout", dropout)
    seed = checks.check_int("seed", seed, minimum=0)
    stop_on_divergence = checks.check_bool("stop_on_divergence", stop_on_divergence)
    num_classes = _num_classes(num_classes, train_labels, validation_labels)
    keras.utils.set_random_seed(seed)
    head = build_head(num_features, num_classes, dropout=dropout)
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    guard = guards.DivergenceGuard(num_classes=num_classes)
    # Without the guard in `fit` its reason stays None: the run trains on, whatever its loss.
    watchers = [guard] if stop_on_divergence else []
    history = head.fit(
        train_features,
        train_labels,
        validation_data=(validation_features, validation_labels),
        epochs=epochs,
        batch_size=batch_size,
        callbacks=watchers,
        verbose=0,
    ).history
    guards.check_not_diverged(guard, "learning_rate", learning_rate)
    return {key: [float(value) for value in history[key]] for key in HISTORY_KEYS}


def _num_classes(
    num_classes: object, train_labels: np.ndarray, validation_labels: np.ndarray
) -> int:
    """Returns the head's units: `num_classes` checked against both splits' labels, or inferred."""
    num_classes = checks.check_optional_int("num_classes", num_classes, minimum=2)
    if num_classes is None:
        largest_label = int(max(train_labels.max(), validation_labels.max()))
        return max(largest_label + 1, 2)
    checks.check_labels("train labels", train_labels, num_classes)
    checks.check_labels("validation labels", validation_labels, num_classes)
    return num_classes
