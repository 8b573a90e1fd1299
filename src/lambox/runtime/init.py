"""The init of a Python sandbox: pid 1 of its pid namespace, which the runtime is not.

Standard library only (it runs in a zygote's child). To fork a sandbox a zygote unshares a
new pid namespace and forks twice: first this init, which becomes pid 1, then the runtime,
which becomes pid 2 and is the zygote's child like any sandbox (so the zygote reaps it and
reports its exit status, signals included). When the runtime ends the init exits (and the
zygote kills it), and with it everything left in the namespace dies. A spare forks both
ahead of need, so a claim costs no fork.

Why not the runtime as pid 1, as Lambda never has it: the kernel drops every signal sent to
a namespace's init from inside it unless the init handles it, so a function could not
``os.kill(os.getpid(), signal.SIGKILL)`` itself nor die of SIGTERM; and the orphans of the
namespace would become the runtime's children, zombies nobody waits for.

The init only reaps: orphans are re-parented to it, and it sleeps in ``select`` on a pidfd
of the runtime and on SIGCHLD's wakeup pipe, so it costs nothing while none exit. When the
runtime ends the init exits, so it never outlives its sandbox, even one whose zygote died.
The init is normally ``init.c`` compiled (``make install`` builds it beside this module as
``pid1``), started by ``spawn`` without a fork of the zygote: the same loop in a program
that shares nothing with the zygote, whose private memory is its own few pages. This
module's ``run`` is what runs when the program is missing or cannot be exec'd, in a child
forked with ``namespaces.bare_fork`` that runs a few lines of already-imported code; it
ends up holding about 1 MiB of its own (measured), the old copies of pages the zygote
writes after the fork.
It holds no descriptor but its pipe and pidfd and stays root outside the sandbox's mount
namespace and cgroup, so the sandbox user can neither signal it nor reach it (/proc/1 of the
sandbox shows only what any process shows of another user's).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from typing import Any, NoReturn

from lambox.runtime import jail
from lambox.runtime import namespaces as ns

_MAX_FD = 1 << 16
_RUNTIME = 2  # the zygote forks the runtime right after this init: the namespace's pid 2
_FIND_FOR = 10.0
PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pid1")
"""The compiled init (``init.c``), looked for once, in the zygote, before any fork."""
_HAS_PROGRAM = os.access(PROGRAM, os.X_OK)


def spawn() -> int:
    """Start pid 1 of the pid namespace the caller has just unshared; its pid.

    The compiled init is started with ``posix_spawn`` (a vfork and an exec): the zygote's
    address space is neither copied nor torn down for it, which a fork would do for a
    process that only execs. Nothing of the zygote's environment, descriptors (the program
    closes them) or memory goes with it. Without the program, or when it cannot be
    started, the init is a bare fork of the caller that runs ``run``."""
    if _HAS_PROGRAM:
        # Under /tmp (a clone there) the program is in the view at its /.host stash path:
        # the init starts before the sandbox mounts its own /tmp and binds it again.
        with contextlib.suppress(OSError):
            return os.posix_spawn(jail.reachable(PROGRAM), [PROGRAM], {})
    pid = ns.bare_fork()
    if pid == 0:
        run()
    return pid


def run() -> NoReturn:
    """Be the init of the pid namespace this process is pid 1 of, until the runtime ends;
    never returns (its exit kills whatever is left in the namespace)."""
    try:
        signal.set_wakeup_fd(-1)
        os.closerange(3, _MAX_FD)
        for sig in signal.valid_signals():
            if callable(signal.getsignal(sig)):
                signal.signal(sig, signal.SIG_DFL)
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, _heard)
        runtime = _find_runtime()
        while True:
            _reap()
            ready, _, _ = select.select([runtime, wake_r], [], [])
            if runtime in ready:
                _end()
            while True:
                try:
                    if not os.read(wake_r, 64):
                        break
                except BlockingIOError:
                    break
    finally:
        _end()


def _end() -> NoReturn:
    os._exit(0)


def _heard(signum: int, frame: Any) -> None:
    """SIGCHLD's handler: nothing, the wakeup pipe is what wakes the loop."""


def _find_runtime() -> int:
    """A pidfd of the runtime, which the zygote forks just after this process."""
    deadline = time.monotonic() + _FIND_FOR
    while True:
        try:
            return os.pidfd_open(_RUNTIME)
        except ProcessLookupError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.0002)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
