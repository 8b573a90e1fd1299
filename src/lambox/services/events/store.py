"""EventBridge's state in SQLite: event buses, rules (with their targets and, for scheduled
rules, the next slot), and the outbox of events matched rules send to their targets.

PutEvents writes every delivery its entries cause in one transaction before it answers, so
an accepted event reaches its targets across a ``kill -9`` (the relay delivers the outbox at
least once). A scheduled rule's slot moves by compare-and-set (``move_slot``), the ticker's
guarantee that a slot fires at most once.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambox import lineage
from lambox.store.sqlite import Guarded, connect, ensure_column

SCHEMA = """
CREATE TABLE IF NOT EXISTS buses (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    description TEXT
);
CREATE TABLE IF NOT EXISTS rules (
    arn TEXT PRIMARY KEY,
    bus TEXT NOT NULL,
    name TEXT NOT NULL,
    doc TEXT NOT NULL,
    targets TEXT NOT NULL DEFAULT '[]',
    created REAL NOT NULL,
    slot REAL
);
CREATE INDEX IF NOT EXISTS rules_slot ON rules (slot) WHERE slot IS NOT NULL;
CREATE TABLE IF NOT EXISTS bus_policies (
    bus TEXT PRIMARY KEY,
    policy TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS archives (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS archived_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    archive TEXT NOT NULL,
    time REAL NOT NULL,
    event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS archived_by_time ON archived_events (archive, time);
CREATE TABLE IF NOT EXISTS replays (
    name TEXT PRIMARY KEY,
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    payload BLOB NOT NULL,
    trace TEXT
);
"""
# Added to the outbox after its first release (a data directory may hold the old table):
# the delivery policy of the event (``events/delivery.Policy``, JSON) and, for a retry, when
# it is due (epoch seconds; 0: at once).
OUTBOX_COLUMNS = (("meta", "TEXT"), ("due", "REAL NOT NULL DEFAULT 0"), ("trace", "TEXT"))


@dataclass(frozen=True)
class StoredRule:
    """A rule as stored: its DescribeRule fields (``doc``), targets, and next slot."""

    arn: str
    bus: str
    name: str
    doc: dict[str, Any]
    targets: list[dict[str, Any]]
    created: float
    slot: float | None


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    target: str
    payload: bytes
    meta: str | None = None
    # The trace header of the request that caused it (recursive loop detection).
    trace: str | None = None


class EventsStore:
    """Buses, rules and the outbox (``events-bridge.db`` in the data directory)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.executescript(SCHEMA)
        for name, kind in OUTBOX_COLUMNS:
            ensure_column(self._db, "outbox", name, kind)
        self._guard = Guarded(self._db, "EventBridge state")

    def close(self) -> None:
        self._db.close()

    # -- buses ---------------------------------------------------------------------------

    def buses(self) -> list[tuple[str, float, str | None]]:
        with self._guard:
            rows = self._db.execute("SELECT name, created, description FROM buses ORDER BY name")
            return [(r[0], r[1], r[2]) for r in rows]

    def add_bus(self, name: str, description: str | None) -> bool:
        """False when the bus exists."""
        with self._guard:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO buses VALUES (?, ?, ?)", (name, time.time(), description)
            )
            return cur.rowcount == 1

    def bus_policy(self, name: str) -> str | None:
        with self._guard:
            row = self._db.execute(
                "SELECT policy FROM bus_policies WHERE bus = ?", (name,)
            ).fetchone()
        return None if row is None else str(row[0])

    def set_bus_policy(self, name: str, policy: str | None) -> None:
        with self._guard:
            if policy is None:
                self._db.execute("DELETE FROM bus_policies WHERE bus = ?", (name,))
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO bus_policies VALUES (?, ?)", (name, policy)
                )

    def remove_bus(self, name: str) -> None:
        with self._guard:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM rules WHERE bus = ?", (name,))
            self._db.execute("DELETE FROM buses WHERE name = ?", (name,))
            self._db.execute("DELETE FROM bus_policies WHERE bus = ?", (name,))
            self._db.execute("COMMIT")

    # -- rules ---------------------------------------------------------------------------

    def rules(self) -> list[StoredRule]:
        with self._guard:
            rows = self._db.execute(
                "SELECT arn, bus, name, doc, targets, created, slot FROM rules ORDER BY name"
            ).fetchall()
        return [
            StoredRule(r[0], r[1], r[2], json.loads(r[3]), json.loads(r[4]), r[5], r[6])
            for r in rows
        ]

    def save_rule(self, rule: StoredRule) -> None:
        """Insert or replace a rule (targets and all)."""
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO rules VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    rule.arn,
                    rule.bus,
                    rule.name,
                    json.dumps(rule.doc),
                    json.dumps(rule.targets),
                    rule.created,
                    rule.slot,
                ),
            )

    def remove_rule(self, arn: str) -> None:
        with self._guard:
            self._db.execute("DELETE FROM rules WHERE arn = ?", (arn,))

    # -- slots of scheduled rules --------------------------------------------------------

    def earliest_slot(self) -> float | None:
        with self._guard:
            row = self._db.execute("SELECT MIN(slot) FROM rules WHERE slot IS NOT NULL").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    def due(self, now: float, limit: int) -> list[tuple[str, float]]:
        with self._guard:
            rows = self._db.execute(
                "SELECT arn, slot FROM rules WHERE slot IS NOT NULL AND slot <= ?"
                " ORDER BY slot LIMIT ?",
                (now, limit),
            )
            return [(r[0], float(r[1])) for r in rows]

    def move_slot(self, arn: str, expected: float, slot: float | None) -> bool:
        """Move a rule's slot from ``expected`` to ``slot``; False if it was not there."""
        with self._guard:
            cur = self._db.execute(
                "UPDATE rules SET slot = ? WHERE arn = ? AND slot = ?", (slot, arn, expected)
            )
            return cur.rowcount == 1

    # -- outbox --------------------------------------------------------------------------

    def enqueue(
        self,
        records: Iterable[tuple[str, bytes, str | None]],
        archived: Sequence[tuple[str, float, str]] = (),
    ) -> None:
        """Add deliveries (target, payload, delivery policy) and archived events (archive,
        time, event) in one transaction."""
        with self._guard:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO outbox (target, payload, meta, trace) VALUES (?, ?, ?, ?)",
                [(target, payload, meta, lineage.current()) for target, payload, meta in records],
            )
            if archived:
                self._db.executemany(
                    "INSERT INTO archived_events (archive, time, event) VALUES (?, ?, ?)",
                    archived,
                )
            self._db.execute("COMMIT")

    # -- archives and replays (archives.py) ---------------------------------------------

    def archives(self) -> list[dict[str, Any]]:
        with self._guard:
            rows = self._db.execute("SELECT doc FROM archives ORDER BY name").fetchall()
        return [json.loads(r[0]) for r in rows]

    def archive(self, name: str) -> dict[str, Any] | None:
        with self._guard:
            row = self._db.execute("SELECT doc FROM archives WHERE name = ?", (name,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def add_archive(self, doc: dict[str, Any]) -> bool:
        with self._guard:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO archives VALUES (?, ?)", (doc["name"], json.dumps(doc))
            )
            return cursor.rowcount == 1

    def put_archive(self, doc: dict[str, Any]) -> None:
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO archives VALUES (?, ?)", (doc["name"], json.dumps(doc))
            )

    def remove_archive(self, name: str) -> None:
        with self._guard:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM archived_events WHERE archive = ?", (name,))
            self._db.execute("DELETE FROM archives WHERE name = ?", (name,))
            self._db.execute("COMMIT")

    def archive_size(self, name: str) -> tuple[int, int]:
        """How many events the archive holds, and their bytes."""
        with self._guard:
            row = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(LENGTH(event)), 0) FROM archived_events"
                " WHERE archive = ?",
                (name,),
            ).fetchone()
        return int(row[0]), int(row[1])

    def archived(self, name: str, start: float, end: float) -> list[tuple[float, str]]:
        """The archive's events put in [start, end), oldest first."""
        with self._guard:
            rows = self._db.execute(
                "SELECT time, event FROM archived_events WHERE archive = ? AND time >= ?"
                " AND time < ? ORDER BY id",
                (name, start, end),
            ).fetchall()
        return [(float(r[0]), str(r[1])) for r in rows]

    def replays(self) -> list[dict[str, Any]]:
        with self._guard:
            rows = self._db.execute("SELECT doc FROM replays ORDER BY name").fetchall()
        return [json.loads(r[0]) for r in rows]

    def replay(self, name: str) -> dict[str, Any] | None:
        with self._guard:
            row = self._db.execute("SELECT doc FROM replays WHERE name = ?", (name,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def add_replay(self, doc: dict[str, Any]) -> bool:
        with self._guard:
            cursor = self._db.execute(
                "INSERT OR IGNORE INTO replays VALUES (?, ?)", (doc["name"], json.dumps(doc))
            )
            return cursor.rowcount == 1

    def put_replay(self, doc: dict[str, Any]) -> None:
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO replays VALUES (?, ?)", (doc["name"], json.dumps(doc))
            )

    def retry_later(self, target: str, payload: bytes, meta: str, due: float) -> None:
        """A delivery to try again at ``due`` (epoch seconds), in the chain being delivered."""
        with self._guard:
            self._db.execute(
                "INSERT INTO outbox (target, payload, meta, due, trace) VALUES (?, ?, ?, ?, ?)",
                (target, payload, meta, due, lineage.current()),
            )

    def outgoing(self, limit: int) -> Sequence[OutboxRecord]:
        """Deliveries that are due, oldest first."""
        with self._guard:
            rows = self._db.execute(
                "SELECT id, target, payload, meta, trace FROM outbox WHERE due <= ?"
                " ORDER BY id LIMIT ?",
                (time.time(), limit),
            )
            return [OutboxRecord(r[0], r[1], bytes(r[2]), r[3], r[4]) for r in rows]

    def next_due(self) -> float | None:
        """When the next retry waiting in the outbox is due, if any."""
        with self._guard:
            row = self._db.execute("SELECT MIN(due) FROM outbox WHERE due > 0").fetchone()
        return None if row[0] is None else float(row[0])

    def sent(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._guard:
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
