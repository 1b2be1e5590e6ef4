"""Every lesson notebook starts with the shared setup cell and stores no stray outputs."""

import pathlib
import re

import nbformat
import notebook_tool
import pytest

from helpers.lessons import setup_cell

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def make_notebook(*code_cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_markdown_cell("# Lesson"), *code_cells]
    )
    notebook.metadata["kernelspec"] = dict(notebook_tool.KERNELSPEC)
    return notebook


def make_setup_cell() -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(
        setup_cell.source(), metadata={"tags": notebook_tool.SETUP_TAGS}
    )


def printed(text: str, tags: list[str] | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(f"print({text!r})", metadata={"tags": tags or []})
    cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text=text + "\n")]
    return cell


def test_there_are_lessons():
    assert len(NOTEBOOKS) >= 2


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_is_clean(path):
    assert notebook_tool.problems(nbformat.read(path, as_version=4), path.name) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_is_thin(path):
    """No class definitions, no environment reading, no private Keras API outside the setup cell."""
    cells = notebook_tool.code_cells(nbformat.read(path, as_version=4))[1:]
    source = "\n".join(cell.source for cell in cells)
    assert not re.search(r"^\s*class\s", source, re.MULTILINE)
    assert "os.environ" not in source and "getenv" not in source
    assert "keras.src" not in source and not re.search(r"\._[a-z]", source)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_compares_some_printed_results(path):
    kept = [
        cell
        for cell in notebook_tool.code_cells(nbformat.read(path, as_version=4))
        if "keep_output" in notebook_tool.tags_of(cell)
    ]
    assert kept, f"{path.name} keeps no deterministic output for nbval to compare"


def test_a_clean_notebook_has_no_problems():
    notebook = make_notebook(
        make_setup_cell(), printed("0.5", ["keep_output", "nbval-check-output"])
    )
    notebook_tool.strip_outputs(notebook)
    assert notebook_tool.problems(notebook, "lesson") == []


def test_stray_outputs_are_reported():
    notebook = make_notebook(make_setup_cell(), printed("loss 0.3"))
    assert notebook_tool.problems(notebook, "lesson") == [
        "lesson, code cell 2: has stored outputs but is not tagged keep_output"
    ]


def test_kept_cells_carry_their_position_as_execution_count_and_others_none():
    notebook = make_notebook(
        make_setup_cell(), printed("0.5", ["keep_output", "nbval-check-output"]), printed("x")
    )
    notebook_tool.strip_outputs(notebook)
    assert [cell.execution_count for cell in notebook_tool.code_cells(notebook)] == [None, 2, None]
    assert notebook.cells[2].outputs and not notebook.cells[3].outputs
    notebook.cells[2].execution_count = 7
    assert notebook_tool.problems(notebook, "lesson") == [
        "lesson, code cell 2: a kept cell's execution count must be its position, 2"
    ]


def test_kept_cells_must_be_compared_by_nbval():
    notebook = make_notebook(make_setup_cell(), printed("0.5", ["keep_output"]))
    assert "not nbval-check-output" in " ".join(notebook_tool.problems(notebook, "lesson"))


def test_missing_or_edited_setup_cell_is_reported():
    edited = make_setup_cell()
    edited.source = edited.source.replace("seed=42", "seed=1")
    for notebook in [
        make_notebook(printed("x", ["keep_output", "nbval-check-output"])),
        make_notebook(edited),
    ]:
        assert "not the shared setup cell" in " ".join(notebook_tool.problems(notebook, "lesson"))


def test_sync_writes_the_setup_cell_and_strips_outputs():
    notebook = make_notebook(
        printed("stray"), printed("kept", ["keep_output", "nbval-check-output"])
    )
    notebook_tool.sync(notebook)
    cells = notebook_tool.code_cells(notebook)
    assert cells[0].source == setup_cell.source()
    assert cells[1].outputs == [] and cells[2].outputs
    assert notebook_tool.problems(notebook, "lesson") == []


def test_sync_replaces_an_outdated_setup_cell_instead_of_adding_one():
    old = make_setup_cell()
    old.source = "# an older setup cell"
    notebook = make_notebook(old, printed("kept", ["keep_output", "nbval-check-output"]))
    notebook_tool.sync(notebook)
    assert len(notebook_tool.code_cells(notebook)) == 2
    assert notebook_tool.problems(notebook, "lesson") == []
