"""Phase-2 learning-rate sweep: gain on the target task, cost on the source task (lesson 04).

Each run is measured three ways: target accuracy, source accuracy retained (the source head put
back) and weight drift per layer (`forgetting`). `from_scratch` trains the same network from random
weights: the baseline. A run that `two_phase.fine_tune`'s divergence guard stops is measured as it
stands and labelled "(diverged)", so one exploding rate does not cost the whole comparison.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math
from collections.abc import Iterator, Sequence

import keras
import matplotlib.axes
import numpy as np
import tensorflow as tf

from helpers.finetune import forgetting, guards, two_phase, validation
from helpers.lessons import course, pretrained, shapes_data, target_task

LEARNING_RATES = (1e-2, 1e-3, 1e-4, 1e-5)  # the phase-2 rates lesson 04 compares
# As scripts/pretrain_base.py: at 0.999 BatchNorm statistics stay near their initial values.
SCRATCH_BATCHNORM_MOMENTUM = 0.9
# Shorter fits run eagerly: tracing a training step takes 7-18 s on 2 cores, an eager step ~1 s.
EAGER_STEPS = 16
BATCH_SIZE = 32  # from scratch and the eager-or-traced decision, as two_phase's default


@dataclasses.dataclass
class Outcome:
    """One run's measurements; reference runs ("head only", "from scratch") have no rate."""

    label: str
    learning_rate: float | None  # phase 2's rate
    target_accuracy: float
    source_accuracy: float  # NaN from scratch: that base never learnt the source task
    overall_drift: float  # the relative change of all base weights together; NaN from scratch
    # Per base layer with weights; BatchNormalization (always frozen) is left out.
    layer_drift: dict[str, float]
    stopped_reason: str | None = None  # why the divergence guard stopped phase 2, or None


def compare(
    data: target_task.TaskData,
    learning_rates: Sequence[float] = LEARNING_RATES,
    top_layers_options: Sequence[int | None] = (None,),
    head_epochs: int = 10,
    fine_tune_epochs: int = 5,
    seed: int = 0,
    source_head: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[Outcome]:
    """Trains one head on the frozen base, then fine-tunes a copy per (rate, top layers) pair.

    Every argument is checked before the first epoch, so a bad one fails at once rather than
    after minutes of training. A phase 2 that `two_phase.fine_tune`'s divergence guard stops (its
    loss NaN or far above its start) is measured as it stands, labelled "(diverged)" and keeps
    the guard's message in `stopped_reason`: one exploding rate does not cost the others.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`.
        learning_rates: sequence of distinct floats > 0, phase 2's rates. Defaults to
            `LEARNING_RATES`.
        top_layers_options: sequence of ints (1 to the base's layers) or None, the top layers to
            unfreeze (None: all). Defaults to `(None,)`.
        head_epochs, fine_tune_epochs: int >= 1, the epochs of phase 1 (rate 1e-3) and 2. Default
            to 10 and 5.
        seed: int >= 0, seeds the head's initial weights, dropout and shuffling. Defaults to 0.
        source_head: `(kernel, bias)` arrays of shapes `(num_features, 6)` and `(6,)`, or `None`
            for the bundled source head. Defaults to `None`.

    Returns:
        A list of `Outcome`: "head only" (after phase 1), then one per pair ("0.0001", "0.0001,
        top 20").

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> source_head = (np.zeros((1280, 6), "float32"), np.zeros(6, "float32"))
    >>> data = target_task.prepare_data(2, test_count=4, source_count=6, image_size=32)
    >>> rows = compare(data, [1e-2], [3], 1, 1, source_head=source_head)
    phase 1: base features computed once and cached (no augmentation)
    >>> [row.label for row in rows]
    ['head only', '0.01, top 3']
    >>> [name for name, drift in rows[1].layer_drift.items() if drift > 0]
    ['Conv_1']
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    rates = validation.check_learning_rates("learning_rates", learning_rates)
    top_layers_options = validation.check_sequence("top_layers_options", top_layers_options)
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=1)
    fine_tune_epochs = validation.check_int("fine_tune_epochs", fine_tune_epochs, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    source_head = _checked_source_head(source_head)
    image_size = data.train[0].shape[1]

    keras.utils.set_random_seed(seed)
    head_model, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES, image_size)
    top_layers_options = [
        validation.check_optional_int(
            f"top_layers_options[{index}]", top_layers, minimum=1, maximum=len(base_model.layers)
        )
        for index, top_layers in enumerate(top_layers_options)
    ]
    two_phase.fine_tune(
        head_model,
        base_model,
        data.train,
        head_epochs=head_epochs,
        fine_tune_epochs=0,
        seed=seed,
        verbose=course.fit_verbosity(),
    )
    # Phase 1 leaves the base untouched: its drift is 0.
    unchanged = forgetting.snapshot(base_model)
    outcomes = [_measure(head_model, data, "head only", unchanged, source_head)]
    for learning_rate, top_layers in itertools.product(rates, top_layers_options):
        keras.utils.set_random_seed(seed)
        model, base_model = pretrained.build_mobilenet_v2(
            target_task.NUM_CLASSES, image_size, weights=None
        )
        model.set_weights(head_model.get_weights())  # the pretrained base and the trained head
        before = forgetting.snapshot(base_model)
        label = f"{learning_rate:g}"
        if top_layers is not None:
            label += f", top {top_layers}"
        stopped_reason = None
        try:
            with _eager_if_short(fine_tune_epochs, data):
                two_phase.fine_tune(
                    model,
                    base_model,
                    data.train,
                    head_epochs=0,
                    fine_tune_epochs=fine_tune_epochs,
                    fine_tune_learning_rate=learning_rate,
                    top_layers=top_layers,
                    seed=seed,
                    verbose=course.fit_verbosity(),
                )
        except guards.TrainingDivergedError as error:
            label += " (diverged)"
            stopped_reason = str(error)
        outcome = _measure(model, data, label, before, source_head, learning_rate)
        outcomes.append(dataclasses.replace(outcome, stopped_reason=stopped_reason))
    return outcomes


def from_scratch(
    data: target_task.TaskData,
    epochs: int,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-3,
    seed: int = 0,
) -> Outcome:
    """Trains the same network from random weights, every layer trainable: the baseline.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`.
        epochs: int >= 1, the training epochs: give it those of both pretrained phases together.
        learning_rate: float > 0 or a schedule, Adam's learning rate. Defaults to 1e-3, the usual
            rate from scratch.
        seed: int >= 0, seeds the weights, dropout and shuffling. Defaults to 0.

    Returns:
        An `Outcome` labelled "from scratch", with NaN source accuracy and drift.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> from_scratch(target_task.prepare_data(1, image_size=32), epochs=0)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an int >= 1. Received: epochs=0
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    epochs = validation.check_int("epochs", epochs, minimum=1)
    learning_rate = validation.check_learning_rate("learning_rate", learning_rate)
    seed = validation.check_int("seed", seed, minimum=0)
    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(
        target_task.NUM_CLASSES, data.train[0].shape[1], weights=None
    )
    for layer in base_model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = SCRATCH_BATCHNORM_MOMENTUM
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=loss)
    with _eager_if_short(epochs, data):
        model.fit(
            *data.train,
            batch_size=BATCH_SIZE,
            epochs=epochs,
            shuffle=True,
            verbose=course.fit_verbosity(),
        )
    return Outcome("from scratch", None, _target_accuracy(model, data), math.nan, math.nan, {})


def format_table(outcomes: Sequence[Outcome]) -> str:
    """Returns a text table of the runs: target accuracy, source accuracy retained, overall drift.

    What a run cannot measure (NaN: from scratch has no source task) prints as "-".

    Args:
        outcomes: non-empty sequence of `Outcome`, from `compare` and `from_scratch`.

    Returns:
        The table, one line per run under a header line.

    Raises:
        ValueError: if `outcomes` is not a non-empty sequence of `Outcome`.

    Example:

    >>> rows = [
    ...     Outcome("0.01", 0.01, 0.25, 0.17, 0.24, {}),
    ...     Outcome("scratch", None, 0.3, math.nan, math.nan, {}),
    ... ]
    >>> print(format_table(rows))
    run                 target  source    drift
    0.01                  0.25    0.17   0.2400
    scratch               0.30       -        -
    """
    rows = _checked_outcomes(outcomes)
    lines = [f"{'run':<18}{'target':>8}{'source':>8}{'drift':>9}"]
    for row in rows:
        numbers = f"{row.target_accuracy:>8.2f}{row.source_accuracy:>8.2f}{row.overall_drift:>9.4f}"
        lines.append(f"{row.label:<18}" + numbers.replace("nan", "  -"))
    return "\n".join(lines)


def plot_comparison(
    outcomes: Sequence[Outcome], axes: Sequence[matplotlib.axes.Axes] | None = None
) -> Sequence[matplotlib.axes.Axes]:
    """Draws three panels: target and source accuracy against phase 2's rate, drift per layer.

    Args:
        outcomes: sequence of `Outcome` from `compare` and `from_scratch`, at least one with a
            learning rate; rows without a rate become dashed lines.
        axes: a sequence of three matplotlib Axes, or `None` for a new figure. Defaults to `None`.

    Returns:
        The three Axes.

    Raises:
        ValueError: if `outcomes` holds no run with a learning rate, or `axes` is not three Axes.

    Example:

    >>> head = Outcome("head only", None, 0.5, 0.9, 0.0, {})
    >>> tuned = Outcome("0.01", 0.01, 0.3, 0.2, 0.2, {"a": 0.2})
    >>> [len(ax.lines) for ax in plot_comparison([head, tuned])]
    [2, 3, 1]
    """
    import matplotlib.pyplot as plt

    rows = _checked_outcomes(outcomes)
    swept = [row for row in rows if row.learning_rate is not None]
    validation.check_sequence("outcomes with a learning_rate", swept)
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(16, 4))
    axes = _three_axes(axes)
    chance = 1 / len(shapes_data.SOURCE_CLASSES)
    axes[1].axhline(chance, linestyle=":", color="gray", label="chance")
    panels = (
        ("target_accuracy", "target task"),
        ("source_accuracy", "source task, source head put back"),
    )
    for ax, (field, title) in zip(axes[:2], panels, strict=True):
        ax.plot(
            [row.learning_rate for row in swept],
            [getattr(row, field) for row in swept],
            "ko-",
            label="fine-tuned",
        )
        for row in rows:
            is_reference = row.learning_rate is None
            if is_reference and not math.isnan(getattr(row, field)):
                ax.axhline(getattr(row, field), linestyle="--", label=row.label)
        ax.set(
            xscale="log",
            xlabel="phase-2 learning rate",
            ylabel="accuracy",
            title=title,
            ylim=(0, 1.02),
        )
        ax.legend(loc="lower left")
    forgetting.plot_drift({row.label: row.layer_drift for row in swept}, ax=axes[2])
    return axes


def _checked_outcomes(outcomes: object) -> list[Outcome]:
    """Returns `outcomes` as a list, or raises unless it is a non-empty sequence of `Outcome`."""
    rows = validation.check_sequence("outcomes", outcomes)
    for index, row in enumerate(rows):
        validation.check_instance(f"outcomes[{index}]", row, Outcome, "an Outcome")
    return rows


def _three_axes(axes: object) -> list[matplotlib.axes.Axes]:
    """Returns `axes` as a list, or raises unless it holds three matplotlib Axes (or more)."""
    panels = validation.check_sequence("axes", axes, minimum_length=3)
    for index, ax in enumerate(panels):
        validation.check_instance(f"axes[{index}]", ax, matplotlib.axes.Axes, "a matplotlib Axes")
    return panels


def _checked_source_head(
    source_head: object,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the source head's `(kernel, bias)`: the bundled one for `None`, else checked."""
    if source_head is None:
        with np.load(pretrained.BUNDLED_SOURCE_HEAD_PATH) as head:
            return head["kernel"], head["bias"]
    kernel, bias = validation.check_pair(
        "source_head", source_head, "None or a tuple (kernel, bias)"
    )
    num_classes = len(shapes_data.SOURCE_CLASSES)
    kernel = validation.check_array("source_head kernel", kernel, ("num_features", num_classes))
    bias = validation.check_array("source_head bias", bias, (num_classes,))
    return kernel, bias


def _target_accuracy(model: keras.Model, data: target_task.TaskData) -> float:
    predictions = np.argmax(model.predict(data.target_test[0], batch_size=64, verbose=0), axis=1)
    return float(np.mean(predictions == data.target_test[1]))


def _measure(
    model: keras.Model,
    data: target_task.TaskData,
    label: str,
    before: forgetting.WeightSnapshot,
    source_head: tuple[np.ndarray, np.ndarray],
    learning_rate: float | None = None,
) -> Outcome:
    """Target accuracy, source accuracy with the source head put back, base drift since `before`."""
    base_model = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    source = forgetting.source_accuracy(base_model, *source_head, *data.source_test)
    skipped = {
        layer.name
        for layer in base_model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    drift = forgetting.relative_drift(before, base_model)
    drift = {name: value for name, value in drift.items() if name not in skipped}
    overall = forgetting.overall_drift(before, base_model)
    return Outcome(label, learning_rate, _target_accuracy(model, data), source, overall, drift)


@contextlib.contextmanager
def _eager_if_short(epochs: int, data: target_task.TaskData) -> Iterator[None]:
    """Runs a fit of fewer than `EAGER_STEPS` steps eagerly, where tracing would cost more."""
    previous = tf.config.functions_run_eagerly()
    steps = epochs * math.ceil(len(data.train[1]) / BATCH_SIZE)
    tf.config.run_functions_eagerly(previous or steps < EAGER_STEPS)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)
