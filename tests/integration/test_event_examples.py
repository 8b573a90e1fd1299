"""The EventBridge examples as ``make serve`` deploys them: ``nightly-report`` runs from its
``cron(0 2 * * ? *)`` rule (the server's schedule clock is started just before 02:00 UTC)
and writes its report to S3; ``big-orders`` gets only the orders its pattern matches,
sent with the AWS CLI's ``put-events``."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import CLIENT_ENV, LamboxServer, aws_client, serve_examples, stop_server


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    data = tmp_path_factory.mktemp("events-examples") / "data"
    now = dt.datetime.now(dt.UTC)
    two = now.replace(hour=2, minute=0, second=0, microsecond=0)
    offset = (two - now).total_seconds() - 10  # ten seconds before 02:00 on the schedules' clock
    server = serve_examples(
        data,
        lambda log: "example deployed" in log and "nightly-report" in log,
        env={"LAMBOX_CLOCK_OFFSET": str(offset)},
        wait=60,
    )
    yield server
    stop_server(server)


def logs_until(server: LamboxServer, function: str, text: str, wait: float = 60) -> str:
    deadline = time.monotonic() + wait
    while True:
        log = httpx.get(f"{server.url}/lambox/v1/logs/{function}").text
        if text in log or time.monotonic() > deadline:
            return log
        time.sleep(0.2)


def test_the_nightly_report_runs_at_two_and_writes_to_s3(served: LamboxServer) -> None:
    events = aws_client(served, "events")
    rule = events.describe_rule(Name="nightly-report")
    assert rule["ScheduleExpression"] == "cron(0 2 * * ? *)"
    targets = events.list_targets_by_rule(Rule="nightly-report")["Targets"]
    assert targets[0]["Arn"].endswith(":function:nightly-report")
    log = logs_until(served, "nightly-report", "report for ")
    assert "report for " in log, log
    s3 = aws_client(served, "s3")
    keys = [
        o["Key"] for o in s3.list_objects_v2(Bucket="lambox-photos", Prefix="reports/")["Contents"]
    ]
    assert len(keys) == 1 and keys[0].endswith(".json")
    report = json.loads(s3.get_object(Bucket="lambox-photos", Key=keys[0])["Body"].read())
    assert report["rule"] == [rule["Arn"]] and report["images"] == 0
    assert keys[0] == f"reports/{report['date']}.json"


def test_big_orders_gets_only_what_its_pattern_matches(served: LamboxServer) -> None:
    env = {**os.environ, **CLIENT_ENV}
    orders = [("o-1", 250, "fr"), ("o-2", 20, "fr"), ("o-3", 500, "test"), ("o-4", 100, "de")]
    entries = [
        {
            "Source": "shop",
            "DetailType": "OrderPlaced",
            "Detail": json.dumps({"id": oid, "total": total, "country": country}),
        }
        for oid, total, country in orders
    ]
    out = subprocess.run(
        [
            "/usr/bin/aws",
            "--endpoint-url",
            served.url,
            "--output",
            "json",
            "events",
            "put-events",
            "--entries",
            json.dumps(entries),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["FailedEntryCount"] == 0
    log = logs_until(served, "big-orders", "big order o-4")
    log = logs_until(served, "big-orders", "big order o-1")
    assert "big order o-1: 250 from fr" in log and "big order o-4: 100 from de" in log
    assert "o-2" not in log and "o-3" not in log


def test_the_examples_carry_the_permissions_their_triggers_need(served: LamboxServer) -> None:
    """As on AWS, each trigger's service is allowed by the function's resource policy, so
    the examples also run where policies are enforced."""
    lam = aws_client(served, "lambda")
    for function, service, source in (
        (
            "big-orders",
            "events.amazonaws.com",
            "arn:aws:events:us-east-1:000000000000:rule/big-orders",
        ),
        ("thumbnail", "s3.amazonaws.com", "arn:aws:s3:::lambox-photos"),
    ):
        statements = json.loads(lam.get_policy(FunctionName=function)["Policy"])["Statement"]
        assert any(
            s["Principal"] == {"Service": service}
            and s["Condition"]["ArnLike"]["AWS:SourceArn"] == source
            for s in statements
        ), statements
