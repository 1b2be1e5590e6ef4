"""Phase-2 variants from one head: same start, what each variant changes, early stopping, errors.

Tiny runs (32x32 images, 2 per class, one epoch of each phase) keep these fast; short fits run
eagerly (`rate_comparison.EAGER_STEPS`). The oracles are exact where the construction makes them
so: two variants that differ only in their label train identically from the same restored state;
an L2-SP penalty is zero at its reference, so the first step's loss is the plain run's, and so is
a warmup's, whose first step has the rate 0.
"""

import dataclasses
import math
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from helpers.finetune import lr_finder  # noqa: E402
from helpers.lessons import phase_two_variants, rate_comparison, target_task  # noqa: E402

Variant = phase_two_variants.Variant
SIZES = {"validation_count": 8, "test_count": 8, "source_count": 6, "image_size": 32}
SOURCE_HEAD = (np.zeros((1280, 6), "float32"), np.zeros(6, "float32"))
pytestmark = pytest.mark.filterwarnings(
    "ignore:Even though the `tf.config.experimental_run_functions_eagerly`"
)


@pytest.fixture(scope="module")
def data() -> target_task.TaskData:
    return target_task.prepare_data(2, **SIZES)


@pytest.fixture(scope="module")
def comparison(data) -> phase_two_variants.VariantComparison:
    variants = [
        Variant("plain", 1e-3),
        Variant("plain again", 1e-3),
        Variant("L2-SP", 1e-3, l2_sp_strength=10.0),
        Variant("decay", 1e-3, weight_decay=0.5),
        Variant("plain, 2 epochs", 1e-3, epochs=2),
        Variant("warmup", 1e-3, epochs=2, warmup_steps=1),
        Variant("stop early", 1e-3, epochs=3, early_stopping_patience=1),
        Variant("sgd", 1e-2, optimizer="sgd"),
    ]
    return phase_two_variants.compare_variants(data, variants, 1, 1, source_head=SOURCE_HEAD)


def test_runs_come_back_in_the_order_given_with_one_loss_per_step(comparison):
    labels = [run.label for run in comparison.runs]
    assert labels == [
        "plain",
        "plain again",
        "L2-SP",
        "decay",
        "plain, 2 epochs",
        "warmup",
        "stop early",
        "sgd",
    ]
    assert comparison.head_only.label == "head only"
    assert comparison.head_only.overall_drift == 0.0
    for run in comparison.runs:
        assert run.head_validation_loss == comparison.head_only.validation_loss
        assert all(math.isfinite(loss) for loss in run.step_losses)
    assert len(comparison.run("plain").step_losses) == 1  # 8 images, batch 32, one epoch


def test_every_variant_starts_from_the_same_state(comparison):
    plain, again = comparison.run("plain"), comparison.run("plain again")
    assert plain.step_losses == again.step_losses
    assert plain.outcome.overall_drift == again.outcome.overall_drift
    assert plain.outcome.validation_loss == again.outcome.validation_loss
    assert plain.outcome.overall_drift > 0


def test_l2_sp_adds_nothing_at_the_pretrained_weights(comparison):
    # The penalty is strength * sum((w - w_pretrained)**2): zero before the first step.
    assert comparison.run("L2-SP").step_losses[0] == comparison.run("plain").step_losses[0]


def test_decay_and_another_optimizer_change_the_run(comparison):
    plain = comparison.run("plain").outcome.overall_drift
    assert comparison.run("decay").outcome.overall_drift != plain
    assert comparison.run("sgd").outcome.overall_drift != plain


def test_a_warmup_starts_from_the_rate_zero(comparison):
    # warmup_cosine gives step 0 the rate 0.0, so of its two steps only the second moves the
    # base: it ends closer to where it started than two steps at the full rate.
    warmup, plain = comparison.run("warmup"), comparison.run("plain, 2 epochs")
    assert warmup.step_losses[0] == plain.step_losses[0]
    assert 0 < warmup.outcome.overall_drift < plain.outcome.overall_drift


def test_early_stopping_restores_the_epoch_with_the_lowest_validation_loss(comparison):
    run = comparison.run("stop early")
    assert 2 <= len(run.validation_losses) <= 3  # patience 1: stops after a worse epoch
    assert run.best_epoch == int(np.argmin(run.validation_losses)) + 1
    # The model measured after the run holds the best epoch's weights.
    best = run.validation_losses[run.best_epoch - 1]
    assert run.outcome.validation_loss == pytest.approx(best, rel=1e-4)
    assert comparison.run("plain").validation_losses == []
    assert comparison.run("plain").best_epoch is None


def test_an_unknown_label_names_the_labels_there_are(comparison):
    with pytest.raises(ValueError, match=re.escape("Received: label='adamw'")):
        comparison.run("adamw")


def test_the_table_lists_every_run(comparison):
    lines = phase_two_variants.format_table(comparison).splitlines()
    assert len(lines) == 1 + 1 + len(comparison.runs)
    assert [line.split("  ")[0].strip() for line in lines[1:]] == [
        "head only",
        *(run.label for run in comparison.runs),
    ]


def test_the_table_counts_steps_to_the_target_loss():
    head = rate_comparison.Outcome("head only", None, 0.8, 0.99, 0.0, {}, 0.7, 0.5)
    outcome = rate_comparison.Outcome("fast", 1e-4, 0.8, 0.99, 0.01, {}, 0.7, 0.4)
    fast = phase_two_variants.VariantOutcome(
        Variant("fast", 1e-4), outcome, [2.0, 1.0, 0.5, 0.1, 0.1], 0.5
    )
    slow = phase_two_variants.VariantOutcome(
        Variant("slow", 1e-5), dataclasses.replace(outcome, label="slow"), [2.0] * 5, 0.5
    )
    comparison = phase_two_variants.VariantComparison(head, [fast, slow])
    lines = phase_two_variants.format_table(comparison, loss_target=1.0).splitlines()
    assert lines[0].endswith("steps to loss 1")
    # The mean of steps 1-4 is 0.9: the target is reached at step 4; "slow" never gets there.
    assert [line.split()[-1] for line in lines[2:]] == ["4", "-"]


def test_step_losses_plot_one_line_per_run(comparison):
    figure, ax = plt.subplots()
    returned = phase_two_variants.plot_step_losses(comparison, ["plain", "sgd"], ax=ax)
    assert returned is ax
    assert [line.get_label() for line in ax.get_lines()] == ["plain", "sgd"]
    plt.close(figure)


@pytest.mark.parametrize(
    ("losses", "target", "window", "expected"),
    [
        ([1.0, 0.8, 0.6, 0.2, 0.1], 0.5, 2, 4),
        ([1.0, 0.8, 0.6, 0.2, 0.1], 0.5, 1, 4),
        ([0.4], 0.5, 1, 1),
        ([1.0, 0.9], 0.5, 2, 0),
        ([0.1, 0.1], 0.5, 3, 0),
        (np.array([0.6, 0.4], "float32"), np.float64(0.5), np.int64(2), 2),
    ],
)
def test_steps_to_loss(losses, target, window, expected):
    assert phase_two_variants.steps_to_loss(losses, target, window) == expected


def test_suggested_rate_prefers_the_valley():
    empty = np.array([])
    result = lr_finder.RangeTestResult(
        empty, empty, empty, 60, False, {"valley": 1e-4, "steepest": 3e-4}
    )
    assert phase_two_variants.suggested_rate(result) == 1e-4
    with pytest.raises(ValueError, match="no valley or steepest"):
        phase_two_variants.suggested_rate(lr_finder.RangeTestResult(empty, empty, empty, 60, 1, {}))
    with pytest.raises(ValueError, match="result must be an lr_finder.RangeTestResult"):
        phase_two_variants.suggested_rate(1e-4)


def test_each_optimizer_gets_its_own_range_test(data):
    results = phase_two_variants.suggest_rates(data, ["adam", "sgd"], head_epochs=1, num_steps=5)
    assert list(results) == ["adam", "sgd"]
    for result in results.values():
        assert len(result.losses) <= 5
        assert result.learning_rates[0] == pytest.approx(1e-7)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"label": ""}, "label must be"),
        ({"learning_rate": 0.0}, "Received: learning_rate=0.0"),
        ({"learning_rate": True}, "Received: learning_rate=True"),
        ({"optimizer": "adamw"}, "Received: optimizer='adamw'"),
        ({"weight_decay": -1.0}, "Received: weight_decay=-1.0"),
        ({"l2_sp_strength": math.nan}, "Received: l2_sp_strength=nan"),
        ({"warmup_steps": 1.5}, "Received: warmup_steps=1.5"),
        ({"epochs": 0}, "Received: epochs=0"),
        ({"early_stopping_patience": 0}, "Received: early_stopping_patience=0"),
    ],
)
def test_a_bad_variant_is_named(arguments, message):
    settings = {"label": "run", "learning_rate": 1e-4, **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        Variant(**settings)


def test_numpy_scalars_make_a_variant():
    variant = Variant(
        "run", np.float32(1e-4), weight_decay=np.float64(0.1), warmup_steps=np.int64(2)
    )
    assert variant.warmup_steps == 2


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"variants": []}, "variants must"),
        ({"variants": [1e-4]}, "variants[0] must be a Variant. Received: variants[0]=0.0001"),
        ({"variants": [Variant("a", 1e-4), Variant("a", 1e-3)]}, "repeated ['a']"),
        ({"head_epochs": 0}, "Received: head_epochs=0"),
        ({"seed": -1}, "Received: seed=-1"),
    ],
)
def test_bad_comparison_arguments_fail_before_training(data, arguments, message):
    settings = {"variants": [Variant("a", 1e-4)], **arguments}
    with pytest.raises(ValueError, match=re.escape(message)):
        phase_two_variants.compare_variants(data, **settings)


def test_the_table_rejects_what_is_not_a_comparison():
    outcome = rate_comparison.Outcome("head only", None, 0.8, 0.99, 0.0, {}, 0.7, 0.5)
    with pytest.raises(ValueError, match="comparison must be a VariantComparison"):
        phase_two_variants.format_table([outcome])


def test_a_task_without_source_images_measures_no_source_accuracy(data):
    # As the flowers (target_task.prepare_flowers): ImageNet's images are not part of the course.
    no_source = dataclasses.replace(data, source_test=None)
    comparison = phase_two_variants.compare_variants(
        no_source, [Variant("plain", 1e-3)], 1, 1, source_head=SOURCE_HEAD
    )
    assert math.isnan(comparison.head_only.source_accuracy)
    assert math.isnan(comparison.run("plain").outcome.source_accuracy)
    assert comparison.run("plain").outcome.overall_drift > 0
