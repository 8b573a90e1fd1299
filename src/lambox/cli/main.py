"""The ``lambox`` command's entry point.

A plain ``lambox serve`` starts the server at once (``cli.serving``); every other command
line goes to the typer app of ``cli.commands``, imported only then.
"""

from __future__ import annotations

import sys


def main() -> None:
    from lambox.cli import serving

    options = serving.parse(sys.argv[1:])
    if options is None:
        from lambox.cli.commands import app

        app()
        return
    try:
        problem = serving.serve(**options)
    except KeyboardInterrupt:  # as typer ends an interrupted command
        print("\nAborted!", file=sys.stderr)
        sys.exit(1)
    if problem is not None:
        print(problem, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
