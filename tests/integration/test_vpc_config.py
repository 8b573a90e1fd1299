"""VpcConfig is kept and shown as AWS shows it (recorded: ``test_vpc_config``), and enforced
nowhere (docs/vpc.md)."""

from __future__ import annotations

import json

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, unique
from tests.parity.snapshot import parity_dir

ECHO = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


def recorded_vpc(key: str) -> dict[str, object]:
    entries = json.loads((parity_dir() / "function-crud-and-validation.snapshot.json").read_text())
    test = "tests/aws/services/lambda_/test_lambda_api.py::TestLambdaFunction::test_vpc_config"
    content = entries[test]["recorded-content"][key]
    content = content.get("CreateFunctionResponse", content)
    vpc: dict[str, object] = content.get("Configuration", content)["VpcConfig"]
    return vpc


def test_vpc_config_is_stored_updated_and_cleared(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("vpc")
    vpc = {"SubnetIds": ["subnet-0a1b2c"], "SecurityGroupIds": ["sg-0a1b2c"]}
    created = lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": ECHO}, VpcConfig=vpc,
    )  # fmt: skip
    shown = created["VpcConfig"]
    assert shown.keys() == recorded_vpc("create_response").keys()
    assert shown["SubnetIds"] == ["subnet-0a1b2c"]
    assert shown["SecurityGroupIds"] == ["sg-0a1b2c"]
    assert shown["Ipv6AllowedForDualStack"] is False
    assert shown["VpcId"].startswith("vpc-")
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    got = lambda_client.get_function_configuration(FunctionName=name)
    assert got["VpcConfig"] == shown

    lambda_client.update_function_configuration(
        FunctionName=name,
        VpcConfig={"SubnetIds": ["subnet-ffff"], "SecurityGroupIds": ["sg-ffff"],
                   "Ipv6AllowedForDualStack": True},
    )  # fmt: skip
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    updated = lambda_client.get_function(FunctionName=name)["Configuration"]["VpcConfig"]
    assert updated["SubnetIds"] == ["subnet-ffff"] and updated["Ipv6AllowedForDualStack"]
    assert updated["VpcId"].startswith("vpc-") and updated["VpcId"] != shown["VpcId"]

    version = lambda_client.publish_version(FunctionName=name)
    assert version["VpcConfig"] == updated

    lambda_client.update_function_configuration(
        FunctionName=name, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []}
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    cleared = lambda_client.get_function_configuration(FunctionName=name)["VpcConfig"]
    assert cleared == recorded_vpc("delete_vpcconfig_get_function_response")

    # Nothing is enforced: the function runs as before.
    assert json.loads(lambda_client.invoke(FunctionName=name, Payload=b"1")["Payload"].read()) == 1


def test_function_without_vpc_config_shows_none(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("novpc")
    created = lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": ECHO},
    )  # fmt: skip
    assert "VpcConfig" not in created


def test_malformed_subnet_is_refused_as_recorded(lambda_client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        lambda_client.create_function(
            FunctionName=unique("badvpc"), Runtime="python3.11", Role=ROLE,
            Handler="app.handler", Code={"ZipFile": ECHO},
            VpcConfig={"SubnetIds": ["not-a-subnet"], "SecurityGroupIds": []},
        )  # fmt: skip
    error = exc.value.response["Error"]
    assert error["Code"] == "ValidationException"
    assert error["Message"] == (
        "1 validation error detected: Value '[not-a-subnet]' at 'vpcConfig.subnetIds' failed to"
        " satisfy constraint: Member must satisfy constraint: [Member must have length less than"
        " or equal to 1024, Member must have length greater than or equal to 0, Member must"
        " satisfy regular expression pattern: subnet-[0-9a-z]*]"
    )
