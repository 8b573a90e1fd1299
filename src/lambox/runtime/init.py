"""The init of a Python sandbox: pid 1 of its pid namespace, parent of the runtime.

Standard library only (it runs in a zygote's child). A zygote forks each sandbox as pid 1 of
a new pid namespace; that process forks once more and stays behind as the init, and its
child (pid 2) becomes the runtime (``bootstrap``). For a spare the fork happens before the
claim, so a cold start pays no fork for it.

Why not run the function as pid 1, as Lambda never does: the kernel drops every signal sent
to a namespace's init from inside it unless the init handles it, so a function could not
``os.kill(os.getpid(), signal.SIGKILL)`` itself nor die of SIGTERM; and every orphan of the
namespace would become the runtime's child, a zombie nobody waits for. This init only
waits: it reaps every child (orphans included) until the runtime ends, then writes the
runtime's exit status as an EXIT frame on the wire (``runtime.wire``; the host cannot wait
for pid 2 itself) and exits, and the kernel kills whatever else is left in the namespace.

It holds nothing of the function's: it drops to the sandbox user (and is no longer
dumpable, so the function cannot ptrace it), handles no signal (so nothing in the namespace
can signal it), and keeps only a copy of the wire (which it never reads) and, for a spare,
the socket the runtime passes that wire over once claimed.
"""

from __future__ import annotations

import os
import signal
import socket
from collections.abc import Iterable
from typing import NoReturn

from lambox.runtime import namespaces as ns
from lambox.runtime import wire

LOST = 125  # the runtime's status could not be learned


def _ignore_nothing() -> None:
    """No Python-level handlers (SIGINT's would let the namespace kill its init): default
    dispositions, which the kernel drops for a namespace's init. SIGPIPE stays ignored: a
    write on a wire the host has closed must not end the init before it reaps."""
    for sig in signal.valid_signals():
        try:
            if callable(signal.getsignal(sig)):
                signal.signal(sig, signal.SIG_DFL)
        except (OSError, ValueError):
            continue
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def _drop(uid: int, gid: int) -> None:
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    ns.prctl(ns.PR_SET_NO_NEW_PRIVS, 1)


def _receive(handoff: socket.socket) -> int | None:
    """The wire a claimed spare's runtime passes over; None if it ended first."""
    try:
        _, fds, _, _ = socket.recv_fds(handoff, 16, 1)
    except OSError:
        return None
    finally:
        handoff.close()
    return fds[0] if fds else None


def _wait(runtime: int) -> int:
    """Reap every child (orphans are re-parented to us) until ``runtime`` exits; its status."""
    while True:
        try:
            reaped, status = os.waitpid(-1, 0)
        except ChildProcessError:
            return LOST
        if reaped == runtime:
            return os.waitstatus_to_exitcode(status)


def _report(wire_fd: int, code: int) -> None:
    """The EXIT frame, never blocking: a host that stopped reading learns the status from
    the exit of this process instead."""
    try:
        os.set_blocking(wire_fd, False)
        os.write(wire_fd, wire.encode(wire.EXIT, {"code": code}))
    except OSError:
        pass


def run(
    runtime: int,
    wire_fd: int | None,
    handoff: socket.socket | None,
    drop: Iterable[int],
    uid: int,
    gid: int,
) -> NoReturn:
    """Be the init of the sandbox whose runtime is ``runtime``; never returns. ``wire_fd``
    is the sandbox's wire, or None when the runtime passes it over ``handoff`` once claimed;
    ``drop`` are the descriptors only the runtime needs."""
    try:
        for fd in drop:
            os.close(fd)
        _ignore_nothing()
        _drop(uid, gid)
        if handoff is not None:
            wire_fd = _receive(handoff)
    except BaseException as exc:
        # An init that could not become harmless takes its sandbox down with it.
        os.write(2, f"lambox sandbox init: {type(exc).__name__}: {exc}\n".encode())
        os.kill(runtime, signal.SIGKILL)
    code = _wait(runtime)
    if wire_fd is not None:
        _report(wire_fd, code)
    os._exit(code if code >= 0 else 128 - code)
