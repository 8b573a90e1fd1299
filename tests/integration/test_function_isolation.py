"""On loopback, with the default settings, a function acts as its execution role and
nothing more: one whose role lambox created for it (it may write its logs, no more) cannot
read another function's code, environment or logs, nor change or delete it, while the
account's root (``test``/``test``, or an unsigned request) still may. ``LAMBOX_ENFORCE_IAM=off``
gives the old behaviour back."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.conftest import LamboxServer, make_zip, start_server, stop_server, unique

INTRUDER = """
import boto3
from botocore.exceptions import ClientError

def attempt(call):
    try:
        call()
    except ClientError as exc:
        return exc.response["Error"]["Code"]
    return "allowed"

def handler(event, context):
    lam = boto3.client("lambda")
    logs = boto3.client("logs")
    victim = event["victim"]
    return {
        "GetFunction": attempt(lambda: lam.get_function(FunctionName=victim)),
        "GetFunctionConfiguration": attempt(
            lambda: lam.get_function_configuration(FunctionName=victim)
        ),
        "FilterLogEvents": attempt(
            lambda: logs.filter_log_events(logGroupName="/aws/lambda/" + victim)
        ),
        "UpdateFunctionConfiguration": attempt(
            lambda: lam.update_function_configuration(
                FunctionName=victim, Environment={"Variables": {"SECRET": "stolen"}}
            )
        ),
        "DeleteFunction": attempt(lambda: lam.delete_function(FunctionName=victim)),
    }
"""
VICTIM = "def handler(event, context):\n    print('victim ran')\n    return 'ok'\n"
CALLS = (
    "GetFunction",
    "GetFunctionConfiguration",
    "FilterLogEvents",
    "UpdateFunctionConfiguration",
    "DeleteFunction",
)


def lambda_client(url: str) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=120),
    )


def deploy(lam: Any, name: str, code: str, role: str, env: dict[str, str] | None = None) -> None:
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.py": code})},
        Environment={"Variables": env or {}},
        Timeout=60,
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)


def attempts(server: LamboxServer) -> tuple[Any, str, dict[str, str]]:
    """A victim with a secret (run once so it has logs) and an intruder whose role does not
    exist yet; what each of the intruder's calls on the victim answered."""
    lam = lambda_client(server.url)
    victim, intruder = unique("victim"), unique("intruder")
    deploy(lam, victim, VICTIM, "arn:aws:iam::000000000000:role/victim", {"SECRET": "s3cr3t"})
    assert lam.invoke(FunctionName=victim)["StatusCode"] == 200
    role = f"arn:aws:iam::000000000000:role/{unique('fresh')}"
    deploy(lam, intruder, INTRUDER, role)
    out = lam.invoke(FunctionName=intruder, Payload=json.dumps({"victim": victim}))
    body = json.loads(out["Payload"].read())
    assert "FunctionError" not in out, body
    return lam, victim, body


def test_a_function_with_a_created_role_cannot_touch_another_function(
    server: LamboxServer,
) -> None:
    lam, victim, answers = attempts(server)
    assert answers == {call: "AccessDeniedException" for call in CALLS}
    assert "did not exist: created" in server.output()
    # The root (test/test) still reads the victim's code and environment, and deletes it.
    got = lam.get_function(FunctionName=victim)
    assert got["Configuration"]["Environment"]["Variables"] == {"SECRET": "s3cr3t"}
    assert got["Code"]["Location"]
    lam.delete_function(FunctionName=victim)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=victim)


def test_enforce_iam_off_lets_every_function_act_as_it_pleases(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data", {"LAMBOX_ENFORCE_IAM": "off"})
    try:
        lam, victim, answers = attempts(srv)
        assert answers == {call: "allowed" for call in CALLS}
        with pytest.raises(lam.exceptions.ResourceNotFoundException):
            lam.get_function(FunctionName=victim)
    finally:
        stop_server(srv)
