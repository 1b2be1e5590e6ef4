"""Training in stages, each compiled with a fresh optimizer; gradual unfreezing (lesson 07).

Keras cannot change what trains, or the optimizer, inside `fit`: a callback that sets
`layer.trainable` changes nothing until the model is compiled again, and a compiled optimizer is
bound to the variables it first updated. So a recipe that changes either between epochs is a loop
of compile, then fit, with a fresh optimizer each time and the epoch count going on
(`initial_epoch`). `fit_stage` is one turn of that loop; `gradual_unfreeze` is ULMFiT's loop
(Howard and Ruder, 2018): train the top group alone, then unfreeze one more group down per stage.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import (
    guards,
    layer_groups,
    optimizers,
    training_inputs,
    two_phase,
    validation,
)

STAGE_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")
VERBOSITIES = (0, 1, 2, "auto")


@dataclasses.dataclass
class Stage:
    """One stage of `gradual_unfreeze`: what trained and how each of its epochs went."""

    trainable_groups: list[str]  # top first
    trainable_parameters: int  # the model's trainable parameters in this stage
    history: dict[str, list[float]]  # STAGE_KEYS, one value per epoch ("val_" empty without data)


def fit_stage(
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    train: tf.data.Dataset,
    validation_batches: tf.data.Dataset | None,
    initial_epoch: int,
    epochs: int,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
) -> dict[str, list[float]]:
    """Compiles `model` with `optimizer`, the logits loss and accuracy, and fits `epochs` epochs.

    Whatever is trainable when this is called trains; the optimizer must be fresh (never used).
    A `guards.DivergenceGuard` watches the stage; a diverged stage raises.

    Args:
        model: keras.Model, a classifier with logits outputs (no softmax).
        optimizer: keras.optimizers.Optimizer, a new one (a `MultiOptimizer` too).
        train: tf.data.Dataset of `(images, labels)` batches (`training_inputs.prepare`).
        validation_batches: tf.data.Dataset or None, the same kind, to evaluate each epoch.
        initial_epoch: int >= 0, the epochs trained before, so logs count on.
        epochs: int >= 1, the epochs of this stage.
        callbacks: list of Keras callbacks or None. Defaults to None.
        verbose: `fit`'s verbosity. Defaults to `"auto"`.

    Returns:
        The stage's `history` dict: `STAGE_KEYS` to per-epoch floats.

    Raises:
        ValueError: for a bad argument, naming it and the value received.
        guards.TrainingDivergedError: if the loss turned NaN or climbed far above its start.

    Example:

    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> batches = tf.data.Dataset.from_tensor_slices((np.eye(2), [0, 1])).batch(2)
    >>> history = fit_stage(model, keras.optimizers.SGD(0.1), batches, None, 0, 3, verbose=0)
    >>> len(history["loss"]), history["val_loss"]
    (3, [])
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    validation.check_instance(
        "optimizer", optimizer, keras.optimizers.Optimizer, "a new Keras optimizer"
    )
    if optimizer.built:
        raise ValueError(
            "optimizer must be fresh: Keras binds an optimizer to the variables it first "
            f"updated. Make a new one for each stage. Received: optimizer={optimizer!r}"
        )
    validation.check_instance("train", train, tf.data.Dataset, "a tf.data.Dataset")
    validation.check_instance(
        "validation_batches", validation_batches, (tf.data.Dataset, type(None)), "a dataset or None"
    )
    initial_epoch = validation.check_int("initial_epoch", initial_epoch, minimum=0)
    epochs = validation.check_int("epochs", epochs, minimum=1)
    callbacks = validation.check_callbacks("callbacks", callbacks)
    verbose = validation.check_one_of("verbose", verbose, VERBOSITIES)
    guard = guards.DivergenceGuard(num_classes=model.output_shape[-1])
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = model.fit(
        train,
        validation_data=validation_batches,
        initial_epoch=initial_epoch,
        epochs=initial_epoch + epochs,
        callbacks=[*callbacks, guard],
        verbose=verbose,
        shuffle=False,
    ).history
    guards.check_not_diverged(guard, "optimizer", _Described(optimizer))
    return {key: [float(value) for value in history.get(key, [])] for key in STAGE_KEYS}


def gradual_unfreeze(
    model: keras.Model,
    base_model: keras.Model,
    groups: dict[str, list[keras.layers.Layer]],
    train_data: tf.data.Dataset | tuple[np.ndarray, np.ndarray],
    validation_data: tf.data.Dataset | tuple[np.ndarray, np.ndarray] | None = None,
    stages: int | None = None,
    epochs_per_stage: int = 1,
    make_optimizer: Callable[[], keras.optimizers.Optimizer] | None = None,
    batch_size: int = 32,
    seed: int = 0,
    callbacks: list[keras.callbacks.Callback] | None = None,
    verbose: int | str = "auto",
) -> list[Stage]:
    """ULMFiT's gradual unfreezing: the top group trains alone, then one more group per stage.

    Stage `k` (from 1) trains the top `k` groups (`layer_groups.unfreeze_top_groups`: the
    base's BatchNormalization stays frozen) for `epochs_per_stage` epochs, after compiling with a
    fresh optimizer from `make_optimizer`. Each stage traces a new training step, since what
    trains changed; on MobileNetV2 that costs seconds per stage.

    Args:
        model, base_model: keras.Model, the classifier and its base (`models.build_mobilenet_v2`).
        groups: dict from group name to layers, bottom to top (`layer_groups.mobilenet_v2_groups`).
        train_data: a `tf.data.Dataset` of `(images, labels)` batches or a tuple of arrays
            (shuffled every epoch with `seed`).
        validation_data: the same kinds, or None. Defaults to None.
        stages: int from 1 to `len(groups)`, or None for all of them: the last stage trains the
            top `stages` groups. Defaults to None.
        epochs_per_stage: int >= 1. Defaults to 1 (ULMFiT's).
        make_optimizer: a function of no arguments returning a new optimizer, called once per
            stage, or None for Adam at 1e-4 (the course's phase-2 rate). Defaults to None.
        batch_size: int >= 1, the batch size for arrays. Defaults to 32.
        seed: int >= 0, the shuffling seed for arrays. Defaults to 0.
        callbacks: list of Keras callbacks, passed to every stage. Defaults to None.
        verbose: `fit`'s verbosity. Defaults to `"auto"`.

    Returns:
        One `Stage` per stage.

    Raises:
        ValueError: for a bad argument, naming it and the value received.
        guards.TrainingDivergedError: if a stage diverged.

    Example:

    >>> from helpers.finetune import models
    >>> model, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> groups = layer_groups.mobilenet_v2_groups(model, base_model)
    >>> images, labels = np.zeros((4, 32, 32, 3), "float32"), np.array([0, 1, 0, 1])
    >>> stages = gradual_unfreeze(model, base_model, groups, (images, labels), stages=2, verbose=0)
    >>> [(stage.trainable_groups, stage.trainable_parameters) for stage in stages]
    [(['head'], 2562), (['head', 'top'], 145922)]
    """
    groups = layer_groups.check_groups("groups", groups)
    stages = validation.check_optional_int("stages", stages, minimum=1, maximum=len(groups))
    stages = len(groups) if stages is None else stages
    epochs_per_stage = validation.check_int("epochs_per_stage", epochs_per_stage, minimum=1)
    if make_optimizer is not None and not callable(make_optimizer):
        raise ValueError(
            "make_optimizer must be a function returning a new optimizer, or None. "
            f"Received: make_optimizer={make_optimizer!r}"
        )
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    train, _ = training_inputs.prepare(train_data, "train_data", model, batch_size, seed)
    validation_batches, _ = training_inputs.prepare(
        validation_data, "validation_data", model, batch_size, None
    )
    results = []
    for count in range(1, stages + 1):
        trainable_groups = layer_groups.unfreeze_top_groups(base_model, groups, count)
        optimizer = (
            make_optimizer()
            if make_optimizer
            else optimizers.make_optimizer("adam", two_phase.FINE_TUNE_LEARNING_RATE)
        )
        history = fit_stage(
            model,
            optimizer,
            train,
            validation_batches,
            initial_epoch=(count - 1) * epochs_per_stage,
            epochs=epochs_per_stage,
            callbacks=callbacks,
            verbose=verbose,
        )
        trainable_parameters = sum(
            math.prod(variable.shape) for variable in model.trainable_variables
        )
        results.append(Stage(trainable_groups, trainable_parameters, history))
    return results


@dataclasses.dataclass(frozen=True)
class _Described:
    """An optimizer as error messages show it: `SGD(learning_rate=1e+06)`, `MultiOptimizer(...)`."""

    optimizer: keras.optimizers.Optimizer

    def __repr__(self) -> str:
        inner = getattr(self.optimizer, "optimizers", [self.optimizer])
        # A schedule's rate is its value at the optimizer's current step.
        rates = [f"{float(optimizer.learning_rate):g}" for optimizer in inner]
        return f"{type(self.optimizer).__name__}(learning_rate={', '.join(rates)})"
