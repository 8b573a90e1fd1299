"""Server CPU per warm invocation beside the HTTP echo floor, in one run.

``.venv/bin/python bench/cpu_per_invoke.py [--n 3000] [--rounds 3] [--signed]``

CPU time (``/proc/<pid>/stat`` utime+stime of the server process alone, not its
sandboxes) is steadier than the wall clock on a shared machine: neighbours make requests
wait, they do not make the server do more work. Each round measures the floor and lambox
alternately over ``n`` sequential requests on one keep-alive connection.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from common import (
    HOST,
    PAYLOAD,
    ServerProc,
    check_echo,
    create_function,
    echo_zip,
    free_port,
    invoke_path,
    lambda_client,
    lambox_argv,
    start_server,
    stop_server,
)
from floors import start_echo
from httpclient import Connection, build_request


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def per_request_us(server: ServerProc, raw: bytes, n: int) -> float:
    """Server CPU microseconds per request over ``n`` requests on one connection."""
    with Connection(HOST, server.port) as conn:
        expected = check_echo(conn, raw)
        for _ in range(200):
            conn.request(raw)
        before = cpu_seconds(server.proc.pid)
        for _ in range(n):
            status, body = conn.request(raw)
            if status != 200 or body != expected:
                raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        return (cpu_seconds(server.proc.pid) - before) * 1e6 / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        echo = start_echo(tmp)
        port = free_port()
        lambox = start_server(
            "lambox", lambox_argv(port, tmp / "data"), port, "/2015-03-31/functions", tmp, {}
        )
        try:
            create_function(lambda_client(lambox.url), "bench-echo", echo_zip())
            path = invoke_path("bench-echo")
            floor_raw = build_request(HOST, echo.port, path, PAYLOAD)
            raw = build_request(HOST, lambox.port, path, PAYLOAD)
            floors, invokes = [], []
            for _ in range(args.rounds):
                floors.append(per_request_us(echo, floor_raw, args.n))
                invokes.append(per_request_us(lambox, raw, args.n))
            print(
                f"echo floor  us/request: {[round(x) for x in floors]}"
                f" median {statistics.median(floors):.0f}"
            )
            print(
                f"warm invoke us/request: {[round(x) for x in invokes]}"
                f" median {statistics.median(invokes):.0f}"
            )
            print(f"load average: {os.getloadavg()[0]:.1f}")
        finally:
            stop_server(lambox)
            stop_server(echo)


if __name__ == "__main__":
    main()
