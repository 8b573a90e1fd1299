"""The request loop of the processes that only fork: zygotes and SnapStart snapshots.

A fork server waits on two things: its control socket (SOCK_SEQPACKET; one JSON object per
message, descriptors attached with SCM_RIGHTS) and SIGCHLD (through a wakeup pipe). It
reaps every child that ends and reports it to the host as ``{"op": "exit", "pid", "code"}``
(code < 0: killed by that signal). What a request does is the subclass's; a forked child
calls ``close_in_child`` first, so it keeps nothing of the server's. Standard library only.
"""

from __future__ import annotations

import _signal  # type: ignore[import-not-found]  # the C module under signal.py
import array
import contextlib
import json
import mmap
import os
import select
import signal
import socket
from collections.abc import Mapping
from typing import Any

Request = tuple[bytes, list[int], int]
# A sandbox's environment comes beside a fork request, in a file whose descriptor the
# request names by this variable (``fd_env``), never in the request itself: whatever a fork
# server decodes stays in its freed memory, and every process it forks later (other
# functions' sandboxes, spares, version zygotes) would get a copy of it. Only the forked
# child reads the file (``take_env``).
ENV_FD_ENV = "LAMBOX_ENV_FD"
_SIGCHLD = int(signal.SIGCHLD)
_SIG_DFL = int(signal.SIG_DFL)
# Replies sent between forks, formatted without json: whatever a fork server writes after a
# fork is copied from the pages its newest child shares with it, and ``json.dumps`` writes
# about 35 pages where this writes none (measured in a forked child).
SPAWNED = b'{"op":"spawned","id":%d,"pid":%d}'
EXITED = b'{"op":"exit","pid":%d,"code":%d}'


def env_file(env: Mapping[str, str]) -> int:
    """A new memory file holding ``env`` as JSON, for the host to attach to a fork request."""
    fd = os.memfd_create("lambox-env", os.MFD_CLOEXEC)
    try:
        data = json.dumps(env, separators=(",", ":")).encode()
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
    except BaseException:
        os.close(fd)
        raise
    return fd


def take_env(fd: int) -> dict[str, str]:
    """In a forked child: the environment in ``env_file``'s file, which is then closed."""
    try:
        data = os.pread(fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
    env = json.loads(data)
    if not isinstance(env, dict):
        raise ValueError("the environment is not a JSON object")
    return {str(k): str(v) for k, v in env.items()}


class ForkServer:
    """Control socket, children and their exit reports; ``next_request`` is the loop."""

    def __init__(self, ctl: socket.socket, max_message: int, max_fds: int) -> None:
        self.ctl = ctl
        self.children: set[int] = set()
        # One buffer for every request, mapped once and touched only as far as requests
        # reach: ``socket.recv_fds`` allocated ``max_message`` bytes per request, which
        # malloc maps, shrinks and unmaps each time (three system calls and a fresh page
        # fault per request, measured on a zygote's loop).
        self._buffer = mmap.mmap(-1, max_message)
        self._ancillary = socket.CMSG_LEN(max_fds * array.array("i").itemsize)
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def send(self, message: Mapping[str, Any]) -> None:
        self.ctl.sendall(json.dumps(message, separators=(",", ":")).encode())

    def listen(self) -> None:
        """Start hearing about children that end (before the first ``next_request``)."""
        signal.set_wakeup_fd(self._wake_w)
        signal.signal(signal.SIGCHLD, lambda signum, frame: None)

    def next_request(self) -> Request | None:
        """The next request (data, descriptors, recvmsg flags), reaping children while it
        waits; None once the host has hung up."""
        while True:
            ready, _, _ = select.select([self.ctl.fileno(), self._wake_r], [], [])
            if self._wake_r in ready:
                with contextlib.suppress(BlockingIOError):
                    while os.read(self._wake_r, 512):
                        pass
                self.reap()
            if self.ctl.fileno() not in ready:
                continue
            try:
                data, fds, flags = self._receive()
            except ConnectionError:
                data, fds, flags = b"", [], 0
            if data:
                return data, fds, flags
            for fd in fds:
                os.close(fd)
            return None

    def _receive(self) -> Request:
        """One message from the control socket: ``socket.recv_fds`` into the kept buffer."""
        size, ancillary, flags, _ = self.ctl.recvmsg_into([self._buffer], self._ancillary)
        fds = array.array("i")
        for level, kind, data in ancillary:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(data[: len(data) - len(data) % fds.itemsize])
        return self._buffer[:size], list(fds), flags

    def reap(self) -> None:
        """Reap every child that has ended and report it."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.children.discard(pid)
            if not self.reaped(pid):
                continue
            try:
                self.ctl.sendall(EXITED % (pid, os.waitstatus_to_exitcode(status)))
            except OSError:
                return

    def reaped(self, pid: int) -> bool:
        """A child ended (for a subclass's own bookkeeping); whether to report it."""
        return True

    def close_in_child(self) -> None:
        """In a forked child: drop the server's signal handling, pipe and control socket."""
        # The C functions, with ints: ``signal.signal`` maps the old handler to an enum
        # (failing, for a Python handler) and so wrote 40 more pages the child shared
        # with its parent (measured).
        _signal.set_wakeup_fd(-1)
        _signal.signal(_SIGCHLD, _SIG_DFL)
        os.close(self._wake_r)
        os.close(self._wake_w)
        self._buffer.close()
        self.ctl.close()
