"""Queues and their messages in SQLite: one transaction per send, receive or delete.

A message is a row; it is visible when ``visible_ms`` (wall-clock milliseconds, so that the
schedule survives a restart) has passed. A receive makes it invisible for the visibility
timeout, counts the receive and gives it a fresh receipt token, in one transaction; a
delete needs the token of its latest receive. What was received and not deleted comes back
by itself when ``visible_ms`` passes, across a ``kill -9`` too. Durability is the event
queue's: WAL with ``synchronous=NORMAL`` survives a crash of the server process.

A message that comes due for receive number ``maxReceiveCount + 1`` moves to the queue's
dead-letter queue in the same transaction (SQS's redrive). On FIFO queues a message group
with a message in flight gives nothing until that message is deleted or visible again, and
a deduplication id seen in the last five minutes is accepted but not enqueued again.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import sqlite3
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambox.store.sqlite import Guarded, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    fifo INTEGER NOT NULL,
    attributes TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    created INTEGER NOT NULL,
    modified INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    system TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    receives INTEGER NOT NULL DEFAULT 0,
    first_receive_ms INTEGER,
    token TEXT,
    group_id TEXT,
    dedup_id TEXT,
    sender TEXT NOT NULL,
    origin TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, seq);
CREATE INDEX IF NOT EXISTS messages_due ON messages (queue, visible_ms);
CREATE TABLE IF NOT EXISTS dedup (
    queue TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (queue, dedup_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS move_tasks (
    handle TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    destination TEXT,
    rate INTEGER,
    started INTEGER NOT NULL,
    to_move INTEGER NOT NULL,
    moved INTEGER NOT NULL DEFAULT 0,
    status TEXT NOT NULL
);
"""

DEDUP_MS = 5 * 60 * 1000
# A move task's row: handle, source ARN, destination ARN, rate, started (ms), messages to
# move, messages moved, status.
MoveRow = tuple[str, str, str | None, int | None, int, int, int, str]
# Message ids, receipt tokens and request ids need to be unique, not secret: they come from
# ``random`` (seeded from the kernel, reseeded in forked children) because a getrandom
# system call per id costs more than the rest of a send on a loaded virtual machine.
# Messages past their retention period are dropped by the first receive after this long
# (one scan of the queue per interval, not per receive).
SWEEP_MS = 10_000


@dataclass(frozen=True)
class Queue:
    """A queue's settable attributes (as SQS's strings), tags and timestamps (seconds)."""

    name: str
    fifo: bool
    attributes: dict[str, str]
    tags: dict[str, str]
    created: int
    modified: int


@dataclass(frozen=True)
class NewMessage:
    """A message accepted for sending. ``attributes`` hold binary values as bytes."""

    body: str
    attributes: dict[str, dict[str, Any]]
    system: dict[str, dict[str, Any]]
    delay_ms: int
    sender: str
    group_id: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True)
class Sent:
    id: str
    seq: int


@dataclass
class Received:
    """One message as a receive hands it out."""

    seq: int
    id: str
    body: str
    attributes: dict[str, dict[str, Any]]
    system: dict[str, dict[str, Any]]
    sent_ms: int
    receives: int
    first_receive_ms: int
    receipt: str
    sender: str
    group_id: str | None = None
    dedup_id: str | None = None
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Redrive:
    """Where a queue's messages go after ``max_receives`` receives."""

    target: str
    max_receives: int


def _encode_attrs(attributes: dict[str, dict[str, Any]]) -> str:
    out = {}
    for name, value in attributes.items():
        item = {k: v for k, v in value.items() if k in ("DataType", "StringValue")}
        if value.get("BinaryValue") is not None:
            item["BinaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        out[name] = item
    return json.dumps(out)


def _decode_attrs(text: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = json.loads(text)
    for value in out.values():
        if "BinaryValue" in value:
            value["BinaryValue"] = base64.b64decode(value["BinaryValue"])
    return out


def receipt_of(queue: str, seq: int, token: str) -> str:
    raw = f"{queue}\x00{seq}\x00{token}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def parse_receipt(handle: str) -> tuple[str, int, str] | None:
    """(queue, message seq, receive token) of a receipt handle, None if it is not one."""
    try:
        raw = base64.urlsafe_b64decode(handle + "=" * (-len(handle) % 4)).decode()
        queue, seq, token = raw.split("\x00")
        return queue, int(seq), token
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None


class QueueStore:
    """Every queue and message of one server, in ``<data>/sqs/queues.db``."""

    def __init__(self, root: Path) -> None:
        self._db = connect(root / "queues.db")
        self._db.executescript(SCHEMA)
        self._guard = Guarded(self._db, "queue")
        self._swept: dict[str, int] = {}
        # Queues are read on every request and written rarely: kept in memory, written
        # through (this store is the only writer of its file).
        self._queues: dict[str, Queue] = {}

    def close(self) -> None:
        self._db.close()

    # --- queues ------------------------------------------------------------------------

    def create_queue(self, queue: Queue) -> bool:
        """Store a new queue; False when the name is taken."""
        with self._guard:
            try:
                self._db.execute(
                    "INSERT INTO queues VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        queue.name,
                        int(queue.fifo),
                        json.dumps(queue.attributes),
                        json.dumps(queue.tags),
                        queue.created,
                        queue.modified,
                    ),
                )
            except sqlite3.IntegrityError:
                return False
            self._queues[queue.name] = queue
        return True

    def queue(self, name: str) -> Queue | None:
        if name in self._queues:
            return self._queues[name]
        with self._guard:
            row = self._db.execute(
                "SELECT name, fifo, attributes, tags, created, modified FROM queues WHERE name = ?",
                (name,),
            ).fetchone()
        found = None
        if row is not None:
            found = Queue(
                row[0], bool(row[1]), json.loads(row[2]), json.loads(row[3]), row[4], row[5]
            )
        if found is not None:
            self._queues[name] = found
        return found

    def names(self) -> list[str]:
        with self._guard:
            rows = self._db.execute("SELECT name FROM queues ORDER BY name").fetchall()
        return [r[0] for r in rows]

    def update_queue(
        self, name: str, attributes: dict[str, str], tags: dict[str, str], modified: int
    ) -> None:
        with self._guard:
            self._db.execute(
                "UPDATE queues SET attributes = ?, tags = ?, modified = ? WHERE name = ?",
                (json.dumps(attributes), json.dumps(tags), modified, name),
            )
            self._queues.pop(name, None)

    def delete_queue(self, name: str) -> None:
        with self._guard:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM messages WHERE queue = ?", (name,))
            self._db.execute("DELETE FROM dedup WHERE queue = ?", (name,))
            self._db.execute("DELETE FROM queues WHERE name = ?", (name,))
            self._db.execute("COMMIT")
            self._queues.pop(name, None)

    def counts(self, name: str, now_ms: int) -> tuple[int, int, int]:
        """(visible, in flight, delayed) messages of a queue."""
        with self._guard:
            row = self._db.execute(
                "SELECT COALESCE(SUM(visible_ms <= ?), 0),"
                " COALESCE(SUM(visible_ms > ? AND receives > 0), 0),"
                " COALESCE(SUM(visible_ms > ? AND receives = 0), 0)"
                " FROM messages WHERE queue = ?",
                (now_ms, now_ms, now_ms, name),
            ).fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    # --- messages ----------------------------------------------------------------------

    def send(self, queue: str, messages: Sequence[NewMessage], now_ms: int) -> list[Sent]:
        """Enqueue ``messages`` in one transaction (a duplicate on a FIFO queue answers
        with the first message's id and enqueues nothing)."""
        return self.send_many([(queue, messages)], now_ms)[0]

    def send_many(
        self, sends: Sequence[tuple[str, Sequence[NewMessage]]], now_ms: int
    ) -> list[list[Sent]]:
        """Several sends (to any queues) in one transaction: the group commit."""
        with self._guard:
            self._db.execute("BEGIN IMMEDIATE")
            answers = [self._insert(queue, messages, now_ms) for queue, messages in sends]
            self._db.execute("COMMIT")
        return answers

    def _insert(self, queue: str, messages: Sequence[NewMessage], now_ms: int) -> list[Sent]:
        sent = []
        for m in messages:
            if m.dedup_id is not None:
                row = self._db.execute(
                    "SELECT id, seq, expires_ms FROM dedup WHERE queue = ? AND dedup_id = ?",
                    (queue, m.dedup_id),
                ).fetchone()
                if row is not None and row[2] > now_ms:
                    sent.append(Sent(row[0], row[1]))
                    continue
            message_id = str(uuid.UUID(int=random.getrandbits(128), version=4))
            cursor = self._db.execute(
                "INSERT INTO messages (queue, id, body, attributes, system, sent_ms,"
                " visible_ms, group_id, dedup_id, sender) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    queue,
                    message_id,
                    m.body,
                    _encode_attrs(m.attributes),
                    _encode_attrs(m.system),
                    now_ms,
                    now_ms + m.delay_ms,
                    m.group_id,
                    m.dedup_id,
                    m.sender,
                ),
            )
            seq = int(cursor.lastrowid or 0)
            if m.dedup_id is not None:
                self._db.execute(
                    "INSERT OR REPLACE INTO dedup VALUES (?, ?, ?, ?, ?)",
                    (queue, m.dedup_id, now_ms + DEDUP_MS, message_id, seq),
                )
            sent.append(Sent(message_id, seq))
        return sent

    def receive(
        self,
        queue: str,
        limit: int,
        visibility_ms: int,
        now_ms: int,
        *,
        fifo: bool,
        retention_ms: int,
        redrive: Redrive | None,
    ) -> list[Received]:
        """Up to ``limit`` visible messages, oldest first, made invisible for
        ``visibility_ms``; expired ones are dropped and over-received ones redriven."""
        got: list[Received] = []
        with self._guard:
            self._db.execute("BEGIN IMMEDIATE")
            if now_ms - self._swept.get(queue, 0) > SWEEP_MS:
                self._swept[queue] = now_ms
                self._db.execute(
                    "DELETE FROM messages WHERE queue = ? AND sent_ms < ?",
                    (queue, now_ms - retention_ms),
                )
            busy: set[str] = set()
            if fifo:
                busy = {
                    r[0]
                    for r in self._db.execute(
                        "SELECT DISTINCT group_id FROM messages WHERE queue = ?"
                        " AND visible_ms > ? AND receives > 0",
                        (queue, now_ms),
                    )
                }
            last = -1
            while len(got) < limit:
                rows = self._db.execute(
                    "SELECT seq, id, body, attributes, system, sent_ms, receives,"
                    " first_receive_ms, group_id, dedup_id, sender FROM messages"
                    " INDEXED BY messages_by_queue WHERE queue = ? AND seq > ?"
                    " AND visible_ms <= ? ORDER BY seq LIMIT ?",
                    (queue, last, now_ms, max(limit * 2, 20)),
                ).fetchall()
                if not rows:
                    break
                for row in rows:
                    last = row[0]
                    group = row[8]
                    if fifo and group in busy:
                        continue
                    if redrive is not None and row[6] >= redrive.max_receives:
                        self._move(row[0], redrive.target, now_ms, queue)
                        if fifo:
                            busy.add(group)
                        continue
                    token = f"{random.getrandbits(64):016x}"
                    first = row[7] if row[7] is not None else now_ms
                    self._db.execute(
                        "UPDATE messages SET visible_ms = ?, receives = receives + 1,"
                        " first_receive_ms = ?, token = ? WHERE seq = ?",
                        (now_ms + visibility_ms, first, token, row[0]),
                    )
                    got.append(
                        Received(
                            row[0],
                            row[1],
                            row[2],
                            _decode_attrs(row[3]),
                            _decode_attrs(row[4]),
                            row[5],
                            row[6] + 1,
                            first,
                            receipt_of(queue, row[0], token),
                            row[10],
                            group,
                            row[9],
                        )
                    )
                    if len(got) >= limit:
                        break
            self._db.execute("COMMIT")
        return got

    def _move(self, seq: int, target: str | None, now_ms: int, origin: str | None) -> None:
        """Move one message to another queue (``None``: back to the queue it was redriven
        from), visible there at once; ``origin`` is remembered for a later move back."""
        cursor = self._db.execute(
            "INSERT INTO messages (queue, id, body, attributes, system, sent_ms, visible_ms,"
            " group_id, dedup_id, sender, origin) SELECT COALESCE(?, origin), id, body,"
            " attributes, system, sent_ms, ?, group_id, dedup_id, sender, ? FROM messages"
            " WHERE seq = ? AND COALESCE(?, origin) IS NOT NULL",
            (target, now_ms, origin, seq, target),
        )
        if cursor.rowcount:
            self._db.execute("DELETE FROM messages WHERE seq = ?", (seq,))

    def delete(self, queue: str, seq: int, token: str) -> bool:
        """Delete a received message; False when the handle is not its latest receipt
        (the message is then left alone, as SQS does for a stale handle)."""
        with self._guard:
            cursor = self._db.execute(
                "DELETE FROM messages WHERE seq = ? AND queue = ? AND token = ?",
                (seq, queue, token),
            )
        return cursor.rowcount > 0

    def delete_many(self, queue: str, handles: Sequence[tuple[int, str]]) -> None:
        """Delete received messages by (seq, token) in one transaction (DeleteMessageBatch,
        and what an event-source poller handled)."""
        with self._guard:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "DELETE FROM messages WHERE seq = ? AND queue = ? AND token = ?",
                [(seq, queue, token) for seq, token in handles],
            )
            self._db.execute("COMMIT")

    def change_visibility(
        self, queue: str, seq: int, token: str, visibility_ms: int, now_ms: int
    ) -> bool:
        """Make a received message visible ``visibility_ms`` from now; False if the handle
        names no message in flight."""
        with self._guard:
            cursor = self._db.execute(
                "UPDATE messages SET visible_ms = ? WHERE seq = ? AND queue = ? AND token = ?",
                (now_ms + visibility_ms, seq, queue, token),
            )
        return cursor.rowcount > 0

    def purge(self, queue: str) -> None:
        with self._guard:
            self._db.execute("DELETE FROM messages WHERE queue = ?", (queue,))

    def next_due(self, queue: str, now_ms: int) -> int | None:
        """When the next invisible message of ``queue`` becomes visible (ms), if any."""
        with self._guard:
            row = self._db.execute(
                "SELECT MIN(visible_ms) FROM messages WHERE queue = ? AND visible_ms > ?",
                (queue, now_ms),
            ).fetchone()
        return None if row[0] is None else int(row[0])

    # --- message move tasks (moves.py) ------------------------------------------------

    def put_move_task(self, row: MoveRow) -> None:
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO move_tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row
            )

    def move_tasks(self) -> list[MoveRow]:
        """Every task, oldest first."""
        with self._guard:
            rows = self._db.execute("SELECT * FROM move_tasks ORDER BY started, rowid").fetchall()
        return [tuple(r) for r in rows]

    def set_move_status(self, handle: str, status: str) -> None:
        with self._guard:
            self._db.execute("UPDATE move_tasks SET status = ? WHERE handle = ?", (status, handle))

    def move_step(
        self, handle: str, source: str, target: str | None, now_ms: int, limit: int
    ) -> int:
        """One step of task ``handle``: move up to ``limit`` visible messages and count them
        in the task, in one transaction (so a crash neither loses nor double-counts)."""
        with self._guard:
            self._db.execute("BEGIN IMMEDIATE")
            rows = self._db.execute(
                "SELECT seq FROM messages WHERE queue = ? AND visible_ms <= ? ORDER BY seq LIMIT ?",
                (source, now_ms, limit),
            ).fetchall()
            for (seq,) in rows:
                self._move(seq, target, now_ms, None)
            self._db.execute(
                "UPDATE move_tasks SET moved = moved + ? WHERE handle = ?", (len(rows), handle)
            )
            self._db.execute("COMMIT")
        return len(rows)

    def sources(self) -> set[str]:
        """Queues that messages in dead-letter queues came from."""
        with self._guard:
            rows = self._db.execute(
                "SELECT DISTINCT origin FROM messages WHERE origin IS NOT NULL"
            ).fetchall()
        return {r[0] for r in rows}
