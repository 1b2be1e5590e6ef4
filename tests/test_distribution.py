"""Tests of `helpers/finetune/distribution.py`: one device, two mirrored replicas and gradient
accumulation give the same update for the same global batch.

The runs themselves happen in a fresh process (`tests/replicated_runs.py`), whose CPU is split
into two logical devices before TensorFlow fixes its devices. Measured on 2 cores (2026-12-03,
seed 0, image size 32, 2 epochs of 32 images): the mirrored and the accumulated runs' weights
differed from the one-device run's by at most 1.5e-8, with default threads and with one thread
(`TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1`); training moved the weights by 2.0e-3 and a
run with another global batch (8) ended 3.5e-3 away. The tolerance, 1e-6, is about 70 times the
spread and 2,000 times smaller than the control's difference.
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import distribution
from helpers.lessons import course, scaling_demo

TOLERANCE = 1e-6  # 70x the measured spread (module docstring)


@pytest.fixture(scope="module")
def replicated() -> dict:
    """The four runs of `tests/replicated_runs.py`, in a fresh process."""
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0"}
    completed = subprocess.run(
        [sys.executable, "-m", "tests.replicated_runs"],
        cwd=course.COURSE_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_the_cpu_was_split_into_two_devices(replicated):
    assert replicated["devices"] == ["/device:CPU:0", "/device:CPU:1"]


def test_two_mirrored_replicas_match_one_device_with_the_same_global_batch(replicated):
    assert replicated["mirrored"] <= TOLERANCE


def test_accumulated_gradients_match_one_large_batch(replicated):
    assert replicated["accumulated"] <= TOLERANCE


def test_the_tolerance_tells_another_batch_size_apart(replicated):
    # The control: updates after every 8 images land far outside the tolerance, and training
    # moved the weights by much more than the tolerance, so a match is not trivially true.
    assert replicated["batch 8"] > 100 * TOLERANCE
    assert replicated["training moved"] > 100 * TOLERANCE


def test_every_run_took_the_steps_its_batches_make(replicated):
    # 32 images x 2 epochs: 4 updates of 16; batches of 8 make 8 optimizer steps. Keras counts
    # one iteration per applied update under accumulation (2 batches each).
    assert replicated["iterations"] == {"mirrored": 4, "accumulated": 4, "batch 8": 8}


def test_global_batch_is_per_replica_batch_times_replicas():
    assert distribution.global_batch_size(8, 2) == 16
    assert distribution.global_batch_size(np.int64(3), np.int32(4)) == 12


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ((0, 2), "per_replica_batch_size must be an int >= 1. Received: per_replica_batch_size=0"),
        ((8, 1.5), "replicas must be an int >= 1. Received: replicas=1.5"),
    ],
)
def test_global_batch_rejects_bad_input(arguments, message):
    with pytest.raises(ValueError, match=message.replace(".", r"\.").replace("(", r"\(")):
        distribution.global_batch_size(*arguments)


def test_split_cpu_after_tensorflow_fixed_its_devices_says_to_restart():
    count = len(distribution.logical_cpu_names())
    assert distribution.split_cpu(count) == distribution.logical_cpu_names()
    with pytest.raises(RuntimeError, match="Restart the kernel"):
        distribution.split_cpu(count + 1)


def test_mirrored_strategy_needs_enough_devices():
    count = len(distribution.logical_cpu_names()) + 1
    with pytest.raises(ValueError, match=f"Received: count={count}.*call split_cpu"):
        distribution.mirrored_strategy(count)
    with pytest.raises(ValueError, match="count must be an int >= 1. Received: count=0"):
        distribution.mirrored_strategy(0)


def test_one_replica_runs_on_one_device():
    assert distribution.mirrored_strategy(1).num_replicas_in_sync == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"strategy": "mirrored"}, "strategy must be a tf.distribute.Strategy"),
        ({"build_model": None}, "build_model must be a callable"),
        ({"train_data": np.zeros((2, 32, 32, 3))}, "train_data must be a tuple"),
        ({"per_replica_batch_size": 0}, "per_replica_batch_size must be an int >= 1"),
        ({"learning_rate": -1.0}, "learning_rate must be"),
        ({"epochs": 0}, "epochs must be an int >= 1"),
        ({"gradient_accumulation_steps": 1}, "gradient_accumulation_steps must be an int >= 2"),
        ({"train_data": (np.zeros((2, 32, 32, 3), "float32"), np.array([0, 9]))}, "labels"),
    ],
)
def test_fine_tune_replicated_rejects_bad_input_before_training(changes, message):
    arguments = {
        "strategy": tf.distribute.get_strategy(),
        "build_model": lambda: scaling_demo.build_model(image_size=32),
        "train_data": (np.zeros((2, 32, 32, 3), "float32"), np.array([0, 1])),
        "per_replica_batch_size": 2,
        "learning_rate": 1e-3,
        **changes,
    }
    with pytest.raises(ValueError, match=message):
        distribution.fine_tune_replicated(**arguments)
