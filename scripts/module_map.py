"""Writes the README's module map: each helper module, its layer, what it holds, its lessons.

"What it holds" is the first sentence of the module's docstring, so the README and the code say the
same thing; "lessons" lists the notebooks whose code imports the module. `tests/test_module_map.py`
checks that the README holds exactly this table.

Usage:

    python scripts/module_map.py            # print the table
    python scripts/module_map.py --write    # replace the table in README.md
"""

from __future__ import annotations

import ast
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
LAYERS = {
    "finetune": "reusable",
    "lessons": "course",
    "exercises": "exercises",
}
BEGIN = "<!-- module map: written by scripts/module_map.py -->"
END = "<!-- end of module map -->"


def summary(path: pathlib.Path) -> str:
    """Returns the first line of a module's docstring (its one-sentence summary)."""
    docstring = ast.get_docstring(ast.parse(path.read_text())) or ""
    return docstring.strip().splitlines()[0] if docstring.strip() else ""


def imported_modules(code: str) -> set[str]:
    """Returns `helpers.<layer>.<module>` for each helper module a code cell imports."""
    lines = [line for line in code.splitlines() if not line.lstrip().startswith(("%", "!"))]
    try:
        tree = ast.parse("\n".join(lines))
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def lessons_importing(layer: str, module: str) -> list[str]:
    """Returns the numbers (`"03"`) of the lessons whose code imports `helpers.<layer>.<module>`."""
    numbers = []
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(notebook.read_text())["cells"]
        code_cells = ["".join(cell["source"]) for cell in cells if cell["cell_type"] == "code"]
        imported = set().union(*(imported_modules(code) for code in code_cells))
        if f"helpers.{layer}.{module}" in imported:
            numbers.append(notebook.name[:2])
    return numbers


def table() -> str:
    """Returns the module map as a markdown table, one row per module, layer by layer."""
    rows = [
        "| module | layer | what it holds | lessons that import it |",
        "| --- | --- | --- | --- |",
    ]
    for layer, layer_name in LAYERS.items():
        for path in sorted((ROOT / "helpers" / layer).glob("*.py")):
            if path.name == "__init__.py":
                continue
            module = path.stem
            lessons = ", ".join(lessons_importing(layer, module)) or "—"
            location = f"`helpers/{layer}/{path.name}`"
            rows.append(f"| {location} | {layer_name} | {summary(path)} | {lessons} |")
    return "\n".join(rows)


def readme_with_table(readme: str) -> str:
    """Returns the README text with the table between the BEGIN and END markers replaced."""
    if BEGIN not in readme or END not in readme:
        raise ValueError(f"README.md must hold the markers {BEGIN!r} and {END!r}")
    before = readme.split(BEGIN)[0]
    after = readme.split(END)[1]
    return f"{before}{BEGIN}\n{table()}\n{END}{after}"


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        readme_path = ROOT / "README.md"
        readme_path.write_text(readme_with_table(readme_path.read_text()))
    else:
        print(table())
