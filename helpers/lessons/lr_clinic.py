"""The LR clinic: pick a learning rate and a schedule, train a fresh head for a few steps, read the diagnosis.

Lesson 05's interactive widget. Each run trains a new head (`head_training.build_head`) with Adam on cached
base features, records every step's own loss (`lr_finder.BatchLossRecorder`) and the rate the schedule gave
that step, and diagnoses the curve with `curve_diagnosis.diagnose`. The logic (`run_clinic`) is separate from
the widget (`build_clinic`), so tests check it without a browser.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import (
    curve_diagnosis,
    head_training,
    lr_finder,
    optimizers,
    schedules,
    training_inputs,
)

SCHEDULES = ("constant", "warmup + cosine", "one-cycle")
WARMUP_FRACTION = 0.1  # "warmup + cosine" warms up over the first tenth of the steps
RATE_EXPONENTS = (-6, 1)  # the widget's slider spans 1e-6 .. 10


@dataclasses.dataclass
class ClinicRun:
    """One clinic run: the settings, each step's rate and own loss, and the diagnosis of the curve."""

    learning_rate: float  # the constant rate, or the schedule's peak
    schedule: str  # one of SCHEDULES
    learning_rates: np.ndarray  # the rate at each step
    losses: np.ndarray  # each step's own batch loss
    diagnosis: curve_diagnosis.Diagnosis


def make_schedule(schedule: str, learning_rate: float, steps: int):
    """Returns the optimizer's `learning_rate` argument for a clinic schedule peaking at `learning_rate`.

    Args:
        schedule: str, one of `SCHEDULES`.
        learning_rate: float > 0, the constant rate or the schedule's peak.
        steps: int >= 2, the steps of the run.

    Returns:
        `learning_rate` itself for `"constant"`, else a `keras.optimizers.schedules.LearningRateSchedule`.

    Raises:
        ValueError: for an unknown schedule or a bad rate.

    Example:

    >>> type(make_schedule("warmup + cosine", 1e-3, 50)).__name__
    'CosineDecay'
    """
    optimizers.check_learning_rate(learning_rate)
    if schedule == "constant":
        return float(learning_rate)
    if schedule == "warmup + cosine":
        return schedules.warmup_cosine(learning_rate, steps, max(1, round(WARMUP_FRACTION * steps)))
    if schedule == "one-cycle":
        return schedules.OneCycle(learning_rate, steps)
    raise ValueError(f"schedule must be one of {SCHEDULES}. Received: schedule={schedule!r}")


def run_clinic(
    features: np.ndarray,
    labels: np.ndarray,
    learning_rate: float,
    schedule: str = "constant",
    steps: int = 60,
    batch_size: int = 32,
    num_classes: int | None = None,
    seed: int = 0,
) -> ClinicRun:
    """Trains a fresh head for `steps` steps at a rate (or a schedule) and diagnoses its loss curve.

    Args:
        features: float array `(n, num_features)`, pooled base features (see `head_training.pooled_features`).
        labels: int array `(n,)`, the classes.
        learning_rate: float > 0, the constant rate or the schedule's peak.
        schedule: str, one of `SCHEDULES`. Defaults to `"constant"`.
        steps: int in [2, 500], training steps (batches). Defaults to 60.
        batch_size: int >= 1, features per step. Defaults to 32.
        num_classes: int or None, the head's units; `None` means `max(labels) + 1`. Defaults to `None`.
        seed: int, seeds the head, dropout and shuffling. Defaults to 0.

    Returns:
        A `ClinicRun`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> features = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> run = run_clinic(features, (features[:, 0] > 0).astype(int), 1e-2, steps=20)
    >>> run.losses.shape, run.diagnosis.verdict in curve_diagnosis.VERDICTS
    ((20,), True)
    """
    features, labels = head_training.check_split("(features, labels)", (features, labels))
    num_classes = max(int(labels.max()) + 1, 2) if num_classes is None else num_classes
    if (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int)
        or num_classes <= labels.max()
    ):
        raise ValueError(
            f"num_classes must be an int above every label. Received: num_classes={num_classes!r}"
        )
    if isinstance(steps, bool) or not isinstance(steps, int) or not 2 <= steps <= 500:
        raise ValueError(f"steps must be an int in [2, 500]. Received: steps={steps!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1. Received: batch_size={batch_size!r}")
    rate = make_schedule(schedule, learning_rate, steps)

    keras.utils.set_random_seed(seed)
    head = head_training.build_head(features.shape[1], num_classes)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    head.compile(optimizer=keras.optimizers.Adam(learning_rate=rate), loss=loss)
    slices = tf.data.Dataset.from_tensor_slices((features, labels.astype("int32")))
    batches = training_inputs.batches(slices, batch_size, seed).repeat()
    recorder = lr_finder.BatchLossRecorder()
    head.fit(
        batches, epochs=1, steps_per_epoch=steps, callbacks=[recorder], verbose=0, shuffle=False
    )
    rates = (
        np.full(steps, learning_rate)
        if schedule == "constant"
        else schedules.learning_rates(rate, steps)
    )
    diagnosis = curve_diagnosis.diagnose(recorder.losses, num_classes=num_classes)
    return ClinicRun(float(learning_rate), schedule, rates, np.array(recorder.losses), diagnosis)


def plot_run(run: ClinicRun, axes=None):
    """Plots a run's loss per step (log scale) above its learning rate per step; returns the two Axes.

    Example:

    >>> losses = np.linspace(1.4, 0.5, 10)
    >>> run = ClinicRun(1e-3, "constant", np.full(10, 1e-3), losses, curve_diagnosis.diagnose(losses))
    >>> [len(ax.lines) for ax in plot_run(run)]
    [1, 1]
    """
    import matplotlib.pyplot as plt

    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True, height_ratios=(2, 1))
    loss_ax, rate_ax = axes
    finite = np.isfinite(run.losses)
    loss_ax.plot(np.flatnonzero(finite), run.losses[finite])
    loss_ax.set(yscale="log", ylabel="batch loss", title=f"{run.schedule}, rate {run.learning_rate:.0e}: "
                f"{run.diagnosis.verdict}")  # fmt: skip
    rate_ax.plot(run.learning_rates)
    rate_ax.set(xlabel="step", ylabel="learning rate")
    return axes


def build_clinic(
    features: np.ndarray, labels: np.ndarray, num_classes: int | None = None, seed: int = 0
):
    """Builds the clinic widget: a log-scale rate slider, a schedule menu, a steps slider and a Train button.

    Each click trains with `run_clinic` and shows the curve and the diagnosis. The returned box keeps the
    latest `ClinicRun` in `box.latest_run` and its controls in `box.controls` (for tests and curious learners).

    Args:
        features, labels, num_classes, seed: as in `run_clinic`.

    Returns:
        An `ipywidgets.VBox`; display it as the last line of a cell.
    """
    import ipywidgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    low, high = RATE_EXPONENTS
    rate = ipywidgets.FloatLogSlider(
        value=1e-3, base=10, min=low, max=high, step=0.25, description="rate"
    )
    schedule = ipywidgets.Dropdown(options=SCHEDULES, value="constant", description="schedule")
    steps = ipywidgets.IntSlider(value=60, min=10, max=200, step=10, description="steps")
    button = ipywidgets.Button(description="Train", button_style="primary")
    verdict = ipywidgets.HTML()
    output = ipywidgets.Output()
    box = ipywidgets.VBox(
        [ipywidgets.HBox([rate, schedule]), ipywidgets.HBox([steps, button]), verdict, output]
    )
    box.controls, box.latest_run = (
        {"rate": rate, "schedule": schedule, "steps": steps, "button": button},
        None,
    )

    def train(_=None):
        run = run_clinic(
            features,
            labels,
            rate.value,
            schedule.value,
            steps.value,
            num_classes=num_classes,
            seed=seed,
        )
        box.latest_run = run
        verdict.value = f"<b>{run.diagnosis.verdict}</b>: {'; '.join(run.diagnosis.evidence)}. {run.diagnosis.advice}"
        with output:
            output.clear_output(wait=True)
            plot_run(run)
            display(plt.gcf())
            plt.close()

    button.on_click(train)
    return box
