"""Buckets and objects on disk: metadata in SQLite, bodies in files, events in an outbox.

An object's body is streamed into a temporary file and renamed to a name of its own; only
then does one transaction point the key at it (replacing any earlier version) and add the
notification records the write causes to the outbox. So a reader sees the old object or the
new one, never a part; concurrent writers of one key end with one whole object (the last
commit); and an object answered 200 comes with its events, surviving a ``kill -9`` of the
server together. Durability is the event queue's: the body is in the operating system's
hands before the commit (WAL, ``synchronous=NORMAL``), which survives a crash of the server
process, not a power loss. Bodies no row points at (a crash between rename and commit, or a
replaced object) are removed, at once or at start-up.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambox import lineage
from lambox.store.sqlite import connect, ensure_column

SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    created REAL NOT NULL,
    notification TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    blob TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    modified REAL NOT NULL,
    headers TEXT NOT NULL,
    metadata TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '{}',
    sequence INTEGER NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    target TEXT NOT NULL,
    payload BLOB NOT NULL,
    trace TEXT
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

CHUNK = 1 << 20


@dataclass(frozen=True)
class Bucket:
    name: str
    region: str
    created: float
    notification: dict[str, Any]


@dataclass(frozen=True)
class StoredObject:
    """An object's metadata and where its body is."""

    bucket: str
    key: str
    path: Path
    size: int
    etag: str
    modified: float
    headers: dict[str, str]
    metadata: dict[str, str]
    tags: dict[str, str] = field(default_factory=dict)
    sequence: int = 0


@dataclass(frozen=True)
class Body:
    """A body written to disk and not yet committed under a key."""

    path: Path
    size: int
    md5: str


@dataclass(frozen=True)
class Outgoing:
    """One notification record waiting in the outbox for the relay."""

    id: int
    target: str
    payload: bytes
    # The trace header of the request that caused it (recursive loop detection).
    trace: str | None = None


class ObjectStore:
    """The S3 state of one data directory. Used from the event loop; calls are short."""

    def __init__(self, root: Path) -> None:
        self._blobs = root / "blobs"
        self._tmp = root / "incoming"
        self._blobs.mkdir(parents=True, exist_ok=True)
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._db = connect(root / "s3.db")
        self._db.executescript(SCHEMA)
        ensure_column(self._db, "outbox", "trace", "TEXT")
        self._db.row_factory = sqlite3.Row
        self._sweep()

    def _sweep(self) -> None:
        """Remove bodies nothing points at and uploads a crash interrupted."""
        for leftover in self._tmp.iterdir():
            leftover.unlink(missing_ok=True)
        used = {row[0] for row in self._db.execute("SELECT blob FROM objects")}
        for blob in self._blobs.iterdir():
            if blob.name not in used:
                blob.unlink(missing_ok=True)

    def close(self) -> None:
        self._db.close()

    # -- buckets ------------------------------------------------------------------------

    def create_bucket(self, name: str, region: str) -> bool:
        """Create a bucket; False when it already exists."""
        cur = self._db.execute(
            "INSERT OR IGNORE INTO buckets (name, region, created) VALUES (?, ?, ?)",
            (name, region, time.time()),
        )
        return cur.rowcount == 1

    def bucket(self, name: str) -> Bucket | None:
        row = self._db.execute("SELECT * FROM buckets WHERE name = ?", (name,)).fetchone()
        if row is None:
            return None
        return Bucket(row["name"], row["region"], row["created"], json.loads(row["notification"]))

    def buckets(self) -> list[Bucket]:
        rows = self._db.execute("SELECT * FROM buckets ORDER BY name").fetchall()
        return [
            Bucket(r["name"], r["region"], r["created"], json.loads(r["notification"]))
            for r in rows
        ]

    def delete_bucket(self, name: str) -> bool:
        """Delete an empty bucket; False when it holds objects."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._db.execute(
                "SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)
            ).fetchone():
                self._db.execute("ROLLBACK")
                return False
            self._db.execute("DELETE FROM buckets WHERE name = ?", (name,))
            self._db.execute("COMMIT")
            return True
        except BaseException:
            self._db.execute("ROLLBACK")
            raise

    def set_notification(self, name: str, config: dict[str, Any]) -> None:
        self._db.execute(
            "UPDATE buckets SET notification = ? WHERE name = ?", (json.dumps(config), name)
        )

    # -- objects ------------------------------------------------------------------------

    async def receive(self, chunks: AsyncIterator[bytes], limit: int) -> Body:
        """Stream a body to a temporary file; its MD5 is computed on the way."""
        path = self._tmp / secrets.token_hex(16)
        md5 = hashlib.md5(usedforsecurity=False)
        size = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            async for chunk in chunks:
                size += len(chunk)
                if size > limit:
                    raise OverflowError(size)
                md5.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view) :]
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        return Body(path, size, md5.hexdigest())

    def incoming(self) -> Path:
        """A fresh path for a body being made (renamed into place by ``commit``)."""
        return self._tmp / secrets.token_hex(16)

    def discard(self, body: Body) -> None:
        body.path.unlink(missing_ok=True)

    def commit(
        self,
        bucket: str,
        key: str,
        body: Body,
        etag: str,
        headers: dict[str, str],
        metadata: dict[str, str],
        tags: dict[str, str],
        events: Sequence[tuple[str, bytes]] = (),
    ) -> StoredObject:
        """Point ``bucket``/``key`` at ``body`` and queue ``events`` in one transaction."""
        blob = secrets.token_hex(16)
        final = self._blobs / blob
        os.rename(body.path, final)
        now = time.time()
        old: str | None = None
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "SELECT blob FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
            ).fetchone()
            old = row[0] if row else None
            sequence = self._next_sequence()
            self._db.execute(
                "INSERT OR REPLACE INTO objects (bucket, key, blob, size, etag, modified,"
                " headers, metadata, tags, sequence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    bucket,
                    key,
                    blob,
                    body.size,
                    etag,
                    now,
                    json.dumps(headers),
                    json.dumps(metadata),
                    json.dumps(tags),
                    sequence,
                ),
            )
            self._queue(events)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            final.unlink(missing_ok=True)
            raise
        if old is not None:
            (self._blobs / old).unlink(missing_ok=True)
        return StoredObject(
            bucket, key, final, body.size, etag, now, headers, metadata, tags, sequence
        )

    def _next_sequence(self) -> int:
        row = self._db.execute(
            "INSERT INTO counters (name, value) VALUES ('sequence', 1)"
            " ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value"
        ).fetchone()
        return int(row[0])

    def _queue(self, events: Sequence[tuple[str, bytes]]) -> None:
        self._db.executemany(
            "INSERT INTO outbox (target, payload, trace) VALUES (?, ?, ?)",
            [(target, payload, lineage.current()) for target, payload in events],
        )

    def get(self, bucket: str, key: str) -> StoredObject | None:
        row = self._db.execute(
            "SELECT * FROM objects WHERE bucket = ? AND key = ?", (bucket, key)
        ).fetchone()
        return None if row is None else self._object(row)

    def _object(self, row: sqlite3.Row) -> StoredObject:
        return StoredObject(
            row["bucket"],
            row["key"],
            self._blobs / row["blob"],
            row["size"],
            row["etag"],
            row["modified"],
            json.loads(row["headers"]),
            json.loads(row["metadata"]),
            json.loads(row["tags"]),
            row["sequence"],
        )

    def delete(
        self, bucket: str, key: str, events: Sequence[tuple[str, bytes]] = ()
    ) -> StoredObject | None:
        """Remove an object (and queue ``events`` with it); None when there was none."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            row = self._db.execute(
                "DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING *", (bucket, key)
            ).fetchone()
            if row is not None:
                self._queue(events)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        if row is None:
            return None
        gone = self._object(row)
        gone.path.unlink(missing_ok=True)
        return gone

    def sequence(self) -> int:
        """A fresh sequencer value (for events of deletes)."""
        return self._next_sequence()

    def set_tags(self, bucket: str, key: str, tags: dict[str, str]) -> bool:
        cur = self._db.execute(
            "UPDATE objects SET tags = ? WHERE bucket = ? AND key = ?",
            (json.dumps(tags), bucket, key),
        )
        return cur.rowcount == 1

    def keys(self, bucket: str, prefix: str, after: str, limit: int) -> list[StoredObject]:
        """Objects with keys starting with ``prefix`` and sorting after ``after``, in order."""
        rows = self._db.execute(
            "SELECT * FROM objects WHERE bucket = ? AND key > ? AND key >= ?"
            " AND substr(key, 1, ?) = ? ORDER BY key LIMIT ?",
            (bucket, after, prefix, len(prefix), prefix, limit),
        ).fetchall()
        return [self._object(r) for r in rows]

    # -- outbox -------------------------------------------------------------------------

    def outgoing(self, limit: int) -> list[Outgoing]:
        rows = self._db.execute(
            "SELECT id, target, payload, trace FROM outbox ORDER BY id LIMIT ?", (limit,)
        ).fetchall()
        return [Outgoing(r[0], r[1], bytes(r[2]), r[3]) for r in rows]

    def sent(self, ids: Sequence[int]) -> None:
        self._db.executemany("DELETE FROM outbox WHERE id = ?", [(i,) for i in ids])
