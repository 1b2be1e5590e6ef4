"""The measured claims of lesson 03, on the bundled base and small subsets of the target task.

Each claim is checked for three seeds; a seed picks the images, the head's initial weights and the
shuffling.
"""

import math

import keras
import numpy as np
import pytest

from helpers.finetune import head_training
from helpers.lessons import head_sweep, pretrained, shapes_data

pytestmark = pytest.mark.slow

SEEDS = [0, 1, 2]
TRAIN_COUNT = 200  # the notebook uses 800 in full mode; the claims already hold at this size
VALIDATION_COUNT = 200
EPOCHS = 10  # the notebook trains 20 epochs in full mode
LEARNING_RATES = (1e-1, 1e-2, 1e-3, 1e-4)  # the notebook's sweep


@pytest.fixture(scope="module")
def base_model():
    _, base_model = pretrained.build_mobilenet_v2(
        len(shapes_data.TARGET_CLASSES), 96, weights="bundled"
    )
    return base_model


def features_of(base_model, split: str, count: int, seed: int):
    images, labels = shapes_data.make_images("target", split, count, image_size=96, seed=seed)
    inputs = keras.applications.mobilenet_v2.preprocess_input(images.astype("float32"))
    return head_training.pooled_features(base_model, inputs), labels


@pytest.fixture(scope="module")
def sweeps(base_model):
    """For each seed: the validation features and labels, and the notebook's sweep of head rates."""
    outcome = {}
    for seed in SEEDS:
        train = features_of(base_model, "train", TRAIN_COUNT, seed)
        validation = features_of(base_model, "validation", VALIDATION_COUNT, seed)
        results = head_sweep.sweep_learning_rates(
            train, validation, LEARNING_RATES, epochs=EPOCHS, seed=seed
        )
        outcome[seed] = (validation, results)
    return outcome


@pytest.mark.parametrize("seed", SEEDS)
def test_a_fresh_head_starts_near_ln_4(sweeps, seed):
    # "The first loss is close to ln(4), about 1.39: within 0.15 of ln(4) for three seeds."
    (features, labels), _ = sweeps[seed]
    keras.utils.set_random_seed(seed)
    head = head_training.build_head(features.shape[1], 4)
    head.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    assert abs(head.evaluate(features, labels, verbose=0) - math.log(4)) < 0.15


def final(results, metric: str) -> dict[float, float]:
    return {learning_rate: history[metric][-1] for learning_rate, history in results.items()}


@pytest.mark.parametrize("seed", SEEDS)
def test_the_seeds_rate_1e_4_ends_with_the_lowest_validation_accuracy(sweeps, seed):
    accuracy = final(sweeps[seed][1], "val_accuracy")
    assert accuracy[1e-4] < min(accuracy[rate] for rate in (1e-1, 1e-2, 1e-3))


@pytest.mark.parametrize("seed", SEEDS)
def test_rate_1e_1_ends_with_a_higher_validation_loss_than_1e_2_and_1e_3(sweeps, seed):
    loss = final(sweeps[seed][1], "val_loss")
    assert loss[1e-1] > max(loss[1e-2], loss[1e-3])


@pytest.mark.parametrize("seed", SEEDS)
def test_rate_1e_1_validation_loss_jumps_between_epochs(sweeps, seed):
    # "jumps from epoch to epoch": it rises on some epochs, and more often than at 1e-3.
    def rises(values):
        return int(np.sum(np.diff(values) > 0))

    results = sweeps[seed][1]
    assert rises(results[1e-1]["val_loss"]) > rises(results[1e-3]["val_loss"])


@pytest.mark.parametrize("seed", SEEDS)
def test_the_lowest_validation_loss_is_at_1e_2_or_1e_3(sweeps, seed):
    loss = final(sweeps[seed][1], "val_loss")
    assert min(loss, key=loss.get) in (1e-2, 1e-3)
