"""Each lesson opens with its Colab and Binder badges and ends with previous, index, next links."""

import copy
import pathlib
import re

import nbformat
import notebook_tool
import pytest

from helpers.lessons import course

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MARKDOWN_LINK = re.compile(r"\]\(([^)\s]+)\)")


def read(path: pathlib.Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def headings_of(markdown: str) -> set[str]:
    """GitHub-style anchors of the markdown's headings: lower case, spaces to dashes."""
    titles = re.findall(r"^#+ (.+)$", markdown, re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", title).strip().lower().replace(" ", "-") for title in titles}


@pytest.mark.parametrize("path", LESSONS, ids=[path.name for path in LESSONS])
def test_badges_and_navigation_are_the_generated_ones(path):
    notebook = read(path)
    assert notebook_tool.link_problems(notebook, path) == []
    assert notebook.cells[0].metadata["tags"] == [notebook_tool.BADGES_TAG]
    assert notebook.cells[-1].metadata["tags"] == [notebook_tool.NAVIGATION_TAG]
    assert f"/blob/{course.COURSE_REF}/notebooks/{path.name})" in notebook.cells[0].source


@pytest.mark.parametrize("path", LESSONS, ids=[path.name for path in LESSONS])
def test_every_navigation_link_reaches_a_file_and_heading(path):
    links = MARKDOWN_LINK.findall(read(path).cells[-1].source)
    position = LESSONS.index(path)
    expected_count = 1 + (position > 0) + (position < len(LESSONS) - 1)
    assert len(links) == expected_count
    for link in links:
        target, _, anchor = link.partition("#")
        assert (path.parent / target).is_file(), link
        if anchor:
            assert anchor in headings_of((path.parent / target).read_text()), link


def test_the_first_and_last_lessons_link_only_inwards():
    first = read(LESSONS[0]).cells[-1].source
    last = read(LESSONS[-1]).cells[-1].source
    assert "Previous:" not in first and "Next:" in first
    assert "Next:" not in last and "Previous:" in last


def test_a_hand_edited_navigation_cell_is_a_problem():
    notebook = read(LESSONS[1])
    edited = copy.deepcopy(notebook)
    edited.cells[-1].source = edited.cells[-1].source.replace("Next:", "Onwards:")
    assert notebook_tool.link_problems(edited, LESSONS[1]) != []
    edited = copy.deepcopy(notebook)
    del edited.cells[0]  # the badges removed
    assert notebook_tool.link_problems(edited, LESSONS[1]) != []


def test_sync_adds_missing_badges_and_navigation_once():
    notebook = read(LESSONS[2])
    bare = copy.deepcopy(notebook)
    bare.cells = bare.cells[1:-1]
    notebook_tool.sync_links(bare, LESSONS[2])
    notebook_tool.sync_links(bare, LESSONS[2])
    assert [cell.source for cell in bare.cells] == [cell.source for cell in notebook.cells]


def test_the_readme_lesson_table_carries_each_colab_badge():
    readme = (ROOT / "README.md").read_text()
    names = [path.name for path in LESSONS]
    assert notebook_tool.readme_with_badges(readme, names) == readme
    for name in names:
        assert f"(notebooks/{name}) {notebook_tool.colab_badge(name)} |" in readme
    assert notebook_tool.binder_badge() in readme


def test_sync_rewrites_an_old_release_in_the_readme_badges():
    names = [path.name for path in LESSONS]
    readme = (ROOT / "README.md").read_text()
    old = readme.replace(f"/{course.COURSE_REF}", "/v0.0.1")
    assert old != readme
    assert notebook_tool.readme_with_badges(old, names) == readme


def test_a_lesson_without_a_heading_is_refused_by_name():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("Lesson 9")])
    with pytest.raises(ValueError, match="Received: '09_x.ipynb' without one"):
        notebook_tool.lesson_title(notebook, "09_x.ipynb")


@pytest.mark.parametrize(
    "url",
    [
        "https://gitlab.com/owner/name.git",
        "git@github.com:owner/name.git",
        "https://github.com/owner",
        "",
    ],
)
def test_badges_need_a_github_url(url):
    with pytest.raises(ValueError, match="Received: url="):
        notebook_tool.github_repository(url)
