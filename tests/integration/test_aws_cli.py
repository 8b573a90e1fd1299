"""The AWS CLI, run as a user runs it, against a real server."""

from __future__ import annotations

import base64
import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import CLIENT_ENV, make_zip, unique

# AWS CLI v2, from Debian's awscli package (installed by `make install`): the CLI users run.
AWS_CLI = "/usr/bin/aws"


def aws(server, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:  # type: ignore[no-untyped-def]
    exe = AWS_CLI
    return subprocess.run(
        [exe, "--endpoint-url", server.url, "--region", "us-east-1", "lambda", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
        env={**os.environ, **CLIENT_ENV},
    )


def create_function(  # type: ignore[no-untyped-def]
    server,
    tmp_path: Path,
    name: str,
    code: str,
    *options: str,
    runtime: str = "python3.11",
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """``aws lambda create-function`` of a package holding ``code`` as ``app.py`` (handler
    ``app.handler``), as a user writes it, with any further ``options``."""
    zip_path = tmp_path / "fn.zip"
    zip_path.write_bytes(make_zip({"app.py": code}))
    return aws(
        server,
        "create-function",
        "--function-name",
        name,
        "--runtime",
        runtime,
        "--handler",
        "app.handler",
        "--zip-file",
        f"fileb://{zip_path}",
        "--role",
        "arn:aws:iam::000000000000:role/x",
        *options,
        check=check,
    )


def test_create_invoke_with_tail_logs_through_the_cli(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique("cli")
    code = "def handler(event, context):\n    print('cli says hi')\n    return {'got': event}\n"
    created = json.loads(create_function(server, tmp_path, name, code).stdout)
    assert created["FunctionName"] == name
    assert created["State"] == "Pending"
    aws(server, "wait", "function-active-v2", "--function-name", name)
    out = tmp_path / "out.json"
    meta = json.loads(
        aws(
            server,
            "invoke",
            "--function-name",
            name,
            "--payload",
            '{"a":1}',
            "--cli-binary-format",
            "raw-in-base64-out",
            "--log-type",
            "Tail",
            str(out),
        ).stdout
    )
    assert meta["StatusCode"] == 200
    assert meta["ExecutedVersion"] == "$LATEST"
    assert json.loads(out.read_text()) == {"got": {"a": 1}}
    logs = base64.b64decode(meta["LogResult"]).decode()
    assert "cli says hi" in logs and "REPORT RequestId:" in logs
    listed = json.loads(aws(server, "list-functions").stdout)
    assert name in [f["FunctionName"] for f in listed["Functions"]]
    aws(server, "delete-function", "--function-name", name)
    missing = aws(server, "get-function", "--function-name", name, check=False)
    assert missing.returncode != 0
    assert "ResourceNotFoundException" in missing.stderr


@pytest.mark.parametrize("memory", ["64"])
def test_cli_reports_validation_errors(server, tmp_path: Path, memory: str) -> None:  # type: ignore[no-untyped-def]
    result = create_function(
        server,
        tmp_path,
        unique("clibad"),
        "def handler(e, c):\n    return 1\n",
        "--memory-size",
        memory,
        check=False,
    )
    assert result.returncode != 0
    assert "ValidationException" in result.stderr or "Invalid" in result.stderr


def test_snapstart_through_the_cli(server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    name = unique("cli-snap")
    code = (
        "import os\n"
        "def handler(event, context):\n"
        "    return os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']\n"
    )
    create_function(
        server,
        tmp_path,
        name,
        code,
        "--snap-start",
        "ApplyOn=PublishedVersions",
        runtime="python3.12",
    )
    aws(server, "wait", "function-active-v2", "--function-name", name)
    published = json.loads(aws(server, "publish-version", "--function-name", name).stdout)
    assert published["SnapStart"] == {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
    assert published["State"] == "Pending"
    aws(server, "wait", "published-version-active", "--function-name", name, "--qualifier", "1")
    out = tmp_path / "out.json"
    result = json.loads(
        aws(
            server,
            "invoke",
            "--function-name",
            f"{name}:1",
            "--log-type",
            "Tail",
            str(out),
        ).stdout
    )
    assert json.loads(out.read_text()) == "snap-start"
    assert "Restore Duration" in base64.b64decode(result["LogResult"]).decode()
