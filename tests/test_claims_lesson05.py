"""Lesson 05's measurable sentences, each checked, and finder_check's own behaviour.

The stored finder-versus-grid results say what the lesson says, the current code reproduces them,
and the range test before phase 2 suggests a much smaller rate.
"""

import math
import re

import keras
import numpy as np
import pytest
from finder_vs_grid import SETTINGS

from helpers.finetune import head_training, lr_suggestions, models, two_phase
from helpers.lessons import finder_check, pretrained, target_task

COMPARISONS = finder_check.load_comparisons()
PHASE_ONE = [row for row in COMPARISONS if row.phase == 1]
PHASE_TWO = [row for row in COMPARISONS if row.phase == 2]


def within_three_times(ratio):
    return 1 / 3 <= ratio <= 3


def test_the_stored_comparison_has_both_phases_and_three_seeds():
    assert [row.seed for row in PHASE_ONE] == [row.seed for row in PHASE_TWO] == [0, 1, 2]
    for row in COMPARISONS:
        assert row.best_rate == row.grid[int(np.nanargmin(row.losses))]
        assert row.best_loss == min(row.losses)


def test_the_valley_lands_within_three_times_in_three_of_six_runs_and_misses_on_the_small_side():
    # "within 3x of the grid-best rate in 3 of the 6 runs (phase 1 seeds 0 and 1, phase 2 seed 1)"
    hits = {(row.phase, row.seed) for row in COMPARISONS if within_three_times(row.ratio("valley"))}
    assert hits == {(1, 0), (1, 1), (2, 1)}
    # "where it misses, it errs on the small side, by 3.2x to 6.3x"
    misses = [1 / row.ratio("valley") for row in COMPARISONS if (row.phase, row.seed) not in hits]
    assert all(miss > 3 for miss in misses)
    assert (round(min(misses), 1), round(max(misses), 1)) == (3.2, 6.3)


def test_in_phase_two_the_valley_is_below_the_grid_best_and_minimum_tenth_within_three_times():
    # "in phase 2 the valley sits 2.2x to 3.9x below the grid-best rate in every seed"
    below = [1 / row.ratio("valley") for row in PHASE_TWO]
    assert (round(min(below), 1), round(max(below), 1)) == (2.2, 3.9)
    # "minimum / 10 landed within 3x in all three seeds of phase 2 ... but overshoots in phase 1, up
    # to 11x"
    assert all(within_three_times(row.ratio("minimum_tenth")) for row in PHASE_TWO)
    assert round(max(row.ratio("minimum_tenth") for row in PHASE_ONE)) == 11


def test_training_at_the_valley_costs_at_most_a_fifth_more_held_out_loss():
    # "training at the valley rate ends 0% to 22% above the grid's best held-out loss"
    excess = [row.valley_loss / row.best_loss - 1 for row in COMPARISONS]
    assert min(excess) > -0.01 and round(max(excess), 2) == 0.22


def test_both_methods_put_phase_two_ten_to_thirty_times_below_phase_one():
    # "the grid-best rate drops 10 to 32 times; the valley drops 16 to 24 times"
    pairs = list(zip(PHASE_ONE, PHASE_TWO, strict=True))
    grid_drop = [one.best_rate / two.best_rate for one, two in pairs]
    valley_drop = [one.suggestions["valley"] / two.suggestions["valley"] for one, two in pairs]
    assert (round(min(grid_drop)), round(max(grid_drop))) == (10, 32)
    assert (round(min(valley_drop)), round(max(valley_drop))) == (16, 24)


def test_the_stored_phase_one_comparison_is_reproduced_by_the_current_code():
    data = target_task.prepare_data(
        SETTINGS["images_per_class"], SETTINGS["test_count"], source_count=1, seed=0
    )
    fresh = finder_check.compare_phase_one(data, SETTINGS["phase_one_epochs"], seed=0)
    stored = PHASE_ONE[0]
    assert fresh.grid == stored.grid and fresh.best_rate == stored.best_rate
    # Rates that train stably reproduce to 0.1%. Above them the head diverges, and a diverged run
    # is chaotic: rounding differences (CPUs, thread counts) move its end (at rate 1: 21.2 stored,
    # 22.2 on another machine). Those rates are only checked to diverge again, never compared.
    fresh_losses, stored_losses = np.array(fresh.losses), np.array(stored.losses)
    diverged_level = 2 * math.log(target_task.NUM_CLASSES)
    stable = stored_losses < diverged_level
    np.testing.assert_allclose(fresh_losses[stable], stored_losses[stable], rtol=1e-3)
    assert np.all(fresh_losses[~stable] >= diverged_level)
    for name, rate in stored.suggestions.items():  # one step of the 100-step sweep is a factor 1.18
        assert fresh.suggestions[name] == pytest.approx(rate, rel=0.2), name


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_the_range_test_before_phase_two_suggests_a_rate_at_least_ten_times_smaller(seed):
    # A smaller setting than the stored run (8 images per class, 50 steps): the drop holds too.
    data = target_task.prepare_data(8, test_count=1, source_count=1, seed=seed)
    keras.utils.set_random_seed(seed)
    model, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES)
    features = head_training.pooled_features(base_model, data.train[0])
    options = {"num_steps": 50, "batch_size": 16, "seed": seed}
    before_phase_one = finder_check.range_test_new_head(features, data.train[1], **options)
    two_phase.fine_tune(
        model, base_model, data.train, head_epochs=5, fine_tune_epochs=0, seed=seed, verbose=0
    )
    before_phase_two = finder_check.range_test_unfrozen(model, base_model, *data.train, **options)
    assert before_phase_one.suggestions["valley"] >= 10 * before_phase_two.suggestions["valley"]


def test_the_card_shows_the_stored_table():
    card = (finder_check.RESULTS_PATH.parent / "finder_vs_grid_card.md").read_text()
    rerun = "rerun: python scripts/finder_vs_grid.py --card-only"
    assert finder_check.format_table(COMPARISONS) in card, rerun


@pytest.fixture(scope="module")
def lesson_features():
    data = target_task.prepare_data(30, test_count=1, source_count=1, seed=0)
    _, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES)
    return head_training.pooled_features(base_model, data.train[0]), data.train[1]


def test_smoothing_keras_running_mean_again_moves_the_suggestions(lesson_features):
    # "read that way, minimum / 10 lands 1.7 to 11 times higher over 5 seeds, and the valley moves
    # up to 6x"
    min_tenth_shift, valley_shift = [], []
    for seed in range(5):
        result = finder_check.range_test_new_head(*lesson_features, seed=seed)
        # Keras's logs["loss"]: the running mean of the epoch so far.
        steps_so_far = np.arange(1, len(result.losses) + 1)
        running_mean = np.cumsum(result.losses) / steps_so_far
        moved = lr_suggestions.suggest(
            result.learning_rates, lr_suggestions.smooth(running_mean), result.num_steps
        )
        min_tenth_shift.append(moved["minimum_tenth"] / result.suggestions["minimum_tenth"])
        valley_shift.append(moved["valley"] / result.suggestions["valley"])
    assert round(min(min_tenth_shift), 1) >= 1.7 and round(max(min_tenth_shift)) == 11
    assert round(max(max(shift, 1 / shift) for shift in valley_shift)) == 6


# finder_check's own behaviour: argument checks (before any training) and the phase-2 guard.


def tiny_data():
    return target_task.prepare_data(2, test_count=8, source_count=1, image_size=32)


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


def test_a_phase_two_grid_rate_the_guard_stops_counts_as_diverged():
    # 8 images: one batch per epoch, so three epochs give the guard three steps to compare.
    comparison = finder_check.compare_phase_two(tiny_data(), head_epochs=1, grid=[1e-3, 1e3])
    assert math.isfinite(comparison.losses[0]) and math.isnan(comparison.losses[1])
    assert comparison.best_rate == 1e-3 and comparison.best_loss == comparison.losses[0]
