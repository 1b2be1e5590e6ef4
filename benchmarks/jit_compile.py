"""Benchmark: MobileNetV2 training speed on CPU with XLA (`jit_compile=True`) vs Keras's "auto".

Why: the course leaves `jit_compile` on "auto" because XLA is much slower on these CPUs. This
measures it side by side in one run and prints the ratio.

Run: .venv/bin/python benchmarks/jit_compile.py [--images 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
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
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from helpers.finetune import models, validation  # noqa: E402

IMAGE_SIZE = 96
NUM_CLASSES = 10
BATCH_SIZE = 32


def seconds_per_epoch(
    jit_compile: bool | str, images: np.ndarray, labels: np.ndarray, repeats: int
) -> float:
    """Best-of-`repeats` time of one training epoch, after a warm-up epoch that compiles.

    The model is the course's: `models.build_mobilenet_v2` (alpha 0.35, random weights, no
    dropout), every weight trainable and BatchNormalization in inference mode, as in phase 2.
    """
    keras.utils.set_random_seed(0)
    model, _ = models.build_mobilenet_v2(NUM_CLASSES, image_size=IMAGE_SIZE, dropout=0)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    # Warm-up: tracing and compilation.
    model.fit(images, labels, batch_size=BATCH_SIZE, epochs=1, verbose=0)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(images, labels, batch_size=BATCH_SIZE, epochs=1, verbose=0)
        timings.append(time.perf_counter() - start)
    return min(timings)


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line; an option out of range ends the script with its message."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="training images per epoch")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed epochs per setting (best is kept)"
    )
    arguments = parser.parse_args(argv)
    try:
        validation.check_int("--images", arguments.images, minimum=1)
        validation.check_int("--repeats", arguments.repeats, minimum=1)
    except ValueError as error:
        parser.error(str(error))
    return arguments


def main(argv: list[str] | None = None) -> None:
    """Times both settings on the same random images and prints them with their ratio."""
    arguments = parse_arguments(argv)
    rng = np.random.default_rng(0)
    image_shape = (arguments.images, IMAGE_SIZE, IMAGE_SIZE, 3)
    images = rng.uniform(-1, 1, image_shape).astype("float32")
    labels = rng.integers(0, NUM_CLASSES, arguments.images)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(
        f"MobileNetV2 alpha 0.35, {IMAGE_SIZE}x{IMAGE_SIZE}, {arguments.images} images, "
        f"batch {BATCH_SIZE}, best of {arguments.repeats} epochs"
    )
    seconds_by_setting = {
        setting: seconds_per_epoch(setting, images, labels, arguments.repeats)
        for setting in ["auto", True]
    }
    for setting, seconds in seconds_by_setting.items():
        images_per_second = arguments.images / seconds
        print(
            f"jit_compile={setting!s:5}  {seconds:6.2f} s/epoch  {images_per_second:7.1f} images/s"
        )
    ratio = seconds_by_setting[True] / seconds_by_setting["auto"]
    print(f"ratio jit_compile=True / auto: {ratio:.1f}x slower")


if __name__ == "__main__":
    main()
