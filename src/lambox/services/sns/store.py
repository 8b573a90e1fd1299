"""Topics, subscriptions, and the outbox of deliveries to functions, in SQLite.

A Publish writes the Lambda events it causes into the outbox in one transaction before it
is answered; ``events/relay.py`` hands them to the durable Event path (SNS's retries are the
async invoke's), so an acknowledged message reaches its functions across a ``kill -9``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lambox import lineage
from lambox.store.sqlite import Guarded, connect, ensure_column

SCHEMA = """
CREATE TABLE IF NOT EXISTS topics (
    arn TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS subscriptions (
    arn TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    protocol TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    attributes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS subscriptions_by_topic ON subscriptions (topic);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    payload BLOB NOT NULL,
    trace TEXT
);
CREATE TABLE IF NOT EXISTS fifo_published (
    topic TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    PRIMARY KEY (topic, dedup_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS fifo_sequences (
    topic TEXT PRIMARY KEY,
    last INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS http_deliveries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    url TEXT NOT NULL,
    body TEXT NOT NULL,
    headers TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    due_ms INTEGER NOT NULL
);
"""


@dataclass(frozen=True)
class Topic:
    arn: str
    attributes: dict[str, str]
    tags: dict[str, str]

    @property
    def name(self) -> str:
        return self.arn.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class Subscription:
    arn: str
    topic: str
    protocol: str
    endpoint: str
    attributes: dict[str, str]


@dataclass(frozen=True)
class HttpDelivery:
    """A POST to an ``http``/``https`` subscriber not yet delivered nor given up."""

    id: int
    url: str
    body: str
    headers: dict[str, str]
    attempt: int
    due_ms: int


@dataclass(frozen=True)
class OutboxRecord:
    id: int
    target: str
    payload: bytes
    # The trace header of the request that caused it (recursive loop detection).
    trace: str | None = None


def _subscription(row: tuple[str, str, str, str, str]) -> Subscription:
    return Subscription(row[0], row[1], row[2], row[3], json.loads(row[4]))


class TopicStore:
    """Every topic and subscription of one server, in ``<data>/sns/topics.db``."""

    def __init__(self, root: Path) -> None:
        self._db = connect(root / "topics.db")
        self._db.executescript(SCHEMA)
        ensure_column(self._db, "outbox", "trace", "TEXT")
        self._guard = Guarded(self._db, "topic")

    def close(self) -> None:
        self._db.close()

    def put_topic(self, topic: Topic) -> None:
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO topics VALUES (?, ?, ?)",
                (topic.arn, json.dumps(topic.attributes), json.dumps(topic.tags)),
            )

    def topic(self, arn: str) -> Topic | None:
        with self._guard:
            row = self._db.execute(
                "SELECT arn, attributes, tags FROM topics WHERE arn = ?", (arn,)
            ).fetchone()
        return None if row is None else Topic(row[0], json.loads(row[1]), json.loads(row[2]))

    def topics(self) -> list[str]:
        with self._guard:
            return [r[0] for r in self._db.execute("SELECT arn FROM topics ORDER BY arn")]

    def delete_topic(self, arn: str) -> None:
        with self._guard:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM subscriptions WHERE topic = ?", (arn,))
            self._db.execute("DELETE FROM fifo_published WHERE topic = ?", (arn,))
            self._db.execute("DELETE FROM fifo_sequences WHERE topic = ?", (arn,))
            self._db.execute("DELETE FROM topics WHERE arn = ?", (arn,))
            self._db.execute("COMMIT")

    def put_subscription(self, sub: Subscription) -> None:
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO subscriptions VALUES (?, ?, ?, ?, ?)",
                (sub.arn, sub.topic, sub.protocol, sub.endpoint, json.dumps(sub.attributes)),
            )

    def subscription(self, arn: str) -> Subscription | None:
        with self._guard:
            row = self._db.execute(
                "SELECT arn, topic, protocol, endpoint, attributes FROM subscriptions"
                " WHERE arn = ?",
                (arn,),
            ).fetchone()
        return None if row is None else _subscription(row)

    def subscriptions(self, topic: str | None = None) -> list[Subscription]:
        query = "SELECT arn, topic, protocol, endpoint, attributes FROM subscriptions"
        args: tuple[str, ...] = ()
        if topic is not None:
            query += " WHERE topic = ?"
            args = (topic,)
        with self._guard:
            rows = self._db.execute(query + " ORDER BY rowid", args).fetchall()
        return [_subscription(r) for r in rows]

    def delete_subscription(self, arn: str) -> None:
        with self._guard:
            self._db.execute("DELETE FROM subscriptions WHERE arn = ?", (arn,))

    # --- the outbox (events/relay.py's Outbox protocol) ----------------------------------

    def enqueue(self, records: Sequence[tuple[str, bytes]]) -> None:
        if not records:
            return
        with self._guard:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT INTO outbox (target, payload, trace) VALUES (?, ?, ?)",
                [(target, payload, lineage.current()) for target, payload in records],
            )
            self._db.execute("COMMIT")

    def outgoing(self, limit: int) -> list[OutboxRecord]:
        with self._guard:
            rows = self._db.execute(
                "SELECT id, target, payload, trace FROM outbox ORDER BY id LIMIT ?", (limit,)
            ).fetchall()
        return [OutboxRecord(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def sent(self, ids: Sequence[int]) -> None:
        if not ids:
            return
        with self._guard:
            self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])

    # --- HTTP(S) deliveries being tried (http.py) ---------------------------------------

    def add_delivery(self, url: str, body: str, headers: dict[str, str], due_ms: int) -> int:
        with self._guard:
            cursor = self._db.execute(
                "INSERT INTO http_deliveries (url, body, headers, due_ms) VALUES (?, ?, ?, ?)",
                (url, body, json.dumps(headers), due_ms),
            )
            return int(cursor.lastrowid or 0)

    def deliveries(self) -> list[HttpDelivery]:
        with self._guard:
            rows = self._db.execute(
                "SELECT id, url, body, headers, attempt, due_ms FROM http_deliveries ORDER BY id"
            ).fetchall()
        return [HttpDelivery(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5]) for r in rows]

    def retry_delivery(self, id: int, attempt: int, due_ms: int) -> None:
        with self._guard:
            self._db.execute(
                "UPDATE http_deliveries SET attempt = ?, due_ms = ? WHERE id = ?",
                (attempt, due_ms, id),
            )

    def delivery_done(self, id: int) -> None:
        with self._guard:
            self._db.execute("DELETE FROM http_deliveries WHERE id = ?", (id,))

    # --- FIFO topics: sequence numbers and the deduplication window ---------------------

    def fifo_publish(
        self, topic: str, dedup_id: str, message_id: str, now_ms: int, window_ms: int
    ) -> tuple[str, int, bool]:
        """Record a FIFO publish: (message id, sequence number, new). A deduplication id
        seen on ``topic`` in the last ``window_ms`` gives the first publish's id and number
        back, with ``new`` false (SNS accepts the duplicate and delivers nothing)."""
        with self._guard:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM fifo_published WHERE expires_ms <= ?", (now_ms,))
            row = self._db.execute(
                "SELECT message_id, sequence FROM fifo_published WHERE topic = ? AND dedup_id = ?",
                (topic, dedup_id),
            ).fetchone()
            if row is not None:
                self._db.execute("COMMIT")
                return str(row[0]), int(row[1]), False
            self._db.execute(
                "INSERT INTO fifo_sequences VALUES (?, 1) ON CONFLICT (topic)"
                " DO UPDATE SET last = last + 1",
                (topic,),
            )
            (sequence,) = self._db.execute(
                "SELECT last FROM fifo_sequences WHERE topic = ?", (topic,)
            ).fetchone()
            self._db.execute(
                "INSERT INTO fifo_published VALUES (?, ?, ?, ?, ?)",
                (topic, dedup_id, now_ms + window_ms, message_id, sequence),
            )
            self._db.execute("COMMIT")
        return message_id, int(sequence), True
