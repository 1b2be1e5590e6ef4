"""Weight and gradient sizes of a pretrained base (helpers/lessons/weight_scales.py, lesson 02).

Closed-form oracles on tiny models, then lesson 02's claims about the course's bundled base,
each read from the notebook's markdown and checked over three seeds where randomness enters.
"""

import pathlib
import re

import keras
import nbformat
import numpy as np
import pytest

from helpers.finetune import optimizers
from helpers.lessons import pretrained, step_sizes, target_task, weight_scales

LESSON = (
    pathlib.Path(__file__).resolve().parents[1]
    / "notebooks"
    / ("02_optimizers_and_learning_rates.ipynb")
)
SEEDS = (0, 1, 2)


def lesson_text(phrase: str) -> str:
    """The one markdown cell of lesson 02 that contains `phrase`, with its lines joined."""
    cells = nbformat.read(LESSON, as_version=4).cells
    texts = [" ".join(cell.source.split()) for cell in cells if cell.cell_type == "markdown"]
    found = [text for text in texts if phrase in text]
    assert len(found) == 1, f"{len(found)} markdown cells of lesson 02 contain {phrase!r}"
    return found[0]


def linear_pair(seed: int = 0):
    """A Dense base (3 -> 2) inside a model with a Dense(3) logits head, and a batch for it."""
    keras.utils.set_random_seed(seed)
    base_model = keras.Sequential(
        [keras.Input((2, 2, 3)), keras.layers.Flatten(), keras.layers.Dense(2)], name="base"
    )
    model = keras.Sequential([keras.Input((2, 2, 3)), base_model, keras.layers.Dense(3)])
    generator = np.random.default_rng(seed)
    images = generator.uniform(-1, 1, size=(5, 2, 2, 3)).astype("float32")
    labels = np.array([0, 1, 2, 1, 0])
    return model, base_model, images, labels


def numpy_gradient_sizes(model, base_model, images, labels) -> np.ndarray:
    """The oracle: d(mean cross-entropy)/d(base kernel and bias) written out in numpy."""
    kernel, bias = (weight.numpy().astype("float64") for weight in base_model.layers[-1].weights)
    head_kernel, head_bias = (
        weight.numpy().astype("float64") for weight in model.layers[-1].weights
    )
    inputs = images.reshape(len(images), -1).astype("float64")
    features = inputs @ kernel + bias
    logits = features @ head_kernel + head_bias
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    error = (probabilities - np.eye(3)[labels]) / len(labels)  # d loss / d logits
    feature_error = error @ head_kernel.T
    return np.abs(np.concatenate([(inputs.T @ feature_error).ravel(), feature_error.sum(axis=0)]))


@pytest.mark.parametrize("seed", SEEDS)
def test_gradient_sizes_match_the_numpy_oracle(seed):
    model, base_model, images, labels = linear_pair(seed)
    expected = numpy_gradient_sizes(model, base_model, images, labels)
    percentiles = [0, 10, 50, 90, 100]
    measured = weight_scales.gradient_sizes(model, base_model, images, labels, percentiles)
    assert list(measured) == percentiles
    np.testing.assert_allclose(
        list(measured.values()), np.percentile(expected, percentiles), rtol=1e-5, atol=1e-7
    )  # float32 against float64: the smallest gradient (~1e-6) differs by ~4e-9


def test_gradient_sizes_are_the_same_for_a_frozen_base_and_change_nothing():
    model, base_model, images, labels = linear_pair()
    before = [weight.numpy().copy() for weight in model.weights]
    trainable = weight_scales.gradient_sizes(model, base_model, images, labels)
    base_model.trainable = False
    frozen = weight_scales.gradient_sizes(model, base_model, images, labels)
    assert frozen == pytest.approx(trainable, rel=1e-6) and min(frozen.values()) > 0
    for old, weight in zip(before, model.weights, strict=True):
        np.testing.assert_array_equal(old, weight.numpy())


def test_fine_tuned_weights_open_nested_models_and_leave_batchnorm_out():
    inner = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="inner_dense")], name="inner"
    )
    base_model = keras.Sequential(
        [
            keras.Input((4,)),
            inner,
            keras.layers.BatchNormalization(name="batch_norm"),
            keras.layers.Dense(2, name="top_dense"),
        ]
    )
    names = [weight.path.split("/")[-2:] for weight in weight_scales.fine_tuned_weights(base_model)]
    assert names == [
        ["inner_dense", "kernel"],
        ["inner_dense", "bias"],
        ["top_dense", "kernel"],
        ["top_dense", "bias"],
    ]


def test_median_weight_size_is_the_median_of_the_absolute_values():
    layer = keras.layers.Dense(2)
    base_model = keras.Sequential([keras.Input((2,)), layer, keras.layers.BatchNormalization()])
    layer.set_weights([np.array([[-3.0, 1.0], [0.5, -2.0]]), np.array([0.0, 4.0])])
    assert weight_scales.median_weight_size(base_model) == pytest.approx(1.5)  # 0 .5 1 2 3 4


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda pair: weight_scales.median_weight_size("base"),
            "base_model must be a keras.Model. Received: base_model='base'",
        ),
        (
            lambda pair: weight_scales.median_weight_size(
                keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()], name="bn")
            ),
            "base_model must hold weights outside BatchNormalization. "
            "Received: base_model='bn' without any",
        ),
        (
            lambda pair: weight_scales.gradient_sizes(None, pair[1], pair[2], pair[3]),
            "model must be a keras.Model. Received: model=None",
        ),
        (
            lambda pair: weight_scales.gradient_sizes(pair[0], pair[0], pair[2], pair[3]),
            "base_model must be a layer of model.",
        ),
        (
            lambda pair: weight_scales.gradient_sizes(pair[0], pair[1], pair[2] * 300, pair[3]),
            "images must be preprocessed to [-1, 1]",
        ),
        (
            lambda pair: weight_scales.gradient_sizes(pair[0], pair[1], pair[2], [0, 1, 2]),
            "labels must hold one label per example (5). Received: 3 labels",
        ),
        (
            lambda pair: weight_scales.gradient_sizes(pair[0], pair[1], pair[2], [0, 1, 2, 3, 0]),
            "labels must be in [0, 3). Received: labels with values [3]",
        ),
        (
            lambda pair: weight_scales.gradient_sizes(*pair, percentiles=[50, 101]),
            "percentiles[1] must be a finite number in [0, 100]. Received: percentiles[1]=101",
        ),
    ],
    ids=[
        "not a model",
        "only batchnorm",
        "model",
        "base outside",
        "raw pixels",
        "label count",
        "label range",
        "percentile",
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        call(linear_pair())


def test_numpy_labels_and_percentiles_are_accepted():
    model, base_model, images, labels = linear_pair()
    sizes = weight_scales.gradient_sizes(
        model, base_model, images, labels.astype("float64"), percentiles=np.array([50])
    )
    assert list(sizes) == [50.0]


@pytest.fixture(scope="module")
def bundled_base():
    keras.utils.set_random_seed(0)
    return pretrained.build_mobilenet_v2(target_task.NUM_CLASSES)[1]


def test_the_bundled_bases_median_weight_is_what_lesson_02_prints(bundled_base):
    """The kept output prints 0.050; the weights file is fixed, so the median is exact."""
    assert round(weight_scales.median_weight_size(bundled_base), 3) == 0.050
    assert weight_scales.median_weight_size(bundled_base) == pytest.approx(0.0502, abs=5e-5)


def test_lesson_02s_adam_distance_against_the_median_weight(bundled_base):
    """'At 1e-3, 100 Adam steps move a typical weight by twice its own size; at 1e-4, a fifth.'"""
    text = lesson_text("100 Adam steps can move a typical weight")
    words = {"twice": 2.0, "a fifth": 0.2}
    match = re.search(r"by (twice|a fifth) its own size; at `1e-4`, by (twice|a fifth) of it", text)
    assert match, "lesson 02 no longer says how far 100 Adam steps move a weight"
    median_weight = weight_scales.median_weight_size(bundled_base)
    for rate, word in zip((1e-3, 1e-4), match.groups(), strict=True):
        adam = optimizers.make_optimizer("adam", rate)
        distance = sum(step_sizes.steady_gradient_steps(adam, steps=100, gradient=1e-3))
        assert distance == pytest.approx(100 * rate, rel=1e-3)  # "up to N * learning_rate"
        assert distance / median_weight == pytest.approx(words[word], rel=0.01)


@pytest.mark.slow
def test_lesson_02s_gradient_sizes_hold_for_three_seeds():
    """'The median weight's gradient is about 1e-3, and 80% between 1e-4 and 1e-2.'

    Measured (10th, 50th, 90th percentiles) for seeds 0, 1, 2, the notebook's batch of 8 images
    per class and a fresh head: (1.5e-4, 9.9e-4, 3.9e-3), (1.4e-4, 8.9e-4, 3.4e-3),
    (1.3e-4, 8.7e-4, 3.5e-3). The checks leave 30% or more of room on each side.
    """
    text = lesson_text("The median weight's gradient is about")
    match = re.search(
        r"gradient is about ([\d.e-]+), and 80% of the weights see gradients between "
        r"([\d.e-]+) and ([\d.e-]+)",
        text,
    )
    assert match, "lesson 02 no longer states the gradient sizes"
    about, low, high = (float(value) for value in match.groups())
    for seed in SEEDS:
        keras.utils.set_random_seed(seed)
        data = target_task.prepare_data(
            8, validation_count=1, test_count=1, source_count=1, seed=seed
        )
        model, base_model = pretrained.build_mobilenet_v2(target_task.NUM_CLASSES)
        sizes = weight_scales.gradient_sizes(model, base_model, *data.train)
        assert about / 2 < sizes[50] < about * 2, (seed, sizes)
        assert low < sizes[10] and sizes[90] < high, (seed, sizes)
