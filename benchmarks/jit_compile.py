"""Benchmark: training speed of MobileNetV2 on CPU with XLA (`jit_compile=True`) vs Keras's default ("auto").

Why: the course leaves `jit_compile` on "auto" because XLA is much slower on these CPUs. This measures it
side by side in one run and prints the ratio.

Run: .venv/bin/python benchmarks/jit_compile.py [--images 256] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402


def seconds_per_epoch(
    jit_compile: bool | str, images: np.ndarray, labels: np.ndarray, repeats: int
) -> float:
    """Best-of-`repeats` time of one training epoch, after a warm-up epoch that traces and compiles."""
    keras.utils.set_random_seed(0)
    base_model = keras.applications.MobileNetV2(
        input_shape=images.shape[1:], alpha=0.35, include_top=False, weights=None
    )
    inputs = keras.Input(images.shape[1:])
    features = keras.layers.GlobalAveragePooling2D()(base_model(inputs, training=False))
    model = keras.Model(inputs, keras.layers.Dense(10)(features))
    model.compile(
        optimizer=keras.optimizers.Adam(1e-4),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    model.fit(
        images, labels, batch_size=32, epochs=1, verbose=0
    )  # warm-up: tracing and compilation
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(images, labels, batch_size=32, epochs=1, verbose=0)
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256, help="training images per epoch")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed epochs per setting (best is kept)"
    )
    arguments = parser.parse_args()
    rng = np.random.default_rng(0)
    images = rng.uniform(-1, 1, (arguments.images, 96, 96, 3)).astype("float32")
    labels = rng.integers(0, 10, arguments.images)
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores")
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}")
    print(
        f"MobileNetV2 alpha 0.35, 96x96, {arguments.images} images, batch 32, best of {arguments.repeats} epochs"
    )
    results = {
        setting: seconds_per_epoch(setting, images, labels, arguments.repeats)
        for setting in ["auto", True]
    }
    for setting, seconds in results.items():
        print(
            f"jit_compile={setting!s:5}  {seconds:6.2f} s/epoch  {arguments.images / seconds:7.1f} images/s"
        )
    print(f"ratio jit_compile=True / auto: {results[True] / results['auto']:.1f}x slower")


if __name__ == "__main__":
    main()
