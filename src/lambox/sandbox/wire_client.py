"""The host end of the internal wire, as an asyncio protocol (one callback per frame).

Frames are parsed in ``data_received`` and handed to the single waiter; there is at most
one outstanding request per sandbox, so a one-slot waiter is all the state needed.

The waiter's deadline is kept by one timer per sandbox that is not cancelled when a frame
comes in time: when it fires it finds no waiter (it is dropped), or the deadline of a later
wait (it re-arms for the rest of it), or that deadline passed (the wait times out). A warm
sandbox invoked back to back so makes one timer per timeout's length, not two timer
operations per invocation; a wait whose deadline is sooner than the armed timer's (a
shorter timeout) arms its own.
"""

from __future__ import annotations

import asyncio
import collections
import math
from typing import Any, cast

from lambox.errors import SandboxDead, SandboxTimeout
from lambox.jsontext import decoded
from lambox.runtime import wire

Frame = tuple[int, dict[str, Any], bytes]


class WireClient(asyncio.Protocol):
    """Reads frames from a sandbox; ``next_frame`` awaits the next one with a deadline."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._need = 0
        self._frames: collections.deque[Frame] = collections.deque()
        self._waiter: asyncio.Future[Frame] | None = None
        self._closed = False
        self.transport: asyncio.Transport | None = None
        # The loop, kept: asyncio.get_running_loop() checks the process id (a getpid
        # system call) every time, and next_frame runs once per invocation.
        self._loop: asyncio.AbstractEventLoop | None = None
        self._deadline = 0.0  # loop time the pending wait times out at
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0  # loop time ``_timer`` fires at

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self._loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        buf = self._buf
        if buf:
            buf += data
            if len(buf) < self._need:
                return
            data = bytes(buf)
            buf.clear()
        # Usually ``data`` is one whole frame, parsed where it lies; only a frame split
        # across reads is gathered in ``buf``, and parsed once all of it has come.
        end = self._parse(data)
        if end < len(data):
            buf += memoryview(data)[end:]

    def _parse(self, data: bytes) -> int:
        """Deliver the whole frames at the start of ``data``; how many bytes they took.
        ``_need`` becomes the size of the incomplete frame after them (or of its header)."""
        size = wire.HEADER.size
        pos = 0
        total = len(data)
        while True:
            if total - pos < size:
                self._need = size
                return pos
            try:
                kind, meta_len, body_len = wire.decode_header(data[pos : pos + size])
            except ValueError:
                self._fail(SandboxDead("sandbox sent a malformed frame"))
                if self.transport is not None:
                    self.transport.close()
                return total
            start = pos + size
            end = start + meta_len + body_len
            if total < end:
                self._need = end - pos
                return pos
            meta = decoded(data[start : start + meta_len].decode()) if meta_len else {}
            body = data[start + meta_len : end]
            pos = end
            self._deliver((kind, meta, body))

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._fail(SandboxDead("sandbox wire closed"))

    def send(self, frame: bytes) -> None:
        if self._closed or self.transport is None:
            raise SandboxDead("sandbox wire closed")
        self.transport.write(frame)

    def next_frame(self, timeout: float | None) -> asyncio.Future[Frame]:
        """The next frame, to await (a future, not a coroutine: one object less on every
        invocation); raises SandboxDead at once when the wire is closed. The waiter slot
        is emptied when its future is done, however that came."""
        loop = self._loop or asyncio.get_running_loop()
        waiter: asyncio.Future[Frame] = loop.create_future()
        if self._frames:
            waiter.set_result(self._frames.popleft())
            return waiter
        if self._closed:
            raise SandboxDead("sandbox wire closed")
        self._waiter = waiter
        if timeout is not None:
            deadline = self._deadline = loop.time() + timeout
            timer = self._timer
            if timer is None or self._timer_at > deadline:
                if timer is not None:
                    timer.cancel()
                self._timer_at = deadline
                self._timer = loop.call_at(deadline, self._expired)
        else:
            self._deadline = math.inf
        return waiter

    def _expired(self) -> None:
        """The timer's time came: time the pending wait out if its deadline passed."""
        self._timer = None
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        deadline = self._deadline
        if deadline == math.inf:
            return  # a wait without a deadline: the next wait with one arms a timer
        if self._timer_at < deadline:
            # Armed for an earlier wait: wait for this one's own deadline. (The timer armed
            # at a deadline is trusted when it fires, as a call_later's would be: uvloop's
            # timers run on whole milliseconds, up to one before ``loop.time()`` says.)
            loop = self._loop or asyncio.get_running_loop()
            self._timer_at = deadline
            self._timer = loop.call_at(deadline, self._expired)
            return
        self._waiter = None
        waiter.set_exception(SandboxTimeout("sandbox did not answer in time"))

    def _deliver(self, frame: Frame) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_result(frame)
        else:
            self._frames.append(frame)

    def _fail(self, exc: Exception) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            self._waiter = None
            waiter.set_exception(exc)
