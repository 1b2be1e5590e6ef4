"""Phase 2 under float32 and mixed precision, side by side: speed, accuracy, dtypes (lesson 08).

One head trains on the frozen base (float32, cached features); then, for each policy, a fresh
build holding that head and the bundled base fine-tunes under the policy (`mixed_precision.policy`)
from the same start, with the same seed. Each run reports its warm-epoch seconds (the first epoch
traces the training step), its validation accuracy and loss after the last epoch, and the dtypes
read off its model (`mixed_precision.describe_precision`): float32 weights throughout, 16-bit
compute, float32 logits, a `LossScaleOptimizer` under `"mixed_float16"` only.

On 2 CPU cores mixed precision makes no step faster. Measured side by side (seed 0, 96x96, 64
to 200 training images, `TF_ENABLE_ONEDNN_OPTS=0`, the cores shared with another job), a warm
phase-2 epoch took 1.1-3.0x as long under `"mixed_float16"` and 3.4-6x as long under
`"mixed_bfloat16"` as under float32, and the validation accuracy stayed within 2 of 64 images.
Keep the data small on a CPU (16-32 images per class show both); a GPU with tensor cores is where
mixed precision pays. Every run is a fresh build, so each policy's first epoch traces its own
training step.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Sequence

import keras
import numpy as np

from helpers.finetune import guards, mixed_precision, two_phase, validation
from helpers.lessons import course, pretrained, target_task


@dataclasses.dataclass
class PolicyOutcome:
    """One policy's phase-2 run: its time per epoch, its validation result, its model's dtypes."""

    policy: str  # the global policy the model was built and trained under
    # The median of the epochs after the first (validation pass included); the first traces.
    warm_epoch_seconds: float
    first_epoch_seconds: float  # tracing included
    validation_accuracy: float  # after the last epoch; NaN if the run stopped before any
    validation_loss: float  # likewise
    precision: mixed_precision.Precision  # read off the trained model
    stopped_reason: str | None = None  # why the divergence guard stopped the run, or None


class _EpochClock(keras.callbacks.Callback):
    """Records the seconds from the start of training to the end of each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.start = time.perf_counter()
        self.epoch_ends: list[float] = []

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_ends.append(time.perf_counter() - self.start)


def compare_policies(
    data: target_task.TaskData,
    policies: Sequence[str] = mixed_precision.POLICIES,
    head_epochs: int = 2,
    fine_tune_epochs: int = 3,
    learning_rate: float = two_phase.FINE_TUNE_LEARNING_RATE,
    batch_size: int = 32,
    seed: int = 0,
) -> list[PolicyOutcome]:
    """Trains one head in float32, then fine-tunes a fresh copy under each policy, timed.

    Phase 1 runs once, in float32: `head_epochs` at `two_phase.HEAD_LEARNING_RATE` on cached
    features of the bundled base (0 keeps the head as built). Each policy then builds the model
    anew inside `mixed_precision.policy`, takes the trained head's weights and runs phase 2 alone
    (`two_phase.fine_tune` with `head_epochs=0`) for `fine_tune_epochs` at `learning_rate`, the
    whole base unfrozen. Every run starts from the same weights and shuffles by the same seed, so
    the policies differ only in their arithmetic. The global policy is restored afterwards, even
    if a run fails.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data`; its validation split is
            measured after every epoch.
        policies: sequence of distinct names from `mixed_precision.POLICIES`. Defaults to all
            three.
        head_epochs: int >= 0, phase 1's epochs. Defaults to 2.
        fine_tune_epochs: int >= 2, phase 2's epochs: the first traces, the rest are timed.
            Defaults to 3.
        learning_rate: float > 0, phase 2's Adam rate. Defaults to
            `two_phase.FINE_TUNE_LEARNING_RATE` (1e-4).
        batch_size: int >= 1, the batch size of both phases. Defaults to 32.
        seed: int >= 0, seeds the head, dropout and shuffling. Defaults to 0.

    Returns:
        A list of `PolicyOutcome`, in the order of `policies`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> sizes = {"validation_count": 2, "test_count": 2, "source_count": 2, "image_size": 32}
    >>> compare_policies(target_task.prepare_data(1, **sizes), ["float32", "mixed_float61"])
    Traceback (most recent call last):
    ...
    ValueError: policies[1] must be one of ('float32', 'mixed_float16', 'mixed_bfloat16').
    Received: policies[1]='mixed_float61'. Did you mean 'mixed_float16'?
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    policies = _checked_policies(policies)
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=0)
    fine_tune_epochs = validation.check_int("fine_tune_epochs", fine_tune_epochs, minimum=2)
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    batch_size = validation.check_int("batch_size", batch_size, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    image_size = data.train[0].shape[1]

    head_weights = _weights_after_phase_one(data, image_size, head_epochs, batch_size, seed)
    outcomes = []
    for policy in policies:
        with mixed_precision.policy(policy):
            keras.utils.set_random_seed(seed)
            model, base_model = pretrained.build_mobilenet_v2(
                data.num_classes, image_size, weights=None
            )
            model.set_weights(head_weights)
            outcome = _fine_tune_and_time(
                model, base_model, data, policy, fine_tune_epochs, learning_rate, batch_size, seed
            )
        outcomes.append(outcome)
    return outcomes


def _checked_policies(policies: object) -> list[str]:
    """Returns `policies` as a list of distinct names from `mixed_precision.POLICIES`."""
    policies = validation.check_sequence("policies", policies)
    checked = [
        validation.check_choice(f"policies[{index}]", policy, mixed_precision.POLICIES)
        for index, policy in enumerate(policies)
    ]
    if len(set(checked)) != len(checked):
        raise ValueError(f"policies must not repeat a policy. Received: policies={policies!r}")
    return checked


def _weights_after_phase_one(
    data: target_task.TaskData, image_size: int, head_epochs: int, batch_size: int, seed: int
) -> list[np.ndarray]:
    """The weights of a float32 build (bundled base) after `head_epochs` of phase 1."""
    with mixed_precision.policy("float32"):
        keras.utils.set_random_seed(seed)
        model, base_model = pretrained.build_mobilenet_v2(data.num_classes, image_size)
        if head_epochs:
            two_phase.fine_tune(
                model,
                base_model,
                data.train,
                head_epochs=head_epochs,
                fine_tune_epochs=0,
                batch_size=batch_size,
                seed=seed,
                verbose=course.fit_verbosity(),
            )
    return model.get_weights()


def _fine_tune_and_time(
    model: keras.Model,
    base_model: keras.Model,
    data: target_task.TaskData,
    policy: str,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    seed: int,
) -> PolicyOutcome:
    """Runs phase 2 alone on `model` and measures it; a run the guard stops is kept as it stands."""
    clock = _EpochClock()
    stopped_reason = None
    history = None
    try:
        history = two_phase.fine_tune(
            model,
            base_model,
            data.train,
            data.validation,
            head_epochs=0,
            fine_tune_epochs=epochs,
            fine_tune_learning_rate=learning_rate,
            batch_size=batch_size,
            callbacks=[clock],
            seed=seed,
            verbose=course.fit_verbosity(),
        )
    except guards.TrainingDivergedError as error:
        stopped_reason = str(error)
    lengths = np.diff(clock.epoch_ends)
    warm_seconds = float(statistics.median(lengths)) if len(lengths) else math.nan
    first_seconds = clock.epoch_ends[0] if clock.epoch_ends else math.nan
    has_validation = history is not None and len(history.val_accuracy) > 0
    return PolicyOutcome(
        policy=policy,
        warm_epoch_seconds=warm_seconds,
        first_epoch_seconds=first_seconds,
        validation_accuracy=history.val_accuracy[-1] if has_validation else math.nan,
        validation_loss=history.val_loss[-1] if has_validation else math.nan,
        precision=mixed_precision.describe_precision(model),
        stopped_reason=stopped_reason,
    )


def format_table(outcomes: Sequence[PolicyOutcome]) -> str:
    """A text table of `compare_policies`: per policy, its dtypes, speed and validation result.

    Each warm epoch is also given as a multiple of the first policy's (float32's, by default).

    Example:

    >>> precision = mixed_precision.Precision(
    ...     "float32", ("float32",), "float32", "float32", "float32", False, None
    ... )
    >>> run = PolicyOutcome("float32", 1.5, 9.0, 0.875, 0.31, precision)
    >>> print(format_table([run]))  # doctest: +NORMALIZE_WHITESPACE
    policy          compute  logits   loss scaling  warm epoch      val accuracy  val loss
    float32         float32  float32  no            1.50 s (1.0x)   0.875         0.310
    """
    rows = validation.check_sequence("outcomes", outcomes)
    for index, row in enumerate(rows):
        validation.check_instance(f"outcomes[{index}]", row, PolicyOutcome, "a PolicyOutcome")
    reference = rows[0].warm_epoch_seconds
    lines = [
        f"{'policy':<15} {'compute':<8} {'logits':<8} {'loss scaling':<13} {'warm epoch':<15} "
        f"{'val accuracy':<13} val loss"
    ]
    for row in rows:
        precision = row.precision
        scaling = f"x{precision.loss_scale:g}" if precision.loss_scaling else "no"
        speed = f"{row.warm_epoch_seconds:.2f} s ({row.warm_epoch_seconds / reference:.1f}x)"
        lines.append(
            f"{row.policy:<15} {precision.compute_dtype:<8} {precision.logits_compute_dtype:<8} "
            f"{scaling:<13} {speed:<15} {row.validation_accuracy:<13.3f} "
            f"{row.validation_loss:.3f}"
        )
    return "\n".join(lines)
