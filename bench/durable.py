"""Durable functions: checkpoints/s of the store beside a bare SQLite commit (in process,
the same pragmas, one transaction each), and the resume latency after a wait ends (from the
wait's scheduled end to the execution's end, through the real server and a warm sandbox)
beside a warm synchronous Invoke of a plain function in the same run; and how many
executions wait at once with what the server holds for them."""

from __future__ import annotations

import io
import json
import sqlite3
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from common import ServerProc, summarize

WAITER = """
from aws_durable_execution_sdk_python import DurableContext, durable_execution
from aws_durable_execution_sdk_python.config import Duration

@durable_execution
def handler(event, context: DurableContext):
    context.step(lambda _: 1, name="before")
    context.wait(Duration.from_seconds(event["wait"]), name="pause")
    return "done"

def plain(event, context):
    return "done"
"""


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", WAITER)
    return buf.getvalue()


def checkpoints(tmp: Path, count: int) -> dict[str, Any]:
    """Store checkpoints (one STEP SUCCEED each, committed) beside the SQLite floor."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from lambox.services.durable.store import DurableStore
    from lambox.store.sqlite import connect

    store = DurableStore(tmp / "bench-durable.db")
    execution, _ = store.create(
        name="bench", function_name="f", function_arn="arn:aws:lambda:us-east-1:0:function:f",
        qualifier=None, version="$LATEST", payload="{}", timeout=3600, retention=1,
        now=time.time(),
    )  # fmt: skip
    store.advance(execution.arn, execution.wake or 0.0, time.time())
    begun = store.begin(execution.arn, time.time())
    assert begun is not None
    token = begun.token
    lat = []
    start = time.perf_counter()
    for i in range(count):
        update = {"Id": f"op-{i}", "Type": "STEP", "Action": "SUCCEED", "Payload": str(i)}
        t0 = time.perf_counter_ns()
        next_token, _ = store.checkpoint(execution.arn, token, [update], time.time())
        lat.append(time.perf_counter_ns() - t0)
        token = next_token or token
    elapsed = time.perf_counter() - start

    db = connect(tmp / "bench-floor.db")
    db.execute("CREATE TABLE t (id TEXT PRIMARY KEY, doc TEXT)")
    floor = []
    floor_start = time.perf_counter()
    for i in range(count):
        t0 = time.perf_counter_ns()
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?, ?)", (f"op-{i}", str(i)))
        db.execute("COMMIT")
        floor.append(time.perf_counter_ns() - t0)
    floor_elapsed = time.perf_counter() - floor_start
    db.close()
    return {
        "count": count,
        "checkpoints_per_s": count / elapsed,
        "latency": summarize(lat),
        "floor_commits_per_s": count / floor_elapsed,
        "floor_latency": summarize(floor),
    }


def resume(lambox: ServerProc, executions: int, wait_s: int) -> dict[str, Any]:
    """``executions`` executions wait ``wait_s`` seconds together; for each, the time from
    the wait's scheduled end to the execution's end (a timer fire, an invocation that
    replays a step and the wait, the answer recorded)."""
    from common import lambda_client

    client = lambda_client(lambox.url)
    name = f"bench-durable-{uuid.uuid4().hex[:8]}"
    plain = f"{name}-plain"
    for fn, handler, extra in (
        (name, "app.handler", {"DurableConfig": {"ExecutionTimeout": 3600}}),
        (plain, "app.plain", {}),
    ):
        client.create_function(
            FunctionName=fn, Runtime="python3.11", Handler=handler,
            Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": _zip()},
            Timeout=30, **extra,
        )  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName=fn)
    floor = []
    client.invoke(FunctionName=plain, Payload=b"{}")
    for _ in range(50):
        t0 = time.perf_counter_ns()
        client.invoke(FunctionName=plain, Payload=b"{}")
        floor.append(time.perf_counter_ns() - t0)
    started = time.monotonic()
    arns = [
        client.invoke(
            FunctionName=name, InvocationType="Event", Payload=json.dumps({"wait": wait_s})
        )["DurableExecutionArn"]
        for _ in range(executions)
    ]
    accepted_s = time.monotonic() - started
    deadline = time.monotonic() + 300 + wait_s
    late = []
    for arn in arns:
        while True:
            got = client.get_durable_execution(DurableExecutionArn=arn)
            if got["Status"] != "RUNNING":
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"execution still running: {arn}")
            time.sleep(0.1)
        if got["Status"] != "SUCCEEDED":
            raise RuntimeError(f"execution {arn} {got['Status']}: {got.get('Error')}")
        events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
        end = next(e for e in events if e["EventType"] == "WaitStarted")
        scheduled = end["WaitStartedDetails"]["ScheduledEndTimestamp"].timestamp()
        done = next(e for e in events if e["EventType"] == "ExecutionSucceeded")
        late.append(int((done["EventTimestamp"].timestamp() - scheduled) * 1e9))
    return {
        "executions": executions,
        "wait_s": wait_s,
        "started_per_s": executions / accepted_s,
        "resume_latency": summarize(late),
        "floor_warm_invoke": summarize(floor),
    }


def waiting(lambox: ServerProc, data_dir: Path, executions: int) -> dict[str, Any]:
    """``executions`` executions waiting an hour at once: what the server holds for them
    (its resident memory and the durable store's size; sandboxes are the warm pool's)."""
    from common import lambda_client

    client = lambda_client(lambox.url)
    name = f"bench-waiting-{uuid.uuid4().hex[:8]}"
    client.create_function(
        FunctionName=name, Runtime="python3.11", Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": _zip()},
        Timeout=30, DurableConfig={"ExecutionTimeout": 7200},
    )  # fmt: skip
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    rss_before = _rss_kib(lambox.proc.pid)
    started = time.monotonic()
    for _ in range(executions):
        client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"wait": 3600}')
    deadline = time.monotonic() + 600
    db = data_dir / "durable.db"
    while _parked(db, name) < executions:
        if time.monotonic() > deadline:
            raise RuntimeError("executions did not reach their wait")
        time.sleep(0.5)
    all_waiting_s = time.monotonic() - started
    return {
        "executions": executions,
        "all_waiting_after_s": all_waiting_s,
        "server_rss_growth_mib": (_rss_kib(lambox.proc.pid) - rss_before) / 1024,
        "durable_db_mib": sum(p.stat().st_size for p in db.parent.glob("durable.db*") if p.exists())
        / 2**20,
    }


def _parked(db: Path, function: str) -> int:
    """Executions of ``function`` waiting with no invocation in flight (read-only peek)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute(
            "SELECT COUNT(*) FROM executions WHERE function_name=? AND status='RUNNING'"
            " AND invoking=0 AND wake > ?",
            (function, time.time() + 60),
        ).fetchone()
    finally:
        conn.close()
    return int(row[0])


def _rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def measure_durable(lambox: ServerProc, tmp: Path, quick: bool) -> dict[str, Any]:
    return {
        "checkpoints": checkpoints(tmp, 300 if quick else 3000),
        "resume": resume(lambox, 5 if quick else 50, 2),
        "waiting": waiting(lambox, tmp / "data", 50 if quick else 500),
    }
