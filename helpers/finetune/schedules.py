"""Learning-rate schedules: warmup and cosine decay, one-cycle, each step's rate logged (lesson 05).

`warmup_cosine` is Keras's `CosineDecay` with a linear warmup; `OneCycle` is PyTorch's `OneCycleLR`;
`learning_rates`, `rates_at` and `plot_schedule` show the rate of every step (or chosen steps).
`LearningRateLogger` records the rate each training step used, and `ContinuingTensorBoard` keeps
TensorBoard's steps counting across `fit` calls.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
import tensorflow as tf

from helpers.finetune import optimizers, validation


def warmup_cosine(
    peak_learning_rate: float,
    total_steps: int,
    warmup_steps: int,
    initial_learning_rate: float = 0.0,
    final_fraction: float = 0.0,
) -> keras.optimizers.schedules.CosineDecay:
    """Returns Keras's `CosineDecay` with a linear warmup: up to the peak, then half a cosine down.

    Warmup keeps the first steps small while a fresh optimizer's statistics (Adam's moments)
    settle. Step `s` (from 0) gets `initial_learning_rate + (peak_learning_rate -
    initial_learning_rate) * s / warmup_steps` while `s < warmup_steps` (step 0 gets
    `initial_learning_rate`: by default 0.0, a step that moves nothing), then `peak_learning_rate *
    ((1 - final_fraction) * 0.5 * (1 + cos(pi * t / T)) + final_fraction)` with `t = s -
    warmup_steps` and `T = total_steps - warmup_steps`, constant from step `total_steps` on.

    Args:
        peak_learning_rate: float > 0, the rate at the end of the warmup.
        total_steps: int >= 1, the training steps of warmup and decay together.
        warmup_steps: int in [0, total_steps - 1], the steps of the linear rise.
        initial_learning_rate: float in [0, peak_learning_rate], the rate at step 0. Defaults to
            0.0.
        final_fraction: float in [0, 1], the final rate over the peak (Keras's `alpha`). Defaults
            to 0.0.

    Returns:
        A `keras.optimizers.schedules.CosineDecay`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> schedule = warmup_cosine(1e-3, total_steps=10, warmup_steps=2)
    >>> [round(float(schedule(step)), 6) for step in (0, 1, 2, 6, 10)]
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    >>> warmup_cosine(1e-3, total_steps=10, warmup_steps=10)
    Traceback (most recent call last):
    ...
    ValueError: warmup_steps must be an int from 0 to 9. Received: warmup_steps=10
    """
    peak_learning_rate = validation.check_positive_number("peak_learning_rate", peak_learning_rate)
    total_steps = validation.check_int("total_steps", total_steps, minimum=1)
    warmup_steps = validation.check_int(
        "warmup_steps", warmup_steps, minimum=0, maximum=total_steps - 1
    )
    # A float start matters: Keras gives the whole schedule the start's dtype (the int 0: int32).
    initial_learning_rate = validation.check_number(
        "initial_learning_rate", initial_learning_rate, minimum=0, maximum=peak_learning_rate
    )
    final_fraction = validation.check_number("final_fraction", final_fraction, minimum=0, maximum=1)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate,
        decay_steps=total_steps - warmup_steps,
        alpha=final_fraction,
        warmup_target=peak_learning_rate,
        warmup_steps=warmup_steps,
    )


@keras.saving.register_keras_serializable(package="gentle_fine_tuning")
class OneCycle(optimizers.Schedule):
    """Smith's one-cycle schedule: a cosine rise to `max_learning_rate`, then a long cosine fall.

    As PyTorch's `OneCycleLR(anneal_strategy="cos", three_phase=False)`. With `last = total_steps -
    1`, `peak = warmup_fraction * total_steps - 1` and `cosine(start, end, fraction) = end + (start
    - end) / 2 * (1 + cos(pi * fraction))`, step `s` gets `cosine(max_learning_rate / div_factor,
    max_learning_rate, s / peak)` up to `peak`, then `cosine(max_learning_rate, max_learning_rate /
    div_factor / final_div_factor, (s - peak) / (last - peak))` up to `last` (the last of
    `total_steps` training steps), and that final value after it.

    Args:
        max_learning_rate: float > 0, the peak rate.
        total_steps: int >= 2, the training steps of the cycle.
        warmup_fraction: float in (1 / total_steps, 1), the share of steps spent rising
            (PyTorch's `pct_start`); above `1 / total_steps` so that the peak step comes after
            step 0. Defaults to 0.3.
        div_factor: float > 0, the first rate is `max_learning_rate / div_factor`. Defaults to
            25.0.
        final_div_factor: float > 0, the last rate is the first divided by this. Defaults to 1e4.
        name: str, the schedule's name. Defaults to `"OneCycle"`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> schedule = OneCycle(1e-2, total_steps=10, warmup_fraction=0.4)  # peak: step 0.4 * 10 - 1
    >>> [f"{float(schedule(step)):.2e}" for step in (0, 3, 9, 20)]
    ['4.00e-04', '1.00e-02', '4.00e-08', '4.00e-08']
    >>> OneCycle(1e-2, total_steps=3, warmup_fraction=0.3)
    Traceback (most recent call last):
    ...
    ValueError: warmup_fraction must be a finite number in (0.333333, 1).
    Received: warmup_fraction=0.3
    """

    def __init__(
        self,
        max_learning_rate: float,
        total_steps: int,
        warmup_fraction: float = 0.3,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        name: str = "OneCycle",
    ):
        super().__init__()
        self.max_learning_rate = validation.check_positive_number(
            "max_learning_rate", max_learning_rate
        )
        self.total_steps = validation.check_int("total_steps", total_steps, minimum=2)
        # The peak step, warmup_fraction * total_steps - 1, must come after step 0.
        self.warmup_fraction = validation.check_number(
            "warmup_fraction",
            warmup_fraction,
            minimum=1 / self.total_steps,
            maximum=1,
            include_minimum=False,
            include_maximum=False,
        )
        self.div_factor = validation.check_positive_number("div_factor", div_factor)
        self.final_div_factor = validation.check_positive_number(
            "final_div_factor", final_div_factor
        )
        self.name = validation.check_text("name", name)

    def __call__(self, step):
        first_rate = self.max_learning_rate / self.div_factor
        last_rate = first_rate / self.final_div_factor
        peak_step = self.warmup_fraction * self.total_steps - 1
        last_step = self.total_steps - 1
        # The rate stays constant after the last step.
        step = keras.ops.minimum(keras.ops.cast(step, "float32"), last_step)
        rising = step <= peak_step
        fraction = keras.ops.where(
            rising, step / peak_step, (step - peak_step) / (last_step - peak_step)
        )
        start = keras.ops.where(rising, first_rate, self.max_learning_rate)
        end = keras.ops.where(rising, self.max_learning_rate, last_rate)
        # cos(pi / 2 * fraction) ** 2 equals (1 + cos(pi * fraction)) / 2.
        return end + (start - end) * keras.ops.cos(math.pi / 2.0 * fraction) ** 2

    def get_config(self) -> dict:
        return {
            "max_learning_rate": self.max_learning_rate,
            "total_steps": self.total_steps,
            "warmup_fraction": self.warmup_fraction,
            "div_factor": self.div_factor,
            "final_div_factor": self.final_div_factor,
            "name": self.name,
        }


def learning_rates(schedule: optimizers.Schedule, num_steps: int) -> np.ndarray:
    """Returns `schedule(step)` for `step` in `0 .. num_steps - 1`: the rates of the first steps.

    Args:
        schedule: a `keras.optimizers.schedules.LearningRateSchedule`.
        num_steps: int >= 1, how many steps.

    Returns:
        A float64 numpy array of length `num_steps`.

    Raises:
        ValueError: if `schedule` is not a schedule or `num_steps` is not an int >= 1.

    Example:

    >>> decay = keras.optimizers.schedules.PiecewiseConstantDecay([1], [1e-2, 1e-3])
    >>> learning_rates(decay, 3).tolist()
    [0.01, 0.01, 0.001]
    """
    num_steps = validation.check_int("num_steps", num_steps, minimum=1)
    return rates_at(schedule, list(range(num_steps)))


def rates_at(schedule: optimizers.Schedule, steps: Sequence[int]) -> np.ndarray:
    """Returns `schedule(step)` for each of `steps`: a schedule read by calling it (lesson 05).

    Calling is the only faithful reading: a configuration can look right and still give a
    schedule that raises when called (`CosineDecay(0, ...)` with an int 0 and a warmup) or never
    changes (`alpha=1.0`). Whatever the schedule raises when called is raised here.

    Args:
        schedule: a `keras.optimizers.schedules.LearningRateSchedule`.
        steps: non-empty sequence of ints >= 0, the steps to read.

    Returns:
        A float64 numpy array, one rate per step.

    Raises:
        ValueError: if `schedule` is not a schedule or `steps` not a non-empty sequence of ints
            >= 0.

    Example:

    >>> warmup = keras.optimizers.schedules.CosineDecay(
    ...     0.0, 100, warmup_target=1e-3, warmup_steps=10
    ... )
    >>> rates_at(warmup, [0, 5, 10, 60, 110]).round(6).tolist()
    [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """
    validation.check_instance(
        "schedule", schedule, optimizers.Schedule, "a keras LearningRateSchedule"
    )
    steps = validation.check_sequence("steps", steps)
    steps = [
        validation.check_int(f"steps[{index}]", step, minimum=0) for index, step in enumerate(steps)
    ]
    # One trace for all steps: calling the schedule eagerly step by step is slow.
    rate_at = tf.function(schedule, input_signature=[tf.TensorSpec([], tf.int64)])
    rates = [float(rate_at(tf.constant(step, tf.int64))) for step in steps]
    return np.array(rates, dtype=np.float64)


def plot_schedule(
    schedule_or_mapping: optimizers.Schedule | dict[str, optimizers.Schedule],
    num_steps: int,
    ax: plt.Axes | None = None,
    log_scale: bool = False,
) -> plt.Axes:
    """Plots the learning rate over steps: one schedule, or a dict `{label: schedule}` of several.

    Args:
        schedule_or_mapping: a `LearningRateSchedule`, or a dict of label to schedule.
        num_steps: int >= 1, the steps to draw.
        ax: matplotlib Axes or None (the current Axes). Defaults to `None`.
        log_scale: bool, a logarithmic learning-rate axis. Defaults to `False`.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: as `learning_rates` does, or for a `log_scale` that is not a bool.

    Example:

    >>> from matplotlib.figure import Figure  # a figure of its own, outside pyplot
    >>> mapping = {"warmup": warmup_cosine(1e-3, 10, 2), "one-cycle": OneCycle(1e-3, 10)}
    >>> len(plot_schedule(mapping, 10, ax=Figure().add_subplot()).lines)
    2
    """
    num_steps = validation.check_int("num_steps", num_steps, minimum=1)
    log_scale = validation.check_bool("log_scale", log_scale)
    if isinstance(schedule_or_mapping, dict):
        mapping = schedule_or_mapping
    else:
        mapping = {type(schedule_or_mapping).__name__: schedule_or_mapping}
    ax = plt.gca() if ax is None else ax
    for label, schedule in mapping.items():
        ax.plot(np.arange(num_steps), learning_rates(schedule, num_steps), label=str(label))
    ax.set(xlabel="step", ylabel="learning rate", yscale="log" if log_scale else "linear")
    ax.legend()
    return ax


class LearningRateLogger(keras.callbacks.Callback):
    """Records the learning rate each training step uses, and writes it for TensorBoard when asked.

    At each batch's start it appends the optimizer's rate (a schedule's value at
    `optimizer.iterations`, the step about to run) to `learning_rates`, over all `fit` calls. With
    `log_dir` it writes it as scalar `"learning_rate"` into `log_dir/train` at step
    `len(learning_rates)`: Keras's TensorBoard `batch_loss` folder and steps. At epoch end it puts
    the epoch's last rate into `logs["learning_rate"]` for History.

    Args:
        log_dir: str, path or None, TensorBoard's log folder; `None` only records. Defaults to
            `None`.

    Raises:
        ValueError: if `log_dir` is not a str, a path or None.

    Example:

    >>> model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    >>> optimizer = keras.optimizers.SGD(learning_rate=OneCycle(0.1, 4, 0.5))
    >>> model.compile(optimizer=optimizer, loss="mse")
    >>> logger = LearningRateLogger()
    >>> _ = model.fit(np.ones((4, 1)), np.ones(4), batch_size=1, callbacks=[logger], verbose=0)
    >>> [f"{rate:.3g}" for rate in logger.learning_rates]
    ['0.004', '0.1', '0.05', '4e-07']
    """

    def __init__(self, log_dir: str | os.PathLike | None = None):
        super().__init__()
        self.log_dir = validation.check_instance(
            "log_dir", log_dir, str | os.PathLike | None, "a str, a path or None"
        )
        self.learning_rates = []
        self._writer = None
        if log_dir is not None:
            self._writer = tf.summary.create_file_writer(os.path.join(log_dir, "train"))

    def on_train_batch_begin(self, batch, logs=None):
        self.learning_rates.append(optimizers.learning_rate_of(self.model.optimizer))
        if self._writer is not None:
            with self._writer.as_default():
                tf.summary.scalar(
                    "learning_rate", self.learning_rates[-1], step=len(self.learning_rates)
                )

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.learning_rates:
            logs["learning_rate"] = self.learning_rates[-1]
        if self._writer is not None:
            self._writer.flush()


class ContinuingTensorBoard(keras.callbacks.TensorBoard):
    """Keras's TensorBoard callback with batch steps counting on across `fit` calls.

    Keras's own callback starts again at step 1 in each `fit`, so a second phase would overwrite
    the first phase's curve in TensorBoard.
    """

    def on_train_begin(self, logs=None):
        # Keras resets this counter in on_train_begin: keep the count of the fits before.
        batches_so_far = self._global_train_batch
        super().on_train_begin(logs)
        self._global_train_batch = batches_so_far
