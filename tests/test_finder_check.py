"""finder_check's own behaviour (helpers/lessons/finder_check.py): arguments checked before any
training, and a grid rate the divergence guard stops. Lesson 05's claims from its stored comparison
are in tests/test_claims_lesson05.py.
"""

import math
import re

import numpy as np
import pytest

from helpers.finetune import head_training, models
from helpers.lessons import finder_check, pretrained, target_task

COMPARISONS = finder_check.load_comparisons()


def tiny_data():
    return target_task.prepare_data(
        2, validation_count=8, test_count=8, source_count=1, image_size=32
    )


@pytest.mark.parametrize(
    ("function", "arguments", "message"),
    [
        (
            finder_check.compare_phase_one,
            {"epochs": 0},
            "epochs must be an int >= 1. Received: epochs=0",
        ),
        (
            finder_check.compare_phase_one,
            {"grid": [1e-3, 1e-3]},
            "grid must hold distinct values. Received: grid=[0.001, 0.001]",
        ),
        (
            finder_check.compare_phase_one,
            {"grid": [1e-3, -1.0]},
            "grid[1] must be a positive, finite number. Received: grid[1]=-1.0",
        ),
        (
            finder_check.compare_phase_two,
            {"head_epochs": np.float64(2.0)},
            "head_epochs must be an int >= 1. Received: head_epochs=np.float64(2.0)",
        ),
        (
            finder_check.compare_phase_two,
            {"seed": -1},
            "seed must be an int >= 0. Received: seed=-1",
        ),
        (
            finder_check.compare_phase_two,
            {"data": "shapes"},
            "data must be a target_task.TaskData. Received: data='shapes'",
        ),
    ],
)
def test_the_comparisons_reject_bad_arguments_before_training(function, arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        function(**{"data": tiny_data(), **arguments})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"features": np.full((4, 3), np.nan)},
            "features must be finite. Received: features with 12 NaN or inf values",
        ),
        (
            {"labels": [0, 1, 2, 4]},
            "labels must be in [0, 4). Received: labels with values [4]",
        ),
        ({"seed": 1.5}, "seed must be an int >= 0. Received: seed=1.5"),
    ],
)
def test_range_test_new_head_rejects_bad_arguments(arguments, message):
    arguments = {"features": np.ones((4, 3)), "labels": [0, 1, 2, 3], **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        finder_check.range_test_new_head(**arguments)


def test_range_test_unfrozen_rejects_raw_pixels_before_unfreezing_anything():
    model, base_model = pretrained.build_mobilenet_v2(
        target_task.NUM_CLASSES, image_size=32, weights=None
    )
    models.freeze(base_model)
    images = np.full((4, 32, 32, 3), 255, "uint8")
    message = "images must be preprocessed floats in [-1, 1] (mobilenet_v2.preprocess_input)"
    with pytest.raises(ValueError, match=re.escape(message)):
        finder_check.range_test_unfrozen(model, base_model, images, [0, 1, 2, 3])
    assert not base_model.trainable


def test_format_table_ratio_and_load_comparisons_reject_bad_arguments():
    with pytest.raises(ValueError, match=re.escape("comparisons[0] must be a Comparison")):
        finder_check.format_table(["phase 1"])
    with pytest.raises(
        ValueError, match=re.escape("Received: name='vally'. Did you mean 'valley'?")
    ):
        COMPARISONS[0].ratio("vally")
    message = (
        "path must name the JSON file scripts/finder_vs_grid.py writes. Received: path=nowhere"
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        finder_check.load_comparisons("nowhere")
    with pytest.raises(ValueError, match=re.escape("path must be a str or path. Received: path=3")):
        finder_check.load_comparisons(3)


def test_phase_one_trains_the_same_head_whichever_set_it_evaluates():
    # compare_phase_one trains each rate twice, evaluated on validation and then on test: the
    # training itself must not depend on the set evaluated.
    rng = np.random.default_rng(0)
    train = (rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 4, 64))
    held_out = [(rng.normal(size=(16, 8)).astype("float32"), rng.integers(0, 4, 16)) for _ in "ab"]
    histories = [
        head_training.train_head(train, split, 1e-2, 4, epochs=3, seed=1) for split in held_out
    ]
    assert histories[0]["loss"] == histories[1]["loss"]
    assert histories[0]["val_loss"] != histories[1]["val_loss"]


def test_a_phase_two_grid_rate_the_guard_stops_counts_as_diverged():
    # 8 images: one batch per epoch, so three epochs give the guard three steps to compare.
    comparison = finder_check.compare_phase_two(tiny_data(), head_epochs=1, grid=[1e-3, 1e3])
    for losses in (comparison.validation_losses, comparison.test_losses):
        assert math.isfinite(losses[0]) and math.isnan(losses[1])
    assert comparison.best_rate == 1e-3
    assert comparison.best_test_loss == comparison.test_losses[0]
