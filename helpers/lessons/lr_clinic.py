"""The LR clinic: train a fresh head at a chosen rate and schedule, read the diagnosis (lesson 05).

Lesson 05's interactive widget. Each run trains a new head (`head_training.build_head`) with Adam on
cached base features, records every step's own loss (`lr_finder.BatchLossRecorder`) and the rate
the schedule gave that step, and diagnoses the curve with `curve_diagnosis.diagnose`. A
`guards.DivergenceGuard` stops a run whose loss turns NaN or climbs far above its start: the clinic
keeps the steps so far and says why it stopped, rather than training on garbage or raising. The
logic (`run_clinic`) is separate from the widget (`build_clinic`), so tests check it without a
browser.
"""

from __future__ import annotations

import dataclasses
import html

import keras
import matplotlib.axes
import numpy as np
import tensorflow as tf

from helpers.finetune import (
    curve_diagnosis,
    guards,
    head_training,
    lr_finder,
    schedules,
    training_inputs,
    validation,
)

SCHEDULES = ("constant", "warmup + cosine", "one-cycle")
WARMUP_FRACTION = 0.1  # "warmup + cosine" warms up over the first tenth of the steps
RATE_EXPONENTS = (-6, 1)  # the widget's slider spans 1e-6 .. 10
MAX_STEPS = 500  # a clinic run is a quick look: at most this many steps


@dataclasses.dataclass
class ClinicRun:
    """One clinic run: the settings, each step's rate and own loss, and the diagnosis of the curve.

    A run the divergence guard stopped holds the steps before the stop only, and `stopped_reason`
    says why it stopped; a run that trained every step has `stopped_reason=None`.
    """

    learning_rate: float  # the constant rate, or the schedule's peak
    schedule: str  # one of SCHEDULES
    learning_rates: np.ndarray  # the rate at each step that ran
    losses: np.ndarray  # each step's own batch loss
    diagnosis: curve_diagnosis.Diagnosis
    stopped_reason: str | None = None  # the divergence guard's reason, or None


def make_schedule(
    schedule: str, learning_rate: float, steps: int
) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """Returns the optimizer's `learning_rate` for a clinic schedule peaking at `learning_rate`.

    Args:
        schedule: str, one of `SCHEDULES`.
        learning_rate: float > 0, the constant rate or the schedule's peak.
        steps: int >= 2, the steps of the run.

    Returns:
        `learning_rate` as a float for `"constant"`, else a
        `keras.optimizers.schedules.LearningRateSchedule`.

    Raises:
        ValueError: for an unknown schedule, a rate that is not a positive number, or a bad
            `steps`.

    Example:

    >>> type(make_schedule("warmup + cosine", 1e-3, 50)).__name__
    'CosineDecay'
    >>> make_schedule("cosine", 1e-3, 50)
    Traceback (most recent call last):
    ...
    ValueError: schedule must be one of ('constant', 'warmup + cosine', 'one-cycle').
    Received: schedule='cosine'. Did you mean 'warmup + cosine'?
    """
    schedule = validation.check_choice("schedule", schedule, SCHEDULES)
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    steps = validation.check_int("steps", steps, minimum=2)
    if schedule == "warmup + cosine":
        warmup_steps = max(1, round(WARMUP_FRACTION * steps))
        return schedules.warmup_cosine(learning_rate, steps, warmup_steps)
    if schedule == "one-cycle":
        return schedules.OneCycle(learning_rate, steps)
    return learning_rate


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

    A `guards.DivergenceGuard` watches every step: once the loss turns NaN or inf, or passes
    `guards.DIVERGENCE_FACTOR` (100) times its start (or `ln(num_classes)`, if larger), training
    stops. The run then holds the steps so far, `stopped_reason` says why, and the diagnosis's
    evidence ends with that reason. A diverging rate is what the clinic is for, so it never raises
    for one. On lesson 05's features rate 10 passes 100x at its second step (seeds 0-2), while
    rate 0.1, which jumps to at most 10x, trains every step.

    Args:
        features: float array `(n, num_features)`, pooled base features (see
            `head_training.pooled_features`); NaN or inf values are rejected.
        labels: int array `(n,)`, the classes (whole numbers `>= 0`).
        learning_rate: float > 0, the constant rate or the schedule's peak.
        schedule: str, one of `SCHEDULES`. Defaults to `"constant"`.
        steps: int in [2, `MAX_STEPS`], training steps (batches). Defaults to 60.
        batch_size: int >= 1, features per step. Defaults to 32.
        num_classes: int above every label, or None for `max(labels) + 1` (at least 2): the head's
            units. Defaults to `None`.
        seed: int >= 0, seeds the head, dropout and shuffling. Defaults to 0.

    Returns:
        A `ClinicRun`.

    Raises:
        ValueError: for a bad argument, naming it and the value received; or when the very first
            loss is NaN or inf (the rate has not acted yet: the features are too large).

    Example:

    >>> features = np.random.default_rng(0).normal(size=(64, 8)).astype("float32")
    >>> run = run_clinic(features, (features[:, 0] > 0).astype(int), 1e-2, steps=20)
    >>> run.losses.shape, run.diagnosis.verdict in curve_diagnosis.VERDICTS, run.stopped_reason
    ((20,), True, None)
    """
    features, labels, num_classes = _checked_data(features, labels, num_classes)
    steps = validation.check_int("steps", steps, minimum=2, maximum=MAX_STEPS)
    rate = make_schedule(schedule, learning_rate, steps)
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)

    keras.utils.set_random_seed(seed)
    head = head_training.build_head(features.shape[1], num_classes)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    head.compile(optimizer=keras.optimizers.Adam(learning_rate=rate), loss=loss)
    slices = tf.data.Dataset.from_tensor_slices((features, labels))
    batches = training_inputs.batches(slices, batch_size, seed).repeat()
    # The recorder resets the loss before each batch, so the guard also sees each step's own loss.
    recorder = lr_finder.BatchLossRecorder()
    guard = guards.DivergenceGuard(num_classes=num_classes)
    head.fit(
        batches,
        epochs=1,
        steps_per_epoch=steps,
        callbacks=[recorder, guard],
        verbose=0,
        shuffle=False,
    )
    losses = np.array(recorder.losses)
    if len(losses) < 2:
        # The guard stopped the first step, whose loss comes before any update: not the rate.
        largest = float(np.max(np.abs(features)))
        raise ValueError(
            "features must be small enough to give a finite first loss (it comes before any "
            "update, so the learning rate is not the cause). "
            f"Received: features with values up to {largest:g}, first loss {losses[0]}"
        )
    if schedule == "constant":
        planned_rates = np.full(steps, float(learning_rate))
    else:
        planned_rates = schedules.learning_rates(rate, steps)
    diagnosis = _diagnosis(losses, num_classes, guard.reason)
    return ClinicRun(
        float(learning_rate),
        schedule,
        planned_rates[: len(losses)],
        losses,
        diagnosis,
        guard.reason,
    )


def plot_run(
    run: ClinicRun, axes: tuple[matplotlib.axes.Axes, matplotlib.axes.Axes] | None = None
) -> tuple[matplotlib.axes.Axes, matplotlib.axes.Axes]:
    """Plots a run's loss per step (log scale) above its learning rate per step.

    The loss panel's title names the verdict, and says where the guard stopped a stopped run.

    Args:
        run: a `ClinicRun`, from `run_clinic`.
        axes: two matplotlib Axes (loss, rate), or `None` for a new figure. Defaults to `None`.

    Returns:
        The two Axes.

    Raises:
        ValueError: if `run` is not a `ClinicRun` or `axes` does not hold two Axes.

    Example:

    >>> losses = np.linspace(1.4, 0.5, 10)
    >>> diagnosis = curve_diagnosis.diagnose(losses)
    >>> run = ClinicRun(1e-3, "constant", np.full(10, 1e-3), losses, diagnosis)
    >>> [len(ax.lines) for ax in plot_run(run)]
    [1, 1]
    """
    import matplotlib.pyplot as plt

    validation.check_instance("run", run, ClinicRun, "a ClinicRun")
    if axes is None:
        _, axes = plt.subplots(2, 1, figsize=(7, 5), sharex=True, height_ratios=(2, 1))
    loss_ax, rate_ax = _two_axes(axes)
    finite = np.isfinite(run.losses)
    loss_ax.plot(np.flatnonzero(finite), run.losses[finite])
    title = f"{run.schedule}, rate {run.learning_rate:.0e}: {run.diagnosis.verdict}"
    if run.stopped_reason is not None:
        title += f" (stopped after {len(run.losses)} steps)"
    loss_ax.set(yscale="log", ylabel="batch loss", title=title)
    rate_ax.plot(run.learning_rates)
    rate_ax.set(xlabel="step", ylabel="learning rate")
    return loss_ax, rate_ax


def build_clinic(
    features: np.ndarray, labels: np.ndarray, num_classes: int | None = None, seed: int = 0
):
    """Builds the clinic widget: a log-scale rate slider, a schedule menu, steps and a Train button.

    Each click trains with `run_clinic` and shows the curve and the diagnosis. The returned box
    keeps the latest `ClinicRun` in `box.latest_run` and its controls in `box.controls` (for tests
    and curious learners). The data are checked once here, so a bad argument fails when the widget
    is built, not at the first click.

    Args:
        features, labels, num_classes, seed: as in `run_clinic`.

    Returns:
        An `ipywidgets.VBox`; display it as the last line of a cell.

    Raises:
        ValueError: for a bad argument, naming it and the value received.
    """
    import ipywidgets
    import matplotlib.pyplot as plt
    from IPython.display import display

    features, labels, num_classes = _checked_data(features, labels, num_classes)
    seed = validation.check_int("seed", seed, minimum=0)
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
    box.controls = {"rate": rate, "schedule": schedule, "steps": steps, "button": button}
    box.latest_run = None

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
        evidence = "; ".join(run.diagnosis.evidence)
        verdict.value = (
            f"<b>{html.escape(run.diagnosis.verdict)}</b>: "
            f"{html.escape(evidence)}. {html.escape(run.diagnosis.advice)}"
        )
        with output:
            output.clear_output(wait=True)
            plot_run(run)
            display(plt.gcf())
            plt.close()

    button.on_click(train)
    return box


def _checked_data(
    features: object, labels: object, num_classes: object
) -> tuple[np.ndarray, np.ndarray, int]:
    """Returns the features, the labels and the head's number of classes, each checked."""
    features = validation.check_features("features", features)
    labels = validation.check_labels("labels", labels, count=len(features))
    fewest_classes = max(2, int(labels.max()) + 1)
    num_classes = validation.check_optional_int("num_classes", num_classes, minimum=fewest_classes)
    if num_classes is None:
        num_classes = fewest_classes
    return features, labels, num_classes


def _diagnosis(
    losses: np.ndarray, num_classes: int, stopped_reason: str | None
) -> curve_diagnosis.Diagnosis:
    """Diagnoses the curve; for a stopped run, the guard's reason closes the evidence."""
    diagnosis = curve_diagnosis.diagnose(losses, num_classes=num_classes)
    if stopped_reason is None:
        return diagnosis
    evidence = (*diagnosis.evidence, f"the clinic stopped the run: {stopped_reason}")
    return dataclasses.replace(diagnosis, evidence=evidence)


def _two_axes(axes: object) -> tuple[matplotlib.axes.Axes, matplotlib.axes.Axes]:
    """Returns `axes` as a pair of Axes (loss, rate), or raises naming `axes`."""
    pair = validation.check_sequence("axes", axes, minimum_length=2)
    for index, ax in enumerate(pair):
        validation.check_instance(f"axes[{index}]", ax, matplotlib.axes.Axes, "a matplotlib Axes")
    loss_ax, rate_ax = pair[:2]
    return loss_ax, rate_ax
