"""The in-sandbox reaper takes adopted orphans and leaves the function's own children.

Each case runs in a fresh interpreter made a child subreaper, which orphans are reparented
to as they are to a sandbox's pid 1 (and whose at-fork hooks stay out of pytest's process).
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"

PRELUDE = """
import ctypes, os, subprocess, sys, time
PR_SET_CHILD_SUBREAPER = 36
assert ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
from lambox.runtime.reaper import Reaper

def status(pid):
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])

def orphans(n):
    for _ in range(n):
        pid = os.fork()
        if pid == 0:
            if os.fork() == 0:
                os._exit(0)
            os._exit(0)
        assert status(pid) == 0

def zombies():
    me = str(os.getpid())
    count = 0
    for name in os.listdir("/proc"):
        try:
            with open(f"/proc/{name}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        count += fields[0] == "Z" and fields[1] == me
    return count
"""


def run(body: str) -> str:
    script = PRELUDE + textwrap.dedent(body)
    out = subprocess.run(
        [sys.executable, "-c", script],
        env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_orphans_are_reaped() -> None:
    run(
        """
        reaper = Reaper()
        orphans(30)
        time.sleep(0.3)
        assert zombies() == 30
        assert reaper.sweep() == 30
        assert zombies() == 0
        assert reaper.sweep() == 0
        """
    )


def test_the_functions_own_children_keep_their_exit_status() -> None:
    run(
        """
        from_init = os.fork()
        if from_init == 0:
            os._exit(4)
        reaper = Reaper()
        forked = os.fork()
        if forked == 0:
            os._exit(5)
        popen = subprocess.Popen([sys.executable, "-c", "raise SystemExit(6)"])
        orphans(10)
        time.sleep(0.5)
        assert reaper.sweep() == 10
        assert reaper.sweep() == 0
        assert status(from_init) == 4
        assert status(forked) == 5
        assert popen.wait() == 6
        assert zombies() == 0
        """
    )


def test_a_sweep_with_no_children_does_nothing() -> None:
    run(
        """
        reaper = Reaper()
        assert reaper.sweep() == 0
        child = os.fork()
        if child == 0:
            time.sleep(0.3)
            os._exit(0)
        assert reaper.sweep() == 0
        assert status(child) == 0
        assert reaper.sweep() == 0
        """
    )
