"""The scripts that store a study over seeds: their shared command line, and cards that match.

Every stored study in `data/` was written by one of these scripts, with a card beside it. The
card is generated from the JSON (`--card-only` rewrites it), so a card edited by hand or left
behind by a changed script shows up here as a difference from the one the script writes now.
"""

import importlib
import shutil

import pytest
import study_command

from helpers.lessons import (
    batch_scaling,
    course,
    recipes_over_seeds,
    regularisation_over_seeds,
)

DATA = course.COURSE_ROOT / "data"
# Each script, and the JSON file it writes by default.
STUDY_SCRIPTS = {
    "rate_comparison_seeds": "rate_comparison_seeds.json",
    "finder_vs_grid": "finder_vs_grid.json",
    "regularisation_seeds": "regularisation_seeds.json",
    "recipes_seeds": "recipes_seeds.json",
    "batch_scaling_seeds": "batch_scaling_seeds.json",
}


def test_every_stored_study_has_its_script():
    stored = sorted(path.name for path in DATA.glob("*.json"))
    assert stored == sorted(STUDY_SCRIPTS.values())


@pytest.mark.parametrize("name", STUDY_SCRIPTS)
def test_the_defaults_run_three_seeds_into_the_stored_file(name):
    script = importlib.import_module(name)
    arguments = script.parse_arguments([])
    assert arguments.seeds == [0, 1, 2]
    assert arguments.output == DATA / STUDY_SCRIPTS[name]
    assert arguments.card_only is False


@pytest.mark.parametrize("name", STUDY_SCRIPTS)
def test_card_only_rewrites_the_committed_card_exactly(name, tmp_path):
    script = importlib.import_module(name)
    stored = DATA / STUDY_SCRIPTS[name]
    copy = tmp_path / stored.name
    shutil.copyfile(stored, copy)
    script.main(["--card-only", "--output", str(copy)])
    rerun = f"rerun: python scripts/{name}.py --card-only"
    assert study_command.card_path(copy).read_text() == (
        study_command.card_path(stored).read_text()
    ), rerun
    assert copy.read_bytes() == stored.read_bytes()  # the results themselves are only read


@pytest.mark.parametrize("name", STUDY_SCRIPTS)
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "1", "-1"], "--seeds must be an int >= 0. Received: --seeds=-1"),
        (["--seeds", "x"], "argument --seeds: invalid int value: 'x'"),
        (["--seeds"], "argument --seeds: expected at least one argument"),
        (["--seeds", "1", "--colour", "red"], "unrecognized arguments: --colour red"),
    ],
)
def test_bad_arguments_end_the_script_with_their_message(name, argv, message, capsys):
    script = importlib.import_module(name)
    with pytest.raises(SystemExit) as caught:
        script.parse_arguments(argv)
    assert caught.value.code == 2
    assert message in capsys.readouterr().err


def test_a_script_adds_its_own_options_to_the_shared_ones(capsys):
    script = importlib.import_module("finder_vs_grid")
    arguments = script.parse_arguments(["--phases", "2", "--seeds", "4"])
    assert (arguments.phases, arguments.seeds) == ([2], [4])
    with pytest.raises(SystemExit):
        script.parse_arguments(["--phases", "3"])
    assert "argument --phases: invalid choice: 3" in capsys.readouterr().err


def test_the_shared_parser_accepts_the_seeds_and_output_it_is_given(tmp_path):
    parser = study_command.study_parser("A study.", tmp_path / "default.json")
    arguments = study_command.parse_study_arguments(
        parser, ["--seeds", "0", "7", "--output", str(tmp_path / "other.json"), "--card-only"]
    )
    assert arguments.seeds == [0, 7]
    assert arguments.output == tmp_path / "other.json"
    assert arguments.card_only is True
    assert parser.description == "A study."


@pytest.mark.parametrize(
    ("results_name", "load_results"),
    [
        ("batch_scaling_seeds.json", batch_scaling.load_results),
        ("recipes_seeds.json", recipes_over_seeds.load_results),
        ("regularisation_seeds.json", regularisation_over_seeds.load_results),
    ],
)
def test_a_rerun_keeps_the_stored_seeds_it_does_not_replace(results_name, load_results, tmp_path):
    stored = DATA / results_name
    assert [results.seed for results in load_results(stored)] == [0, 1, 2]
    kept = study_command.kept_results(stored, load_results, [1, 5])
    assert [results.seed for results in kept] == [0, 2]
    assert study_command.kept_results(stored, load_results, []) == load_results(stored)
    assert study_command.kept_results(stored, load_results, [0, 1, 2]) == []
    assert study_command.kept_results(tmp_path / results_name, load_results, [0]) == []
