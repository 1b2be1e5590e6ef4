"""An LR range test for Keras 3: raise the learning rate every batch and watch the loss (lesson 05).

Leslie Smith's range test, as fastai runs it: one training step per batch while the rate grows
exponentially (1e-7 to 10 over at most 100 steps), the loss smoothed, the test stopped once the
smoothed loss passes 4× its best. Two details decide whether its suggestions can be trusted:

- **Each batch's own loss.** Keras reports the *running mean* of the loss since the epoch began;
  read at batch end it lags the rate more and more, so the curve bends late and every suggestion
  moves. The callback resets the metrics before each batch, so `logs["loss"]` is that batch's
  loss alone.
- **Nothing changes.** The test trains the real model, so afterwards every model variable
  (weights, BatchNorm statistics, random-seed state) and every optimizer variable (step count,
  moments, learning rate) is put back bitwise: run it before phase 1 or before phase 2, then
  train as if it never ran.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from helpers.finetune import lr_suggestions, optimizers, training_inputs, validation

MAX_STEPS = 100  # at most this many steps (and batches): the test must stay a quick look
DIVERGENCE_FACTOR = 4.0  # stop once the smoothed loss passes 4x its best so far (fastai)
SMOOTHING = 0.98  # beta of the debiased exponential moving average (fastai)
DATA_WANTED = "a tf.data.Dataset or a tuple (inputs, labels)"


@dataclasses.dataclass
class RangeTestResult:
    """What a range test recorded, one entry per step it ran, and the rates it suggests.

    Attributes:
        learning_rates: float64 array, the rate each step used (the optimizer holds it as
            float32).
        losses: float64 array, each batch's own loss, not Keras's running mean.
        smoothed_losses: float64 array, the debiased exponential moving average of `losses`.
        num_steps: int, the steps asked for; `len(losses)` is smaller when the test stopped early.
        stopped_early: bool, True when the loss diverged (or became NaN or inf) before the last
            step.
        suggestions: dict with keys `"valley"`, `"steepest"` and `"minimum_tenth"`; empty when
            too few steps were usable.
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    num_steps: int
    stopped_early: bool
    suggestions: dict[str, float]

    def plot(self, ax: plt.Axes | None = None, label: str = "") -> plt.Axes:
        """Plots the test with `lr_suggestions.plot_range_test` and returns the Axes."""
        return lr_suggestions.plot_range_test(
            self.learning_rates,
            self.losses,
            self.smoothed_losses,
            self.suggestions,
            ax=ax,
            label=label,
        )


class BatchLossRecorder(keras.callbacks.Callback):
    """Records each training batch's own loss in `self.losses`, instead of Keras's running mean.

    It resets the model's metrics before each batch, so `logs["loss"]` at batch end covers that
    batch alone. Epoch-end logs then describe the last batch only: use it for short diagnostic
    runs, not for real training.
    """

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_begin(self, batch, logs=None):
        self.model.reset_metrics()

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


class RangeTestCallback(BatchLossRecorder):
    """Sets each step's rate, records the batch's own loss, and stops the fit when it diverges.

    Args:
        learning_rates: sequence of positive numbers, the rate of each step, in order.
        beta: float in [0, 1), the smoothing of the divergence check (see
            `lr_suggestions.smooth`). Defaults to 0.98.
        divergence_factor: float > 1, stop when the smoothed loss exceeds this times its best.
            Defaults to 4.

    Raises:
        ValueError: for a bad argument, naming it and the value received.
    """

    def __init__(
        self,
        learning_rates: Sequence[float],
        beta: float = SMOOTHING,
        divergence_factor: float = DIVERGENCE_FACTOR,
    ):
        super().__init__()
        planned_rates = validation.check_sequence("learning_rates", learning_rates)
        self.planned_rates = [
            validation.check_positive_number(f"learning_rates[{step}]", rate)
            for step, rate in enumerate(planned_rates)
        ]
        self.beta = validation.check_probability("beta", beta)
        self.divergence_factor = validation.check_number(
            "divergence_factor", divergence_factor, minimum=1, include_minimum=False
        )
        self.learning_rates = []
        self.smoothed_losses = []
        self.best = math.inf
        self.average = 0.0
        self.stopped_early = False

    def on_train_batch_begin(self, batch, logs=None):
        self.model.optimizer.learning_rate.assign(self.planned_rates[len(self.losses)])
        super().on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        self.learning_rates.append(self.planned_rates[len(self.losses)])
        super().on_train_batch_end(batch, logs)
        self.average = self.beta * self.average + (1 - self.beta) * self.losses[-1]
        smoothed = self.average / (1 - self.beta ** len(self.losses))
        self.smoothed_losses.append(smoothed)
        self.best = min(self.best, smoothed)
        diverged = not math.isfinite(smoothed) or smoothed > self.divergence_factor * self.best
        steps_left = len(self.losses) < len(self.planned_rates)
        if diverged and steps_left:
            self.stopped_early = True
            self.model.stop_training = True


def _check_model(model: object) -> keras.Model:
    """Returns `model`, or raises unless it is compiled with an optimizer that has a plain rate."""
    validation.check_instance("model", model, keras.Model, "a compiled keras.Model")
    optimizer = getattr(model, "optimizer", None)
    validation.check_instance(
        "model.optimizer",
        optimizer,
        keras.optimizers.Optimizer,
        "a keras.optimizers.Optimizer (call model.compile first)",
    )
    optimizers.check_plain_learning_rate(
        "model.optimizer",
        optimizer,
        "the range test cannot set its rate; compile the model with a float learning rate",
    )
    return model


def _first_batch(dataset: tf.data.Dataset) -> tuple[object, object]:
    """Returns the dataset's first `(inputs, labels)` batch, or raises naming `data`."""
    first_batch = next(iter(dataset.take(1)), None)
    return validation.check_pair(
        "data's first batch", first_batch, "an (inputs, labels) pair (an empty dataset has none)"
    )


def _checked_features_and_labels(
    features: object, labels: object, model: keras.Model
) -> tuple[np.ndarray, np.ndarray]:
    """Returns float32 features and int32 labels, or raises unless they fit `model`."""
    num_features = model.input_shape[-1]
    num_classes = model.output_shape[-1]
    features = validation.check_features("data inputs", features, num_features)
    labels = validation.check_labels("data labels", labels, num_classes, count=len(features))
    return features, labels


def _training_batches(
    data: object, model: keras.Model, batch_size: int, seed: int | None
) -> tf.data.Dataset:
    """Returns endless batches of `data`, checked against `model` before any training step.

    A model that takes images gets `training_inputs.prepare`'s checks (raw uint8 or NaN images and
    labels outside the classes are refused); a model that takes feature vectors gets the same
    checks for features. A dataset is checked on its first batch.
    """
    validation.check_instance("data", data, tf.data.Dataset | tuple | list, DATA_WANTED)
    takes_images = len(model.input_shape) == 4
    if takes_images:
        batches, _ = training_inputs.prepare(data, "data", model, batch_size, seed)
        return batches.repeat()
    if isinstance(data, tf.data.Dataset):
        _checked_features_and_labels(*_first_batch(data), model)
        return data.repeat()
    features, labels = validation.check_pair("data", data, DATA_WANTED)
    features, labels = _checked_features_and_labels(features, labels, model)
    slices = tf.data.Dataset.from_tensor_slices((features, labels))
    return training_inputs.batches(slices, batch_size, seed).repeat()


def find_learning_rate(
    model: keras.Model,
    data: tf.data.Dataset | tuple[np.ndarray, np.ndarray],
    start_learning_rate: float = 1e-7,
    end_learning_rate: float = 10.0,
    num_steps: int = MAX_STEPS,
    batch_size: int = 32,
    beta: float = SMOOTHING,
    divergence_factor: float = DIVERGENCE_FACTOR,
    seed: int | None = 0,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> RangeTestResult:
    """Runs an LR range test on a compiled model and puts the model and its optimizer back after.

    Works on whatever the model trains now: the head alone while the base is frozen (phase 1), or
    the unfrozen model (phase 2), with the optimizer and loss it was compiled with. The model
    takes feature vectors `(n, num_features)` or images `(n, height, width, 3)` and outputs one
    value per class; `data` is checked against it before the first step, as
    `training_inputs.prepare` checks training data.

    Args:
        model: keras.Model, compiled with a float learning rate (its value does not matter).
        data: a `tf.data.Dataset` of `(inputs, labels)` batches (repeated as needed; its first
            batch is checked), or a tuple `(inputs, labels)` of arrays, batched by `batch_size`
            and shuffled with `seed`. Images must be preprocessed to [-1, 1], features finite,
            labels whole class indices in `[0, model.output_shape[-1])`.
        start_learning_rate: float > 0, the first step's rate. Defaults to 1e-7.
        end_learning_rate: float > `start_learning_rate`, the last step's rate. Defaults to 10.
        num_steps: int in [2, 100], steps of the sweep. Defaults to 100.
        batch_size: int >= 1, for array `data`. Defaults to 32.
        beta: float in [0, 1), the smoothing. Defaults to 0.98.
        divergence_factor: float > 1, the stop rule's factor. Defaults to 4.
        seed: int >= 0 or None, the shuffling seed for array `data`; `None` keeps the order.
            Defaults to 0.
        callbacks: list of Keras callbacks to run after the range test's own, e.g. to watch each
            step. Defaults to `None`.

    Returns:
        A `RangeTestResult`.

    Raises:
        ValueError: for a bad argument (named, with the value received), an uncompiled model or
            one whose optimizer follows a schedule.

    Example:

    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    >>> model.compile(optimizer="sgd", loss=loss)
    >>> inputs = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    >>> labels = (inputs[:, 0] > 0).astype(int)
    >>> before = [weight.copy() for weight in model.get_weights()]
    >>> result = find_learning_rate(model, (inputs, labels), num_steps=60)
    >>> len(result.losses), sorted(result.suggestions)
    (60, ['minimum_tenth', 'steepest', 'valley'])
    >>> all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # put back bitwise
    True
    >>> find_learning_rate(model, (inputs, labels + 1))
    Traceback (most recent call last):
    ...
    ValueError: data labels must be in [0, 2). Received: data labels with values [2]
    """
    _check_model(model)
    num_steps = validation.check_int("num_steps", num_steps, minimum=2, maximum=MAX_STEPS)
    rates = lr_suggestions.exponential_rates(start_learning_rate, end_learning_rate, num_steps)
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    seed = validation.check_optional_int("seed", seed, minimum=0)
    callbacks = validation.check_callbacks("callbacks", callbacks)
    callback = RangeTestCallback(rates, beta, divergence_factor)
    batches = _training_batches(data, model, batch_size, seed)

    optimizer = model.optimizer
    # Build now, so the state saved below is the state training would start from.
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    saved = [
        (variable, variable.numpy().copy()) for variable in [*model.variables, *optimizer.variables]
    ]
    try:
        model.fit(
            batches,
            epochs=1,
            steps_per_epoch=num_steps,
            callbacks=[callback, *callbacks],
            verbose=0,
            shuffle=False,
        )
    finally:
        for variable, value in saved:
            variable.assign(value)
    learning_rates = np.array(callback.learning_rates)
    losses = np.array(callback.losses)
    smoothed = np.array(callback.smoothed_losses)
    try:
        suggestions = lr_suggestions.suggest(learning_rates, smoothed, num_steps)
    except ValueError:
        # Stopped within the first steps: the curve says "lower the start", not a rate.
        suggestions = {}
    return RangeTestResult(
        learning_rates, losses, smoothed, num_steps, callback.stopped_early, suggestions
    )
