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
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)


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

    def append(self, function: str, data: bytes) -> None:
        """Append one record; a failing disk drops it (logged) instead of raising."""
        try:
            self._append(function, data)
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

    def _append(self, function: str, data: bytes) -> None:
        fd = self._fds.get(function)
        if fd is None:
            fd = os.open(self._path(function), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            self._fds[function] = fd
            self._sizes[function] = os.fstat(fd).st_size
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

    def read(self, function: str, offset: int, limit: int = 1 << 20) -> tuple[bytes, int]:
        """Bytes from ``offset`` (at most ``limit``) and the offset to continue from."""
        try:
            with open(self._path(function), "rb") as f:
                end = f.seek(0, os.SEEK_END)
                if offset > end:
                    offset = 0
                f.seek(offset)
                data = f.read(limit)
        except FileNotFoundError:
            return b"", 0
        return data, offset + len(data)

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
        self._close(function)
        path = self._path(function)
        os.replace(path, path.with_suffix(".log.1"))
