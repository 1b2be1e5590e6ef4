"""Gradient descent on quadratic bowls (lesson 01): closed forms, verdicts, Keras as the oracle.

The numbers lesson 01's markdown states are checked at the end: each test reads the sentence from
the notebook and compares it with the runs.
"""

import pathlib
import re
import warnings

import keras
import nbformat
import numpy as np
import pytest

from helpers.finetune import curve_diagnosis
from helpers.lessons import gradient_descent, lr_explorer

LESSON = (
    pathlib.Path(__file__).resolve().parents[1]
    / "notebooks"
    / ("01_what_a_learning_rate_does.ipynb")
)

CURVATURES = [0.5, 1.0, 4.0, 10.0]
# The four runs of the lesson's notebook: curvature 2, start w = 1, 20 steps.
LESSON_RUNS = {0.01: "too low", 0.3: "healthy", 0.9: "too high", 1.1: "diverging"}


def random_bowl(seed: int) -> tuple[np.ndarray, np.ndarray]:
    generator = np.random.default_rng(seed)
    return generator.uniform(0.5, 5.0, size=2), generator.uniform(-2.0, 2.0, size=2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_loss_and_gradient_match_numpy_and_finite_differences(seed):
    curvatures, weights = random_bowl(seed)
    assert gradient_descent.loss(weights, curvatures) == pytest.approx(
        0.5 * np.sum(curvatures * weights**2)
    )
    shift = 1e-6
    numeric = [
        (
            gradient_descent.loss(weights + shift * axis, curvatures)
            - gradient_descent.loss(weights - shift * axis, curvatures)
        )
        / (2 * shift)
        for axis in np.eye(2)
    ]
    np.testing.assert_allclose(gradient_descent.gradient(weights, curvatures), numeric, rtol=1e-6)
    many = np.stack([weights, 2 * weights, -weights])
    np.testing.assert_allclose(
        gradient_descent.loss(many, curvatures),
        np.array([1, 4, 1]) * gradient_descent.loss(weights, curvatures),
    )


@pytest.mark.parametrize("curvature", CURVATURES)
@pytest.mark.parametrize("fraction", [0.1, 0.5, 0.75, 1.5])
def test_sgd_path_is_the_closed_form_geometric_sequence(curvature, fraction):
    learning_rate = fraction * gradient_descent.divergence_threshold([curvature])
    path = gradient_descent.run(learning_rate, [curvature], start=[3.0], steps=12).path[:, 0]
    np.testing.assert_allclose(
        path, 3.0 * (1 - learning_rate * curvature) ** np.arange(13), rtol=1e-12, atol=1e-300
    )


@pytest.mark.parametrize("curvature", CURVATURES)
def test_threshold_is_two_over_the_steepest_curvature(curvature):
    assert gradient_descent.divergence_threshold([curvature]) == pytest.approx(2 / curvature)
    assert gradient_descent.divergence_threshold([curvature, curvature / 3]) == pytest.approx(
        2 / curvature
    )


@pytest.mark.parametrize("curvature", CURVATURES)
@pytest.mark.parametrize("fraction", [0.9, 0.99])
def test_below_two_over_curvature_the_loss_shrinks_every_step(curvature, fraction):
    learning_rate = fraction * 2 / curvature
    losses = gradient_descent.run(learning_rate, [curvature], start=[1.0], steps=30).losses
    assert np.all(np.diff(losses) < 0)
    assert gradient_descent.classify(losses) != "diverging"


@pytest.mark.parametrize("curvature", CURVATURES)
@pytest.mark.parametrize("fraction", [1.01, 1.1])
def test_above_two_over_curvature_the_loss_grows_every_step(curvature, fraction):
    learning_rate = fraction * 2 / curvature
    run = gradient_descent.run(learning_rate, [curvature], start=[1.0], steps=30)
    assert np.all(np.diff(run.losses) > 0)
    assert gradient_descent.classify(run.losses, run.path) == "diverging"


def test_the_lessons_numeric_check_just_below_and_just_above_the_threshold():
    threshold = gradient_descent.divergence_threshold([2.0])
    below = gradient_descent.run(0.99 * threshold, [2.0], start=[1.0], steps=30).losses[-1]
    above = gradient_descent.run(1.01 * threshold, [2.0], start=[1.0], steps=30).losses[-1]
    assert below == pytest.approx(0.98**60) and below < 1.0 < above == pytest.approx(1.02**60)


@pytest.mark.parametrize("curvature", CURVATURES)
@pytest.mark.parametrize("start", [-3.0, 0.5, 7.0])
def test_one_over_curvature_reaches_the_minimum_in_one_step(curvature, start):
    run = gradient_descent.run(1 / curvature, [curvature], start=[start], steps=3)
    np.testing.assert_allclose(run.path[1:, 0], 0.0, atol=1e-12 * abs(start))
    assert run.losses[1] == pytest.approx(0.0, abs=1e-20)


@pytest.mark.parametrize("curvature", CURVATURES)
@pytest.mark.parametrize("fraction", [0.6, 0.9, 0.99])
def test_between_one_and_two_over_curvature_w_flips_sign_but_shrinks(curvature, fraction):
    learning_rate = (1 + fraction) / curvature  # strictly between 1 / L and 2 / L
    run = gradient_descent.run(learning_rate, [curvature], start=[1.0], steps=20)
    weights = run.path[:, 0]
    assert np.all(weights[1:] * weights[:-1] < 0) and np.all(np.diff(np.abs(weights)) < 0)
    assert gradient_descent.classify(run.losses, run.path) == "too high"
    assert gradient_descent.classify(run.losses) != "too high"  # the loss alone hides the zigzag


@pytest.mark.parametrize("curvature", CURVATURES)
def test_below_one_over_curvature_w_never_crosses_the_minimum(curvature):
    run = gradient_descent.run(0.8 / curvature, [curvature], start=[-2.0], steps=20)
    assert np.all(run.path < 0) and gradient_descent.classify(run.losses, run.path) == "healthy"


@pytest.mark.parametrize(("learning_rate", "verdict"), LESSON_RUNS.items())
def test_the_four_lesson_runs_get_their_verdicts(learning_rate, verdict):
    run = gradient_descent.run(learning_rate, [2.0], start=[1.0], steps=20)
    assert gradient_descent.classify(run.losses, run.path) == verdict


def test_the_lessons_readings_of_its_four_runs():
    losses = {
        rate: gradient_descent.run(rate, [2.0], start=[1.0], steps=20).losses
        for rate in LESSON_RUNS
    }
    assert 0.4 < losses[0.01][-1] / losses[0.01][0] < 0.5  # "keeps almost half its value"
    assert losses[1.1][-1] / losses[1.1][0] > 1000  # "multiplies the loss by more than 1000"
    assert np.all(np.diff(losses[0.9]) < 0)  # "looks perfectly healthy"


def test_factors_of_opposite_sign_give_the_same_loss_curve_one_zigzagging():
    zigzag = gradient_descent.run(0.9, [2.0], start=[1.0], steps=20)  # factor 1 - 1.8 = -0.8
    straight = gradient_descent.run(0.1, [2.0], start=[1.0], steps=20)  # factor 1 - 0.2 = +0.8
    np.testing.assert_allclose(zigzag.losses, straight.losses, rtol=1e-12)
    assert gradient_descent.classify(zigzag.losses, zigzag.path) == "too high"
    assert gradient_descent.classify(straight.losses, straight.path) == "healthy"


@pytest.mark.parametrize("curvature", CURVATURES)
def test_too_low_means_the_loss_kept_more_than_one_percent(curvature):
    # One step multiplies the loss by (1 - learning_rate * curvature) ** 2; after 50 steps the
    # ratio is that ** 50: 0.97 ** 100 = 0.048 > 1% (slow), 0.94 ** 100 = 0.002 < 1% (fast).
    slow = 0.03 / curvature
    fast = 0.06 / curvature
    assert gradient_descent.classify(gradient_descent.run(slow, [curvature]).losses) == "too low"
    assert gradient_descent.classify(gradient_descent.run(fast, [curvature]).losses) == "healthy"


def test_classify_catches_growth_before_overflow_and_non_finite_losses():
    losses = gradient_descent.run(1.05 * 2, [1.0], steps=3).losses
    assert np.all(np.isfinite(losses)) and gradient_descent.classify(losses) == "diverging"
    assert gradient_descent.classify([1.0, 0.5, np.nan]) == "diverging"
    assert gradient_descent.classify([1.0, 0.5, np.inf]) == "diverging"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow in a diverging run is expected, not a warning
        assert not np.isfinite(gradient_descent.run(3.0, [10.0], steps=400).losses[-1])


def test_on_the_ill_conditioned_bowl_the_steep_axis_sets_the_limit():
    curvatures = gradient_descent.ILL_CONDITIONED_CURVATURES
    start = gradient_descent.ILL_CONDITIONED_START
    assert gradient_descent.divergence_threshold(curvatures) == pytest.approx(0.2)
    inside = gradient_descent.run(0.15, curvatures, start)
    outside = gradient_descent.run(0.21, curvatures, start)
    assert gradient_descent.classify(inside.losses, inside.path) == "too high"
    assert np.all(np.abs(inside.path[-1]) < 1e-2)
    assert gradient_descent.classify(outside.losses, outside.path) == "diverging"
    # The shallow axis converges, the steep one blows up.
    assert abs(outside.path[-1, 0]) < 1e-3 and abs(outside.path[-1, 1]) > 100
    # Safe for the steep axis, slow for the shallow one.
    crawling = gradient_descent.run(0.05, curvatures, start)
    assert crawling.path[-1, 0] == pytest.approx(-4.0 * 0.95**50)
    assert round(crawling.path[-1, 0], 2) == -0.31
    assert abs(crawling.path[-1, 1]) < 1e-12
    assert gradient_descent.classify(crawling.losses, crawling.path) == "healthy"


@pytest.mark.parametrize("optimizer", gradient_descent.OPTIMIZERS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_numpy_optimizers_match_keras(optimizer, seed):
    curvatures, start = random_bowl(seed)
    learning_rate = 0.05
    reference = {
        "sgd": keras.optimizers.SGD(learning_rate=learning_rate),
        "momentum": keras.optimizers.SGD(learning_rate=learning_rate, momentum=0.9),
        "adam": keras.optimizers.Adam(learning_rate=learning_rate),
    }[optimizer]
    weights = keras.Variable(start, dtype="float64")
    keras_path = [start]
    for _ in range(8):
        slope = gradient_descent.gradient(weights.numpy(), curvatures)
        reference.apply_gradients([(keras.ops.convert_to_tensor(slope, dtype="float64"), weights)])
        keras_path.append(weights.numpy())
    ours = gradient_descent.run(
        learning_rate, curvatures, start=start, steps=8, optimizer=optimizer
    ).path
    # Keras stores learning_rate (and Adam's 1 - beta_2) in float32, which moves each step by
    # ~1e-5 of learning_rate; a wrong update rule (no bias correction, no momentum) is off by
    # ~learning_rate = 0.05.
    np.testing.assert_allclose(ours, np.array(keras_path), rtol=0, atol=1e-5)


@pytest.mark.parametrize("curvatures", [(1.0, 10.0), (0.1, 100.0), (3.0, 0.5)])
def test_adam_moves_each_coordinate_about_learning_rate_per_step_whatever_the_curvature(curvatures):
    learning_rate = 0.01
    steps = 50
    path = gradient_descent.run(
        learning_rate, curvatures, start=[-4.0, 1.0], steps=steps, optimizer="adam"
    ).path
    moves = np.abs(np.diff(path, axis=0))
    # The first step is exactly learning_rate.
    np.testing.assert_allclose(moves[0], learning_rate, rtol=1e-5)
    assert np.all(moves <= learning_rate * (1 + 1e-9))
    assert np.all(np.abs(path[-1] - path[0]) > 0.9 * steps * learning_rate)


@pytest.mark.parametrize("learning_rate", [0.001, 0.005, 0.01, 0.02])
def test_momentum_gets_lower_than_sgd_at_the_same_small_learning_rate(learning_rate):
    curvatures = gradient_descent.ILL_CONDITIONED_CURVATURES
    start = gradient_descent.ILL_CONDITIONED_START
    sgd = gradient_descent.run(learning_rate, curvatures, start).losses[-1]
    momentum_run = gradient_descent.run(learning_rate, curvatures, start, optimizer="momentum")
    momentum = momentum_run.losses[-1]
    assert momentum < sgd
    if learning_rate == 0.01:  # the notebook's comparison: "about 60 times lower", and bumpy
        assert 50 < sgd / momentum < 70
        assert np.any(np.diff(momentum_run.losses) > 0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"learning_rate": 0.0},
            "learning_rate must be a positive, finite number. Received: learning_rate=0.0",
        ),
        ({"learning_rate": -0.1}, "Received: learning_rate=-0.1"),
        ({"learning_rate": float("inf")}, "Received: learning_rate=inf"),
        ({"learning_rate": float("nan")}, "Received: learning_rate=nan"),
        ({"learning_rate": "0.1"}, "Received: learning_rate='0.1'"),
        ({"learning_rate": True}, "Received: learning_rate=True"),
        (
            {"curvatures": [1.0, 0.0]},
            "curvatures[1] must be a positive, finite number. Received: curvatures[1]=0.0",
        ),
        ({"curvatures": [-2.0]}, "Received: curvatures[0]=-2.0"),
        ({"curvatures": [1.0, float("nan")]}, "Received: curvatures[1]=nan"),
        (
            {"curvatures": []},
            "curvatures must be a list or tuple of at least 1 item. Received: curvatures=[]",
        ),
        (
            {"optimizer": "rmsprop"},
            "optimizer must be one of ('sgd', 'momentum', 'adam'). Received: optimizer='rmsprop'",
        ),
        ({"optimizer": "adan"}, "Received: optimizer='adan'. Did you mean 'adam'?"),
        ({"steps": 0}, "steps must be an int >= 1. Received: steps=0"),
        ({"steps": 2.5}, "steps must be an int >= 1. Received: steps=2.5"),
        ({"start": [1.0, 2.0, 3.0]}, "start must have shape (2,). Received: start of shape (3,)"),
        ({"start": [[1.0, 2.0]]}, "start must have shape (2,). Received: start of shape (1, 2)"),
        (
            {"start": [1.0, np.inf]},
            "start must be finite. Received: start with 1 NaN or inf values",
        ),
        ({"start": ["a", "b"]}, "start must be a numeric array. Received: start=['a', 'b']"),
    ],
)
def test_run_rejects_bad_input_naming_the_argument(arguments, message):
    valid = {
        "learning_rate": 0.1,
        "curvatures": [1.0, 10.0],
        "start": [1.0, 1.0],
        "steps": 5,
        "optimizer": "sgd",
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        gradient_descent.run(**{**valid, **arguments})


def test_run_accepts_numpy_scalars_and_arrays_like_python_numbers():
    from_numpy = gradient_descent.run(
        np.float32(0.25),
        np.array([1.0, 2.0]),
        start=np.array([1, -1]),
        steps=np.int64(3),
        optimizer=np.str_("momentum"),
    )
    from_python = gradient_descent.run(
        0.25, [1.0, 2.0], start=[1.0, -1.0], steps=3, optimizer="momentum"
    )
    np.testing.assert_allclose(from_numpy.path, from_python.path, rtol=1e-12)
    assert from_numpy.path.shape == (4, 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda: gradient_descent.divergence_threshold([0]),
            "curvatures[0] must be a positive, finite number. Received: curvatures[0]=0",
        ),
        (
            lambda: gradient_descent.loss([1.0], [1.0, 2.0]),
            "weights must have shape (..., 2). Received: weights of shape (1,)",
        ),
        (
            lambda: gradient_descent.gradient(np.ones((3, 2)), [1.0]),
            "weights must have shape (..., 1). Received: weights of shape (3, 2)",
        ),
        (
            lambda: gradient_descent.classify([1.0]),
            "losses must be a list or tuple of at least 2 items. Received: losses=[1.0]",
        ),
        (
            lambda: gradient_descent.classify([1.0, "x"]),
            "losses must be a numeric array. Received: losses=[1.0, 'x']",
        ),
        (
            lambda: gradient_descent.classify([1.0, 0.5, 0.2], path=[[1.0], [0.5]]),
            "path must have shape (3, dims). Received: path of shape (2, 1)",
        ),
    ],
)
def test_other_functions_reject_bad_input(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call()


def test_loss_and_classify_accept_the_infinities_of_a_diverging_run():
    assert gradient_descent.loss([np.inf, 0.0], [1.0, 1.0]) == np.inf
    path = np.array([[1.0], [-3.0], [np.inf]])
    assert gradient_descent.classify([0.5, 4.5, np.inf], path) == "diverging"


def test_the_verdicts_are_the_words_lesson_05_uses():
    assert gradient_descent.VERDICTS == ("too low", "healthy", "too high", "diverging")
    assert set(gradient_descent.VERDICTS) <= set(curve_diagnosis.VERDICTS)


@pytest.mark.parametrize("curvature", [0.5, 1.0, 4.0, 10.0])
def test_momentum_raises_the_divergence_threshold_to_two_times_one_plus_momentum_over_curvature(
    curvature,
):
    """Heavy-ball momentum m on L/2*w**2 is stable iff 0 < learning_rate * L < 2 * (1 + m).

    That is 3.8 / L for m = 0.9.
    """
    limit = 2 * (1 + gradient_descent.MOMENTUM) / curvature
    below = gradient_descent.run(
        0.97 * limit, [curvature], start=[1.0], steps=400, optimizer="momentum"
    )
    above = gradient_descent.run(
        1.03 * limit, [curvature], start=[1.0], steps=400, optimizer="momentum"
    )
    plain_threshold = gradient_descent.divergence_threshold([curvature])
    assert below.losses[-1] < 1e-3 * below.losses[0] and 0.97 * limit > plain_threshold
    assert above.losses[-1] > 1e3 * above.losses[0]


def test_on_the_lessons_bowl_0_21_diverges_with_sgd_but_not_with_momentum():
    bowl = gradient_descent.ILL_CONDITIONED_CURVATURES
    start = gradient_descent.ILL_CONDITIONED_START
    sgd = gradient_descent.run(0.21, bowl, start, optimizer="sgd")
    momentum = gradient_descent.run(0.21, bowl, start, optimizer="momentum")
    assert gradient_descent.classify(sgd.losses, sgd.path) == "diverging"
    assert gradient_descent.classify(momentum.losses, momentum.path) != "diverging"
    assert 2 * (1 + gradient_descent.MOMENTUM) / max(bowl) == pytest.approx(0.38)


def lesson_text(phrase: str) -> str:
    """The one markdown cell of lesson 01 that contains `phrase`, with its lines joined."""
    cells = nbformat.read(LESSON, as_version=4).cells
    texts = [" ".join(cell.source.split()) for cell in cells if cell.cell_type == "markdown"]
    found = [text for text in texts if phrase in text]
    assert len(found) == 1, f"{len(found)} markdown cells of lesson 01 contain {phrase!r}"
    return found[0]


def number_after(text: str, pattern: str) -> float:
    """The number that `pattern`'s group captures in `text` (it must occur)."""
    match = re.search(pattern, text)
    assert match, f"lesson 01 no longer says {pattern!r}"
    return float(match.group(1))


def test_lesson_01_states_the_rules_of_classify():
    text = lesson_text("These four words are the course's verdicts")
    assert number_after(text, r"still above (\d+)% of its start") == 100 * (
        gradient_descent.SLOW_LOSS_RATIO
    )
    assert "the same bowl with four learning rates, 20 steps each" in text


def test_lesson_01_reads_its_four_runs_as_the_runs_say():
    text = lesson_text("`0.01` is too low")
    losses = {
        rate: gradient_descent.run(rate, [2.0], start=[1.0], steps=20).losses
        for rate in LESSON_RUNS
    }
    assert "the loss keeps almost half its value" in text
    assert 0.4 < losses[0.01][-1] / losses[0.01][0] < 0.5
    growth = number_after(text, r"it multiplies the loss by more than (\d+)")
    assert losses[1.1][-1] / losses[1.1][0] > growth


def test_lesson_01s_shallow_axis_still_crawls_where_the_text_says():
    text = lesson_text("the shallow axis crawls")
    run = gradient_descent.run(
        0.05, gradient_descent.ILL_CONDITIONED_CURVATURES, gradient_descent.ILL_CONDITIONED_START
    )
    assert round(run.path[-1, 0], 2) == number_after(text, r"still at `w\[0\] = (-?[\d.]+)`")
    assert number_after(text, r"\(factor `\+([\d.]+)`\), the shallow") == 1 - 0.05 * 10.0
    assert number_after(text, r"crawls \(factor `\+([\d.]+)`\)") == 1 - 0.05 * 1.0


def test_lesson_01s_explorer_spans_the_slider_it_describes():
    text = lesson_text("Drag the slider")
    low = number_after(text, r"a log scale from ([\d.]+) to")
    high = number_after(text, r"a log scale from [\d.]+ to (\d+)")
    assert (low, high) == tuple(10.0**exponent for exponent in lr_explorer.SLIDER_EXPONENTS)


def test_lesson_01s_three_optimizer_comparison_reads_the_runs_right():
    """'its loss ends about 60 times lower' (59.1 measured) and Adam 'about 50 * 0.01 = 0.5'."""
    text = lesson_text("Momentum moves fastest")
    bowl = gradient_descent.ILL_CONDITIONED_CURVATURES
    start = gradient_descent.ILL_CONDITIONED_START
    runs = {
        name: gradient_descent.run(0.01, bowl, start, optimizer=name)
        for name in gradient_descent.OPTIMIZERS
    }
    ratio = runs["sgd"].losses[-1] / runs["momentum"].losses[-1]
    assert number_after(text, r"ends about (\d+) times lower") == round(ratio, -1)
    moved = np.abs(runs["adam"].path[-1] - runs["adam"].path[0])
    assert "about `50 * 0.01 = 0.5`" in text
    np.testing.assert_allclose(moved, 50 * 0.01, rtol=0.1)


def test_lesson_01_reconciles_momentums_two_formulas_in_lesson_02s_words():
    text = lesson_text("Two questions, two formulas")
    momentum = gradient_descent.MOMENTUM
    assert number_after(text, r"`([\d.]+) / curvature` for `m = 0.9`") == 2 * (1 + momentum)
    assert number_after(text, r"`m = 0.9`, ([\d.]+) times plain SGD's") == pytest.approx(
        1 + momentum
    )
    limit = number_after(text, r"its limit there is `([\d.]+)`")
    assert limit == pytest.approx(
        2 * (1 + momentum) / max(gradient_descent.ILL_CONDITIONED_CURVATURES)
    )
    assert number_after(text, r"`learning_rate \* \|g\| / \(1 - m\)`: (\d+) times") == (
        pytest.approx(1 / (1 - momentum))
    )
    assert "a factor of 1.9 there and 10 on a steady slope" in text
    # The same two questions, in lesson 02's words.
    lesson_02 = pathlib.Path(LESSON).with_name("02_optimizers_and_learning_rates.ipynb")
    lesson_02_text = " ".join(
        " ".join(cell.source.split())
        for cell in nbformat.read(lesson_02, as_version=4).cells
        if cell.cell_type == "markdown"
    )
    for phrase in ["**on a steady slope**", "**diverges in a steep direction**", "1.9 times"]:
        assert phrase in lesson_02_text


def test_lesson_01s_closing_reasons_hold_for_adam_and_point_where_they_are_measured():
    text = lesson_text("## Why fine-tuning uses a smaller learning rate")
    assert "plain SGD's stability limit on a bowl" in text
    assert "about `learning_rate * N`" in text and "Lesson 02 sets that against" in text
    assert text.count("Lesson 04 measures") == 2
    assert "a tenth of the head's learning rate" in text
    # "Adam moves every weight by about the learning rate per step, whatever its gradient":
    # within 4% for |g| from 1e-4 to 10 (Adam's epsilon, 1e-7, shrinks smaller gradients' steps).
    # The bowl size / 2 * w**2 from w = 1 has the gradient ~size for 20 steps of 1e-3.
    for size in [10.0, 1.0, 1e-2, 1e-4]:
        path = gradient_descent.run(1e-3, [size], start=[1.0], steps=20, optimizer="adam").path
        moves = np.abs(np.diff(path[:, 0]))
        assert np.all((moves > 0.96e-3) & (moves <= 1e-3 * (1 + 1e-9))), size


def test_lesson_01s_two_factors_of_opposite_sign_are_the_ones_the_text_names():
    text = lesson_text("the same loss curve, one zigzagging and one not")
    pattern = (
        r"`learning_rate = ([\d.]+)` has factor `1 - ([\d.]+) = (-?[\d.]+)` and "
        r"`learning_rate = ([\d.]+)` has `1 - ([\d.]+) = (-?[\d.]+)`"
    )
    match = re.search(pattern, text)
    assert match, "lesson 01 no longer names the two factors"
    zigzag_rate, zigzag_product, zigzag_factor, straight_rate, straight_product, straight_factor = (
        float(value) for value in match.groups()
    )
    curvature = 2.0
    assert zigzag_product == pytest.approx(zigzag_rate * curvature)
    assert zigzag_factor == pytest.approx(1 - zigzag_rate * curvature)
    assert straight_product == pytest.approx(straight_rate * curvature)
    assert straight_factor == pytest.approx(1 - straight_rate * curvature) == -zigzag_factor
    zigzag = gradient_descent.run(zigzag_rate, [curvature], start=[1.0], steps=20)
    straight = gradient_descent.run(straight_rate, [curvature], start=[1.0], steps=20)
    np.testing.assert_allclose(zigzag.losses, straight.losses, rtol=1e-12)
