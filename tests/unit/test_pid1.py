"""The compiled init of Python sandboxes (``runtime/init.c``, built by ``make install``):
without the C library where it can be (its start-up was most of the program's CPU), and
doing an init's work as pid 1 of a pid namespace: reaping orphans, exiting when the
runtime (pid 2) ends, which kills what the runtime left behind."""

from __future__ import annotations

import os
import platform
import signal
import time

import pytest

from lambox.runtime import init
from lambox.runtime import namespaces as ns

NOLIBC_MACHINES = ("x86_64", "aarch64")


def built_init() -> bytes:
    if not os.access(init.PROGRAM, os.X_OK):
        pytest.skip("the compiled init is not built (make install builds it)")
    with open(init.PROGRAM, "rb") as f:
        return f.read()


def test_the_init_is_built_without_the_c_library() -> None:
    if platform.machine() not in NOLIBC_MACHINES:
        pytest.skip(f"built with libc on {platform.machine()}")
    program = built_init()
    assert program.startswith(b"\x7fELF")
    assert b"GNU C Library" not in program and b"GLIBC" not in program
    assert len(program) < 64 * 1024  # a static glibc program is about 700 KiB


def _alive(pid: int) -> bool:
    """Running (not gone, not a zombie)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_init_reaps_and_ends_with_the_runtime_killing_what_it_left() -> None:
    built_init()
    if os.geteuid() != 0:
        pytest.skip("a pid namespace needs root")
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    ready_r, ready_w = os.pipe()
    ns.unshare(ns.CLONE_NEWPID)
    try:
        first = os.posix_spawn(init.PROGRAM, [init.PROGRAM], {})
        runtime = os.fork()
        if runtime == 0:  # pid 2: leave an orphan and a zombie for the init, then end
            if os.fork() == 0:
                os.execv("/bin/sleep", ["sleep", "60"])
            if os.fork() == 0:
                os._exit(0)
            os.write(ready_w, str(os.getpid()).encode())
            time.sleep(0.5)
            os._exit(7)
    finally:
        ns.setns(own, ns.CLONE_NEWPID)
        os.close(own)
    os.close(ready_w)
    try:
        assert os.read(ready_r, 16) == b"2"  # the init took pid 1
        with open(f"/proc/{runtime}/task/{runtime}/children") as f:
            left = [int(pid) for pid in f.read().split()]
        assert [pid for pid in left if _alive(pid)]  # the sleep, still running
        _, status = os.waitpid(runtime, 0)
        assert os.waitstatus_to_exitcode(status) == 7
        _, status = os.waitpid(first, 0)  # the init ends with the runtime...
        assert os.waitstatus_to_exitcode(status) == 0
        deadline = time.monotonic() + 5
        while any(_alive(pid) for pid in left) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [pid for pid in left if _alive(pid)] == []  # ...and the orphan with it
    finally:
        os.close(ready_r)
        for pid in (first, runtime):
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
