"""Executed copies of the lessons, with their outputs: where they live and whether they are current.

The lessons in `notebooks/` are stored without most outputs; the course website shows executed
copies instead, kept under `build/executed/<mode>/` (mode `fast` or `full`, as `COURSE_FAST` says).
Two things write them:

- the test command's own notebook run: the root `conftest.py` records each nbval cell's outputs
  and writes the copy once every cell of a lesson has passed (fast mode, no extra execution);
- `scripts/build_site.py`, which runs a lesson with nbclient when no current copy exists
  (`make site` always does so, in full mode).

A copy records the mode it ran in and a fingerprint of the lesson it came from (cell types,
sources and tags), so an edited lesson's old copy is never shown.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import pathlib
import tempfile

import nbformat

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOK_FOLDER = REPOSITORY_ROOT / "notebooks"
EXECUTED_FOLDER = REPOSITORY_ROOT / "build" / "executed"
MODES = ("fast", "full")
METADATA_KEY = "course_executed"  # the notebook metadata entry holding mode and fingerprint
# The kernel's matplotlib backend, as in JupyterLab: figures become PNG outputs. The test command
# sets MPLBACKEND=Agg for plotting tests, which would leave a notebook's figures unshown.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"


def lessons() -> list[pathlib.Path]:
    """Returns the lesson notebooks, in order (`notebooks/*.ipynb`)."""
    return sorted(NOTEBOOK_FOLDER.glob("*.ipynb"))


def check_mode(mode: str) -> None:
    """Raises a `ValueError` naming `mode` unless it is `"fast"` or `"full"`."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")


def folder(mode: str) -> pathlib.Path:
    """Returns the folder that holds the executed copies of one mode.

    Args:
        mode: str, `"fast"` or `"full"`.

    Returns:
        `build/executed/<mode>` under the repository root.

    Raises:
        ValueError: when `mode` is neither.

    Example:

    >>> folder("fast").relative_to(REPOSITORY_ROOT).as_posix()
    'build/executed/fast'
    """
    check_mode(mode)
    return EXECUTED_FOLDER / mode


def mode_of_environment(environment: dict[str, str] | os._Environ) -> str:
    """Returns the mode a lesson runs in under `environment`: `"fast"` when `COURSE_FAST=1`.

    Example:

    >>> mode_of_environment({"COURSE_FAST": "1"}), mode_of_environment({})
    ('fast', 'full')
    """
    return "fast" if environment.get("COURSE_FAST", "0") == "1" else "full"


def fingerprint(notebook: nbformat.NotebookNode) -> str:
    """Returns a digest of what a lesson is made of: each cell's type, source and tags.

    Outputs, execution counts and other metadata do not count, so a lesson and its executed copy
    share a fingerprint.

    Example:

    >>> lesson = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    >>> executed = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")])
    >>> executed.cells[0].outputs = [nbformat.v4.new_output("stream", text="2\\n")]
    >>> fingerprint(lesson) == fingerprint(executed)
    True
    """
    parts = [
        [cell.cell_type, cell.source, list(cell.get("metadata", {}).get("tags", []))]
        for cell in notebook.cells
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


def mark(notebook: nbformat.NotebookNode, mode: str) -> None:
    """Records in an executed copy the mode it ran in and its lesson's fingerprint."""
    notebook.metadata[METADATA_KEY] = {"mode": mode, "fingerprint": fingerprint(notebook)}


def executed_copy(
    lesson: nbformat.NotebookNode, outputs_by_cell: dict[int, list], mode: str
) -> nbformat.NotebookNode:
    """Returns a copy of `lesson` holding the outputs of a run that happened elsewhere (nbval's).

    Args:
        lesson: nbformat.NotebookNode, the lesson as stored; left as it is.
        outputs_by_cell: dict, each code cell's number (from 0) -> the outputs it produced.
        mode: str, the mode the run used, `"fast"` or `"full"`.

    Returns:
        The executed copy, marked with `mode` and the lesson's fingerprint.

    Example:

    >>> lesson = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(2)")])
    >>> printed = nbformat.v4.new_output("stream", text="2\\n")
    >>> executed = executed_copy(lesson, {0: [printed]}, "fast")
    >>> cell = executed.cells[0]
    >>> cell.outputs[0].text, cell.execution_count, lesson.cells[0].outputs
    ('2\\n', 1, [])
    """
    check_mode(mode)
    notebook = copy.deepcopy(lesson)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for number, cell in enumerate(code_cells):
        cell.outputs = list(outputs_by_cell[number])
        cell.execution_count = number + 1
    mark(notebook, mode)
    return notebook


def is_current(executed_path: pathlib.Path, lesson_path: pathlib.Path, mode: str) -> bool:
    """Returns whether `executed_path` is a copy of the lesson as it is now, run in `mode`."""
    if not executed_path.is_file():
        return False
    executed = nbformat.read(executed_path, as_version=4)
    lesson = nbformat.read(lesson_path, as_version=4)
    expected = {"mode": mode, "fingerprint": fingerprint(lesson)}
    return executed.metadata.get(METADATA_KEY) == expected


def write_atomically(notebook: nbformat.NotebookNode, path: pathlib.Path) -> None:
    """Writes a notebook so that a reader sees the old file or the new one, never half of one.

    Two pytest workers may write copies side by side, and a site build may read one meanwhile.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
    )
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            nbformat.write(notebook, file)
        os.chmod(temporary, 0o644)  # mkstemp's file is private; a copy is an ordinary build output
        os.replace(temporary, path)
    except BaseException:
        pathlib.Path(temporary).unlink(missing_ok=True)
        raise


def kernel_environment(mode: str) -> dict[str, str]:
    """Returns the environment a lesson's kernel gets: this one, with the mode and inline plots."""
    check_mode(mode)
    environment = dict(os.environ)
    environment["COURSE_FAST"] = "1" if mode == "fast" else "0"
    environment["MPLBACKEND"] = INLINE_BACKEND
    return environment


def execute(lesson_path: pathlib.Path, mode: str, timeout: int = 600) -> pathlib.Path:
    """Runs a lesson with nbclient in `mode` and writes its executed copy.

    Args:
        lesson_path: pathlib.Path, the lesson (`notebooks/<name>.ipynb`).
        mode: str, `"fast"` or `"full"`.
        timeout: int, seconds any one cell may run (default 600).

    Returns:
        The copy's path, `build/executed/<mode>/<name>.ipynb`.

    Raises:
        nbclient.exceptions.CellExecutionError: when a cell fails.
    """
    from nbclient import NotebookClient

    notebook = nbformat.read(lesson_path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(lesson_path.parent)}},
    )
    client.execute(env=kernel_environment(mode))
    mark(notebook, mode)
    executed_path = folder(mode) / lesson_path.name
    write_atomically(notebook, executed_path)
    return executed_path
