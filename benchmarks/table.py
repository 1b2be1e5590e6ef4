"""Rows of the benchmark table, shared by every benchmark that `speed_table.py` collects.

A row compares our time (or memory) with a reference measured in the same run; its ratio is
reference / ours, so above 1 means ours is faster (or, for memory, below the goal).
"""

from __future__ import annotations

import json


def row(measure: str, ours: float, reference: float, unit: str, goal: str, met: bool) -> dict:
    """One line of the table: what was measured, both values, their ratio and the goal.

    Example:

    >>> row("phase 2", 2.0, 3.0, "s", ">= 0.9x", True)["ratio"]
    1.5
    """
    return {
        "measure": measure,
        "ours": float(ours),
        "reference": float(reference),
        "unit": unit,
        "ratio": float(reference) / float(ours),
        "goal": goal,
        "met": bool(met),
    }


def skipped(measure: str, reason: str) -> dict:
    """A row that could not be measured on this machine, and why.

    Example:

    >>> skipped("mixed precision", "no GPU")["skipped"]
    'no GPU'
    """
    return {"measure": measure, "skipped": reason}


def rows_in(output: str) -> list[dict]:
    """The rows a benchmark printed as JSON lines, other lines ignored.

    Example:

    >>> rows_in('note\\n{"measure": "x", "skipped": "no GPU"}')
    [{'measure': 'x', 'skipped': 'no GPU'}]
    """
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def markdown(rows: list[dict]) -> str:
    """The rows as a Markdown table; a skipped row says why.

    Example:

    >>> print(markdown([row("phase 2", 2.0, 3.0, "s", ">= 0.9x", True)]))
    | Measure | Ours | Reference | Ratio | Goal | Met |
    |---|---:|---:|---:|---|---|
    | phase 2 | 2 s | 3 s | 1.50x | >= 0.9x | yes |
    """
    lines = [
        "| Measure | Ours | Reference | Ratio | Goal | Met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for result in rows:
        if "skipped" in result:
            lines.append(f"| {result['measure']} | - | - | - | skipped: {result['skipped']} | - |")
            continue
        unit = result["unit"]
        met = "yes" if result["met"] else "**no**"
        lines.append(
            f"| {result['measure']} | {result['ours']:.3g} {unit} | {result['reference']:.3g} "
            f"{unit} | {result['ratio']:.2f}x | {result['goal']} | {met} |"
        )
    return "\n".join(lines)
