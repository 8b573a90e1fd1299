"""LoggingConfig as on Lambda: LogFormat Text/JSON with its levels on Create/Update and in
GetFunctionConfiguration; JSON functions log the Python runtime's JSON records and the
platform's ``platform.start``/``platform.report``; levels filter; a custom LogGroup is the
group CloudWatch Logs serves the function's log under; a function's group exists from its
creation on."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from typing import Any

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from tests.conftest import CLIENT_ENV, ROLE, LamboxServer, make_zip, unique

AWS_CLI = "/usr/bin/aws"
LOGGER = make_zip(
    {
        "app.py": """
import logging

log = logging.getLogger("orders")

def handler(event, context):
    log.debug("debug %s", event["n"])
    log.info("info %s", event["n"], extra={"orderId": "o-1"})
    log.warning("warn %s", event["n"])
    try:
        raise ValueError("bad order")
    except ValueError:
        log.exception("failed %s", event["n"])
    print("plain print")
    return "ok"
"""
    }
)


def logs_client(server: LamboxServer) -> Any:
    import boto3

    return boto3.client(
        "logs",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )


def create(lambda_client: Any, name: str, **extra: Any) -> dict[str, Any]:
    created: dict[str, Any] = lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": LOGGER}, **extra,
    )  # fmt: skip
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    return created


def messages(server: LamboxServer, group: str, wanted: int = 1) -> list[str]:
    """Every message of ``group`` (waiting for at least ``wanted``)."""
    logs = logs_client(server)
    found: list[str] = []
    for _ in range(100):
        events = logs.filter_log_events(logGroupName=group)["events"]
        found = [e["message"] for e in events]
        if len(found) >= wanted:
            break
        time.sleep(0.05)
    return found


def test_text_is_the_default_and_json_gets_info_levels(lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("logcfg")
    created = create(lambda_client, name)
    assert created["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    lambda_client.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "JSON"}
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    got = lambda_client.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert got == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }
    lambda_client.update_function_configuration(
        FunctionName=name, LoggingConfig={"ApplicationLogLevel": "ERROR", "LogGroup": "/custom/x"}
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    got = lambda_client.get_function(FunctionName=name)["Configuration"]["LoggingConfig"]
    assert got == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "ERROR",
        "SystemLogLevel": "INFO",
        "LogGroup": "/custom/x",
    }
    lambda_client.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "Text"}
    )
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    got = lambda_client.get_function_configuration(FunctionName=name)["LoggingConfig"]
    assert got == {"LogFormat": "Text", "LogGroup": "/custom/x"}


def test_levels_with_text_format_are_refused(lambda_client) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        create(
            lambda_client,
            unique("logtxt"),
            LoggingConfig={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"},
        )
    assert exc.value.response["Error"]["Code"] == "InvalidParameterValueException"


def test_json_records_carry_aws_fields_and_levels_filter(server, lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("logjson")
    config = {"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "INFO"}
    create(lambda_client, name, LoggingConfig=config)
    answer = lambda_client.invoke(FunctionName=name, Payload=b'{"n": 7}')
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert json.loads(answer["Payload"].read()) == "ok"
    lines = messages(server, f"/aws/lambda/{name}", 5)
    records = []
    for line in lines:
        if line.startswith("{"):
            records.append(json.loads(line))
    kinds = [r.get("type") for r in records if "type" in r]
    assert kinds == ["platform.initStart", "platform.start", "platform.report"]
    init_start = records[0]
    arn = lambda_client.get_function_configuration(FunctionName=name)["RuntimeVersionConfig"]
    assert init_start["record"] == {
        "initializationType": "on-demand",
        "phase": "init",
        "runtimeVersion": "python:3.11.v1",
        "runtimeVersionArn": arn["RuntimeVersionArn"],
    }
    assert init_start["time"].endswith("Z")
    start = next(r for r in records if r.get("type") == "platform.start")
    assert start["record"] == {"requestId": request_id, "version": "$LATEST"}
    report = next(r for r in records if r.get("type") == "platform.report")
    assert report["record"]["requestId"] == request_id
    assert report["record"]["status"] == "success"
    metrics = report["record"]["metrics"]
    assert {"durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB"} <= set(metrics)
    assert metrics["memorySizeMB"] == 128
    app = [r for r in records if "level" in r]
    assert [r["message"] for r in app] == ["info 7", "warn 7", "failed 7"]
    info = app[0]
    assert info["level"] == "INFO" and info["logger"] == "orders"
    assert info["requestId"] == request_id and info["orderId"] == "o-1"
    assert info["timestamp"].endswith("Z")
    error = app[2]
    assert error["level"] == "ERROR" and error["errorType"] == "ValueError"
    assert error["errorMessage"] == "bad order" and error["stackTrace"]
    assert "plain print\n" in lines
    assert not any(line.startswith(("START ", "END ", "REPORT ")) for line in lines)

    # WARN application level and WARN system level: INFO records and the platform's go.
    quiet = {"LogFormat": "JSON", "ApplicationLogLevel": "WARN", "SystemLogLevel": "WARN"}
    lambda_client.update_function_configuration(FunctionName=name, LoggingConfig=quiet)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    second = lambda_client.invoke(FunctionName=name, Payload=b'{"n": 8}')
    assert json.loads(second["Payload"].read()) == "ok"
    later = messages(server, f"/aws/lambda/{name}", len(lines) + 3)[len(lines) :]
    levels = [json.loads(x).get("level") for x in later if x.startswith("{")]
    assert levels == ["WARNING", "ERROR"]
    assert not any('"platform.' in x for x in later)


def test_custom_log_group_and_group_at_creation(server, lambda_client) -> None:  # type: ignore[no-untyped-def]
    logs = logs_client(server)
    name = unique("loggrp")
    create(lambda_client, name)
    groups = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{name}")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [f"/aws/lambda/{name}"]

    custom = f"/teams/{name}"
    other = unique("loggrp2")
    create(lambda_client, other, LoggingConfig={"LogFormat": "Text", "LogGroup": custom})
    assert lambda_client.invoke(FunctionName=other, Payload=b'{"n": 1}')["StatusCode"] == 200
    found = messages(server, custom, 3)
    assert any(m.startswith("START RequestId:") for m in found)
    assert "plain print\n" in found, "".join(found)
    listed = logs.describe_log_groups(logGroupNamePrefix="/teams/")["logGroups"]
    assert custom in [g["logGroupName"] for g in listed]
    default = logs.describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{other}")["logGroups"]
    assert default == []
    # The AWS CLI reads the same group.
    out = subprocess.run(
        [AWS_CLI, "logs", "filter-log-events", "--log-group-name", custom,
         "--endpoint-url", server.url, "--output", "json"],
        env=CLIENT_ENV, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert any("plain print" in e["message"] for e in json.loads(out.stdout)["events"])


NODE_LOGGER = make_zip(
    {
        "index.js": """
exports.handler = async (event) => {
  console.debug("debug", event.n);
  console.log("log", event.n);
  console.info({ order: "o-1", n: event.n });
  console.warn("warn %d", event.n);
  console.error("failed", new TypeError("bad order"));
  if (event.fail) throw new RangeError("out of range");
  return "ok";
};
"""
    }
)


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_node_json_records_and_levels(server, lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("lognode")
    lambda_client.create_function(
        FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
        Code={"ZipFile": NODE_LOGGER}, LoggingConfig={"LogFormat": "JSON"},
    )  # fmt: skip
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    answer = lambda_client.invoke(FunctionName=name, Payload=b'{"n": 7}')
    request_id = answer["ResponseMetadata"]["RequestId"]
    assert json.loads(answer["Payload"].read()) == "ok"
    lines = messages(server, f"/aws/lambda/{name}", 6)
    app = [json.loads(x) for x in lines if x.startswith("{") and '"level"' in x]
    # INFO (the default ApplicationLogLevel) drops console.debug.
    assert [r["level"] for r in app] == ["INFO", "INFO", "WARN", "ERROR"]
    assert [r["message"] for r in app[:2]] == ["log 7", {"order": "o-1", "n": 7}]
    assert app[2]["message"] == "warn 7"
    for r in app:
        assert set(r) >= {"timestamp", "level", "requestId", "message"}
        assert r["requestId"] == request_id and r["timestamp"].endswith("Z")
    error = app[3]
    assert error["message"].startswith("failed TypeError: bad order")
    assert error["errorType"] == "TypeError" and error["errorMessage"] == "bad order"
    assert error["stackTrace"][0] == "TypeError: bad order"

    # ERROR: only errors are left, and the unhandled one is a JSON record too.
    errors_only = {"LogFormat": "JSON", "ApplicationLogLevel": "ERROR"}
    lambda_client.update_function_configuration(FunctionName=name, LoggingConfig=errors_only)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    failed = lambda_client.invoke(FunctionName=name, Payload=b'{"n": 8, "fail": true}')
    assert failed["FunctionError"] == "Unhandled"
    later = messages(server, f"/aws/lambda/{name}", len(lines) + 3)[len(lines) :]
    records = [json.loads(x) for x in later if x.startswith("{") and '"level"' in x]
    assert [r["level"] for r in records] == ["ERROR", "ERROR"]
    assert records[1]["errorType"] == "RangeError"
    assert records[1]["message"].startswith("Invoke Error RangeError: out of range")


def test_provisioned_init_logs_ahead_of_invocations(server, lambda_client) -> None:  # type: ignore[no-untyped-def]
    name = unique("logpc")
    code = make_zip({"app.py": "print('provisioned init')\ndef handler(e, c):\n    return 1\n"})
    lambda_client.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": code}, LoggingConfig={"LogFormat": "JSON"}, Publish=True,
    )  # fmt: skip
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name, Qualifier="1")
    lambda_client.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="1", ProvisionedConcurrentExecutions=1
    )
    for _ in range(300):
        got = lambda_client.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
        if got["Status"] == "READY":
            break
        time.sleep(0.1)
    assert got["Status"] == "READY"
    # Before any invocation: the init's platform.initStart and its output.
    lines = messages(server, f"/aws/lambda/{name}", 2)
    assert json.loads(lines[0])["record"]["initializationType"] == "provisioned-concurrency"
    assert lines[1:] == ["provisioned init\n"]
    assert lambda_client.invoke(FunctionName=name, Qualifier="1")["Payload"].read() == b"1"
    later = messages(server, f"/aws/lambda/{name}", 4)
    kinds = [json.loads(x)["type"] for x in later[2:]]
    assert kinds == ["platform.start", "platform.report"]
