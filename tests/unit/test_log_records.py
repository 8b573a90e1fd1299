"""The log files' records: each append carries its stream and time in a header line that
``read`` (``lambox logs``) leaves out and ``records`` (CloudWatch Logs) returns."""

from __future__ import annotations

import time
from pathlib import Path

from lambox.logs import LogSink


def test_records_carry_stream_and_time(tmp_path: Path) -> None:
    sink = LogSink(tmp_path, 1 << 20)
    before = int(time.time() * 1000)
    sink.append("fn", b"one\ntwo\n", "s1")
    sink.append("fn", b"three", "s2")
    records = list(sink.records("fn"))
    assert [(r.stream, r.text) for r in records] == [("s1", b"one\ntwo\n"), ("s2", b"three\n")]
    assert all(r.timestamp_ms >= before for r in records)
    text, offset = sink.read("fn", 0)
    assert text == b"one\ntwo\nthree\n"
    assert sink.read("fn", offset) == (b"", offset)
    assert [f for f, _ in sink.functions()] == ["fn"]


def test_records_survive_rotation(tmp_path: Path) -> None:
    sink = LogSink(tmp_path, 64)
    for i in range(6):
        sink.append("fn", b"line %d padded to be long enough\n" % i, "s")
    texts = [r.text for r in sink.records("fn")]
    assert texts and texts == sorted(texts)
    assert texts[-1] == b"line 5 padded to be long enough\n"


def test_read_in_small_pieces_drops_headers(tmp_path: Path) -> None:
    sink = LogSink(tmp_path, 1 << 20)
    for i in range(5):
        sink.append("fn", b"record %d\n" % i, "stream")
    got, offset = b"", 0
    for _ in range(50):
        part, offset = sink.read("fn", offset, limit=40)
        got += part
    assert got == b"".join(b"record %d\n" % i for i in range(5))
