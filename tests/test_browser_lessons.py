"""The lessons run in JupyterLab in a real browser (headless Chromium): no cell shows an error.

The test command runs lessons 01 and 05 completely (Run All: they hold the widgets) and only the
setup cell of the others, which nbval already executes cell by cell. `make browser-lessons`
(`COURSE_BROWSER_LESSONS=all`) runs every lesson completely. After Run All, lesson 01's explorer
slider is moved with the keyboard and its plot must change, and lesson 05's clinic must train
and draw a run when its button is clicked.

One JupyterLab (`lab_server.running_lab`, fast mode) and one browser serve the whole module.
Running a lesson saves its outputs into the file, so the server serves copies under `build/`
(inside the repository: the setup cell finds the course by walking up from the notebook), and
the last test checks that the pristine lessons are byte-identical. Each lesson leaves a
screenshot in `build/screenshots/`.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pathlib
import shutil
import tempfile
from collections.abc import Callable

import notebook_tool
import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect

from tests import chromium, lab_notebook, lab_server

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SERVED_FOLDERS = ROOT / "build" / "browser-lessons"  # one fresh copy of the lessons per run
SCREENSHOTS = ROOT / "build" / "screenshots"
LESSONS = sorted(path.name for path in NOTEBOOKS.glob("*.ipynb"))
EXPLORER_LESSON = "01_what_a_learning_rate_does.ipynb"
CLINIC_LESSON = "05_diagnosing_the_learning_rate.ipynb"
WIDGET_LESSONS = (EXPLORER_LESSON, CLINIC_LESSON)  # run completely by the test command too
# A lesson's first cell shows the Colab and Binder badges, images from outside (offline: alt text).
BADGE_IMAGES = {notebook_tool.COLAB_BADGE_IMAGE, notebook_tool.BINDER_BADGE_IMAGE}
RUN_EVERY_LESSON = os.environ.get("COURSE_BROWSER_LESSONS") == "all"  # `make browser-lessons`
LESSON_SECONDS = 600  # the longest wait for a lesson's cells: fast mode takes 5-60 s alone
WIDGET_SECONDS = 60  # the longest wait for a widget to draw or redraw
SETUP_LINE = "fast mode (CI)"  # the setup cell says so when the kernel has COURSE_FAST=1


def digest(path: pathlib.Path) -> str:
    """Returns the SHA-256 of the file's bytes, in hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def digests(folder: pathlib.Path) -> dict[str, str]:
    """Returns {lesson file name: `digest`} for the lessons in `folder`."""
    return {name: digest(folder / name) for name in LESSONS}


@pytest.fixture(scope="module")
def pristine_lessons() -> dict[str, str]:
    """The digests of `notebooks/`'s lessons before JupyterLab starts."""
    return digests(NOTEBOOKS)


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module (skips, or fails in CI, without one)."""
    with chromium.launched_browser() as browser:
        yield browser


@pytest.fixture(scope="module")
def lab(pristine_lessons, browser, tmp_path_factory):
    """JupyterLab serving a fresh copy of the lessons under `build/browser-lessons/`.

    It asks for `browser` first, so that a machine without Chromium skips before a server starts.
    """
    SERVED_FOLDERS.mkdir(parents=True, exist_ok=True)
    served = pathlib.Path(tempfile.mkdtemp(prefix="run-", dir=SERVED_FOLDERS))
    try:
        for name in LESSONS:
            shutil.copyfile(NOTEBOOKS / name, served / name)
        with lab_server.running_lab(served, tmp_path_factory.mktemp("jupyterlab")) as server:
            yield server
    finally:
        shutil.rmtree(served, ignore_errors=True)


def error_report(notebook: lab_notebook.LabNotebook) -> list[str]:
    """Returns one line per error: each cell's error outputs, then the kernel's other errors
    (a widget callback's error reaches no cell: the kernel sends it for the widget's message)."""
    problems = [
        f"cell {cell['index']} `{cell['source']}`: {error['ename']}: {error['evalue']}"
        for cell in notebook.code_cells()
        for error in cell["errors"]
    ]
    problems += [
        f"{error['ename']}: {error['evalue']} (while handling a {error['during']})"
        for error in notebook.kernel_errors()
        if error["during"] != "execute_request"
    ]
    return problems


def setup_cell(cells: list[dict]) -> dict:
    """Returns the summary of the cell tagged `setup` among `LabNotebook.code_cells()`."""
    tagged = [cell for cell in cells if "setup" in cell["tags"]]
    assert tagged, "no code cell is tagged 'setup'"
    return tagged[0]


def assert_no_errors(notebook: lab_notebook.LabNotebook, after: str) -> None:
    """Fails, naming each error's cell, name and value, if the notebook shows any error."""
    problems = error_report(notebook)
    assert problems == [], f"{notebook.path}, after {after}:\n" + "\n".join(problems)


def move_explorer_slider(notebook: lab_notebook.LabNotebook) -> None:
    """Lesson 01: two PageUp presses on the explorer's slider handle redraw the verdict and plot.

    Each PageUp moves the log-scale slider by 5 steps of 0.05 decades: 0.05 becomes 0.158.
    """
    cell = notebook.cell("lr_explorer.build_explorer(")
    image = cell.locator(".widget-image")
    verdict = cell.locator(".widget-html")
    readout = cell.locator(".widget-readout")
    expect(image).to_be_visible(timeout=WIDGET_SECONDS * 1000)
    rate_before = readout.inner_text()
    verdict_before = verdict.inner_text()
    image_before = notebook.image_bytes(image)
    handle = cell.locator(".noUi-handle").first
    handle.focus()
    handle.press("PageUp")
    handle.press("PageUp")
    rate_after = readout.inner_text()
    assert rate_after != rate_before, f"the slider did not move from {rate_before}"
    # The verdict names the new rate once the kernel has redrawn; the image follows it.
    expect(verdict).to_contain_text(f"learning_rate={rate_after}:", timeout=WIDGET_SECONDS * 1000)
    notebook.wait_for(
        "(path) => courseTest.kernelIdle(path)", WIDGET_SECONDS, "idle kernel after the slider"
    )
    image_after = notebook.image_bytes(image)
    assert image_before.startswith(b"\x89PNG") and image_after.startswith(b"\x89PNG")
    assert image_after != image_before, (
        f"the plot did not change when the rate went from {rate_before} to {rate_after} "
        f"(verdict before: {verdict_before!r}, after: {verdict.inner_text()!r})"
    )
    assert_no_errors(notebook, f"moving the explorer's slider to {rate_after}")


def train_in_clinic(notebook: lab_notebook.LabNotebook) -> None:
    """Lesson 05: the clinic's Train button trains a head, then shows a verdict and its plot."""
    cell = notebook.cell("lr_clinic.build_clinic(")
    verdict = cell.locator(".widget-html")
    expect(verdict).to_have_text("")
    cell.get_by_role("button", name="Train").click()
    expect(verdict).not_to_have_text("", timeout=WIDGET_SECONDS * 1000)
    expect(cell.locator(".widget-output img")).to_be_visible(timeout=WIDGET_SECONDS * 1000)
    notebook.wait_for(
        "(path) => courseTest.kernelIdle(path)", WIDGET_SECONDS, "idle kernel after Train"
    )
    assert_no_errors(notebook, "training in the clinic")


# What a learner does with a lesson's widgets after Run All.
WIDGET_CHECKS: dict[str, Callable[[lab_notebook.LabNotebook], None]] = {
    EXPLORER_LESSON: move_explorer_slider,
    CLINIC_LESSON: train_in_clinic,
}


def test_widget_lessons_exist():
    # A renamed lesson must not silently drop out of the test command's complete runs.
    assert set(WIDGET_LESSONS) <= set(LESSONS)


@pytest.mark.parametrize("lesson", LESSONS, ids=[pathlib.Path(name).stem for name in LESSONS])
def test_lesson_runs_in_jupyterlab(lesson, lab, browser, pristine_lessons):
    runs_completely = RUN_EVERY_LESSON or lesson in WIDGET_LESSONS
    workspace = pathlib.Path(lesson).stem
    with lab_notebook.open_notebook(browser, lab, lesson, workspace) as notebook:
        try:
            setup_index = setup_cell(notebook.code_cells())["index"]
            if runs_completely:
                notebook.run_all(LESSON_SECONDS)
            else:
                notebook.run_cell(setup_index, LESSON_SECONDS)
            assert_no_errors(notebook, "Run All" if runs_completely else "the setup cell")
            cells = notebook.code_cells()
            setup = setup_cell(cells)
            # The kernel's first execution, in fast mode: it inherited the server's environment.
            assert setup["executionCount"] == 1, f"setup cell ran as [{setup['executionCount']}]"
            assert SETUP_LINE in setup["text"], f"the setup cell printed {setup['text']!r}"
            if runs_completely:
                not_run = [cell["index"] for cell in cells if cell["executionCount"] is None]
                assert not_run == [], f"Run All left cells {not_run} of {lesson} unexecuted"
                notebook.wait_for_widgets(WIDGET_SECONDS)
                if lesson in WIDGET_CHECKS:
                    WIDGET_CHECKS[lesson](notebook)
            else:
                notebook.scroll_to_cell(setup_index)
            notebook.save()
            # JupyterLab wrote the outputs into the served copy, never into notebooks/.
            assert digest(lab.root_dir / lesson) != pristine_lessons[lesson]
            # Only the lesson's two badge images may come from outside (offline: their alt text).
            outside = set(notebook.blocked_requests) - BADGE_IMAGES
            assert outside == set(), f"the page asked for addresses off 127.0.0.1: {outside}"
        finally:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(PlaywrightError):
                notebook.page.screenshot(path=SCREENSHOTS / f"{workspace}.png")


def test_pristine_lessons_are_unchanged(lab, pristine_lessons):
    # Runs after the lessons above (in file order), once JupyterLab saved its copies.
    assert digests(NOTEBOOKS) == pristine_lessons
