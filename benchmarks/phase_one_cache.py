"""Benchmark: phase 1 of `two_phase.fine_tune` on cached base features vs the full model per epoch.

Why: with the base frozen and no augmentation, the base maps each image to the same features every
epoch, so `two_phase.fine_tune` computes them once and trains the head alone. This measures what
that saves, side by side in one run (the uncached run turns caching off with an identity
"augmentation").

Run: .venv/bin/python benchmarks/phase_one_cache.py [--images-per-class 200] [--epochs 5]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import pathlib
import platform
import sys
import time

# Run from anywhere: find `helpers`.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402

from helpers.finetune import two_phase, validation  # noqa: E402
from helpers.lessons import pretrained, target_task  # noqa: E402


def phase_one_seconds(data: target_task.TaskData, epochs: int, cached: bool) -> tuple[float, float]:
    """Returns (seconds for phase 1, final validation accuracy) for one fresh model."""
    keras.utils.set_random_seed(0)
    model, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES, weights="bundled")
    augmentation = None if cached else keras.layers.Identity()
    start = time.perf_counter()
    # The helper prints which way phase 1 ran.
    with contextlib.redirect_stdout(io.StringIO()):
        history = two_phase.fine_tune(
            model,
            base_model,
            data.train,
            validation_data=data.target_test,
            head_epochs=epochs,
            fine_tune_epochs=0,
            augmentation=augmentation,
            verbose=0,
        )
    return time.perf_counter() - start, history.val_accuracy[-1]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line; an option out of range ends the script with its message."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images-per-class", type=int, default=200, help="target training images per class"
    )
    parser.add_argument("--epochs", type=int, default=5, help="phase-1 epochs")
    arguments = parser.parse_args(argv)
    try:
        validation.check_int("--images-per-class", arguments.images_per_class, minimum=1)
        validation.check_int("--epochs", arguments.epochs, minimum=1)
    except ValueError as error:
        parser.error(str(error))
    return arguments


def main(argv: list[str] | None = None) -> None:
    """Times phase 1 with and without the feature cache and prints both with their ratio."""
    arguments = parse_arguments(argv)
    data = target_task.prepare_data(arguments.images_per_class, test_count=200, source_count=6)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Keras {keras.__version__}")
    print(
        f"phase 1: {len(data.train[1])} images at 96x96, {arguments.epochs} epochs, "
        "bundled MobileNetV2 base"
    )
    cached = phase_one_seconds(data, arguments.epochs, cached=True)
    uncached = phase_one_seconds(data, arguments.epochs, cached=False)
    for label, (seconds, accuracy) in (("cached features", cached), ("full model", uncached)):
        print(f"{label:<16} {seconds:6.1f} s   validation accuracy {accuracy:.3f}")
    print(f"ratio full model / cached: {uncached[0] / cached[0]:.1f}x")


if __name__ == "__main__":
    main()
