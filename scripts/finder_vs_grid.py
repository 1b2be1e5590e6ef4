"""Does the range test find a good rate? Compares its suggestions with a grid search, both phases, 3 seeds.

On the offline default (the bundled base, the 4 target shape classes, 30 training images per class, a held-out
set of 200), for each seed and phase it trains at every rate of a half-decade log grid, keeps the rate with the
lowest held-out loss, runs the range test from the same starting point and trains once more at the valley
rate. See `helpers/finder_check.py` for the procedure. Writes `data/finder_vs_grid.json` (lesson 05 and the
README quote it) and prints the table.

Usage (from the repository root; about 30 minutes on 2 CPU cores):
    python scripts/finder_vs_grid.py
    python scripts/finder_vs_grid.py --seeds 0 --phases 1 --output /tmp/trial.json   # a quick trial
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pathlib
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPOSITORY_ROOT))

from helpers import course, finder_check, rate_comparison  # noqa: E402

SETTINGS = {"images_per_class": 30, "test_count": 200, "phase_one_epochs": 10, "head_epochs": 10, "phase_two_epochs": 3}
RESULTS_PATH = REPOSITORY_ROOT / "data" / "finder_vs_grid.json"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--phases", type=int, nargs="+", default=[1, 2], choices=[1, 2])
    parser.add_argument("--output", type=pathlib.Path, default=RESULTS_PATH)
    arguments = parser.parse_args()
    course.setup()
    started, comparisons = time.time(), []
    for seed in arguments.seeds:
        data = rate_comparison.prepare_data(
            SETTINGS["images_per_class"], test_count=SETTINGS["test_count"], source_count=1, seed=seed
        )
        if 1 in arguments.phases:
            comparisons.append(finder_check.compare_phase_one(data, SETTINGS["phase_one_epochs"], seed=seed))
            print(finder_check.format_table(comparisons[-1:]), flush=True)
        if 2 in arguments.phases:
            options = {"head_epochs": SETTINGS["head_epochs"], "epochs": SETTINGS["phase_two_epochs"], "seed": seed}
            comparisons.append(finder_check.compare_phase_two(data, **options))
            print(finder_check.format_table(comparisons[-1:]), flush=True)
    comparisons.sort(key=lambda row: (row.phase, row.seed))
    results = {
        "settings": SETTINGS,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
        "minutes": round((time.time() - started) / 60, 1),
        "comparisons": [dataclasses.asdict(row) for row in comparisons],
    }
    arguments.output.write_text(json.dumps(results, indent=1) + "\n")
    print(finder_check.format_table(comparisons))
    print(f"wrote {arguments.output} in {results['minutes']} minutes")


if __name__ == "__main__":
    main()
