"""Invoke measured beside the HTTP floor: warm latency (raw and through boto3), cold invokes
of new functions, and throughput under load from several client processes."""

from __future__ import annotations

import gc
import itertools
import json
import multiprocessing as mp
import os
import threading
import time
import traceback
import uuid
from array import array
from multiprocessing.synchronize import Barrier
from typing import Any

from common import (
    HOST,
    PAYLOAD,
    Counts,
    ServerProc,
    check_echo,
    create_function,
    gc_paused,
    invoke_path,
    measure,
    ratio,
    summarize,
    timed,
)
from httpclient import Connection, build_request


def warm_latency(lambox: ServerProc, echo: ServerProc, fn: str, c: Counts) -> dict[str, Any]:
    """Sequential keep-alive requests, Invoke and the HTTP floor alternating in blocks."""
    path = invoke_path(fn)
    # The same path and body for the floor, so both servers parse the same request.
    inv_raw = build_request(HOST, lambox.port, path, PAYLOAD)
    floor_raw = build_request(HOST, echo.port, path, PAYLOAD)
    inv: list[int] = []
    floor: list[int] = []
    with Connection(HOST, lambox.port) as ci, Connection(HOST, echo.port) as cf:
        inv_ok = check_echo(ci, inv_raw)
        floor_ok = check_echo(cf, floor_raw)
        with gc_paused():
            timed(cf, floor_raw, floor_ok, c.warm_warmup, [])
            timed(ci, inv_raw, inv_ok, c.warm_warmup, [])
            block = c.warm // c.warm_blocks
            for _ in range(c.warm_blocks):
                timed(cf, floor_raw, floor_ok, block, floor)
                timed(ci, inv_raw, inv_ok, block, inv)
    s_inv, s_floor = summarize(inv), summarize(floor)
    overhead = {
        k: s_inv[f"{k}_ms"] - s_floor[f"{k}_ms"] for k in ("p50", "p90", "p99", "max", "mean")
    }
    return {
        "payload": PAYLOAD.decode(),
        "invoke": s_inv,
        "floor_http_echo": s_floor,
        "overhead_ms": overhead,
        "ratio": {k: ratio(s_inv[f"{k}_ms"], s_floor[f"{k}_ms"]) for k in ("p50", "p99")},
        "note": "Invoke - floor includes the echo handler's own time"
        " (microseconds), so it is an upper bound on what lambox adds.",
    }


def boto3_latency(client: Any, fn: str, c: Counts) -> dict[str, Any]:
    """What a boto3 user sees: the raw figure plus botocore's request building and parsing."""
    samples: list[int] = []
    clock = time.perf_counter_ns
    for i in range(c.boto3_warmup + c.boto3):
        t0 = clock()
        r = client.invoke(FunctionName=fn, Payload=PAYLOAD)
        body = r["Payload"].read()
        t1 = clock()
        if r["StatusCode"] != 200 or "FunctionError" in r:
            raise RuntimeError(f"boto3 invoke failed: {r['StatusCode']} {body[:300]!r}")
        if i >= c.boto3_warmup:
            samples.append(t1 - t0)
    return {"invoke": summarize(samples)}


def cold_starts(client: Any, lambox: ServerProc, code: bytes, c: Counts) -> dict[str, Any]:
    """First Invoke of brand-new functions (no sandbox yet), and the second one for contrast.

    Each function is deleted after its two invokes so that every cold start happens with the
    same number of sandboxes alive (the echo function's).
    """
    create_ms: list[float] = []
    first: list[int] = []
    second: list[int] = []
    clock = time.perf_counter_ns
    with Connection(HOST, lambox.port) as conn:
        for i in range(c.cold):
            name = f"bench-cold-{i}-{uuid.uuid4().hex[:8]}"
            create_ms.append(create_function(client, name, code))
            raw = build_request(HOST, lambox.port, invoke_path(name), PAYLOAD)
            for out in (first, second):
                t0 = clock()
                status, body = conn.request(raw)
                t1 = clock()
                if status != 200 or json.loads(body) != json.loads(PAYLOAD):
                    raise RuntimeError(f"{name}: HTTP {status}: {body[:300]!r}")
                out.append(t1 - t0)
            client.delete_function(FunctionName=name)
    s_first, s_second = summarize(first), summarize(second)
    create_sorted = sorted(create_ms)
    return {
        "first_invoke": s_first,
        "second_invoke": s_second,
        "create_until_active_ms": {
            "p50": create_sorted[len(create_sorted) // 2],
            "max": create_sorted[-1],
        },
        "first_minus_second_p50_ms": s_first["p50_ms"] - s_second["p50_ms"],
    }


# --------------------------------------------------------------------------- throughput


def tree_cpu_seconds(root_pid: int) -> tuple[float, int]:
    """User+system CPU of a process and its live descendants (the server and its sandboxes),
    and how many descendants there are.

    CPU per request is steadier than latency on a shared machine: neighbours make requests
    wait, but they do not make lambox do more work.
    """
    total, _, descendants = tree_cpu(root_pid)
    return total, len(descendants)


def tree_cpu(root_pid: int) -> tuple[float, float, set[int]]:
    """``tree_cpu_seconds`` with the descendants' pids: a pid alive at the end of a window
    and not at its start is a process (a sandbox) started inside the window, even when an
    eviction kept the count the same. The middle value is the root process's own CPU."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    descendants: set[int] = set()
    for pid in cpu:
        p = pid
        while p > 1:
            if p == root_pid:
                total += cpu[pid]
                if pid != root_pid:
                    descendants.add(pid)
                break
            p = parents.get(p, 0)
    return total, cpu.get(root_pid, 0.0), descendants


def _load_worker(
    port: int,
    raws: list[bytes],
    expected: bytes,
    warmup_s: float,
    seconds: float,
    barrier: Barrier,
    results: Any,
) -> None:
    """One load client: a keep-alive connection sending requests back to back for ``seconds``.

    Timestamps use CLOCK_MONOTONIC (``time.monotonic_ns``), which all processes share, so the
    parent can tell when the last request of any worker finished. With several requests in
    ``raws`` (one per function) the worker sends them round robin.
    """
    try:
        conn = Connection(HOST, port)
        clock = time.monotonic_ns
        barrier.wait()
        # All clients warm up at once, so a pool that grows with concurrency has grown
        # before the clock starts and no sandbox start lands in the measured window.
        until = clock() + int(warmup_s * 1e9)
        turn = 0
        while clock() < until or turn < len(raws):
            conn.request(raws[turn % len(raws)])
            turn += 1
        barrier.wait()
        end = clock() + int(seconds * 1e9)
        cpu0 = time.process_time()
        lat = array("q")
        errors = 0
        request = conn.request
        gc.disable()
        raw = raws[0]
        cycle = None if len(raws) == 1 else itertools.cycle(raws).__next__
        while True:
            t0 = clock()
            status, body = request(raw if cycle is None else cycle())
            t1 = clock()
            lat.append(t1 - t0)
            if status != 200 or body != expected:
                errors += 1
            if t1 >= end:
                break
        cpu = time.process_time() - cpu0
        conn.close()
        results.put((lat.tobytes(), errors, t1, cpu, None))
    except Exception:
        barrier.abort()
        results.put((b"", 0, 0, 0.0, traceback.format_exc()))


def throughput(
    server: ServerProc,
    path: str,
    c: Counts,
    raw: bytes | None = None,
    cycle: list[bytes] | None = None,
) -> dict[str, Any]:
    """``clients`` processes, one connection each, sequential requests for ``load_seconds``
    (``raw``, or a POST of the payload to ``path``; or the requests of ``cycle`` round
    robin, each client its own share of them).

    A share rather than the whole cycle per client: clients cycling over the same requests
    drift against each other and meet on one function now and then, which needs a second
    sandbox of it, so sandboxes would keep starting inside the window long after warm-up."""
    ctx = mp.get_context("fork")
    raws = cycle or [raw or build_request(HOST, server.port, path, PAYLOAD)]
    with Connection(HOST, server.port) as conn:
        expected = check_echo(conn, raws[0])
        for other in raws[1:]:
            if check_echo(conn, other) != expected:
                raise RuntimeError("the requests of a cycle must all answer the same bytes")
    barrier = ctx.Barrier(c.clients + 1)
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_load_worker,
            args=(
                server.port,
                raws[n :: c.clients] if len(raws) >= c.clients else [raws[n % len(raws)]],
                expected,
                c.load_warmup_seconds,
                c.load_seconds,
                barrier,
                results,
            ),
        )
        for n in range(c.clients)
    ]
    for p in procs:
        p.start()
    try:
        try:
            barrier.wait(timeout=60)  # all connected
            barrier.wait(timeout=60 + c.load_warmup_seconds)  # all warmed up: the clock starts
        except threading.BrokenBarrierError:
            # A worker failed and broke the barrier; its traceback says why.
            tb = results.get(timeout=10)[-1]
            raise RuntimeError(f"load client failed:\n{tb}") from None
        start = time.monotonic_ns()
        cpu0, own0, pids0 = tree_cpu(server.proc.pid)
        collected = [results.get(timeout=c.load_seconds + 60) for _ in procs]
        cpu1, own1, pids1 = tree_cpu(server.proc.pid)
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
    failures = [tb for *_, tb in collected if tb]
    if failures:
        raise RuntimeError("load client failed:\n" + failures[0])
    lat: list[int] = []
    errors = 0
    finish = start
    client_cpu = 0.0
    for blob, errs, last, cpu, _ in collected:
        client_cpu += cpu
        samples = array("q")
        samples.frombytes(blob)
        lat.extend(samples)
        errors += errs
        finish = max(finish, last)
    elapsed = (finish - start) / 1e9
    return {
        "clients": c.clients,
        "seconds": round(elapsed, 3),
        "requests": len(lat),
        "errors": errors,
        "rps": len(lat) / elapsed,
        "latency": summarize(lat),
        "server_cpu_us_per_request": (cpu1 - cpu0) / len(lat) * 1e6,
        # The server process alone; the rest of the figure above is its sandboxes'.
        "server_process_cpu_us_per_request": (own1 - own0) / len(lat) * 1e6,
        "client_cpu_us_per_request": client_cpu / len(lat) * 1e6,
        # More at the end than at the start means sandboxes started inside the window.
        "server_child_processes": {
            "start": len(pids0),
            "end": len(pids1),
            # Started and ended inside the window (an evicted sandbox and its replacement
            # leave the count unchanged); one that came and went inside it is not seen.
            "new": len(pids1 - pids0),
            "gone": len(pids0 - pids1),
        },
    }


def throughput_pair(lambox: ServerProc, echo: ServerProc, fn: str, c: Counts) -> dict[str, Any]:
    """The same load against the HTTP floor, then against Invoke of the echo function."""
    path = invoke_path(fn)
    floor = throughput(echo, path, c)
    inv = throughput(lambox, path, c)
    return {
        "invoke": inv,
        "floor_http_echo": floor,
        "rps_ratio": ratio(inv["rps"], floor["rps"]),
        "p99_overhead_ms": inv["latency"]["p99_ms"] - floor["latency"]["p99_ms"],
        "note": f"{c.clients} load processes share the machine's {os.cpu_count()} cores with"
        " the server and its sandboxes; the load generator's CPU is part of every figure.",
    }


def measure_invoke(
    r: dict[str, Any],
    c: Counts,
    lambox: ServerProc,
    echo: ServerProc,
    client: Any,
    fn: str,
    code: bytes,
) -> None:
    """Warm, boto3 and cold Invoke, then throughput, each with its ratios to the floors."""
    measure(r, "warm_invoke", lambda: warm_latency(lambox, echo, fn, c))
    r["floors"]["http_echo"] = r["warm_invoke"].get("floor_http_echo")
    measure(r, "boto3_invoke", lambda: boto3_latency(client, fn, c))
    if "invoke" in r["boto3_invoke"] and "invoke" in r["warm_invoke"]:
        b, w = r["boto3_invoke"]["invoke"], r["warm_invoke"]["invoke"]
        r["boto3_invoke"]["raw_invoke"] = {k: w[k] for k in ("p50_ms", "p99_ms")}
        r["boto3_invoke"]["ratio_to_raw"] = {
            k: ratio(b[f"{k}_ms"], w[f"{k}_ms"]) for k in ("p50", "p99")
        }
    measure(r, "cold_invoke", lambda: cold_starts(client, lambox, code, c))
    if "first_invoke" in r["cold_invoke"] and "p50_ms" in r["floors"]["fork"]:
        r["cold_invoke"]["ratio_to_fork_p50"] = ratio(
            r["cold_invoke"]["first_invoke"]["p50_ms"], r["floors"]["fork"]["p50_ms"]
        )
    measure(r, "throughput", lambda: throughput_pair(lambox, echo, fn, c))
