"""The helpers' three layers import one way: exercises -> lessons -> finetune, never back.

`helpers.finetune` could be lifted into another project unchanged: it imports only the standard
library, numpy, keras / tensorflow and matplotlib. `helpers.lessons` (the course layer) may import
it; `helpers.exercises` may import both; nothing imports `helpers.exercises` but the notebooks and
its tests.
"""

import ast
import pathlib
import sys

import pytest

HELPERS = pathlib.Path(__file__).resolve().parents[1] / "helpers"
LAYERS = ("finetune", "lessons", "exercises")  # each layer may import only the layers before it
THIRD_PARTY_ALLOWED = {
    "finetune": {"numpy", "keras", "tensorflow", "matplotlib"},
    "lessons": {"numpy", "keras", "tensorflow", "matplotlib", "ipywidgets", "IPython", "absl"},
    "exercises": {"numpy", "keras", "tensorflow", "matplotlib"},
}


def imported_modules(path: pathlib.Path) -> list[str]:
    """Every module a file imports, as dotted names (`from a import b` gives `a` and `a.b`)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level > 0:
            names.append("<relative import>")
    return names


def layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "helpers" or len(parts) < 2:
        return None
    return parts[1] if parts[1] in LAYERS else "helpers"


def wrong_arrows(path: pathlib.Path, layer: str) -> list[str]:
    allowed_layers = LAYERS[: LAYERS.index(layer) + 1]
    standard_library = sys.stdlib_module_names
    problems = []
    for module in imported_modules(path):
        top = module.split(".")[0]
        if module == "<relative import>":
            problems.append("a relative import (import through `helpers.<layer>` instead)")
        elif top == "helpers":
            target = layer_of(module)
            if target is None or target == "helpers" or target not in allowed_layers:
                problems.append(f"{layer} imports {module}")
        elif top not in standard_library and top not in THIRD_PARTY_ALLOWED[layer]:
            problems.append(f"{layer} imports the third-party package {top}")
    return problems


def modules_of(layer: str) -> list[pathlib.Path]:
    return sorted((HELPERS / layer).glob("*.py"))


def test_every_helper_module_sits_in_a_layer():
    loose = [path.name for path in HELPERS.glob("*.py") if path.name != "__init__.py"]
    assert loose == [], f"modules outside the layers: {loose}"
    assert sorted(
        path.name for path in HELPERS.iterdir() if path.is_dir() and path.name != "__pycache__"
    ) == sorted(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_imports_point_one_way(layer):
    assert len(modules_of(layer)) >= 3
    problems = {path.name: wrong_arrows(path, layer) for path in modules_of(layer)}
    assert {name: found for name, found in problems.items() if found} == {}


def test_the_checker_sees_a_wrong_arrow(tmp_path):
    reusable = tmp_path / "reusable.py"
    reusable.write_text(
        "import numpy as np\n"
        "from helpers.lessons import course\n"
        "from helpers.finetune import models\n"
        "import pandas\n"
        "from . import sibling\n"
    )
    assert wrong_arrows(reusable, "finetune") == [
        "finetune imports helpers.lessons",
        "finetune imports helpers.lessons.course",
        "finetune imports the third-party package pandas",
        "a relative import (import through `helpers.<layer>` instead)",
    ]
    assert wrong_arrows(reusable, "exercises") == [
        "exercises imports the third-party package pandas"
    ] + ["a relative import (import through `helpers.<layer>` instead)"]


def test_nothing_outside_the_notebooks_and_tests_imports_the_exercises():
    importers = [
        str(path.relative_to(HELPERS.parent))
        for layer in ("finetune", "lessons")
        for path in modules_of(layer)
        if any(module.startswith("helpers.exercises") for module in imported_modules(path))
    ]
    scripts = HELPERS.parent.glob("scripts/*.py")
    importers += [
        str(path.relative_to(HELPERS.parent))
        for path in scripts
        if any(module.startswith("helpers.exercises") for module in imported_modules(path))
    ]
    assert importers == []
