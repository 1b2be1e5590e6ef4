"""Course setup: fast mode, version check, seeding and the shared setup cell."""

import re
import subprocess
import sys

import numpy as np
import pytest

from helpers.lessons import course, setup_cell


def test_fast_mode_follows_the_environment(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert (
        course.is_fast_mode()
        and course.choose(full=10, fast=1) == 1
        and course.fit_verbosity() == 0
    )
    monkeypatch.setenv("COURSE_FAST", "0")
    assert not course.is_fast_mode() and course.choose(full=10, fast=1) == 10
    assert course.fit_verbosity() == "auto"
    monkeypatch.delenv("COURSE_FAST")
    assert not course.is_fast_mode()


@pytest.mark.parametrize(
    ("tensorflow_version", "keras_version", "accepted"),
    [
        ("2.21.0", "3.15.1", True),
        ("2.16.1", "3.0.0", True),
        ("2.15.0", "2.15.0", False),
        ("2.16.1", "2.15.0", False),
    ],
)
def test_version_check(tensorflow_version, keras_version, accepted):
    if accepted:
        course.check_versions(tensorflow_version, keras_version)
    else:
        with pytest.raises(
            RuntimeError, match=f"found TensorFlow {tensorflow_version} with Keras {keras_version}"
        ):
            course.check_versions(tensorflow_version, keras_version)


def test_parse_version_rejects_garbage():
    with pytest.raises(ValueError, match="version='abc'"):
        course.parse_version("abc")


@pytest.mark.parametrize("seed", [-1, 1.5, "3", True])
def test_seed_must_be_a_non_negative_int(seed):
    message = f"seed must be an int >= 0. Received: seed={seed!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        course.seed_everything(seed)


def test_a_numpy_seed_works_like_a_python_one():
    course.seed_everything(np.int64(3))
    from_numpy = np.random.rand()
    course.seed_everything(3)
    assert np.random.rand() == from_numpy
    assert "seed 3" in course.setup(seed=np.int64(3))


def test_importing_course_does_not_import_tensorflow():
    """The setup cell imports `course` before TensorFlow's C++ logging is silenced."""
    code = "import sys; from helpers.lessons import course; print('tensorflow' in sys.modules)"
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert completed.stdout.strip() == "False"


def test_seeding_makes_tensorflow_repeatable():
    import keras

    results = []
    for _ in range(2):
        course.seed_everything(7)
        results.append((np.random.rand(), keras.random.uniform((3,)).numpy().tolist()))
    assert results[0] == results[1]


def test_setup_cell_silences_tensorflow_before_importing_it():
    source = setup_cell.source()
    assert source.index("TF_CPP_MIN_LOG_LEVEL") < source.index("from helpers.lessons import course")
    assert source.index("TF_ENABLE_ONEDNN_OPTS") < source.index(
        "from helpers.lessons import course"
    )
    assert course.REPOSITORY_URL in source and course.COURSE_REF in source


def test_setup_cell_runs_from_a_notebook_folder_and_prints_no_tensorflow_noise(tmp_path):
    """Run the cell as a fresh process from notebooks/, as Jupyter would: nothing on stderr."""
    import pathlib

    notebooks = pathlib.Path(__file__).resolve().parents[1] / "notebooks"
    completed = subprocess.run(
        [sys.executable, "-c", setup_cell.source()],
        cwd=notebooks,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "COURSE_FAST": "1", "HOME": str(tmp_path)},
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("TensorFlow 2.")
    assert "fast mode" in completed.stdout
    assert completed.stderr == ""


def test_setup_cell_fails_clearly_outside_the_course(tmp_path):
    completed = subprocess.run(
        [sys.executable, "-c", setup_cell.source()],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode != 0
    assert "Cannot find the course's helpers/ folder" in completed.stderr


def test_colab_clones_the_release_named_in_pyproject():
    """A new layout is a new release: Colab must clone the helpers these notebooks import."""
    import tomllib

    pyproject = tomllib.loads((course.COURSE_ROOT / "pyproject.toml").read_text())
    assert f"v{pyproject['project']['version']}" == course.COURSE_REF
