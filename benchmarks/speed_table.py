"""The course's benchmark table: every speed goal of the course, measured side by side in one run.

Quick mode (the default, about 5 minutes on 2 cores) measures:

- the whole course under nbval in fast mode (CI's run) against the seed example run offline
  (`benchmarks/seed_example.py`);
- cached phase 1 against the seed's `fit`, phase 2 through the helpers against a bare compiled
  step, a 4-rate sweep's traces, the range test against plain steps
  (`benchmarks/training_speed.py`, in a process of its own);
- mixed precision against float32 for phase 2, only where a GPU is present (skipped otherwise).

`--full` adds each lesson in full mode against fast mode with its kernel's peak memory
(`benchmarks/notebook_times.py`), and the test command against a previous commit, both from clean
clones sharing this environment (`--baseline-ref`, 20-30 minutes). It prints a Markdown table,
the machine and the date: copy it into the README's "Performance" section.

Run: .venv/bin/python benchmarks/speed_table.py [--full] [--baseline-ref COMMIT]
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks import notebook_times, table  # noqa: E402

PYTHON = sys.executable
QUIET_TENSORFLOW = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "MPLBACKEND": "Agg"}
LESSON_SECONDS_GOAL = 90
PEAK_MEMORY_GOAL_GB = 2.5
TEST_COMMAND_GOAL = 0.5


def seconds_of(command: list[str], cwd: pathlib.Path = ROOT, **environment: str) -> float:
    """Runs `command` to the end and returns its wall-clock seconds; a failure stops the table."""
    seconds, status = timed_run(command, cwd, **environment)
    if status != 0:
        raise subprocess.CalledProcessError(status, command)
    return seconds


def timed_run(command: list[str], cwd: pathlib.Path, **environment: str) -> tuple[float, int]:
    """Runs `command` to the end; returns its wall-clock seconds and its exit status."""
    began = time.perf_counter()
    status = subprocess.run(
        command,
        cwd=cwd,
        env={**os.environ, **QUIET_TENSORFLOW, **environment},
        stdout=subprocess.DEVNULL,
    ).returncode
    return time.perf_counter() - began, status


def course_rows() -> list[dict]:
    """Every lesson under nbval in fast mode, against the seed example offline."""
    seed = seconds_of([PYTHON, "benchmarks/seed_example.py"])
    nbval = [PYTHON, "-m", "pytest", "notebooks", "-q"]
    course = seconds_of(nbval, COURSE_FAST="1", CI="true")
    return [
        table.row(
            "whole course under nbval (fast mode) / seed example offline",
            course,
            seed,
            "s",
            "-",
            True,
        )
    ]


def rows_of(script: str) -> list[dict]:
    """The rows a benchmark script prints with `--json`, run in a process of its own."""
    output = subprocess.run(
        [PYTHON, script, "--json"],
        cwd=ROOT,
        env={**os.environ, **QUIET_TENSORFLOW},
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return table.rows_in(output)


def lesson_rows() -> list[dict]:
    """Each lesson in full mode against fast mode, and its kernel's peak memory in full mode."""
    rows = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        full = notebook_times.run_notebook(path, fast=False)
        fast = notebook_times.run_notebook(path, fast=True)
        lesson = path.name[:2]
        rows.append(
            table.row(
                f"lesson {lesson}: full mode / fast mode",
                fast.seconds,
                full.seconds,
                "s",
                f"full <= {LESSON_SECONDS_GOAL} s ({full.seconds:.0f} s)",
                full.seconds <= LESSON_SECONDS_GOAL,
            )
        )
        peak = max(full.peak_memory_gb, fast.peak_memory_gb)
        rows.append(
            table.row(
                f"lesson {lesson}: kernel peak memory (GB), goal / measured",
                peak,
                PEAK_MEMORY_GOAL_GB,
                "GB",
                f"<= {PEAK_MEMORY_GOAL_GB} GB",
                peak <= PEAK_MEMORY_GOAL_GB,
            )
        )
    return rows


def test_command_rows(baseline_ref: str) -> list[dict]:
    """`make test` on a clean clone of HEAD against one of `baseline_ref`, one after the other."""
    environment = pathlib.Path(sys.prefix)
    seconds = {}
    statuses = {}
    with tempfile.TemporaryDirectory() as folder:
        for label, ref in (("baseline", baseline_ref), ("this commit", "HEAD")):
            clone = pathlib.Path(folder) / label.replace(" ", "_")
            subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
            subprocess.run(["git", "-C", str(clone), "checkout", "-q", ref], check=True)
            # Both clones share this environment: the same packages, no install timed.
            command = ["make", "test", f"VENV={environment}"]
            seconds[label], statuses[label] = timed_run(command, clone, CI="true")
            print(f"test command at {ref}: {seconds[label]:.0f} s", file=sys.stderr, flush=True)
    ratio = seconds["this commit"] / seconds["baseline"]
    # A failing run is no timing: the row says so and misses its goal.
    failed = [f"{label} exit status {status}" for label, status in statuses.items() if status]
    goal = f"this commit <= {TEST_COMMAND_GOAL}x ({ratio:.2f}x)"
    if failed:
        goal += "; " + ", ".join(failed)
    return [
        table.row(
            f"test command (clean clone): {baseline_ref} / this commit",
            seconds["this commit"],
            seconds["baseline"],
            "s",
            goal,
            ratio <= TEST_COMMAND_GOAL and not failed,
        )
    ]


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="add lesson times and the test command")
    parser.add_argument(
        "--baseline-ref",
        default="HEAD~1",
        help="the commit whose test command this one is timed against (--full)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    arguments = parse_arguments(argv)
    began = time.perf_counter()
    measurements = [
        course_rows,
        lambda: rows_of("benchmarks/training_speed.py"),
        lambda: rows_of("benchmarks/mixed_precision.py"),
    ]
    if arguments.full:
        measurements += [lesson_rows, lambda: test_command_rows(arguments.baseline_ref)]
    rows = []
    for measure in measurements:
        rows += measure()
        # Progress on stderr, so a long run shows what it has so far.
        print(table.markdown(rows).splitlines()[-1], file=sys.stderr, flush=True)
    minutes = (time.perf_counter() - began) / 60
    mode = "full" if arguments.full else "quick"
    print(
        f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPU cores, "
        f"Python {platform.python_version()}; {mode} mode took {minutes:.1f} min"
    )
    print("Ratio = reference / ours: above 1, ours is faster (or, for memory, below the goal).")
    print(table.markdown(rows))


if __name__ == "__main__":
    main()
