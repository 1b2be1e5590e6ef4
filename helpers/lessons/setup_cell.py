"""The setup cell that opens every lesson (01-08), generated from one template.

The cell silences TensorFlow's C++ logging before TensorFlow loads, finds the course's root
folder (JupyterLab and nbval: walking up from the working directory; a fresh Colab runtime:
cloning the release `course.COURSE_REF` from `course.REPOSITORY_URL`), then calls
`course.setup()`, which checks versions and seeds everything. The finding and cloning code is
`helpers/lessons/colab_clone.py`, copied in verbatim: `helpers` cannot be imported before it is
cloned.

In Colab the cell shows as a form titled "Course setup", its code hidden.

`scripts/notebook_tool.py sync` writes it into each notebook; `tests/test_notebooks_hygiene.py`
checks every notebook starts with exactly this cell.
"""

from __future__ import annotations

import inspect

from helpers.lessons import colab_clone, course

_SETUP_CELL_TEMPLATE = """\
# @title Course setup (run this cell first) {{ display-mode: "form" }}
# The same cell opens every lesson (its source: helpers/lessons/setup_cell.py). It finds the
# course's helpers/ folder (in a fresh Colab runtime: clones the course's release first), checks
# the TensorFlow and Keras versions and seeds everything.
import os

# Silence TensorFlow's C++ logging and the oneDNN banner before TensorFlow loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
COURSE_REF = "{course_ref}"  # the release whose helpers match these lessons
# Tests set these two variables (a local copy of the course, a temporary folder); you need not.
COURSE_REPOSITORY_URL = os.environ.get(
    "{url_variable}", "{repository_url}"
)
COLAB_COURSE_FOLDER = os.environ.get("{folder_variable}", "{colab_folder}")

# ---- helpers/lessons/colab_clone.py, copied: it finds the course, or clones it in Colab ----
{colab_clone_source}


# ---- end of helpers/lessons/colab_clone.py ----

import sys

course_root = find_course_root(COURSE_REPOSITORY_URL, COURSE_REF, COLAB_COURSE_FOLDER)
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
        course_ref=course.COURSE_REF,
        url_variable=course.REPOSITORY_URL_VARIABLE,
        repository_url=course.REPOSITORY_URL,
        folder_variable=course.COLAB_FOLDER_VARIABLE,
        colab_folder=course.COLAB_COURSE_FOLDER,
        colab_clone_source=inspect.getsource(colab_clone).strip(),
        seed=course.DEFAULT_SEED,
    )
