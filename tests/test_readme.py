"""README numbers that come from stored results are those results, at the printed precision."""

import pathlib
import re

import pytest

from helpers.exercises import core
from helpers.lessons import finder_check

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"
NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


def finder_table_rows() -> list[list[str]]:
    """The README's finder-versus-grid table: one list of cells per data row."""
    text = README.read_text(encoding="utf-8")
    header = text.index("| phase | seed | grid-best |")
    table = text[header:].split("\n\n", 1)[0].splitlines()[2:]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in table]


def numbers_in(cell: str) -> list[str]:
    return re.findall(NUMBER, cell.replace("×", ""))


def digits_printed(number: str) -> int:
    """Significant digits of a printed number: '3.2e-3' -> 2, '0.455' -> 3, '593' -> 3."""
    mantissa = number.lower().split("e")[0].lstrip("+-").replace(".", "").lstrip("0")
    return max(len(mantissa), 1)


def assert_printed(number: str, value: float, what: str) -> None:
    digits = digits_printed(number)
    assert core.matches_number(float(number), value, digits), (what, number, value)


def test_the_readme_finder_table_is_the_stored_comparison():
    rows = finder_table_rows()
    comparisons = finder_check.load_comparisons()
    assert len(rows) == len(comparisons) == 6
    for cells, comparison in zip(rows, comparisons, strict=True):
        label = f"phase {comparison.phase} seed {comparison.seed}"
        assert int(numbers_in(cells[0])[0]) == comparison.phase, label
        assert int(cells[1]) == comparison.seed, label
        assert_printed(numbers_in(cells[2])[0], comparison.best_rate, f"{label} grid-best")
        for cell, name in zip(cells[3:6], finder_check.SUGGESTIONS, strict=True):
            rate, ratio = numbers_in(cell)
            suggestion = comparison.suggestions[name]
            assert_printed(rate, suggestion, f"{label} {name}")
            assert_printed(ratio, suggestion / comparison.best_rate, f"{label} {name} ratio")
        best_loss, valley_loss = numbers_in(cells[6])
        best_index = comparison.grid.index(comparison.best_rate)
        assert_printed(best_loss, comparison.test_losses[best_index], f"{label} best loss")
        assert_printed(valley_loss, comparison.valley_test_loss, f"{label} valley loss")


@pytest.mark.parametrize(
    ("number", "digits"), [("3.2e-3", 2), ("0.455", 3), ("593", 3), ("1.9", 2), ("0.50", 2)]
)
def test_printed_digits_are_counted_as_printed(number, digits):
    assert digits_printed(number) == digits
