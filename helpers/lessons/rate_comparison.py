"""Phase-2 learning-rate sweep: what each rate gains on the target task and costs on the source task (lesson 04).

Each run is measured three ways: target accuracy, source accuracy retained (the source head put back) and
weight drift per layer (`forgetting`). `from_scratch` trains the same network from random weights: the baseline.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import math

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import forgetting, two_phase
from helpers.lessons import course, pretrained, shapes_data, target_task

LEARNING_RATES = (1e-2, 1e-3, 1e-4, 1e-5)  # the phase-2 rates lesson 04 compares
SCRATCH_BATCHNORM_MOMENTUM = (
    0.9  # as scripts/pretrain_base.py: at 0.999 BN statistics stay near their init
)
EAGER_STEPS = 16  # shorter fits run eagerly: tracing a training step takes 7-18 s on 2 cores, an eager step ~1 s


@dataclasses.dataclass
class Outcome:
    """One run's measurements; reference runs ("head only", "from scratch") have no learning rate."""

    label: str
    learning_rate: float | None  # phase 2's rate
    target_accuracy: float
    source_accuracy: float  # NaN from scratch: that base never learnt the source task
    overall_drift: float  # the relative change of all base weights together; NaN from scratch
    layer_drift: dict[
        str, float
    ]  # per base layer with weights, BatchNormalization (always frozen) left out


def compare(
    data: target_task.TaskData,
    learning_rates=LEARNING_RATES,
    top_layers_options=(None,),
    head_epochs: int = 10,
    fine_tune_epochs: int = 5,
    seed: int = 0,
    source_head=None,
) -> list[Outcome]:
    """Trains one head on the frozen base, then fine-tunes a copy of it per (learning rate, top layers) pair.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`.
        learning_rates: sequence of float > 0, phase 2's rates. Defaults to `LEARNING_RATES`.
        top_layers_options: sequence of int or None, top layers to unfreeze (None: all). Defaults to `(None,)`.
        head_epochs, fine_tune_epochs: int >= 1, the epochs of phase 1 (rate 1e-3) and 2. Default to 10 and 5.
        seed: int, seeds the head's initial weights, dropout and shuffling. Defaults to 0.
        source_head: `(kernel, bias)`, or `None` for the bundled source head. Defaults to `None`.

    Returns:
        A list of `Outcome`: "head only" (after phase 1), then one per pair ("0.0001", "0.0001, top 20").

    Raises:
        ValueError: if an epoch count is not an int >= 1, or for a bad rate or top layers.

    Example:

    >>> source_head = (np.zeros((1280, 6), "float32"), np.zeros(6, "float32"))
    >>> rows = compare(target_task.prepare_data(2, 4, 6, image_size=32), [1e-2], [3], 1, 1, source_head=source_head)
    phase 1: base features computed once and cached (no augmentation)
    >>> [row.label for row in rows], [name for name, drift in rows[1].layer_drift.items() if drift > 0]
    (['head only', '0.01, top 3'], ['Conv_1'])
    """
    for name, value in {"head_epochs": head_epochs, "fine_tune_epochs": fine_tune_epochs}.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an int >= 1. Received: {name}={value!r}")
    keras.utils.set_random_seed(seed)
    head_model, base_model = pretrained.build_mobilenet_v2(
        target_task.NUM_CLASSES, data.train[0].shape[1]
    )
    two_phase.fine_tune(
        head_model,
        base_model,
        data.train,
        head_epochs=head_epochs,
        fine_tune_epochs=0,
        seed=seed,
        verbose=course.fit_verbosity(),
    )
    outcomes = [
        _measure(head_model, data, "head only", forgetting.snapshot(base_model), source_head)
    ]  # drift 0
    for learning_rate, top_layers in itertools.product(learning_rates, top_layers_options):
        keras.utils.set_random_seed(seed)
        model, base_model = pretrained.build_mobilenet_v2(
            target_task.NUM_CLASSES, data.train[0].shape[1], weights=None
        )
        model.set_weights(head_model.get_weights())  # the pretrained base and the trained head
        before = forgetting.snapshot(base_model)
        options = {"fine_tune_learning_rate": learning_rate, "top_layers": top_layers, "seed": seed}
        with _eager_if_short(fine_tune_epochs, data):
            two_phase.fine_tune(
                model,
                base_model,
                data.train,
                head_epochs=0,
                fine_tune_epochs=fine_tune_epochs,
                verbose=course.fit_verbosity(),
                **options,
            )
        label = f"{learning_rate:g}" + ("" if top_layers is None else f", top {top_layers}")
        outcomes.append(_measure(model, data, label, before, source_head, learning_rate))
    return outcomes


def from_scratch(
    data: target_task.TaskData, epochs: int, learning_rate: float = 1e-3, seed: int = 0
) -> Outcome:
    """Trains the same network from random weights, every layer trainable: the baseline.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`.
        epochs: int >= 1, the training epochs: give it those of both pretrained phases together.
        learning_rate: float > 0, Adam's learning rate. Defaults to 1e-3, the usual rate from scratch.
        seed: int, seeds the weights, dropout and shuffling. Defaults to 0.

    Returns:
        An `Outcome` labelled "from scratch", with NaN source accuracy and drift.

    Raises:
        ValueError: if `epochs` is not an int >= 1.

    Example:

    >>> from_scratch(target_task.prepare_data(1, image_size=32), epochs=0)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an int >= 1. Received: epochs=0
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1. Received: epochs={epochs!r}")
    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(
        target_task.NUM_CLASSES, data.train[0].shape[1], weights=None
    )
    for layer in (
        layer for layer in base_model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ):
        layer.momentum = SCRATCH_BATCHNORM_MOMENTUM
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate), loss=loss)
    with _eager_if_short(epochs, data):
        model.fit(
            *data.train, batch_size=32, epochs=epochs, shuffle=True, verbose=course.fit_verbosity()
        )
    return Outcome("from scratch", None, _target_accuracy(model, data), math.nan, math.nan, {})


def format_table(outcomes: list[Outcome]) -> str:
    """Returns a text table of the runs: target accuracy, source accuracy retained, overall drift.

    Example:

    >>> rows = [Outcome("0.01", 0.01, 0.25, 0.17, 0.24, {}), Outcome("scratch", None, 0.3, math.nan, math.nan, {})]
    >>> print(format_table(rows))
    run                 target  source    drift
    0.01                  0.25    0.17   0.2400
    scratch               0.30       -        -
    """
    lines = [f"{'run':<18}{'target':>8}{'source':>8}{'drift':>9}"]
    for row in outcomes:  # NaN (from scratch) prints as "-"
        lines.append(
            f"{row.label:<18}{row.target_accuracy:>8.2f}{row.source_accuracy:>8.2f}{row.overall_drift:>9.4f}"
        )
    return "\n".join(lines).replace("nan", "  -")


def plot_comparison(outcomes: list[Outcome], axes=None):
    """Draws three panels: target accuracy and source accuracy against phase 2's rate, drift per layer.

    Args:
        outcomes: list of `Outcome` from `compare` and `from_scratch`; rows without a rate become dashed lines.
        axes: a sequence of three matplotlib Axes, or `None` for a new figure. Defaults to `None`.

    Returns:
        The three Axes.

    Raises:
        ValueError: if no outcome has a learning rate, or `axes` does not hold three Axes.

    Example:

    >>> head = Outcome("head only", None, 0.5, 0.9, 0.0, {})
    >>> [len(ax.lines) for ax in plot_comparison([head, Outcome("0.01", 0.01, 0.3, 0.2, 0.2, {"a": 0.2})])]
    [2, 3, 1]
    """
    import matplotlib.pyplot as plt

    swept = [row for row in outcomes if row.learning_rate is not None]
    if not swept:
        raise ValueError(
            f"outcomes must hold a run with a learning rate. Received: {[row.label for row in outcomes]}"
        )
    axes = plt.subplots(1, 3, figsize=(16, 4))[1] if axes is None else axes
    if len(axes) != 3:
        raise ValueError(f"axes must hold three Axes. Received: {len(axes)} Axes")
    axes[1].axhline(
        1 / len(shapes_data.SOURCE_CLASSES), linestyle=":", color="gray", label="chance"
    )
    panels = (
        ("target_accuracy", "target task"),
        ("source_accuracy", "source task, source head put back"),
    )
    for ax, (field, title) in zip(axes[:2], panels, strict=False):
        ax.plot(
            [row.learning_rate for row in swept],
            [getattr(row, field) for row in swept],
            "ko-",
            label="fine-tuned",
        )
        for row in outcomes:
            if row.learning_rate is None and not math.isnan(getattr(row, field)):
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


def _target_accuracy(model: keras.Model, data: target_task.TaskData) -> float:
    predictions = np.argmax(model.predict(data.target_test[0], batch_size=64, verbose=0), axis=1)
    return float(np.mean(predictions == data.target_test[1]))


def _measure(model, data, label, before, source_head, learning_rate=None) -> Outcome:
    """Target accuracy, source accuracy with the source head put back, base drift since `before`."""
    base_model = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    if source_head is None:
        with np.load(pretrained.BUNDLED_SOURCE_HEAD_PATH) as head:
            source_head = (head["kernel"], head["bias"])
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
def _eager_if_short(epochs: int, data: target_task.TaskData):
    """Runs a fit of fewer than `EAGER_STEPS` steps (batches of 32) eagerly, where tracing would cost more."""
    previous = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(
        previous or epochs * math.ceil(len(data.train[1]) / 32) < EAGER_STEPS
    )
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)
