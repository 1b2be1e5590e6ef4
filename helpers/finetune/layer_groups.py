"""MobileNetV2 in named layer groups, bottom to top, each to get its own rate (lesson 07).

Discriminative learning rates and gradual unfreezing (ULMFiT: Howard and Ruder, "Universal
language model fine-tuning for text classification", 2018) treat a network as a few groups of
layers rather than as single layers. For MobileNetV2 the natural cut is its resolution stages:
the stem at half the input size, then the inverted-residual blocks in the order the feature maps
shrink (blocks 1-2, 3-5, 6-12, 13-16 start at a stride-2 depthwise convolution), the top 1x1
convolution to 1280 channels, and the new head. Layers are assigned by their Keras names
(`Conv1`, `expanded_conv_*`, `block_N_*`, `Conv_1*`), so any `keras.applications.MobileNetV2`
base splits the same way, whatever its input size or width.
"""

from __future__ import annotations

import math
import re

import keras

from helpers.finetune import models, validation

# Bottom to top. A block group starts at a stride-2 block: the feature maps halve there.
BLOCK_GROUPS = {
    "blocks 1-2": (1, 2),  # 1/4 of the input size
    "blocks 3-5": (3, 5),  # 1/8
    "blocks 6-12": (6, 12),  # 1/16
    "blocks 13-16": (13, 16),  # 1/32
}
GROUP_NAMES = ("stem", *BLOCK_GROUPS, "top", "head")
_BLOCK_NUMBER = re.compile(r"block_(\d+)_")


def mobilenet_v2_groups(
    model: keras.Model, base_model: keras.Model
) -> dict[str, list[keras.layers.Layer]]:
    """Splits a MobileNetV2 classifier into `GROUP_NAMES`: the base's stages, its top, the head.

    Only layers with weights are listed; each is in exactly one group. `"head"` holds the
    model's layers with weights outside the base (the new `Dense` logits layer).

    Args:
        model: keras.Model, the classifier containing `base_model` (as
            `models.build_mobilenet_v2` returns them).
        base_model: keras.Model, a `keras.applications.MobileNetV2` base, without its top.

    Returns:
        A dict from group name to its layers, in the order of `GROUP_NAMES` (bottom to top).

    Raises:
        ValueError: if `base_model` is not a base, is not inside `model`, or has a layer with
            weights whose name is not MobileNetV2's.

    Example:

    >>> model, base_model = models.build_mobilenet_v2(4, image_size=32)
    >>> groups = mobilenet_v2_groups(model, base_model)
    >>> [(name, len(layers)) for name, layers in groups.items()]  # doctest: +NORMALIZE_WHITESPACE
    [('stem', 6), ('blocks 1-2', 12), ('blocks 3-5', 18), ('blocks 6-12', 42),
     ('blocks 13-16', 24), ('top', 2), ('head', 1)]
    """
    base_model = models.check_base_model(base_model)
    validation.check_instance("model", model, keras.Model, "a keras.Model")
    if not any(layer is base_model for layer in model.layers):
        raise ValueError(
            f"model must contain base_model as one of its layers. Received: model={model.name!r}, "
            f"base_model={base_model.name!r}"
        )
    groups: dict[str, list[keras.layers.Layer]] = {name: [] for name in GROUP_NAMES}
    for layer in base_model.layers:
        if layer.weights:
            groups[_group_of(layer.name)].append(layer)
    groups["head"] = [layer for layer in model.layers if layer is not base_model and layer.weights]
    return groups


def _group_of(layer_name: str) -> str:
    """The group of one of MobileNetV2's layers with weights, from its Keras name."""
    if layer_name == "Conv1" or layer_name == "bn_Conv1" or layer_name.startswith("expanded_conv"):
        return "stem"
    if layer_name.startswith("Conv_1"):
        return "top"
    match = _BLOCK_NUMBER.match(layer_name)
    if match:
        number = int(match.group(1))
        for name, (first, last) in BLOCK_GROUPS.items():
            if first <= number <= last:
                return name
    raise ValueError(
        "base_model must be a keras.applications.MobileNetV2 base: its layer names place each "
        f"layer in a group. Received: a layer named {layer_name!r}"
    )


def check_groups(name: str, groups: object) -> dict[str, list[keras.layers.Layer]]:
    """Returns `groups`, or raises unless it is a dict from str to a non-empty list of layers.

    Example:

    >>> check_groups("groups", {"low": []})
    Traceback (most recent call last):
    ...
    ValueError: groups['low'] must be a non-empty list of Keras layers. Received: groups['low']=[]
    """
    validation.check_instance(name, groups, dict, "a dict from group name to a list of layers")
    if not groups:
        raise ValueError(f"{name} must have at least one group. Received: {name}={{}}")
    for group_name, layers in groups.items():
        validation.check_text(f"{name} key", group_name)
        label = f"{name}[{group_name!r}]"
        is_list = isinstance(layers, list | tuple)
        if not is_list or not layers or not all(isinstance(x, keras.layers.Layer) for x in layers):
            raise ValueError(
                f"{label} must be a non-empty list of Keras layers. Received: {label}={layers!r}"
            )
    return groups


def group_variables(groups: dict[str, list[keras.layers.Layer]]) -> dict[str, list[keras.Variable]]:
    """Each group's learnable variables: kernels, biases, BatchNorm's gamma and beta.

    Listed whether or not they are trainable at the moment; BatchNorm's moving mean and variance
    are statistics, not learnt, and never listed.

    Args:
        groups: dict from group name to layers, such as `mobilenet_v2_groups` returns.

    Returns:
        A dict from group name to its variables, in the same order.

    Raises:
        ValueError: if `groups` is not such a dict.

    Example:

    >>> dense = keras.layers.Dense(3, name="dense")
    >>> dense.build((None, 2))
    >>> [variable.path for variable in group_variables({"head": [dense]})["head"]]
    ['dense/kernel', 'dense/bias']
    """
    groups = check_groups("groups", groups)
    return {
        name: [
            variable
            for layer in layers
            for variable in layer.weights
            if variable.trainable or _is_learnable_when_trainable(layer, variable)
        ]
        for name, layers in groups.items()
    }


def _is_learnable_when_trainable(layer: keras.layers.Layer, variable: keras.Variable) -> bool:
    """Whether `variable` would be trained if its layer were trainable (not a moving statistic)."""
    if isinstance(layer, keras.layers.BatchNormalization):
        return variable is layer.gamma or variable is layer.beta
    return True


def parameter_counts(groups: dict[str, list[keras.layers.Layer]]) -> dict[str, int]:
    """Each group's number of learnable parameters (see `group_variables`).

    Example:

    >>> model, base_model = models.build_mobilenet_v2(4, image_size=32)
    >>> counts = parameter_counts(mobilenet_v2_groups(model, base_model))
    >>> # Conv_1 (112 * 1280 weights) with its BatchNorm's gamma and beta; Dense(1280 -> 4).
    >>> counts["top"] == 112 * 1280 + 2 * 1280, counts["head"] == 1280 * 4 + 4
    (True, True)
    """
    return {
        name: int(sum(math.prod(variable.shape) for variable in variables))
        for name, variables in group_variables(groups).items()
    }


def unfreeze_top_groups(
    base_model: keras.Model, groups: dict[str, list[keras.layers.Layer]], count: int
) -> list[str]:
    """Makes the top `count` groups trainable and every group below frozen; BatchNorm stays frozen.

    The step of gradual unfreezing: `count=1` trains the top group alone (the head, when the
    groups come from `mobilenet_v2_groups`), each larger count one more group down. The base's
    BatchNormalization layers stay frozen in every group, as with `models.unfreeze`. Recompile
    the model afterwards, with a fresh optimizer, so that `fit` sees the change.

    Args:
        base_model: keras.Model, the base whose layers the groups hold (the head may be outside).
        groups: dict from group name to layers, bottom to top (`mobilenet_v2_groups`).
        count: int from 0 to `len(groups)`, how many groups, counted from the top, train.

    Returns:
        The names of the trainable groups, top first.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> model, base_model = models.build_mobilenet_v2(4, image_size=32)
    >>> groups = mobilenet_v2_groups(model, base_model)
    >>> unfreeze_top_groups(base_model, groups, 2)
    ['head', 'top']
    >>> [variable.path for variable in model.trainable_weights]
    ['Conv_1/kernel', 'logits/kernel', 'logits/bias']
    """
    base_model = models.check_base_model(base_model)
    groups = check_groups("groups", groups)
    count = validation.check_int("count", count, minimum=0, maximum=len(groups))
    names = list(groups)
    trainable_names = names[len(names) - count :]
    # The base itself must be trainable for any of its layers to train.
    base_model.trainable = True
    in_base = {id(layer) for layer in base_model.layers}
    grouped = {id(layer) for layers in groups.values() for layer in layers}
    for layer in base_model.layers:
        if id(layer) not in grouped:
            layer.trainable = False  # a layer in no group never trains
    for name in names:
        for layer in groups[name]:
            is_batch_norm = isinstance(layer, keras.layers.BatchNormalization)
            layer.trainable = name in trainable_names and not is_batch_norm
    if not any(id(layer) in in_base for name in trainable_names for layer in groups[name]):
        # No group of the base trains: freeze it whole, as `models.freeze` does.
        base_model.trainable = False
    return trainable_names[::-1]


def format_counts(groups: dict[str, list[keras.layers.Layer]]) -> str:
    """A text table of each group's layers with weights and learnable parameters, bottom to top.

    Example:

    >>> model, base_model = models.build_mobilenet_v2(4, image_size=32)
    >>> print(format_counts(mobilenet_v2_groups(model, base_model)))
    group           layers   parameters   share
    stem                 6          784    0.2%
    blocks 1-2          12        2,816    0.7%
    blocks 3-5          18       10,512    2.6%
    blocks 6-12         42       71,328   17.8%
    blocks 13-16        24      164,768   41.1%
    top                  2      145,920   36.4%
    head                 1        5,124    1.3%
    total              105      401,252  100.0%
    """
    counts = parameter_counts(groups)
    total = sum(counts.values())
    lines = [f"{'group':<14} {'layers':>7} {'parameters':>12} {'share':>7}"]
    for name, layers in groups.items():
        share = counts[name] / total if total else 0.0
        lines.append(f"{name:<14} {len(layers):>7} {counts[name]:>12,} {share:>7.1%}")
    layer_total = sum(len(layers) for layers in groups.values())
    lines.append(f"{'total':<14} {layer_total:>7} {total:>12,} {1:>7.1%}")
    return "\n".join(lines)
