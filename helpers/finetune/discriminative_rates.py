"""Discriminative learning rates: each layer group at its own rate, lower ones slower (lesson 07).

Lower layers of a pretrained network hold general features (edges, textures) that a new task
needs almost unchanged; higher layers hold task-specific ones that must move further. ULMFiT
(Howard and Ruder, "Universal language model fine-tuning for text classification", 2018) gives
each group of layers the rate of the group above it divided by 2.6 (`group_rates`); fastai's
`slice(lowest_rate, highest_rate)` spaces the rates geometrically from the first group to the
last (`rates_between`). `discriminative_optimizer` then builds one optimizer per group and hands
each group's variables to its own optimizer through Keras 3's `MultiOptimizer`.

Why separate optimizers, not one optimizer with each group's gradient scaled: Adam divides each
gradient by its own running size, so multiplying a group's gradient by 100 leaves Adam's step
unchanged (up to epsilon). Only a different learning rate moves a group differently
(tests/test_discriminative_rates.py measures both). Lesson 07 uses this module.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from helpers.finetune import layer_groups, optimizers, validation

# ULMFiT's ratio between the rates of neighbouring layer groups (Howard and Ruder 2018, sec. 3.2:
# "eta^(l-1) = eta^l / 2.6").
ULMFIT_FACTOR = 2.6


def group_rates(
    group_names: Sequence[str], top_rate: float, factor: float = ULMFIT_FACTOR
) -> dict[str, float]:
    """Returns ULMFiT's rates: the top group at `top_rate`, each group below `factor` times slower.

    With groups listed bottom to top, group `index` of `n` gets
    `top_rate / factor ** (n - 1 - index)`: the last group `top_rate`, the one below it
    `top_rate / factor`, and so on down to the first.

    Args:
        group_names: list or tuple of distinct str, the groups from bottom (input) to top
            (output), e.g. `layer_groups.GROUP_NAMES` or `list(groups)`.
        top_rate: float > 0, the learning rate of the last (top) group.
        factor: float >= 1, the ratio between the rates of neighbouring groups; 1 gives every
            group `top_rate`. Defaults to `ULMFIT_FACTOR` (2.6).

    Returns:
        A dict from group name to its learning rate, in the order of `group_names`.

    Raises:
        ValueError: for bad or repeated names, a `top_rate` that is not a positive number, or a
            `factor` below 1.

    Example:

    >>> rates = group_rates(("low", "middle", "high"), top_rate=1e-3)
    >>> {name: f"{rate:.2e}" for name, rate in rates.items()}
    {'low': '1.48e-04', 'middle': '3.85e-04', 'high': '1.00e-03'}
    >>> group_rates(("low", "high"), top_rate=1e-3, factor=0.5)
    Traceback (most recent call last):
    ...
    ValueError: factor must be a finite number >= 1. Received: factor=0.5
    """
    names = check_group_names("group_names", group_names)
    top_rate = validation.check_positive_number("top_rate", top_rate)
    factor = validation.check_number("factor", factor, minimum=1)
    last = len(names) - 1
    return {name: top_rate / factor ** (last - index) for index, name in enumerate(names)}


def rates_between(
    group_names: Sequence[str], lowest_rate: float, highest_rate: float
) -> dict[str, float]:
    """Returns rates spaced geometrically from `lowest_rate` (first group) to `highest_rate` (last).

    As fastai's `slice(lowest_rate, highest_rate)` (fastcore's `even_mults`): group `index` of `n`
    gets `lowest_rate ** (1 - fraction) * highest_rate ** fraction` with
    `fraction = index / (n - 1)`, so neighbouring groups differ by the same factor,
    `(highest_rate / lowest_rate) ** (1 / (n - 1))`. A single group gets `highest_rate`, as in
    fastai.

    Args:
        group_names: list or tuple of distinct str, the groups from bottom (input) to top
            (output).
        lowest_rate: float in (0, highest_rate], the learning rate of the first (bottom) group.
        highest_rate: float > 0, the learning rate of the last (top) group.

    Returns:
        A dict from group name to its learning rate, in the order of `group_names`.

    Raises:
        ValueError: for bad or repeated names, a rate that is not a positive number, or a
            `lowest_rate` above `highest_rate`.

    Example:

    >>> rates = rates_between(("low", "middle", "high"), lowest_rate=1e-5, highest_rate=1e-3)
    >>> {name: f"{rate:.0e}" for name, rate in rates.items()}
    {'low': '1e-05', 'middle': '1e-04', 'high': '1e-03'}
    >>> rates_between(("low", "high"), lowest_rate=1e-2, highest_rate=1e-3)
    Traceback (most recent call last):
    ...
    ValueError: lowest_rate must be a finite number in (0, 0.001]. Received: lowest_rate=0.01
    """
    names = check_group_names("group_names", group_names)
    highest_rate = validation.check_positive_number("highest_rate", highest_rate)
    lowest_rate = validation.check_number(
        "lowest_rate", lowest_rate, minimum=0, maximum=highest_rate, include_minimum=False
    )
    if len(names) == 1:
        return {names[0]: highest_rate}
    last = len(names) - 1
    # Written as a weighted geometric mean, the end points come out exactly.
    return {
        name: lowest_rate ** (1 - index / last) * highest_rate ** (index / last)
        for index, name in enumerate(names)
    }


def discriminative_optimizer(
    groups: dict[str, list[keras.layers.Layer]],
    learning_rates: dict[str, float | optimizers.Schedule],
    optimizer: str = "adam",
    **options: object,
) -> keras.optimizers.MultiOptimizer:
    """Returns one optimizer for the whole model that updates each group at its own rate.

    Each group gets a fresh optimizer from `optimizers.make_optimizer(optimizer,
    learning_rates[name], **options)`; a `keras.optimizers.MultiOptimizer` sends each trainable
    variable to the optimizer of the group that holds it (matched by identity, not by name).
    Compile with it as with any optimizer: `model.compile(optimizer=discriminative_optimizer(...))`.
    Variables that are not trainable (a frozen group, BatchNormalization after `models.unfreeze`)
    are never handed to it and do not move. As with any optimizer, build a new one after
    freezing or unfreezing, and recompile. Each group's optimizer counts its own steps, so a
    schedule per group works. Keras cannot serialize the map from variables to groups:
    `model.save_weights` works, `model.save` raises a `TypeError`.

    Args:
        groups: dict from group name to a non-empty list of layers, bottom to top, such as
            `layer_groups.mobilenet_v2_groups` returns. Every trainable variable of the model
            must belong to one group.
        learning_rates: dict with exactly the groups' names as keys; each value a positive
            number or a `LearningRateSchedule` of float rates, e.g. from `group_rates`.
        optimizer: str, `"adam"`, `"sgd"` (momentum 0.9 unless `options` says otherwise) or
            `"rmsprop"`, any case. Defaults to `"adam"`.
        **options: keyword arguments for every group's Keras optimizer, e.g. `momentum=0.0` or
            `weight_decay=1e-4` (see `optimizers.make_optimizer`).

    Returns:
        A `keras.optimizers.MultiOptimizer`; `.optimizers` lists the group optimizers it has
        used, once it is built (on the first training step).

    Raises:
        ValueError: for bad `groups`, a variable held by two groups, `learning_rates` whose keys
            are not the groups' names or whose values are not rates, an unknown `optimizer`, or
            bad `options` (or a `learning_rate` among them). When the model is built for
            training: for a trainable variable that no group holds, naming its path.

    Example:

    >>> import numpy as np
    >>> low = keras.layers.Dense(4, name="low")
    >>> high = keras.layers.Dense(1, name="high")
    >>> model = keras.Sequential([keras.Input((3,)), low, high])
    >>> groups = {"low": [low], "high": [high]}
    >>> rates = group_rates(list(groups), top_rate=1e-3)
    >>> model.compile(optimizer=discriminative_optimizer(groups, rates), loss="mse")
    >>> _ = model.fit(np.ones((8, 3)), np.zeros((8, 1)), verbose=0)
    >>> [f"{float(optimizer.learning_rate):.2e}" for optimizer in model.optimizer.optimizers]
    ['3.85e-04', '1.00e-03']
    >>> discriminative_optimizer(groups, {"low": 1e-4})
    Traceback (most recent call last):
    ...
    ValueError: learning_rates must have exactly the groups' names as keys, ['low', 'high'].
    Received: learning_rates missing ['high']
    """
    groups = layer_groups.check_groups("groups", groups)
    learning_rates = check_learning_rates_by_group("learning_rates", learning_rates, list(groups))
    lowercase_name = optimizer.lower() if isinstance(optimizer, str) else optimizer
    name = validation.check_choice("optimizer", lowercase_name, optimizers.OPTIMIZER_CLASSES)
    if "learning_rate" in options:
        raise ValueError(
            "options must not hold learning_rate: each group's comes from learning_rates. "
            f"Received: learning_rate={options['learning_rate']!r}"
        )
    optimizer_by_group = {
        group_name: optimizers.make_optimizer(name, learning_rates[group_name], **options)
        for group_name in groups
    }
    return keras.optimizers.MultiOptimizer(_OptimizerByGroup(groups, optimizer_by_group))


def check_group_names(name: str, group_names: object) -> list[str]:
    """Returns `group_names` as a list, or raises unless it is a list or tuple of distinct str.

    Example:

    >>> check_group_names("group_names", ("low", "low"))
    Traceback (most recent call last):
    ...
    ValueError: group_names must hold distinct names. Received: group_names=('low', 'low')
    """
    names = validation.check_sequence(name, group_names)
    for index, group_name in enumerate(names):
        validation.check_text(f"{name}[{index}]", group_name)
    if len(set(names)) != len(names):
        raise ValueError(f"{name} must hold distinct names. Received: {name}={group_names!r}")
    return names


def check_learning_rates_by_group(
    name: str, learning_rates: object, group_names: Sequence[str]
) -> dict[str, float | optimizers.Schedule]:
    """Returns `learning_rates` checked, or raises unless it maps each group's name to a rate.

    Args:
        name: str, the argument's name, used in the message.
        learning_rates: the value received.
        group_names: sequence of str, the names the keys must be, in order.

    Returns:
        A dict from group name to a float or schedule, in the order of `group_names`.

    Raises:
        ValueError: naming the missing and extra keys, or the first value that is not a rate.

    Example:

    >>> check_learning_rates_by_group("learning_rates", {"low": 0}, ["low"])
    Traceback (most recent call last):
    ...
    ValueError: learning_rates['low'] must be a positive, finite number or a LearningRateSchedule.
    Received: learning_rates['low']=0
    """
    validation.check_instance(name, learning_rates, dict, "a dict from group name to rate")
    missing = [group_name for group_name in group_names if group_name not in learning_rates]
    extra = [key for key in learning_rates if key not in group_names]
    if missing or extra:
        parts = [f"missing {missing}"] if missing else []
        parts += [f"with extra keys {extra}"] if extra else []
        raise ValueError(
            f"{name} must have exactly the groups' names as keys, {list(group_names)}. "
            f"Received: {name} {' and '.join(parts)}"
        )
    return {
        group_name: validation.check_learning_rate(
            f"{name}[{group_name!r}]", learning_rates[group_name]
        )
        for group_name in group_names
    }


class _OptimizerByGroup:
    """The `MultiOptimizer`'s map: a variable to the optimizer of the group holding it.

    Matching by identity (`id(variable)`) is exact: names and paths can repeat across nested
    models, a variable object cannot.
    """

    def __init__(
        self,
        groups: dict[str, list[keras.layers.Layer]],
        optimizer_by_group: dict[str, keras.optimizers.Optimizer],
    ) -> None:
        self.optimizer_by_group = optimizer_by_group
        self.group_names = list(groups)
        self._group_by_variable: dict[int, str] = {}
        for group_name, variables in layer_groups.group_variables(groups).items():
            for variable in variables:
                earlier = self._group_by_variable.get(id(variable))
                if earlier is not None and earlier != group_name:
                    raise ValueError(
                        "groups must hold each variable in one group only. Received: "
                        f"{variable.path!r} in groups {earlier!r} and {group_name!r}"
                    )
                self._group_by_variable[id(variable)] = group_name

    def __call__(self, variable: keras.Variable) -> keras.optimizers.Optimizer:
        group_name = self._group_by_variable.get(id(variable))
        if group_name is None:
            raise ValueError(
                "groups must hold every trainable variable of the model, or the optimizer "
                "cannot update it. Received: the trainable variable "
                f"{variable.path!r} in none of the groups "
                f"{self.group_names}; add its layer to a group, or freeze it"
            )
        return self.optimizer_by_group[group_name]

    def __repr__(self) -> str:
        return f"<optimizer per group for {self.group_names}>"
