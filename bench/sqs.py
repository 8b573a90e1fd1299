"""SQS on lambox's endpoint: SendMessage per second from concurrent clients beside the HTTP
echo floor and the queue store's own commit floor measured in the same run, messages
received and deleted per second in batches of 10, and the server's CPU while 1,000
receivers long-poll an empty queue.

Called from ``run.py``; prints nothing itself.
"""

from __future__ import annotations

import asyncio
import gc
import json
import multiprocessing as mp
import os
import tempfile
import time
import traceback
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from async_events import load
from common import HOST, Counts, ServerProc
from httpclient import Connection
from lambox.services.sqs.store import NewMessage, QueueStore

TARGET_SENDS_PER_S = 5000.0
TARGET_RECEIVED_PER_S = 5000.0
STORE_SENDS = 20_000
IDLE_POLLERS = 1000
IDLE_SECONDS = 10.0


def sqs_request(port: int, operation: str, document: dict[str, Any]) -> bytes:
    """A json-protocol SQS request, as raw bytes (unsigned: the edge routes it by target)."""
    body = json.dumps(document).encode()
    head = (
        f"POST / HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
        "Content-Type: application/x-amz-json-1.0\r\n"
        f"X-Amz-Target: AmazonSQS.{operation}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def _call(conn: Connection, port: int, operation: str, document: dict[str, Any]) -> Any:
    status, body = conn.request(sqs_request(port, operation, document))
    if status != 200:
        raise RuntimeError(f"{operation} answered {status}: {body[:200]!r}")
    return json.loads(body)


def store_floor(n: int) -> dict[str, Any]:
    """``QueueStore.send`` one message per commit, no HTTP: the store's commit floor."""
    with tempfile.TemporaryDirectory(prefix="lambox-sqs-floor-") as tmp:
        store = QueueStore(Path(tmp))
        message = NewMessage("x" * 100, {}, {}, 0, "bench")
        t0 = time.perf_counter()
        for _ in range(n):
            store.send("q", [message], int(time.time() * 1000))
        rate = n / (time.perf_counter() - t0)
        store.close()
    return {"sends": n, "per_s": rate}


def _receiver(port: int, url: str, seconds: float, barrier: Barrier, results: Any) -> None:
    """One client: ReceiveMessage (10) then DeleteMessageBatch, back to back."""
    try:
        conn = Connection(HOST, port)
        barrier.wait()
        end = time.monotonic() + seconds
        done = 0
        gc.disable()
        while time.monotonic() < end:
            got = _call(conn, port, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10})
            messages = got.get("Messages", [])
            if not messages:
                break
            entries = [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)
            ]
            _call(conn, port, "DeleteMessageBatch", {"QueueUrl": url, "Entries": entries})
            done += len(messages)
        conn.close()
        results.put((done, time.monotonic(), None))
    except Exception:
        barrier.abort()
        results.put((0, 0.0, traceback.format_exc()))


def receive_and_delete(
    lambox: ServerProc, url: str, clients: int, seconds: float
) -> dict[str, Any]:
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_receiver, args=(lambox.port, url, seconds, barrier, results))
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
        raise RuntimeError("receiver failed:\n" + failures[0])
    done = sum(d for d, *_ in collected)
    elapsed = max(t for _, t, _ in collected) - start
    return {"clients": clients, "messages": done, "seconds": elapsed, "per_s": done / elapsed}


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _idle_pollers(port: int, url: str, n: int, pid: int, seconds: float) -> dict[str, Any]:
    raw = sqs_request(port, "ReceiveMessage", {"QueueUrl": url, "WaitTimeSeconds": 20})
    streams = []
    for _ in range(n):
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(raw)
        streams.append((reader, writer))
    await asyncio.sleep(1.0)  # every poll parsed and waiting
    before = _cpu_seconds(pid)
    await asyncio.sleep(seconds)
    used = _cpu_seconds(pid) - before
    for _, writer in streams:
        writer.close()
    return {"pollers": n, "seconds": seconds, "server_cpu_s": used, "cpu_share": used / seconds}


def measure_sqs(lambox: ServerProc, echo: ServerProc, c: Counts) -> dict[str, Any]:
    with Connection(HOST, lambox.port) as conn:
        url = _call(conn, lambox.port, "CreateQueue", {"QueueName": "bench-sends"})["QueueUrl"]
        idle = _call(conn, lambox.port, "CreateQueue", {"QueueName": "bench-idle"})["QueueUrl"]
    send = sqs_request(lambox.port, "SendMessage", {"QueueUrl": url, "MessageBody": "x" * 100})
    floor = load(echo.port, send, (200,), c.clients, c.load_seconds)
    sends = load(lambox.port, send, (200,), c.clients, c.load_seconds)
    received = receive_and_delete(lambox, url, c.clients, c.load_seconds)
    idle_cpu = asyncio.run(
        _idle_pollers(lambox.port, idle, IDLE_POLLERS, lambox.proc.pid, IDLE_SECONDS)
    )
    return {
        "send_message": sends,
        "floor_http_echo": floor,
        "floor_store_commit": store_floor(STORE_SENDS),
        "send_ratio_to_http_floor": sends["per_s"] / floor["per_s"],
        "received_and_deleted_in_batches_of_10": received,
        "idle_long_pollers": idle_cpu,
        "targets": {
            "sends_per_s": {"value": sends["per_s"], "target": TARGET_SENDS_PER_S},
            "received_per_s": {"value": received["per_s"], "target": TARGET_RECEIVED_PER_S},
        },
    }
