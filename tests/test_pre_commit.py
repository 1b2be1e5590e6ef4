"""The pre-commit hooks run offline and strip lesson outputs except cells tagged keep_output."""

import pathlib
import shutil
import subprocess

import nbformat
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
PRE_COMMIT = ROOT / ".venv" / "bin" / "pre-commit"
LESSON = "notebooks/02_optimizers_and_learning_rates.ipynb"


def run(command: list[str], cwd: pathlib.Path) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


@pytest.fixture
def repository(tmp_path):
    """A fresh git repository holding the files the hooks read, and the project's .venv."""
    if not PRE_COMMIT.exists():
        pytest.skip("pre-commit is not installed in .venv (run make environment)")
    for name in ["notebooks", "scripts", "helpers"]:
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in [".pre-commit-config.yaml", "pyproject.toml", "README.md"]:
        shutil.copy(ROOT / name, tmp_path / name)
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / ".gitignore").write_text(".venv\n")
    for command in (["git", "init", "--quiet"], ["git", "add", "."]):
        finished = run(command, tmp_path)
        assert finished.returncode == 0, finished.stderr
    return tmp_path


def test_the_lesson_hook_runs_once_for_all_lessons():
    """Each lesson's navigation reads the other lessons, so no two hook processes may overlap."""
    configuration = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {
        hook["id"]: hook for repository in configuration["repos"] for hook in repository["hooks"]
    }
    assert hooks["lesson-notebooks"]["require_serial"] is True


def pre_commit(repository: pathlib.Path) -> subprocess.CompletedProcess:
    home = repository / ".pre-commit-home"
    return subprocess.run(
        [str(PRE_COMMIT), "run", "--all-files"],
        cwd=repository,
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HOME": str(repository), "PRE_COMMIT_HOME": str(home)},
    )


def test_the_hooks_pass_on_the_course_as_committed(repository):
    finished = pre_commit(repository)
    assert finished.returncode == 0, finished.stdout + finished.stderr


def test_the_hooks_strip_outputs_but_keep_tagged_ones(repository):
    path = repository / LESSON
    notebook = nbformat.read(path, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    kept = [cell for cell in code if "keep_output" in cell.metadata.get("tags", [])]
    untagged = next(cell for cell in code[1:] if cell not in kept)
    untagged.outputs = [nbformat.v4.new_output("stream", name="stdout", text="a learner's run\n")]
    untagged.execution_count = 7
    nbformat.write(notebook, path)
    finished = pre_commit(repository)
    report = finished.stdout + finished.stderr
    assert finished.returncode == 1, report  # pre-commit fails when a hook changed a file
    assert "files were modified by this hook" in report, report
    cleaned = nbformat.read(path, as_version=4)
    assert "a learner's run" not in path.read_text(), report
    kept_after = [cell for cell in cleaned.cells if "keep_output" in cell.metadata.get("tags", [])]
    assert kept and [cell.outputs for cell in kept_after] == [cell.outputs for cell in kept]
    assert path.read_bytes() == (ROOT / LESSON).read_bytes()
