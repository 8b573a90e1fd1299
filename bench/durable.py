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

@durable_execution
def bare(event, context: DurableContext):
    return "done"

def plain(event, context):
    return "done"
"""


DURABLE_POLICY = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicDurableExecutionRolePolicy"
TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ],
    }
)


def _role(url: str) -> str:
    """A durable function's execution role, as SAM gives one: AWS's durable execution
    policy (checkpoints and state), which policies on loopback require too."""
    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    try:
        arn = str(iam.get_role(RoleName="bench-durable")["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        arn = str(
            iam.create_role(RoleName="bench-durable", AssumeRolePolicyDocument=TRUST)["Role"]["Arn"]
        )
    iam.attach_role_policy(RoleName="bench-durable", PolicyArn=DURABLE_POLICY)
    return arn


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
    bare = f"{name}-bare"
    for fn, handler, extra in (
        (name, "app.handler", {"DurableConfig": {"ExecutionTimeout": 3600}}),
        (plain, "app.plain", {}),
        (bare, "app.bare", {"DurableConfig": {"ExecutionTimeout": 3600}}),
    ):
        client.create_function(
            FunctionName=fn, Runtime="python3.11", Handler=handler,
            Role=_role(lambox.url), Code={"ZipFile": _zip()},
            Timeout=30, **extra,
        )  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName=fn)
    floor = []
    client.invoke(FunctionName=plain, Payload=b"{}")
    for _ in range(50):
        t0 = time.perf_counter_ns()
        client.invoke(FunctionName=plain, Payload=b"{}")
        floor.append(time.perf_counter_ns() - t0)
    # A synchronous execution with no operation, warm: one SDK invocation end to end (the
    # SDK stops its checkpoint thread at the end of every invocation, polling every 0.1 s).
    sdk_floor = []
    client.invoke(FunctionName=bare, Payload=b"{}")
    for _ in range(20):
        t0 = time.perf_counter_ns()
        client.invoke(FunctionName=bare, Payload=b"{}")
        sdk_floor.append(time.perf_counter_ns() - t0)
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
        "floor_durable_invoke": summarize(sdk_floor),
    }


def waiting(lambox: ServerProc, data_dir: Path, executions: int) -> dict[str, Any]:
    """``executions`` executions waiting an hour at once: what the server holds for them
    (its resident memory and the durable store's size; sandboxes are the warm pool's)."""
    from common import lambda_client

    client = lambda_client(lambox.url)
    name = f"bench-waiting-{uuid.uuid4().hex[:8]}"
    client.create_function(
        FunctionName=name, Runtime="python3.11", Handler="app.handler",
        Role=_role(lambox.url), Code={"ZipFile": _zip()},
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


def _descendants(pid: int) -> list[str]:
    """The command names of every process under ``pid`` (zygotes, sandboxes, inits; a
    sandbox forked from a zygote has its zygote's name, so they are counted, not named)."""
    children: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        name = stat[stat.index("(") + 1 : stat.rindex(")")]
        ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(ppid, []).append(int(proc.name))
        names[int(proc.name)] = name
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        found.append(names.get(child, "?"))
        todo.extend(children.get(child, []))
    return found


def _clone_parked(db: Path, model: dict[str, Any], executions: int, now: float) -> float:
    """``executions`` executions of ``model``'s function written through the store, each
    as its first invocation leaves it: the step checkpointed, the wait started (an hour),
    the invocation settled PENDING. The same transactions the checkpoint API commits, with
    no sandbox; seconds it took."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from lambox.services.durable.store import DurableStore

    store = DurableStore(db)
    started = time.monotonic()
    for i in range(executions):
        execution, _ = store.create(
            name=f"parked-{i}", function_name=model["function_name"],
            function_arn=model["function_arn"], qualifier=None, version="$LATEST",
            payload='{"wait": 3600}', timeout=7200, retention=1, now=now,
        )  # fmt: skip
        store.advance(execution.arn, execution.wake or now, now)
        begun = store.begin(execution.arn, now)
        assert begun is not None
        updates = [{**update} for update in model["updates"]]
        store.checkpoint(execution.arn, begun.token, updates, now)
        store.settle(
            execution.arn, begun.execution.invocation, begun.execution.external, "PENDING",
            None, None, now,
        )  # fmt: skip
    return time.monotonic() - started


def parked(tmp: Path, executions: int, resumes: int) -> dict[str, Any]:
    """``executions`` executions waiting an hour in a server of their own, written through
    the store while it was stopped (an execution's first invocation is a sandbox's work,
    measured by ``resume``; this measures what waiting costs): the sandboxes and memory the
    server holds for them once started on them, its store's size, and the resume latency
    of ``resumes`` executions whose waits end meanwhile, beside a warm Invoke."""
    from common import free_port, lambda_client, lambox_argv, start_server, stop_server

    data = tmp / "parked-data"
    port = free_port()
    argv = lambox_argv(port, data)
    server = start_server("parked", argv, port, "/lambox/v1/health", tmp, {})
    try:
        time.sleep(2)
        rss_empty = _rss_kib(server.proc.pid)
        # Before any function ran: the sandbox watcher and the runtimes' base zygote. A
        # sandbox would add processes (its function's zygote, itself, its init).
        processes_empty = len(_descendants(server.proc.pid))
        client = lambda_client(server.url)
        name = f"bench-parked-{uuid.uuid4().hex[:8]}"
        client.create_function(
            FunctionName=name, Runtime="python3.11", Handler="app.handler",
            Role=_role(server.url), Code={"ZipFile": _zip()},
            Timeout=30, DurableConfig={"ExecutionTimeout": 7200},
        )  # fmt: skip
        client.get_waiter("function_active_v2").wait(FunctionName=name)
        arn = client.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"wait": 3600}')[
            "DurableExecutionArn"
        ]
        deadline = time.monotonic() + 120
        while _parked(data / "durable.db", name) < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("the model execution did not reach its wait")
            time.sleep(0.2)
        # The SDK's own operations (ids, names, types) of one real first invocation.
        events = client.get_durable_execution_history(DurableExecutionArn=arn)["Events"]
        function_arn = client.get_function_configuration(FunctionName=name)["FunctionArn"]
    finally:
        stop_server(server)
    updates = []
    for e in events:
        kind = {"StepSucceeded": "STEP", "WaitStarted": "WAIT"}.get(e["EventType"])
        if kind is None:
            continue
        update: dict[str, Any] = {"Id": e["Id"], "Type": kind}
        update.update({k: e[k] for k in ("Name", "ParentId", "SubType") if e.get(k)})
        if kind == "STEP":
            result = e["StepSucceededDetails"]["Result"]["Payload"]
            update.update(Action="SUCCEED", Payload=result)
        else:
            update.update(Action="START", WaitOptions={"WaitSeconds": 3600})
        updates.append(update)
    model = {"function_name": name, "function_arn": function_arn, "updates": updates}
    cloned_s = _clone_parked(data / "durable.db", model, executions, time.time())

    server = start_server("parked", argv, port, "/lambox/v1/health", tmp, {})
    try:
        time.sleep(2)
        waiting_now = _parked(data / "durable.db", name)
        processes = len(_descendants(server.proc.pid))
        rss_parked = _rss_kib(server.proc.pid)
        db_mib = sum(p.stat().st_size for p in data.glob("durable.db*") if p.exists()) / 2**20
        late = resume(server, resumes, 5)
        still = _parked(data / "durable.db", name)
    finally:
        stop_server(server)
    return {
        "executions": executions,
        "waiting_after_restart": waiting_now,
        "still_waiting_after_resumes": still,
        "written_per_s": executions / cloned_s,
        "sandboxes": processes - processes_empty,
        "processes_under_server": processes,
        "processes_under_empty_server": processes_empty,
        "server_rss_empty_mib": rss_empty / 1024,
        "server_rss_parked_mib": rss_parked / 1024,
        "durable_db_mib": db_mib,
        "resume": late,
    }


def measure_durable(lambox: ServerProc, tmp: Path, quick: bool) -> dict[str, Any]:
    return {
        "checkpoints": checkpoints(tmp, 300 if quick else 3000),
        "resume": resume(lambox, 5 if quick else 50, 2),
        "waiting": waiting(lambox, tmp / "data", 50 if quick else 500),
        "parked": parked(tmp, 10_000, 10 if quick else 20),
    }
