"""An LR range test for Keras 3: grow the learning rate every batch and watch the loss (lesson 05).

Leslie Smith's range test, as fastai runs it: one training step per batch while the rate grows exponentially
(1e-7 to 10 over at most 100 steps), the loss smoothed, the test stopped once the smoothed loss passes 4× its
best. Two details decide whether its suggestions can be trusted:

- **Each batch's own loss.** Keras reports the *running mean* of the loss since the epoch began; read at batch
  end it lags the rate more and more, so the curve bends late and every suggestion moves. The callback resets
  the metrics before each batch, so `logs["loss"]` is that batch's loss alone.
- **Nothing changes.** The test trains the real model, so afterwards every model variable (weights, BatchNorm
  statistics, random-seed state) and every optimizer variable (step count, moments, learning rate) is put
  back bitwise: run it before phase 1 or before phase 2, then train as if it never ran.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import lr_suggestions, training_inputs

MAX_STEPS = 100  # at most this many steps (and batches): the test must stay a quick look
DIVERGENCE_FACTOR = (
    4.0  # stop once the smoothed loss passes 4x the best smoothed loss so far (fastai)
)
SMOOTHING = 0.98  # beta of the debiased exponential moving average (fastai)


@dataclasses.dataclass
class RangeTestResult:
    """What a range test recorded, one entry per step it ran, and the rates it suggests."""

    learning_rates: (
        np.ndarray
    )  # the rate each step used (float64; the optimizer holds it as float32)
    losses: np.ndarray  # each batch's own loss, not Keras's running mean
    smoothed_losses: np.ndarray  # debiased exponential moving average of `losses`
    num_steps: int  # the steps asked for; `len(losses)` is smaller when the test stopped early
    stopped_early: bool  # True when the loss diverged (or became NaN/inf) before the last step
    suggestions: dict[
        str, float
    ]  # "valley", "steepest", "minimum_tenth"; empty when too few steps were usable

    def plot(self, ax=None, label: str = ""):
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

    It resets the model's metrics before each batch, so `logs["loss"]` at batch end covers that batch alone.
    Epoch-end logs then describe the last batch only: use it for short diagnostic runs, not for real training.
    """

    def __init__(self):
        super().__init__()
        self.losses = []

    def on_train_batch_begin(self, batch, logs=None):
        self.model.reset_metrics()

    def on_train_batch_end(self, batch, logs=None):
        self.losses.append(float(logs["loss"]))


class RangeTestCallback(BatchLossRecorder):
    """Sets each step's rate, records the batch's own loss, and stops the fit when the loss diverges.

    Args:
        learning_rates: sequence of float, the rate of each step, in order.
        beta: float, the smoothing of the divergence check (see `lr_suggestions.smooth`). Defaults to 0.98.
        divergence_factor: float > 1, stop when the smoothed loss exceeds this times its best. Defaults to 4.
    """

    def __init__(
        self, learning_rates, beta: float = SMOOTHING, divergence_factor: float = DIVERGENCE_FACTOR
    ):
        super().__init__()
        self.planned_rates = [float(rate) for rate in learning_rates]
        self.beta, self.divergence_factor = beta, divergence_factor
        self.learning_rates, self.smoothed_losses = [], []
        self.best, self.average, self.stopped_early = math.inf, 0.0, False

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
        if diverged and len(self.losses) < len(self.planned_rates):
            self.stopped_early = True
            self.model.stop_training = True


def _training_batches(data, model: keras.Model, batch_size: int, seed: int) -> tf.data.Dataset:
    """Returns endless batches: a dataset of (inputs, labels) batches, or arrays shuffled with `seed`."""
    if isinstance(data, tf.data.Dataset):
        return data.repeat()
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise ValueError(
            f"data must be a tf.data.Dataset or a tuple (inputs, labels). Received: {type(data)}"
        )
    inputs, labels = np.asarray(data[0], dtype="float32"), np.asarray(data[1])
    if inputs.shape[1:] != tuple(model.input_shape[1:]) or len(inputs) == 0:
        raise ValueError(
            f"data inputs must have shape (n, *{tuple(model.input_shape[1:])}). Received: shape {inputs.shape}"
        )
    num_classes = model.output_shape[-1]
    if labels.shape != (len(inputs),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"data labels must be ints, one per input. Received: labels of shape {labels.shape}"
        )
    if not 0 <= labels.min() <= labels.max() < num_classes:
        raise ValueError(
            f"data labels must be in [0, {num_classes}). Received: {sorted(set(labels.tolist()))}"
        )
    slices = tf.data.Dataset.from_tensor_slices((inputs, labels.astype("int32")))
    return training_inputs.batches(slices, batch_size, seed).repeat()


def _check_model(model: keras.Model) -> None:
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(model, keras.Model) or not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            f"model must be a compiled keras.Model (call model.compile first). Received: {model!r}"
        )
    if isinstance(
        optimizer.get_config()["learning_rate"], dict
    ):  # a serialized LearningRateSchedule
        raise ValueError(
            "model's optimizer follows a schedule; the range test sets the rate itself. Compile with a float "
            f"learning rate. Received: learning_rate={optimizer.get_config()['learning_rate']}"
        )


def find_learning_rate(
    model: keras.Model,
    data,
    start_learning_rate: float = 1e-7,
    end_learning_rate: float = 10.0,
    num_steps: int = MAX_STEPS,
    batch_size: int = 32,
    beta: float = SMOOTHING,
    divergence_factor: float = DIVERGENCE_FACTOR,
    seed: int = 0,
    callbacks: list[keras.callbacks.Callback] | None = None,
) -> RangeTestResult:
    """Runs an LR range test on a compiled model and puts the model and its optimizer back afterwards.

    Works on whatever the model trains now: the head alone while the base is frozen (phase 1), or the
    unfrozen model (phase 2), with the optimizer and loss it was compiled with.

    Args:
        model: keras.Model, compiled with a float learning rate (its value does not matter).
        data: a `tf.data.Dataset` of (inputs, labels) batches (repeated as needed), or a tuple
            `(inputs, labels)` of arrays, batched by `batch_size` and shuffled with `seed`.
        start_learning_rate: float > 0, the first step's rate. Defaults to 1e-7.
        end_learning_rate: float, the last step's rate. Defaults to 10.
        num_steps: int in [2, 100], steps of the sweep. Defaults to 100.
        batch_size: int >= 1, for array `data`. Defaults to 32.
        beta: float in [0, 1), the smoothing. Defaults to 0.98.
        divergence_factor: float > 1, the stop rule's factor. Defaults to 4.
        seed: int, the shuffling seed for array `data`. Defaults to 0.
        callbacks: list of Keras callbacks to run after the range test's own, e.g. to watch each step.
            Defaults to `None`.

    Returns:
        A `RangeTestResult`.

    Raises:
        ValueError: for a bad argument (named, with the value received) or an uncompiled model.

    Example:

    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2)])
    >>> model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    >>> inputs = np.random.default_rng(0).normal(size=(64, 2)).astype("float32")
    >>> before = [weight.copy() for weight in model.get_weights()]
    >>> result = find_learning_rate(model, (inputs, (inputs[:, 0] > 0).astype(int)), num_steps=60)
    >>> len(result.losses), sorted(result.suggestions)
    (60, ['minimum_tenth', 'steepest', 'valley'])
    >>> all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))  # put back bitwise
    True
    """
    rates = lr_suggestions.exponential_rates(start_learning_rate, end_learning_rate, num_steps)
    if num_steps > MAX_STEPS:
        raise ValueError(f"num_steps must be at most {MAX_STEPS}. Received: num_steps={num_steps}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1. Received: batch_size={batch_size!r}")
    lr_suggestions.smooth([], beta)  # checks beta
    if (
        isinstance(divergence_factor, bool)
        or not isinstance(divergence_factor, float | int)
        or divergence_factor <= 1
    ):
        raise ValueError(
            f"divergence_factor must be a number > 1. Received: divergence_factor={divergence_factor!r}"
        )
    _check_model(model)
    batches = _training_batches(data, model, batch_size, seed)

    optimizer = model.optimizer
    if (
        not optimizer.built
    ):  # build now, so the state saved below is the state training would start from
        optimizer.build(model.trainable_variables)
    saved = [
        (variable, variable.numpy().copy()) for variable in [*model.variables, *optimizer.variables]
    ]
    callback = RangeTestCallback(rates, beta, divergence_factor)
    try:
        model.fit(
            batches,
            epochs=1,
            steps_per_epoch=num_steps,
            callbacks=[callback, *(callbacks or [])],
            verbose=0,
            shuffle=False,
        )
    finally:
        for variable, value in saved:
            variable.assign(value)
    losses, smoothed = np.array(callback.losses), np.array(callback.smoothed_losses)
    learning_rates = np.array(callback.learning_rates)
    try:
        suggestions = lr_suggestions.suggest(learning_rates, smoothed, num_steps)
    except (
        ValueError
    ):  # stopped within the first steps: the curve says "lower the start", not a rate
        suggestions = {}
    return RangeTestResult(
        learning_rates, losses, smoothed, num_steps, callback.stopped_early, suggestions
    )
