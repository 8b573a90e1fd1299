"""Sandboxes on the Linux backend: cold starts from a function's zygote, first sandboxes of
new code, SnapStart restores, a burst of starts, and the private memory of idle sandboxes."""

from __future__ import annotations

import asyncio
import io
import os
import resource
import subprocess
import sys
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from common import (
    BENCH_MEMORY_MB,
    HOST,
    ROLE,
    Counts,
    ServerProc,
    create_function,
    free_port,
    invoke_path,
    lambda_client,
    lambox_argv,
    measure,
    start_server,
    stop_server,
    summarize,
)
from httpclient import Connection, build_request
from lambox.control.runtimes import RuntimeCatalog

STDLIB_IMPORTS = "json, decimal, datetime, uuid, hashlib, re, collections, base64, urllib.parse"
# The AWS SDK the Python runtimes provide: the version zygote holds it too.
BOTO3_IMPORTS = "boto3, json"
# Counts its invocations, so an answer of 1 proves the sandbox was new (a cold start).
STDLIB_CODE = (
    f"import {STDLIB_IMPORTS}\n"
    "N = 0\n\n\n"
    "def handler(event, context):\n"
    "    global N\n"
    "    N += 1\n"
    "    return N\n"
)


def stdlib_zip(tag: str, imports: str = STDLIB_IMPORTS) -> bytes:
    """The standard-library handler; ``tag`` makes the package, so its code, new."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", f"# {tag}\n{STDLIB_CODE.replace(STDLIB_IMPORTS, imports)}")
    return buf.getvalue()


def first_invoke(conn: Connection, port: int, name: str) -> int:
    """One timed Invoke that must be the first of its sandbox; its latency in ns."""
    raw = build_request(HOST, port, invoke_path(name), b"{}")
    t0 = time.perf_counter_ns()
    status, body = conn.request(raw)
    t1 = time.perf_counter_ns()
    if status != 200 or body != b"1":
        raise RuntimeError(f"{name}: not a new sandbox: HTTP {status}: {body[:300]!r}")
    return t1 - t0


def cold_from_zygote(
    server: ServerProc, client: Any, n: int, imports: str = STDLIB_IMPORTS
) -> dict[str, Any]:
    """Invokes that find no warm sandbox but a live zygote. The server's keep-alive is
    0.2 s and an invoke is sent every 0.4 s, so the reaper has destroyed the last sandbox
    and each invoke forks a new one from the function's zygote."""
    name = f"bench-zygote-{uuid.uuid4().hex[:8]}"
    create_function(client, name, stdlib_zip(name, imports))
    return cold_starts(server, name, n)


def cold_starts(server: ServerProc, name: str, n: int) -> dict[str, Any]:
    """``n`` cold starts of function ``name`` (whose handler counts its invocations) from its
    zygote, after a first invoke that teaches the zygote what init imports."""
    samples: list[int] = []
    with Connection(HOST, server.port, timeout=60) as conn:
        first_invoke(conn, server.port, name)  # teaches the zygote what init imports
        time.sleep(1.0)
        for i in range(n + 3):
            time.sleep(0.4)
            latency = first_invoke(conn, server.port, name)
            if i >= 3:
                samples.append(latency)
    return summarize(samples)


def first_sandbox(server: ServerProc, client: Any, n: int) -> dict[str, Any]:
    """First Invoke of functions whose code was never seen (no zygote of their own yet:
    they fork from the runtime's base zygote and import everything themselves)."""
    samples: list[int] = []
    with Connection(HOST, server.port, timeout=60) as conn:
        for i in range(n + 1):
            name = f"bench-first-{i}-{uuid.uuid4().hex[:8]}"
            create_function(client, name, stdlib_zip(name))
            latency = first_invoke(conn, server.port, name)
            if i:
                samples.append(latency)
            client.delete_function(FunctionName=name)
    return summarize(samples)


SNAP_RUNTIME = "python3.12"
# An init worth snapshotting: imports and 250 ms of set-up work (a model load, say).
SNAP_INIT_MS = 250
SNAP_CODE = (
    f"import {STDLIB_IMPORTS}, time\n"
    f"time.sleep({SNAP_INIT_MS / 1000})\n"
    "N = 0\n\n\n"
    "def handler(event, context):\n"
    "    global N\n"
    "    N += 1\n"
    "    return N\n"
)


def snapstart(server: ServerProc, client: Any, n: int) -> dict[str, Any]:
    """SnapStart: invokes of a published version with no warm sandbox, restored from the
    version's snapshot, beside the same function's on-demand cold starts of $LATEST (from
    its zygote, running the init each time). Keep-alive is 0.2 s, as in cold_from_zygote."""
    name = f"bench-snap-{uuid.uuid4().hex[:8]}"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("app.py", SNAP_CODE)
    client.create_function(
        FunctionName=name,
        Runtime=SNAP_RUNTIME,
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": buf.getvalue()},
        MemorySize=BENCH_MEMORY_MB,
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    client.publish_version(FunctionName=name)
    client.get_waiter("published_version_active").wait(
        FunctionName=name, Qualifier="1", WaiterConfig={"Delay": 0.05, "MaxAttempts": 1200}
    )
    restored: list[int] = []
    on_demand: list[int] = []
    with Connection(HOST, server.port, timeout=60) as conn:
        first_invoke(conn, server.port, name)  # teaches $LATEST's zygote what init imports
        for i in range(n + 2):
            time.sleep(0.4)
            r = first_invoke(conn, server.port, f"{name}:1")
            time.sleep(0.4)
            d = first_invoke(conn, server.port, name)
            if i >= 2:
                restored.append(r)
                on_demand.append(d)
    return {"restored": summarize(restored), "on_demand": summarize(on_demand)}


def fresh_interpreter_floor(n: int) -> dict[str, Any]:
    """A new interpreter importing what the handler imports: a cold start with no zygote."""
    argv = [sys.executable, "-c", f"import {STDLIB_IMPORTS}"]
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    samples: list[int] = []
    for i in range(n + 1):
        t0 = time.perf_counter_ns()
        subprocess.run(argv, env=env, check=True)
        if i:
            samples.append(time.perf_counter_ns() - t0)
    return summarize(samples)


def private_mib(pid: int) -> float:
    """USS: the memory only this process holds (what killing it gives back)."""
    kib = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                kib += int(line.split()[1])
    return kib / 1024


def init_of(pid: int) -> int | None:
    """The host pid of pid 1 of ``pid``'s pid namespace when that is another process (a
    Python sandbox's init, its sibling under the zygote), else None."""
    namespace = os.readlink(f"/proc/{pid}/ns/pid")
    with open(f"/proc/{pid}/stat") as f:
        parent = int(f.read().rsplit(")", 1)[1].split()[1])
    with open(f"/proc/{parent}/task/{parent}/children") as f:
        siblings = [int(p) for p in f.read().split()]
    for sibling in siblings:
        try:
            if sibling != pid and os.readlink(f"/proc/{sibling}/ns/pid") == namespace:
                return sibling
        except OSError:
            continue
    return None


def sandbox_private_mib(pid: int) -> float:
    """USS of a sandbox: its process's and its init's, if it has one."""
    first = init_of(pid)
    return private_mib(pid) + (private_mib(first) if first is not None else 0.0)


def cpu_seconds(pid: int) -> float:
    """CPU time a live process has used (its scheduler's ns count, not 10 ms ticks)."""
    try:
        with open(f"/proc/{pid}/schedstat") as f:
            return int(f.read().split()[0]) / 1e9
    except (OSError, ValueError):
        return 0.0


def own_cpu_seconds() -> float:
    """CPU time of this process (the host side of the burst: the sandbox layer)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def _burst(tmp: Path, n: int, concurrency: int) -> dict[str, Any]:
    from lambox.model import FunctionConfig, FunctionVersion
    from lambox.sandbox.api import InvokeRequest
    from lambox.sandbox.backends import open_linux

    code_root = tmp / "burst" / "code" / "tree"
    code_dir = code_root / ("0" * 64)
    code_dir.mkdir(parents=True)
    (code_dir / "app.py").write_text(STDLIB_CODE)
    config = FunctionConfig("bench-burst", "python3.11", "app.handler", ROLE, "", 0, "", "")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:bench-burst"
    fv = FunctionVersion(arn, config, code_dir, sys.executable, "us-east-1", 1)
    factory = open_linux(tmp / "burst", code_root)
    made: list[Any] = []
    try:
        first = factory.create(fv)
        await first.start()
        await first.destroy()
        deadline = time.monotonic() + 60
        while not factory.zygotes.version_ready(fv):
            if time.monotonic() > deadline:
                raise RuntimeError("the function's zygote did not start")
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)
        gate = asyncio.Semaphore(concurrency)

        async def start_one() -> Any:
            async with gate:
                sandbox = factory.create(fv)
                made.append(sandbox)
                await sandbox.start()
                return sandbox

        zygote = made_zygote_pid(factory, fv)
        zygote_cpu = cpu_seconds(zygote)
        host_cpu = own_cpu_seconds()
        t0 = time.perf_counter()
        await asyncio.gather(*(start_one() for _ in range(n)))
        seconds = time.perf_counter() - t0
        # CPU per sandbox, by process: wall-clock rates move with the machine's load, CPU
        # time much less. Each sandbox's and its init's are read while they are alive.
        cpu_ms = {
            "host": (own_cpu_seconds() - host_cpu) * 1000 / n,
            "zygote": (cpu_seconds(zygote) - zygote_cpu) * 1000 / n,
            "sandbox": sum(cpu_seconds(s.pid) for s in made) * 1000 / n,
            "init": sum(cpu_seconds(init_of(s.pid) or 0) for s in made) * 1000 / n,
        }
        cpu_ms["total"] = sum(cpu_ms.values())
        sample = made[: min(20, n)]
        for sandbox in sample:
            request = InvokeRequest("r", b"{}", time.time() + 5, arn, None, "")
            await sandbox.invoke(request, 5.0)
        uss = sorted(sandbox_private_mib(sandbox.pid) for sandbox in sample)
    finally:
        for sandbox in made:
            await sandbox.destroy()
        await factory.close()
    return {
        "sandboxes": n,
        "concurrency": concurrency,
        "seconds": seconds,
        "per_s": n / seconds,
        "cpu_ms_per_sandbox": cpu_ms,
        "idle_uss_mib": {"n": len(uss), "p50": uss[len(uss) // 2], "max": uss[-1]},
    }


def made_zygote_pid(factory: Any, fv: Any) -> int:
    """The pid of the version zygote the burst's sandboxes fork from."""
    from lambox.sandbox.zygote import code_key

    key = (fv.interpreter, code_key(fv, factory.zygotes._config["code_root"]), fv.config.handler)
    return int(factory.zygotes._versions[key].process.pid)


def sandbox_burst(tmp: Path, n: int, concurrency: int) -> dict[str, Any]:
    """Sandboxes started at once from one function's zygote (``concurrency`` in flight), by
    the sandbox layer itself in this process, and the private memory of idle ones after one
    invoke each."""
    return asyncio.run(_burst(tmp, n, concurrency))


def measure_sandboxes(r: dict[str, Any], c: Counts, tmp: Path) -> None:
    """Zygote cold starts, first sandboxes, bursts and idle memory (the Linux backend)."""
    port = free_port()
    argv = lambox_argv(port, tmp / "sandboxes")
    env = {"LAMBOX_KEEP_ALIVE": "0.2"}
    if RuntimeCatalog({})._probe(SNAP_RUNTIME) is None:  # SnapStart needs 3.12+; map it
        env["LAMBOX_RUNTIME_MAP"] = (
            f"{SNAP_RUNTIME}=python{sys.version_info[0]}.{sys.version_info[1]}"
        )
    server = start_server("lambox-sandboxes", argv, port, "/lambox/v1/health", tmp, env)
    out: dict[str, Any] = r.setdefault("sandboxes", {})
    try:
        out["backend"] = "linux" if "sandbox backend: linux" in server.output() else "process"
        client = lambda_client(server.url)
        measure(out, "cold_from_zygote", lambda: cold_from_zygote(server, client, 5 * c.cold))
        measure(
            out,
            "cold_from_zygote_boto3",
            lambda: cold_from_zygote(server, client, 5 * c.cold, BOTO3_IMPORTS),
        )
        measure(out, "first_sandbox", lambda: first_sandbox(server, client, c.cold))
        measure(out, "snapstart", lambda: snapstart(server, client, 2 * c.cold))
    finally:
        stop_server(server)
    measure(out, "floor_fresh_interpreter", lambda: fresh_interpreter_floor(c.cold))
    measure(out, "burst", lambda: sandbox_burst(tmp, 20 * c.cold, 16))
