"""Does the range test find a good rate? Its suggestions against a grid search (lesson 05).

For one seed and one phase this trains at every rate of a log grid, keeps the rate whose
validation loss ends lowest ("grid-best"), runs the range test from the same starting point, and
reports each suggestion's ratio to the grid-best rate. The choice is made on `data.validation`;
the test loss of every run (`data.target_test`) only reports it, so the reported losses are not
flattered by the choice. Phase 1 trains a fresh head on cached base features;
phase 2 fine-tunes the unfrozen model after a head trained at 1e-3, as in the lesson 04 recipe.
Every grid rate keeps its outcome: a phase-1 head trains on whatever its loss does, and a phase-2
run that `two_phase.fine_tune`'s divergence guard stops counts as diverged (a NaN loss).
`scripts/finder_vs_grid.py` runs the full comparison over 3 seeds and writes
`data/finder_vs_grid.json`, which the lesson and the README quote.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import pathlib
from collections.abc import Sequence

import keras
import numpy as np

from helpers.finetune import (
    guards,
    head_training,
    lr_finder,
    models,
    restarts,
    two_phase,
    validation,
)
from helpers.lessons import course, pretrained, rate_comparison, target_task

# 1e-5 .. 1, half-decade steps
PHASE_ONE_GRID = tuple(float(rate) for rate in np.logspace(-5, 0, 11))
# 1e-6 .. 1e-2, half-decade steps
PHASE_TWO_GRID = tuple(float(rate) for rate in np.logspace(-6, -2, 9))
HEAD_LEARNING_RATE = 1e-3  # phase 1 before the phase-2 comparison, as in lessons 03 and 04
# Written by scripts/finder_vs_grid.py.
RESULTS_PATH = course.COURSE_ROOT / "data" / "finder_vs_grid.json"
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
SUGGESTIONS = ("valley", "steepest", "minimum_tenth")  # the range test's suggestions, by name


@dataclasses.dataclass
class Comparison:
    """One phase and one seed: the grid's losses, its best rate, the range test's picks.

    Losses are NaN where training diverged. The grid-best rate is chosen on the validation losses;
    the test losses report the outcome.
    """

    phase: int  # 1 (head on a frozen base) or 2 (unfrozen base)
    seed: int
    grid: list[float]  # the rates tried
    validation_losses: list[float]  # validation loss after training at each rate: to choose
    test_losses: list[float]  # test loss after training at each rate: to report
    best_rate: float  # the grid rate with the lowest validation loss
    suggestions: dict[str, float]  # the range test's "valley", "steepest", "minimum_tenth"
    valley_validation_loss: float  # validation loss after training at the valley rate itself
    valley_test_loss: float  # test loss after training at the valley rate itself

    @property
    def best_index(self) -> int:
        """The grid-best rate's position in `grid`."""
        return self.grid.index(self.best_rate)

    @property
    def best_test_loss(self) -> float:
        """The test loss of the run at the grid-best rate (chosen on validation)."""
        return self.test_losses[self.best_index]

    def ratio(self, name: str = "valley") -> float:
        """Returns suggestion / grid-best: 1 is a perfect match, 3 or 1/3 is a factor 3 off.

        Args:
            name: str, one of `SUGGESTIONS`. Defaults to `"valley"`.

        Raises:
            ValueError: if `name` is not one of the suggestions.

        Example:

        >>> suggestions = {"valley": 3e-3, "steepest": 1e-3, "minimum_tenth": 5e-3}
        >>> comparison = Comparison(
        ...     1, 0, [1e-3, 1e-2], [0.5, 0.4], [0.6, 0.5], 1e-2, suggestions, 0.42, 0.52
        ... )
        >>> comparison.ratio("steepest")
        0.1
        """
        name = validation.check_choice("name", name, tuple(self.suggestions))
        return self.suggestions[name] / self.best_rate


def _best(grid: Sequence[float], losses: Sequence[float]) -> float:
    """The grid rate with the lowest finite loss (validation losses: the grid chooses on them)."""
    finite_losses = np.where(np.isfinite(losses), losses, np.inf)
    return float(grid[int(np.argmin(finite_losses))])


def range_test_new_head(
    features: np.ndarray, labels: np.ndarray, seed: int = 0, **options
) -> lr_finder.RangeTestResult:
    """The range test before phase 1: a fresh head (seeded with `seed`) with Adam, on features.

    Args:
        features: float array `(n, num_features)`, pooled base features.
        labels: int array `(n,)`, target-task classes in `[0, target_task.NUM_CLASSES)`.
        seed: int >= 0, seeds the head and the shuffling. Defaults to 0.
        **options: passed to `lr_finder.find_learning_rate` (`num_steps`, `batch_size`, ...).

    Returns:
        A `lr_finder.RangeTestResult`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.
    """
    features = validation.check_features("features", features)
    labels = validation.check_labels("labels", labels, target_task.NUM_CLASSES, len(features))
    seed = validation.check_int("seed", seed, minimum=0)
    keras.utils.set_random_seed(seed)
    head = head_training.build_head(features.shape[1], target_task.NUM_CLASSES)
    head.compile(optimizer=keras.optimizers.Adam(), loss=LOSS)
    return lr_finder.find_learning_rate(head, (features, labels), seed=seed, **options)


def range_test_unfrozen(
    model: keras.Model,
    base_model: keras.Model,
    images: np.ndarray,
    labels: np.ndarray,
    seed: int = 0,
    **options,
) -> lr_finder.RangeTestResult:
    """The range test before phase 2: unfreezes the base (BatchNorm stays frozen), fresh Adam.

    Args:
        model, base_model: the pair from `pretrained.build_mobilenet_v2`, its head trained (phase
            1 done).
        images: float array `(n, height, width, 3)`, preprocessed to [-1, 1].
        labels: int array `(n,)`, classes in `[0, model.output_shape[-1])`.
        seed: int >= 0, the shuffling seed. Defaults to 0.
        **options: passed to `lr_finder.find_learning_rate` (`num_steps`, `batch_size`, ...).

    Returns:
        A `lr_finder.RangeTestResult`.

    Raises:
        ValueError: for a bad argument, naming it and the value received (before anything is
            unfrozen).
    """
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    validation.check_instance("base_model", base_model, keras.Model, "a keras.Model")
    images = validation.check_images("images", images, model.input_shape[1:])
    num_classes = model.output_shape[-1]
    labels = validation.check_labels("labels", labels, num_classes, len(images))
    seed = validation.check_int("seed", seed, minimum=0)
    models.unfreeze(base_model)
    model.compile(optimizer=keras.optimizers.Adam(), loss=LOSS)
    return lr_finder.find_learning_rate(model, (images, labels), seed=seed, **options)


def compare_phase_one(
    data: target_task.TaskData,
    epochs: int = 10,
    grid: Sequence[float] = PHASE_ONE_GRID,
    seed: int = 0,
) -> Comparison:
    """Grid-searches the head's rate on cached features and runs the range test on a fresh head.

    Every grid rate trains to the end (`train_head(..., stop_on_divergence=False)`): a rate of 1
    ends at a loss near 20, and the grid needs that number rather than an error. Each rate trains
    twice from the same seed, once evaluated on the validation set and once on the test set (the
    runs are identical: `train_head` evaluates only one set, and cached features make it cheap).

    Args:
        data: TaskData, from `target_task.prepare_data`; the grid chooses on its validation set
            and reports on its target test set.
        epochs: int >= 1, epochs per grid run. Defaults to 10.
        grid: sequence of distinct floats > 0, the rates tried. Defaults to `PHASE_ONE_GRID`.
        seed: int >= 0, seeds the heads and the shuffling. Defaults to 0.

    Returns:
        A `Comparison` with `phase=1`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> data = target_task.prepare_data(
    ...     2, validation_count=8, test_count=8, source_count=1, image_size=32
    ... )
    >>> comparison = compare_phase_one(data, epochs=1, grid=[1e-3, 1e-1])
    >>> comparison.best_rate in (1e-3, 1e-1), sorted(comparison.suggestions)
    (True, ['minimum_tenth', 'steepest', 'valley'])
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    epochs = validation.check_int("epochs", epochs, minimum=1)
    grid = validation.check_learning_rates("grid", grid)
    seed = validation.check_int("seed", seed, minimum=0)
    _, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES, data.train[0].shape[1])
    train = (head_training.pooled_features(base_model, data.train[0]), data.train[1])
    held_out_sets = [
        (head_training.pooled_features(base_model, images), labels)
        for images, labels in (data.validation, data.target_test)
    ]

    def held_out_losses(learning_rate: float) -> tuple[float, float]:
        """The validation and test losses after training a fresh head at `learning_rate`."""
        losses = []
        for held_out in held_out_sets:
            history = head_training.train_head(
                train,
                held_out,
                learning_rate,
                target_task.NUM_CLASSES,
                epochs,
                seed=seed,
                stop_on_divergence=False,
            )
            losses.append(history["val_loss"][-1])
        return tuple(losses)

    validation_losses, test_losses = zip(*[held_out_losses(rate) for rate in grid], strict=True)
    suggestions = range_test_new_head(*train, seed=seed).suggestions
    valley_losses = held_out_losses(suggestions["valley"])
    return _comparison(1, seed, grid, validation_losses, test_losses, suggestions, valley_losses)


def compare_phase_two(
    data: target_task.TaskData,
    head_epochs: int = 10,
    epochs: int = 3,
    grid: Sequence[float] = PHASE_TWO_GRID,
    seed: int = 0,
) -> Comparison:
    """Trains a head at 1e-3, then grid-searches phase 2's rate and range-tests the unfrozen model.

    A grid run that `two_phase.fine_tune`'s divergence guard stops gets NaN losses (the grid-best
    ignores it) instead of ending the search. On the course's task the default grid, up to 1e-2,
    ends near ln(4) at worst and does not trip the guard.

    Args:
        data: TaskData, from `target_task.prepare_data`; the grid chooses on its validation set
            and reports on its target test set.
        head_epochs: int >= 1, phase 1's epochs. Defaults to 10.
        epochs: int >= 1, phase-2 epochs per grid run. Defaults to 3.
        grid: sequence of distinct floats > 0, the rates tried. Defaults to `PHASE_TWO_GRID`.
        seed: int >= 0, seeds the head, dropout and shuffling. Defaults to 0.

    Returns:
        A `Comparison` with `phase=2`.

    Raises:
        ValueError: for a bad argument, naming it and the value received.
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=1)
    epochs = validation.check_int("epochs", epochs, minimum=1)
    grid = validation.check_learning_rates("grid", grid)
    seed = validation.check_int("seed", seed, minimum=0)
    image_size = data.train[0].shape[1]
    keras.utils.set_random_seed(seed)
    trained, trained_base = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES, image_size)
    # Every phase-2 run starts from a fresh build holding the pretrained base and the trained head:
    # one model, restored to that state each time, keeps its traced step (`restarts`). A grid
    # search's many fits stay silent, whatever the course's verbosity.
    model, base_model = rate_comparison.model_after_phase_one(
        trained, trained_base, data, head_epochs, seed, verbose=0
    )
    start_state = restarts.save_state(model)

    def held_out_losses(learning_rate: float) -> tuple[float, float]:
        """The validation and test losses after phase 2 at `learning_rate` (NaN if stopped)."""
        restarts.restore_state(model, start_state)
        keras.utils.set_random_seed(seed)
        try:
            two_phase.fine_tune(
                model,
                base_model,
                data.train,
                head_epochs=0,
                fine_tune_epochs=epochs,
                fine_tune_learning_rate=learning_rate,
                seed=seed,
                verbose=0,
            )
        except guards.TrainingDivergedError:
            return math.nan, math.nan
        return tuple(
            float(model.evaluate(*held_out, verbose=0, return_dict=True)["loss"])
            for held_out in (data.validation, data.target_test)
        )

    validation_losses, test_losses = zip(*[held_out_losses(rate) for rate in grid], strict=True)
    # The range test on the same start and the same traced step: the Adam `fine_tune` compiled,
    # restarted, is a fresh Adam (`range_test_unfrozen` would compile, and trace, once more).
    restarts.restore_state(model, start_state)
    restarts.restart_optimizer(model.optimizer, HEAD_LEARNING_RATE)
    keras.utils.set_random_seed(seed)
    suggestions = lr_finder.find_learning_rate(model, data.train, seed=seed).suggestions
    valley_losses = held_out_losses(suggestions["valley"])
    return _comparison(2, seed, grid, validation_losses, test_losses, suggestions, valley_losses)


def _comparison(
    phase: int,
    seed: int,
    grid: Sequence[float],
    validation_losses: Sequence[float],
    test_losses: Sequence[float],
    suggestions: dict[str, float],
    valley_losses: tuple[float, float],
) -> Comparison:
    """Assembles a `Comparison`: the grid-best rate is chosen on the validation losses."""
    return Comparison(
        phase,
        seed,
        list(grid),
        [float(loss) for loss in validation_losses],
        [float(loss) for loss in test_losses],
        _best(grid, validation_losses),
        {name: float(rate) for name, rate in suggestions.items()},
        float(valley_losses[0]),
        float(valley_losses[1]),
    )


def format_table(comparisons: Sequence[Comparison]) -> str:
    """Returns one line per comparison: the grid-best rate, each suggestion and its ratio, losses.

    The grid-best rate is the one with the lowest validation loss; the last column reports the
    test loss of the run at the grid-best rate and of the run at the valley rate.

    Args:
        comparisons: non-empty sequence of `Comparison`.

    Returns:
        The table, one line per comparison under a header line.

    Raises:
        ValueError: if `comparisons` is not a non-empty sequence of `Comparison`.

    Example:

    >>> suggestions = {"valley": 3e-3, "steepest": 1e-3, "minimum_tenth": 5e-3}
    >>> comparison = Comparison(
    ...     1, 0, [1e-3, 1e-2], [0.5, 0.4], [0.6, 0.5], 1e-2, suggestions, 0.42, 0.52
    ... )
    >>> print(format_table([comparison]))  # the header is one line, wrapped here
    phase  seed  grid-best   valley (ratio)   steepest (ratio)   min/10 (ratio)
    test loss: best / at valley
        1     0    1.0e-02  3.0e-03 (0.30x)   1.0e-03 (0.10x)   5.0e-03 (0.50x)   0.500 / 0.520
    """
    rows = validation.check_sequence("comparisons", comparisons)
    for index, row in enumerate(rows):
        validation.check_instance(f"comparisons[{index}]", row, Comparison, "a Comparison")
    header = (
        "phase  seed  grid-best   valley (ratio)   steepest (ratio)   min/10 (ratio)   "
        "test loss: best / at valley"
    )
    lines = [header]
    for row in rows:
        cells = [f"{row.suggestions[name]:.1e} ({row.ratio(name):.2f}x)" for name in SUGGESTIONS]
        cells.append(f"{row.best_test_loss:.3f} / {row.valley_test_loss:.3f}")
        lines.append(f"{row.phase:>5} {row.seed:>5}    {row.best_rate:.1e}  " + "   ".join(cells))
    return "\n".join(lines)


def load_comparisons(path: str | os.PathLike = RESULTS_PATH) -> list[Comparison]:
    """Returns the comparisons `scripts/finder_vs_grid.py` stored (by default the course's own run).

    Args:
        path: str or path, the JSON file. Defaults to `RESULTS_PATH`.

    Returns:
        A list of `Comparison`.

    Raises:
        ValueError: if `path` is not a str or path.
        FileNotFoundError: if no file is there.

    Example:

    >>> comparisons = load_comparisons()
    >>> sorted({(row.phase, row.seed) for row in comparisons})
    [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    """
    validation.check_instance("path", path, str | os.PathLike, "a str or path")
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"path must name the JSON file scripts/finder_vs_grid.py writes. Received: path={path}"
        )
    return [Comparison(**row) for row in json.loads(path.read_text())["comparisons"]]
