"""Loaded by pytest before any test module: quiet TensorFlow, and keep what the notebooks print.

Besides the shared settings, three hooks serve the course website (`tests/test_site.py`):
- nbval's kernels plot inline, as in JupyterLab, so a lesson's figures become outputs;
- each lesson whose cells all pass under nbval is written with its outputs to
  `build/executed/<mode>/` (`scripts/executed_notebooks.py`), so the site check needs no second
  execution. Each pytest-xdist worker writes the lessons it ran;
- a session that runs the notebooks defers the site checks (marked `site`): they read those
  outputs, so `make test` runs them next, in a second, small pytest invocation.
"""

import os
import pathlib
import sys

import executed_notebooks
import pytest

# No absl/C++ noise in test output or nbval comparisons.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# No oneDNN banner; reproducible CPU arithmetic.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
# Plotting tests draw off-screen.
os.environ.setdefault("MPLBACKEND", "Agg")
# Files the lessons write (TensorBoard logs) go to a build folder, not the learner's work/ folder.
os.environ.setdefault("COURSE_WORK_DIR", str(pathlib.Path(__file__).parent / "build" / "test-work"))

# nbval's cell items by lesson: {the lesson's pytest node id: {cell number: its outputs}}.
_recorded_outputs: dict[str, dict[int, list]] = {}


@pytest.fixture(autouse=True)
def close_figures():
    """Closes every matplotlib figure after each test and doctest, so none draws on another's."""
    yield
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselects the site checks in a session that also runs the notebooks they read."""
    if not any(_is_notebook_cell(item) for item in items):
        return
    deferred = [item for item in items if item.get_closest_marker("site")]
    if deferred:
        config.hook.pytest_deselected(items=deferred)
        items[:] = [item for item in items if not item.get_closest_marker("site")]


def _is_notebook_cell(item: pytest.Item) -> bool:
    """Whether `item` is one cell of a notebook run by nbval."""
    return type(item).__name__ == "IPyNbCell" and hasattr(item, "test_outputs")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_setup(item: pytest.Item):
    """Starts nbval's kernel (at a lesson's first cell) with the inline matplotlib backend."""
    if not _is_notebook_cell(item):
        return (yield)
    backend = os.environ.get("MPLBACKEND")
    os.environ["MPLBACKEND"] = executed_notebooks.INLINE_BACKEND
    try:
        return (yield)
    finally:
        if backend is None:
            os.environ.pop("MPLBACKEND", None)
        else:
            os.environ["MPLBACKEND"] = backend


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """Records a passed nbval cell's outputs; writes the lesson once all its cells have passed."""
    report = yield
    if not _is_notebook_cell(item) or report.when != "call":
        return report
    lesson = item.parent
    outputs_by_cell = _recorded_outputs.setdefault(lesson.nodeid, {})
    if not report.passed:
        outputs_by_cell.clear()
        return report
    outputs_by_cell[item.cell_num] = item.test_outputs
    code_cells = [cell for cell in lesson.nb.cells if cell.cell_type == "code"]
    if len(outputs_by_cell) == len(code_cells):
        _write_executed_lesson(lesson, outputs_by_cell)
        del _recorded_outputs[lesson.nodeid]
    return report


def _write_executed_lesson(lesson: pytest.Collector, outputs_by_cell: dict[int, list]) -> None:
    """Writes a copy of nbval's lesson holding the outputs its run produced."""
    mode = executed_notebooks.mode_of_environment(os.environ)
    notebook = executed_notebooks.executed_copy(lesson.nb, outputs_by_cell, mode)
    executed_notebooks.write_atomically(
        notebook, executed_notebooks.folder(mode) / lesson.path.name
    )
