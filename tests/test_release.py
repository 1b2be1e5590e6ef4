"""Colab clones a release that exists; `scripts/release.py` makes one (tested on a throwaway clone).

The first test fails until the maintainer has run `make release VERSION=<COURSE_REF>`: a lesson
whose ref is not released cannot open in Colab.
"""

import datetime
import json
import pathlib
import subprocess

import pytest
import release

from helpers.lessons import course

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
IDENTITY = {
    "GIT_AUTHOR_NAME": "Release Test",
    "GIT_AUTHOR_EMAIL": "release-test@example.org",
    "GIT_COMMITTER_NAME": "Release Test",
    "GIT_COMMITTER_EMAIL": "release-test@example.org",
}
VERSION = "v99.1.0"


def setup_cell_ref(path: pathlib.Path) -> str | None:
    """The `COURSE_REF` that a notebook's first code cell (the setup cell) names."""
    cells = json.loads(path.read_text())["cells"]
    setup_cell = next(cell for cell in cells if cell["cell_type"] == "code")
    return release.course_ref_in("".join(setup_cell["source"]))


def test_the_lessons_open_a_released_ref():
    refs = {path.name: setup_cell_ref(path) for path in NOTEBOOKS}
    assert refs == {path.name: course.COURSE_REF for path in NOTEBOOKS}
    assert release.ref_problems(ROOT, course.COURSE_REF) == []


@pytest.fixture
def clone(tmp_path, monkeypatch) -> pathlib.Path:
    """A throwaway clone of this repository (its committed state): releases happen there."""
    for name, value in IDENTITY.items():
        monkeypatch.setenv(name, value)
    folder = tmp_path / "course"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(folder)], check=True)
    return folder


def git(clone: pathlib.Path, *arguments: str) -> str:
    return release.git(clone, *arguments)


def test_a_release_sets_commits_tags_and_records_the_version(clone):
    previous = release.course_ref_in((clone / release.COURSE_FILE).read_text())
    commit = release.release(VERSION, clone, today=datetime.date(2030, 1, 2))
    assert release.course_ref_in((clone / release.COURSE_FILE).read_text()) == VERSION
    assert 'version = "99.1.0"' in (clone / "pyproject.toml").read_text()
    assert [setup_cell_ref(path) for path in sorted(clone.glob("notebooks/*.ipynb"))] == [
        VERSION
    ] * len(NOTEBOOKS)
    readme = (clone / "README.md").read_text()
    assert f"/blob/{VERSION}/" in readme and f"/blob/{previous}/" not in readme
    assert git(clone, "cat-file", "-t", VERSION) == "tag"  # annotated
    assert git(clone, "rev-parse", f"{VERSION}^{{commit}}") == commit
    assert git(clone, "log", "-2", "--format=%s").splitlines() == [
        f"Record release {VERSION}",
        f"Release {VERSION}",
    ]
    assert git(clone, "status", "--porcelain") == ""
    record = (clone / release.RECORD_FILE).read_text().splitlines()
    assert record[0] == release.RECORD_HEADER and record[-1] == f"{VERSION}\t{commit}\t2030-01-02"
    assert release.ref_problems(clone, VERSION) == []
    # A fresh clone without tags (as CI may have): the record vouches for the release.
    git(clone, "tag", "--delete", VERSION)
    assert release.ref_problems(clone, VERSION) == []
    with pytest.raises(RuntimeError, match=f"{VERSION} exists already"):
        release.release(VERSION, clone)


def test_a_ref_neither_tagged_nor_truly_recorded_is_reported(clone):
    assert (
        "neither a tag of this repository nor recorded" in release.ref_problems(clone, "v98.0.0")[0]
    )
    head = git(clone, "rev-parse", "HEAD")
    with (clone / release.RECORD_FILE).open("a") as record:
        record.write(f"v97.0.0\t{'0' * 40}\t2030-01-01\nv96.0.0\t{head}\t2030-01-01\n")
    assert "does not exist in this repository" in release.ref_problems(clone, "v97.0.0")[0]
    assert (
        f"sets COURSE_REF={course.COURSE_REF!r}, not 'v96.0.0'"
        in release.ref_problems(clone, "v96.0.0")[0]
    )


def test_a_release_refuses_a_dirty_tree_and_a_malformed_version(clone, capsys):
    (clone / "notes.txt").write_text("work in progress")
    with pytest.raises(RuntimeError, match=r"uncommitted changes.*Received: \?\? notes\.txt"):
        release.release(VERSION, clone)
    assert release.main(["0.4", "--repository", str(clone)]) == 1
    assert "release refused: VERSION must look like v1.2.3" in capsys.readouterr().err
    assert VERSION not in git(clone, "tag", "--list").splitlines()
