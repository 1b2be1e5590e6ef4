"""Loaded by pytest before any test module: quiet TensorFlow before it is first imported."""

import os
import pathlib
import sys

import pytest

# No absl/C++ noise in test output or nbval comparisons.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# No oneDNN banner; reproducible CPU arithmetic.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# Plotting tests draw off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")
# Files the lessons write (TensorBoard logs) go to a build folder, not the learner's work/ folder.
os.environ.setdefault("COURSE_WORK_DIR", str(pathlib.Path(__file__).parent / "build" / "test-work"))


@pytest.fixture(autouse=True)
def close_figures():
    """Closes every matplotlib figure after each test and doctest, so none draws on another's."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
