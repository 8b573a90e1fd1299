"""Deleting a function, by DeleteFunction or by a stack's delete, takes everything of it
along: a new function of the same name starts from the defaults, whichever way the old one
went. Both ways run the one control-plane operation (``control/deletion.py``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import (
    ROLE,
    LamboxServer,
    aws_client,
    make_zip,
    start_server,
    stop_server,
    unique,
)

FAST = {"Delay": 1, "MaxAttempts": 120}
PINNED = "arn:aws:lambda:us-east-1::runtime:" + "cd" * 32
PROFILE = "arn:aws:signer:us-east-1:000000000000:/signing-profiles/deletion"
SOURCE = "def handler(event, context):\n    print('marker-' + event['tag'])\n    return 1\n"
SCALING = {"MinExecutionEnvironments": 1, "MaxExecutionEnvironments": 2}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path_factory.mktemp("del") / "data", {"LAMBOX_SANDBOX": "process"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def cfn(server: LamboxServer) -> Any:
    return aws_client(server, "cloudformation")


@pytest.fixture(scope="module")
def lam(server: LamboxServer) -> Any:
    return aws_client(server, "lambda")


@pytest.fixture(scope="module")
def logs(server: LamboxServer) -> Any:
    return aws_client(server, "logs")


def stack_template(name: str, description: str = "first", source: str = SOURCE) -> str:
    """A function and one published version of it."""
    return json.dumps(
        {
            "Resources": {
                "Fn": {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "FunctionName": name,
                        "Runtime": "python3.11",
                        "Handler": "index.handler",
                        "Role": ROLE,
                        "Code": {"ZipFile": source},
                    },
                },
                "V": {
                    "Type": "AWS::Lambda::Version",
                    "Properties": {"FunctionName": {"Ref": "Fn"}, "Description": description},
                },
            }
        }
    )


def create_directly(lam: Any, name: str) -> None:
    """CreateFunction with the same name, and its first published version."""
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="index.handler",
        Code={"ZipFile": make_zip({"index.py": SOURCE})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig=FAST)
    assert lam.publish_version(FunctionName=name)["Version"] == "1"


def give_everything(lam: Any, name: str) -> str:
    """Every setting and attachment a function can have beside its configuration; the
    code signing config's ARN is returned (it outlives the function)."""
    lam.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    for qualifier in (None, "1"):
        lam.put_runtime_management_config(
            FunctionName=name,
            **({"Qualifier": qualifier} if qualifier else {}),
            UpdateRuntimeOn="Manual",
            RuntimeVersionArn=PINNED,
        )
    lam.put_function_scaling_config(FunctionName=name, Qualifier="1", FunctionScalingConfig=SCALING)
    signing = lam.create_code_signing_config(
        AllowedPublishers={"SigningProfileVersionArns": [PROFILE]}
    )["CodeSigningConfig"]["CodeSigningConfigArn"]
    lam.put_function_code_signing_config(FunctionName=name, CodeSigningConfigArn=signing)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=3)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    lam.create_function_url_config(FunctionName=name, AuthType="AWS_IAM")
    lam.add_permission(
        FunctionName=name,
        StatementId="s3",
        Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com",
    )
    lam.invoke(FunctionName=name, Payload=json.dumps({"tag": name}).encode())

    # Each of them took: what follows the delete is not the defaults by accident.
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Allow"
    got = lam.get_runtime_management_config(FunctionName=name, Qualifier="1")
    assert got["UpdateRuntimeOn"] == "Manual"
    got = lam.get_function_scaling_config(FunctionName=name, Qualifier="1")
    assert got["RequestedFunctionScalingConfig"] == SCALING
    got = lam.get_function_code_signing_config(FunctionName=name)
    assert got["CodeSigningConfigArn"] == signing
    return str(signing)


def assert_defaults(lam: Any, logs: Any, name: str, signing: str) -> None:
    """The function ``name``, created anew, has nothing of its namesake."""
    assert lam.get_function_recursion_config(FunctionName=name)["RecursiveLoop"] == "Terminate"
    for qualifier in ("$LATEST", "1"):
        got = lam.get_runtime_management_config(FunctionName=name, Qualifier=qualifier)
        assert got["UpdateRuntimeOn"] == "Auto" and "RuntimeVersionArn" not in got
    config = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert config["RuntimeVersionConfig"]["RuntimeVersionArn"] != PINNED
    got = lam.get_function_scaling_config(FunctionName=name, Qualifier="1")
    assert "RequestedFunctionScalingConfig" not in got
    assert "CodeSigningConfigArn" not in lam.get_function_code_signing_config(FunctionName=name)
    listed = lam.list_functions_by_code_signing_config(CodeSigningConfigArn=signing)
    assert listed["FunctionArns"] == []
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    for gone in (
        lam.get_function_event_invoke_config,
        lam.get_function_url_config,
        lam.get_policy,
    ):
        with pytest.raises(ClientError) as exc:
            gone(FunctionName=name)
        assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    events = logs.filter_log_events(
        logGroupName=f"/aws/lambda/{name}", filterPattern=f'"marker-{name}"'
    )
    assert events["events"] == []


def test_a_function_a_stack_deleted_leaves_nothing_to_its_namesake(
    cfn: Any, lam: Any, logs: Any
) -> None:
    name = unique("stackdel")
    cfn.create_stack(StackName=name, TemplateBody=stack_template(name))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    signing = give_everything(lam, name)

    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)
    with pytest.raises(ClientError) as exc:
        lam.get_function(FunctionName=name)
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"

    create_directly(lam, name)
    assert_defaults(lam, logs, name, signing)


def test_delete_function_leaves_nothing_to_its_namesake(lam: Any, logs: Any) -> None:
    name = unique("apidel")
    create_directly(lam, name)
    signing = give_everything(lam, name)

    assert lam.delete_function(FunctionName=name)["ResponseMetadata"]["HTTPStatusCode"] == 204
    create_directly(lam, name)
    assert_defaults(lam, logs, name, signing)


def settings_rows(server: LamboxServer, name: str) -> list[tuple[str, str]]:
    """(qualifier, kind) of the settings the store keeps for ``name``."""
    db = sqlite3.connect(server.data_dir / "state.db")
    try:
        rows = db.execute(
            "SELECT qualifier, kind FROM function_settings WHERE name = ? ORDER BY 1, 2", (name,)
        ).fetchall()
    finally:
        db.close()
    return [(str(q), str(k)) for q, k in rows]


def test_a_version_a_stack_replaced_takes_its_settings_along(
    server: LamboxServer, cfn: Any, lam: Any
) -> None:
    name = unique("verdel")
    cfn.create_stack(StackName=name, TemplateBody=stack_template(name))
    cfn.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig=FAST)
    lam.put_runtime_management_config(
        FunctionName=name, Qualifier="1", UpdateRuntimeOn="Manual", RuntimeVersionArn=PINNED
    )
    lam.put_function_scaling_config(FunctionName=name, Qualifier="1", FunctionScalingConfig=SCALING)
    assert settings_rows(server, name) == [("1", "runtime-management"), ("1", "scaling")]

    # New code and a new Description publish version 2 and delete version 1 (DeleteFunction
    # with its Qualifier): version 1's settings go with it.
    update = stack_template(name, "second", SOURCE + "# second\n")
    cfn.update_stack(StackName=name, TemplateBody=update)
    cfn.get_waiter("stack_update_complete").wait(StackName=name, WaiterConfig=FAST)
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "2"]
    assert settings_rows(server, name) == []
    cfn.delete_stack(StackName=name)
    cfn.get_waiter("stack_delete_complete").wait(StackName=name, WaiterConfig=FAST)


def test_delete_function_keeps_aws_answers(lam: Any) -> None:
    name = unique("answers")
    create_directly(lam, name)
    arn = lam.get_function_configuration(FunctionName=name)["FunctionArn"]
    cases = [
        ({"FunctionName": name, "Qualifier": "$LATEST"}, "InvalidParameterValueException", 400),
        ({"FunctionName": f"{arn}:$LATEST"}, "InvalidParameterValueException", 400),
        ({"FunctionName": f"{arn}:1", "Qualifier": "2"}, "InvalidParameterValueException", 400),
        ({"FunctionName": name, "Qualifier": "live"}, "InvalidParameterValueException", 400),
        ({"FunctionName": "bad!name"}, "ValidationException", 400),
        ({"FunctionName": unique("missing")}, "ResourceNotFoundException", 404),
    ]
    for params, code, status in cases:
        with pytest.raises(ClientError) as exc:
            lam.delete_function(**params)
        response = exc.value.response
        assert (response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]) == (
            code,
            status,
        ), params
    message = "$LATEST version cannot be deleted without deleting the function."
    with pytest.raises(ClientError) as exc:
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert exc.value.response["Error"]["Message"] == message

    # A version that does not exist is a 204; version 1 goes, the function stays.
    lam.delete_function(FunctionName=name, Qualifier="7")
    lam.delete_function(FunctionName=name, Qualifier="1")
    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST"]
    lam.delete_function(FunctionName=arn)
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)
