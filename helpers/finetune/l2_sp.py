"""L2-SP: decay towards the pretrained weights instead of towards zero (lesson 06).

Weight decay and an L2 penalty pull every weight towards 0. When fine-tuning, 0 is not where the
knowledge is: the pretrained values are. L2-SP (Li, Grandvalet and Davoine 2018, "Explicit
inductive bias for transfer learning with convolutional networks") penalises the distance from
them instead, `strength * sum((w - w_pretrained) ** 2)` summed over the base's kernels.

The penalty's gradient is `2 * strength * (w - w_pretrained)`: zero at the start of phase 2,
growing as the base drifts. With Adam it is added to the data gradient before Adam's normalisation
(the division by `sqrt(v) + epsilon`), so like any penalty in the loss it is rescaled with the
data gradient; decoupled weight decay (an optimizer's `weight_decay`) is not.

How it reaches the loss: `attach` sets Keras 3's public `variable.regularizer` on each kernel.
Keras adds `variable.regularizer(variable)` of every *trainable* weight to `model.losses`
(`Layer._get_regularization_losses` in keras/src/layers/layer.py), and `compute_loss` adds
`model.losses` to the loss; a frozen kernel adds nothing. A traced training step bakes the
regularizers it saw into its graph, so attach before compiling: `two_phase.fine_tune` compiles
again when the regularizers of the trainable weights changed since its last trace.
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.finetune import models, validation

# The layers whose `kernel` gets a penalty (Keras 3 names DepthwiseConv2D's weight `kernel` too);
# biases and BatchNormalization's gamma and beta are left free, as in the paper.
KERNEL_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


@keras.saving.register_keras_serializable(package="gentle_fine_tuning")
class L2SP(keras.regularizers.Regularizer):
    """Penalises a weight's squared distance from a reference: `strength * sum((w - ref) ** 2)`.

    A plain L2 regularizer is this with a reference of zeros. The reference is copied once, as a
    float32 array of the weight's shape, so later changes to the weight do not move it.

    Args:
        strength: float >= 0, the penalty's factor (`strength` in the formula).
        reference: array-like of finite numbers, the values the weight is pulled towards (its
            pretrained values).

    Raises:
        ValueError: if `strength` is not a finite number >= 0 or `reference` is not a finite
            numeric array, naming the argument and the value received.

    Example:

    >>> regularizer = L2SP(0.1, reference=[1.0, 2.0])
    >>> round(float(regularizer(keras.ops.convert_to_tensor([1.5, 1.0]))), 6)  # 0.1 * 1.25
    0.125
    """

    def __init__(self, strength: float, reference: object) -> None:
        self.strength = validation.check_number("strength", strength, minimum=0)
        reference_array = validation.check_array("reference", reference, (...,))
        self.reference = np.array(reference_array, dtype="float32", copy=True)

    def __call__(self, weights: object) -> object:
        """Returns `strength * sum(square(weights - reference))`, a scalar tensor.

        Raises:
            ValueError: if `weights` does not have the reference's shape.
        """
        shape = tuple(weights.shape)
        if shape != self.reference.shape:
            raise ValueError(
                f"weights must have the reference's shape {self.reference.shape}. "
                f"Received: weights of shape {shape}"
            )
        reference = keras.ops.convert_to_tensor(self.reference, dtype=weights.dtype)
        return self.strength * keras.ops.sum(keras.ops.square(weights - reference))

    def get_config(self) -> dict:
        """Returns `{"strength": float, "reference": nested list}`, for `from_config`."""
        return {"strength": self.strength, "reference": self.reference.tolist()}


def _kernels(base_model: keras.Model) -> list[keras.Variable]:
    """The `kernel` variable of each layer of `KERNEL_LAYERS` in the base, in layer order."""
    kernels = []
    for layer in base_model.layers:
        kernel = getattr(layer, "kernel", None) if isinstance(layer, KERNEL_LAYERS) else None
        if isinstance(kernel, keras.Variable):
            kernels.append(kernel)
    return kernels


def attach(base_model: keras.Model, strength: float) -> int:
    """Gives every kernel of the base an `L2SP` penalty towards its current value.

    Call it after phase 1 and before phase 2 (and before compiling for phase 2): the current values
    are then the pretrained ones, and the penalty starts at zero. It counts only while a kernel is
    trainable, so a frozen base adds nothing to the loss. Attaching again takes the current values
    as the new reference. Each kernel's gradient gains `2 * strength * (w - w_pretrained)`.

    Args:
        base_model: keras.Model, the base (as for `models.unfreeze`, not the model containing it).
        strength: float >= 0, the penalty's factor.

    Returns:
        int, how many kernels got a penalty (Conv2D, DepthwiseConv2D and Dense kernels; no biases,
        no BatchNormalization weights).

    Raises:
        ValueError: if `base_model` is not a base, `strength` is not a finite number >= 0, or a
            kernel already carries another regularizer (nothing is attached then).

    Example:

    >>> _, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> attach(base_model, strength=1e-3)  # 35 Conv2D and 17 DepthwiseConv2D kernels
    52
    >>> penalty(base_model)  # the weights have not moved yet
    0.0
    >>> attach(base_model, strength=-1)
    Traceback (most recent call last):
    ...
    ValueError: strength must be a finite number >= 0. Received: strength=-1
    """
    models.check_base_model(base_model)
    strength = validation.check_number("strength", strength, minimum=0)
    kernels = _kernels(base_model)
    for kernel in kernels:
        has_other = kernel.regularizer is not None and not isinstance(kernel.regularizer, L2SP)
        if has_other:
            raise ValueError(
                f"base_model's kernels must have no regularizer of their own for L2-SP to attach "
                f"(remove it first). Received: {kernel.path} with {kernel.regularizer!r}"
            )
    for kernel in kernels:
        kernel.regularizer = L2SP(strength, reference=kernel.numpy())
    return len(kernels)


def detach(base_model: keras.Model) -> int:
    """Removes the `L2SP` penalties from the base's weights; other regularizers stay.

    Compile again afterwards (`two_phase.fine_tune` does): a traced step keeps the penalty.

    Args:
        base_model: keras.Model, the base `attach` was given.

    Returns:
        int, how many penalties were removed.

    Raises:
        ValueError: if `base_model` is not a base.

    Example:

    >>> _, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> attach(base_model, strength=1e-3), detach(base_model), detach(base_model)
    (52, 52, 0)
    """
    models.check_base_model(base_model)
    removed = 0
    for variable in base_model.weights:
        if isinstance(variable.regularizer, L2SP):
            variable.regularizer = None
            removed += 1
    return removed


def penalty(base_model: keras.Model) -> float:
    """Returns the total L2-SP penalty of the base's weights, trainable or frozen.

    While the base is trainable this is the term `attach` adds to the training loss
    (`model.losses`); on a frozen base it shows the penalty that unfreezing would switch on.

    Args:
        base_model: keras.Model, the base `attach` was given.

    Returns:
        float, `sum(strength * sum((w - w_pretrained) ** 2))` over every kernel with an `L2SP`
        penalty; 0.0 when none has one.

    Raises:
        ValueError: if `base_model` is not a base.

    Example:

    >>> base_model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    >>> attach(base_model, strength=0.5)
    1
    >>> kernel = base_model.layers[0].kernel
    >>> _ = kernel.assign(kernel + 2.0)  # both entries move by 2: 0.5 * (4 + 4)
    >>> penalty(base_model)
    4.0
    """
    models.check_base_model(base_model)
    total = 0.0
    for variable in base_model.weights:
        if isinstance(variable.regularizer, L2SP):
            total += float(keras.ops.convert_to_numpy(variable.regularizer(variable)))
    return total
