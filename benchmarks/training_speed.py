"""Benchmark: the course's training paths against the plain Keras way, side by side in one run.

Six comparisons on the lesson's task (800 images at 96x96, the bundled MobileNetV2 base):

- **Phase 1**: the head on features cached by `head_training.pooled_features` (the feature pass
  counted) against the seed's way, `fit` of the full model through the frozen base, after 5 and
  20 epochs, and per epoch once both are warm.
- **Phase 2**: `two_phase.fine_tune` against a bare `tf.function` training step on the same
  batches, per epoch once both are traced (throughput: bare seconds / helper seconds).
- **Augmentation's price** (lesson 06): phase 1 with `augmentation.build_augmentation`, which
  runs the frozen base on every augmented batch of every epoch, against cached features, for 10
  epochs, tracing included.
- **Discriminative rates** (lesson 07): a warm phase-2 epoch with one `MultiOptimizer` holding an
  Adam per layer group (`discriminative_rates`) against one Adam for the whole model.
- **A 4-rate phase-2 sweep**: how many training steps it traces and what each run costs.
- **The range test** (`lr_finder.find_learning_rate`, 100 steps) against 100 plain `fit` steps.

Each timing starts from a freshly built model, so every one pays its own tracing where it has
one. Run: .venv/bin/python benchmarks/training_speed.py [--images-per-class 200] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import pathlib
import statistics
import sys
import time

# Run from anywhere: find `helpers` and `benchmarks`.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks import table  # noqa: E402
from helpers.finetune import (  # noqa: E402
    augmentation,
    discriminative_rates,
    layer_groups,
    lr_finder,
    models,
    restarts,
    stages,
    training_inputs,
    two_phase,
    validation,
)
from helpers.lessons import pretrained, target_task  # noqa: E402

BATCH_SIZE = 32
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
SWEEP_RATES = (1e-3, 3e-4, 1e-4, 3e-5)
RANGE_TEST_STEPS = 100


class EpochClock(keras.callbacks.Callback):
    """Records the seconds from its creation to the end of each epoch."""

    def __init__(self) -> None:
        super().__init__()
        self.start = time.perf_counter()
        self.epoch_ends: list[float] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch_ends.append(time.perf_counter() - self.start)

    def warm_epoch_seconds(self) -> float:
        """The median length of the epochs after the first (which traces)."""
        lengths = np.diff(self.epoch_ends)
        return float(statistics.median(lengths))


def fresh_pair() -> tuple[keras.Model, keras.Model]:
    keras.utils.set_random_seed(0)
    return pretrained.build_mobilenet_v2(target_task.NUM_CLASSES)


def quietly(function, *args, **kwargs):
    """Calls `function` with its printed notes swallowed."""
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


def phase_one_rows(data: target_task.TaskData, epochs: int = 20) -> list[dict]:
    """Cached phase 1 (feature pass counted) against the seed's `fit` through the frozen base."""
    model, base_model = fresh_pair()
    base_model.trainable = False
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=LOSS, metrics=["accuracy"])
    seeds_clock = EpochClock()
    model.fit(*data.train, epochs=epochs, batch_size=BATCH_SIZE, callbacks=[seeds_clock], verbose=0)

    model, base_model = fresh_pair()
    cached_clock = EpochClock()  # started before the feature pass
    quietly(
        two_phase.fine_tune,
        model,
        base_model,
        data.train,
        head_epochs=epochs,
        fine_tune_epochs=0,
        callbacks=[cached_clock],
        verbose=0,
    )
    rows = []
    for at_epoch in (5, epochs):
        ours = cached_clock.epoch_ends[at_epoch - 1]
        reference = seeds_clock.epoch_ends[at_epoch - 1]
        goal_met = reference / ours >= 3 if at_epoch == 5 else True
        goal = ">= 3x" if at_epoch == 5 else "-"
        rows.append(
            table.row(
                f"phase 1, {at_epoch} epochs incl. feature pass: seed's fit / cached",
                ours,
                reference,
                "s",
                goal,
                goal_met,
            )
        )
    ours = cached_clock.warm_epoch_seconds()
    reference = seeds_clock.warm_epoch_seconds()
    rows.append(
        table.row("phase 1, one warm epoch: seed's fit / cached", ours, reference, "s", "-", True)
    )
    return rows


def augmentation_rows(data: target_task.TaskData, epochs: int = 10) -> list[dict]:
    """Phase 1 with augmentation (the base runs every epoch) against cached features (lesson 06)."""
    seconds = {}
    for augmented in (False, True):
        model, base_model = fresh_pair()
        layer = augmentation.build_augmentation(seed=0) if augmented else None
        start = time.perf_counter()
        quietly(
            two_phase.fine_tune,
            model,
            base_model,
            data.train,
            head_epochs=epochs,
            fine_tune_epochs=0,
            augmentation=layer,
            verbose=0,
        )
        seconds[augmented] = time.perf_counter() - start
    measure = f"phase 1, {epochs} epochs incl. traces: augmented / cached features"
    return [table.row(measure, seconds[False], seconds[True], "s", "-", True)]


def bare_step_epoch_seconds(data: target_task.TaskData, epochs: int) -> float:
    """A warm epoch of a bare `tf.function` training step on the unfrozen model."""
    model, base_model = fresh_pair()
    models.unfreeze(base_model)
    optimizer = keras.optimizers.Adam(two_phase.FINE_TUNE_LEARNING_RATE)
    images, labels = data.train
    batches = [
        (
            tf.constant(images[start : start + BATCH_SIZE]),
            tf.constant(labels[start : start + BATCH_SIZE]),
        )
        for start in range(0, len(labels), BATCH_SIZE)
    ]

    @tf.function
    def train_step(batch_images: tf.Tensor, batch_labels: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = LOSS(batch_labels, model(batch_images, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss

    epoch_ends = []
    start = time.perf_counter()
    for _ in range(epochs):
        for batch_images, batch_labels in batches:
            loss = train_step(batch_images, batch_labels)
        float(loss)  # wait for the last step
        epoch_ends.append(time.perf_counter() - start)
    return float(statistics.median(np.diff(epoch_ends)))


def fine_tune_epoch_seconds(data: target_task.TaskData, epochs: int = 3) -> float:
    """A warm epoch of `two_phase.fine_tune`'s phase 2 on a freshly built model."""
    model, base_model = fresh_pair()
    clock = EpochClock()
    two_phase.fine_tune(
        model,
        base_model,
        data.train,
        head_epochs=0,
        fine_tune_epochs=epochs,
        callbacks=[clock],
        verbose=0,
    )
    return clock.warm_epoch_seconds()


def phase_two_rows(data: target_task.TaskData, epochs: int = 3) -> list[dict]:
    """`two_phase.fine_tune`'s phase 2 against a bare compiled step, warm epoch against epoch."""
    reference = bare_step_epoch_seconds(data, epochs)
    ours = fine_tune_epoch_seconds(data, epochs)
    throughput = reference / ours
    return [
        table.row(
            "phase 2, one warm epoch: throughput of fine_tune / bare step",
            ours,
            reference,
            "s",
            ">= 0.9x",
            throughput >= 0.9,
        )
    ]


def discriminative_rows(data: target_task.TaskData, epochs: int = 4) -> list[dict]:
    """A warm phase-2 epoch: an Adam per layer group (`MultiOptimizer`) against one Adam."""
    seconds = {}
    for discriminative in (False, True):
        model, base_model = fresh_pair()
        models.unfreeze(base_model)
        groups = layer_groups.mobilenet_v2_groups(model, base_model)
        optimizer = keras.optimizers.Adam(two_phase.FINE_TUNE_LEARNING_RATE)
        if discriminative:
            rates = discriminative_rates.group_rates(list(groups), two_phase.HEAD_LEARNING_RATE)
            optimizer = discriminative_rates.discriminative_optimizer(groups, rates)
        train, _ = training_inputs.prepare(data.train, "train", model, BATCH_SIZE, 0)
        clock = EpochClock()
        stages.fit_stage(model, optimizer, train, None, 0, epochs, callbacks=[clock], verbose=0)
        seconds[discriminative] = clock.warm_epoch_seconds()
    measure = "phase 2, one warm epoch: one Adam / an Adam per layer group (7 groups)"
    return [table.row(measure, seconds[True], seconds[False], "s", "-", True)]


def sweep_rows(data: target_task.TaskData) -> list[dict]:
    """A phase-2 sweep over `SWEEP_RATES` on one restored model: its traces and run times."""
    model, base_model = fresh_pair()
    start = restarts.save_state(model)
    seconds = []
    traced_steps = set()
    for learning_rate in SWEEP_RATES:
        restarts.restore_state(model, start)
        began = time.perf_counter()
        two_phase.fine_tune(
            model,
            base_model,
            data.train,
            head_epochs=0,
            fine_tune_epochs=1,
            fine_tune_learning_rate=learning_rate,
            verbose=0,
        )
        seconds.append(time.perf_counter() - began)
        traced_steps.add(id(model.train_function))
    later = statistics.mean(seconds[1:])
    measure = (
        f"phase-2 sweep of {len(SWEEP_RATES)} rates, 1 epoch each: first run / a later run "
        f"({len(traced_steps)} traced step)"
    )
    return [table.row(measure, later, seconds[0], "s", "1 trace", len(traced_steps) == 1)]


def range_test_rows(data: target_task.TaskData) -> list[dict]:
    """The range test's seconds per step against plain `fit` steps, each run with its trace."""
    model, base_model = fresh_pair()
    models.unfreeze(base_model)
    model.compile(optimizer=keras.optimizers.Adam(), loss=LOSS)
    began = time.perf_counter()
    lr_finder.find_learning_rate(model, data.train, num_steps=RANGE_TEST_STEPS)
    ours = (time.perf_counter() - began) / RANGE_TEST_STEPS

    model, base_model = fresh_pair()
    models.unfreeze(base_model)
    model.compile(optimizer=keras.optimizers.Adam(), loss=LOSS)
    repeats = -(-RANGE_TEST_STEPS * BATCH_SIZE // len(data.train[1]))
    images = np.concatenate([data.train[0]] * repeats)
    labels = np.concatenate([data.train[1]] * repeats)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(BATCH_SIZE)
    began = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=RANGE_TEST_STEPS, shuffle=False, verbose=0)
    reference = (time.perf_counter() - began) / RANGE_TEST_STEPS
    cost = ours / reference
    return [
        table.row(
            f"range test, {RANGE_TEST_STEPS} steps: per-step cost / plain fit steps",
            # Reported as the cost of a step: reference / ours is its inverse.
            ours,
            reference,
            "s/step",
            "cost <= 1.15x",
            cost <= 1.15,
        )
    ]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    """Parses the command line; an option out of range ends the script with its message."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--images-per-class", type=int, default=200, help="target training images per class"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON row per line")
    arguments = parser.parse_args(argv)
    try:
        validation.check_int("--images-per-class", arguments.images_per_class, minimum=1)
    except ValueError as error:
        parser.error(str(error))
    return arguments


def main(argv: list[str] | None = None) -> None:
    """Runs the six comparisons and prints their rows."""
    arguments = parse_arguments(argv)
    data = target_task.prepare_data(
        arguments.images_per_class, validation_count=8, test_count=8, source_count=6
    )
    measurements = [
        phase_one_rows,
        augmentation_rows,
        phase_two_rows,
        discriminative_rows,
        sweep_rows,
        range_test_rows,
    ]
    for measure in measurements:
        for result in measure(data):
            if arguments.json:
                print(json.dumps(result), flush=True)
            else:
                print(
                    f"{result['measure']:<80} ours {result['ours']:8.3f} {result['unit']:<6} "
                    f"reference {result['reference']:8.3f}  ratio {result['ratio']:5.2f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
