"""``lambox dev PATH --function NAME``: the function runs PATH's code, and an edit there is
what the next invocations run, with no deploy command."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.conftest import LamboxServer, unique


def call(lambda_client: Any, name: str) -> Any:
    return json.loads(lambda_client.invoke(FunctionName=name)["Payload"].read())


def wait_for(lambda_client: Any, name: str, expected: Any) -> Any:
    """Invoke until the answer is ``expected`` (bounded); the last answer."""
    got = None
    for _ in range(300):
        try:
            got = call(lambda_client, name)
        except lambda_client.exceptions.ResourceNotFoundException:
            got = None
        except lambda_client.exceptions.ResourceConflictException:
            got = None  # still Pending
        if got == expected:
            return got
        time.sleep(0.1)
    return got


def test_dev_creates_the_function_and_reloads_each_change(
    server: LamboxServer, lambda_client: Any, tmp_path: Path
) -> None:
    name = unique("dev")
    code = tmp_path / "fn"
    code.mkdir()
    (code / "app.py").write_text(
        "import helper\nSTARTED = helper.VALUE\n"
        "def handler(event, context):\n    return [STARTED, helper.VALUE]\n"
    )
    (code / "helper.py").write_text("VALUE = 'one'\n")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambox.cli.main",
            "dev",
            str(code),
            "--function",
            name,
            "--runtime",
            "python3.11",
            "--interval",
            "0.1",
            "--endpoint-url",
            server.url,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert wait_for(lambda_client, name, ["one", "one"]) == ["one", "one"]
        # An edit of a module init imported: the warm sandbox holding the old module is not
        # reused, so init runs again on the new code.
        (code / "helper.py").write_text("VALUE = 'two'\n")
        assert wait_for(lambda_client, name, ["two", "two"]) == ["two", "two"]
        (code / "extra.py").write_text("X = 3\n")
        (code / "app.py").write_text(
            "import extra\ndef handler(event, context):\n    return extra.X\n"
        )
        assert wait_for(lambda_client, name, 3) == 3
        config = lambda_client.get_function_configuration(FunctionName=name)
        assert config["Runtime"] == "python3.11" and config["Handler"] == "app.handler"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert f"created {name}" in out
    assert f"reloaded {name}" in out
    # The first package and upload show their progress bars, finished.
    bars = [
        line.split() for line in out.splitlines() if line.startswith(("Packaging", "Uploading"))
    ]
    assert [(b[0], b[-1]) for b in bars] == [("Packaging", "100%"), ("Uploading", "100%")]
