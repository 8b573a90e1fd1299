"""The random ids every invocation gets: its request id and its X-Ray trace header.

Both are made on every request, so their random digits come from one ``os.urandom`` call
per few hundred invocations rather than a ``getrandom`` system call for each id: on a
virtual machine the two system calls per request cost more than the rest of building
them. The digits are the same kernel randomness either way, and never reused: a forked
child drops its parent's unread digits (``os.register_at_fork``) and draws its own.
"""

from __future__ import annotations

import os
import time

BLOCK_BYTES = 4096


class RandomHex:
    """Lowercase hex digits from ``os.urandom``, drawn a block at a time, each handed out
    once."""

    __slots__ = ("_block", "_digits", "_forks_noted", "_pos")

    def __init__(self, block_bytes: int = BLOCK_BYTES) -> None:
        self._block = block_bytes
        self._digits = ""
        self._pos = 0
        self._forks_noted = False

    def take(self, n: int) -> str:
        """``n`` fresh hex digits (at most twice the block size)."""
        pos = self._pos
        end = pos + n
        if end > len(self._digits):
            if not self._forks_noted:
                os.register_at_fork(after_in_child=self.forget)
                self._forks_noted = True
            self._digits = os.urandom(self._block).hex()
            pos, end = 0, n
        self._pos = end
        return self._digits[pos:end]

    def forget(self) -> None:
        """Drop the unread digits (in a forked child, which must not repeat its parent's)."""
        self._digits = ""
        self._pos = 0


_hex = RandomHex()


# A UUID's variant digit (RFC 4122: 10xx) for each random hex digit.
_VARIANT = {d: "89ab"[int(d, 16) & 3] for d in "0123456789abcdef"}


def new_request_id() -> str:
    """A random (version 4) UUID in its text form, built without the uuid module's overhead:
    it is made on every request."""
    h = _hex.take(32)
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


class _Root:
    """A trace root's ``Root=1-<epoch seconds>-`` prefix, formatted once a second."""

    __slots__ = ("prefix", "second")

    def __init__(self) -> None:
        self.second = -1
        self.prefix = ""


_root = _Root()


def trace_id() -> str:
    """An X-Ray trace header, as Lambda sets ``_X_AMZN_TRACE_ID`` for every invocation."""
    bits = _hex.take(40)
    second = int(time.time())
    if second != _root.second:
        _root.prefix = f"Root=1-{second:08x}-"
        _root.second = second
    return f"{_root.prefix}{bits[:24]};Parent={bits[24:]};Sampled=0"
