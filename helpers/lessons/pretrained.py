"""The course's pretrained bases: the bundled shapes base, ImageNet weights online (lessons 03-05).

`build_mobilenet_v2` resolves `weights="bundled"` or `"imagenet"` to a weights file and builds the
model with `helpers.finetune.models.build_mobilenet_v2`. Offline, `"imagenet"` gives up within
seconds, warns (naming the cache file and `KERAS_HOME`) and uses the bundled base instead of
hanging.
"""

from __future__ import annotations

import os
import pathlib
import warnings

import keras

from helpers.finetune import models, validation
from helpers.lessons import course, network

BUNDLED_BASE_PATH = course.COURSE_ROOT / "data" / "shapes_base_mnv2_a035_96.weights.h5"
# The bundled base's source head (6 units): keys "kernel" and "bias".
BUNDLED_SOURCE_HEAD_PATH = course.COURSE_ROOT / "data" / "shapes_source_head.npz"
BUNDLED_ALPHA = 0.35  # the width of the bundled base
WEIGHT_NAMES = ("bundled", "imagenet")  # the bases `weights=` can name; a path names a file
# Input sizes with published ImageNet weights; Keras gives other sizes the 224 weights.
IMAGENET_SIZES = (96, 128, 160, 192, 224)
IMAGENET_HOST = "storage.googleapis.com"  # where Keras downloads the ImageNet weights from
IMAGENET_URL = f"https://{IMAGENET_HOST}/tensorflow/keras-applications/mobilenet_v2/"


def build_mobilenet_v2(
    num_classes: int,
    image_size: int = 96,
    alpha: float = 0.35,
    weights: str | os.PathLike | None = "bundled",
    dropout: float = 0.2,
) -> tuple[keras.Model, keras.Model]:
    """Builds MobileNetV2 with a new logits head, starting from one of the course's bases.

    `model = Input -> base_model(x, training=False) -> GlobalAveragePooling2D -> Dropout ->
    Dense(num_classes)`, as `helpers.finetune.models.build_mobilenet_v2` builds it; this function
    picks the base's weights. Its arguments are checked before any network check, so a wrong value
    fails at once instead of after a download attempt.

    Args:
        num_classes: int >= 2, the number of classes; the head's `Dense` layer has this many units.
        image_size: int >= 32, the height and width of the input images. Defaults to 96.
        alpha: float, the width multiplier, one of `models.ALPHAS`. Defaults to 0.35.
        weights: `"bundled"` (the course's base, pretrained on the source shapes task; alpha
            0.35), `"imagenet"` (the Keras cache or a download; offline it warns and uses the
            bundled base), `None` (random initialisation) or the path to a `.weights.h5` / `.h5`
            file. Defaults to `"bundled"`.
        dropout: float in [0, 1), the dropout rate before the `Dense` layer; 0 leaves the layer
            out. Defaults to 0.2.

    Returns:
        A tuple `(model, base_model)`; `base_model` is the MobileNetV2 part, shared with `model`.

    Raises:
        ValueError: naming the argument, if one is out of range, `weights` names no base
            (the closest name is suggested), or `weights="bundled"` with alpha other than 0.35.
        FileNotFoundError: if the bundled weights or the given weights file do not exist.
        ConnectionError: if `weights="imagenet"` cannot be loaded and alpha is not 0.35 (no
            fallback).

    Example:

    >>> model, base_model = build_mobilenet_v2(3, image_size=32)
    >>> model.output_shape, base_model.output_shape
    ((None, 3), (None, 1, 1, 1280))
    """
    num_classes = validation.check_int("num_classes", num_classes, minimum=2)
    image_size = validation.check_int("image_size", image_size, minimum=models.MINIMUM_IMAGE_SIZE)
    alpha = validation.check_one_of("alpha", alpha, models.ALPHAS)
    dropout = validation.check_probability("dropout", dropout)
    names_a_base = isinstance(weights, str) and not weights.endswith(".h5")
    if names_a_base:
        weights = validation.check_choice("weights", weights, WEIGHT_NAMES)
    if weights == "imagenet":
        weights = _imagenet_weights(image_size, alpha)
    elif weights == "bundled":
        weights = _bundled_weights(alpha)
    return models.build_mobilenet_v2(
        num_classes, image_size, alpha, weights=weights, dropout=dropout
    )


def imagenet_weights_path(image_size: int = 96, alpha: float = 0.35) -> pathlib.Path:
    """Returns where Keras caches the ImageNet MobileNetV2 weights (no top).

    That is `$KERAS_HOME/models`, or `~/.keras/models` when `KERAS_HOME` is unset.

    Args:
        image_size: int >= 32, the input size; sizes without published weights use 224's.
            Defaults to 96.
        alpha: float, the width multiplier, one of `models.ALPHAS`. Defaults to 0.35.

    Returns:
        The path of the weights file, which need not exist yet.

    Raises:
        ValueError: if an argument is out of range.

    Example:

    >>> imagenet_weights_path(96, 0.35).name
    'mobilenet_v2_weights_tf_dim_ordering_tf_kernels_0.35_96_no_top.h5'
    """
    image_size = validation.check_int("image_size", image_size, minimum=models.MINIMUM_IMAGE_SIZE)
    alpha = validation.check_one_of("alpha", alpha, models.ALPHAS)
    # Keras's rule: sizes without their own weights get the 224 ones.
    rows = image_size if image_size in IMAGENET_SIZES else 224
    name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{float(alpha)}_{rows}_no_top.h5"
    return network.keras_home() / "models" / name


def _bundled_weights(alpha: float) -> pathlib.Path:
    if alpha != BUNDLED_ALPHA:
        # A rule between two arguments, so it is written here, with the way out.
        raise ValueError(
            f"alpha must be {BUNDLED_ALPHA} with weights='bundled' (the bundled base's width); "
            f"use weights=None or 'imagenet' for other widths. Received: alpha={alpha!r}"
        )
    if not BUNDLED_BASE_PATH.is_file():
        raise FileNotFoundError(
            f"The bundled base {BUNDLED_BASE_PATH} is missing; restore it from the course "
            "repository (git checkout data/) or rebuild it with `python scripts/pretrain_base.py`."
        )
    return BUNDLED_BASE_PATH


def _imagenet_weights(image_size: int, alpha: float) -> pathlib.Path:
    cache_path = imagenet_weights_path(image_size, alpha)
    try:
        # is_reachable gives up after ~3 s, so an offline machine never waits on a download.
        if not cache_path.is_file() and not network.is_reachable(IMAGENET_HOST):
            raise ConnectionError(f"{IMAGENET_HOST} is not reachable; no network?")
        # get_file reads the cache, or downloads into it.
        downloaded = keras.utils.get_file(
            cache_path.name,
            IMAGENET_URL + cache_path.name,
            cache_dir=str(cache_path.parents[1]),
            cache_subdir="models",
        )
    except Exception as error:  # Keras's failed download raises a bare Exception
        message = (
            f"No ImageNet weights for MobileNetV2 ({error}). Keras looks for them in {cache_path} "
            "($KERAS_HOME/models, or ~/.keras/models when KERAS_HOME is unset): copy the file "
            "there to work offline."
        )
        if alpha != BUNDLED_ALPHA:
            raise ConnectionError(
                f"{message} The bundled base only exists for alpha={BUNDLED_ALPHA}."
            ) from error
        warnings.warn(
            f"{message} Using the course's bundled base instead (pretrained on shapes).",
            stacklevel=3,
        )
        return _bundled_weights(alpha)
    return pathlib.Path(downloaded)
