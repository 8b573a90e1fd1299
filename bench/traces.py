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
                    order = list(kinds)
                    for b in range(blocks):
                        # Each kind takes its turn first: the one after an idle spell of its
                        # server would otherwise pay for waking it up in every block.
                        for k in order[b % len(order) :] + order[: b % len(order)]:
                            timed(conns[k], raws[k], ok[k], n // blocks, out[k])
            finally:
                for conn in conns.values():
                    conn.close()
            return {k: summarize(v) for k, v in out.items()}
        finally:
            for server in reversed(servers):
                stop_server(server)


def recorder_cost(n: int) -> dict[str, float]:
    """In-process, median microseconds per invocation: what the old code did (one new trace
    header), the tracer's work for a PassThrough function without and with a caller's
    header, and an Active one's recording on the request path (ids, clock readings, the
    trace queued; spans are built and exported by the exporting thread)."""
    import statistics
    import time

    from lambox.invoke.ids import trace_id
    from lambox.tracing.otlp import OtlpSink
    from lambox.tracing.recorder import Tracer

    sink = OtlpSink("http://127.0.0.1:9/v1/traces", delay_ms=60_000)
    plain, active = Tracer(None, trace_id), Tracer(sink, trace_id)
    header = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

    def old() -> None:
        trace_id()

    def off() -> None:
        plain.begin("PassThrough", None, "f", "arn", "rid")

    def off_header() -> None:
        plain.begin("PassThrough", header, "f", "arn", "rid")

    def recorded() -> None:
        _, trace = active.begin("Active", header, "f", "arn", "rid")
        assert trace is not None
        trace.cold = True
        trace.init_ms = 1.0
        active.finish(trace)

    out: dict[str, float] = {}
    for name, fn in (("old_header", old), ("off", off), ("off_with_header", off_header),
                     ("active_recorded", recorded)):  # fmt: skip
        samples = []
        for _ in range(20):
            t0 = time.perf_counter_ns()
            for _ in range(n // 20):
                fn()
            samples.append((time.perf_counter_ns() - t0) / (n // 20) / 1000)
        out[name] = statistics.median(samples)
    sink._queue.clear()  # the bench measures queueing, not a collector
    sink.close()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--baseline-src", type=Path, help="a lambox src/ tree from before")
    args = parser.parse_args(argv)
    cost = recorder_cost(2000 if args.quick else 20000)
    print("in-process, median us per invocation:", {k: round(v, 2) for k, v in cost.items()})
    figures = warm(1000 if args.quick else 8000, 16, args.baseline_src)
    for kind, s in figures.items():
        print(f"warm invoke {kind:15s} p50 {s['p50_ms']:.3f} ms  p99 {s['p99_ms']:.3f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
