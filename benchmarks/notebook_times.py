"""Benchmark: each lesson's run time top to bottom, in full mode (a learner) and fast mode (CI).

Both modes run side by side in one invocation, on the same machine, and the ratio is printed.
The README's lesson table quotes the full-mode times.

Run: .venv/bin/python benchmarks/notebook_times.py [notebooks/03_*.ipynb ...]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import platform
import time

import nbformat
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).resolve().parents[1]


@dataclasses.dataclass
class NotebookRun:
    """One notebook executed top to bottom in a fresh kernel."""

    seconds: float
    # The kernel's peak resident memory (its maximum RSS), in GB.
    peak_memory_gb: float


# Run in the kernel after the lesson: its peak resident memory in kB (Linux's ru_maxrss).
PEAK_MEMORY_CELL = "import resource\nprint(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)"


def run_notebook(path: pathlib.Path, fast: bool) -> NotebookRun:
    """Executes a notebook in a fresh kernel; returns its seconds and the kernel's peak memory."""
    os.environ["COURSE_FAST"] = "1" if fast else "0"
    notebook = nbformat.read(path, as_version=4)
    # Run from notebooks/, as JupyterLab does.
    resources = {"metadata": {"path": str(path.parent)}}
    lesson_cells = list(notebook.cells)
    memory_cell = nbformat.v4.new_code_cell(PEAK_MEMORY_CELL)
    notebook.cells.append(memory_cell)
    client = NotebookClient(notebook, timeout=1800, kernel_name="python3", resources=resources)
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(lesson_cells):
            client.execute_cell(cell, index)
        seconds = time.perf_counter() - start
        client.execute_cell(memory_cell, len(lesson_cells))
    kilobytes = int(memory_cell.outputs[0]["text"].strip())
    return NotebookRun(seconds=seconds, peak_memory_gb=kilobytes / 1e6)


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
    """Times each notebook in full and in fast mode and prints a table with peak memory."""
    paths = parse_arguments(argv)
    python = platform.python_version()
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, Python {python}")
    print(f"{'lesson':<45} {'full mode':>10} {'fast mode':>10} {'ratio':>6} {'peak memory':>12}")
    for path in paths:
        full = run_notebook(path, fast=False)
        fast = run_notebook(path, fast=True)
        peak = max(full.peak_memory_gb, fast.peak_memory_gb)
        print(
            f"{path.name:<45} {full.seconds:>9.0f}s {fast.seconds:>9.0f}s "
            f"{full.seconds / fast.seconds:>5.1f}x {peak:>9.2f} GB",
            flush=True,
        )


if __name__ == "__main__":
    main()
