"""Builds the course website: the README as its front page, then each lesson with its outputs.

Usage (from the repository root, inside .venv):

    python scripts/build_site.py                       # `make site`: every lesson run in full mode
    python scripts/build_site.py --mode fast --reuse   # from the test command's own notebook run

Three steps, all offline:
1. Executed lessons: `build/executed/<mode>/` (see `executed_notebooks.py`). With `--reuse`, a
   copy that matches its lesson is used as it is (the test command's nbval run writes them);
   any other lesson is run with nbclient.
2. Staging under `build/site-source/<mode>/`, in the repository's own layout: the README as
   `index.md`, the lessons under `notebooks/` (the setup cell's source folded away, each widget
   replaced by a note), the data cards under `data/`. A link (in the README, a card or a lesson)
   to a file that is not on the site becomes a link to that file in the repository, at the
   course's release.
3. Sphinx with MyST-NB renders the staged folder (configuration: `scripts/site/conf.py`, no
   execution) into `build/site/` (or `--output`); any Sphinx warning fails the build.
"""

from __future__ import annotations

import argparse
import pathlib
import posixpath
import re
import shutil
import subprocess
import sys
import time

import executed_notebooks
import nbformat

REPOSITORY_ROOT = executed_notebooks.REPOSITORY_ROOT
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from helpers.lessons import course  # noqa: E402

CONFIGURATION_FOLDER = REPOSITORY_ROOT / "scripts" / "site"
SITE_FOLDER = REPOSITORY_ROOT / "build" / "site"
STAGING_FOLDER = REPOSITORY_ROOT / "build" / "site-source"
DOCTREE_FOLDER = REPOSITORY_ROOT / "build" / "site-doctrees"
# Where a link to a file that is not on the site points: the file in the repository, at the
# release the lessons belong to.
REPOSITORY_FILE_URL = f"{course.REPOSITORY_URL.removesuffix('.git')}/blob/{course.COURSE_REF}"
SETUP_TAG = "setup"
HIDE_SOURCE_TAG = "hide-input"  # MyST-NB folds the cell's source behind a "show" toggle
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    "*An interactive widget sits here. It needs a running kernel: open the lesson in "
    "JupyterLab (`make lab`) or Colab to use it.*"
)
# An inline markdown link or image: [text](target) or ![alt](target); the target has no spaces.
MARKDOWN_LINK = re.compile(r"(?P<opening>!?\[[^\]]*\]\()(?P<target>[^)\s]+)\)")
# A badge: a link around an image from the network, [![alt](https://...)](target).
BADGE = re.compile(r"\[!\[(?P<alt>[^\]]*)\]\(https?://[^)\s]+\)\]\((?P<target>[^)\s]+)\)")
BADGES_TAG = "badges"  # a lesson's first cell: its Colab and Binder badges


def site_documents() -> dict[str, str]:
    """Returns the repository files the site shows, each mapped to its staged path.

    Example:

    >>> site_documents()["README.md"]
    'index.md'
    """
    documents = {"README.md": "index.md"}
    for path in executed_notebooks.lessons():
        documents[f"notebooks/{path.name}"] = f"notebooks/{path.name}"
    for path in sorted((REPOSITORY_ROOT / "data").glob("*.md")):
        documents[f"data/{path.name}"] = f"data/{path.name}"
    return documents


def rewrite_links(
    markdown: str, document: str, documents: dict[str, str], repository_root: pathlib.Path
) -> tuple[str, list[str]]:
    """Points a markdown file's relative links at the site, or else at the repository.

    A link to a file the site shows stays a relative link (to that file's staged path, which
    Sphinx turns into a link to its page); a link to any other file of the repository becomes
    `REPOSITORY_FILE_URL/<path>`; an image stays relative and is returned, to be copied.

    Args:
        markdown: str, the file's text.
        document: str, its path in the repository, e.g. `"README.md"` or `"data/x_card.md"`.
        documents: dict, the files the site shows: repository path -> staged path.
        repository_root: pathlib.Path, where the linked files are looked up.

    Returns:
        The rewritten text, and the repository paths of the images it shows.

    Raises:
        ValueError: naming the link, when it points at no file of the repository.

    Example:

    >>> documents = {"README.md": "index.md", "notebooks/01.ipynb": "notebooks/01.ipynb"}
    >>> text = "[01](notebooks/01.ipynb), [code](helpers/__init__.py#L1), [top](#quick-start)"
    >>> rewritten, images = rewrite_links(text, "README.md", documents, REPOSITORY_ROOT)
    >>> print(rewritten.replace(REPOSITORY_FILE_URL, "<repository>"))
    [01](notebooks/01.ipynb), [code](<repository>/helpers/__init__.py#L1), [top](#quick-start)
    """
    staged_folder = posixpath.dirname(documents[document])
    images = []

    def rewrite(match: re.Match) -> str:
        target = match["target"]
        path, hash_sign, fragment = target.partition("#")
        is_relative_path = path and not re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", path)
        if not is_relative_path:
            return match[0]
        repository_path = posixpath.normpath(posixpath.join(posixpath.dirname(document), path))
        is_image = match["opening"].startswith("!")
        if repository_path in documents:
            new_path = posixpath.relpath(documents[repository_path], staged_folder or ".")
        elif not (repository_root / repository_path).exists():
            raise ValueError(
                f"{document} links to a file that does not exist. Received: ({target})"
            )
        elif is_image:
            images.append(repository_path)
            new_path = posixpath.relpath(repository_path, posixpath.dirname(document) or ".")
        else:
            new_path = f"{REPOSITORY_FILE_URL}/{repository_path}"
        return f"{match['opening']}{new_path}{hash_sign}{fragment})"

    return MARKDOWN_LINK.sub(rewrite, markdown), images


def badges_as_links(markdown: str) -> str:
    """Turns each badge into a plain link: the site loads no image from the network.

    Example:

    >>> badges_as_links("[![Open In Colab](https://x/badge.svg)](https://colab/y) text")
    '[Open In Colab](https://colab/y) text'
    """
    return BADGE.sub(lambda match: f"[{match['alt']}]({match['target']})", markdown)


def table_of_contents(caption: str, entries: list[str]) -> str:
    """Returns a hidden MyST toctree: the site's sidebar lists `entries` under `caption`."""
    lines = ["", "```{toctree}", ":hidden:", f":caption: {caption}", "", *entries, "```", ""]
    return "\n".join(lines)


def stage_lesson(executed: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Prepares an executed lesson for its page: no badges, the setup cell folded, widgets as notes.

    Printed text is shown as JupyterLab shows it: a cell's consecutive pieces of one stream
    joined, and progress bars at their last state (`terminal_text`).

    Returns:
        A new notebook; `executed` is left as it is.
    """
    notebook = nbformat.from_dict(executed)
    notebook.metadata.pop("widgets", None)  # rendering saved widget state needs a CDN's scripts
    # The badges' images come from the network; the theme's launch buttons open Colab and Binder.
    notebook.cells = [
        cell for cell in notebook.cells if BADGES_TAG not in cell.metadata.get("tags", [])
    ]
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.setdefault("tags", [])
        if SETUP_TAG in tags and HIDE_SOURCE_TAG not in tags:
            tags.append(HIDE_SOURCE_TAG)
        cell.outputs = joined_streams(cell.outputs)
        for output in cell.outputs:
            if WIDGET_VIEW in output.get("data", {}):
                output["data"] = {"text/markdown": WIDGET_NOTE, "text/plain": WIDGET_NOTE}
    return notebook


def joined_streams(outputs: list) -> list:
    """Joins consecutive outputs of one stream (stdout, stderr), in place; applies `terminal_text`.

    Example:

    >>> pieces = [nbformat.v4.new_output("stream", text=text) for text in ("1/4 ..", "\\r4/4\\n")]
    >>> [output.text for output in joined_streams(pieces)]
    ['4/4\\n']
    """
    joined = []
    for output in outputs:
        previous = joined[-1] if joined else None
        continues_a_stream = (
            output.output_type == "stream"
            and previous is not None
            and previous.output_type == "stream"
            and previous.name == output.name
        )
        if continues_a_stream:
            previous.text += output.text
        else:
            joined.append(output)
    for output in joined:
        if output.output_type == "stream":
            output.text = terminal_text(output.text)
    return [output for output in joined if output.output_type != "stream" or output.text]


def terminal_text(text: str) -> str:
    """Returns what JupyterLab shows for printed text with control characters in it.

    A carriage return starts its line over; a backspace erases the character before it. Keras's
    progress bars print both to redraw themselves; a static page would show each as a box.

    Example:

    >>> terminal_text("Epoch 1/2\\n1/4 [==  ]\\b\\b\\b\\b\\r4/4 [====]\\r\\n")
    'Epoch 1/2\\n4/4 [====]\\n'
    """
    lines = []
    for line in re.sub(r"\r+\n", "\n", text).split("\n"):
        shown = []
        for character in line.rsplit("\r", 1)[-1]:
            if character != "\b":
                shown.append(character)
            elif shown:
                shown.pop()
        lines.append("".join(shown))
    return "\n".join(lines)


def stage(executed_paths: list[pathlib.Path], staging_folder: pathlib.Path) -> None:
    """Writes the site's sources: the README as `index.md`, the lessons, the data cards.

    Links in the README, the cards and the lessons' markdown cells go through `rewrite_links`.

    Args:
        executed_paths: list of pathlib.Path, the executed lessons, in order.
        staging_folder: pathlib.Path, emptied first.
    """
    if staging_folder.exists():
        shutil.rmtree(staging_folder)
    documents = site_documents()
    cards = [document for document in documents if document.startswith("data/")]
    images = []
    for document in ["README.md", *cards]:
        text = badges_as_links((REPOSITORY_ROOT / document).read_text(encoding="utf-8"))
        text, shown_images = rewrite_links(text, document, documents, REPOSITORY_ROOT)
        images += shown_images
        if document == "README.md":
            text += table_of_contents("Lessons", [f"notebooks/{p.stem}" for p in executed_paths])
            text += table_of_contents("Data cards", [card.removesuffix(".md") for card in cards])
        staged_path = staging_folder / documents[document]
        staged_path.parent.mkdir(parents=True, exist_ok=True)
        staged_path.write_text(text, encoding="utf-8")
    (staging_folder / "notebooks").mkdir(parents=True, exist_ok=True)
    for path in executed_paths:
        document = f"notebooks/{path.name}"
        lesson = stage_lesson(nbformat.read(path, as_version=4))
        for cell in lesson.cells:
            if cell.cell_type == "markdown":
                cell.source, shown_images = rewrite_links(
                    cell.source, document, documents, REPOSITORY_ROOT
                )
                images += shown_images
        nbformat.write(lesson, staging_folder / documents[document])
    for image in images:
        (staging_folder / image).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPOSITORY_ROOT / image, staging_folder / image)


def executed_lessons(mode: str, reuse: bool) -> list[pathlib.Path]:
    """Returns the executed copy of every lesson, running those it must with nbclient.

    Args:
        mode: str, `"fast"` or `"full"`.
        reuse: bool, whether a copy that matches its lesson (and mode) is used as it is.

    Returns:
        The copies' paths, in lesson order.
    """
    paths = []
    for lesson_path in executed_notebooks.lessons():
        executed_path = executed_notebooks.folder(mode) / lesson_path.name
        if reuse and executed_notebooks.is_current(executed_path, lesson_path, mode):
            print(f"{lesson_path.name}: reusing {executed_path.relative_to(REPOSITORY_ROOT)}")
        else:
            started = time.perf_counter()
            executed_notebooks.execute(lesson_path, mode)
            print(
                f"{lesson_path.name}: ran in {mode} mode in {time.perf_counter() - started:.0f} s"
            )
        paths.append(executed_path)
    return paths


def run_sphinx(staging_folder: pathlib.Path, output_folder: pathlib.Path) -> None:
    """Renders the staged sources to HTML; any warning fails (`-W`), after all are listed.

    Raises:
        subprocess.CalledProcessError: when Sphinx fails or warns.
    """
    if output_folder.exists():
        shutil.rmtree(output_folder)
    doctrees = DOCTREE_FOLDER / staging_folder.name
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-q", "-E", "-W", "--keep-going"]
    command += ["-c", str(CONFIGURATION_FOLDER), "-d", str(doctrees)]
    subprocess.run([*command, str(staging_folder), str(output_folder)], check=True)


def build(
    mode: str, output_folder: pathlib.Path = SITE_FOLDER, reuse: bool = False
) -> pathlib.Path:
    """Builds the website from the lessons executed in `mode`.

    Args:
        mode: str, `"fast"` or `"full"`.
        output_folder: pathlib.Path, where the HTML goes (default `build/site/`); emptied first.
        reuse: bool, whether current executed copies are used as they are (default False).

    Returns:
        The front page, `output_folder/index.html`.
    """
    executed_paths = executed_lessons(mode, reuse)
    staging_folder = STAGING_FOLDER / mode
    stage(executed_paths, staging_folder)
    started = time.perf_counter()
    run_sphinx(staging_folder, output_folder)
    print(f"Sphinx: {time.perf_counter() - started:.0f} s")
    return output_folder / "index.html"


def main(argv: list[str]) -> int:
    """Builds the site as the command line asks; returns the exit status (0)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--mode", choices=executed_notebooks.MODES, default="full")
    parser.add_argument(
        "--reuse", action="store_true", help="use executed lessons that match their source"
    )
    parser.add_argument("--output", type=pathlib.Path, default=SITE_FOLDER)
    arguments = parser.parse_args(argv)
    front_page = build(arguments.mode, arguments.output.resolve(), arguments.reuse)
    print(f"The site: {front_page}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
