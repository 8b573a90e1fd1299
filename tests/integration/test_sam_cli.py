"""The AWS SAM CLI itself against lambox: `sam build` (no container) and `sam deploy` of
examples/sam-app with AWS_ENDPOINT_URL set to lambox, the stack's SQS worker at work, then
`sam logs` and `sam delete`. The CLI (pinned in the Makefile) lives in its own venv,
.venv-sam: `make test` makes it first, and this module makes it with `make sam-cli` when it
is absent, so the test runs rather than skips (the install takes about two minutes once)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import CLIENT_ENV, ROOT, LamboxServer, aws_client, unique

SAM = ROOT / ".venv-sam" / "bin" / "sam"


def sam(server: LamboxServer, cwd: Path, *args: str) -> str:
    env = {
        **os.environ,
        **CLIENT_ENV,
        "AWS_ENDPOINT_URL": server.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "SAM_CLI_TELEMETRY": "0",
        "PATH": f"{SAM.parent}:{os.environ.get('PATH', '')}",
    }
    done = subprocess.run(
        [str(SAM), *args], cwd=cwd, capture_output=True, text=True, timeout=600, env=env
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture(scope="module")
def sam_cli() -> Path:
    """The SAM CLI, installed by the Makefile's own target when absent."""
    if not SAM.exists():
        made = subprocess.run(
            ["make", "-C", str(ROOT), "sam-cli"], capture_output=True, text=True, timeout=900
        )
        assert made.returncode == 0, made.stdout + made.stderr
    return SAM


def test_sam_build_and_deploy(
    sam_cli: Path, server: LamboxServer, lambda_client: Any, tmp_path: Path
) -> None:
    work = tmp_path / "sam-app"
    shutil.copytree(ROOT / "examples" / "sam-app", work)
    s3, sqs = aws_client(server, "s3", retries=True), aws_client(server, "sqs", retries=True)
    bucket = unique("sam-cli-artifacts").lower()
    stack = unique("samcli")
    s3.create_bucket(Bucket=bucket)
    sam(server, work, "build")
    assert (work / ".aws-sam" / "build" / "template.yaml").exists()
    # SAM's own artifacts bucket (a managed stack: a bucket and its policy) the first time,
    # a bucket of ours the second: both ways users deploy.
    for where in (("--resolve-s3",), ("--s3-bucket", bucket)):
        sam(
            server,
            work,
            *("deploy", "--stack-name", stack, *where),
            *("--capabilities", "CAPABILITY_IAM", "--no-confirm-changeset"),
            "--no-fail-on-empty-changeset",
        )
    stacks = aws_client(server, "cloudformation", retries=True).describe_stacks(StackName=stack)[
        "Stacks"
    ]
    assert stacks[0]["StackStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")
    out = {o["OutputKey"]: o["OutputValue"] for o in stacks[0]["Outputs"]}
    greeted = lambda_client.invoke(
        FunctionName=out["FunctionName"], Qualifier="live", Payload=b'{"name": "sam"}'
    )
    assert json.loads(greeted["Payload"].read())["message"] == "Hello, sam!"
    request_id = greeted["ResponseMetadata"]["RequestId"]
    # `sam logs` finds the function's log group through the stack and reads it.
    logged = sam(server, work, "logs", "--stack-name", stack, "-n", "Greeter", "-s", "10min ago")
    assert f"REPORT RequestId: {request_id}" in logged, logged
    host = f"{out['HelloRestApiId']}.execute-api.localhost"  # the Api event's REST API
    hello = httpx.get(f"{server.url}/Prod/hello", headers={"Host": host}, timeout=60)
    assert hello.status_code == 200, hello.text
    assert hello.json()["message"] == "Hello, world!"
    sqs.send_message(QueueUrl=out["OrdersQueueUrl"], MessageBody=json.dumps({"customer": "Sam"}))
    deadline = time.monotonic() + 60
    listed: dict[str, Any] = {}
    while time.monotonic() < deadline and not listed.get("Contents"):
        listed = s3.list_objects_v2(Bucket=out["UploadsBucket"], Prefix="orders/")
        time.sleep(0.5)
    (stored,) = listed["Contents"]
    body = s3.get_object(Bucket=out["UploadsBucket"], Key=stored["Key"])["Body"].read()
    assert json.loads(body)["greeting"] == "Thanks, Sam!"
    s3.delete_object(Bucket=out["UploadsBucket"], Key=stored["Key"])
    sam(server, work, "delete", "--stack-name", stack, "--no-prompts")
    names = [f["FunctionName"] for f in lambda_client.list_functions()["Functions"]]
    assert out["FunctionName"] not in names
