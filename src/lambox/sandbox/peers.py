"""Which processes hold the client end of a loopback TCP connection (Linux, as root).

A Runtime API server listens on the host's loopback, and every sandbox with the host's
network can connect to it: all sandboxes run as the same user, so neither the address nor
the peer's uid tells one sandbox from another. What does is the client's socket itself:
the kernel names it by an inode (found with one ``sock_diag`` netlink query for the exact
connection, ``lambox.sockdiag``), and only the processes holding that socket have
a ``/proc/<pid>/fd`` link to ``socket:[inode]``. ``held_by`` asks whether one of a given
set of processes (a sandbox's cgroup) is among them; a ``Gate`` applies that to every
connection one Runtime API server accepts (about 0.1 ms each, measured).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from lambox.sockdiag import client_socket


def client_inode(peer: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The inode of the client socket of the TCP connection from ``peer`` to ``server``
    (both as seen by the server), in this network namespace; None when there is no such
    socket (the client already closed it)."""
    found = client_socket(peer, server)
    return found.inode if found is not None and found.inode else None


def held_by(pids: Iterable[int], inode: int) -> bool:
    """Whether one of ``pids`` has socket ``inode`` open."""
    target = f"socket:[{inode}]"
    for pid in pids:
        base = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(base)
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"{base}/{fd}") == target:
                    return True
            except OSError:
                continue
    return False


def connected_from(pids: Iterable[int], peer: tuple[str, int], server: tuple[str, int]) -> bool:
    """Whether the connection from ``peer`` to ``server`` was made by one of ``pids``."""
    try:
        inode = client_inode(peer, server)
    except OSError:
        return False
    return inode is not None and held_by(pids, inode)


class Gate:
    """Who may talk to one Runtime API server. Closed to everyone until the launcher either
    names the processes of its sandbox (``admit_only``: before it forks the runtime, so the
    runtime's first connection already finds them) or opens it (``open``: the process
    backend, which isolates nothing)."""

    def __init__(self) -> None:
        self._members: Callable[[], Iterable[int]] | None = None
        self._open = False

    def open(self) -> None:
        self._open = True

    def admit_only(self, members: Callable[[], Iterable[int]]) -> None:
        self._members = members

    def admits(self, peer: tuple[str, int], server: tuple[str, int]) -> bool:
        """Whether the connection from ``peer`` to ``server`` may be served."""
        if self._open:
            return True
        members = self._members
        return members is not None and connected_from(members(), peer, server)
