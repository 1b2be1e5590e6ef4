"""Lesson 07's recipes over seeds: the stored results, their mean and range (lesson 07).

`scripts/recipes_seeds.py` runs every recipe of `recipes()` (`recipe_comparison`) at
`STORED_SETTINGS` for several seeds and writes every number to `RESULTS_PATH`. The lesson quotes
them as a mean with the lowest and highest seed, and `tests/test_claims_lesson07.py` checks its
sentences against them, seed by seed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence

from helpers.finetune import validation
from helpers.lessons import comparison_over_seeds, course, rate_comparison, recipe_comparison

RESULTS_PATH = course.COURSE_ROOT / "data" / "recipes_seeds.json"
# The numbers `summarize` gathers per run.
SUMMARY_FIELDS = (
    "validation_accuracy",
    "target_accuracy",
    "ood_accuracy",
    "ood_accuracy_own_statistics",
    "source_accuracy",
    "overall_drift",
)
# What scripts/recipes_seeds.py runs per seed: lesson 07's full-mode sizes.
STORED_SETTINGS = {
    "images_per_class": 30,
    "validation_count": 200,
    "test_count": 200,
    "source_count": 300,
    "ood_count": 200,
    "head_epochs": 10,
    "fine_tune_epochs": 5,
}


def recipes() -> list[recipe_comparison.Recipe]:
    """The recipes lesson 07 compares, in the order of its sections.

    Example:

    >>> [recipe.label for recipe in recipes()][:3]
    ['linear probe', 'LP-FT 1e-4', 'LP-FT 1e-3']
    """
    recipe = recipe_comparison.Recipe
    fastai_rate = recipe_comparison.FASTAI_BASE_LEARNING_RATE
    return [
        # Section 5: linear probe, then fine-tune (the course's two phases), against fine-tuning
        # from a random head with the same 15 epochs.
        recipe("linear probe", kind="probe"),
        recipe("LP-FT 1e-4", learning_rate=1e-4),
        # Section 3: one rate, the rate that forgets (lessons 04, 06), against a rate per group.
        recipe("LP-FT 1e-3", learning_rate=1e-3),
        recipe("discriminative 1e-3", kind="discriminative", learning_rate=1e-3),
        # Section 4: one more group per epoch, from the top.
        recipe("gradual unfreezing 1e-4", kind="gradual", learning_rate=1e-4),
        recipe("FT 1e-4", start="random head", learning_rate=1e-4),
        recipe("FT 1e-3", start="random head", learning_rate=1e-3),
        # Section 6: BatchNorm frozen (above), trainable, or re-estimated on the target images.
        recipe("LP-FT 1e-4, trainable BatchNorm", learning_rate=1e-4, batchnorm="trainable"),
        recipe("LP-FT 1e-4, AdaBN", learning_rate=1e-4, batchnorm="re-estimated"),
        recipe("linear probe, AdaBN", kind="probe", batchnorm="re-estimated"),
        # Section 7: fastai's fine_tune, with its train_bn default and with BatchNorm frozen.
        recipe("fastai fine_tune", kind="fastai", learning_rate=fastai_rate, batchnorm="trainable"),
        recipe("fastai fine_tune, BatchNorm frozen", kind="fastai", learning_rate=fastai_rate),
    ]


@dataclasses.dataclass
class SeedResults:
    """Everything `scripts/recipes_seeds.py` measures for one seed."""

    seed: int
    outcomes: list[recipe_comparison.RecipeOutcome]
    seconds: float  # how long the seed took

    def run(self, label: str) -> recipe_comparison.RecipeOutcome:
        """The outcome of the recipe labelled `label`."""
        labels = [outcome.label for outcome in self.outcomes]
        validation.check_one_of("label", label, labels)
        return self.outcomes[labels.index(label)]


def load_results(path: str | os.PathLike = RESULTS_PATH) -> list[SeedResults]:
    """Returns the per-seed results `scripts/recipes_seeds.py` stored.

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
            "path must be a results file written by scripts/recipes_seeds.py. "
            f"Received: path={str(path)!r}, which does not exist"
        )
    with open(path, encoding="utf-8") as file:
        rows = json.load(file)["seeds"]
    return [_seed_results(row) for row in rows]


def to_json(seeds: Sequence[SeedResults], run: dict) -> str:
    """The JSON text `load_results` reads: the settings, the run (`course.describe_run`), seeds."""
    rows = []
    for seed_results in _checked_seeds(seeds):
        row = dataclasses.asdict(seed_results)
        for outcome in row["outcomes"]:
            outcome["outcome"]["layer_drift"] = {}  # per-layer numbers are not quoted
        rows.append(row)
    return json.dumps({"settings": STORED_SETTINGS, "run": run, "seeds": rows}, indent=1)


def _seed_results(row: dict) -> SeedResults:
    """A `SeedResults` from its JSON form (`dataclasses.asdict`)."""
    outcomes = [
        recipe_comparison.RecipeOutcome(
            recipe=recipe_comparison.Recipe(**outcome["recipe"]),
            outcome=rate_comparison.Outcome(**outcome["outcome"]),
            ood_accuracy=outcome["ood_accuracy"],
            update_ratios=outcome["update_ratios"],
            trainable_parameters=outcome["trainable_parameters"],
            seconds=outcome["seconds"],
            ood_accuracy_own_statistics=outcome["ood_accuracy_own_statistics"],
        )
        for outcome in row["outcomes"]
    ]
    return SeedResults(row["seed"], outcomes, row["seconds"])


def summarize(seeds: Sequence[SeedResults]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Returns `(mean, min, max)` over the seeds of every measured number, per run.

    Besides `SUMMARY_FIELDS`, each run has `ratio <group>`, its median update/weight ratio per
    layer group.

    Example:

    >>> summary = summarize(load_results())
    >>> mean, low, high = summary["LP-FT 1e-4"]["ood_accuracy"]
    >>> low <= mean <= high
    True
    """
    values: dict[str, dict[str, list[float]]] = {}
    for seed_results in _checked_seeds(seeds):
        for run in seed_results.outcomes:
            fields = values.setdefault(run.label, {})
            for field in SUMMARY_FIELDS:
                source = run if field.startswith("ood_accuracy") else run.outcome
                fields.setdefault(field, []).append(float(getattr(source, field)))
            for group, ratio in run.update_ratios.items():
                fields.setdefault(f"ratio {group}", []).append(float(ratio))
    return {
        run: {field: rate_comparison.mean_and_range(numbers) for field, numbers in fields.items()}
        for run, fields in values.items()
    }


def format_summary(seeds: Sequence[SeedResults], runs: Sequence[str] | None = None) -> str:
    """A text table of `summarize`: test, out-of-distribution and source accuracy, and drift.

    Args:
        seeds: non-empty sequence of `SeedResults`, e.g. `load_results()`.
        runs: sequence of run labels to show, or None for every run. Defaults to None.

    Returns:
        One line per run, each number as `mean (min-max)` over the seeds.

    Example:

    >>> print(format_summary(load_results(), ["linear probe"]).splitlines()[0].split("  (")[1])
    mean, min-max over 3 seeds)
    """
    summary = summarize(seeds)
    names = list(summary)
    if runs is not None:
        wanted = validation.check_sequence("runs", runs)
        for index, name in enumerate(wanted):
            validation.check_one_of(f"runs[{index}]", name, names)
        names = wanted
    columns = (
        ("target_accuracy", "test accuracy", "{:.2f}"),
        ("ood_accuracy", "OOD accuracy", "{:.2f}"),
        ("source_accuracy", "source accuracy", "{:.2f}"),
        ("overall_drift", "drift", "{:#.2g}"),
    )
    return comparison_over_seeds.summary_table(summary, names, columns, len(seeds))


def per_seed(seeds: Sequence[SeedResults], label: str, field: str) -> list[float]:
    """One number of one run, seed by seed (a `SUMMARY_FIELDS` name or `ratio <group>`).

    Example:

    >>> len(per_seed(load_results(), "LP-FT 1e-4", "ood_accuracy"))
    3
    """
    rows = _checked_seeds(seeds)
    values = []
    for seed_results in rows:
        run = seed_results.run(label)
        if field.startswith("ratio "):
            values.append(float(run.update_ratios[field.removeprefix("ratio ")]))
        elif field.startswith("ood_accuracy"):
            validation.check_one_of("field", field, SUMMARY_FIELDS)
            values.append(float(getattr(run, field)))
        else:
            validation.check_one_of("field", field, SUMMARY_FIELDS)
            values.append(float(getattr(run.outcome, field)))
    return values


def format_own_statistics(seeds: Sequence[SeedResults]) -> str:
    """Per AdaBN run and seed: OOD accuracy with the target's statistics, then with its own.

    A run's own-statistics accuracy re-estimates BatchNorm on the shifted test images themselves
    (unlabelled) before measuring them.

    Example:

    >>> print(format_own_statistics(load_results()).splitlines()[0])
    OOD accuracy, BatchNorm statistics of the target training images -> of the shifted images
    """
    rows = _checked_seeds(seeds)
    lines = [
        "OOD accuracy, BatchNorm statistics of the target training images -> of the shifted images"
    ]
    labels = [run.label for run in rows[0].outcomes if run.recipe.batchnorm == "re-estimated"]
    for label in labels:
        pairs = ", ".join(
            f"{run.ood_accuracy:.2f} -> {run.ood_accuracy_own_statistics:.2f}"
            for run in (seed_results.run(label) for seed_results in rows)
        )
        seed_numbers = ", ".join(str(seed_results.seed) for seed_results in rows)
        lines.append(f"  {label:<22} {pairs} (seeds {seed_numbers})")
    return "\n".join(lines)


def _checked_seeds(seeds: object) -> list[SeedResults]:
    """Returns `seeds` as a list, or raises unless it is a non-empty sequence of `SeedResults`."""
    rows = validation.check_sequence("seeds", seeds)
    for index, row in enumerate(rows):
        validation.check_instance(f"seeds[{index}]", row, SeedResults, "a SeedResults")
    return rows
