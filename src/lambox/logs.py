"""Per-function log files (the CloudWatch log group of each function, on local disk).

Appends are one ``write`` on an O_APPEND descriptor, so concurrent invocations never
interleave inside a record. When a file outgrows the retention size it is rotated to
``<name>.log.1`` (the previous rotation is dropped); readers that hold an offset past the
new end start again from 0.

A log write never fails the invocation it records: the function has run, and a caller told
otherwise would retry it. When the disk refuses a record (full, I/O error) the record is
dropped, the server's log says so (once per function until its writes succeed again), and
the invocation's result is returned as usual. A record is whole or absent: what a nearly
full disk took of it is cut off again.

Each record starts with one header line, ``\x1e<epoch ms> <log stream>\n``, written in the
same ``write`` as the text, so CloudWatch Logs (``services/logs/``) can tell each line's
stream and time without an index beside the file; ``read`` (``lambox logs``) leaves the
header lines out. A line the function writes that begins with that byte gets ``\x1a``
(SUB) in its place, so it cannot pass for a header.
"""

from __future__ import annotations

import contextlib
import logging
import mmap
import os
import time
import uuid
from pathlib import Path

log = logging.getLogger(__name__)


def stream_name(version: str) -> str:
    """A new log stream's name as Lambda makes one: ``YYYY/MM/DD/[version]<32 hex>``."""
    return time.strftime("%Y/%m/%d/", time.gmtime()) + f"[{version}]{uuid.uuid4().hex}"


class LogSink:
    """Append-only log storage, one file per function."""

    def __init__(self, root: Path, retention_bytes: int) -> None:
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)
        self._retention = retention_bytes
        self._fds: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._failing: set[str] = set()

    def _path(self, function: str) -> Path:
        return self._root / f"{function}.log"

    def append(self, function: str, data: bytes, stream: str = "") -> None:
        """Append one record of ``stream``; a failing disk drops it (logged) instead of raising."""
        # A line of the function's own could pass for a header. (``find``, not ``in``: on
        # bytes, ``in`` first tries its operand as an int, raising and clearing a TypeError.)
        if data.find(b"\x1e") != -1:
            data = data.replace(b"\n\x1e", b"\n\x1a")
            if data[:1] == b"\x1e":
                data = b"\x1a" + data[1:]
        head = b"\x1e%d %s\n" % (int(time.time() * 1000), stream.encode())
        data = head + data if data.endswith(b"\n") else head + data + b"\n"
        # ``_append``, inlined: one call less on every invocation.
        fd = self._fds.get(function)
        try:
            if fd is None:
                fd = self._open(function)
            before = self._sizes[function]
            try:
                written = os.write(fd, data)
                while written < len(data):  # a nearly full disk takes a part; the rest raises
                    written += os.write(fd, data[written:])
            except OSError:
                with contextlib.suppress(OSError):  # no torn record: cut back to where it began
                    os.ftruncate(fd, before)
                raise
            size = before + len(data)
            self._sizes[function] = size
            if size > self._retention:
                self._rotate(function)
        except OSError as exc:
            # A partial write leaves the size unknown: reopen (and fstat) next time.
            self._close(function)
            if function not in self._failing:
                self._failing.add(function)
                log.error("logs of %s are being dropped: %s", function, exc.strerror or exc)
            return
        if function in self._failing:
            self._failing.discard(function)
            log.warning("logs of %s are written again", function)

    def _open(self, function: str) -> int:
        fd = os.open(self._path(function), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._fds[function] = fd
        self._sizes[function] = os.fstat(fd).st_size
        return fd

    def touch(self, function: str) -> None:
        """Make ``function``'s log exist (empty), so its group does from its creation on;
        a failing disk is logged, as a dropped record is."""
        try:
            os.close(os.open(self._path(function), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        except OSError as exc:
            log.error("log of %s cannot be created: %s", function, exc.strerror or exc)

    def read(self, function: str, offset: int, limit: int = 1 << 20) -> tuple[bytes, int]:
        """Text from ``offset`` (at most ``limit`` bytes, whole lines when there is a
        newline in them) without the header lines, and the offset to continue from."""
        try:
            with open(self._path(function), "rb") as f:
                end = f.seek(0, os.SEEK_END)
                if offset > end:
                    offset = 0
                f.seek(offset)
                data = f.read(limit)
        except FileNotFoundError:
            return b"", 0
        cut = data.rfind(b"\n") + 1
        if cut and len(data) == limit:
            data = data[:cut]
        next_offset = offset + len(data)
        lines = data.splitlines(keepends=True)
        return b"".join(x for x in lines if x[:1] != b"\x1e"), next_offset

    def functions(self) -> list[tuple[str, float]]:
        """(function, time of its first stored record) for every function with logs."""
        found: list[tuple[str, float]] = []
        for path in self._root.glob("*.log"):
            old = path.with_suffix(".log.1")
            with contextlib.suppress(OSError):
                found.append((path.stem, (old if old.exists() else path).stat().st_mtime))
        return sorted(found)

    def data(self, function: str) -> bytes:
        """Every stored byte of ``function``'s log, records whole: the rotated file, then the
        current one (CloudWatch Logs searches it, ``services/logs/scan.py``)."""
        path = self._path(function)
        parts: list[bytes] = []
        for part in (path.with_suffix(".log.1"), path):
            with contextlib.suppress(FileNotFoundError):
                parts.append(part.read_bytes())
        return b"".join(parts)

    def parts(self, function: str) -> list[mmap.mmap]:
        """The stored log, the rotated file then the current one, each mapped rather than
        read: CloudWatch Logs searches them where they are, and the kernel pages in only
        what a search touches (a whole file is never copied into the server's memory).
        Records are whole in each part; what is appended after the call is not in it."""
        path = self._path(function)
        found: list[mmap.mmap] = []
        for part in (path.with_suffix(".log.1"), path):
            try:
                with open(part, "rb") as f:
                    size = os.fstat(f.fileno()).st_size
                    if size:
                        found.append(mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ))
            except FileNotFoundError:
                continue
        return found

    def delete(self, function: str) -> None:
        self._close(function)
        for path in (self._path(function), self._path(function).with_suffix(".log.1")):
            path.unlink(missing_ok=True)

    def close(self) -> None:
        for function in list(self._fds):
            self._close(function)

    def _close(self, function: str) -> None:
        fd = self._fds.pop(function, None)
        self._sizes.pop(function, None)
        if fd is not None:
            os.close(fd)

    def _rotate(self, function: str) -> None:
        """Move the log to ``.log.1`` and begin an empty one: the function's log group
        (``functions``) exists as long as its log file does."""
        self._close(function)
        path = self._path(function)
        os.replace(path, path.with_suffix(".log.1"))
        self.touch(function)
