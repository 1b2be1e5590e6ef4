"""Course-wide setup for every lesson (01-08): versions, seeds, quiet logging and CI's fast mode.

Every lesson starts with the same setup cell (see `helpers/lessons/setup_cell.py`); that cell
makes `helpers` importable and then calls `course.setup()`.

Fast mode is the one switch for CI: when the environment variable `COURSE_FAST` is `"1"`,
helpers pick tiny data, few epochs and silent progress bars. Notebooks never read the variable
themselves; they call `course.choose(full=..., fast=...)` or a helper that does.

This module imports TensorFlow only inside its functions: the setup cell imports it before
TensorFlow's logging is silenced.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import platform
import random
import sys
import warnings
from collections.abc import Iterator
from datetime import date
from typing import TypeVar

import numpy as np

# The course repository's root folder: data/, notebooks/ and helpers/ sit here.
COURSE_ROOT = pathlib.Path(__file__).resolve().parents[2]
# Where the course lives; the setup cell clones it from here in a fresh Colab runtime.
REPOSITORY_URL = "https://github.com/gentle-fine-tuning/gentle-fine-tuning.git"
# The git ref Colab clones: a release tag, so a lesson and its helpers always match.
# `make release VERSION=vX.Y.Z` sets it; tests/test_release.py checks the tag exists.
COURSE_REF = "v0.6.0"
# Colab has no copy of the course: the setup cell clones it into this folder.
COLAB_COURSE_FOLDER = "/content/gentle-fine-tuning"
# Environment variables that override the two above, so tests clone a local copy into a
# temporary folder (tests/test_colab.py); learners never set them.
REPOSITORY_URL_VARIABLE = "COURSE_REPOSITORY_URL"
COLAB_FOLDER_VARIABLE = "COURSE_COLAB_FOLDER"
DEFAULT_SEED = 42  # every lesson starts from this seed unless it says otherwise

MINIMUM_TENSORFLOW = (2, 16)  # the first TensorFlow release that ships with Keras 3

T = TypeVar("T")


def is_fast_mode() -> bool:
    """Returns whether the course runs in fast mode (`COURSE_FAST=1`, as in CI).

    Returns:
        `True` when the environment variable `COURSE_FAST` is `"1"`.

    Example:

    >>> isinstance(is_fast_mode(), bool)
    True
    """
    return os.environ.get("COURSE_FAST", "0") == "1"


def choose(full: T, fast: T) -> T:
    """Returns `fast` in fast mode and `full` otherwise.

    Lessons use it for sizes that CI shrinks: `epochs = course.choose(full=10, fast=1)`.

    Args:
        full: the value a learner gets.
        fast: the value used in fast mode (CI).

    Returns:
        One of the two values.

    Example:

    >>> choose(full=10, fast=1) in (10, 1)
    True
    """
    return fast if is_fast_mode() else full


def fit_verbosity() -> int | str:
    """Returns the `verbose=` value for `model.fit`: silent in fast mode, `"auto"` otherwise.

    Example:

    >>> fit_verbosity() in (0, "auto")
    True
    """
    return 0 if is_fast_mode() else "auto"


# Files a lesson writes (TensorBoard logs, learner copies of the lessons) go under this folder,
# never beside the pristine lessons in notebooks/. The variable overrides it (tests use one).
WORK_FOLDER_VARIABLE = "COURSE_WORK_DIR"
DEFAULT_WORK_FOLDER = COURSE_ROOT / "work"  # gitignored


def work_folder(*parts: str) -> pathlib.Path:
    """Returns a folder for files a lesson writes, created if needed.

    It is `work/` in the course's root folder (gitignored; `make lab` keeps the learner's copies of
    the lessons there too), or the folder named by the environment variable `COURSE_WORK_DIR`.
    Lessons write their TensorBoard logs here instead of beside the pristine notebooks.

    Args:
        *parts: str, sub-folders below the work folder, e.g. `"logs", "lesson05"`.

    Returns:
        The folder's absolute path.

    Raises:
        ValueError: if a part is not a plain relative name (empty, absolute or `..`).

    Example:

    >>> folder = work_folder("logs", "doctest")
    >>> folder.is_dir() and folder.parts[-2:] == ("logs", "doctest")
    True
    """
    for part in parts:
        relative = pathlib.PurePath(part) if isinstance(part, str) else None
        if relative is None or not part or relative.is_absolute() or ".." in relative.parts:
            raise ValueError(
                f"parts must be relative folder names inside the work folder. Received: {part!r}"
            )
    root = pathlib.Path(os.environ.get(WORK_FOLDER_VARIABLE) or DEFAULT_WORK_FOLDER)
    folder = root.expanduser().resolve().joinpath(*parts)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def parse_version(version: str) -> tuple[int, ...]:
    """Returns the leading numeric parts of a version string.

    Args:
        version: str, a version such as `"2.21.0"` or `"2.16.0rc1"`.

    Returns:
        A tuple of ints, e.g. `(2, 16, 0)`.

    Raises:
        ValueError: if `version` does not start with a number.

    Example:

    >>> parse_version("2.16.0rc1")
    (2, 16, 0)
    """
    parts = []
    for piece in str(version).split("."):
        digits = ""
        for character in piece:
            if not character.isdigit():
                break
            digits += character
        if not digits:
            break
        parts.append(int(digits))
    if not parts:
        raise ValueError(f"version must start with a number. Received: version={version!r}")
    return tuple(parts)


def check_versions(tensorflow_version: str, keras_version: str) -> None:
    """Raises a clear error when TensorFlow or Keras is too old for the course.

    Args:
        tensorflow_version: str, `tf.__version__`.
        keras_version: str, `keras.__version__`.

    Raises:
        RuntimeError: if TensorFlow is older than 2.16 or Keras is not version 3.

    Example:

    >>> check_versions("2.21.0", "3.15.1")
    >>> check_versions("2.15.0", "2.15.0")
    Traceback (most recent call last):
    ...
    RuntimeError: This course needs TensorFlow >= 2.16 with Keras 3; found TensorFlow 2.15.0 ...
    """
    tensorflow_ok = parse_version(tensorflow_version)[:2] >= MINIMUM_TENSORFLOW
    keras_ok = parse_version(keras_version)[0] == 3
    if not (tensorflow_ok and keras_ok):
        raise RuntimeError(
            "This course needs TensorFlow >= 2.16 with Keras 3; "
            f"found TensorFlow {tensorflow_version} with Keras {keras_version}. "
            "Locally run `make lab` (it installs the pinned versions); "
            "in Colab run `!pip install -U tensorflow keras` and restart the runtime."
        )


def seed_everything(seed: int = DEFAULT_SEED) -> None:
    """Seeds Python, NumPy and TensorFlow so that a lesson gives the same numbers each run.

    Args:
        seed: int >= 0, the seed. Defaults to 42.

    Raises:
        ValueError: if `seed` is not an int >= 0.

    Example:

    >>> seed_everything(0)
    >>> first = np.random.rand()
    >>> seed_everything(0)
    >>> bool(np.random.rand() == first)
    True
    """
    # Imported here, after TensorFlow's logging is silenced (see the module's docstring).
    import_tensorflow_quietly()
    import keras

    from helpers.finetune import validation

    seed = validation.check_int("seed", seed, minimum=0)
    random.seed(seed)
    np.random.seed(seed)
    keras.utils.set_random_seed(seed)


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Sends the process's native stderr (file descriptor 2) to /dev/null inside the block.

    TensorFlow 2.21's C++ start-up lines ("Could not find cuda drivers", "All log
    messages before absl::InitializeLog()") ignore `TF_CPP_MIN_LOG_LEVEL`
    (tensorflow/tensorflow#100442); Jupyter shows them in the cell and nbval compares
    them. Python exceptions raised in the block still propagate after stderr is restored.

    Example:

    >>> with native_stderr_silenced():
    ...     _ = os.write(2, b"hidden")
    """
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow and Keras with TensorFlow's start-up noise silenced."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    if "tensorflow" in sys.modules:
        return
    with native_stderr_silenced():
        import keras  # noqa: F401
        import tensorflow  # noqa: F401


def setup(seed: int = DEFAULT_SEED) -> str:
    """Prepares a lesson: quiet logging, version check, seeds, silent progress bars in fast mode.

    Called by the shared setup cell at the top of every notebook.

    Args:
        seed: int >= 0, the seed for Python, NumPy and TensorFlow. Defaults to 42.

    Returns:
        A one-line summary of the versions and mode, which the setup cell prints.

    Raises:
        RuntimeError: if TensorFlow or Keras is too old (see `check_versions`).
        ValueError: if `seed` is not an int >= 0.

    Example:

    >>> print(setup(seed=0))  # doctest: +ELLIPSIS
    TensorFlow ... with Keras ..., seed 0...
    """
    import_tensorflow_quietly()
    import absl.logging
    import keras
    import tensorflow as tf

    absl.logging.set_verbosity(absl.logging.ERROR)
    tf.get_logger().setLevel("ERROR")
    # Keras 3.15 warns on every fit with a tf.data dataset (shuffle defaults to True); our
    # datasets shuffle themselves.
    warnings.filterwarnings("ignore", message="`shuffle=True` was passed", category=UserWarning)
    check_versions(tf.__version__, keras.__version__)
    seed_everything(seed)
    if is_fast_mode():
        keras.utils.disable_interactive_logging()
    mode = ", fast mode (CI)" if is_fast_mode() else ""
    return f"TensorFlow {tf.__version__} with Keras {keras.__version__}, seed {seed}{mode}"


def describe_run() -> dict[str, str]:
    """Returns the machine, TensorFlow's thread settings, the software versions and today's date.

    The stored studies (`scripts/finder_vs_grid.py`, `scripts/rate_comparison_seeds.py`) write
    it into their results and cards, so a number can be traced to where it was measured.

    Example:

    >>> sorted(describe_run())
    ['date', 'machine', 'software', 'threads']
    """
    import keras
    import tensorflow as tf

    processor = platform.processor() or platform.machine()
    gpus = len(tf.config.list_physical_devices("GPU"))
    threads = {
        name: os.environ.get(name, "unset (default)")
        for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")
    }
    return {
        "machine": f"{processor}, {os.cpu_count()} CPU cores, {gpus or 'no'} GPU",
        "threads": ", ".join(f"{name}={value}" for name, value in threads.items()),
        "software": (
            f"Python {platform.python_version()}, TensorFlow {tf.__version__}, "
            f"Keras {keras.__version__}"
        ),
        "date": date.today().isoformat(),
    }
