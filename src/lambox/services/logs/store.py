"""CloudWatch Logs' own state in SQLite: log groups and streams created through the API,
the events PutLogEvents wrote into them, and every group's retention (functions' groups
too: their events stay in ``lambox.logs``' files, bounded by size, and retention hides
what is older)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from lambox.store.sqlite import Guarded, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS retention (
    grp TEXT PRIMARY KEY,
    days INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS streams (
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (grp, name)
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL,
    stream TEXT NOT NULL,
    ts INTEGER NOT NULL,
    ingested INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_stream ON events (grp, stream, ts);
"""

StoredEvent = tuple[int, str, int, int, str]
"""(id, stream, timestamp ms, ingestion time ms, message)."""


def now_ms() -> int:
    return int(time.time() * 1000)


class LogsStore:
    """Groups, streams, events and retention (``cloudwatch/logs.db`` in the data dir)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.executescript(SCHEMA)
        self._guard = Guarded(self._db, "CloudWatch Logs state")

    def close(self) -> None:
        self._db.close()

    def groups(self) -> dict[str, int]:
        with self._guard:
            return dict(self._db.execute("SELECT name, created FROM groups").fetchall())

    def add_group(self, name: str) -> bool:
        """False when the group exists."""
        with self._guard:
            cur = self._db.execute("INSERT OR IGNORE INTO groups VALUES (?, ?)", (name, now_ms()))
            return cur.rowcount == 1

    def remove_group(self, name: str) -> None:
        with self._guard:
            self._db.execute("BEGIN")
            for table, column in (
                ("groups", "name"),
                ("retention", "grp"),
                ("streams", "grp"),
                ("events", "grp"),
            ):
                self._db.execute(f"DELETE FROM {table} WHERE {column} = ?", (name,))
            self._db.execute("COMMIT")

    def retention(self) -> dict[str, int]:
        with self._guard:
            return dict(self._db.execute("SELECT grp, days FROM retention").fetchall())

    def set_retention(self, group: str, days: int | None) -> None:
        """Set (or with None remove) a group's retention; stored events past it are dropped."""
        with self._guard:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM retention WHERE grp = ?", (group,))
            if days is not None:
                self._db.execute("INSERT INTO retention VALUES (?, ?)", (group, days))
                cutoff = now_ms() - days * 86_400_000
                self._db.execute("DELETE FROM events WHERE grp = ? AND ts < ?", (group, cutoff))
            self._db.execute("COMMIT")

    def streams(self, group: str) -> dict[str, int]:
        with self._guard:
            rows = self._db.execute("SELECT name, created FROM streams WHERE grp = ?", (group,))
            return dict(rows.fetchall())

    def add_stream(self, group: str, name: str) -> bool:
        """False when the stream exists."""
        with self._guard:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO streams VALUES (?, ?, ?)", (group, name, now_ms())
            )
            return cur.rowcount == 1

    def remove_stream(self, group: str, name: str) -> None:
        with self._guard:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM streams WHERE grp = ? AND name = ?", (group, name))
            self._db.execute("DELETE FROM events WHERE grp = ? AND stream = ?", (group, name))
            self._db.execute("COMMIT")

    def put(self, group: str, stream: str, events: Iterable[tuple[int, str]]) -> None:
        """Store (timestamp ms, message) events in one transaction."""
        ingested = now_ms()
        with self._guard:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO events (grp, stream, ts, ingested, message) VALUES (?, ?, ?, ?, ?)",
                [(group, stream, ts, ingested, message) for ts, message in events],
            )
            self._db.execute("COMMIT")

    def events(self, group: str) -> list[StoredEvent]:
        with self._guard:
            rows = self._db.execute(
                "SELECT id, stream, ts, ingested, message FROM events WHERE grp = ?"
                " ORDER BY ts, id",
                (group,),
            )
            return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
