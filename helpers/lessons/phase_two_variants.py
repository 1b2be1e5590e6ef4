"""Phase 2 run several ways from one trained head: decay, L2-SP, optimizers, warmup (lesson 06).

Lesson 04 compared phase-2 learning rates; lesson 06 keeps the rate and changes how phase 2 runs:
decoupled weight decay, L2-SP (decay towards the pretrained weights, `l2_sp`), another optimizer,
a warmup, early stopping. `compare_variants` trains one head on the frozen base, then runs every
`Variant` from that same state, and measures each run as lesson 04 does
(`rate_comparison.measure`: validation loss to choose on, test accuracy to report, source accuracy
retained, drift), plus each step's own training loss. `suggest_rates` runs an LR range test per
optimizer on the unfrozen model, so each optimizer can be compared at the rate its own test
suggests.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import keras
import matplotlib.axes
import matplotlib.pyplot as plt
import numpy as np

from helpers.finetune import (
    forgetting,
    guards,
    l2_sp,
    lr_finder,
    models,
    optimizers,
    restarts,
    schedules,
    two_phase,
    validation,
)
from helpers.lessons import course, pretrained, rate_comparison, target_task

BATCH_SIZE = 32  # two_phase.fine_tune's default
LOSS_WINDOW = 4  # steps averaged by `steps_to_loss`: one epoch of the lessons' 120 images


@dataclasses.dataclass(frozen=True)
class Variant:
    """One way to run phase 2: the rate, the optimizer and what regularises it.

    `learning_rate` is the rate every step uses, or the peak a warmup rises to: with
    `warmup_steps`, the rate climbs linearly from 0 over that many steps, then stays
    (`schedules.warmup_cosine` with `final_fraction=1.0`). `weight_decay` is the optimizer's
    decoupled decay (Keras applies `variable -= variable * weight_decay * learning_rate` each
    step), `l2_sp_strength` the strength of an L2-SP penalty towards the pretrained weights
    (`l2_sp.attach`). With `early_stopping_patience`, phase 2 validates after every epoch and
    `keras.callbacks.EarlyStopping(monitor="val_loss", restore_best_weights=True)` stops it.
    """

    label: str
    learning_rate: float
    optimizer: str = "adam"
    weight_decay: float = 0.0
    l2_sp_strength: float = 0.0
    warmup_steps: int = 0
    epochs: int | None = None  # None: the comparison's `fine_tune_epochs`
    early_stopping_patience: int | None = None  # None: no early stopping

    def __post_init__(self) -> None:
        validation.check_text("label", self.label)
        validation.check_positive_number("learning_rate", self.learning_rate)
        validation.check_choice("optimizer", self.optimizer, tuple(optimizers.OPTIMIZER_CLASSES))
        validation.check_number("weight_decay", self.weight_decay, minimum=0.0)
        validation.check_number("l2_sp_strength", self.l2_sp_strength, minimum=0.0)
        validation.check_int("warmup_steps", self.warmup_steps, minimum=0)
        validation.check_optional_int("epochs", self.epochs, minimum=1)
        validation.check_optional_int(
            "early_stopping_patience", self.early_stopping_patience, minimum=1
        )


@dataclasses.dataclass
class VariantOutcome:
    """A variant's run, measured after it ended (after restoring the best epoch, if it stopped)."""

    variant: Variant
    outcome: rate_comparison.Outcome
    step_losses: list[float]  # each step's own training loss (with any penalty), step 1 first
    head_validation_loss: float  # the head alone, before phase 2
    # Only with early stopping: phase 2's validation loss after each epoch, epoch 1 first.
    validation_losses: list[float] = dataclasses.field(default_factory=list)
    best_epoch: int | None = None  # with early stopping: the 1-based epoch restored

    @property
    def label(self) -> str:
        """The outcome's label: the variant's, with " (diverged)" when the guard stopped it."""
        return self.outcome.label


@dataclasses.dataclass
class VariantComparison:
    """The head alone and every variant's run from it, in the order the variants were given."""

    head_only: rate_comparison.Outcome
    runs: list[VariantOutcome]

    def run(self, label: str) -> VariantOutcome:
        """The run of the variant labelled `label`.

        Raises:
            ValueError: if no variant has that label, naming the labels there are.
        """
        for run in self.runs:
            if run.variant.label == label:
                return run
        labels = [run.variant.label for run in self.runs]
        raise ValueError(f"label must be one of {labels}. Received: label={label!r}")


def compare_variants(
    data: target_task.TaskData,
    variants: Sequence[Variant],
    head_epochs: int = 10,
    fine_tune_epochs: int = 5,
    seed: int = 0,
    source_head: tuple[np.ndarray, np.ndarray] | None = None,
    weights: str = "bundled",
) -> VariantComparison:
    """Trains one head on the frozen base, then runs phase 2 once per variant from that state.

    Every run starts from the same weights (`restarts.restore_state`) and the same seed, so the
    runs differ only in their variant; runs with the same optimizer, decay and penalty share one
    traced training step. A run the divergence guard stops is measured as it stands and
    labelled "(diverged)".

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`.
        variants: non-empty sequence of `Variant`, with distinct labels.
        head_epochs: int >= 1, phase 1's epochs at 1e-3. Defaults to 10.
        fine_tune_epochs: int >= 1, phase 2's epochs for a variant that does not set its own.
            Defaults to 5.
        seed: int >= 0, seeds the head, dropout and shuffling. Defaults to 0.
        source_head: `(kernel, bias)`, or `None` for the bundled source head. Defaults to None.
        weights: str, the pretrained base (`pretrained.build_mobilenet_v2`): `"bundled"` for
            the shapes, `"imagenet"` for the flowers (`target_task.prepare_flowers`, whose runs
            have no source accuracy). Defaults to `"bundled"`.

    Returns:
        A `VariantComparison`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> sizes = {"validation_count": 4, "test_count": 4, "source_count": 6, "image_size": 32}
    >>> data = target_task.prepare_data(2, **sizes)
    >>> source_head = (np.zeros((1280, 6), "float32"), np.zeros(6, "float32"))
    >>> variants = [Variant("adam", 1e-4), Variant("L2-SP", 1e-4, l2_sp_strength=0.1)]
    >>> comparison = compare_variants(data, variants, 1, 1, source_head=source_head)
    phase 1: base features computed once and cached (no augmentation)
    >>> [run.label for run in comparison.runs], len(comparison.run("L2-SP").step_losses)
    (['adam', 'L2-SP'], 1)
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    variants = _checked_variants(variants)
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=1)
    fine_tune_epochs = validation.check_int("fine_tune_epochs", fine_tune_epochs, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    source_head = rate_comparison.checked_source_head(source_head)

    model, base_model, head_only = _model_after_phase_one(
        data, head_epochs, seed, source_head, weights
    )
    start = restarts.save_state(model)
    # Variants that compile the same step run one after another, so they share its trace.
    order = sorted(range(len(variants)), key=lambda index: _compiled_alike(variants[index]))
    runs = {}
    for index in order:
        restarts.restore_state(model, start)
        keras.utils.set_random_seed(seed)
        runs[index] = _run_variant(
            model,
            base_model,
            data,
            variants[index],
            fine_tune_epochs,
            seed,
            source_head,
            head_only.validation_loss,
        )
    return VariantComparison(head_only, [runs[index] for index in range(len(variants))])


def suggest_rates(
    data: target_task.TaskData,
    optimizer_names: Sequence[str] = ("adam", "sgd", "rmsprop"),
    head_epochs: int = 10,
    seed: int = 0,
    num_steps: int = lr_finder.MAX_STEPS,
    weights: str = "bundled",
) -> dict[str, lr_finder.RangeTestResult]:
    """Trains one head, then runs an LR range test per optimizer on the unfrozen model.

    Each test starts from the same state after phase 1, with the base unfrozen (BatchNorm
    frozen) and a fresh optimizer of that kind, as `lesson 05` does for Adam.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`.
        optimizer_names: non-empty sequence of `"adam"`, `"sgd"` (momentum 0.9), `"rmsprop"`.
            Defaults to all three.
        head_epochs: int >= 1, phase 1's epochs at 1e-3. Defaults to 10.
        seed: int >= 0, seeds the head, dropout and the batches. Defaults to 0.
        num_steps: int in [2, 100], the range test's steps. Defaults to `lr_finder.MAX_STEPS`.
        weights: str, the pretrained base, as for `compare_variants`. Defaults to `"bundled"`.

    Returns:
        A dict from optimizer name to its `lr_finder.RangeTestResult`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> sizes = {"validation_count": 2, "test_count": 2, "source_count": 2, "image_size": 32}
    >>> suggest_rates(target_task.prepare_data(1, **sizes), ["adamw"])
    Traceback (most recent call last):
    ...
    ValueError: optimizer_names[0] must be one of ('adam', 'sgd', 'rmsprop'). Received: \
optimizer_names[0]='adamw'. Did you mean 'adam'?
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    names = [
        validation.check_choice(f"optimizer_names[{index}]", name, optimizers.OPTIMIZER_CLASSES)
        for index, name in enumerate(validation.check_sequence("optimizer_names", optimizer_names))
    ]
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    num_steps = validation.check_int("num_steps", num_steps, minimum=2, maximum=lr_finder.MAX_STEPS)
    source_head = rate_comparison.checked_source_head(None)
    model, base_model, _ = _model_after_phase_one(data, head_epochs, seed, source_head, weights)
    start = restarts.save_state(model)
    results = {}
    for name in names:
        restarts.restore_state(model, start)
        keras.utils.set_random_seed(seed)
        models.unfreeze(base_model)
        model.compile(
            optimizer=optimizers.make_optimizer(name, 1e-3),  # the test sets every step's rate
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        results[name] = lr_finder.find_learning_rate(
            model, data.train, num_steps=num_steps, seed=seed
        )
    return results


def suggested_rate(result: lr_finder.RangeTestResult) -> float:
    """The range test's valley (lesson 05), or its steepest descent where it found no valley.

    Example:

    >>> empty = np.array([])
    >>> result = lr_finder.RangeTestResult(empty, empty, empty, 60, True, {"steepest": 3e-4})
    >>> suggested_rate(result)
    0.0003
    """
    suggestions = getattr(result, "suggestions", None)
    if not isinstance(suggestions, dict):
        raise ValueError(
            "result must be an lr_finder.RangeTestResult (from suggest_rates or "
            f"lr_finder.find_learning_rate). Received: result={result!r}"
        )
    for name in ("valley", "steepest"):
        if name in suggestions:
            return float(suggestions[name])
    raise ValueError(
        f"result has no valley or steepest suggestion. Received: suggestions={suggestions!r}"
    )


def steps_to_loss(step_losses: Sequence[float], target: float, window: int = LOSS_WINDOW) -> int:
    """The first step at which the mean of the last `window` steps' losses is at most `target`.

    One step's loss jumps with its batch; the mean over `window` steps (an epoch here) does not.

    Args:
        step_losses: sequence of numbers, each step's own training loss, step 1 first.
        target: float > 0, the loss to reach.
        window: int >= 1, steps averaged. Defaults to `LOSS_WINDOW`.

    Returns:
        The 1-based step, or 0 if the run never got there.

    Example:

    >>> steps_to_loss([1.0, 0.8, 0.6, 0.2, 0.1], target=0.5, window=2)
    4
    >>> steps_to_loss([1.0, 0.9], target=0.5, window=2)
    0
    """
    losses = validation.check_array("step_losses", step_losses, ("steps",))
    target = validation.check_positive_number("target", target)
    window = validation.check_int("window", window, minimum=1)
    for end in range(window, len(losses) + 1):
        if np.mean(losses[end - window : end]) <= target:
            return end
    return 0


def format_table(
    comparison: VariantComparison, loss_target: float | None = None, number: str = "{:.2f}"
) -> str:
    """A text table: validation loss, test and source accuracy and drift per run, head first.

    With `loss_target`, a last column gives the steps each run took to bring its training loss
    (the mean of `LOSS_WINDOW` steps) down to it, "-" if it never did.

    Example:

    >>> outcome = rate_comparison.Outcome("head only", None, 0.8, 0.99, 0.0, {}, 0.7, 0.5)
    >>> print(format_table(VariantComparison(outcome, [])))
    run               val loss  test acc  source acc  drift
    head only             0.50      0.80        0.99  0.0000
    """
    validation.check_instance(
        "comparison", comparison, VariantComparison, "a VariantComparison (compare_variants)"
    )
    if loss_target is not None:
        loss_target = validation.check_positive_number("loss_target", loss_target)
    header = f"{'run':<16}  {'val loss':>8}  {'test acc':>8}  {'source acc':>10}  drift"
    if loss_target is not None:
        header += f"   steps to loss {loss_target:g}"
    lines = [header]
    rows = [(comparison.head_only, None)] + [(run.outcome, run) for run in comparison.runs]
    for outcome, run in rows:
        line = (
            f"{outcome.label:<16}  {number.format(outcome.validation_loss):>8}  "
            f"{number.format(outcome.target_accuracy):>8}  "
            f"{number.format(outcome.source_accuracy):>10}  {outcome.overall_drift:.4f}"
        )
        if loss_target is not None and run is not None:
            steps = steps_to_loss(run.step_losses, loss_target)
            line += f"   {steps or '-':>15}"
        lines.append(line)
    return "\n".join(lines)


def plot_step_losses(
    comparison: VariantComparison,
    labels: Sequence[str] | None = None,
    ax: matplotlib.axes.Axes | None = None,
) -> matplotlib.axes.Axes:
    """Plots each run's own training loss per step of phase 2 (log scale), one line per run.

    Args:
        comparison: a `VariantComparison`.
        labels: sequence of variant labels to draw, or None for all. Defaults to None.
        ax: matplotlib Axes to draw on, or None for the current one. Defaults to None.

    Returns:
        The Axes.
    """
    validation.check_instance(
        "comparison", comparison, VariantComparison, "a VariantComparison (compare_variants)"
    )
    runs = comparison.runs
    if labels is not None:
        runs = [comparison.run(label) for label in validation.check_sequence("labels", labels)]
    ax = ax if ax is not None else plt.gca()
    for run in runs:
        steps = np.arange(1, len(run.step_losses) + 1)
        ax.plot(steps, run.step_losses, label=run.label)
    ax.set_yscale("log")
    ax.set_xlabel("phase-2 step")
    ax.set_ylabel("training loss (each step's own)")
    ax.legend()
    return ax


def _checked_variants(variants: object) -> list[Variant]:
    """Returns `variants` as a list, or raises unless it holds `Variant`s with distinct labels."""
    rows = validation.check_sequence("variants", variants)
    for index, row in enumerate(rows):
        validation.check_instance(f"variants[{index}]", row, Variant, "a Variant")
    labels = [row.label for row in rows]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"variants must have distinct labels. Received: repeated {repeated}")
    return rows


def _compiled_alike(variant: Variant) -> tuple:
    """What decides whether two variants can share a traced training step."""
    return (variant.optimizer, variant.weight_decay, variant.l2_sp_strength, variant.warmup_steps)


def _model_after_phase_one(
    data: target_task.TaskData,
    head_epochs: int,
    seed: int,
    source_head: tuple[np.ndarray, np.ndarray],
    weights: str,
) -> tuple[keras.Model, keras.Model, rate_comparison.Outcome]:
    """A fresh build holding the pretrained base and a trained head, and that head measured."""
    keras.utils.set_random_seed(seed)
    head_model, head_base = pretrained.build_mobilenet_v2(
        data.num_classes, data.train[0].shape[1], weights=weights
    )
    model, base_model = rate_comparison.model_after_phase_one(
        head_model, head_base, data, head_epochs, seed
    )
    unchanged = forgetting.snapshot(head_base)  # phase 1 leaves the base untouched
    head_only = rate_comparison.measure(head_model, data, "head only", unchanged, source_head)
    return model, base_model, head_only


def _run_variant(
    model: keras.Model,
    base_model: keras.Model,
    data: target_task.TaskData,
    variant: Variant,
    fine_tune_epochs: int,
    seed: int,
    source_head: tuple[np.ndarray, np.ndarray],
    head_validation_loss: float,
) -> VariantOutcome:
    """Runs phase 2 as `variant` says, from the model's current state, and measures it."""
    epochs = variant.epochs or fine_tune_epochs
    l2_sp.detach(base_model)
    if variant.l2_sp_strength:
        # The reference is the base as it is now: pretrained, untouched by phase 1.
        l2_sp.attach(base_model, variant.l2_sp_strength)
    learning_rate = variant.learning_rate
    if variant.warmup_steps:
        total_steps = epochs * math.ceil(len(data.train[1]) / BATCH_SIZE)
        learning_rate = schedules.warmup_cosine(
            variant.learning_rate, total_steps, variant.warmup_steps, final_fraction=1.0
        )
    recorder = lr_finder.BatchLossRecorder()
    callbacks = [recorder]
    validation_data = None
    if variant.early_stopping_patience is not None:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=variant.early_stopping_patience,
                restore_best_weights=True,
            )
        )
        validation_data = data.validation
    before = forgetting.snapshot(base_model)
    label = variant.label
    stopped_reason = None
    history = None
    try:
        with rate_comparison.eager_if_short(epochs, data):
            history = two_phase.fine_tune(
                model,
                base_model,
                data.train,
                validation_data=validation_data,
                head_epochs=0,
                fine_tune_epochs=epochs,
                fine_tune_learning_rate=learning_rate,
                optimizer=variant.optimizer,
                fine_tune_weight_decay=variant.weight_decay,
                callbacks=callbacks,
                seed=seed,
                verbose=course.fit_verbosity(),
            )
    except guards.TrainingDivergedError as error:
        label += " (diverged)"
        stopped_reason = str(error)
    outcome = rate_comparison.measure(
        model, data, label, before, source_head, variant.learning_rate
    )
    outcome = dataclasses.replace(outcome, stopped_reason=stopped_reason)
    l2_sp.detach(base_model)
    validation_losses = list(history.val_loss) if history and validation_data else []
    best_epoch = None
    if validation_losses:
        best_epoch = int(np.argmin(validation_losses)) + 1
    return VariantOutcome(
        variant,
        outcome,
        recorder.losses,
        head_validation_loss,
        validation_losses=validation_losses,
        best_epoch=best_epoch,
    )
