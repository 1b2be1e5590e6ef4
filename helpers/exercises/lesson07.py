"""Exercises for lesson 07: a rate per layer group, Adam's first step, a fresh optimizer per stage.

Each question inspects the object the learner passes (`exercises.q3.check(make_optimizer)`) and
names what it found. Questions 1 and 2 are numbers, graded by the course's one number policy
(`core.number_feedback`: 3 significant digits), with their typical mistakes named; their right
values come from the course's own code (`discriminative_rates.group_rates`) and from one real
step of Keras's Adam. Question 3 calls the learner's `make_optimizer` twice, as
`stages.gradual_unfreeze` calls it once per stage. Question 4 is graded against the stored study
that the lesson's BatchNorm section shows (`recipes_over_seeds`), read when the answer is checked,
never at import.
"""

from __future__ import annotations

import math
import os
import pathlib
import re
import warnings
from typing import Any

import keras
import numpy as np

from helpers.exercises.core import Question, as_number, describe, matches_number, number_feedback
from helpers.finetune import discriminative_rates, layer_groups, two_phase
from helpers.lessons import course, recipes_over_seeds

HEAD_RATE = two_phase.HEAD_LEARNING_RATE  # 1e-3, the head's rate, phase 1's
PHASE_TWO_RATE = two_phase.FINE_TUNE_LEARNING_RATE  # 1e-4, the course's phase-2 rate

# Question 1: ULMFiT's rates for MobileNetV2's groups, the head at HEAD_RATE.
ULMFIT_FACTOR = discriminative_rates.ULMFIT_FACTOR  # 2.6: each group down trains 2.6x slower
GROUP_NAMES = layer_groups.GROUP_NAMES  # bottom to top, "stem" to "head"
GROUP = "blocks 6-12"  # the group question 1 asks about
GROUP_RATES = discriminative_rates.group_rates(GROUP_NAMES, HEAD_RATE, ULMFIT_FACTOR)
GROUP_RATE = GROUP_RATES[GROUP]  # 1e-3 / 2.6 ** 3, about 5.69e-5
GROUPS_BELOW_HEAD = {name: len(GROUP_NAMES) - 1 - index for index, name in enumerate(GROUP_NAMES)}
_PATH_DOWN = " -> ".join(reversed(GROUP_NAMES[GROUP_NAMES.index(GROUP) :]))  # head -> ... -> GROUP
# Question 1's realistic wrong answers besides another group's rate, with what each computed.
RATE_MISTAKES = (
    (
        HEAD_RATE * ULMFIT_FACTOR ** GROUPS_BELOW_HEAD[GROUP],
        f"multiplies the head's rate by {ULMFIT_FACTOR:g} per group; lower groups train slower, "
        "so divide",
    ),
    (
        HEAD_RATE / (ULMFIT_FACTOR * GROUPS_BELOW_HEAD[GROUP]),
        f"divides the head's rate by {ULMFIT_FACTOR:g} * {GROUPS_BELOW_HEAD[GROUP]}; each group "
        "divides the rate of the group above it once more, so the divisions multiply",
    ),
)

# Question 2: one step of Adam (Keras's defaults) at PHASE_TWO_RATE on a gradient of GRADIENT.
GRADIENT = 0.03  # a weight's gradient
ADAM_BETA_1 = 0.9  # keras.optimizers.Adam's default beta_1
ADAM_BETA_2 = 0.999  # keras.optimizers.Adam's default beta_2


def adam_first_step(gradient: float, learning_rate: float) -> float:
    """Returns how far one step of `keras.optimizers.Adam(learning_rate)` moves a float32 weight.

    The reference of question 2, measured with Keras itself: one `apply_gradients` on a weight
    at 0, whose value afterwards is minus the step.

    Example:

    >>> f"{adam_first_step(0.03, learning_rate=1e-4):.3g}"
    '0.0001'
    """
    weight = keras.Variable(np.zeros(1, dtype="float32"))
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
    optimizer.apply_gradients([(keras.ops.convert_to_tensor([gradient], dtype="float32"), weight)])
    return abs(float(keras.ops.convert_to_numpy(weight)[0]))


ADAM_FIRST_STEP = adam_first_step(GRADIENT, PHASE_TWO_RATE)  # about 1.00e-4, the rate itself
# Question 2's realistic wrong answers, each with what the learner computed instead.
STEP_MISTAKES = (
    (
        PHASE_TWO_RATE * GRADIENT,
        "is SGD's step, learning_rate * gradient; Adam first scales the gradient by its own "
        "running averages",
    ),
    (
        PHASE_TWO_RATE * GRADIENT**2,
        "multiplies the rate by the squared gradient; Adam takes the square root of the squared "
        "gradients' average and divides by it",
    ),
    (
        PHASE_TWO_RATE / GRADIENT,
        "divides the rate by the gradient; Adam's ratio m_hat / sqrt(v_hat) has the gradient "
        "both above and below the line",
    ),
    (
        GRADIENT,
        "is the gradient itself; the step is the learning rate times Adam's ratio "
        "m_hat / sqrt(v_hat)",
    ),
    (
        HEAD_RATE,
        "uses the head's rate; this Adam runs at phase 2's rate, exercises.PHASE_TWO_RATE",
    ),
    (
        PHASE_TWO_RATE * (1 - ADAM_BETA_1) / math.sqrt(1 - ADAM_BETA_2),
        "leaves out Adam's bias correction: after one step m and v still hold most of their "
        "zero start, so Keras divides them by (1 - beta_1 ** step) and (1 - beta_2 ** step)",
    ),
)

# Question 3: what stages.gradual_unfreeze needs, a function it calls once per stage.
FUNCTION_WANTED = "give a function of no arguments that returns a new Keras optimizer"

# Question 4: the BatchNorm options of the lesson's section on BatchNorm, as the stored study
# labels their runs.
BATCHNORM_SECTION = 6  # the lesson's section whose table compares them
BATCHNORM_RUNS = {
    "frozen": "LP-FT 1e-4",  # BatchNorm frozen, the course's way
    "trainable": "LP-FT 1e-4, trainable BatchNorm",
    "re-estimated": "LP-FT 1e-4, AdaBN",  # statistics re-estimated on the target training images
}
# Other ways to name each option; words such as "BatchNorm" or "statistics" are ignored.
OPTION_SYNONYMS = {
    "freeze": "frozen",
    "froze": "frozen",
    "train": "trainable",
    "trained": "trainable",
    "reestimated": "re-estimated",
    "re estimate": "re-estimated",
    "reestimate": "re-estimated",
    "adabn": "re-estimated",
}
_FILLER_WORDS = frozenset(
    {"batchnorm", "batch", "norm", "normalization", "normalisation", "bn", "statistics", "stats"}
)
OOD_DECIMALS = 2  # recipes_over_seeds.format_summary prints accuracies with 2 decimals
_OPTIONS_TEXT = "'frozen', 'trainable' or 're-estimated'"


def _number(answer: Any) -> float | None:
    """`core.as_number`, with an int too large for a float (10**400) read as infinite."""
    try:
        return as_number(answer)
    except OverflowError:  # float(10**400)
        return math.inf if answer > 0 else -math.inf


def _groups(count: int) -> str:
    return f"{count} group" if count == 1 else f"{count} groups"


def group_rate_feedback(rate: Any) -> str | None:
    """q1: the rate of `GROUP` under ULMFiT's rule, `HEAD_RATE / ULMFIT_FACTOR ** 3`.

    A rate that another group gets names that group and how far below the head it sits.

    Example:

    >>> group_rate_feedback(np.float32(5.69e-5)) is None
    True
    >>> print(group_rate_feedback(1e-3 / 2.6**2))  # doctest: +NORMALIZE_WHITESPACE
    your rate 0.000147929 is the rate of 'blocks 13-16', 2 groups below the head;
    'blocks 6-12' is 3 groups below it.
    """
    if isinstance(rate, dict) and GROUP in rate:
        return f"your rate is a dict of rates; give the one number for {GROUP!r}."
    value = _number(rate)
    if value is None or not math.isfinite(value):
        return number_feedback(rate if value is None else value, GROUP_RATE, "rate")
    if value < 0:
        return f"your rate {value:g} is negative; a learning rate is positive."
    for name, group_rate in GROUP_RATES.items():
        if name == GROUP or not matches_number(value, group_rate):
            continue
        if name == GROUP_NAMES[-1]:
            return (
                f"your rate {value:g} is the head's own rate; each group below the head trains "
                f"{ULMFIT_FACTOR:g} times slower than the group above it."
            )
        return (
            f"your rate {value:g} is the rate of {name!r}, {_groups(GROUPS_BELOW_HEAD[name])} "
            f"below the head; {GROUP!r} is {_groups(GROUPS_BELOW_HEAD[GROUP])} below it."
        )
    for mistake, reason in RATE_MISTAKES:
        if matches_number(value, mistake):
            return f"your rate {value:g} {reason}."
    return number_feedback(value, GROUP_RATE, "rate")


def adam_step_feedback(step: Any) -> str | None:
    """q2: how far Adam's first step moves the weight, `ADAM_FIRST_STEP` (about the rate).

    Example:

    >>> adam_step_feedback(1.00e-4) is None
    True
    >>> print(adam_step_feedback(3e-6))  # doctest: +NORMALIZE_WHITESPACE
    your step 3e-06 is SGD's step, learning_rate * gradient; Adam first scales the gradient by
    its own running averages.
    """
    value = _number(step)
    if value is None or not math.isfinite(value):
        return number_feedback(step if value is None else value, ADAM_FIRST_STEP, "step")
    if value < 0:
        return (
            f"your step {value:g} is negative: the weight moves down, but the question asks how "
            "far it moves, a distance; give its absolute value."
        )
    for mistake, reason in STEP_MISTAKES:
        if matches_number(value, mistake):
            return f"your step {value:g} {reason}."
    return number_feedback(value, ADAM_FIRST_STEP, "step")


def _called(make_optimizer: Any, call: str) -> tuple[Any, str | None]:
    """`(make_optimizer(), None)`, or `(None, message)` when calling it raised."""
    try:
        return make_optimizer(), None
    except Exception as error:  # a learner's function may raise anything
        return None, (
            f"your make_optimizer raises {call} ({_error_text(error)}); "
            "gradual_unfreeze calls make_optimizer(), with no arguments, once per stage."
        )


def _error_text(error: Exception) -> str:
    """`"TypeError: reason"` on one line, the reason cut at 100 characters (or the type alone)."""
    reason = " ".join(str(error).split())
    reason = reason if len(reason) <= 100 else reason[:97] + "..."
    return f"{type(error).__name__}: {reason}" if reason else type(error).__name__


def _returned_feedback(optimizer: Any) -> str | None:
    """What is wrong with what one call of the learner's function returned, if not an optimizer."""
    if isinstance(optimizer, keras.optimizers.Optimizer):
        return None
    if optimizer is None:
        return (
            "your make_optimizer returns None: a def needs a return statement; "
            "return a new Keras optimizer."
        )
    if isinstance(optimizer, str):
        return (
            f"your make_optimizer returns the string {describe(optimizer)}; each stage compiles "
            "with the object it returns, and fit_stage needs a Keras optimizer, not its name."
        )
    if isinstance(optimizer, type) and issubclass(optimizer, keras.optimizers.Optimizer):
        return (
            f"your make_optimizer returns the class {optimizer.__name__} itself; call the class "
            "inside the function to build an optimizer."
        )
    return f"your make_optimizer returns {describe(optimizer)}; return a new Keras optimizer."


def _rate_feedback(optimizer: keras.optimizers.Optimizer) -> str | None:
    """What is wrong with the rate of the learner's Adam, read through `get_config()`."""
    try:
        with warnings.catch_warnings():  # Keras warns when it serializes a lambda
            warnings.simplefilter("ignore")
            configured = optimizer.get_config()["learning_rate"]
    except Exception as error:  # e.g. a learning rate given as a function Keras cannot save
        return (
            f"your make_optimizer's Adam cannot report its learning rate (get_config raises "
            f"{type(error).__name__}); give it a number, phase 2's rate."
        )
    if isinstance(configured, dict):  # a serialized LearningRateSchedule, or a function
        class_name = str(configured.get("class_name", ""))
        is_function = class_name in ("", "function", "__lambda__")
        schedule = "a function" if is_function else class_name
        return (
            f"your make_optimizer's Adam follows a schedule ({schedule}); the question asks for "
            "the constant rate exercises.PHASE_TWO_RATE."
        )
    rate = _number(configured)
    if rate is not None and matches_number(rate, HEAD_RATE):
        return (
            f"your make_optimizer's Adam has learning rate {rate:g}, the head's rate in phase 1; "
            "the stages fine-tune the base at phase 2's rate, exercises.PHASE_TWO_RATE."
        )
    return number_feedback(configured, PHASE_TWO_RATE, "make_optimizer's learning rate")


def make_optimizer_feedback(make_optimizer: Any) -> str | None:
    """q3: a function of no arguments returning a new, unbuilt Adam at `PHASE_TWO_RATE`.

    It is called twice, as `stages.gradual_unfreeze` calls it once per stage: the two calls must
    return two different optimizers, neither yet built (`fit_stage` refuses a built one). The
    optimizer is exactly `keras.optimizers.Adam` (not AdamW), its rate read with `get_config()`.

    Example:

    >>> def make_optimizer():
    ...     return keras.optimizers.Adam(learning_rate=1e-4)
    >>> make_optimizer_feedback(make_optimizer) is None
    True
    >>> print(make_optimizer_feedback(make_optimizer()))  # doctest: +NORMALIZE_WHITESPACE
    your make_optimizer is an optimizer itself (Adam), not a function: gradual_unfreeze calls
    make_optimizer() to get a new optimizer for each stage. Pass a function that builds one.
    """
    if isinstance(make_optimizer, keras.optimizers.Optimizer):
        return (
            f"your make_optimizer is an optimizer itself ({type(make_optimizer).__name__}), "
            "not a function: gradual_unfreeze calls make_optimizer() to get a new optimizer for "
            "each stage. Pass a function that builds one."
        )
    if isinstance(make_optimizer, keras.layers.Layer) or not callable(make_optimizer):
        return f"your make_optimizer is {describe(make_optimizer)}; {FUNCTION_WANTED}."
    first, problem = _called(make_optimizer, "when called")
    if problem:
        return problem
    problem = _returned_feedback(first)
    if problem:
        return problem
    second, problem = _called(make_optimizer, "on its second call")
    if problem:
        return problem
    if second is first:
        return (
            "your make_optimizer returns the same optimizer at every call: Keras binds an "
            "optimizer to the variables it first trained, so each stage needs a fresh one. "
            "Build the optimizer inside the function."
        )
    if first.built:
        return (
            "your make_optimizer returns an optimizer that is already built (it has trained "
            "variables), and fit_stage refuses it: Keras binds an optimizer to the variables it "
            "first trained. Build a new one at each call."
        )
    if type(first) is not keras.optimizers.Adam:
        return f"your make_optimizer returns {type(first).__name__}; the question asks for Adam."
    return _rate_feedback(first)


def _normalised_option(text: str) -> str:
    """Lowercase words without punctuation, filler words ("BatchNorm") dropped."""
    words = re.sub(r"[^a-z0-9]+", " ", text.lower()).split()
    return " ".join(word for word in words if word not in _FILLER_WORDS)


_OPTION_NAMES = {
    **{_normalised_option(option): option for option in BATCHNORM_RUNS},
    **{_normalised_option(label): option for option, label in BATCHNORM_RUNS.items()},
    **{_normalised_option(name): option for name, option in OPTION_SYNONYMS.items()},
}


def option_of(answer: str) -> str | None:
    """Returns the option of `BATCHNORM_RUNS` that `answer` names, or `None`.

    Case, punctuation and words such as "BatchNorm" do not matter; the run labels and
    `OPTION_SYNONYMS` name the options too.

    Example:

    >>> option_of(" Frozen BatchNorm"), option_of("AdaBN"), option_of("train"), option_of("dropout")
    ('frozen', 're-estimated', 'trainable', None)
    """
    return _OPTION_NAMES.get(_normalised_option(answer))


def batchnorm_ood_accuracy() -> dict[str, float]:
    """Returns each BatchNorm option's mean OOD accuracy over the seeds of the stored study.

    Reads `recipes_over_seeds.load_results()` at every call, so the module imports without it.

    Returns:
        A dict from option (a key of `BATCHNORM_RUNS`) to the mean of `"ood_accuracy"`.

    Raises:
        ValueError: if the stored study is missing or lacks one of the options' runs.
    """
    results = recipes_over_seeds.load_results(recipes_over_seeds.RESULTS_PATH)
    summary = recipes_over_seeds.summarize(results)
    missing = [label for label in BATCHNORM_RUNS.values() if label not in summary]
    if missing:
        raise ValueError(
            f"the stored study must hold the runs {list(BATCHNORM_RUNS.values())}. "
            f"Received: a study without {missing}"
        )
    return {
        option: float(summary[label]["ood_accuracy"][0]) for option, label in BATCHNORM_RUNS.items()
    }


def _stored_study_path() -> str:
    """`recipes_over_seeds.RESULTS_PATH`, relative to the course's folder when it lies inside."""
    path = pathlib.Path(recipes_over_seeds.RESULTS_PATH)
    try:
        return str(path.relative_to(course.COURSE_ROOT))
    except ValueError:  # a path outside the course
        return str(path)


def batchnorm_option_feedback(answer: Any) -> str | None:
    """q4: the BatchNorm option whose run kept the highest mean OOD accuracy in the stored study.

    Every option whose mean prints the same as the highest (`OOD_DECIMALS` decimals, as the
    lesson's table) is right. A wrong option hears its own mean, never which option was higher.

    Example:

    >>> print(batchnorm_option_feedback("dropout"))
    your answer 'dropout' is not one of the options: 'frozen', 'trainable' or 're-estimated'.
    """
    if not isinstance(answer, str):
        return (
            f"your answer is {describe(answer)}; give one of the options as a string: "
            f"{_OPTIONS_TEXT}."
        )
    option = option_of(answer)
    if option is None:
        return f"your answer {describe(answer)} is not one of the options: {_OPTIONS_TEXT}."
    if not os.path.exists(recipes_over_seeds.RESULTS_PATH):
        return (
            f"your option {option!r} cannot be checked yet: the stored study, "
            f"{_stored_study_path()}, is missing; scripts/recipes_seeds.py writes it."
        )
    try:
        means = batchnorm_ood_accuracy()
    except (ValueError, OSError) as error:  # a stored study of another version, or unreadable
        return (
            f"your option {option!r} cannot be checked: the stored study, "
            f"{_stored_study_path()}, cannot be read ({_error_text(error)})."
        )
    printed = {name: f"{mean:.{OOD_DECIMALS}f}" for name, mean in means.items()}
    if not math.isfinite(means[option]):
        return (
            f"your option {option!r}: the stored study has no OOD accuracy for its run "
            f"({BATCHNORM_RUNS[option]!r}); pick among the options it measured."
        )
    best = max(mean for mean in means.values() if math.isfinite(mean))
    if printed[option] == f"{best:.{OOD_DECIMALS}f}":
        return None
    return (
        f"your option {option!r} (the run {BATCHNORM_RUNS[option]!r}) kept a mean "
        f"out-of-distribution accuracy of {printed[option]} over the seeds; another option kept "
        f"more. Read the OOD accuracy column of section {BATCHNORM_SECTION}'s table again."
    )


q1 = Question(
    name="q1",
    prompt=(
        f"The head trains at exercises.HEAD_RATE ({HEAD_RATE:g}); ULMFiT divides the rate by "
        f"exercises.ULMFIT_FACTOR ({ULMFIT_FACTOR:g}) for each group down. What rate does the "
        f"group {GROUP!r} get? It sits {_groups(GROUPS_BELOW_HEAD[GROUP])} below the head: "
        f"{_PATH_DOWN}."
    ),
    answer_feedback=group_rate_feedback,
    hints=[
        f"Each group trains at the rate of the group above it divided by {ULMFIT_FACTOR:g}; "
        "the head, at the top, keeps exercises.HEAD_RATE.",
        f"Count the steps from the head down to {GROUP!r}: one division by "
        f"{ULMFIT_FACTOR:g} per step, so divide by {ULMFIT_FACTOR:g} raised to that count.",
    ],
    solution=(
        "# head -> top -> blocks 13-16 -> blocks 6-12: three divisions by 2.6\n"
        "rate = exercises.HEAD_RATE / exercises.ULMFIT_FACTOR**3\n"
        f"# {GROUP_RATE:.3g}"
    ),
    explanation=(
        f"Each group down trains {ULMFIT_FACTOR:g} times slower: the stem, "
        f"{_groups(GROUPS_BELOW_HEAD[GROUP_NAMES[0]])} below the head, moves about "
        f"{ULMFIT_FACTOR ** GROUPS_BELOW_HEAD[GROUP_NAMES[0]]:.0f} times slower than it."
    ),
)

q2 = Question(
    name="q2",
    prompt=(
        f"A weight with gradient exercises.GRADIENT ({GRADIENT:g}) takes one step of "
        f"keras.optimizers.Adam(learning_rate=exercises.PHASE_TWO_RATE) ({PHASE_TWO_RATE:g}, "
        "default betas and epsilon). How far does the weight move (the absolute value)?"
    ),
    answer_feedback=adam_step_feedback,
    hints=[
        "After one step Adam's averages are m = (1 - beta_1) * gradient and "
        "v = (1 - beta_2) * gradient ** 2; the bias correction divides them by (1 - beta_1) "
        "and (1 - beta_2).",
        "The step is learning_rate * m_hat / (sqrt(v_hat) + epsilon): what is left of the "
        "gradient in that ratio? Or measure it: one optimizer.apply_gradients on a "
        "keras.Variable.",
    ],
    solution=(
        "weight = keras.Variable([0.0])\n"
        "adam = keras.optimizers.Adam(learning_rate=exercises.PHASE_TWO_RATE)\n"
        "adam.apply_gradients([(keras.ops.convert_to_tensor([exercises.GRADIENT]), weight)])\n"
        "step = abs(float(weight.numpy()[0]))  # about the learning rate, whatever the gradient\n"
        f"# {ADAM_FIRST_STEP:.3g}"
    ),
    explanation=(
        "Adam's first step is about the learning rate whatever the gradient's size: scaling a "
        "group's gradients does not slow it down, only a rate of its own does."
    ),
)

q3 = Question(
    name="q3",
    prompt=(
        "Write make_optimizer for stages.gradual_unfreeze: a function of no arguments that "
        f"returns a new Adam optimizer at the course's phase-2 rate, {PHASE_TWO_RATE:g} "
        "(exercises.PHASE_TWO_RATE)."
    ),
    answer_feedback=make_optimizer_feedback,
    hints=[
        "gradual_unfreeze calls make_optimizer() once per stage, with no arguments, and "
        "compiles the stage with what it returns: each call must build a new optimizer.",
        "Write def make_optimizer(): with keras.optimizers.Adam(learning_rate=...) built in its "
        "body and returned (a lambda works too). Pass the function itself, without calling it.",
    ],
    solution=(
        "def make_optimizer():\n"
        "    return keras.optimizers.Adam(learning_rate=exercises.PHASE_TWO_RATE)"
    ),
    explanation=(
        "Each stage now compiles with a fresh Adam: Keras binds an optimizer to the variables it "
        "first trained, and each stage trains more of them."
    ),
)

q4 = Question(
    name="q4",
    prompt=(
        f"In the stored study (the table of section {BATCHNORM_SECTION}), which BatchNorm option "
        f"gave the highest mean out-of-distribution (OOD) accuracy: {_OPTIONS_TEXT}? Give it as "
        "a string."
    ),
    answer_feedback=batchnorm_option_feedback,
    hints=[
        "exercises.BATCHNORM_RUNS names the run of each option in the table: LP-FT 1e-4 "
        "(BatchNorm frozen), with trainable BatchNorm, and with AdaBN (statistics re-estimated "
        "on the target training images).",
        "Compare the means of the OOD accuracy column for those three runs, or compute them: "
        "recipes_over_seeds.summarize(recipes_over_seeds.load_results())[run]['ood_accuracy'] "
        "is (mean, min, max).",
    ],
    solution=(
        "summary = recipes_over_seeds.summarize(recipes_over_seeds.load_results())\n"
        "mean_ood = {\n"
        '    choice: summary[run]["ood_accuracy"][0]\n'
        "    for choice, run in exercises.BATCHNORM_RUNS.items()\n"
        "}\n"
        "option = max(mean_ood, key=mean_ood.get)"
    ),
    explanation=(
        "Which statistics BatchNorm normalises with changes what the model does on images unlike "
        "its training images; the OOD column measures by how much."
    ),
)
