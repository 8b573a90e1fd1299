"""What a function leaves behind between invocations: a sandbox that died while idle,
descriptors that might reach the server's log, orphaned grandchildren."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.adversarial.conftest import Functions, call
from tests.conftest import LamboxServer, make_zip, unique

APP = """
import os, stat, subprocess, sys, threading, time

def die_later(event, context):
    if event.get("die"):
        def bye():
            time.sleep(0.2)
            os._exit(3)
        threading.Thread(target=bye, daemon=True).start()
    return {"ok": True}

def flood_fds(event, context):
    chunk = (event["marker"] + "\\n").encode() * 4096
    written = {}
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                continue  # the wire: garbage there only breaks this sandbox's protocol
        except OSError:
            continue
        total = 0
        try:
            for _ in range(event["chunks"]):
                total += os.write(fd, chunk)
        except OSError:
            pass
        written[name] = total
    return written

def zombies():
    count = 0
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name) as f:
                count += f.read().rsplit(")", 1)[1].split()[0] == "Z"
        except (OSError, IndexError):
            pass
    return count

def double_fork(event, context):
    for _ in range(event["n"]):
        pid = os.fork()
        if pid == 0:
            if os.fork() == 0:
                os._exit(0)
            os._exit(0)
        os.waitpid(pid, 0)
    time.sleep(0.2)
    return {"pid": os.getpid(), "zombies": zombies()}

KEPT = {}

def own_children(event, context):
    if event["step"] == "start":
        pid = os.fork()
        if pid == 0:
            os._exit(5)
        KEPT["fork"] = pid
        KEPT["popen"] = subprocess.Popen([sys.executable, "-c", "raise SystemExit(6)"])
        for _ in range(5):
            child = os.fork()
            if child == 0:
                if os.fork() == 0:
                    os._exit(0)
                os._exit(0)
            os.waitpid(child, 0)
        time.sleep(0.5)
        return {}
    status = os.waitstatus_to_exitcode(os.waitpid(KEPT["fork"], 0)[1])
    return {"fork": status, "popen": KEPT["popen"].wait(), "zombies": zombies()}
"""
CODE = make_zip({"app.py": APP})


@pytest.fixture(scope="module")
def deploy_app(lambda_client: Any) -> Iterator[Callable[[str], str]]:
    functions = Functions(lambda_client)

    def create(handler: str) -> str:
        return functions.create(
            f"hyg-{handler.replace('_', '-')}",
            Runtime="python3.11",
            Handler=f"app.{handler}",
            Code={"ZipFile": CODE},
            Timeout=30,
        )

    yield create
    functions.delete_all()


def test_a_sandbox_that_died_while_idle_is_not_handed_out(
    lambda_client: Any, deploy_app: Callable[[str], str], still_serving: None
) -> None:
    name = deploy_app("die_later")
    assert call(lambda_client, name, {"die": True}) == (None, {"ok": True})
    time.sleep(1.0)
    assert call(lambda_client, name, {"die": False}) == (None, {"ok": True})
    assert call(lambda_client, name, {"die": False}) == (None, {"ok": True})


def test_function_code_cannot_write_to_the_server_log(
    lambda_client: Any,
    server: LamboxServer,
    deploy_app: Callable[[str], str],
    still_serving: None,
) -> None:
    name = deploy_app("flood_fds")
    marker = unique("flood-into-the-server-log")
    for _ in range(2):
        error, written = call(lambda_client, name, {"marker": marker, "chunks": 64})
        assert error is None, written
        assert sum(written.values()) > 0, written
    time.sleep(0.2)
    assert marker not in server.output()


def test_orphaned_grandchildren_do_not_use_up_the_pids_limit(
    lambda_client: Any, deploy_app: Callable[[str], str], still_serving: None
) -> None:
    name = deploy_app("double_fork")
    pids = set()
    for _ in range(8):
        error, out = call(lambda_client, name, {"n": 25})
        assert error is None, out
        pids.add(out["pid"])
    assert 1 not in pids  # pid 1 is the sandbox's init, which reaps the orphans
    _, out = call(lambda_client, name, {"n": 0})
    assert out["zombies"] == 0


def test_the_reaper_leaves_the_functions_own_children(
    lambda_client: Any, deploy_app: Callable[[str], str], still_serving: None
) -> None:
    name = deploy_app("own_children")
    assert call(lambda_client, name, {"step": "start"}) == (None, {})
    assert call(lambda_client, name, {"step": "wait"}) == (
        None,
        {"fork": 5, "popen": 6, "zombies": 0},
    )
