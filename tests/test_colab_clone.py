"""The setup cell's Colab clone: quiet, all or nothing, fast and clear when it fails.

A tiny local repository stands in for the course; local TCP servers stand in for a network that
refuses, never answers a connection, or answers nothing. The timing tests use the real default
limits (`colab_clone.CONNECT_SECONDS`, `STALL_SECONDS`), so they take about 5 and 8 seconds.
"""

import contextlib
import os
import pathlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from helpers.lessons import colab_clone

RELEASE = "v1.0.0"
LEARNER_LIMIT_SECONDS = 10  # the budget: a failed clone says why within this


def git(*arguments: str, cwd: pathlib.Path) -> str:
    environment = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Test",
        "GIT_AUTHOR_EMAIL": "test@example.org",
        "GIT_COMMITTER_NAME": "Test",
        "GIT_COMMITTER_EMAIL": "test@example.org",
    }
    completed = subprocess.run(
        ["git", *arguments], cwd=cwd, env=environment, capture_output=True, text=True, check=True
    )
    return completed.stdout.strip()


@pytest.fixture(scope="module")
def repository_url(tmp_path_factory) -> str:
    """A repository shaped like the course (it holds the marker file), tagged RELEASE."""
    folder = tmp_path_factory.mktemp("course-repository")
    marker = folder / colab_clone.COURSE_MARKER
    marker.parent.mkdir(parents=True)
    marker.write_text(f'COURSE_REF = "{RELEASE}"\n')
    git("init", "--quiet", cwd=folder)
    git("add", ".", cwd=folder)
    git("commit", "--quiet", "-m", "A course", cwd=folder)
    git("tag", "-a", RELEASE, "-m", RELEASE, cwd=folder)
    return folder.as_uri()  # file://: a real (shallow) clone, not a local copy of the objects


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A server that accepts every connection and never sends a byte; yields its port."""
    server = socket.create_server(("127.0.0.1", 0))
    connections = []

    def accept() -> None:
        with contextlib.suppress(OSError):
            while True:
                connections.append(server.accept()[0])

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield server.getsockname()[1]
    finally:
        server.close()
        for connection in connections:
            connection.close()


@contextlib.contextmanager
def unanswered_port() -> Iterator[int]:
    """A port that never accepts a connection: its queue is full, so Linux drops new SYNs."""
    server = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = server.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port), timeout=1)
    try:
        yield port
    finally:
        filler.close()
        server.close()


def clone_failure(url: str, folder: pathlib.Path, **limits) -> tuple[RuntimeError, float]:
    """Runs a clone that must fail; returns its error and how long it took, in seconds."""
    start = time.monotonic()
    with pytest.raises(RuntimeError) as caught:
        colab_clone.clone_course(url, RELEASE, folder, **limits)
    return caught.value, time.monotonic() - start


def assert_nothing_left(folder: pathlib.Path) -> None:
    assert sorted(path.name for path in folder.parent.iterdir()) == []


def test_the_clone_lands_quietly_in_its_folder_and_is_reused(repository_url, tmp_path, capfd):
    folder = tmp_path / "content" / "gentle-fine-tuning"
    assert colab_clone.clone_course(repository_url, RELEASE, folder) == folder
    assert (folder / colab_clone.COURSE_MARKER).read_text() == f'COURSE_REF = "{RELEASE}"\n'
    assert git("rev-parse", "--is-shallow-repository", cwd=folder) == "true"
    assert sorted(path.name for path in folder.parent.iterdir()) == ["gentle-fine-tuning"]
    output = capfd.readouterr()
    assert output.out == f"Cloning the course's release {RELEASE} into {folder} ...\n"
    assert output.err == ""  # no "detached HEAD" advice, no progress
    # A second setup cell finds the clone: it neither clones nor prints.
    assert colab_clone.clone_course("/nowhere.git", RELEASE, folder) == folder
    assert capfd.readouterr().out == ""


def test_an_unknown_release_names_the_release_and_leaves_nothing(repository_url, tmp_path):
    folder = tmp_path / "content" / "course"
    with pytest.raises(RuntimeError, match=r"(?s)has no release v9\.9\.9.*Remote branch v9\.9\.9"):
        colab_clone.clone_course(repository_url, "v9.9.9", folder)
    assert_nothing_left(folder)


def test_offline_fails_at_once_saying_so(tmp_path):
    folder = tmp_path / "content" / "course"
    for url in [f"http://127.0.0.1:{closed_port()}/course.git", "https://course.invalid/x.git"]:
        error, seconds = clone_failure(url, folder)
        assert "the runtime seems offline" in str(error) and "check the internet" in str(error)
        assert seconds < LEARNER_LIMIT_SECONDS
        assert error.__context__ is None  # one error: no chained traceback
    assert_nothing_left(folder)


def test_a_connection_never_accepted_fails_within_the_connect_limit(tmp_path):
    """git alone waits minutes here: `http.lowSpeedTime` does not cover connecting."""
    folder = tmp_path / "content" / "course"
    with unanswered_port() as port:
        error, seconds = clone_failure(f"http://127.0.0.1:{port}/course.git", folder)
    assert "offline" in str(error) and f"port {port}" in str(error)
    assert colab_clone.CONNECT_SECONDS <= seconds < LEARNER_LIMIT_SECONDS
    assert_nothing_left(folder)


def test_a_server_that_answers_nothing_fails_within_the_stall_limit(tmp_path):
    folder = tmp_path / "content" / "course"
    with silent_server() as port:
        error, seconds = clone_failure(f"http://127.0.0.1:{port}/course.git", folder)
    assert "stopped answering (timeout)" in str(error) and "Operation too slow" in str(error)
    assert colab_clone.STALL_SECONDS <= seconds < LEARNER_LIMIT_SECONDS
    assert_nothing_left(folder)


def test_the_time_limit_stops_a_clone_the_stall_limit_does_not_cover(tmp_path):
    """git:// has no low-speed limit: the backstop (300 s by default; 2 s here) stops it."""
    folder = tmp_path / "content" / "course"
    with silent_server() as port:
        error, seconds = clone_failure(
            f"git://127.0.0.1:{port}/course.git", folder, clone_seconds=2
        )
    assert "stopped after 2 s (timed out)" in str(error) and "run this cell again" in str(error)
    assert seconds < 5
    assert_nothing_left(folder)


def test_name_resolution_that_hangs_is_cut_short(tmp_path, monkeypatch):
    def hanging_resolver(*arguments, **keywords):
        time.sleep(3)
        raise socket.gaierror("no answer")

    monkeypatch.setattr(socket, "getaddrinfo", hanging_resolver)
    error, seconds = clone_failure(
        "https://github.com/x.git", tmp_path / "course", connect_seconds=0.5
    )
    assert "offline" in str(error) and seconds < 2


def test_a_retry_after_failures_just_works(repository_url, tmp_path):
    """Leftovers of killed clones (a partial sibling; an older cell's lone .git) are cleared."""
    folder = tmp_path / "content" / "gentle-fine-tuning"
    clone_failure(f"http://127.0.0.1:{closed_port()}/course.git", folder)
    (folder.parent / "gentle-fine-tuning.partial-killed" / ".git").mkdir(parents=True)
    (folder / ".git" / "objects").mkdir(parents=True)
    colab_clone.clone_course(repository_url, RELEASE, folder)
    assert (folder / colab_clone.COURSE_MARKER).is_file()
    assert sorted(path.name for path in folder.parent.iterdir()) == ["gentle-fine-tuning"]


def test_a_folder_holding_something_else_is_left_alone(repository_url, tmp_path):
    folder = tmp_path / "course"
    (folder / "my_notes.txt").parent.mkdir()
    (folder / "my_notes.txt").write_text("mine")
    with pytest.raises(RuntimeError, match=r"(?s)exists but is not the course.*my_notes\.txt"):
        colab_clone.clone_course(repository_url, RELEASE, folder)
    assert (folder / "my_notes.txt").read_text() == "mine"


def test_a_missing_git_is_named(repository_url, tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RuntimeError, match="git is not installed"):
        colab_clone.clone_course(repository_url, RELEASE, tmp_path / "course")


@pytest.mark.parametrize(
    ("detail", "cause"),
    [
        ("fatal: repository 'https://github.com/x/y.git/' not found", "no course repository"),
        ("fatal: could not read Username for 'https://github.com'", "no course repository"),
        ("fatal: early EOF", "git failed"),
    ],
)
def test_other_failures_are_explained(detail, cause):
    message = colab_clone.failure_message(detail, "https://github.com/x/y.git", RELEASE)
    assert cause in message and detail in message and "Fix: " in message


def test_outside_the_course_and_outside_colab_the_error_says_where_to_open_it(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(
        RuntimeError, match=r"(?s)Cannot find the course's helpers/ folder.*make lab"
    ):
        colab_clone.find_course_root("unused", RELEASE, str(tmp_path / "colab"))
