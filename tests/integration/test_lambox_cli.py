"""The lambox command: logs and the function table, against a real server."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import ROLE, make_zip, unique


def lambox(server, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    return subprocess.run(
        [sys.executable, "-m", "lambox.cli.main", *args, "--endpoint-url", server.url],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_logs_prints_the_function_log(lambda_client, server) -> None:  # type: ignore[no-untyped-def]
    name = unique("logs")
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    print('marker-42')\n"})},
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    rid = lambda_client.invoke(FunctionName=name, Payload=b"{}")["ResponseMetadata"]["RequestId"]
    out = lambox(server, "logs", name)
    assert out.returncode == 0, out.stderr
    assert f"START RequestId: {rid} Version: $LATEST" in out.stdout
    assert "marker-42" in out.stdout
    assert f"REPORT RequestId: {rid}" in out.stdout


def test_logs_follow_streams_new_invocations(lambda_client, server) -> None:  # type: ignore[no-untyped-def]
    name = unique("follow")
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    print('followed', e)\n"})},
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lambox.cli.main",
            "logs",
            name,
            "--follow",
            "--endpoint-url",
            server.url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        lambda_client.invoke(FunctionName=name, Payload=b"7")
        time.sleep(1.5)
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert "followed 7" in out


def test_unknown_function_logs_is_an_error(server) -> None:  # type: ignore[no-untyped-def]
    out = lambox(server, "logs", "no-such-function-here")
    assert out.returncode == 1
    assert "Function not found" in out.stderr


def test_functions_table_lists_functions(lambda_client, server) -> None:  # type: ignore[no-untyped-def]
    name = unique("table")
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": "def handler(e, c):\n    return 1\n"})},
    )
    out = subprocess.run(
        [sys.executable, "-m", "lambox.cli.main", "functions", "--endpoint-url", server.url],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr
    assert name[:20] in out.stdout
