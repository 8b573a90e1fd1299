"""The internal wire between the host and a Python sandbox: framed messages on a Unix socket.

Standard library only; both sides import this module. A frame is

    !BII header: kind, meta length, body length
    meta:  UTF-8 JSON object (small, never the payload)
    body:  raw bytes (the payload, passed through without re-encoding)

Order on one connection, strictly alternating after READY:

    sandbox -> host  READY   meta {"init_ms": float, "init_error": null | error-object}
                             body: bytes the function's init wrote to stdout/stderr
    host -> sandbox  INVOKE  meta {"id", "deadline_ms" (epoch ms), "arn", "version",
                                   "client_context" (base64 JSON or null), "trace_id",
                                   "tenant_id" (only for a function with tenant isolation)}
                             body: the event payload (JSON bytes)
    sandbox -> host  RESULT  meta {"error": null | "Unhandled", "log_len": int,
                                   "duration_ms": float, "max_rss_kb": int}
                             body: log bytes (log_len of them) followed by the response payload

A sandbox restored from a SnapStart snapshot (``runtime.snapstart``) first waits for

    host -> sandbox  RESUME  meta {} (it is in its cgroup now)
    sandbox -> host  READY   meta {"init_ms": after-restore hook time, "init_error",
                                   "restored": true}

``max_rss_kb`` is the process's peak RSS, or 0 when the sandbox was started with
``PEAK_BY_HOST_ENV`` set: the host measures the whole sandbox's peak itself (a cgroup's),
so the sandbox need not ask the kernel for its own on every invocation.

An "error-object" is the Lambda error shape {"errorMessage", "errorType", "stackTrace"}.
The host never sends a second INVOKE before the RESULT of the first; closing the socket
tells the sandbox to exit.
"""

from __future__ import annotations

import json
import socket
import struct
from json.encoder import encode_basestring_ascii as _quote
from typing import Any

HEADER = struct.Struct("!BII")
READY = 1
INVOKE = 2
RESULT = 3
RESUME = 4

PEAK_BY_HOST_ENV = "LAMBOX_PEAK_BY_HOST"

MAX_META = 1 << 20
MAX_BODY = 64 << 20

# Built once: ``json.dumps`` with any non-default argument builds a new encoder per call,
# and the host encodes a frame on every invocation.
_encode_meta = json.JSONEncoder(separators=(",", ":")).encode

# The ARNs and versions INVOKE frames carry, quoted: a host sends the same few (one per
# function version and qualifier) on every invocation. Emptied when it fills, which only
# a host that made thousands of functions sees.
_quoted: dict[str, str] = {}
_QUOTED_MAX = 4096


def encode(kind: int, meta: dict[str, Any], body: bytes = b"") -> bytes:
    """One frame as bytes, ready to write."""
    m = _encode_meta(meta).encode()
    return b"".join((HEADER.pack(kind, len(m), len(body)), m, body))


def encode_invoke(
    request_id: str,
    deadline_ms: int,
    arn: str,
    version: str,
    client_context: str | None,
    trace_id: str,
    payload: bytes,
    trace_made: bool = False,
    tenant_id: str | None = None,
) -> bytes:
    """The INVOKE frame, byte for byte what ``encode`` makes of its meta, written out by hand:
    it is built on every invocation, and a fixed shape needs no walk over a dict.

    ``request_id`` is one the host made (``ids.new_request_id``: hex digits and hyphens),
    and ``trace_made`` says the host made ``trace_id`` whole too (no caller's header in it:
    ``Root=``, ``Parent=``, ``Sampled=``, ``Lineage=`` with hex digits): neither has a
    character JSON escapes, so both go between plain quotes; quoting them cost about 5,000
    instructions per invocation. A ``tenant_id`` (a tenant-isolated function's) is added
    only when there is one: every other frame stays as it was."""
    cc = "null" if client_context is None else _quote(client_context)
    trace_q = f'"{trace_id}"' if trace_made else _quote(trace_id)
    # A quoted string is never empty, so ``or`` falls through only on a miss.
    arn_q = _quoted.get(arn) or _remember(arn)
    version_q = _quoted.get(version) or _remember(version)
    if tenant_id is None:
        m = (
            f'{{"id":"{request_id}","deadline_ms":{deadline_ms},"arn":{arn_q},'
            f'"version":{version_q},"client_context":{cc},"trace_id":{trace_q}}}'
        ).encode()
    else:
        m = (
            f'{{"id":"{request_id}","deadline_ms":{deadline_ms},"arn":{arn_q},'
            f'"version":{version_q},"client_context":{cc},"trace_id":{trace_q},'
            f'"tenant_id":{_quote(tenant_id)}}}'
        ).encode()
    return b"".join((HEADER.pack(INVOKE, len(m), len(payload)), m, payload))


def _remember(text: str) -> str:
    """``text`` quoted as JSON, kept for the next frame that carries it."""
    if len(_quoted) >= _QUOTED_MAX:
        _quoted.clear()
    quoted = _quoted[text] = _quote(text)
    return quoted


def decode_header(header: bytes) -> tuple[int, int, int]:
    """(kind, meta length, body length) of a header, bounds-checked."""
    kind, meta_len, body_len = HEADER.unpack(header)
    if meta_len > MAX_META or body_len > MAX_BODY:
        raise ValueError(f"frame too large: meta {meta_len} body {body_len}")
    return kind, meta_len, body_len


def recv_exact(sock: socket.socket, n: int) -> bytes:
    """Exactly n bytes from a blocking socket; EOFError when the peer closed."""
    buf = bytearray(n)
    view = memoryview(buf)
    got = 0
    while got < n:
        r = sock.recv_into(view[got:], n - got)
        if r == 0:
            raise EOFError("wire closed")
        got += r
    return bytes(buf)


def recv_frame(sock: socket.socket) -> tuple[int, dict[str, Any], bytes]:
    """One whole frame from a blocking socket (the sandbox side)."""
    kind, meta_len, body_len = decode_header(recv_exact(sock, HEADER.size))
    rest = recv_exact(sock, meta_len + body_len) if meta_len + body_len else b""
    meta = json.loads(rest[:meta_len]) if meta_len else {}
    return kind, meta, rest[meta_len:]
