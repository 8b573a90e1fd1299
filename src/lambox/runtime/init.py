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
It is forked with ``namespaces.bare_fork`` and runs a few lines of already-imported code, so
it writes next to none of the pages it shares with its zygote; it still ends up holding
about 1 MiB of its own (measured), the old copies of pages the zygote writes after the fork.
That is why ``start`` first tries to exec ``init.c`` compiled (``make install`` builds it
beside this module as ``pid1``): the same loop in a program that shares nothing with the
zygote, whose private memory is its own few pages; this module's ``run`` is what runs when
the program is missing or cannot be exec'd.
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

_MAX_FD = 1 << 16
_RUNTIME = 2  # the zygote forks the runtime right after this init: the namespace's pid 2
_FIND_FOR = 10.0
PROGRAM = os.path.join(os.path.dirname(os.path.abspath(__file__)), "pid1")
"""The compiled init (``init.c``), looked for once, in the zygote, before any fork."""
_HAS_PROGRAM = os.access(PROGRAM, os.X_OK)


def start() -> NoReturn:
    """In the child just forked to be pid 1: the compiled init if there is one (nothing of
    the zygote's environment, descriptors or memory goes with it), else ``run``."""
    if _HAS_PROGRAM:
        # Under /tmp (a clone there) the program is in the view at its /.host stash path:
        # the init is forked before the sandbox mounts its own /tmp and binds it again.
        program = jail.reachable(PROGRAM)
        with contextlib.suppress(OSError):
            os.execve(program, [PROGRAM], {})
    run()


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
