"""Plots of gradient-descent runs on a bowl and the interactive learning-rate explorer (lesson 01).

`plot_path` draws where a run of `gradient_descent.run` went; its loss curves are drawn by
`curve_diagnosis.plot_curves`, the function lesson 05 uses for real training runs.
`build_explorer()` wires a log-scale learning-rate slider and an optimizer menu to them. The logic
behind the widgets is the pure function `explore()`, so it is tested without a browser; the plots
reach the page as a PNG `Image` widget, which JupyterLab and Colab both show.
"""

from __future__ import annotations

import html
import io
from collections.abc import Sequence
from dataclasses import dataclass

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np

from helpers.finetune import curve_diagnosis, validation
from helpers.lessons import gradient_descent

SLIDER_EXPONENTS = (-3, 1)  # the slider spans learning rates 1e-3 .. 1e1
DEFAULT_LEARNING_RATE = 0.05  # where the slider starts: below 2 / 10 on the default bowl


def plot_path(
    path: np.ndarray, curvatures: Sequence[float], ax: plt.Axes | None = None
) -> plt.Axes:
    """Draws a run on its bowl: on the parabola in 1-D, over the loss contours in 2-D.

    The path's shape shows what a loss curve hides: a zigzag across the minimum (a red star).
    The window reaches 20% beyond the start (circled), so a diverging run leaves it.

    Args:
        path: array of shape `(steps + 1, dims)` with `dims` 1 or 2, e.g.
            `gradient_descent.run(...).path`.
        curvatures: sequence of float, the bowl's positive curvatures, one per dimension.
        ax: matplotlib Axes to draw on. Defaults to `None`: the current Axes.

    Returns:
        The Axes.

    Raises:
        ValueError: if a curvature is not positive, there are more than two, or `path` is not a
            sequence of points with one value per curvature.

    Example:

    >>> figure, axes = plt.subplots()
    >>> run = gradient_descent.run(0.15, curvatures=[1.0, 10.0], start=[-4.0, 1.0])
    >>> plot_path(run.path, [1.0, 10.0], ax=axes).get_xlabel()
    'w[0]'
    >>> plt.close(figure)
    """
    curvature_values = validation.check_sequence("curvatures", curvatures)
    dims = validation.check_int("len(curvatures)", len(curvature_values), minimum=1, maximum=2)
    points_shape = ("steps + 1", dims)
    checked_path = validation.check_array("path", path, points_shape, allow_non_finite=True)
    points = checked_path.astype(float)
    ax = ax if ax is not None else plt.gca()
    reach = 1.2 * max(float(np.max(np.abs(points[0]))), 1e-3)
    grid = np.linspace(-reach, reach, 201)
    heights = gradient_descent.loss(points, curvature_values)
    with np.errstate(over="ignore", invalid="ignore"):
        if dims == 1:
            parabola = gradient_descent.loss(grid[:, None], curvature_values)
            ax.plot(grid, parabola, color="lightgray")
            ax.plot(points[:, 0], heights, "o-", color="tab:blue", markersize=4)
            start = (points[0, 0], heights[0])
            top = 1.1 * float(gradient_descent.loss([reach], curvature_values))
            ax.set(ylim=(0, top), xlabel="w", ylabel="loss")
        else:
            first, second = np.meshgrid(grid, grid)
            grid_points = np.stack([first, second], axis=-1)
            contours = gradient_descent.loss(grid_points, curvature_values)
            ax.contour(first, second, contours, levels=12, colors="lightgray")
            ax.plot(points[:, 0], points[:, 1], "o-", color="tab:blue", markersize=3)
            start = tuple(points[0])
            ax.set(ylim=(-reach, reach), xlabel="w[0]", ylabel="w[1]", aspect="equal")
    ax.plot(*start, "o", color="black", fillstyle="none", markersize=10)
    ax.plot(0, 0, "*", color="tab:red", markersize=12)
    ax.set_xlim(-reach, reach)
    return ax


@dataclass(frozen=True)
class Exploration:
    """One explorer setting and its outcome: what `explore` returns and the widget shows."""

    learning_rate: float
    optimizer: str
    path: np.ndarray
    losses: np.ndarray
    verdict: str  # one of gradient_descent.VERDICTS
    threshold: float  # 2 / max(curvatures): where plain gradient descent starts to diverge

    def summary(self) -> str:
        """Returns one line for the learner: the verdict, the final loss and the threshold."""
        return (
            f"{self.optimizer}, learning_rate={self.learning_rate:.3g}: {self.verdict} "
            f"(final loss {self.losses[-1]:.3g}; "
            f"plain gradient descent diverges above {self.threshold:.3g})"
        )


def explore(
    learning_rate: float,
    optimizer: str = "sgd",
    curvatures: Sequence[float] = gradient_descent.ILL_CONDITIONED_CURVATURES,
    start: Sequence[float] = gradient_descent.ILL_CONDITIONED_START,
    steps: int = 50,
) -> Exploration:
    """Runs one setting of the explorer and returns what the widget shows: the callback's logic.

    Args:
        learning_rate: float, the positive step size.
        optimizer: str, one of `gradient_descent.OPTIMIZERS`. Defaults to `"sgd"`.
        curvatures: sequence of float, the bowl. Defaults to the ill-conditioned bowl
            `(1.0, 10.0)`.
        start: sequence of float, the starting point. Defaults to `(-4.0, 1.0)`.
        steps: int, the number of updates. Defaults to 50.

    Returns:
        An `Exploration` with the path, the losses, the verdict of `gradient_descent.classify`
        and the divergence threshold.

    Raises:
        ValueError: for the inputs `gradient_descent.run` rejects.

    Example:

    >>> result = explore(learning_rate=0.15)
    >>> result.verdict, result.threshold
    ('too high', 0.2)
    """
    trajectory = gradient_descent.run(
        learning_rate, curvatures, start=start, steps=steps, optimizer=optimizer
    )
    return Exploration(
        learning_rate=float(learning_rate),
        optimizer=optimizer,
        path=trajectory.path,
        losses=trajectory.losses,
        verdict=gradient_descent.classify(trajectory.losses, trajectory.path),
        threshold=gradient_descent.divergence_threshold(curvatures),
    )


def build_explorer(
    curvatures: Sequence[float] = gradient_descent.ILL_CONDITIONED_CURVATURES,
    start: Sequence[float] = gradient_descent.ILL_CONDITIONED_START,
    steps: int = 50,
    learning_rate: float = DEFAULT_LEARNING_RATE,
) -> widgets.VBox:
    """Builds the explorer: a learning-rate slider and an optimizer menu that redraw a run.

    The slider has a log scale from 1e-3 to 10; each move reruns `explore` and redraws the path,
    the loss curve and the verdict.

    Args:
        curvatures: sequence of float, the bowl (1-D or 2-D). Defaults to `(1.0, 10.0)`.
        start: sequence of float, the starting point. Defaults to `(-4.0, 1.0)`.
        steps: int, the number of updates per run. Defaults to 50.
        learning_rate: float, the slider's first value, from 1e-3 to 10. Defaults to 0.05.

    Returns:
        A `VBox`: a row with the slider and the menu, the verdict (`HTML`), the plots (`Image`).

    Raises:
        ValueError: for the inputs `explore` rejects, or a `learning_rate` outside the slider
            (checked once, before any widget exists).

    Example:

    >>> explorer = build_explorer(steps=5)
    >>> slider, menu = explorer.children[0].children
    >>> slider.value = 0.5
    >>> "diverging" in explorer.children[1].value
    True
    """
    lowest, highest = (10.0**exponent for exponent in SLIDER_EXPONENTS)
    validation.check_number("learning_rate", learning_rate, lowest, highest)
    explore(learning_rate, "sgd", curvatures, start, steps)
    slider = widgets.FloatLogSlider(
        value=learning_rate,
        base=10,
        min=SLIDER_EXPONENTS[0],
        max=SLIDER_EXPONENTS[1],
        step=0.05,
        description="learning rate",
        readout_format=".3g",
        continuous_update=False,
        style={"description_width": "initial"},
    )
    menu = widgets.Dropdown(
        options=gradient_descent.OPTIMIZERS, value="sgd", description="optimizer"
    )
    verdict = widgets.HTML()
    plots = widgets.Image(format="png")

    def redraw(change: dict | None = None) -> None:
        result = explore(slider.value, menu.value, curvatures, start, steps)
        verdict.value = f"<b>{html.escape(result.summary())}</b>"
        figure, (path_axes, loss_axes) = plt.subplots(1, 2, figsize=(10, 4))
        plot_path(result.path, curvatures, ax=path_axes)
        label = f"{result.optimizer}, learning_rate={result.learning_rate:.3g}"
        curve_diagnosis.plot_curves({label: result.losses}, ax=loss_axes, show_verdicts=False)
        image = io.BytesIO()
        figure.savefig(image, format="png", dpi=80, bbox_inches="tight")
        plt.close(figure)  # drawn into the Image widget, so Jupyter does not show it a second time
        plots.value = image.getvalue()

    slider.observe(redraw, names="value")
    menu.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([slider, menu]), verdict, plots])
