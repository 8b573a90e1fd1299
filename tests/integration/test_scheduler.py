"""EventBridge Scheduler on lambox's one endpoint, with boto3's scheduler client and the
AWS CLI: schedules and groups, time zones, at() with ActionAfterCompletion, flexible
windows, and functions invoked with the schedule's Input."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import CLIENT_ENV, LamboxServer, aws_client, start_server, stop_server, unique
from tests.integration.test_eventbridge import error_of, received, recorder

FN = "arn:aws:lambda:us-east-1:000000000000:function:nothing"
OFF = {"Mode": "OFF"}


@pytest.fixture(scope="module")
def scheduler(server: LamboxServer) -> Any:
    return aws_client(server, "scheduler")


def test_schedule_lifecycle(scheduler: Any) -> None:
    name = unique("sch")
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    arn = scheduler.create_schedule(
        Name=name,
        ScheduleExpression="cron(0 9 ? * MON-FRI *)",
        ScheduleExpressionTimezone="Europe/Paris",
        StartDate=start,
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        Target={
            "Arn": FN,
            "RoleArn": "arn:aws:iam::000000000000:role/r",
            "Input": '{"report": "daily"}',
            "RetryPolicy": {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 2},
        },
        Description="weekday mornings",
    )["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:us-east-1:000000000000:schedule/default/{name}"
    got = scheduler.get_schedule(Name=name)
    assert got["Arn"] == arn and got["GroupName"] == "default" and got["State"] == "ENABLED"
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"
    assert got["StartDate"] == start
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert got["Target"]["RetryPolicy"] == {
        "MaximumEventAgeInSeconds": 3600,
        "MaximumRetryAttempts": 2,
    }
    assert got["ActionAfterCompletion"] == "NONE"
    assert isinstance(got["CreationDate"], dt.datetime)
    listed = scheduler.list_schedules(NamePrefix=name)["Schedules"]
    assert [(s["Name"], s["State"], s["Target"]["Arn"]) for s in listed] == [(name, "ENABLED", FN)]
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(
            Name=name,
            ScheduleExpression="rate(1 hour)",
            FlexibleTimeWindow=OFF,
            Target={"Arn": FN, "RoleArn": "r" * 20},
        )
    assert error_of(exc) == ("ConflictException", f"Schedule {name} already exists.", 409)
    scheduler.update_schedule(
        Name=name,
        ScheduleExpression="rate(5 minutes)",
        State="DISABLED",
        FlexibleTimeWindow=OFF,
        Target={"Arn": FN, "RoleArn": "arn:aws:iam::000000000000:role/r"},
    )
    got = scheduler.get_schedule(Name=name)
    assert got["ScheduleExpression"] == "rate(5 minutes)" and got["State"] == "DISABLED"
    assert "StartDate" not in got
    scheduler.delete_schedule(Name=name)
    with pytest.raises(ClientError) as exc:
        scheduler.get_schedule(Name=name)
    assert error_of(exc) == ("ResourceNotFoundException", f"Schedule {name} does not exist.", 404)


def test_schedule_groups(scheduler: Any) -> None:
    group = unique("grp")
    arn = scheduler.create_schedule_group(Name=group)["ScheduleGroupArn"]
    assert arn == f"arn:aws:scheduler:us-east-1:000000000000:schedule-group/{group}"
    assert scheduler.get_schedule_group(Name=group)["State"] == "ACTIVE"
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule_group(Name=group)
    assert error_of(exc)[0] == "ConflictException"
    name = unique("in-group")
    scheduler.create_schedule(
        Name=name,
        GroupName=group,
        ScheduleExpression="rate(1 day)",
        FlexibleTimeWindow=OFF,
        Target={"Arn": FN, "RoleArn": "arn:aws:iam::000000000000:role/r"},
    )
    assert scheduler.get_schedule(Name=name, GroupName=group)["GroupName"] == group
    with pytest.raises(ClientError) as exc:
        scheduler.get_schedule(Name=name)
    assert error_of(exc)[0] == "ResourceNotFoundException"
    names = [g["Name"] for g in scheduler.list_schedule_groups()["ScheduleGroups"]]
    assert "default" in names and group in names
    with pytest.raises(ClientError) as exc:
        scheduler.delete_schedule_group(Name="default")
    assert error_of(exc)[0] == "ValidationException"
    scheduler.delete_schedule_group(Name=group)
    assert scheduler.list_schedules(GroupName=group)["Schedules"] == []
    with pytest.raises(ClientError) as exc:
        scheduler.create_schedule(
            Name=name,
            GroupName=group,
            ScheduleExpression="rate(1 day)",
            FlexibleTimeWindow=OFF,
            Target={"Arn": FN, "RoleArn": "arn:aws:iam::000000000000:role/r"},
        )
    assert error_of(exc)[:2] == (
        "ResourceNotFoundException",
        f"Schedule group {group} does not exist.",
    )


def test_a_one_time_schedule_invokes_its_function_once_then_deletes_itself(
    server: LamboxServer, scheduler: Any
) -> None:
    fn = recorder(server)
    name = unique("once")
    when = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S")
    arn = scheduler.create_schedule(
        Name=name,
        ScheduleExpression=f"at({when})",
        FlexibleTimeWindow=OFF,
        ActionAfterCompletion="DELETE",
        Target={
            "Arn": fn,
            "RoleArn": "arn:aws:iam::000000000000:role/r",
            "Input": json.dumps(
                {
                    "job": "cleanup",
                    "schedule": "<aws.scheduler.schedule-arn>",
                    "at": "<aws.scheduler.scheduled-time>",
                }
            ),
        },
    )["ScheduleArn"]
    got = received(server, fn, 1)
    assert got == [{"job": "cleanup", "schedule": arn, "at": when + "Z"}]
    with pytest.raises(ClientError) as exc:
        scheduler.get_schedule(Name=name)
    assert error_of(exc)[0] == "ResourceNotFoundException"


def test_a_time_zone_shifts_an_at_schedule(server: LamboxServer, scheduler: Any) -> None:
    fn = recorder(server)
    name = unique("tz")
    # three seconds from now on the clocks of Tokyo (UTC+9, no daylight saving)
    local = dt.datetime.now(dt.UTC) + dt.timedelta(hours=9, seconds=3)
    scheduler.create_schedule(
        Name=name,
        ScheduleExpression=f"at({local.strftime('%Y-%m-%dT%H:%M:%S')})",
        ScheduleExpressionTimezone="Asia/Tokyo",
        FlexibleTimeWindow=OFF,
        Target={"Arn": fn, "RoleArn": "arn:aws:iam::000000000000:role/r"},
    )
    assert received(server, fn, 1) == [{}]
    assert scheduler.get_schedule(Name=name)["ActionAfterCompletion"] == "NONE"


def test_the_aws_cli_creates_and_lists_schedules(server: LamboxServer) -> None:
    env = {**os.environ, **CLIENT_ENV}

    def run(*args: str) -> Any:
        out = subprocess.run(
            ["/usr/bin/aws", "--endpoint-url", server.url, "--output", "json", "scheduler", *args],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout) if out.stdout.strip() else None

    name = unique("cli")
    run(
        "create-schedule",
        "--name",
        name,
        "--schedule-expression",
        "cron(0 3 L * ? *)",
        "--flexible-time-window",
        "Mode=OFF",
        "--target",
        json.dumps({"Arn": FN, "RoleArn": "arn:aws:iam::000000000000:role/r"}),
    )
    listed = run("list-schedules", "--name-prefix", name)["Schedules"]
    assert [s["Name"] for s in listed] == [name]
    assert run("get-schedule", "--name", name)["ScheduleExpression"] == "cron(0 3 L * ? *)"
    run("delete-schedule", "--name", name)


def test_schedules_survive_a_crash_and_a_missed_time_fires_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = start_server(data)
    try:
        fn = recorder(first)
        scheduler = aws_client(first, "scheduler")
        soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M:%S")
        scheduler.create_schedule(
            Name="missed",
            ScheduleExpression=f"at({soon})",
            FlexibleTimeWindow=OFF,
            Target={"Arn": fn, "RoleArn": "arn:aws:iam::000000000000:role/r", "Input": '{"n": 1}'},
        )
        scheduler.create_schedule(
            Name="every-minute",
            ScheduleExpression="rate(1 minute)",
            FlexibleTimeWindow=OFF,
            Target={"Arn": fn, "RoleArn": "arn:aws:iam::000000000000:role/r", "Input": '{"n": 2}'},
        )
    finally:
        first.proc.kill()  # kill -9: nothing is flushed on the way out
        first.proc.wait()
    # back an hour later: the at() time and sixty minutes of rate() slots were missed
    later = start_server(data, {"LAMBOX_CLOCK_OFFSET": "3600"})
    try:
        got = received(later, fn, 2)
        assert sorted(e["n"] for e in got) == [1, 2]
        time.sleep(3)  # the next rate() slot is a minute away: nothing more now
        assert len(received(later, fn, 0, wait=0)) == 2
        scheduler = aws_client(later, "scheduler")
        names = {s["Name"] for s in scheduler.list_schedules()["Schedules"]}
        assert names == {"missed", "every-minute"}  # ActionAfterCompletion NONE keeps both
    finally:
        stop_server(later)
