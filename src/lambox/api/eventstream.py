"""AWS's event-stream framing (``application/vnd.amazon.eventstream``), the encoding of
InvokeWithResponseStream's answer, which boto3 decodes with botocore's ``EventStream``.

A message is: total length and headers length (big-endian uint32 each), the CRC32 of those
8 bytes, the headers, the payload, then the CRC32 of everything before it. A header is its
name's length (uint8), the name, the value type (7: string), the value's length (uint16)
and the value.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

_STRING = 7


def _headers(headers: dict[str, str]) -> bytes:
    out = bytearray()
    for name, value in headers.items():
        raw_name, raw_value = name.encode(), value.encode()
        out += struct.pack(">B", len(raw_name)) + raw_name
        out += struct.pack(">BH", _STRING, len(raw_value)) + raw_value
    return bytes(out)


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One framed message."""
    head = _headers(headers)
    total = 12 + len(head) + len(payload) + 4
    prelude = struct.pack(">II", total, len(head))
    start = prelude + struct.pack(">I", zlib.crc32(prelude)) + head + payload
    return start + struct.pack(">I", zlib.crc32(start))


def event(event_type: str, payload: bytes, content_type: str) -> bytes:
    return message(
        {
            ":event-type": event_type,
            ":content-type": content_type,
            ":message-type": "event",
        },
        payload,
    )


def payload_chunk(data: bytes) -> bytes:
    """A ``PayloadChunk`` event: bytes of the function's response."""
    return event("PayloadChunk", data, "application/octet-stream")


def invoke_complete(
    error_code: str | None = None, error_details: str | None = None, log_result: str | None = None
) -> bytes:
    """The ``InvokeComplete`` event that ends the stream (with the error, if the function
    failed, and the tail of the log when asked for)."""
    body: dict[str, Any] = {}
    if error_code:
        body["ErrorCode"] = error_code
    if error_details is not None:
        body["ErrorDetails"] = error_details
    if log_result:
        body["LogResult"] = log_result
    return event("InvokeComplete", json.dumps(body).encode(), "application/json")
