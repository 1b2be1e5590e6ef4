"""Each layer group's update/weight ratio at every training step, against 1e-3 (lesson 07).

For one training step, a group's ratio is `norm(weights_after - weights_before) /
norm(weights_before)` over all its learnable weights together (kernels, biases, BatchNorm gamma
and beta). CS231n's rule of thumb puts a healthy ratio near `forgetting.HEALTHY_UPDATE_RATIO`
(1e-3): far below, the group barely learns; far above, its pretrained weights are being
overwritten. With discriminative learning rates each group's ratio follows its own rate, so the
groups' lines on one plot show whether the rates fit the weights. A frozen group records 0.0: its
weights do not move. Lesson 07 records it for one rate and for discriminative rates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import keras
import numpy as np

from helpers.finetune import forgetting, layer_groups, validation

if TYPE_CHECKING:
    from matplotlib.axes import Axes


class GroupUpdateRatios(keras.callbacks.Callback):
    """Records each group's update/weight ratio at every training step.

    Before each step it copies the groups' learnable weights (`variable.numpy()`); after it,
    it records `norm(after - before) / norm(before)` per group (`norm(after - before)` for a
    group whose weights are all 0). Trainable or not, every learnable weight counts, so a frozen
    group records exactly 0.0 and a group with frozen BatchNormalization counts its gamma and
    beta in the weights' size. Records accumulate over `fit` calls. With
    `steps_per_execution > 1` Keras calls the callback once per execution, so each record spans
    that many steps.

    Args:
        groups: dict from group name to a non-empty list of layers, bottom to top, such as
            `layer_groups.mobilenet_v2_groups` returns.

    Attributes:
        ratios: dict from group name to its list of ratios, one per recorded step, in the
            order of `groups`.

    Raises:
        ValueError: if `groups` is not a dict from name to a non-empty list of layers.

    Example:

    >>> import numpy as np
    >>> low = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="low")
    >>> high = keras.layers.Dense(1, use_bias=False, kernel_initializer="ones", name="high")
    >>> model = keras.Sequential([keras.Input((2,)), low, high])
    >>> model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse")
    >>> recorder = GroupUpdateRatios({"low": [low], "high": [high]})
    >>> # loss = (high * low_0)**2: both gradients are 2, so each weight moves by 0.1 * 2.
    >>> _ = model.fit(np.array([[1.0, 0.0]]), np.zeros((1, 1)), callbacks=[recorder], verbose=0)
    >>> {name: round(values[0], 4) for name, values in recorder.ratios.items()}
    {'low': 0.1414, 'high': 0.2}
    """

    def __init__(self, groups: dict[str, list[keras.layers.Layer]]) -> None:
        super().__init__()
        self.variables_by_group = layer_groups.group_variables(groups)
        self.ratios: dict[str, list[float]] = {name: [] for name in self.variables_by_group}
        self._before: dict[str, np.ndarray] | None = None

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        self._before = self._values()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._before is None:
            return
        after = self._values()
        for name, values in after.items():
            self.ratios[name].append(_relative_change(self._before[name], values))
        self._before = None

    def median_ratios(self) -> dict[str, float]:
        """Returns each group's median ratio over the steps it moved (empty before any step).

        The median, not the mean: one large first step (a fresh head, a warm-up ending) does not
        decide it. Steps a group spent frozen (ratio 0.0) are left out, so a group unfrozen late
        (gradual unfreezing) shows the steps it trained; a group that never moved gets 0.0.

        Returns:
            A dict from group name to its median ratio, in the order of `groups`; `{}` when no
            step has been recorded.
        """
        if not any(self.ratios.values()):
            return {}
        medians = {}
        for name, values in self.ratios.items():
            moved = [value for value in values if value > 0]
            medians[name] = float(np.median(moved)) if moved else 0.0
        return medians

    def _values(self) -> dict[str, np.ndarray]:
        """Each group's learnable weights now, as one float64 vector."""
        return {
            name: np.concatenate(
                [np.ravel(variable.numpy()) for variable in variables], dtype=float
            )
            for name, variables in self.variables_by_group.items()
        }


def plot_group_ratios(ratios: dict[str, list[float]], ax: Axes | None = None) -> Axes:
    """Plots each group's update/weight ratio over the steps (log scale), with the 1e-3 guide.

    One line per group, the bottom group darkest; a dashed line marks
    `forgetting.HEALTHY_UPDATE_RATIO`. A ratio of 0 (a frozen step) has no place on a log scale
    and leaves a gap.

    Args:
        ratios: dict from group name to its per-step ratios (`GroupUpdateRatios.ratios`); for
            medians of several runs, see `format_ratios`.
        ax: matplotlib Axes to draw on; a new figure when None. Defaults to `None`.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: if `ratios` is not a non-empty dict from name to a list of numbers >= 0.

    Example:

    >>> from matplotlib.figure import Figure  # a figure of its own, outside pyplot
    >>> ratios = {"low": [1e-4, 2e-4, 1e-4], "high": [2e-3, 1e-3, 1e-3]}
    >>> ax = plot_group_ratios(ratios, ax=Figure().add_subplot())
    >>> len(ax.get_lines()), [text.get_text() for text in ax.get_legend().get_texts()]
    (3, ['low', 'high'])
    """
    series = check_ratios("ratios", ratios)
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    colors = plt.get_cmap("viridis")(np.linspace(0, 0.9, len(series)))
    for (name, values), color in zip(series.items(), colors, strict=True):
        visible = np.where(values > 0, values, np.nan)
        ax.plot(np.arange(1, len(values) + 1), visible, color=color, label=name)
    ax.axhline(forgetting.HEALTHY_UPDATE_RATIO, linestyle="--", color="gray")
    ax.set_yscale("log")
    ax.set_xlabel("training step")
    ax.set_ylabel("update / weight, one step")
    ax.set_title(
        f"Each group's step against its size (dashed: {forgetting.HEALTHY_UPDATE_RATIO:g})"
    )
    ax.legend(title="group (bottom to top)", fontsize="small")
    return ax


def format_ratios(medians_by_run: dict[str, dict[str, float]]) -> str:
    """A text table of median ratios: one row per group, one column per run.

    Args:
        medians_by_run: dict from a run's label (e.g. `"one rate"`, `"discriminative"`) to its
            `GroupUpdateRatios.median_ratios()`. Rows follow the groups of the first run, then
            any new ones; a group a run lacks shows `-`.

    Returns:
        The table as one string, values written like `3.1e-04`.

    Raises:
        ValueError: if `medians_by_run` is not a non-empty dict of dicts from name to number.

    Example:

    >>> medians = {
    ...     "one rate": {"stem": 2.5e-3, "head": 1.2e-3},
    ...     "discriminative": {"stem": 3.1e-4, "head": 1.2e-3},
    ... }
    >>> print(format_ratios(medians))
    group  one rate  discriminative
    stem    2.5e-03         3.1e-04
    head    1.2e-03         1.2e-03
    """
    wanted = "a dict from run label to GroupUpdateRatios.median_ratios()"
    validation.check_instance("medians_by_run", medians_by_run, dict, wanted)
    if not medians_by_run:
        raise ValueError(
            f"medians_by_run must be {wanted}, not empty. Received: medians_by_run={{}}"
        )
    group_names: list[str] = []
    for label, medians in medians_by_run.items():
        validation.check_text("medians_by_run key", label)
        name = f"medians_by_run[{label!r}]"
        validation.check_instance(name, medians, dict, "a dict from group name to median ratio")
        for group_name, value in medians.items():
            validation.check_number(f"{name}[{group_name!r}]", value, minimum=0)
            if group_name not in group_names:
                group_names.append(group_name)
    name_width = max(len("group"), *(len(str(group_name)) for group_name in group_names))
    widths = [max(len(label), 7) + 2 for label in medians_by_run]
    header = f"{'group':<{name_width}}" + "".join(
        f"{label:>{width}}" for label, width in zip(medians_by_run, widths, strict=True)
    )
    lines = [header]
    for group_name in group_names:
        cells = [
            f"{medians[group_name]:.1e}" if group_name in medians else "-"
            for medians in medians_by_run.values()
        ]
        lines.append(
            f"{group_name:<{name_width}}"
            + "".join(f"{cell:>{width}}" for cell, width in zip(cells, widths, strict=True))
        )
    return "\n".join(lines)


def check_ratios(name: str, ratios: object) -> dict[str, np.ndarray]:
    """Returns `ratios` as arrays, or raises unless it maps names to lists of numbers >= 0.

    Example:

    >>> check_ratios("ratios", {"low": 1e-3})
    Traceback (most recent call last):
    ...
    ValueError: ratios['low'] must be a list of per-step ratios (GroupUpdateRatios.ratios); for
    medians, use format_ratios. Received: ratios['low']=0.001
    """
    wanted = "a dict from group name to its per-step ratios (GroupUpdateRatios.ratios)"
    validation.check_instance(name, ratios, dict, wanted)
    if not ratios:
        raise ValueError(f"{name} must be {wanted}, not empty. Received: {name}={{}}")
    series = {}
    for group_name, values in ratios.items():
        validation.check_text(f"{name} key", group_name)
        label = f"{name}[{group_name!r}]"
        if validation.is_number(values):
            raise ValueError(
                f"{label} must be a list of per-step ratios (GroupUpdateRatios.ratios); for "
                f"medians, use format_ratios. Received: {label}={values!r}"
            )
        array = validation.check_array(label, values, ("steps",)).astype("float64")
        if np.any(array < 0):
            raise ValueError(
                f"{label} must hold ratios >= 0. Received: {label} with values "
                f"{sorted(array[array < 0].tolist())[:5]}"
            )
        series[group_name] = array
    return series


def _relative_change(before: np.ndarray, after: np.ndarray) -> float:
    """`norm(after - before) / norm(before)`; `norm(after - before)` when `before` is all 0."""
    change = float(np.linalg.norm(after - before))
    scale = float(np.linalg.norm(before))
    return change / scale if scale > 0 else change
