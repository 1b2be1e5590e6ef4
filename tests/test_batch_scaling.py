"""Lesson 08's batch-size study (helpers/lessons/batch_scaling.py): reading it, storing it, one run.

Made-up seeds whose validation loss is an exact parabola in log(rate) around a known best rate at
each batch size, the best rates following a known power law, check `best_rates`, `exponents`, the
table and the plot against those numbers. One tiny `run_seed` (8 training images, two batch
sizes, a good rate and one that diverges) checks the runs it records and the warmup each gets.
The stored file is checked for its shape only: its seeds grow while the study runs, and
`tests/test_claims_lesson08.py` checks what the lesson says about its numbers.
"""

import dataclasses
import json
import math
import random
import re

import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.finetune import rate_scaling
from helpers.lessons import batch_scaling, target_task

ScalingRun = batch_scaling.ScalingRun
SeedScaling = batch_scaling.SeedScaling
BEST_AT_32 = {"sgd": 3e-3, "adam": 3e-4}  # each made-up seed's best rate at batch 32
# Each made-up seed's exponent, per optimizer: the best rate is BEST_AT_32 * (size / 32) ** it.
EXPONENTS = {0: {"sgd": 0.5, "adam": 1.0}, 1: {"sgd": 0.3, "adam": 0.8}}


def made_up_best(seed: int, optimizer: str, batch_size: int) -> float:
    exponent = EXPONENTS[seed][optimizer]
    return BEST_AT_32[optimizer] * (batch_size / batch_scaling.BASE_BATCH_SIZE) ** exponent


def made_up_seed(seed: int, optimizers=batch_scaling.OPTIMIZERS) -> SeedScaling:
    """Every run of the stored grids, in shuffled order; batch 8's largest rate diverged."""
    runs = []
    for optimizer in optimizers:
        grid = batch_scaling.LEARNING_RATES[optimizer]
        for batch_size in batch_scaling.BATCH_SIZES:
            best = made_up_best(seed, optimizer, batch_size)
            for learning_rate in grid:
                loss = 0.2 + 0.5 * (math.log(learning_rate) - math.log(best)) ** 2
                accuracy = 0.9
                if batch_size == 8 and learning_rate == grid[-1]:
                    loss, accuracy = math.inf, math.nan
                runs.append(ScalingRun(optimizer, batch_size, learning_rate, loss, accuracy, 1.5))
    random.Random(seed).shuffle(runs)
    return SeedScaling(seed, tuple(runs), 90.0)


SEEDS = [made_up_seed(0), made_up_seed(1)]


def same_runs(first: ScalingRun, second: ScalingRun) -> bool:
    """Field by field, NaN equal to NaN (a diverged run's accuracy)."""
    for name in (field.name for field in dataclasses.fields(ScalingRun)):
        one, other = getattr(first, name), getattr(second, name)
        both_nan = isinstance(one, float) and math.isnan(one) and math.isnan(other)
        if not both_nan and one != other:
            return False
    return True


# The grids.


def test_the_grids_are_factors_of_2_and_hold_the_base_batch_size():
    assert batch_scaling.BASE_BATCH_SIZE in batch_scaling.BATCH_SIZES
    assert list(batch_scaling.BATCH_SIZES) == sorted(set(batch_scaling.BATCH_SIZES))
    assert set(batch_scaling.LEARNING_RATES) == set(batch_scaling.OPTIMIZERS)
    for grid in batch_scaling.LEARNING_RATES.values():
        ratios = np.array(grid[1:]) / np.array(grid[:-1])
        assert ratios == pytest.approx(2.0, rel=1e-12)
    # Each made-up best rate lies nearer an inner grid point than an end: read between points.
    for seed, exponents in EXPONENTS.items():
        for optimizer in exponents:
            grid = batch_scaling.LEARNING_RATES[optimizer]
            for size in batch_scaling.BATCH_SIZES:
                best = made_up_best(seed, optimizer, size)
                assert math.sqrt(grid[0] * grid[1]) < best < math.sqrt(grid[-2] * grid[-1])


# best_rates and exponents.


@pytest.mark.parametrize("optimizer", batch_scaling.OPTIMIZERS)
@pytest.mark.parametrize("seed", [0, 1])
def test_best_rates_are_each_batch_sizes_parabola_vertex(seed, optimizer):
    best = batch_scaling.best_rates(SEEDS[seed], optimizer)
    assert list(best) == list(batch_scaling.BATCH_SIZES)
    for size, rate in best.items():
        assert rate == pytest.approx(made_up_best(seed, optimizer, size), rel=1e-9)


def test_best_rates_agree_with_best_rate_on_each_sorted_grid():
    seed_scaling = SEEDS[0]
    for size in batch_scaling.BATCH_SIZES:
        runs = sorted(
            (run for run in seed_scaling.runs if (run.optimizer, run.batch_size) == ("sgd", size)),
            key=lambda run: run.learning_rate,
        )
        expected = rate_scaling.best_rate(
            [run.learning_rate for run in runs], [run.validation_loss for run in runs]
        )
        assert batch_scaling.best_rates(seed_scaling, "sgd")[size] == expected


def test_best_rates_leave_out_other_optimizers_and_keep_a_diverged_neighbour_out():
    only_sgd = made_up_seed(0, optimizers=("sgd",))
    assert batch_scaling.best_rates(only_sgd, "adam") == {}
    grid = batch_scaling.LEARNING_RATES["sgd"]
    best = made_up_best(0, "sgd", 32)
    lowest = int(np.argmin([abs(math.log(rate / best)) for rate in grid]))
    runs = [
        dataclasses.replace(run, validation_loss=math.inf, validation_accuracy=math.nan)
        if (run.batch_size, run.learning_rate) == (32, grid[lowest + 1])
        else run
        for run in only_sgd.runs
    ]
    best_rates = batch_scaling.best_rates(SeedScaling(0, tuple(runs), 1.0), "sgd")
    assert best_rates[32] == grid[lowest]  # beside a diverged run: the grid point itself
    assert best_rates[64] == pytest.approx(made_up_best(0, "sgd", 64), rel=1e-9)


@pytest.mark.parametrize("optimizer", batch_scaling.OPTIMIZERS)
def test_exponents_are_each_seeds_power_law(optimizer):
    exponents = batch_scaling.exponents(SEEDS, optimizer)
    expected = [EXPONENTS[seed][optimizer] for seed in (0, 1)]
    assert exponents == pytest.approx(expected, abs=1e-9)
    assert batch_scaling.exponents(SEEDS[::-1], optimizer) == pytest.approx(expected[::-1])


@pytest.mark.parametrize(
    ("function", "arguments", "message"),
    [
        (
            "best_rates",
            ("seed", "sgd"),
            "seed_scaling must be a SeedScaling. Received: seed_scaling='seed'",
        ),
        (
            "best_rates",
            (SEEDS[0], "sdg"),
            "optimizer must be one of ('sgd', 'adam'). Received: optimizer='sdg'. Did you mean",
        ),
        (
            "exponents",
            ([], "sgd"),
            "seeds must be a list or tuple of at least 1 item. Received: seeds=[]",
        ),
        (
            "exponents",
            ([SEEDS[0], {"seed": 1}], "sgd"),
            "seeds[1] must be a SeedScaling. Received: seeds[1]={'seed': 1}",
        ),
        ("format_best_rates", (SEEDS[0],), "seeds must be a list or tuple"),
        ("to_json", (["seed"], {}), "seeds[0] must be a SeedScaling"),
        ("plot_best_rates", (SEEDS, "rmsprop"), "Received: optimizer='rmsprop'"),
    ],
)
def test_bad_arguments_are_named(function, arguments, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(batch_scaling, function)(*arguments)


# The JSON file.


def test_the_json_round_trip_keeps_every_run_diverged_ones_included(tmp_path):
    path = tmp_path / "study.json"
    path.write_text(batch_scaling.to_json(SEEDS, {"machine": "test"}))
    stored = json.loads(path.read_text())
    assert stored["run"] == {"machine": "test"}
    assert stored["settings"] == batch_scaling.STORED_SETTINGS
    loaded = batch_scaling.load_results(path)
    assert [seed_scaling.seed for seed_scaling in loaded] == [0, 1]
    for original, back in zip(SEEDS, loaded, strict=True):
        assert back.seconds == original.seconds
        assert len(back.runs) == len(original.runs)
        assert all(
            same_runs(first, second) for first, second in zip(original.runs, back.runs, strict=True)
        )
        diverged = [run for run in back.runs if math.isinf(run.validation_loss)]
        assert len(diverged) == 2 and all(math.isnan(run.validation_accuracy) for run in diverged)
        assert batch_scaling.best_rates(back, "adam") == batch_scaling.best_rates(original, "adam")


def test_a_missing_file_names_the_path_and_the_script_that_writes_it(tmp_path):
    missing = tmp_path / "none.json"
    with pytest.raises(ValueError) as raised:
        batch_scaling.load_results(missing)
    message = str(raised.value)
    assert "scripts/batch_scaling_seeds.py" in message
    assert message.endswith(f"Received: path={str(missing)!r}, which does not exist")


# The table and the plot.


def test_the_table_gives_each_batch_sizes_mean_and_range_and_each_exponent():
    lines = batch_scaling.format_best_rates(SEEDS).splitlines()
    assert lines[0] == "best phase-2 rate (mean, min-max over 2 seeds)"
    sizes = batch_scaling.BATCH_SIZES
    expected_headers = {"sgd": "  SGD", "adam": "  Adam"}
    expected_exponents = {"sgd": "0.40 (0.30-0.50)", "adam": "0.90 (0.80-1.00)"}
    for index, optimizer in enumerate(batch_scaling.OPTIMIZERS):
        block = lines[1 + index * (len(sizes) + 2) : 1 + (index + 1) * (len(sizes) + 2)]
        assert block[0] == expected_headers[optimizer]
        for size, line in zip(sizes, block[1:-1], strict=True):
            rates = [made_up_best(seed, optimizer, size) for seed in (0, 1)]
            low, high = min(rates), max(rates)
            mean = sum(rates) / 2
            assert line == f"    batch {size:>3}: {mean:.1e} ({low:.1e}-{high:.1e})"
        assert block[-1] == f"    exponent: {expected_exponents[optimizer]}"
    assert len(lines) == 1 + 2 * (len(sizes) + 2)


def test_the_table_of_one_seed_of_one_optimizer_has_no_range_and_no_other_optimizer():
    text = batch_scaling.format_best_rates([made_up_seed(1, optimizers=("sgd",))])
    lines = text.splitlines()
    assert lines[0] == "best phase-2 rate (mean, min-max over 1 seeds)"
    assert "Adam" not in text
    batch_32 = f"{made_up_best(1, 'sgd', 32):.1e}"
    assert f"    batch  32: {batch_32} ({batch_32}-{batch_32})" in lines
    assert lines[-1] == "    exponent: 0.30 (0.30-0.30)"


@pytest.mark.parametrize("optimizer", batch_scaling.OPTIMIZERS)
def test_the_plot_draws_the_geometric_mean_the_rules_and_each_seed(optimizer):
    figure, ax = plt.subplots()
    assert batch_scaling.plot_best_rates(SEEDS, optimizer, ax=ax) is ax
    name = "SGD with momentum" if optimizer == "sgd" else "Adam"
    assert ax.get_title() == f"{name}: best phase-2 rate per batch size"
    lines = ax.get_lines()
    labels = [line.get_label() for line in lines]
    assert labels == [
        "best rate (geometric mean)",
        "linear rule",
        "square-root rule",
        "seed 0",
        "seed 1",
    ]
    sizes = list(batch_scaling.BATCH_SIZES)
    geometric_means = [
        math.sqrt(made_up_best(0, optimizer, size) * made_up_best(1, optimizer, size))
        for size in sizes
    ]
    np.testing.assert_array_equal(lines[0].get_xdata(), sizes)
    np.testing.assert_allclose(lines[0].get_ydata(), geometric_means, rtol=1e-9)
    base_index = sizes.index(batch_scaling.BASE_BATCH_SIZE)
    for rule_line in lines[1:3]:
        assert rule_line.get_ydata()[base_index] == pytest.approx(geometric_means[base_index])
    for seed, line in zip((0, 1), lines[3:], strict=True):
        expected = [made_up_best(seed, optimizer, size) for size in sizes]
        np.testing.assert_allclose(line.get_ydata(), expected, rtol=1e-9)
    plt.close(figure)


def test_the_plot_makes_its_own_axes():
    ax = batch_scaling.plot_best_rates(SEEDS[:1], "adam")
    assert [line.get_label() for line in ax.get_lines()][-1] == "seed 0"
    plt.close(ax.figure)


# run_seed, on a tiny grid: a good rate and a diverging one at two batch sizes.

TINY_SETTINGS = {
    "images_per_class": 2,
    "validation_count": 8,
    "head_epochs": 1,
    "fine_tune_epochs": 2,  # a second epoch: the guard sees batch 8's loss after its one step
}
TINY_BATCH_SIZES = [4, 8]
TINY_RATES = {"sgd": [1e-3, 1e3]}  # 1e3 diverges


class RecordedWarmup(rate_scaling.LinearWarmup):
    """A LinearWarmup that keeps a list of every one made, to read their steps and rates."""

    made: list[rate_scaling.LinearWarmup] = []

    def __init__(self, warmup_steps: int) -> None:
        super().__init__(warmup_steps)
        RecordedWarmup.made.append(self)


@pytest.fixture(scope="module")
def tiny_study():
    """The tiny seed (about 30 s: phase 1 and four phase-2 runs of MobileNetV2) and its warmups."""
    RecordedWarmup.made = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(rate_scaling, "LinearWarmup", RecordedWarmup)
        seed_scaling = batch_scaling.run_seed(
            0,
            TINY_SETTINGS,
            optimizers=["sgd"],
            batch_sizes=TINY_BATCH_SIZES,
            learning_rates=TINY_RATES,
        )
    return seed_scaling, list(RecordedWarmup.made)


def tiny_training_count() -> int:
    data = target_task.prepare_data(2, validation_count=8, test_count=1, source_count=1, seed=0)
    return len(data.train[1])


def test_run_seed_records_one_run_per_batch_size_and_rate_in_grid_order(tiny_study):
    seed_scaling, _ = tiny_study
    assert seed_scaling.seed == 0
    keys = [(run.optimizer, run.batch_size, run.learning_rate) for run in seed_scaling.runs]
    assert keys == [("sgd", 4, 1e-3), ("sgd", 4, 1e3), ("sgd", 8, 1e-3), ("sgd", 8, 1e3)]
    assert all(run.seconds >= 0 for run in seed_scaling.runs)
    assert sum(run.seconds for run in seed_scaling.runs) <= seed_scaling.seconds + 0.1


def test_run_seed_measures_good_runs_and_records_diverged_ones_as_inf(tiny_study):
    seed_scaling, _ = tiny_study
    good = [run for run in seed_scaling.runs if run.learning_rate == 1e-3]
    diverged = [run for run in seed_scaling.runs if run.learning_rate == 1e3]
    for run in good:
        assert math.isfinite(run.validation_loss) and run.validation_loss > 0
        correct = run.validation_accuracy * TINY_SETTINGS["validation_count"]
        assert correct == pytest.approx(round(correct), abs=1e-4)
        assert 0 <= run.validation_accuracy <= 1
    for run in diverged:
        assert run.validation_loss == math.inf
        assert math.isnan(run.validation_accuracy)
    assert batch_scaling.best_rates(seed_scaling, "sgd") == {4: 1e-3, 8: 1e-3}


def test_run_seed_warms_each_run_up_over_its_first_epoch(tiny_study):
    _, warmups = tiny_study
    count = tiny_training_count()
    steps_per_epoch = [math.ceil(count / size) for size in TINY_BATCH_SIZES]
    epochs = TINY_SETTINGS["fine_tune_epochs"]
    assert [warmup.warmup_steps for warmup in warmups] == [
        steps for steps in steps_per_epoch for _ in TINY_RATES["sgd"]
    ]
    good_runs = (warmups[0], warmups[2])
    for warmup, steps in zip(good_runs, steps_per_epoch, strict=True):
        expected = [1e-3 * min(1.0, (step + 1) / steps) for step in range(steps * epochs)]
        assert warmup.rates == pytest.approx(expected, rel=1e-6)
    for warmup, steps in zip((warmups[1], warmups[3]), steps_per_epoch, strict=True):
        assert warmup.rates[0] == pytest.approx(1e3 / steps, rel=1e-6)
    assert len(warmups[1].rates) < steps_per_epoch[0] * epochs  # the guard stopped batch 4 early


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
        ({"optimizers": ["sgdd"]}, "Received: optimizers[0]='sgdd'. Did you mean 'sgd'?"),
        ({"optimizers": []}, "optimizers must be a list or tuple of at least 1 item"),
        ({"batch_sizes": [8, 0]}, "batch_sizes[1] must be an int >= 1. Received: batch_sizes[1]=0"),
        (
            {"learning_rates": {"sgd": [1e-3, -1.0], "adam": [1e-4]}},
            "Received: learning_rates['sgd'][1]=-1.0",
        ),
        (
            {"learning_rates": {"sgd": [1e-3]}},
            "learning_rates must hold rates for every optimizer run. "
            "Received: learning_rates without ['adam']",
        ),
        ({"learning_rates": [1e-3]}, "learning_rates must be None or a dict"),
    ],
)
def test_run_seed_names_a_bad_argument_before_it_trains(arguments, message):
    options = {"seed": 0, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        batch_scaling.run_seed(**options)


# The stored study (its seeds grow while scripts/batch_scaling_seeds.py runs).


@pytest.fixture(scope="module")
def stored():
    return batch_scaling.load_results()


def test_the_stored_study_holds_every_run_of_the_grids_once_per_seed(stored):
    assert len(stored) >= 1
    seeds = [seed_scaling.seed for seed_scaling in stored]
    assert seeds == sorted(set(seeds))
    expected = sorted(
        (optimizer, size, rate)
        for optimizer in batch_scaling.OPTIMIZERS
        for size in batch_scaling.BATCH_SIZES
        for rate in batch_scaling.LEARNING_RATES[optimizer]
    )
    for seed_scaling in stored:
        keys = sorted(
            (run.optimizer, run.batch_size, run.learning_rate) for run in seed_scaling.runs
        )
        assert keys == expected, f"seed {seed_scaling.seed}"
        assert seed_scaling.seconds >= sum(run.seconds for run in seed_scaling.runs) - 0.1


def test_stored_losses_are_finite_or_inf_and_accuracies_are_fractions_or_nan(stored):
    settings = json.loads(batch_scaling.RESULTS_PATH.read_text())["settings"]
    assert settings == batch_scaling.STORED_SETTINGS
    validation_count = settings["validation_count"]
    for seed_scaling in stored:
        for run in seed_scaling.runs:
            where = f"seed {seed_scaling.seed}: {run}"
            if math.isinf(run.validation_loss):
                assert run.validation_loss > 0 and math.isnan(run.validation_accuracy), where
                continue
            assert math.isfinite(run.validation_loss) and run.validation_loss > 0, where
            assert 0 <= run.validation_accuracy <= 1, where
            correct = run.validation_accuracy * validation_count
            assert correct == pytest.approx(round(correct), abs=1e-3), where
            assert run.seconds > 0, where


def test_the_stored_best_rates_lie_in_their_grids_and_the_table_reads_every_seed(stored):
    for optimizer in batch_scaling.OPTIMIZERS:
        grid = batch_scaling.LEARNING_RATES[optimizer]
        for seed_scaling in stored:
            best = batch_scaling.best_rates(seed_scaling, optimizer)
            assert list(best) == list(batch_scaling.BATCH_SIZES)
            assert all(grid[0] <= rate <= grid[-1] for rate in best.values())
        assert all(math.isfinite(value) for value in batch_scaling.exponents(stored, optimizer))
    table = batch_scaling.format_best_rates(stored)
    assert table.startswith(f"best phase-2 rate (mean, min-max over {len(stored)} seeds)")
    assert table.count("exponent:") == len(batch_scaling.OPTIMIZERS)
    ax = batch_scaling.plot_best_rates(stored, "sgd")
    assert len(ax.get_lines()) == 3 + len(stored)
    plt.close(ax.figure)
