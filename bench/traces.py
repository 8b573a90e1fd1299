"""What traces cost a warm Invoke: this lambox with a PassThrough function (tracing off),
the same server's Active function exporting its spans over OTLP/HTTP, and, with
``--baseline-src``, a lambox run from an older source tree (before traces), beside the HTTP
echo floor, the kinds alternating in blocks in one run.

Run: ``.venv/bin/python bench/traces.py [--quick] [--baseline-src DIR]`` (DIR: the ``src``
of ``git archive`` of the commit before). The collector is the echo server itself: it
answers the exporter's POSTs with 200, which is all an exporter waits for.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

from common import (
    HOST,
    PAYLOAD,
    check_echo,
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


def _lambox(tmp: Path, name: str, env: dict[str, str]) -> Any:
    port = free_port()
    return start_server(
        name, lambox_argv(port, tmp / name), port, "/lambox/v1/health", tmp,
        {"LAMBOX_KEEP_ALIVE": "600", **env},
    )  # fmt: skip


def _function(url: str, name: str, mode: str | None) -> None:
    client = lambda_client(url)
    extra = {"TracingConfig": {"Mode": mode}} if mode else {}
    client.create_function(
        FunctionName=name, Runtime="python3.11", Handler="app.handler",
        Role="arn:aws:iam::000000000000:role/bench", Code={"ZipFile": echo_zip()},
        MemorySize=1769, **extra,
    )  # fmt: skip
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )


def warm(n: int, blocks: int, baseline_src: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lambox-bench-traces-") as tmp_name:
        tmp = Path(tmp_name)
        echo = start_echo(tmp)
        servers = [echo]
        try:
            lambox = _lambox(tmp, "lambox", {"LAMBOX_OTLP_ENDPOINT": echo.url})
            servers.append(lambox)
            _function(lambox.url, "off", "PassThrough")
            _function(lambox.url, "active", "Active")
            kinds = {
                "floor": (echo.port, "off"),
                "tracing_off": (lambox.port, "off"),
                "tracing_active": (lambox.port, "active"),
            }
            if baseline_src is not None:
                base = _lambox(tmp, "baseline", {"PYTHONPATH": str(baseline_src)})
                servers.append(base)
                _function(base.url, "off", None)
                kinds["baseline"] = (base.port, "off")
            raws = {
                k: build_request(HOST, port, invoke_path(fn), PAYLOAD)
                for k, (port, fn) in kinds.items()
            }
            out: dict[str, list[int]] = {k: [] for k in kinds}
            conns = {k: Connection(HOST, port) for k, (port, _) in kinds.items()}
            try:
                ok = {k: check_echo(conns[k], raws[k]) for k in kinds}
                with gc_paused():
                    for k in kinds:
                        timed(conns[k], raws[k], ok[k], n // blocks // 5, [])
                    for _ in range(blocks):
                        for k in kinds:
                            timed(conns[k], raws[k], ok[k], n // blocks, out[k])
            finally:
                for conn in conns.values():
                    conn.close()
            return {k: summarize(v) for k, v in out.items()}
        finally:
            for server in reversed(servers):
                stop_server(server)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline-src", type=Path, help="a lambox src/ tree from before")
    args = parser.parse_args(argv)
    figures = warm(1000 if args.quick else 5000, 10, args.baseline_src)
    for kind, s in figures.items():
        print(f"warm invoke {kind:15s} p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
