"""Searching a function's log bytes without splitting them into lines first.

A function's log (``lambox.logs``: the rotated file, then the current one, each mapped
into memory, never read whole) is one or two buffers of records, each a header line
``\\x1e<ms> <stream>\\n`` and its text. A selective filter has a *hint*, bytes every
matching message contains (``filters.Compiled.hint``): ``find`` jumps from hit to hit at C
speed and only the lines around hits are decoded and tested, so a search over a million
lines costs what the hits cost (and touches only those pages of the file). Without a hint
every line is tested. Positions are byte offsets into the buffer; they are the search's
tokens.
"""

from __future__ import annotations

import hashlib
import mmap
from collections.abc import Callable, Iterator
from dataclasses import dataclass

RS = 0x1E
Buffer = bytes | mmap.mmap
"""A log part: bytes (tests) or a read-only map of the file (``LogSink.parts``)."""


@dataclass(frozen=True, slots=True)
class Line:
    """One event of a function's log: where its line ends (the position to go on from)."""

    end: int
    timestamp: int
    stream: str
    message: str
    record: int
    start: int

    def event_id(self, data: Buffer) -> str:
        """A stable id: the same event has it on every read (``aws logs tail`` dedups)."""
        index = data[self.record : self.start].count(b"\n")
        key = f"{self.stream}\0{self.timestamp}\0{index}\0{self.message}".encode()
        digest = int.from_bytes(hashlib.blake2b(key, digest_size=14).digest())
        return f"{self.timestamp:020d}{digest:036d}"[:56]


def _header(data: Buffer, line_start: int) -> tuple[int, int, str]:
    """(where the record's text starts, timestamp, stream) of the record holding a line."""
    at = data.rfind(b"\n\x1e", 0, line_start)
    head = at + 1 if at >= 0 else (0 if data[:1] == b"\x1e" else -1)
    if head < 0:
        return 0, 0, ""
    eol = data.find(b"\n", head)
    stamp, _, stream = data[head + 1 : eol].partition(b" ")
    try:
        ms = int(stamp)
    except ValueError:
        ms = 0
    return eol + 1, ms, stream.decode(errors="replace")


def search(
    data: Buffer,
    start: int,
    match: Callable[[str], bool],
    hints: tuple[bytes, ...],
    window: tuple[int, int],
    streams: Callable[[str], bool],
    limit: int,
) -> tuple[list[Line], int]:
    """Up to ``limit`` matching lines from ``start``, and the position the search stopped at
    (``len(data)`` when it went through). ``hints``: a line must contain one of them."""
    found: list[Line] = []
    pos = start
    size = len(data)
    rec_start = rec_end = 0  # the record last looked up: its text and where it ends
    ms, stream = 0, ""
    while pos < size and len(found) < limit:
        if hints:
            hits = [h for h in (data.find(x, pos) for x in hints) if h >= 0]
            if not hits:
                return found, size
            line_start = data.rfind(b"\n", 0, min(hits)) + 1
        else:
            line_start = pos
        eol = data.find(b"\n", line_start)
        line_end = size if eol < 0 else eol + 1
        pos = line_end
        if data[line_start] == RS:
            continue
        if not rec_start <= line_start < rec_end:
            rec_start, ms, stream = _header(data, line_start)
            nxt = data.find(b"\n\x1e", rec_start)
            rec_end = size if nxt < 0 else nxt + 1
        if not window[0] <= ms <= window[1] or not streams(stream):
            continue
        message = data[line_start:line_end].decode(errors="replace")
        if match(message):
            found.append(Line(line_end, ms, stream, message, rec_start, line_start))
    return found, min(pos, size)


def records(data: Buffer) -> Iterator[tuple[int, int, str, int]]:
    """(text start, timestamp, stream, text end) of every record, in file order."""
    pos = 0
    if data[:1] != b"\x1e":
        nxt = data.find(b"\n\x1e")
        end = len(data) if nxt < 0 else nxt + 1
        if end:
            yield 0, 0, "", end
        pos = end
    while pos < len(data):
        eol = data.find(b"\n", pos)
        if eol < 0:
            return
        stamp, _, stream = data[pos + 1 : eol].partition(b" ")
        nxt = data.find(b"\n\x1e", eol)
        end = len(data) if nxt < 0 else nxt + 1
        try:
            ms = int(stamp)
        except ValueError:
            ms = 0
        yield eol + 1, ms, stream.decode(errors="replace"), end
        pos = end


def stream_lines(data: Buffer, stream: str, window: tuple[int, int]) -> list[Line]:
    """Every line of one stream, in file order."""
    lines: list[Line] = []
    for text_start, ms, name, end in records(data):
        if name != stream or not window[0] <= ms <= window[1]:
            continue
        pos = text_start
        while pos < end:
            eol = data.find(b"\n", pos, end)
            line_end = end if eol < 0 else eol + 1
            message = data[pos:line_end].decode(errors="replace")
            lines.append(Line(line_end, ms, name, message, text_start, pos))
            pos = line_end
    return lines
