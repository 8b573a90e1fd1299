"""SnapStart inside the sandbox: the runtime hooks and the snapshot's restore loop.

A sandbox started with ``LAMBOX_SNAPSHOT_FD`` becomes the *snapshot* of its published
version: it runs the whole init (handler imported, module code run), then the
before-snapshot hooks, reports READY on its wire like any sandbox and closes it, says
``ready`` on its control socket and from then on only forks. Each child is a *restored*
sandbox: the state init built is already in its memory (copy-on-write), so its start costs
a fork plus the after-restore hooks instead of the init. Standard library only.

Control socket (SOCK_SEQPACKET; one JSON object per message, descriptors by SCM_RIGHTS):

    host -> snapshot  {"op": "spawn", "id", "tmp_mb"?, "uid"?, "gid"?} + [wire fd]
    snapshot -> host  {"op": "ready", "pid"}                   once, after the hooks ran
                      {"op": "spawned", "id", "pid"} | {"op": "failed", "id", "error"}
                      {"op": "exit", "pid", "code"}            for every child it reaped

Pids are the snapshot's own (its pid namespace on the Linux backend). On its wire a restored
sandbox first waits for RESUME (the host has placed it in its cgroup by then), runs the
after-restore hooks and answers READY {"init_ms": hook time, "init_error", "restored": true};
then it serves INVOKE frames as usual. EOF on the control socket: the host is gone, the
snapshot kills its children and exits.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from typing import Any

from lambox.runtime.forkserver import ForkServer

HOOKS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "snapstart_hooks")
HOOKS_MODULE = "snapshot_restore_py"
SNAPSHOT_FD_ENV = "LAMBOX_SNAPSHOT_FD"
MAX_MESSAGE = 1 << 16

ErrorFactory = Callable[[BaseException], dict[str, Any]]


def expose_hooks() -> None:
    """Make ``import snapshot_restore_py`` work in every Python sandbox, as on Lambda; last
    on the path, so a copy bundled with the function wins."""
    if HOOKS_DIR not in sys.path:
        sys.path.append(HOOKS_DIR)


def _hooks(getter: str) -> list[Any]:
    module = sys.modules.get(HOOKS_MODULE)
    get = getattr(module, getter, None) if module is not None else None
    hooks = get() if callable(get) else None
    return hooks if isinstance(hooks, list) else []


def run_before_snapshot() -> None:
    """The before-snapshot hooks, last registered first (each runs once)."""
    hooks = _hooks("get_before_snapshot")
    while hooks:
        func, args, kwargs = hooks.pop()
        func(*args, **kwargs)


def run_after_restore() -> None:
    """The after-restore hooks, in the order they were registered."""
    for func, args, kwargs in list(_hooks("get_after_restore")):
        func(*args, **kwargs)


def reseed() -> None:
    """What a fork would otherwise share between restored sandboxes: random generators.
    ``random`` reseeds itself in every forked child; numpy's global generator does not."""
    numpy_random = sys.modules.get("numpy.random")
    if numpy_random is not None:
        with contextlib.suppress(Exception):
            numpy_random.seed()


class RestoreLoop(ForkServer):
    """The snapshot's request loop; ``serve`` returns only in a forked child."""

    def __init__(self, ctl: socket.socket) -> None:
        super().__init__(ctl, MAX_MESSAGE, 2)

    def serve(self) -> tuple[int, dict[str, Any]] | None:
        """Fork restored sandboxes until the host hangs up (then None, children killed).
        In a child: (its wire fd, the spawn request)."""
        self.listen()
        self.send({"op": "ready", "pid": os.getpid()})
        while (request := self.next_request()) is not None:
            child = self._handle(*request)
            if child is not None:
                return child
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return None

    def _handle(self, data: bytes, fds: list[int], flags: int) -> tuple[int, dict[str, Any]] | None:
        request_id = None
        try:
            if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
                raise ValueError("request truncated")
            message = json.loads(data)
            request_id = message.get("id")
            if message.get("op") != "spawn" or len(fds) not in (1, 2):
                raise ValueError(f"expected a spawn with its descriptors, got {message!r}")
            if len(fds) == 2:
                message["log_fd"] = fds[1]  # the restored sandbox's log pipe
            parent = os.getpid()
            pid = os.fork()
            if pid == 0:
                self.close_in_child()
                # Its own session, so that it and what it starts are killed as one group.
                with contextlib.suppress(OSError):
                    os.setsid()
                # Dead with its snapshot, as a restored sandbox of the Linux backend is
                # anyway (it lives in the snapshot's pid namespace).
                from lambox.runtime.namespaces import die_with_parent

                die_with_parent(parent)
                return fds[0], message
            self.children.add(pid)
            self.send({"op": "spawned", "id": request_id, "pid": pid})
        except Exception as exc:
            self.send({"op": "failed", "id": request_id, "error": f"{type(exc).__name__}: {exc}"})
        for fd in fds:
            os.close(fd)
        return None


def timed(step: Callable[[], None], on_error: ErrorFactory) -> tuple[float, dict[str, Any] | None]:
    """Run a hook phase: (milliseconds, the error object if it raised)."""
    start = time.perf_counter()
    try:
        step()
        error = None
    except BaseException as exc:  # a hook's failure is the function's error, not ours
        error = on_error(exc)
    return (time.perf_counter() - start) * 1000.0, error
