"""Keeps the lessons consistent: setup cell, badges, navigation, stripped outputs, kept examples.

Usage (from the repository root, inside .venv):

    python scripts/notebook_tool.py sync notebooks/*.ipynb     # the setup cell, strip outputs
    python scripts/notebook_tool.py refresh notebooks/*.ipynb  # run fast, keep tagged outputs
    python scripts/notebook_tool.py check notebooks/*.ipynb    # print problems, exit 1 if any

Conventions:
- The first cell is the "Open in Colab" and Binder badges (tagged `badges`) and the last cell
  links to the previous lesson, the README's lesson index and the next lesson (tagged
  `navigation`); both are generated from `course.REPOSITORY_URL` and `course.COURSE_REF`, and
  `sync` also writes the same badges into the README's lesson table.
- The first code cell is exactly `setup_cell.source()`, tagged `setup` and
  `nbval-ignore-output` (it prints versions), its code hidden (a form in Colab, collapsed in
  JupyterLab): it is plumbing, not part of the lesson.
- Cells tagged `keep_output` keep their outputs in git: deterministic printed results
  that nbval compares (such cells must also carry `nbval-check-output`).
  Every other code cell is stored without outputs.
"""

from __future__ import annotations

import argparse
import copy
import os
import pathlib
import re
import sys

import nbformat

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from helpers.lessons import course, setup_cell  # noqa: E402

KEEP_TAG = "keep_output"
CHECK_TAG = "nbval-check-output"
SETUP_TAGS = ["setup", "nbval-ignore-output"]
# The setup cell's code is hidden: Colab shows its form (the `# @title`), JupyterLab collapses it.
SETUP_HIDDEN = {"cellView": "form", "jupyter": {"source_hidden": True}}
KERNELSPEC = {"name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python"}
TEXT_MIME_TYPES = {"text/plain", "text/html", "text/markdown"}
COMMANDS = ("sync", "refresh", "check")
BADGES_TAG = "badges"
NAVIGATION_TAG = "navigation"
LESSON_PATTERN = "[0-9][0-9]_*.ipynb"
README_PATH = REPOSITORY_ROOT / "README.md"
COLAB_BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BINDER_BADGE_IMAGE = "https://mybinder.org/badge_logo.svg"
GITHUB_URL = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?")


def github_repository(url: str = course.REPOSITORY_URL) -> str:
    """Returns `owner/name` of a GitHub repository URL, as Colab and Binder name it.

    Args:
        url: str, the repository's URL; defaults to `course.REPOSITORY_URL`.

    Raises:
        ValueError: if `url` is not a GitHub repository URL.

    Example:

    >>> github_repository("https://github.com/keras-team/keras-io.git")
    'keras-team/keras-io'
    """
    match = GITHUB_URL.fullmatch(str(url))
    if match is None:
        raise ValueError(
            f"url must be https://github.com/OWNER/NAME(.git): Colab and Binder open GitHub "
            f"repositories. Received: url={url!r}"
        )
    return f"{match.group(1)}/{match.group(2)}"


def colab_url(lesson_name: str, ref: str = course.COURSE_REF) -> str:
    """Returns the URL that opens a lesson, as of the release `ref`, in Google Colab.

    Example:

    >>> colab_url("01_x.ipynb", "v1.0.0").split("/github/")[1].split("/", 2)[2]
    'blob/v1.0.0/notebooks/01_x.ipynb'
    """
    return (
        f"https://colab.research.google.com/github/{github_repository()}/blob/{ref}/"
        f"notebooks/{lesson_name}"
    )


def binder_url(lesson_name: str | None = None, ref: str = course.COURSE_REF) -> str:
    """Returns the URL that builds the course at `ref` on Binder, opening a lesson if named.

    Example:

    >>> binder_url("01_x.ipynb", "v1.0.0").split("?")[1]
    'urlpath=lab/tree/notebooks/01_x.ipynb'
    """
    url = f"https://mybinder.org/v2/gh/{github_repository()}/{ref}"
    return f"{url}?urlpath=lab/tree/notebooks/{lesson_name}" if lesson_name else url


def colab_badge(lesson_name: str) -> str:
    """Returns the markdown of a lesson's "Open in Colab" badge."""
    return f"[![Open In Colab]({COLAB_BADGE_IMAGE})]({colab_url(lesson_name)})"


def binder_badge(lesson_name: str | None = None) -> str:
    """Returns the markdown of a Binder badge, for the course or for one lesson."""
    return f"[![Launch Binder]({BINDER_BADGE_IMAGE})]({binder_url(lesson_name)})"


def badges_source(lesson_name: str) -> str:
    """Returns the source of a lesson's first cell: its Colab and Binder badges."""
    return f"{colab_badge(lesson_name)} {binder_badge(lesson_name)}"


def lesson_title(notebook: nbformat.NotebookNode, lesson_name: str) -> str:
    """Returns "NN Title" from the lesson's heading, `# Lesson NN: Title` or `# Lesson NN — Title`.

    Raises:
        ValueError: if no markdown cell holds such a heading, naming the lesson.

    Example:

    >>> notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Lesson 07: X")])
    >>> lesson_title(notebook, "07_x.ipynb")
    '07 X'
    """
    for cell in notebook.cells:
        match = re.search(r"^# Lesson (\d+)\s*[:—-]\s*(.+)$", cell.source, re.MULTILINE)
        if cell.cell_type == "markdown" and match:
            return f"{match.group(1)} {match.group(2).strip()}"
    raise ValueError(
        f"a lesson needs a heading `# Lesson NN: Title` for its navigation links. "
        f"Received: {lesson_name!r} without one"
    )


def navigation_source(lesson_names: list[str], titles: dict[str, str], lesson_name: str) -> str:
    """Returns the source of a lesson's last cell: links to the previous lesson, index and next.

    Args:
        lesson_names: list of str, every lesson's file name, in order.
        titles: dict, the title of each lesson (see `lesson_title`).
        lesson_name: str, the lesson whose cell this is.

    Example:

    >>> names = ["01_a.ipynb", "02_b.ipynb"]
    >>> print(navigation_source(names, {"01_a.ipynb": "01 A", "02_b.ipynb": "02 B"}, "02_b.ipynb"))
    ---
    Previous: [01 A](01_a.ipynb) · [All lessons](../README.md#lessons)
    """
    position = lesson_names.index(lesson_name)
    links = []
    if position > 0:
        previous = lesson_names[position - 1]
        links.append(f"Previous: [{titles[previous]}]({previous})")
    links.append("[All lessons](../README.md#lessons)")
    if position + 1 < len(lesson_names):
        following = lesson_names[position + 1]
        links.append(f"Next: [{titles[following]}]({following})")
    return "---\n" + " · ".join(links)


def lesson_names_beside(path: pathlib.Path) -> list[str]:
    """Returns the file names of the lessons in the folder of `path`, in order."""
    return sorted(sibling.name for sibling in path.parent.glob(LESSON_PATTERN))


def lesson_titles(folder: pathlib.Path) -> dict[str, str]:
    """Returns the title of every lesson in `folder`, by file name."""
    return {
        path.name: lesson_title(nbformat.read(path, as_version=4), path.name)
        for path in sorted(folder.glob(LESSON_PATTERN))
    }


def tags_of(cell: nbformat.NotebookNode) -> list[str]:
    """Returns the cell's tags (an empty list when it has none)."""
    return list(cell.get("metadata", {}).get("tags", []))


def code_cells(notebook: nbformat.NotebookNode) -> list[nbformat.NotebookNode]:
    """Returns the notebook's code cells in order."""
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def strip_outputs(notebook: nbformat.NotebookNode) -> None:
    """Removes outputs and execution counts, except in cells tagged `keep_output`.

    A kept cell's execution count becomes its position among the code cells, so it stays stable.
    """
    for number, cell in enumerate(code_cells(notebook), start=1):
        kept = KEEP_TAG in tags_of(cell)
        # nbval refuses stored outputs without an execution count: a kept cell gets its position.
        cell.execution_count = number if kept else None
        if not kept:
            cell.outputs = []
        for output in cell.get("outputs", []):
            if "execution_count" in output:
                output["execution_count"] = cell.execution_count
        cell.metadata.pop("execution", None)
    notebook.metadata.pop("widgets", None)


def _tagged_markdown(source: str, tag: str, old: nbformat.NotebookNode | None):
    cell = nbformat.v4.new_markdown_cell(source, metadata={"tags": [tag]})
    if old is not None:
        cell.id = old.get("id", cell.id)
    return cell


def sync_links(notebook: nbformat.NotebookNode, path: pathlib.Path) -> None:
    """Writes the badges as the lesson's first cell and the navigation as its last."""
    names = lesson_names_beside(path)
    if path.name not in names:
        return  # not a lesson (no NN_ prefix): no badges, no navigation
    first = notebook.cells[0] if notebook.cells else None
    has_badges = first is not None and BADGES_TAG in tags_of(first)
    badges = _tagged_markdown(badges_source(path.name), BADGES_TAG, first if has_badges else None)
    if has_badges:
        notebook.cells[0] = badges
    else:
        notebook.cells.insert(0, badges)
    titles = lesson_titles(path.parent) | {path.name: lesson_title(notebook, path.name)}
    last = notebook.cells[-1]
    has_navigation = NAVIGATION_TAG in tags_of(last)
    navigation = _tagged_markdown(
        navigation_source(names, titles, path.name),
        NAVIGATION_TAG,
        last if has_navigation else None,
    )
    if has_navigation:
        notebook.cells[-1] = navigation
    else:
        notebook.cells.append(navigation)


def link_problems(notebook: nbformat.NotebookNode, path: pathlib.Path) -> list[str]:
    """Returns what differs from the generated badges (first cell) and navigation (last cell)."""
    expected = copy.deepcopy(notebook)
    sync_links(expected, path)
    found = []
    if [cell.source for cell in expected.cells] != [cell.source for cell in notebook.cells]:
        found.append(
            f"{path.name}: the badges (first cell) or the navigation (last cell) are not the "
            "generated ones (run notebook_tool.py sync)"
        )
    return found


def readme_with_badges(readme: str, lesson_names: list[str]) -> str:
    """Returns the README with each lesson's Colab badge after its link in the lesson table.

    The course's Binder badge (one without a lesson) is rewritten to the current release too.

    Example:

    >>> row = "| [01 A](notebooks/01_a.ipynb) | text |"
    >>> readme_with_badges(row, ["01_a.ipynb"]).startswith(
    ...     "| [01 A](notebooks/01_a.ipynb) [![Open In Colab]"
    ... )
    True
    """
    course_badge = re.compile(
        r"\[!\[Launch Binder\]\([^)]*\)\]\(https://mybinder\.org/v2/gh/[^)?\s]*\)"
    )
    readme = course_badge.sub(lambda match: binder_badge(), readme)
    for name in lesson_names:
        badge = colab_badge(name)
        row = re.compile(
            rf"^(\| \[[^\]]+\]\(notebooks/{re.escape(name)}\))( \[!\[Open In Colab\][^|]*)?( \|)",
            re.MULTILINE,
        )
        readme = row.sub(
            lambda match, badge=badge: f"{match.group(1)} {badge}{match.group(3)}", readme
        )
    return readme


def sync(notebook: nbformat.NotebookNode) -> None:
    """Writes the shared setup cell first, the standard kernelspec, and strips outputs."""
    metadata = {"tags": list(SETUP_TAGS), **copy.deepcopy(SETUP_HIDDEN)}
    new_cell = nbformat.v4.new_code_cell(setup_cell.source(), metadata=metadata)
    cells = code_cells(notebook)
    if cells and "setup" in tags_of(cells[0]):
        index = notebook.cells.index(cells[0])
        new_cell.id = cells[0].get("id", new_cell.id)
        notebook.cells[index] = new_cell
    else:
        first_code = notebook.cells.index(cells[0]) if cells else len(notebook.cells)
        notebook.cells.insert(first_code, new_cell)
    notebook.metadata["kernelspec"] = dict(KERNELSPEC)
    notebook.metadata["language_info"] = {"name": "python"}
    strip_outputs(notebook)


def problems(notebook: nbformat.NotebookNode, name: str) -> list[str]:
    """Returns the hygiene problems of one notebook, each naming the notebook and cell.

    Checks: the first code cell is the shared setup cell; only cells tagged `keep_output`
    hold outputs, and those hold text only and carry `nbval-check-output` (so nbval
    compares them) with their position as execution count; other cells store no execution
    count; the kernel is `python3`.
    """
    found = []
    cells = code_cells(notebook)
    if not cells or cells[0].source != setup_cell.source():
        found.append(
            f"{name}: the first code cell is not the shared setup cell (run notebook_tool.py sync)"
        )
    elif tags_of(cells[0]) != SETUP_TAGS:
        found.append(
            f"{name}: the setup cell must be tagged {SETUP_TAGS}; it has {tags_of(cells[0])}"
        )
    elif any(cells[0].metadata.get(key) != value for key, value in SETUP_HIDDEN.items()):
        found.append(f"{name}: the setup cell's code must be hidden ({SETUP_HIDDEN})")
    if notebook.metadata.get("kernelspec", {}).get("name") != "python3":
        found.append(f"{name}: the kernelspec must be python3 (no kernel-selection dialog)")
    for number, cell in enumerate(cells, start=1):
        where = f"{name}, code cell {number}"
        if KEEP_TAG in tags_of(cell):
            found += _kept_cell_problems(cell, number, where)
        else:
            found += _stripped_cell_problems(cell, where)
    return found


def _kept_cell_problems(cell: nbformat.NotebookNode, number: int, where: str) -> list[str]:
    """A kept cell: its position as execution count, compared by nbval, text outputs only."""
    found = []
    if cell.execution_count != number:
        found.append(f"{where}: a kept cell's execution count must be its position, {number}")
    if CHECK_TAG not in tags_of(cell):
        found.append(
            f"{where}: tagged {KEEP_TAG} but not {CHECK_TAG}, so nbval would not compare it"
        )
    if not cell.outputs:
        found.append(
            f"{where}: tagged {KEEP_TAG} but has no outputs (run notebook_tool.py refresh)"
        )
    for output in cell.outputs:
        kinds = set(output.get("data", {})) or {output.output_type}
        is_text = output.output_type != "error" and kinds <= TEXT_MIME_TYPES | {"stream"}
        if not is_text:
            found.append(f"{where}: a kept output must be text; found {sorted(kinds)}")
    return found


def _stripped_cell_problems(cell: nbformat.NotebookNode, where: str) -> list[str]:
    """Any other cell: no execution count, no outputs, and no request that nbval compare them."""
    found = []
    if cell.execution_count is not None:
        found.append(f"{where}: stores an execution count")
    if cell.outputs:
        found.append(f"{where}: has stored outputs but is not tagged {KEEP_TAG}")
    elif CHECK_TAG in tags_of(cell):
        found.append(
            f"{where}: tagged {CHECK_TAG} but not {KEEP_TAG}; its outputs would be stripped"
        )
    return found


def refresh(path: pathlib.Path) -> None:
    """Runs a notebook in fast mode and stores the outputs of its `keep_output` cells."""
    from nbclient import NotebookClient

    os.environ["COURSE_FAST"] = "1"
    notebook = nbformat.read(path, as_version=4)
    sync(notebook)
    NotebookClient(
        notebook,
        timeout=900,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    strip_outputs(notebook)
    nbformat.write(notebook, path)


def main(argv: list[str]) -> int:
    """Runs one command (`sync`, `refresh` or `check`) on the given notebooks.

    Args:
        argv: list of str, the command line after the script's name.

    Returns:
        The exit status: 1 if `check` found problems, else 0 (argparse exits with 2 on a bad
        command line).
    """
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=COMMANDS, help="what to do with the notebooks")
    parser.add_argument("paths", nargs="+", type=pathlib.Path, help="the .ipynb files")
    arguments = parser.parse_args(argv)
    found = []
    for path in arguments.paths:
        if arguments.command == "refresh":
            refresh(path)
            print(f"refreshed {path}")
            continue
        notebook = nbformat.read(path, as_version=4)
        if arguments.command == "sync":
            sync(notebook)
            sync_links(notebook, path)
            nbformat.write(notebook, path)
            print(f"synced {path}")
        else:
            found += problems(notebook, path.name) + link_problems(notebook, path)
    lesson_names = sorted({name for path in arguments.paths for name in lesson_names_beside(path)})
    readme = README_PATH.read_text()
    if arguments.command == "sync":
        README_PATH.write_text(readme_with_badges(readme, lesson_names))
    elif arguments.command == "check" and readme_with_badges(readme, lesson_names) != readme:
        found.append("README.md: the lesson table's Colab badges are not the generated ones")
    if arguments.command == "check":
        print("\n".join(found) or "no problems")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
