"""``lambox serve``'s own reading of its command line (``cli.serving.parse``): a plain
``serve`` line starts the server without typer; whatever it is not sure of goes to the
typer command, which takes exactly the same options."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import typer.main

from lambox.cli import commands, serving


def test_plain_serve_lines_are_read() -> None:
    assert serving.parse(["serve"]) == {
        "host": None,
        "port": None,
        "data_dir": None,
        "examples": None,
    }
    line = ["serve", "--port", "9001", "--data-dir", "d", "--host=0.0.0.0", "--examples", "ex"]
    assert serving.parse(line) == {
        "host": "0.0.0.0",
        "port": 9001,
        "data_dir": Path("d"),
        "examples": Path("ex"),
    }


def test_the_last_of_a_repeated_option_wins() -> None:
    options = serving.parse(["serve", "--port", "1", "--port=2"])
    assert options is not None
    assert options["port"] == 2


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["logs", "fn"],
        ["--help"],
        ["serve", "--help"],
        ["serve", "--port"],
        ["serve", "--port", "abc"],
        ["serve", "--port", "+5"],
        ["serve", "--port", "٣"],  # a digit, but not an ASCII one
        ["serve", "--port="],
        ["serve", "--host", "--port", "9000"],
        ["serve", "--unknown", "1"],
        ["serve", "extra"],
        ["serve", "--data"],  # no abbreviations
    ],
)
def test_anything_else_is_left_to_typer(argv: list[str]) -> None:
    assert serving.parse(argv) is None


def test_typer_serve_takes_the_same_options() -> None:
    command = typer.main.get_command(commands.app)
    serve = command.commands["serve"]  # type: ignore[attr-defined]
    options = {o for p in serve.params for o in p.opts if o != "--help"}
    assert options == set(serving.OPTIONS)
    names = set(inspect.signature(commands.serve).parameters)
    assert names == set(inspect.signature(serving.serve).parameters)
    assert names == set(serving.parse(["serve"]) or {})
