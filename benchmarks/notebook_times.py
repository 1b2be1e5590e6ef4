"""Benchmark: each lesson's run time top to bottom, in full mode (a learner) and fast mode (CI).

Both modes run side by side in one invocation, on the same machine, and the ratio is printed.
The README's lesson table quotes the full-mode times.

Run: .venv/bin/python benchmarks/notebook_times.py [notebooks/03_*.ipynb ...]
"""

from __future__ import annotations

import argparse
import os
import pathlib
import platform
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]


def seconds_to_run(path: pathlib.Path, fast: bool) -> float:
    """Executes a notebook in a fresh kernel and returns the wall-clock seconds it took."""
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    notebook = nbformat.read(path, as_version=4)
    # Run from notebooks/, as JupyterLab does.
    resources = {"metadata": {"path": str(path.parent)}}
    client = NotebookClient(notebook, timeout=1800, kernel_name="python3", resources=resources)
    start = time.perf_counter()
    client.execute()
    return time.perf_counter() - start


def parse_arguments(argv: list[str] | None = None) -> list[pathlib.Path]:
    """Returns the notebooks to time, all lessons by default; a missing file ends the script."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", type=pathlib.Path, help="notebooks (default: all)")
    paths = parser.parse_args(argv).paths or sorted((ROOT / "notebooks").glob("*.ipynb"))
    missing = [str(path) for path in paths if not path.is_file()]
    if missing:
        parser.error(f"notebook not found: {', '.join(missing)}")
    return paths


def main(argv: list[str] | None = None) -> None:
    """Times each notebook in full and in fast mode and prints a table."""
    paths = parse_arguments(argv)
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {python}")
    print(f"{'lesson':<45} {'full mode':>10} {'fast mode':>10} {'ratio':>6}")
    for path in paths:
        full = seconds_to_run(path, fast=False)
        fast = seconds_to_run(path, fast=True)
        print(f"{path.name:<45} {full:>9.0f}s {fast:>9.0f}s {full / fast:>5.1f}x", flush=True)


if __name__ == "__main__":
    main()
