"""EventBridge Scheduler's state in SQLite: schedule groups and schedules, each schedule with
its next slot. A slot moves only by compare-and-set (``move_slot``): the ticker's guarantee
that a slot fires at most once."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambox.store.sqlite import Guarded, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS groups (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    arn TEXT PRIMARY KEY,
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    created REAL NOT NULL,
    modified REAL NOT NULL,
    slot REAL,
    nominal REAL
);
CREATE INDEX IF NOT EXISTS schedules_slot ON schedules (slot) WHERE slot IS NOT NULL;
"""


@dataclass(frozen=True)
class StoredSchedule:
    """A schedule's request members (dates as epoch seconds), times, and its next slot: when
    it fires (``slot``, inside its flexible window) and the time it is for (``nominal``)."""

    arn: str
    group: str
    name: str
    doc: dict[str, Any]
    created: float
    modified: float
    slot: float | None
    nominal: float | None


class SchedulerStore:
    """Groups and schedules (``scheduler/scheduler.db`` in the data directory)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.executescript(SCHEMA)
        self._guard = Guarded(self._db, "Scheduler state")

    def close(self) -> None:
        self._db.close()

    def groups(self) -> dict[str, float]:
        with self._guard:
            return {r[0]: r[1] for r in self._db.execute("SELECT name, created FROM groups")}

    def add_group(self, name: str, created: float) -> bool:
        with self._guard:
            cur = self._db.execute("INSERT OR IGNORE INTO groups VALUES (?, ?)", (name, created))
            return cur.rowcount == 1

    def remove_group(self, name: str) -> None:
        with self._guard:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM schedules WHERE grp = ?", (name,))
            self._db.execute("DELETE FROM groups WHERE name = ?", (name,))
            self._db.execute("COMMIT")

    def schedules(self) -> list[StoredSchedule]:
        with self._guard:
            rows = self._db.execute(
                "SELECT arn, grp, name, doc, created, modified, slot, nominal FROM schedules"
                " ORDER BY name"
            ).fetchall()
        return [StoredSchedule(r[0], r[1], r[2], json.loads(r[3]), *r[4:]) for r in rows]

    def get(self, arn: str) -> StoredSchedule | None:
        with self._guard:
            r = self._db.execute(
                "SELECT arn, grp, name, doc, created, modified, slot, nominal FROM schedules"
                " WHERE arn = ?",
                (arn,),
            ).fetchone()
        return None if r is None else StoredSchedule(r[0], r[1], r[2], json.loads(r[3]), *r[4:])

    def save(self, s: StoredSchedule) -> None:
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    s.arn,
                    s.group,
                    s.name,
                    json.dumps(s.doc),
                    s.created,
                    s.modified,
                    s.slot,
                    s.nominal,
                ),
            )

    def remove(self, arn: str) -> bool:
        with self._guard:
            return self._db.execute("DELETE FROM schedules WHERE arn = ?", (arn,)).rowcount == 1

    def earliest_slot(self) -> float | None:
        with self._guard:
            row = self._db.execute(
                "SELECT MIN(slot) FROM schedules WHERE slot IS NOT NULL"
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def due(self, now: float, limit: int) -> list[tuple[str, float]]:
        with self._guard:
            rows = self._db.execute(
                "SELECT arn, slot FROM schedules WHERE slot IS NOT NULL AND slot <= ?"
                " ORDER BY slot LIMIT ?",
                (now, limit),
            )
            return [(r[0], float(r[1])) for r in rows]

    def move_slot(
        self, arn: str, expected: float, slot: float | None, nominal: float | None
    ) -> bool:
        """Move a schedule's slot from ``expected`` on; False if it was not there."""
        with self._guard:
            cur = self._db.execute(
                "UPDATE schedules SET slot = ?, nominal = ? WHERE arn = ? AND slot = ?",
                (slot, nominal, arn, expected),
            )
            return cur.rowcount == 1
