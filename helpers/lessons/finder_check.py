"""Does the range test find a good rate? Its suggestions against a grid search, in both phases (lesson 05).

For one seed and one phase this trains at every rate of a log grid, keeps the rate whose held-out loss ends
lowest ("grid-best"), runs the range test from the same starting point, and reports each suggestion's ratio
to the grid-best rate. Phase 1 trains a fresh head on cached base features; phase 2 fine-tunes the unfrozen
model after a head trained at 1e-3, as in the lesson 04 recipe. `scripts/finder_vs_grid.py` runs the full
comparison over 3 seeds and writes `data/finder_vs_grid.json`, which the lesson and the README quote.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras
import numpy as np

from helpers.finetune import head_training, lr_finder, models, two_phase
from helpers.lessons import course, pretrained, target_task

PHASE_ONE_GRID = tuple(
    float(rate) for rate in np.logspace(-5, 0, 11)
)  # 1e-5 .. 1, half-decade steps
PHASE_TWO_GRID = tuple(
    float(rate) for rate in np.logspace(-6, -2, 9)
)  # 1e-6 .. 1e-2, half-decade steps
HEAD_LEARNING_RATE = 1e-3  # phase 1 before the phase-2 comparison, as in lessons 03 and 04
RESULTS_PATH = (
    course.COURSE_ROOT / "data" / "finder_vs_grid.json"
)  # written by scripts/finder_vs_grid.py
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


@dataclasses.dataclass
class Comparison:
    """One phase and one seed: the grid's held-out losses, its best rate, and the range test's suggestions."""

    phase: int  # 1 (head on a frozen base) or 2 (unfrozen base)
    seed: int
    grid: list[float]  # the rates tried
    losses: list[float]  # held-out loss after training at each rate (NaN where training diverged)
    best_rate: float  # the grid rate with the lowest held-out loss
    suggestions: dict[str, float]  # the range test's "valley", "steepest", "minimum_tenth"
    valley_loss: float  # held-out loss after training at the valley rate itself

    @property
    def best_loss(self) -> float:
        """The grid-best rate's held-out loss."""
        return float(np.nanmin(np.where(np.isfinite(self.losses), self.losses, np.nan)))

    def ratio(self, name: str = "valley") -> float:
        """Returns suggestion / grid-best: 1 is a perfect match, 3 or 1/3 is a factor 3 off."""
        return self.suggestions[name] / self.best_rate


def _best(grid, losses) -> float:
    losses = np.where(np.isfinite(losses), losses, np.inf)
    return float(grid[int(np.argmin(losses))])


def range_test_new_head(features, labels, seed: int = 0, **options) -> lr_finder.RangeTestResult:
    """The range test before phase 1: a fresh head (seeded with `seed`) with Adam, on cached base features.

    Args:
        features, labels: arrays, pooled base features `(n, num_features)` and int labels.
        seed: int, seeds the head and the shuffling. Defaults to 0.
        **options: passed to `lr_finder.find_learning_rate` (`num_steps`, `batch_size`, ...).

    Returns:
        A `lr_finder.RangeTestResult`.
    """
    keras.utils.set_random_seed(seed)
    head = head_training.build_head(np.shape(features)[1], target_task.NUM_CLASSES)
    head.compile(optimizer=keras.optimizers.Adam(), loss=LOSS)
    return lr_finder.find_learning_rate(head, (features, labels), seed=seed, **options)


def range_test_unfrozen(
    model, base_model, images, labels, seed: int = 0, **options
) -> lr_finder.RangeTestResult:
    """The range test before phase 2: unfreezes the base (BatchNorm stays frozen), recompiles with a fresh Adam.

    Args:
        model, base_model: the pair from `pretrained.build_mobilenet_v2`, its head trained (phase 1 done).
        images, labels: arrays, preprocessed images and int labels.
        seed: int, the shuffling seed. Defaults to 0.
        **options: passed to `lr_finder.find_learning_rate` (`num_steps`, `batch_size`, ...).

    Returns:
        A `lr_finder.RangeTestResult`.
    """
    models.unfreeze(base_model)
    model.compile(optimizer=keras.optimizers.Adam(), loss=LOSS)
    return lr_finder.find_learning_rate(model, (images, labels), seed=seed, **options)


def compare_phase_one(
    data: target_task.TaskData, epochs: int = 10, grid=PHASE_ONE_GRID, seed: int = 0
) -> Comparison:
    """Grid-searches the head's learning rate on cached features and runs the range test on a fresh head.

    Args:
        data: TaskData, from `target_task.prepare_data`; its target test set is the held-out set.
        epochs: int >= 1, epochs per grid run. Defaults to 10.
        grid: sequence of float > 0, the rates tried. Defaults to `PHASE_ONE_GRID`.
        seed: int, seeds the heads and the shuffling. Defaults to 0.

    Returns:
        A `Comparison` with `phase=1`.

    Example:

    >>> data = target_task.prepare_data(2, test_count=8, source_count=1, image_size=32)
    >>> comparison = compare_phase_one(data, epochs=1, grid=[1e-3, 1e-1])
    >>> comparison.best_rate in (1e-3, 1e-1), sorted(comparison.suggestions)
    (True, ['minimum_tenth', 'steepest', 'valley'])
    """
    _, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES, data.train[0].shape[1])
    train = (head_training.pooled_features(base_model, data.train[0]), data.train[1])
    held_out = (head_training.pooled_features(base_model, data.target_test[0]), data.target_test[1])

    def held_out_loss(learning_rate):
        history = head_training.train_head(
            train, held_out, learning_rate, target_task.NUM_CLASSES, epochs, seed=seed
        )
        return history["val_loss"][-1]

    losses = [held_out_loss(learning_rate) for learning_rate in grid]
    suggestions = range_test_new_head(*train, seed=seed).suggestions
    valley_loss = held_out_loss(suggestions["valley"])
    return Comparison(1, seed, list(grid), losses, _best(grid, losses), suggestions, valley_loss)


def compare_phase_two(
    data: target_task.TaskData,
    head_epochs: int = 10,
    epochs: int = 3,
    grid=PHASE_TWO_GRID,
    seed: int = 0,
) -> Comparison:
    """Trains a head at 1e-3, then grid-searches phase 2's rate and runs the range test on the unfrozen model.

    Args:
        data: TaskData, from `target_task.prepare_data`; its target test set is the held-out set.
        head_epochs: int >= 1, phase 1's epochs. Defaults to 10.
        epochs: int >= 1, phase-2 epochs per grid run. Defaults to 3.
        grid: sequence of float > 0, the rates tried. Defaults to `PHASE_TWO_GRID`.
        seed: int, seeds the head, dropout and shuffling. Defaults to 0.

    Returns:
        A `Comparison` with `phase=2`.
    """
    image_size = data.train[0].shape[1]
    keras.utils.set_random_seed(seed)
    trained, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES, image_size)
    two_phase.fine_tune(
        trained,
        base_model,
        data.train,
        head_epochs=head_epochs,
        fine_tune_epochs=0,
        seed=seed,
        verbose=0,
    )

    def start():  # the pretrained base and the trained head, in a fresh model
        keras.utils.set_random_seed(seed)
        model, base_model = pretrained.build_mobilenet_v2(
            target_task.NUM_CLASSES, image_size, weights=None
        )
        model.set_weights(trained.get_weights())
        return model, base_model

    def held_out_loss(learning_rate):
        model, base_model = start()
        options = {
            "head_epochs": 0,
            "fine_tune_epochs": epochs,
            "fine_tune_learning_rate": learning_rate,
        }
        two_phase.fine_tune(model, base_model, data.train, seed=seed, verbose=0, **options)
        return float(model.evaluate(*data.target_test, verbose=0, return_dict=True)["loss"])

    losses = [held_out_loss(learning_rate) for learning_rate in grid]
    suggestions = range_test_unfrozen(*start(), *data.train, seed=seed).suggestions
    valley_loss = held_out_loss(suggestions["valley"])
    return Comparison(2, seed, list(grid), losses, _best(grid, losses), suggestions, valley_loss)


def format_table(comparisons: list[Comparison]) -> str:
    """Returns one line per comparison: phase, seed, grid-best rate, valley and its ratio, the other two.

    Example:

    >>> suggestions = {"valley": 3e-3, "steepest": 1e-3, "minimum_tenth": 5e-3}
    >>> print(format_table([Comparison(1, 0, [1e-3, 1e-2], [0.5, 0.4], 1e-2, suggestions, 0.42)]))
    phase  seed  grid-best   valley (ratio)   steepest (ratio)   min/10 (ratio)   loss: best / at valley
        1     0    1.0e-02  3.0e-03 (0.30x)   1.0e-03 (0.10x)   5.0e-03 (0.50x)   0.400 / 0.420
    """
    lines = [
        "phase  seed  grid-best   valley (ratio)   steepest (ratio)   min/10 (ratio)   loss: best / at valley"
    ]
    for row in comparisons:
        cells = [
            f"{row.suggestions[name]:.1e} ({row.ratio(name):.2f}x)"
            for name in ("valley", "steepest")
        ]
        cells.append(f"{row.suggestions['minimum_tenth']:.1e} ({row.ratio('minimum_tenth'):.2f}x)")
        cells.append(f"{row.best_loss:.3f} / {row.valley_loss:.3f}")
        lines.append(f"{row.phase:>5} {row.seed:>5}    {row.best_rate:.1e}  " + "   ".join(cells))
    return "\n".join(lines)


def load_comparisons(path: str | pathlib.Path = RESULTS_PATH) -> list[Comparison]:
    """Returns the comparisons `scripts/finder_vs_grid.py` stored (by default the course's own run).

    Example:

    >>> comparisons = load_comparisons()
    >>> sorted({(row.phase, row.seed) for row in comparisons})
    [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise ValueError(
            f"path must name the JSON file scripts/finder_vs_grid.py writes. Received: path={path}"
        )
    return [Comparison(**row) for row in json.loads(path.read_text())["comparisons"]]
