"""What every measurement shares: constants, counts, statistics, the servers under test and
how to talk to them.

Nothing here imports boto3 or lambox at import time: the fork floor is measured first,
while the benchmark process is still small (see ``floors.py``).
"""

from __future__ import annotations

import contextlib
import gc
import io
import json
import os
import socket
import subprocess
import sys
import time
import traceback
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from httpclient import Connection

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
HOST = "127.0.0.1"
ROLE = "arn:aws:iam::000000000000:role/lambox-bench"
ECHO_CODE = "def handler(event, context):\n    return event\n"
PAYLOAD = b'{"k": "v"}'
BENCH_MEMORY_MB = 2048
NS_PER_MS = 1_000_000

console = Console(width=120, highlight=False)


@dataclass(frozen=True)
class Counts:
    """How much of each measurement to take; ``--quick`` shrinks them for a smoke test."""

    fork: int = 500
    warm: int = 5000
    warm_warmup: int = 500
    # Warm latency alternates floor and Invoke in this many blocks so that a burst of noise
    # from a neighbour lands on both rather than on whichever happened to run then.
    warm_blocks: int = 10
    boto3: int = 1000
    boto3_warmup: int = 50
    cold: int = 10
    clients: int = 8
    load_seconds: float = 10.0
    load_warmup_seconds: float = 1.0


FULL = Counts()
QUICK = Counts(
    fork=100,
    warm=500,
    warm_warmup=100,
    warm_blocks=5,
    boto3=100,
    boto3_warmup=10,
    cold=3,
    load_seconds=2.0,
    load_warmup_seconds=0.5,
)


# --------------------------------------------------------------------------- statistics


def percentile(ordered: Sequence[int], p: int) -> int:
    """Nearest-rank percentile of already sorted samples: a latency that was actually seen,
    not an interpolation between two."""
    rank = max(1, -(-len(ordered) * p // 100))  # ceil in integers
    return ordered[min(len(ordered), rank) - 1]


def summarize(samples_ns: Sequence[int]) -> dict[str, float]:
    """p50/p90/p99/max/mean in milliseconds, and the count they are over."""
    ordered = sorted(samples_ns)
    return {
        "n": len(ordered),
        "p50_ms": percentile(ordered, 50) / NS_PER_MS,
        "p90_ms": percentile(ordered, 90) / NS_PER_MS,
        "p99_ms": percentile(ordered, 99) / NS_PER_MS,
        "max_ms": ordered[-1] / NS_PER_MS,
        "mean_ms": sum(ordered) / len(ordered) / NS_PER_MS,
    }


def ratio(a: float, b: float) -> float | None:
    """``a`` relative to its floor ``b``; None rather than a crash when the floor is 0."""
    return a / b if b else None


def target(name: str, value: float, limit: float, higher_is_better: bool = False) -> dict[str, Any]:
    """One of the issue's targets, with whether this run met it (reported, not asserted)."""
    met = value >= limit if higher_is_better else value <= limit
    op = ">=" if higher_is_better else "<="
    return {"name": name, "target": f"{op} {limit:g}", "value": value, "met": met}


# --------------------------------------------------------------------------- sections


def measure(r: dict[str, Any], section: str, fn: Callable[[], dict[str, Any]]) -> None:
    """Run one measurement; a failure is recorded and reported, and the others still run."""
    console.print(f"[dim]measuring {section}...[/]")
    try:
        r[section] = fn()
    except Exception as exc:
        traceback.print_exc()
        r[section] = {"error": f"{type(exc).__name__}: {exc}"}


# --------------------------------------------------------------------------- processes


def free_port() -> int:
    """A port free right now; the servers bind it a moment later (a race tolerated here)."""
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProc:
    """A server subprocess, its port and the file its output goes to."""

    name: str
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def start_server(
    name: str, argv: list[str], port: int, health: str, tmp: Path, env: dict[str, str]
) -> ServerProc:
    """Start ``argv`` and wait until ``health`` answers 200; print its output if it never does."""
    log_path = tmp / f"{name}.log"
    with open(log_path, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env={**os.environ, **env}
        )
    server = ServerProc(name, port, proc, log_path)
    deadline = time.monotonic() + 180  # valgrind on a loaded machine starts slowly
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{server.url}{health}", timeout=2) as r:
                if r.status == 200:
                    return server
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    stop_server(server)
    console.print(f"[bold red]{name} did not start[/]; its output:\n{server.output()}")
    raise RuntimeError(f"{name} did not start (exit code {proc.returncode})")


def stop_server(server: ServerProc) -> None:
    """Terminate (lambox then stops its sandboxes), kill only if it does not go."""
    if server.proc.poll() is None:
        server.proc.terminate()
        try:
            server.proc.wait(15)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


def lambox_argv(port: int, data_dir: Path) -> list[str]:
    """``lambox serve`` on ``port`` with its own data directory."""
    serve = ["serve", "--host", HOST, "--port", str(port), "--data-dir", str(data_dir)]
    return [sys.executable, "-m", "lambox.cli.main", *serve]


# --------------------------------------------------------------------------- requests


def timed(conn: Connection, raw: bytes, expected: bytes, n: int, out: list[int]) -> None:
    """``n`` sequential requests on one connection; latency of each appended to ``out``.

    Every answer is compared with ``expected``: a fast error is not a fast invocation.
    """
    request = conn.request
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        status, body = request(raw)
        t1 = clock()
        if status != 200 or body != expected:
            raise RuntimeError(f"HTTP {status}: {body[:300]!r}")
        out.append(t1 - t0)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The client's own garbage collections would show up as server latency; hold them off."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def invoke_path(name: str) -> str:
    """The Invoke URL path; the floor is sent the same path so both parse the same request."""
    return f"/2015-03-31/functions/{name}/invocations"


def check_echo(conn: Connection, raw: bytes) -> bytes:
    """One request that must echo the payload; its exact bytes are what later answers must be.

    Compared as JSON here because the runtime re-serializes the handler's return value.
    """
    status, body = conn.request(raw)
    try:
        ok = status == 200 and json.loads(body) == json.loads(PAYLOAD)
    except ValueError:
        ok = False
    if not ok:
        raise RuntimeError(f"echo answered HTTP {status}: {body[:300]!r}")
    return body


# --------------------------------------------------------------------------- functions


def lambda_client(url: str) -> Any:
    """A boto3 Lambda client for lambox (imported late: see the fork floor in ``run``)."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        # No retries: a retried call would be timed as one slow call.
        config=Config(retries={"total_max_attempts": 1}, read_timeout=120),
    )


def create_function(client: Any, name: str, code: bytes, memory_mb: int = BENCH_MEMORY_MB) -> float:
    """Create a function and wait until Active; return how long that took in ms."""
    t0 = time.perf_counter_ns()
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": code},
        # Under LAMBOX_CPU_MODE=quota, CPU is capped in proportion to memory as on Lambda
        # (1,769 MB = one vCPU): at 128 MB the cap, not lambox, would set the figures.
        MemorySize=memory_mb,
    )
    client.get_waiter("function_active_v2").wait(
        FunctionName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60}
    )
    return (time.perf_counter_ns() - t0) / NS_PER_MS


def echo_zip() -> bytes:
    """The deployment package of the echo handler, whose own time is negligible."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", ECHO_CODE)
    return buf.getvalue()
