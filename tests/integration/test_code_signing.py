"""Code signing configs beyond the recorded calls: in-use configs, functions that go away,
validation, and configs that survive a restart."""

from __future__ import annotations

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
