"""Scale with warm functions (issue 18): throughput when the load is spread over many warm
functions of a server holding many deployed ones, beside the single-function figure.

The issue's target: with 1,000 functions deployed and 100 of them warm, invoked round robin,
throughput stays at least 0.8x the single-function figure. Measured here as a curve: the
same 8-client load as ``invoke.throughput`` (one keep-alive connection per client process,
requests prebuilt), the load spread round robin over the first 1, 10 or 100 of the deployed
functions: client k cycles over functions k, k + 8, k + 16, ... (all 8 on the one function of
the first point), so the server sees every warm function in turn at the same rate. Clients
that each cycled over all of them would drift and meet on a function now and then, each
meeting a new sandbox of it: sandboxes would keep starting inside the window (60 in a 2 s
window after a 3 s warm-up, tried), and the curve would time cold starts. The single-function figure
is the curve's first point, on the same server, so the only difference between the points
is how many functions the load is spread over. The HTTP echo floor is measured in the same
run with the same load.

The functions are deployed by copying one created through the API in the store's SQLite
file (``startup.seed``); each point's functions were all invoked before its clock starts
(one sequential pass, then the load's warm-up), and the server's child processes before and
after the window say whether any sandbox started inside it.

Relay floor (``relay_server.py``): the HTTP echo floor plus one round trip to a worker
process, with a pool of workers per request path, under the same load spread the same way
over 1 and 100 paths. Its 100-path rate over its 1-path rate is what spreading the load over
100 processes costs an isolated invoke with nothing else in it: the ratio the target asks of
lambox, measured on a server that does no work of its own.

Floor: round trips from one event loop (uvloop, as the server's) to as many child processes
over socketpairs, each child decoding and encoding the JSON payload, with the same 8
concurrent callers spread the same way: 8 processes (one function's 8 sandboxes) against
100. What it costs this machine to wake a different process each time, with no lambox in it.

In a full run the points are taken twice, in the order 1, 10, 100, 100, 10, 1, so that a
neighbour's burst of load does not land on one point only; each point reports the mean.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import socket
import statistics
import time
from pathlib import Path
from typing import Any

from common import (
    HOST,
    PAYLOAD,
    Counts,
    ServerProc,
    free_port,
    invoke_path,
    lambox_argv,
    ratio,
    start_server,
    stop_server,
)
from httpclient import build_request
from invoke import throughput
from invoke_floors import start_relay
from startup import seed

DEPLOYED = 1000
WARM = (1, 10, 100)
QUICK_DEPLOYED = 300
TARGET_RATIO = 0.8
WARMUP_S = 3.0


def measure_warm_functions(tmp: Path, echo: ServerProc, c: Counts, quick: bool) -> dict[str, Any]:
    """The curve: rps, latency and server CPU per request for each number of warm functions."""
    deployed = QUICK_DEPLOYED if quick else DEPLOYED
    data = tmp / f"warm-functions-{deployed}"
    seed(data, tmp, deployed)
    port = free_port()
    # The keep-alive covers the whole measurement: an idle sandbox reaped between two
    # points would be a cold start inside the next one.
    server = start_server(
        "lambox-warm-functions",
        lambox_argv(port, data),
        port,
        "/lambox/v1/health",
        tmp,
        {"LAMBOX_KEEP_ALIVE": "600"},
    )
    # Clients that drift against each other in the cycle now and then meet on one function,
    # which then needs a second sandbox: a longer warm-up lets the pools grow before the
    # clock starts.
    c = dataclasses.replace(c, load_warmup_seconds=max(c.load_warmup_seconds, WARMUP_S))
    relay = start_relay(tmp)
    try:
        return curve(server, echo, relay, c, deployed, rounds=1 if quick else 2)
    finally:
        stop_server(relay)
        stop_server(server)


def curve(
    server: ServerProc,
    echo: ServerProc,
    relay: ServerProc,
    c: Counts,
    deployed: int,
    rounds: int,
) -> dict[str, Any]:
    names = [f"seed-{i}" for i in range(deployed)]
    requests = [build_request(HOST, server.port, invoke_path(n), PAYLOAD) for n in names]
    relayed = [build_request(HOST, relay.port, invoke_path(n), PAYLOAD) for n in names]
    runs: dict[int, list[dict[str, Any]]] = {n: [] for n in WARM}
    relay_ends = (WARM[0], WARM[-1])
    relay_runs: dict[int, list[dict[str, Any]]] = {n: [] for n in relay_ends}
    floors = [throughput(echo, invoke_path(names[0]), c)]
    order = list(WARM)
    for r in range(rounds):
        for warm in order if r % 2 == 0 else reversed(order):
            runs[warm].append(throughput(server, "", c, cycle=requests[:warm]))
        for warm in relay_ends if r % 2 == 0 else reversed(relay_ends):
            relay_runs[warm].append(throughput(relay, "", c, cycle=relayed[:warm]))
    floors.append(throughput(echo, invoke_path(names[0]), c))
    processes = {str(n): process_floor(n, c.clients, c.load_seconds) for n in (c.clients, WARM[-1])}
    points = {str(warm): summarize_runs(rs) for warm, rs in runs.items()}
    single = points[str(WARM[0])]["rps"]
    for point in points.values():
        point["ratio_to_single_function"] = ratio(point["rps"], single)
    floor_rps = statistics.mean(f["rps"] for f in floors)
    for point in points.values():
        point["ratio_to_echo_floor"] = ratio(point["rps"], floor_rps)
    return {
        "deployed": deployed,
        "clients": c.clients,
        "seconds_per_window": c.load_seconds,
        "rounds": rounds,
        "floor_http_echo": {
            "rps": floor_rps,
            "p50_ms": statistics.mean(f["latency"]["p50_ms"] for f in floors),
            "p99_ms": statistics.mean(f["latency"]["p99_ms"] for f in floors),
            "server_cpu_us_per_request": statistics.mean(
                f["server_cpu_us_per_request"] for f in floors
            ),
        },
        "points": points,
        "floor_relay": relay_floor(relay_runs),
        "floor_processes": processes,
        "target_warm": WARM[-1],
        "target_ratio": TARGET_RATIO,
    }


def relay_floor(runs: dict[int, list[dict[str, Any]]]) -> dict[str, Any]:
    """The relay floor's two points and the ratio of the spread one to the single one."""
    few, many = sorted(runs)
    points = {
        str(n): {
            "rps": statistics.mean(r["rps"] for r in rs),
            "p50_ms": statistics.mean(r["latency"]["p50_ms"] for r in rs),
            "p99_ms": statistics.mean(r["latency"]["p99_ms"] for r in rs),
            "cpu_us_per_request": statistics.mean(r["server_cpu_us_per_request"] for r in rs),
            "server_process_cpu_us_per_request": statistics.mean(
                r["server_process_cpu_us_per_request"] for r in rs
            ),
        }
        for n, rs in runs.items()
    }
    return {
        "points": points,
        "spread": many,
        "ratio_spread_to_single": ratio(points[str(many)]["rps"], points[str(few)]["rps"]),
    }


def summarize_runs(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One point of the curve: the mean of its windows, and every sandbox started in them."""
    return {
        "rps": statistics.mean(r["rps"] for r in runs),
        "rps_each": [r["rps"] for r in runs],
        "p50_ms": statistics.mean(r["latency"]["p50_ms"] for r in runs),
        "p99_ms": statistics.mean(r["latency"]["p99_ms"] for r in runs),
        "server_cpu_us_per_request": statistics.mean(r["server_cpu_us_per_request"] for r in runs),
        "server_process_cpu_us_per_request": statistics.mean(
            r["server_process_cpu_us_per_request"] for r in runs
        ),
        "requests": sum(r["requests"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
        "sandboxes_started_in_window": sum(r["server_child_processes"]["new"] for r in runs),
        "sandboxes_ended_in_window": sum(r["server_child_processes"]["gone"] for r in runs),
        "server_child_processes_end": runs[-1]["server_child_processes"]["end"],
    }


# --------------------------------------------------------------------------- process floor


def _child(sock: socket.socket) -> None:
    """A stand-in sandbox: read a payload, decode and encode it, answer; forever."""
    fd = sock.fileno()
    while True:
        data = os.read(fd, 65536)
        if not data:
            os._exit(0)
        os.write(fd, json.dumps(json.loads(data)).encode())


def _cpu_s(pids: list[int]) -> float:
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


async def _round_trips(n: int, callers: int, seconds: float) -> dict[str, float]:
    pids: list[int] = []
    streams = []
    try:
        for _ in range(n):
            parent, child = socket.socketpair()
            pid = os.fork()
            if pid == 0:  # pragma: no cover - the child never returns
                parent.close()
                _child(child)
            child.close()
            pids.append(pid)
            streams.append(await asyncio.open_connection(sock=parent))
        count = 0
        stop = False

        async def caller(k: int) -> None:
            nonlocal count
            mine = streams[k::callers] if n >= callers else [streams[k % n]]
            i = 0
            while not stop:
                reader, writer = mine[i % len(mine)]
                i += 1
                writer.write(PAYLOAD)
                await reader.read(65536)
                count += 1

        tasks = [asyncio.create_task(caller(k)) for k in range(callers)]
        await asyncio.sleep(1.0)  # every child has answered a few times
        me = os.getpid()
        cpu0, own0, n0, t0 = _cpu_s([me, *pids]), _cpu_s([me]), count, time.monotonic()
        await asyncio.sleep(seconds)
        cpu1, own1, n1, t1 = _cpu_s([me, *pids]), _cpu_s([me]), count, time.monotonic()
        stop = True
        await asyncio.gather(*tasks)
        done = n1 - n0
        return {
            "processes": n,
            "round_trips_per_s": done / (t1 - t0),
            "cpu_us_per_round_trip": (cpu1 - cpu0) / done * 1e6,
            "caller_cpu_us_per_round_trip": (own1 - own0) / done * 1e6,
        }
    finally:
        for _, writer in streams:
            writer.close()
        for pid in pids:
            # Each child holds the parent's ends of the socketpairs made before it: they
            # would never see end-of-file, so they are killed.
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def process_floor(n: int, callers: int, seconds: float) -> dict[str, float]:
    """Round trips to ``n`` child processes, ``callers`` at a time, CPU per round trip."""
    import uvloop

    return uvloop.run(_round_trips(n, callers, seconds))


if __name__ == "__main__":
    import argparse
    import tempfile

    from common import FULL, QUICK
    from floors import start_echo

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="300 functions, one round, 2 s")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lambox-warm-functions-") as name:
        echo = start_echo(Path(name))
        try:
            counts = QUICK if args.quick else FULL
            result = measure_warm_functions(Path(name), echo, counts, args.quick)
        finally:
            stop_server(echo)
    print(json.dumps(result, indent=1))
