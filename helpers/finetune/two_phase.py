"""Two-phase fine-tuning: a head on the frozen base, then the unfrozen base, gently (lessons 03-05).

Phase 1 trains the head at a usual learning rate (1e-3); without augmentation the frozen base gives
the same features every epoch, so they are computed once (`head_training.pooled_features`). Phase 2
unfreezes the base (BatchNormalization stays frozen, see `models.unfreeze`), recompiles with a fresh
optimizer at a tenth of the head's rate (1e-4, the course's phase-2 rule) and counts on. A
`guards.DivergenceGuard` watches both phases: a rate far too high stops the run with an error
naming that rate. Lesson 06 regularises phase 2: `fine_tune_weight_decay` (decoupled decay
towards zero), or `l2_sp.attach` on the base before the call (a penalty towards the pretrained
weights).
"""

from __future__ import annotations

import dataclasses
import os
import weakref
from typing import TYPE_CHECKING

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import (
    guards,
    head_training,
    models,
    optimizers,
    restarts,
    schedules,
    training_inputs,
    validation,
)

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
CACHED_NOTE = "phase 1: base features computed once and cached (no augmentation)"
UNCACHED_NOTE = "phase 1: the full model runs the frozen base every epoch"
VERBOSITIES = (0, 1, 2, "auto")

if TYPE_CHECKING:
    from matplotlib.axes import Axes


# Adam's rate for a new head on a frozen base (lesson 03 measures it).
HEAD_LEARNING_RATE = 1e-3
# The phase-2 rule: a tenth of the head's rate, then confirm with a range test (lessons 04, 05).
FINE_TUNE_LEARNING_RATE = HEAD_LEARNING_RATE / 10


@dataclasses.dataclass
class FineTuneHistory:
    """Per-epoch metrics of both phases; without validation data the `val_` lists stay empty."""

    loss: list[float]
    accuracy: list[float]
    val_loss: list[float]
    val_accuracy: list[float]
    # The epochs trained in phase 1, i.e. the index of phase 2's first epoch.
    phase_boundary: int
    # Phase 1's learning rate: a float or the schedule itself.
    head_learning_rate: float | optimizers.Schedule
    # Phase 2's learning rate, likewise.
    fine_tune_learning_rate: float | optimizers.Schedule
    # How phase 1 ran: on cached features or through the full model.
    note: str
    # The rate of each epoch's last step.
    learning_rate: list[float] = dataclasses.field(default_factory=list)


def fine_tune(
    model: keras.Model,
    base_model: keras.Model,
    train_data: tf.data.Dataset | tuple[np.ndarray, np.ndarray],
    validation_data: tf.data.Dataset | tuple[np.ndarray, np.ndarray] | None = None,
    head_epochs: int = 5,
    fine_tune_epochs: int = 5,
    head_learning_rate: float | optimizers.Schedule = HEAD_LEARNING_RATE,
    fine_tune_learning_rate: float | optimizers.Schedule = FINE_TUNE_LEARNING_RATE,
    optimizer: str = "adam",
    fine_tune_weight_decay: float = 0.0,
    top_layers: int | None = None,
    augmentation: keras.layers.Layer | None = None,
    batch_size: int = 32,
    callbacks: list[keras.callbacks.Callback] | None = None,
    seed: int = 0,
    verbose: int | str = "auto",
    tensorboard_log_dir: str | os.PathLike | None = None,
) -> FineTuneHistory:
    """Trains the head on a frozen base, then unfreezes the base and fine-tunes at a small rate.

    Each phase gets a fresh optimizer (Keras 3 binds an optimizer to the variables it first
    trained). Phase 2 continues the epoch count (`initial_epoch`), so logs and callbacks see one
    run. Every argument is checked before anything trains. Lesson 05 adds schedules
    (`schedules.warmup_cosine` for phase 2), `ReduceLROnPlateau` and TensorBoard.

    Args:
        model, base_model: keras.Model, the pair returned by `models.build_mobilenet_v2`.
        train_data: a `tf.data.Dataset` of `(images, labels)` batches, or a tuple `(images,
            labels)` of arrays (images preprocessed to [-1, 1], int labels), which is shuffled
            every epoch with `seed`.
        validation_data: the same kinds as `train_data`, or `None`. Defaults to `None`.
        head_epochs, fine_tune_epochs: int >= 0, the epochs of each phase (together at least 1).
            Default to 5 each.
        head_learning_rate: float > 0 or a Keras `LearningRateSchedule` (its step counts from 0 in
            each phase), phase 1's learning rate. Defaults to 1e-3.
        fine_tune_learning_rate: float > 0 or a schedule, phase 2's learning rate. Defaults to
            1e-4, the course's phase-2 rule: a tenth of the head's rate, to be confirmed with a
            range test on the unfrozen model (lessons 04 and 05 measure it).
        optimizer: str, `"adam"`, `"sgd"` (momentum 0.9) or `"rmsprop"`. Defaults to `"adam"`.
        fine_tune_weight_decay: float >= 0, the decoupled weight decay of phase 2's optimizer
            (AdamW-style; phase 1's head has none). Before each step Keras shrinks every trainable
            weight, `variable.assign_sub(variable * weight_decay * learning_rate)`
            (`_apply_weight_decay` in keras/src/optimizers/base_optimizer.py and
            keras/src/backend/tensorflow/optimizer.py), so the decay scales with the learning
            rate and never passes through Adam's normalisation. 0.0 means none. To pull towards
            the pretrained weights instead of zero, see `l2_sp.attach`. Defaults to 0.0.
        top_layers: int or None, passed to `models.unfreeze`. Defaults to `None` (the whole base).
        augmentation: keras layer or None, applied to training images on the fly; without it
            phase 1 trains the head on base features computed once. Defaults to `None`.
        batch_size: int >= 1, the batch size for arrays and cached features. Defaults to 32.
        callbacks: list of Keras callbacks, passed to both phases (with cached features, phase 1's
            `callback.model` is the head alone). `ReduceLROnPlateau` works with a float rate, not
            with a schedule. Defaults to `None`.
        seed: int >= 0, the shuffling seed for arrays and cached features. Defaults to 0.
        verbose: `fit`'s verbosity (0, 1, 2 or `"auto"`). Defaults to `"auto"`.
        tensorboard_log_dir: str, path or None. When given, both phases log loss, metrics and the
            learning rate per step there, steps counting on across phases (`%tensorboard
            --logdir` it). Defaults to `None`.

    Returns:
        A `FineTuneHistory`; a schedule given as a learning rate is stored as the schedule itself,
        and `learning_rate` holds the rate of each epoch's last step.

    Raises:
        ValueError: for a bad argument, naming it and the value received.
        guards.TrainingDivergedError: (a `ValueError`) if a phase's loss turned NaN or climbed 4x
            above its reference level; the message names that phase's learning rate.

    Example:

    >>> model, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> images, labels = np.zeros((4, 32, 32, 3), "float32"), np.array([0, 1, 0, 1])
    >>> options = {"head_epochs": 2, "fine_tune_epochs": 0, "verbose": 0}  # no phase 2: fast
    >>> history = fine_tune(model, base_model, (images, labels), **options)
    phase 1: base features computed once and cached (no augmentation)
    >>> len(history.loss), history.phase_boundary
    (2, 2)
    """
    _check_pair(model, base_model)
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=0)
    fine_tune_epochs = validation.check_int("fine_tune_epochs", fine_tune_epochs, minimum=0)
    if head_epochs + fine_tune_epochs == 0:
        raise ValueError(
            "head_epochs + fine_tune_epochs must be at least 1. "
            "Received: head_epochs=0, fine_tune_epochs=0"
        )
    callbacks = validation.check_callbacks("callbacks", callbacks)
    head_rate = _checked_rate("head_learning_rate", head_learning_rate, head_epochs, callbacks)
    fine_tune_rate = _checked_rate(
        "fine_tune_learning_rate", fine_tune_learning_rate, fine_tune_epochs, callbacks
    )
    optimizer = validation.check_choice("optimizer", optimizer, tuple(optimizers.OPTIMIZER_CLASSES))
    fine_tune_weight_decay = validation.check_number(
        "fine_tune_weight_decay", fine_tune_weight_decay, minimum=0
    )
    top_layers = models.check_top_layers(base_model, top_layers)
    augmentation_kinds = (keras.layers.Layer, type(None))
    validation.check_instance(
        "augmentation", augmentation, augmentation_kinds, "a Keras layer or None"
    )
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    verbose = validation.check_one_of("verbose", verbose, VERBOSITIES)
    log_dir_kinds = (str, os.PathLike, type(None))
    validation.check_instance(
        "tensorboard_log_dir", tensorboard_log_dir, log_dir_kinds, "a str, a path or None"
    )
    train, train_ordered = training_inputs.prepare(
        train_data, "train_data", model, batch_size, seed
    )
    validation_batches, _ = training_inputs.prepare(
        validation_data, "validation_data", model, batch_size, None
    )

    if augmentation is not None:
        train = train.map(lambda images, labels: (augmentation(images, training=True), labels))
    guard = guards.DivergenceGuard(num_classes=model.output_shape[-1])
    # One logger per run; one TensorBoard instance for both phases, so its steps count on.
    all_callbacks = [*callbacks, schedules.LearningRateLogger(log_dir=tensorboard_log_dir), guard]
    if tensorboard_log_dir is not None:
        all_callbacks.append(
            schedules.ContinuingTensorBoard(tensorboard_log_dir, update_freq="batch")
        )
    # Arrays are shuffled by `seed` in `training_inputs.batches`, not by `fit`.
    fit_options = {"callbacks": all_callbacks, "verbose": verbose, "shuffle": False}

    models.freeze(base_model)
    phase_one = {}
    note = "phase 1: skipped (head_epochs=0)"
    if head_epochs:
        # Augmented images change every epoch, and so do their features: no cache then.
        cache = augmentation is None
        note = CACHED_NOTE if cache else UNCACHED_NOTE
        print(note)
        phase_one_inputs = (model, train, validation_batches)
        if cache:
            phase_one_inputs = _head_on_features(
                model, base_model, train_ordered, validation_batches, batch_size, seed
            )
        phase_one = _fit(
            *phase_one_inputs, optimizer, head_rate, None, 0, head_epochs, **fit_options
        )
        guards.check_not_diverged(guard, "head_learning_rate", head_rate)
    # Fewer than head_epochs when a callback stops phase 1.
    boundary = len(phase_one.get("loss", []))
    phase_two = {}
    if fine_tune_epochs:
        models.unfreeze(base_model, top_layers=top_layers)
        end = boundary + fine_tune_epochs
        phase_two = _fit(
            model,
            train,
            validation_batches,
            optimizer,
            fine_tune_rate,
            fine_tune_weight_decay or None,  # Keras's "no decay" is None
            boundary,
            end,
            **fit_options,
        )
        guards.check_not_diverged(guard, "fine_tune_learning_rate", fine_tune_rate)
    metrics = {
        key: [float(value) for value in phase_one.get(key, []) + phase_two.get(key, [])]
        for key in HISTORY_KEYS
    }
    return FineTuneHistory(
        **metrics,
        phase_boundary=boundary,
        head_learning_rate=head_rate,
        fine_tune_learning_rate=fine_tune_rate,
        note=note,
    )


def _check_pair(model: object, base_model: object) -> None:
    """Raises unless `model` applies `base_model`, then global average pooling, then a head."""
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    validation.check_instance("base_model", base_model, keras.Model, "a keras.Model")
    layers = model.layers
    following = layers[layers.index(base_model) + 1 :] if base_model in layers else []
    has_head = len(following) >= 2
    is_pair = has_head and isinstance(following[0], keras.layers.GlobalAveragePooling2D)
    if not is_pair:
        raise ValueError(
            "model and base_model must be a pair returned by models.build_mobilenet_v2 (model "
            "applies base_model, then GlobalAveragePooling2D, then its head). "
            f"Received: model={model!r}, base_model={base_model!r}"
        )


def _checked_rate(
    name: str,
    learning_rate: object,
    epochs: int,
    callbacks: list[keras.callbacks.Callback],
) -> float | optimizers.Schedule:
    """Returns a phase's checked learning rate; a schedule and `ReduceLROnPlateau` cannot meet."""
    is_schedule = isinstance(learning_rate, optimizers.Schedule)
    if is_schedule:
        validation.check_float_schedule(name, learning_rate)
    learning_rate = validation.check_learning_rate(name, learning_rate)
    has_plateau = any(
        isinstance(callback, keras.callbacks.ReduceLROnPlateau) for callback in callbacks
    )
    if epochs and is_schedule and has_plateau:
        raise ValueError(
            "ReduceLROnPlateau needs a float rate, not a schedule. "
            f"Received: {name}={learning_rate!r}"
        )
    return learning_rate


def _head_on_features(
    model: keras.Model,
    base_model: keras.Model,
    train: tf.data.Dataset,
    validation_batches: tf.data.Dataset | None,
    batch_size: int,
    seed: int,
) -> tuple[keras.Model, tf.data.Dataset, tf.data.Dataset | None]:
    """Returns the head as a model of its own (the same layer objects) and batches of features.

    The head's layers are the model's own: the head trained here carries into phase 2.
    """
    pooling, *head_layers = model.layers[model.layers.index(base_model) + 1 :]
    head_inputs = keras.Input(shape=pooling.output.shape[1:])
    head_outputs = head_inputs
    for layer in head_layers:
        head_outputs = layer(head_outputs)
    head = keras.Model(head_inputs, head_outputs)
    train_features = _cached_features(base_model, train, batch_size, seed)
    validation_features = _cached_features(base_model, validation_batches, batch_size, None)
    return head, train_features, validation_features


def _cached_features(
    base_model: keras.Model,
    dataset: tf.data.Dataset | None,
    batch_size: int,
    seed: int | None,
) -> tf.data.Dataset | None:
    """Reads `dataset` once and returns batches of its pooled features and labels.

    One pass keeps features and labels aligned even when the dataset reshuffles each time it is
    read; the features are `head_training.pooled_features`, the course's one feature extractor.
    """
    if dataset is None:
        return None
    features, labels = [], []
    for images, batch_labels in dataset:
        batch_features = head_training.pooled_features(base_model, images.numpy(), batch_size)
        features.append(batch_features)
        labels.append(batch_labels.numpy())
    slices = tf.data.Dataset.from_tensor_slices((np.concatenate(features), np.concatenate(labels)))
    return training_inputs.batches(slices, batch_size, seed)


def _fit(
    model: keras.Model,
    train: tf.data.Dataset,
    validation_batches: tf.data.Dataset | None,
    optimizer: str,
    learning_rate: float | optimizers.Schedule,
    weight_decay: float | None,
    start: int,
    end: int,
    **fit_options: object,
) -> dict:
    """Compiles `model` with a fresh optimizer, the logits loss and accuracy, then fits it.

    A model this function compiled before, for the same optimizer, weight decay, trainable weights
    and regularizers on them, keeps its traced training step: its optimizer is restarted instead
    (`restarts`), which makes the same run without tracing MobileNetV2's step again. The weight
    decay and the regularizers (`l2_sp.attach`) are baked into the traced step, so a change in
    either compiles afresh.
    """
    trainable = tuple(id(variable) for variable in model.trainable_variables)
    regularizers = tuple(variable.regularizer for variable in model.trainable_variables)
    compiled = _COMPILED.get(model)
    reusable = (
        compiled is not None
        and compiled.optimizer is model.optimizer
        and compiled.optimizer_name == optimizer
        and compiled.weight_decay == weight_decay
        and compiled.trainable == trainable
        and _same_objects(compiled.regularizers, regularizers)
        and not isinstance(learning_rate, optimizers.Schedule)
        and restarts.has_float_learning_rate(model.optimizer)
    )
    if reusable:
        restarts.restart_optimizer(model.optimizer, learning_rate)
    else:
        model.compile(
            optimizer=optimizers.make_optimizer(
                optimizer, learning_rate, weight_decay=weight_decay
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        _COMPILED[model] = _Compiled(
            model.optimizer, optimizer, weight_decay, trainable, regularizers
        )
    return model.fit(
        train, validation_data=validation_batches, initial_epoch=start, epochs=end, **fit_options
    ).history


@dataclasses.dataclass(frozen=True)
class _Compiled:
    """How `_fit` compiled a model: its optimizer, weight decay, trained weights, regularizers."""

    optimizer: keras.optimizers.Optimizer
    optimizer_name: str
    # The optimizer's decoupled weight decay, None for none: a constant of the traced step.
    weight_decay: float | None
    # The ids of the model's trainable variables then: the traced step updates exactly these.
    trainable: tuple[int, ...]
    # Each trainable variable's regularizer then (or None), held so that their ids stay unique:
    # the traced step adds exactly these penalties to the loss.
    regularizers: tuple[object, ...]


def _same_objects(first: tuple[object, ...], second: tuple[object, ...]) -> bool:
    """Whether two tuples hold the very same objects (identity, not equality), in order."""
    return len(first) == len(second) and all(
        one is other for one, other in zip(first, second, strict=True)
    )


# The models `_fit` compiled; an entry goes when its model is garbage-collected.
_COMPILED: weakref.WeakKeyDictionary[keras.Model, _Compiled] = weakref.WeakKeyDictionary()


def _describe(learning_rate: float | optimizers.Schedule) -> str:
    """`1e-05` for a float, the class name (`CosineDecay`) for a schedule."""
    if isinstance(learning_rate, optimizers.Schedule):
        return type(learning_rate).__name__
    return f"{learning_rate:g}"


def plot_history(history: FineTuneHistory, metric: str = "loss", ax: Axes | None = None) -> Axes:
    """Plots a metric over both phases and marks where fine-tuning starts.

    Args:
        history: FineTuneHistory, the result of `fine_tune`.
        metric: str, `"loss"` or `"accuracy"`. Defaults to `"loss"`.
        ax: matplotlib Axes or None (the current Axes). Defaults to `None`.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: if `history` is not a `FineTuneHistory` or `metric` is not `"loss"` or
            `"accuracy"`.

    Example:

    >>> from matplotlib.figure import Figure  # a figure of its own, outside pyplot
    >>> losses, accuracies = [1.0, 0.5, 0.4], [0.5, 0.7, 0.8]
    >>> history = FineTuneHistory(losses, accuracies, [], [], 2, 1e-3, 1e-5, CACHED_NOTE)
    >>> len(plot_history(history, ax=Figure().add_subplot()).lines)
    2
    """
    import matplotlib.pyplot as plt

    validation.check_instance("history", history, FineTuneHistory, "a FineTuneHistory")
    metric = validation.check_choice("metric", metric, ("loss", "accuracy"))
    ax = plt.gca() if ax is None else ax
    for prefix, label in (("", "training"), ("val_", "validation")):
        values = getattr(history, prefix + metric)
        if values:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=f"{label} {metric}")
    boundary = history.phase_boundary + 0.5
    transform = ax.get_xaxis_transform()
    ax.axvline(boundary, color="gray", linestyle="--")
    head = _describe(history.head_learning_rate)
    fine = _describe(history.fine_tune_learning_rate)
    ax.text(boundary, 0.98, f"head, lr {head} ", transform=transform, ha="right", va="top")
    ax.text(boundary, 0.98, f" fine-tune, lr {fine}", transform=transform, va="top")
    ax.set(xlabel="epoch", ylabel=metric)
    ax.legend(loc="center right")
    return ax
