"""The README's lab command serves the course: JupyterLab's HTTP API answers on localhost."""

import json
import os
import pathlib
import signal
import socket
import subprocess
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def schema_default(port: int, token: str, plugin: str, setting: str):
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/lab/api/settings/{plugin}",
        headers={"Authorization": f"token {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)["schema"]["properties"][setting]["default"]


def test_make_lab_serves_the_notebooks(tmp_path):
    port = free_port()
    token = "course-test-token"
    arguments = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    environment = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path)}
    server = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={arguments}"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        contents = None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and server.poll() is None:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/api/contents",
                    headers={"Authorization": f"token {token}"},
                )
                with urllib.request.urlopen(request, timeout=5) as response:
                    contents = json.load(response)
                break
            except OSError:
                time.sleep(1)
        assert contents is not None, (
            server.stderr.read().decode() if server.poll() is not None else "no answer"
        )
        served = {item["name"] for item in contents["content"]}
        assert {path.name for path in (ROOT / "notebooks").glob("*.ipynb")} <= served
        # The course's overrides become JupyterLab's defaults: no "Jupyter news" pop-up, no kernel dialog.
        news = schema_default(
            port, token, "@jupyterlab/apputils-extension:notification", "fetchNews"
        )
        kernel = schema_default(
            port, token, "@jupyterlab/notebook-extension:tracker", "autoStartDefaultKernel"
        )
        assert (news, kernel) == ("false", True)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
