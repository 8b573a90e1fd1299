"""How every lambox SQLite database is opened: WAL, a busy timeout, autocommit mode.

WAL lets readers run beside the one writer; with ``synchronous=NORMAL`` a commit survives a
crash of the server process (not of the machine's power); ``FULL`` also fsyncs each commit.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


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
