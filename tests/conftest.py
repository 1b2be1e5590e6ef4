"""Fixtures shared by several test modules."""

import pathlib

import pytest


def _read_scalars(folder: pathlib.Path) -> dict[str, dict[int, float]]:
    """Every scalar in the TensorBoard event files under `folder`: {tag: {step: value}}."""
    import tensorflow as tf

    scalars = {}
    for path in folder.glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != "scalars":
                    continue
                values_by_step = scalars.setdefault(value.tag, {})
                values_by_step[event.step] = float(tf.make_ndarray(value.tensor))
    return scalars


@pytest.fixture
def read_scalars():
    """Reads TensorBoard event files back: `read_scalars(folder)` gives {tag: {step: value}}."""
    return _read_scalars
