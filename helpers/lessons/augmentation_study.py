"""Augmentation's benefit on small target sets, with and without it, both phases (lesson 06).

`compare_augmentation` runs the whole recipe (phase 1 at 1e-3, phase 2 at 1e-4) on the same
target task with 10 and 30 training images per class, once plain and once with
`augmentation.build_augmentation` applied to every training batch of both phases, and measures
each run as lesson 04 does (`rate_comparison.measure`). Without augmentation phase 1 trains the
head on features computed once; with it the base runs every epoch: the price, which
`benchmarks/training_speed.py` times.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence

import keras
import numpy as np

from helpers.finetune import augmentation, forgetting, restarts, two_phase, validation
from helpers.lessons import course, pretrained, rate_comparison, target_task

IMAGES_PER_CLASS = (10, 30)  # the small target sets compared


@dataclasses.dataclass
class AugmentationOutcome:
    """One run of the whole recipe, measured after phase 2."""

    images_per_class: int
    augmented: bool
    outcome: rate_comparison.Outcome
    phase_one_seconds: float  # wall time of phase 1 (with tracing where it traced)

    @property
    def label(self) -> str:
        """`"10 per class, augmented"` and the like."""
        kind = "augmented" if self.augmented else "plain"
        return f"{self.images_per_class} per class, {kind}"


def compare_augmentation(
    images_per_class_options: Sequence[int] = IMAGES_PER_CLASS,
    head_epochs: int = 10,
    fine_tune_epochs: int = 5,
    seed: int = 0,
    held_out_counts: tuple[int, int, int] = (200, 200, 300),
    image_size: int = 96,
    source_head: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[AugmentationOutcome]:
    """Runs both phases with and without augmentation, per training-set size, and measures them.

    Every run starts from the same fresh build (the pretrained base, a head drawn with `seed`)
    and uses the same rates: 1e-3 for the head, `two_phase.FINE_TUNE_LEARNING_RATE` after.

    Args:
        images_per_class_options: non-empty sequence of ints >= 1, the training-set sizes.
            Defaults to `IMAGES_PER_CLASS`.
        head_epochs, fine_tune_epochs: int >= 1, each phase's epochs. Default to 10 and 5.
        seed: int >= 0, seeds the data, the head, dropout, shuffling and the augmentation.
            Defaults to 0.
        held_out_counts: three ints >= 1, the validation, target test and source test images.
            Defaults to (200, 200, 300).
        image_size: int >= 32, the images' height and width. Defaults to 96.
        source_head: `(kernel, bias)`, or `None` for the bundled source head. Defaults to None.

    Returns:
        A list of `AugmentationOutcome`, per size: plain, then augmented.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> source_head = (np.zeros((1280, 6), "float32"), np.zeros(6, "float32"))
    >>> rows = compare_augmentation([1], 1, 1, held_out_counts=(4, 4, 6), image_size=32,
    ...                             source_head=source_head)
    phase 1: base features computed once and cached (no augmentation)
    phase 1: the full model runs the frozen base every epoch
    >>> [row.label for row in rows]
    ['1 per class, plain', '1 per class, augmented']
    """
    sizes = [
        validation.check_int(f"images_per_class_options[{index}]", size, minimum=1)
        for index, size in enumerate(
            validation.check_sequence("images_per_class_options", images_per_class_options)
        )
    ]
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=1)
    fine_tune_epochs = validation.check_int("fine_tune_epochs", fine_tune_epochs, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    counts = validation.check_sequence("held_out_counts", held_out_counts, minimum_length=3)
    validation_count, test_count, source_count = (
        validation.check_int(f"held_out_counts[{index}]", count, minimum=1)
        for index, count in enumerate(counts[:3])
    )
    image_size = validation.check_int("image_size", image_size, minimum=32)
    source_head = rate_comparison.checked_source_head(source_head)

    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES, image_size)
    start = restarts.save_state(model)
    runs = {}
    # Plain runs first, then augmented ones: runs of one kind share their traced steps.
    for augmented in (False, True):
        for size in sizes:
            data = target_task.prepare_data(
                size, validation_count, test_count, source_count, image_size, seed=seed
            )
            restarts.restore_state(model, start)
            keras.utils.set_random_seed(seed)
            layer = augmentation.build_augmentation(seed=seed) if augmented else None
            runs[size, augmented] = _run(
                model, base_model, data, layer, head_epochs, fine_tune_epochs, seed, source_head
            )
    return [runs[size, augmented] for size in sizes for augmented in (False, True)]


def _run(
    model: keras.Model,
    base_model: keras.Model,
    data: target_task.TaskData,
    layer: keras.Sequential | None,
    head_epochs: int,
    fine_tune_epochs: int,
    seed: int,
    source_head: tuple[np.ndarray, np.ndarray],
) -> AugmentationOutcome:
    """Phase 1 (timed), then phase 2, with `layer` as the augmentation (None: none)."""
    before = forgetting.snapshot(base_model)
    options = {"augmentation": layer, "seed": seed, "verbose": course.fit_verbosity()}
    started = time.perf_counter()
    two_phase.fine_tune(
        model, base_model, data.train, head_epochs=head_epochs, fine_tune_epochs=0, **options
    )
    phase_one_seconds = time.perf_counter() - started
    with rate_comparison.eager_if_short(fine_tune_epochs, data):
        two_phase.fine_tune(
            model,
            base_model,
            data.train,
            head_epochs=0,
            fine_tune_epochs=fine_tune_epochs,
            **options,
        )
    size = len(data.train[1]) // target_task.NUM_CLASSES
    label = f"{size} per class, {'augmented' if layer is not None else 'plain'}"
    outcome = rate_comparison.measure(
        model, data, label, before, source_head, two_phase.FINE_TUNE_LEARNING_RATE
    )
    return AugmentationOutcome(size, layer is not None, outcome, phase_one_seconds)


def format_table(rows: Sequence[AugmentationOutcome]) -> str:
    """A text table: test accuracy, validation loss, source accuracy and phase-1 time per run.

    Example:

    >>> outcome = rate_comparison.Outcome("10", 1e-4, 0.75, 0.98, 0.003, {}, 0.7, 0.61)
    >>> print(format_table([AugmentationOutcome(10, True, outcome, 4.2)]))
    run                       val loss  test acc  source acc  phase 1
    10 per class, augmented       0.61      0.75        0.98     4.2 s
    """
    rows = validation.check_sequence("rows", rows)
    for index, row in enumerate(rows):
        validation.check_instance(
            f"rows[{index}]", row, AugmentationOutcome, "an AugmentationOutcome"
        )
    lines = [f"{'run':<24}  {'val loss':>8}  {'test acc':>8}  {'source acc':>10}  phase 1"]
    for row in rows:
        lines.append(
            f"{row.label:<24}  {row.outcome.validation_loss:>8.2f}  "
            f"{row.outcome.target_accuracy:>8.2f}  {row.outcome.source_accuracy:>10.2f}  "
            f"{row.phase_one_seconds:>5.1f} s"
        )
    return "\n".join(lines)
