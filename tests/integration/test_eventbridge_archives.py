"""EventBridge archives and replays: events archived as they are put (those the archive's
pattern matches), replayed to a bus's rules with ``replay-name``; errors as AWS's recordings
answer them. boto3 and the AWS CLI."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CLIENT_ENV, LamboxServer, aws_client, unique
from tests.parity.snapshot import parity_dir

PREFIX = "tests/aws/services/events/test_archive_and_replay.py::"


def recorded_error(test: str, key: str, **names: str) -> tuple[str, str]:
    data = json.loads((parity_dir() / "events" / "archive-replay.snapshot.json").read_text())
    match = [k for k in data if k.endswith("::" + test)]
    error = data[match[0]]["recorded-content"][key]["Error"]
    message = error["Message"]
    for placeholder, value in names.items():
        message = message.replace(f"<{placeholder.replace('_', '-')}>", value)
    return error["Code"], message


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    return exc.value.response["Error"]["Code"], exc.value.response["Error"]["Message"]


def test_archive_and_replay(server: LamboxServer) -> None:
    events, sqs = (
        aws_client(server, "events", retries=True),
        aws_client(server, "sqs", retries=True),
    )
    bus = unique("arch-bus")
    bus_arn = events.create_event_bus(Name=bus)["EventBusArn"]
    name = unique("arch")
    pattern = json.dumps({"source": ["shop"]})
    created = events.create_archive(
        ArchiveName=name,
        EventSourceArn=bus_arn,
        EventPattern=pattern,
        Description="orders",
        RetentionDays=1,
    )
    assert created["ArchiveArn"] == f"arn:aws:events:us-east-1:000000000000:archive/{name}"
    assert created["State"] == "ENABLED"
    with pytest.raises(ClientError) as exc:
        events.create_archive(ArchiveName=name, EventSourceArn=bus_arn)
    assert error_of(exc) == recorded_error(
        "test_create_archive_error_duplicate[custom]",
        "create-archive-duplicate-error",
        archive_name=name,
    )
    before = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5)
    events.put_events(
        Entries=[
            {"EventBusName": bus, "Source": s, "DetailType": "t", "Detail": json.dumps({"n": n})}
            for n, s in enumerate(["shop", "other", "shop"])
        ]
    )
    described = events.describe_archive(ArchiveName=name)
    assert (described["EventCount"], described["EventPattern"]) == (2, pattern)
    assert described["SizeBytes"] > 0 and described["Description"] == "orders"
    listed = subprocess.run(
        ["/usr/bin/aws", "--endpoint-url", server.url, "--output", "json", "events",
         "list-archives", "--name-prefix", name],
        capture_output=True, text=True, env={**os.environ, **CLIENT_ENV}, timeout=60,
    )  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    (shown,) = json.loads(listed.stdout)["Archives"]
    assert (shown["ArchiveName"], shown["EventCount"], shown["EventSourceArn"]) == (
        name,
        2,
        bus_arn,
    )
    # A rule added after the events were put sees them only through a replay.
    url = sqs.create_queue(QueueName=unique("replayed"))["QueueUrl"]
    queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    rule_arn = events.put_rule(Name="to-queue", EventBusName=bus, EventPattern=pattern)["RuleArn"]
    events.put_targets(
        Rule="to-queue", EventBusName=bus, Targets=[{"Id": "q", "Arn": queue["QueueArn"]}]
    )
    replay = unique("replay")
    started = events.start_replay(
        ReplayName=replay,
        EventSourceArn=created["ArchiveArn"],
        EventStartTime=before,
        EventEndTime=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=5),
        Destination={"Arn": bus_arn, "FilterArns": [rule_arn]},
    )
    assert started["State"] == "STARTING"
    got: list[dict[str, Any]] = []
    for _ in range(10):
        answer = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3, MaxNumberOfMessages=10)
        got += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        if len(got) >= 2:
            break
    assert sorted(e["detail"]["n"] for e in got) == [0, 2]
    assert all(e["replay-name"] == replay for e in got)
    assert list(got[0])[:8] == [
        "version", "id", "detail-type", "source", "account", "time", "region", "replay-name",
    ]  # fmt: skip
    for _ in range(50):
        state = events.describe_replay(ReplayName=replay)
        if state["State"] == "COMPLETED":
            break
        time.sleep(0.1)
    assert state["State"] == "COMPLETED"
    assert state["Destination"] == {"Arn": bus_arn, "FilterArns": [rule_arn]}
    assert "EventLastReplayedTime" in state and "ReplayEndTime" in state
    assert [r["ReplayName"] for r in events.list_replays(NamePrefix=replay)["Replays"]] == [replay]
    with pytest.raises(ClientError) as exc:
        events.start_replay(
            ReplayName=replay,
            EventSourceArn=created["ArchiveArn"],
            EventStartTime=before,
            EventEndTime=dt.datetime.now(dt.UTC),
            Destination={"Arn": bus_arn},
        )
    assert error_of(exc) == recorded_error(
        "test_start_replay_error_duplicate_name_same_archive",
        "start-replay-duplicate-error",
        replay_name=replay,
    )
    with pytest.raises(ClientError) as exc:
        events.start_replay(
            ReplayName=unique("r"),
            EventSourceArn=created["ArchiveArn"],
            EventStartTime=dt.datetime.now(dt.UTC),
            EventEndTime=before,
            Destination={"Arn": bus_arn},
        )
    assert error_of(exc) == recorded_error(
        "test_start_replay_error_invalid_end_time[0]", "start-replay-invalid-end-time-error"
    )
    events.update_archive(ArchiveName=name, Description="all orders")
    assert events.describe_archive(ArchiveName=name)["Description"] == "all orders"
    events.delete_archive(ArchiveName=name)
    with pytest.raises(ClientError) as exc:
        events.describe_archive(ArchiveName=name)
    assert error_of(exc) == recorded_error(
        "test_describe_archive_error_unknown_archive",
        "describe-archive-unknown-archive-error",
        archive_name=name,
    )


def test_archive_and_replay_refusals_match_aws(server: LamboxServer) -> None:
    events = aws_client(server, "events", retries=True)
    missing = unique("nobus")
    with pytest.raises(ClientError) as exc:
        events.create_archive(
            ArchiveName=unique("a"),
            EventSourceArn=f"arn:aws:events:us-east-1:000000000000:event-bus/{missing}",
        )
    assert error_of(exc) == recorded_error(
        "test_create_archive_error_unknown_event_bus",
        "create-archive-unknown-event-bus-error",
        event_bus_name=missing,
    )
    archive = unique("gone")
    with pytest.raises(ClientError) as exc:
        events.delete_archive(ArchiveName=archive)
    assert error_of(exc) == recorded_error(
        "test_delete_archive_error_unknown_archive",
        "delete-archive-unknown-archive-error",
        archive_name=archive,
    )
    with pytest.raises(ClientError) as exc:
        events.update_archive(ArchiveName=archive)
    assert error_of(exc) == recorded_error(
        "test_update_archive_error_unknown_archive", "update-archive-unknown-archive-error"
    )
    with pytest.raises(ClientError) as exc:
        events.start_replay(
            ReplayName=unique("r"),
            EventSourceArn=f"arn:aws:events:us-east-1:000000000000:archive/{archive}",
            EventStartTime=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            EventEndTime=dt.datetime(2026, 1, 2, tzinfo=dt.UTC),
            Destination={"Arn": "arn:aws:events:us-east-1:000000000000:event-bus/default"},
        )
    assert error_of(exc) == recorded_error(
        "test_start_replay_error_unknown_archive",
        "start-replay-unknown-archive-error",
        archive_name=archive,
    )
    replay = unique("r")
    with pytest.raises(ClientError) as exc:
        events.describe_replay(ReplayName=replay)
    assert error_of(exc) == recorded_error(
        "test_describe_replay_error_unknown_replay",
        "describe-replay-unknown-replay-error",
        replay_name=replay,
    )
