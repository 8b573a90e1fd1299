"""Versions, aliases, weighted routing and concurrency controls against a real server."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, unique


def code(tag: str) -> bytes:
    return make_zip(
        {
            "app.py": (
                "import os, time\n"
                f"TAG = {tag!r}\n"
                "def handler(event, context):\n"
                "    time.sleep(event.get('sleep', 0) if isinstance(event, dict) else 0)\n"
                "    return {'tag': TAG, 'version': context.function_version,\n"
                "            'arn': context.invoked_function_arn,\n"
                "            'init': os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']}\n"
            )
        }
    )


def new_function(client, **kw) -> str:  # type: ignore[no-untyped-def]
    name = unique("rel")
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": code("one")},
        **kw,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def call(client, name: str, payload: object = None, **kw):  # type: ignore[no-untyped-def]
    out = client.invoke(FunctionName=name, Payload=json.dumps(payload or {}).encode(), **kw)
    return out, json.loads(out["Payload"].read())


def error(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def update_code(client, name: str, tag: str) -> None:  # type: ignore[no-untyped-def]
    client.update_function_code(FunctionName=name, ZipFile=code(tag))
    client.get_waiter("function_updated_v2").wait(FunctionName=name)


def test_published_versions_are_immutable_snapshots(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = new_function(lambda_client)
    v1 = lambda_client.publish_version(FunctionName=name, Description="first")
    assert v1["Version"] == "1"
    assert v1["FunctionArn"].endswith(f":function:{name}:1")
    assert v1["Description"] == "first"
    again = lambda_client.publish_version(FunctionName=name)
    assert again["Version"] == "1", "nothing changed, so no new version"
    update_code(lambda_client, name, "two")
    v2 = lambda_client.publish_version(FunctionName=name)
    assert v2["Version"] == "2"
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"].endswith(":$LATEST")
    update_code(lambda_client, name, "three")
    out, body = call(lambda_client, name, Qualifier="1")
    assert body["tag"] == "one" and body["version"] == "1"
    assert out["ExecutedVersion"] == "1"
    assert body["arn"].endswith(f":{name}:1")
    assert call(lambda_client, f"{name}:2")[1]["tag"] == "two"
    assert call(lambda_client, name)[1]["tag"] == "three"
    got = lambda_client.get_function(FunctionName=name, Qualifier="1")
    assert got["Configuration"]["Version"] == "1"
    lambda_client.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(ClientError) as exc:
        call(lambda_client, name, Qualifier="1")
    assert error(exc)[0] == "ResourceNotFoundException"
    update_code(lambda_client, name, "four")
    assert lambda_client.publish_version(FunctionName=name)["Version"] == "3", "never reused"


def test_publish_preconditions(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = new_function(lambda_client)
    with pytest.raises(ClientError) as exc:
        lambda_client.publish_version(FunctionName=name, CodeSha256="nope")
    assert error(exc)[0] == "InvalidParameterValueException"
    assert "is different from current CodeSHA256 in $LATEST" in error(exc)[1]
    with pytest.raises(ClientError) as exc:
        lambda_client.publish_version(FunctionName=name, RevisionId="stale")
    assert error(exc)[0] == "PreconditionFailedException"
    with pytest.raises(ClientError) as exc:
        lambda_client.delete_function(FunctionName=name, Qualifier="$LATEST")
    assert error(exc)[0] == "InvalidParameterValueException"


def test_alias_lifecycle_and_errors(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = new_function(lambda_client)
    lambda_client.publish_version(FunctionName=name)
    created = lambda_client.create_alias(
        FunctionName=name, Name="live", FunctionVersion="1", Description="d"
    )
    assert created["AliasArn"].endswith(f":function:{name}:live")
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert lambda_client.get_alias(FunctionName=name, Name="live")["FunctionVersion"] == "1"
    out, body = call(lambda_client, name, Qualifier="live")
    assert out["ExecutedVersion"] == "1"
    assert body["arn"].endswith(f":{name}:live")
    conf = lambda_client.get_function(FunctionName=name, Qualifier="live")["Configuration"]
    assert conf["FunctionArn"].endswith(":live") and conf["Version"] == "1"
    with pytest.raises(ClientError) as exc:
        lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert error(exc)[0] == "ResourceConflictException"
    with pytest.raises(ClientError) as exc:
        lambda_client.create_alias(FunctionName=name, Name="bad", FunctionVersion="9")
    assert error(exc) == (
        "ResourceNotFoundException",
        f"Function not found: arn:aws:lambda:us-east-1:000000000000:function:{name}:9",
    )
    with pytest.raises(ClientError) as exc:
        lambda_client.get_alias(FunctionName=name, Name="nope")
    assert error(exc)[0] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as exc:
        lambda_client.delete_function(FunctionName=name, Qualifier="1")
    assert error(exc)[0] == "ResourceConflictException"
    with pytest.raises(ClientError) as exc:
        lambda_client.update_alias(FunctionName=name, Name="live", RevisionId="stale")
    assert error(exc)[0] == "PreconditionFailedException"
    assert [a["Name"] for a in lambda_client.list_aliases(FunctionName=name)["Aliases"]] == ["live"]
    lambda_client.delete_alias(FunctionName=name, Name="live")
    assert lambda_client.list_aliases(FunctionName=name)["Aliases"] == []
    with pytest.raises(ClientError) as exc:
        call(lambda_client, name, Qualifier="live")
    assert error(exc)[0] == "ResourceNotFoundException"


def test_alias_routing_splits_traffic_by_weight(lambda_client, server) -> None:  # type: ignore[no-untyped-def]
    name = new_function(lambda_client)
    lambda_client.publish_version(FunctionName=name)
    update_code(lambda_client, name, "two")
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.2}},
    )
    url = f"{server.url}/2015-03-31/functions/{name}/invocations?Qualifier=canary"
    executed = {"1": 0, "2": 0}
    with httpx.Client() as http:
        for _ in range(1000):
            r = http.post(url, content=b"{}")
            assert r.status_code == 200
            version = r.headers["x-amz-executed-version"]
            assert json.loads(r.content)["version"] == version
            executed[version] += 1
    # binomial(1000, 0.2): mean 200, sd 12.6; +-5 sd cannot fail by chance in practice
    assert 137 <= executed["2"] <= 263, executed
    lambda_client.update_alias(
        FunctionName=name, Name="canary", RoutingConfig={"AdditionalVersionWeights": {}}
    )
    with httpx.Client() as http:
        assert all(
            http.post(url, content=b"{}").headers["x-amz-executed-version"] == "1"
            for _ in range(50)
        )


@pytest.mark.parametrize(
    ("routing", "code"),
    [
        ({"2": 0.5, "3": 0.1}, "InvalidParameterValueException"),
        ({"1": 0.5}, "InvalidParameterValueException"),
        ({"9": 0.5}, "ResourceNotFoundException"),
    ],
)
def test_invalid_routing_configs(lambda_client, routing, code) -> None:  # type: ignore[no-untyped-def]
    name = new_function(lambda_client)
    lambda_client.publish_version(FunctionName=name)
    with pytest.raises(ClientError) as exc:
        lambda_client.create_alias(
            FunctionName=name,
            Name="x",
            FunctionVersion="1",
            RoutingConfig={"AdditionalVersionWeights": routing},
        )
    assert error(exc)[0] == code


def test_reserved_concurrency_throttles_exactly_the_excess(lambda_client, server) -> None:  # type: ignore[no-untyped-def]
    name = new_function(lambda_client, Timeout=10)
    put = lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=2)
    assert put["ReservedConcurrentExecutions"] == 2
    got = lambda_client.get_function_concurrency(FunctionName=name)
    assert got["ReservedConcurrentExecutions"] == 2
    assert lambda_client.get_function(FunctionName=name)["Concurrency"] == {
        "ReservedConcurrentExecutions": 2
    }
    url = f"{server.url}/2015-03-31/functions/{name}/invocations"

    def one(_: int) -> httpx.Response:
        return httpx.post(url, content=b'{"sleep": 2}', timeout=30)

    with ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(one, range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 429, 429, 429, 429]
    throttled = [r for r in responses if r.status_code == 429]
    assert all(r.headers["x-amzn-ErrorType"] == "TooManyRequestsException" for r in throttled)
    assert throttled[0].json()["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    settings = lambda_client.get_account_settings()["AccountLimit"]
    assert settings["UnreservedConcurrentExecutions"] <= settings["ConcurrentExecutions"] - 2
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    with pytest.raises(ClientError) as exc:
        call(lambda_client, name)
    assert error(exc)[0] == "TooManyRequestsException"
    lambda_client.delete_function_concurrency(FunctionName=name)
    assert call(lambda_client, name)[1]["tag"] == "one"
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_concurrency(
            FunctionName=f"{name}:1", ReservedConcurrentExecutions=1
        )
    assert error(exc)[0] == "InvalidParameterValueException"
    with pytest.raises(ClientError) as exc:
        lambda_client.put_function_concurrency(
            FunctionName=name, ReservedConcurrentExecutions=100_000
        )
    assert error(exc)[0] == "InvalidParameterValueException"


def wait_ready(client, name: str, qualifier: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = client.get_provisioned_concurrency_config(FunctionName=name, Qualifier=qualifier)
        if got["Status"] == "READY":
            break
        time.sleep(0.1)
    return got  # type: ignore[no-any-return]


def test_provisioned_sandboxes_serve_before_warm_on_demand_ones(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = new_function(lambda_client)
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    with ThreadPoolExecutor(2) as pool:  # two warm on-demand sandboxes of version 1
        warm = list(
            pool.map(
                lambda _: call(lambda_client, name, {"sleep": 0.5}, Qualifier="1")[1], range(2)
            )
        )
    assert [body["init"] for body in warm] == ["on-demand", "on-demand"]
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="live", ProvisionedConcurrentExecutions=2
    )
    assert wait_ready(lambda_client, name, "live")["Status"] == "READY"
    inits = [call(lambda_client, name, Qualifier="live")[1]["init"] for _ in range(4)]
    assert inits == ["provisioned-concurrency"] * 4
    assert call(lambda_client, name, Qualifier="1")[1]["init"] == "provisioned-concurrency"


def test_provisioned_concurrency_becomes_ready_and_serves_warm(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = new_function(lambda_client)
    lambda_client.publish_version(FunctionName=name)
    lambda_client.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    with pytest.raises(ClientError) as exc:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    assert error(exc)[0] == "InvalidParameterValueException"
    put = lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="prod", ProvisionedConcurrentExecutions=3
    )
    assert put["Status"] == "IN_PROGRESS"
    assert put["RequestedProvisionedConcurrentExecutions"] == 3
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        got = lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")
        if got["Status"] == "READY":
            break
        time.sleep(0.1)
    assert got["Status"] == "READY"
    assert got["AvailableProvisionedConcurrentExecutions"] == 3
    out, body = call(lambda_client, name, Qualifier="prod", LogType="Tail")
    assert body["init"] == "provisioned-concurrency"
    assert b"Init Duration" not in base64.b64decode(out["LogResult"]), "initialized ahead"
    listed = lambda_client.list_provisioned_concurrency_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]] == [
        f"arn:aws:lambda:us-east-1:000000000000:function:{name}:prod"
    ]
    with pytest.raises(ClientError) as exc:
        lambda_client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
        )
    assert error(exc)[0] == "ResourceConflictException"
    assert call(lambda_client, name)[1]["init"] == "on-demand"
    lambda_client.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")
    with pytest.raises(ClientError) as exc:
        lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")
    assert error(exc)[0] == "ProvisionedConcurrencyConfigNotFoundException"
