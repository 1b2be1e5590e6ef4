"""Lesson 06's measurements over seeds: the stored results, their mean and range (lesson 06).

`scripts/regularisation_seeds.py` runs lesson 06's full-size study (`STORED_SETTINGS`) for
several seeds and writes every number to `RESULTS_PATH`: per seed, a range test per optimizer on
the unfrozen model, every phase-2 variant of `variants` run from one trained head
(`phase_two_variants.compare_variants`: decay, L2-SP, early stopping, warmup, the three
optimizers), and the recipe with and without augmentation (`augmentation_study`). The lesson
quotes them as a mean with the lowest and highest seed, and `tests/test_claims_lesson06.py`
checks its sentences against them.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

from helpers.finetune import validation
from helpers.lessons import (
    augmentation_study,
    comparison_over_seeds,
    course,
    phase_two_variants,
    rate_comparison,
)

RESULTS_PATH = course.COURSE_ROOT / "data" / "regularisation_seeds.json"
# The numbers `summarize` gathers per run, as for lesson 04's study.
SUMMARY_FIELDS = comparison_over_seeds.SUMMARY_FIELDS
# What scripts/regularisation_seeds.py runs per seed: lesson 06's full-mode sizes.
STORED_SETTINGS = {
    "images_per_class": 30,
    "validation_count": 200,
    "test_count": 200,
    "source_count": 300,
    "head_epochs": 10,
    "fine_tune_epochs": 5,
    "range_test_steps": 100,
    "augmentation_sizes": list(augmentation_study.IMAGES_PER_CLASS),
}
# The rates each optimizer also runs at, beside its own range test's suggestion (Adam's 1e-3 and
# 1e-4 are the plain runs of section 2).
OPTIMIZER_GRID = {"adam": (1e-5,), "sgd": (1e-3, 1e-2, 1e-1), "rmsprop": (1e-5, 1e-4, 1e-3)}
EARLY_STOPPING_EPOCHS = 10  # at most, with early stopping
WARMUP_STEPS = 4  # one epoch of 120 images in batches of 32
# The training loss "time to a target loss" counts steps to: below every run's first 4 steps
# (about 0.5 after phase 1), reached within phase 2's 20 steps at the optimizers' suggestions.
LOSS_TARGET = 0.2


def variants() -> list[phase_two_variants.Variant]:
    """The phase-2 variants lesson 06 compares, apart from the optimizers' suggested rates.

    Example:

    >>> [variant.label for variant in variants()][:3]
    ['1e-3', '1e-3, decay 0.004', '1e-3, decay 1']
    """
    variant = phase_two_variants.Variant
    stop_early = {"epochs": EARLY_STOPPING_EPOCHS, "early_stopping_patience": 2}
    return [
        # Section 2: no decay, decay towards zero, decay towards the pretrained weights, at 1e-3
        # (where lesson 04's phase 2 starts to forget) and at the course's rule, 1e-4.
        variant("1e-3", 1e-3),
        variant("1e-3, decay 0.004", 1e-3, weight_decay=0.004),  # AdamW's default
        variant("1e-3, decay 1", 1e-3, weight_decay=1.0),
        variant("1e-3, L2-SP 0.01", 1e-3, l2_sp_strength=0.01),
        variant("1e-3, L2-SP 0.1", 1e-3, l2_sp_strength=0.1),
        variant("1e-3, L2-SP 1", 1e-3, l2_sp_strength=1.0),
        variant("1e-3, L2-SP 10", 1e-3, l2_sp_strength=10.0),
        variant("1e-4", 1e-4),
        variant("1e-4, L2-SP 1", 1e-4, l2_sp_strength=1.0),
        # Section 3: early stopping on the validation loss, at the rule's rate, at a rate that
        # forgets (lesson 04) and at one past the edge.
        variant("1e-4, stop early", 1e-4, **stop_early),
        variant("1e-3, stop early", 1e-3, **stop_early),
        variant("3e-3, stop early", 3e-3, **stop_early),
        # Section 6: a warmup over the first epoch, at the rule's rate and near the edge.
        variant("1e-4, warmup", 1e-4, warmup_steps=WARMUP_STEPS),
        variant("3e-3", 3e-3),
        variant("3e-3, warmup", 3e-3, warmup_steps=WARMUP_STEPS),
        # Section 5: the optimizers on a short grid (Adam's 1e-3 and 1e-4 are above).
        *(
            variant(f"{name} {rate:.0e}", rate, optimizer=name)
            for name, rates in OPTIMIZER_GRID.items()
            for rate in rates
        ),
    ]


def suggested_variants(suggested_rates: dict[str, float]) -> list[phase_two_variants.Variant]:
    """One variant per optimizer at the rate its own range test suggested.

    Example:

    >>> [variant.label for variant in suggested_variants({"sgd": 0.02})]
    ['sgd at its suggestion']
    """
    return [
        phase_two_variants.Variant(f"{name} at its suggestion", rate, optimizer=name)
        for name, rate in suggested_rates.items()
    ]


@dataclasses.dataclass
class SeedResults:
    """Everything `scripts/regularisation_seeds.py` measures for one seed."""

    seed: int
    suggested_rates: dict[str, float]  # per optimizer: its range test's suggestion
    comparison: phase_two_variants.VariantComparison
    augmentation: list[augmentation_study.AugmentationOutcome]
    seconds: float  # how long the seed took


def load_results(path: str | os.PathLike = RESULTS_PATH) -> list[SeedResults]:
    """Returns the per-seed results `scripts/regularisation_seeds.py` stored.

    Args:
        path: str or path, the JSON file. Defaults to `RESULTS_PATH` (the course's own run).

    Returns:
        A list of `SeedResults`, in seed order.

    Raises:
        ValueError: if the file does not exist, naming the path and the script that writes it.

    Example:

    >>> [seed_results.seed for seed_results in load_results()]
    [0, 1, 2]
    """
    if not os.path.exists(path):
        raise ValueError(
            f"path must be a results file written by scripts/regularisation_seeds.py. "
            f"Received: path={str(path)!r}, which does not exist"
        )
    with open(path, encoding="utf-8") as file:
        rows = json.load(file)["seeds"]
    return [_seed_results(row) for row in rows]


def to_json(seeds: Sequence[SeedResults], run: dict) -> str:
    """The JSON text `load_results` reads: the settings, the run (`course.describe_run`), seeds."""
    rows = []
    for seed_results in seeds:
        row = dataclasses.asdict(seed_results)
        # Per-layer numbers are not quoted by the lesson.
        outcomes = [row["comparison"]["head_only"]]
        outcomes += [variant_run["outcome"] for variant_run in row["comparison"]["runs"]]
        outcomes += [augmented_run["outcome"] for augmented_run in row["augmentation"]]
        for outcome in outcomes:
            outcome["layer_drift"] = {}
        rows.append(row)
    results = {"settings": STORED_SETTINGS, "run": run, "seeds": rows}
    return json.dumps(results, indent=1)


def _outcome(row: dict) -> rate_comparison.Outcome:
    return rate_comparison.Outcome(**row)


def _seed_results(row: dict) -> SeedResults:
    """A `SeedResults` from its JSON form (`dataclasses.asdict`)."""
    runs = [
        phase_two_variants.VariantOutcome(
            variant=phase_two_variants.Variant(**run["variant"]),
            outcome=_outcome(run["outcome"]),
            step_losses=run["step_losses"],
            head_validation_loss=run["head_validation_loss"],
            validation_losses=run["validation_losses"],
            best_epoch=run["best_epoch"],
        )
        for run in row["comparison"]["runs"]
    ]
    comparison = phase_two_variants.VariantComparison(
        _outcome(row["comparison"]["head_only"]), runs
    )
    augmentation = [
        augmentation_study.AugmentationOutcome(
            run["images_per_class"],
            run["augmented"],
            _outcome(run["outcome"]),
            run["phase_one_seconds"],
        )
        for run in row["augmentation"]
    ]
    return SeedResults(
        row["seed"], row["suggested_rates"], comparison, augmentation, row["seconds"]
    )


def summarize(seeds: Sequence[SeedResults]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Returns `(mean, min, max)` over the seeds of every measured number, per run.

    Runs are named by their labels ("head only", "1e-3, L2-SP 1", "adam at its suggestion",
    "10 per class, augmented"); besides `SUMMARY_FIELDS` each phase-2 run has `steps_to_loss`
    (`phase_two_variants.steps_to_loss` at `LOSS_TARGET`, 0 where never reached) and, with early
    stopping, `best_epoch`; "suggested rates" holds each optimizer's suggestion.

    Example:

    >>> summary = summarize(load_results())
    >>> mean, low, high = summary["1e-4"]["source_accuracy"]
    >>> low <= mean <= high
    True
    """
    rows = _checked_seeds(seeds)
    values: dict[str, dict[str, list[float]]] = {}

    def add(run: str, field: str, value: float) -> None:
        values.setdefault(run, {}).setdefault(field, []).append(float(value))

    for seed_results in rows:
        comparison = seed_results.comparison
        for field in SUMMARY_FIELDS:
            add("head only", field, getattr(comparison.head_only, field))
        for run in comparison.runs:
            name = run.variant.label
            for field in SUMMARY_FIELDS:
                add(name, field, getattr(run.outcome, field))
            steps = phase_two_variants.steps_to_loss(run.step_losses, LOSS_TARGET)
            add(name, "steps_to_loss", steps)
            if run.best_epoch is not None:
                add(name, "best_epoch", run.best_epoch)
        for run in seed_results.augmentation:
            for field in SUMMARY_FIELDS:
                add(run.label, field, getattr(run.outcome, field))
        for name, rate in seed_results.suggested_rates.items():
            add("suggested rates", name, rate)
    return {
        run: {field: rate_comparison.mean_and_range(numbers) for field, numbers in fields.items()}
        for run, fields in values.items()
    }


def format_summary(seeds: Sequence[SeedResults], runs: Sequence[str] | None = None) -> str:
    """A text table of `summarize`: each number's mean with its min and max over the seeds.

    Args:
        seeds: non-empty sequence of `SeedResults`, e.g. `load_results()`.
        runs: sequence of run names to show, or None for every run. Defaults to None.

    Returns:
        One line per run: validation loss, test and source accuracy, drift, each
        `mean (min-max)`.

    Example:

    >>> print(format_summary(load_results(), ["head only"]).splitlines()[0].split("  (")[1])
    mean, min-max over 3 seeds)
    """
    summary = summarize(seeds)
    names = [run for run in summary if run != "suggested rates"]
    if runs is not None:
        wanted = validation.check_sequence("runs", runs)
        for index, name in enumerate(wanted):
            validation.check_one_of(f"runs[{index}]", name, names)
        names = wanted
    columns = (
        ("validation_loss", "val loss", "{:.2f}"),
        ("target_accuracy", "test accuracy", "{:.2f}"),
        ("source_accuracy", "source accuracy", "{:.2f}"),
        ("overall_drift", "drift", "{:#.2g}"),
    )
    return comparison_over_seeds.summary_table(summary, names, columns, len(seeds))


def optimizer_runs(seeds: Sequence[SeedResults]) -> list[str]:
    """Section 5's runs, optimizer by optimizer: at its suggestion, then its grid, low to high.

    Adam's grid reuses section 2's plain runs, "1e-4" and "1e-3".

    Example:

    >>> optimizer_runs(load_results())[:4]
    ['adam at its suggestion', 'adam 1e-05', '1e-4', '1e-3']
    """
    labels = [run.variant.label for run in _checked_seeds(seeds)[0].comparison.runs]
    names = []
    for name, rates in OPTIMIZER_GRID.items():
        names.append(f"{name} at its suggestion")
        names += [f"{name} {rate:.0e}" for rate in rates]
        if name == "adam":
            names += ["1e-4", "1e-3"]
    return [name for name in names if name in labels]


def format_suggested_rates(seeds: Sequence[SeedResults]) -> str:
    """Each optimizer's range-test suggestion for phase 2, per seed.

    Example:

    >>> print(format_suggested_rates(load_results()).splitlines()[0].split(":")[0])
    valley of the range test on the unfrozen model, seeds 0, 1, 2
    """
    rows = _checked_seeds(seeds)
    numbers = ", ".join(str(seed_results.seed) for seed_results in rows)
    lines = [f"valley of the range test on the unfrozen model, seeds {numbers}:"]
    for name in rows[0].suggested_rates:
        rates = ", ".join(f"{seed_results.suggested_rates[name]:.1e}" for seed_results in rows)
        lines.append(f"  {name:<8} {rates}")
    return "\n".join(lines)


def format_best_epochs(seeds: Sequence[SeedResults], runs: Sequence[str]) -> str:
    """Per early-stopping run and seed: the epoch restored, of the epochs it ran.

    Example:

    >>> print(format_best_epochs(load_results(), ["1e-4, stop early"]).split(":")[0])
    1e-4, stop early
    """
    rows = _checked_seeds(seeds)
    lines = []
    for label in validation.check_sequence("runs", runs):
        per_seed = [seed_results.comparison.run(label) for seed_results in rows]
        text = ", ".join(
            f"epoch {run.best_epoch} of {len(run.validation_losses)}" for run in per_seed
        )
        lines.append(f"{label}: restored {text} (seeds {', '.join(str(r.seed) for r in rows)})")
    return "\n".join(lines)


def format_steps_to_loss(seeds: Sequence[SeedResults], runs: Sequence[str]) -> str:
    """Per run and seed: the steps it took to bring its training loss down to `LOSS_TARGET`.

    Example:

    >>> print(format_steps_to_loss(load_results(), ["1e-4"]).splitlines()[0])
    steps until the training loss (mean of 4 steps) is at most 0.2; - never
    """
    rows = _checked_seeds(seeds)
    lines = [
        f"steps until the training loss (mean of {phase_two_variants.LOSS_WINDOW} steps) is at "
        f"most {LOSS_TARGET:g}; - never"
    ]
    for label in validation.check_sequence("runs", runs):
        steps = [
            phase_two_variants.steps_to_loss(
                seed_results.comparison.run(label).step_losses, LOSS_TARGET
            )
            for seed_results in rows
        ]
        lines.append(f"  {label:<26} " + ", ".join(str(step or "-") for step in steps))
    return "\n".join(lines)


def _checked_seeds(seeds: object) -> list[SeedResults]:
    """Returns `seeds` as a list, or raises unless it is a non-empty sequence of `SeedResults`."""
    rows = validation.check_sequence("seeds", seeds)
    for index, row in enumerate(rows):
        validation.check_instance(f"seeds[{index}]", row, SeedResults, "a SeedResults")
    return rows
