"""Zygotes are lambox's, not a function's: when they die, running sandboxes keep serving
and the next cold start gets a new zygote."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.adversarial.conftest import call
from tests.conftest import LamboxServer

pytestmark = pytest.mark.usefixtures("still_serving")


def _status(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/status") as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def zygotes(server_pid: int) -> list[int]:
    """Zygote processes under the server: root, in the host pid namespace (sandboxes and
    spares are pid 1 of their own, so NSpid lists two numbers for them)."""
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
