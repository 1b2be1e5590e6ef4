"""The project's JupyterLab, started for a test on localhost and stopped afterwards.

`running_lab(root_dir, state_dir)` serves one folder with a token on a free port, in an isolated
HOME, runtime and workspaces folder, with the course's lab settings
(`scripts/jupyterlab_overrides.json`: no news, no update check, the kernel starts by itself) and
the test command's environment (fast mode, quiet TensorFlow), which every kernel inherits.
`tests/test_browser_lessons.py` drives it with headless Chromium; `tests/test_lab_command.py`
shares `free_port` and `api_get`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAB_OVERRIDES = ROOT / "scripts" / "jupyterlab_overrides.json"
STARTUP_SECONDS = 120  # JupyterLab's first start builds its settings; 2 shared CPUs are slow
STOP_SECONDS = 30  # a clean stop shuts every kernel down first
# What the kernels see, as in the test command: fast mode and no TensorFlow log noise.
KERNEL_ENVIRONMENT = {
    "COURSE_FAST": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
}


def free_port() -> int:
    """Returns a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def api_get(port: int, token: str, path: str, timeout: float = 10):
    """GETs `path` from the server's HTTP API on 127.0.0.1 and returns the decoded JSON."""
    return _api_call(port, token, path, "GET", timeout)


def _api_call(port: int, token: str, path: str, method: str, timeout: float):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}",
        headers={"Authorization": f"token {token}"},
        method=method,
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


@dataclasses.dataclass
class LabServer:
    """A running JupyterLab: where it listens, what it serves, and its log."""

    port: int
    token: str
    root_dir: pathlib.Path  # the folder it serves
    process: subprocess.Popen
    log_path: pathlib.Path  # the server's stdout and stderr

    def workspace_url(self, workspace: str, path: str) -> str:
        """Returns the URL that opens `path` (relative to `root_dir`) in a fresh `workspace`.

        `?reset` starts the workspace empty, whatever an earlier visit left in it.
        """
        quoted_path = urllib.parse.quote(path)
        return (
            f"http://127.0.0.1:{self.port}/lab/workspaces/{workspace}/tree/{quoted_path}"
            f"?reset&token={self.token}"
        )

    def log_tail(self, lines: int = 40) -> str:
        """Returns the last `lines` lines of the server's log, for failure messages."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def shut_down_kernels(self) -> None:
        """Asks the server to stop every kernel it runs; best effort (used before a stop)."""
        with contextlib.suppress(OSError, ValueError):
            for kernel in api_get(self.port, self.token, "/api/kernels"):
                _api_call(self.port, self.token, f"/api/kernels/{kernel['id']}", "DELETE", 30)


def server_command(
    root_dir: pathlib.Path, port: int, token: str, state_dir: pathlib.Path
) -> list[str]:
    """Returns the command line of a JupyterLab serving `root_dir` for a browser test.

    Args:
        root_dir: pathlib.Path, the folder the server serves.
        port: int, the port on 127.0.0.1.
        token: str, the token every request must carry.
        state_dir: pathlib.Path, holds the workspaces and lab settings folders.

    Returns:
        The arguments for `subprocess.Popen`.
    """
    jupyter = pathlib.Path(sys.executable).with_name("jupyter")  # the project's environment
    command = [
        str(jupyter),
        "lab",
        "--no-browser",
        "--ip=127.0.0.1",
        f"--port={port}",
        "--port-retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        # `window.jupyterapp`: the tests read the notebook model instead of scraping the page.
        "--LabApp.expose_app_in_browser=True",
        f"--LabApp.workspaces_dir={state_dir / 'workspaces'}",
        f"--LabApp.app_settings_dir={state_dir / 'settings'}",
        "--LabApp.extension_manager=readonly",  # no extension listing from PyPI
    ]
    if os.getuid() == 0:
        command.append("--allow-root")  # as `make lab` on these machines
    return command


def server_environment(state_dir: pathlib.Path) -> dict[str, str]:
    """Returns the server's environment: isolated HOME and runtime folder, `KERNEL_ENVIRONMENT`.

    The test command's `MPLBACKEND=Agg` is dropped, so that kernels draw inline as for a learner.
    """
    environment = {**os.environ, **KERNEL_ENVIRONMENT}
    environment.pop("MPLBACKEND", None)
    environment["HOME"] = str(state_dir / "home")
    environment["JUPYTER_RUNTIME_DIR"] = str(state_dir / "runtime")
    for name in ("JUPYTER_CONFIG_DIR", "JUPYTER_DATA_DIR", "JUPYTERLAB_SETTINGS_DIR"):
        environment.pop(name, None)  # the defaults live under the isolated HOME
    return environment


@contextlib.contextmanager
def running_lab(root_dir: pathlib.Path, state_dir: pathlib.Path) -> Iterator[LabServer]:
    """Runs the project's JupyterLab on `root_dir` until the block ends, then stops it.

    The server answers on 127.0.0.1 only, with a random token, in its own process group. Its
    HOME, runtime folder, workspaces and lab settings (a copy of `LAB_OVERRIDES`) live under
    `state_dir`. On exit the kernels are shut down and the whole process group is stopped
    (SIGTERM, then SIGKILL after `STOP_SECONDS`).

    Example:

        with running_lab(build_folder, tmp_path) as server:
            page.goto(server.workspace_url("lesson01", "01_what_a_learning_rate_does.ipynb"))

    Args:
        root_dir: pathlib.Path, the folder to serve. Running a notebook in JupyterLab saves its
            outputs into the file, so serve a copy, never the pristine lessons.
        state_dir: pathlib.Path, an empty folder for the server's own files.

    Yields:
        A `LabServer`.

    Raises:
        RuntimeError: if the server exits or does not answer within `STARTUP_SECONDS`, with
            the tail of its log.
    """
    for folder in ("home", "runtime", "workspaces", "settings"):
        (state_dir / folder).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(LAB_OVERRIDES, state_dir / "settings" / "overrides.json")
    port = free_port()
    token = os.urandom(16).hex()
    log_path = state_dir / "jupyterlab.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            server_command(root_dir, port, token, state_dir),
            cwd=ROOT,
            env=server_environment(state_dir),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as a whole
        )
    server = LabServer(port, token, root_dir, process, log_path)
    try:
        _wait_until_serving(server)
        yield server
    finally:
        _stop(server)


def _wait_until_serving(server: LabServer) -> None:
    started = time.monotonic()
    while time.monotonic() - started < STARTUP_SECONDS:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited with status {server.process.returncode} before serving:\n"
                f"{server.log_tail()}"
            )
        try:
            api_get(server.port, server.token, "/api/status", timeout=5)
            return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(
        f"JupyterLab did not answer on port {server.port} within {STARTUP_SECONDS} s:\n"
        f"{server.log_tail()}"
    )


def _stop(server: LabServer) -> None:
    if server.process.poll() is None:
        server.shut_down_kernels()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=STOP_SECONDS)
