"""Reading a loss curve: is the learning rate too high, too low, or right? (used by lesson 05).

`diagnose` turns a run's losses into a verdict, its numbers and what to try; `check_initial_loss` checks the start.
"""

import dataclasses
import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

VERDICTS = ("diverging", "too high", "too low", "healthy", "overfitting")
WINDOW_FRACTION = (
    0.2  # window means span 20% of the curve: batch noise moves them by <= 8% (measured, 40 steps)
)
EXPLOSION_FACTOR = (
    3.0  # diverging: the end level is above 3x the first loss; a good run ends below its start
)
REBOUND_FACTOR = (
    10.0  # diverging: a window mean 10x above the first loss, or the end 10x above the lowest level
)
REBOUND_FLOOR = (
    0.01  # that lowest level counts as at least 1% of the first loss: 1e-5 -> 1e-4 is no alarm
)
SPIKE_FACTOR = 2.0  # too high: one loss above 2x the first (measured: flat and good runs <= 1.34x)
JUMP_LIMIT = 0.25  # too high: a median step-to-step change of 25% (measured batch noise: 7% to 13%)
MIN_PROGRESS = (
    0.1  # too low: the end level above 90% of the start level (measured: rate 1e-6 -8% to +5%)
)
OVERFIT_FACTOR = 1.1  # overfitting: the last validation loss 10% above its minimum
# Fresh Dense heads on the bundled MobileNetV2's pooled features started -0.02 to +0.16 nats from ln(num_classes)
# (2-100 classes, 20 seeds); logits into from_logits=False (the seed's bug) started 0.9-10 above for 4+ classes.
# Softmax outputs fed to from_logits=True also start near ln(num_classes): the initial check cannot see that bug.
INITIAL_LOSS_TOLERANCE = 0.3  # nats: about twice the largest fresh gap
ADVICE = {
    "diverging": "lower the learning rate about 10x",
    "too high": "lower the learning rate about 3-10x, or warm it up over the first steps",
    "too low": "raise the learning rate about 10x, or run a learning-rate range test",
    "overfitting": "stop at the lowest validation loss (EarlyStopping(restore_best_weights=True)) or add augmentation",
    "healthy": "keep this learning rate",
}


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """What `diagnose` returns: a verdict (one of `VERDICTS`), the numbers behind it and what to try."""

    verdict: str
    evidence: tuple[str, ...]
    advice: str

    def __str__(self) -> str:
        return f"{self.verdict}: {'; '.join(self.evidence)}; {self.advice}"


def _verdict(verdict: str, *evidence: str) -> Diagnosis:
    return Diagnosis(verdict, evidence, ADVICE[verdict])


def _times(ratio: float) -> str:
    return f"x{ratio:.1f}" if ratio < 10 else f"x{ratio:.0f}" if ratio < 1e5 else f"x{ratio:.2g}"


def _curve(values, name: str, length: int | None = None) -> np.ndarray:
    try:
        curve = None if isinstance(values, str) else np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        curve = None
    if (
        curve is None or curve.ndim != 1 or np.any(curve < 0)
    ):  # losses are cross-entropies: never negative
        raise ValueError(
            f"{name} must be a 1-D sequence of numbers >= 0. Received: {name}={values!r}"
        )
    if curve.size < 2 or length not in (None, curve.size):
        wanted = "at least 2 values" if length is None else f"one value per loss ({length})"
        raise ValueError(
            f"{name} must hold {wanted}. Received: {name}={values!r} (length {curve.size})"
        )
    return curve


def _explosion(
    loss: np.ndarray, window: int
) -> tuple[str, ...]:  # evidence that a finite curve blew up, or ()
    if len(loss) < window:
        return ()
    smoothed = np.convolve(loss, np.ones(window) / window, mode="valid")
    first, end, lowest = loss[0], smoothed[-1], int(np.argmin(smoothed))
    floor = max(smoothed[lowest], REBOUND_FLOOR * first)
    if end > EXPLOSION_FACTOR * first or smoothed.max() > REBOUND_FACTOR * first:
        start, peak = int(np.argmax(loss > EXPLOSION_FACTOR * first)), int(np.argmax(loss))
        passed = (
            f"the loss passed {EXPLOSION_FACTOR:g}x its first value {first:.3g} at step {start}"
        )
        return (
            passed,
            f"it reached {loss[peak]:.3g} at step {peak}, {_times(loss[peak] / first)} its first value",
        )
    if end > REBOUND_FACTOR * floor:
        return (
            f"the loss fell to {smoothed[lowest]:.3g} by step {lowest + window - 1}, rose {_times(end / floor)}",
        )
    return ()


def diagnose(
    loss: Sequence[float],
    validation_loss: Sequence[float] | None = None,
    num_classes: int | None = None,
) -> Diagnosis:
    """Reads a verdict from a loss curve; the first rule that holds wins (steps count from 0).

    Per-step losses are noisy, so the rules compare window means (each spans 20% of the curve):
    - "diverging": a nan or inf; or the end level above 3x the first loss, a window mean above 10x the first
      loss, or the end 10x above the lowest window mean (this fires while the loss is still finite);
    - "too high": a loss above 2x the first; or under 10% progress with median jumps of 25% per step or more;
    - "too low": under 10% progress (a per-epoch wobble under 25% reads "too low" too, like batch noise);
    - "overfitting": the last validation loss 10% above its earlier minimum while the training loss fell;
    - "healthy" otherwise.

    Args:
        loss: sequence of float, the training losses per step or per epoch, at least 2, none negative.
        validation_loss: sequence of float or None, one validation loss per training loss. Defaults to `None`.
        num_classes: int >= 2 or None; a loss that stays near `ln(num_classes)` is named. Defaults to `None`.

    Returns:
        A `Diagnosis`.

    Raises:
        ValueError: if `loss` is not 1-D numbers (>= 2), `validation_loss` another length, `num_classes` not >= 2.

    Example:

    >>> print(diagnose([2.0, 1.2, 0.7, 0.4, 0.25]))
    healthy: the loss fell 88% (2 -> 0.25), never above its first value; keep this learning rate
    """
    loss, chance_level = (
        _curve(loss, "loss"),
        math.nan if num_classes is None else expected_initial_loss(num_classes),
    )
    validation = (
        None if validation_loss is None else _curve(validation_loss, "validation_loss", len(loss))
    )
    window, broken = (
        max(1, round(len(loss) * WINDOW_FRACTION)),
        np.flatnonzero(~np.isfinite(loss))[:1],
    )
    finite = loss[: broken[0]] if broken.size else loss
    exploded = (
        *_explosion(finite, window),
        *(f"the loss is {loss[index]} at step {index}" for index in broken),
    )
    if exploded:
        return _verdict("diverging", *exploded)
    first, start, end, peak = (
        loss[0],
        loss[:window].mean(),
        loss[-window:].mean(),
        int(np.argmax(loss)),
    )
    progress = 1 - end / start if start > 0 else 0.0
    moved = f"the loss {'fell' if progress >= 0 else 'rose'} {abs(progress):.0%} ({start:.3g} -> {end:.3g})"
    near = bool(
        abs(end - chance_level) <= INITIAL_LOSS_TOLERANCE
    )  # False without num_classes (nan)
    chance = [
        f"it stays near ln({num_classes}) = {chance_level:.3g}, the loss of uniform guessing"
    ] * near
    if (spike := loss[peak] / first if first > 0 else 1.0) > SPIKE_FACTOR:
        return _verdict(
            "too high",
            f"the loss jumped to {loss[peak]:.3g} at step {peak}, {_times(spike)} its first",
        )
    jump = float(
        np.median(np.abs(np.diff(loss)) / np.maximum((loss[1:] + loss[:-1]) / 2, 1e-12))
    )  # relative
    if progress < MIN_PROGRESS and jump >= JUMP_LIMIT:
        return _verdict(
            "too high", f"the loss moves by a median {jump:.0%} per step", moved, *chance
        )
    if progress < MIN_PROGRESS:
        return _verdict("too low", f"{moved}, less than {MIN_PROGRESS:.0%}", *chance)
    best = (
        None
        if validation is None or not np.all(np.isfinite(validation))
        else int(np.argmin(validation))
    )
    if (
        best is not None
        and validation[-1] > OVERFIT_FACTOR * validation[best]
        and loss[-1] < loss[best]
    ):
        lowest = f"validation loss was lowest ({validation[best]:.3g}) at step {best}, ends at {validation[-1]:.3g}"
        return _verdict(
            "overfitting", lowest, f"training loss kept falling, {loss[best]:.3g} -> {loss[-1]:.3g}"
        )
    above = f"at most {_times(spike)}" if spike > 1 else "never above"
    return _verdict("healthy", f"{moved}, {above} its first value")


def diagnose_history(history, num_classes: int | None = None) -> Diagnosis:
    """Diagnoses a training history: its "loss" and, when present, its "val_loss" (see `diagnose`).

    Args:
        history: a `keras.callbacks.History`, a dict like its `.history`, or a `two_phase.FineTuneHistory`.
        num_classes: int >= 2 or None, passed to `diagnose`. Defaults to `None`.

    Returns:
        A `Diagnosis`.

    Raises:
        ValueError: if `history` holds no "loss", or its curves are invalid.

    Example:

    >>> diagnose_history({"loss": [1.0, 0.6, 0.4, 0.3], "val_loss": [0.9, 0.7, 0.8, 1.0]}).verdict
    'overfitting'
    """
    curves = getattr(history, "history", history)  # a keras History keeps its dict in .history
    get = curves.get if isinstance(curves, Mapping) else lambda key: getattr(curves, key, None)
    loss, validation = get("loss"), get("val_loss")
    if loss is None:
        raise ValueError(
            f"history must be a History, dict or FineTuneHistory with a loss. Received: {history=}"
        )
    return diagnose(
        loss, validation if validation is not None and len(validation) else None, num_classes
    )  # [] = none


def expected_initial_loss(num_classes: int) -> float:
    """Returns `ln(num_classes)`: the loss of a head that gives every class `1 / num_classes`, as a fresh one does.

    Raises:
        ValueError: if `num_classes` is not an int >= 2.

    Example:

    >>> round(expected_initial_loss(4), 4)
    1.3863
    """
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2. Received: num_classes={num_classes!r}")
    return math.log(num_classes)


def check_initial_loss(
    initial_loss: float, num_classes: int, tolerance: float = INITIAL_LOSS_TOLERANCE
) -> str | None:
    """Checks the loss before training against `ln(num_classes)`, where a freshly initialised head starts.

    Args:
        initial_loss: float, the first batch's loss or `model.evaluate` before `fit` (an epoch's mean has learnt).
        num_classes: int >= 2, the units of the head.
        tolerance: float > 0, the accepted distance from `ln(num_classes)` in nats. Defaults to 0.3.

    Returns:
        `None` when the loss is within `tolerance`, otherwise a message with both numbers and likely causes.

    Raises:
        ValueError: if `initial_loss` is not a number, `num_classes` not an int >= 2 or `tolerance` not > 0.

    Example:

    >>> check_initial_loss(1.42, num_classes=4) is None
    True
    >>> print(check_initial_loss(6.45, num_classes=4))  # doctest: +ELLIPSIS
    the first loss 6.45 is 5.06 above ln(4) = 1.39, a fresh head's start: ...
    """
    expected = expected_initial_loss(num_classes)
    number = isinstance(initial_loss, int | float | np.floating) and not isinstance(
        initial_loss, bool
    )
    if not number or not math.isfinite(initial_loss):
        raise ValueError(
            f"initial_loss must be a finite number. Received: initial_loss={initial_loss!r}"
        )
    if (
        isinstance(tolerance, bool)
        or not isinstance(tolerance, int | float)
        or not 0 < tolerance < math.inf
    ):
        raise ValueError(f"tolerance must be a positive number. Received: tolerance={tolerance!r}")
    gap = float(initial_loss) - expected
    if abs(gap) <= tolerance:
        return None
    where = f"{abs(gap):.2f} {'above' if gap > 0 else 'below'} ln({num_classes}) = {expected:.3g}, a fresh head's start"
    if gap < 0:
        return f"the first loss {initial_loss:.3g} is {where}: has the model trained already (a re-run cell)?"
    return (
        f"the first loss {initial_loss:.3g} is {where}: the loss may read logits as probabilities "
        "(from_logits=False, or the string 'sparse_categorical_crossentropy'), the head may not be freshly "
        f"initialised (weights reused or scaled up), or it has more than {num_classes} units."
    )


def plot_curves(
    losses_by_label: Mapping[str, Sequence[float]], ax=None, num_classes: int | None = None
):
    """Plots one loss curve per label on a log scale; each legend entry reads "label: verdict".

    Args:
        losses_by_label: mapping from a label (e.g. `"1e-3"`) to its losses, as `diagnose` takes them.
        ax: matplotlib Axes or None (the current Axes). Defaults to `None`.
        num_classes: int >= 2 or None, passed to `diagnose`. Defaults to `None`.

    Returns:
        The matplotlib Axes. Points that are nan, inf or 0 are left out (a log scale cannot show them).

    Raises:
        ValueError: if `losses_by_label` is not a non-empty mapping or a curve is invalid.

    Example:

    >>> ax = plot_curves({"1e-3": [2.0, 1.0, 0.5], "10": [2.0, 40.0, float("nan")]})
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['1e-3: healthy', '10: diverging']
    """
    if not isinstance(losses_by_label, Mapping) or not losses_by_label:
        raise ValueError(
            f"losses_by_label must be a non-empty mapping. Received: losses_by_label={losses_by_label!r}"
        )
    ax = plt.gca() if ax is None else ax
    for label, losses in losses_by_label.items():
        verdict, values = (
            diagnose(losses, num_classes=num_classes).verdict,
            np.asarray(losses, dtype=float),
        )
        shown = np.flatnonzero(np.isfinite(values) & (values > 0))
        ax.plot(shown, values[shown], label=f"{label}: {verdict}")
    ax.set(yscale="log", xlabel="step", ylabel="loss (log scale)")
    ax.legend()
    return ax
