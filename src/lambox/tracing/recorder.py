"""What lambox records of a traced invocation, and the header each function is handed.

``Tracer.begin`` is on every invocation's path, so for a function without Active tracing
it does what Lambda does and nothing more: the caller's header goes on unchanged
(PassThrough), or the function gets a fresh, unsampled one. An Active function continues
the caller's trace (or starts one, sampled: lambox samples every request, it has no
X-Ray reservoir) and gets a ``Trace`` that collects a handful of clock readings; the
finished trace goes to the sink (``tracing.otlp``), which turns it into spans off the
request path. A caller's ``Sampled=0`` is respected: nothing is recorded.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from lambox.invoke.ids import RandomHex
from lambox.tracing.header import TraceHeader, parse

ACTIVE = "Active"


_hex = RandomHex()


def span_id() -> str:
    """A new span id: 16 hex digits of kernel randomness, drawn a block at a time."""
    return _hex.take(16)


class Trace:
    """One recorded invocation: its ids and the times (``time.time_ns``) of its phases."""

    __slots__ = (
        "acquired",
        "arn",
        "call_end",
        "call_start",
        "cold",
        "end",
        "error",
        "function",
        "header",
        "init_ms",
        "invocation_id",
        "parent",
        "request_id",
        "segment_id",
        "start",
        "trace_id",
    )

    def __init__(
        self, function: str, arn: str, request_id: str, trace_id: str, parent: str | None
    ) -> None:
        self.function = function
        self.arn = arn
        self.request_id = request_id
        self.trace_id = trace_id
        self.parent = parent
        self.segment_id = span_id()
        self.invocation_id = span_id()
        self.start = time.time_ns()
        self.acquired = self.call_start = self.call_end = self.end = self.start
        self.cold = False
        self.init_ms: float | None = None
        self.error: str | None = None
        self.header = ""

    @property
    def overhead_ms(self) -> float:
        """lambox's own time: the whole invocation less the init and the function's run."""
        total = (self.end - self.start) - (self.call_end - self.call_start)
        return max(0.0, total / 1e6 - (self.init_ms or 0.0))


class Sink(Protocol):
    """Where finished traces go (``tracing.otlp.OtlpSink``)."""

    def __call__(self, trace: Trace) -> None: ...

    def close(self) -> None: ...


class Tracer:
    """Makes each invocation's trace header; records Active functions' traces into ``sink``
    (None: headers only, nothing recorded)."""

    def __init__(self, sink: Sink | None = None, new_header: Callable[[], str] | None = None):
        self._sink = sink
        self._new_header = new_header

    def begin(
        self, mode: str, caller: str | None, function: str, arn: str, request_id: str
    ) -> tuple[str, Trace | None]:
        """The header the function gets, and the trace to fill in (None: not recorded)."""
        if mode != ACTIVE:
            if caller:
                return caller, None
            return (self._new_header() if self._new_header else ""), None
        given = parse(caller) if caller else TraceHeader()
        root = given.root or _new_root()
        if given.sampled is False or self._sink is None:
            sampled = given.sampled is not False  # Active samples unless the caller did not
            return TraceHeader(root, given.parent or span_id(), sampled).render(), None
        trace = Trace(function, arn, request_id, root[2:10] + root[11:], given.parent)
        trace.header = TraceHeader(root, trace.invocation_id, True).render()
        return trace.header, trace

    def finish(self, trace: Trace) -> None:
        trace.end = time.time_ns()
        if self._sink is not None:
            self._sink(trace)

    def close(self) -> None:
        """Send what is still queued (blocks up to the exporter's timeout)."""
        if self._sink is not None:
            self._sink.close()


def _new_root() -> str:
    return f"1-{int(time.time()):08x}-{_hex.take(24)}"
