"""Lesson 04's comparison over seeds: the stored results, their mean and range (lesson 04).

`scripts/rate_comparison_seeds.py` runs `rate_comparison`'s full lesson-04 comparison
(`STORED_SETTINGS`) for several seeds and writes every number to `RESULTS_PATH`. The lesson quotes
them as a mean with the lowest and highest seed (`summarize`, `format_summary`), draws them with
`rate_comparison.plot_comparison`, and `tests/test_claims_transfer.py` checks its sentences against
them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
from collections.abc import Sequence

from helpers.finetune import validation
from helpers.lessons import course, rate_comparison

# Written by scripts/rate_comparison_seeds.py.
RESULTS_PATH = course.COURSE_ROOT / "data" / "rate_comparison_seeds.json"
# The numbers `summarize` gathers per run.
SUMMARY_FIELDS = (
    "validation_loss",
    "validation_accuracy",
    "target_accuracy",
    "source_accuracy",
    "overall_drift",
)
# What scripts/rate_comparison_seeds.py runs per seed: lesson 04's full-mode sizes.
STORED_SETTINGS = {
    "images_per_class": 30,
    "validation_count": 200,
    "test_count": 200,
    "source_count": 300,
    "head_epochs": 10,
    "fine_tune_epochs": 5,
    "learning_rates": list(rate_comparison.LEARNING_RATES),
    "depth_rate": 1e-4,  # the depth comparison's phase-2 rate
    "top_layers": [20, 60],  # compared with the whole base
    "scratch_epochs": 15,  # head_epochs + fine_tune_epochs: the same optimizer steps
}


@dataclasses.dataclass
class SeedResults:
    """Everything `scripts/rate_comparison_seeds.py` measures for one seed."""

    seed: int
    rates: list[
        rate_comparison.Outcome
    ]  # "head only", then one per phase-2 rate, the whole base unfrozen
    depth: list[
        rate_comparison.Outcome
    ]  # the depth rate with only the top layers unfrozen, per option
    scratch: rate_comparison.Outcome  # the equal-budget baseline
    head_gradients: rate_comparison.HeadGradients
    # Phase 2 alone, from a fresh head, for as many steps as both phases: why phase 1 comes first.
    without_phase_one: rate_comparison.Outcome
    seconds: float  # how long the seed took


def load_results(path: str | os.PathLike = RESULTS_PATH) -> list[SeedResults]:
    """Returns the per-seed results `scripts/rate_comparison_seeds.py` stored.

    Args:
        path: str or path, the JSON file. Defaults to `RESULTS_PATH` (the course's own run).

    Returns:
        A list of `SeedResults`, one per seed.

    Raises:
        ValueError: if `path` is not a str or path.
        FileNotFoundError: if no file is there.

    Example:

    >>> seeds = load_results()
    >>> [seed_results.seed for seed_results in seeds][:3]
    [0, 1, 2]
    >>> [row.label for row in seeds[0].rates]
    ['head only', '0.01', '0.001', '0.0001', '1e-05']
    """
    validation.check_instance("path", path, str | os.PathLike, "a str or path")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            "path must name the JSON file scripts/rate_comparison_seeds.py writes. "
            f"Received: path={path}"
        )
    return [_seed_results(row) for row in json.loads(path.read_text())["seeds"]]


def _seed_results(row: dict) -> SeedResults:
    """A `SeedResults` from its JSON form (`dataclasses.asdict`)."""
    return SeedResults(
        seed=row["seed"],
        rates=[rate_comparison.Outcome(**outcome) for outcome in row["rates"]],
        depth=[rate_comparison.Outcome(**outcome) for outcome in row["depth"]],
        scratch=rate_comparison.Outcome(**row["scratch"]),
        head_gradients=rate_comparison.HeadGradients(**row["head_gradients"]),
        without_phase_one=rate_comparison.Outcome(**row["without_phase_one"]),
        seconds=row["seconds"],
    )


def summarize(seeds: Sequence[SeedResults]) -> dict[str, dict[str, tuple[float, float, float]]]:
    """Returns `(mean, min, max)` over the seeds of every measured number, per run.

    Args:
        seeds: non-empty sequence of `SeedResults`, e.g. `load_results()`.

    Returns:
        A dict from run name ("head only", "0.0001", "0.0001, top 20", "from scratch", and
        "head gradients") to a dict from field name (`target_accuracy`, `validation_loss`, ...,
        `update_ratio` for `rate_comparison.typical_update_ratio`, or `fresh` and `trained` for
        the gradients) to `(mean, min, max)`; NaN where a run cannot measure it.

    Raises:
        ValueError: if `seeds` is not a non-empty sequence of `SeedResults`.

    Example:

    >>> summary = summarize(load_results())
    >>> mean, low, high = summary["0.0001"]["source_accuracy"]
    >>> low <= mean <= high
    True
    """
    rows = validation.check_sequence("seeds", seeds)
    for index, row in enumerate(rows):
        validation.check_instance(f"seeds[{index}]", row, SeedResults, "a SeedResults")
    values: dict[str, dict[str, list[float]]] = {}
    for seed_results in rows:
        runs = [*seed_results.rates, *seed_results.depth, seed_results.scratch]
        for outcome in [*runs, seed_results.without_phase_one]:
            run = values.setdefault(rate_comparison.run_name(outcome), {})
            for field in SUMMARY_FIELDS:
                run.setdefault(field, []).append(getattr(outcome, field))
            run.setdefault("update_ratio", []).append(rate_comparison.typical_update_ratio(outcome))
        gradients = values.setdefault("head gradients", {})
        for field, value in dataclasses.asdict(seed_results.head_gradients).items():
            gradients.setdefault(field, []).append(value)
    return {
        run: {field: rate_comparison.mean_and_range(numbers) for field, numbers in fields.items()}
        for run, fields in values.items()
    }


def format_summary(seeds: Sequence[SeedResults]) -> str:
    """Returns a text table of `summarize`: each number's mean, with its min and max over seeds.

    Args:
        seeds: non-empty sequence of `SeedResults`, e.g. `load_results()`.

    Returns:
        The table: one line per run, then the gradient norms into the base. Each cell is
        `mean (min-max)`; accuracies and losses to 2 decimals, drift to 2 significant digits,
        the median layer's update/weight ratio (`rate_comparison.typical_update_ratio`) like
        `6.8e-04`.

    Raises:
        ValueError: if `seeds` is not a non-empty sequence of `SeedResults`.

    Example:

    >>> header, *rows, gradients = format_summary(load_results()).splitlines()
    >>> header.split("  (")[1], gradients.split(":")[0]
    ('mean, min-max over 5 seeds)', 'gradient norm into the base')
    """
    summary = summarize(seeds)
    columns = (
        ("validation_loss", "val loss", "{:.2f}"),
        ("target_accuracy", "test accuracy", "{:.2f}"),
        ("source_accuracy", "source accuracy", "{:.2f}"),
        ("overall_drift", "drift", "{:#.2g}"),
        ("update_ratio", "step / weight", "{:.1e}"),
    )
    runs = [run for run in summary if run != "head gradients"]
    lines = summary_table(summary, runs, columns, len(seeds)).splitlines()
    gradients = summary["head gradients"]
    lines.append(
        "gradient norm into the base: fresh head "
        + _mean_and_range_text(gradients["fresh"], "{:.2f}")
        + ", trained head "
        + _mean_and_range_text(gradients["trained"], "{:.2f}")
    )
    return "\n".join(lines)


def summary_table(
    summary: dict[str, dict[str, tuple[float, float, float]]],
    runs: Sequence[str],
    columns: Sequence[tuple[str, str, str]],
    number_of_seeds: int,
) -> str:
    """A text table of a summary's `mean (min-max)` cells: one line per run, one column per field.

    Lessons 04 and 06 print their stored studies with it.

    Args:
        summary: dict from run name to dict from field to `(mean, min, max)`, as `summarize`
            returns it.
        runs: sequence of run names, the rows in order.
        columns: sequence of `(field, title, number format)` triples, e.g.
            `("target_accuracy", "test accuracy", "{:.2f}")`.
        number_of_seeds: int, named in the header.

    Returns:
        The table; a NaN mean shows as "-".

    Example:

    >>> summary = {"1e-4": {"target_accuracy": (0.84, 0.81, 0.86)}}
    >>> print(summary_table(summary, ["1e-4"], [("target_accuracy", "test", "{:.2f}")], 3))
    run   test  (mean, min-max over 3 seeds)
    1e-4  0.84 (0.81-0.86)
    """
    table = [["run", *(title for _, title, _ in columns)]]
    for run in runs:
        fields = summary[run]
        table.append(
            [run, *(_mean_and_range_text(fields[field], number) for field, _, number in columns)]
        )
    widths = [max(len(row[index]) for row in table) + 2 for index in range(len(table[0]))]
    lines = [
        "".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in table
    ]
    lines[0] += f"  (mean, min-max over {number_of_seeds} seeds)"
    return "\n".join(lines)


def _mean_and_range_text(mean_and_range: tuple[float, float, float], number: str) -> str:
    """The text "0.84 (0.81-0.86)", or "-" for NaN."""
    if math.isnan(mean_and_range[0]):
        return "-"
    mean, low, high = (number.format(value) for value in mean_and_range)
    return f"{mean} ({low}-{high})"
