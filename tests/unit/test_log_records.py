"""The log files' records: each append carries its stream and time in a header line that
``read`` (``lambox logs``) leaves out and CloudWatch Logs' scanner reads."""

from __future__ import annotations

import time
from pathlib import Path

from lambox.logs import LogSink
from lambox.services.logs import scan


def test_records_carry_stream_and_time(tmp_path: Path) -> None:
    sink = LogSink(tmp_path, 1 << 20)
    before = int(time.time() * 1000)
    sink.append("fn", b"one\ntwo\n", "s1")
    sink.append("fn", b"three", "s2")
    data = sink.data("fn")
    records = list(scan.records(data))
    assert [(r[2], data[r[0] : r[3]]) for r in records] == [
        ("s1", b"one\ntwo\n"),
        ("s2", b"three\n"),
    ]
    assert all(r[1] >= before for r in records)
    text, offset = sink.read("fn", 0)
    assert text == b"one\ntwo\nthree\n"
    assert sink.read("fn", offset) == (b"", offset)
    assert [f for f, _ in sink.functions()] == ["fn"]


def test_records_survive_rotation(tmp_path: Path) -> None:
    sink = LogSink(tmp_path, 64)
    for i in range(6):
        sink.append("fn", b"line %d padded to be long enough\n" % i, "s")
    data = sink.data("fn")
    texts = [data[r[0] : r[3]] for r in scan.records(data)]
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


def test_search_with_and_without_hints(tmp_path: Path) -> None:
    """A hinted search finds what testing every line finds, and continues from its end."""
    sink = LogSink(tmp_path, 1 << 20)
    for i in range(50):
        sink.append("fn", b"a %d\nneedle %d\nb %d\n" % (i, i, i), f"s{i % 3}")
    data = sink.data("fn")
    everything = (-(1 << 62), 1 << 62)

    def match(message: str) -> bool:
        return "needle" in message

    slow, _ = scan.search(data, 0, match, (), everything, lambda s: True, 1000)
    fast, end = scan.search(data, 0, match, (b"needle",), everything, lambda s: True, 1000)
    assert (
        [x.message for x in fast]
        == [x.message for x in slow]
        == [f"needle {i}\n" for i in range(50)]
    )
    assert end == len(data)
    first, at = scan.search(data, 0, match, (b"needle",), everything, lambda s: s == "s1", 5)
    rest, _ = scan.search(data, at, match, (b"needle",), everything, lambda s: s == "s1", 100)
    assert [x.message for x in first + rest] == [f"needle {i}\n" for i in range(1, 50, 3)]
    assert len({x.event_id(data) for x in fast}) == 50


def test_a_function_cannot_forge_a_header(tmp_path: Path) -> None:
    sink = LogSink(tmp_path, 1 << 20)
    sink.append("fn", b"\x1e1 forged\nok\n\x1e2 forged too\n", "real")
    data = sink.data("fn")
    assert [r[2] for r in scan.records(data)] == ["real"]
    assert sink.read("fn", 0)[0] == b"\x1a1 forged\nok\n\x1a2 forged too\n"
