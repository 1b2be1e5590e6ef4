"""Every Colab and Binder badge opens this course's release, at a file that exists in it."""

import pathlib
import re
import subprocess

import nbformat
import notebook_tool
import pytest
import release

from helpers.lessons import course

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COLAB = re.compile(
    r"https://colab\.research\.google\.com/github/([^/\s)]+/[^/\s)]+)/blob/([^/\s)]+)/([^\s)]+)"
)
BINDER = re.compile(
    r"https://mybinder\.org/v2/gh/([^/\s)]+/[^/\s)]+)/([^?\s)]+)(?:\?urlpath=lab/tree/([^\s)]+))?"
)


def badge_targets(text: str) -> list[tuple[str, str, str | None]]:
    """Returns (repository, ref, path or None) for every Colab and Binder URL in `text`."""
    return [match.groups() for pattern in (COLAB, BINDER) for match in pattern.finditer(text)]


def texts_with_badges() -> dict[str, str]:
    texts = {"README.md": (ROOT / "README.md").read_text()}
    for path in LESSONS:
        cells = nbformat.read(path, as_version=4).cells
        texts[path.name] = "\n".join(cell.source for cell in cells if cell.cell_type == "markdown")
    return texts


def exists_at(revision: str, path: str) -> bool:
    finished = subprocess.run(
        ["git", "cat-file", "-e", f"{revision}:{path}"], cwd=ROOT, capture_output=True
    )
    return finished.returncode == 0


def test_badge_targets_reads_both_kinds():
    text = (
        "[a](https://colab.research.google.com/github/o/r/blob/v1.0.0/notebooks/01_a.ipynb) "
        "[b](https://mybinder.org/v2/gh/o/r/v1.0.0?urlpath=lab/tree/notebooks/01_a.ipynb) "
        "[c](https://mybinder.org/v2/gh/o/r/v1.0.0)"
    )
    assert badge_targets(text) == [
        ("o/r", "v1.0.0", "notebooks/01_a.ipynb"),
        ("o/r", "v1.0.0", "notebooks/01_a.ipynb"),
        ("o/r", "v1.0.0", None),
    ]


@pytest.mark.parametrize("name, text", texts_with_badges().items())
def test_every_badge_opens_a_file_of_the_release(name, text):
    targets = badge_targets(text)
    assert targets, f"{name} has no Colab or Binder badge"
    revision = release.release_commit(ROOT, course.COURSE_REF)
    assert revision is not None, release.ref_problems(ROOT, course.COURSE_REF)
    for repository, ref, path in targets:
        assert (repository, ref) == (notebook_tool.github_repository(), course.COURSE_REF)
        # A Binder badge without a lesson builds the release's environment.yml and postBuild.
        for needed in [path] if path else ["environment.yml", "postBuild"]:
            assert exists_at(revision, needed), f"{name}: {needed} is not in {ref}"


def test_each_lesson_has_its_own_colab_and_binder_badge():
    for path in LESSONS:
        first_cell = nbformat.read(path, as_version=4).cells[0].source
        assert [target[2] for target in badge_targets(first_cell)] == [f"notebooks/{path.name}"] * 2
