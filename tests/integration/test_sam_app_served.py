"""``make serve`` deploys examples/sam-app as the CloudFormation stack ``sam-app`` (its
local code and layer directories zipped into lambox's S3, as ``sam deploy`` uploads them):
the stack's function answers through its alias and its SQS worker stores the orders sent
to its queue (with the AWS CLI) in its bucket. A restart leaves the stack as it is."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CLIENT_ENV, LamboxServer, serve_examples, stop_server

READY = "stack-name sam-app"


def aws(server: LamboxServer, *args: str) -> Any:
    done = subprocess.run(
        [
            "/usr/bin/aws",
            "--endpoint-url",
            server.url,
            "--region",
            "us-east-1",
            "--output",
            "json",
            *args,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, **CLIENT_ENV},
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout) if done.stdout.strip() else {}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("samserved") / "data"


@pytest.fixture(scope="module")
def served(data: Path) -> Iterator[LamboxServer]:
    server = serve_examples(data, lambda log: READY in log or "sam-app not deployed" in log)
    yield server
    stop_server(server)


def outputs(server: LamboxServer) -> dict[str, str]:
    (stack,) = aws(server, "cloudformation", "describe-stacks", "--stack-name", "sam-app")["Stacks"]
    assert stack["StackStatus"] == "CREATE_COMPLETE", stack
    return {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}


def test_the_sam_app_stack_serves(served: LamboxServer, tmp_path: Path) -> None:
    out = outputs(served)
    result = tmp_path / "out.json"
    aws(
        served,
        *("lambda", "invoke", "--function-name", out["FunctionName"], "--qualifier", "live"),
        *("--payload", '{"name": "make serve"}', "--cli-binary-format", "raw-in-base64-out"),
        str(result),
    )
    assert json.loads(result.read_text())["message"] == "Hello, make serve!"
    # The HttpApi event: GET /greet on the stack's HTTP API runs the live alias.
    host = f"{out['GreetApiId']}.execute-api.localhost"
    greeted = httpx.get(f"{served.url}/greet", headers={"Host": host}, timeout=60)
    assert greeted.status_code == 200, greeted.text
    assert greeted.json()["message"] == "Hello, world!"
    # The Api event: GET /hello on the stack's REST API, its Prod stage.
    host = f"{out['HelloRestApiId']}.execute-api.localhost"
    hello = httpx.get(f"{served.url}/Prod/hello", headers={"Host": host}, timeout=60)
    assert hello.status_code == 200, hello.text
    assert hello.json()["helpers"] == "/opt/python/greetings.py"
    body = json.dumps({"customer": "Grace"})
    aws(served, "sqs", "send-message", "--queue-url", out["OrdersQueueUrl"], "--message-body", body)
    deadline = time.monotonic() + 60
    listed: dict[str, Any] = {}
    while time.monotonic() < deadline and not listed.get("Contents"):
        listed = aws(
            served,
            "s3api",
            "list-objects-v2",
            "--bucket",
            out["UploadsBucket"],
            "--prefix",
            "orders/",
        )
        time.sleep(0.5)
    (stored,) = listed["Contents"]
    got = tmp_path / "order.json"
    aws(
        served,
        *("s3api", "get-object", "--bucket", out["UploadsBucket"], "--key", stored["Key"]),
        str(got),
    )
    assert json.loads(got.read_text())["greeting"] == "Thanks, Grace!"


def test_a_restart_keeps_the_stack(served: LamboxServer, data: Path) -> None:
    before = outputs(served)
    stop_server(served)
    again = serve_examples(data, lambda log: READY in log or "sam-app not deployed" in log)
    try:
        assert "sam-app not deployed" not in again.output()
        assert outputs(again) == before
    finally:
        stop_server(again)
