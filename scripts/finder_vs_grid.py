"""Compares the range test's rates with a grid search, both phases, 3 seeds (lesson 05 quotes it).

On the offline default (the bundled base, the 4 target shape classes, 30 training images per
class, a validation set and a test set of 200 each), for each seed and phase it trains at every
rate of a half-decade log grid, keeps the rate with the lowest validation loss, reports test
losses, runs the range test from the same starting point and trains once more at the valley
rate. See `helpers/lessons/finder_check.py` for the procedure. Writes
`data/finder_vs_grid.json` (lesson 05 and the README quote it) with its card
`data/finder_vs_grid_card.md`, and prints the table.

Usage (from the repository root; the card records how long the stored run took):
    python scripts/finder_vs_grid.py
    python scripts/finder_vs_grid.py --seeds 0 --phases 1 --output /tmp/trial.json  # a quick trial
    python scripts/finder_vs_grid.py --card-only   # rewrite the card from the stored JSON
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))

import study_command  # noqa: E402

from helpers.lessons import course, finder_check, target_task  # noqa: E402

SETTINGS = {
    "images_per_class": 30,
    "validation_count": 200,
    "test_count": 200,
    "phase_one_epochs": 10,
    "head_epochs": 10,
    "phase_two_epochs": 3,
}
CARD = """# Finder versus grid search: stored results of `scripts/finder_vs_grid.py`

Written by `scripts/finder_vs_grid.py` (`--card-only` rewrites this card from the JSON); do not
edit by hand. `finder_vs_grid.json` holds, for each phase and seed, the grid of rates, the
validation and test losses after training at each, the grid-best rate (lowest validation loss),
the range test's three suggestions and the validation and test losses at the valley rate.

## Procedure (`helpers/lessons/finder_check.py`)
- Data: `target_task.prepare_data({images_per_class}, validation_count={validation_count}, \
test_count={test_count}, seed=seed)`:
  the bundled base's target task, {images_per_class} training images per class, {validation_count} \
validation images
  to choose on, {test_count} test images to report on; seeds 0, 1, 2.
- Phase 1: a fresh head (Adam) on cached base features, {phase_one_epochs} epochs per grid \
rate, grid
  1e-5 .. 1 in half decades; the range test on a fresh head with the same seed.
- Phase 2: a head trained {head_epochs} epochs at 1e-3, then the unfrozen base \
(BatchNormalization frozen),
  {phase_two_epochs} epochs per grid rate, grid 1e-6 .. 1e-2 in half decades; the range test \
on the same start.
- Grid-best: the lowest validation loss; the table reports test losses (the run at the
  grid-best rate and the run at the valley rate). Range test: 1e-7 to 10, 100 steps, batch 32,
  beta 0.98, stop at 4x.

## Run
- Machine: {machine}.
- Threads: {threads}.
- Software: {software}.
- Wall time: {minutes} minutes ({date}).

## Results
```
{table}
```
"""


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line (`study_command`); a negative seed ends the script."""
    parser = study_command.study_parser(__doc__.splitlines()[0], finder_check.RESULTS_PATH)
    parser.add_argument("--phases", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    return study_command.parse_study_arguments(parser, argv)


def compare(seeds: list[int], phases: list[int]) -> list[finder_check.Comparison]:
    """Runs the grid and the range test for each seed and phase; prints each table as it comes."""
    comparisons = []
    for seed in seeds:
        data = target_task.prepare_data(
            SETTINGS["images_per_class"],
            validation_count=SETTINGS["validation_count"],
            test_count=SETTINGS["test_count"],
            source_count=1,
            seed=seed,
        )
        if 1 in phases:
            comparison = finder_check.compare_phase_one(
                data, SETTINGS["phase_one_epochs"], seed=seed
            )
            comparisons.append(comparison)
            print(finder_check.format_table([comparison]), flush=True)
        if 2 in phases:
            comparison = finder_check.compare_phase_two(
                data,
                head_epochs=SETTINGS["head_epochs"],
                epochs=SETTINGS["phase_two_epochs"],
                seed=seed,
            )
            comparisons.append(comparison)
            print(finder_check.format_table([comparison]), flush=True)
    return sorted(comparisons, key=lambda comparison: (comparison.phase, comparison.seed))


def main(argv: list[str] | None = None) -> None:
    """Runs the comparison and writes the JSON and its card, or rewrites the card alone."""
    arguments = parse_arguments(argv)
    if arguments.card_only:
        write_card(arguments.output)
        return
    course.setup()
    started = time.time()
    comparisons = compare(arguments.seeds, arguments.phases)
    results = {
        "settings": SETTINGS,
        **course.describe_run(),
        "minutes": round((time.time() - started) / 60, 1),
        "comparisons": [dataclasses.asdict(comparison) for comparison in comparisons],
    }
    arguments.output.write_text(json.dumps(results, indent=1) + "\n")
    write_card(arguments.output)
    print(finder_check.format_table(comparisons))
    print(f"wrote {arguments.output} in {results['minutes']} minutes")


def write_card(results_path: pathlib.Path) -> None:
    """Writes the card beside the results: how they were made, and their table."""
    results = json.loads(results_path.read_text())
    table = finder_check.format_table(finder_check.load_comparisons(results_path))
    run = {key: results[key] for key in ("machine", "threads", "software", "minutes", "date")}
    card = CARD.format(**results["settings"], **run, table=table)
    study_command.write_card(results_path, card)


if __name__ == "__main__":
    main()
