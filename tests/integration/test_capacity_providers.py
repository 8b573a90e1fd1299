"""Capacity providers and function scaling configs: stored, validated against botocore's
model and reported with its shapes; a scaling config's MaxExecutionEnvironments caps the
version's concurrent invocations in the scheduler (more are throttled, 429).

boto3 only: the AWS CLI on the machine (v2.9) has no capacity-provider or scaling-config
commands in its model."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, unique

VPC = {"SubnetIds": ["subnet-0abc"], "SecurityGroupIds": ["sg-0abc"]}
OPERATOR = {"CapacityProviderOperatorRoleArn": "arn:aws:iam::000000000000:role/operator"}
CODE = make_zip(
    {
        "app.py": (
            "import time\n"
            "def handler(event, context):\n"
            "    time.sleep(event.get('sleep', 0))\n"
            "    return context.function_version\n"
        )
    }
)


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def provider(client: Any, **kw: Any) -> dict[str, Any]:
    name = unique("cp")
    out = client.create_capacity_provider(
        CapacityProviderName=name, VpcConfig=VPC, PermissionsConfig=OPERATOR, **kw
    )
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 202
    return dict(out["CapacityProvider"])


def function(client: Any, **kw: Any) -> str:
    name = unique("cpfn")
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": CODE},
        **kw,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_provider_lifecycle(lambda_client: Any) -> None:
    created = provider(
        lambda_client,
        InstanceRequirements={"Architectures": ["arm64"]},
        CapacityProviderScalingConfig={"MaxVCpuCount": 4, "ScalingMode": "Auto"},
        Tags={"team": "a"},
    )
    name = created["CapacityProviderArn"].rsplit(":", 1)[-1]
    assert created["CapacityProviderArn"].startswith("arn:aws:lambda:us-east-1:")
    assert ":capacity-provider:" in created["CapacityProviderArn"]
    assert created["State"] == "Active"
    assert created["VpcConfig"] == VPC
    assert created["PermissionsConfig"] == OPERATOR
    assert created["InstanceRequirements"]["Architectures"] == ["arm64"]
    assert "Tags" not in created
    got = lambda_client.get_capacity_provider(CapacityProviderName=name)["CapacityProvider"]
    assert got == created
    by_arn = lambda_client.get_capacity_provider(
        CapacityProviderName=created["CapacityProviderArn"]
    )["CapacityProvider"]
    assert by_arn == created
    updated = lambda_client.update_capacity_provider(
        CapacityProviderName=name,
        CapacityProviderScalingConfig={"MaxVCpuCount": 8, "ScalingMode": "Auto"},
    )["CapacityProvider"]
    assert updated["CapacityProviderScalingConfig"]["MaxVCpuCount"] == 8
    listed = lambda_client.list_capacity_providers()["CapacityProviders"]
    assert created["CapacityProviderArn"] in [p["CapacityProviderArn"] for p in listed]
    assert lambda_client.list_capacity_providers(State="Failed")["CapacityProviders"] == []
    deleted = lambda_client.delete_capacity_provider(CapacityProviderName=name)
    assert deleted["CapacityProvider"]["State"] == "Deleting"
    with pytest.raises(ClientError) as exc:
        lambda_client.get_capacity_provider(CapacityProviderName=name)
    assert error_of(exc)[0::2] == ("ResourceNotFoundException", 404)


def test_provider_refusals(lambda_client: Any) -> None:
    created = provider(lambda_client)
    name = created["CapacityProviderArn"].rsplit(":", 1)[-1]
    with pytest.raises(ClientError) as exc:
        lambda_client.create_capacity_provider(
            CapacityProviderName=name, VpcConfig=VPC, PermissionsConfig=OPERATOR
        )
    assert error_of(exc)[0::2] == ("ResourceConflictException", 409)
    with pytest.raises(ClientError) as exc:
        lambda_client.create_capacity_provider(
            CapacityProviderName=unique("cp"),
            VpcConfig={"SubnetIds": ["not-a-subnet"], "SecurityGroupIds": []},
            PermissionsConfig=OPERATOR,
        )
    code, message, status = error_of(exc)
    assert (code, status) == ("ValidationException", 400)
    assert "subnet-[0-9a-z]*" in message
    with pytest.raises(ClientError) as exc:
        provider(
            lambda_client,
            InstanceRequirements={
                "AllowedInstanceTypes": ["m7g.large"],
                "ExcludedInstanceTypes": ["c7g.large"],
            },
        )
    assert error_of(exc)[0] == "InvalidParameterValueException"


def test_functions_on_a_provider(lambda_client: Any) -> None:
    created = provider(lambda_client)
    arn = created["CapacityProviderArn"]
    config = {"LambdaManagedInstancesCapacityProviderConfig": {"CapacityProviderArn": arn}}
    name = function(lambda_client, CapacityProviderConfig=config)
    got = lambda_client.get_function_configuration(FunctionName=name)
    assert got["CapacityProviderConfig"] == config
    assert (
        lambda_client.get_function(FunctionName=name)["Configuration"]["CapacityProviderConfig"]
        == config
    )
    lambda_client.publish_version(FunctionName=name)
    listed = lambda_client.list_function_versions_by_capacity_provider(CapacityProviderName=arn)
    assert listed["CapacityProviderArn"] == arn
    assert listed["FunctionVersions"] == [
        {"FunctionArn": got["FunctionArn"] + ":1", "State": "Active"}
    ]
    with pytest.raises(ClientError) as exc:
        lambda_client.delete_capacity_provider(CapacityProviderName=arn)
    assert error_of(exc)[0] == "ResourceConflictException"
    lambda_client.delete_function(FunctionName=name)
    lambda_client.delete_capacity_provider(CapacityProviderName=arn)
    missing = {
        "LambdaManagedInstancesCapacityProviderConfig": {
            "CapacityProviderArn": arn.rsplit(":", 1)[0] + ":nothing"
        }
    }
    with pytest.raises(ClientError) as exc:
        function(lambda_client, CapacityProviderConfig=missing)
    assert error_of(exc)[0] == "InvalidParameterValueException"


def test_scaling_config_is_stored_and_validated(lambda_client: Any) -> None:
    name = function(lambda_client)
    with pytest.raises(ClientError) as exc:
        lambda_client.get_function_scaling_config(FunctionName=name, Qualifier="1")
    assert error_of(exc)[0::2] == ("ResourceNotFoundException", 404)
    lambda_client.publish_version(FunctionName=name)
    empty = lambda_client.get_function_scaling_config(FunctionName=name, Qualifier="1")
    assert empty["FunctionArn"].endswith(f":function:{name}:1")
    assert "RequestedFunctionScalingConfig" not in empty
    scaling = {"MinExecutionEnvironments": 1, "MaxExecutionEnvironments": 3}
    put = lambda_client.put_function_scaling_config(
        FunctionName=name, Qualifier="1", FunctionScalingConfig=scaling
    )
    assert put["FunctionState"] == "Active"
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 202
    got = lambda_client.get_function_scaling_config(FunctionName=name, Qualifier="1")
    assert got["RequestedFunctionScalingConfig"] == scaling
    assert got["AppliedFunctionScalingConfig"] == scaling
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_scaling_config(
            FunctionName=name,
            Qualifier="1",
            FunctionScalingConfig={"MinExecutionEnvironments": 4, "MaxExecutionEnvironments": 2},
        )
    assert error_of(exc)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_scaling_config(
            FunctionName=name,
            Qualifier="$LATEST",
            FunctionScalingConfig=scaling,
        )
    assert error_of(exc)[0] == "ValidationException"
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_scaling_config(
            FunctionName=name,
            Qualifier="1",
            FunctionScalingConfig={"MaxExecutionEnvironments": 20_000},
        )
    assert error_of(exc)[0] == "ValidationException"


def test_max_execution_environments_caps_the_version(lambda_client: Any) -> None:
    name = function(lambda_client)
    lambda_client.publish_version(FunctionName=name)
    lambda_client.put_function_scaling_config(
        FunctionName=name, Qualifier="1", FunctionScalingConfig={"MaxExecutionEnvironments": 1}
    )
    throttles: list[tuple[str, int]] = []
    results: list[str] = []

    def attempt(payload: bytes) -> str | None:
        try:
            out = lambda_client.invoke(FunctionName=name, Qualifier="1", Payload=payload)
        except ClientError as exc:
            r = exc.response
            throttles.append((r["Error"]["Code"], r["ResponseMetadata"]["HTTPStatusCode"]))
            return None
        return str(json.loads(out["Payload"].read()))

    def slow() -> None:
        while (got := attempt(b'{"sleep": 2}')) is None:
            pass
        results.append(got)

    # While one invoke holds the version's one environment, another one is throttled
    # (whichever of the two came second); $LATEST has no scaling config and still runs.
    for _ in range(5):
        worker = threading.Thread(target=slow)
        worker.start()
        while worker.is_alive() and not throttles:
            attempt(b"{}")
        out = lambda_client.invoke(FunctionName=name, Payload=b"{}")
        assert json.loads(out["Payload"].read()) == "$LATEST"
        worker.join()
        if throttles:
            break
    assert throttles and set(throttles) == {("TooManyRequestsException", 429)}
    assert "1" in results
    # Lifting the cap lets the version run side by side again.
    lambda_client.put_function_scaling_config(
        FunctionName=name, Qualifier="1", FunctionScalingConfig={"MaxExecutionEnvironments": 5}
    )
    out = lambda_client.invoke(FunctionName=name, Qualifier="1", Payload=b"{}")
    assert json.loads(out["Payload"].read()) == "1"
