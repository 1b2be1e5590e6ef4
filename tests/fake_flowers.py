"""A stand-in for the flower photos' download, for tests that must not touch the network."""

import pathlib

import keras
import numpy as np

from helpers.lessons import datasets


def fake_get_file(calls, photos_per_class=5):
    """A stand-in for `keras.utils.get_file`: 'extracts' tiny PNG photos as Keras 3 does."""

    def get_file(fname, origin, extract, cache_dir):
        calls.append(origin)
        extracted = pathlib.Path(cache_dir) / "datasets" / fname
        for class_index, name in enumerate(datasets.FLOWERS_CLASSES):
            (extracted / "flower_photos" / name).mkdir(parents=True, exist_ok=True)
            for photo in range(photos_per_class):
                pixels = np.full((20, 30, 3), 40 * class_index + photo, dtype=np.uint8)
                keras.utils.save_img(
                    extracted / "flower_photos" / name / f"{photo}.png", pixels, scale=False
                )
        return str(extracted)

    return get_file
