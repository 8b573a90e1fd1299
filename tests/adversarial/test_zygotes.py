"""Zygotes are lambox's, not a function's: when they die, running sandboxes keep serving
and the next cold start gets a new zygote."""

from __future__ import annotations

import os
import signal
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.adversarial.conftest import call
from tests.conftest import ROLE, LamboxServer, make_zip, unique

pytestmark = pytest.mark.usefixtures("still_serving")


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def zygotes(server_pid: int) -> list[int]:
    """Zygote processes under the server: root, in the host pid namespace (sandboxes and
    spares are pid 2 of their own beside an init, so NSpid lists two numbers for them)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if b"lambox.runtime.zygote" not in f.read():
                    continue
            status = _status(int(entry))
        except OSError:
            continue
        ancestor = int(status["PPid"])
        while ancestor > 1 and ancestor != server_pid:
            try:
                ancestor = int(_status(ancestor)["PPid"])
            except OSError:
                break
        if ancestor == server_pid and len(status["NSpid"].split()) == 1:
            found.append(int(entry))
    return found


def test_killed_zygotes_are_replaced_and_sandboxes_keep_serving(
    lambda_client: Any, deploy: Callable[..., str], server: LamboxServer
) -> None:
    name = deploy("echo")
    assert call(lambda_client, name, {"n": 0}) == (None, {"n": 0})
    deadline = time.monotonic() + 10
    while len(zygotes(server.proc.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    victims = zygotes(server.proc.pid)
    assert victims, "no zygote found under the server"
    for pid in victims:
        os.kill(pid, signal.SIGKILL)

    assert call(lambda_client, name, {"n": 1}) == (None, {"n": 1})  # the warm sandbox
    with ThreadPoolExecutor(3) as pool:  # two of three need new sandboxes
        answers = list(pool.map(lambda i: call(lambda_client, name, {"n": i}), range(3)))
    assert answers == [(None, {"n": i}) for i in range(3)]
    assert call(lambda_client, deploy("echo"), {"new": 1}) == (None, {"new": 1})
    assert set(zygotes(server.proc.pid)).isdisjoint(victims)


SHARED_CODE = """
import socket, sys, time
PRELOADED = "colorsys" in sys.modules  # True when forked from this code's own zygote
import colorsys
MARK = {mark!r}

def handler(event, context):
    if "port" in event:  # tell the test this invocation is running
        socket.create_connection(("127.0.0.1", event["port"]), timeout=5).close()
    time.sleep(event.get("hold", 0))
    return {{"preloaded": PRELOADED}}
"""


def shared_functions(client: Any, count: int) -> tuple[list[str], str]:
    """``count`` Active functions with the same new code; their names and code key."""
    code = make_zip({"app.py": SHARED_CODE.format(mark=unique("mark"))})
    names = [unique(f"zyg-{i}") for i in range(count)]
    for name in names:
        client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.handler",
            Role=ROLE,
            Code={"ZipFile": code},
        )
        client.get_waiter("function_active_v2").wait(FunctionName=name)
    location = client.get_function(FunctionName=names[0])["Code"]["Location"]
    return names, location.rsplit("/", 1)[1].removesuffix(".zip")


def version_zygote(server_pid: int, code_key: str) -> int | None:
    """The zygote under the server that holds the code ``code_key`` at /var/task."""
    for pid in zygotes(server_pid):
        try:
            with open(f"/proc/{pid}/mountinfo") as f:
                mounts = [line.split() for line in f]
        except OSError:
            continue
        if any(m[4] == "/var/task" and m[3].endswith(f"/{code_key}") for m in mounts):
            return pid
    return None


def running(pid: int) -> bool:
    try:
        return _status(pid)["State"][0] != "Z"
    except OSError:
        return False


def learn_zygote(client: Any, server: LamboxServer, name: str, key: str) -> int:
    """Cold-start ``name`` so that lambox learns its imports; the zygote made for them, once
    it serves (it has forked its first spare)."""
    assert call(client, name)[0] is None
    deadline = time.monotonic() + 30
    while (zygote := version_zygote(server.proc.pid, key)) is None or not has_child(zygote):
        assert time.monotonic() < deadline, "no zygote was made for the code"
        time.sleep(0.05)
    return zygote


def has_child(pid: int) -> bool:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if _status(int(entry))["PPid"] == str(pid):
                    return True
            except OSError:
                continue
    return False


def wait_gone(pid: int) -> None:
    deadline = time.monotonic() + 30
    while running(pid):
        assert time.monotonic() < deadline, "the zygote no function version uses was not stopped"
        time.sleep(0.05)


def test_a_deleted_functions_zygote_stops_once_no_function_with_its_code_is_left(
    lambda_client: Any, server: LamboxServer
) -> None:
    (first, second), key = shared_functions(lambda_client, 2)
    zygote = learn_zygote(lambda_client, server, first, key)
    assert call(lambda_client, second) == (None, {"preloaded": True})

    lambda_client.delete_function(FunctionName=first)
    # The second function still forks its new sandboxes from the shared zygote.
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda _: call(lambda_client, second, {"hold": 0.5}), range(2)))
    assert answers == [(None, {"preloaded": True})] * 2
    assert running(zygote)

    lambda_client.delete_function(FunctionName=second)
    wait_gone(zygote)


def test_invocations_running_when_their_function_is_deleted_finish(
    lambda_client: Any, server: LamboxServer
) -> None:
    """Stopping a zygote kills the sandboxes forked from it: it waits for them."""
    (name,), key = shared_functions(lambda_client, 1)
    zygote = learn_zygote(lambda_client, server, name, key)
    with socket.create_server(("127.0.0.1", 0)) as listener, ThreadPoolExecutor(2) as pool:
        listener.settimeout(30)
        event = {"port": listener.getsockname()[1], "hold": 1.0}
        # The warm sandbox takes one, a sandbox forked from the zygote the other.
        running_calls = [pool.submit(call, lambda_client, name, event) for _ in range(2)]
        for _ in range(2):
            listener.accept()[0].close()
        lambda_client.delete_function(FunctionName=name)
        answers = sorted(str(f.result()) for f in running_calls)
    assert answers == sorted(
        str(a) for a in [(None, {"preloaded": False}), (None, {"preloaded": True})]
    )
    wait_gone(zygote)


def test_the_zygote_of_replaced_code_stops_once_the_new_code_runs(
    lambda_client: Any, server: LamboxServer
) -> None:
    (name,), key = shared_functions(lambda_client, 1)
    zygote = learn_zygote(lambda_client, server, name, key)
    new_code = make_zip({"app.py": SHARED_CODE.format(mark=unique("new"))})
    lambda_client.update_function_code(FunctionName=name, ZipFile=new_code)
    lambda_client.get_waiter("function_updated_v2").wait(FunctionName=name)
    assert call(lambda_client, name) == (None, {"preloaded": False})
    wait_gone(zygote)
    lambda_client.delete_function(FunctionName=name)
