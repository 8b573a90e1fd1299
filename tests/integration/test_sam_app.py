"""examples/sam-app deployed as its users deploy it: code and layer zipped into lambox's S3
(what `aws cloudformation package` does; the Debian CLI 2.9 here cannot point that command's
S3 uploads at another endpoint, so the test does the same with `aws s3 cp`), then
`aws cloudformation deploy` (change sets), an update of parameters, and `delete-stack`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import CLIENT_ENV, ROOT, LamboxServer, unique

AWS_CLI = "/usr/bin/aws"
EXAMPLE = ROOT / "examples" / "sam-app"


def aws(server: LamboxServer, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **CLIENT_ENV, "AWS_ENDPOINT_URL": server.url}
    done = subprocess.run(
        [AWS_CLI, "--endpoint-url", server.url, "--region", "us-east-1", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def outputs(server: LamboxServer, stack: str) -> dict[str, str]:
    described = json.loads(
        aws(server, "cloudformation", "describe-stacks", "--stack-name", stack).stdout
    )
    return {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0]["Outputs"]}


def wait_for_order(server: LamboxServer, bucket: str) -> Any:
    """The first order the worker stored in ``bucket`` (waiting up to a minute for it)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        listed = json.loads(
            aws(
                server, "s3api", "list-objects-v2", "--bucket", bucket, "--prefix", "orders/"
            ).stdout.strip()
            or "{}"
        )
        if listed.get("Contents"):
            key = listed["Contents"][0]["Key"]
            done = aws(server, "s3", "cp", f"s3://{bucket}/{key}", "-")
            return json.loads(done.stdout)
        time.sleep(0.5)
    raise AssertionError("no order was stored")


def invoke(lambda_client: Any, name: str, qualifier: str) -> dict[str, Any]:
    result = lambda_client.invoke(
        FunctionName=name, Qualifier=qualifier, Payload=json.dumps({"name": "lambox"})
    )
    assert "FunctionError" not in result, result["Payload"].read()
    return dict(json.loads(result["Payload"].read()))


@pytest.mark.skipif(not Path(AWS_CLI).exists(), reason="the AWS CLI is not installed")
def test_sam_app_deploys_with_the_aws_cli(
    server: LamboxServer, lambda_client: Any, tmp_path: Path
) -> None:
    work = tmp_path / "sam-app"
    shutil.copytree(EXAMPLE, work)
    bucket = unique("sam-artifacts").lower()
    stack = unique("sam-app")
    aws(server, "s3", "mb", f"s3://{bucket}")
    template = (work / "template.yaml").read_text()
    for folder, prop in (("src", "CodeUri"), ("layer", "ContentUri")):
        archive = shutil.make_archive(str(tmp_path / folder), "zip", work / folder)
        aws(server, "s3", "cp", archive, f"s3://{bucket}/{folder}.zip")
        template = template.replace(f"{prop}: {folder}/", f"{prop}: s3://{bucket}/{folder}.zip")
    packaged = tmp_path / "packaged.yaml"
    packaged.write_text(template)
    assert template.count(f"s3://{bucket}/") == 3
    deploy = [
        "cloudformation",
        "deploy",
        "--template-file",
        str(packaged),
        "--stack-name",
        stack,
        "--capabilities",
        "CAPABILITY_IAM",
    ]
    aws(server, *deploy)
    out = outputs(server, stack)
    function = out["FunctionName"]
    assert out["LiveAlias"].endswith(f":function:{function}:live")
    assert out["UploadsArn"] == f"arn:aws:s3:::{out['UploadsBucket']}"
    got = invoke(lambda_client, function, "live")
    assert got == {
        "message": "Hello, lambox!",
        "stage": "dev",
        "uploads": out["UploadsBucket"],
        "helpers": "/opt/python/greetings.py",
    }
    config = lambda_client.get_function_configuration(FunctionName=function)
    assert [layer["Arn"] for layer in config["Layers"]] == [out["LayerVersion"]]
    assert config["MemorySize"] == 128

    # The SQS event: a message sent to the stack's queue reaches the worker, which stores
    # the order in the bucket.
    mappings = lambda_client.list_event_source_mappings(FunctionName=out["OrderWorkerName"])
    assert len(mappings["EventSourceMappings"]) == 1
    aws(
        server,
        "sqs",
        "send-message",
        "--queue-url",
        out["OrdersQueueUrl"],
        "--message-body",
        json.dumps({"customer": "Ada", "items": 3}),
    )
    stored = wait_for_order(server, out["UploadsBucket"])
    assert stored == {"customer": "Ada", "items": 3, "greeting": "Thanks, Ada!"}

    # New code and parameters: an update through a second change set; SAM publishes a new
    # version (its logical id hashes the code location) and the alias moves to it.
    app = work / "src" / "app.py"
    app.write_text(app.read_text().replace('"stage":', '"edition": 2,\n        "stage":'))
    archive = shutil.make_archive(str(tmp_path / "src2"), "zip", work / "src")
    aws(server, "s3", "cp", archive, f"s3://{bucket}/src2.zip")
    packaged.write_text(template.replace(f"s3://{bucket}/src.zip", f"s3://{bucket}/src2.zip"))
    aws(server, *deploy, "--parameter-overrides", "Greeting=Howdy", "Stage=prod")
    got = invoke(lambda_client, function, "live")
    assert (got["message"], got["stage"], got["edition"]) == ("Howdy, lambox!", "prod", 2)
    assert lambda_client.get_function_configuration(FunctionName=function)["MemorySize"] == 256
    assert lambda_client.get_alias(FunctionName=function, Name="live")["FunctionVersion"] == "2"

    aws(server, "s3", "rm", f"s3://{out['UploadsBucket']}", "--recursive")
    aws(server, "cloudformation", "delete-stack", "--stack-name", stack)
    aws(server, "cloudformation", "wait", "stack-delete-complete", "--stack-name", stack)
    listed = lambda_client.list_functions()["Functions"]
    assert function not in [f["FunctionName"] for f in listed]
