"""The learning-rate explorer (lesson 01): its pure logic, its widgets driven headless, and its plots."""

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import pytest

from helpers.lessons import gradient_descent, lr_explorer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.mark.parametrize(
    ("learning_rate", "verdict"),
    [(0.001, "too small"), (0.05, "good"), (0.15, "oscillating"), (0.25, "diverging")],
)
def test_explore_on_the_default_bowl_gives_each_verdict(learning_rate, verdict):
    result = lr_explorer.explore(learning_rate)
    assert result.verdict == verdict and result.threshold == pytest.approx(2 / 10)
    assert verdict in result.summary() and f"learning_rate={learning_rate:.3g}" in result.summary()


@pytest.mark.parametrize("optimizer", gradient_descent.OPTIMIZERS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_explore_reports_the_run_and_the_verdict_of_gradient_descent(optimizer, seed):
    generator = np.random.default_rng(seed)
    curvatures, start = generator.uniform(0.5, 5.0, size=2), generator.uniform(-2.0, 2.0, size=2)
    learning_rate = float(10 ** generator.uniform(-3, 0))
    result = lr_explorer.explore(learning_rate, optimizer, curvatures, start, steps=30)
    run = gradient_descent.run(learning_rate, curvatures, start, steps=30, optimizer=optimizer)
    np.testing.assert_array_equal(result.path, run.path)
    np.testing.assert_array_equal(result.losses, run.losses)
    assert result.verdict == gradient_descent.classify(run.losses, run.path)
    assert result.threshold == pytest.approx(2 / max(curvatures)) and result.optimizer == optimizer


def test_explore_rejects_what_run_rejects():
    with pytest.raises(ValueError, match="Received: learning_rate=-1"):
        lr_explorer.explore(-1)
    with pytest.raises(ValueError, match="Received: optimizer='nesterov'"):
        lr_explorer.explore(0.1, "nesterov")


def test_moving_the_slider_and_the_menu_updates_the_verdict_and_the_plot():
    explorer = lr_explorer.build_explorer()
    slider, menu = explorer.children[0].children
    verdict, plots = explorer.children[1], explorer.children[2]
    assert isinstance(slider, widgets.FloatLogSlider) and (slider.min, slider.max) == (-3, 1)
    assert "good" in verdict.value and bytes(plots.value).startswith(PNG_SIGNATURE)
    first_picture = bytes(plots.value)
    slider.value = 0.3
    assert "diverging" in verdict.value and "learning_rate=0.3" in verdict.value
    assert bytes(plots.value).startswith(PNG_SIGNATURE) and bytes(plots.value) != first_picture
    menu.value = "adam"
    assert "adam, learning_rate=0.3" in verdict.value and "diverging" not in verdict.value


def test_build_explorer_checks_its_arguments_before_building():
    with pytest.raises(ValueError, match=r"Received: start=\[1.0\]"):
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


def test_plot_path_uses_the_current_axes_by_default_and_rejects_bad_shapes():
    axes = plt.figure().add_subplot()
    assert lr_explorer.plot_path(np.array([[1.0], [0.5]]), [1.0]) is axes
    with pytest.raises(ValueError, match=r"Received: path with shape \(2, 3\)"):
        lr_explorer.plot_path(np.ones((2, 3)), [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"Received: path with shape \(2,\)"):
        lr_explorer.plot_path(np.ones(2), [1.0])


def test_plot_losses_draws_one_log_scale_curve_per_label_and_skips_zeros():
    figure, axes = plt.subplots()
    curves = {"good": [1.0, 0.1, 0.0], "diverging": [1.0, 10.0, np.inf]}
    assert lr_explorer.plot_losses(curves, ax=axes) is axes
    assert axes.get_yscale() == "log"
    assert [line.get_label() for line in axes.get_lines()] == ["good", "diverging"]
    np.testing.assert_array_equal(axes.get_lines()[0].get_ydata(), [1.0, 0.1, np.nan])
    np.testing.assert_array_equal(axes.get_lines()[1].get_ydata(), [1.0, 10.0, np.nan])
    for bad in [{}, [1.0, 0.5]]:
        with pytest.raises(ValueError, match="losses_by_label must be a non-empty dict"):
            lr_explorer.plot_losses(bad, ax=axes)
