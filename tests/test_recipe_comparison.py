"""Lesson 07's recipes on tiny data: what each one trains, and how it is measured."""

import math

import numpy as np
import pytest

from helpers.finetune import batchnorm_options, layer_groups, models
from helpers.lessons import recipe_comparison, target_task

Recipe = recipe_comparison.Recipe
SIZES = {"validation_count": 8, "test_count": 8, "source_count": 12, "image_size": 32}
# Zero source head: the source accuracy is that of always answering class 0.
SOURCE_HEAD = (np.zeros((1280, 6), "float32"), np.zeros(6, "float32"))


@pytest.fixture(scope="module")
def data():
    return target_task.prepare_data(2, ood_count=8, **SIZES)


@pytest.fixture(scope="module")
def parameter_counts():
    model, base_model = models.build_mobilenet_v2(4, image_size=32)
    groups = layer_groups.mobilenet_v2_groups(model, base_model)
    batch_norm = sum(
        2 * layer.gamma.shape[0] for layer in batchnorm_options.batchnorm_layers(base_model)
    )
    counts = layer_groups.parameter_counts(groups)
    return counts, batch_norm


@pytest.fixture(scope="module")
def outcomes(data):
    recipes = [
        Recipe("probe", kind="probe"),
        Recipe("probe, AdaBN", kind="probe", batchnorm="re-estimated"),
        Recipe("uniform, trainable BatchNorm", batchnorm="trainable"),
        Recipe("discriminative", kind="discriminative", learning_rate=1e-3),
        Recipe("gradual", kind="gradual", epochs=2),
        Recipe("fastai", kind="fastai", learning_rate=2e-3, batchnorm="trainable"),
    ]
    runs = recipe_comparison.compare_recipes(data, recipes, 1, 1, source_head=SOURCE_HEAD)
    return {run.label: run for run in runs}


def test_every_recipe_is_measured_on_every_split(outcomes):
    for run in outcomes.values():
        for accuracy, count in (
            (run.outcome.target_accuracy, SIZES["test_count"]),
            (run.outcome.source_accuracy, SIZES["source_count"]),
            (run.ood_accuracy, 8),  # ood_count in the data fixture
        ):
            # A share of the split's images: a whole number of them, between none and all.
            assert 0 <= accuracy <= 1
            assert accuracy * count == pytest.approx(round(accuracy * count), abs=1e-9)
    assert list(outcomes) == [
        "probe",
        "probe, AdaBN",
        "uniform, trainable BatchNorm",
        "discriminative",
        "gradual",
        "fastai",
    ]


def test_a_probe_trains_the_head_alone_and_leaves_the_base(outcomes, parameter_counts):
    counts, _ = parameter_counts
    probe = outcomes["probe"]
    assert probe.trainable_parameters == [counts["head"]]
    assert probe.outcome.overall_drift == 0.0
    assert probe.update_ratios == {}
    assert math.isnan(probe.ood_accuracy_own_statistics)


def test_adabn_measures_the_shifted_split_with_its_own_statistics_too(outcomes):
    adapted = outcomes["probe, AdaBN"]
    assert 0 <= adapted.ood_accuracy_own_statistics <= 1
    assert adapted.outcome.overall_drift == 0.0  # statistics are not weights


def test_trainable_batch_norm_adds_gamma_and_beta_to_the_trained_weights(
    outcomes, parameter_counts
):
    counts, batch_norm = parameter_counts
    assert outcomes["uniform, trainable BatchNorm"].trainable_parameters == [sum(counts.values())]
    assert outcomes["discriminative"].trainable_parameters == [sum(counts.values()) - batch_norm]


def test_discriminative_rates_move_the_head_far_more_than_the_stem(outcomes):
    ratios = outcomes["discriminative"].update_ratios
    assert list(ratios) == list(layer_groups.GROUP_NAMES)
    # The stem's rate is the head's / 2.6**6, about 300x smaller.
    assert ratios["head"] > 30 * ratios["stem"] > 0


def test_gradual_unfreezing_adds_the_next_group_down_each_epoch(outcomes, parameter_counts):
    counts, _ = parameter_counts
    top_without_batch_norm = counts["top"] - 2 * 1280  # Conv_1_bn's gamma and beta stay frozen
    assert outcomes["gradual"].trainable_parameters == [
        counts["head"],
        counts["head"] + top_without_batch_norm,
    ]
    ratios = outcomes["gradual"].update_ratios
    assert ratios["head"] > 0 and ratios["top"] > 0 and ratios["stem"] == 0.0


def test_fastai_trains_batch_norm_with_the_head_then_everything(outcomes, parameter_counts):
    counts, batch_norm = parameter_counts
    assert outcomes["fastai"].trainable_parameters == [
        counts["head"] + batch_norm,
        sum(counts.values()),
    ]


def test_fastai_groups_merge_the_seven_groups_into_three():
    model, base_model = models.build_mobilenet_v2(4, image_size=32)
    groups = layer_groups.mobilenet_v2_groups(model, base_model)
    merged = recipe_comparison.fastai_groups(groups)
    assert list(merged) == list(recipe_comparison.FASTAI_GROUPS)
    assert sum(len(layers) for layers in merged.values()) == sum(
        len(layers) for layers in groups.values()
    )


def test_the_table_has_one_line_per_run(outcomes):
    table = recipe_comparison.format_table(list(outcomes.values()))
    assert len(table.splitlines()) == 1 + len(outcomes)
    assert "OOD" in table.splitlines()[0]


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"label": "x", "kind": "linear"}, "kind must be one of"),
        ({"label": "x", "start": "scratch"}, "start must be one of"),
        ({"label": "x", "batchnorm": "adabn"}, "batchnorm must be one of"),
        ({"label": "x", "learning_rate": 0}, "learning_rate must be"),
        ({"label": "x", "factor": 0.5}, "factor must be"),
        ({"label": "x", "epochs": 0}, "epochs must be"),
        ({"label": "x", "kind": "probe", "batchnorm": "trainable"}, "A probe trains the head"),
        ({"label": ""}, "label must be"),
    ],
)
def test_a_bad_recipe_is_refused_naming_the_field(arguments, message):
    with pytest.raises(ValueError, match=message):
        Recipe(**arguments)


def test_a_numpy_rate_is_accepted():
    assert Recipe("x", learning_rate=np.float32(1e-4)).learning_rate == np.float32(1e-4)


@pytest.mark.parametrize(
    "recipes, message",
    [
        ([], "recipes must"),
        (["LP-FT"], r"recipes\[0\] must be a Recipe"),
        ([Recipe("a"), Recipe("a", learning_rate=1e-3)], "distinct labels"),
    ],
)
def test_bad_recipe_lists_are_refused_before_training(data, recipes, message):
    with pytest.raises(ValueError, match=message):
        recipe_comparison.compare_recipes(data, recipes)
