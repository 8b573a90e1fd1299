"""Server CPU per warm invocation beside the HTTP echo floor, in one run.

``.venv/bin/python bench/cpu_per_invoke.py [--n 3000] [--rounds 3] [--compare SRC] [--url]``

CPU time (``/proc/<pid>/stat`` utime+stime of the server process alone, not its
sandboxes) is steadier than the wall clock on a shared machine: neighbours make requests
wait, they do not make the server do more work. Each round measures the floor and lambox
alternately over ``n`` sequential requests on one keep-alive connection. ``--compare``
names the ``src`` directory of another tree (``git archive REV src | tar -x -C DIR``):
a lambox started from it is measured in the same rounds, for a before/after in one run.
Given twice (before and after, both exported), it also shows how far "this tree" differs
from an identical export: a bias of the first server's place, not of its code.
``--url`` also measures, on each server, a function URL of the same function (its request
answers the same bytes as the Invoke: ``function_url.py``'s handler).
``--fresh`` sends each request on a new connection instead (what a connection itself
costs the server: its accept, and lambox's question to the kernel of who made it).
``--clients N`` measures under load instead: N client processes, one connection each, for
``--seconds`` (``invoke.throughput``); the server process's own CPU per request, where work
done once per event-loop turn for several requests shows.
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
    Counts,
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
from function_url import url_request, url_zip
from httpclient import Connection, build_request
from invoke import throughput


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


def fresh_request_us(server: ServerProc, raw: bytes, n: int) -> float:
    """Server CPU microseconds per request over ``n`` requests, each on a new connection."""
    with Connection(HOST, server.port) as conn:
        expected = check_echo(conn, raw)
    before = cpu_seconds(server.proc.pid)
    for _ in range(n):
        with Connection(HOST, server.port) as conn:
            status, body = conn.request(raw)
        if status != 200 or body != expected:
            raise RuntimeError(f"HTTP {status}: {body[:200]!r}")
    return (cpu_seconds(server.proc.pid) - before) * 1e6 / n


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        help="the src directory of another tree (repeatable)",
    )
    parser.add_argument("--clients", type=int, default=0, help="load processes (0: one)")
    parser.add_argument("--seconds", type=float, default=5.0, help="of each load")
    parser.add_argument("--url", action="store_true", help="measure a function URL too")
    parser.add_argument("--fresh", action="store_true", help="a new connection per request")
    args = parser.parse_args()
    name = "bench-url" if args.url else "bench-echo"
    path = invoke_path(name)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        echo = start_echo(tmp)
        trees = {"this tree": {}}
        for n, compared in enumerate(args.compare):
            label = "compared" if len(args.compare) == 1 else f"compared {n + 1}"
            trees[label] = {"PYTHONPATH": str(compared.resolve())}
        servers: dict[str, ServerProc] = {}
        try:
            # Each row: the server and the request it is measured with.
            rows: dict[str, tuple[ServerProc, bytes]] = {
                "echo floor": (echo, build_request(HOST, echo.port, path, PAYLOAD))
            }
            for label, env in trees.items():
                port = free_port()
                data = tmp / f"data-{len(servers)}"
                server = start_server(
                    label, lambox_argv(port, data), port, "/2015-03-31/functions", tmp, env
                )
                servers[label] = server
                client = lambda_client(server.url)
                create_function(client, name, url_zip() if args.url else echo_zip())
                rows[label] = (server, build_request(HOST, server.port, path, PAYLOAD))
                if args.url:
                    rows[f"{label} url"] = (server, url_request(client, server, name))
            figures: dict[str, list[float]] = {label: [] for label in rows}
            load = Counts(clients=args.clients, load_seconds=args.seconds)

            def measure(server: ServerProc, raw: bytes) -> float:
                if args.fresh:
                    return fresh_request_us(server, raw, args.n)
                if not args.clients:
                    return per_request_us(server, raw, args.n)
                found = throughput(server, path, load, raw)
                return float(found["server_process_cpu_us_per_request"])

            for _ in range(args.rounds):
                for label, (server, raw) in rows.items():
                    figures[label].append(measure(server, raw))
            for label, values in figures.items():
                rounds = [round(x) for x in values]
                print(f"{label:>14} us/request: {rounds} median {statistics.median(values):.0f}")
            print(f"load average: {os.getloadavg()[0]:.1f}")
        finally:
            for server in servers.values():
                stop_server(server)
            stop_server(echo)


if __name__ == "__main__":
    main()
