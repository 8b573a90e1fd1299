"""S3 on lambox's endpoint: small-object PUT/GET latency beside the HTTP echo floor, a large
object streamed in and out beside a raw disk write/read floor (with the server's RSS growth),
and notification latency (PUT answered -> handler started)."""

from __future__ import annotations

import io
import os
import socket
import threading
import time
import urllib.request
import uuid
import zipfile
from pathlib import Path
from typing import Any

from common import HOST, Counts, ServerProc, create_function, lambda_client, summarize
from httpclient import Connection

SMALL = os.urandom(1024)
CHUNK = 1 << 20


def _request(method: str, host: str, port: int, path: str, body: bytes = b"") -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n\r\n"
    return head.encode("latin-1") + body


def _timed(conn: Connection, raw: bytes, n: int) -> list[int]:
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        status, _ = conn.request(raw)
        samples.append(time.perf_counter_ns() - t0)
        if status >= 300:
            raise RuntimeError(f"answered {status}")
    return samples


def small_objects(lambox: ServerProc, echo: ServerProc, n: int) -> dict[str, Any]:
    """1 KiB PUT and GET of one key, sequential on one connection, beside the echo floor
    answering the same requests."""
    host = "bench.s3.localhost"
    with Connection(HOST, lambox.port) as conn:
        conn.request(_request("PUT", host, lambox.port, "/"))
        put = _request("PUT", host, lambox.port, "/small", SMALL)
        get = _request("GET", host, lambox.port, "/small")
        _timed(conn, put, n // 10)
        puts = _timed(conn, put, n)
        gets = _timed(conn, get, n)
    with Connection(HOST, echo.port) as conn:
        floor = _timed(conn, _request("PUT", HOST, echo.port, "/small", SMALL), n)
    p, g, f = summarize(puts), summarize(gets), summarize(floor)
    return {
        "put": {**p, "per_s": 1000 / p["mean_ms"]},
        "get": {**g, "per_s": 1000 / g["mean_ms"]},
        "echo_floor": f,
        "put_over_floor_p50_ms": p["p50_ms"] - f["p50_ms"],
        "get_over_floor_p50_ms": g["p50_ms"] - f["p50_ms"],
    }


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class _RssWatch:
    """The peak RSS of a process while a transfer runs, sampled every 10 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.base = _rss_kib(pid)
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, _rss_kib(self.pid))

    def __enter__(self) -> _RssWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _disk_floor(tmp: Path, size: int) -> tuple[float, float]:
    """Seconds to write ``size`` bytes (into the page cache, as lambox writes bodies), then
    to read them back."""
    path = tmp / "disk-floor.bin"
    block = os.urandom(CHUNK)
    t0 = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(size // CHUNK):
            f.write(block)
    write_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with open(path, "rb") as f:
        while f.read(CHUNK):
            pass
    read_s = time.perf_counter() - t0
    path.unlink()
    return write_s, read_s


def large_object(lambox: ServerProc, tmp: Path, size: int) -> dict[str, Any]:
    """One object of ``size`` bytes streamed in and out; the server's RSS growth."""
    host = "bench.s3.localhost"
    block = os.urandom(CHUNK)
    pid = lambox.proc.pid
    with Connection(HOST, lambox.port) as conn:
        conn.request(_request("PUT", host, lambox.port, "/"))
    with _RssWatch(pid) as put_rss, socket.create_connection((HOST, lambox.port)) as s:
        t0 = time.perf_counter()
        head = (
            f"PUT /large HTTP/1.1\r\nHost: {host}:{lambox.port}\r\nContent-Length: {size}\r\n\r\n"
        )
        s.sendall(head.encode())
        for _ in range(size // CHUNK):
            s.sendall(block)
        answer = s.recv(65536)
        put_s = time.perf_counter() - t0
    if not answer.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"large PUT answered {answer[:100]!r}")
    with _RssWatch(pid) as get_rss, socket.create_connection((HOST, lambox.port)) as s:
        t0 = time.perf_counter()
        s.sendall(_request("GET", host, lambox.port, "/large"))
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += s.recv(65536)
        received = len(reply.split(b"\r\n\r\n", 1)[1])
        while received < size:
            chunk = s.recv(CHUNK)
            if not chunk:
                break
            received += len(chunk)
        get_s = time.perf_counter() - t0
    write_s, read_s = _disk_floor(tmp, size)
    mib = size / CHUNK
    return {
        "size_mib": mib,
        "put_mib_s": mib / put_s,
        "get_mib_s": mib / get_s,
        "disk_write_mib_s": mib / write_s,
        "disk_read_mib_s": mib / read_s,
        "put_rss_growth_mib": (put_rss.peak - put_rss.base) / 1024,
        "get_rss_growth_mib": (get_rss.peak - get_rss.base) / 1024,
        "received_all": received >= size,
    }


STAMP = """import time
def handler(event, context):
    print("STARTED", time.time(), event["Records"][0]["s3"]["object"]["key"])
"""


def notification_latency(lambox: ServerProc, n: int) -> dict[str, Any]:
    """PUT answered -> the triggered handler's first line, over ``n`` spaced uploads."""
    client = lambda_client(lambox.url)
    fn = f"bench-s3-{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", STAMP)
    create_function(client, fn, buf.getvalue())
    arn = client.get_function(FunctionName=fn)["Configuration"]["FunctionArn"]
    bucket = f"notify-{uuid.uuid4().hex[:8]}"
    host = f"{bucket}.s3.localhost"
    config = (
        "<NotificationConfiguration><CloudFunctionConfiguration><Id>b</Id>"
        f"<CloudFunction>{arn}</CloudFunction><Event>s3:ObjectCreated:*</Event>"
        "</CloudFunctionConfiguration></NotificationConfiguration>"
    ).encode()
    answered: dict[str, float] = {}
    with Connection(HOST, lambox.port) as conn:
        conn.request(_request("PUT", host, lambox.port, "/"))
        status, body = conn.request(_request("PUT", host, lambox.port, "/?notification", config))
        if status != 200:
            raise RuntimeError(f"notification configuration refused: {body[:200]!r}")
        for i in range(n):
            key = f"k{i}"
            conn.request(_request("PUT", host, lambox.port, f"/{key}", b"x"))
            answered[key] = time.time()
            time.sleep(0.05)
    started: dict[str, float] = {}
    deadline = time.monotonic() + 60
    while len(started) < n and time.monotonic() < deadline:
        with urllib.request.urlopen(f"{lambox.url}/lambox/v1/logs/{fn}") as response:
            for line in response.read().decode().splitlines():
                if "STARTED" in line:
                    ts, key = line.split("STARTED", 1)[1].split()[:2]
                    started[key] = float(ts)
        time.sleep(0.2)
    samples = [int((started[k] - answered[k]) * 1e9) for k in answered if k in started]
    if not samples:
        raise RuntimeError("no notification arrived")
    return {**summarize(samples), "delivered": len(samples), "sent": n}


def measure_s3(
    lambox: ServerProc, echo: ServerProc, c: Counts, tmp: Path, quick: bool
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    out["small_objects"] = small_objects(lambox, echo, max(c.warm // 5, 100))
    out["large_object"] = large_object(lambox, tmp, (64 if quick else 1024) * CHUNK)
    out["notification_latency"] = notification_latency(lambox, 10 if quick else 50)
    return out
