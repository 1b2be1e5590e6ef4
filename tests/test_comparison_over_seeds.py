"""Lesson 04's stored comparison over seeds (helpers/lessons/comparison_over_seeds.py)."""

import dataclasses
import json
import math
import re

import pytest

from helpers.lessons import comparison_over_seeds, rate_comparison
from tests.test_rate_comparison import outcome


def seed_results(seed: int, shift: float) -> comparison_over_seeds.SeedResults:
    rates = [
        outcome("head only", None, 0.7 + shift, 0.99, 0.0),
        outcome("0.01 (diverged)" if seed else "0.01", 1e-2, 0.25, 0.17, 0.3),
        outcome("0.0001", 1e-4, 0.8 + shift, 0.99, 0.005),
    ]
    return comparison_over_seeds.SeedResults(
        seed=seed,
        rates=rates,
        depth=[outcome("0.0001, top 20", 1e-4, 0.82, 0.99, 0.004)],
        scratch=outcome("from scratch", None, 0.25 + shift, math.nan, math.nan),
        head_gradients=rate_comparison.HeadGradients(fresh=2.0 + shift, trained=3.0),
        without_phase_one=outcome("no phase 1, 0.0001", 1e-4, 0.6, 0.9, 0.01),
        seconds=100,
    )


def test_stored_results_round_trip_and_summarize_to_mean_and_range(tmp_path):
    seeds = [seed_results(0, 0.0), seed_results(1, 0.1), seed_results(2, 0.05)]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"seeds": [dataclasses.asdict(row) for row in seeds]}))
    loaded = comparison_over_seeds.load_results(path)
    as_json = [json.dumps(dataclasses.asdict(row)) for row in loaded]
    assert as_json == [json.dumps(dataclasses.asdict(row)) for row in seeds]  # NaN included
    summary = comparison_over_seeds.summarize(loaded)
    assert list(summary) == [
        "head only",
        "0.01",  # one run across seeds, diverged or not
        "0.0001",
        "0.0001, top 20",
        "from scratch",
        "no phase 1, 0.0001",
        "head gradients",
    ]
    assert summary["0.0001"]["target_accuracy"] == pytest.approx((0.85, 0.8, 0.9))
    assert summary["head gradients"]["fresh"] == pytest.approx((2.05, 2.0, 2.1))
    assert all(math.isnan(value) for value in summary["from scratch"]["source_accuracy"])
    table = comparison_over_seeds.format_summary(loaded).splitlines()
    assert table[0].endswith("(mean, min-max over 3 seeds)")
    assert table[3].split() == ["0.0001", "0.50", "(0.50-0.50)", "0.85", "(0.80-0.90)"] + [
        "0.99",
        "(0.99-0.99)",
        "0.0050",
        "(0.0050-0.0050)",
        "-",  # no update/weight ratios in these made-up runs
    ]
    assert table[-1] == (
        "gradient norm into the base: fresh head 2.05 (2.00-2.10), trained head 3.00 (3.00-3.00)"
    )


def test_load_results_names_a_missing_file(tmp_path):
    message = (
        "path must name the JSON file scripts/rate_comparison_seeds.py writes. "
        f"Received: path={tmp_path / 'none.json'}"
    )
    with pytest.raises(FileNotFoundError, match=re.escape(message)):
        comparison_over_seeds.load_results(tmp_path / "none.json")
    with pytest.raises(ValueError, match=re.escape("path must be a str or path. Received: path=3")):
        comparison_over_seeds.load_results(3)


def test_summarize_rejects_what_is_not_a_list_of_seed_results():
    message = "seeds must be a list or tuple of at least 1 item. Received: seeds=[]"
    with pytest.raises(ValueError, match=re.escape(message)):
        comparison_over_seeds.summarize([])
    message = "seeds[0] must be a SeedResults. Received: seeds[0]=3"
    with pytest.raises(ValueError, match=re.escape(message)):
        comparison_over_seeds.format_summary([3])


def test_the_stored_settings_are_the_lessons_full_size_and_equal_budget():
    settings = comparison_over_seeds.STORED_SETTINGS
    assert settings["learning_rates"] == list(rate_comparison.LEARNING_RATES)
    assert settings["scratch_epochs"] == settings["head_epochs"] + settings["fine_tune_epochs"]
    stored = json.loads(comparison_over_seeds.RESULTS_PATH.read_text())["settings"]
    assert stored == settings
