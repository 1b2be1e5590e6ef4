"""Every lesson notebook starts with the shared setup cell, stays thin, stores no stray outputs."""

import ast
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
    metadata = {"tags": notebook_tool.SETUP_TAGS, **notebook_tool.SETUP_HIDDEN}
    return nbformat.v4.new_code_cell(setup_cell.source(), metadata=metadata)


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


LAYER_MODULE = re.compile(r"helpers\.(finetune|lessons|exercises)\.\w+")


def imported_helpers(notebook: nbformat.NotebookNode) -> list[str]:
    """The `helpers` names the lesson's cells import, after the setup cell, dotted in full."""
    cells = notebook_tool.code_cells(notebook)[1:]
    tree = ast.parse("\n".join(cell.source for cell in cells))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module.split(".")[0] == "helpers":
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Import):
            names += [alias.name for alias in node.names if alias.name.split(".")[0] == "helpers"]
    return names


def names_outside_the_layers(names: list[str]) -> list[str]:
    """The imported names that are not a module of `helpers.finetune`, `lessons` or `exercises`."""
    return [name for name in names if not LAYER_MODULE.fullmatch(name)]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_imports_helpers_through_the_three_layers(path):
    """`from helpers.finetune import models`: a module of a layer, never a function or old path."""
    names = imported_helpers(nbformat.read(path, as_version=4))
    assert names, f"{path.name} imports nothing from helpers"
    assert names_outside_the_layers(names) == []
    exercises = [name for name in names if name.startswith("helpers.exercises.lesson")]
    assert exercises == [f"helpers.exercises.lesson{path.name[:2]}"]


def test_old_paths_and_imported_functions_are_found():
    code = nbformat.v4.new_code_cell(
        "from helpers import pretrained\n"
        "import helpers.finetune.models\n"
        "from helpers.finetune.models import unfreeze\n"
        "from helpers.lessons import course, target_task\n"
        "import numpy as np"
    )
    names = imported_helpers(make_notebook(make_setup_cell(), code))
    assert names_outside_the_layers(names) == [
        "helpers.pretrained",
        "helpers.finetune.models.unfreeze",
    ]


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


def test_a_setup_cell_showing_its_code_is_reported():
    visible = make_setup_cell()
    visible.metadata.pop("cellView")
    problems = notebook_tool.problems(make_notebook(visible), "lesson")
    assert problems == [
        f"lesson: the setup cell's code must be hidden ({notebook_tool.SETUP_HIDDEN})"
    ]
