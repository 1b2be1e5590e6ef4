"""The LR clinic (helpers/lr_clinic.py): its verdicts on real runs, its schedules, and the widget without a browser."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.finetune import curve_diagnosis, head_training, schedules
from helpers.lessons import lr_clinic, pretrained, target_task

matplotlib.use("Agg")


@pytest.fixture(scope="module")
def target_features():
    """Pooled features of 30 target images per class from the bundled base: what lesson 05's clinic trains on."""
    data = target_task.prepare_data(30, test_count=1, source_count=1, seed=0)
    _, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES)
    return head_training.pooled_features(base_model, data.train[0]), data.train[1]


# The lesson's claim: on the clinic's task, 1e-5 barely moves the loss, 1e-3 is healthy, 0.1 overshoots, 10 diverges.
@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    ("learning_rate", "verdict"),
    [(1e-5, "too low"), (1e-3, "healthy"), (1e-1, "too high"), (10.0, "diverging")],
)
def test_the_clinic_diagnoses_real_runs_as_the_lesson_says(
    target_features, learning_rate, verdict, seed
):
    run = lr_clinic.run_clinic(*target_features, learning_rate, steps=60, seed=seed)
    assert run.diagnosis.verdict == verdict, str(run.diagnosis)
    assert run.losses.shape == (60,) and np.all(run.learning_rates == learning_rate)
    assert run.diagnosis == curve_diagnosis.diagnose(run.losses, num_classes=4)
    if (
        verdict == "too high"
    ):  # the lesson: falls on average, but jumps up by several times between steps
        assert np.median(run.losses[-20:]) < run.losses[0] and run.losses.max() > 3 * run.losses[0]
    if (
        verdict == "diverging"
    ):  # the lesson: it leaps to hundreds, stays tens of times up, yet never becomes NaN
        assert np.isfinite(run.losses).all() and np.max(run.losses[:2]) > 100
        assert np.median(run.losses[1:]) > 10 * run.losses[0]


@pytest.mark.parametrize("schedule", ["warmup + cosine", "one-cycle"])
def test_scheduled_runs_report_the_rate_of_every_step(target_features, schedule):
    run = lr_clinic.run_clinic(*target_features, 1e-3, schedule=schedule, steps=40)
    expected = schedules.learning_rates(lr_clinic.make_schedule(schedule, 1e-3, 40), 40)
    np.testing.assert_allclose(run.learning_rates, expected)
    assert (
        run.learning_rates.max() == pytest.approx(1e-3, rel=1e-3) and run.learning_rates[0] < 1e-4
    )
    assert run.diagnosis.verdict == "healthy"


def test_the_same_seed_gives_the_same_run(target_features):
    first, second = (
        lr_clinic.run_clinic(*target_features, 1e-2, steps=20, seed=3) for _ in range(2)
    )
    np.testing.assert_array_equal(first.losses, second.losses)


def test_the_widget_trains_on_click_and_shows_the_verdict(target_features):
    box = lr_clinic.build_clinic(*target_features, num_classes=4)
    controls, verdict = box.controls, box.children[2]
    assert box.latest_run is None and verdict.value == ""
    controls["rate"].value, controls["steps"].value = 1e-5, 60
    controls["button"].click()
    assert (
        box.latest_run.learning_rate == pytest.approx(1e-5)
        and box.latest_run.diagnosis.verdict == "too low"
    )
    assert verdict.value.startswith("<b>too low</b>")
    controls["rate"].value, controls["schedule"].value = 10.0, "one-cycle"
    controls["button"].click()
    assert (
        box.latest_run.schedule == "one-cycle" and box.latest_run.diagnosis.verdict == "diverging"
    )
    assert "diverging" in verdict.value and box.latest_run.diagnosis.advice in verdict.value
    plt.close("all")


def test_plot_run_draws_loss_and_rate(target_features):
    run = lr_clinic.run_clinic(*target_features, 1e-3, schedule="one-cycle", steps=20)
    loss_ax, rate_ax = lr_clinic.plot_run(run)
    assert loss_ax.get_yscale() == "log" and run.diagnosis.verdict in loss_ax.get_title()
    np.testing.assert_allclose(rate_ax.lines[0].get_ydata(), run.learning_rates)
    plt.close("all")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"learning_rate": -1.0}, "learning_rate must be"),
        ({"schedule": "cyclic"}, "schedule must be one of .*Received: schedule='cyclic'"),
        ({"steps": 1}, "steps must be an int in \\[2, 500\\]. Received: steps=1"),
        ({"batch_size": 0}, "batch_size must be an int >= 1. Received: batch_size=0"),
        (
            {"features": np.zeros((4, 2, 2))},
            "\\(features, labels\\) must hold features \\(n, num_features\\).*\\(4, 2, 2\\)",
        ),
        (
            {"labels": np.array([0, 1, 2])},
            "\\(features, labels\\) must hold .* n int labels.*\\(4, 3\\) and \\(3,\\)",
        ),
        (
            {"labels": np.array([0, 1, 2, -1])},
            "\\(features, labels\\) labels must be non-negative ints",
        ),
        (
            {"num_classes": 2},
            "num_classes must be an int above every label. Received: num_classes=2",
        ),
    ],
)
def test_bad_arguments_are_named(change, message):
    arguments = {
        "features": np.ones((4, 3), "float32"),
        "labels": np.array([0, 1, 2, 3]),
        "learning_rate": 1e-3,
    }
    with pytest.raises(ValueError, match=message):
        lr_clinic.run_clinic(**{**arguments, **change})
