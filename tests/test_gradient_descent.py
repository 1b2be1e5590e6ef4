"""Gradient descent on quadratic bowls (lesson 01): closed-form behaviour, verdicts, Keras as the oracle."""

import warnings

import keras
import numpy as np
import pytest

from helpers.lessons import gradient_descent

CURVATURES = [0.5, 1.0, 4.0, 10.0]
# The four runs of the lesson's notebook: curvature 2, start w = 1, 20 steps.
LESSON_RUNS = {0.01: "too small", 0.3: "good", 0.9: "oscillating", 1.1: "diverging"}


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
@pytest.mark.parametrize(
    "fraction", [0.6, 0.9, 0.99]
)  # learning rates strictly between 1/L and 2/L
def test_between_one_and_two_over_curvature_w_flips_sign_but_shrinks(curvature, fraction):
    learning_rate = (1 + fraction) / curvature
    run = gradient_descent.run(learning_rate, [curvature], start=[1.0], steps=20)
    weights = run.path[:, 0]
    assert np.all(weights[1:] * weights[:-1] < 0) and np.all(np.diff(np.abs(weights)) < 0)
    assert gradient_descent.classify(run.losses, run.path) == "oscillating"
    assert gradient_descent.classify(run.losses) != "oscillating"  # the loss alone hides the zigzag


@pytest.mark.parametrize("curvature", CURVATURES)
def test_below_one_over_curvature_w_never_crosses_the_minimum(curvature):
    run = gradient_descent.run(0.8 / curvature, [curvature], start=[-2.0], steps=20)
    assert np.all(run.path < 0) and gradient_descent.classify(run.losses, run.path) == "good"


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
    assert gradient_descent.classify(zigzag.losses, zigzag.path) == "oscillating"
    assert gradient_descent.classify(straight.losses, straight.path) == "good"


@pytest.mark.parametrize("curvature", CURVATURES)
def test_too_small_means_the_loss_kept_more_than_one_percent(curvature):
    # One step multiplies the loss by (1 - learning_rate * curvature) ** 2; after 50 steps the ratio is that ** 50.
    slow, fast = (
        0.03 / curvature,
        0.06 / curvature,
    )  # 0.97 ** 100 = 0.048 > 1%, 0.94 ** 100 = 0.002 < 1%
    assert gradient_descent.classify(gradient_descent.run(slow, [curvature]).losses) == "too small"
    assert gradient_descent.classify(gradient_descent.run(fast, [curvature]).losses) == "good"


def test_classify_catches_growth_before_overflow_and_non_finite_losses():
    losses = gradient_descent.run(1.05 * 2, [1.0], steps=3).losses
    assert np.all(np.isfinite(losses)) and gradient_descent.classify(losses) == "diverging"
    assert gradient_descent.classify([1.0, 0.5, np.nan]) == "diverging"
    assert gradient_descent.classify([1.0, 0.5, np.inf]) == "diverging"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # overflow in a diverging run is expected, not a warning
        assert not np.isfinite(gradient_descent.run(3.0, [10.0], steps=400).losses[-1])


def test_on_the_ill_conditioned_bowl_the_steep_axis_sets_the_limit():
    curvatures, start = (
        gradient_descent.ILL_CONDITIONED_CURVATURES,
        gradient_descent.ILL_CONDITIONED_START,
    )
    assert gradient_descent.divergence_threshold(curvatures) == pytest.approx(0.2)
    inside = gradient_descent.run(0.15, curvatures, start)
    outside = gradient_descent.run(0.21, curvatures, start)
    assert gradient_descent.classify(inside.losses, inside.path) == "oscillating"
    assert np.all(np.abs(inside.path[-1]) < 1e-2)
    assert gradient_descent.classify(outside.losses, outside.path) == "diverging"
    assert (
        abs(outside.path[-1, 0]) < 1e-3 and abs(outside.path[-1, 1]) > 100
    )  # shallow axis fine, steep one blown
    crawling = gradient_descent.run(
        0.05, curvatures, start
    )  # safe for the steep axis, slow for the shallow one
    assert (
        crawling.path[-1, 0] == pytest.approx(-4.0 * 0.95**50)
        and round(crawling.path[-1, 0], 2) == -0.31
    )
    assert (
        abs(crawling.path[-1, 1]) < 1e-12
        and gradient_descent.classify(crawling.losses, crawling.path) == "good"
    )


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
    # Keras stores learning_rate (and Adam's 1 - beta_2) in float32, which moves each step by ~1e-5 of
    # learning_rate; a wrong update rule (no bias correction, no momentum) is off by ~learning_rate = 0.05.
    np.testing.assert_allclose(ours, np.array(keras_path), rtol=0, atol=1e-5)


@pytest.mark.parametrize("curvatures", [(1.0, 10.0), (0.1, 100.0), (3.0, 0.5)])
def test_adam_moves_each_coordinate_about_learning_rate_per_step_whatever_the_curvature(curvatures):
    learning_rate, steps = 0.01, 50
    path = gradient_descent.run(
        learning_rate, curvatures, start=[-4.0, 1.0], steps=steps, optimizer="adam"
    ).path
    moves = np.abs(np.diff(path, axis=0))
    np.testing.assert_allclose(
        moves[0], learning_rate, rtol=1e-5
    )  # the first step is exactly learning_rate
    assert np.all(moves <= learning_rate * (1 + 1e-9))
    assert np.all(np.abs(path[-1] - path[0]) > 0.9 * steps * learning_rate)


@pytest.mark.parametrize("learning_rate", [0.001, 0.005, 0.01, 0.02])
def test_momentum_gets_lower_than_sgd_at_the_same_small_learning_rate(learning_rate):
    curvatures, start = (
        gradient_descent.ILL_CONDITIONED_CURVATURES,
        gradient_descent.ILL_CONDITIONED_START,
    )
    sgd = gradient_descent.run(learning_rate, curvatures, start).losses[-1]
    momentum = gradient_descent.run(learning_rate, curvatures, start, optimizer="momentum").losses[
        -1
    ]
    assert momentum < sgd
    if learning_rate == 0.01:  # the notebook's comparison: "about 60 times lower", and bumpy
        assert 50 < sgd / momentum < 70
        momentum_losses = gradient_descent.run(
            learning_rate, curvatures, start, optimizer="momentum"
        ).losses
        assert np.any(np.diff(momentum_losses) > 0)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"learning_rate": 0.0},
            "learning_rate must be a positive finite number. Received: learning_rate=0.0",
        ),
        ({"learning_rate": -0.1}, "Received: learning_rate=-0.1"),
        ({"learning_rate": float("inf")}, "Received: learning_rate=inf"),
        ({"learning_rate": float("nan")}, "Received: learning_rate=nan"),
        ({"learning_rate": "0.1"}, "Received: learning_rate='0.1'"),
        (
            {"curvatures": [1.0, 0.0]},
            r"curvatures must be .* positive numbers. Received: curvatures=\[1.0, 0.0\]",
        ),
        ({"curvatures": [-2.0]}, r"Received: curvatures=\[-2.0\]"),
        ({"curvatures": []}, r"Received: curvatures=\[\]"),
        ({"optimizer": "rmsprop"}, "optimizer must be one of .*Received: optimizer='rmsprop'"),
        ({"steps": 0}, "steps must be an int of at least 1. Received: steps=0"),
        ({"steps": 2.5}, "Received: steps=2.5"),
        (
            {"start": [1.0, 2.0, 3.0]},
            r"start must have 2 value\(s\) per point.*Received: start=\[1.0, 2.0, 3.0\]",
        ),
        ({"start": [[1.0, 2.0]]}, r"Received: start=\[\[1.0, 2.0\]\]"),
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
    with pytest.raises(ValueError, match=message):
        gradient_descent.run(**{**valid, **arguments})


def test_other_functions_reject_bad_input():
    with pytest.raises(ValueError, match=r"Received: curvatures=\[0\]"):
        gradient_descent.divergence_threshold([0])
    with pytest.raises(ValueError, match=r"Received: weights=\[1.0\]"):
        gradient_descent.loss([1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match=r"Received: losses=\[1.0\]"):
        gradient_descent.classify([1.0])
    with pytest.raises(
        ValueError, match=r"path must have shape \(3, dims\). Received: path with shape \(2, 1\)"
    ):
        gradient_descent.classify([1.0, 0.5, 0.2], path=[[1.0], [0.5]])


@pytest.mark.parametrize("curvature", [0.5, 1.0, 4.0, 10.0])
def test_momentum_raises_the_divergence_threshold_to_two_times_one_plus_momentum_over_curvature(
    curvature,
):
    """Heavy-ball momentum m on L/2*w**2 is stable iff 0 < learning_rate * L < 2 * (1 + m): 3.8 / L for m = 0.9."""
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
    bowl, start = (
        gradient_descent.ILL_CONDITIONED_CURVATURES,
        gradient_descent.ILL_CONDITIONED_START,
    )
    sgd = gradient_descent.run(0.21, bowl, start, optimizer="sgd")
    momentum = gradient_descent.run(0.21, bowl, start, optimizer="momentum")
    assert gradient_descent.classify(sgd.losses, sgd.path) == "diverging"
    assert gradient_descent.classify(momentum.losses, momentum.path) != "diverging"
    assert 2 * (1 + gradient_descent.MOMENTUM) / max(bowl) == pytest.approx(0.38)
