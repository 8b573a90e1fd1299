"""CloudWatch Logs on lambox's one endpoint: a function's prints appear in its log group and
sandbox stream, read with boto3's logs client (GetLogEvents, FilterLogEvents with filter
patterns) and the AWS CLI (``aws logs tail``); groups code writes itself, retention, and
AWS's errors as recorded."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import (
    CLIENT_ENV,
    ROLE,
    LamboxServer,
    aws_client,
    make_zip,
    start_server,
    stop_server,
    unique,
)

AWS_CLI = "/usr/bin/aws"
PRINTER = """
import json

def handler(event, context):
    print("hello " + event["word"])
    print(json.dumps({"level": event["level"], "ms": event["ms"], "word": event["word"]}))
    return "ok"
"""
STREAM = re.compile(r"^\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}$")


@pytest.fixture(scope="module")
def logs(server: LamboxServer) -> Any:
    return aws_client(server, "logs")


@pytest.fixture(scope="module")
def printed(server: LamboxServer) -> str:
    """A function invoked three times (one sandbox: sequential warm invokes); its name."""
    lam = aws_client(server, "lambda")
    name = unique("logfn")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": PRINTER})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    for word, level, ms in (("alpha", "INFO", 5), ("beta", "ERROR", 150), ("gamma", "WARN", 50)):
        payload = json.dumps({"word": word, "level": level, "ms": ms})
        assert lam.invoke(FunctionName=name, Payload=payload)["StatusCode"] == 200
    return name


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def messages(events: list[dict[str, Any]]) -> list[str]:
    return [e["message"].rstrip("\n") for e in events]


def test_function_group_and_sandbox_stream(logs: Any, printed: str) -> None:
    group = f"/aws/lambda/{printed}"
    groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]
    assert re.fullmatch(rf"arn:aws:logs:us-east-1:\d{{12}}:log-group:{group}:\*", groups[0]["arn"])
    streams = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert len(streams) == 1
    assert STREAM.match(streams[0]["logStreamName"]), streams[0]["logStreamName"]
    assert streams[0]["lastEventTimestamp"] >= streams[0]["firstEventTimestamp"]


def test_get_log_events_from_head_and_tokens(server: LamboxServer, logs: Any, printed: str) -> None:
    group = f"/aws/lambda/{printed}"
    stream = logs.describe_log_streams(logGroupName=group)["logStreams"][0]["logStreamName"]
    whole = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)
    lines = messages(whole["events"])
    # The cold start's INIT_START, as Lambda writes it, naming the function's runtime version.
    config = aws_client(server, "lambda").get_function_configuration(FunctionName=printed)
    arn = config["RuntimeVersionConfig"]["RuntimeVersionArn"]
    assert lines[0] == f"INIT_START Runtime Version: python:3.11.v1\tRuntime Version ARN: {arn}"
    assert sum(1 for x in lines if x.startswith("INIT_START")) == 1
    assert lines[1].startswith("START RequestId: ")
    assert "hello alpha" in lines and "hello gamma" in lines
    assert sum(1 for x in lines if x.startswith("REPORT RequestId: ")) == 3
    first = logs.get_log_events(
        logGroupName=group, logStreamName=stream, startFromHead=True, limit=2
    )
    assert messages(first["events"]) == lines[:2]
    more = logs.get_log_events(
        logGroupName=group, logStreamName=stream, nextToken=first["nextForwardToken"], limit=2
    )
    assert messages(more["events"]) == lines[2:4]
    last = logs.get_log_events(logGroupName=group, logStreamName=stream, limit=1)
    assert messages(last["events"]) == lines[-1:]


def test_filter_log_events_patterns(logs: Any, printed: str) -> None:
    group = f"/aws/lambda/{printed}"

    def found(pattern: str) -> list[str]:
        return messages(logs.filter_log_events(logGroupName=group, filterPattern=pattern)["events"])

    assert found("hello") == ["hello alpha", "hello beta", "hello gamma"]
    assert found('"hello beta"') == ["hello beta"]
    assert found("?alpha ?gamma") == [
        "hello alpha",
        found('{ $.word = "alpha" }')[0],
        "hello gamma",
        found('{ $.word = "gamma" }')[0],
    ]
    assert found("hello -beta") == ["hello alpha", "hello gamma"]
    errors = found('{ $.level = "ERROR" }')
    assert [json.loads(x)["word"] for x in errors] == ["beta"]
    slow = found('{ $.ms > 40 && $.level != "ERROR" }')
    assert [json.loads(x)["word"] for x in slow] == ["gamma"]
    event = logs.filter_log_events(logGroupName=group, filterPattern="beta")["events"][0]
    assert STREAM.match(event["logStreamName"]) and event["eventId"]


def test_filter_log_events_pages(logs: Any, printed: str) -> None:
    group = f"/aws/lambda/{printed}"
    page = logs.filter_log_events(logGroupName=group, filterPattern="hello", limit=1)
    seen = messages(page["events"])
    while "nextToken" in page:
        page = logs.filter_log_events(
            logGroupName=group, filterPattern="hello", limit=1, nextToken=page["nextToken"]
        )
        seen += messages(page["events"])
    assert seen == ["hello alpha", "hello beta", "hello gamma"]


def test_aws_cli_logs_tail(server: LamboxServer, printed: str) -> None:
    env = {**os.environ, **CLIENT_ENV}
    out = subprocess.run(
        [
            AWS_CLI,
            "--endpoint-url",
            server.url,
            "logs",
            "tail",
            f"/aws/lambda/{printed}",
            "--since",
            "1h",
            "--filter-pattern",
            "hello",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 3
    assert all(STREAM.match(x.split()[1]) for x in lines), lines
    assert [x.split(" ", 2)[2] for x in lines] == ["hello alpha", "hello beta", "hello gamma"]


def test_code_writes_its_own_logs(logs: Any) -> None:
    group = unique("/app/")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s1")
    now = int(time.time() * 1000)
    answer = logs.put_log_events(
        logGroupName=group,
        logStreamName="s1",
        logEvents=[
            {"timestamp": now - 2, "message": "one"},
            {"timestamp": now - 1, "message": "two"},
            {"timestamp": now, "message": "three"},
        ],
    )
    assert answer["nextSequenceToken"]
    got = logs.get_log_events(logGroupName=group, logStreamName="s1", startFromHead=True)
    assert messages(got["events"]) == ["one", "two", "three"]
    assert messages(
        logs.filter_log_events(logGroupName=group, filterPattern="?one ?three")["events"]
    ) == ["one", "three"]
    with pytest.raises(ClientError) as exc:
        logs.create_log_group(logGroupName=group)
    assert error_of(exc) == (
        "ResourceAlreadyExistsException",
        "The specified log group already exists",
        400,
    )
    with pytest.raises(ClientError) as exc:
        logs.create_log_stream(logGroupName=group, logStreamName="s1")
    assert error_of(exc) == (
        "ResourceAlreadyExistsException",
        "The specified log stream already exists",
        400,
    )
    logs.delete_log_group(logGroupName=group)
    assert logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] == []


def test_retention_is_applied(logs: Any) -> None:
    group = unique("/ret/")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[
            {"timestamp": now - 3 * 86_400_000, "message": "three days old"},
            {"timestamp": now, "message": "fresh"},
        ],
    )
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    described = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]
    assert described["retentionInDays"] == 1
    got = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True)
    assert messages(got["events"]) == ["fresh"]


def test_put_log_events_errors(logs: Any) -> None:
    group = unique("/err/")
    logs.create_log_group(logGroupName=group)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = int(time.time() * 1000)
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(
            logGroupName=group,
            logStreamName="s",
            logEvents=[{"timestamp": now, "message": "b"}, {"timestamp": now - 5, "message": "a"}],
        )
    assert error_of(exc) == (
        "InvalidParameterException",
        "Log events in a single PutLogEvents request must be in chronological order.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        logs.put_log_events(
            logGroupName=group, logStreamName="nope", logEvents=[{"timestamp": now, "message": "x"}]
        )
    assert error_of(exc) == (
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
        400,
    )
    too_old = logs.put_log_events(
        logGroupName=group,
        logStreamName="s",
        logEvents=[{"timestamp": now - 15 * 86_400_000, "message": "x"}],
    )
    assert too_old["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 1}


def test_read_errors(logs: Any, printed: str) -> None:
    group = f"/aws/lambda/{printed}"
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=unique("/none/"), logStreamName="s")
    assert error_of(exc) == (
        "ResourceNotFoundException",
        "The specified log group does not exist.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        logs.get_log_events(logGroupName=group, logStreamName="nope")
    assert error_of(exc) == (
        "ResourceNotFoundException",
        "The specified log stream does not exist.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group, limit=10001)
    assert error_of(exc) == (
        "InvalidParameterException",
        "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint:"
        " Member must have value less than or equal to 10000",
        400,
    )
    with pytest.raises(ClientError) as exc:
        logs.filter_log_events(logGroupName=group, nextToken="garbage")
    assert error_of(exc) == (
        "InvalidParameterException",
        "The specified nextToken is invalid.",
        400,
    )
    with pytest.raises(ClientError) as exc:
        logs.describe_log_groups(logGroupNamePrefix="/a", logGroupNamePattern="b")
    assert error_of(exc) == (
        "InvalidParameterException",
        "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        400,
    )


def test_aws_cli_logs_tail_follow(server: LamboxServer) -> None:
    """``aws logs tail --follow`` prints what a function writes after it started."""
    lam = aws_client(server, "lambda")
    name = unique("tailfn")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": PRINTER})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)

    def invoke(word: str) -> None:
        payload = json.dumps({"word": word, "level": "INFO", "ms": 1})
        assert lam.invoke(FunctionName=name, Payload=payload)["StatusCode"] == 200

    invoke("first")
    env = {**os.environ, **CLIENT_ENV}
    command = [AWS_CLI, "--endpoint-url", server.url, "logs", "tail", f"/aws/lambda/{name}"]
    tail = subprocess.Popen(
        [*command, "--follow", "--filter-pattern", "hello", "--format", "short"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    guard = threading.Timer(120, tail.kill)  # a line that never comes fails, not hangs
    guard.start()
    try:
        assert tail.stdout is not None
        first = tail.stdout.readline()
        assert first.rstrip("\n").endswith("hello first"), first
        invoke("second")
        second = tail.stdout.readline()  # the CLI polls every few seconds
        assert second.rstrip("\n").endswith("hello second"), second
    finally:
        guard.cancel()
        tail.terminate()
        tail.wait(10)


def test_published_version_has_its_own_stream(server: LamboxServer, logs: Any) -> None:
    lam = aws_client(server, "lambda")
    name = unique("verfn")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": PRINTER})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    version = lam.publish_version(FunctionName=name)["Version"]
    payload = json.dumps({"word": "versioned", "level": "INFO", "ms": 1})
    lam.invoke(FunctionName=name, Qualifier=version, Payload=payload)
    lam.invoke(FunctionName=name, Payload=payload)
    group = f"/aws/lambda/{name}"
    names = sorted(
        s["logStreamName"] for s in logs.describe_log_streams(logGroupName=group)["logStreams"]
    )
    assert [n.split("]")[0].split("[")[1] for n in names] == sorted(["$LATEST", version])
    prefix = names[0][:11] + f"[{version}]"
    found = logs.filter_log_events(
        logGroupName=group, logStreamNamePrefix=prefix, filterPattern='"hello versioned"'
    )["events"]
    assert [e["logStreamName"].startswith(prefix) for e in found] == [True]


def test_written_events_survive_kill_9(tmp_path: Path) -> None:
    """Groups, streams and events PutLogEvents wrote, and a function's log, after kill -9."""
    first = start_server(tmp_path / "data")
    try:
        logs = aws_client(first, "logs")
        logs.create_log_group(logGroupName="/app/durable")
        logs.create_log_stream(logGroupName="/app/durable", logStreamName="s")
        now = int(time.time() * 1000)
        logs.put_log_events(
            logGroupName="/app/durable",
            logStreamName="s",
            logEvents=[{"timestamp": now, "message": "kept"}],
        )
        lam = aws_client(first, "lambda")
        lam.create_function(
            FunctionName="durable",
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": make_zip({"app.py": PRINTER})},
        )
        lam.get_waiter("function_active_v2").wait(FunctionName="durable")
        lam.invoke(FunctionName="durable", Payload=b'{"word": "w", "level": "I", "ms": 1}')
    finally:
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait()
    second = start_server(tmp_path / "data")
    try:
        logs = aws_client(second, "logs")
        got = logs.get_log_events(logGroupName="/app/durable", logStreamName="s")
        assert messages(got["events"]) == ["kept"]
        found = logs.filter_log_events(logGroupName="/aws/lambda/durable", filterPattern="hello")
        assert messages(found["events"]) == ["hello w"]
    finally:
        stop_server(second)
