"""Lesson 02's optimizer demos (helpers/lessons/step_sizes.py): step sizes and Keras 3 pitfalls.

The claims of lesson 02's section 3 and 7 are checked here against the markdown that states them:
each test reads the sentence from the notebook and compares its numbers with the measurement.
"""

import math
import pathlib
import re

import keras
import nbformat
import numpy as np
import pytest
import tensorflow as tf

from helpers.finetune import optimizers, two_phase
from helpers.lessons import step_sizes

schedules = keras.optimizers.schedules
LESSON = (
    pathlib.Path(__file__).resolve().parents[1]
    / "notebooks"
    / ("02_optimizers_and_learning_rates.ipynb")
)
RHO, RMSPROP_EPSILON = 0.9, 1e-7  # keras.optimizers.RMSprop defaults
BETA_1, BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7  # keras.optimizers.Adam defaults


def lesson_text(phrase: str) -> str:
    """The one markdown cell of lesson 02 that contains `phrase`, with its lines joined."""
    cells = nbformat.read(LESSON, as_version=4).cells
    texts = [" ".join(cell.source.split()) for cell in cells if cell.cell_type == "markdown"]
    found = [text for text in texts if phrase in text]
    assert len(found) == 1, f"{len(found)} markdown cells of lesson 02 contain {phrase!r}"
    return found[0]


def number_after(text: str, pattern: str) -> float:
    """The number that `pattern`'s group captures in `text` (it must occur)."""
    match = re.search(pattern, text)
    assert match, f"lesson 02 no longer says {pattern!r}"
    return float(match.group(1))


def rmsprop_step(gradient: float, step: int, learning_rate: float = 1e-3) -> float:
    """Keras RMSprop's step `step` on a steady gradient: no bias correction, epsilon in the sqrt.

    velocity = rho * velocity + (1 - rho) * g**2, so after k steps (1 - rho**k) * g**2, and
    the step is learning_rate * g / sqrt(velocity + epsilon) (keras/src/optimizers/rmsprop.py).
    """
    velocity = (1 - RHO**step) * gradient**2
    return learning_rate * gradient / math.sqrt(velocity + RMSPROP_EPSILON)


def adam_step(gradient: float, step: int, learning_rate: float = 1e-3) -> float:
    """Keras Adam's step `step` on a steady gradient, from keras/src/optimizers/adam.py.

    m = (1 - beta_1**k) * g and v = (1 - beta_2**k) * g**2; the step is
    alpha * m / (sqrt(v) + epsilon) with alpha = learning_rate * sqrt(1 - beta_2**k) /
    (1 - beta_1**k). Keras raises beta_1 and beta_2 to the power k as float32 numbers inside alpha
    (0.999 becomes 0.99900001287), which moves each step by a relative 7e-6: modelled here.
    """
    beta_1_power = float(np.float32(BETA_1)) ** step
    beta_2_power = float(np.float32(BETA_2)) ** step
    alpha = learning_rate * math.sqrt(1 - beta_2_power) / (1 - beta_1_power)
    first_moment = (1 - BETA_1**step) * gradient
    second_moment = (1 - BETA_2**step) * gradient**2
    return alpha * first_moment / (math.sqrt(second_moment) + ADAM_EPSILON)


@pytest.mark.parametrize("not_an_optimizer", ["adam", None, 1e-3])
def test_steady_gradient_steps_rejects_what_is_not_an_optimizer(not_an_optimizer):
    with pytest.raises(ValueError, match=f"Received: optimizer={not_an_optimizer!r}"):
        step_sizes.steady_gradient_steps(not_an_optimizer)


@pytest.mark.parametrize("momentum", [0.0, 0.5, 0.9, 0.99])
def test_momentum_steps_follow_the_closed_form_and_approach_learning_rate_over_one_minus_momentum(
    momentum,
):
    """Keras SGD: velocity = m * velocity - lr * g: step k moves lr * g * (1 - m**k) / (1 - m)."""
    learning_rate = 0.01
    gradient = 2.0
    steps = 60
    moves = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("sgd", learning_rate, momentum=momentum),
        steps=steps,
        gradient=gradient,
    )
    closed_form = [
        learning_rate * gradient * (1 - momentum**step) / (1 - momentum)
        for step in range(1, steps + 1)
    ]
    np.testing.assert_allclose(moves, closed_form, rtol=1e-5)
    if momentum <= 0.9:  # 0.99 needs hundreds of steps to get there
        assert moves[-1] == pytest.approx(learning_rate * gradient / (1 - momentum), rel=1e-2)


def test_momentum_point_nine_makes_the_effective_step_ten_times_the_learning_rate():
    moves = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("sgd", 0.01, momentum=0.9), steps=100
    )
    assert moves[0] == pytest.approx(0.01, rel=1e-6) and moves[-1] == pytest.approx(0.1, rel=1e-4)


@pytest.mark.parametrize("gradient", [1.0, 0.5, 100.0])
@pytest.mark.parametrize("rho", [0.9, 0.99])
def test_rmsprop_first_step_is_larger_than_adams_by_one_over_sqrt_one_minus_rho(gradient, rho):
    learning_rate = 1e-3
    rmsprop = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("rmsprop", learning_rate, rho=rho), 5, gradient
    )
    adam = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("adam", learning_rate), 5, gradient
    )
    # bias correction: each steady step ~ lr
    np.testing.assert_allclose(adam, learning_rate, rtol=1e-4)
    # 3.16 for rho=0.9
    assert rmsprop[0] / adam[0] == pytest.approx(1 / math.sqrt(1 - rho), rel=1e-4)
    # Reference: Keras RMSprop has no bias correction; after k steps velocity = (1 - rho**k) * g**2.
    expected = [
        learning_rate * gradient / math.sqrt((1 - rho**step) * gradient**2 + 1e-7)
        for step in range(1, 6)
    ]
    np.testing.assert_allclose(rmsprop, expected, rtol=1e-5)


def test_steady_gradient_steps_needs_a_fresh_optimizer_and_sane_arguments():
    used = optimizers.make_optimizer("adam", 1e-3)
    step_sizes.steady_gradient_steps(used, steps=1)
    with pytest.raises(ValueError, match="optimizer must be fresh"):
        step_sizes.steady_gradient_steps(used)
    for steps in [0, 2.5, True]:
        with pytest.raises(ValueError, match=f"Received: steps={steps!r}"):
            step_sizes.steady_gradient_steps(optimizers.make_optimizer("adam", 1e-3), steps=steps)
    for gradient in [0.0, float("nan"), "1"]:
        expected = f"gradient must be a positive, finite number. Received: gradient={gradient!r}"
        with pytest.raises(ValueError, match=re.escape(expected)):
            step_sizes.steady_gradient_steps(
                optimizers.make_optimizer("adam", 1e-3), gradient=gradient
            )


@pytest.mark.parametrize("name", ["adam", "sgd", "rmsprop"])
def test_keras_2_lr_keyword_raises_value_error_in_keras_3(name):
    assert (
        step_sizes.legacy_keyword_error(name)
        == "ValueError: Argument(s) not recognized: {'lr': 0.001}"
    )
    with pytest.raises(ValueError, match=r"Argument\(s\) not recognized"):
        optimizers.OPTIMIZER_CLASSES[name](lr=1e-3)
    with pytest.raises(ValueError, match="Received: name='nadam'"):
        step_sizes.legacy_keyword_error("nadam")


@pytest.mark.parametrize("end_learning_rate", [1e-3, 0.5])
def test_polynomial_decay_from_int_zero_stays_at_zero_and_never_moves_the_weights(
    end_learning_rate,
):
    stuck = schedules.PolynomialDecay(0, decay_steps=10, end_learning_rate=end_learning_rate)
    rising = schedules.PolynomialDecay(0.0, decay_steps=10, end_learning_rate=end_learning_rate)
    assert [float(stuck(step)) for step in range(0, 12, 2)] == [0.0] * 6
    assert float(rising(10)) == pytest.approx(end_learning_rate, rel=1e-6)
    assert step_sizes.steady_gradient_steps(keras.optimizers.SGD(stuck), steps=4) == [0.0] * 4
    assert all(
        move > 0
        for move in step_sizes.steady_gradient_steps(keras.optimizers.SGD(rising), steps=4)[1:]
    )


def test_cosine_decay_warmup_from_int_zero_raises_a_dtype_error_while_float_zero_warms_up():
    broken = schedules.CosineDecay(0, decay_steps=100, warmup_target=1e-3, warmup_steps=10)
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32"):
        broken(1)
    with pytest.raises(tf.errors.InvalidArgumentError, match="int32"):
        step_sizes.steady_gradient_steps(keras.optimizers.Adam(broken), steps=1)
    working = schedules.CosineDecay(0.0, decay_steps=100, warmup_target=1e-3, warmup_steps=10)
    assert [float(working(step)) for step in (0, 5, 10)] == pytest.approx(
        [0.0, 5e-4, 1e-3], rel=1e-6
    )


def test_reusing_the_optimizer_after_unfreezing_raises_unknown_variable():
    outcome = step_sizes.recompile_after_unfreezing(reuse_optimizer=True)
    assert outcome.startswith("ValueError: Unknown variable: <Variable path=tiny_model/base/kernel")
    assert (
        "This optimizer can only be called for the variables it was originally built with"
        in outcome
    )


@pytest.mark.parametrize("seed", [0, 1])
def test_a_fresh_optimizer_after_unfreezing_trains_the_base(seed):
    assert (
        step_sizes.recompile_after_unfreezing(reuse_optimizer=False, seed=seed)
        == "trained: the unfrozen base changed"
    )


@pytest.mark.parametrize("gradient", [1.0, 1e-2, 1e-3, 1e-4, 1e-5])
def test_rmsprop_and_adam_steps_follow_kerass_formulas_at_small_gradients_too(gradient):
    steps = 30
    rmsprop = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("rmsprop", 1e-3), steps, gradient
    )
    adam = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("adam", 1e-3), steps, gradient
    )
    # Keras keeps learning_rate in float32: 1e-3 becomes 1.0000000475e-3, a relative 5e-8.
    np.testing.assert_allclose(
        rmsprop, [rmsprop_step(gradient, step) for step in range(1, steps + 1)], rtol=1e-6
    )
    np.testing.assert_allclose(
        adam, [adam_step(gradient, step) for step in range(1, steps + 1)], rtol=1e-6
    )


@pytest.mark.parametrize(
    ("gradient", "ratio"),
    [(1.0, 3.162), (1e-1, 3.162), (1e-2, 3.148), (1e-3, 2.243), (1e-4, 0.3246)],
)
def test_rmsprops_first_step_is_3_16_times_adams_only_for_gradients_well_above_1e_3(
    gradient, ratio
):
    """sqrt(epsilon / (1 - rho)) = 1e-3: above it the epsilon vanishes, below it dominates."""
    assert math.sqrt(RMSPROP_EPSILON / (1 - RHO)) == pytest.approx(1e-3)
    rmsprop = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("rmsprop", 1e-3), 1, gradient
    )[0]
    adam = step_sizes.steady_gradient_steps(optimizers.make_optimizer("adam", 1e-3), 1, gradient)[0]
    assert rmsprop / adam == pytest.approx(ratio, abs=1e-3)
    assert rmsprop / adam == pytest.approx(rmsprop_step(gradient, 1) / adam_step(gradient, 1))


@pytest.mark.parametrize("gradient", step_sizes.GRADIENT_SIZES)
def test_the_step_size_table_is_the_closed_form_of_each_optimizer(gradient):
    steps = step_sizes.SETTLED_STEPS
    table = step_sizes.step_size_table([gradient], learning_rate=1e-3, steps=steps)
    expected = {
        "SGD": (gradient, gradient),
        "SGD, momentum 0.9": (gradient, gradient * (1 - 0.9**steps) / (1 - 0.9)),
        "RMSprop": (rmsprop_step(gradient, 1) / 1e-3, rmsprop_step(gradient, steps) / 1e-3),
        "Adam": (adam_step(gradient, 1) / 1e-3, adam_step(gradient, steps) / 1e-3),
    }
    for label, (first, settled) in expected.items():
        measured = table[label][gradient]
        assert measured.first == pytest.approx(first, rel=1e-6), label
        assert measured.settled == pytest.approx(settled, rel=1e-6), label
    # SGD's step scales with the gradient; Adam's stays within 4% of one learning rate.
    assert table["SGD"][gradient].first == pytest.approx(gradient, rel=1e-6)
    assert 0.96 < table["Adam"][gradient].first <= 1.0


def test_the_step_size_table_as_the_lesson_prints_it():
    """Every printed value sits >= 1e-5 (relative) from a rounding edge; the table is closed form.

    The closest: RMSprop's step 100 at |g| = 0.0001 is 0.301512 (edge 0.3015) and at
    |g| = 0.01 is 0.999514 (edge 0.9995), while float64 steps vary by ~1e-16 between machines.
    """
    table = step_sizes.step_size_table()
    text = step_sizes.format_step_size_table(table, steps=step_sizes.SETTLED_STEPS)
    rows = [line.split()[-5:] for line in text.splitlines()]
    assert rows[0] == ["1", "0.1", "0.01", "0.001", "0.0001"]
    assert rows[3] == ["10", "1", "0.1", "0.01", "0.001"]  # momentum, step 100
    assert rows[4] == ["3.16", "3.16", "3.15", "2.24", "0.315"]  # RMSprop, step 1
    assert rows[5] == ["1", "1", "1", "0.953", "0.302"]
    assert rows[6] == ["1", "1", "1", "0.997", "0.969"]  # Adam, step 1
    assert len(text.splitlines()) == 8


def test_step_size_table_and_its_format_reject_bad_input():
    for sizes, message in [
        (
            [],
            "gradient_sizes must be a list or tuple of at least 1 item. "
            "Received: gradient_sizes=[]",
        ),
        ([1.0, 0.0], "gradient_sizes[1] must be a positive, finite number"),
        ("1e-3", "gradient_sizes must be a list or tuple"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            step_sizes.step_size_table(sizes)
    with pytest.raises(ValueError, match=re.escape("Received: learning_rate=-0.001")):
        step_sizes.step_size_table(learning_rate=-1e-3)
    with pytest.raises(ValueError, match=re.escape("Received: steps=0")):
        step_sizes.step_size_table(steps=0)
    with pytest.raises(ValueError, match=re.escape("table must be the dict step_size_table")):
        step_sizes.format_step_size_table({"Adam": {}}, steps=100)
    with pytest.raises(ValueError, match=re.escape("Received: steps=1.5")):
        step_sizes.format_step_size_table(step_sizes.step_size_table([1.0], steps=2), steps=1.5)


def test_step_size_table_accepts_numpy_numbers():
    table = step_sizes.step_size_table(
        np.array([1e-3]), learning_rate=np.float32(1e-3), steps=np.int64(3)
    )
    assert table["SGD"][1e-3].first == pytest.approx(1e-3, rel=1e-6)


def keras_bowl_run(optimizer: keras.optimizers.Optimizer, curvature: float, steps: int) -> float:
    """Runs a Keras optimizer on curvature / 2 * w**2 from w = 1; returns abs(w) at the end."""
    weight = keras.Variable(np.ones(1), dtype="float64")
    for _ in range(steps):
        slope = keras.ops.convert_to_tensor(curvature * weight.numpy(), dtype="float64")
        optimizer.apply_gradients([(slope, weight)])
    return abs(float(weight.numpy()[0]))


@pytest.mark.parametrize("curvature", [1.0, 10.0])
@pytest.mark.parametrize("nesterov", [False, True])
def test_momentums_stability_limit_on_a_bowl_measured_with_keras(curvature, nesterov):
    """Heavy ball: stable iff learning_rate * L < 2 * (1 + m); Nesterov: < 2 * (1 + m) / (1 + 2m).

    Nesterov's characteristic polynomial is z**2 - (1 + m)(1 - a) z + m (1 - a) with a = lr * L;
    z = -1 is a root at a = 2 * (1 + m) / (1 + 2 * m), 1.357 for m = 0.9: below plain SGD's 2.
    """
    momentum = 0.9
    limit = 2 * (1 + momentum) / curvature
    if nesterov:
        limit /= 1 + 2 * momentum
    below, above = (
        keras_bowl_run(
            keras.optimizers.SGD(fraction * limit, momentum=momentum, nesterov=nesterov),
            curvature,
            steps=300,
        )
        for fraction in (0.95, 1.05)
    )
    assert below < 1e-2 and above > 1e2


def test_nesterov_settles_on_the_same_steady_step_but_starts_at_one_plus_momentum():
    moves = step_sizes.steady_gradient_steps(
        keras.optimizers.SGD(0.01, momentum=0.9, nesterov=True), steps=200, gradient=1.0
    )
    assert moves[0] == pytest.approx(0.01 * 1.9, rel=1e-6)
    assert moves[-1] == pytest.approx(0.01 / (1 - 0.9), rel=1e-6)


def test_lesson_02_reads_the_three_moves_of_momentum_right():
    text = lesson_text("The moves grow")
    match = re.search(r"The moves grow: ([\d.]+), then ([\d.]+), then ([\d.]+)\.", text)
    moves = step_sizes.steady_gradient_steps(keras.optimizers.SGD(0.01, momentum=0.9), steps=3)
    assert [float(value) for value in match.groups()] == pytest.approx(moves, rel=1e-6)


def test_lesson_02_says_ten_learning_rates_only_at_a_gradient_of_one():
    text = lesson_text("but only because the gradient is 1")
    steady = number_after(text, r"the steady move is ([\d.]+): ten times the learning rate")
    moves = step_sizes.steady_gradient_steps(keras.optimizers.SGD(0.01, momentum=0.9), steps=200)
    assert moves[-1] == pytest.approx(steady, rel=1e-6) and steady / 0.01 == pytest.approx(10)
    assert "`learning_rate * |g| / (1 - momentum)`" in text
    rmsprop_text = lesson_text("RMSprop's first move is")
    first = number_after(rmsprop_text, r"RMSprop's first move is ([\d.]+) learning rates")
    assert round(rmsprop_step(1.0, 1) / 1e-3, 2) == first == round(1 / math.sqrt(1 - RHO), 2)


def test_lesson_02_reads_the_step_size_table_right():
    text = lesson_text("Read it column by column")
    table = step_sizes.step_size_table()
    momentum = table["SGD, momentum 0.9"]
    # "settles at 10 * |g|": at every size, within 0.003% after 100 steps.
    assert all(momentum[size].settled / size == pytest.approx(10, rel=1e-4) for size in momentum)
    assert "settles at `10 * |g|`" in text
    # "At the base's typical |g| = 1e-3 it moves a hundredth of a learning rate per step."
    assert "`|g| = 1e-3` it moves a hundredth of a learning rate" in text
    assert momentum[1e-3].settled == pytest.approx(0.01, rel=1e-4)
    adam = table["Adam"]
    assert all(adam[size].first > 0.995 for size in (1.0, 1e-1, 1e-2, 1e-3))
    assert round(adam[1e-4].first, 3) == number_after(text, r"and still ([\d.]+) at `1e-4`")
    ratios = {size: table["RMSprop"][size].first / adam[size].first for size in adam}
    assert round(ratios[1.0], 2) == number_after(text, r"first step is ([\d.]+) times Adam's")
    assert round(ratios[1e-3], 2) == number_after(text, r"at `\|g\| = 1e-3` it is ([\d.]+) times")
    assert round(ratios[1e-4], 2) == number_after(text, r"at `1e-4` only ([\d.]+) times")
    threshold = number_after(text, r"`sqrt\(epsilon / \(1 - rho\)\)` = ([\d.e-]+)")
    assert math.sqrt(RMSPROP_EPSILON / (1 - RHO)) == pytest.approx(threshold)
    settled = number_after(text, r"one learning rate for large gradients and ([\d.]+) at `1e-4`")
    assert round(table["RMSprop"][1e-4].settled, 3) == settled
    assert all(table["RMSprop"][size].settled == pytest.approx(1, abs=1e-3) for size in (1, 0.1))


def test_lesson_02_reconciles_the_two_momentum_formulas_and_nesterov():
    text = lesson_text("Two formulas describe momentum")
    momentum = 0.9
    assert number_after(text, r"diverges in a steep direction\*\*.*?: ([\d.]+) times plain") == (
        pytest.approx(1 + momentum)
    )
    assert "not 10 times" in text and 1 / (1 - momentum) == pytest.approx(10)
    first = number_after(text, r"its first step is already ([\d.]+) times SGD's")
    assert first == pytest.approx(1 + momentum)
    nesterov_limit = number_after(text, r"`([\d.]+) / curvature` for `m = 0.9`")
    assert nesterov_limit == round(2 * (1 + momentum) / (1 + 2 * momentum), 2) == 1.36
    assert nesterov_limit < 2  # "below plain SGD's 2 / curvature"


def test_lesson_02s_section_7_states_the_courses_phase_two_rule_and_compares_columns_right():
    text = lesson_text("## 7. Where to start")
    head = two_phase.HEAD_LEARNING_RATE
    fine_tune = two_phase.FINE_TUNE_LEARNING_RATE
    assert (
        f"| New head on a frozen base | ~1e-4 to 1e-3 | | {head:.0e} |".replace("e-0", "e-") in text
    )
    assert f"{fine_tune:.0e}, a tenth of the head's rate".replace("e-0", "e-") in text
    assert fine_tune == pytest.approx(head / 10)
    rule = text.split("The course's phase-2 rule:")[1]
    assert "1e-4 after a head trained with Adam at 1e-3" in rule and "1e-5" not in rule
    every_markdown = " ".join(
        cell.source
        for cell in nbformat.read(LESSON, as_version=4).cells
        if cell.cell_type == "markdown"
    )
    assert "about 1e-5" not in every_markdown  # the old phase-2 rate
    # "at |g| = 1e-3, SGD at 1e-1 steps as far as Adam at 1e-3" (both settled, within 0.1%)
    sgd = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("sgd", 1e-1), steps=200, gradient=1e-3
    )
    adam = step_sizes.steady_gradient_steps(
        optimizers.make_optimizer("adam", 1e-3), steps=200, gradient=1e-3
    )
    assert "SGD at `1e-1` steps as far as Adam at `1e-3`" in text
    assert sgd[-1] == pytest.approx(adam[-1], rel=1e-3)
    next_text = lesson_text("## Next: lesson 03")
    assert "Adam at 1e-3" in next_text and "Adam at 1e-4, a tenth of the head's rate" in next_text
