"""requirements.txt (pip) and environment.yml (conda, Binder) pin the same packages and versions."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
PIN = re.compile(r"^\s*(?:-\s*)?([A-Za-z0-9_.\-\[\]]+)==([^\s#]+)")


def pins_in(text: str) -> dict[str, str]:
    """Returns {normalised package name: version} for every `name==version` line."""
    pins = {}
    for line in text.splitlines():
        match = PIN.match(line)
        if match:
            pins[re.sub(r"[-_.]+", "-", match.group(1)).lower()] = match.group(2)
    return pins


def test_pins_in_reads_both_formats():
    assert pins_in("numpy==2.4.6  # comment\n  - Keras==3.15.1\n# x==1\nscipy>=1\n") == {
        "numpy": "2.4.6",
        "keras": "3.15.1",
    }


def test_requirements_and_environment_agree():
    requirements = pins_in((ROOT / "requirements.txt").read_text())
    environment_text = (ROOT / "environment.yml").read_text()
    pip_section = environment_text.split("- pip:", 1)[1]
    assert requirements, "requirements.txt pins nothing"
    assert pins_in(pip_section) == requirements


def test_every_requirement_is_pinned_exactly():
    lines = [
        line.split("#")[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()
    ]
    unpinned = [line for line in lines if line and "==" not in line]
    assert unpinned == []


def test_environment_asks_for_python_3_11():
    assert re.search(
        r"^\s*-\s*python=3\.11\s*$", (ROOT / "environment.yml").read_text(), re.MULTILINE
    )


def test_core_stack_is_pinned():
    requirements = pins_in((ROOT / "requirements.txt").read_text())
    for package in [
        "tensorflow",
        "keras",
        "numpy",
        "matplotlib",
        "jupyterlab",
        "nbval",
        "ipywidgets",
    ]:
        assert package in requirements, package
    assert requirements["tensorflow"].startswith("2.21.")
    assert requirements["keras"].startswith("3.15.")
