"""The init of a Python sandbox: pid 1 of its pid namespace, which the runtime is not.

Standard library only (it runs in a zygote's child). To fork a sandbox a zygote unshares a
new pid namespace and forks twice: first this init, which becomes pid 1, then the runtime,
which becomes pid 2 and is the zygote's child like any sandbox (so the zygote reaps it and
reports its exit status, signals included). When the runtime ends the zygote kills the init,
and with it everything left in the namespace. A spare forks both ahead of need, so a claim
costs no fork.

Why not the runtime as pid 1, as Lambda never has it: the kernel drops every signal sent to
a namespace's init from inside it unless the init handles it, so a function could not
``os.kill(os.getpid(), signal.SIGKILL)`` itself nor die of SIGTERM; and the orphans of the
namespace would become the runtime's children, zombies nobody waits for.

The init only reaps: orphans are re-parented to it, and it waits for them with SIGCHLD
blocked (``sigwaitinfo``), so it costs nothing while none exit. It is forked with
``namespaces.bare_fork`` and runs a few lines of already-imported code, so it copies next to
none of the zygote's pages (an idle init holds a few pages of its own). It holds no
descriptor and handles no signal, so nothing in the sandbox can signal it; it stays root
outside the sandbox's mount namespace and cgroup, which the sandbox user cannot reach
(/proc/1 of the sandbox shows only what any process shows of another user's).
"""

from __future__ import annotations

import os
import signal
from typing import NoReturn

_MAX_FD = 1 << 16


def run() -> NoReturn:
    """Be the init of the pid namespace this process is pid 1 of; never returns."""
    try:
        os.closerange(3, _MAX_FD)
        signal.set_wakeup_fd(-1)
        for sig in signal.valid_signals():
            if callable(signal.getsignal(sig)):
                signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [signal.SIGCHLD])
        children = {signal.SIGCHLD}
        while True:
            _reap()
            signal.sigwaitinfo(children)
    finally:
        os._exit(1)  # unreachable but for a bug: the zygote then ends the sandbox


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
