"""No accepted event is lost when the server is killed (kill -9) while the queue drains.

10,000 Event invocations are accepted (202) by concurrent raw HTTP clients, the server is
killed while its worker is running them, and a new server on the same data directory runs
the rest. The function appends each event's id to a file, so the test sees every delivery:
every accepted id must appear at least once. Duplicates are allowed (delivery is at least
once) but only for events that were in flight at the kill, so there are at most as many as
the worker runs at once.
"""

from __future__ import annotations

import http.client
import json
import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
from botocore.config import Config

from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server

EVENTS = 10_000
CLIENTS = 8
CONCURRENCY = 2
RECORDER = """
import os, time

def handler(event, context):
    path = os.path.join(os.environ["OUT_DIR"], "%d.log" % os.getpid())
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, b"%d\\n" % event["id"])
    finally:
        os.close(fd)
    time.sleep(0.001)
"""
# The function records deliveries in a file of the test's temporary directory, which an
# isolated sandbox cannot see; the queue under test is the same on every sandbox backend.
ENV = {
    "LAMBOX_ASYNC_CONCURRENCY": str(CONCURRENCY),
    "LAMBOX_ASYNC_RETRY_DELAY": "0.5",
    "LAMBOX_SANDBOX": "process",
}


def delivered(out: Path) -> list[int]:
    ids: list[int] = []
    for path in out.glob("*.log"):
        ids.extend(int(line) for line in path.read_text().split())
    return ids


def post_events(url: str, name: str, ids: range) -> list[int]:
    """Post one Event invocation per id on one keep-alive connection; the ids answered 202."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    path = f"/2015-03-31/functions/{name}/invocations"
    headers = {"X-Amz-Invocation-Type": "Event", "Content-Type": "application/json"}
    accepted = []
    try:
        for i in ids:
            conn.request("POST", path, json.dumps({"id": i}).encode(), headers)
            response = conn.getresponse()
            response.read()
            if response.status == 202:
                accepted.append(i)
    finally:
        conn.close()
    return accepted


def queue_state(server: LamboxServer, name: str) -> dict[str, int]:
    body = httpx.get(f"{server.url}/lambox/v1/events/{name}", params={"limit": 0}).json()
    return {k: body[k] for k in ("Pending", "InFlight", "Failed")}


def test_no_accepted_event_is_lost_across_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "data"
    out = tmp_path / "out"
    out.mkdir()
    server = start_server(data, ENV)
    try:
        client = boto3.client(
            "lambda",
            endpoint_url=server.url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"max_attempts": 0}),
        )
        name = "recorder"
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": make_zip({"app.py": RECORDER})},
            Environment={"Variables": {"OUT_DIR": str(out)}},
        )
        client.get_waiter("function_active_v2").wait(
            FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100}
        )
        started = time.monotonic()
        chunks = [range(k, EVENTS, CLIENTS) for k in range(CLIENTS)]
        with ThreadPoolExecutor(CLIENTS) as pool:
            accepted = sorted(
                i
                for ids in pool.map(lambda r: post_events(server.url, name, r), chunks)
                for i in ids
            )
        accept_s = time.monotonic() - started
        assert accepted == list(range(EVENTS)), f"{EVENTS - len(accepted)} events not accepted"
        before_kill = len(delivered(out))
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        print(
            f"\naccepted {EVENTS} events in {accept_s:.1f} s; {before_kill} deliveries seen"
            " before kill -9"
        )
    finally:
        if server.proc.poll() is None:
            stop_server(server)

    server = start_server(data, ENV)
    try:
        deadline = time.monotonic() + 90
        state = queue_state(server, name)
        while state["Pending"] + state["InFlight"] and time.monotonic() < deadline:
            time.sleep(0.2)
            state = queue_state(server, name)
        assert state == {"Pending": 0, "InFlight": 0, "Failed": 0}, state
    finally:
        stop_server(server)

    seen = Counter(delivered(out))
    missing = sorted(set(range(EVENTS)) - set(seen))
    duplicates = sorted(i for i, n in seen.items() if n > 1)
    print(
        f"deliveries {sum(seen.values())}, distinct {len(seen)}, missing {len(missing)},"
        f" duplicated {len(duplicates)}: {duplicates}"
    )
    assert not missing, f"lost events: {missing[:20]}"
    # Only events claimed at the kill can run twice: at most the worker's concurrency.
    assert len(duplicates) <= CONCURRENCY, duplicates
