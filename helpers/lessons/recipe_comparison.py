"""Lesson 07's fine-tuning recipes, run on the same data and measured alike (lesson 07).

Each `Recipe` is one way to fine-tune MobileNetV2 with more than one learning rate, or with
BatchNorm handled differently:

- `"probe"`: phase 1 alone, a linear probe on the frozen base (the course's phase 1);
- `"uniform"`: phase 2 at one rate for every layer (the course's phase 2);
- `"discriminative"`: phase 2 with each layer group at its own rate, the head's
  `learning_rate` divided by `factor` per group down (ULMFiT; `discriminative_rates`);
- `"gradual"`: ULMFiT's gradual unfreezing, one more group per epoch from the top
  (`stages.gradual_unfreeze`);
- `"fastai"`: fastai's `Learner.fine_tune`: one frozen one-cycle epoch at `learning_rate`,
  then the rate halved and a discriminative one-cycle from a hundredth of it up to it.

A recipe starts from the trained probe (`start="probe"`: linear probe, then fine-tune, LP-FT:
Kumar et al., "Fine-tuning can distort pretrained features and underperform
out-of-distribution", 2022) or from a fresh random head (`start="random head"`, plain
fine-tuning, FT). `batchnorm` is `"frozen"` (the course's way), `"trainable"` (fastai's
`train_bn`, and the Keras 3 trap: a trainable BatchNorm normalises with batch statistics even
under `training=False`, keras-team/keras#20285) or `"re-estimated"` (frozen while training, then
AdaBN: statistics recomputed on the target training images before evaluation). Every run is
measured on the target test split, the shifted out-of-distribution test split and the source
task, with each layer group's update/weight ratio per step.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence

import keras
import matplotlib.axes
import matplotlib.pyplot as plt
import numpy as np

from helpers.finetune import (
    batchnorm_options,
    discriminative_rates,
    forgetting,
    group_update_ratios,
    layer_groups,
    models,
    optimizers,
    restarts,
    schedules,
    stages,
    training_inputs,
    two_phase,
    validation,
)
from helpers.lessons import course, pretrained, rate_comparison, target_task

KINDS = ("probe", "uniform", "discriminative", "gradual", "fastai")
STARTS = ("probe", "random head")
BATCHNORM_OPTIONS = ("frozen", "trainable", "re-estimated")
BATCH_SIZE = rate_comparison.BATCH_SIZE  # 32, as in every lesson
# fastai's `Learner.fine_tune` (fastai/callback/schedule.py) and `fit_one_cycle` defaults.
FASTAI_BASE_LEARNING_RATE = 2e-3  # base_lr
FASTAI_FREEZE_EPOCHS = 1  # freeze_epochs
FASTAI_LEARNING_RATE_MULTIPLIER = 100  # lr_mult: the lowest group gets base_lr / 100
FASTAI_FROZEN_WARMUP = 0.99  # pct_start of the frozen epoch
FASTAI_FROZEN_DIV = 25.0  # fit_one_cycle's div: the first rate is the peak / 25
FASTAI_UNFROZEN_WARMUP = 0.3  # pct_start after unfreezing
FASTAI_UNFROZEN_DIV = 5.0  # div after unfreezing
FASTAI_FINAL_DIV = 1e5  # div_final: the last rate is the peak / 1e5
# fastai splits a CNN body in two at the 1/16 resolution stage (resnet: before layer3), plus the
# head: three groups for `slice(low, high)`.
FASTAI_GROUPS = {
    "body, lower half": ("stem", "blocks 1-2", "blocks 3-5"),
    "body, upper half": ("blocks 6-12", "blocks 13-16", "top"),
    "head": ("head",),
}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How one run fine-tunes: its kind, start, rate and BatchNorm option (module docstring)."""

    label: str
    kind: str = "uniform"  # one of KINDS
    learning_rate: float = two_phase.FINE_TUNE_LEARNING_RATE  # the head's, for "discriminative"
    start: str = "probe"  # one of STARTS; "fastai" starts from a random head
    batchnorm: str = "frozen"  # one of BATCHNORM_OPTIONS
    factor: float = discriminative_rates.ULMFIT_FACTOR  # "discriminative": per group down
    epochs: int | None = None  # phase-2 epochs; None: the comparison's

    def __post_init__(self) -> None:
        validation.check_text("label", self.label)
        validation.check_choice("kind", self.kind, KINDS)
        validation.check_positive_number("learning_rate", self.learning_rate)
        validation.check_choice("start", self.start, STARTS)
        validation.check_choice("batchnorm", self.batchnorm, BATCHNORM_OPTIONS)
        validation.check_number("factor", self.factor, minimum=1)
        validation.check_optional_int("epochs", self.epochs, minimum=1)
        if self.kind == "probe" and (self.start != "probe" or self.batchnorm == "trainable"):
            raise ValueError(
                "A probe trains the head on the frozen base: start must be 'probe' and "
                f"batchnorm not 'trainable'. Received: start={self.start!r}, "
                f"batchnorm={self.batchnorm!r}"
            )


@dataclasses.dataclass
class RecipeOutcome:
    """One recipe's run, measured."""

    recipe: Recipe
    outcome: rate_comparison.Outcome  # target test, source, drift, validation
    ood_accuracy: float  # on the shifted test split; NaN without one
    # Per layer group: the median over the run's steps of its update/weight ratio (0.0: frozen).
    update_ratios: dict[str, float]
    # The model's trainable parameters in each stage (one stage but for "gradual" and "fastai").
    trainable_parameters: list[int]
    seconds: float  # the run's training and measuring time
    # "re-estimated" only: the OOD accuracy once the statistics are re-estimated on the shifted
    # test images themselves (unlabelled: AdaBN on the new domain); NaN otherwise.
    ood_accuracy_own_statistics: float = math.nan

    @property
    def label(self) -> str:
        return self.outcome.label


def compare_recipes(
    data: target_task.TaskData,
    recipes: Sequence[Recipe],
    head_epochs: int = 10,
    fine_tune_epochs: int = 5,
    seed: int = 0,
    source_head: tuple[np.ndarray, np.ndarray] | None = None,
    weights: str = "bundled",
) -> list[RecipeOutcome]:
    """Runs every recipe on `data` with the same seed and measures each the same way.

    Recipes that start from the probe share one trained head (phase 1, `head_epochs` at 1e-3 on
    the frozen base) and are restored to it before each run; the others build a fresh model with
    `seed`. A random-head recipe trains `head_epochs + fine_tune_epochs` epochs unless its
    `epochs` says otherwise, the budget of both phases together.

    Args:
        data: target_task.TaskData, from `target_task.prepare_data` (with `ood_count` for an
            out-of-distribution split).
        recipes: non-empty sequence of `Recipe`, with distinct labels.
        head_epochs: int >= 1, phase 1's epochs. Defaults to 10.
        fine_tune_epochs: int >= 1, phase 2's epochs for a recipe that does not set its own.
            Defaults to 5.
        seed: int >= 0, seeds heads, dropout and shuffling. Defaults to 0.
        source_head: `(kernel, bias)`, or None for the bundled source head. Defaults to None.
        weights: str, the pretrained base (`pretrained.build_mobilenet_v2`). Defaults to
            `"bundled"`.

    Returns:
        One `RecipeOutcome` per recipe, in the order given.

    Raises:
        ValueError: for a bad argument, naming it and the value received.

    Example:

    >>> sizes = {"validation_count": 4, "test_count": 4, "source_count": 6, "image_size": 32}
    >>> data = target_task.prepare_data(2, ood_count=4, **sizes)
    >>> recipes = [Recipe("probe", kind="probe"), Recipe("probe", batchnorm="re-estimated")]
    >>> compare_recipes(data, recipes)
    Traceback (most recent call last):
    ...
    ValueError: recipes must have distinct labels. Received: repeated ['probe']
    """
    validation.check_instance("data", data, target_task.TaskData, "a target_task.TaskData")
    recipes = _checked_recipes(recipes)
    head_epochs = validation.check_int("head_epochs", head_epochs, minimum=1)
    fine_tune_epochs = validation.check_int("fine_tune_epochs", fine_tune_epochs, minimum=1)
    seed = validation.check_int("seed", seed, minimum=0)
    source_head = rate_comparison.checked_source_head(source_head)
    outcomes: dict[int, RecipeOutcome] = {}
    from_probe = [index for index, recipe in enumerate(recipes) if _starts_from_probe(recipe)]
    if from_probe:
        keras.utils.set_random_seed(seed)
        head_model, head_base = pretrained.build_mobilenet_v2(
            data.num_classes, data.train[0].shape[1], weights=weights
        )
        model, base_model = rate_comparison.model_after_phase_one(
            head_model, head_base, data, head_epochs, seed
        )
        start = restarts.save_state(model)
        for index in from_probe:
            restarts.restore_state(model, start)
            keras.utils.set_random_seed(seed)
            outcomes[index] = _run(
                model, base_model, data, recipes[index], fine_tune_epochs, seed, source_head
            )
    for index, recipe in enumerate(recipes):
        if index in outcomes:
            continue
        keras.utils.set_random_seed(seed)
        model, base_model = pretrained.build_mobilenet_v2(
            data.num_classes, data.train[0].shape[1], weights=weights
        )
        epochs = recipe.epochs or head_epochs + fine_tune_epochs
        outcomes[index] = _run(model, base_model, data, recipe, epochs, seed, source_head)
    return [outcomes[index] for index in range(len(recipes))]


def _starts_from_probe(recipe: Recipe) -> bool:
    return recipe.start == "probe" and recipe.kind != "fastai"


def _checked_recipes(recipes: object) -> list[Recipe]:
    """Returns `recipes` as a list, or raises unless it holds `Recipe`s with distinct labels."""
    rows = validation.check_sequence("recipes", recipes)
    for index, row in enumerate(rows):
        validation.check_instance(f"recipes[{index}]", row, Recipe, "a Recipe")
    labels = [row.label for row in rows]
    repeated = sorted({label for label in labels if labels.count(label) > 1})
    if repeated:
        raise ValueError(f"recipes must have distinct labels. Received: repeated {repeated}")
    return rows


def _run(
    model: keras.Model,
    base_model: keras.Model,
    data: target_task.TaskData,
    recipe: Recipe,
    default_epochs: int,
    seed: int,
    source_head: tuple[np.ndarray, np.ndarray],
) -> RecipeOutcome:
    """Trains `model` as `recipe` says, from its current state, and measures it."""
    began = time.perf_counter()
    epochs = recipe.epochs or default_epochs
    groups = layer_groups.mobilenet_v2_groups(model, base_model)
    recorder = group_update_ratios.GroupUpdateRatios(groups)
    before = forgetting.snapshot(base_model)
    train, _ = training_inputs.prepare(data.train, "data.train", model, BATCH_SIZE, seed)
    steps_per_epoch = math.ceil(len(data.train[1]) / BATCH_SIZE)
    fit = {"callbacks": [recorder], "verbose": course.fit_verbosity()}
    trainable_parameters = []
    if recipe.kind == "probe":
        models.freeze(base_model)  # phase 1 trained the head alone
        trainable_parameters.append(_count_trainable(model))
    elif recipe.kind == "gradual":
        trained = stages.gradual_unfreeze(
            model,
            base_model,
            groups,
            train,
            stages=min(epochs, len(groups)),
            epochs_per_stage=max(1, epochs // len(groups)),
            make_optimizer=lambda: optimizers.make_optimizer("adam", recipe.learning_rate),
            seed=seed,
            **fit,
        )
        trainable_parameters = [stage.trainable_parameters for stage in trained]
    elif recipe.kind == "fastai":
        trainable_parameters = _fastai_fine_tune(
            model, base_model, groups, train, recipe, epochs, steps_per_epoch, fit
        )
    else:
        models.unfreeze(base_model)
        if recipe.batchnorm == "trainable":
            batchnorm_options.set_batchnorm_trainable(base_model, True)
        if recipe.kind == "uniform":
            optimizer = optimizers.make_optimizer("adam", recipe.learning_rate)
        else:
            rates = discriminative_rates.group_rates(
                list(groups), recipe.learning_rate, recipe.factor
            )
            optimizer = discriminative_rates.discriminative_optimizer(groups, rates)
        trainable_parameters.append(_count_trainable(model))
        stages.fit_stage(model, optimizer, train, None, 0, epochs, **fit)
    if recipe.batchnorm == "re-estimated":
        batchnorm_options.reestimate_statistics(base_model, data.train[0])
    # Measured as phase 1 and 2 left it: BatchNorm in inference mode, its moving statistics.
    models.freeze(base_model)
    outcome = rate_comparison.measure(
        model, data, recipe.label, before, source_head, recipe.learning_rate
    )
    ood_accuracy = math.nan
    ood_accuracy_own_statistics = math.nan
    if data.ood_test is not None:
        ood_accuracy = _accuracy(model, *data.ood_test)
        if recipe.batchnorm == "re-estimated":
            batchnorm_options.reestimate_statistics(base_model, data.ood_test[0])
            ood_accuracy_own_statistics = _accuracy(model, *data.ood_test)
    ratios = recorder.median_ratios() if recorder.ratios else dict.fromkeys(groups, 0.0)
    seconds = time.perf_counter() - began
    return RecipeOutcome(
        recipe,
        outcome,
        ood_accuracy,
        ratios,
        trainable_parameters,
        seconds,
        ood_accuracy_own_statistics,
    )


def _fastai_fine_tune(
    model: keras.Model,
    base_model: keras.Model,
    groups: dict[str, list[keras.layers.Layer]],
    train: object,
    recipe: Recipe,
    epochs: int,
    steps_per_epoch: int,
    fit: dict,
) -> list[int]:
    """fastai's `fine_tune(epochs - 1, base_lr=recipe.learning_rate)`, in Keras; returns counts.

    fastai: `freeze(); fit_one_cycle(freeze_epochs, base_lr, pct_start=0.99); base_lr /= 2;
    unfreeze(); fit_one_cycle(epochs, slice(base_lr / 100, base_lr), pct_start=0.3, div=5)`.
    """
    frozen_epochs = min(FASTAI_FREEZE_EPOCHS, epochs - 1)
    unfrozen_epochs = epochs - frozen_epochs
    train_bn = recipe.batchnorm == "trainable"
    counts = []
    if frozen_epochs:
        layer_groups.unfreeze_top_groups(base_model, groups, 1)  # the head alone
        if train_bn:
            # fastai's frozen body still trains its BatchNorm layers: gamma, beta, statistics.
            base_model.trainable = True  # Keras sets every layer inside trainable too
            for layer in base_model.layers:
                layer.trainable = False
            batchnorm_options.set_batchnorm_trainable(base_model, True)
        frozen_schedule = schedules.OneCycle(
            recipe.learning_rate,
            total_steps=max(2, frozen_epochs * steps_per_epoch),
            warmup_fraction=FASTAI_FROZEN_WARMUP,
            div_factor=FASTAI_FROZEN_DIV,
            final_div_factor=FASTAI_FINAL_DIV / FASTAI_FROZEN_DIV,
        )
        counts.append(_count_trainable(model))
        optimizer = optimizers.make_optimizer("adam", frozen_schedule)
        stages.fit_stage(model, optimizer, train, None, 0, frozen_epochs, **fit)
    base_rate = recipe.learning_rate / 2
    models.unfreeze(base_model)
    if train_bn:
        batchnorm_options.set_batchnorm_trainable(base_model, True)
    merged = fastai_groups(groups)
    peaks = discriminative_rates.rates_between(
        list(merged), base_rate / FASTAI_LEARNING_RATE_MULTIPLIER, base_rate
    )
    total_steps = max(2, unfrozen_epochs * steps_per_epoch)
    one_cycles = {
        name: schedules.OneCycle(
            peak,
            total_steps=total_steps,
            warmup_fraction=max(FASTAI_UNFROZEN_WARMUP, 1.01 / total_steps),
            div_factor=FASTAI_UNFROZEN_DIV,
            final_div_factor=FASTAI_FINAL_DIV / FASTAI_UNFROZEN_DIV,
        )
        for name, peak in peaks.items()
    }
    optimizer = discriminative_rates.discriminative_optimizer(merged, one_cycles)
    counts.append(_count_trainable(model))
    stages.fit_stage(model, optimizer, train, None, frozen_epochs, unfrozen_epochs, **fit)
    return counts


def fastai_groups(
    groups: dict[str, list[keras.layers.Layer]],
) -> dict[str, list[keras.layers.Layer]]:
    """MobileNetV2's seven groups merged into fastai's three (`FASTAI_GROUPS`).

    Example:

    >>> model, base_model = models.build_mobilenet_v2(4, image_size=32)
    >>> merged = fastai_groups(layer_groups.mobilenet_v2_groups(model, base_model))
    >>> {name: len(layers) for name, layers in merged.items()}
    {'body, lower half': 36, 'body, upper half': 68, 'head': 1}
    """
    groups = layer_groups.check_groups("groups", groups)
    return {
        name: [layer for part in parts for layer in groups[part]]
        for name, parts in FASTAI_GROUPS.items()
    }


def _count_trainable(model: keras.Model) -> int:
    return sum(math.prod(variable.shape) for variable in model.trainable_variables)


def _accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    logits = model.predict(images, batch_size=64, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def format_table(outcomes: Sequence[RecipeOutcome]) -> str:
    """A text table: each run's test, out-of-distribution and source accuracy, and drift.

    Example:

    >>> outcome = rate_comparison.Outcome("LP-FT", 1e-4, 0.8, 0.9, 0.01, {})
    >>> run = RecipeOutcome(Recipe("LP-FT"), outcome, 0.6, {}, [1], 1.0)
    >>> print(format_table([run]))
    run                                test    OOD  source   drift
    LP-FT                             0.800  0.600   0.900  0.0100
    """
    rows = validation.check_sequence("outcomes", outcomes)
    lines = [f"{'run':<32} {'test':>6} {'OOD':>6} {'source':>7} {'drift':>7}"]
    for row in rows:
        outcome = row.outcome
        lines.append(
            f"{row.label:<32} {outcome.target_accuracy:>6.3f} {row.ood_accuracy:>6.3f} "
            f"{outcome.source_accuracy:>7.3f} {outcome.overall_drift:>7.4f}"
        )
    return "\n".join(lines)


def plot_update_ratios(
    outcomes: Sequence[RecipeOutcome], ax: matplotlib.axes.Axes | None = None
) -> matplotlib.axes.Axes:
    """Each run's median update/weight ratio per layer group, bottom to top, on a log scale.

    A dashed line marks cs231n's rule of thumb, `forgetting.HEALTHY_UPDATE_RATIO` (1e-3 per
    step). Runs that trained no group (a probe) are left out.

    Args:
        outcomes: sequence of `RecipeOutcome`, from `compare_recipes`.
        ax: matplotlib Axes to draw on; a new figure when None. Defaults to None.

    Returns:
        The matplotlib Axes.

    Example:

    >>> from matplotlib.figure import Figure
    >>> outcome = rate_comparison.Outcome("LP-FT", 1e-4, 0.8, 0.9, 0.01, {})
    >>> run = RecipeOutcome(Recipe("LP-FT"), outcome, 0.6, {"stem": 1e-4, "head": 1e-3}, [1], 1.0)
    >>> ax = plot_update_ratios([run], ax=Figure().add_subplot())
    >>> [label.get_text() for label in ax.get_xticklabels()]
    ['stem', 'head']
    """
    rows = validation.check_sequence("outcomes", outcomes)
    for index, row in enumerate(rows):
        validation.check_instance(f"outcomes[{index}]", row, RecipeOutcome, "a RecipeOutcome")
    trained = [row for row in rows if row.update_ratios]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 3.5))
    names = list(trained[0].update_ratios) if trained else []
    for row in trained:
        values = [row.update_ratios.get(name, 0.0) for name in names]
        visible = [value if value > 0 else np.nan for value in values]  # 0: never trained
        ax.plot(range(len(names)), visible, marker="o", label=row.label)
    ax.axhline(forgetting.HEALTHY_UPDATE_RATIO, linestyle="--", color="gray")
    ax.set_xticks(range(len(names)), names)
    ax.set_yscale("log")
    ax.set_xlabel("layer group, bottom to top")
    ax.set_ylabel("update / weight per step (median)")
    ax.set_title(f"How far each group moves per step (dashed: {forgetting.HEALTHY_UPDATE_RATIO:g})")
    if trained:
        ax.legend(fontsize="small")
    return ax
