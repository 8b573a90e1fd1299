"""Scaling measurements: aliased vs unqualified warm latency, time to READY for provisioned
concurrency, and what idle sandboxes hold after traffic stops and after the keep-alive.

Called from ``run.py``; every figure sits beside a comparison taken in the same run.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from common import stop_server
from httpclient import Connection, build_request

HOST = "127.0.0.1"
NS_PER_MS = 1_000_000


def _pct(samples: list[int]) -> dict[str, float]:
    s = sorted(samples)
    return {
        "n": len(s),
        "p50_ms": s[len(s) // 2] / NS_PER_MS,
        "p99_ms": s[min(len(s) - 1, len(s) * 99 // 100)] / NS_PER_MS,
    }


def _timed(conn: Connection, raw: bytes, n: int) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        status, body = conn.request(raw)
        out.append(clock() - t0)
        if status != 200:
            raise RuntimeError(f"invoke failed: HTTP {status}: {body[:200]!r}")
    return out


def alias_latency(client: Any, port: int, fn: str, n: int) -> dict[str, Any]:
    """Warm Invoke through an alias beside the same function unqualified, interleaved."""
    client.publish_version(FunctionName=fn)
    client.create_alias(FunctionName=fn, Name="bench", FunctionVersion="1")
    path = f"/2015-03-31/functions/{fn}/invocations"
    plain = build_request(HOST, port, path, b"{}")
    aliased = build_request(HOST, port, path + "?Qualifier=bench", b"{}")
    a: list[int] = []
    p: list[int] = []
    with Connection(HOST, port) as conn:
        _timed(conn, plain, 200)
        _timed(conn, aliased, 200)
        for _ in range(10):
            p += _timed(conn, plain, n // 10)
            a += _timed(conn, aliased, n // 10)
    sa, sp = _pct(a), _pct(p)
    return {
        "unqualified": sp,
        "alias": sa,
        "alias_minus_unqualified_p50_ms": sa["p50_ms"] - sp["p50_ms"],
    }


def provisioned_ready(client: Any, fn: str, count: int) -> dict[str, Any]:
    """Time from PutProvisionedConcurrencyConfig to Status READY, polled every 10 ms."""
    version = client.publish_version(FunctionName=fn)["Version"]
    t0 = time.perf_counter()
    client.put_provisioned_concurrency_config(
        FunctionName=fn, Qualifier=version, ProvisionedConcurrentExecutions=count
    )
    deadline = t0 + 120
    while time.perf_counter() < deadline:
        got = client.get_provisioned_concurrency_config(FunctionName=fn, Qualifier=version)
        if got["Status"] == "READY":
            elapsed = (time.perf_counter() - t0) * 1000
            client.delete_provisioned_concurrency_config(FunctionName=fn, Qualifier=version)
            return {"requested": count, "ready_ms": elapsed, "per_sandbox_ms": elapsed / count}
        time.sleep(0.01)
    raise RuntimeError("provisioned concurrency did not become READY in 120 s")


def _children(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    out = []
    for pid in parents:
        p = pid
        while p > 1:
            p = parents.get(p, 0)
            if p == root:
                out.append(pid)
                break
    return out


def _uss_kib(pid: int) -> int:
    """Private (unshared) memory of a process: what killing it would give back."""
    total = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(("Private_Clean:", "Private_Dirty:")):
                    total += int(line.split()[1])
    except OSError:
        return 0
    return total


def idle_after_traffic(
    start: Callable[[dict[str, str]], Any], create: Callable[[Any, str], None], keep_alive: float
) -> dict[str, Any]:
    """On a server with a short keep-alive: sandboxes and their memory right after a burst of
    concurrent traffic, and again once the keep-alive has passed (scale to zero)."""
    server = start({"LAMBOX_KEEP_ALIVE": str(keep_alive)})
    try:
        fn = f"bench-idle-{uuid.uuid4().hex[:8]}"
        create(server, fn)
        raw = build_request(HOST, server.port, f"/2015-03-31/functions/{fn}/invocations", b"{}")

        def client(_: int) -> int:
            with Connection(HOST, server.port) as conn:
                return len(_timed(conn, raw, 300))

        with ThreadPoolExecutor(4) as pool:
            sent = sum(pool.map(client, range(4)))
        pids = _children(server.proc.pid)
        uss = [_uss_kib(p) for p in pids]
        time.sleep(keep_alive * 2 + 1.5)
        after = _children(server.proc.pid)
        return {
            "requests": sent,
            "keep_alive_s": keep_alive,
            "after_traffic": {
                "processes": len(pids),
                "uss_mib_each_max": max(uss, default=0) / 1024,
                "uss_mib_total": sum(uss) / 1024,
            },
            "after_keep_alive": {
                "processes": len(after),
                "uss_mib_total": sum(_uss_kib(p) for p in after) / 1024,
            },
        }
    finally:
        stop_server(server)
