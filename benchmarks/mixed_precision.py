"""Benchmark: phase 2 in float32 against mixed_float16 and mixed_bfloat16, on the CPU and a GPU.

On the CPU (inside `tf.device("/CPU:0")`, also where a GPU is present) it runs
`precision_comparison.compare_policies`: one head trained in float32, then a fresh copy fine-tuned
under each policy from the same start, side by side in one run. Two rows per mixed policy: a warm
epoch's seconds against float32's (a ratio below 1: the mixed policy is slower) and the
validation accuracy after the same short training. The data is small (32 images per class at
96x96, 64 validation images, 4 timed epochs) because mixed precision is slower on a CPU, not
faster. On a GPU it also times a warm epoch of `two_phase.fine_tune`'s phase 2 under float32 and
mixed_float16, each on a freshly built model; without a GPU that row is skipped, saying why.

Run: .venv/bin/python benchmarks/mixed_precision.py [--images-per-class 32] [--epochs 5] [--json]
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

import tensorflow as tf  # noqa: E402

from benchmarks import table, training_speed  # noqa: E402
from helpers.finetune import mixed_precision, validation  # noqa: E402
from helpers.lessons import precision_comparison, target_task  # noqa: E402

MEASURE = "phase 2 on a GPU, one warm epoch: float32 / mixed precision"
VALIDATION_COUNT = 64  # validation images: one image is 1/64 of accuracy
HEAD_EPOCHS = 2  # phase 1, float32, shared by every policy
SEED = 0


def warm_epoch_seconds(data: target_task.TaskData, policy: str) -> float:
    """A warm epoch of phase 2 on a fresh model built under `policy`."""
    with mixed_precision.policy(policy):
        return training_speed.fine_tune_epoch_seconds(data)


def measure() -> dict:
    """The GPU row: measured on a GPU, skipped elsewhere."""
    if not mixed_precision.gpu_available():
        return table.skipped(MEASURE, "no GPU on this machine")
    data = target_task.prepare_data(200, validation_count=8, test_count=8, source_count=6)
    float32 = warm_epoch_seconds(data, "float32")
    mixed = warm_epoch_seconds(data, "mixed_float16")
    return table.row(MEASURE, mixed, float32, "s", "-", True)


def cpu_rows(images_per_class: int, epochs: int) -> list[dict]:
    """Float32 against each mixed policy on the CPU: warm-epoch seconds and validation accuracy."""
    data = target_task.prepare_data(
        images_per_class, validation_count=VALIDATION_COUNT, test_count=8, source_count=6
    )
    with tf.device("/CPU:0"):
        outcomes = precision_comparison.compare_policies(
            data, head_epochs=HEAD_EPOCHS, fine_tune_epochs=epochs, seed=SEED
        )
    by_policy = {outcome.policy: outcome for outcome in outcomes}
    float32 = by_policy["float32"]
    images = len(data.train[1])
    rows = []
    for policy in mixed_precision.POLICIES[1:]:
        mixed = by_policy[policy]
        rows.append(
            table.row(
                f"phase 2 on the CPU ({images} images), one warm epoch: float32 / {policy}",
                mixed.warm_epoch_seconds,
                float32.warm_epoch_seconds,
                "s",
                "-",
                True,
            )
        )
        rows.append(
            table.row(
                f"phase 2 on the CPU, validation accuracy after {epochs} epochs: float32 / "
                f"{policy} ({VALIDATION_COUNT} images, seed {SEED})",
                mixed.validation_accuracy,
                float32.validation_accuracy,
                "acc",
                "-",
                True,
            )
        )
    return rows


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line; an option out of range ends the script with its message."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images-per-class", type=int, default=32, help="target training images per class"
    )
    parser.add_argument("--epochs", type=int, default=5, help="phase-2 epochs (the first traces)")
    parser.add_argument("--json", action="store_true", help="print one JSON row per line")
    arguments = parser.parse_args(argv)
    try:
        validation.check_int("--images-per-class", arguments.images_per_class, minimum=1)
        validation.check_int("--epochs", arguments.epochs, minimum=2)
    except ValueError as error:
        parser.error(str(error))
    return arguments


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    results = [*cpu_rows(arguments.images_per_class, arguments.epochs), measure()]
    if arguments.json:
        for result in results:
            print(json.dumps(result), flush=True)
    else:
        print(table.markdown(results))


if __name__ == "__main__":
    main()
