"""What a second server process could add: 8 clients against one lambox, and split 4 + 4
over two independent lambox servers, beside the HTTP echo floor, alternated in one run.

``.venv/bin/python bench/two_servers.py [--rounds 3] [--seconds 4]``

Two servers on two ports, each with its own store, sandboxes and echo function, are the
upper bound of several server processes on one port (SO_REUSEPORT): no admission owner, no
change propagation, no shared log or metric writes, nothing they would have to agree on.
If two of them together do not go faster than one, the machine's cores are already busy
with the work per request (the server's, its sandboxes' and the clients'), and a second
process has nothing to run on.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from common import (
    HOST,
    PAYLOAD,
    ServerProc,
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

CLIENTS = 8


def _client(port: int, raw: bytes, seconds: float, barrier: Any, results: Any) -> None:
    """One keep-alive connection sending ``raw`` back to back for ``seconds``."""
    conn = Connection(HOST, port)
    conn.request(raw)
    barrier.wait()
    n = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        conn.request(raw)
        n += 1
    conn.close()
    results.put(n)


def load(targets: list[tuple[int, bytes]], seconds: float) -> float:
    """Requests per second of one client process per target, all started together."""
    ctx = mp.get_context("fork")
    barrier, results = ctx.Barrier(len(targets)), ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(port, raw, seconds, barrier, results))
        for port, raw in targets
    ]
    for p in procs:
        p.start()
    total = sum(results.get(timeout=seconds + 60) for _ in procs)
    for p in procs:
        p.join()
    return total / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lambox-two-servers-") as name:
        tmp = Path(name)
        echo = start_echo(tmp)
        servers: list[ServerProc] = []
        try:
            for i in range(2):
                port = free_port()
                argv = lambox_argv(port, tmp / f"data-{i}")
                server = start_server(f"lambox-{i}", argv, port, "/lambox/v1/health", tmp, {})
                servers.append(server)
                create_function(lambda_client(server.url), "bench-echo", echo_zip())
            path = invoke_path("bench-echo")
            a, b = ((s.port, build_request(HOST, s.port, path, PAYLOAD)) for s in servers)
            floor = (echo.port, build_request(HOST, echo.port, path, PAYLOAD))
            half = CLIENTS // 2
            load([a] * CLIENTS, 1.0)  # every sandbox of both servers started
            load([b] * CLIENTS, 1.0)
            print("echo floor   one lambox          two lamboxes (4 + 4)   load average")
            for _ in range(args.rounds):
                e = load([floor] * CLIENTS, args.seconds)
                one = load([a] * CLIENTS, args.seconds)
                two = load([a] * half + [b] * half, args.seconds)
                print(
                    f"{e:8.0f}/s  {one:6.0f}/s ({one / e:.2f}x)  {two:6.0f}/s ({two / e:.2f}x)"
                    f"       {os.getloadavg()[0]:.1f}",
                    flush=True,
                )
        finally:
            for server in servers:
                stop_server(server)
            stop_server(echo)


if __name__ == "__main__":
    main()
