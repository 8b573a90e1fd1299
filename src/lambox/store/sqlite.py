"""How every lambox SQLite database is opened (WAL, a busy timeout, autocommit mode) and
guarded (one caller at a time; a failing disk is a StorageError).

WAL lets readers run beside the one writer; with ``synchronous=NORMAL`` a commit survives a
crash of the server process (not of the machine's power); ``FULL`` also fsyncs each commit.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path
from types import TracebackType

from lambox.errors import StorageError

log = logging.getLogger(__name__)


def connect(path: Path, synchronous: str = "NORMAL") -> sqlite3.Connection:
    """A connection usable from any thread (callers serialize with their own lock)."""
    if synchronous not in ("OFF", "NORMAL", "FULL", "EXTRA"):
        raise ValueError(f"unknown synchronous mode {synchronous!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("PRAGMA busy_timeout=5000")
    return db


class Guarded:
    """``with guard:`` serializes the calls on one connection and translates its failures.

    ``sqlite3.IntegrityError`` is the callers' to handle inside the block (a duplicate key
    is a conflict, not a failure). Any other ``sqlite3.Error`` that leaves the block is the
    storage failing under lambox (SQLITE_FULL "database or disk is full", an I/O error, a
    read-only file): it is logged once here and becomes a ``StorageError`` that names what
    could not be written, so the client gets AWS's 500 ServiceException with a clear message
    instead of an unexplained internal error. A transaction left open is rolled back.
    """

    def __init__(self, db: sqlite3.Connection, what: str) -> None:
        self._db = db
        self._what = what
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        self._lock.acquire()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc is not None and self._db.in_transaction:
                self._db.execute("ROLLBACK")
        except sqlite3.Error:
            pass  # the connection is failing; the original error is the one to report
        finally:
            self._lock.release()
        if isinstance(exc, sqlite3.Error) and not isinstance(exc, sqlite3.IntegrityError):
            log.error("storing %s failed: %s", self._what, exc)
            raise StorageError(f"lambox could not store the {self._what}: {exc}.") from exc


def ensure_column(db: sqlite3.Connection, table: str, column: str, declaration: str) -> None:
    """Add ``column`` to a ``table`` an older lambox created without it (``CREATE TABLE IF
    NOT EXISTS`` leaves an existing table as it was)."""
    columns = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    if column not in columns:
        db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
