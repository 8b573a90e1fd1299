"""How many times each function ran in one chain of events: the ``Lineage`` of the trace header.

Lambda stops a recursive loop (a function whose event leads, through a queue, a topic, a
bucket or an asynchronous invoke, to another event for itself) after about 16 rounds. It
counts them the way AWS does, in the X-Ray trace header that travels with the chain: every
invocation gets ``_X_AMZN_TRACE_ID``, the SDKs in the function copy it into the
``X-Amzn-Trace-Id`` header of each AWS call (botocore's recursion-detection handler), and the
services keep it with what the call caused (SQS as the message's ``AWSTraceHeader``, the
async queue beside the event), so the next invocation sees the count of the one before.

The header here is ``Root=...;Parent=...;Sampled=0;Lineage=<hash>:<count>|<hash>:<count>``,
one ``hash:count`` per function of the chain (``hash`` the first 8 hex digits of the SHA-256
of the function's name). Pure functions on strings, so every plane and the edge services can
use them without importing each other.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import secrets
import time
from collections.abc import Iterator
from urllib.parse import unquote

CURRENT: contextvars.ContextVar[str | None] = contextvars.ContextVar("trace", default=None)
"""The trace header of the request being served (set by the edge for its services): what an
outbox stores beside the records the request causes, so the chain goes on through them."""

LIMIT = 16
"""Runs of one function in one chain after which the next is stopped (AWS's figure)."""

HEADER = "x-amzn-trace-id"


@functools.lru_cache(maxsize=4096)
def key(function: str) -> str:
    """The hash that stands for ``function`` in a Lineage."""
    return hashlib.sha256(function.encode()).hexdigest()[:8]


def _fields(trace: str | None) -> dict[str, str]:
    if not trace:
        return {}
    out = {}
    for part in unquote(trace).split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            out[key] = value
    return out


def counts(trace: str | None) -> dict[str, int]:
    """The Lineage of a trace header: function hash -> runs so far (malformed parts skipped)."""
    out: dict[str, int] = {}
    for entry in _fields(trace).get("Lineage", "").split("|"):
        key, _, count = entry.partition(":")
        if key and count.isdigit():
            out[key] = int(count)
    return out


def hops(trace: str | None, function: str) -> int:
    """How many times ``function`` already ran in the chain ``trace`` carries."""
    return counts(trace).get(key(function), 0)


def depth(trace: str | None) -> int:
    """The most runs of any one function in the chain (0 without a lineage)."""
    return max(counts(trace).values(), default=0)


def looped(trace: str | None, function: str) -> bool:
    """Whether running ``function`` once more in this chain is a loop AWS would stop."""
    return hops(trace, function) >= LIMIT


def current() -> str | None:
    """The trace header of the request being served, if it carried one."""
    return CURRENT.get()


@contextlib.contextmanager
def tracing(trace: str | None) -> Iterator[None]:
    """Serve a call on behalf of a chain (a relay delivering a record): what it causes
    carries ``trace`` on."""
    token = CURRENT.set(trace)
    try:
        yield
    finally:
        CURRENT.reset(token)


def traced(trace: str | None, function: str) -> str:
    """The trace header of one more run of ``function`` in the chain ``trace`` carries: the
    same root (a new one for a new chain), a new parent, ``function``'s count plus one."""
    fields = _fields(trace)
    root = fields.get("Root") or f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    lineage = counts(trace)
    mine = key(function)
    lineage[mine] = lineage.get(mine, 0) + 1
    chain = "|".join(f"{k}:{v}" for k, v in lineage.items())
    return f"Root={root};Parent={secrets.token_hex(8)};Sampled=0;Lineage={chain}"


def extended(header: str, caller: str | None, function: str) -> str:
    """``header`` (the trace header a run of ``function`` gets from the tracer: the caller's,
    or a new one) with the Lineage of that run: the chain ``caller`` carries, plus one run of
    ``function``."""
    if not header:
        return traced(caller, function)
    if not caller and "Lineage=" not in header:  # a new chain: the usual case
        return f"{header};Lineage={key(function)}:1"
    lineage = counts(caller)
    mine = key(function)
    lineage[mine] = lineage.get(mine, 0) + 1
    chain = "|".join(f"{k}:{v}" for k, v in lineage.items())
    kept = [p for p in header.split(";") if p.strip() and not p.strip().startswith("Lineage=")]
    return ";".join([*kept, f"Lineage={chain}"])
