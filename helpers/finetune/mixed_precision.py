"""Mixed precision: half-precision arithmetic on float32 master weights, and its checks (lesson 08).

A mixed policy (`"mixed_float16"`, `"mixed_bfloat16"`) makes each layer compute in 16 bits while
its variables stay float32 (Keras's `compute_dtype` and `variable_dtype`). On a GPU with tensor
cores that speeds a step up and halves its activations' memory; on a CPU it is slower, not faster
(`benchmarks/mixed_precision.py` measures both). Three parts of the recipe keep training intact:

- **float32 master weights.** Phase 2 moves a weight by about its learning rate per step (Adam's
  normalised step), 1e-5 to 1e-4. float16 holds 11 significant bits: next to a weight of 0.5 its
  neighbours lie `np.spacing(np.float16(0.5))` = 2**-11 (about 4.9e-4) apart, so
  `np.float16(0.5) + np.float16(1e-5)` rounds back to 0.5 and the update vanishes. An update
  survives only when it exceeds half that spacing. `vanished_updates` counts such losses,
  `weight_spacing` gives the spacing; bfloat16 (8 significant bits) loses even more.
- **float32 logits.** The softmax and the cross-entropy need float32's range and precision, so the
  head's `Dense` logits layer computes in float32 under a mixed policy (`models.head_layers`).
- **Loss scaling (float16 only).** Gradients below float16's smallest subnormal (about 6e-8)
  flush to zero. Keras 3's `Model.compile` wraps the optimizer in a
  `keras.optimizers.LossScaleOptimizer` when the model's policy is `"mixed_float16"` (its
  `auto_scale_loss=True`, keras/src/trainers/trainer.py): the loss is multiplied by a dynamic
  scale (2**15 at first), the gradients divided back, and a step with non-finite gradients is
  skipped and the scale halved. bfloat16 has float32's exponent range, so it needs no scaling and
  gets none.

`policy` sets a policy for a block of code and always restores the previous one;
`describe_precision` reports what a built (and compiled) model actually uses; `gpu_available`
lets a GPU-only measurement skip cleanly.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import validation

# The global policies `policy` accepts: plain float32, and the two mixed ones.
POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
# The storage dtypes the numpy demonstrations compare.
DTYPES = ("float16", "bfloat16", "float32")


def _numpy_dtype(dtype: object) -> np.dtype:
    """Returns the numpy dtype named `dtype`, one of `DTYPES` (bfloat16 comes from TensorFlow)."""
    dtype = validation.check_choice("dtype", dtype, DTYPES)
    if dtype == "bfloat16":
        return np.dtype(tf.bfloat16.as_numpy_dtype)
    return np.dtype(dtype)


def _stored(name: str, values: object, dtype: np.dtype) -> np.ndarray:
    """Returns `values` stored in `dtype`, or raises unless they are finite and fit its range."""
    array = validation.check_array(name, values, (...,))
    if array.size == 0:
        raise ValueError(
            f"{name} must hold at least one value. Received: {name} of shape {array.shape}"
        )
    largest = float(np.finfo(dtype).max)
    too_large = np.abs(array.astype("float64")) > largest
    if np.any(too_large):
        example = float(array[too_large].flat[0])
        raise ValueError(
            f"{name} must fit in {dtype.name} (magnitude <= {largest:g}). "
            f"Received: {name} holding {example!r}"
        )
    return array.astype(dtype)


def weight_spacing(weights: object, dtype: str = "float16") -> np.ndarray:
    """Returns the gap between each weight, stored in `dtype`, and its neighbour away from zero.

    `np.spacing` of the stored weight, as a float64 array of magnitudes. An update smaller than
    half this gap rounds away when it is added in `dtype` (`vanished_updates`). The gap grows with
    the weight: in float16 it is `2.0 ** (np.floor(np.log2(abs(weight))) - 10)` for a normal
    weight (10 stored fraction bits), in bfloat16 `2.0 ** (... - 7)`, in float32 `2.0 ** (... -
    23)`.

    Args:
        weights: a number or an array of numbers, finite and within `dtype`'s range.
        dtype: str, one of `DTYPES`: `"float16"`, `"bfloat16"` or `"float32"`. Defaults to
            `"float16"`.

    Returns:
        A float64 array of the shape of `weights`.

    Raises:
        ValueError: naming the argument and the value received, for an unknown `dtype` or weights
            that are empty, not finite or too large for `dtype`.

    Example:

    >>> weight_spacing([0.5, 1.0, 2.0]).tolist()  # 2**-11, 2**-10, 2**-9
    [0.00048828125, 0.0009765625, 0.001953125]
    >>> float(weight_spacing(0.5, "bfloat16")), float(weight_spacing(0.5, "float32"))
    (0.00390625, 5.960464477539063e-08)
    >>> weight_spacing(0.5, "float61")
    Traceback (most recent call last):
    ...
    ValueError: dtype must be one of ('float16', 'bfloat16', 'float32'). Received: dtype='float61'.
    Did you mean 'float16'?
    """
    numpy_dtype = _numpy_dtype(dtype)
    stored = _stored("weights", weights, numpy_dtype)
    return np.abs(np.spacing(stored)).astype("float64")


def vanished_updates(weights: object, updates: object, dtype: str = "float16") -> float:
    """Returns the fraction of updates that change nothing when weights and updates are in `dtype`.

    Both are stored in `dtype` and added there, as a float16 weight would be updated without a
    float32 master copy; an element counts as vanished when `weights + updates == weights`
    afterwards. That happens when an update is smaller than half the weight's spacing
    (`weight_spacing`; exactly half rounds to the even neighbour). A zero update counts as
    vanished too: it changes nothing either.

    Args:
        weights: a number or an array, finite and within `dtype`'s range.
        updates: a number or an array broadcastable to `weights`, the same conditions.
        dtype: str, one of `DTYPES`: `"float16"`, `"bfloat16"` or `"float32"`. Defaults to
            `"float16"`.

    Returns:
        A float in [0, 1]: the vanished elements over all elements of the broadcast shape.

    Raises:
        ValueError: naming the argument and the value received, for an unknown `dtype`, values
            that are empty, not finite or too large for `dtype`, or shapes that do not broadcast.

    Example:

    A phase-2 step (rate 1e-5, gradient of order 1) on weights between 0.1 and 1:

    >>> weights = np.linspace(0.1, 1.0, 10)
    >>> vanished_updates(weights, 1e-5), vanished_updates(weights, 1e-5, "float32")
    (1.0, 0.0)
    >>> vanished_updates(weights, 1e-3)  # larger than half the spacing everywhere
    0.0
    """
    numpy_dtype = _numpy_dtype(dtype)
    stored_weights = _stored("weights", weights, numpy_dtype)
    stored_updates = _stored("updates", updates, numpy_dtype)
    try:
        shape = np.broadcast_shapes(stored_weights.shape, stored_updates.shape)
    except ValueError:
        raise ValueError(
            f"updates must broadcast to the shape of weights {stored_weights.shape}. "
            f"Received: updates of shape {stored_updates.shape}"
        ) from None
    # The sum stays in `dtype`: numpy adds two arrays of one dtype in that dtype.
    updated = stored_weights + stored_updates
    unchanged = np.broadcast_to(updated == stored_weights, shape)
    return float(np.mean(unchanged))


@contextlib.contextmanager
def policy(name: str) -> Iterator[keras.DTypePolicy]:
    """Sets Keras's global dtype policy for the block, then restores the previous one.

    Layers and models built inside the block take the policy (their variables, their compute
    dtype); they keep it after the block ends. The previous policy comes back even when the block
    raises, so a failed cell does not leave every later model in mixed precision.

    Args:
        name: str, one of `POLICIES`: `"float32"`, `"mixed_float16"` or `"mixed_bfloat16"`.

    Yields:
        The `keras.DTypePolicy` now global.

    Raises:
        ValueError: if `name` is not one of `POLICIES`, suggesting the closest.

    Example:

    >>> with policy("mixed_float16"):
    ...     layer = keras.layers.Dense(2)
    >>> layer.variable_dtype, layer.compute_dtype, keras.mixed_precision.global_policy().name
    ('float32', 'float16', 'float32')
    >>> with policy("mixed_float61"):
    ...     pass
    Traceback (most recent call last):
    ...
    ValueError: name must be one of ('float32', 'mixed_float16', 'mixed_bfloat16').
    Received: name='mixed_float61'. Did you mean 'mixed_float16'?
    """
    name = validation.check_choice("name", name, POLICIES)
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield keras.mixed_precision.global_policy()
    finally:
        keras.mixed_precision.set_global_policy(previous)


@dataclasses.dataclass(frozen=True)
class Precision:
    """What a model computes and stores in, as `describe_precision` reads it off the model."""

    policy: str  # the model's dtype policy, e.g. "mixed_float16"
    variable_dtypes: tuple[str, ...]  # the distinct dtypes of its weights: ("float32",)
    compute_dtype: str  # the dtype its layers compute in by default (its policy's)
    logits_compute_dtype: str  # the compute dtype of its last layer (the logits Dense)
    output_dtype: str | None  # the dtype of the model's output tensor; None for a subclassed model
    # Whether `model.optimizer` is a `keras.optimizers.LossScaleOptimizer`.
    loss_scaling: bool
    # Its loss scale now (its initial scale before the first step), or None without scaling.
    loss_scale: float | None


def describe_precision(model: keras.Model) -> Precision:
    """Reports a model's policy, its weight and compute dtypes, and whether it scales the loss.

    Read off the built model, not assumed: the variables' dtypes, the model's compute dtype, the
    last layer's compute dtype (the logits `Dense` of `models.build_mobilenet_v2`), the output's
    dtype, and the compiled optimizer (`model.optimizer`; `None` before `compile`).

    Args:
        model: a built `keras.Model`.

    Returns:
        A `Precision`.

    Raises:
        ValueError: if `model` is not a built `keras.Model` with at least one layer.

    Example:

    >>> from helpers.finetune import models
    >>> with policy("mixed_float16"):
    ...     model = keras.Sequential([keras.Input((3,)), *models.head_layers(2, dropout=0)])
    >>> model.compile(optimizer="adam", loss="mse")
    >>> precision = describe_precision(model)
    >>> precision.variable_dtypes, precision.compute_dtype, precision.logits_compute_dtype
    (('float32',), 'float16', 'float32')
    >>> precision.loss_scaling, precision.loss_scale
    (True, 32768.0)
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    if not model.built or not model.layers:
        raise ValueError(f"model must be built, with layers. Received: model={model!r}")
    optimizer = getattr(model, "optimizer", None)
    loss_scaling = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    loss_scale = None
    if loss_scaling:
        scale = optimizer.dynamic_scale if optimizer.built else optimizer.initial_scale
        loss_scale = float(keras.ops.convert_to_numpy(scale))
    return Precision(
        policy=model.dtype_policy.name,
        variable_dtypes=tuple(sorted({variable.dtype for variable in model.weights})),
        compute_dtype=model.compute_dtype,
        logits_compute_dtype=model.layers[-1].compute_dtype,
        output_dtype=_output_dtype(model),
        loss_scaling=loss_scaling,
        loss_scale=loss_scale,
    )


def _output_dtype(model: keras.Model) -> str | None:
    """The dtype of a functional or sequential model's first output; `None` for a subclassed one."""
    outputs = getattr(model, "outputs", None)
    if not outputs:
        return None
    return keras.backend.standardize_dtype(outputs[0].dtype)


def gpu_available() -> bool:
    """Returns whether TensorFlow sees a GPU: where mixed precision can pay off.

    Measurements and tests that need one skip cleanly without it
    (`pytest.mark.skipif(not gpu_available(), reason=...)`).

    Example:

    >>> isinstance(gpu_available(), bool)
    True
    """
    return bool(tf.config.list_physical_devices("GPU"))
