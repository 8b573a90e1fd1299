"""Warm Invoke beside two floors in one run: the HTTP echo, and the echo with one round trip
to another process (``relay_server.py``: the shape of any isolated invoke, with nothing
else in it).

``.venv/bin/python bench/invoke_floors.py [--quick] [--rounds N] [--out FILE]``

For each of the three servers: sequential warm latency (the three alternating in blocks),
throughput with 8 load clients, and the server's own CPU per request (``/proc/<pid>/stat``,
its children apart). The ratios say how far lambox is from each floor: the gap to the
relay floor is lambox's own work; the gap between the two floors is the price of a second
process, which no isolated invoke avoids.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from rich.table import Table

from common import (
    FULL,
    HOST,
    PAYLOAD,
    QUICK,
    Counts,
    ServerProc,
    check_echo,
    console,
    create_function,
    echo_zip,
    free_port,
    gc_paused,
    invoke_path,
    lambda_client,
    lambox_argv,
    start_server,
    stop_server,
    summarize,
    timed,
)
from cpu_per_invoke import cpu_seconds
from floors import start_echo
from httpclient import Connection, build_request
from invoke import throughput

BENCH = Path(__file__).resolve().parent


def start_relay(tmp: Path) -> ServerProc:
    port = free_port()
    argv = [sys.executable, str(BENCH / "relay_server.py"), "--port", str(port)]
    return start_server("relay-floor", argv, port, "/", tmp, {})


def latency(servers: dict[str, ServerProc], path: str, n: int, blocks: int) -> dict[str, Any]:
    """Sequential keep-alive requests, the servers alternating in ``blocks``."""
    conns = {k: Connection(HOST, s.port) for k, s in servers.items()}
    raws = {k: build_request(HOST, s.port, path, PAYLOAD) for k, s in servers.items()}
    samples: dict[str, list[int]] = {k: [] for k in servers}
    cpu: dict[str, float] = dict.fromkeys(servers, 0.0)
    try:
        oks = {k: check_echo(conns[k], raws[k]) for k in servers}
        with gc_paused():
            for k in servers:
                timed(conns[k], raws[k], oks[k], max(100, n // 10), [])
            for _ in range(blocks):
                for k, s in servers.items():
                    before = cpu_seconds(s.proc.pid)
                    timed(conns[k], raws[k], oks[k], n // blocks, samples[k])
                    cpu[k] += cpu_seconds(s.proc.pid) - before
    finally:
        for c in conns.values():
            c.close()
    out = {}
    for k in servers:
        s = summarize(samples[k])
        s["server_cpu_us_per_request"] = cpu[k] / len(samples[k]) * 1e6
        out[k] = s
    return out


def measure_section(
    tmp: Path, echo: ServerProc, lambox: ServerProc, fn: str, c: Counts
) -> dict[str, Any]:
    """``make bench``'s relay-floor section: the three servers' warm latency (alternating)
    and throughput, with the relay floor started for it and stopped after."""
    relay = start_relay(tmp)
    try:
        servers = {"echo": echo, "relay": relay, "lambox": lambox}
        path = invoke_path(fn)
        lat = latency(servers, path, c.warm, c.warm_blocks)
        load = {k: throughput(s, path, c) for k, s in servers.items()}
    finally:
        stop_server(relay)
    return {
        "latency": lat,
        "throughput_rps": {k: t["rps"] for k, t in load.items()},
        "throughput_p99_ms": {k: t["latency"]["p99_ms"] for k, t in load.items()},
        "note": "relay floor: the echo floor plus one round trip to a worker process per"
        " request (bench/relay_server.py), the shape of an isolated invoke with nothing else.",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="throughput rounds (medians)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    c = QUICK if args.quick else FULL
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        servers: dict[str, ServerProc] = {}
        try:
            servers["echo"] = start_echo(tmp)
            servers["relay"] = start_relay(tmp)
            port = free_port()
            servers["lambox"] = start_server(
                "lambox", lambox_argv(port, tmp / "data"), port, "/2015-03-31/functions", tmp, {}
            )
            create_function(lambda_client(servers["lambox"].url), "bench-echo", echo_zip())
            path = invoke_path("bench-echo")
            lat = latency(servers, path, c.warm, c.warm_blocks)
            rps: dict[str, list[float]] = {k: [] for k in servers}
            p99: dict[str, list[float]] = {k: [] for k in servers}
            for _ in range(args.rounds):
                for k, s in servers.items():
                    t = throughput(s, path, c)
                    rps[k].append(t["rps"])
                    p99[k].append(t["latency"]["p99_ms"])
        finally:
            for s in servers.values():
                stop_server(s)
    result = {
        "load_average": os.getloadavg(),
        "latency": lat,
        "throughput_rps": {k: statistics.median(v) for k, v in rps.items()},
        "throughput_p99_ms": {k: statistics.median(v) for k, v in p99.items()},
    }
    table = Table(title="Warm Invoke beside the echo and relay floors (same run)")
    for col in ("", "echo floor", "relay floor", "lambox Invoke", "lambox / relay"):
        table.add_column(col, justify="right")
    for key in ("p50_ms", "p99_ms", "server_cpu_us_per_request"):
        e, r, lb = (lat[k][key] for k in ("echo", "relay", "lambox"))
        table.add_row(f"sequential {key}", f"{e:.3f}", f"{r:.3f}", f"{lb:.3f}", f"{lb / r:.2f}x")
    e, r, lb = (result["throughput_rps"][k] for k in ("echo", "relay", "lambox"))
    table.add_row("8 clients, requests/s", f"{e:.0f}", f"{r:.0f}", f"{lb:.0f}", f"{lb / r:.2f}x")
    e, r, lb = (result["throughput_p99_ms"][k] for k in ("echo", "relay", "lambox"))
    table.add_row("8 clients, p99 ms", f"{e:.2f}", f"{r:.2f}", f"{lb:.2f}", f"{lb / r:.2f}x")
    console.print(table)
    ratios = {
        "relay_over_echo_rps": result["throughput_rps"]["relay"] / result["throughput_rps"]["echo"],
        "lambox_over_echo_rps": result["throughput_rps"]["lambox"]
        / result["throughput_rps"]["echo"],
        "relay_minus_echo_p50_ms": lat["relay"]["p50_ms"] - lat["echo"]["p50_ms"],
        "lambox_minus_echo_p50_ms": lat["lambox"]["p50_ms"] - lat["echo"]["p50_ms"],
    }
    result["ratios"] = ratios
    console.print(
        f"relay/echo throughput {ratios['relay_over_echo_rps']:.2f}x, lambox/echo"
        f" {ratios['lambox_over_echo_rps']:.2f}x; p50 over echo: relay"
        f" +{ratios['relay_minus_echo_p50_ms']:.3f} ms, lambox"
        f" +{ratios['lambox_minus_echo_p50_ms']:.3f} ms; load average"
        f" {result['load_average'][0]:.1f}"
    )
    if args.out:
        args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
