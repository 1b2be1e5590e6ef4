"""Runs lesson 08's demo four ways in a fresh process and prints how far their weights differ.

`tests/test_distribution.py` runs this as `python -m tests.replicated_runs`: splitting the CPU into
two logical devices must happen before TensorFlow fixes its devices, which a test process that
already ran TensorFlow cannot undo. Every run has the global batch 16, but the last:

- "one device": the default strategy, batches of 16;
- "mirrored": `MirroredStrategy` over 2 logical CPUs, 8 images per replica;
- "accumulated": one device, batches of 8, gradients of 2 batches averaged per update;
- "batch 8": one device, batches of 8 and an update after each: another run, as a control.

Prints one JSON object: each run's largest absolute weight difference from "one device", and
the largest weight change of "one device" itself from the starting weights.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

from helpers.lessons import course  # noqa: E402

IMAGE_SIZE = 32


def main() -> None:
    course.import_tensorflow_quietly()
    import tensorflow as tf

    from helpers.finetune import distribution
    from helpers.lessons import scaling_demo

    devices = distribution.split_cpu(2)
    one_device = scaling_demo.run(tf.distribute.get_strategy(), 16, image_size=IMAGE_SIZE)
    start, _ = scaling_demo.build_model(image_size=IMAGE_SIZE)
    runs = {
        "mirrored": scaling_demo.run(distribution.mirrored_strategy(2), 8, image_size=IMAGE_SIZE),
        "accumulated": scaling_demo.run(
            tf.distribute.get_strategy(), 8, gradient_accumulation_steps=2, image_size=IMAGE_SIZE
        ),
        "batch 8": scaling_demo.run(tf.distribute.get_strategy(), 8, image_size=IMAGE_SIZE),
    }
    result = {
        name: scaling_demo.largest_difference(model, one_device) for name, model in runs.items()
    }
    result["training moved"] = scaling_demo.largest_difference(start, one_device)
    result["devices"] = devices
    result["iterations"] = {
        name: int(model.optimizer.iterations.numpy()) for name, model in runs.items()
    }
    print(json.dumps(result))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
