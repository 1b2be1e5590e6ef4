"""Releases the course: sets, commits, tags and records a version (`make release VERSION=vX.Y.Z`).

Colab clones the release that `COURSE_REF` names (helpers/lessons/course.py), so a lesson and
the helpers it imports always match; that release must exist as a tag. A release:

1. refuses a working tree with uncommitted changes, a malformed version (not `vX.Y.Z`) and a
   version that exists already (a tag, or a line of the record);
2. sets `COURSE_REF` in helpers/lessons/course.py, `version` in pyproject.toml and the release
   in the README's Colab links;
3. re-syncs every notebook's setup cell (`scripts/notebook_tool.py sync`), which names the ref;
4. commits "Release vX.Y.Z" and creates the annotated tag vX.Y.Z on that commit;
5. appends `vX.Y.Z <commit> <date>` to the record, scripts/releases.tsv, and commits it
   ("Record release vX.Y.Z").

Why the record: CI tests a fresh clone, which may not carry tags. `tests/test_release.py`
accepts a ref that is a tag, or that the record names with a commit that exists and whose
course.py says that same `COURSE_REF`. Afterwards push both: `git push origin HEAD vX.Y.Z`.

Usage (from the repository root, inside .venv):

    make release VERSION=v0.3.0
    python scripts/release.py v0.3.0 [--repository PATH]   # PATH: another clone (tests)
"""

from __future__ import annotations

import argparse
import datetime
import pathlib
import re
import subprocess
import sys

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
COURSE_FILE = pathlib.Path("helpers", "lessons", "course.py")
RECORD_FILE = pathlib.Path("scripts", "releases.tsv")
RECORD_HEADER = "version\tcommit\tdate"
VERSION_PATTERN = re.compile(r"v\d+\.\d+\.\d+")
COURSE_REF_LINE = re.compile(r'^COURSE_REF = "([^"]*)"', re.MULTILINE)
PROJECT_VERSION_LINE = re.compile(r'^version = "[^"]*"', re.MULTILINE)


def git(repository: pathlib.Path, *arguments: str, check: bool = True) -> str:
    """Runs git in `repository` and returns its output, stripped.

    Raises:
        RuntimeError: if `check` and git fails, with git's message.
    """
    completed = subprocess.run(
        ["git", *arguments], cwd=repository, capture_output=True, text=True, check=False
    )
    if check and completed.returncode != 0:
        raise RuntimeError(f"git {' '.join(arguments)} failed: {completed.stderr.strip()}")
    return completed.stdout.strip()


def check_version(version: str) -> str:
    """Returns `version` if it is `v` and three numbers.

    Raises:
        ValueError: otherwise, echoing it.

    Example:

    >>> check_version("v0.3.0")
    'v0.3.0'
    >>> check_version("0.3")
    Traceback (most recent call last):
    ...
    ValueError: VERSION must look like v1.2.3 (v and three numbers). Received: VERSION='0.3'
    """
    if not VERSION_PATTERN.fullmatch(version):
        raise ValueError(
            f"VERSION must look like v1.2.3 (v and three numbers). Received: VERSION={version!r}"
        )
    return version


def course_ref_in(course_source: str) -> str | None:
    """Returns the `COURSE_REF` that a course.py source sets, or None if it sets none.

    Example:

    >>> course_ref_in('REPOSITORY_URL = "x"\\nCOURSE_REF = "v0.3.0"  # a comment\\n')
    'v0.3.0'
    """
    match = COURSE_REF_LINE.search(course_source)
    return match.group(1) if match else None


def recorded_releases(repository: pathlib.Path = REPOSITORY_ROOT) -> dict[str, str]:
    """Returns {version: release commit} from the record (scripts/releases.tsv)."""
    path = repository / RECORD_FILE
    if not path.is_file():
        return {}
    lines = path.read_text().splitlines()
    rows = [line.split("\t") for line in lines if line.strip() and line != RECORD_HEADER]
    return {row[0]: row[1] for row in rows}


def is_tag(repository: pathlib.Path, ref: str) -> bool:
    """Returns whether `ref` is a tag of the repository."""
    return bool(git(repository, "tag", "--list", ref))


def release_commit(repository: pathlib.Path, ref: str) -> str | None:
    """Returns what `ref` names: the tag itself, else its recorded commit, else `None`.

    Args:
        repository: the repository's root folder.
        ref: str, a release such as `course.COURSE_REF`.

    Returns:
        A revision `git show REVISION:PATH` accepts, or `None` when `ref` is not a release here.
    """
    if is_tag(repository, ref):
        return ref
    return recorded_releases(repository).get(ref)


def ref_problems(repository: pathlib.Path, ref: str) -> list[str]:
    """Returns why `ref` cannot be what Colab clones (an empty list when it can).

    It can when it is a tag whose course.py sets that same `COURSE_REF`; in a clone without
    the tag, when the record names it with a commit that exists here and whose course.py sets
    that same `COURSE_REF`.
    """
    if is_tag(repository, ref):
        commit = ref
        where = f"the tag {ref}"
    elif ref in recorded_releases(repository):
        commit = recorded_releases(repository)[ref]
        where = f"{ref}'s recorded commit {commit} ({RECORD_FILE})"
        if git(repository, "cat-file", "-t", commit, check=False) != "commit":
            return [f"{where} does not exist in this repository (a shallow clone?)"]
    else:
        return [
            f"{ref} is neither a tag of this repository nor recorded in {RECORD_FILE}: "
            f"Colab could not clone it. Release it: make release VERSION={ref}"
        ]
    source = git(repository, "show", f"{commit}:{COURSE_FILE.as_posix()}", check=False)
    if course_ref_in(source) != ref:
        return [f"at {where}, {COURSE_FILE} sets COURSE_REF={course_ref_in(source)!r}, not {ref!r}"]
    return []


def replace_once(pattern: re.Pattern, replacement: str, text: str, what: str) -> str:
    """Returns `text` with the one match of `pattern` replaced.

    Raises:
        RuntimeError: if `pattern` matches no line (the file changed shape).
    """
    new_text, count = pattern.subn(replacement, text, count=1)
    if count != 1:
        raise RuntimeError(f"Cannot find {what} (the line {pattern.pattern!r}) to set the release")
    return new_text


def write_version(repository: pathlib.Path, version: str) -> None:
    """Sets the version in course.py, pyproject.toml and the README's Colab links."""
    course_path = repository / COURSE_FILE
    course_source = course_path.read_text()
    previous = course_ref_in(course_source)
    course_path.write_text(
        replace_once(COURSE_REF_LINE, f'COURSE_REF = "{version}"', course_source, COURSE_FILE)
    )
    pyproject_path = repository / "pyproject.toml"
    pyproject_path.write_text(
        replace_once(
            PROJECT_VERSION_LINE,
            f'version = "{version.removeprefix("v")}"',
            pyproject_path.read_text(),
            "pyproject.toml's version",
        )
    )
    readme_path = repository / "README.md"
    if previous and readme_path.is_file():
        readme = readme_path.read_text()
        readme_path.write_text(readme.replace(f"/blob/{previous}/", f"/blob/{version}/"))


def release(
    version: str, repository: pathlib.Path = REPOSITORY_ROOT, today: datetime.date | None = None
) -> str:
    """Releases `version` (see the module's docstring) and returns its commit.

    Raises:
        ValueError: if `version` is not `vX.Y.Z`.
        RuntimeError: if the working tree has uncommitted changes or `version` exists.
    """
    version = check_version(version)
    changes = git(repository, "status", "--porcelain")
    if changes:
        raise RuntimeError(
            "The working tree has uncommitted changes; commit or stash them first. "
            f"Received: {', '.join(changes.splitlines()[:5])}"
        )
    if is_tag(repository, version) or version in recorded_releases(repository):
        raise RuntimeError(f"{version} exists already (a tag or in {RECORD_FILE}): choose another")
    write_version(repository, version)
    notebooks = sorted(str(path) for path in (repository / "notebooks").glob("*.ipynb"))
    subprocess.run(
        [sys.executable, str(repository / "scripts" / "notebook_tool.py"), "sync", *notebooks],
        cwd=repository,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    git(repository, "add", "--all")
    git(repository, "commit", "--quiet", "--allow-empty", "-m", f"Release {version}")
    git(repository, "tag", "--annotate", version, "-m", f"Release {version}")
    commit = git(repository, "rev-parse", "HEAD")
    record_path = repository / RECORD_FILE
    record = record_path.read_text() if record_path.is_file() else RECORD_HEADER + "\n"
    day = (today or datetime.date.today()).isoformat()
    record_path.write_text(f"{record}{version}\t{commit}\t{day}\n")
    git(repository, "add", str(RECORD_FILE))
    git(repository, "commit", "--quiet", "-m", f"Record release {version}")
    return commit


def main(argv: list[str]) -> int:
    """Runs a release from the command line; returns the exit status (1 if refused)."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("version", help="the new release, vX.Y.Z")
    parser.add_argument("--repository", type=pathlib.Path, default=REPOSITORY_ROOT)
    arguments = parser.parse_args(argv)
    try:
        commit = release(arguments.version, arguments.repository.resolve())
    except (ValueError, RuntimeError) as error:
        print(f"release refused: {error}", file=sys.stderr)
        return 1
    print(
        f"Released {arguments.version} at {commit[:12]} (tag and {RECORD_FILE} committed). "
        f"Push both: git push origin HEAD {arguments.version}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
