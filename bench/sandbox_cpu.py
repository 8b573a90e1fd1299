"""Sandbox CPU per warm invocation through a real server, for 1 and many warm functions.

``.venv/bin/python bench/sandbox_cpu.py [--n 5000] [--rounds 3] [--warm 1,100]
[--compare SRC]``

A server holding ``max(warm)`` echo functions (``startup.seed``) is driven with sequential
requests on one keep-alive connection, round robin over the first ``warm`` functions, so
each of them keeps exactly one warm sandbox. Measured per request, from
``/proc/<pid>/schedstat`` (time on a CPU): the server's descendants (sandboxes; their zygotes
and watcher idle) and the server process itself. The HTTP echo floor's CPU per request is
measured in the same rounds. ``--compare`` names the ``src`` of another tree (``git
archive REV src | tar -x -C DIR``): a server started from it is measured in the same
rounds, alternately, for a before/after in one run.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
from pathlib import Path

from common import (
    HOST,
    PAYLOAD,
    ServerProc,
    check_echo,
    free_port,
    invoke_path,
    lambox_argv,
    start_server,
    stop_server,
)
from floors import start_echo
from httpclient import Connection, build_request
from startup import seed


def processes() -> dict[int, tuple[int, int]]:
    """pid -> (parent pid, nanoseconds on a CPU) of every process: ``schedstat``'s run
    time, the same user + system time as ``stat``'s utime + stime without their 10 ms
    ticks (a few thousand requests would be a few hundred ticks)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent = int(f.read().rsplit(")", 1)[1].split()[1])
            with open(f"/proc/{entry}/schedstat") as f:
                ran = int(f.read().split()[0])
        except (OSError, IndexError, ValueError):
            continue
        out[int(entry)] = (parent, ran)
    return out


def descendants(table: dict[int, tuple[int, int]], root: int) -> set[int]:
    found = set()
    for pid in table:
        p = pid
        while p > 1 and p in table:
            p = table[p][0]
            if p == root:
                found.add(pid)
                break
    return found


def sandbox_uss_kb(root: int) -> list[int]:
    """Private memory (USS, KiB) of each sandbox of the server: its descendants that run
    as the sandboxes' uid (993) and hold an interpreter."""
    table = processes()
    out = []
    for pid in descendants(table, root):
        try:
            with open(f"/proc/{pid}/status") as f:
                status = f.read()
            if "\nUid:\t993\t" not in status or not status.startswith("Name:\tpython"):
                continue
            with open(f"/proc/{pid}/smaps_rollup") as f:
                out.append(sum(int(line.split()[1]) for line in f if line.startswith("Private_")))
        except OSError:
            continue
    return out


def measure(server: ServerProc, requests: list[bytes], n: int) -> tuple[float, float, int]:
    """(sandbox us, server us) per request over ``n`` requests, and processes started."""
    with Connection(HOST, server.port) as conn:
        expected = check_echo(conn, requests[0])
        for _ in range(3):
            for raw in requests:
                conn.request(raw)
        before = processes()
        k = len(requests)
        for i in range(n):
            status, body = conn.request(requests[i % k])
            if status != 200 or body != expected:
                raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
        after = processes()
    root = server.proc.pid
    kids = descendants(after, root)
    sandbox = sum(after[p][1] - before.get(p, (0, 0))[1] for p in kids)
    own = after[root][1] - before[root][1]
    new = len(kids - set(before))
    return sandbox / 1e3 / n, own / 1e3 / n, new


def echo_floor(echo: ServerProc, n: int) -> float:
    raw = build_request(HOST, echo.port, invoke_path("seed-0"), PAYLOAD)
    with Connection(HOST, echo.port) as conn:
        check_echo(conn, raw)
        before = processes()[echo.proc.pid][1]
        for _ in range(n):
            conn.request(raw)
        return (processes()[echo.proc.pid][1] - before) / 1e3 / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warm", default="1,100", help="numbers of warm functions")
    parser.add_argument("--compare", type=Path, help="the src directory of another tree")
    args = parser.parse_args()
    warm = [int(x) for x in args.warm.split(",")]
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        seed(tmp / "seed", tmp, max(warm))
        trees = {"this tree": {}}
        if args.compare is not None:
            trees["compared"] = {"PYTHONPATH": str(args.compare.resolve())}
        echo = start_echo(tmp)
        servers: dict[str, ServerProc] = {}
        try:
            for i, (label, env) in enumerate(trees.items()):
                data = tmp / f"data-{i}"
                shutil.copytree(tmp / "seed", data)
                port = free_port()
                env = {**env, "LAMBOX_KEEP_ALIVE": "600"}
                servers[label] = start_server(
                    label, lambox_argv(port, data), port, "/lambox/v1/health", tmp, env
                )
            figures: dict[str, list[float]] = {"echo floor (server)": []}
            for label in servers:
                for w in warm:
                    figures[f"{label} {w} fn sandbox"] = []
                    figures[f"{label} {w} fn server"] = []
            started = 0
            for _ in range(args.rounds):
                figures["echo floor (server)"].append(echo_floor(echo, args.n))
                for w in warm:
                    for label, server in servers.items():
                        names = [f"seed-{i}" for i in range(w)]
                        reqs = [
                            build_request(HOST, server.port, invoke_path(x), PAYLOAD) for x in names
                        ]
                        sandbox, own, new = measure(server, reqs, args.n)
                        figures[f"{label} {w} fn sandbox"].append(sandbox)
                        figures[f"{label} {w} fn server"].append(own)
                        started += new
            for label, values in figures.items():
                each = [round(v, 1) for v in values]
                print(f"{label:>28} us/request: {each} median {statistics.median(values):.1f}")
            print(f"processes started inside the windows: {started}")
            for label, server in servers.items():
                uss = sandbox_uss_kb(server.proc.pid)
                if uss:
                    print(f"{label}: {len(uss)} sandboxes, USS median {statistics.median(uss)} KiB")
            print(f"load average: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        finally:
            for server in servers.values():
                stop_server(server)
            stop_server(echo)


if __name__ == "__main__":
    main()
