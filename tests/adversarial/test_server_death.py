"""A sandbox dies with its server: after ``kill -9`` of the server (and of its zygotes)
nothing it started (zygotes, spares, busy and idle sandboxes, Runtime API sandboxes) lives
on, its cgroup directories are removed, and a new server on the same data directory serves.
When even the server's cgroup watcher was killed, the next server's start does the same.

Its own server, since the test kills it. Gated on the server isolating its sandboxes.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from lambox.sandbox.cgroups import CgroupTree
from tests.conftest import ROLE, make_zip, start_server, stop_server

PYTHON = """
import os, subprocess, time

def probe(event, context):
    return {"pid": os.getpid(), "uid": os.getuid()}

def nap(event, context):
    time.sleep(event["seconds"])
    return "slept"

def sleep(event, context):
    subprocess.Popen(["sleep", str(event["seconds"])])  # a marker the test can see
    time.sleep(event["seconds"])
    return "slept"
"""
BOOTSTRAP = """#!/bin/sh
API="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation"
while true; do
  ID=$(curl -sS -D - -o /dev/null "$API/next" | tr -d '\\r' \\
    | sed -n 's/^[Ll]ambda-[Rr]untime-[Aa]ws-[Rr]equest-[Ii]d: //p')
  curl -sS "$API/$ID/response" -d '"ok"' >/dev/null
done
"""


def _client(url: str) -> Any:
    return boto3.client(
        "lambda",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=60),
    )


def _create(client: Any, name: str, **params: Any) -> None:
    client.create_function(FunctionName=name, Role=ROLE, **params)
    client.get_waiter("function_active_v2").wait(FunctionName=name)


def _start_time(pid: int) -> str | None:
    """The start time of ``pid`` (None once it is gone or a zombie: dead, not yet reaped by
    whoever inherited it), so a reused pid is not mistaken for the process that had it."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _running(pids: dict[int, str], module: bytes) -> list[int]:
    """Those of ``pids`` running ``python -m module``."""
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if module in f.read().split(b"\0"):
                    found.append(pid)
        except OSError:
            continue
    return found


def _gone(started: dict[int, str], dirs: list[Path], seconds: float) -> set[int]:
    """Wait up to ``seconds`` for ``started`` to be dead and ``dirs`` removed; the pids
    still alive."""
    deadline = time.monotonic() + seconds
    while True:
        alive = {pid for pid, start in started.items() if _start_time(pid) == start}
        if (not alive and not any(path.exists() for path in dirs)) or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _descendants(root: int) -> dict[int, str]:
    """Every process under ``root`` (with its start time)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found: dict[int, str] = {}
    todo = list(children.get(root, []))
    while todo:
        pid = todo.pop()
        start = _start_time(pid)
        if start is not None:
            found[pid] = start
        todo.extend(children.get(pid, []))
    return found


def _sleeping(pids: set[int]) -> bool:
    """Whether the sleeping invocation's marker process is among ``pids``."""
    for pid in pids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() == b"sleep\x0097\x00":
                    return True
        except OSError:
            continue
    return False


def _cgroup_dirs(server_pid: int) -> list[Path]:
    mountinfo = Path("/proc/self/mountinfo").read_text()
    own = Path(f"/proc/{server_pid}/cgroup").read_text()
    tree, _ = CgroupTree.detect(mountinfo, own, server_pid)
    assert tree is not None
    return list(tree.parents.values())


def _procs(dirs: list[Path]) -> set[int]:
    pids: set[int] = set()
    for path in dirs:
        for procs in path.glob("*/cgroup.procs"):
            try:
                listed = (int(p) for p in procs.read_text().split())
                pids.update(p for p in listed if _start_time(p) is not None)
            except (OSError, ValueError):
                continue
    return pids


@pytest.mark.parametrize("victims", ["server", "server-and-zygotes", "everything"])
def test_kill_9_of_the_server_takes_its_sandboxes_and_cgroups_along(
    tmp_path: Path, victims: str
) -> None:
    data = tmp_path / "data"
    server = start_server(data)
    try:
        client = _client(server.url)
        code = make_zip({"app.py": PYTHON})
        _create(client, "probe", Runtime="python3.11", Handler="app.probe", Code={"ZipFile": code})
        out = client.invoke(FunctionName="probe", Payload=b"{}")
        info = json.loads(out["Payload"].read())
        if info.get("pid") != 1 or info.get("uid") == 0:
            pytest.skip(f"sandboxes are not isolated on this server: {info}")
        _create(client, "sleep", Runtime="python3.11", Handler="app.sleep", Code={"ZipFile": code})
        client.invoke(FunctionName="sleep", InvocationType="Event", Payload=b'{"seconds": 97}')
        shell = make_zip({"bootstrap": BOOTSTRAP}, {"bootstrap": 0o755})
        _create(client, "shell", Runtime="provided.al2023", Handler="x", Code={"ZipFile": shell})
        assert client.invoke(FunctionName="shell", Payload=b"{}")["Payload"].read() == b'"ok"'
        dirs = _cgroup_dirs(server.proc.pid)
        deadline = time.monotonic() + 30
        while not _sleeping(_procs(dirs)) and time.monotonic() < deadline:
            time.sleep(0.1)  # until the event invocation runs: its sandbox is busy
        assert _sleeping(_procs(dirs)), "the sleeping invocation never started"
        started = _descendants(server.proc.pid)
        for pid in _procs(dirs) - set(started):  # spares forked since
            start = _start_time(pid)
            if start is not None:
                started[pid] = start
    except BaseException:
        stop_server(server)
        raise
    # With its zygotes too (an OOM kill, a kill of the whole tree), no zygote is left to
    # notice the server is gone: its cgroup watcher kills the sandboxes. With the watcher
    # too, the next server's start-up sweep must, the sleeping sandbox still running.
    zygotes = _running(started, b"lambox.runtime.zygote")
    watcher = _running(started, b"lambox.sandbox.watcher")
    assert len(zygotes) >= 2 and len(watcher) == 1, (zygotes, watcher)  # base and version
    killed = {
        "server": [],
        "server-and-zygotes": zygotes,
        "everything": zygotes + watcher,
    }[victims] + [server.proc.pid]
    for pid in killed:
        os.kill(pid, signal.SIGKILL)
    server.proc.wait()
    if victims != "everything":
        alive = _gone(started, dirs, 3)
        assert not alive, f"processes of the killed server still run: {sorted(alive)}"
        assert [path for path in dirs if path.exists()] == []  # removed by its watcher

    again = start_server(data)
    try:
        alive = _gone(started, dirs, 3)
        assert not alive, f"processes of the killed server still run: {sorted(alive)}"
        assert [path for path in dirs if path.exists()] == []
        out = _client(again.url).invoke(FunctionName="probe", Payload=b"{}")
        assert json.loads(out["Payload"].read())["pid"] == 1
    finally:
        stop_server(again)


def test_plain_process_sandboxes_die_with_their_server(tmp_path: Path) -> None:
    """On the plain-process backend too (no zygote, no cgroup): a sandbox busy in its
    handler when the server is killed dies with it."""
    server = start_server(tmp_path / "data", {"LAMBOX_SANDBOX": "process"})
    try:
        client = _client(server.url)
        code = make_zip({"app.py": PYTHON})
        _create(client, "probe", Runtime="python3.11", Handler="app.probe", Code={"ZipFile": code})
        client.invoke(FunctionName="probe", Payload=b"{}")
        _create(client, "nap", Runtime="python3.11", Handler="app.nap", Code={"ZipFile": code})
        client.invoke(FunctionName="nap", InvocationType="Event", Payload=b'{"seconds": 97}')
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sandboxes = _running(_descendants(server.proc.pid), b"lambox.runtime")
            if len(sandboxes) >= 2:
                break
            time.sleep(0.1)
        assert len(sandboxes) >= 2, sandboxes
        time.sleep(1.0)  # the event invocation is in its handler now
        started = {pid: start for pid, start in _descendants(server.proc.pid).items()}
        sandboxes = _running(started, b"lambox.runtime")
    except BaseException:
        stop_server(server)
        raise
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    alive = _gone({pid: started[pid] for pid in sandboxes}, [], 3)
    assert not alive, f"sandboxes of the killed server still run: {sorted(alive)}"
