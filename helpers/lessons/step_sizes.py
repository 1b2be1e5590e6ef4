"""How far each optimizer moves a weight, and Keras 3's learning-rate pitfalls (lesson 02).

The same `learning_rate` moves weights differently in Adam, SGD with momentum and RMSprop, and
the difference depends on the gradient's size: SGD's step scales with `abs(gradient)`, Adam's
does not, and RMSprop's epsilon shrinks its step for small gradients. `steady_gradient_steps`
measures one optimizer on one steady gradient; `step_size_table` measures the course's four
optimizers over a range of gradient sizes. The pitfall demos cover `lr=` and reusing an optimizer
after unfreezing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np

from helpers.finetune import optimizers, validation

# The optimizers of lesson 02's table: a label, then `optimizers.make_optimizer`'s name and options.
TABLE_OPTIMIZERS = {
    "SGD": ("sgd", {"momentum": 0.0}),
    "SGD, momentum 0.9": ("sgd", {"momentum": 0.9}),
    "RMSprop": ("rmsprop", {}),
    "Adam": ("adam", {}),
}
# Per-weight gradient sizes from 1 (`steady_gradient_steps`' default) down to those a pretrained
# base sees under a fresh head (lesson 02 measures them with `weight_scales.gradient_sizes`).
GRADIENT_SIZES = (1.0, 1e-1, 1e-2, 1e-3, 1e-4)
SETTLED_STEPS = 100  # momentum 0.9 and RMSprop's rho 0.9 have forgotten their start by then


def steady_gradient_steps(
    optimizer: keras.optimizers.Optimizer, steps: int = 20, gradient: float = 1.0
) -> list[float]:
    """Returns how far a fresh optimizer moves one weight at each step of a never-changing gradient.

    A constant gradient (loss `gradient * w`) isolates each optimizer's rescaling. With
    `g = abs(gradient)`: SGD with momentum `m` speeds up towards `learning_rate * g / (1 - m)`;
    RMSprop's first step is `learning_rate * g / sqrt((1 - rho) * g**2 + epsilon)`, about
    `learning_rate / sqrt(1 - rho)` only while `g >> sqrt(epsilon / (1 - rho))`; Adam's bias
    correction keeps its steps near `learning_rate` for any `g` well above its `epsilon`.

    Args:
        optimizer: a fresh `keras.optimizers.Optimizer` (one that has not taken a step yet).
        steps: int >= 1, how many updates to apply. Defaults to 20.
        gradient: float, the constant positive gradient. Defaults to 1.0.

    Returns:
        A list of `steps` floats: the distance the weight moved at each update.

    Raises:
        ValueError: if `optimizer` is not a fresh optimizer, `steps` is not an int >= 1 or
            `gradient` is not a positive, finite number.

    Example:

    >>> moves = steady_gradient_steps(optimizers.make_optimizer("sgd", 0.01, momentum=0.5), steps=3)
    >>> [round(move, 6) for move in moves]
    [0.01, 0.015, 0.0175]
    """
    optimizer = optimizers.check_optimizer(optimizer)
    steps = validation.check_int("steps", steps, minimum=1)
    gradient = validation.check_positive_number("gradient", gradient)
    has_stepped = optimizer.built or int(optimizer.iterations.numpy()) != 0
    if has_stepped:
        # A used optimizer carries momentum from its past steps, so its moves would not be its own.
        raise ValueError(
            f"optimizer must be fresh (no steps taken yet). Received: optimizer={optimizer.name}"
        )
    weight = keras.Variable(np.zeros(1), dtype="float64", name="weight")
    constant_gradient = keras.ops.convert_to_tensor(np.full(1, gradient), dtype="float64")
    positions = [0.0]
    for _ in range(steps):
        optimizer.apply_gradients([(constant_gradient, weight)])
        positions.append(float(weight.numpy()[0]))
    return [abs(after - before) for before, after in zip(positions, positions[1:], strict=False)]


class RelativeSteps(NamedTuple):
    """One optimizer at one gradient size, in units of the learning rate.

    Attributes:
        first: float, the first step divided by `learning_rate`.
        settled: float, step number `steps` divided by `learning_rate`.
    """

    first: float
    settled: float


def step_size_table(
    gradient_sizes: Sequence[float] = GRADIENT_SIZES,
    learning_rate: float = 1e-3,
    steps: int = SETTLED_STEPS,
) -> dict[str, dict[float, RelativeSteps]]:
    """Measures each of `TABLE_OPTIMIZERS` on a steady gradient of each size, in learning rates.

    Every entry comes from real Keras optimizers through `steady_gradient_steps`. Dividing by
    `learning_rate` shows what the learning rate alone does not say: SGD's step is
    `abs(gradient)` learning rates (`abs(gradient) / (1 - m)` once momentum `m` has settled),
    Adam's about one whatever the gradient, RMSprop's in between.

    Args:
        gradient_sizes: sequence of positive floats. Defaults to `GRADIENT_SIZES`.
        learning_rate: float > 0, every optimizer's rate. Defaults to 1e-3.
        steps: int >= 1, the step whose size `settled` reports. Defaults to `SETTLED_STEPS`.

    Returns:
        `{label: {gradient_size: RelativeSteps}}` with the labels of `TABLE_OPTIMIZERS`.

    Raises:
        ValueError: if a gradient size or `learning_rate` is not a positive, finite number, or
            `steps` is not an int >= 1.

    Example:

    >>> table = step_size_table([1.0, 1e-3], learning_rate=0.01, steps=100)
    >>> [round(table["SGD, momentum 0.9"][size].settled, 3) for size in (1.0, 1e-3)]
    [10.0, 0.01]
    >>> [round(table["Adam"][size].first, 3) for size in (1.0, 1e-3)]
    [1.0, 0.997]
    """
    sizes = [
        validation.check_positive_number(f"gradient_sizes[{index}]", size)
        for index, size in enumerate(validation.check_sequence("gradient_sizes", gradient_sizes))
    ]
    learning_rate = validation.check_positive_number("learning_rate", learning_rate)
    steps = validation.check_int("steps", steps, minimum=1)
    table = {}
    for label, (name, options) in TABLE_OPTIMIZERS.items():
        row = {}
        for size in sizes:
            optimizer = optimizers.make_optimizer(name, learning_rate, **options)
            moves = steady_gradient_steps(optimizer, steps=steps, gradient=size)
            row[size] = RelativeSteps(moves[0] / learning_rate, moves[-1] / learning_rate)
        table[label] = row
    return table


def format_step_size_table(table: dict[str, dict[float, RelativeSteps]], steps: int) -> str:
    """Returns `step_size_table`'s result as text: a row per optimizer and step, a column per size.

    Values are printed to 3 significant digits; plain SGD gets one row, its steps never change.

    Args:
        table: dict, as `step_size_table` returns it.
        steps: int >= 1, the `steps` the table was measured with (the settled row's label).

    Returns:
        str, one line per row.

    Raises:
        ValueError: if `table` is not such a dict or `steps` is not an int >= 1.

    Example:

    >>> table = step_size_table([1.0, 1e-4], learning_rate=1e-3, steps=100)
    >>> print(format_step_size_table(table, steps=100))
    step / learning_rate at |g| =             1     0.0001
    SGD                     every             1     0.0001
    SGD, momentum 0.9       step 1            1     0.0001
                            step 100         10      0.001
    RMSprop                 step 1         3.16      0.315
                            step 100          1      0.302
    Adam                    step 1            1      0.969
                            step 100          1      0.997
    """
    steps = validation.check_int("steps", steps, minimum=1)
    if not isinstance(table, dict) or set(table) != set(TABLE_OPTIMIZERS):
        raise ValueError(
            "table must be the dict step_size_table returns, one entry per optimizer "
            f"{list(TABLE_OPTIMIZERS)}. Received: table={_short(table)}"
        )
    sizes = list(table["Adam"])
    header = "".join(f"{size:>11g}" for size in sizes)
    lines = [f"{'step / learning_rate at |g| =':<32}{header}"]
    for label, row in table.items():
        kinds = [("every", "first")] if label == "SGD" else [("step 1", "first")]
        if label != "SGD":
            kinds.append((f"step {steps}", "settled"))
        for index, (step_label, field) in enumerate(kinds):
            name = label if index == 0 else ""
            values = "".join(f"{getattr(row[size], field):>11.3g}" for size in sizes)
            lines.append(f"{name:<24}{step_label:<8}{values}")
    return "\n".join(lines)


def _short(value: object) -> str:
    """A short description of `value` for an error message."""
    return f"a {type(value).__name__}" if not isinstance(value, str) else repr(value)


def legacy_keyword_error(name: str = "adam") -> str:
    """Returns the error Keras 3 raises for the Keras 2 spelling `Adam(lr=1e-3)`.

    Args:
        name: str, `"adam"`, `"sgd"` or `"rmsprop"`. Defaults to `"adam"`.

    Returns:
        str, `"<error type>: <message>"`, or `"no error"` if Keras accepted `lr=`.

    Raises:
        ValueError: for an unknown `name`, suggesting the closest one.

    Example:

    >>> legacy_keyword_error("sgd")
    "ValueError: Argument(s) not recognized: {'lr': 0.001}"
    """
    name = validation.check_choice("name", name, optimizers.OPTIMIZER_CLASSES)
    try:
        optimizers.OPTIMIZER_CLASSES[name](lr=1e-3)
    except (TypeError, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return "no error"


def recompile_after_unfreezing(reuse_optimizer: bool, seed: int = 0) -> str:
    """Freezes a layer, trains, unfreezes it, recompiles and trains again; returns what happened.

    A Keras 3 optimizer is bound to the variables it first updated: after unfreezing, the same
    object meets new variables and `fit` raises. A fresh optimizer trains the whole model.

    Args:
        reuse_optimizer: bool, recompile with the first phase's optimizer (`True`) or a fresh one.
        seed: int >= 0, seeds the tiny model and data. Defaults to 0.

    Returns:
        str, `"trained: the unfrozen base changed"`, or the error's type and message.

    Raises:
        ValueError: if `reuse_optimizer` is not a bool or `seed` not an int >= 0.

    Example:

    >>> recompile_after_unfreezing(reuse_optimizer=False)
    'trained: the unfrozen base changed'
    """
    reuse_optimizer = validation.check_bool("reuse_optimizer", reuse_optimizer)
    seed = validation.check_int("seed", seed, minimum=0)
    keras.utils.set_random_seed(seed)
    base = keras.layers.Dense(4, name="base")
    head = keras.layers.Dense(1, name="head")
    model = keras.Sequential([keras.Input((3,)), base, head], name="tiny_model")
    features, targets = np.random.default_rng(seed).random((2, 8, 3)).astype("float32")
    base.trainable = False
    first_optimizer = keras.optimizers.Adam(learning_rate=1e-3)
    model.compile(optimizer=first_optimizer, loss="mse")
    model.fit(features, targets[:, :1], epochs=1, verbose=0)
    base.trainable = True
    second_optimizer = first_optimizer if reuse_optimizer else keras.optimizers.Adam(1e-4)
    model.compile(optimizer=second_optimizer, loss="mse")
    before = base.get_weights()[0].copy()
    try:
        model.fit(features, targets[:, :1], epochs=1, verbose=0)
    except ValueError as error:
        return f"{type(error).__name__}: {error}"
    changed = not np.array_equal(before, base.get_weights()[0])
    return "trained: the unfrozen base changed" if changed else "trained: the base did not change"
