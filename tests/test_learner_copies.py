"""Learners' copies of the lessons: made once, updated only while unchanged, reset with a backup."""

import datetime
import json
import pathlib
import shutil
import tempfile

import learner_copies
import pytest

from helpers.lessons import course

ROOT = pathlib.Path(__file__).resolve().parents[1]
LESSON_01 = "01_what_a_learning_rate_does.ipynb"
LESSON_03 = "03_freeze_the_base_train_a_head.ipynb"


@pytest.fixture
def work():
    """A fresh work folder inside the course (lessons find helpers/ by looking upwards)."""
    (ROOT / "build").mkdir(exist_ok=True)
    folder = pathlib.Path(tempfile.mkdtemp(dir=ROOT / "build", prefix="learner-work-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pristine(tmp_path):
    """A copy of the course's lessons that a test may 'update' like a new course release."""
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder, ignore=shutil.ignore_patterns(".*"))
    return folder


def test_first_prepare_copies_every_lesson_and_the_readme(work, pristine):
    report = learner_copies.prepare(work, pristine)
    lessons = sorted(path.name for path in pristine.glob("[0-9][0-9]_*.ipynb"))
    assert report == [f"created notebooks/{name}" for name in lessons]
    for name in lessons:
        assert (work / "notebooks" / name).read_bytes() == (pristine / name).read_bytes()
    assert (work / "README.md").read_bytes() == (ROOT / "README.md").read_bytes()


def test_an_update_reaches_copies_the_learner_did_not_change(work, pristine):
    learner_copies.prepare(work, pristine)
    (pristine / LESSON_01).write_text((pristine / LESSON_01).read_text() + "\n")
    report = learner_copies.prepare(work, pristine)
    assert f"updated notebooks/{LESSON_01} (the course changed it; you had not)" in report
    assert (work / "notebooks" / LESSON_01).read_bytes() == (pristine / LESSON_01).read_bytes()


def test_an_update_never_overwrites_a_copy_the_learner_changed(work, pristine):
    learner_copies.prepare(work, pristine)
    copy = work / "notebooks" / LESSON_03
    learners_work = copy.read_text().replace("Lesson 03", "Lesson 03 (my notes)", 1)
    copy.write_text(learners_work)
    assert (
        learner_copies.prepare(work, pristine)[2] == f"kept notebooks/{LESSON_03} (you changed it)"
    )
    (pristine / LESSON_03).write_text((pristine / LESSON_03).read_text() + "\n")
    report = learner_copies.prepare(work, pristine)
    assert report[2].startswith(f"kept notebooks/{LESSON_03} (you changed it); the course has a")
    assert "make reset-lesson LESSON=03" in report[2]
    assert copy.read_text() == learners_work


def test_reset_backs_up_with_a_timestamp_then_restores(work, pristine):
    learner_copies.prepare(work, pristine)
    copy = work / "notebooks" / LESSON_03
    copy.write_text("my edits")
    when = datetime.datetime(2026, 12, 2, 18, 30, 5)
    backup = learner_copies.reset("3", work, pristine, now=when)
    assert backup == work / "backups" / "03_freeze_the_base_train_a_head.20261202-183005.ipynb"
    assert backup.read_text() == "my edits"
    assert copy.read_bytes() == (pristine / LESSON_03).read_bytes()
    # Restored means the course wrote it: the next prepare sees an unchanged copy again.
    assert learner_copies.prepare(work, pristine)[2] == f"unchanged notebooks/{LESSON_03}"
    # A second reset within the same second keeps both backups.
    copy.write_text("more edits")
    second = learner_copies.reset(LESSON_03, work, pristine, now=when)
    assert second != backup and second.read_text() == "more edits" and backup.exists()


def test_a_lost_record_counts_every_copy_as_the_learners(work, pristine):
    learner_copies.prepare(work, pristine)
    (work / learner_copies.MANIFEST_NAME).write_text("{not json")
    report = learner_copies.prepare(work, pristine)
    assert report[0] == f"kept notebooks/{LESSON_01} (you changed it)"
    assert json.loads((work / learner_copies.MANIFEST_NAME).read_text()) == {}


@pytest.mark.parametrize(
    "lesson, expected",
    [(1, LESSON_01), ("01", LESSON_01), (" 3 ", LESSON_03), (LESSON_03, LESSON_03)],
)
def test_resolve_lesson_accepts_numbers_and_names(lesson, expected):
    assert learner_copies.resolve_lesson(lesson) == expected


@pytest.mark.parametrize("lesson", ["9", "0", "", "three", None, 3.5, "03_freeze"])
def test_resolve_lesson_names_what_it_received(lesson):
    with pytest.raises(ValueError, match=f"Received: {lesson!r}"):
        learner_copies.resolve_lesson(lesson)


def test_a_work_folder_outside_the_course_is_refused(tmp_path, pristine):
    with pytest.raises(ValueError, match="inside the course's folder.*Received: work="):
        learner_copies.prepare(tmp_path, pristine)


def test_the_command_line_reports_a_bad_lesson(capsys):
    assert learner_copies.main(["reset", "42"]) == 2
    assert "Received: '42'" in capsys.readouterr().err


def test_work_folder_follows_the_variable_and_refuses_escapes(monkeypatch, tmp_path):
    monkeypatch.setenv(course.WORK_FOLDER_VARIABLE, str(tmp_path))
    assert course.work_folder("logs", "lesson05") == tmp_path.resolve() / "logs" / "lesson05"
    assert (tmp_path / "logs" / "lesson05").is_dir()
    for part in ["..", "/etc", "", None]:
        with pytest.raises(ValueError, match="Received"):
            course.work_folder(part)
