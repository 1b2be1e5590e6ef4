"""Lesson 08's two worker processes: the launcher stops them always, and they train as one.

The launcher's promises are checked with fake workers written into a temporary folder (a few
lines of standard library each, so they start in a fraction of a second): arguments, output line
by line while the workers run, and no worker left alive, whether they succeed, one fails, they
time out or the caller is interrupted. The last test runs the real thing: two
`helpers.lessons.scaling_worker` processes under `MultiWorkerMirroredStrategy`, compared with the
one-process run of the same global batch.
"""

import concurrent.futures
import json
import os
import pathlib
import re
import time

import pytest
import tensorflow as tf

from helpers.lessons import course, scaling_demo, scaling_worker, workers

# One program, four behaviours (its first argument); each first prints its own process id.
FAKE_WORKER = """
import json, os, pathlib, signal, subprocess, sys, time

folder = pathlib.Path(__file__).parent
index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
behaviour = sys.argv[1]
print(f"pid {os.getpid()}")


def wait_for(path):
    for _ in range(1200):
        if path.exists():
            return
        time.sleep(0.05)
    sys.exit(f"{path.name} never came")


if behaviour == "describe":
    print(json.dumps({
        "tf_config": json.loads(os.environ["TF_CONFIG"]),
        "cwd": os.getcwd(),
        "arguments": sys.argv[2:],
        "quiet": os.environ.get("TF_CPP_MIN_LOG_LEVEL"),
        "extra": os.environ.get("EXTRA"),
    }))
elif behaviour == "handshake":  # goes on only once the caller has seen its first line
    print("waiting")
    wait_for(folder / f"go_{index}")
    print("done")
elif behaviour == "fail-first" and index == 0:  # fails once worker 1 is up
    wait_for(folder / "ready_1")
    print("boom")
    sys.exit(3)
elif behaviour == "fail-first":  # ignores SIGTERM, and has a child process of its own
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    print(f"pid {child.pid}")
    (folder / f"ready_{index}").touch()
    time.sleep(600)
else:  # "sleep"
    time.sleep(600)
"""

# The largest absolute weight difference between the two-worker run (8 images per worker) and the
# one-process run with batches of 16, at image size 32 for 2 epochs (4 steps), measured on 2 CPU
# cores for seeds 0, 1 and 2, with TensorFlow's default threads everywhere, with
# TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1 in the workers only, and in both processes:
# 1.49e-08 (2**-26) in all 9 runs, float rounding (the all-reduce sums the two halves' gradients,
# where one process sums over the batch of 16 at once). The two workers ended bit for bit equal in
# every run. A one-process run with batches of 8 (another global batch) differs by 1.4e-03
# (seed 2) to 3.5e-03 (seed 0). The tolerance is 10x the largest spread measured.
TOLERANCE = 1.5e-7
IMAGE_SIZE = 32  # the smallest MobileNetV2 input: the cheapest real run
TIMEOUT_SECONDS = 240  # generous: about 30 s on 2 idle cores, slower beside other jobs


@pytest.fixture
def fake_worker(tmp_path):
    """Launches the fake worker from `tmp_path`, with `behaviour` as its first argument."""
    (tmp_path / "fake_worker.py").write_text(FAKE_WORKER)

    def launch(behaviour, **options):
        environment = {"PYTHONPATH": str(tmp_path), **options.pop("environment", {})}
        return workers.launch(
            "fake_worker",
            [behaviour, *options.pop("arguments", [])],
            environment=environment,
            **options,
        )

    return launch


def is_alive(pid):
    """Whether process `pid` exists and is not a zombie, read from /proc (Linux)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    state = stat.rsplit(")", 1)[1].split()[0]
    return state not in ("Z", "X")


def alive_after(pids, seconds=10.0):
    """The processes of `pids` still alive after up to `seconds`, polled every 50 ms.

    The launcher waits for each worker it stops, but SIGKILL reaches a worker's own child process
    asynchronously: the kernel may take a moment to end it after the launcher has returned.
    """
    deadline = time.monotonic() + seconds
    while (alive := [pid for pid in pids if is_alive(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive


def living_children():
    """The process ids of this process's children that are alive."""
    children = []
    for stat_path in pathlib.Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_path.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        state, parent = fields[0], int(fields[1])
        if parent == os.getpid() and state not in ("Z", "X"):
            children.append(int(stat_path.parent.name))
    return children


def printed_pids(lines):
    return [int(match[1]) for line in lines if (match := re.fullmatch(r"pid (\d+)", line))]


def test_free_ports_are_distinct_and_unused():
    ports = workers.free_ports(3)
    assert len(set(ports)) == 3
    assert all(isinstance(port, int) and 1024 <= port <= 65535 for port in ports)


@pytest.mark.parametrize("count", [0, -1, 1.5, True, "2"])
def test_free_ports_refuses_a_bad_count(count):
    with pytest.raises(
        ValueError, match=re.escape(f"count must be an int >= 1. Received: count={count!r}")
    ):
        workers.free_ports(count)


def test_tf_config_gives_every_worker_the_cluster_and_its_index():
    addresses = ["127.0.0.1:5001", "127.0.0.1:5002"]
    configs = [workers.tf_config(addresses, index) for index in range(2)]
    assert configs[1] == {
        "cluster": {"worker": addresses},
        "task": {"type": "worker", "index": 1},
    }
    assert configs[0]["cluster"] == configs[1]["cluster"]
    assert json.loads(json.dumps(configs[0])) == configs[0]
    assert workers.worker_task({"TF_CONFIG": json.dumps(configs[1])}) == (1, 2)


@pytest.mark.parametrize(
    ("addresses", "index", "message"),
    [
        ([], 0, "addresses must be a list or tuple of at least 1 item. Received: addresses=[]"),
        ("127.0.0.1:5001", 0, "addresses must be a list or tuple"),
        (["localhost"], 0, "addresses[0] must be a 'host:port' address. Received: "),
        (["127.0.0.1:5001", ":5002"], 0, "addresses[1] must be a 'host:port' address."),
        (["127.0.0.1:http"], 0, "addresses[0] must be a 'host:port' address."),
        (["127.0.0.1:5001", 5002], 0, "addresses[1] must be a non-blank str. Received: "),
        (["127.0.0.1:5001"], 1, "index must be an int from 0 to 0. Received: index=1"),
        (["127.0.0.1:5001"], -1, "index must be an int from 0 to 0. Received: index=-1"),
        (["127.0.0.1:5001"], "0", "index must be an int from 0 to 0. Received: index='0'"),
    ],
)
def test_tf_config_refuses_bad_input(addresses, index, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        workers.tf_config(addresses, index)


def config_text(cluster, task_type, index):
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ({}, "TF_CONFIG must be set"),
        ({"TF_CONFIG": "{not json"}, "TF_CONFIG must be a worker's configuration"),
        (
            {"TF_CONFIG": config_text({"chief": ["a:1"]}, "chief", 0)},
            "TF_CONFIG must be a worker's configuration",
        ),
        (
            {"TF_CONFIG": config_text({"worker": ["a:1"]}, "worker", 3)},
            "index must be an int from 0 to 0. Received: index=3",
        ),
    ],
)
def test_worker_task_refuses_a_missing_or_wrong_tf_config(environment, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        workers.worker_task(environment)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"module": " "}, "module must be a non-blank str. Received: module=' '"),
        ({"arguments": "--output x"}, "arguments must be a list or tuple"),
        ({"arguments": ["--epochs", 2]}, "arguments[1] must be a non-blank str. Received: "),
        ({"workers": 0}, "workers must be an int >= 1. Received: workers=0"),
        ({"timeout": 0}, "timeout must be a positive, finite number. Received: timeout=0"),
        ({"echo": "print"}, "echo must be a callable or None. Received: echo='print'"),
        ({"environment": {"A": 1}}, "environment must be a mapping of str to str, or None."),
    ],
)
def test_launch_refuses_bad_input_before_starting_anything(options, message):
    arguments = {"module": "json.tool", **options}
    with pytest.raises(ValueError, match=re.escape(message)):
        workers.launch(**arguments)
    assert living_children() == []


def test_each_worker_gets_its_tf_config_in_the_course_folder(fake_worker):
    shown = []
    results = fake_worker(
        "describe",
        arguments=["--flag", "a value"],
        environment={"EXTRA": "yes"},
        echo=shown.append,
    )
    assert [result.index for result in results] == [0, 1]
    assert all(result.returncode == 0 and not result.stopped for result in results)
    described = [json.loads(result.lines[-1]) for result in results]
    assert [description["tf_config"]["task"]["index"] for description in described] == [0, 1]
    cluster = described[0]["tf_config"]["cluster"]["worker"]
    assert described[1]["tf_config"]["cluster"]["worker"] == cluster
    assert len(set(cluster)) == 2 and all(address.startswith("127.0.0.1:") for address in cluster)
    for description in described:
        assert description["cwd"] == str(course.COURSE_ROOT)
        assert description["arguments"] == ["--flag", "a value"]
        assert description["quiet"] == "3"
        assert description["extra"] == "yes"
    for result in results:  # every line reached `echo`, marked with its worker
        assert [line for line in shown if line.startswith(f"[worker {result.index}] ")] == [
            f"[worker {result.index}] {line}" for line in result.lines
        ]
    assert living_children() == []


def test_lines_reach_echo_while_the_workers_run(fake_worker, tmp_path):
    def answer(line):  # a worker prints "waiting", then waits for its go_<index> file
        index, text = re.fullmatch(r"\[worker (\d)\] (.*)", line).groups()
        if text == "waiting":
            (tmp_path / f"go_{index}").touch()

    results = fake_worker("handshake", echo=answer, timeout=TIMEOUT_SECONDS)
    assert [result.lines[1:] for result in results] == [("waiting", "done")] * 2


def test_a_failing_worker_stops_the_others_and_their_children(fake_worker):
    start = time.monotonic()
    with pytest.raises(workers.WorkerError) as caught:
        fake_worker("fail-first", timeout=TIMEOUT_SECONDS, echo=None)
    seconds = time.monotonic() - start
    message = str(caught.value)
    assert message.startswith("worker 0 failed with exit code 3 after ")
    assert "the launcher stopped worker(s) [1]" in message and "  boom" in message
    first, second = caught.value.results
    assert (first.returncode, first.stopped, first.lines[-1]) == (3, False, "boom")
    # Worker 1 ignores SIGTERM: it is killed after the grace period.
    assert (second.returncode, second.stopped, second.timed_out) == (-9, True, False)
    assert seconds < workers.GRACE_SECONDS + 30  # far from the timeout
    pids = [first.pid, *printed_pids(second.lines)]
    assert len(pids) == 3  # worker 0, worker 1 and worker 1's child
    assert alive_after(pids) == []
    assert living_children() == []


def test_workers_still_running_at_the_timeout_are_stopped(fake_worker):
    start = time.monotonic()
    with pytest.raises(workers.WorkerError, match=r"worker\(s\) \[0, 1\] did not finish within "):
        fake_worker("sleep", timeout=2, echo=None)
    seconds = time.monotonic() - start
    assert 2 <= seconds < 2 + workers.GRACE_SECONDS + 10
    assert living_children() == []


def test_the_timeout_error_holds_every_worker_s_result(fake_worker):
    with pytest.raises(workers.WorkerError) as caught:
        fake_worker("sleep", workers=1, timeout=1, echo=None)
    (result,) = caught.value.results
    assert (result.returncode, result.stopped, result.timed_out) == (-15, True, True)
    assert isinstance(caught.value, RuntimeError)
    assert not is_alive(result.pid)


def test_an_interrupt_stops_every_worker_before_it_propagates(fake_worker):
    def interrupt(line):  # as the notebook's stop button does, at the first line
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        fake_worker("sleep", echo=interrupt, timeout=TIMEOUT_SECONDS)
    assert living_children() == []


def test_the_scaling_worker_refuses_to_run_without_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(SystemExit, match="TF_CONFIG must be set"):
        scaling_worker.main(["--output", "unused"])


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"image_size": 16}, "image_size must be an int >= 32. Received: image_size=16"),
        ({"epochs": 0}, "epochs must be an int >= 1. Received: epochs=0"),
        ({"seed": -1}, "seed must be an int >= 0. Received: seed=-1"),
    ],
)
def test_run_workers_refuses_bad_settings_before_starting_anything(tmp_path, options, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        scaling_worker.run_workers(tmp_path, **options)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_two_workers_train_as_one_process_with_the_global_batch(tmp_path):
    shown = []
    one_device = tf.distribute.get_strategy()
    # The workers start (importing TensorFlow, mostly) while this process trains the references.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as executor:
        running = executor.submit(
            scaling_worker.run_workers,
            tmp_path,
            image_size=IMAGE_SIZE,
            timeout=TIMEOUT_SECONDS,
            echo=shown.append,
        )
        global_batch = scaling_demo.run(
            one_device, per_replica_batch_size=16, image_size=IMAGE_SIZE
        )
        other_batch = scaling_demo.run(one_device, per_replica_batch_size=8, image_size=IMAGE_SIZE)
        weights = running.result()
    assert any(
        "worker 0 of 2: global batch 16 (8 per replica x 2 replicas)" in line for line in shown
    )
    # The all-reduce gives both workers the same update at every step: the same weights, exactly.
    assert scaling_demo.weights_difference(weights[0], weights[1]) == 0.0
    assert scaling_demo.weights_difference(weights[0], global_batch.get_weights()) <= TOLERANCE
    # The tolerance is tight enough to tell another global batch apart.
    assert scaling_demo.weights_difference(weights[0], other_batch.get_weights()) > 100 * TOLERANCE
