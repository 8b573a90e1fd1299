"""Durable functions in the strict posture: the SDK checkpoints as the function's execution
role, so a role allowed ``lambda:CheckpointDurableExecution`` and
``lambda:GetDurableExecutionState`` runs its executions to the end, and a role that is not
allowed them fails its execution with the AccessDeniedException naming the action."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.conftest import LamboxServer, make_zip, unique
from tests.integration.test_auth import client, root_keys, strict  # noqa: F401
from tests.integration.test_function_credentials import LAMBDA_TRUST

HANDLER = """
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration

@durable_execution
def handler(event, context: DurableContext):
    a = context.step(lambda _: event["x"] + 1, name="add")
    context.wait(Duration.from_seconds(1), name="pause")
    return context.step(lambda _: a * 2, name="double")
"""


def checkpoint_policy(name: str) -> str:
    """AWS's least-privilege policy for a durable function (the execution ARN is a
    sub-resource of the function's version: ``function:<name>:*`` matches it)."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": [
                        "lambda:CheckpointDurableExecution",
                        "lambda:GetDurableExecutionState",
                    ],
                    "Resource": f"arn:aws:lambda:us-east-1:000000000000:function:{name}:*",
                }
            ],
        }
    )


def durable_function(lam: Any, iam: Any, allowed: bool) -> str:
    role_name = unique("durable-role")
    role = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=LAMBDA_TRUST)["Role"]
    name = unique("durable-auth")
    if allowed:
        iam.put_role_policy(
            RoleName=role_name, PolicyName="checkpoints", PolicyDocument=checkpoint_policy(name)
        )
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=role["Arn"],
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.py": HANDLER})},
        Timeout=60,
        DurableConfig={"ExecutionTimeout": 600, "RetentionPeriodInDays": 1},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_execution_role_must_allow_checkpoints(
    strict: LamboxServer,  # noqa: F811
    root_keys: tuple[str, str],  # noqa: F811
) -> None:
    lam = client("lambda", strict.url, *root_keys, read_timeout=180)
    iam = client("iam", strict.url, *root_keys)

    allowed = durable_function(lam, iam, allowed=True)
    answer = lam.invoke(FunctionName=allowed, Payload=b'{"x": 20}')
    body = json.loads(answer["Payload"].read())
    assert "FunctionError" not in answer, body
    assert body == 42

    refused = durable_function(lam, iam, allowed=False)
    answer = lam.invoke(FunctionName=refused, Payload=b'{"x": 20}')
    body = json.loads(answer["Payload"].read())
    assert answer["FunctionError"] == "Unhandled"
    arn = answer["DurableExecutionArn"]
    execution = lam.get_durable_execution(DurableExecutionArn=arn)
    assert execution["Status"] == "FAILED"
    # The invocations' errors name the refused action: what the user sees in the history.
    deadline = time.monotonic() + 30
    events = lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    while not any(e["EventType"] == "ExecutionFailed" for e in events):
        assert time.monotonic() < deadline
        time.sleep(0.2)
        events = lam.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
    text = json.dumps(events, default=str) + json.dumps(body)
    assert "lambda:CheckpointDurableExecution" in text, text[:2000]
    assert "AccessDenied" in text, text[:2000]
    kinds = [e["EventType"] for e in events]
    assert "StepSucceeded" not in kinds
