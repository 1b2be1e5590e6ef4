"""The setup cell that opens every lesson (01-05), generated from one template.

The cell silences TensorFlow's C++ logging before TensorFlow loads, finds the course's
`helpers` package (JupyterLab from the repository, nbval, or a fresh Colab runtime, where it
clones the course at `course.COURSE_REF` from `course.REPOSITORY_URL`), then calls
`course.setup()`, which checks versions and seeds everything.

`scripts/notebook_tool.py sync` writes it into each notebook; `tests/test_notebooks_hygiene.py`
checks every notebook starts with exactly this cell.
"""

from __future__ import annotations

from helpers.lessons import course

_SETUP_CELL_TEMPLATE = """\
# Course setup: the same cell opens every lesson (its source: helpers/lessons/setup_cell.py).
import os
import pathlib
import subprocess
import sys
from importlib.util import find_spec

# Silence TensorFlow's C++ logging and the oneDNN banner before TensorFlow loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
COURSE_REPOSITORY_URL = "{repository_url}"
COURSE_REF = "{course_ref}"  # the release whose helpers match these lessons

# A file only the course's root folder holds:
MARKER = pathlib.Path("helpers", "lessons", "course.py")

folders = [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]
course_root = next((folder for folder in folders if (folder / MARKER).is_file()), None)
if course_root is None and find_spec("google.colab") is not None:
    course_root = pathlib.Path("{colab_folder}")
    if not (course_root / "helpers").is_dir():
        clone = ["git", "clone", "--quiet", "--depth=1", "--branch", COURSE_REF]
        subprocess.run([*clone, COURSE_REPOSITORY_URL, str(course_root)], check=True, timeout=120)
if course_root is None:
    raise RuntimeError("Cannot find the course's helpers/ folder: open the lesson with `make lab`.")
if str(course_root) not in sys.path:
    sys.path.insert(0, str(course_root))

from helpers.lessons import course

print(course.setup(seed={seed}))"""


def source() -> str:
    """Returns the source of the setup cell shared by every notebook.

    `scripts/notebook_tool.py sync` writes it into each notebook; a test checks they match.

    Returns:
        The cell's Python source.

    Example:

    >>> cell = source()
    >>> cell.index("TF_CPP_MIN_LOG_LEVEL") < cell.index("from helpers.lessons import course")
    True
    """
    return _SETUP_CELL_TEMPLATE.format(
        repository_url=course.REPOSITORY_URL,
        course_ref=course.COURSE_REF,
        colab_folder=course.COLAB_COURSE_FOLDER,
        seed=course.DEFAULT_SEED,
    )
