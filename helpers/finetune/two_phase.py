"""Two-phase fine-tuning: train a new head on a frozen base, then unfreeze and fine-tune gently (lesson 03).

Phase 1 trains the head at a usual learning rate (1e-3); without augmentation the frozen base gives the same
features every epoch, so they are computed once. Phase 2 unfreezes the base (BatchNormalization stays frozen,
see `models.unfreeze`), recompiles with a fresh optimizer at a small learning rate (1e-5) and counts on.
"""

from __future__ import annotations

import dataclasses
import math
import os

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import models, optimizers, schedules, training_inputs

HISTORY_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")
CACHED_NOTE = "phase 1: base features computed once and cached (no augmentation)"
UNCACHED_NOTE = "phase 1: the full model runs the frozen base every epoch"


@dataclasses.dataclass
class FineTuneHistory:
    """Per-epoch metrics of both phases (the validation lists stay empty without validation data)."""

    loss: list[float]
    accuracy: list[float]
    val_loss: list[float]
    val_accuracy: list[float]
    phase_boundary: int  # the epochs trained in phase 1, i.e. the index of phase 2's first epoch
    head_learning_rate: (
        float | optimizers.Schedule
    )  # phase 1's learning rate: a float or the schedule itself
    fine_tune_learning_rate: float | optimizers.Schedule  # phase 2's learning rate, likewise
    note: str  # how phase 1 ran: on cached features or through the full model
    learning_rate: list[float] = dataclasses.field(
        default_factory=list
    )  # each epoch's last step's rate


def compute_features(
    feature_model: keras.Model, dataset: tf.data.Dataset
) -> tuple[np.ndarray, np.ndarray]:
    """Runs `feature_model` over a dataset of (images, labels) batches once.

    One pass keeps features and labels aligned even when the dataset reshuffles each time it is read.

    Example:

    >>> images = np.zeros((3, 4, 4, 3), "float32")
    >>> pooling = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.GlobalAveragePooling2D()])
    >>> features, labels = compute_features(pooling, tf.data.Dataset.from_tensor_slices((images, [0, 1, 2])).batch(2))
    >>> features.shape, labels.tolist()
    ((3, 3), [0, 1, 2])
    """
    shape = [
        None,
        *feature_model.input_shape[1:],
    ]  # any batch size: one trace, also for a short last batch
    extract = tf.function(feature_model, input_signature=[tf.TensorSpec(shape, tf.float32)])
    features, labels = [], []
    for images, batch_labels in dataset:
        features.append(extract(tf.cast(images, tf.float32)).numpy())
        labels.append(np.asarray(batch_labels))
    return np.concatenate(features), np.concatenate(labels)


def _head_on_features(
    model: keras.Model, base_model: keras.Model, train, validation, batch_size: int, seed: int
):
    """Returns the head as a model of its own (the same layer objects) and datasets of cached features."""
    pooling, *head_layers = model.layers[model.layers.index(base_model) + 1 :]
    feature_model = keras.Model(model.inputs, pooling.output)

    def cached(dataset, seed):
        if dataset is None:
            return None
        features = tf.data.Dataset.from_tensor_slices(compute_features(feature_model, dataset))
        return training_inputs.batches(features, batch_size, seed)

    head_inputs = head_outputs = keras.Input(shape=pooling.output.shape[1:])
    for layer in head_layers:  # the model's own layers: the head trained here carries into phase 2
        head_outputs = layer(head_outputs)
    return keras.Model(head_inputs, head_outputs), cached(train, seed), cached(validation, None)


def _fit(
    model, train, validation, optimizer, learning_rate, start: int, end: int, **fit_options
) -> dict:
    """Compiles `model` with a fresh optimizer, the logits loss and accuracy, then fits epochs `start` to `end`."""
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(
        optimizer=optimizers.make_optimizer(optimizer, learning_rate),
        loss=loss,
        metrics=["accuracy"],
    )
    return model.fit(
        train, validation_data=validation, initial_epoch=start, epochs=end, **fit_options
    ).history


def fine_tune(
    model: keras.Model,
    base_model: keras.Model,
    train_data,
    validation_data=None,
    head_epochs: int = 5,
    fine_tune_epochs: int = 5,
    head_learning_rate: float | optimizers.Schedule = 1e-3,
    fine_tune_learning_rate: float | optimizers.Schedule = 1e-5,
    optimizer: str = "adam",
    top_layers: int | None = None,
    augmentation: keras.layers.Layer | None = None,
    batch_size: int = 32,
    callbacks: list[keras.callbacks.Callback] | None = None,
    seed: int = 0,
    verbose: int | str = "auto",
    tensorboard_log_dir: str | os.PathLike | None = None,
) -> FineTuneHistory:
    """Trains the head on a frozen base, then unfreezes the base and fine-tunes at a small learning rate.

    Each phase gets a fresh optimizer (Keras 3 binds an optimizer to the variables it first trained).
    Phase 2 continues the epoch count (`initial_epoch`), so logs and callbacks see one run. Lesson 05 adds
    schedules (`schedules.warmup_cosine` for phase 2), `ReduceLROnPlateau` and TensorBoard.

    Args:
        model, base_model: keras.Model, the pair returned by `models.build_mobilenet_v2`.
        train_data: a `tf.data.Dataset` of `(images, labels)` batches, or a tuple `(images, labels)` of
            arrays (images preprocessed to [-1, 1], int labels), which is shuffled every epoch with `seed`.
        validation_data: the same kinds as `train_data`, or `None`. Defaults to `None`.
        head_epochs, fine_tune_epochs: int >= 0, the epochs of each phase. Default to 5 each.
        head_learning_rate: float > 0 or a Keras `LearningRateSchedule` (its step counts from 0 in each
            phase), phase 1's learning rate. Defaults to 1e-3.
        fine_tune_learning_rate: float > 0 or a schedule, phase 2's learning rate. Defaults to 1e-5.
        optimizer: str, `"adam"`, `"sgd"` (momentum 0.9) or `"rmsprop"`. Defaults to `"adam"`.
        top_layers: int or None, passed to `models.unfreeze`. Defaults to `None` (the whole base).
        augmentation: keras layer or None, applied to training images on the fly; without it phase 1
            trains the head on base features computed once. Defaults to `None`.
        batch_size: int, the batch size for arrays and cached features. Defaults to 32.
        callbacks: list of Keras callbacks, passed to both phases (with cached features, phase 1's
            `callback.model` is the head alone). `ReduceLROnPlateau` works with a float rate, not with a
            schedule. Defaults to `None`.
        seed: int, the shuffling seed for arrays and cached features. Defaults to 0.
        verbose: `fit`'s verbosity (0, 1, 2 or `"auto"`). Defaults to `"auto"`.
        tensorboard_log_dir: str, path or None. When given, both phases log loss, metrics and the learning
            rate per step there, steps counting on across phases (`%tensorboard --logdir` it). Defaults to `None`.

    Returns:
        A `FineTuneHistory`; a schedule given as a learning rate is stored as the schedule itself, and
        `learning_rate` holds the rate of each epoch's last step.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> model, base_model = models.build_mobilenet_v2(2, image_size=32)
    >>> images, labels = np.zeros((4, 32, 32, 3), "float32"), np.array([0, 1, 0, 1])
    >>> history = fine_tune(model, base_model, (images, labels), head_epochs=2, fine_tune_epochs=0, verbose=0)
    phase 1: base features computed once and cached (no augmentation)
    >>> len(history.loss), history.phase_boundary  # fine_tune_epochs=0 keeps this example fast
    (2, 2)
    """
    for name, value in (("head_epochs", head_epochs), ("fine_tune_epochs", fine_tune_epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be an int >= 0. Received: {name}={value!r}")
    if head_epochs + fine_tune_epochs == 0:
        raise ValueError("head_epochs + fine_tune_epochs must be at least 1. Received: 0 and 0")
    learning_rates = {
        "head_learning_rate": head_learning_rate,
        "fine_tune_learning_rate": fine_tune_learning_rate,
    }
    for (name, value), epochs in zip(
        learning_rates.items(), (head_epochs, fine_tune_epochs), strict=True
    ):
        if isinstance(value, optimizers.Schedule):
            try:
                optimizers.check_learning_rate(value)  # a schedule of floats
            except ValueError as error:
                raise ValueError(f"{name}: {error}") from None
            if epochs and any(
                isinstance(callback, keras.callbacks.ReduceLROnPlateau)
                for callback in callbacks or []
            ):
                raise ValueError(
                    f"ReduceLROnPlateau needs a float rate, not a schedule. Received: {name}={value!r}"
                )
        elif (
            isinstance(value, bool)
            or not isinstance(value, float | int)
            or not math.isfinite(value)
            or value <= 0
        ):
            raise ValueError(
                f"{name} must be a positive, finite number or a schedule. Received: {name}={value!r}"
            )
        learning_rates[name] = value if isinstance(value, optimizers.Schedule) else float(value)
    if tensorboard_log_dir is not None and not isinstance(tensorboard_log_dir, str | os.PathLike):
        raise ValueError(
            f"tensorboard_log_dir must be a str, a path or None. Received: {tensorboard_log_dir=}"
        )
    if not isinstance(optimizer, str) or optimizer.lower() not in optimizers.OPTIMIZER_CLASSES:
        raise ValueError(
            f"optimizer must be one of {tuple(optimizers.OPTIMIZER_CLASSES)}. Received: {optimizer=}"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1. Received: batch_size={batch_size!r}")
    if augmentation is not None and not callable(augmentation):
        raise ValueError(f"augmentation must be a Keras layer or None. Received: {augmentation=}")
    if (
        base_model not in model.layers[:-2]
        or model.layers[model.layers.index(base_model) + 1].weights
    ):  # no pooling
        raise ValueError(
            "model and base_model must be a pair returned by models.build_mobilenet_v2."
        )
    models.check_top_layers(base_model, top_layers)

    train, train_ordered = training_inputs.prepare(
        train_data, "train_data", model, batch_size, seed
    )
    validation, _ = training_inputs.prepare(
        validation_data, "validation_data", model, batch_size, None
    )
    if augmentation is not None:
        train = train.map(lambda images, labels: (augmentation(images, training=True), labels))
    callbacks = [
        *(callbacks or []),
        schedules.LearningRateLogger(log_dir=tensorboard_log_dir),
    ]  # one per run
    if tensorboard_log_dir is not None:  # one instance for both phases, so its steps count on
        callbacks.append(schedules.ContinuingTensorBoard(tensorboard_log_dir, update_freq="batch"))
    fit_options = {
        "callbacks": callbacks,
        "verbose": verbose,
        "shuffle": False,
    }  # arrays are shuffled by seed

    models.freeze(base_model)
    phase_one, note = {}, "phase 1: skipped (head_epochs=0)"
    if head_epochs:
        cache = (
            augmentation is None
        )  # augmented images change every epoch, so their features do too
        note = CACHED_NOTE if cache else UNCACHED_NOTE
        print(note)
        head = (model, train, validation)
        if cache:
            head = _head_on_features(model, base_model, train_ordered, validation, batch_size, seed)
        phase_one = _fit(
            *head, optimizer, learning_rates["head_learning_rate"], 0, head_epochs, **fit_options
        )
    boundary = len(
        phase_one.get("loss", [])
    )  # fewer than head_epochs when a callback stops phase 1
    phase_two = {}
    if fine_tune_epochs:
        models.unfreeze(base_model, top_layers=top_layers)
        end = boundary + fine_tune_epochs
        rate = learning_rates["fine_tune_learning_rate"]
        phase_two = _fit(model, train, validation, optimizer, rate, boundary, end, **fit_options)
    metrics = {
        key: [float(value) for value in phase_one.get(key, []) + phase_two.get(key, [])]
        for key in HISTORY_KEYS
    }
    return FineTuneHistory(**metrics, **learning_rates, phase_boundary=boundary, note=note)


def _describe(learning_rate: float | optimizers.Schedule) -> str:
    """`1e-05` for a float, the class name (`CosineDecay`) for a schedule."""
    return (
        type(learning_rate).__name__
        if isinstance(learning_rate, optimizers.Schedule)
        else f"{learning_rate:g}"
    )


def plot_history(history: FineTuneHistory, metric: str = "loss", ax=None):
    """Plots a metric over both phases and marks where fine-tuning starts.

    Args:
        history: FineTuneHistory, the result of `fine_tune`.
        metric: str, `"loss"` or `"accuracy"`. Defaults to `"loss"`.
        ax: matplotlib Axes or None (the current Axes). Defaults to `None`.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: if `metric` is not `"loss"` or `"accuracy"`.

    Example:

    >>> from matplotlib.figure import Figure  # a figure of its own, outside pyplot
    >>> history = FineTuneHistory([1.0, 0.5, 0.4], [0.5, 0.7, 0.8], [], [], 2, 1e-3, 1e-5, CACHED_NOTE)
    >>> len(plot_history(history, ax=Figure().add_subplot()).lines)
    2
    """
    import matplotlib.pyplot as plt

    if metric not in ("loss", "accuracy"):
        raise ValueError(f"metric must be 'loss' or 'accuracy'. Received: metric={metric!r}")
    ax = plt.gca() if ax is None else ax
    for prefix, label in (("", "training"), ("val_", "validation")):
        values = getattr(history, prefix + metric)
        if values:
            ax.plot(range(1, len(values) + 1), values, marker="o", label=f"{label} {metric}")
    boundary, transform = history.phase_boundary + 0.5, ax.get_xaxis_transform()
    ax.axvline(boundary, color="gray", linestyle="--")
    head, fine = (_describe(history.head_learning_rate), _describe(history.fine_tune_learning_rate))
    ax.text(boundary, 0.98, f"head, lr {head} ", transform=transform, ha="right", va="top")
    ax.text(boundary, 0.98, f" fine-tune, lr {fine}", transform=transform, va="top")
    ax.set(xlabel="epoch", ylabel=metric)
    ax.legend(loc="center right")
    return ax
