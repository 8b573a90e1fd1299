"""Start-up and scale with the number of functions (issue 18).

* Start-up: from ``lambox serve`` being started to its first answered request, with 0 and
  with 10,000 functions in its store, beside the floor of the same HTTP stack's bare server
  (``echo_server.py``) started the same way. The server's own CPU time up to that answer
  (``/proc/<pid>/stat``) is reported too: on a shared machine it is steadier than the wall
  clock. Idle RSS is read a second after the first answer.
* Scale: ListFunctions pages, CreateFunction and a cold start (first Invoke of a new
  function), each with 10 and with 10,000 functions deployed, as the server's CPU time per
  operation and the client's wall time; the two servers run at once and are timed in
  alternating blocks.

The 10,000 functions are made once through the API (one function) and then copied in the
store's SQLite file: creating them one by one would time CreateFunction 10,000 times.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from common import (
    BENCH,
    HOST,
    PAYLOAD,
    ServerProc,
    console,
    create_function,
    echo_zip,
    free_port,
    lambda_client,
    lambox_argv,
    start_server,
    stop_server,
)

SCALES = (10, 10_000)
PAGE = 5  # a page size both scales fill
TICK = os.sysconf("SC_CLK_TCK")
# As a user's shell starts it: with the bytecode cache an installed package has (a test
# environment's PYTHONDONTWRITEBYTECODE would add compiling every module to each start).
USER_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far (children not included)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of ``pid`` in nanoseconds (``schedstat``: finer than the
    clock ticks of ``stat``, for per-operation figures)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            continue  # a thread that ended meanwhile
    return total


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def first_answer(
    argv: list[str], port: int, path: str, log: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """Start ``argv`` (with ``env`` added to the user's environment) and poll ``path``
    until it answers; time, CPU to the answer, idle RSS and CPU a second later (what
    start-up left to do after answering)."""
    import subprocess

    t0 = time.perf_counter()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, cwd=BENCH.parent, env=USER_ENV | (env or {})
        )
    try:
        deadline = t0 + 60
        while True:
            if proc.poll() is not None or time.perf_counter() > deadline:
                raise RuntimeError(f"{argv[2]} did not start: {log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{port}{path}", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.002)
        elapsed = time.perf_counter() - t0
        cpu = cpu_seconds(proc.pid)
        time.sleep(1.0)
        return {
            "first_answer_s": elapsed,
            "cpu_s": cpu,
            "idle_rss_mib": rss_mib(proc.pid),
            "cpu_1s_later_s": cpu_seconds(proc.pid),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def seed(data: Path, tmp: Path, n: int) -> None:
    """A data directory holding ``n`` functions (one made through the API, copied)."""
    port = free_port()
    server = start_server("seed", lambox_argv(port, data), port, "/lambox/v1/health", tmp, {})
    try:
        create_function(lambda_client(server.url), "seed-0", echo_zip())
    finally:
        stop_server(server)
    if n <= 1:
        return
    db = sqlite3.connect(data / "state.db")
    with db:
        db.execute(
            "WITH RECURSIVE k(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM k WHERE i < ?)"
            " INSERT INTO functions (name, version, code_key, config)"
            " SELECT 'seed-' || i, version, code_key, json_set(config, '$.name', 'seed-' || i)"
            " FROM functions, k WHERE name = 'seed-0'",
            (n - 1,),
        )
    db.close()


def measure_startup(tmp: Path, repeat: int = 3) -> dict[str, Any]:
    """First answer of the echo floor and of lambox with 0 and 10,000 functions."""
    out: dict[str, Any] = {}

    def best_of(argv_for: Any, path: str, name: str) -> dict[str, Any]:
        runs = []
        for _ in range(repeat):
            port = free_port()
            runs.append(first_answer(argv_for(port), port, path, tmp / f"{name}.log"))
        return {
            key: statistics.median(r[key] for r in runs)
            for key in ("first_answer_s", "cpu_s", "idle_rss_mib")
        }

    def echo_argv(port: int) -> list[str]:
        return [sys.executable, str(BENCH / "echo_server.py"), "--port", str(port)]

    out["echo_floor"] = best_of(echo_argv, "/", "echo-start")
    for n in (0, 10_000):
        data = tmp / f"start-{n}"
        if n:
            seed(data, tmp, n)
        out[f"lambox_{n}"] = best_of(
            lambda port, d=data: lambox_argv(port, d), "/lambox/v1/health", f"start-{n}"
        )
    return out


def measure_scale(tmp: Path, ops: int = 40, rounds: int = 4) -> dict[str, Any]:
    """ListFunctions, CreateFunction and a cold start with 10 and with 10,000 functions.

    Both servers run at once and each operation is timed in ``rounds`` blocks alternating
    between them, so that a neighbour's burst of load lands on both scales, not on one.
    """
    code = echo_zip()
    servers: dict[int, ServerProc] = {}
    try:
        for n in SCALES:
            data = tmp / f"scale-{n}"
            seed(data, tmp, n)
            port = free_port()
            servers[n] = start_server(
                f"scale-{n}", lambox_argv(port, data), port, "/lambox/v1/health", tmp, {}
            )
        return alternating_ops(servers, code, ops, rounds)
    finally:
        for server in servers.values():
            stop_server(server)


def server_ops(server: ServerProc, code: bytes) -> dict[str, Any]:
    """The operations timed against one server, each called with its own running index."""
    client = lambda_client(server.url)
    first = client.list_functions(MaxItems=PAGE)
    marker = first.get("NextMarker") or ""
    tag = uuid.uuid4().hex[:6]
    created: list[str] = []

    def list_first(_: int) -> None:
        client.list_functions(MaxItems=PAGE)

    def list_middle(_: int) -> None:
        client.list_functions(Marker=marker, MaxItems=PAGE)

    def create(i: int) -> None:
        name = f"new-{tag}-{i + 1}"
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role="arn:aws:iam::000000000000:role/lambox-bench",
            Code={"ZipFile": code},
        )
        created.append(name)

    def cold(i: int) -> None:
        # The first Invoke of a function created above: a new sandbox.
        client.invoke(FunctionName=created[i + 1], Payload=PAYLOAD)

    def wait_active() -> None:
        for name in created:
            client.get_waiter("function_active_v2").wait(FunctionName=name)

    fns: dict[str, Any] = {"list_first_page": list_first}
    if marker:
        fns["list_middle_page"] = list_middle
    fns["create_function"] = create
    fns["cold_invoke"] = cold
    return {"fns": fns, "wait_active": wait_active}


def alternating_ops(
    servers: dict[int, ServerProc], code: bytes, ops: int, rounds: int
) -> dict[str, Any]:
    """Per operation: once untimed on each server (lazily built state is not what is
    measured), then ``rounds`` blocks of ``ops // rounds`` calls, alternating servers."""
    per = {n: server_ops(server, code) for n, server in servers.items()}
    out: dict[str, Any] = {f"functions_{n}": {} for n in servers}
    for op in ("list_first_page", "list_middle_page", "create_function", "cold_invoke"):
        names = [n for n in servers if op in per[n]["fns"]]
        if op == "cold_invoke":
            for n in names:
                per[n]["wait_active"]()
        # A cold start needs a function created above and not invoked yet (one was
        # invoked untimed): one call fewer per block.
        block = ops // rounds - (op == "cold_invoke")
        wall: dict[int, list[float]] = {n: [] for n in names}
        cpu: dict[int, int] = dict.fromkeys(names, 0)
        for n in names:
            per[n]["fns"][op](-1)
        index = 0
        for r in range(rounds):
            for n in names if r % 2 == 0 else reversed(names):
                fn, pid = per[n]["fns"][op], servers[n].proc.pid
                cpu0 = cpu_ns(pid)
                for i in range(index, index + block):
                    t0 = time.perf_counter()
                    fn(i)
                    wall[n].append(time.perf_counter() - t0)
                cpu[n] += cpu_ns(pid) - cpu0
            index += block
        for n in names:
            out[f"functions_{n}"][op] = {
                "wall_p50_ms": statistics.median(wall[n]) * 1000,
                "server_cpu_ms_per_op": cpu[n] / len(wall[n]) / 1e6,
            }
    return out


def print_startup(r: dict[str, Any]) -> None:
    s = r.get("startup", {})
    if "echo_floor" in s:
        console.print("start-up (median of 3): first answer s / server CPU s / idle RSS MiB")
        for key, label in (
            ("echo_floor", "HTTP echo floor (uvicorn+uvloop)"),
            ("lambox_0", "lambox, 0 functions"),
            ("lambox_10000", "lambox, 10,000 functions"),
        ):
            v = s[key]
            console.print(
                f"  {label:36} {v['first_answer_s']:.3f}  {v['cpu_s']:.2f}  {v['idle_rss_mib']:.1f}"
            )
    elif s:
        console.print(f"start-up: {s}")
    sc = r.get("function_scale", {})
    if "functions_10" in sc:
        console.print("scale: p50 wall ms / server CPU ms per operation")
        for op in ("list_first_page", "list_middle_page", "create_function", "cold_invoke"):
            cells = []
            for n in SCALES:
                v = sc[f"functions_{n}"].get(op)
                cells.append(
                    f"{n:>6}: {v['wall_p50_ms']:7.2f} {v['server_cpu_ms_per_op']:7.2f}"
                    if v
                    else f"{n:>6}: -"
                )
            console.print(f"  {op:18} " + "   ".join(cells))
    elif sc:
        console.print(f"scale: {sc}")


if __name__ == "__main__":
    import json
    import tempfile

    from common import measure

    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="lambox-startup-") as name:
        measure(result, "startup", lambda: measure_startup(Path(name)))
        if "--no-scale" not in sys.argv:
            measure(result, "function_scale", lambda: measure_scale(Path(name)))
    print_startup(result)
    print(json.dumps(result, indent=1))
