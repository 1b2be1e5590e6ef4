"""MobileNetV2 with a new logits head, and BatchNorm-safe freezing and unfreezing (lessons 03-05).

A MobileNetV2 base without its top, then pooling, dropout and a `Dense` layer emitting logits (pair
it with `SparseCategoricalCrossentropy(from_logits=True)`). `head_layers` defines that head once:
`build_mobilenet_v2` puts it on the pooled base, `head_training.build_head` on cached features.
Which pretrained weights the base starts from is the caller's choice: a weights file, or none; the
course's bundled and ImageNet bases live in `helpers.lessons.pretrained`.

Why `unfreeze()` keeps BatchNormalization frozen: in Keras 3, calling the base with
`training=False` does not protect it: `fit` calls the model with `training=True`, which replaces
it (keras-team/keras#20285). Once `base_model.trainable = True`, `fit` runs its
BatchNormalization layers in training mode and moves their `moving_mean` / `moving_variance`
(tests/test_models.py shows it on MobileNetV2, eagerly and in graph mode). A BatchNormalization
layer with `trainable = False` runs in inference mode and keeps its statistics unchanged. Both
functions take the base itself: given the whole model, `unfreeze` would leave every
BatchNormalization layer of the nested base trainable, so they raise instead.
"""

from __future__ import annotations

import os
import pathlib

import keras

from helpers.finetune import validation

# Widths with published ImageNet weights.
ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
MINIMUM_IMAGE_SIZE = 32


def head_layers(num_classes: int, dropout: float = 0.2) -> list[keras.layers.Layer]:
    """Returns the new head's layers: `Dropout` (named "dropout") and `Dense` logits ("logits").

    The one definition of the head: `build_mobilenet_v2` applies these layers to the pooled base
    features, `head_training.build_head` to cached features, so both heads are the same. Under a
    mixed global policy (`"mixed_float16"`, `"mixed_bfloat16"`: compute dtype other than the
    variable dtype) the logits layer computes in float32 (`dtype="float32"`), so the softmax and
    the cross-entropy after it keep float32's precision (lesson 08, `mixed_precision`); otherwise
    it takes the global policy like every other layer.

    Args:
        num_classes: int >= 2, the units of the `Dense` layer.
        dropout: float in [0, 1), the dropout rate; 0 leaves the `Dropout` layer out. Defaults to
            0.2.

    Returns:
        A list of new, unbuilt layers: `[Dropout, Dense]`, or `[Dense]` for `dropout=0`.

    Raises:
        ValueError: if an argument is out of range, naming it and the value received.

    Example:

    >>> [layer.name for layer in head_layers(4)]
    ['dropout', 'logits']
    >>> from helpers.finetune import mixed_precision
    >>> with mixed_precision.policy("mixed_float16"):
    ...     dropout, logits = head_layers(4)
    >>> dropout.compute_dtype, logits.compute_dtype, logits.variable_dtype
    ('float16', 'float32', 'float32')
    >>> head_layers(4, dropout=1.0)
    Traceback (most recent call last):
    ...
    ValueError: dropout must be a finite number in [0, 1). Received: dropout=1.0
    """
    num_classes = validation.check_int("num_classes", num_classes, minimum=2)
    dropout = validation.check_probability("dropout", dropout)
    layers = []
    if dropout > 0:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    global_policy = keras.mixed_precision.global_policy()
    is_mixed = global_policy.compute_dtype != global_policy.variable_dtype
    # Under a mixed policy the logits, and the loss computed from them, stay in float32.
    logits_options = {"dtype": "float32"} if is_mixed else {}
    layers.append(keras.layers.Dense(num_classes, name="logits", **logits_options))
    return layers


def build_mobilenet_v2(
    num_classes: int,
    image_size: int = 96,
    alpha: float = 0.35,
    weights: str | os.PathLike | None = None,
    dropout: float = 0.2,
) -> tuple[keras.Model, keras.Model]:
    """Builds MobileNetV2 without its top, plus a new classification head that emits logits.

    `model = Input -> base_model(x, training=False) -> GlobalAveragePooling2D -> head_layers`, the
    head being `Dropout -> Dense(num_classes)`. Inputs are images already scaled to [-1, 1]
    (`keras.applications.mobilenet_v2.preprocess_input`). The course's named bases (its bundled
    base, ImageNet with an offline fallback) are resolved to a weights file by
    `helpers.lessons.pretrained.build_mobilenet_v2`, which then calls this function.

    Args:
        num_classes: int, the number of classes (>= 2); the head's `Dense` layer has this many
            units.
        image_size: int, the height and width of the input images (>= 32). Defaults to 96.
        alpha: float, the width multiplier, one of `ALPHAS`. Defaults to 0.35.
        weights: `None` (random initialisation) or the path to a `.weights.h5` / `.h5` file holding
            the base's weights. Defaults to `None`.
        dropout: float, the dropout rate before the `Dense` layer, in [0, 1); 0 leaves the layer
            out. Defaults to 0.2.

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
    head = head_layers(num_classes, dropout)
    image_size = validation.check_int("image_size", image_size, minimum=MINIMUM_IMAGE_SIZE)
    alpha = validation.check_one_of("alpha", alpha, ALPHAS)
    weights_path = _weights_path(weights)
    base_model = mobilenet_v2_base(image_size, alpha)
    if weights_path is not None:
        base_model.load_weights(weights_path)
    inputs = keras.Input(shape=(image_size, image_size, 3), name="images")
    outputs = base_model(inputs, training=False)
    outputs = keras.layers.GlobalAveragePooling2D(name="pooling")(outputs)
    for layer in head:
        outputs = layer(outputs)
    return keras.Model(inputs, outputs, name="mobilenet_v2_classifier"), base_model


def _weights_path(weights: object) -> str | None:
    """Returns `weights` as a path string (`None` for random weights), or raises saying why."""
    wanted = "None or the path to a .h5 weights file"
    validation.check_instance("weights", weights, (str, os.PathLike, type(None)), wanted)
    if weights is None:
        return None
    path = str(weights)
    if not path.endswith(".h5"):
        # A weights file, not a named base: "bundled" and "imagenet" are `pretrained`'s to resolve.
        raise ValueError(f"weights must be {wanted}. Received: weights={path!r}")
    if not pathlib.Path(path).is_file():
        raise FileNotFoundError(f"weights file not found. Received: weights={path!r}")
    return path


def mobilenet_v2_base(image_size: int, alpha: float) -> keras.Model:
    """Returns a randomly initialised MobileNetV2 without its top, for square RGB images.

    Args:
        image_size: int >= 32, the height and width of the input images.
        alpha: float, the width multiplier, one of `ALPHAS`.

    Returns:
        The base, a `keras.Model` with outputs `(None, rows, columns, channels)`.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    >>> mobilenet_v2_base(32, 0.35).output_shape
    (None, 1, 1, 1280)
    """
    image_size = validation.check_int("image_size", image_size, minimum=MINIMUM_IMAGE_SIZE)
    alpha = validation.check_one_of("alpha", alpha, ALPHAS)
    return keras.applications.MobileNetV2(
        input_shape=(image_size, image_size, 3), alpha=alpha, include_top=False, weights=None
    )


def freeze(base_model: keras.Model) -> None:
    """Freezes the whole base: no weight and no BatchNormalization statistic changes during `fit`.

    Recompile the model afterwards (with a fresh optimizer) so that `fit` sees the change.

    Args:
        base_model: keras.Model, the base returned by `build_mobilenet_v2` (not the whole model).

    Raises:
        ValueError: if `base_model` is not a Keras model, or is a model with a base nested inside.

    Example:

    >>> _, base_model = build_mobilenet_v2(2, image_size=32)
    >>> freeze(base_model)
    >>> len(base_model.trainable_weights)
    0
    """
    check_base_model(base_model)
    base_model.trainable = False


def unfreeze(base_model: keras.Model, top_layers: int | None = None) -> None:
    """Makes the base trainable (all of it or its top layers); BatchNormalization stays frozen.

    A frozen BatchNormalization layer runs in inference mode and keeps its moving statistics, which
    protects the pretrained features from the statistics of small fine-tuning batches. Pass the
    base, not the whole model: the whole model's layers include the base as one nested layer, whose
    BatchNormalization layers `unfreeze` could not see, so that call raises.

    Args:
        base_model: keras.Model, the base returned by `build_mobilenet_v2`.
        top_layers: int or None, how many of the last layers of `base_model.layers` become
            trainable (1 to the number of layers); `None` unfreezes all of them. Defaults to
            `None`.

    Raises:
        ValueError: if `base_model` is not a base (see `check_base_model`) or `top_layers` is not
            an int in range (see `check_top_layers`).

    Example:

    >>> model, base_model = build_mobilenet_v2(2, image_size=32)
    >>> unfreeze(base_model, top_layers=3)
    >>> [layer.name for layer in base_model.layers if layer.trainable and layer.weights]
    ['Conv_1']
    >>> unfreeze(model)
    Traceback (most recent call last):
    ...
    ValueError: base_model must be the base, not a model that contains it: pass the base
    (model.get_layer('mobilenetv2_0.35_32')), so that its BatchNormalization layers stay frozen.
    Received: base_model=<Functional name=mobilenet_v2_classifier, built=True>
    """
    top_layers = check_top_layers(base_model, top_layers)
    base_model.trainable = True
    first_trainable = 0 if top_layers is None else len(base_model.layers) - top_layers
    for index, layer in enumerate(base_model.layers):
        is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= first_trainable and not is_batch_norm


def check_base_model(base_model: object) -> keras.Model:
    """Returns `base_model`, or raises unless it is a Keras model with no model nested inside.

    A model that contains the base (such as the `model` of `build_mobilenet_v2`) is refused, and
    the message names the nested base to pass instead.

    Args:
        base_model: the value received as a base.

    Returns:
        The base, unchanged.

    Raises:
        ValueError: naming `base_model` and what was received.

    Example:

    >>> inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)], name="inner")
    >>> outer = keras.Sequential([keras.Input((2,)), inner], name="outer")
    >>> check_base_model(inner).name
    'inner'
    >>> check_base_model(outer)
    Traceback (most recent call last):
    ...
    ValueError: base_model must be the base, not a model that contains it: pass the base
    (model.get_layer('inner')), so that its BatchNormalization layers stay frozen.
    Received: base_model=<Sequential name=outer, built=True>
    """
    validation.check_instance("base_model", base_model, keras.Model, "a keras.Model")
    nested = [layer for layer in base_model.layers if isinstance(layer, keras.Model)]
    if nested:
        raise ValueError(
            "base_model must be the base, not a model that contains it: pass the base "
            f"(model.get_layer({nested[0].name!r})), so that its BatchNormalization layers stay "
            f"frozen. Received: base_model={base_model!r}"
        )
    return base_model


def check_top_layers(base_model: keras.Model, top_layers: object) -> int | None:
    """Returns `top_layers` as an int or `None`, or raises unless it fits `base_model`.

    Args:
        base_model: keras.Model, the base (checked by `check_base_model`).
        top_layers: `None`, or an int from 1 to `len(base_model.layers)`.

    Returns:
        `None`, or `top_layers` as a Python int.

    Raises:
        ValueError: naming the argument and the value received.

    Example:

    >>> import numpy as np
    >>> _, base_model = build_mobilenet_v2(2, image_size=32)
    >>> check_top_layers(base_model, np.int64(3))
    3
    >>> check_top_layers(base_model, 0)
    Traceback (most recent call last):
    ...
    ValueError: top_layers must be None or an int from 1 to 154. Received: top_layers=0
    """
    check_base_model(base_model)
    layer_count = len(base_model.layers)
    return validation.check_optional_int("top_layers", top_layers, minimum=1, maximum=layer_count)
