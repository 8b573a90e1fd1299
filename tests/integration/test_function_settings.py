"""Recursion and runtime management configs: stored per function (and per version for the
runtime), reported back, gone with their function."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, unique

CODE = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
PINNED = "arn:aws:lambda:us-east-1::runtime:" + "ab" * 32


def create(client: Any, name: str) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": CODE},
    )


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def test_recursion_config_lives_and_dies_with_its_function(lambda_client: Any) -> None:
    name = unique("loop")
    create(lambda_client, name)
    lambda_client.put_function_recursion_config(FunctionName=name, RecursiveLoop="Allow")
    got = lambda_client.get_function_recursion_config(FunctionName=name)
    assert got["RecursiveLoop"] == "Allow"
    lambda_client.delete_function(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function_recursion_config(FunctionName=name)
    assert code_of(exc)[0] == "ResourceNotFoundException"
    create(lambda_client, name)
    got = lambda_client.get_function_recursion_config(FunctionName=name)
    assert got["RecursiveLoop"] == "Terminate"


def test_recursion_config_of_a_missing_function_is_404(lambda_client: Any) -> None:
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_recursion_config(
            FunctionName=unique("none"), RecursiveLoop="Allow"
        )
    assert code_of(exc)[0] == "ResourceNotFoundException"
    assert code_of(exc)[2] == 404


def test_runtime_management_defaults_to_auto(lambda_client: Any) -> None:
    name = unique("rt")
    create(lambda_client, name)
    got = lambda_client.get_runtime_management_config(FunctionName=name)
    assert got["UpdateRuntimeOn"] == "Auto"
    assert got["FunctionArn"].endswith(f":function:{name}:$LATEST")
    assert "RuntimeVersionArn" not in got


def test_manual_runtime_pins_the_reported_runtime_version(lambda_client: Any) -> None:
    name = unique("rt")
    create(lambda_client, name)
    put = lambda_client.put_runtime_management_config(
        FunctionName=name, UpdateRuntimeOn="Manual", RuntimeVersionArn=PINNED
    )
    assert (put["UpdateRuntimeOn"], put["RuntimeVersionArn"]) == ("Manual", PINNED)
    got = lambda_client.get_runtime_management_config(FunctionName=name)
    assert (got["UpdateRuntimeOn"], got["RuntimeVersionArn"]) == ("Manual", PINNED)
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["RuntimeVersionConfig"]["RuntimeVersionArn"] == PINNED
    whole = lambda_client.get_function(FunctionName=name)["Configuration"]
    assert whole["RuntimeVersionConfig"]["RuntimeVersionArn"] == PINNED
    # Back to FunctionUpdate: the runtime's own version is reported again.
    lambda_client.put_runtime_management_config(FunctionName=name, UpdateRuntimeOn="FunctionUpdate")
    got = lambda_client.get_runtime_management_config(FunctionName=name)
    assert got["UpdateRuntimeOn"] == "FunctionUpdate" and "RuntimeVersionArn" not in got
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["RuntimeVersionConfig"]["RuntimeVersionArn"] != PINNED


def test_runtime_management_is_per_version(lambda_client: Any) -> None:
    name = unique("rt")
    create(lambda_client, name)
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    lambda_client.put_runtime_management_config(
        FunctionName=name, Qualifier=version, UpdateRuntimeOn="Manual", RuntimeVersionArn=PINNED
    )
    got = lambda_client.get_runtime_management_config(FunctionName=name, Qualifier=version)
    assert got["FunctionArn"].endswith(f":function:{name}:{version}")
    assert got["UpdateRuntimeOn"] == "Manual"
    assert lambda_client.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == (
        "Auto"
    )
    config = lambda_client.get_function_configuration(FunctionName=name, Qualifier=version)
    assert config["RuntimeVersionConfig"]["RuntimeVersionArn"] == PINNED


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"UpdateRuntimeOn": "Manual"}, "InvalidParameterValueException"),
        (
            {"UpdateRuntimeOn": "Auto", "RuntimeVersionArn": PINNED},
            "InvalidParameterValueException",
        ),
        ({"UpdateRuntimeOn": "Sometimes"}, "ValidationException"),
        ({"UpdateRuntimeOn": "Manual", "RuntimeVersionArn": "x" * 30}, "ValidationException"),
    ],
)
def test_runtime_management_is_validated(
    lambda_client: Any, params: dict[str, str], code: str
) -> None:
    name = unique("rt")
    create(lambda_client, name)
    with pytest.raises(ClientError) as exc:
        lambda_client.put_runtime_management_config(FunctionName=name, **params)
    assert code_of(exc)[0] == code
    assert code_of(exc)[2] == 400
    assert lambda_client.get_runtime_management_config(FunctionName=name)["UpdateRuntimeOn"] == (
        "Auto"
    )
