"""Finds the course for the setup cell; in a fresh Colab runtime, clones its release first.

The setup cell (`helpers/lessons/setup_cell.py`) copies this file verbatim: in a fresh Colab
runtime `helpers` does not exist until this code has cloned it, so it uses the standard library
only. The clone is quiet, all or nothing (git writes into a temporary sibling folder that is
renamed into place once complete, so a retry after any failure just works), fails within about
10 s when the runtime is offline or the server stalls, and raises one `RuntimeError` that names
the cause and the fix. `tests/test_colab_clone.py` tests it; `tests/test_colab.py` runs it in a
simulated Colab runtime.
"""

import importlib.util
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import urllib.parse
import urllib.request

COURSE_MARKER = pathlib.Path("helpers", "lessons", "course.py")  # only the course's root holds it
CONNECT_SECONDS = 5  # an unreachable server (offline, a dropped connection) fails after this
STALL_SECONDS = 8  # git gives up when it receives < STALL_BYTES_PER_SECOND for this long
STALL_BYTES_PER_SECOND = 1000
CLONE_SECONDS = 300  # a backstop: the clone (about 3 MB) is killed after this, however it goes
PARTIAL_SUFFIX = ".partial-"  # an unfinished clone of <folder> is <folder>.partial-<random>

# Words in git's last line of errors, and what they mean for a learner.
UNKNOWN_REF_WORDS = ("Remote branch",)
OFFLINE_WORDS = ("Could not resolve host", "Failed to connect", "Couldn't connect", "unreachable")
STALL_WORDS = ("Operation too slow", "timed out")
MISSING_REPOSITORY_WORDS = ("not found", "could not read Username", "does not appear to be a git")


def is_colab() -> bool:
    """Returns whether this Python runs in Google Colab (whether `google.colab` is importable).

    Example:

    >>> is_colab()
    False
    """
    try:
        return importlib.util.find_spec("google.colab") is not None
    except ModuleNotFoundError:  # no `google` package at all
        return False


def find_course_root(repository_url: str, ref: str, colab_folder: str) -> pathlib.Path:
    """Returns the course's root folder: the working directory's or a parent's, or Colab's clone.

    JupyterLab and nbval run a lesson from inside the repository: the folder holding
    `helpers/lessons/course.py` is found by walking up from the working directory. In Colab,
    `clone_course` clones the release `ref` into `colab_folder` unless it is already there.

    Args:
        repository_url: str, where Colab clones the course from.
        ref: str, the release tag to clone (`course.COURSE_REF`).
        colab_folder: str, the folder Colab clones into.

    Returns:
        The course's root folder.

    Raises:
        RuntimeError: outside the course and outside Colab, or if the clone fails.

    Example:

    >>> root = find_course_root("unused", "unused", "unused")
    >>> (root / "helpers" / "lessons" / "course.py").is_file()
    True
    """
    folders = [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]
    for folder in folders:
        if (folder / COURSE_MARKER).is_file():
            return folder
    if is_colab():
        return clone_course(repository_url, ref, colab_folder)
    raise RuntimeError(
        f"Cannot find the course's helpers/ folder from {pathlib.Path.cwd()}: "
        "open the lesson with `make lab`, or in Google Colab."
    )


def clone_course(
    repository_url: str,
    ref: str,
    folder: str | os.PathLike,
    *,
    connect_seconds: float = CONNECT_SECONDS,
    stall_seconds: int = STALL_SECONDS,
    clone_seconds: float = CLONE_SECONDS,
) -> pathlib.Path:
    """Clones release `ref` of the course into `folder`, unless a complete clone is there already.

    git clones into a temporary sibling folder, which is renamed to `folder` only once complete;
    unfinished clones left by an earlier failure are deleted first.

    Args:
        repository_url: str, the course's git repository (a URL or a local path).
        ref: str, the tag (or branch) to clone.
        folder: str or path, where the course goes.
        connect_seconds: float, how long an http(s) server may take to accept a connection.
            Defaults to 5.
        stall_seconds: int, how long an http(s) transfer may stay below 1000 bytes per second.
            Defaults to 8.
        clone_seconds: float, the most the whole clone may take. Defaults to 300.

    Returns:
        `folder`, as a `pathlib.Path`.

    Raises:
        RuntimeError: naming the cause (offline, no such release, a stalled server, no such
            repository) and the fix, with git's own message.

    Example:

    >>> import pathlib
    >>> course_root = pathlib.Path(__file__).resolve().parents[2]
    >>> clone_course("unused", "unused", course_root) == course_root  # already there: no clone
    True
    """
    folder = pathlib.Path(folder)
    if (folder / COURSE_MARKER).is_file():
        return folder
    remove_partial_clones(folder)
    check_reachable(repository_url, ref, connect_seconds)
    print(f"Cloning the course's release {ref} into {folder} ...")
    partial = pathlib.Path(tempfile.mkdtemp(prefix=folder.name + PARTIAL_SUFFIX, dir=folder.parent))
    command = [
        "git",
        *("-c", "advice.detachedHead=false"),
        *("-c", f"http.lowSpeedLimit={STALL_BYTES_PER_SECOND}"),
        *("-c", f"http.lowSpeedTime={stall_seconds}"),
        *("clone", "--quiet", "--depth=1", "--branch", ref, "--", repository_url, str(partial)),
    ]
    try:
        run_git(command, repository_url, ref, clone_seconds)
        partial.rename(folder)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return folder


def remove_partial_clones(folder: pathlib.Path) -> None:
    """Deletes unfinished clones: `folder`'s `.partial-*` siblings, and `folder` if only `.git`.

    Older setup cells cloned straight into `folder`; an interrupted clone left only `.git`
    there, which blocked every retry. Anything else in `folder` is left alone.

    Raises:
        RuntimeError: if `folder` exists and holds something other than the course.

    Example:

    >>> import tempfile
    >>> folder = pathlib.Path(tempfile.mkdtemp(), "course")
    >>> (folder / ".git").mkdir(parents=True)
    >>> remove_partial_clones(folder)
    >>> folder.exists()
    False
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    for partial in folder.parent.glob(folder.name + PARTIAL_SUFFIX + "*"):
        shutil.rmtree(partial, ignore_errors=True)
    if not folder.exists():
        return
    contents = sorted(path.name for path in folder.iterdir())
    if contents not in ([], [".git"]):
        raise RuntimeError(
            f"{folder} exists but is not the course (it holds {contents[:5]}). "
            f"Fix: move or delete it (`!rm -rf {folder}`), then run this cell again."
        )
    shutil.rmtree(folder)


def check_reachable(repository_url: str, ref: str, connect_seconds: float) -> None:
    """Raises a clear error unless an http(s) repository's server accepts a connection in time.

    git (through curl) waits minutes for a connection that is never answered, and its
    `http.lowSpeedTime` does not cover connecting, so this opens one first with a time limit.
    Other URLs (a local path, ssh) and connections through a proxy are not checked.

    Raises:
        RuntimeError: if the host name does not resolve or the server does not accept a
            connection within `connect_seconds`.

    Example:

    >>> check_reachable("/a/local/path.git", "v1.0.0", connect_seconds=5)  # not http: no check
    """
    address = urllib.parse.urlsplit(repository_url)
    if address.scheme not in ("http", "https") or urllib.request.getproxies().get(address.scheme):
        return  # not http(s), or through a proxy, which git knows and this check does not
    port = address.port or (443 if address.scheme == "https" else 80)
    where = f"{address.hostname} port {port}"
    failures = [f"Failed to connect to {where}: no answer within {connect_seconds} s"]

    def connect() -> None:
        try:
            socket.create_connection((address.hostname, port), timeout=connect_seconds).close()
            failures.clear()
        except socket.gaierror:
            failures[0] = f"Could not resolve host: {address.hostname}"
        except TimeoutError:
            pass  # the failure already says so
        except OSError as error:
            failures[0] = f"Failed to connect to {where}: {error.strerror or error}"

    # In a thread, so that name resolution, which has no time limit of its own, gets one too.
    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(timeout=connect_seconds + 0.5)
    if failures:  # still the first one if the thread is still waiting
        raise RuntimeError(failure_message(failures[0], repository_url, ref))


def run_git(command: list[str], repository_url: str, ref: str, clone_seconds: float) -> None:
    """Runs git with no prompt and a time limit; raises `failure_message`'s error if it fails."""
    environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # a private URL must not wait
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=environment,
            start_new_session=True,  # so git's helpers (git-remote-https) can be stopped with it
        )
    except FileNotFoundError:
        raise RuntimeError("git is not installed: install it, then run this cell again.") from None
    try:
        _, errors = process.communicate(timeout=clone_seconds)
    except subprocess.TimeoutExpired:
        errors = f"git was stopped after {clone_seconds} s (timed out)"
    finally:
        if process.poll() is None:  # timed out, or the learner pressed stop
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    if process.returncode != 0:
        lines = errors.strip().splitlines() or [f"git exited with status {process.returncode}"]
        raise RuntimeError(failure_message(lines[-1], repository_url, ref))


def failure_message(detail: str, repository_url: str, ref: str) -> str:
    """Returns what a failed clone means for a learner: the cause, `detail` (git's words), the fix.

    Example:

    >>> detail = "fatal: Remote branch v9.9.9 not found in upstream origin"
    >>> print(failure_message(detail, "https://example.org/course.git", "v9.9.9"))
    Could not clone the course's release v9.9.9 from https://example.org/course.git: the
    repository has no release v9.9.9. (fatal: Remote branch v9.9.9 not found in upstream origin)
    Fix: open the lesson from a Colab link in the course's README, which names a release.
    """
    if any(words in detail for words in UNKNOWN_REF_WORDS):
        cause = f"the repository has no release {ref}"
        fix = "open the lesson from a Colab link in the course's README, which names a release"
    elif any(words in detail for words in OFFLINE_WORDS):
        cause = "the runtime seems offline (the server cannot be reached)"
        fix = "check the internet connection, then run this cell again"
    elif any(words in detail for words in STALL_WORDS):
        cause = "the server stopped answering (timeout)"
        fix = "run this cell again; a failed clone leaves nothing behind"
    elif any(words in detail for words in MISSING_REPOSITORY_WORDS):
        cause = "there is no course repository at that address"
        fix = "check the address (the environment variable COURSE_REPOSITORY_URL, if set)"
    else:
        cause = "git failed"
        fix = "run this cell again; if it fails again, report git's message above"
    return (
        f"Could not clone the course's release {ref} from {repository_url}: {cause}.\n"
        f"({detail})\nFix: {fix}."
    )
