"""Tenant isolation mode (TenancyConfig PER_TENANT), driven by boto3 and the AWS CLI.

A function created with ``TenancyConfig={"TenantIsolationMode": "PER_TENANT"}`` is invoked
with a tenant id (``X-Amz-Tenant-Id``); each of its sandboxes serves one tenant only. The
function under test returns a token made once per sandbox (at import), so two invocations
share a sandbox exactly when their tokens are equal.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.conftest import (
    CLIENT_ENV,
    ROLE,
    LamboxServer,
    aws_client,
    cli_models,
    make_zip,
    start_server,
    stop_server,
    unique,
)

PER_TENANT = {"TenantIsolationMode": "PER_TENANT"}
MISMATCH = (
    "Tenant ID configuration not specified or passed to a function when tenant isolation is"
    " not enabled."
)
APP = """
import json, logging, os, time, uuid
TOKEN = uuid.uuid4().hex

def logs(event, context):
    logging.getLogger("app").warning("for %s", context.tenant_id)
    return "ok"

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    print("RECORD " + json.dumps({"tenant": context.tenant_id, "n": event.get("n")}))
    return {"tenant": context.tenant_id, "token": TOKEN, "pid": os.getpid()}
"""
CODE = make_zip({"app.py": APP})
# A provided.* bootstrap speaking the Runtime API itself: it answers each invocation with
# the tenant header /next carried.
BOOTSTRAP = """#!/usr/bin/env python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as got:
        rid = got.headers["Lambda-Runtime-Aws-Request-Id"]
        tenant = got.headers.get("Lambda-Runtime-Aws-Tenant-Id")
        got.read()
    body = json.dumps({"tenant": tenant}).encode()
    urllib.request.urlopen(urllib.request.Request(api + rid + "/response", body)).read()
"""


def create(lam: Any, tenancy: bool = True, **kw: Any) -> str:
    name = unique("tenant")
    extra = {"TenancyConfig": PER_TENANT} if tenancy else {}
    params = {
        "Runtime": "python3.11",
        "Handler": "app.handler",
        "Code": {"ZipFile": CODE},
        "Timeout": 30,
        **extra,
        **kw,
    }
    lam.create_function(FunctionName=name, Role=ROLE, **params)
    lam.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 300}
    )
    return name


def call(lam: Any, name: str, tenant: str | None, payload: Any = None) -> dict[str, Any]:
    extra = {} if tenant is None else {"TenantId": tenant}
    out = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}), **extra)
    assert "FunctionError" not in out, out["Payload"].read()
    result: dict[str, Any] = json.loads(out["Payload"].read())
    return result


def records(server: LamboxServer, name: str, count: int) -> list[dict[str, Any]]:
    """The RECORD lines of the function's log, once there are ``count`` of them."""
    deadline = time.monotonic() + 60
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.url}/lambox/v1/logs/{name}").text
        found = [json.loads(line[7:]) for line in text.splitlines() if line.startswith("RECORD ")]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{name} logged {found}, expected {count} records")


def refusal(exc: pytest.ExceptionInfo[ClientError]) -> tuple[int, str, str]:
    error = exc.value.response
    return (
        error["ResponseMetadata"]["HTTPStatusCode"],
        error["Error"]["Code"],
        error["Error"]["Message"],
    )


# -- TenancyConfig -----------------------------------------------------------------------


def test_tenancy_config_is_kept_and_shown_in_every_view(lambda_client: Any) -> None:
    name = unique("tenant")
    made = lambda_client.create_function(
        FunctionName=name,
        Role=ROLE,
        Runtime="python3.11",
        Handler="app.handler",
        Code={"ZipFile": CODE},
        TenancyConfig=PER_TENANT,
    )
    assert made["TenancyConfig"] == PER_TENANT
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    assert lambda_client.get_function(FunctionName=name)["Configuration"]["TenancyConfig"] == (
        PER_TENANT
    )
    assert lambda_client.get_function_configuration(FunctionName=name)["TenancyConfig"] == (
        PER_TENANT
    )
    listed = {
        f["FunctionName"]: f
        for page in lambda_client.get_paginator("list_functions").paginate()
        for f in page["Functions"]
    }
    assert listed[name]["TenancyConfig"] == PER_TENANT
    published = lambda_client.publish_version(FunctionName=name)
    assert published["TenancyConfig"] == PER_TENANT
    versions = lambda_client.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v.get("TenancyConfig") for v in versions] == [PER_TENANT, PER_TENANT]
    # A function created without one shows none.
    plain = create(lambda_client, tenancy=False)
    assert "TenancyConfig" not in lambda_client.get_function_configuration(FunctionName=plain)


def test_tenancy_config_cannot_be_changed_after_creation(
    lambda_client: Any, server: LamboxServer
) -> None:
    tenanted = create(lambda_client)
    plain = create(lambda_client, tenancy=False)
    updated = lambda_client.update_function_configuration(FunctionName=tenanted, Timeout=7)
    assert updated["TenancyConfig"] == PER_TENANT
    # UpdateFunctionConfiguration's model has no TenancyConfig (boto3 refuses it before
    # sending): a raw request carrying one changes nothing of it, either way.
    for name, given in ((plain, PER_TENANT), (tenanted, None)):
        answer = httpx.put(
            f"{server.url}/2015-03-31/functions/{name}/configuration",
            json={"TenancyConfig": given, "Description": "raw"},
        )
        assert answer.status_code == 200, answer.text
        lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert "TenancyConfig" not in lambda_client.get_function_configuration(FunctionName=plain)
    assert call(lambda_client, plain, None)["tenant"] is None
    assert lambda_client.get_function_configuration(FunctionName=tenanted)["TenancyConfig"] == (
        PER_TENANT
    )
    assert call(lambda_client, tenanted, "blue")["tenant"] == "blue"


def test_features_a_tenant_isolated_function_cannot_use_are_refused(lambda_client: Any) -> None:
    name = create(lambda_client, Runtime="python3.12")
    version = lambda_client.publish_version(FunctionName=name)["Version"]
    attempts = {
        "Provisioned concurrency": lambda: lambda_client.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier=version, ProvisionedConcurrentExecutions=1
        ),
        "A function URL": lambda: lambda_client.create_function_url_config(
            FunctionName=name, AuthType="NONE"
        ),
        "An event source mapping": lambda: lambda_client.create_event_source_mapping(
            FunctionName=name, EventSourceArn="arn:aws:sqs:us-east-1:000000000000:jobs"
        ),
        "SnapStart": lambda: lambda_client.update_function_configuration(
            FunctionName=name, SnapStart={"ApplyOn": "PublishedVersions"}
        ),
    }
    for feature, attempt in attempts.items():
        with pytest.raises(ClientError) as caught:
            attempt()
        assert refusal(caught) == (
            400,
            "InvalidParameterValueException",
            f"{feature} is not supported for functions with tenant isolation mode enabled.",
        )
    snap = unique("tenant")
    with pytest.raises(ClientError) as caught:
        lambda_client.create_function(
            FunctionName=snap,
            Role=ROLE,
            Runtime="python3.12",
            Handler="app.handler",
            Code={"ZipFile": CODE},
            TenancyConfig=PER_TENANT,
            SnapStart={"ApplyOn": "PublishedVersions"},
        )
    assert refusal(caught)[1:] == (
        "InvalidParameterValueException",
        "SnapStart is not supported for functions with tenant isolation mode enabled.",
    )
    with pytest.raises(lambda_client.exceptions.ResourceNotFoundException):
        lambda_client.get_function(FunctionName=snap)
    # Nothing of the refused settings was kept.
    assert (
        lambda_client.list_provisioned_concurrency_configs(FunctionName=name)[
            "ProvisionedConcurrencyConfigs"
        ]
        == []
    )
    assert lambda_client.list_function_url_configs(FunctionName=name)["FunctionUrlConfigs"] == []
    assert lambda_client.list_event_source_mappings(FunctionName=name)["EventSourceMappings"] == []
    config = lambda_client.get_function_configuration(FunctionName=name)
    assert config["SnapStart"]["ApplyOn"] == "None"


def test_a_mapping_cannot_be_moved_to_a_tenant_isolated_function(
    lambda_client: Any, server: LamboxServer
) -> None:
    from tests.integration.test_event_sources import arn_of, consumer
    from tests.integration.test_sqs import new_queue, sqs_client

    sqs = sqs_client(server)
    plain = consumer(lambda_client, new_queue(sqs))
    source = arn_of(sqs, new_queue(sqs))
    uuid = lambda_client.create_event_source_mapping(EventSourceArn=source, FunctionName=plain)[
        "UUID"
    ]
    try:
        tenanted = create(lambda_client)
        with pytest.raises(ClientError) as caught:
            lambda_client.update_event_source_mapping(UUID=uuid, FunctionName=tenanted)
        assert refusal(caught) == (
            400,
            "InvalidParameterValueException",
            "An event source mapping is not supported for functions with tenant isolation mode"
            " enabled.",
        )
        mapping = lambda_client.get_event_source_mapping(UUID=uuid)
        assert mapping["FunctionArn"].endswith(f":function:{plain}")
    finally:
        lambda_client.delete_event_source_mapping(UUID=uuid)


# -- execution environments ----------------------------------------------------------------


def test_each_tenant_has_its_own_sandboxes_and_reuses_them(lambda_client: Any) -> None:
    name = create(lambda_client)
    blue = [call(lambda_client, name, "blue") for _ in range(3)]
    green = [call(lambda_client, name, "green") for _ in range(3)]
    blue.append(call(lambda_client, name, "blue"))
    assert {r["tenant"] for r in blue} == {"blue"}
    assert {r["tenant"] for r in green} == {"green"}
    # Warm reuse within a tenant: one sandbox each, sequential calls.
    assert len({r["token"] for r in blue}) == 1
    assert len({r["token"] for r in green}) == 1
    # Never across tenants, though blue's sandbox was idle when green came.
    assert blue[0]["token"] != green[0]["token"]


def test_a_tenant_never_gets_a_sandbox_another_tenant_used(lambda_client: Any) -> None:
    name = create(lambda_client)
    seen: dict[str, str] = {}  # token -> the tenant whose sandbox it is
    for tenant in ["a", "b", "c", "a", "b", "c", "a:1", "a 1", "b", "a"]:
        got = call(lambda_client, name, tenant)
        assert got["tenant"] == tenant
        assert seen.setdefault(got["token"], tenant) == tenant
    assert len(seen) == 5


def test_reserved_concurrency_counts_every_tenants_sandboxes(lambda_client: Any) -> None:
    name = create(lambda_client)
    lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    held: list[dict[str, Any]] = []

    def hold_blue() -> None:  # until blue got the one slot (green may have it a moment)
        while not held:
            try:
                held.append(call(lambda_client, name, "blue", {"sleep": 3}))
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "TooManyRequestsException"

    thread = threading.Thread(target=hold_blue)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while True:  # until blue holds the one slot: green, another tenant, is throttled
            try:
                assert call(lambda_client, name, "green")["tenant"] == "green"
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "TooManyRequestsException"
                break
            assert time.monotonic() < deadline, "green was never throttled"
    finally:
        thread.join()
    assert held[0]["tenant"] == "blue"
    assert call(lambda_client, name, "green")["tenant"] == "green"


# -- errors ----------------------------------------------------------------------------------


def test_a_tenant_isolated_function_needs_a_tenant_id(lambda_client: Any) -> None:
    name = create(lambda_client)
    for kind in ("RequestResponse", "Event", "DryRun"):
        with pytest.raises(ClientError) as caught:
            lambda_client.invoke(FunctionName=name, InvocationType=kind, Payload=b"{}")
        assert refusal(caught) == (400, "InvalidParameterValueException", MISMATCH)
    with pytest.raises(ClientError) as caught:
        lambda_client.invoke_with_response_stream(FunctionName=name, Payload=b"{}")
    assert refusal(caught) == (400, "InvalidParameterValueException", MISMATCH)
    streamed = lambda_client.invoke_with_response_stream(
        FunctionName=name, Payload=b"{}", TenantId="blue"
    )
    chunks = b"".join(
        e["PayloadChunk"]["Payload"] for e in streamed["EventStream"] if "PayloadChunk" in e
    )
    assert json.loads(chunks)["tenant"] == "blue"


def test_a_function_without_tenant_isolation_refuses_a_tenant_id(lambda_client: Any) -> None:
    name = create(lambda_client, tenancy=False)
    for kind in ("RequestResponse", "Event"):
        with pytest.raises(ClientError) as caught:
            lambda_client.invoke(
                FunctionName=name, InvocationType=kind, Payload=b"{}", TenantId="blue"
            )
        assert refusal(caught) == (400, "InvalidParameterValueException", MISMATCH)
    with pytest.raises(ClientError) as caught:
        lambda_client.invoke_with_response_stream(FunctionName=name, Payload=b"{}", TenantId="blue")
    assert refusal(caught) == (400, "InvalidParameterValueException", MISMATCH)
    assert call(lambda_client, name, None)["tenant"] is None


def test_a_tenant_id_outside_the_model_is_a_validation_error(lambda_client: Any) -> None:
    name = create(lambda_client)
    with pytest.raises(ClientError) as caught:
        call(lambda_client, name, "blue$team")
    assert refusal(caught) == (
        400,
        "ValidationException",
        "1 validation error detected: Value 'blue$team' at 'tenantId' failed to satisfy"
        " constraint: Member must satisfy regular expression pattern:"
        " [a-zA-Z0-9\\._:\\/=+\\-@ ]+",
    )
    with pytest.raises(ClientError) as caught:
        call(lambda_client, name, "t" * 257)
    status, code, message = refusal(caught)
    assert (status, code) == (400, "ValidationException")
    assert message.endswith("Member must have length less than or equal to 256")
    longest = "t" * 256
    assert call(lambda_client, name, longest)["tenant"] == longest


# -- asynchronous invocations ------------------------------------------------------------


def test_an_event_reaches_the_function_with_its_tenant_id(
    lambda_client: Any, server: LamboxServer
) -> None:
    name = create(lambda_client)
    for n, tenant in enumerate(["blue", "green"]):
        out = lambda_client.invoke(
            FunctionName=name,
            InvocationType="Event",
            Payload=json.dumps({"n": n}),
            TenantId=tenant,
        )
        assert out["StatusCode"] == 202
    got = sorted((r["n"], r["tenant"]) for r in records(server, name, 2))
    assert got == [(0, "blue"), (1, "green")]


def test_the_aws_cli_creates_and_invokes_with_tenant_ids(
    server: LamboxServer, tmp_path: Path
) -> None:
    env = {**os.environ, **CLIENT_ENV, "AWS_DATA_PATH": str(cli_models(tmp_path))}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["/usr/bin/aws", "--endpoint-url", server.url, "--output", "json", "lambda", *args],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip

    name = unique("tenant")
    package = tmp_path / "app.zip"
    package.write_bytes(CODE)
    made = cli(
        "create-function", "--function-name", name, "--runtime", "python3.11",
        "--handler", "app.handler", "--role", ROLE, "--zip-file", f"fileb://{package}",
        "--tenancy-config", "TenantIsolationMode=PER_TENANT",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["TenancyConfig"] == PER_TENANT
    aws_client(server, "lambda").get_waiter("function_active_v2").wait(FunctionName=name)
    out = tmp_path / "out.json"
    done = cli("invoke", "--function-name", name, "--tenant-id", "blue", str(out))
    assert done.returncode == 0, done.stderr
    assert json.loads(out.read_text())["tenant"] == "blue"
    done = cli(
        "invoke", "--function-name", name, "--tenant-id", "green",
        "--invocation-type", "Event", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["StatusCode"] == 202
    assert [r["tenant"] for r in records(server, name, 2)][-1] == "green"
    refused = cli("invoke", "--function-name", name, str(out))
    assert refused.returncode != 0
    assert "InvalidParameterValueException" in refused.stderr


def test_tenancy_and_queued_events_survive_a_restart(tmp_path: Path) -> None:
    env = {"LAMBOX_ASYNC_CONCURRENCY": "1"}
    data = tmp_path / "data"
    first = start_server(data, env)
    try:
        lam = aws_client(first, "lambda")
        name = create(lam)
        for n, tenant in enumerate(["blue", "green", "red"]):
            lam.invoke(
                FunctionName=name,
                InvocationType="Event",
                Payload=json.dumps({"n": n, "sleep": 1}),
                TenantId=tenant,
            )
    finally:
        stop_server(first)
    second = start_server(data, env)
    try:
        lam = aws_client(second, "lambda")
        assert lam.get_function_configuration(FunctionName=name)["TenancyConfig"] == PER_TENANT
        got = {(r["n"], r["tenant"]) for r in records(second, name, 3)}
        assert got >= {(0, "blue"), (1, "green"), (2, "red")}
        assert call(lam, name, "blue")["tenant"] == "blue"
    finally:
        stop_server(second)


# -- logs ------------------------------------------------------------------------------------


def json_records(server: LamboxServer, name: str) -> list[dict[str, Any]]:
    text = httpx.get(f"{server.url}/lambox/v1/logs/{name}").text
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_log_records_name_the_tenant(lambda_client: Any, server: LamboxServer) -> None:
    config = {"LogFormat": "JSON", "SystemLogLevel": "DEBUG"}
    name = create(lambda_client, Handler="app.logs", LoggingConfig=config)
    out = lambda_client.invoke(FunctionName=name, TenantId="blue")
    rid = out["ResponseMetadata"]["RequestId"]
    records = [r for r in json_records(server, name) if r.get("type") != "platform.initStart"]
    kinds = [r.get("type", r.get("level")) for r in records]
    assert kinds == ["platform.start", "WARNING", "platform.runtimeDone", "platform.report"]
    for record in records:
        fields = record.get("record", record)
        assert (fields["requestId"], fields["tenantId"]) == (rid, "blue")
    assert records[1]["message"] == "for blue"
    # A function without tenant isolation logs no tenantId.
    plain = create(lambda_client, tenancy=False, Handler="app.logs", LoggingConfig=config)
    lambda_client.invoke(FunctionName=plain)
    assert all("tenantId" not in r.get("record", r) for r in json_records(server, plain))


# -- other runtimes --------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("python3") is None, reason="no python3 on PATH")
def test_the_runtime_api_hands_the_tenant_id_to_a_provided_runtime(lambda_client: Any) -> None:
    code = make_zip({"bootstrap": BOOTSTRAP}, modes={"bootstrap": 0o755})
    name = create(lambda_client, Runtime="provided.al2023", Handler="x", Code={"ZipFile": code})
    assert call(lambda_client, name, "blue:1") == {"tenant": "blue:1"}
    assert call(lambda_client, name, "green") == {"tenant": "green"}


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_node_functions_see_the_tenant_id_in_their_context(
    lambda_client: Any, server: LamboxServer
) -> None:
    code = make_zip(
        {
            "index.js": "exports.handler = async (e, context) => {\n"
            "  console.warn('for ' + context.tenantId);\n"
            "  return {tenant: context.tenantId};\n};\n"
        }
    )
    name = create(
        lambda_client,
        Runtime="nodejs20.x",
        Handler="index.handler",
        Code={"ZipFile": code},
        LoggingConfig={"LogFormat": "JSON"},
    )
    assert call(lambda_client, name, "blue") == {"tenant": "blue"}
    app = [r for r in json_records(server, name) if r.get("message") == "for blue"]
    assert [r["tenantId"] for r in app] == ["blue"]
