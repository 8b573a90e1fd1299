"""Who holds the client end of a local TCP connection: one ``sock_diag`` netlink query.

The kernel answers an ``inet_diag`` request for one exact connection (its two addresses
and ports, IPv4 or IPv6, in this network namespace) with the client socket's owner (the
uid of the process that made it) and its inode, without a walk of ``/proc/net/tcp``.
Two layers ask: the Runtime API's gate (``sandbox.peers``: which processes hold that
inode) and the HTTP server's connections (``api.connection``: whether a sandbox's uid
made the connection, so the edge holds its requests to the strict posture). A socket
whose process has closed it (orphaned, or in TIME_WAIT) has no inode and, for a TIME_WAIT
one, no owner: the answer says ``inode`` 0 and the caller must not trust its ``uid``.
"""

from __future__ import annotations

import os
import socket
import struct
import threading
from dataclasses import dataclass

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
# expires, rqueue, wqueue, then uid and inode.
_OWNER = struct.Struct("=II")
_OWNER_AT = _HEADER.size + 4 + 48 + 12
_HELD = threading.local()
"""Each thread's netlink socket, kept: a question then costs a third of what it costs with a
socket of its own (two system calls, not five). The kernel answers within the send, so one
thread's questions and answers never interleave; a socket that failed is dropped."""


@dataclass(frozen=True, slots=True)
class ClientSocket:
    """The client socket of a connection: its owner's uid and its inode (0: no process
    holds it any more, and then ``uid`` means nothing)."""

    uid: int
    inode: int


def _address(family: int, host: str) -> bytes:
    return socket.inet_pton(family, host).ljust(16, b"\0")


def client_socket(peer: tuple[str, int], server: tuple[str, int]) -> ClientSocket | None:
    """The client socket of the TCP connection from ``peer`` to ``server`` (both as the
    server sees them; IPv6 when the address has a colon), in this network namespace; None
    when there is no such socket (the client is gone, or on another machine). Raises
    OSError when the kernel cannot be asked."""
    family = socket.AF_INET6 if ":" in peer[0] else socket.AF_INET
    request = b"".join(
        (
            _HEADER.pack(_REQUEST_SIZE, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, 1, 0),
            _DIAG_REQ.pack(family, socket.IPPROTO_TCP, 0, 0xFFFFFFFF),
            _PORTS.pack(peer[1], server[1]),
            _address(family, peer[0]),
            _address(family, server[0]),
            _TAIL.pack(0, NO_COOKIE, NO_COOKIE),
        )
    )
    diag = _diag_socket()
    try:
        diag.send(request)
        answer = diag.recv(8192)
    except OSError:
        _HELD.diag = None
        diag.close()
        raise
    if len(answer) < _OWNER_AT + _OWNER.size:
        return None
    _, kind, _, _, _ = _HEADER.unpack_from(answer)
    if kind == NLMSG_ERROR:
        return None
    uid, inode = _OWNER.unpack_from(answer, _OWNER_AT)
    return ClientSocket(int(uid), int(inode))


def _diag_socket() -> socket.socket:
    """This thread's netlink socket (a new one in a forked child: never the parent's)."""
    held: tuple[int, socket.socket] | None = getattr(_HELD, "diag", None)
    pid = os.getpid()
    if held is None or held[0] != pid:
        held = pid, socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
        _HELD.diag = held
    return held[1]
