"""Run test code in a new interpreter: for code that changes process-wide state (the
environment, logging, ``sys.path``) that the test process must keep."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import lambox

SRC = str(Path(lambox.__file__).resolve().parent.parent)


def run(code: str, env: dict[str, str] | None = None) -> object:
    """``code`` in a new interpreter (it changes process-wide state); what it printed."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env={**(env or {"KEEP": "1"}), "PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)
