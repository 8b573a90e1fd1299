"""The ``X-Amzn-Trace-Id`` header: ``Root=1-<8 hex time>-<24 hex>;Parent=<16 hex>;Sampled=1``.

Lambda reads it from a caller (the Invoke request, a function URL or API Gateway request,
an SQS message's ``AWSTraceHeader``), continues its trace and hands the function the
header of its own segment in ``_X_AMZN_TRACE_ID``. The same trace is an OpenTelemetry one:
the root's 32 hex digits (time and random part) are the trace id, ``Parent`` a span id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ROOT = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
_SPAN = re.compile(r"[0-9a-f]{16}")


@dataclass(frozen=True, slots=True)
class TraceHeader:
    """The parts of a header lambox uses; a missing or malformed part is None."""

    root: str | None = None
    parent: str | None = None
    sampled: bool | None = None

    @property
    def trace_id(self) -> str | None:
        """The OpenTelemetry trace id (32 hex digits) of the root."""
        return None if self.root is None else self.root[2:10] + self.root[11:]

    def render(self) -> str:
        parts = [f"Root={self.root}"] if self.root else []
        if self.parent:
            parts.append(f"Parent={self.parent}")
        if self.sampled is not None:
            parts.append(f"Sampled={int(self.sampled)}")
        return ";".join(parts)


def parse(text: str) -> TraceHeader:
    """The header's Root, Parent and Sampled (other keys, Lineage or Self, are ignored)."""
    root = parent = None
    sampled: bool | None = None
    for part in text.split(";"):
        key, _, value = part.strip().partition("=")
        value = value.strip().lower()
        if key == "Root" and _ROOT.fullmatch(value):
            root = value
        elif key == "Parent" and _SPAN.fullmatch(value):
            parent = value
        elif key == "Sampled" and value in ("0", "1"):
            sampled = value == "1"
    return TraceHeader(root, parent, sampled)
