"""InvokeAsync (deprecated on AWS, still called by old tools): 202, then the event runs
through the durable async queue like an Invoke with InvocationType Event."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, LamboxServer, make_zip, unique
from tests.integration.test_aws_cli import aws

CODE = make_zip(
    {
        "app.py": (
            "import json\ndef handler(event, context):\n    print('RECORD ' + json.dumps(event))\n"
        )
    }
)


def create(client: Any) -> str:
    name = unique("iasync")
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": CODE},
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    return name


def received(server: LamboxServer, name: str, count: int) -> list[Any]:
    deadline = time.monotonic() + 30
    found: list[Any] = []
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.url}/lambox/v1/logs/{name}").text
        found = [json.loads(line[7:]) for line in text.splitlines() if line.startswith("RECORD ")]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{name} received {found}, expected {count} events")


def test_invoke_async_answers_202_and_runs_the_event(
    lambda_client: Any, server: LamboxServer
) -> None:
    name = create(lambda_client)
    got = lambda_client.invoke_async(FunctionName=name, InvokeArgs=b'{"from": "boto3"}')
    assert got["Status"] == 202
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert received(server, name, 1) == [{"from": "boto3"}]


def test_invoke_async_through_the_cli(
    lambda_client: Any, server: LamboxServer, tmp_path: Path
) -> None:
    name = create(lambda_client)
    args = tmp_path / "args.json"
    args.write_text('{"from": "cli"}')
    out = aws(server, "invoke-async", "--function-name", name, "--invoke-args", str(args))
    assert json.loads(out.stdout)["Status"] == 202
    assert received(server, name, 1) == [{"from": "cli"}]


def test_invoke_async_of_a_missing_function_is_404(lambda_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        lambda_client.invoke_async(FunctionName=unique("none"), InvokeArgs=b"{}")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert exc.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
