"""The offline shapes task: shapes, balance, determinism, disjoint splits; pixels alone fail it."""

import hashlib
import re

import numpy as np
import pytest

from helpers.lessons import shapes_data


def _fingerprints(images):
    return {hashlib.sha1(image.tobytes()).hexdigest() for image in images}


@pytest.mark.parametrize(("task", "classes"), [("source", 6), ("target", 4)])
def test_images_and_labels_have_the_promised_shapes_and_balance(task, classes):
    images, labels = shapes_data.make_images(task, "train", count=50, image_size=40, seed=3)
    assert images.shape == (50, 40, 40, 3) and images.dtype == np.uint8
    assert labels.shape == (50,) and labels.dtype == np.int32
    counts = np.bincount(labels, minlength=classes)
    assert len(counts) == classes and counts.max() - counts.min() <= 1


def test_source_and_target_classes_are_disjoint():
    assert len(shapes_data.SOURCE_CLASSES) == 6 and len(shapes_data.TARGET_CLASSES) == 4
    assert not set(shapes_data.SOURCE_CLASSES) & set(shapes_data.TARGET_CLASSES)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_same_arguments_give_the_same_images_and_another_seed_does_not(seed):
    first = shapes_data.make_images("source", "validation", count=12, image_size=32, seed=seed)
    again = shapes_data.make_images("source", "validation", count=12, image_size=32, seed=seed)
    other = shapes_data.make_images("source", "validation", count=12, image_size=32, seed=seed + 10)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_no_image_repeats_across_splits_or_tasks(seed):
    seen = {}
    for task in ("source", "target"):
        for split in shapes_data.SPLITS:
            images, _ = shapes_data.make_images(task, split, count=100, image_size=32, seed=seed)
            prints = _fingerprints(images)
            assert len(prints) == 100, f"{task}/{split} repeats an image"
            for other, other_prints in seen.items():
                assert not prints & other_prints, f"{task}/{split} shares images with {other}"
            seen[(task, split)] = prints


def test_images_vary_in_colour_and_the_shape_stands_out():
    images, _ = shapes_data.make_images("source", "test", count=60, image_size=48, seed=0)
    mean_colours = images.reshape(60, -1, 3).mean(axis=1)
    # Backgrounds differ from image to image in every channel.
    assert mean_colours.std(axis=0).min() > 15
    edges = np.abs(np.diff(images.astype(int), axis=2)).max(axis=(1, 2, 3))
    assert edges.min() > 40  # every image has at least one sharp edge


def _pixel_features(task, split, count, seed):
    images, labels = shapes_data.make_images(task, split, count=count, image_size=48, seed=seed)
    return images.reshape(count, -1).astype(np.float64) / 255.0, labels


@pytest.mark.parametrize("seed", [0, 1])
def test_pixel_baselines_stay_far_below_the_cnn(seed):
    """Nearest centroid and a ridge linear classifier on raw pixels stay near chance (1/6)."""
    train_x, train_y = _pixel_features("source", "train", 1200, seed)
    test_x, test_y = _pixel_features("source", "test", 300, seed)
    centroids = np.stack([train_x[train_y == label].mean(axis=0) for label in range(6)])
    distances = ((test_x[:, None, :] - centroids[None]) ** 2).sum(axis=-1)
    centroid_accuracy = np.mean(distances.argmin(axis=1) == test_y)
    # Linear least squares on one-hot targets, solved in the dual (1200 x 1200) with a ridge term.
    mean = train_x.mean(axis=0)
    centred = train_x - mean
    targets = np.eye(6)[train_y]
    dual = np.linalg.solve(
        centred @ centred.T + 10.0 * np.eye(len(centred)), targets - targets.mean(axis=0)
    )
    scores = (test_x - mean) @ (centred.T @ dual)
    linear_accuracy = np.mean(scores.argmax(axis=1) == test_y)
    assert centroid_accuracy < 0.35 and linear_accuracy < 0.35, (centroid_accuracy, linear_accuracy)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"task": "sauce"},
            "task must be one of ('source', 'target'). Received: task='sauce'. "
            "Did you mean 'source'?",
        ),
        (
            {"split": "valid"},
            "split must be one of ('train', 'validation', 'test'). Received: split='valid'",
        ),
        ({"count": 0}, "count must be an int >= 1. Received: count=0"),
        ({"count": 2.5}, "count must be an int >= 1. Received: count=2.5"),
        ({"count": True}, "count must be an int >= 1. Received: count=True"),
        ({"image_size": 31}, "image_size must be an int >= 32. Received: image_size=31"),
        ({"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
    ],
)
def test_bad_arguments_raise_value_errors_naming_the_value(arguments, message):
    call = {
        "task": "source",
        "split": "train",
        "count": 4,
        "image_size": 32,
        "seed": 0,
        **arguments,
    }
    with pytest.raises(ValueError, match=re.escape(message)):
        shapes_data.make_images(**call)


def test_numpy_scalars_work_like_python_ints():
    from_numpy = shapes_data.make_images(
        np.str_("target"), "test", np.int64(5), np.int32(32), np.int64(2)
    )
    from_python = shapes_data.make_images("target", "test", 5, 32, 2)
    np.testing.assert_array_equal(from_numpy[0], from_python[0])
    np.testing.assert_array_equal(from_numpy[1], from_python[1])


def test_the_source_class_count_is_defined_once():
    assert shapes_data.NUM_SOURCE_CLASSES == len(shapes_data.SOURCE_CLASSES) == 6
    _, labels = shapes_data.make_images("source", "test", count=12, image_size=32)
    assert sorted(set(labels.tolist())) == list(range(shapes_data.NUM_SOURCE_CLASSES))


def test_plot_examples_titles_each_image_and_uses_the_given_axes():
    import matplotlib.pyplot as plt

    images, labels = shapes_data.make_images("target", "train", count=5, image_size=32)
    _, ax = plt.subplots()
    returned = shapes_data.plot_examples(images, labels, shapes_data.TARGET_CLASSES, ax=ax)
    assert returned is ax
    assert [text.get_text() for text in ax.texts] == [
        shapes_data.TARGET_CLASSES[label] for label in labels
    ]
    plt.close("all")


@pytest.mark.parametrize(
    ("images", "labels", "message"),
    [
        (
            np.zeros((5, 32, 32, 3), np.uint8),
            np.zeros(3, int),
            "labels must hold one label per example (5). Received: 3 labels",
        ),
        (
            np.zeros((2, 32, 32, 3), np.uint8),
            [0, 4],
            "labels must be in [0, 4). Received: labels with values [4]",
        ),
        (
            np.zeros((2, 32, 32), np.uint8),
            [0, 1],
            "images must have shape (n, height, width, 3). Received: images of shape (2, 32, 32)",
        ),
        (
            np.zeros((2, 32, 32, 3)),
            [0, 1],
            "images.dtype must be one of ('uint8',). Received: images.dtype='float64'",
        ),
    ],
)
def test_plot_examples_rejects_bad_input_naming_the_argument(images, labels, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        shapes_data.plot_examples(images, labels, shapes_data.TARGET_CLASSES)


# Each case's labels and its pixels' mean and standard deviation, recorded from the code before
# `shifted` existed: adding the shift must not change the standard images. Labels are exact (a
# permutation); pixels come from float32 sines and exponentials, whose last bit may differ on
# another CPU and flip a pixel's rounding, so the statistics have a tolerance far below what a
# change of the drawing (a reordered draw moves them by units) would cause.
STANDARD_IMAGES = {
    ("target", "test", 6, 32, 0): ([1, 3, 0, 1, 2, 0], 128.704, 67.977),
    ("source", "train", 5, 40, 3): ([2, 1, 4, 0, 3], 116.882, 57.834),
    ("target", "train", 260, 32, 1): ([2, 0, 1, 0, 1, 0, 0, 1], 128.24, 62.505),
    ("target", "validation", 3, 96, 2): ([1, 0, 2], 126.0, 64.235),
}


@pytest.mark.parametrize("arguments", list(STANDARD_IMAGES), ids=str)
def test_standard_images_are_those_drawn_before_the_shift_existed(arguments):
    images, labels = shapes_data.make_images(*arguments)
    explicit = shapes_data.make_images(*arguments, shifted=False)
    first_labels, mean, deviation = STANDARD_IMAGES[arguments]
    assert labels[: len(first_labels)].tolist() == first_labels
    pixels = images.astype(float)
    assert pixels.mean() == pytest.approx(mean, abs=0.02)
    assert pixels.std() == pytest.approx(deviation, abs=0.02)
    np.testing.assert_array_equal(explicit[0], images)


@pytest.mark.parametrize("seed", [0, 1])
def test_shifted_images_are_new_balanced_and_deterministic(seed):
    standard, _ = shapes_data.make_images("target", "test", count=40, image_size=32, seed=seed)
    shifted, labels = shapes_data.make_images(
        "target", "test", count=40, image_size=32, seed=seed, shifted=True
    )
    again, labels_again = shapes_data.make_images(
        "target", "test", count=40, image_size=32, seed=seed, shifted=True
    )
    assert shifted.shape == (40, 32, 32, 3) and shifted.dtype == np.uint8
    assert labels.shape == (40,) and labels.dtype == np.int32
    assert np.bincount(labels, minlength=4).tolist() == [10] * 4
    np.testing.assert_array_equal(shifted, again)
    np.testing.assert_array_equal(labels, labels_again)
    assert not _fingerprints(shifted) & _fingerprints(standard)


def test_the_shift_is_visible_as_extra_edges_in_the_background():
    """Stripes and checks add edges: the mean step between neighbouring pixels about doubles."""
    steps = {}
    for shifted in (False, True):
        images, _ = shapes_data.make_images("target", "test", 40, 48, 0, shifted=shifted)
        neighbour_steps = np.abs(np.diff(images.astype(float), axis=2)).mean(axis=(1, 2, 3))
        steps[shifted] = np.median(neighbour_steps)
    assert steps[True] > 1.4 * steps[False], steps


def test_a_non_bool_shift_is_refused():
    message = "shifted must be True or False. Received: shifted='yes'"
    with pytest.raises(ValueError, match=re.escape(message)):
        shapes_data.make_images("target", "test", 4, 32, shifted="yes")
