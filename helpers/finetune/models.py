"""MobileNetV2 with a new logits head, and BatchNorm-safe freezing and unfreezing (lessons 03-05).

A MobileNetV2 base without its top, then pooling, dropout and a `Dense` layer emitting logits (pair it
with `SparseCategoricalCrossentropy(from_logits=True)`). Which pretrained weights the base starts from is the
caller's choice: a weights file, or none; the course's bundled and ImageNet bases live in
`helpers.lessons.pretrained`.

Why `unfreeze()` keeps BatchNormalization frozen: in Keras 3, calling the base with `training=False` does
not protect it. Once `base_model.trainable = True`, `fit` runs its BatchNormalization layers in training
mode and moves their `moving_mean` / `moving_variance` (tests/test_models.py shows it). A BatchNormalization
layer with `trainable = False` runs in inference mode and keeps its statistics unchanged.
"""

from __future__ import annotations

import os
import pathlib

import keras

ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)  # widths with published ImageNet weights


def build_mobilenet_v2(
    num_classes: int,
    image_size: int = 96,
    alpha: float = 0.35,
    weights: str | os.PathLike | None = None,
    dropout: float = 0.2,
) -> tuple[keras.Model, keras.Model]:
    """Builds MobileNetV2 without its top, plus a new classification head that emits logits.

    `model = Input -> base_model(x, training=False) -> GlobalAveragePooling2D -> Dropout -> Dense(num_classes)`.
    Inputs are images already scaled to [-1, 1] (`keras.applications.mobilenet_v2.preprocess_input`).
    The course's named bases (its bundled base, ImageNet with an offline fallback) are resolved to a weights
    file by `helpers.lessons.pretrained.build_mobilenet_v2`, which then calls this function.

    Args:
        num_classes: int, the number of classes (>= 2); the head's `Dense` layer has this many units.
        image_size: int, the height and width of the input images (>= 32). Defaults to 96.
        alpha: float, the width multiplier, one of `ALPHAS`. Defaults to 0.35.
        weights: `None` (random initialisation) or the path to a `.weights.h5` / `.h5` file holding the
            base's weights. Defaults to `None`.
        dropout: float, the dropout rate before the `Dense` layer, in [0, 1); 0 leaves the layer out.
            Defaults to 0.2.

    Returns:
        A tuple `(model, base_model)`; `base_model` is the MobileNetV2 part, shared with `model`.

    Raises:
        ValueError: if an argument is out of range.
        FileNotFoundError: if the given weights file does not exist.

    Example:

    >>> model, base_model = build_mobilenet_v2(3, image_size=32)
    >>> model.output_shape, base_model.output_shape
    ((None, 3), (None, 1, 1, 1280))
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2. Received: num_classes={num_classes!r}")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 32:
        raise ValueError(f"image_size must be an int >= 32. Received: image_size={image_size!r}")
    if isinstance(alpha, bool) or alpha not in ALPHAS:
        raise ValueError(f"alpha must be one of {ALPHAS}. Received: alpha={alpha!r}")
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a number in [0, 1). Received: dropout={dropout!r}")
    if weights is None:
        base_model = mobilenet_v2_base(image_size, alpha)
    elif isinstance(weights, str | os.PathLike) and str(weights).endswith(".h5"):
        if not pathlib.Path(weights).is_file():
            raise FileNotFoundError(f"weights file not found. Received: weights={str(weights)!r}")
        base_model = mobilenet_v2_base(image_size, alpha)
        base_model.load_weights(str(weights))
    else:
        raise ValueError(
            f"weights must be None or the path to a .h5 weights file. Received: weights={weights!r}"
        )
    inputs = keras.Input(shape=(image_size, image_size, 3), name="images")
    features = base_model(inputs, training=False)
    features = keras.layers.GlobalAveragePooling2D(name="pooling")(features)
    if dropout > 0:
        features = keras.layers.Dropout(dropout, name="dropout")(features)
    logits = keras.layers.Dense(num_classes, name="logits")(features)
    return keras.Model(inputs, logits, name="mobilenet_v2_classifier"), base_model


def mobilenet_v2_base(image_size: int, alpha: float) -> keras.Model:
    """Returns a randomly initialised MobileNetV2 without its top, for `(image_size, image_size, 3)` inputs.

    Example:

    >>> mobilenet_v2_base(32, 0.35).output_shape
    (None, 1, 1, 1280)
    """
    return keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), alpha=alpha, include_top=False, weights=None
    )


def freeze(base_model: keras.Model) -> None:
    """Freezes the whole base: no weight and no BatchNormalization statistic changes during `fit`.

    Recompile the model afterwards (with a fresh optimizer) so that `fit` sees the change.

    Args:
        base_model: keras.Model, the base returned by `build_mobilenet_v2`.

    Example:

    >>> _, base_model = build_mobilenet_v2(2, image_size=32)
    >>> freeze(base_model)
    >>> len(base_model.trainable_weights)
    0
    """
    base_model.trainable = False


def unfreeze(base_model: keras.Model, top_layers: int | None = None) -> None:
    """Makes the base trainable (all of it, or its top layers) while every BatchNormalization stays frozen.

    A frozen BatchNormalization layer runs in inference mode and keeps its moving statistics, which
    protects the pretrained features from the statistics of small fine-tuning batches.

    Args:
        base_model: keras.Model, the base returned by `build_mobilenet_v2`.
        top_layers: int or None, how many of the last layers of `base_model.layers` become trainable
            (1 to the number of layers); `None` unfreezes all of them. Defaults to `None`.

    Raises:
        ValueError: if `top_layers` is not an int in range (see `check_top_layers`).

    Example:

    >>> _, base_model = build_mobilenet_v2(2, image_size=32)
    >>> unfreeze(base_model, top_layers=3)
    >>> [layer.name for layer in base_model.layers if layer.trainable and layer.weights]
    ['Conv_1']
    """
    check_top_layers(base_model, top_layers)
    base_model.trainable = True
    first_trainable = 0 if top_layers is None else len(base_model.layers) - top_layers
    for index, layer in enumerate(base_model.layers):
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= first_trainable and not is_batch_norm


def check_top_layers(base_model: keras.Model, top_layers: int | None) -> None:
    """Raises a `ValueError` unless `top_layers` is `None` or an int from 1 to `len(base_model.layers)`.

    Example:

    >>> _, base_model = build_mobilenet_v2(2, image_size=32)
    >>> check_top_layers(base_model, 0)
    Traceback (most recent call last):
    ...
    ValueError: top_layers must be None or an int from 1 to 154 (the base's layers). Received: top_layers=0
    """
    count = len(base_model.layers)
    if top_layers is not None and (
        isinstance(top_layers, bool)
        or not isinstance(top_layers, int)
        or not 1 <= top_layers <= count
    ):
        raise ValueError(
            f"top_layers must be None or an int from 1 to {count} (the base's layers). "
            f"Received: top_layers={top_layers!r}"
        )
