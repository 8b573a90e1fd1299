"""A function printing 10,000 lines/s: the server keeps answering other requests while it
runs, and its log is complete in CloudWatch Logs (a bounded count: 60,000 lines, more
than the 1 MiB an invocation keeps in memory)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import (
    ROLE,
    LamboxServer,
    aws_client,
    make_zip,
    start_server,
    stop_server,
    unique,
)

LINES = 60_000  # 1.2 MB: more than the 1 MiB a sandbox keeps in memory
RATE = 10_000
CHATTY = """
import time

def handler(event, context):
    total, rate = event["lines"], event["rate"]
    start = time.monotonic()
    n = 0
    while n < total:
        due = min(total, int((time.monotonic() - start) * rate) + 1)
        while n < due:
            print("chatty line %07d" % n)
            n += 1
        time.sleep(0.001)
    return n
"""
ECHO = "def handler(event, context):\n    return event\n"


def create(lam: Any, code: str, **extra: Any) -> str:
    name = unique("chatty")
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": make_zip({"app.py": code})}, **extra,
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def test_chatty_function_keeps_the_server_answering_and_its_log_whole(
    server: LamboxServer,
) -> None:
    lam = aws_client(server, "lambda")
    chatty = create(lam, CHATTY, Timeout=60)
    echo = create(lam, ECHO)
    assert json.loads(lam.invoke(FunctionName=echo, Payload=b"0")["Payload"].read()) == 0
    result: dict[str, Any] = {}

    def run() -> None:
        payload = json.dumps({"lines": LINES, "rate": RATE}).encode()
        answer = aws_client(server, "lambda").invoke(FunctionName=chatty, Payload=payload)
        result["payload"] = json.loads(answer["Payload"].read())
        result["error"] = answer.get("FunctionError")

    runner = threading.Thread(target=run)
    runner.start()
    answered_during = 0
    n = 0
    with httpx.Client(timeout=30) as http:
        while runner.is_alive():
            n += 1
            got = lam.invoke(FunctionName=echo, Payload=str(n).encode())
            assert json.loads(got["Payload"].read()) == n
            assert http.get(f"{server.url}/lambox/v1/health").status_code == 200
            if runner.is_alive():
                answered_during += 1
    runner.join()
    assert result == {"payload": LINES, "error": None}
    assert answered_during > 0

    logs = aws_client(server, "logs")
    messages: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{chatty}", "filterPattern": "chatty"}
    while True:
        page = logs.filter_log_events(**kwargs)
        messages += [e["message"] for e in page["events"]]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert messages == [f"chatty line {i:07d}\n" for i in range(LINES)]
    # Written in parts as it came, the log still reads START, the lines, END, REPORT.
    page = logs.filter_log_events(logGroupName=f"/aws/lambda/{chatty}", limit=3)
    first = [e["message"] for e in page["events"]]
    assert first[0].startswith("INIT_START Runtime Version: python:3.11")
    assert first[1].startswith("START RequestId:") and first[2] == "chatty line 0000000\n"
    stream = page["events"][0]["logStreamName"]
    last = logs.get_log_events(logGroupName=f"/aws/lambda/{chatty}", logStreamName=stream, limit=3)[
        "events"
    ]
    assert [e["message"].split(" ")[0] for e in last] == ["chatty", "END", "REPORT"]


LOUD_INIT = """
for n in range(25_000):
    print("init line %07d ........................................" % n)

def handler(event, context):
    print("handled")
    return "ok"
"""


def test_python_init_log_is_whole_past_a_mebibyte(server: LamboxServer) -> None:
    lam = aws_client(server, "lambda")
    name = create(lam, LOUD_INIT, Timeout=60)
    assert json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read()) == "ok"
    logs = aws_client(server, "logs")
    found: list[str] = []
    kwargs: dict[str, Any] = {"logGroupName": f"/aws/lambda/{name}"}
    while True:
        page = logs.filter_log_events(**kwargs)
        found += [e["message"] for e in page["events"]]
        if "nextToken" not in page:
            break
        kwargs["nextToken"] = page["nextToken"]
    assert not [m for m in found if "log truncated" in m]
    assert found[0].startswith("INIT_START Runtime Version: python:3.11.v1\t")
    init = [f"init line {n:07d} {'.' * 40}\n" for n in range(25_000)]
    assert found[1 : 1 + len(init)] == init
    rest = [m.split(" ")[0] for m in found[1 + len(init) :]]
    assert rest == ["START", "handled\n", "END", "REPORT"]


def test_log_group_stays_when_its_log_rotates(tmp_path: Path) -> None:
    server = start_server(tmp_path / "data", {"LAMBOX_LOG_RETENTION_BYTES": "100000"})
    try:
        lam = aws_client(server, "lambda")
        name = create(lam, "def handler(event, context):\n    print('x' * 200_000)\n")
        lam.invoke(FunctionName=name, Payload=b"{}")  # one record past the retention size
        logs = aws_client(server, "logs")
        group = f"/aws/lambda/{name}"
        groups = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
        assert [g["logGroupName"] for g in groups] == [group]
        events = logs.filter_log_events(logGroupName=group, filterPattern="REPORT")["events"]
        assert len(events) == 1
    finally:
        stop_server(server)
