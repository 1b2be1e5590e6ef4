"""MobileNetV2 layer groups: complete, ordered by resolution, counted, unfrozen from the top."""

import keras
import numpy as np
import pytest

from helpers.finetune import layer_groups, models


@pytest.fixture(scope="module")
def pair():
    return models.build_mobilenet_v2(4, image_size=32)


@pytest.fixture(scope="module")
def groups(pair):
    return layer_groups.mobilenet_v2_groups(*pair)


def test_every_layer_with_weights_is_in_exactly_one_group(pair, groups):
    model, base_model = pair
    grouped = [layer for layers in groups.values() for layer in layers]
    with_weights = [layer for layer in base_model.layers if layer.weights]
    head = [layer for layer in model.layers if layer is not base_model and layer.weights]
    assert len(grouped) == len({id(layer) for layer in grouped})
    assert {id(layer) for layer in grouped} == {id(layer) for layer in with_weights + head}
    assert list(groups) == list(layer_groups.GROUP_NAMES)


def test_groups_run_bottom_to_top_and_each_block_group_starts_where_the_maps_halve(pair, groups):
    _, base_model = pair
    position = {id(layer): index for index, layer in enumerate(base_model.layers)}
    base_groups = [name for name in groups if name != "head"]
    positions = [[position[id(layer)] for layer in groups[name]] for name in base_groups]
    for lower, upper in zip(positions, positions[1:], strict=False):
        assert max(lower) < min(upper)
    for name, (first, _) in layer_groups.BLOCK_GROUPS.items():
        depthwise = [
            layer for layer in groups[name] if isinstance(layer, keras.layers.DepthwiseConv2D)
        ]
        assert depthwise[0].name == f"block_{first}_depthwise"
        assert depthwise[0].strides == (2, 2)
        # Only the group's first block halves the feature maps.
        assert all(layer.strides == (1, 1) for layer in depthwise[1:])


def test_the_same_split_holds_at_another_size_and_width():
    model, base_model = models.build_mobilenet_v2(3, image_size=48, alpha=1.0)
    groups = layer_groups.mobilenet_v2_groups(model, base_model)
    sizes = {name: len(layers) for name, layers in groups.items()}
    assert sizes == {
        "stem": 6,
        "blocks 1-2": 12,
        "blocks 3-5": 18,
        "blocks 6-12": 42,
        "blocks 13-16": 24,
        "top": 2,
        "head": 1,
    }


def test_parameter_counts_add_up_to_every_learnable_weight(pair, groups):
    model, _ = pair
    counts = layer_groups.parameter_counts(groups)
    batch_norm_statistics = sum(
        2 * layer.moving_mean.shape[0]
        for layer in model.get_layer(index=1).layers
        if isinstance(layer, keras.layers.BatchNormalization)
    )
    assert sum(counts.values()) == model.count_params() - batch_norm_statistics
    assert counts["head"] == 1280 * 4 + 4


def test_group_variables_never_list_moving_statistics(groups):
    paths = [
        v.path for variables in layer_groups.group_variables(groups).values() for v in variables
    ]
    assert not [path for path in paths if "moving" in path]
    assert "bn_Conv1/gamma" in paths and "bn_Conv1/beta" in paths


@pytest.mark.parametrize("count", range(len(layer_groups.GROUP_NAMES) + 1))
def test_unfreezing_the_top_groups_trains_exactly_their_weights_and_no_batch_norm(
    pair, groups, count
):
    model, base_model = pair
    trainable = layer_groups.unfreeze_top_groups(base_model, groups, count)
    names = list(groups)
    assert trainable == names[::-1][:count]
    expected = {
        id(variable)
        for name in trainable
        for layer in groups[name]
        if not isinstance(layer, keras.layers.BatchNormalization)
        for variable in layer.weights
    }
    assert {id(variable) for variable in model.trainable_variables} == expected
    batch_norm = [
        layer for layer in base_model.layers if isinstance(layer, keras.layers.BatchNormalization)
    ]
    assert not any(layer.trainable for layer in batch_norm)
    assert base_model.trainable == any(name != "head" for name in trainable)


def test_a_numpy_count_is_accepted(pair, groups):
    _, base_model = pair
    assert layer_groups.unfreeze_top_groups(base_model, groups, np.int64(1)) == ["head"]


@pytest.mark.parametrize(
    "count, message",
    [
        (8, "count must be an int from 0 to 7. Received: count=8"),
        (-1, "count must be an int from 0 to 7. Received: count=-1"),
        (2.0, "count must be an int from 0 to 7. Received: count=2.0"),
    ],
)
def test_a_bad_count_is_refused(pair, groups, count, message):
    _, base_model = pair
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        layer_groups.unfreeze_top_groups(base_model, groups, count)


def test_a_base_outside_the_model_is_refused(pair):
    _, other_base = models.build_mobilenet_v2(2, image_size=32)
    with pytest.raises(ValueError, match="model must contain base_model"):
        layer_groups.mobilenet_v2_groups(pair[0], other_base)


def test_a_base_that_is_not_mobilenet_v2_names_the_layer():
    inputs = keras.Input((8, 8, 3))
    base_model = keras.Model(inputs, keras.layers.Conv2D(2, 3, name="my_conv")(inputs))
    model = keras.Sequential([inputs, base_model])
    with pytest.raises(ValueError, match="Received: a layer named 'my_conv'"):
        layer_groups.mobilenet_v2_groups(model, base_model)


@pytest.mark.parametrize(
    "groups, message",
    [
        ([], "groups must be a dict"),
        ({}, "groups must have at least one group"),
        ({"low": "dense"}, r"groups\['low'\] must be a non-empty list of Keras layers"),
        ({"low": [1]}, r"groups\['low'\] must be a non-empty list of Keras layers"),
    ],
)
def test_bad_groups_are_refused(groups, message):
    with pytest.raises(ValueError, match=message):
        layer_groups.parameter_counts(groups)
