"""``lambox serve`` without the command-line framework.

Parsing ``serve``'s four options through typer imported typer, click and pydantic (typer
validates every option with a pydantic adapter): about 0.14 s of CPU, a quarter of the
time from ``lambox serve`` to its first answer. ``parse`` reads a plain ``serve`` command
line itself; anything else it is not sure of (``--help``, an unknown option, a port that
is not digits, a missing value) is left to the typer command (``cli.commands.serve``),
which gives its help and its errors. Both run the server through ``serve``.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

# The options of ``cli.commands.serve`` (a test checks that both take the same ones).
OPTIONS = ("--host", "--port", "--data-dir", "--examples")


def parse(argv: list[str]) -> dict[str, Any] | None:
    """The options of ``argv`` (the arguments after the program's name) when it is a plain
    ``serve`` command line, as keyword arguments of ``serve``; None otherwise."""
    if not argv or argv[0] != "serve":
        return None
    values: dict[str, str] = {}
    rest = argv[1:]
    while rest:
        option, given, value = rest[0].partition("=")
        if option not in OPTIONS:
            return None
        if not given:
            if len(rest) < 2:
                return None
            value = rest[1]
            rest = rest[2:]
        else:
            rest = rest[1:]
        if not value or value.startswith("-"):
            return None
        values[option] = value  # the last one given wins, as with typer
    port = values.get("--port")
    if port is not None and not (port.isascii() and port.isdigit()):
        return None
    data_dir = values.get("--data-dir")
    examples = values.get("--examples")
    return {
        "host": values.get("--host"),
        "port": None if port is None else int(port),
        "data_dir": None if data_dir is None else Path(data_dir),
        "examples": None if examples is None else Path(examples),
    }


def serve(
    host: str | None, port: int | None, data_dir: Path | None, examples: Path | None
) -> str | None:
    """Serve until interrupted; or, when the settings are invalid, say why (to be printed
    with exit status 2) without serving. Settings come from LAMBOX_* variables; the
    options win."""
    # The dataclasses lambox's modules define get their methods' compiled code from the
    # previous start's (``class_cache``): a sixth of the CPU to the first answer.
    from lambox.class_cache import default_path, remembering

    with remembering(default_path()):
        from lambox.config import Settings

        logging.basicConfig(
            level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
        )
        try:
            settings = Settings.from_env(os.environ, host=host, port=port, data_dir=data_dir)
        except ValueError as exc:
            return f"lambox serve: {exc}"
        # The sandbox backend's namespace probe (an interpreter of its own) runs while this
        # one imports the server's modules, rather than being waited for in the middle of
        # start-up.
        from lambox.sandbox.backends import early_probe

        probe = early_probe(settings.sandbox, settings.data_dir)
        from lambox.server import build, run

        server = build(settings, probe)
    run(settings, examples, probe, server)
    return None
