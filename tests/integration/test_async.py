"""Asynchronous invocation end to end: retries, maximum age, destinations, dead-letter
targets, reserved concurrency 0, qualifiers, and the failed-event list with re-drive.

Retries run on a server of their own whose retry delays are shortened (settings); the
maximum-age case uses AWS's real delays, where a first retry (after 60 s) would already be
past a 60 s maximum age, so the event fails at once, as recorded on AWS.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique

CODE = make_zip(
    {
        "app.py": """
import json, os

def ok(event, context):
    return {"echo": event}

def fail(event, context):
    raise Exception("intentional failure")

def record(event, context):
    print("RECORD " + json.dumps(event))

def flaky(event, context):
    if not os.path.exists(os.environ["FLAG"]):
        raise Exception("not yet")
    return "fine"
"""
    }
)
# These functions report to the test through files in its temporary directory, which an
# isolated sandbox cannot see; the queue under test is the same on every sandbox backend.
FAST = {
    "LAMBOX_ASYNC_RETRY_DELAY": "0.2",
    "LAMBOX_ASYNC_THROTTLE_BACKOFF": "0.1",
    "LAMBOX_SANDBOX": "process",
}
WAIT_S = 30.0


@pytest.fixture(scope="module")
def fast_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path_factory.mktemp("lambox-async") / "data", FAST)
    yield srv
    stop_server(srv)


def client_for(server: LamboxServer) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}),
    )


@pytest.fixture(scope="module")
def fast(fast_server: LamboxServer) -> Any:
    return client_for(fast_server)


def create(client: Any, handler: str, **extra: Any) -> tuple[str, str]:
    """A new function running ``app.<handler>``, Active; returns (name, ARN)."""
    name = unique(handler)
    out = client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler=f"app.{handler}",
        Role=ROLE,
        Code={"ZipFile": CODE},
        **extra,
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 0.1, "MaxAttempts": 100}
    )
    return name, out["FunctionArn"]


def logs(server: LamboxServer, name: str) -> str:
    return httpx.get(f"{server.url}/lambox/v1/logs/{name}").text


def records(server: LamboxServer, name: str, count: int) -> list[dict[str, Any]]:
    """The events the ``record`` function ``name`` received, once there are ``count``."""
    deadline = time.monotonic() + WAIT_S
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        text = logs(server, name)
        found = [json.loads(line[7:]) for line in text.splitlines() if line.startswith("RECORD ")]
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"{name} received {len(found)} records, expected {count}")


def events_of(server: LamboxServer, name: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{server.url}/lambox/v1/events/{name}").json()
    return body


def until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.1)


def invoke_event(client: Any, name: str, payload: dict[str, Any], **kw: Any) -> None:
    out = client.invoke(
        FunctionName=name, InvocationType="Event", Payload=json.dumps(payload).encode(), **kw
    )
    assert out["StatusCode"] == 202


def test_function_errors_are_retried_then_go_to_on_failure(fast, fast_server) -> None:  # type: ignore[no-untyped-def]
    sink, sink_arn = create(fast, "record")
    name, _ = create(fast, "fail")
    fast.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": sink_arn}}
    )
    invoke_event(fast, name, {"n": 1})
    (record,) = records(fast_server, sink, 1)
    context = record["requestContext"]
    assert context["condition"] == "RetriesExhausted"
    assert context["approximateInvokeCount"] == 3
    assert context["functionArn"].endswith(f":function:{name}:$LATEST")
    assert record["requestPayload"] == {"n": 1}
    assert record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert record["responsePayload"]["errorMessage"] == "intentional failure"
    # The same request id on every attempt, as on AWS.
    assert logs(fast_server, name).count(f"START RequestId: {context['requestId']}") == 3
    assert events_of(fast_server, name)["Failed"] == 0


def test_maximum_retry_attempts_zero_runs_once(fast, fast_server) -> None:  # type: ignore[no-untyped-def]
    sink, sink_arn = create(fast, "record")
    name, _ = create(fast, "fail")
    fast.put_function_event_invoke_config(
        FunctionName=name,
        MaximumRetryAttempts=0,
        DestinationConfig={"OnFailure": {"Destination": sink_arn}},
    )
    invoke_event(fast, name, {"n": 2})
    (record,) = records(fast_server, sink, 1)
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestContext"]["condition"] == "RetriesExhausted"


def test_success_goes_to_on_success(fast, fast_server) -> None:  # type: ignore[no-untyped-def]
    sink, sink_arn = create(fast, "record")
    name, _ = create(fast, "ok")
    fast.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": sink_arn}}
    )
    invoke_event(fast, name, {"hello": "world"})
    (record,) = records(fast_server, sink, 1)
    assert record["version"] == "1.0"
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"echo": {"hello": "world"}}


def test_event_older_than_maximum_age_fails_without_waiting(lambda_client, server) -> None:  # type: ignore[no-untyped-def]
    # The shared server keeps AWS's delays: the first retry (60 s) would be past 60 s.
    sink, sink_arn = create(lambda_client, "record")
    name, _ = create(lambda_client, "fail")
    lambda_client.put_function_event_invoke_config(
        FunctionName=name,
        MaximumEventAgeInSeconds=60,
        DestinationConfig={"OnFailure": {"Destination": sink_arn}},
    )
    invoke_event(lambda_client, name, {"n": 3})
    (record,) = records(server, sink, 1)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["responseContext"]["functionError"] == "Unhandled"


def test_dead_letter_target_gets_payload_and_attributes(fast, fast_server) -> None:  # type: ignore[no-untyped-def]
    sink, sink_arn = create(fast, "record")
    name, _ = create(fast, "fail", DeadLetterConfig={"TargetArn": sink_arn})
    fast.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    invoke_event(fast, name, {"raise_error": 1})
    (message,) = records(fast_server, sink, 1)
    assert json.loads(message["body"]) == {"raise_error": 1}
    attributes = message["attributes"]
    assert attributes["ErrorCode"] == "200"
    assert attributes["ErrorMessage"] == "intentional failure"
    assert logs(fast_server, name).count(f"START RequestId: {attributes['RequestID']}") == 2


def test_failed_events_are_listed_and_can_be_redriven(fast, fast_server, tmp_path) -> None:  # type: ignore[no-untyped-def]
    flag = tmp_path / "flag"
    name, _ = create(fast, "flaky", Environment={"Variables": {"FLAG": str(flag)}})
    fast.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    invoke_event(fast, name, {"n": 4})
    until(lambda: events_of(fast_server, name)["Failed"] == 1)
    (failed,) = events_of(fast_server, name)["Events"]
    assert failed["Status"] == "failed"
    assert failed["Condition"] == "RetriesExhausted"
    assert failed["FunctionError"] == "Unhandled"

    env = {**os.environ, "LAMBOX_ENDPOINT": fast_server.url}
    cli = [sys.executable, "-m", "lambox.cli.main", "events", name]
    shown = subprocess.run(cli, env=env, capture_output=True, text=True, check=True).stdout
    assert "0 pending, 0 in flight, 1 failed" in shown
    assert failed["RequestId"] in shown

    flag.write_text("go")
    done = subprocess.run([*cli, "--redrive"], env=env, capture_output=True, text=True, check=True)
    assert "1 failed events" in done.stdout
    until(lambda: events_of(fast_server, name)["Events"] == [])
    assert logs(fast_server, name).count(f"START RequestId: {failed['RequestId']}") == 2


def test_reserved_concurrency_zero_sends_events_to_on_failure_unrun(fast, fast_server) -> None:  # type: ignore[no-untyped-def]
    sink, sink_arn = create(fast, "record")
    name, _ = create(fast, "ok")
    fast.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": sink_arn}}
    )
    fast.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    invoke_event(fast, name, {"n": 5})
    (record,) = records(fast_server, sink, 1)
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["responseContext"]["statusCode"] == 429
    assert "START RequestId" not in logs(fast_server, name)


def test_the_config_of_the_invoked_alias_applies(fast, fast_server) -> None:  # type: ignore[no-untyped-def]
    sink, sink_arn = create(fast, "record")
    name, _ = create(fast, "ok")
    version = fast.publish_version(FunctionName=name)["Version"]
    fast.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    fast.put_function_event_invoke_config(
        FunctionName=name,
        Qualifier="live",
        DestinationConfig={"OnSuccess": {"Destination": sink_arn}},
    )
    invoke_event(fast, name, {"via": "latest"})
    invoke_event(fast, name, {"via": "alias"}, Qualifier="live")
    (record,) = records(fast_server, sink, 1)
    assert record["requestPayload"] == {"via": "alias"}
    assert record["requestContext"]["functionArn"].endswith(f":function:{name}:live")
    assert record["responseContext"]["executedVersion"] == version


def test_deleting_a_function_deletes_its_configs(fast) -> None:  # type: ignore[no-untyped-def]
    name, _ = create(fast, "ok")
    fast.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    fast.delete_function(FunctionName=name)
    create_again = fast.create_function(
        FunctionName=name, Runtime="python3.11", Handler="app.ok", Role=ROLE, Code={"ZipFile": CODE}
    )
    assert create_again["FunctionName"] == name
    with pytest.raises(fast.exceptions.ResourceNotFoundException):
        fast.get_function_event_invoke_config(FunctionName=name)
    assert (
        fast.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
        == []
    )


def test_an_unknown_function_has_no_event_list(fast_server) -> None:  # type: ignore[no-untyped-def]
    r = httpx.get(f"{fast_server.url}/lambox/v1/events/does-not-exist")
    assert r.status_code == 404
    assert r.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"


def test_destinations_must_be_other_existing_functions(fast) -> None:  # type: ignore[no-untyped-def]
    name, arn = create(fast, "ok")
    for destination, message in (
        (arn, "You can't specify the function as a destination for itself."),
        (arn + "-nope", f"The destination ARN {arn}-nope is invalid."),
        ("arn:aws:sqs:us-east-1:000000000000:q", "lambox cannot deliver to sqs destinations yet"),
    ):
        with pytest.raises(fast.exceptions.InvalidParameterValueException) as e:
            fast.put_function_event_invoke_config(
                FunctionName=name, DestinationConfig={"OnSuccess": {"Destination": destination}}
            )
        assert e.value.response["Error"]["Message"].startswith(message)
