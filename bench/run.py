"""lambox benchmark: warm and cold Invoke latency and throughput, each beside a floor.

Entry point of ``make bench`` (``.venv/bin/python bench/run.py --out bench/results.json``).

Why floors: the machine this runs on is small, shared and noisy, so an absolute millisecond
figure says as much about the neighbours as about lambox. Every figure is therefore measured
next to a floor taken in the same run, with the same client and the same counts, and
reported as a difference or ratio to it (the floors are described in ``floors.py``).

The script prints tables and writes JSON; it asserts nothing. Targets from the issue are
reported with ``met: true/false``. The exit status is non-zero only when a measurement could
not be taken at all (a server did not start, a request failed).

Modules: ``common.py`` (counts, statistics, servers, requests), ``floors.py``, ``invoke.py``
(warm, boto3, cold, throughput), ``scaling.py`` (aliases, provisioned concurrency, idle
sandboxes), ``async_events.py``, ``sandboxes.py``, and ``report.py`` (the printed tables).
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
import uuid
from dataclasses import asdict
from pathlib import Path
from typing import Any

import durable as durable_bench
import eventbridge as eventbridge_bench
import invoke_floors
import logs as logs_bench
import metrics as metrics_bench
import s3 as s3_bench
import sqs as sqs_bench
from chatty import measure_chatty
from common import (
    FULL,
    HOST,
    PAYLOAD,
    QUICK,
    ROOT,
    Counts,
    ServerProc,
    check_echo,
    console,
    create_function,
    echo_zip,
    free_port,
    invoke_path,
    lambda_client,
    lambox_argv,
    measure,
    ratio,
    start_server,
    stop_server,
    target,
)
from floors import echo_floor_only, fork_floor, start_echo
from function_url import measure_function_url
from httpclient import Connection, build_request
from invoke import measure_invoke
from report import print_report
from sandboxes import measure_sandboxes
from startup import measure_scale, measure_startup, print_startup
from warm_functions import measure_warm_functions

# Issue 18's targets (throughput and the cold path), as the issue states them: a ratio to a
# floor of the same run where it names one. Reported, never asserted.
TARGET_THROUGHPUT_TO_ECHO = 0.5
TARGET_THROUGHPUT_P99_MS = 10.0
TARGET_WARM_OVERHEAD_P50_MS = 0.15
TARGET_WARM_OVERHEAD_P99_MS = 0.5
TARGET_BURST_TO_FORK = 0.8
TARGET_IDLE_USS_MIB = 2.0
TARGET_FIRST_ANSWER_S = 0.5
TARGET_WARM_FUNCTIONS_TO_SINGLE = 0.8
# "cost about what they cost with 10": read as at most this much more server CPU per operation.
TARGET_SCALE_COST_RATIO = 1.25
# Targets of earlier issues, still reported under the issue 18 ones.
TARGET_ACCEPTED = 3000.0
TARGET_COLD_ZYGOTE_P50_MS = 5.0
TARGET_COLD_ZYGOTE_P99_MS = 15.0
TARGET_FIRST_SANDBOX_MS = 60.0
TARGET_PUT_EVENTS_PER_S = 5000.0
TARGET_SCHEDULE_LATENESS_P99_MS = 1000.0
SCALE_OPS = ("list_first_page", "list_middle_page", "create_function", "cold_invoke")


def environment() -> dict[str, Any]:
    """What the figures depend on besides lambox: cores, load, interpreter, code version."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        head = ""
    try:
        version = importlib.metadata.version("lambox")
    except importlib.metadata.PackageNotFoundError:
        version = "?"
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "nproc": len(os.sched_getaffinity(0)),
        "cpu_count": os.cpu_count(),
        "loadavg_before": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "platform": platform.platform(),
        "lambox_version": version,
        "git_head": head,
    }


def collect_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 18's targets for the sections that were measured, then earlier issues' ones."""
    return [*issue_18_targets(r), *({**t, "issue": "earlier"} for t in earlier_targets(r))]


def issue_18_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Throughput, warm overhead, bursts, idle memory, start-up and scale (issue 18)."""
    out = []
    tp = r.get("throughput", {})
    if "invoke" in tp:
        inv, floor = tp["invoke"], tp["floor_http_echo"]
        out.append(
            ratio_target(
                f"throughput, {inv['clients']} clients: Invoke {inv['rps']:.0f}/s"
                f" / HTTP echo floor {floor['rps']:.0f}/s",
                inv["rps"],
                floor["rps"],
                TARGET_THROUGHPUT_TO_ECHO,
            )
        )
        out.append(
            target(
                f"throughput, {inv['clients']} clients: p99 ms",
                inv["latency"]["p99_ms"],
                TARGET_THROUGHPUT_P99_MS,
            )
        )
    w = r.get("warm_invoke", {})
    if "overhead_ms" in w:
        for k, limit in (
            ("p50", TARGET_WARM_OVERHEAD_P50_MS),
            ("p99", TARGET_WARM_OVERHEAD_P99_MS),
        ):
            out.append(
                target(f"warm overhead over the echo floor {k} ms", w["overhead_ms"][k], limit)
            )
    burst = r.get("sandboxes", {}).get("burst", {})
    fork = r["floors"].get("fork", {})
    if "per_s" in burst and "p50_ms" in fork:
        forks = 1000 / fork["p50_ms"]
        out.append(
            ratio_target(
                f"sandbox burst {burst['per_s']:.0f}/s / bare fork floor {forks:.0f}/s",
                burst["per_s"],
                forks,
                TARGET_BURST_TO_FORK,
            )
        )
    if "idle_uss_mib" in burst:
        uss = burst["idle_uss_mib"]["max"]
        out.append(target("idle warm sandbox USS MiB (max)", uss, TARGET_IDLE_USS_MIB))
    st = r.get("startup", {})
    for n in (0, 10_000):
        if f"lambox_{n}" in st:
            s = st[f"lambox_{n}"]
            out.append(
                target(
                    f"start-up to first answer s, {n:,} functions"
                    f" (idle RSS {s['idle_rss_mib']:.1f} MiB)",
                    s["first_answer_s"],
                    TARGET_FIRST_ANSWER_S,
                )
            )
    wf = r.get("warm_functions", {})
    if "points" in wf:
        single, spread = wf["points"]["1"], wf["points"][str(wf["target_warm"])]
        out.append(
            ratio_target(
                f"{wf['target_warm']} warm of {wf['deployed']:,} deployed, round robin:"
                f" {spread['rps']:.0f}/s / one function {single['rps']:.0f}/s"
                + (
                    f" (relay floor, same spread: {relay['ratio_spread_to_single']:.2f}x)"
                    if (relay := wf.get("floor_relay"))
                    else ""
                ),
                spread["rps"],
                single["rps"],
                TARGET_WARM_FUNCTIONS_TO_SINGLE,
            )
        )
    sc = r.get("function_scale", {})
    small, large = sc.get("functions_10", {}), sc.get("functions_10000", {})
    for op in SCALE_OPS:
        if op in small and op in large:
            a, b = small[op]["server_cpu_ms_per_op"], large[op]["server_cpu_ms_per_op"]
            out.append(
                ratio_target(
                    f"{op} server CPU, 10,000 functions {b:.2f} ms / 10 functions {a:.2f} ms",
                    b,
                    a,
                    TARGET_SCALE_COST_RATIO,
                    higher_is_better=False,
                )
            )
    return [{**t, "issue": "18"} for t in out]


def ratio_target(
    name: str, value: float, floor: float, limit: float, higher_is_better: bool = True
) -> dict[str, Any]:
    """A target stated as a ratio to a figure of the same run (a floor, or a baseline)."""
    t = target(name, ratio(value, floor) or 0.0, limit, higher_is_better)
    return {**t, "target": t["target"] + "x", "measured": value, "floor": floor}


def earlier_targets(r: dict[str, Any]) -> list[dict[str, Any]]:
    """Targets of earlier issues (cold starts, asynchronous invokes, EventBridge)."""
    out = []
    sb = r.get("sandboxes", {})
    cold, first = (sb.get(k, {}) for k in ("cold_from_zygote", "first_sandbox"))
    if "p50_ms" in cold:
        out.append(
            target("cold start from zygote p50 ms", cold["p50_ms"], TARGET_COLD_ZYGOTE_P50_MS)
        )
        out.append(
            target("cold start from zygote p99 ms", cold["p99_ms"], TARGET_COLD_ZYGOTE_P99_MS)
        )
    if "p50_ms" in first:
        out.append(
            target("first sandbox, no zygote p50 ms", first["p50_ms"], TARGET_FIRST_SANDBOX_MS)
        )
    ae = r.get("async_events", {})
    if "accepted" in ae:
        out.append(
            target("Event invokes accepted/s", ae["accepted"]["per_s"], TARGET_ACCEPTED, True)
        )
    eb = r.get("eventbridge", {})
    if "put_events" in eb:
        rate = eb["put_events"]["events_per_s"]
        out.append(target("PutEvents events/s, 1,000 rules", rate, TARGET_PUT_EVENTS_PER_S, True))
        late = eb["schedules"]["lateness"]
        if "p99_ms" in late:
            out.append(
                target(
                    f"{eb['schedules']['schedules']} rate(1 minute) schedules: lateness p99 ms",
                    late["p99_ms"],
                    TARGET_SCHEDULE_LATENESS_P99_MS,
                )
            )
    return out


LAMBOX_SECTIONS = ("warm_invoke", "boto3_invoke", "cold_invoke", "throughput")


def measure_servers(r: dict[str, Any], c: Counts, tmp: Path, servers: list[ServerProc]) -> None:
    """Start the echo floor and lambox (appending them to ``servers``) and measure both."""
    echo = start_echo(tmp)
    servers.append(echo)
    fn = "bench-echo"
    code = echo_zip()
    try:
        lambox_port = free_port()
        lambox = start_server(
            "lambox",
            lambox_argv(lambox_port, tmp / "data"),
            lambox_port,
            "/lambox/v1/health",
            tmp,
            # Sandboxes must stay warm across the whole run, idle phases included.
            {"LAMBOX_KEEP_ALIVE": "600"},
        )
        servers.append(lambox)
        client = lambda_client(lambox.url)
        create_function(client, fn, code)
        # One invoke that must work before anything is timed: if it does not, every
        # measurement would only time the same error.
        with Connection(HOST, lambox.port, timeout=60) as conn:
            check_echo(conn, build_request(HOST, lambox.port, invoke_path(fn), PAYLOAD))
    except Exception as exc:
        traceback.print_exc()
        for section in LAMBOX_SECTIONS:
            r[section] = {"error": f"lambox unavailable: {type(exc).__name__}: {exc}"}
        measure(r["floors"], "http_echo", lambda: echo_floor_only(echo, c))
        if len(servers) > 1:
            r["lambox_log_tail"] = servers[1].output().splitlines()[-40:]
        return

    measure_invoke(r, c, lambox, echo, client, fn, code)
    measure(r, "relay_floor", lambda: invoke_floors.measure_section(tmp, echo, lambox, fn, c))
    measure(r, "warm_functions", lambda: measure_warm_functions(tmp, echo, c, c == QUICK))
    measure(r, "function_url", lambda: measure_function_url(client, lambox, echo, c))
    measure_cpu_modes(r, c, tmp, lambox, echo, servers)
    measure_scaling(r, c, tmp, client, lambox, fn, code)
    measure_async(r, c, client, lambox, echo)
    measure(r, "s3", lambda: s3_bench.measure_s3(lambox, echo, c, tmp, c == QUICK))
    measure(
        r,
        "eventbridge",
        lambda: eventbridge_bench.measure_eventbridge(lambox, echo, c, c == QUICK),
    )
    measure(r, "sqs", lambda: sqs_bench.measure_sqs(lambox, echo, c))
    measure(r, "durable", lambda: durable_bench.measure_durable(lambox, tmp, c == QUICK))
    measure(r, "logs", lambda: logs_bench.measure_logs(tmp, c == QUICK))
    measure(r, "metrics", lambda: metrics_bench.measure_metrics(c == QUICK))
    measure_sandboxes(r, c, tmp)
    measure(r, "chatty", lambda: measure_chatty(client, lambox.url, lambox.port))
    measure(r, "startup", lambda: measure_startup(tmp))
    measure(r, "function_scale", lambda: measure_scale(tmp))
    if any("error" in r[s] for s in LAMBOX_SECTIONS):
        r["lambox_log_tail"] = lambox.output().splitlines()[-40:]


def measure_cpu_modes(
    r: dict[str, Any],
    c: Counts,
    tmp: Path,
    lambox: ServerProc,
    echo: ServerProc,
    servers: list[ServerProc],
) -> None:
    """A 128 MB function under each LAMBOX_CPU_MODE: see ``cpu_modes.py``."""
    import cpu_modes

    def start_quota() -> ServerProc:
        port = free_port()
        argv = lambox_argv(port, tmp / f"quota-{port}")
        env = {"LAMBOX_KEEP_ALIVE": "600", "LAMBOX_CPU_MODE": "quota"}
        server = start_server("lambox-quota", argv, port, "/lambox/v1/health", tmp, env)
        servers.append(server)
        return server

    measure(r, "cpu_modes", lambda: cpu_modes.measure_modes(lambox, echo, start_quota, c))


def measure_scaling(
    r: dict[str, Any], c: Counts, tmp: Path, client: Any, lambox: ServerProc, fn: str, code: bytes
) -> None:
    """Versions, aliases and concurrency: see ``scaling.py``."""
    import scaling

    measure(r, "alias_invoke", lambda: scaling.alias_latency(client, lambox.port, fn, c.warm))
    ready_fn = f"bench-provisioned-{uuid.uuid4().hex[:8]}"
    create_function(client, ready_fn, code)
    measure(r, "provisioned_ready", lambda: scaling.provisioned_ready(client, ready_fn, 10))

    def start(env: dict[str, str]) -> ServerProc:
        port = free_port()
        argv = lambox_argv(port, tmp / f"idle-{port}")
        return start_server("lambox-idle", argv, port, "/lambox/v1/health", tmp, env)

    def create(server: ServerProc, name: str) -> None:
        create_function(lambda_client(server.url), name, code)

    measure(r, "idle_sandboxes", lambda: scaling.idle_after_traffic(start, create, 2.0))


def measure_async(
    r: dict[str, Any], c: Counts, client: Any, lambox: ServerProc, echo: ServerProc
) -> None:
    """Asynchronous invocation: accepted and drained events/s; see ``async_events.py``."""
    import async_events

    fn = f"bench-async-{uuid.uuid4().hex[:8]}"
    create_function(client, fn, async_events.event_zip())
    args = (lambox.url, lambox.port, echo.port, fn, c.clients, c.load_seconds)
    measure(r, "async_events", lambda: async_events.measure_all(*args))


def run(
    c: Counts,
    quick: bool,
    sandboxes_only: bool = False,
    startup_only: bool = False,
    scale_only: bool = False,
) -> dict[str, Any]:
    t_start = time.monotonic()
    r: dict[str, Any] = {"quick": quick, "counts": asdict(c), "environment": environment()}
    # The fork floor first, while this process is still small (boto3 is not imported yet).
    r["floors"] = {}
    measure(r["floors"], "fork", lambda: fork_floor(c.fork))
    with tempfile.TemporaryDirectory(prefix="lambox-bench-") as tmp_name:
        servers: list[ServerProc] = []
        try:
            if sandboxes_only:
                measure_sandboxes(r, c, Path(tmp_name))
            elif startup_only:
                measure(r, "startup", lambda: measure_startup(Path(tmp_name)))
                measure(r, "function_scale", lambda: measure_scale(Path(tmp_name)))
            elif scale_only:
                measure_scale_only(r, c, quick, Path(tmp_name), servers)
            else:
                measure_servers(r, c, Path(tmp_name), servers)
        except Exception as exc:
            traceback.print_exc()
            r["servers"] = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            for server in reversed(servers):
                stop_server(server)
    r["targets"] = collect_targets(r)
    r["environment"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    r["elapsed_s"] = time.monotonic() - t_start
    return r


def measure_scale_only(
    r: dict[str, Any], c: Counts, quick: bool, tmp: Path, servers: list[ServerProc]
) -> None:
    """Scale with the number of functions: warm functions round robin, then the cost of
    operations with 10 and 10,000 deployed."""
    echo = start_echo(tmp)
    servers.append(echo)
    measure(r, "warm_functions", lambda: measure_warm_functions(tmp, echo, c, quick))
    measure(r, "function_scale", lambda: measure_scale(tmp))


def rounded(value: Any) -> Any:
    """Floats to 4 decimals (0.1 us in ms): more digits would only be noise in the JSON."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="lambox latency and throughput benchmark.")
    parser.add_argument("--quick", action="store_true", help="smaller counts: a smoke test")
    parser.add_argument("--out", type=Path, help="write the results as JSON here")
    parser.add_argument(
        "--sandboxes",
        action="store_true",
        help="only the fork floor and the sandboxes section (cold starts on the Linux backend)",
    )
    parser.add_argument(
        "--startup",
        action="store_true",
        help="only start-up (0 and 10,000 functions) and the cost of operations at scale",
    )
    parser.add_argument(
        "--scale",
        action="store_true",
        help="only scale with the number of functions: 1, 10 and 100 warm of 1,000 deployed"
        " (300 with --quick), and operations with 10 and 10,000",
    )
    args = parser.parse_args(argv)
    counts = QUICK if args.quick else FULL
    result = run(counts, args.quick, args.sandboxes, args.startup, args.scale)
    print_report(result)
    print_startup(result)
    if args.out:
        args.out.write_text(json.dumps(rounded(result), indent=2) + "\n")
        console.print(f"results written to {args.out}")
    failed = [k for k, v in result.items() if isinstance(v, dict) and "error" in v]
    failed += [k for k, v in result["floors"].items() if isinstance(v, dict) and "error" in v]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
