"""The lambox command: logs and the function table, against a real server."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.conftest import ROLE, make_zip, unique


def command(server, *args: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The lambox command line for ``args``, pointed at ``server``."""
    return [sys.executable, "-m", "lambox.cli.main", *args, "--endpoint-url", server.url]


def lambox(  # type: ignore[no-untyped-def]
    server, *args: str, timeout: float = 30, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(server, *args),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def deploy(lambda_client, prefix: str, body: str, *, wait: bool = True) -> str:  # type: ignore[no-untyped-def]
    """A python3.11 function whose handler ``handler(e, c)`` runs ``body``; its name."""
    name = unique(prefix)
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": f"def handler(e, c):\n    {body}\n"})},
    )
    if wait:
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_logs_prints_the_function_log(lambda_client, server) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lambda_client, "logs", "print('marker-42')")
    rid = lambda_client.invoke(FunctionName=name, Payload=b"{}")["ResponseMetadata"]["RequestId"]
    out = lambox(server, "logs", name)
    assert out.returncode == 0, out.stderr
    assert f"START RequestId: {rid} Version: $LATEST" in out.stdout
    assert "marker-42" in out.stdout
    assert f"REPORT RequestId: {rid}" in out.stdout


def test_logs_follow_streams_new_invocations(lambda_client, server) -> None:  # type: ignore[no-untyped-def]
    name = deploy(lambda_client, "follow", "print('followed', e)")
    proc = subprocess.Popen(
        command(server, "logs", name, "--follow"), stdout=subprocess.PIPE, text=True
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
    name = deploy(lambda_client, "table", "return 1", wait=False)
    out = lambox(server, "functions", env={"COLUMNS": "250", "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    assert name[:20] in out.stdout
