"""Argument checks for every public helper: one rule and one wording for each kind of value.

Each `check_*` function raises a `ValueError` that names the argument and echoes what it received,
in the form Keras uses: `"batch_size must be an int >= 1. Received: batch_size=0"`. It returns the
value converted to a plain Python or numpy type, so callers use what it returns. Python and numpy
scalars are accepted alike; `True` and `False` are not numbers. The checks run before TensorFlow
sees the value, so a learner reads which argument was wrong instead of a graph-execution traceback
or a silent NaN.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Sequence

import keras
import numpy as np
import tensorflow as tf

Schedule = keras.optimizers.schedules.LearningRateSchedule


def is_number(value: object) -> bool:
    """Returns whether `value` is a real Python or numpy scalar (an int or a float, never a bool).

    Example:

    >>> [is_number(value) for value in (3, 2.5, np.float32(1e-3), np.int64(32), True, "1", None)]
    [True, True, True, True, False, False, False]
    """
    is_bool = isinstance(value, bool | np.bool_)
    return isinstance(value, numbers.Real) and not is_bool


def is_int(value: object) -> bool:
    """Returns whether `value` is a Python or numpy int (never a bool, never a float like `2.0`).

    Example:

    >>> [is_int(value) for value in (3, np.int64(3), 3.0, True)]
    [True, True, False, False]
    """
    return isinstance(value, numbers.Integral) and not isinstance(value, bool | np.bool_)


def _received(name: str, value: object) -> str:
    return f"Received: {name}={_short(value)!r}"


def _range_words(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum} to {maximum}"
    if minimum is not None:
        return f" >= {minimum}"
    if maximum is not None:
        return f" <= {maximum}"
    return ""


def check_int(
    name: str,
    value: object,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int:
    """Returns `value` as an `int`, or raises unless it is an int within `[minimum, maximum]`.

    Args:
        name: str, the argument's name, used in the message.
        value: the value received.
        minimum: int or None, the smallest allowed value. Defaults to `None` (no bound).
        maximum: int or None, the largest allowed value. Defaults to `None` (no bound).

    Returns:
        The value as a Python `int`.

    Raises:
        ValueError: `"<name> must be an int >= <minimum>. Received: <name>=<value>"`.

    Example:

    >>> check_int("batch_size", np.int64(32), minimum=1)
    32
    >>> check_int("batch_size", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: batch_size must be an int >= 1. Received: batch_size=0
    """
    too_small = minimum is not None and is_int(value) and value < minimum
    too_large = maximum is not None and is_int(value) and value > maximum
    if not is_int(value) or too_small or too_large:
        wanted = f"an int{_range_words(minimum, maximum)}"
        raise ValueError(f"{name} must be {wanted}. {_received(name, value)}")
    return int(value)


def check_optional_int(
    name: str,
    value: object,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """Returns `None` for `None`, else `check_int(name, value, minimum, maximum)`.

    Example:

    >>> check_optional_int("num_steps", None, minimum=2) is None
    True
    >>> check_optional_int("num_steps", -5, minimum=2)
    Traceback (most recent call last):
    ...
    ValueError: num_steps must be None or an int >= 2. Received: num_steps=-5
    """
    if value is None:
        return None
    try:
        return check_int(name, value, minimum, maximum)
    except ValueError:
        wanted = f"None or an int{_range_words(minimum, maximum)}"
        raise ValueError(f"{name} must be {wanted}. {_received(name, value)}") from None


def check_number(
    name: str,
    value: object,
    minimum: float | None = None,
    maximum: float | None = None,
    include_minimum: bool = True,
    include_maximum: bool = True,
) -> float:
    """Returns `value` as a `float`, or raises unless it is a finite number in the interval.

    Args:
        name: str, the argument's name, used in the message.
        value: the value received.
        minimum: float or None, the lower bound. Defaults to `None` (no bound).
        maximum: float or None, the upper bound. Defaults to `None` (no bound).
        include_minimum: bool, whether `minimum` itself is allowed. Defaults to `True`.
        include_maximum: bool, whether `maximum` itself is allowed. Defaults to `True`.

    Returns:
        The value as a Python `float`.

    Raises:
        ValueError: `"<name> must be a finite number in [0, 1). Received: <name>=<value>"`.

    Example:

    >>> check_number("dropout", np.float32(0.5), 0, 1, include_maximum=False)
    0.5
    >>> check_number("dropout", 1.0, 0, 1, include_maximum=False)
    Traceback (most recent call last):
    ...
    ValueError: dropout must be a finite number in [0, 1). Received: dropout=1.0
    """
    is_finite = is_number(value) and math.isfinite(value)
    inside = is_finite and _inside(float(value), minimum, maximum, include_minimum, include_maximum)
    if not inside:
        interval = _interval_words(minimum, maximum, include_minimum, include_maximum)
        raise ValueError(f"{name} must be a finite number{interval}. {_received(name, value)}")
    return float(value)


def _inside(
    value: float,
    minimum: float | None,
    maximum: float | None,
    include_minimum: bool,
    include_maximum: bool,
) -> bool:
    above_minimum = minimum is None or value > minimum or (include_minimum and value == minimum)
    below_maximum = maximum is None or value < maximum or (include_maximum and value == maximum)
    return above_minimum and below_maximum


def _interval_words(
    minimum: float | None,
    maximum: float | None,
    include_minimum: bool,
    include_maximum: bool,
) -> str:
    if minimum is not None and maximum is not None:
        left = "[" if include_minimum else "("
        right = "]" if include_maximum else ")"
        return f" in {left}{minimum:g}, {maximum:g}{right}"
    if minimum is not None:
        return f" {'>=' if include_minimum else '>'} {minimum:g}"
    if maximum is not None:
        return f" {'<=' if include_maximum else '<'} {maximum:g}"
    return ""


def check_positive_number(name: str, value: object) -> float:
    """Returns `value` as a `float`, or raises unless it is a positive, finite number.

    Example:

    >>> check_positive_number("learning_rate", np.float32(0.5))
    0.5
    >>> check_positive_number("learning_rate", float("nan"))
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be a positive, finite number. Received: learning_rate=nan
    """
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive, finite number. {_received(name, value)}")
    return float(value)


def check_probability(name: str, value: object, include_one: bool = False) -> float:
    """Returns `value` as a `float`, or raises unless it is in `[0, 1)` (or `[0, 1]`).

    Dropout rates, momentum and decay factors are probabilities of this kind.

    Example:

    >>> check_probability("dropout", 0)
    0.0
    >>> check_probability("dropout", 1)
    Traceback (most recent call last):
    ...
    ValueError: dropout must be a finite number in [0, 1). Received: dropout=1
    """
    return check_number(name, value, 0, 1, include_maximum=include_one)


def check_bool(name: str, value: object) -> bool:
    """Returns `value` as a `bool`, or raises unless it is `True` or `False` (Python or numpy).

    Example:

    >>> check_bool("shuffle", "yes")
    Traceback (most recent call last):
    ...
    ValueError: shuffle must be True or False. Received: shuffle='yes'
    """
    if not isinstance(value, bool | np.bool_):
        raise ValueError(f"{name} must be True or False. {_received(name, value)}")
    return bool(value)


def check_choice(name: str, value: object, choices: Iterable[str]) -> str:
    """Returns `value`, or raises unless it is one of `choices`, suggesting the closest one.

    Example:

    >>> check_choice("optimizer", "adam", ("adam", "sgd"))
    'adam'
    >>> check_choice("optimizer", "adan", ("adam", "sgd"))
    Traceback (most recent call last):
    ...
    ValueError: optimizer must be one of ('adam', 'sgd'). Received: optimizer='adan'.
    Did you mean 'adam'?
    """
    choices = tuple(choices)
    if isinstance(value, str) and value in choices:
        return value
    message = f"{name} must be one of {choices}. {_received(name, value)}"
    if isinstance(value, str):
        closest = difflib.get_close_matches(value.lower(), choices, n=1, cutoff=0.5)
        if closest:
            message += f". Did you mean {closest[0]!r}?"
    raise ValueError(message)


def check_instance(name: str, value: object, kind: type | tuple[type, ...], wanted: str) -> object:
    """Returns `value`, or raises unless it is an instance of `kind` (described by `wanted`).

    Example:

    >>> check_instance("model", "resnet", keras.Model, "a keras.Model")
    Traceback (most recent call last):
    ...
    ValueError: model must be a keras.Model. Received: model='resnet'
    """
    if not isinstance(value, kind):
        raise ValueError(f"{name} must be {wanted}. {_received(name, _short(value))}")
    return value


def check_learning_rate(name: str, value: object) -> float | Schedule:
    """Returns a learning rate Keras 3 can use: a positive, finite number or a schedule of them.

    A schedule is called at steps 0 and 1, so a schedule that starts at the int `0` (Keras then
    builds an int variable and raises later, inside `fit`) or at a negative or NaN rate is caught
    here.

    Args:
        name: str, the argument's name, e.g. `"learning_rate"` or `"fine_tune_learning_rate"`.
        value: a number or a `keras.optimizers.schedules.LearningRateSchedule`.

    Returns:
        A Python `float`, or the schedule itself.

    Raises:
        ValueError: naming `name` and the value received.

    Example:

    >>> check_learning_rate("learning_rate", np.float32(1e-3))  # doctest: +ELLIPSIS
    0.00100...
    >>> check_learning_rate("learning_rate", 0)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be a positive, finite number or a LearningRateSchedule.
    Received: learning_rate=0
    """
    wanted = "a positive, finite number or a LearningRateSchedule"
    if isinstance(value, Schedule):
        check_float_schedule(name, value)
        for step in (0, 1):
            try:
                rate = value(step)
            except Exception as error:  # an int start fails inside TensorFlow's arithmetic
                first_line = str(error).strip().splitlines()[0] if str(error).strip() else ""
                raise ValueError(
                    f"{name} must be a schedule of positive float rates; calling it at step {step} "
                    f"failed ({type(error).__name__}: {first_line[:120]}). Start it at a float "
                    f"such as 0.0, not the int 0. {_received(name, value)}"
                ) from None
            rate_value = float(keras.ops.convert_to_numpy(rate))
            is_float = keras.backend.is_float_dtype(keras.backend.standardize_dtype(rate.dtype))
            if not is_float or not math.isfinite(rate_value) or rate_value < 0:
                raise ValueError(
                    f"{name} must be a schedule of positive float rates; at step {step} it gives "
                    f"{rate_value!r} ({keras.backend.standardize_dtype(rate.dtype)}). "
                    f"{_received(name, value)}"
                )
        return value
    if not is_number(value) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be {wanted}. {_received(name, value)}")
    return float(value)


def check_labels(
    name: str,
    labels: object,
    num_classes: int | None = None,
    count: int | None = None,
) -> np.ndarray:
    """Returns `labels` as an int32 array `(n,)`, or raises unless they are whole class indices.

    Float labels are accepted when every value is a whole number (`1.0`); `0.5` or `1.7` is an
    error, never truncated.

    Args:
        name: str, the argument's name, used in the message (e.g. `"train_data labels"`).
        labels: array-like of class indices.
        num_classes: int or None, labels must lie in `[0, num_classes)`. Defaults to `None` (`>=
            0`).
        count: int or None, how many labels there must be (one per image). Defaults to `None`.

    Returns:
        An int32 numpy array of shape `(n,)`.

    Raises:
        ValueError: naming `name`, for an empty or wrongly shaped array, non-integral values or a
            label outside the classes.

    Example:

    >>> check_labels("labels", [0, 1.0, 3], num_classes=4).tolist()
    [0, 1, 3]
    >>> check_labels("labels", [0, 0.5, 1.7], num_classes=4)
    Traceback (most recent call last):
    ...
    ValueError: labels must be whole class indices (ints). Received: labels with values [0.5, 1.7]
    """
    array = _as_numeric_array(name, labels)
    if array.ndim != 1 or array.size == 0:
        raise ValueError(
            f"{name} must be a non-empty 1-D array of class indices. "
            f"Received: {name} of shape {array.shape}"
        )
    if count is not None and len(array) != count:
        raise ValueError(
            f"{name} must hold one label per example ({count}). Received: {len(array)} labels"
        )
    if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
        integral = np.isfinite(array) & (array == np.round(array))
        wrong = sorted({value.item() for value in array[~integral]})[:5]
        raise ValueError(
            f"{name} must be whole class indices (ints). Received: {name} with values {wrong}"
        )
    largest_allowed = None if num_classes is None else num_classes - 1
    outside = (array < 0) | (False if largest_allowed is None else array > largest_allowed)
    if np.any(outside):
        wrong = sorted({int(value) for value in array[outside]})[:5]
        interval = "[0, ...)" if num_classes is None else f"[0, {num_classes})"
        raise ValueError(f"{name} must be in {interval}. Received: {name} with values {wrong}")
    return array.astype("int32")


def check_images(
    name: str,
    images: object,
    image_shape: Sequence[int | None] | None = None,
    value_range: tuple[float, float] = (-1.0, 1.0),
) -> np.ndarray:
    """Returns `images` as a float32 array `(n, height, width, channels)`, or raises saying why.

    The checks, in order: a numeric array of rank 4, at least one image, the shape `image_shape`
    (when given), not raw uint8 / uint16 pixels, no NaN or inf, and every value within `value_range`
    (MobileNetV2 expects `preprocess_input`'s [-1, 1]).

    Args:
        name: str, the argument's name, used in the message.
        images: array-like of images.
        image_shape: `(height, width, channels)` or None; `None` entries match any size. Defaults to
            `None` (any shape with 3 channels).
        value_range: `(low, high)`, the range preprocessed pixels must lie in. Defaults to `(-1.0,
            1.0)`.

    Returns:
        A float32 numpy array.

    Raises:
        ValueError: naming `name` and what was received.

    Example:

    >>> check_images("images", np.zeros((2, 8, 8, 3))).shape
    (2, 8, 8, 3)
    >>> check_images("images", np.full((2, 8, 8, 3), 255, "uint8"))
    Traceback (most recent call last):
    ...
    ValueError: images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input),
    not raw pixels. Received: images of dtype uint8
    """
    array = _as_numeric_array(name, images)
    wanted_shape = (None, None, 3) if image_shape is None else tuple(image_shape)
    if array.ndim != 4:
        raise ValueError(
            f"{name} must be a batch of images (n, height, width, channels). "
            f"Received: {name} of shape {array.shape}"
        )
    if len(array) == 0:
        raise ValueError(
            f"{name} must hold at least one image. Received: {name} of shape {array.shape}"
        )
    sizes = zip(wanted_shape, array.shape[1:], strict=False)
    fits = all(wanted is None or wanted == size for wanted, size in sizes)
    if not fits or len(wanted_shape) != 3:
        shape_words = ", ".join("any" if size is None else str(size) for size in wanted_shape)
        raise ValueError(
            f"{name} must have shape (n, {shape_words}). Received: {name} of shape {array.shape}"
        )
    low, high = value_range
    if array.dtype in (np.uint8, np.uint16):
        raise ValueError(
            f"{name} must be preprocessed floats in [{low:g}, {high:g}] "
            "(mobilenet_v2.preprocess_input), not raw pixels. "
            f"Received: {name} of dtype {array.dtype}"
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must be finite. Received: {name} with {bad} NaN or inf values")
    if array.min() < low or array.max() > high:
        raise ValueError(
            f"{name} must be preprocessed to [{low:g}, {high:g}] (mobilenet_v2.preprocess_input). "
            f"Received: {name} with values from {array.min():g} to {array.max():g}"
        )
    return array.astype("float32", copy=False)


def check_features(name: str, features: object, num_features: int | None = None) -> np.ndarray:
    """Returns `features` as a float32 array `(n, num_features)`, or raises: 2-D, non-empty, finite.

    Example:

    >>> check_features("features", [[0.5, 1.0]]).shape
    (1, 2)
    >>> check_features("features", [[0.5, float("nan")]])
    Traceback (most recent call last):
    ...
    ValueError: features must be finite. Received: features with 1 NaN or inf values
    """
    array = _as_numeric_array(name, features)
    wrong_width = num_features is not None and array.ndim == 2 and array.shape[1] != num_features
    if array.ndim != 2 or len(array) == 0 or wrong_width:
        width = "num_features" if num_features is None else str(num_features)
        raise ValueError(
            f"{name} must be a non-empty array (n, {width}). "
            f"Received: {name} of shape {array.shape}"
        )
    if not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must be finite. Received: {name} with {bad} NaN or inf values")
    return array.astype("float32", copy=False)


def check_dataset(
    name: str,
    dataset: object,
    image_shape: Sequence[int | None] | None = None,
    num_classes: int | None = None,
) -> tf.data.Dataset:
    """Returns `dataset`, or raises unless its `(images, labels)` batches pass the array checks.

    It peeks at the first batch (one batch is read; nothing is trained) and applies `check_images`
    and `check_labels` to it, so raw uint8 images, NaN pixels, float or out-of-range labels and an
    empty dataset are caught before `fit` starts.

    Args:
        name: str, the argument's name, used in the message.
        dataset: a `tf.data.Dataset` of `(images, labels)` batches.
        image_shape: `(height, width, channels)` or None, as for `check_images`. Defaults to `None`.
        num_classes: int or None, as for `check_labels`. Defaults to `None`.

    Returns:
        The dataset, unchanged.

    Raises:
        ValueError: naming `name` and what was received.

    Example:

    >>> images = np.zeros((4, 8, 8, 3), "float32")
    >>> dataset = tf.data.Dataset.from_tensor_slices((images, [0, 1, 2, 3])).batch(4)
    >>> check_dataset("train_data", dataset, num_classes=3)
    Traceback (most recent call last):
    ...
    ValueError: train_data labels must be in [0, 3). Received: train_data labels with values [3]
    """
    check_instance(name, dataset, tf.data.Dataset, "a tf.data.Dataset")
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) != 2:
        raise ValueError(f"{name} must yield (images, labels) batches. Received: elements {spec}")
    if spec[0].shape.rank is not None and spec[0].shape.rank != 4:
        raise ValueError(
            f"{name} must yield batches of images (batch, height, width, channels); "
            "call .batch() on a dataset of single images. "
            f"Received: images of shape {spec[0].shape}"
        )
    first_batch = next(iter(dataset.take(1)), None)
    if first_batch is None:
        raise ValueError(f"{name} must hold at least one batch. Received: an empty dataset")
    images, labels = first_batch
    check_images(f"{name} images", images.numpy(), image_shape)
    check_labels(f"{name} labels", labels.numpy(), num_classes, count=int(images.shape[0]))
    # Only the first batch is read: a NaN in a later batch is caught by the training guards.
    return dataset


def check_callbacks(name: str, callbacks: object) -> list[keras.callbacks.Callback]:
    """Returns `callbacks` as a list, or raises unless it is `None` or a list of Keras callbacks.

    Example:

    >>> check_callbacks("callbacks", None)
    []
    >>> check_callbacks("callbacks", "abc")
    Traceback (most recent call last):
    ...
    ValueError: callbacks must be None or a list of keras.callbacks.Callback.
    Received: callbacks='abc'
    """
    wanted = "None or a list of keras.callbacks.Callback"
    if callbacks is None:
        return []
    if not isinstance(callbacks, list | tuple):
        raise ValueError(f"{name} must be {wanted}. {_received(name, _short(callbacks))}")
    for callback in callbacks:
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(f"{name} must be {wanted}. Received: an element {_short(callback)!r}")
    return list(callbacks)


def check_sequence(name: str, value: object, minimum_length: int = 1) -> list:
    """Returns `value` as a list, or raises unless it is a list, tuple or 1-D array long enough.

    A string is not a sequence here, and neither is a set (its order is arbitrary).

    Example:

    >>> check_sequence("learning_rates", (1e-2, 1e-3))
    [0.01, 0.001]
    >>> check_sequence("learning_rates", [])
    Traceback (most recent call last):
    ...
    ValueError: learning_rates must be a list or tuple of at least 1 item.
    Received: learning_rates=[]
    """
    if isinstance(value, np.ndarray) and value.ndim == 1:
        value = value.tolist()
    if not isinstance(value, list | tuple) or len(value) < minimum_length:
        plural = "item" if minimum_length == 1 else "items"
        raise ValueError(
            f"{name} must be a list or tuple of at least {minimum_length} {plural}. "
            f"{_received(name, _short(value))}"
        )
    return list(value)


def check_text(name: str, value: object) -> str:
    """Returns `value`, or raises unless it is a string holding more than whitespace.

    Names, prompts, hints and solutions of the exercises are text of this kind: a blank one would
    show the learner an empty box.

    Example:

    >>> check_text("solution", "learning_rate = 1e-3")
    'learning_rate = 1e-3'
    >>> check_text("solution", "  ")
    Traceback (most recent call last):
    ...
    ValueError: solution must be a non-blank str. Received: solution='  '
    """
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a non-blank str. {_received(name, _short(value))}")
    return value


def check_array(
    name: str,
    value: object,
    shape: Sequence[object],
    allow_non_finite: bool = False,
) -> np.ndarray:
    """Returns `value` as a numeric numpy array, or raises unless it has `shape` and is finite.

    For arrays that are neither images, labels nor features: a starting point, a path of points,
    a loss curve, a table of logits. Each entry of `shape` describes one axis: an int is an exact
    size; a str or `None` matches any size (a str names the axis in the message); a leading `...`
    matches any number of leading axes.

    Args:
        name: str, the argument's name, used in the message.
        value: array-like of numbers.
        shape: sequence of axis descriptions, e.g. `(2,)`, `("samples", "num_classes")` or
            `(..., 2)`.
        allow_non_finite: bool, whether NaN and inf may appear (a diverging run's losses hold them
            on purpose). Defaults to `False`.

    Returns:
        The numpy array, in its own numeric dtype.

    Raises:
        ValueError: `"<name> must have shape (samples, num_classes). Received: <name> of shape
            (2,)"`, or when the values are not numbers or not finite.

    Example:

    >>> check_array("start", [1.0, 2.0], (2,)).tolist()
    [1.0, 2.0]
    >>> check_array("path", np.zeros((5, 2)), (..., 2)).shape
    (5, 2)
    >>> check_array("logits", [0.5, 1.0], ("samples", "num_classes"))
    Traceback (most recent call last):
    ...
    ValueError: logits must have shape (samples, num_classes). Received: logits of shape (2,)
    """
    array = _as_numeric_array(name, value)
    axes = tuple(shape)
    any_leading_axes = len(axes) > 0 and axes[0] is Ellipsis
    sized_axes = axes[1:] if any_leading_axes else axes
    sized_rank = len(sized_axes)
    rank_fits = array.ndim >= sized_rank if any_leading_axes else array.ndim == sized_rank
    trailing_sizes = array.shape[array.ndim - sized_rank :]
    sizes_fit = rank_fits and all(
        not is_int(wanted) or wanted == size
        for wanted, size in zip(sized_axes, trailing_sizes, strict=True)
    )
    if not sizes_fit:
        words = ", ".join(_axis_words(axis) for axis in axes)
        shape_words = f"({words},)" if len(axes) == 1 else f"({words})"
        raise ValueError(
            f"{name} must have shape {shape_words}. Received: {name} of shape {array.shape}"
        )
    if not allow_non_finite and not np.all(np.isfinite(array)):
        bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(f"{name} must be finite. Received: {name} with {bad} NaN or inf values")
    return array


def _axis_words(axis: object) -> str:
    """How `check_array` writes one axis of a shape: `...`, a size, a name, or `any`."""
    if axis is Ellipsis:
        return "..."
    if axis is None:
        return "any"
    return str(axis)


def check_learning_rates(name: str, values: object) -> list[float]:
    """Returns `values` as a list of floats, or raises unless they are distinct positive rates.

    Sweeps and grid searches take a sequence of learning rates. Each must be a positive, finite
    number (as for `check_positive_number`), and none may repeat: a sweep keyed by its rates (a
    dict from each rate to its history) would silently keep one run of a repeated rate.

    Args:
        name: str, the argument's name, used in the message (an item is named `<name>[<index>]`).
        values: the value received.

    Returns:
        The rates as a list of Python floats, in the given order.

    Raises:
        ValueError: for an empty or non-sequence value, a bad item, or a repeated rate.

    Example:

    >>> check_learning_rates("learning_rates", np.array([1e-2, 0.5], "float32"))
    [0.009999999776482582, 0.5]
    >>> check_learning_rates("learning_rates", [1e-3, -1.0])
    Traceback (most recent call last):
    ...
    ValueError: learning_rates[1] must be a positive, finite number.
    Received: learning_rates[1]=-1.0
    >>> check_learning_rates("learning_rates", [1e-3, 0.001])
    Traceback (most recent call last):
    ...
    ValueError: learning_rates must hold distinct values. Received: learning_rates=[0.001, 0.001]
    """
    items = check_sequence(name, values)
    rates = [check_positive_number(f"{name}[{index}]", item) for index, item in enumerate(items)]
    if len(set(rates)) != len(rates):
        raise ValueError(f"{name} must hold distinct values. {_received(name, _short(rates))}")
    return rates


def check_pair(name: str, value: object, wanted: str) -> tuple:
    """Returns `value` as a 2-tuple, or raises unless it is a list or tuple of exactly two items.

    Data given as `(images, labels)` or `(features, labels)` is checked with it first, so a
    triple or a bare array is named instead of failing later with "too many values to unpack".

    Args:
        name: str, the argument's name, used in the message.
        value: the value received.
        wanted: str, what the argument must be, e.g. `"a tuple (features, labels)"`.

    Returns:
        The two items, as a tuple.

    Raises:
        ValueError: `"<name> must be <wanted>. Received: ..."`.

    Example:

    >>> check_pair("train", ([[0.5]], [1]), "a tuple (features, labels)")
    ([[0.5]], [1])
    >>> check_pair("train", ([[0.5]], [1], [2]), "a tuple (features, labels)")
    Traceback (most recent call last):
    ...
    ValueError: train must be a tuple (features, labels). Received: a tuple of 3 items
    """
    is_sequence = isinstance(value, list | tuple)
    if is_sequence and len(value) == 2:
        return tuple(value)
    if is_sequence:
        received = f"Received: a {type(value).__name__} of {len(value)} items"
    else:
        received = _received(name, _short(value))
    raise ValueError(f"{name} must be {wanted}. {received}")


def check_one_of(name: str, value: object, choices: Sequence[object]) -> object:
    """Returns the choice `value` equals, or raises unless it is one of `choices` (numbers or str).

    `check_choice` handles names; this handles choices that are numbers, or numbers and names
    mixed: a width multiplier from `(0.35, 0.5, ...)`, `verbose` from `(0, 1, 2, "auto")`. Numbers
    compare by value to float32 precision (`np.float32(0.35)` is `0.35`); a bool never equals a
    number.

    Args:
        name: str, the argument's name, used in the message.
        value: the value received.
        choices: sequence of numbers and str, the allowed values.

    Returns:
        The matching item of `choices` (so `np.float32(0.35)` comes back as `0.35`).

    Raises:
        ValueError: `"<name> must be one of <choices>. Received: <name>=<value>"`.

    Example:

    >>> check_one_of("alpha", np.float32(0.35), (0.35, 0.5, 1.0))
    0.35
    >>> check_one_of("verbose", 3, (0, 1, 2, "auto"))
    Traceback (most recent call last):
    ...
    ValueError: verbose must be one of (0, 1, 2, 'auto'). Received: verbose=3
    """
    choices = tuple(choices)
    for choice in choices:
        if _same_choice(value, choice):
            return choice
    raise ValueError(f"{name} must be one of {choices}. {_received(name, _short(value))}")


def _same_choice(value: object, choice: object) -> bool:
    if is_number(value) and is_number(choice):
        return math.isclose(float(value), float(choice), rel_tol=1e-6)
    if isinstance(value, str) and isinstance(choice, str):
        return value == choice
    return value is choice


def check_float_schedule(name: str, schedule: object) -> Schedule:
    """Returns `schedule`, or raises unless its configured starting rates are floats.

    Keras gives a schedule the dtype of its start. `PolynomialDecay(0, 10, end_learning_rate=1e-3)`
    computes in int32, truncates 1e-3 to 0 and returns the float 0.0 at every step, so calling it
    (as `check_learning_rate` does) cannot tell it from a schedule that rests at 0; its config can.
    The keys read are `initial_learning_rate` and `values` (`PiecewiseConstantDecay`).

    Args:
        name: str, the argument's name, e.g. `"learning_rate"`.
        schedule: a `keras.optimizers.schedules.LearningRateSchedule`.

    Returns:
        The schedule, unchanged.

    Raises:
        ValueError: naming `name` and the int it holds, or when `schedule` is not a schedule.

    Example:

    >>> start_at_int_zero = keras.optimizers.schedules.PolynomialDecay(0, 10, 1e-3)
    >>> check_float_schedule("learning_rate", start_at_int_zero)
    Traceback (most recent call last):
    ...
    ValueError: learning_rate must be a schedule of float rates (write 0.0, not 0): Keras casts an
    int schedule's rates to int32, so it stays at 0 or fails. Received: learning_rate with
    initial_learning_rate=0
    """
    check_instance(name, schedule, Schedule, "a keras LearningRateSchedule")
    config = schedule.get_config()
    for key in ("initial_learning_rate", "values"):
        configured = np.atleast_1d(np.asarray(config.get(key, []), dtype=object))
        if any(is_int(value) for value in configured):
            raise ValueError(
                f"{name} must be a schedule of float rates (write 0.0, not 0): Keras casts an int "
                "schedule's rates to int32, so it stays at 0 or fails. "
                f"Received: {name} with {key}={config[key]!r}"
            )
    return schedule


def _as_numeric_array(name: str, value: object) -> np.ndarray:
    if isinstance(value, tf.Tensor):
        value = value.numpy()
    try:
        array = np.asarray(value)
    except (ValueError, TypeError):
        array = None
    if array is None or not (np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_):
        raise ValueError(f"{name} must be a numeric array. {_received(name, _short(value))}")
    return array


def _short(value: object) -> object:
    """Keeps a message readable: a big array or list is described by its shape, not printed.

    A schedule is named by its class: its default repr holds a memory address, which would differ
    between runs (and break a notebook's compared output).
    """
    if isinstance(value, Schedule):
        return _Described(f"{type(value).__name__} schedule")
    if isinstance(value, np.ndarray) and value.size > 10:
        return _Described(f"array of shape {value.shape} and dtype {value.dtype}")
    if isinstance(value, list | tuple) and len(value) > 10:
        return _Described(f"{type(value).__name__} of {len(value)} items")
    return value


class _Described:
    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"<{self.text}>"
