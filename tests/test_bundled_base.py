"""The bundled MobileNetV2 base: small files that load and reproduce the card's source accuracy."""

import re

import keras
import numpy as np
import pytest

from helpers.lessons import course, datasets, pretrained, shapes_data

CARD_PATH = course.COURSE_ROOT / "data" / "shapes_base_card.md"
MAXIMUM_BYTES = 5 * 1024 * 1024  # the course repository stays small: every bundled file <= 5 MB
CHECK_PATTERN = (
    r"Check-subset accuracy \(first (\d+) of make_images\('source', 'test', (\d+), "
    r"seed=(\d+)\)\): ([0-9.]+)"
)


def _card_numbers():
    card = CARD_PATH.read_text()
    check = re.search(CHECK_PATTERN, card)
    test = re.search(r"Source test accuracy: ([0-9.]+) on (\d+) test images", card)
    assert check and test, "the card lacks its accuracy lines; rerun scripts/pretrain_base.py"
    return {
        "count": int(check[2]),
        "seed": int(check[3]),
        "check": float(check[4]),
        "test": float(test[1]),
    }


def _source_accuracy(base_weights: str | None) -> float:
    numbers = _card_numbers()
    model, _ = pretrained.build_mobilenet_v2(len(shapes_data.SOURCE_CLASSES), weights=base_weights)
    head = np.load(pretrained.BUNDLED_SOURCE_HEAD_PATH)
    model.get_layer("logits").set_weights([head["kernel"], head["bias"]])
    images, labels = shapes_data.make_images(
        "source", "test", numbers["count"], image_size=96, seed=numbers["seed"]
    )
    logits = model.predict(datasets.to_dataset(images, labels, batch_size=100), verbose=0)
    return float(np.mean(logits.argmax(axis=1) == labels))


@pytest.mark.parametrize(
    "path", [pretrained.BUNDLED_BASE_PATH, pretrained.BUNDLED_SOURCE_HEAD_PATH, CARD_PATH]
)
def test_bundled_files_exist_and_are_small(path):
    assert path.is_file() and path.stat().st_size <= MAXIMUM_BYTES


def test_the_card_reports_a_source_test_accuracy_of_at_least_90_percent():
    assert _card_numbers()["test"] >= 0.90


def test_the_source_head_matches_the_base():
    head = np.load(pretrained.BUNDLED_SOURCE_HEAD_PATH)
    assert head["kernel"].shape == (1280, len(shapes_data.SOURCE_CLASSES))
    assert head["bias"].shape == (len(shapes_data.SOURCE_CLASSES),)


def test_bundled_base_reproduces_the_cards_source_accuracy():
    assert _source_accuracy("bundled") == pytest.approx(_card_numbers()["check"], abs=0.01)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_random_base_with_the_same_head_is_near_chance(seed):
    """The accuracy comes from the pretrained weights, not the head or the data (chance: 1/6)."""
    keras.utils.set_random_seed(seed)
    assert _source_accuracy(None) < 0.4
