"""Binder builds the course from environment.yml and postBuild; both are valid for repo2docker."""

import os
import pathlib
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]


def test_repo2docker_reads_the_root_configuration():
    # repo2docker ignores the root's files once a binder/ or .binder/ folder exists.
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()


def test_environment_yml_is_a_python_311_conda_environment_with_pip_pins():
    environment = yaml.safe_load((ROOT / "environment.yml").read_text())
    dependencies = environment["dependencies"]
    assert "python=3.11" in dependencies and "pip" in dependencies
    pip_section = next(item["pip"] for item in dependencies if isinstance(item, dict))
    assert pip_section and all("==" in requirement for requirement in pip_section)
    assert any(requirement.startswith("jupyterlab==") for requirement in pip_section)


def test_post_build_is_an_executable_bash_script():
    post_build = ROOT / "postBuild"
    assert os.access(post_build, os.X_OK)
    assert post_build.read_text().startswith("#!/usr/bin/env bash\n")
    subprocess.run(["bash", "-n", str(post_build)], check=True)


def test_post_build_installs_the_courses_jupyterlab_settings(tmp_path):
    environment = {**os.environ, "NB_PYTHON_PREFIX": str(tmp_path)}
    subprocess.run([str(ROOT / "postBuild")], cwd=ROOT, env=environment, check=True, timeout=60)
    installed = tmp_path / "share" / "jupyter" / "lab" / "settings" / "overrides.json"
    assert installed.read_bytes() == (ROOT / "scripts" / "jupyterlab_overrides.json").read_bytes()


def test_post_build_fails_loudly_outside_the_repository(tmp_path):
    environment = {**os.environ, "NB_PYTHON_PREFIX": str(tmp_path)}
    finished = subprocess.run(
        [str(ROOT / "postBuild")], cwd=tmp_path, env=environment, capture_output=True, timeout=60
    )
    assert finished.returncode != 0 and b"jupyterlab_overrides.json" in finished.stderr
