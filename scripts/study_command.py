"""The command line shared by the scripts that run and store a study over seeds.

Each of `scripts/*_seeds.py` and `scripts/finder_vs_grid.py` runs a lesson's study for some seeds,
writes the results to a JSON file in `data/` and a card beside it, or only rewrites the card from
the JSON already stored. They take the same three options:

    --seeds 0 1 2        the seeds to run (each an int >= 0)
    --output PATH        the JSON file to write (its card is written beside it)
    --card-only          rewrite the card from the stored JSON, and run nothing

A script adds its own options to the parser before parsing (`finder_vs_grid.py` adds `--phases`).
Scripts import this module by name: Python puts `scripts/` on the path of a script run from it,
and pytest's `pythonpath` setting does the same for the tests.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Callable, Iterable
from typing import TypeVar

REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(REPOSITORY_ROOT) not in sys.path:
    sys.path.insert(0, str(REPOSITORY_ROOT))

from helpers.finetune import validation  # noqa: E402

DEFAULT_SEEDS = (0, 1, 2)
SeedResults = TypeVar("SeedResults")


def study_parser(description: str, default_output: pathlib.Path) -> argparse.ArgumentParser:
    """Returns a parser with the options every study script takes.

    Args:
        description: str, what the script does, shown by `--help` (its docstring's first line).
        default_output: pathlib.Path, the JSON file written when `--output` is not given.

    Returns:
        An `argparse.ArgumentParser` with `--seeds`, `--output` and `--card-only`.

    Example:

    >>> parser = study_parser("Runs a study.", pathlib.Path("data/study.json"))
    >>> parser.parse_args(["--seeds", "3", "4"])
    Namespace(seeds=[3, 4], output=PosixPath('data/study.json'), card_only=False)
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--output", type=pathlib.Path, default=default_output)
    parser.add_argument(
        "--card-only", action="store_true", help="rewrite the card from the stored JSON"
    )
    return parser


def parse_study_arguments(
    parser: argparse.ArgumentParser, argv: list[str] | None = None
) -> argparse.Namespace:
    """Parses `argv` with `parser`; a negative seed ends the script with its message.

    Args:
        parser: argparse.ArgumentParser, made by `study_parser` (and extended by the script).
        argv: list of str or None, the arguments (`None`: `sys.argv[1:]`). Defaults to `None`.

    Returns:
        The parsed options.

    Raises:
        SystemExit: with status 2 and argparse's usage message, for an unknown option, a seed
            that is not an int, or a seed below 0 (the message names the seed received).

    Example:

    >>> parser = study_parser("Runs a study.", pathlib.Path("data/study.json"))
    >>> parse_study_arguments(parser, ["--card-only"]).seeds
    [0, 1, 2]
    """
    arguments = parser.parse_args(argv)
    try:
        for seed in arguments.seeds:
            validation.check_int("--seeds", seed, minimum=0)
    except ValueError as error:
        parser.error(str(error))
    return arguments


def kept_results(
    output: pathlib.Path,
    load_results: Callable[[pathlib.Path], list[SeedResults]],
    seeds: Iterable[int],
) -> list[SeedResults]:
    """Returns the stored results of every seed that this run does not replace.

    A study grows seed by seed: running `--seeds 1` again replaces seed 1 and keeps the others.

    Args:
        output: pathlib.Path, the JSON file the study writes; it need not exist yet.
        load_results: the study's loader, from the JSON file to one result per seed (each with
            a `seed` attribute), e.g. `batch_scaling.load_results`.
        seeds: iterable of int, the seeds this run measures again.

    Returns:
        The loaded results whose seed is not in `seeds`, in stored order; `[]` when `output`
        does not exist.

    Example:

    >>> kept_results(pathlib.Path("no_such_study.json"), print, [0])
    []
    """
    if not output.exists():
        return []
    replaced = set(seeds)
    return [results for results in load_results(output) if results.seed not in replaced]


def card_path(results_path: pathlib.Path) -> pathlib.Path:
    """Returns the path of the card beside a study's JSON file: its stem and `_card.md`.

    Example:

    >>> card_path(pathlib.Path("data/recipes_seeds.json")).as_posix()
    'data/recipes_seeds_card.md'
    """
    return results_path.with_name(results_path.stem + "_card.md")


def write_card(results_path: pathlib.Path, card: str) -> pathlib.Path:
    """Writes `card` beside the study's JSON file, says so, and returns the card's path."""
    path = card_path(results_path)
    path.write_text(card)
    print(f"wrote {path}")
    return path
