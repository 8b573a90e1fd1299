"""Code signing configs beyond the recorded calls: in-use configs, functions that go away,
validation, and configs that survive a restart."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, start_server, stop_server, unique

PROFILE = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/test"
CODE = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


def new_function(client: Any) -> str:
    name = unique("csc")
    client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": CODE},
    )  # fmt: skip
    return name


def new_config(client: Any, **policies: str) -> str:
    response = client.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": [PROFILE]},
        **({"CodeSigningPolicies": policies} if policies else {}),
    )
    return str(response["CodeSigningConfig"]["CodeSigningConfigArn"])


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_a_config_in_use_cannot_be_deleted(lambda_client: Any) -> None:
    arn = new_config(lambda_client)
    name = new_function(lambda_client)
    lambda_client.put_function_code_signing_config(CodeSigningConfigArn=arn, FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)
    assert error(exc) == ("ResourceConflictException", 409)
    # The function going away frees the config.
    lambda_client.delete_function(FunctionName=name)
    listed = lambda_client.list_functions_by_code_signing_config(CodeSigningConfigArn=arn)
    assert listed["FunctionArns"] == []
    lambda_client.delete_code_signing_config(CodeSigningConfigArn=arn)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_code_signing_config(CodeSigningConfigArn=arn)
    assert error(exc) == ("ResourceNotFoundException", 404)


def test_policy_defaults_to_warn_and_is_validated(lambda_client: Any) -> None:
    arn = new_config(lambda_client)
    got = lambda_client.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]
    assert got["CodeSigningPolicies"] == {"UntrustedArtifactOnDeployment": "Warn"}
    assert got["CodeSigningConfigId"] == arn.rsplit(":", 1)[1]
    with pytest.raises(ClientError) as exc:
        new_config(lambda_client, UntrustedArtifactOnDeployment="Sometimes")
    assert error(exc) == ("ValidationException", 400)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_code_signing_config(CodeSigningConfigArn="arn:aws:lambda:nope")
    assert error(exc) == ("ValidationException", 400)


def test_configs_and_bindings_survive_a_restart(tmp_path: Any) -> None:
    data = tmp_path / "data"
    srv = start_server(data)
    try:
        client = boto3.client(
            "lambda", endpoint_url=srv.url, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 0}),
        )  # fmt: skip
        arn = new_config(client, UntrustedArtifactOnDeployment="Enforce")
        name = new_function(client)
        client.put_function_code_signing_config(CodeSigningConfigArn=arn, FunctionName=name)
    finally:
        srv.proc.kill()
        srv.proc.wait()
    srv = start_server(data)
    try:
        client = boto3.client(
            "lambda", endpoint_url=srv.url, region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 0}),
        )  # fmt: skip
        got = client.get_function_code_signing_config(FunctionName=name)
        assert got["CodeSigningConfigArn"] == arn
        config = client.get_code_signing_config(CodeSigningConfigArn=arn)["CodeSigningConfig"]
        assert config["CodeSigningPolicies"]["UntrustedArtifactOnDeployment"] == "Enforce"
    finally:
        stop_server(srv)


OTHER = make_zip({"app.py": "def handler(event, context):\n    return 'other'\n"})


def test_enforce_refuses_code_updates_warn_lets_them_through(lambda_client: Any) -> None:
    """Inline code (ZipFile) is unsigned, so untrusted: Enforce refuses it, Warn takes it."""
    name = new_function(lambda_client)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    before = lambda_client.get_function_configuration(FunctionName=name)["CodeSha256"]
    enforce = new_config(lambda_client, UntrustedArtifactOnDeployment="Enforce")
    lambda_client.put_function_code_signing_config(CodeSigningConfigArn=enforce, FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_code(FunctionName=name, ZipFile=OTHER)
    assert error(exc) == ("CodeVerificationFailedException", 400)
    assert "the code was uploaded inline" in exc.value.response["Error"]["Message"]
    assert lambda_client.get_function_configuration(FunctionName=name)["CodeSha256"] == before
    warn = new_config(lambda_client, UntrustedArtifactOnDeployment="Warn")
    lambda_client.put_function_code_signing_config(CodeSigningConfigArn=warn, FunctionName=name)
    updated = lambda_client.update_function_code(FunctionName=name, ZipFile=OTHER)
    assert updated["CodeSha256"] != before


def test_create_function_with_a_code_signing_config(lambda_client: Any) -> None:
    warn = new_config(lambda_client, UntrustedArtifactOnDeployment="Warn")
    name = unique("csc")
    lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": CODE}, CodeSigningConfigArn=warn,
    )  # fmt: skip
    got = lambda_client.get_function_code_signing_config(FunctionName=name)
    assert got["CodeSigningConfigArn"] == warn
    enforce = new_config(lambda_client, UntrustedArtifactOnDeployment="Enforce")
    refused = unique("csc")
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function(
            FunctionName=refused, Runtime="python3.11", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": CODE}, CodeSigningConfigArn=enforce,
        )  # fmt: skip
    assert error(exc) == ("CodeVerificationFailedException", 400)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function(FunctionName=refused)
    assert error(exc) == ("ResourceNotFoundException", 404)
    missing = enforce[:-1] + ("y" if enforce.endswith("x") else "x")
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function(
            FunctionName=refused, Runtime="python3.11", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": CODE}, CodeSigningConfigArn=missing,
        )  # fmt: skip
    assert error(exc) == ("CodeSigningConfigNotFoundException", 404)


def test_code_signing_through_the_cli(lambda_client: Any, server: Any) -> None:
    from tests.integration.test_aws_cli import aws

    out = aws(
        server, "create-code-signing-config",
        "--allowed-publishers", f"SigningProfileVersionArns={PROFILE}",
        "--code-signing-policies", "UntrustedArtifactOnDeployment=Enforce",
    )  # fmt: skip
    arn = json.loads(out.stdout)["CodeSigningConfig"]["CodeSigningConfigArn"]
    name = new_function(lambda_client)
    aws(server, "put-function-code-signing-config", "--function-name", name,
        "--code-signing-config-arn", arn)  # fmt: skip
    listed = aws(server, "list-functions-by-code-signing-config", "--code-signing-config-arn", arn)
    assert json.loads(listed.stdout)["FunctionArns"] == [
        lambda_client.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
    ]
    refused = aws(server, "delete-code-signing-config", "--code-signing-config-arn", arn,
                  check=False)  # fmt: skip
    assert refused.returncode != 0 and "ResourceConflictException" in refused.stderr
