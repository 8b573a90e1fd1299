"""EventBridge on lambox's one endpoint: buses, rules, targets, PutEvents into functions,
TestEventPattern and scheduled rules, with boto3's events client and the AWS CLI."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
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
    make_zip,
    start_server,
    stop_server,
    unique,
)

RECORDER = """
import json

def handler(event, context):
    print("EVENT " + json.dumps(event))
    return "ok"
"""


@pytest.fixture(scope="module")
def events(server: LamboxServer) -> Any:
    return aws_client(server, "events")


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    response = exc.value.response
    return (
        response["Error"]["Code"],
        response["Error"]["Message"],
        response["ResponseMetadata"]["HTTPStatusCode"],
    )


def recorder(server: LamboxServer) -> str:
    """A function that prints each event it gets; its ARN."""
    lam = aws_client(server, "lambda")
    name = unique("evfn")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": RECORDER})},
    )
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return str(lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"])


def received(server: LamboxServer, arn: str, count: int, wait: float = 30) -> list[Any]:
    """The events the recorder printed, once there are ``count`` (or the wait is over)."""
    name = arn.rsplit(":", 1)[-1]
    deadline = time.monotonic() + wait
    while True:
        log = httpx.get(f"{server.url}/lambox/v1/logs/{name}").text
        found = [json.loads(x.split("EVENT ", 1)[1]) for x in log.splitlines() if "EVENT " in x]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.1)


def test_rules_and_targets_lifecycle(events: Any) -> None:
    name = unique("rule")
    pattern = json.dumps({"source": ["my.app"]})
    arn = events.put_rule(Name=name, EventPattern=pattern)["RuleArn"]
    assert arn == f"arn:aws:events:us-east-1:000000000000:rule/{name}"
    described = events.describe_rule(Name=name)
    assert described["State"] == "ENABLED" and described["EventPattern"] == pattern
    assert described["EventBusName"] == "default"
    assert name in [r["Name"] for r in events.list_rules(NamePrefix=name)["Rules"]]
    events.disable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "DISABLED"
    events.enable_rule(Name=name)
    assert events.describe_rule(Name=name)["State"] == "ENABLED"
    fn = "arn:aws:lambda:us-east-1:000000000000:function:x"
    targets = [{"Id": f"t{i}", "Arn": fn} for i in range(5)]
    assert events.put_targets(Rule=name, Targets=targets)["FailedEntryCount"] == 0
    with pytest.raises(ClientError) as exc:
        events.put_targets(Rule=name, Targets=[{"Id": "t5", "Arn": fn}])
    assert error_of(exc)[0] == "LimitExceededException"
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=name)["Targets"]] == [
        f"t{i}" for i in range(5)
    ]
    with pytest.raises(ClientError) as exc:
        events.delete_rule(Name=name)
    assert error_of(exc) == (
        "ValidationException",
        "Rule can't be deleted since it has targets.",
        400,
    )
    assert (
        events.remove_targets(Rule=name, Ids=[f"t{i}" for i in range(5)])["FailedEntryCount"] == 0
    )
    events.delete_rule(Name=name)
    with pytest.raises(ClientError) as exc:
        events.describe_rule(Name=name)
    assert error_of(exc) == (
        "ResourceNotFoundException",
        f"Rule {name} does not exist on EventBus default.",
        400,
    )


def test_rule_validation_in_eventbridge_words(events: Any) -> None:
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=unique("bad"), EventPattern='{"source": "not-a-list"}')
    assert error_of(exc) == (
        "InvalidEventPatternException",
        'Event pattern is not valid. Reason: "source" must be an object or an array',
        400,
    )
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=unique("bad"), ScheduleExpression="cron(0 1 * * * *)")
    assert error_of(exc) == (
        "ValidationException",
        "Parameter ScheduleExpression is not valid.",
        400,
    )
    bus = unique("bus")
    events.create_event_bus(Name=bus)
    with pytest.raises(ClientError) as exc:
        events.put_rule(Name=unique("r"), EventBusName=bus, ScheduleExpression="rate(1 minute)")
    assert error_of(exc)[1] == "ScheduleExpression is supported only on the default event bus."
    rule = unique("r")
    events.put_rule(Name=rule, EventPattern='{"source": ["a"]}')
    with pytest.raises(ClientError) as exc:
        events.put_targets(
            Rule=rule,
            Targets=[
                {
                    "Id": "t",
                    "Arn": "arn:aws:lambda:us-east-1:000000000000:function:x",
                    "InputTransformer": {"InputTemplate": '{"a": <nope>}'},
                }
            ],
        )
    assert error_of(exc)[1] == "InputTemplate for target t contains invalid placeholder nope."


def test_event_buses(events: Any) -> None:
    bus = unique("bus")
    arn = events.create_event_bus(Name=bus)["EventBusArn"]
    assert arn == f"arn:aws:events:us-east-1:000000000000:event-bus/{bus}"
    with pytest.raises(ClientError) as exc:
        events.create_event_bus(Name=bus)
    assert error_of(exc) == (
        "ResourceAlreadyExistsException",
        f"Event bus {bus} already exists.",
        400,
    )
    assert events.describe_event_bus(Name=bus)["Arn"] == arn
    assert events.describe_event_bus()["Name"] == "default"
    assert [b["Name"] for b in events.list_event_buses(NamePrefix=bus)["EventBuses"]] == [bus]
    with pytest.raises(ClientError) as exc:
        events.delete_event_bus(Name="default")
    assert error_of(exc)[1] == "Cannot delete event bus default."
    events.delete_event_bus(Name=bus)
    with pytest.raises(ClientError) as exc:
        events.describe_event_bus(Name=bus)
    assert error_of(exc) == ("ResourceNotFoundException", f"Event bus {bus} does not exist.", 400)
    with pytest.raises(ClientError) as exc:
        events.list_rules(EventBusName=bus)
    assert error_of(exc) == ("ResourceNotFoundException", f"Event bus {bus} does not exist.", 400)


def test_put_events_reports_failed_entries(events: Any) -> None:
    answer = events.put_events(
        Entries=[
            {"Source": "a", "DetailType": "t", "Detail": "{}"},
            {"DetailType": "t", "Detail": "{}"},
            {"Source": "a", "DetailType": "t", "Detail": "[1, 2]"},
        ]
    )
    assert answer["FailedEntryCount"] == 2
    ok, missing, malformed = answer["Entries"]
    assert len(ok["EventId"]) == 36
    assert missing == {
        "ErrorCode": "InvalidArgument",
        "ErrorMessage": "Parameter Source is not valid. Reason: Source is a required argument.",
    }
    assert malformed == {"ErrorCode": "MalformedDetail", "ErrorMessage": "Detail is malformed."}
    with pytest.raises(ClientError) as exc:
        events.put_events(
            Entries=[{"Source": "a", "DetailType": "t", "Detail": json.dumps({"x": "y" * 300_000})}]
        )
    assert error_of(exc)[:2] == (
        "ValidationException",
        "Total size of the entries in the request is over the limit.",
    )
    with pytest.raises(ClientError) as exc:
        events.put_events(Entries=[{"Source": "a", "DetailType": "t", "Detail": "{}"}] * 11)
    code, message, status = error_of(exc)
    assert (code, status) == ("ValidationException", 400)
    assert message.endswith("Member must have length less than or equal to 10")


def test_test_event_pattern(events: Any) -> None:
    event = {
        "id": "1",
        "source": "my.app",
        "detail-type": "thing",
        "account": "000000000000",
        "region": "us-east-1",
        "time": "2026-12-07T10:00:00Z",
        "detail": {"n": 5},
    }
    yes = json.dumps({"detail": {"n": [{"numeric": [">", 1]}]}})
    no = json.dumps({"detail": {"n": [{"numeric": [">", 10]}]}})
    assert events.test_event_pattern(Event=json.dumps(event), EventPattern=yes)["Result"] is True
    assert events.test_event_pattern(Event=json.dumps(event), EventPattern=no)["Result"] is False
    with pytest.raises(ClientError) as exc:
        events.test_event_pattern(Event="[]", EventPattern=yes)
    assert error_of(exc)[:2] == ("ValidationException", "Parameter Event is not valid.")
    with pytest.raises(ClientError) as exc:
        events.test_event_pattern(Event=json.dumps(event), EventPattern='{"a": [{"EXISTS": true}]}')
    assert error_of(exc)[:2] == (
        "InvalidEventPatternException",
        "Event pattern is not valid. Reason: Unrecognized match type EXISTS",
    )


def test_matching_events_reach_functions_as_eventbridge_sends_them(
    server: LamboxServer, events: Any
) -> None:
    whole, picked, shaped = recorder(server), recorder(server), recorder(server)
    bus = unique("orders")
    events.create_event_bus(Name=bus)
    rule = unique("paid")
    pattern = {"source": ["shop"], "detail": {"state": ["paid"], "total": [{"numeric": [">", 10]}]}}
    events.put_rule(Name=rule, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(
        Rule=rule,
        EventBusName=bus,
        Targets=[
            {"Id": "whole", "Arn": whole},
            {"Id": "picked", "Arn": picked, "InputPath": "$.detail"},
            {
                "Id": "shaped",
                "Arn": shaped,
                "InputTransformer": {
                    "InputPathsMap": {"state": "$.detail.state", "total": "$.detail.total"},
                    "InputTemplate": (
                        '{"order": "<state>", "sum": <total>, "rule": "<aws.events.rule-name>"}'
                    ),
                },
            },
        ],
    )
    entries = [
        {"Source": "shop", "DetailType": "order", "Detail": json.dumps(d), "EventBusName": bus}
        for d in (
            {"state": "open", "total": 50},
            {"state": "paid", "total": 5},
            {"state": "paid", "total": 42},
        )
    ]
    entries.append(
        {"Source": "shop", "DetailType": "order", "Detail": '{"state": "paid", "total": 99}'}
    )
    answer = events.put_events(Entries=entries)
    assert answer["FailedEntryCount"] == 0
    got = received(server, whole, 1)
    assert len(got) == 1
    envelope = got[0]
    assert set(envelope) == {
        "version",
        "id",
        "detail-type",
        "source",
        "account",
        "time",
        "region",
        "resources",
        "detail",
    }
    assert envelope["id"] == answer["Entries"][2]["EventId"]
    assert envelope["version"] == "0" and envelope["detail-type"] == "order"
    assert envelope["source"] == "shop" and envelope["account"] == "000000000000"
    assert envelope["region"] == "us-east-1" and envelope["resources"] == []
    assert envelope["detail"] == {"state": "paid", "total": 42}
    assert envelope["time"].endswith("Z") and len(envelope["time"]) == 20
    assert received(server, picked, 1) == [{"state": "paid", "total": 42}]
    assert received(server, shaped, 1) == [{"order": "paid", "sum": 42, "rule": rule}]


def test_the_aws_cli_manages_rules(server: LamboxServer) -> None:
    env = {**os.environ, **CLIENT_ENV}

    def run(*args: str) -> Any:
        out = subprocess.run(
            ["/usr/bin/aws", "--endpoint-url", server.url, "--output", "json", "events", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout) if out.stdout.strip() else None

    name = unique("cli")
    run("put-rule", "--name", name, "--schedule-expression", "cron(0 12 ? * MON-FRI *)")
    rules = run("list-rules", "--name-prefix", name)["Rules"]
    assert rules[0]["ScheduleExpression"] == "cron(0 12 ? * MON-FRI *)"
    result = run(
        "test-event-pattern",
        "--event-pattern",
        '{"source": [{"prefix": "aws."}]}',
        "--event",
        json.dumps(
            {
                "id": "1",
                "source": "aws.ec2",
                "detail-type": "x",
                "account": "000000000000",
                "region": "us-east-1",
                "time": "2026-12-07T10:00:00Z",
                "detail": {},
            }
        ),
    )
    assert result == {"Result": True}
    run("delete-rule", "--name", name)


# -- scheduled rules: a clock running 60 times as fast, and restarts ---------------------------


@pytest.fixture
def fast_server(tmp_path: Path) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path / "data", {"LAMBOX_CLOCK_SPEED": "60"})
    yield srv
    stop_server(srv)


def test_a_scheduled_rule_fires_its_function_every_slot(fast_server: LamboxServer) -> None:
    events = aws_client(fast_server, "events")
    fn = recorder(fast_server)
    name = unique("tick")
    arn = events.put_rule(Name=name, ScheduleExpression="rate(1 minute)")["RuleArn"]
    events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": fn}])
    got = received(fast_server, fn, 3)
    assert len(got) >= 3
    for event in got:
        assert event["detail-type"] == "Scheduled Event"
        assert event["source"] == "aws.events"
        assert event["resources"] == [arn]
        assert event["detail"] == {}
    times = [e["time"] for e in got]
    assert len(set(times)) == len(times), "a slot fired twice"
    events.disable_rule(Name=name)
    settled = len(received(fast_server, fn, 0, wait=0))
    time.sleep(2)  # two minutes of the rule's clock: a disabled rule must not fire in them
    assert len(received(fast_server, fn, 0, wait=0)) <= settled + 1


def test_a_restart_fires_a_missed_slot_once_not_once_per_missed_minute(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        fn = recorder(first)
        events = aws_client(first, "events")
        name = unique("missed")
        events.put_rule(Name=name, ScheduleExpression="rate(1 minute)")
        events.put_targets(Rule=name, Targets=[{"Id": "fn", "Arn": fn}])
    finally:
        first.proc.kill()  # a crash, before the first slot
        first.proc.wait()
    # an hour later: sixty slots were missed
    later = start_server(data, {"LAMBOX_CLOCK_OFFSET": "3600"})
    try:
        got = received(later, fn, 1)
        assert len(got) == 1
        time.sleep(3)  # the next slot is a minute away: nothing else may fire now
        assert len(received(later, fn, 0, wait=0)) == 1
    finally:
        stop_server(later)
    # the clock stepped back by an hour: the slot already fired must not fire again
    earlier = start_server(data, {"LAMBOX_CLOCK_OFFSET": "-3600"})
    try:
        time.sleep(2)
        assert len(received(earlier, fn, 0, wait=0)) == 1
    finally:
        stop_server(earlier)
