"""The learning-rate explorer (lesson 01): its logic, its widgets driven headless, its plots."""

import re

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.finetune import curve_diagnosis
from helpers.lessons import gradient_descent, lr_explorer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(
    ("learning_rate", "verdict"),
    [(0.001, "too low"), (0.05, "healthy"), (0.15, "too high"), (0.25, "diverging")],
)
def test_explore_on_the_default_bowl_gives_each_verdict(learning_rate, verdict):
    result = lr_explorer.explore(learning_rate)
    assert result.verdict == verdict and result.threshold == pytest.approx(2 / 10)
    assert verdict in result.summary() and f"learning_rate={learning_rate:.3g}" in result.summary()


@pytest.mark.parametrize("optimizer", gradient_descent.OPTIMIZERS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_explore_reports_the_run_and_the_verdict_of_gradient_descent(optimizer, seed):
    generator = np.random.default_rng(seed)
    curvatures = generator.uniform(0.5, 5.0, size=2)
    start = generator.uniform(-2.0, 2.0, size=2)
    learning_rate = float(10 ** generator.uniform(-3, 0))
    result = lr_explorer.explore(learning_rate, optimizer, curvatures, start, steps=30)
    run = gradient_descent.run(learning_rate, curvatures, start, steps=30, optimizer=optimizer)
    np.testing.assert_array_equal(result.path, run.path)
    np.testing.assert_array_equal(result.losses, run.losses)
    assert result.verdict == gradient_descent.classify(run.losses, run.path)
    assert result.threshold == pytest.approx(2 / max(curvatures)) and result.optimizer == optimizer


def test_explore_rejects_what_run_rejects():
    message = "learning_rate must be a positive, finite number. Received: learning_rate=-1"
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_explorer.explore(-1)
    with pytest.raises(ValueError, match=re.escape("Received: optimizer='nesterov'")):
        lr_explorer.explore(0.1, "nesterov")


def test_moving_the_slider_and_the_menu_updates_the_verdict_and_the_plot():
    explorer = lr_explorer.build_explorer()
    slider, menu = explorer.children[0].children
    verdict, plots = explorer.children[1], explorer.children[2]
    assert isinstance(slider, widgets.FloatLogSlider) and (slider.min, slider.max) == (-3, 1)
    assert "healthy" in verdict.value and bytes(plots.value).startswith(PNG_SIGNATURE)
    first_picture = bytes(plots.value)
    slider.value = 0.3
    assert "diverging" in verdict.value and "learning_rate=0.3" in verdict.value
    assert bytes(plots.value).startswith(PNG_SIGNATURE) and bytes(plots.value) != first_picture
    menu.value = "adam"
    assert "adam, learning_rate=0.3" in verdict.value and "diverging" not in verdict.value


def test_build_explorer_checks_its_arguments_before_building():
    with pytest.raises(
        ValueError, match=re.escape("start must have shape (2,). Received: start of shape (1,)")
    ):
        lr_explorer.build_explorer(start=[1.0])


def test_plot_path_draws_the_2d_path_over_contours_on_the_given_axes():
    figure, axes = plt.subplots()
    run = gradient_descent.run(
        0.15, gradient_descent.ILL_CONDITIONED_CURVATURES, gradient_descent.ILL_CONDITIONED_START
    )
    assert (
        lr_explorer.plot_path(run.path, gradient_descent.ILL_CONDITIONED_CURVATURES, ax=axes)
        is axes
    )
    path_line = axes.get_lines()[0]
    np.testing.assert_array_equal(path_line.get_xdata(), run.path[:, 0])
    np.testing.assert_array_equal(path_line.get_ydata(), run.path[:, 1])
    assert axes.collections  # the contour lines
    assert axes.get_xlim() == pytest.approx((-4.8, 4.8))  # 20% beyond the start


def test_plot_path_draws_a_1d_path_on_the_parabola():
    figure, axes = plt.subplots()
    run = gradient_descent.run(0.9, [2.0], start=[1.0], steps=5)
    lr_explorer.plot_path(run.path, [2.0], ax=axes)
    parabola, path_line = axes.get_lines()[:2]
    np.testing.assert_allclose(parabola.get_ydata(), parabola.get_xdata() ** 2)  # 2 / 2 * w**2
    np.testing.assert_array_equal(path_line.get_xdata(), run.path[:, 0])
    np.testing.assert_allclose(path_line.get_ydata(), run.losses)


def test_plot_path_uses_the_current_axes_by_default():
    axes = plt.figure().add_subplot()
    assert lr_explorer.plot_path(np.array([[1.0], [0.5]]), [1.0]) is axes


def test_plot_path_draws_a_diverging_path_without_complaint():
    run = gradient_descent.run(3.0, [10.0], start=[1.0], steps=400)
    assert not np.all(np.isfinite(run.path))
    figure, axes = plt.subplots()
    assert lr_explorer.plot_path(run.path, [10.0], ax=axes) is axes


@pytest.mark.parametrize(
    ("path", "curvatures", "message"),
    [
        (
            np.ones((2, 3)),
            [1.0, 1.0, 1.0],
            "len(curvatures) must be an int from 1 to 2. Received: len(curvatures)=3",
        ),
        (np.ones(2), [1.0], "path must have shape (steps + 1, 1). Received: path of shape (2,)"),
        (
            np.ones((4, 1)),
            [1.0, 10.0],
            "path must have shape (steps + 1, 2). Received: path of shape (4, 1)",
        ),
        (np.ones((4, 1)), [0.0], "curvatures[0] must be a positive, finite number."),
        (np.ones((4, 1)), 2.0, "curvatures must be a list or tuple of at least 1 item."),
    ],
)
def test_plot_path_rejects_bad_input_naming_the_argument(path, curvatures, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_explorer.plot_path(path, curvatures)


def test_the_explorer_draws_its_loss_curve_with_curve_diagnosis_without_a_verdict(monkeypatch):
    """The explorer prints gradient_descent's verdict; lesson 05's verdict must not appear."""
    calls = []
    plot_curves = curve_diagnosis.plot_curves

    def recording_plot_curves(losses_by_label, ax=None, num_classes=None, show_verdicts=True):
        calls.append((list(losses_by_label), show_verdicts))
        return plot_curves(losses_by_label, ax, num_classes, show_verdicts=show_verdicts)

    monkeypatch.setattr(curve_diagnosis, "plot_curves", recording_plot_curves)
    explorer = lr_explorer.build_explorer(steps=5)
    explorer.children[0].children[1].value = "adam"
    assert calls == [
        (["sgd, learning_rate=0.05"], False),
        (["adam, learning_rate=0.05"], False),
    ]


@pytest.mark.parametrize("learning_rate", [1e-4, 20.0])
def test_build_explorer_rejects_a_first_learning_rate_outside_the_slider(learning_rate):
    message = (
        "learning_rate must be a finite number in [0.001, 10]. "
        f"Received: learning_rate={learning_rate!r}"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        lr_explorer.build_explorer(learning_rate=learning_rate)


def test_explore_accepts_numpy_scalars():
    result = lr_explorer.explore(np.float32(0.15), steps=np.int64(50))
    assert result.verdict == "too high" and isinstance(result.learning_rate, float)
