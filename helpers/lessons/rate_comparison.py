"""Phase-2 learning-rate sweep: gain on the target task, cost on the source task (lesson 04).

Each run is measured on the target task's validation split (loss and accuracy: what a choice is
made on, `best_by_validation`) and reported on its test split, with the source accuracy retained
(the source head put back), the weight drift per layer and each layer's update/weight ratio over
phase 2's first steps (`forgetting`). `from_scratch` trains the same network from random weights
for the same number of optimizer steps: the equal-budget baseline. `head_gradients` measures the
gradient a fresh and a trained head send into the base. A run that `two_phase.fine_tune`'s
divergence guard stops is measured as it stands and labelled "(diverged)", so one exploding rate
does not cost the whole comparison. `comparison_over_seeds` holds the same comparison run over
several seeds and stored.
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

from helpers.finetune import forgetting, guards, restarts, two_phase, validation
from helpers.lessons import course, pretrained, shapes_data, target_task

LEARNING_RATES = (1e-2, 1e-3, 1e-4, 1e-5)  # the phase-2 rates lesson 04 compares
# As scripts/pretrain_base.py: at 0.999 BatchNorm statistics stay near their initial values.
SCRATCH_BATCHNORM_MOMENTUM = 0.9
# Shorter fits run eagerly: tracing a training step takes 7-18 s on 2 cores, an eager step ~1 s.
EAGER_STEPS = 16
BATCH_SIZE = 32  # from scratch and the eager-or-traced decision, as two_phase's default
UPDATE_RATIO_STEPS = 4  # phase 2's first steps averaged for the update/weight ratio (one epoch)


@dataclasses.dataclass
class Outcome:
    """One run's measurements; reference runs ("head only", "from scratch") have no rate."""

    label: str
    learning_rate: float | None  # phase 2's rate
    target_accuracy: float  # on the target test split: reported, never chosen on
    source_accuracy: float  # NaN from scratch: that base never learnt the source task
    overall_drift: float  # the relative change of all base weights together; NaN from scratch
    # Per base layer with weights; BatchNormalization (always frozen) is left out.
    layer_drift: dict[str, float]
    validation_accuracy: float = math.nan  # on the target validation split: chosen on
    validation_loss: float = math.nan  # mean cross-entropy on the validation split
    # Per base layer as `layer_drift`: the mean update/weight ratio of phase 2's first steps.
    update_ratios: dict[str, float] = dataclasses.field(default_factory=dict)
    stopped_reason: str | None = None  # why the divergence guard stopped phase 2, or None


@dataclasses.dataclass
class HeadGradients:
    """The gradient norm reaching the base's weights from a fresh head and from a trained one."""

    fresh: float  # the head as built: random weights
    trained: float  # the same head after phase 1


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

    Each run is measured on `data.validation` (to choose on), `data.target_test` (to report),
    `data.source_test` (what the base forgot), by its drift and by its update/weight ratios over
    phase 2's first `UPDATE_RATIO_STEPS` steps. Every argument is checked before the first epoch,
    so a bad one fails at once rather than after minutes of training. A phase 2 that
    `two_phase.fine_tune`'s divergence guard stops (its loss NaN or far above its start) is
    measured as it stands, labelled "(diverged)" and keeps the guard's message in
    `stopped_reason`: one exploding rate does not cost the others.

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
    >>> sizes = {"validation_count": 4, "test_count": 4, "source_count": 6, "image_size": 32}
    >>> data = target_task.prepare_data(2, **sizes)
    >>> rows = compare(data, [1e-2], [3], 1, 1, source_head=source_head)
    phase 1: base features computed once and cached (no augmentation)
    >>> [row.label for row in rows]
    ['head only', '0.01, top 3']
    >>> [name for name, drift in rows[1].layer_drift.items() if drift > 0]
    ['Conv_1']
    >>> [name for name, ratio in rows[1].update_ratios.items() if ratio > 0]
    ['Conv_1']
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    rates = validation.check_learning_rates("learning_rates", learning_rates)
    top_layers_options = validation.check_sequence("top_layers_options", top_layers_options)
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=1)
    fine_tune_epochs = validation.check_int("fine_tune_epochs", fine_tune_epochs, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    source_head = checked_source_head(source_head)
    image_size = data.train[0].shape[1]

    keras.utils.set_random_seed(seed)
    head_model, head_base = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES, image_size)
    top_layers_options = [
        validation.check_optional_int(
            f"top_layers_options[{index}]", top_layers, minimum=1, maximum=len(head_base.layers)
        )
        for index, top_layers in enumerate(top_layers_options)
    ]
    model, base_model = model_after_phase_one(head_model, head_base, data, head_epochs, seed)
    # Phase 1 leaves the base untouched: its drift is 0.
    unchanged = forgetting.snapshot(head_base)
    outcomes = [measure(head_model, data, "head only", unchanged, source_head)]
    # One model serves every run: restored to its state after phase 1, it keeps its traced
    # training step from one rate to the next (`restarts`).
    start = restarts.save_state(model)
    # Runs of one depth train the same weights and share one traced step: depth by depth, then
    # listed rate by rate as `itertools.product` orders them.
    by_pair = {}
    for top_layers, learning_rate in itertools.product(top_layers_options, rates):
        restarts.restore_state(model, start)
        keras.utils.set_random_seed(seed)
        label = f"{learning_rate:g}"
        if top_layers is not None:
            label += f", top {top_layers}"
        by_pair[learning_rate, top_layers] = _fine_tune_and_measure(
            model,
            base_model,
            data,
            label,
            learning_rate,
            top_layers,
            fine_tune_epochs,
            seed,
            source_head,
        )
    outcomes += [by_pair[pair] for pair in itertools.product(rates, top_layers_options)]
    return outcomes


def model_after_phase_one(
    head_model: keras.Model,
    head_base: keras.Model,
    data: target_task.TaskData,
    head_epochs: int,
    seed: int,
    verbose: int | str | None = None,
) -> tuple[keras.Model, keras.Model]:
    """Trains the head of a fresh build on its frozen base; returns a second build holding it.

    The head trains (at 1e-3, on cached features) on `head_model`; its weights go into a second
    build made with the same seed, whose dropout seeds are those of a fresh build. Sweeps restore
    that build to this state before every phase-2 run (`restarts`), so each run starts as a fresh
    build holding the pretrained base and the trained head would. Phase 1 leaves `head_base`
    untouched.

    Args:
        head_model, head_base: keras.Model, a fresh pair from `pretrained.build_mobilenet_v2`,
            built right after `keras.utils.set_random_seed(seed)`.
        data: target_task.TaskData, whose training split phase 1 trains on.
        head_epochs: int >= 1, phase 1's epochs.
        seed: int >= 0, seeds the shuffling and the second build.
        verbose: `fit`'s verbosity, or None for `course.fit_verbosity()`. Defaults to None.

    Returns:
        `(model, base_model)`: the second build, ready for phase 2.
    """
    two_phase.fine_tune(
        head_model,
        head_base,
        data.train,
        head_epochs=head_epochs,
        fine_tune_epochs=0,
        seed=seed,
        verbose=course.fit_verbosity() if verbose is None else verbose,
    )
    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(
        data.num_classes, data.train[0].shape[1], weights=None
    )
    model.set_weights(head_model.get_weights())
    return model, base_model


def _fine_tune_and_measure(
    model: keras.Model,
    base_model: keras.Model,
    data: target_task.TaskData,
    label: str,
    learning_rate: float,
    top_layers: int | None,
    epochs: int,
    seed: int,
    source_head: tuple[np.ndarray, np.ndarray],
) -> Outcome:
    """Fine-tunes `model` from its current state (phase 2 alone) and measures the run.

    A run the divergence guard stops is measured as it stands and its label gets " (diverged)".
    """
    before = forgetting.snapshot(base_model)
    stopped_reason = None
    recorder = forgetting.UpdateRatioRecorder(base_model, steps=UPDATE_RATIO_STEPS)
    try:
        with eager_if_short(epochs, data):
            two_phase.fine_tune(
                model,
                base_model,
                data.train,
                head_epochs=0,
                fine_tune_epochs=epochs,
                fine_tune_learning_rate=learning_rate,
                top_layers=top_layers,
                callbacks=[recorder],
                seed=seed,
                verbose=course.fit_verbosity(),
            )
    except guards.TrainingDivergedError as error:
        label += " (diverged)"
        stopped_reason = str(error)
    outcome = measure(model, data, label, before, source_head, learning_rate)
    update_ratios = _without_batch_norm(base_model, recorder.mean_ratios())
    return dataclasses.replace(outcome, update_ratios=update_ratios, stopped_reason=stopped_reason)


def without_phase_one(
    data: target_task.TaskData,
    epochs: int,
    learning_rate: float = two_phase.FINE_TUNE_LEARNING_RATE,
    seed: int = 0,
    source_head: tuple[np.ndarray, np.ndarray] | None = None,
) -> Outcome:
    """Fine-tunes the whole model from a fresh head, skipping phase 1: what phase 1 is for.

    The pretrained base is unfrozen (BatchNormalization frozen) from the first step, with the
    head as built, and the whole model trains `epochs` at `learning_rate`; give it the epochs of
    both phases together for an equal budget. Measured as `compare`'s runs.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`.
        epochs: int >= 1, the epochs.
        learning_rate: float > 0, Adam's rate. Defaults to `two_phase.FINE_TUNE_LEARNING_RATE`.
        seed: int >= 0, seeds the head's initial weights, dropout and shuffling. Defaults to 0.
        source_head: `(kernel, bias)` or `None` for the bundled source head. Defaults to `None`.

    Returns:
        An `Outcome` labelled "no phase 1, <rate>", with its drift and update/weight ratios.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> sizes = {"validation_count": 2, "test_count": 2, "source_count": 2, "image_size": 32}
    >>> without_phase_one(target_task.prepare_data(1, **sizes), epochs=0)
    Traceback (most recent call last):
    ...
    ValueError: epochs must be an int >= 1. Received: epochs=0
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    epochs = validation.check_int("epochs", epochs, minimum=1)
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    seed = validation.check_int("seed", seed, minimum=0)
    source_head = checked_source_head(source_head)
    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(
        target_task.NUM_CLASSES, data.train[0].shape[1]
    )
    label = f"no phase 1, {learning_rate:g}"
    return _fine_tune_and_measure(
        model, base_model, data, label, learning_rate, None, epochs, seed, source_head
    )


def from_scratch(
    data: target_task.TaskData,
    epochs: int,
    learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-3,
    seed: int = 0,
) -> Outcome:
    """Trains the same network from random weights, every layer trainable: the baseline.

    An equal-budget comparison: give it the epochs of both pretrained phases together, and it
    takes as many optimizer steps on the same images as head and fine-tune did
    (`optimizer_steps`), every one of them on the whole network.

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

    >>> sizes = {"validation_count": 2, "test_count": 2, "source_count": 2, "image_size": 32}
    >>> from_scratch(target_task.prepare_data(1, **sizes), epochs=0)
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
    with eager_if_short(epochs, data):
        model.fit(
            *data.train,
            batch_size=BATCH_SIZE,
            epochs=epochs,
            shuffle=True,
            verbose=course.fit_verbosity(),
        )
    validation_loss, validation_accuracy = _loss_and_accuracy(model, *data.validation)
    _, target_accuracy = _loss_and_accuracy(model, *data.target_test)
    return Outcome(
        "from scratch",
        None,
        target_accuracy,
        math.nan,
        math.nan,
        {},
        validation_accuracy=validation_accuracy,
        validation_loss=validation_loss,
    )


def optimizer_steps(data: target_task.TaskData, epochs: int) -> int:
    """Returns the optimizer steps of `epochs` epochs over `data.train` in batches of 32.

    Phase 1 (on cached features), phase 2 and `from_scratch` all batch the training images by
    `BATCH_SIZE`, so equal epochs are equal steps.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`.
        epochs: int >= 0, the epochs.

    Returns:
        `epochs * ceil(training images / BATCH_SIZE)`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> sizes = {"validation_count": 2, "test_count": 2, "source_count": 2, "image_size": 32}
    >>> data = target_task.prepare_data(30, **sizes)  # 120 images: 4 batches of 32 or fewer
    >>> optimizer_steps(data, epochs=10), optimizer_steps(data, epochs=5)
    (40, 20)
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    epochs = validation.check_int("epochs", epochs, minimum=0)
    return epochs * math.ceil(len(data.train[1]) / BATCH_SIZE)


def head_gradients(data: target_task.TaskData, head_epochs: int, seed: int = 0) -> HeadGradients:
    """Measures the gradient reaching the base from a fresh head, then after phase 1.

    The model is built as `compare` builds it (same seed: same head); the gradient is
    `forgetting.base_gradient_norm` over `data.train`, first with the head as built, then after
    `head_epochs` of phase 1 at `two_phase.HEAD_LEARNING_RATE`. Why phase 1 comes first: phase
    2 would start from the first number instead of the second.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`.
        head_epochs: int >= 1, phase 1's epochs.
        seed: int >= 0, seeds the head's initial weights, dropout and shuffling. Defaults to 0.

    Returns:
        A `HeadGradients`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> sizes = {"validation_count": 2, "test_count": 2, "source_count": 2, "image_size": 32}
    >>> head_gradients(target_task.prepare_data(1, **sizes), head_epochs=0)
    Traceback (most recent call last):
    ...
    ValueError: head_epochs must be an int >= 1. Received: head_epochs=0
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(
        target_task.NUM_CLASSES, data.train[0].shape[1]
    )
    fresh = forgetting.base_gradient_norm(model, base_model, *data.train)
    two_phase.fine_tune(
        model,
        base_model,
        data.train,
        head_epochs=head_epochs,
        fine_tune_epochs=0,
        seed=seed,
        verbose=course.fit_verbosity(),
    )
    trained = forgetting.base_gradient_norm(model, base_model, *data.train)
    return HeadGradients(fresh=fresh, trained=trained)


def best_by_validation(outcomes: Sequence[Outcome]) -> Outcome:
    """Returns the fine-tuned run with the lowest validation loss: the choice, made on validation.

    Args:
        outcomes: non-empty sequence of `Outcome`, at least one with a learning rate.

    Returns:
        That `Outcome`; report its `target_accuracy`, which played no part in the choice.

    Raises:
        ValueError: if `outcomes` holds no run with a learning rate.

    Example:

    >>> rows = [
    ...     Outcome("head only", None, 0.7, 0.99, 0.0, {}, 0.8, 0.50),
    ...     Outcome("0.001", 1e-3, 0.9, 0.6, 0.03, {}, 0.8, 0.60),
    ...     Outcome("0.0001", 1e-4, 0.8, 0.99, 0.005, {}, 0.85, 0.45),
    ... ]
    >>> best_by_validation(rows).label
    '0.0001'
    """
    rows = _checked_outcomes(outcomes)
    swept = [row for row in rows if row.learning_rate is not None]
    validation.check_sequence("outcomes with a learning_rate", swept)
    return min(swept, key=lambda row: row.validation_loss)


def format_table(outcomes: Sequence[Outcome]) -> str:
    """Returns a text table of the runs: validation loss and accuracy, test, source, drift.

    The validation columns are what a choice is made on, the test accuracy what it reports. What
    a run cannot measure (NaN: from scratch has no source task) prints as "-".

    Args:
        outcomes: non-empty sequence of `Outcome`, from `compare` and `from_scratch`.

    Returns:
        The table, one line per run under a header line.

    Raises:
        ValueError: if `outcomes` is not a non-empty sequence of `Outcome`.

    Example:

    >>> rows = [
    ...     Outcome("0.01", 0.01, 0.25, 0.17, 0.24, {}, 0.26, 1.61),
    ...     Outcome("scratch", None, 0.3, math.nan, math.nan, {}, 0.31, 1.38),
    ... ]
    >>> print(format_table(rows))
    run                 val loss  val acc  test acc  source    drift
    0.01                   1.610     0.26      0.25    0.17   0.2400
    scratch                1.380     0.31      0.30       -        -
    """
    rows = _checked_outcomes(outcomes)
    lines = [f"{'run':<18}{'val loss':>10}{'val acc':>9}{'test acc':>10}{'source':>8}{'drift':>9}"]
    for row in rows:
        numbers = (
            f"{row.validation_loss:>10.3f}{row.validation_accuracy:>9.2f}"
            f"{row.target_accuracy:>10.2f}{row.source_accuracy:>8.2f}{row.overall_drift:>9.4f}"
        )
        lines.append(f"{row.label:<18}" + numbers.replace("nan", "  -"))
    return "\n".join(lines)


def typical_update_ratio(outcome: Outcome) -> float:
    """Returns the median over the base's layers of a run's update/weight ratio (NaN if none).

    Layers that did not train (ratio 0, e.g. below `top_layers`) are left out.

    Example:

    >>> typical_update_ratio(Outcome("1e-4", 1e-4, 0.8, 0.99, 0.005, {}, update_ratios={
    ...     "a": 1e-3, "b": 2e-3, "c": 4e-3, "frozen": 0.0}))
    0.002
    """
    validation.check_instance("outcome", outcome, Outcome, "an Outcome")
    ratios = [ratio for ratio in outcome.update_ratios.values() if ratio > 0]
    return float(np.median(ratios)) if ratios else math.nan


def format_update_ratios(outcomes: Sequence[Outcome]) -> str:
    """Returns a table of each run's update/weight ratio: its median layer, lowest and highest.

    Runs without ratios ("head only", "from scratch") are left out.

    Args:
        outcomes: non-empty sequence of `Outcome`, from `compare`.

    Returns:
        The table, one line per run, ratios to 2 significant digits.

    Raises:
        ValueError: if `outcomes` is not a non-empty sequence of `Outcome`.

    Example:

    >>> ratios = {"a": 5e-4, "b": 1.5e-3, "c": 2e-3}
    >>> row = Outcome("0.0001", 1e-4, 0.8, 0.99, 0.005, {}, update_ratios=ratios)
    >>> print(format_update_ratios([row]))
    run                 median layer    lowest   highest
    0.0001                   1.5e-03   5.0e-04   2.0e-03
    """
    rows = _checked_outcomes(outcomes)
    lines = [f"{'run':<18}{'median layer':>14}{'lowest':>10}{'highest':>10}"]
    for row in rows:
        ratios = [ratio for ratio in row.update_ratios.values() if ratio > 0]
        if not ratios:
            continue
        median = typical_update_ratio(row)
        lines.append(f"{row.label:<18}{median:>14.1e}{min(ratios):>10.1e}{max(ratios):>10.1e}")
    return "\n".join(lines)


def run_name(outcome: Outcome) -> str:
    """Returns the run's label without " (diverged)": the same run across seeds has one name.

    Example:

    >>> run_name(Outcome("0.01 (diverged)", 0.01, 0.25, 0.17, 0.3, {}))
    '0.01'
    """
    validation.check_instance("outcome", outcome, Outcome, "an Outcome")
    return outcome.label.removesuffix(" (diverged)")


def mean_and_range(numbers: Sequence[float]) -> tuple[float, float, float]:
    """Returns `(mean, min, max)` of `numbers`; all NaN when any is NaN (a run cannot measure it).

    Example:

    >>> mean_and_range([0.2, 0.4, 0.3]), mean_and_range([0.2, math.nan])
    ((0.3, 0.2, 0.4), (nan, nan, nan))
    """
    array = np.array(numbers, dtype=float)
    if np.any(np.isnan(array)):
        return (math.nan, math.nan, math.nan)
    return (float(array.mean()), float(array.min()), float(array.max()))


def plot_comparison(
    outcomes: Sequence[Outcome],
    axes: Sequence[matplotlib.axes.Axes] | None = None,
    live: Sequence[Outcome] | None = None,
) -> Sequence[matplotlib.axes.Axes]:
    """Draws three panels: target and source accuracy against phase 2's rate, drift per layer.

    `outcomes` may hold one seed's runs or several seeds' (`comparison_over_seeds`): each rate is
    drawn at its mean over the seeds with an error bar from the lowest to the highest; a reference
    run without a rate ("head only", "from scratch") is a dashed line at its mean with its range
    shaded. The drift panel shows each rate's per-layer drift, averaged over the seeds.

    Args:
        outcomes: sequence of `Outcome` from `compare` and `from_scratch`, at least one with a
            learning rate.
        axes: a sequence of three matplotlib Axes, or `None` for a new figure. Defaults to `None`.
        live: sequence of `Outcome` or None, a run of this session drawn as red crosses on the
            first two panels. Defaults to `None`.

    Returns:
        The three Axes.

    Raises:
        ValueError: if `outcomes` holds no run with a learning rate, or `axes` is not three Axes.

    Example:

    >>> head = Outcome("head only", None, 0.5, 0.9, 0.0, {})
    >>> tuned = [Outcome("0.01", 0.01, accuracy, 0.2, 0.2, {"a": 0.2}) for accuracy in (0.3, 0.5)]
    >>> axes = plot_comparison([head, *tuned])
    >>> axes[0].containers[0].lines[0].get_ydata().tolist()  # the mean of 0.3 and 0.5
    [0.4]
    """
    import matplotlib.pyplot as plt

    rows = _checked_outcomes(outcomes)
    swept = [row for row in rows if row.learning_rate is not None]
    validation.check_sequence("outcomes with a learning_rate", swept)
    live_rows = [] if live is None else _checked_outcomes(live, "live")
    if axes is None:
        _, axes = plt.subplots(1, 3, figsize=(16, 4))
    axes = _three_axes(axes)
    seeds = len(swept) // len({run_name(row) for row in swept})
    chance = 1 / len(shapes_data.SOURCE_CLASSES)
    axes[1].axhline(chance, linestyle=":", color="gray", label="chance")
    panels = (
        ("target_accuracy", "target task (test split)"),
        ("source_accuracy", "source task, source head put back"),
    )
    for ax, (field, title) in zip(axes[:2], panels, strict=True):
        rates, means, lows, highs = _grouped(swept, field)
        # The mean of equal numbers can differ from them in the last bit: no negative bar.
        errors = np.maximum(0.0, [np.subtract(means, lows), np.subtract(highs, means)])
        label = "fine-tuned" if seeds == 1 else f"fine-tuned: mean, min-max of {seeds} seeds"
        ax.errorbar(rates, means, yerr=errors, fmt="ko-", capsize=4, label=label)
        for run, (mean, low, high) in _references(rows, field).items():
            line = ax.axhline(mean, linestyle="--", label=run)
            if high > low:
                ax.axhspan(low, high, color=line.get_color(), alpha=0.15)
        live_swept = [row for row in live_rows if row.learning_rate is not None]
        if live_swept:
            x = [row.learning_rate for row in live_swept]
            y = [getattr(row, field) for row in live_swept]
            ax.plot(x, y, "rx", markersize=9, markeredgewidth=2, label="this run")
        ax.set(
            xscale="log",
            xlabel="phase-2 learning rate",
            ylabel="accuracy",
            title=title,
            ylim=(0, 1.02),
        )
        ax.legend(loc="lower left", fontsize="small")
    mean_drift = {
        run: {
            layer: float(np.mean([row.layer_drift[layer] for row in group]))
            for layer in group[0].layer_drift
        }
        for run, group in _by_run(swept).items()
    }
    forgetting.plot_drift(mean_drift, ax=axes[2])
    return axes


def _by_run(rows: list[Outcome]) -> dict[str, list[Outcome]]:
    """The rows grouped by `run_name`, in order of first appearance."""
    groups: dict[str, list[Outcome]] = {}
    for row in rows:
        groups.setdefault(run_name(row), []).append(row)
    return groups


def _grouped(
    swept: list[Outcome], field: str
) -> tuple[list[float], list[float], list[float], list[float]]:
    """Per run: its rate and the mean, min and max of `field` over the seeds."""
    groups = _by_run(swept)
    rates = [group[0].learning_rate for group in groups.values()]
    stats = [mean_and_range([getattr(row, field) for row in group]) for group in groups.values()]
    means, lows, highs = (list(values) for values in zip(*stats, strict=True))
    return rates, means, lows, highs


def _references(rows: list[Outcome], field: str) -> dict[str, tuple[float, float, float]]:
    """Per reference run (no rate) that measures `field`: its mean, min and max over seeds."""
    references = [row for row in rows if row.learning_rate is None]
    grouped = {
        run: mean_and_range([getattr(row, field) for row in group])
        for run, group in _by_run(references).items()
    }
    return {run: values for run, values in grouped.items() if not math.isnan(values[0])}


def _checked_outcomes(outcomes: object, name: str = "outcomes") -> list[Outcome]:
    """Returns `outcomes` as a list, or raises unless it is a non-empty sequence of `Outcome`."""
    rows = validation.check_sequence(name, outcomes)
    for index, row in enumerate(rows):
        validation.check_instance(f"{name}[{index}]", row, Outcome, "an Outcome")
    return rows


def _three_axes(axes: object) -> list[matplotlib.axes.Axes]:
    """Returns `axes` as a list, or raises unless it holds three matplotlib Axes (or more)."""
    panels = validation.check_sequence("axes", axes, minimum_length=3)
    for index, ax in enumerate(panels):
        validation.check_instance(f"axes[{index}]", ax, matplotlib.axes.Axes, "a matplotlib Axes")
    return panels


def checked_source_head(
    source_head: object,
) -> tuple[np.ndarray, np.ndarray]:
    """Returns the source head's `(kernel, bias)`: the bundled one for `None`, else checked.

    Args:
        source_head: `None` (the bundled source head), or a tuple `(kernel, bias)` of arrays of
            shapes `(num_features, 6)` and `(6,)`.

    Returns:
        The `(kernel, bias)` arrays.

    Raises:
        ValueError: if `source_head` is neither, naming it and the value received.

    Example:

    >>> kernel, bias = checked_source_head(None)
    >>> kernel.shape, bias.shape
    ((1280, 6), (6,))
    """
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


def _loss_and_accuracy(
    model: keras.Model, images: np.ndarray, labels: np.ndarray
) -> tuple[float, float]:
    """The mean cross-entropy of the model's logits on `(images, labels)`, and its accuracy."""
    logits = model.predict(images, batch_size=64, verbose=0).astype("float64")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probabilities = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -np.mean(log_probabilities[np.arange(len(labels)), labels])
    accuracy = np.mean(np.argmax(logits, axis=1) == labels)
    return float(loss), float(accuracy)


def _without_batch_norm(base_model: keras.Model, by_layer: dict[str, float]) -> dict[str, float]:
    """`by_layer` without the base's BatchNormalization layers (frozen in phase 2)."""
    skipped = {
        layer.name
        for layer in base_model.layers
        if isinstance(layer, keras.layers.BatchNormalization)
    }
    return {name: value for name, value in by_layer.items() if name not in skipped}


def measure(
    model: keras.Model,
    data: target_task.TaskData,
    label: str,
    before: forgetting.WeightSnapshot,
    source_head: tuple[np.ndarray, np.ndarray],
    learning_rate: float | None = None,
) -> Outcome:
    """Target accuracy, source accuracy with the source head put back, base drift since `before`.

    The validation loss and accuracy (what a choice is made on) and the test accuracy (what it
    is reported with) come from one forward pass each (`model.predict`); the source accuracy
    puts the source head back on the base (`forgetting.source_accuracy`).

    Args:
        model: keras.Model, a pair's model from `pretrained.build_mobilenet_v2`.
        data: target_task.TaskData, the splits to measure on.
        label: str, the run's name in tables.
        before: a `forgetting.snapshot` of the model, taken before the run trained.
        source_head: `(kernel, bias)`, from `checked_source_head`.
        learning_rate: float or None, phase 2's rate, stored in the outcome. Defaults to None.

    The source accuracy is NaN when `data` has no source test set (`target_task.prepare_flowers`).

    Returns:
        An `Outcome` (no update/weight ratios).
    """
    base_model = next(layer for layer in model.layers if isinstance(layer, keras.Model))
    source = math.nan  # no source test set (the flowers): nothing to measure forgetting on
    if data.source_test is not None:
        source = forgetting.source_accuracy(base_model, *source_head, *data.source_test)
    drift = _without_batch_norm(base_model, forgetting.relative_drift(before, base_model))
    overall = forgetting.overall_drift(before, base_model)
    validation_loss, validation_accuracy = _loss_and_accuracy(model, *data.validation)
    _, target_accuracy = _loss_and_accuracy(model, *data.target_test)
    return Outcome(
        label,
        learning_rate,
        target_accuracy,
        source,
        overall,
        drift,
        validation_accuracy=validation_accuracy,
        validation_loss=validation_loss,
    )


@contextlib.contextmanager
def eager_if_short(epochs: int, data: target_task.TaskData) -> Iterator[None]:
    """Runs a fit of fewer than `EAGER_STEPS` steps eagerly, where tracing would cost more."""
    previous = tf.config.functions_run_eagerly()
    steps = epochs * math.ceil(len(data.train[1]) / BATCH_SIZE)
    tf.config.run_functions_eagerly(previous or steps < EAGER_STEPS)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(previous)
