"""Lesson 08's replicated fine-tuning run: one setting shared by one device, two and two workers.

Lesson 08 fine-tunes the same model on the same images three ways, with
`distribution.fine_tune_replicated`: on one device with the global batch, under a
`MirroredStrategy` over two logical CPU devices, and in two worker processes under a
`MultiWorkerMirroredStrategy` (`workers.launch`, which runs `helpers/lessons/scaling_worker.py`).
This module holds what they share, so the three runs differ only in the strategy:

- `demo_data(seed)`: a few training images of the offline target task;
- `build_model(seed)`: the bundled base with a seeded random logits head and no dropout (dropout
  draws its masks per replica, so it would make runs differ by more than rounding);
- `run(strategy, ...)`: the fine-tuning call with the lesson's settings.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from helpers.finetune import distribution, validation
from helpers.lessons import pretrained, target_task

IMAGES_PER_CLASS = 8  # 32 training images: 2 global batches of 16
PER_REPLICA_BATCH_SIZE = 8
REPLICAS = 2
LEARNING_RATE = 1e-3  # SGD with momentum, phase 2
EPOCHS = 2


def demo_data(seed: int = 0, image_size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """The training images and labels every run of the demo fine-tunes on.

    Example:

    >>> images, labels = demo_data(image_size=32)
    >>> images.shape, labels.shape
    ((32, 32, 32, 3), (32,))
    """
    data = target_task.prepare_data(
        IMAGES_PER_CLASS,
        validation_count=1,
        test_count=1,
        source_count=1,
        image_size=image_size,
        seed=seed,
    )
    return data.train


def build_model(seed: int = 0, image_size: int = 96) -> tuple[keras.Model, keras.Model]:
    """The bundled base with a seeded random head and no dropout: the same weights every call.

    Example:

    >>> first, _ = build_model(image_size=32)
    >>> second, _ = build_model(image_size=32)
    >>> all(np.array_equal(a, b) for a, b in zip(first.get_weights(), second.get_weights()))
    True
    """
    seed = validation.check_int("seed", seed, minimum=0)
    keras.utils.set_random_seed(seed)
    return pretrained.build_mobilenet_v2(
        target_task.NUM_CLASSES, image_size=image_size, dropout=0.0
    )


def run(
    strategy: tf.distribute.Strategy,
    per_replica_batch_size: int = PER_REPLICA_BATCH_SIZE,
    learning_rate: float = LEARNING_RATE,
    epochs: int = EPOCHS,
    gradient_accumulation_steps: int | None = None,
    seed: int = 0,
    image_size: int = 96,
) -> keras.Model:
    """Fine-tunes the demo model on the demo images under `strategy`; returns the model.

    Example:

    >>> model = run(tf.distribute.get_strategy(), per_replica_batch_size=16, epochs=1,
    ...             image_size=32)
    >>> int(model.optimizer.iterations.numpy())  # 32 images in batches of 16
    2
    """
    return distribution.fine_tune_replicated(
        strategy,
        lambda: build_model(seed, image_size),
        demo_data(seed, image_size),
        per_replica_batch_size,
        learning_rate,
        epochs=epochs,
        optimizer="sgd",
        gradient_accumulation_steps=gradient_accumulation_steps,
        seed=seed,
    )


def largest_difference(first: keras.Model, second: keras.Model) -> float:
    """The largest absolute difference between two models' weights, over every weight.

    Example:

    >>> model, _ = build_model(image_size=32)
    >>> largest_difference(model, model)
    0.0
    """
    validation.check_instance("first", first, keras.Model, "a keras.Model")
    validation.check_instance("second", second, keras.Model, "a keras.Model")
    return weights_difference(first.get_weights(), second.get_weights())


def weights_difference(first: list[np.ndarray], second: list[np.ndarray]) -> float:
    """The largest absolute difference between two lists of weight arrays of the same shapes."""
    if len(first) != len(second) or any(
        a.shape != b.shape for a, b in zip(first, second, strict=False)
    ):
        raise ValueError(
            "second must hold weights of the same shapes as first. "
            f"Received: {len(first)} and {len(second)} arrays"
        )
    return max(float(np.max(np.abs(a - b))) for a, b in zip(first, second, strict=True))
