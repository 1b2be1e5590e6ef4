"""Runs one program as the workers of a TensorFlow cluster on this machine, and always stops them.

Lesson 08 trains in two worker processes under `tf.distribute.MultiWorkerMirroredStrategy`
(`helpers/lessons/scaling_worker.py`). A worker learns its place in the cluster from the
environment variable `TF_CONFIG`, a JSON object such as

    {"cluster": {"worker": ["127.0.0.1:5001", "127.0.0.1:5002"]},
     "task": {"type": "worker", "index": 1}}

(every worker's address, and which of them this process is). `launch(module, arguments)` does
what a cluster manager would do on one machine:

- `free_ports(workers)` picks a free port on 127.0.0.1 for each worker;
- `tf_config(addresses, index)` builds each worker's `TF_CONFIG`;
- each worker runs `python -m module arguments` in the course's root folder, with quiet
  TensorFlow logging, in a process group of its own;
- their output is shown as it comes, line by line, each line marked `[worker i]`;
- every worker is stopped before `launch` returns or raises: when all have ended, as soon as one
  fails (the others would wait for it forever inside an all-reduce), at `timeout` seconds, and on
  any exception, KeyboardInterrupt (a notebook's stop button) included. Stopping sends SIGTERM to
  the worker's process group and SIGKILL `GRACE_SECONDS` later.

`launch` returns a `WorkerResult` per worker, or raises `WorkerError` (a `RuntimeError` holding
them) naming the worker that failed or timed out, its exit code and its last lines. Process groups
are POSIX: this runs on Linux (Colab included) and macOS, not on Windows.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from helpers.finetune import validation
from helpers.lessons import course

HOST = "127.0.0.1"  # the workers listen on the loopback interface only: nothing outside sees them
TIMEOUT_SECONDS = 300  # launch's default limit; lesson 08's two workers take ~30-90 s on 2 cores
GRACE_SECONDS = 3  # a stopped worker's time to exit after SIGTERM, before SIGKILL
LAST_LINES = 15  # how many of a failed worker's last lines the error quotes
# What every worker's environment adds to this process's: quiet TensorFlow (as the test command
# sets it) and unbuffered output, so each line shows as soon as the worker prints it.
WORKER_ENVIRONMENT = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "TF_ENABLE_ONEDNN_OPTS": "0",
    "PYTHONUNBUFFERED": "1",
}


@dataclasses.dataclass(frozen=True)
class WorkerResult:
    """How one worker ended: its exit code, what it printed and how long it ran."""

    index: int  # its task index in TF_CONFIG
    pid: int  # its process id, which is also its process group's id
    returncode: int  # 0 on success; -N when signal N ended it (the launcher's SIGTERM: -15)
    lines: tuple[str, ...]  # its stdout and stderr, line by line, without the `[worker i]` mark
    seconds: float  # from the launch to its end
    timed_out: bool  # still running at the timeout, so the launcher stopped it
    stopped: bool  # the launcher stopped it: at the timeout, or because another worker failed


class WorkerError(RuntimeError):
    """A worker failed or timed out; `results` holds every worker's `WorkerResult`."""

    def __init__(self, message: str, results: list[WorkerResult]) -> None:
        super().__init__(message)
        self.results = results


def free_ports(count: int) -> list[int]:
    """Returns `count` different TCP ports on 127.0.0.1 that nothing listens on right now.

    The system picks each port (binding to port 0); all are held open together until every one is
    picked, so they differ. Another program could take one before the worker does; on one machine
    that is rare, and the worker then fails with "address already in use".

    Args:
        count: int >= 1, how many ports.

    Returns:
        A list of `count` distinct port numbers.

    Raises:
        ValueError: if `count` is not an int >= 1.

    Example:

    >>> ports = free_ports(2)
    >>> len(set(ports)), all(1024 <= port <= 65535 for port in ports)
    (2, True)
    """
    count = validation.check_int("count", count, minimum=1)
    probes = []
    try:
        for _ in range(count):
            probe = socket.socket()
            probes.append(probe)
            probe.bind((HOST, 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def tf_config(addresses: Sequence[str], index: int) -> dict:
    """Returns the `TF_CONFIG` of worker `index` in a cluster of workers at `addresses`.

    Every worker gets the same cluster, in the same order, and its own index; worker 0 is the
    chief (the worker that would save checkpoints). The environment variable holds it as JSON:
    `json.dumps(tf_config(addresses, index))`.

    Args:
        addresses: list or tuple of str, each worker's `"host:port"`.
        index: int in `[0, len(addresses) - 1]`, which worker this is.

    Returns:
        A dict `{"cluster": {"worker": [...]}, "task": {"type": "worker", "index": index}}`.

    Raises:
        ValueError: for an empty or non-sequence `addresses`, an address that is not
            `"host:port"`, or an index outside the cluster.

    Example:

    >>> tf_config(["127.0.0.1:5001", "127.0.0.1:5002"], 1)
    {'cluster': {'worker': ['127.0.0.1:5001', '127.0.0.1:5002']}, 'task': {'type': 'worker',
    'index': 1}}
    >>> tf_config(["127.0.0.1:5001", "127.0.0.1:5002"], 2)
    Traceback (most recent call last):
    ...
    ValueError: index must be an int from 0 to 1. Received: index=2
    """
    addresses = validation.check_sequence("addresses", addresses)
    for position, address in enumerate(addresses):
        name = f"addresses[{position}]"
        host, _, port = validation.check_text(name, address).rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(f"{name} must be a 'host:port' address. Received: {name}={address!r}")
    index = validation.check_int("index", index, minimum=0, maximum=len(addresses) - 1)
    return {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}}


def worker_task(environment: Mapping[str, str] | None = None) -> tuple[int, int]:
    """Returns this worker's index and the number of workers, read from `TF_CONFIG`.

    Args:
        environment: mapping or None, the environment variables to read. Defaults to `None`
            (this process's, `os.environ`).

    Returns:
        A tuple `(index, count)`.

    Raises:
        ValueError: if `TF_CONFIG` is missing or is not a worker's configuration as `tf_config`
            writes it.

    Example:

    >>> config = tf_config(["127.0.0.1:5001", "127.0.0.1:5002"], 1)
    >>> worker_task({"TF_CONFIG": json.dumps(config)})
    (1, 2)
    >>> worker_task({})
    Traceback (most recent call last):
    ...
    ValueError: TF_CONFIG must be set, as workers.launch sets it for each worker. Received: no
    TF_CONFIG
    """
    environment = os.environ if environment is None else environment
    text = environment.get("TF_CONFIG")
    if not text:
        raise ValueError(
            "TF_CONFIG must be set, as workers.launch sets it for each worker. "
            "Received: no TF_CONFIG"
        )
    try:
        config = json.loads(text)
        addresses = config["cluster"]["worker"]
        index = config["task"]["index"]
        is_worker = config["task"]["type"] == "worker"
    except (ValueError, KeyError, TypeError):
        is_worker = False
    if not is_worker:
        raise ValueError(
            "TF_CONFIG must be a worker's configuration, as workers.tf_config writes it. "
            f"Received: TF_CONFIG={text!r}"
        )
    return tf_config(addresses, index)["task"]["index"], len(addresses)


def launch(
    module: str,
    arguments: Sequence[str] = (),
    workers: int = 2,
    timeout: float = TIMEOUT_SECONDS,
    echo: Callable[[str], object] | None = print,
    environment: Mapping[str, str] | None = None,
) -> list[WorkerResult]:
    """Runs `python -m module arguments` as `workers` workers of one cluster; stops them all.

    Each worker runs in the course's root folder (so `helpers` is importable) with this process's
    environment, quiet TensorFlow logging (`WORKER_ENVIRONMENT`), the variables in `environment`,
    and its own `TF_CONFIG`. Their output is passed to `echo` as it comes, one line at a time,
    prefixed with `[worker i] `; in a notebook it shows while the workers run.

    No worker outlives the call: when one exits with a non-zero code the others are stopped at
    once, every worker still running at `timeout` seconds is stopped, and an exception
    (KeyboardInterrupt included) stops them all before it propagates.

    Args:
        module: str, the module each worker runs, e.g. `"helpers.lessons.scaling_worker"`.
        arguments: list or tuple of str, the command-line arguments after the module. Defaults to
            none.
        workers: int >= 1, how many workers. Defaults to 2.
        timeout: float > 0, the seconds all workers together may take. Defaults to 300.
        echo: a callable taking one str, or None to show nothing. Defaults to `print`.
        environment: a mapping of str to str or None: variables to add to each worker's
            environment (`{"TF_NUM_INTRAOP_THREADS": "1"}`). Defaults to `None`.

    Returns:
        One `WorkerResult` per worker, in index order, when every worker exits with code 0.

    Raises:
        ValueError: naming the argument, for a bad one.
        WorkerError: (a `RuntimeError`) when a worker fails or the workers time out, naming the
            worker, its exit code and its last lines; its `results` hold every worker's result.

    Example (a worker written on the spot that prints its task from `TF_CONFIG`):

    >>> import pathlib, tempfile
    >>> folder = tempfile.mkdtemp()
    >>> program = "import json, os; print(json.loads(os.environ['TF_CONFIG'])['task'])"
    >>> _ = pathlib.Path(folder, "hello_worker.py").write_text(program)
    >>> results = launch("hello_worker", environment={"PYTHONPATH": folder}, echo=None)
    >>> [result.lines for result in results]
    [("{'type': 'worker', 'index': 0}",), ("{'type': 'worker', 'index': 1}",)]
    >>> launch("no_such_module", workers=1, echo=None)
    Traceback (most recent call last):
    ...
    helpers.lessons.workers.WorkerError: worker 0 failed with exit code 1 after ... s. Its last
    lines:
      ...: No module named no_such_module
    """
    module = validation.check_text("module", module)
    arguments = [
        validation.check_text(f"arguments[{position}]", argument)
        for position, argument in enumerate(validation.check_sequence("arguments", arguments, 0))
    ]
    workers = validation.check_int("workers", workers, minimum=1)
    timeout = validation.check_positive_number("timeout", timeout)
    if echo is not None and not callable(echo):
        raise ValueError(f"echo must be a callable or None. Received: echo={echo!r}")
    extra_environment = _check_environment(environment)
    addresses = [f"{HOST}:{port}" for port in free_ports(workers)]
    command = [sys.executable, "-m", module, *arguments]
    output = queue.Queue()  # (index, line) from every worker's reader; (index, None) at its end
    lines = [[] for _ in range(workers)]
    ended = [None] * workers  # when each worker was first seen to have ended
    processes = []
    readers = []
    start = time.monotonic()
    try:
        for index in range(workers):
            variables = {"TF_CONFIG": json.dumps(tf_config(addresses, index))}
            processes.append(_start(command, {**extra_environment, **variables}))
            readers.append(_start_reader(index, processes[index].stdout, output))
        in_time = _watch(processes, output, lines, ended, start + timeout, echo)
    finally:
        stopped = _stop(processes)
        for reader in readers:
            reader.join(timeout=GRACE_SECONDS)
    _show_waiting_lines(output, lines, echo)
    now = time.monotonic()
    results = [
        WorkerResult(
            index=index,
            pid=process.pid,
            returncode=process.returncode,
            lines=tuple(lines[index]),
            seconds=round((ended[index] or now) - start, 1),
            timed_out=not in_time and index in stopped,
            stopped=index in stopped,
        )
        for index, process in enumerate(processes)
    ]
    problem = _problem(results, timeout)
    if problem is not None:
        raise WorkerError(problem, results)
    return results


def _check_environment(environment: object) -> dict[str, str]:
    """Returns the extra environment variables as a dict, or raises unless they are all str."""
    if environment is None:
        return {}
    is_text_mapping = isinstance(environment, Mapping) and all(
        isinstance(key, str) and isinstance(value, str) for key, value in environment.items()
    )
    if not is_text_mapping:
        raise ValueError(
            "environment must be a mapping of str to str, or None. "
            f"Received: environment={environment!r}"
        )
    return dict(environment)


def _start(command: list[str], variables: dict[str, str]) -> subprocess.Popen:
    """Starts one worker in the course's root folder, in a process group of its own."""
    return subprocess.Popen(
        command,
        cwd=course.COURSE_ROOT,
        env={**os.environ, **WORKER_ENVIRONMENT, **variables},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        start_new_session=True,  # its own process group: stopping it stops its children too
    )


def _start_reader(index: int, stream: IO[str], output: queue.Queue) -> threading.Thread:
    """Starts a thread that passes one worker's output to `output`, line by line."""
    reader = threading.Thread(target=_read_lines, args=(index, stream, output), daemon=True)
    reader.start()
    return reader


def _read_lines(index: int, stream: IO[str], output: queue.Queue) -> None:
    """Puts each line of one worker's output on `output` as it comes, then `(index, None)`."""
    with stream:
        for line in stream:
            output.put((index, line.rstrip("\r\n")))
    output.put((index, None))


def _watch(
    processes: list[subprocess.Popen],
    output: queue.Queue,
    lines: list[list[str]],
    ended: list[float | None],
    deadline: float,
    echo: Callable[[str], object] | None,
) -> bool:
    """Shows the workers' lines until all have ended or one failed; False at the deadline."""
    open_streams = set(range(len(processes)))
    while True:
        for index, process in enumerate(processes):
            if ended[index] is None and process.poll() is not None:
                ended[index] = time.monotonic()
        all_ended = all(moment is not None for moment in ended)
        one_failed = any(process.returncode not in (None, 0) for process in processes)
        if one_failed or (all_ended and not open_streams):
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        try:
            index, line = output.get(timeout=min(remaining, 0.1))
        except queue.Empty:
            continue
        if line is None:
            open_streams.discard(index)
        else:
            _show(index, line, lines, echo)


def _show(
    index: int, line: str, lines: list[list[str]], echo: Callable[[str], object] | None
) -> None:
    lines[index].append(line)
    if echo is not None:
        echo(f"[worker {index}] {line}")


def _show_waiting_lines(
    output: queue.Queue, lines: list[list[str]], echo: Callable[[str], object] | None
) -> None:
    """Shows the lines the workers printed just before they ended (a traceback, often)."""
    while True:
        try:
            index, line = output.get_nowait()
        except queue.Empty:
            return
        if line is not None:
            _show(index, line, lines, echo)


def _stop(processes: list[subprocess.Popen]) -> set[int]:
    """Stops every worker still running (SIGTERM, SIGKILL after the grace); returns which."""
    running = {index for index, process in enumerate(processes) if process.poll() is None}
    try:
        for index in running:
            _signal_group(processes[index], signal.SIGTERM)
        grace_end = time.monotonic() + GRACE_SECONDS
        for index in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                processes[index].wait(timeout=max(grace_end - time.monotonic(), 0))
    finally:  # even when a second KeyboardInterrupt cuts the grace short
        for index in running:
            if processes[index].poll() is None:
                _signal_group(processes[index], signal.SIGKILL)
                processes[index].wait()
    return running


def _signal_group(process: subprocess.Popen, signal_number: int) -> None:
    """Sends a signal to the worker's process group: the worker and anything it started."""
    with contextlib.suppress(ProcessLookupError):  # the group has ended already
        os.killpg(process.pid, signal_number)


def _problem(results: list[WorkerResult], timeout: float) -> str | None:
    """The error message for a failed or timed-out launch, or None when every worker succeeded."""
    failed = [result for result in results if result.returncode != 0 and not result.stopped]
    if failed:
        first = min(failed, key=lambda result: result.seconds)
        others = [result.index for result in results if result.stopped]
        stopped_words = f"; the launcher stopped worker(s) {others}" if others else ""
        return (
            f"worker {first.index} failed with exit code {first.returncode} after "
            f"{first.seconds:g} s{stopped_words}. Its last lines:\n" + _last_lines(first)
        )
    timed_out = [result for result in results if result.timed_out]
    if timed_out:
        indices = [result.index for result in timed_out]
        return (
            f"worker(s) {indices} did not finish within timeout={timeout:g} s and were stopped; "
            "give a larger timeout if they were making progress. "
            f"Worker {indices[0]}'s last lines:\n" + _last_lines(timed_out[0])
        )
    return None


def _last_lines(result: WorkerResult) -> str:
    shown = result.lines[-LAST_LINES:] or ("(it printed nothing)",)
    return "\n".join(f"  {line}" for line in shown)
