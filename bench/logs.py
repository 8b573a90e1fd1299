"""CloudWatch Logs: FilterLogEvents over one function's log of a million lines, beside the
floor of the same search done the cheapest way (the log's bytes read from disk and every
hit found with ``bytes.find``, in this process).

The log is written before the server starts, by ``LogSink`` itself (the records a server
writes: a header per invocation, START, eight lines, END), so the measurement does not
wait for a million printed lines. The server gets a retention large enough to keep it all.

Called from ``run.py``; prints nothing itself.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from common import HOST, ServerProc, free_port, lambox_argv, start_server, stop_server, summarize
from httpclient import Connection
from lambox.logs import LogSink, stream_name

FUNCTION = "bench-logs"
RECORDS = 100_000  # ten lines each: a million lines
NEEDLE_EVERY = 5_000
QUICK_RECORDS = 10_000


def write_log(data: Path, records: int) -> int:
    """The function's log as the server writes it; the number of lines in it."""
    sink = LogSink(data / "logs", 1 << 40)
    streams = [stream_name("$LATEST") for _ in range(8)]
    lines = 0
    for i in range(records):
        body = [b"INFO request %d step %d ok user=u%d\n" % (i, j, i % 1000) for j in range(8)]
        if i % NEEDLE_EVERY == 0:
            body.append(json.dumps({"level": "ERROR", "request": i}).encode() + b"\n")
        text = b"START RequestId: r%d Version: $LATEST\n%bEND RequestId: r%d\n" % (
            i,
            b"".join(body),
            i,
        )
        sink.append(FUNCTION, text, streams[i % len(streams)])
        lines += len(body) + 2
    sink.close()
    return lines


def filter_request(port: int, pattern: str, limit: int) -> bytes:
    body = json.dumps(
        {"logGroupName": f"/aws/lambda/{FUNCTION}", "filterPattern": pattern, "limit": limit}
    ).encode()
    head = (
        "POST / HTTP/1.1\r\n"
        f"Host: {HOST}:{port}\r\n"
        "Content-Type: application/x-amz-json-1.1\r\n"
        "X-Amz-Target: Logs_20140328.FilterLogEvents\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


def floor(data: Path, needle: bytes, repeat: int) -> dict[str, float]:
    """Read the log and find every hit of ``needle``: what no search can beat."""
    path = data / "logs" / f"{FUNCTION}.log"
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter_ns()
        raw = path.read_bytes()
        at = raw.find(needle)
        while at >= 0:
            at = raw.find(needle, at + 1)
        samples.append(time.perf_counter_ns() - t0)
    return summarize(samples)


def measure_logs(tmp: Path, quick: bool) -> dict[str, Any]:
    data = tmp / "logs-bench"
    records = QUICK_RECORDS if quick else RECORDS
    lines = write_log(data, records)
    repeat = 5 if quick else 20
    port = free_port()
    server: ServerProc = start_server(
        "lambox-logs",
        lambox_argv(port, data),
        port,
        "/lambox/v1/health",
        tmp,
        {"LAMBOX_LOG_RETENTION_BYTES": str(1 << 30)},
    )
    out: dict[str, Any] = {
        "lines": lines,
        "log_mib": (data / "logs" / f"{FUNCTION}.log").stat().st_size / (1 << 20),
        "floor_find": floor(data, b'"ERROR"', repeat),
        "patterns": {},
    }
    try:
        patterns = (
            ("term, selective", '"ERROR"', 10_000),
            ("JSON selector, selective", '{ $.level = "ERROR" }', 10_000),
            ("JSON selector, number (hint: {)", "{ $.request >= 0 }", 10_000),
            ("every line, first page of 100", "", 100),
        )
        with Connection(HOST, port, timeout=300) as conn:
            for label, pattern, limit in patterns:
                raw = filter_request(port, pattern, limit)
                status, body = conn.request(raw)
                if status != 200:
                    raise RuntimeError(f"FilterLogEvents {pattern!r}: {status} {body[:200]!r}")
                hits = len(json.loads(body)["events"])
                samples = []
                for _ in range(repeat):
                    t0 = time.perf_counter_ns()
                    conn.request(raw)
                    samples.append(time.perf_counter_ns() - t0)
                out["patterns"][label] = {"pattern": pattern, "hits": hits, **summarize(samples)}
    finally:
        stop_server(server)
    return out
