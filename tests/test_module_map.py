"""The README's module map is the one `scripts/module_map.py` writes from the code."""

import pathlib

import module_map
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MODULES = sorted(
    path
    for layer in module_map.LAYERS
    for path in (ROOT / "helpers" / layer).glob("*.py")
    if path.name != "__init__.py"
)


def test_the_readme_holds_the_current_module_map():
    readme = (ROOT / "README.md").read_text()
    assert module_map.readme_with_table(readme) == readme, (
        "run: python scripts/module_map.py --write"
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_each_module_opens_with_one_summary_sentence(path):
    sentence = module_map.summary(path)
    assert sentence.endswith(".") and len(sentence) <= 97  # with the opening """: 100 columns
    assert "|" not in sentence  # it sits in a markdown table cell


def test_the_map_lists_every_module_once_with_the_lessons_that_import_it():
    rows = module_map.table().splitlines()[2:]
    assert len(rows) == len(MODULES)
    row_of = {row.split("|")[1].strip(): row for row in rows}
    assert row_of["`helpers/lessons/gradient_descent.py`"].endswith("| 01 |")
    assert row_of["`helpers/finetune/validation.py`"].split("|")[2].strip() == "reusable"


def test_a_readme_without_markers_is_refused():
    with pytest.raises(ValueError, match="must hold the markers"):
        module_map.readme_with_table("# A README without a map\n")
