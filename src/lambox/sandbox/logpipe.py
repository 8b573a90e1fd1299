"""A sandbox's stdout and stderr: one pipe the server drains as the function writes.

Every sandbox (Python or Runtime API, whatever backend made it) writes its log into the
write end of a pipe the host made; the host's event loop reads the other end as output
arrives. So a log never grows inside the sandbox, where it would count against the
function's memory (a chatty function must not be OOM-killed for its logging), and at most
one pipe buffer (64 KiB, charged to the writer) is ever in flight: a function that writes
faster than the server reads waits in ``write``, as on Lambda.

The stream is cut into segments, one per init and one per invocation: ``take`` (or ``cut``
then ``take_cut``) drains what the pipe holds at that moment and hands back what was read
since the previous cut. A sandbox writes its log before it reports a result, so draining
when the result arrives finds all of it. ``take_on_result`` drains without a system call
when the loop's reader has already emptied the pipe: the result is readable only after
the log bytes written before it, so the poll that reports the result reports them too (or
an earlier one did), and the loop runs every callback of a poll before it resumes the
task that awaits the result; ``_drained`` says the last read found the pipe empty, and
any readiness of the pipe clears it before its reader runs again. A sandbox given up on
(a timeout, a crash) has no such result, and ``take`` always reads. Each segment keeps at
most its last ``LOG_CAP`` bytes (the end of a log says most, and the Tail of an Invoke is
its last 4 KiB). While an invocation runs, ``spill`` (set by the sandbox from
``InvokeRequest.log_spill``) takes what outgrows that, whole lines at a time, to the
function's log file: its log is complete at any volume. Without one (an init, output
between invocations) what came before is dropped and the segment then begins with a marker
saying how many bytes were.
"""

from __future__ import annotations

import asyncio
import os
from collections import deque
from collections.abc import Callable

LOG_CAP = 1 << 20
_READ = 1 << 16


def truncated_marker(dropped: int) -> bytes:
    """The line that begins a segment whose first ``dropped`` bytes were not kept."""
    return f"[lambox] log truncated: the first {dropped} bytes were dropped\n".encode()


class LogPipe:
    """The host end of one sandbox's log pipe; ``child_fd`` is the write end to hand over
    (close ours with ``started`` once the sandbox holds it)."""

    def __init__(self, cap: int = LOG_CAP) -> None:
        self._loop = asyncio.get_running_loop()
        self._fd, self.child_fd = os.pipe2(os.O_CLOEXEC)
        os.set_blocking(self._fd, False)
        self._cap = cap
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._dropped = 0
        self._cut = b""
        self._open = True
        self._drained = False  # the last read found the pipe empty
        self.spill: Callable[[bytes], None] | None = None
        self._loop.add_reader(self._fd, self._ready)

    def started(self) -> None:
        """The child holds its copy of the write end now; drop ours (EOF when it exits)."""
        if self.child_fd >= 0:
            os.close(self.child_fd)
            self.child_fd = -1

    def take(self) -> bytes:
        """The current segment (the pipe drained first); a new one begins."""
        self.cut()
        return self.take_cut()

    def take_on_result(self) -> bytes:
        """``take`` when the sandbox's result (or init report) has just been read from its
        wire: no read when the loop's reader found the pipe empty since it was last ready."""
        if not self._drained:
            self._pump(256)
        self._cut_here()
        return self.take_cut()

    def cut(self) -> None:
        """End the current segment here (what the pipe holds now included)."""
        self._pump(256)
        self._cut_here()

    def _cut_here(self) -> None:
        if not self._chunks:
            return
        segment = b"".join(self._chunks)
        if self._dropped:
            # Begin at a line when one starts near the front: no half line after the marker.
            newline = segment.find(b"\n", 0, 4096)
            if newline >= 0:
                self._dropped += newline + 1
                segment = segment[newline + 1 :]
            segment = truncated_marker(self._dropped) + segment
        self._cut += segment
        self._chunks.clear()
        self._size = self._dropped = 0

    def take_cut(self) -> bytes:
        """The segments cut since the last call, and forget them."""
        segment, self._cut = self._cut, b""
        return segment

    def _ready(self) -> None:
        """The loop's reader: the pipe has bytes (or its end); read at most 1 MiB of them."""
        self._drained = False
        self._pump(16)

    def _pump(self, reads: int) -> None:
        """Read what the pipe holds (at most ``reads`` reads: a flooding child must not
        hold the event loop), keeping the segment's last ``cap`` bytes."""
        for _ in range(reads):
            if not self._open:
                return
            try:
                data = os.read(self._fd, _READ)
            except BlockingIOError:
                self._drained = True
                return
            except OSError:
                data = b""
            if not data:
                self.close()
                return
            self._chunks.append(data)
            self._size += len(data)
            if self._size > self._cap:
                self._trim()

    def _trim(self) -> None:
        if self.spill is not None and not self._dropped:
            data = b"".join(self._chunks)
            cut = data.rfind(b"\n") + 1 or len(data)  # whole lines, unless there is no end
            self._chunks.clear()
            if cut < len(data):
                self._chunks.append(data[cut:])
            self._size = len(data) - cut
            self.spill(data[:cut])
            return
        chunks = self._chunks
        excess = self._size - self._cap
        while excess >= len(chunks[0]):
            dropped = len(chunks.popleft())
            excess -= dropped
            self._size -= dropped
            self._dropped += dropped
        if excess:
            chunks[0] = chunks[0][excess:]
            self._size -= excess
            self._dropped += excess

    def close(self) -> None:
        """Stop reading and close both ends we hold (idempotent); what was read stays
        available to ``take``."""
        self.started()
        if self._open:
            self._open = False
            self._loop.remove_reader(self._fd)
            os.close(self._fd)
