"""lambox's event-stream framing, read back by botocore's own decoder."""

from __future__ import annotations

import json

from botocore.eventstream import EventStreamBuffer

from lambox.api.eventstream import invoke_complete, payload_chunk


def test_payload_chunks_and_invoke_complete_decode_with_botocore() -> None:
    buffer = EventStreamBuffer()
    data = payload_chunk(b"\x00binary\xff") + invoke_complete("Unhandled", '{"e": 1}', "bG9n")
    # Fed in awkward pieces, as a network delivers them.
    for i in range(0, len(data), 7):
        buffer.add_data(data[i : i + 7])
    chunk, complete = list(buffer)
    assert chunk.headers == {
        ":event-type": "PayloadChunk",
        ":content-type": "application/octet-stream",
        ":message-type": "event",
    }
    assert chunk.payload == b"\x00binary\xff"
    assert complete.headers[":event-type"] == "InvokeComplete"
    assert json.loads(complete.payload) == {
        "ErrorCode": "Unhandled",
        "ErrorDetails": '{"e": 1}',
        "LogResult": "bG9n",
    }


def test_a_clean_end_carries_an_empty_object() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(invoke_complete())
    (complete,) = list(buffer)
    assert complete.payload == b"{}"
