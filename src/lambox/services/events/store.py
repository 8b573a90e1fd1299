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
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    payload BLOB NOT NULL,
    trace TEXT
);
"""


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
    # The trace header of the request that caused it (recursive loop detection).
    trace: str | None = None


class EventsStore:
    """Buses, rules and the outbox (``events-bridge.db`` in the data directory)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.executescript(SCHEMA)
        ensure_column(self._db, "outbox", "trace", "TEXT")
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

    def remove_bus(self, name: str) -> None:
        with self._guard:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM rules WHERE bus = ?", (name,))
            self._db.execute("DELETE FROM buses WHERE name = ?", (name,))
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

    def enqueue(self, records: Iterable[tuple[str, bytes]]) -> None:
        """Add deliveries in one transaction."""
        with self._guard:
            self._db.execute("BEGIN")
            self._db.executemany(
                "INSERT INTO outbox (target, payload, trace) VALUES (?, ?, ?)",
                [(target, payload, lineage.current()) for target, payload in records],
            )
            self._db.execute("COMMIT")

    def outgoing(self, limit: int) -> Sequence[OutboxRecord]:
        with self._guard:
            rows = self._db.execute(
                "SELECT id, target, payload, trace FROM outbox ORDER BY id LIMIT ?", (limit,)
            )
            return [OutboxRecord(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def sent(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._guard:
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
