"""Lesson 08's claims, checked against its stored study over three seeds and against arithmetic.

`scripts/batch_scaling_seeds.py` ran the batch-size study (64 images per class, phase 2 for 4
epochs at 5 batch sizes on a grid of rates, SGD with momentum and Adam, seeds 0, 1 and 2) and
stored every run in `data/batch_scaling_seeds.json`. The tests below read the markdown cell that
makes a claim and check the numbers it quotes (`mean (min-max)` over the seeds, as
`batch_scaling.format_best_rates` prints them) and the claim itself, seed by seed, against that
file. The live reproduction re-runs seed 0's Adam at batch 64 on three rates of the grid: Adam's
runs are reproducible to 0.5% of their loss between thread settings; SGD's are not (one thread
instead of two moved a single run's loss by up to 17%: the card), so SGD's claims are read from
the stored runs only. The float16 claims are checked with NumPy's own arithmetic; the distributed
runs' claims by `tests/test_distribution.py` and `tests/test_workers.py`.
"""

import math
import pathlib

import nbformat
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import mixed_precision, rate_scaling
from helpers.lessons import batch_scaling

LESSON = (
    pathlib.Path(__file__).resolve().parents[1] / "notebooks" / "08_scaling_the_learning_rate.ipynb"
)
STORED = batch_scaling.load_results()
SETTINGS = batch_scaling.STORED_SETTINGS


def lesson_text(marker: str) -> str:
    """The markdown cell holding `marker`, its whitespace collapsed."""
    cells = nbformat.read(LESSON, as_version=4).cells
    texts = [" ".join(cell.source.split()) for cell in cells if cell.cell_type == "markdown"]
    found = [text for text in texts if marker in text]
    assert len(found) == 1, f"lesson 08 has {len(found)} markdown cells with {marker!r}"
    return found[0]


def mean_and_range(values: list[float], number: str = "{:.2f}") -> str:
    """`mean (min-max)`, or `mean (min to max)` below zero, written as the lesson writes it."""
    mean = sum(values) / len(values)
    separator = " to " if min(values) < 0 else "-"  # as batch_scaling.format_best_rates writes it
    low, high = number.format(min(values)), number.format(max(values))
    return f"{number.format(mean)} ({low}{separator}{high})"


def test_the_stored_study_has_three_seeds_at_the_settings_the_lesson_describes():
    assert [seed_scaling.seed for seed_scaling in STORED] == [0, 1, 2]
    text = lesson_text("The measurement: on the offline task")
    assert f"({SETTINGS['images_per_class']} training images per class, " in text
    assert f"{SETTINGS['validation_count']} validation images)" in text
    assert f"for {SETTINGS['fine_tune_epochs']} epochs at batch sizes 8, 16, 32, 64 and 128" in text
    assert tuple(batch_scaling.BATCH_SIZES) == (8, 16, 32, 64, 128)
    assert SETTINGS["warmup_epochs"] == 1 and "with one epoch of linear warmup" in text
    for name, grid in batch_scaling.LEARNING_RATES.items():
        ratios = [later / earlier for earlier, later in zip(grid, grid[1:], strict=False)]
        assert all(math.isclose(ratio, 2.0) for ratio in ratios), name  # "a factor of 2 apart"
    minutes = sum(seed_scaling.seconds for seed_scaling in STORED) / len(STORED) / 60
    assert f"(about {minutes:.0f} minutes per seed on 2 cores)" in text


def test_float16_numbers_near_one_half_are_about_5e_4_apart():
    text = lesson_text("Why the weights stay float32")
    assert np.finfo(np.float16).nmant == 10 and "float16 has 10 bits of mantissa" in text
    spacing = float(np.spacing(np.float16(0.5)))
    assert f"{spacing:.0e}" == "5e-04" and "near 0.5 its numbers are about 5e-4 apart" in text
    # "a sum is rounded to the nearest one": 0.5 + 1e-5 is 0.5 again in float16, not in float32.
    assert np.float16(0.5) + np.float16(1e-5) == np.float16(0.5)
    assert np.float32(0.5) + np.float32(1e-5) != np.float32(0.5)


def test_an_update_of_1e_5_vanishes_from_every_float16_weight_of_magnitude_above_1_32():
    text = lesson_text("The same on the bundled base's weights")
    assert "an update of 1e-5" in text and "of magnitude above 1/32" in text
    # Every positive float16 number above 1/32 up to the largest, and their negatives. (At -1/32
    # itself, a step towards zero meets the finer gaps below 1/32, and 1e-5 survives.)
    every_float16 = np.arange(2**15, dtype=np.uint16).view(np.float16)
    finite = every_float16[np.isfinite(every_float16)].astype("float64")
    large = finite[finite > 1 / 32]
    large = np.concatenate([large, -large])
    assert mixed_precision.vanished_updates(large, np.full_like(large, 1e-5)) == 1.0
    # Just below 1/32 the gap is half as wide and the same update survives (rounds up a step).
    below = finite[(finite >= 1 / 64) & (finite < 1 / 32)]
    assert mixed_precision.vanished_updates(below, np.full_like(below, 1e-5)) == 0.0


def test_bfloat16_has_float32s_range_and_7_bits_of_mantissa():
    text = lesson_text("Keras's policies do the bookkeeping")
    assert "`mixed_bfloat16` has float32's range (8 exponent bits)" in text
    assert "only 7 bits of mantissa" in text
    bfloat16 = tf.bfloat16.as_numpy_dtype
    assert np.finfo(bfloat16).nmant == 7 and np.finfo(bfloat16).nexp == 8
    assert np.finfo(np.float32).nexp == 8
    assert math.isclose(
        float(np.finfo(bfloat16).max), float(np.finfo(np.float32).max), rel_tol=0.01
    )


@pytest.mark.parametrize(
    ("marker", "tolerance_file", "tolerance"),
    [
        ("the accumulated run matches the large batch", "test_distribution.py", "1e-6"),
        (
            "The same update as one device with the same global batch",
            "test_distribution.py",
            "1e-6",
        ),
    ],
)
def test_the_tolerances_the_lesson_quotes_are_the_tests(marker, tolerance_file, tolerance):
    text = lesson_text(marker)
    assert tolerance in text
    source = (pathlib.Path(__file__).parent / tolerance_file).read_text()
    assert f"TOLERANCE = {tolerance}" in source


def test_the_rules_the_lesson_prints_are_the_closed_forms():
    assert rate_scaling.scaled_learning_rate(1e-3, 32, 128) == pytest.approx(4e-3)
    assert rate_scaling.scaled_learning_rate(1e-3, 32, 128, "square root") == pytest.approx(2e-3)
    assert rate_scaling.RULES == {"linear": 1.0, "square root": 0.5}


# Adam's runs of seed 0 at batch 64, re-run live; SPREAD is the largest relative difference of
# their validation loss measured between runs (the card), the tolerance ten times that.
LIVE_BATCH_SIZE = 64
LIVE_RATES = batch_scaling.LEARNING_RATES["adam"][4:6]  # 4e-4 and 8e-4
SPREAD = 4.5e-3  # stored, default threads and one thread: data/batch_scaling_seeds_card.md


@pytest.mark.slow
def test_seed_zero_adam_runs_are_reproduced():
    live = batch_scaling.run_seed(
        0,
        optimizers=["adam"],
        batch_sizes=[LIVE_BATCH_SIZE],
        learning_rates={"adam": LIVE_RATES},
    )
    stored = {
        (run.batch_size, run.learning_rate): run
        for run in STORED[0].runs
        if run.optimizer == "adam"
    }
    assert len(live.runs) == len(LIVE_RATES)
    for run in live.runs:
        reference = stored[(run.batch_size, run.learning_rate)]
        assert run.validation_loss == pytest.approx(reference.validation_loss, rel=10 * SPREAD)
        # Two images of 200 either way.
        assert run.validation_accuracy == pytest.approx(reference.validation_accuracy, abs=0.011)


def exponents(optimizer: str) -> list[float]:
    return batch_scaling.exponents(STORED, optimizer)


def test_sgds_best_rate_follows_the_linear_rule():
    text = lesson_text("SGD with momentum follows the linear rule here.")
    sgd = exponents("sgd")
    closer_to_linear = sum(abs(exponent - 1) < abs(exponent - 0.5) for exponent in sgd)
    assert f"was {mean_and_range(sgd)} over the three seeds (mean, min-max)" in text
    assert (
        f"closer to the linear rule's 1 than to the square root's 0.5 in {closer_to_linear} of 3"
        in text
    )
    # The claim itself: the mean is closer to the linear rule, and so are most seeds.
    mean = sum(sgd) / len(sgd)
    assert abs(mean - 1) < abs(mean - 0.5) and closer_to_linear >= 2


def test_adams_best_rate_follows_neither_rule():
    text = lesson_text("Adam follows neither rule")
    adam = exponents("adam")
    below = sum(exponent < 0.5 for exponent in adam)
    assert (
        f"its exponent was {mean_and_range(adam)}, below the square-root rule's 0.5 in {below} of 3"
        in text
    )
    mean = sum(adam) / len(adam)
    assert mean < 0.5 and below >= 2  # flatter than even the square-root rule
    assert mean < sum(exponents("sgd")) / 3  # "hardly moved", next to SGD's


def test_the_best_rates_quoted_in_the_summary_are_the_studys():
    text = lesson_text("## Summary")
    assert f"(exponent {mean_and_range(exponents('sgd'))})" in text
    assert f"Adam's hardly moved ({mean_and_range(exponents('adam'))})" in text


def test_every_best_rate_at_the_edge_of_the_grid_is_named():
    text = lesson_text("Read the best rates as a trend, not a law.")
    grid = batch_scaling.LEARNING_RATES["sgd"]
    at_edge = []
    for seed_scaling in STORED:
        for size, rate in batch_scaling.best_rates(seed_scaling, "sgd").items():
            if rate in (grid[0], grid[-1]):
                at_edge.append(f"seed {seed_scaling.seed}, batch {size}")
    for place in at_edge:
        assert place in text
    for seed_scaling in STORED:  # Adam's best rates all lie inside their grid
        adam_grid = batch_scaling.LEARNING_RATES["adam"]
        for rate in batch_scaling.best_rates(seed_scaling, "adam").values():
            assert adam_grid[0] < rate < adam_grid[-1]


def test_sgd_at_batch_8_fails_in_every_seed_at_a_rate_batch_128_trains_at():
    text = lesson_text("What holds in every seed is the edge")
    edge_rate, collapse_loss, trained_loss = 4e-3, 1.0, 0.5
    assert f"SGD at batch 8 fails at {edge_rate:g} (validation loss above {collapse_loss:g}" in text
    assert f"batch 128 trains to a loss below {trained_loss:g}" in text
    assert f"{math.log(4):.2f}" == "1.39" and "ln 4 = 1.39" in text
    for seed_scaling in STORED:
        losses = {
            run.batch_size: run.validation_loss
            for run in seed_scaling.runs
            if run.optimizer == "sgd" and math.isclose(run.learning_rate, edge_rate)
        }
        assert losses[8] > collapse_loss and losses[128] < trained_loss, seed_scaling.seed


def test_the_spread_the_lesson_quotes_is_the_cards():
    text = lesson_text("Read the best rates as a trend, not a law.")
    card = " ".join(
        (batch_scaling.RESULTS_PATH.parent / "batch_scaling_seeds_card.md").read_text().split()
    )
    assert "moved a single SGD run's loss by up to 17% (Adam's by up to 0.5%: the card)" in text
    assert "SGD's moved by up to 17% between the two thread settings" in card
    assert "up to 0.5%, its accuracy not at all" in card
    assert SPREAD == 4.5e-3 and "at most 4.5e-3 (relative)" in card
