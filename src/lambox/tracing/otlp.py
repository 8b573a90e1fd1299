"""Traces to an OpenTelemetry collector over OTLP/HTTP (``LAMBOX_OTLP_ENDPOINT``).

A finished ``Trace`` becomes the spans X-Ray shows for a Lambda invocation: the function's
segment (SERVER, child of the caller's span when the header named one) with
``Initialization`` (a cold start's init), ``Invocation`` (the handler; its id is the
``Parent`` the function's own ``_X_AMZN_TRACE_ID`` names, so spans the function makes nest
under it) and ``Overhead`` (lambox's work after the function answered). The request path
only appends the finished trace to a bounded queue; the exporting thread turns what is
queued into spans every ``delay_ms`` and sends them in one request. A collector that is
down costs a log line from the exporter, never an invocation; past ``MAX_QUEUED`` waiting
traces the oldest are dropped.

The SDK is imported only when an endpoint is set: a server without one never loads it.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any

from lambox.config import Settings
from lambox.invoke.ids import trace_id
from lambox.tracing.recorder import Trace, Tracer, span_id

SCOPE = "lambox"
MAX_QUEUED = 1 << 16
BATCH = 512


def traces_url(endpoint: str) -> str:
    """The OTLP/HTTP traces URL of a collector: a bare ``http://host:4318`` gets the
    standard ``/v1/traces`` path, as ``OTEL_EXPORTER_OTLP_ENDPOINT`` does."""
    base, sep, path = endpoint.partition("://")
    if "/" in path.rstrip("/"):
        return endpoint
    return f"{base}{sep}{path.rstrip('/')}/v1/traces"


class OtlpSink:
    """A ``tracing.recorder.Sink`` exporting to one collector."""

    def __init__(self, endpoint: str, service_name: str = "lambox", delay_ms: int = 500) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import ReadableSpan
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

        self._readable = ReadableSpan
        self._kinds = (SpanKind.SERVER, SpanKind.INTERNAL)
        self._context = SpanContext
        self._flags = TraceFlags(TraceFlags.SAMPLED)
        self._error = Status(StatusCode.ERROR)
        self._ok = Status(StatusCode.UNSET)
        self._resource = Resource.create({"service.name": service_name, "cloud.provider": "aws"})
        self._scope = InstrumentationScope(SCOPE)
        self._exporter = OTLPSpanExporter(endpoint=traces_url(endpoint), timeout=5)
        self._queue: deque[Trace] = deque(maxlen=MAX_QUEUED)
        self._delay = delay_ms / 1000
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lambox-otlp", daemon=True)
        self._thread.start()

    def __call__(self, trace: Trace) -> None:
        """On the request path: queue the trace (``deque.append`` is atomic)."""
        self._queue.append(trace)

    def _run(self) -> None:
        while not self._closed.wait(self._delay):
            self._drain()
        self._drain()

    def _drain(self) -> None:
        queue = self._queue
        while queue:
            spans: list[Any] = []
            for _ in range(min(BATCH, len(queue))):
                spans += self._spans(queue.popleft())
            self._exporter.export(spans)

    def _spans(self, trace: Trace) -> list[Any]:
        trace_id = int(trace.trace_id, 16)
        segment = self._ctx(trace_id, trace.segment_id)
        parent = self._ctx(trace_id, trace.parent, remote=True) if trace.parent else None
        attributes: dict[str, Any] = {
            "faas.name": trace.function,
            "faas.invocation_id": trace.request_id,
            "cloud.resource_id": trace.arn,
            "faas.coldstart": trace.cold,
            "aws.xray.trace_id": trace.header.split(";", 1)[0].removeprefix("Root="),
            "lambox.overhead_ms": round(trace.overhead_ms, 3),
        }
        failed = trace.error is not None
        if failed:
            attributes["faas.error"] = str(trace.error)
        spans = [self._span(trace.function, segment, parent, trace.start, trace.end, attributes,
                            self._kinds[0], failed)]  # fmt: skip
        if trace.cold and trace.init_ms is not None:
            begun = trace.acquired - int(trace.init_ms * 1e6)
            init = self._ctx(trace_id, None)
            spans.append(self._span("Initialization", init, segment, begun, trace.acquired))
        invocation = self._ctx(trace_id, trace.invocation_id)
        spans.append(
            self._span("Invocation", invocation, segment, trace.call_start, trace.call_end,
                       None, self._kinds[1], failed)
        )  # fmt: skip
        overhead = self._ctx(trace_id, None)
        spans.append(self._span("Overhead", overhead, segment, trace.call_end, trace.end))
        return spans

    def _ctx(self, trace_id: int, span: str | None, remote: bool = False) -> Any:
        return self._context(trace_id, int(span or span_id(), 16), remote, self._flags)

    def _span(
        self,
        name: str,
        context: Any,
        parent: Any,
        start: int,
        end: int,
        attributes: dict[str, Any] | None = None,
        kind: Any = None,
        failed: bool = False,
    ) -> Any:
        return self._readable(
            name,
            context=context,
            parent=parent,
            resource=self._resource,
            attributes=attributes or {},
            kind=kind if kind is not None else self._kinds[1],
            status=self._error if failed else self._ok,
            start_time=start,
            end_time=end,
            instrumentation_scope=self._scope,
        )

    def close(self) -> None:
        """Export what is queued, then stop the exporting thread."""
        self._closed.set()
        self._thread.join(30)
        self._exporter.shutdown()  # type: ignore[no-untyped-call]


def tracer(settings: Settings) -> Tracer:
    """The server's tracer: exporting to ``LAMBOX_OTLP_ENDPOINT`` when it is set."""
    sink = OtlpSink(settings.otlp_endpoint) if settings.otlp_endpoint else None
    return Tracer(sink, trace_id)
