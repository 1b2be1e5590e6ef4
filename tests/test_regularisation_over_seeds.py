"""Lesson 06's stored study: its variants, the JSON round trip, the summary's arithmetic, errors.

Made-up seeds (two, with known numbers) check `summarize` against means and ranges computed by
hand; `tests/test_claims_lesson06.py` checks the lesson against the real stored file.
"""

import dataclasses
import json
import re

import pytest

from helpers.lessons import (
    augmentation_study,
    phase_two_variants,
    rate_comparison,
    regularisation_over_seeds,
)

Variant = phase_two_variants.Variant


def outcome(label: str, accuracy: float, loss: float, drift: float) -> rate_comparison.Outcome:
    return rate_comparison.Outcome(label, 1e-4, accuracy, 0.9, drift, {"Conv1": drift}, 0.8, loss)


def seed_results(seed: int, shift: float) -> regularisation_over_seeds.SeedResults:
    """One made-up seed: the head, two phase-2 runs (one stopped early), two augmentation runs."""
    plain = phase_two_variants.VariantOutcome(
        Variant("1e-4", 1e-4),
        outcome("1e-4", 0.8 + shift, 0.5, 0.01),
        [1.0, 0.5, 0.3, 0.1, 0.1, 0.1],
        0.6,
    )
    stopped = phase_two_variants.VariantOutcome(
        Variant("1e-3, stop early", 1e-3, epochs=10, early_stopping_patience=2),
        outcome("1e-3, stop early", 0.7, 0.7 + shift, 0.03),
        [1.0, 1.0],
        0.6,
        validation_losses=[0.7, 0.8, 0.9],
        best_epoch=1,
    )
    comparison = phase_two_variants.VariantComparison(
        outcome("head only", 0.75, 0.6, 0.0), [plain, stopped]
    )
    augmentation = [
        augmentation_study.AugmentationOutcome(10, augmented, outcome("x", 0.7, 0.6, 0.01), 2.5)
        for augmented in (False, True)
    ]
    suggested = {"adam": 1e-4 * (1 + shift), "sgd": 1e-3}
    return regularisation_over_seeds.SeedResults(seed, suggested, comparison, augmentation, 60)


SEEDS = [seed_results(0, 0.0), seed_results(1, 0.1)]


def test_the_variants_have_distinct_labels_and_every_section():
    labels = [variant.label for variant in regularisation_over_seeds.variants()]
    assert len(labels) == len(set(labels))
    for label in ("1e-3, L2-SP 1", "1e-3, decay 0.004", "1e-4, stop early", "3e-3, warmup"):
        assert label in labels
    optimizers = {variant.optimizer for variant in regularisation_over_seeds.variants()}
    assert optimizers == {"adam", "sgd", "rmsprop"}


def test_suggested_variants_run_each_optimizer_at_its_rate():
    variants = regularisation_over_seeds.suggested_variants({"adam": 1e-4, "rmsprop": 7e-5})
    assert [(variant.optimizer, variant.learning_rate) for variant in variants] == [
        ("adam", 1e-4),
        ("rmsprop", 7e-5),
    ]


def test_the_json_round_trip_keeps_every_number_but_per_layer_drift(tmp_path):
    path = tmp_path / "study.json"
    path.write_text(regularisation_over_seeds.to_json(SEEDS, {"machine": "test"}))
    loaded = regularisation_over_seeds.load_results(path)
    assert json.loads(path.read_text())["run"] == {"machine": "test"}
    for original, stored in zip(SEEDS, loaded, strict=True):
        assert stored.suggested_rates == original.suggested_rates
        for before, after in zip(original.comparison.runs, stored.comparison.runs, strict=True):
            assert after.variant == before.variant
            assert after.step_losses == before.step_losses
            assert after.validation_losses == before.validation_losses
            assert after.best_epoch == before.best_epoch
            assert after.outcome == dataclasses.replace(before.outcome, layer_drift={})
        assert [run.label for run in stored.augmentation] == [
            "10 per class, plain",
            "10 per class, augmented",
        ]


def test_summarize_gives_the_mean_and_range_over_seeds():
    summary = regularisation_over_seeds.summarize(SEEDS)
    mean, low, high = summary["1e-4"]["target_accuracy"]
    assert (low, high) == (0.8, pytest.approx(0.9))
    assert mean == pytest.approx(0.85)
    assert summary["1e-3, stop early"]["best_epoch"] == (1.0, 1.0, 1.0)
    assert "best_epoch" not in summary["1e-4"]
    assert summary["suggested rates"]["adam"][2] == pytest.approx(1.1e-4)
    assert summary["10 per class, augmented"]["overall_drift"] == (0.01, 0.01, 0.01)


def test_steps_to_the_target_loss_use_each_steps_own_loss():
    # [1.0, 0.5, 0.3, 0.1]: mean 0.475; [0.5, 0.3, 0.1, 0.1]: 0.25; [0.3, 0.1, 0.1, 0.1]: 0.15.
    summary = regularisation_over_seeds.summarize(SEEDS)
    target = regularisation_over_seeds.LOSS_TARGET
    expected = 6 if target >= 0.15 else 0
    if target >= 0.25:
        expected = 5
    if target >= 0.475:
        expected = 4
    assert summary["1e-4"]["steps_to_loss"][0] == expected
    text = regularisation_over_seeds.format_steps_to_loss(SEEDS, ["1e-4", "1e-3, stop early"])
    assert text.splitlines()[2].split()[-2:] == ["-,", "-"]


def test_the_tables_show_the_runs_asked_for():
    table = regularisation_over_seeds.format_summary(SEEDS, ["head only", "1e-4"])
    lines = table.splitlines()
    assert lines[0].endswith("(mean, min-max over 2 seeds)")
    assert lines[2].startswith("1e-4") and "0.85 (0.80-0.90)" in lines[2]
    epochs = regularisation_over_seeds.format_best_epochs(SEEDS, ["1e-3, stop early"])
    assert epochs == "1e-3, stop early: restored epoch 1 of 3, epoch 1 of 3 (seeds 0, 1)"
    rates = regularisation_over_seeds.format_suggested_rates(SEEDS).splitlines()
    assert rates[1].split() == ["adam", "1.0e-04,", "1.1e-04"]


def test_an_unknown_run_is_named():
    with pytest.raises(ValueError, match=re.escape("Received: runs[0]='1e-5'")):
        regularisation_over_seeds.format_summary(SEEDS, ["1e-5"])


def test_a_missing_file_names_the_script_that_writes_it(tmp_path):
    missing = tmp_path / "none.json"
    with pytest.raises(ValueError, match="scripts/regularisation_seeds.py"):
        regularisation_over_seeds.load_results(missing)


@pytest.mark.parametrize("bad", [[], [1], "seeds"], ids=["empty", "not SeedResults", "a string"])
def test_summaries_reject_what_is_not_seed_results(bad):
    with pytest.raises(ValueError, match="seeds"):
        regularisation_over_seeds.summarize(bad)
