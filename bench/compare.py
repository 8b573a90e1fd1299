"""Warm Invoke of this tree beside an older revision's, with the HTTP echo floor: before and
after a change, measured in one run.

    .venv/bin/python bench/compare.py --base main [--blocks 60 --block 500]

The base revision's ``src`` is exported with ``git archive`` into a temporary directory and
served with it first on ``PYTHONPATH``; this tree is served as installed. Both get the
echo function and are invoked in alternating blocks on keep-alive connections (the order
reversed every block, so drifting load on a shared machine falls on both alike), next to
the echo floor. Reported per server: p50/p90/p99/mean latency and the server process's CPU
time per Invoke (from /proc, the sandboxes excluded). Run it twice with the same revision
on both sides (``--base HEAD``) to see the noise of the machine.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
from pathlib import Path

from common import (
    HOST,
    PAYLOAD,
    ROOT,
    ServerProc,
    check_echo,
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
from floors import start_echo
from httpclient import Connection, build_request


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _lambox(name: str, tmp: Path, pythonpath: str | None) -> ServerProc:
    port = free_port()
    env = {"LAMBOX_KEEP_ALIVE": "600"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    server = start_server(name, lambox_argv(port, tmp / name), port, "/lambox/v1/health", tmp, env)
    create_function(lambda_client(server.url), "bench-echo", echo_zip())
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", default="main", help="git revision to compare with")
    parser.add_argument("--blocks", type=int, default=60)
    parser.add_argument("--block", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="lambox-compare-") as where:
        tmp = Path(where)
        archive = subprocess.run(
            ["git", "archive", args.base, "src"], cwd=ROOT, check=True, capture_output=True
        ).stdout
        (tmp / "base").mkdir()
        subprocess.run(["tar", "-x", "-C", str(tmp / "base")], input=archive, check=True)
        servers: list[ServerProc] = []
        try:
            servers.append(start_echo(tmp))
            servers.append(_lambox("base", tmp, str(tmp / "base/src")))
            servers.append(_lambox("this", tmp, None))
            run(dict(zip(("floor", args.base, "this tree"), servers, strict=True)), args)
        finally:
            for server in servers:
                stop_server(server)


def run(targets: dict[str, ServerProc], args: argparse.Namespace) -> None:
    raw = {
        k: build_request(HOST, s.port, invoke_path("bench-echo"), PAYLOAD)
        for k, s in targets.items()
    }
    latency: dict[str, list[int]] = {k: [] for k in targets}
    cpu = dict.fromkeys(targets, 0.0)
    conns = {k: Connection(HOST, s.port) for k, s in targets.items()}
    expected = {k: check_echo(conns[k], raw[k]) for k in targets}
    with gc_paused():
        for k in targets:
            timed(conns[k], raw[k], expected[k], args.block, [])
        for block in range(args.blocks):
            order = list(targets) if block % 2 == 0 else list(reversed(targets))
            for k in order:
                before = _cpu_seconds(targets[k].proc.pid)
                timed(conns[k], raw[k], expected[k], args.block, latency[k])
                cpu[k] += _cpu_seconds(targets[k].proc.pid) - before
    for conn in conns.values():
        conn.close()
    for k in targets:
        s = summarize(latency[k])
        figures = "  ".join(
            f"{m} {s[f'{m}_ms'] * 1000:7.1f}" for m in ("p50", "p90", "p99", "mean")
        )
        per = cpu[k] / len(latency[k]) * 1e6
        print(f"{k:>12}: {figures} us   server CPU/Invoke {per:6.1f} us")


if __name__ == "__main__":
    main()
