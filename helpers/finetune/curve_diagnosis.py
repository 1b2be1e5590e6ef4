"""Loss curves: a verdict on the learning rate, the initial-loss check and plots (lessons 01, 05).

`diagnose` turns a run's losses into a verdict (one of `VERDICTS`), the numbers behind it and what
to try; `diagnose_history` reads a Keras `History`. `initial_loss_warning` compares the loss before
training with `ln(num_classes)`, where a fresh head starts. `plot_curves` draws loss curves on a log
scale, with or without their verdicts.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from helpers.finetune import validation

VERDICTS = ("diverging", "too high", "too low", "healthy", "overfitting")
# Window means span 20% of the curve: batch noise moves them by <= 8% (measured, 40 steps).
WINDOW_FRACTION = 0.2
# Diverging: the end level is above 3x the first loss; a good run ends below its start.
EXPLOSION_FACTOR = 3.0
# Diverging: a window mean 10x above the first loss, or the end 10x above the lowest level.
REBOUND_FACTOR = 10.0
# That lowest level counts as at least 1% of the first loss: 1e-5 -> 1e-4 is no alarm.
REBOUND_FLOOR = 0.01
# Too high: one loss above 2x the first (measured: flat and good runs <= 1.34x).
SPIKE_FACTOR = 2.0
# Too high: a median step-to-step change of 25% (measured batch noise: 7% to 13%).
JUMP_LIMIT = 0.25
# Too low: the end level above 90% of the start level (measured: rate 1e-6 -8% to +5%).
MIN_PROGRESS = 0.1
# Overfitting: the last validation loss 10% above its minimum.
OVERFIT_FACTOR = 1.1
# With num_classes known, a curve whose median sits above 2x ln(num_classes) does worse than
# uniform guessing: "too high", and above 10x "diverging" (the weights were thrown off), never
# "too low". Measured on Dense networks trained with SGD on 4 classes (3 seeds, 40 steps): runs
# that barely move (rates 1e-6 and 1e-3, Glorot-initialised, so they start above ln 4) have
# medians of 0.83-1.54x ln(4), learning runs 0.18-0.6x, a linear model at rate 1e3 15-18x. A
# Dense head trained by Adam at rate 1e3 sits at about 3e4x per epoch (4 epochs), and
# `fine_tune` at rate 1e3 at about 540x (a loss of ~750).
ABOVE_CHANCE_FACTOR = 2.0
FAR_ABOVE_CHANCE_FACTOR = 10.0
# Fresh Dense heads on the bundled MobileNetV2's pooled features started -0.02 to +0.16 nats from
# ln(num_classes) (2-100 classes, 20 seeds); logits into from_logits=False (the seed's bug)
# started 0.9-10 above for 4+ classes. Softmax outputs fed to from_logits=True also start near
# ln(num_classes): the initial check cannot see that bug.
INITIAL_LOSS_TOLERANCE = 0.3  # nats: about twice the largest fresh gap
ADVICE = {
    "diverging": "lower the learning rate about 10x",
    "too high": "lower the learning rate about 3-10x, or warm it up over the first steps",
    "too low": "raise the learning rate about 10x, or run a learning-rate range test",
    "overfitting": (
        "stop at the lowest validation loss (EarlyStopping(restore_best_weights=True)) "
        "or add augmentation"
    ),
    "healthy": "keep this learning rate",
}
# A loss that is NaN or inf from its first value was computed before any update: the learning rate
# has not acted yet, so the inputs (or the loss) are to blame.
BROKEN_INPUT_ADVICE = (
    "check the inputs for NaN or inf: the first loss comes before any update, "
    "so the learning rate cannot be the cause"
)


@dataclasses.dataclass(frozen=True)
class Diagnosis:
    """What `diagnose` returns: a verdict (one of `VERDICTS`), its evidence and what to try."""

    verdict: str
    evidence: tuple[str, ...]
    advice: str

    def __str__(self) -> str:
        return f"{self.verdict}: {'; '.join(self.evidence)}; {self.advice}"


def _verdict(verdict: str, *evidence: str) -> Diagnosis:
    return Diagnosis(verdict, evidence, ADVICE[verdict])


def _times(ratio: float) -> str:
    """A ratio as the evidence writes it: x2.5, x541, x1.5e+18."""
    if ratio < 10:
        return f"x{ratio:.1f}"
    if ratio < 1e5:
        return f"x{ratio:.0f}"
    return f"x{ratio:.2g}"


def _checked_curve(name: str, values: object, length: int | None = None) -> np.ndarray:
    """Returns a loss curve as float64, or raises unless it is 1-D, 2+ long and not negative.

    NaN and inf are allowed: they are what a diverging run records.
    """
    shape = ("steps",) if length is None else (length,)
    curve = validation.check_array(name, values, shape, allow_non_finite=True).astype("float64")
    validation.check_int(f"len({name})", len(curve), minimum=2)
    # Losses are cross-entropies, never negative; 0.0 stands for "no negative value".
    negative = curve[curve < 0]
    lowest = float(negative.min()) if negative.size else 0.0
    validation.check_number(f"min({name})", lowest, minimum=0)
    return curve


def _explosion_evidence(loss: np.ndarray, window: int) -> tuple[str, ...]:
    """Evidence that a finite curve blew up, or `()` when it did not."""
    if len(loss) < window:
        return ()
    smoothed = np.convolve(loss, np.ones(window) / window, mode="valid")
    first = loss[0]
    end = smoothed[-1]
    lowest_step = int(np.argmin(smoothed))
    floor = max(smoothed[lowest_step], REBOUND_FLOOR * first)
    ended_high = end > EXPLOSION_FACTOR * first
    peaked_high = smoothed.max() > REBOUND_FACTOR * first
    if ended_high or peaked_high:
        passed_step = int(np.argmax(loss > EXPLOSION_FACTOR * first))
        peak_step = int(np.argmax(loss))
        peak_ratio = _times(loss[peak_step] / first)
        return (
            f"the loss passed {EXPLOSION_FACTOR:g}x its first value {first:.3g} "
            f"at step {passed_step}",
            f"it reached {loss[peak_step]:.3g} at step {peak_step}, {peak_ratio} its first value",
        )
    if end > REBOUND_FACTOR * floor:
        return (
            f"the loss fell to {smoothed[lowest_step]:.3g} by step {lowest_step + window - 1}, "
            f"rose {_times(end / floor)}",
        )
    return ()


def _above_chance_diagnosis(loss: np.ndarray, num_classes: int) -> Diagnosis | None:
    """Returns "too high" or "diverging" for a curve far above chance level, else None."""
    chance_level = expected_initial_loss(num_classes)
    level = float(np.median(loss))
    ratio = level / chance_level
    if ratio <= ABOVE_CHANCE_FACTOR:
        return None
    verdict = "diverging" if ratio > FAR_ABOVE_CHANCE_FACTOR else "too high"
    return _verdict(
        verdict,
        f"the loss sits around {level:.3g} (its median), {_times(ratio)} the chance level "
        f"ln({num_classes}) = {chance_level:.3g}",
        "a model that learns stays below chance level: this one does worse than guessing",
    )


def _near_chance_evidence(level: float, num_classes: int | None) -> tuple[str, ...]:
    """Names the chance level when the loss ends near it, else `()`."""
    if num_classes is None:
        return ()
    chance_level = expected_initial_loss(num_classes)
    if abs(level - chance_level) > INITIAL_LOSS_TOLERANCE:
        return ()
    return (f"it stays near ln({num_classes}) = {chance_level:.3g}, the loss of uniform guessing",)


def _overfitting_evidence(loss: np.ndarray, validation_loss: np.ndarray | None) -> tuple[str, ...]:
    """Evidence that the validation loss turned up while the training loss fell, else `()`."""
    if validation_loss is None or not np.all(np.isfinite(validation_loss)):
        return ()
    best = int(np.argmin(validation_loss))
    turned_up = validation_loss[-1] > OVERFIT_FACTOR * validation_loss[best]
    kept_falling = loss[-1] < loss[best]
    if not (turned_up and kept_falling):
        return ()
    return (
        f"validation loss was lowest ({validation_loss[best]:.3g}) at step {best}, "
        f"ends at {validation_loss[-1]:.3g}",
        f"training loss kept falling, {loss[best]:.3g} -> {loss[-1]:.3g}",
    )


def _diagnosis(
    loss: np.ndarray, validation_loss: np.ndarray | None, num_classes: int | None
) -> Diagnosis:
    """The rules of `diagnose`, in order, on curves that are already checked."""
    if not np.isfinite(loss[0]):
        word = "NaN" if np.isnan(loss[0]) else "inf"
        return Diagnosis("diverging", (f"the first loss is already {word}",), BROKEN_INPUT_ADVICE)
    window = max(1, round(len(loss) * WINDOW_FRACTION))
    non_finite_steps = np.flatnonzero(~np.isfinite(loss))
    finite_part = loss[: non_finite_steps[0]] if non_finite_steps.size else loss
    blown_up = list(_explosion_evidence(finite_part, window))
    if non_finite_steps.size:
        step = int(non_finite_steps[0])
        blown_up.append(f"the loss is {loss[step]} at step {step}")
    if blown_up:
        return _verdict("diverging", *blown_up)
    if num_classes is not None:
        above_chance = _above_chance_diagnosis(loss, num_classes)
        if above_chance is not None:
            return above_chance

    first = loss[0]
    start_level = loss[:window].mean()
    end_level = loss[-window:].mean()
    progress = 1 - end_level / start_level if start_level > 0 else 0.0
    direction = "fell" if progress >= 0 else "rose"
    moved = f"the loss {direction} {abs(progress):.0%} ({start_level:.3g} -> {end_level:.3g})"
    peak_step = int(np.argmax(loss))
    spike = loss[peak_step] / first if first > 0 else 1.0
    if spike > SPIKE_FACTOR:
        return _verdict(
            "too high",
            f"the loss jumped to {loss[peak_step]:.3g} at step {peak_step}, "
            f"{_times(spike)} its first",
        )
    step_means = np.maximum((loss[1:] + loss[:-1]) / 2, 1e-12)
    jump = float(np.median(np.abs(np.diff(loss)) / step_means))  # relative step-to-step change
    stalled = progress < MIN_PROGRESS
    chance = _near_chance_evidence(end_level, num_classes)
    if stalled and jump >= JUMP_LIMIT:
        return _verdict(
            "too high", f"the loss moves by a median {jump:.0%} per step", moved, *chance
        )
    if stalled:
        return _verdict("too low", f"{moved}, less than {MIN_PROGRESS:.0%}", *chance)
    overfitting = _overfitting_evidence(loss, validation_loss)
    if overfitting:
        return _verdict("overfitting", *overfitting)
    above = f"at most {_times(spike)}" if spike > 1 else "never above"
    return _verdict("healthy", f"{moved}, {above} its first value")


def diagnose(
    loss: Sequence[float],
    validation_loss: Sequence[float] | None = None,
    num_classes: int | None = None,
) -> Diagnosis:
    """Reads a verdict from a loss curve; the first rule that holds wins (steps count from 0).

    Per-step losses are noisy, so the rules compare window means (each spans 20% of the curve):

    - "diverging" with `BROKEN_INPUT_ADVICE`: the first loss is already NaN or inf. It was
      computed before any update, so the inputs are to blame, not the learning rate. (With
      per-epoch losses the first value is an epoch's mean: a blow-up within the first epoch looks
      the same.)
    - "diverging": a NaN or inf later; or the end level above 3x the first loss, a window mean
      above 10x the first loss, or the end 10x above the lowest window mean (this fires while the
      loss is still finite);
    - with `num_classes`, "too high" when the median loss is above 2x `ln(num_classes)` (worse
      than uniform guessing), "diverging" above 10x: such a run never reads "too low";
    - "too high": a loss above 2x the first; or under 10% progress with median jumps of 25% per
      step or more;
    - "too low": under 10% progress (a per-epoch wobble under 25% reads "too low" too, like batch
      noise);
    - "overfitting": the last validation loss 10% above its earlier minimum while the training
      loss fell;
    - "healthy" otherwise.

    Args:
        loss: 1-D sequence of numbers >= 0 (NaN and inf allowed), the training losses per step or
            per epoch; at least 2.
        validation_loss: 1-D sequence or None, one validation loss per training loss. Defaults to
            `None`.
        num_classes: int >= 2 or None; the chance level `ln(num_classes)` is then compared with
            the curve and named in the evidence. Defaults to `None`.

    Returns:
        A `Diagnosis`.

    Raises:
        ValueError: naming the argument, for a `loss` that is not 1-D numbers >= 0 (at least 2), a
            `validation_loss` of another length, or `num_classes` not None or an int >= 2.

    Example:

    >>> print(diagnose([2.0, 1.2, 0.7, 0.4, 0.25]))
    healthy: the loss fell 88% (2 -> 0.25), never above its first value; keep this learning rate
    >>> diagnose([750.0, 748.0, 752.0, 749.0], num_classes=4).verdict
    'diverging'
    >>> print(diagnose([float("nan"), float("nan")]))  # doctest: +NORMALIZE_WHITESPACE
    diverging: the first loss is already NaN; check the inputs for NaN or inf: the first loss
    comes before any update, so the learning rate cannot be the cause
    """
    loss = _checked_curve("loss", loss)
    if validation_loss is not None:
        validation_loss = _checked_curve("validation_loss", validation_loss, len(loss))
    num_classes = validation.check_optional_int("num_classes", num_classes, minimum=2)
    return _diagnosis(loss, validation_loss, num_classes)


def diagnose_history(history: object, num_classes: int | None = None) -> Diagnosis:
    """Diagnoses a training history: its "loss" and, when present, its "val_loss" (see `diagnose`).

    Args:
        history: a `keras.callbacks.History`, a dict like its `.history`, or a
            `two_phase.FineTuneHistory`.
        num_classes: int >= 2 or None, passed to `diagnose`. Defaults to `None`.

    Returns:
        A `Diagnosis`.

    Raises:
        ValueError: if `history` holds no "loss", or its curves are invalid.

    Example:

    >>> diagnose_history({"loss": [1.0, 0.6, 0.4, 0.3], "val_loss": [0.9, 0.7, 0.8, 1.0]}).verdict
    'overfitting'
    >>> diagnose_history({"val_loss": [1.0, 0.5]})
    Traceback (most recent call last):
    ...
    ValueError: history['loss'] must be a numeric array. Received: history['loss']=None
    """
    curves = getattr(history, "history", history)  # a Keras History keeps its dict in .history
    if isinstance(curves, Mapping):
        loss = curves.get("loss")
        validation_loss = curves.get("val_loss")
    else:
        loss = getattr(curves, "loss", None)
        validation_loss = getattr(curves, "val_loss", None)
    loss = _checked_curve("history['loss']", loss)
    # A FineTuneHistory without validation data holds an empty val_loss.
    has_validation = validation_loss is not None and len(validation_loss) > 0
    if has_validation:
        validation_loss = _checked_curve("history['val_loss']", validation_loss, len(loss))
    else:
        validation_loss = None
    num_classes = validation.check_optional_int("num_classes", num_classes, minimum=2)
    return _diagnosis(loss, validation_loss, num_classes)


def expected_initial_loss(num_classes: int) -> float:
    """Returns `ln(num_classes)`: the loss of a head giving every class `1 / num_classes`.

    A freshly initialised head with small weights is close to that: its logits are small and
    nearly equal. It fails otherwise: a reused head, a large initialisation or features of large
    magnitude give large, unequal logits and start higher (`initial_loss_warning` flags it).

    Args:
        num_classes: int >= 2, the number of classes.

    Returns:
        float, `ln(num_classes)`.

    Raises:
        ValueError: if `num_classes` is not an int >= 2.

    Example:

    >>> round(expected_initial_loss(4), 4)
    1.3863
    """
    num_classes = validation.check_int("num_classes", num_classes, minimum=2)
    return math.log(num_classes)


def initial_loss_warning(
    initial_loss: float, num_classes: int, tolerance: float = INITIAL_LOSS_TOLERANCE
) -> str | None:
    """Returns a warning when the loss before training is far from `ln(num_classes)`, else None.

    A freshly initialised head starts at about `ln(num_classes)` (`expected_initial_loss`). Far
    above it, the loss reads logits as probabilities or the head is not fresh; far below it, the
    model has trained already.

    Args:
        initial_loss: float, the first batch's loss or `model.evaluate` before `fit` (an epoch's
            mean has learnt).
        num_classes: int >= 2, the units of the head.
        tolerance: float > 0, the accepted distance from `ln(num_classes)` in nats. Defaults to
            0.3.

    Returns:
        `None` when the loss is within `tolerance`, otherwise a message with both numbers and
        likely causes.

    Raises:
        ValueError: if `initial_loss` is not a finite number, `num_classes` not an int >= 2 or
            `tolerance` not a positive number.

    Example:

    >>> initial_loss_warning(1.42, num_classes=4) is None
    True
    >>> print(initial_loss_warning(6.45, num_classes=4))  # doctest: +ELLIPSIS
    the first loss 6.45 is 5.06 above ln(4) = 1.39, a fresh head's start: ...
    """
    expected = expected_initial_loss(num_classes)
    initial_loss = validation.check_number("initial_loss", initial_loss)
    tolerance = validation.check_positive_number("tolerance", tolerance)
    gap = initial_loss - expected
    if abs(gap) <= tolerance:
        return None
    side = "above" if gap > 0 else "below"
    where = f"{abs(gap):.2f} {side} ln({num_classes}) = {expected:.3g}, a fresh head's start"
    if gap < 0:
        return (
            f"the first loss {initial_loss:.3g} is {where}: "
            "has the model trained already (a re-run cell)?"
        )
    return (
        f"the first loss {initial_loss:.3g} is {where}: the loss may read logits as probabilities "
        "(from_logits=False, or the string 'sparse_categorical_crossentropy'), the head may not "
        f"be freshly initialised (weights reused or scaled up), or it has more than {num_classes} "
        "units."
    )


def plot_curves(
    losses_by_label: Mapping[str, Sequence[float]],
    ax: plt.Axes | None = None,
    num_classes: int | None = None,
    show_verdicts: bool = True,
) -> plt.Axes:
    """Plots one loss curve per label on a log scale; the legend reads "label: verdict" or "label".

    On a log scale steady convergence is a straight falling line and divergence a rising one.
    Points that are NaN, inf, zero or negative are left out (a log scale cannot show them).

    Args:
        losses_by_label: non-empty mapping from a label (e.g. `"1e-3"`) to a 1-D sequence of
            losses. With verdicts, each curve must be one `diagnose` accepts (at least 2 values,
            none negative); without, any 1-D numeric sequence.
        ax: matplotlib Axes or None (the current Axes). Defaults to `None`.
        num_classes: int >= 2 or None, passed to `diagnose`. Defaults to `None`.
        show_verdicts: bool, whether to diagnose each curve and add its verdict to the legend.
            Defaults to `True`.

    Returns:
        The matplotlib Axes.

    Raises:
        ValueError: if `losses_by_label` is not a non-empty mapping, a curve is invalid, or
            `num_classes` or `show_verdicts` is bad.

    Example:

    >>> from matplotlib.figure import Figure  # a figure of its own, outside pyplot
    >>> curves = {"1e-3": [2.0, 1.0, 0.5], "10": [2.0, 40.0, float("nan")]}
    >>> ax = plot_curves(curves, ax=Figure().add_subplot())
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['1e-3: healthy', '10: diverging']
    >>> ax = plot_curves(curves, ax=Figure().add_subplot(), show_verdicts=False)
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['1e-3', '10']
    """
    validation.check_instance(
        "losses_by_label", losses_by_label, Mapping, "a mapping from label to losses"
    )
    validation.check_int("len(losses_by_label)", len(losses_by_label), minimum=1)
    num_classes = validation.check_optional_int("num_classes", num_classes, minimum=2)
    show_verdicts = validation.check_bool("show_verdicts", show_verdicts)
    legend_entries = {}
    curves = {}
    for label, losses in losses_by_label.items():
        name = f"losses_by_label[{label!r}]"
        if show_verdicts:
            curve = _checked_curve(name, losses)
            verdict = _diagnosis(curve, None, num_classes).verdict
            legend_entries[label] = f"{label}: {verdict}"
        else:
            curve = validation.check_array(name, losses, ("steps",), allow_non_finite=True)
            legend_entries[label] = str(label)
        curves[label] = curve.astype("float64")

    ax = plt.gca() if ax is None else ax
    for label, curve in curves.items():
        shown = np.flatnonzero(np.isfinite(curve) & (curve > 0))
        ax.plot(shown, curve[shown], label=legend_entries[label])
    ax.set(yscale="log", xlabel="step", ylabel="loss (log scale)")
    ax.legend()
    return ax
