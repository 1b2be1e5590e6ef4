"""The recipe with and without augmentation: the runs, what differs, the table, bad arguments."""

import re

import numpy as np
import pytest

from helpers.lessons import augmentation_study, rate_comparison

SOURCE_HEAD = (np.zeros((1280, 6), "float32"), np.zeros(6, "float32"))
TINY = {"held_out_counts": (8, 8, 6), "image_size": 32, "source_head": SOURCE_HEAD}
pytestmark = pytest.mark.filterwarnings(
    "ignore:Even though the `tf.config.experimental_run_functions_eagerly`"
)


@pytest.fixture(scope="module")
def rows() -> list[augmentation_study.AugmentationOutcome]:
    return augmentation_study.compare_augmentation([2], 1, 1, **TINY)


def test_each_size_runs_plain_then_augmented(rows):
    assert [row.label for row in rows] == ["2 per class, plain", "2 per class, augmented"]
    assert [row.images_per_class for row in rows] == [2, 2]
    assert [row.augmented for row in rows] == [False, True]
    assert all(row.phase_one_seconds > 0 for row in rows)


def test_augmentation_changes_what_phase_two_learns(rows):
    plain, augmented = rows
    assert plain.outcome.overall_drift > 0 and augmented.outcome.overall_drift > 0
    assert plain.outcome.overall_drift != augmented.outcome.overall_drift


def test_the_same_seed_repeats_a_run_exactly(rows):
    again = augmentation_study.compare_augmentation([2], 1, 1, **TINY)
    assert again[1].outcome.overall_drift == rows[1].outcome.overall_drift
    assert again[1].outcome.validation_loss == rows[1].outcome.validation_loss


def test_the_table_has_a_line_per_run(rows):
    lines = augmentation_study.format_table(rows).splitlines()
    assert lines[0].split() == ["run", "val", "loss", "test", "acc", "source", "acc", "phase", "1"]
    assert [line[:24].strip() for line in lines[1:]] == [row.label for row in rows]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"images_per_class_options": []}, "images_per_class_options must"),
        ({"images_per_class_options": [0]}, "Received: images_per_class_options[0]=0"),
        ({"head_epochs": 0}, "Received: head_epochs=0"),
        ({"held_out_counts": (8, 8)}, "held_out_counts must"),
        ({"held_out_counts": (8, 0, 6)}, "Received: held_out_counts[1]=0"),
        ({"image_size": 16}, "Received: image_size=16"),
    ],
)
def test_bad_arguments_fail_before_training(arguments, message):
    settings = {**TINY, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        augmentation_study.compare_augmentation(**settings)


def test_the_table_rejects_other_rows():
    outcome = rate_comparison.Outcome("head only", None, 0.8, 0.99, 0.0, {}, 0.7, 0.5)
    with pytest.raises(ValueError, match=re.escape("rows[0] must be an AugmentationOutcome")):
        augmentation_study.format_table([outcome])
