"""The README's lab command serves the learner's copies: JupyterLab answers on localhost."""

import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

from tests import lab_server

ROOT = pathlib.Path(__file__).resolve().parents[1]


def wait_for_contents(server: subprocess.Popen, port: int, token: str):
    """Polls the contents API until the server answers; `None` if it exits or time runs out."""
    deadline = time.monotonic() + lab_server.STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            return None
        try:
            return lab_server.api_get(port, token, "/api/contents", timeout=5)
        except OSError:
            time.sleep(1)
    return None


def schema_default(port: int, token: str, plugin: str, setting: str):
    settings = lab_server.api_get(port, token, f"/lab/api/settings/{plugin}")
    return settings["schema"]["properties"][setting]["default"]


def test_make_lab_serves_the_learners_copies(tmp_path):
    port = lab_server.free_port()
    token = "course-test-token"
    arguments = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    (ROOT / "build").mkdir(exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(dir=ROOT / "build", prefix="lab-work-"))
    environment = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(tmp_path),
        "HOME": str(tmp_path),
        "COURSE_WORK_DIR": str(work),
    }
    server = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={arguments}"],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        contents = wait_for_contents(server, port, token)
        if contents is None:
            exited = server.poll() is not None
            reason = server.stderr.read().decode() if exited else "no answer"
            raise AssertionError(f"make lab did not serve the notebooks: {reason}")
        # The server's root is the work folder, laid out like the repository, not notebooks/.
        assert {item["name"] for item in contents["content"]} >= {"README.md", "notebooks"}
        served = {
            item["name"]
            for item in lab_server.api_get(port, token, "/api/contents/notebooks")["content"]
        }
        assert {path.name for path in (ROOT / "notebooks").glob("*.ipynb")} <= served
        assert (work / "notebooks" / "01_what_a_learning_rate_does.ipynb").read_bytes() == (
            ROOT / "notebooks" / "01_what_a_learning_rate_does.ipynb"
        ).read_bytes()
        # The course's overrides are JupyterLab's defaults: no "Jupyter news", no kernel dialog.
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
        shutil.rmtree(work, ignore_errors=True)
