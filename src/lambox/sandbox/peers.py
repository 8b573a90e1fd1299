"""Which processes hold the client end of a loopback TCP connection (Linux, as root).

A Runtime API server listens on the host's loopback, and every sandbox with the host's
network can connect to it: all sandboxes run as the same user, so neither the address nor
the peer's uid tells one sandbox from another. What does is the client's socket itself:
the kernel names it by an inode (found with one ``sock_diag`` netlink query for the exact
connection, no walk of ``/proc/net/tcp``), and only the processes holding that socket have
a ``/proc/<pid>/fd`` link to ``socket:[inode]``. ``held_by`` asks whether one of a given
set of processes (a sandbox's cgroup) is among them; a ``Gate`` applies that to every
connection one Runtime API server accepts (about 0.1 ms each, measured).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Callable, Iterable

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 1
NLMSG_ERROR = 2
NO_COOKIE = 0xFFFFFFFF
# nlmsghdr (len, type, flags, seq, pid); inet_diag_req_v2 (family, protocol, ext, pad,
# states); its socket id: sport, dport (big-endian), src[4], dst[4], interface, cookie[2].
_HEADER = struct.Struct("=IHHII")
_DIAG_REQ = struct.Struct("=BBBxI")
_PORTS = struct.Struct(">HH")
_TAIL = struct.Struct("=III")
_REQUEST_SIZE = _HEADER.size + _DIAG_REQ.size + _PORTS.size + 32 + _TAIL.size
# inet_diag_msg after the nlmsghdr: family, state, timer, retrans, the 48-byte socket id,
# expires, rqueue, wqueue, uid, inode.
_INODE_AT = _HEADER.size + 4 + 48 + 16


def client_inode(peer: tuple[str, int], server: tuple[str, int]) -> int | None:
    """The inode of the client socket of the IPv4 TCP connection from ``peer`` to
    ``server`` (both as seen by the server), in this network namespace; None when there
    is no such socket (the client already closed it)."""
    request = b"".join(
        (
            _HEADER.pack(_REQUEST_SIZE, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0),
            _DIAG_REQ.pack(socket.AF_INET, socket.IPPROTO_TCP, 0, 0xFFFFFFFF),
            _PORTS.pack(peer[1], server[1]),
            socket.inet_aton(peer[0]).ljust(16, b"\0"),
            socket.inet_aton(server[0]).ljust(16, b"\0"),
            _TAIL.pack(0, NO_COOKIE, NO_COOKIE),
        )
    )
    with socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG) as diag:
        diag.sendall(request)
        answer = diag.recv(8192)
    if len(answer) < _INODE_AT + 4:
        return None
    _, kind, _, _, _ = _HEADER.unpack_from(answer)
    if kind == NLMSG_ERROR:
        return None
    (inode,) = struct.unpack_from("=I", answer, _INODE_AT)
    return int(inode) or None


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
