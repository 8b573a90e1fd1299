"""Asynchronous invocation: how many Event invokes lambox accepts per second (each one
durable before its 202), and how fast the worker drains them, beside floors from this run.

Floors:

* HTTP: the echo server (lambox's server stack with nothing behind it) under the same
  clients sending the same request: the most any HTTP endpoint could answer here.
* SQLite: raw inserts of event rows into a database with the queue's own schema and
  durability settings (WAL, ``synchronous=NORMAL``), one commit per row and one commit per
  batch (lambox's group commit batches whatever arrived during the previous commit).
* queue: ``SqliteEventQueue.put`` called by concurrent tasks in this process: the queue with
  its writer thread and group commit, without HTTP.

Called from ``run.py``; prints nothing itself.
"""

from __future__ import annotations

import asyncio
import gc
import io
import json
import multiprocessing as mp
import sqlite3
import tempfile
import time
import traceback
import urllib.request
import zipfile
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from httpclient import Connection
from lambox.store.events import INSERT, SCHEMA, NewEvent, SqliteEventQueue

HOST = "127.0.0.1"
TARGET_ACCEPTED_PER_S = 3000.0
SQLITE_ROWS = 20_000
SQLITE_BATCH = 64
QUEUE_PUTS = 20_000
QUEUE_TASKS = 64
DRAIN_TIMEOUT_S = 120.0
EVENT_CODE = "def handler(event, context):\n    return None\n"


def event_request(port: int, path: str, body: bytes) -> bytes:
    """An Invoke request with ``X-Amz-Invocation-Type: Event``, as raw bytes."""
    head = (
        f"POST {path} HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Content-Type: application/json\r\n"
        "X-Amz-Invocation-Type: Event\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def _sender(
    port: int, raw: bytes, ok: tuple[int, ...], seconds: float, barrier: Barrier, results: Any
) -> None:
    """One client: a keep-alive connection sending ``raw`` back to back for ``seconds``."""
    try:
        conn = Connection(HOST, port)
        barrier.wait()
        end = time.monotonic() + seconds
        good = bad = 0
        gc.disable()
        while time.monotonic() < end:
            status, _ = conn.request(raw)
            if status in ok:
                good += 1
            else:
                bad += 1
        conn.close()
        results.put((good, bad, time.monotonic(), None))
    except Exception:
        barrier.abort()
        results.put((0, 0, 0.0, traceback.format_exc()))


def load(
    port: int, raw: bytes, ok: tuple[int, ...], clients: int, seconds: float
) -> dict[str, Any]:
    """``clients`` processes sending for ``seconds``: answers per second, and the errors."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_sender, args=(port, raw, ok, seconds, barrier, results))
        for _ in range(clients)
    ]
    for p in procs:
        p.start()
    try:
        barrier.wait(timeout=60)
        start = time.monotonic()
        collected = [results.get(timeout=seconds + 60) for _ in procs]
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
    failures = [tb for *_, tb in collected if tb]
    if failures:
        raise RuntimeError("load client failed:\n" + failures[0])
    good = sum(g for g, *_ in collected)
    bad = sum(b for _, b, *_ in collected)
    elapsed = max(t for _, _, t, _ in collected) - start
    return {"clients": clients, "seconds": round(elapsed, 3), "ok": good, "errors": bad,
            "per_s": good / elapsed}  # fmt: skip


def _queue_state(url: str, fn: str) -> dict[str, int]:
    with urllib.request.urlopen(f"{url}/lambox/v1/events/{fn}?limit=0", timeout=10) as r:
        body = json.loads(r.read())
    return {k: int(body[k]) for k in ("Pending", "InFlight", "Failed")}


def accept_and_drain(
    url: str, port: int, echo_port: int, fn: str, clients: int, seconds: float
) -> dict[str, Any]:
    """Event invokes of a trivial handler from ``clients`` processes for ``seconds`` (the
    worker drains meanwhile), then the time until the queue is empty."""
    path = f"/2015-03-31/functions/{fn}/invocations"
    body = b'{"k": "v"}'
    floor = load(echo_port, event_request(echo_port, path, body), (200,), clients, seconds)
    started = time.monotonic()
    accepted = load(port, event_request(port, path, body), (202,), clients, seconds)
    state = _queue_state(url, fn)
    left_at_end = state["Pending"] + state["InFlight"]
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while state["Pending"] + state["InFlight"] and time.monotonic() < deadline:
        time.sleep(0.05)
        state = _queue_state(url, fn)
    drained_s = time.monotonic() - started
    if state["Pending"] + state["InFlight"]:
        raise RuntimeError(f"queue not drained after {DRAIN_TIMEOUT_S:.0f} s: {state}")
    return {
        "accepted": accepted,
        "floor_http_echo": floor,
        "accepted_ratio_to_http_floor": accepted["per_s"] / floor["per_s"],
        "queued_when_accepting_stopped": left_at_end,
        "drained_per_s": accepted["ok"] / drained_s,
        "drain_s": drained_s,
        "failed_events": state["Failed"],
    }


def sqlite_floor(rows: int, batch: int) -> dict[str, Any]:
    """Raw inserts of event rows with the queue's schema and durability settings."""
    out: dict[str, Any] = {"rows": rows, "batch": batch}
    with tempfile.TemporaryDirectory(prefix="lambox-sqlite-floor-") as tmp:
        for label, size in (("per_row_commit", 1), ("batched_commit", batch)):
            db = sqlite3.connect(Path(tmp) / f"{label}.db", isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(SCHEMA)
            now = time.time()
            row = ("00000000-0000-4000-8000-000000000000", "fn", None, b'{"k": "v"}', None)
            t0 = time.perf_counter()
            for start in range(0, rows, size):
                db.execute("BEGIN IMMEDIATE")
                # The queue's own INSERT: the row, its times, no trace header, no tenant.
                db.executemany(INSERT, [(*row, now, now, None, None)] * min(size, rows - start))
                db.execute("COMMIT")
            out[f"{label}_per_s"] = rows / (time.perf_counter() - t0)
            db.close()
    return out


def queue_floor(puts: int, tasks: int) -> dict[str, Any]:
    """``SqliteEventQueue.put`` from ``tasks`` concurrent tasks: group commit, no HTTP."""

    async def main(queue: SqliteEventQueue) -> float:
        per_task = puts // tasks
        event = NewEvent("00000000-0000-4000-8000-000000000000", "fn", None, b'{"k": "v"}')

        async def putter() -> None:
            for _ in range(per_task):
                await queue.put((event,))

        t0 = time.perf_counter()
        await asyncio.gather(*(putter() for _ in range(tasks)))
        return per_task * tasks / (time.perf_counter() - t0)

    with tempfile.TemporaryDirectory(prefix="lambox-queue-floor-") as tmp:
        queue = SqliteEventQueue(Path(tmp) / "events.db")
        try:
            rate = asyncio.run(main(queue))
        finally:
            queue.close()
    return {"puts": puts, "tasks": tasks, "per_s": rate}


def event_zip() -> bytes:
    """The deployment package of the trivial handler the events are drained into."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", EVENT_CODE)
    return buf.getvalue()


def measure_all(
    url: str, port: int, echo_port: int, fn: str, clients: int, seconds: float
) -> dict[str, Any]:
    """Every figure of this section: the floors first, then lambox."""
    return {
        "floor_sqlite": sqlite_floor(SQLITE_ROWS, SQLITE_BATCH),
        "floor_queue": queue_floor(QUEUE_PUTS, QUEUE_TASKS),
        **accept_and_drain(url, port, echo_port, fn, clients, seconds),
    }
