"""The floors every figure is reported against, measured in the same run.

* HTTP floor: ``bench/echo_server.py``, the server stack lambox uses (uvicorn, httptools,
  uvloop) with a raw ASGI app that echoes the body. Invoke minus this is what lambox adds.
* fork floor: ``os.fork()`` + ``os._exit(0)`` + ``waitpid``, the least a new process can
  cost, for comparing cold starts against (now, and once sandboxes come from a zygote).

The fresh-interpreter floor of cold starts is in ``sandboxes.py``, beside what it is for.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any

from common import (
    BENCH,
    HOST,
    PAYLOAD,
    Counts,
    ServerProc,
    check_echo,
    free_port,
    gc_paused,
    invoke_path,
    start_server,
    summarize,
    timed,
)
from httpclient import Connection, build_request
from invoke import throughput


def fork_floor(n: int) -> dict[str, Any]:
    """fork + _exit + waitpid round trips: what any new sandbox process costs at least."""
    samples: list[int] = []
    clock = time.perf_counter_ns
    for i in range(n + 20):
        t0 = clock()
        pid = os.fork()
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        if i >= 20:  # the first forks fault in page tables; keep the steady state
            samples.append(clock() - t0)
    rss_kb = 0
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss_kb = int(line.split()[1])
    # fork cost grows with the parent's mapped memory, so say how big the parent was.
    return {**summarize(samples), "parent_rss_mb": round(rss_kb / 1024, 1)}


def start_echo(tmp: Path) -> ServerProc:
    """The HTTP floor's server, ready to answer."""
    echo_port = free_port()
    return start_server(
        "echo-floor",
        [sys.executable, str(BENCH / "echo_server.py"), "--port", str(echo_port)],
        echo_port,
        "/",
        tmp,
        {},
    )


def echo_floor_only(echo: ServerProc, c: Counts) -> dict[str, Any]:
    """The HTTP floor by itself, for runs where lambox could not be measured."""
    raw = build_request(HOST, echo.port, invoke_path("bench-echo"), PAYLOAD)
    samples: list[int] = []
    with Connection(HOST, echo.port) as conn, gc_paused():
        ok = check_echo(conn, raw)
        timed(conn, raw, ok, c.warm_warmup, [])
        timed(conn, raw, ok, c.warm, samples)
    return {
        **summarize(samples),
        "throughput": throughput(echo, invoke_path("bench-echo"), c),
    }
