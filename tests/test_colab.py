"""The lessons in a simulated Colab runtime: the setup cell clones the release, lesson 01 runs.

The simulation: a kernel from `.venv-colab` (`make colab-environment`: only the packages a
Colab runtime brings, at requirements.txt's pins; no nbval, jupytext or pytest), a stand-in
`google.colab` on the kernel's PYTHONPATH, the course served from a local bare clone that
carries the release `course.COURSE_REF`, and a working directory outside the repository, so the
setup cell must clone (into a temporary folder instead of /content). nbclient, from .venv,
drives the kernel. Without `.venv-colab` these tests are skipped, saying why, except in CI
(`CI=true`), where they fail.
"""

import ast
import json
import os
import pathlib
import subprocess
import sys
import time

import nbformat
import notebook_tool
import pytest
import release
from nbclient import NotebookClient

from helpers.lessons import course

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLAB_PYTHON = ROOT / ".venv-colab" / "bin" / "python"
KERNEL_NAME = "colab-simulation"
LESSONS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
CELL_TIMEOUT_SECONDS = 600
# What the lessons and helpers may import besides the standard library and `helpers`: the
# packages of a Colab runtime that requirements.txt pins (Colab's widgets: core ipywidgets).
COLAB_MODULES = {"tensorflow", "keras", "numpy", "matplotlib", "ipywidgets", "IPython", "absl"}


def require_colab_environment() -> None:
    """Skips the calling test without `.venv-colab`, or fails it in CI."""
    if COLAB_PYTHON.is_file():
        return
    reason = f"no {COLAB_PYTHON.parent.parent.name}: run `make colab-environment` (about a minute)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def served_course(tmp_path_factory) -> pathlib.Path:
    """A bare clone of this repository that carries the release tag, as GitHub would serve it.

    The repository's own tag if it has one; in a clone without tags (CI), the tag is created
    in the bare clone at the commit that scripts/releases.tsv records.
    """
    require_colab_environment()
    problems = release.ref_problems(ROOT, course.COURSE_REF)
    if problems:
        pytest.fail(f"Colab could not clone the lessons' release: {problems[0]}")
    bare = tmp_path_factory.mktemp("served") / "gentle-fine-tuning.git"
    subprocess.run(["git", "clone", "--quiet", "--bare", str(ROOT), str(bare)], check=True)
    if not release.is_tag(bare, course.COURSE_REF):
        commit = release.recorded_releases(ROOT)[course.COURSE_REF]
        release.git(bare, "tag", course.COURSE_REF, commit)
    return bare


@pytest.fixture(scope="module")
def colab_runtime(tmp_path_factory) -> dict[str, pathlib.Path]:
    """Folders of one simulated runtime: the kernelspec, the fake `google.colab`, /content."""
    require_colab_environment()
    runtime = tmp_path_factory.mktemp("colab-runtime")
    fake_colab = runtime / "fake-colab"
    (fake_colab / "google" / "colab").mkdir(parents=True)
    # No google/__init__.py: `google` stays a namespace package, so google.protobuf still imports.
    (fake_colab / "google" / "colab" / "__init__.py").write_text(
        '"""A stand-in for Colab\'s google.colab: the setup cell only checks it exists."""\n'
    )
    folders = {
        "jupyter": runtime / "jupyter",
        "fake_colab": fake_colab,
        "content": runtime / "content",
        "working_directory": runtime / "content" / "working directory",
    }
    folders["working_directory"].mkdir(parents=True)
    folders["course"] = folders["content"] / "gentle-fine-tuning"
    return folders


def write_kernelspec(runtime: dict[str, pathlib.Path], repository_url: str) -> None:
    """A kernelspec whose kernel runs in .venv-colab, sees the fake google.colab and our URL."""
    kernel = runtime["jupyter"] / "kernels" / KERNEL_NAME
    kernel.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(COLAB_PYTHON), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Python 3 (simulated Colab)",
        "language": "python",
        "env": {
            "PYTHONPATH": str(runtime["fake_colab"]),
            course.REPOSITORY_URL_VARIABLE: repository_url,
            course.COLAB_FOLDER_VARIABLE: str(runtime["course"]),
            "COURSE_FAST": "1",
        },
    }
    (kernel / "kernel.json").write_text(json.dumps(spec, indent=1))


def run_in_colab(
    cells: list[nbformat.NotebookNode], runtime: dict[str, pathlib.Path], repository_url: str
) -> tuple[nbformat.NotebookNode, float]:
    """Runs the cells in a fresh simulated-Colab kernel; returns the notebook and the seconds.

    Raises:
        nbclient.exceptions.CellExecutionError: naming the cell and its traceback, if one fails.
    """
    write_kernelspec(runtime, repository_url)
    notebook = nbformat.v4.new_notebook(cells=[cell.copy() for cell in cells])
    # A Colab kernel starts without the test command's settings: the setup cell sets its own.
    test_settings = ("MPLBACKEND", "TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "PYTHONPATH")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("JUPYTER_PATH", str(runtime["jupyter"]))
        patch.setenv("IPYTHONDIR", str(runtime["jupyter"] / "ipython"))
        for name in test_settings:
            patch.delenv(name, raising=False)
        start = time.monotonic()
        NotebookClient(
            notebook,
            kernel_name=KERNEL_NAME,
            timeout=CELL_TIMEOUT_SECONDS,
            resources={"metadata": {"path": str(runtime["working_directory"])}},
        ).execute()
    return notebook, time.monotonic() - start


def printed(cell: nbformat.NotebookNode, stream: str = "stdout") -> str:
    return "".join(output.text for output in cell.outputs if output.get("name") == stream)


def code_cells(path: pathlib.Path) -> list[nbformat.NotebookNode]:
    return notebook_tool.code_cells(nbformat.read(path, as_version=4))


@pytest.fixture(scope="module")
def setup_cells_run(colab_runtime, served_course) -> tuple[nbformat.NotebookNode, float]:
    """Every lesson's setup cell, run one after another in one fresh simulated runtime."""
    cells = [code_cells(path)[0] for path in LESSONS]
    return run_in_colab(cells, colab_runtime, served_course.as_uri())


def test_the_colab_environment_holds_only_colab_packages(colab_runtime):
    code = (
        "import importlib.util, google.colab, google.protobuf\n"
        "print([name for name in ('nbval', 'jupytext', 'pytest', 'nbclient')"
        " if importlib.util.find_spec(name)])"
    )
    environment = {"PATH": os.environ["PATH"], "PYTHONPATH": str(colab_runtime["fake_colab"])}
    completed = subprocess.run(
        [str(COLAB_PYTHON), "-c", code], env=environment, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "[]"


def test_every_setup_cell_runs_and_only_the_first_clones(
    colab_runtime, served_course, setup_cells_run
):
    notebook, seconds = setup_cells_run
    folder = colab_runtime["course"]
    lines = [printed(cell).splitlines() for cell in notebook.cells]
    assert lines[0][0] == f"Cloning the course's release {course.COURSE_REF} into {folder} ..."
    assert all(cell_lines[-1].startswith("TensorFlow 2.") for cell_lines in lines)
    assert [len(cell_lines) for cell_lines in lines] == [2] + [1] * (len(LESSONS) - 1)
    assert [printed(cell, "stderr") for cell in notebook.cells] == [""] * len(LESSONS)
    release_commit = release.git(served_course, "rev-parse", f"{course.COURSE_REF}^{{commit}}")
    assert release.git(folder, "rev-parse", "HEAD") == release_commit
    assert sorted(path.name for path in colab_runtime["content"].iterdir()) == [
        "gentle-fine-tuning",
        "working directory",
    ]
    print(f"\nsetup cells of every lesson in a fresh simulated Colab runtime: {seconds:.1f} s")


def test_lesson_01_runs_whole_after_a_restart(colab_runtime, setup_cells_run):
    """A new kernel in the same runtime reuses the clone: its repository URL now leads nowhere."""
    nowhere = colab_runtime["content"] / "no-such-repository.git"
    notebook, seconds = run_in_colab(code_cells(LESSONS[0]), colab_runtime, nowhere.as_uri())
    errors = [
        output
        for cell in notebook.cells
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert errors == []
    assert "Cloning" not in printed(notebook.cells[0])
    print(f"\nlesson 01 whole in a simulated Colab runtime (clone reused): {seconds:.1f} s")


def outside_colab(code: str, where: str) -> list[str]:
    """The imports of `code` that a Colab runtime lacks, and the ipywidgets names not in ipywidgets.

    Colab renders core ipywidgets only; a third-party widget package needs a custom widget
    manager (and an install), so the lessons use none.
    """
    import ipywidgets

    tree = ast.parse(code)
    found = []
    widget_modules = set()  # the names that `ipywidgets` is imported as
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            widget_modules |= {
                alias.asname or alias.name for alias in node.names if alias.name == "ipywidgets"
            }
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module]
            if node.module == "ipywidgets":
                found += [
                    f"{where}: ipywidgets has no {alias.name}"
                    for alias in node.names
                    if not hasattr(ipywidgets, alias.name)
                ]
        else:
            continue
        allowed = COLAB_MODULES | sys.stdlib_module_names | {"helpers"}
        found += [
            f"{where} imports {module}" for module in modules if module.split(".")[0] not in allowed
        ]
    for node in ast.walk(tree):
        is_widget_attribute = (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in widget_modules
        )
        if is_widget_attribute and not hasattr(ipywidgets, node.attr):
            found.append(f"{where}: ipywidgets has no {node.attr}")
    return found


def sources() -> dict[str, str]:
    """Every helper module's code and every lesson's code cells (magics kept apart), by name."""
    named = {
        str(path.relative_to(ROOT)): path.read_text()
        for path in sorted(ROOT.glob("helpers/**/*.py"))
    }
    for path in LESSONS:
        lines = "\n".join(cell.source for cell in code_cells(path)).splitlines()
        named[path.name] = "\n".join(
            line for line in lines if not line.lstrip().startswith(("%", "!"))
        )
        named[f"{path.name} (magics)"] = "\n".join(
            line for line in lines if line.lstrip().startswith(("%", "!"))
        )
    return named


def test_the_lessons_use_only_colab_packages_and_core_ipywidgets():
    found = []
    for name, code in sources().items():
        if name.endswith("(magics)"):
            found += [
                f"{name}: {line}" for line in code.splitlines() if "widget" in line or "pip" in line
            ]
        else:
            found += outside_colab(code, name)
    assert found == []


def test_the_check_sees_a_third_party_widget():
    code = (
        "import ipywidgets as widgets\n"
        "import ipympl\n"
        "from ipywidgets import Nope\n"
        "widgets.Fancy()\n"
        "widgets.IntSlider()\n"
    )
    assert outside_colab(code, "cell") == [
        "cell imports ipympl",
        "cell: ipywidgets has no Nope",
        "cell: ipywidgets has no Fancy",
    ]
