"""A notebook opened in JupyterLab by headless Chromium: run it, read its cells, wait for it.

`open_notebook(browser, server, path)` opens `path` in a fresh workspace of a
`lab_server.LabServer` and waits for its kernel. `LabNotebook` then runs cells through
JupyterLab's own commands (what the Run menu does) and reads the notebook's model through
`window.jupyterapp` with the helpers in `lab_notebook.js`. Every wait is bounded; a timeout fails
with what the notebook was doing and the tail of the server's log. Requests that would leave
127.0.0.1 are blocked and recorded. Used by `tests/test_browser_lessons.py`.
"""

from __future__ import annotations

import base64
import contextlib
import pathlib
import re
from collections.abc import Callable, Iterator

from playwright.sync_api import Browser, Locator, Page, Route
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests import lab_server

PAGE_HELPERS = pathlib.Path(__file__).with_name("lab_notebook.js")
VIEWPORT = {"width": 1280, "height": 1000}  # tall enough for lesson 01's explorer and its plot
OPEN_SECONDS = 120  # loading JupyterLab and starting a kernel, on 2 shared CPUs
POLL_MILLISECONDS = 250
LOCAL_ADDRESS = re.compile(r"^(https?|wss?)://127\.0\.0\.1[:/]")  # all the tests may reach


class LabNotebook:
    """One notebook in a Playwright page of JupyterLab, with its kernel started.

    Create it with `open_notebook`. `path` is relative to the server's root folder.
    """

    def __init__(
        self, page: Page, server: lab_server.LabServer, path: str, blocked_requests: list[str]
    ):
        self.page = page
        self.server = server
        self.path = path
        self.blocked_requests = blocked_requests  # URLs outside 127.0.0.1 the page asked for

    def wait_for(self, script: str, seconds: float, waiting_for: str) -> None:
        """Waits until the page function `script(path)` returns a true value.

        Args:
            script: str, a JavaScript arrow function of the notebook's path; `courseTest`
                holds the helpers of `lab_notebook.js`.
            seconds: float, the longest wait.
            waiting_for: str, what the wait is for, in words, for the failure message.

        Raises:
            AssertionError: when time runs out, saying what the notebook was doing and
                with the tail of the server's log.
        """
        try:
            self.page.wait_for_function(
                script,
                arg=self.path,
                timeout=seconds * 1000,
                polling=POLL_MILLISECONDS,
            )
        except PlaywrightTimeoutError:
            raise AssertionError(
                f"{self.path}: no {waiting_for} within {seconds} s. {self.progress()}\n"
                f"JupyterLab's log:\n{self.server.log_tail()}"
            ) from None

    def progress(self) -> str:
        """Returns one line on the kernel and the cells (executed, running) and any dialog."""
        try:
            dialog = self.page.evaluate(
                "() => document.querySelector('.jp-Dialog-header')?.textContent ?? null"
            )
            if dialog is not None:
                return f"JupyterLab shows a dialog: {dialog!r}."
            status = self.page.evaluate("(path) => courseTest.kernel(path)?.status", self.path)
            cells = self.code_cells()
        except PlaywrightError as error:  # e.g. the notebook never opened
            return f"(could not read the notebook: {error.message})"
        executed = [cell for cell in cells if cell["executionCount"] is not None]
        running = [f"cell {cell['index']} `{cell['source']}`" for cell in cells if cell["running"]]
        return (
            f"Kernel {status}; {len(executed)} of {len(cells)} code cells executed; "
            f"running: {', '.join(running) or 'none'}."
        )

    def run_command(self, command: str, seconds: float, cell_index: int | None = None) -> None:
        """Runs a JupyterLab command on the notebook and waits until it ends and the kernel idles.

        Args:
            command: str, a command id such as `"notebook:run-all-cells"`.
            seconds: float, the longest wait.
            cell_index: int or None, the cell to make active first. Defaults to `None`.

        Raises:
            AssertionError: when the command fails or time runs out.
        """
        self.page.evaluate(
            "([path, command, index]) => courseTest.startCommand(path, command, index)",
            [self.path, command, cell_index],
        )
        self.wait_for("(path) => courseTest.commandFinished(path)", seconds, f"end of {command}")
        failure = self.page.evaluate("() => courseTest.command.failure")
        if failure:
            raise AssertionError(f"{self.path}: {command} failed: {failure}")

    def run_all(self, seconds: float) -> None:
        """Runs every cell (Run > Run All Cells) and waits for the kernel to finish."""
        self.run_command("notebook:run-all-cells", seconds)

    def run_cell(self, index: int, seconds: float) -> None:
        """Runs the cell at `index` (Run > Run Selected Cell) and waits for it."""
        self.run_command("notebook:run-cell", seconds, cell_index=index)

    def save(self, seconds: float = 60) -> None:
        """Saves the notebook (File > Save), outputs included, into the served folder."""
        self.run_command("docmanager:save", seconds)

    def code_cells(self) -> list[dict]:
        """Returns one summary per code cell: `index`, `source` (its first line), `tags`,
        `executionCount`, `running`, `errors` (`ename`, `evalue`), `text` (what it printed) and
        `widgets` (its widget outputs)."""
        return self.page.evaluate("(path) => courseTest.codeCells(path)", self.path)

    def kernel_errors(self) -> list[dict]:
        """Returns the kernel's error messages since the notebook opened (`ename`, `evalue`,
        `during`: the request, e.g. `execute_request` for a cell or `comm_msg` for a widget)."""
        return self.page.evaluate("() => courseTest.kernelErrors")

    def wait_for_widgets(self, seconds: float) -> None:
        """Waits until every widget output is drawn as a widget.

        Raises:
            AssertionError: naming the cells whose widgets were not drawn in time.
        """
        try:
            self.wait_for(
                "(path) => courseTest.undrawnWidgetCells(path).length === 0",
                seconds,
                "drawn widgets",
            )
        except AssertionError as error:
            undrawn = self.page.evaluate("(path) => courseTest.undrawnWidgetCells(path)", self.path)
            raise AssertionError(f"widgets of cells {undrawn} not drawn: {error}") from None

    def cell(self, containing: str) -> Locator:
        """Returns the cell whose source contains `containing`, scrolled to the top of the view.

        Raises:
            AssertionError: if no cell contains it.
        """
        index = self.page.evaluate(
            "([path, text]) => courseTest.findCell(path, text)", [self.path, containing]
        )
        if index < 0:
            raise AssertionError(f"{self.path}: no cell contains {containing!r}")
        self.scroll_to_cell(index)
        return self.page.locator(".jp-NotebookPanel:visible .jp-Notebook .jp-Cell").nth(index)

    def scroll_to_cell(self, index: int) -> None:
        """Makes the cell at `index` active and scrolls it to the top of the notebook's view."""
        self.page.evaluate(
            "([path, index]) => courseTest.scrollToCell(path, index)", [self.path, index]
        )

    def image_bytes(self, image: Locator) -> bytes:
        """Returns the bytes the `<img>` element `image` shows (a widget's PNG)."""
        encoded = self.page.evaluate(
            "(image) => courseTest.imageBytes(image)", image.element_handle()
        )
        return base64.b64decode(encoded)


def _block_outside_requests(blocked_requests: list[str]) -> Callable[[Route], None]:
    """Returns a Playwright route handler that lets requests to 127.0.0.1 through and aborts the
    others, appending their URLs to `blocked_requests`."""

    def handle(route: Route) -> None:
        if LOCAL_ADDRESS.match(route.request.url):
            route.continue_()
        else:
            blocked_requests.append(route.request.url)
            route.abort()

    return handle


@contextlib.contextmanager
def open_notebook(
    browser: Browser, server: lab_server.LabServer, path: str, workspace: str
) -> Iterator[LabNotebook]:
    """Opens `path` in a fresh JupyterLab workspace and waits for its kernel; closes it after.

    Each notebook gets its own browser context (no shared storage) and workspace (`?reset`), so
    nothing from an earlier notebook leaks in. The left sidebar is collapsed for the screenshots.
    On exit the server shuts down every kernel, so the next notebook has the CPUs to itself.

    Args:
        browser: playwright.sync_api.Browser, from `chromium.launched_browser()`.
        server: lab_server.LabServer, serving the folder that holds `path`.
        path: str, the notebook's path relative to the server's root folder.
        workspace: str, a workspace name not used before on this server.

    Yields:
        A `LabNotebook`, its kernel idle and errors recorded from then on.

    Raises:
        AssertionError: if the notebook or its kernel is not ready within `OPEN_SECONDS`.
    """
    context = browser.new_context(viewport=VIEWPORT)
    blocked_requests: list[str] = []
    context.route("**/*", _block_outside_requests(blocked_requests))
    context.add_init_script(path=str(PAGE_HELPERS))
    try:
        page = context.new_page()
        page.goto(server.workspace_url(workspace, path), timeout=OPEN_SECONDS * 1000)
        notebook = LabNotebook(page, server, path, blocked_requests)
        notebook.wait_for(
            "(path) => courseTest.kernelReady(path)", OPEN_SECONDS, "notebook with an idle kernel"
        )
        page.evaluate("(path) => courseTest.watchKernel(path)", path)
        page.evaluate("() => window.jupyterapp.shell.collapseLeft()")
        yield notebook
    finally:
        context.close()
        server.shut_down_kernels()
