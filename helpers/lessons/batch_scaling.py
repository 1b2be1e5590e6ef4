"""Lesson 08's study: the best phase-2 learning rate at each batch size, for SGD and for Adam.

For one seed, `run_seed` trains the linear probe once (`rate_comparison.model_after_phase_one`),
then fine-tunes the whole model from it (phase 2, BatchNorm frozen) on a grid of rates at each
batch size, for SGD with momentum 0.9 and for Adam, for the same number of epochs: the same images
seen, so a larger batch takes fewer, larger steps. Every run warms the rate up linearly over its
first epoch (`rate_scaling.LinearWarmup`, Goyal et al.'s warmup) and is measured by its validation
loss after the last epoch; a run the divergence guard stops has loss `inf`. `best_rates` reads the
best rate at each batch size between grid points (`rate_scaling.best_rate`), and
`rate_scaling.scaling_exponent` says which rule they follow.

The whole study is `scripts/batch_scaling_seeds.py`, stored in `data/batch_scaling_seeds.json`;
lesson 08 plots it and `tests/test_claims_lesson08.py` checks what the lesson says about it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import time
from collections.abc import Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from helpers.finetune import guards, rate_scaling, restarts, two_phase, validation
from helpers.lessons import course, pretrained, rate_comparison, target_task

RESULTS_PATH = course.COURSE_ROOT / "data" / "batch_scaling_seeds.json"
OPTIMIZERS = ("sgd", "adam")
BATCH_SIZES = (8, 16, 32, 64, 128)
BASE_BATCH_SIZE = 32  # the course's batch size: the rules start from its best rate
# Rates a factor of 2 apart, wide enough that every batch size's best rate lies inside.
LEARNING_RATES = {
    "sgd": tuple(1.25e-4 * 2**power for power in range(9)),  # 1.25e-4 .. 3.2e-2
    "adam": tuple(2.5e-5 * 2**power for power in range(8)),  # 2.5e-5 .. 3.2e-3
}
STORED_SETTINGS = {
    "images_per_class": 64,
    "validation_count": 200,
    "head_epochs": 10,
    "fine_tune_epochs": 4,
    "warmup_epochs": 1,
}


@dataclasses.dataclass(frozen=True)
class ScalingRun:
    """One phase-2 run of the study."""

    optimizer: str  # "sgd" (momentum 0.9) or "adam"
    batch_size: int
    learning_rate: float
    validation_loss: float  # after the last epoch; inf if the divergence guard stopped the run
    validation_accuracy: float  # after the last epoch; NaN if stopped
    seconds: float


@dataclasses.dataclass(frozen=True)
class SeedScaling:
    """Every run of one seed."""

    seed: int
    runs: tuple[ScalingRun, ...]
    seconds: float  # the whole seed, phase 1 included


def run_seed(
    seed: int,
    settings: dict | None = None,
    optimizers: Sequence[str] = OPTIMIZERS,
    batch_sizes: Sequence[int] = BATCH_SIZES,
    learning_rates: dict[str, Sequence[float]] | None = None,
) -> SeedScaling:
    """Runs the study for one seed (module docstring); smaller grids for tests.

    Args:
        seed: int >= 0, the data, model and shuffling seed.
        settings: dict like `STORED_SETTINGS`, or None for it. Defaults to None.
        optimizers: names from `OPTIMIZERS`. Defaults to both.
        batch_sizes: ints >= 1. Defaults to `BATCH_SIZES`.
        learning_rates: per optimizer, the rates to try, or None for `LEARNING_RATES`.

    Returns:
        A `SeedScaling`.

    Raises:
        ValueError: naming the argument, for a bad one.
    """
    seed = validation.check_int("seed", seed, minimum=0)
    settings = {**STORED_SETTINGS, **(settings or {})}
    names = [
        validation.check_choice(f"optimizers[{index}]", name, OPTIMIZERS)
        for index, name in enumerate(validation.check_sequence("optimizers", optimizers))
    ]
    sizes = [
        validation.check_int(f"batch_sizes[{index}]", size, minimum=1)
        for index, size in enumerate(validation.check_sequence("batch_sizes", batch_sizes))
    ]
    grids = LEARNING_RATES if learning_rates is None else learning_rates
    validation.check_instance(
        "learning_rates", grids, dict, "None or a dict from optimizer name to rates"
    )
    missing = [name for name in names if name not in grids]
    if missing:
        raise ValueError(
            "learning_rates must hold rates for every optimizer run. "
            f"Received: learning_rates without {missing}"
        )
    grids = {
        name: validation.check_learning_rates(f"learning_rates[{name!r}]", grids[name])
        for name in names
    }
    started = time.time()
    data = target_task.prepare_data(
        settings["images_per_class"],
        validation_count=settings["validation_count"],
        test_count=1,
        source_count=1,
        seed=seed,
    )
    keras.utils.set_random_seed(seed)
    head_model, head_base = pretrained.build_mobilenet_v2(data.num_classes, data.train[0].shape[1])
    model, base_model = rate_comparison.model_after_phase_one(
        head_model, head_base, data, settings["head_epochs"], seed, verbose=0
    )
    start = restarts.save_state(model)
    runs = []
    for name in names:
        for batch_size in sizes:
            for learning_rate in grids[name]:
                restarts.restore_state(model, start)
                runs.append(
                    _fine_tune_once(
                        model, base_model, data, name, batch_size, learning_rate, settings, seed
                    )
                )
    return SeedScaling(seed, tuple(runs), round(time.time() - started, 1))


def _fine_tune_once(
    model: keras.Model,
    base_model: keras.Model,
    data: target_task.TaskData,
    optimizer: str,
    batch_size: int,
    learning_rate: float,
    settings: dict,
    seed: int,
) -> ScalingRun:
    """One phase-2 run from the probe, with warmup; a stopped run has loss inf."""
    steps_per_epoch = math.ceil(len(data.train[1]) / batch_size)
    warmup = rate_scaling.LinearWarmup(settings["warmup_epochs"] * steps_per_epoch)
    started = time.time()
    try:
        history = two_phase.fine_tune(
            model,
            base_model,
            data.train,
            data.validation,
            head_epochs=0,
            fine_tune_epochs=settings["fine_tune_epochs"],
            fine_tune_learning_rate=learning_rate,
            optimizer=optimizer,
            batch_size=batch_size,
            callbacks=[warmup],
            seed=seed,
            verbose=0,
        )
        loss = history.val_loss[-1]
        accuracy = history.val_accuracy[-1]
    except guards.TrainingDivergedError:
        loss, accuracy = math.inf, math.nan
    if not math.isfinite(loss):
        loss, accuracy = math.inf, math.nan
    seconds = round(time.time() - started, 2)
    return ScalingRun(
        optimizer, batch_size, float(learning_rate), float(loss), float(accuracy), seconds
    )


def best_rates(seed_scaling: SeedScaling, optimizer: str) -> dict[int, float]:
    """The best rate at each batch size of one seed, between grid points (`rate_scaling.best_rate`).

    Example:

    >>> runs = [ScalingRun("sgd", size, rate, abs(math.log2(rate * 32 / size)), 0.9, 1.0)
    ...         for size in (16, 32) for rate in (0.25, 0.5, 1.0, 2.0)]
    >>> best_rates(SeedScaling(0, tuple(runs), 1.0), "sgd")
    {16: 0.5, 32: 1.0}
    """
    validation.check_instance("seed_scaling", seed_scaling, SeedScaling, "a SeedScaling")
    validation.check_choice("optimizer", optimizer, OPTIMIZERS)
    best = {}
    sizes = sorted({run.batch_size for run in seed_scaling.runs if run.optimizer == optimizer})
    for size in sizes:
        runs = sorted(
            (
                run
                for run in seed_scaling.runs
                if (run.optimizer, run.batch_size) == (optimizer, size)
            ),
            key=lambda run: run.learning_rate,
        )
        rates = [run.learning_rate for run in runs]
        losses = [run.validation_loss for run in runs]
        best[size] = rate_scaling.best_rate(rates, losses)
    return best


def exponents(seeds: Sequence[SeedScaling], optimizer: str) -> list[float]:
    """Per seed, the exponent of the best rates' power law in the batch size."""
    values = []
    for seed_scaling in _checked_seeds(seeds):
        best = best_rates(seed_scaling, optimizer)
        values.append(rate_scaling.scaling_exponent(list(best), list(best.values())))
    return values


def load_results(path: str | os.PathLike = RESULTS_PATH) -> list[SeedScaling]:
    """Returns the per-seed results `scripts/batch_scaling_seeds.py` stored.

    Raises:
        ValueError: if the file does not exist, naming the path and the script that writes it.

    Example:

    >>> [seed_scaling.seed for seed_scaling in load_results()]
    [0, 1, 2]
    """
    if not os.path.exists(path):
        raise ValueError(
            "path must be a results file written by scripts/batch_scaling_seeds.py. "
            f"Received: path={str(path)!r}, which does not exist"
        )
    with open(path, encoding="utf-8") as file:
        rows = json.load(file)["seeds"]
    return [
        SeedScaling(row["seed"], tuple(ScalingRun(**run) for run in row["runs"]), row["seconds"])
        for row in rows
    ]


def to_json(seeds: Sequence[SeedScaling], run: dict) -> str:
    """The JSON text `load_results` reads: the settings, the run (`course.describe_run`), seeds."""
    rows = [dataclasses.asdict(seed_scaling) for seed_scaling in _checked_seeds(seeds)]
    return json.dumps({"settings": STORED_SETTINGS, "run": run, "seeds": rows}, indent=1)


def format_best_rates(seeds: Sequence[SeedScaling]) -> str:
    """A text table: per optimizer and batch size, the best rate's mean (min-max) over seeds.

    Example:

    >>> print(format_best_rates(load_results()).splitlines()[0])  # doctest: +ELLIPSIS
    best phase-2 rate (mean, min-max over 3 seeds)...
    """
    rows = _checked_seeds(seeds)
    lines = [f"best phase-2 rate (mean, min-max over {len(rows)} seeds)"]
    for optimizer in OPTIMIZERS:
        per_seed = [best_rates(seed_scaling, optimizer) for seed_scaling in rows]
        if not per_seed[0]:
            continue
        lines.append(f"  {optimizer.upper() if optimizer == 'sgd' else 'Adam'}")
        for size in per_seed[0]:
            values = [best[size] for best in per_seed]
            mean, low, high = rate_comparison.mean_and_range(values)
            lines.append(f"    batch {size:>3}: {mean:.1e} ({low:.1e}-{high:.1e})")
        mean, low, high = rate_comparison.mean_and_range(exponents(rows, optimizer))
        separator = " to " if low < 0 else "-"  # "-0.10 to 0.30", not "-0.10-0.30"
        lines.append(f"    exponent: {mean:.2f} ({low:.2f}{separator}{high:.2f})")
    return "\n".join(lines)


def plot_best_rates(seeds: Sequence[SeedScaling], optimizer: str, ax: Axes | None = None) -> Axes:
    """Plots each seed's best rate against batch size, with both rules through batch 32's mean.

    Example:

    >>> ax = plot_best_rates(load_results(), "adam")
    >>> ax.get_title()
    'Adam: best phase-2 rate per batch size'
    """
    rows = _checked_seeds(seeds)
    optimizer = validation.check_choice("optimizer", optimizer, OPTIMIZERS)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    per_seed = [best_rates(seed_scaling, optimizer) for seed_scaling in rows]
    sizes = list(per_seed[0])
    mean_rates = [
        float(np.exp(np.mean([np.log(best[size]) for best in per_seed]))) for size in sizes
    ]
    rate_scaling.plot_rates_against_rules(
        sizes, mean_rates, BASE_BATCH_SIZE, "best rate (geometric mean)", ax=ax
    )
    for seed_scaling, best in zip(rows, per_seed, strict=True):
        ax.plot(
            sizes, [best[size] for size in sizes], ".", alpha=0.5, label=f"seed {seed_scaling.seed}"
        )
    name = "SGD with momentum" if optimizer == "sgd" else "Adam"
    ax.set_title(f"{name}: best phase-2 rate per batch size")
    ax.legend(fontsize="small")
    return ax


def _checked_seeds(seeds: object) -> list[SeedScaling]:
    """Returns `seeds` as a list, or raises unless it is a non-empty sequence of `SeedScaling`."""
    rows = validation.check_sequence("seeds", seeds)
    for index, row in enumerate(rows):
        validation.check_instance(f"seeds[{index}]", row, SeedScaling, "a SeedScaling")
    return rows
