"""Benchmark: phase 2 in mixed precision (float16 compute) against float32, on a GPU only.

On a CPU mixed precision is slower, so the course never turns it on there; this benchmark prints a
skipped row and exits. On a GPU it times a warm epoch of `two_phase.fine_tune`'s phase 2 under each
policy, side by side in one run, each on a freshly built model.

Run: .venv/bin/python benchmarks/mixed_precision.py [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys

# Run from anywhere: find `helpers` and `benchmarks`.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import table, training_speed  # noqa: E402
from helpers.lessons import target_task  # noqa: E402

MEASURE = "phase 2 on a GPU, one warm epoch: float32 / mixed precision"


def warm_epoch_seconds(data: target_task.TaskData, policy: str) -> float:
    """A warm epoch of phase 2 on a fresh model built under `policy`."""
    keras.mixed_precision.set_global_policy(policy)
    try:
        return training_speed.fine_tune_epoch_seconds(data)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def measure() -> dict:
    """The row: measured on a GPU, skipped elsewhere."""
    if not tf.config.list_physical_devices("GPU"):
        return table.skipped(MEASURE, "no GPU on this machine")
    data = target_task.prepare_data(200, validation_count=8, test_count=8, source_count=6)
    float32 = warm_epoch_seconds(data, "float32")
    mixed = warm_epoch_seconds(data, "mixed_float16")
    return table.row(MEASURE, mixed, float32, "s", "-", True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print the row as one JSON line")
    arguments = parser.parse_args(argv)
    result = measure()
    print(json.dumps(result) if arguments.json else table.markdown([result]))


if __name__ == "__main__":
    main()
