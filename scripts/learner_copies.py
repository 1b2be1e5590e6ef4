"""Learners' copies of the lessons: `make lab` opens these, never the pristine notebooks/.

JupyterLab saves a lesson's outputs into the file it opened, so a learner who ran the pristine
`notebooks/03_….ipynb` would dirty the course, and the next course update would overwrite the
learner's own edits. Instead `make lab` serves the work folder (`work/`, gitignored; see
`course.work_folder`), laid out like the repository so the lessons' links work there too:

    work/README.md                the course's README (refreshed on every `make lab`)
    work/notebooks/0N_….ipynb     the learner's copy of each lesson
    work/backups/                 copies saved by `reset` before it restores a lesson
    work/.learner-copies.json     what each copy held when the course last wrote it

Usage (from the repository root, inside .venv):

    python scripts/learner_copies.py prepare     # make lab runs this first
    python scripts/learner_copies.py reset 3     # make reset-lesson LESSON=3

`prepare` copies a lesson the first time; later it updates a copy only while the learner has not
changed it (its bytes still match what the course wrote), and otherwise keeps it and says that a
newer version exists. `reset` backs the learner's copy up with a timestamp, then restores the
pristine lesson.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import pathlib
import shutil
import sys

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from helpers.lessons import course  # noqa: E402

PRISTINE_FOLDER = REPOSITORY_ROOT / "notebooks"
MANIFEST_NAME = ".learner-copies.json"
BACKUP_FOLDER_NAME = "backups"
LESSON_PATTERN = "[0-9][0-9]_*.ipynb"


def lesson_paths(pristine_folder: pathlib.Path = PRISTINE_FOLDER) -> list[pathlib.Path]:
    """Returns the pristine lessons (`NN_name.ipynb`), in order.

    Example:

    >>> [path.name[:2] for path in lesson_paths()][:2]
    ['01', '02']
    """
    return sorted(pathlib.Path(pristine_folder).glob(LESSON_PATTERN))


def resolve_lesson(lesson: str | int, pristine_folder: pathlib.Path = PRISTINE_FOLDER) -> str:
    """Returns the file name of the lesson a learner named by number or by name.

    Args:
        lesson: str or int, `3`, `"03"`, `"03_freeze_the_base_train_a_head"` or the file name.
        pristine_folder: the folder of the pristine lessons.

    Returns:
        The lesson's file name, e.g. `"03_freeze_the_base_train_a_head.ipynb"`.

    Raises:
        ValueError: if no lesson matches, naming what was received and the choices.

    Example:

    >>> resolve_lesson("1")
    '01_what_a_learning_rate_does.ipynb'
    """
    names = [path.name for path in lesson_paths(pristine_folder)]
    text = str(lesson).strip()
    if text.isdigit():
        matches = [name for name in names if int(name[:2]) == int(text)]
    else:
        stem = text.removesuffix(".ipynb")
        matches = [name for name in names if name.removesuffix(".ipynb") == stem]
    if len(matches) != 1:
        numbers = ", ".join(name[:2] for name in names)
        raise ValueError(f"lesson must be one of {numbers} (or a file name). Received: {lesson!r}")
    return matches[0]


def digest(path: pathlib.Path) -> str:
    """Returns the SHA-256 of a file's bytes, as hex."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_manifest(work: pathlib.Path) -> dict[str, str]:
    manifest_path = work / MANIFEST_NAME
    if not manifest_path.is_file():
        return {}
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return {}  # unreadable: every existing copy then counts as the learner's own work
    return manifest if isinstance(manifest, dict) else {}


def _write_manifest(work: pathlib.Path, manifest: dict[str, str]) -> None:
    temporary = work / (MANIFEST_NAME + ".tmp")
    temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    temporary.replace(work / MANIFEST_NAME)


def _check_work_folder(work: pathlib.Path) -> pathlib.Path:
    """Checks the work folder is inside the course: a lesson finds `helpers/` by looking upwards."""
    work = pathlib.Path(work).expanduser().resolve()
    if not work.is_relative_to(REPOSITORY_ROOT):
        raise ValueError(
            "work must be a folder inside the course's folder "
            f"({REPOSITORY_ROOT}): a lesson finds the course's helpers/ by looking upwards from "
            f"its own folder. Received: work={str(work)!r}"
        )
    return work


def _copy(source: pathlib.Path, target: pathlib.Path) -> str:
    """Copies through a temporary file, so an interrupted copy never leaves half a lesson."""
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    shutil.copyfile(source, temporary)
    temporary.replace(target)
    return digest(target)


def prepare(
    work: pathlib.Path | None = None, pristine_folder: pathlib.Path = PRISTINE_FOLDER
) -> list[str]:
    """Makes or updates the learner's copies of the lessons, never overwriting a changed one.

    Args:
        work: the work folder; defaults to `course.work_folder()`.
        pristine_folder: the folder of the pristine lessons.

    Returns:
        One line per lesson saying what happened: created, updated, unchanged, or kept (the
        learner changed it; then it also says whether the course has a newer version).

    Raises:
        ValueError: if `work` is not inside the course's folder.

    Example:

    >>> import tempfile
    >>> (REPOSITORY_ROOT / "build").mkdir(exist_ok=True)
    >>> work = pathlib.Path(tempfile.mkdtemp(dir=REPOSITORY_ROOT / "build"))
    >>> prepare(work)[0]
    'created notebooks/01_what_a_learning_rate_does.ipynb'
    >>> prepare(work)[0]
    'unchanged notebooks/01_what_a_learning_rate_does.ipynb'
    >>> shutil.rmtree(work)
    """
    work = _check_work_folder(course.work_folder() if work is None else work)
    manifest = _read_manifest(work)
    report = []
    for pristine in lesson_paths(pristine_folder):
        copy = work / "notebooks" / pristine.name
        where = f"notebooks/{pristine.name}"
        if not copy.exists():
            manifest[pristine.name] = _copy(pristine, copy)
            report.append(f"created {where}")
        elif digest(copy) != manifest.get(pristine.name):
            written = manifest.get(pristine.name)  # None: the record was lost
            newer = written is not None and digest(pristine) != written
            advice = (
                f"; the course has a newer version: `make reset-lesson LESSON={pristine.name[:2]}` "
                "backs yours up and brings it"
                if newer
                else ""
            )
            report.append(f"kept {where} (you changed it){advice}")
        elif digest(pristine) != digest(copy):
            manifest[pristine.name] = _copy(pristine, copy)
            report.append(f"updated {where} (the course changed it; you had not)")
        else:
            report.append(f"unchanged {where}")
    _copy(REPOSITORY_ROOT / "README.md", work / "README.md")
    _write_manifest(work, manifest)
    return report


def reset(
    lesson: str | int,
    work: pathlib.Path | None = None,
    pristine_folder: pathlib.Path = PRISTINE_FOLDER,
    now: datetime.datetime | None = None,
) -> pathlib.Path | None:
    """Backs up the learner's copy of a lesson with a timestamp, then restores the pristine lesson.

    Args:
        lesson: str or int, the lesson's number or name (see `resolve_lesson`).
        work: the work folder; defaults to `course.work_folder()`.
        pristine_folder: the folder of the pristine lessons.
        now: the time for the backup's name; defaults to the current local time.

    Returns:
        The backup's path, or `None` when there was no copy to back up.

    Raises:
        ValueError: if `lesson` names no lesson, or `work` is not inside the course's folder.

    Example:

    >>> import tempfile
    >>> (REPOSITORY_ROOT / "build").mkdir(exist_ok=True)
    >>> work = pathlib.Path(tempfile.mkdtemp(dir=REPOSITORY_ROOT / "build"))
    >>> reset(1, work) is None  # no copy yet: nothing to back up
    True
    >>> reset("01", work, now=datetime.datetime(2026, 1, 2, 3, 4, 5)).name
    '01_what_a_learning_rate_does.20260102-030405.ipynb'
    >>> shutil.rmtree(work)
    """
    work = _check_work_folder(course.work_folder() if work is None else work)
    name = resolve_lesson(lesson, pristine_folder)
    copy = work / "notebooks" / name
    backup = None
    if copy.exists():
        stamp = (now or datetime.datetime.now()).strftime("%Y%m%d-%H%M%S")
        backup = work / BACKUP_FOLDER_NAME / f"{name.removesuffix('.ipynb')}.{stamp}.ipynb"
        counter = 1
        while backup.exists():  # two resets within a second keep both backups
            backup = backup.with_name(f"{name.removesuffix('.ipynb')}.{stamp}-{counter}.ipynb")
            counter += 1
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(copy, backup)
    manifest = _read_manifest(work)
    manifest[name] = _copy(pathlib.Path(pristine_folder) / name, copy)
    _write_manifest(work, manifest)
    return backup


def main(argv: list[str]) -> int:
    """Runs `prepare` or `reset LESSON` from the command line; returns the exit status."""
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("prepare", help="make or update the copies (make lab runs this)")
    reset_parser = commands.add_parser("reset", help="back up a copy, then restore the lesson")
    reset_parser.add_argument("lesson", help="the lesson's number (3 or 03) or file name")
    arguments = parser.parse_args(argv)
    try:
        if arguments.command == "prepare":
            print("\n".join(prepare()))
            print(f"Your copies are in {course.work_folder()}.")
            return 0
        backup = reset(arguments.lesson)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    name = resolve_lesson(arguments.lesson)
    saved = f"your copy is saved as {backup}; " if backup else ""
    print(f"Lesson {name[:2]}: {saved}the course's version is back in work/notebooks/{name}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
