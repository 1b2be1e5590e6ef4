"""Keeps lesson notebooks 01-05 consistent: the shared setup cell, stripped outputs, kept examples.

Usage (from the repository root, inside .venv):

    python scripts/notebook_tool.py sync notebooks/*.ipynb     # the setup cell, strip outputs
    python scripts/notebook_tool.py refresh notebooks/*.ipynb  # run fast, keep tagged outputs
    python scripts/notebook_tool.py check notebooks/*.ipynb    # print problems, exit 1 if any

Conventions:
- The first code cell is exactly `setup_cell.source()`, tagged `setup` and
  `nbval-ignore-output` (it prints versions), its code hidden (a form in Colab, collapsed in
  JupyterLab): it is plumbing, not part of the lesson.
- Cells tagged `keep_output` keep their outputs in git: deterministic printed results
  that nbval compares (such cells must also carry `nbval-check-output`).
  Every other code cell is stored without outputs.
"""

from __future__ import annotations

import argparse
import copy
import os
import pathlib
import sys

import nbformat

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from helpers.lessons import setup_cell  # noqa: E402

KEEP_TAG = "keep_output"
CHECK_TAG = "nbval-check-output"
SETUP_TAGS = ["setup", "nbval-ignore-output"]
# The setup cell's code is hidden: Colab shows its form (the `# @title`), JupyterLab collapses it.
SETUP_HIDDEN = {"cellView": "form", "jupyter": {"source_hidden": True}}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
TEXT_MIME_TYPES = {"text/plain", "text/html", "text/markdown"}
COMMANDS = ("sync", "refresh", "check")


def tags_of(cell: nbformat.NotebookNode) -> list[str]:
    """Returns the cell's tags (an empty list when it has none)."""
    return list(cell.get("metadata", {}).get("tags", []))


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Returns the notebook's code cells in order."""
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def strip_outputs(notebook: nbformat.NotebookNode) -> None:
    """Removes outputs and execution counts, except in cells tagged `keep_output`.

    A kept cell's execution count becomes its position among the code cells, so it stays stable.
    """
    for number, cell in enumerate(code_cells(notebook), start=1):
        kept = KEEP_TAG in tags_of(cell)
        # nbval refuses stored outputs without an execution count: a kept cell gets its position.
        cell.execution_count = number if kept else None
        if not kept:
            cell.outputs = []
        for output in cell.get("outputs", []):
            if "execution_count" in output:
                output["execution_count"] = cell.execution_count
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)


def sync(notebook: nbformat.NotebookNode) -> None:
    """Writes the shared setup cell first, the standard kernelspec, and strips outputs."""
    metadata = {"tags": list(SETUP_TAGS), **copy.deepcopy(SETUP_HIDDEN)}
    new_cell = nbformat.v4.new_code_cell(setup_cell.source(), metadata=metadata)
    cells = code_cells(notebook)
    if cells and "setup" in tags_of(cells[0]):
        index = notebook.cells.index(cells[0])
        new_cell.id = cells[0].get("id", new_cell.id)
        notebook.cells[index] = new_cell
    else:
        first_code = notebook.cells.index(cells[0]) if cells else len(notebook.cells)
        notebook.cells.insert(first_code, new_cell)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = {"name": "python"}
    strip_outputs(notebook)


def problems(notebook: nbformat.NotebookNode, name: str) -> list[str]:
    """Returns the hygiene problems of one notebook, each naming the notebook and cell.

    Checks: the first code cell is the shared setup cell; only cells tagged `keep_output`
    hold outputs, and those hold text only and carry `nbval-check-output` (so nbval
    compares them) with their position as execution count; other cells store no execution
    count; the kernel is `python3`.
    """
    found = []
    cells = code_cells(notebook)
    if not cells or cells[0].source != setup_cell.source():
        found.append(
            f"{name}: the first code cell is not the shared setup cell (run notebook_tool.py sync)"
        )
    elif tags_of(cells[0]) != SETUP_TAGS:
        found.append(
            f"{name}: the setup cell must be tagged {SETUP_TAGS}; it has {tags_of(cells[0])}"
        )
    elif any(cells[0].metadata.get(key) != value for key, value in SETUP_HIDDEN.items()):
        found.append(f"{name}: the setup cell's code must be hidden ({SETUP_HIDDEN})")
    if notebook.metadata.get("kernelspec", {}).get("name") != "python3":
        found.append(f"{name}: the kernelspec must be python3 (no kernel-selection dialog)")
    for number, cell in enumerate(cells, start=1):
        where = f"{name}, code cell {number}"
        if KEEP_TAG in tags_of(cell):
            found += _kept_cell_problems(cell, number, where)
        else:
            found += _stripped_cell_problems(cell, where)
    return found


def _kept_cell_problems(cell: nbformat.NotebookNode, number: int, where: str) -> list[str]:
    """A kept cell: its position as execution count, compared by nbval, text outputs only."""
    found = []
    if cell.execution_count != number:
        found.append(f"{where}: a kept cell's execution count must be its position, {number}")
    if CHECK_TAG not in tags_of(cell):
        found.append(
            f"{where}: tagged {KEEP_TAG} but not {CHECK_TAG}, so nbval would not compare it"
        )
    if not cell.outputs:
        found.append(
            f"{where}: tagged {KEEP_TAG} but has no outputs (run notebook_tool.py refresh)"
        )
    for output in cell.outputs:
        kinds = set(output.get("data", {})) or {output.output_type}
        is_text = output.output_type != "error" and kinds <= TEXT_MIME_TYPES | {"stream"}
        if not is_text:
            found.append(f"{where}: a kept output must be text; found {sorted(kinds)}")
    return found


def _stripped_cell_problems(cell: nbformat.NotebookNode, where: str) -> list[str]:
    """Any other cell: no execution count, no outputs, and no request that nbval compare them."""
    found = []
    if cell.execution_count is not None:
        found.append(f"{where}: stores an execution count")
    if cell.outputs:
        found.append(f"{where}: has stored outputs but is not tagged {KEEP_TAG}")
    elif CHECK_TAG in tags_of(cell):
        found.append(
            f"{where}: tagged {CHECK_TAG} but not {KEEP_TAG}; its outputs would be stripped"
        )
    return found


def refresh(path: pathlib.Path) -> None:
    """Runs a notebook in fast mode and stores the outputs of its `keep_output` cells."""
    from nbclient import NotebookClient

    os.environ["COURSE_FAST"] = "1"
    notebook = nbformat.read(path, as_version=4)
    sync(notebook)
    NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    strip_outputs(notebook)
    nbformat.write(notebook, path)


def main(argv: list[str]) -> int:
    """Runs one command (`sync`, `refresh` or `check`) on the given notebooks.

    Args:
        argv: list of str, the command line after the script's name.

    Returns:
        The exit status: 1 if `check` found problems, else 0 (argparse exits with 2 on a bad
        command line).
    """
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=COMMANDS, help="what to do with the notebooks")
    parser.add_argument("paths", nargs="+", type=pathlib.Path, help="the .ipynb files")
    arguments = parser.parse_args(argv)
    found = []
    for path in arguments.paths:
        if arguments.command == "refresh":
            refresh(path)
            print(f"refreshed {path}")
            continue
        notebook = nbformat.read(path, as_version=4)
        if arguments.command == "sync":
            sync(notebook)
            nbformat.write(notebook, path)
            print(f"synced {path}")
        else:
            found += problems(notebook, path.name)
    if arguments.command == "check":
        print("\n".join(found) or "no problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
