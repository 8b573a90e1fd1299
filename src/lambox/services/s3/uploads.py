"""Multipart uploads: parts stored as files, assembled into one body on completion.

An upload's parts live in ``parts/<upload id>/<number>`` (each written like an object body:
streamed, then renamed); the upload and its parts are rows beside the objects. Completing
streams the named parts, in order, into one new body, which ``ObjectStore.commit`` then
publishes like any PutObject; the upload is removed after.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lambox.services.s3.store import Body
from lambox.store.sqlite import connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    created REAL NOT NULL,
    headers TEXT NOT NULL,
    metadata TEXT NOT NULL,
    tags TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    upload TEXT NOT NULL,
    number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    md5 TEXT NOT NULL,
    modified REAL NOT NULL,
    PRIMARY KEY (upload, number)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Upload:
    id: str
    bucket: str
    key: str
    created: float
    headers: dict[str, str]
    metadata: dict[str, str]
    tags: dict[str, str]


@dataclass(frozen=True)
class Part:
    number: int
    size: int
    etag: str
    md5: str
    modified: float


class UploadStore:
    """Uploads in progress, in the S3 data directory's database."""

    def __init__(self, root: Path) -> None:
        self._parts = root / "parts"
        self._parts.mkdir(parents=True, exist_ok=True)
        self._db = connect(root / "s3.db")
        self._db.executescript(SCHEMA)
        self._db.row_factory = sqlite3.Row

    def close(self) -> None:
        self._db.close()

    def create(
        self,
        bucket: str,
        key: str,
        headers: dict[str, str],
        metadata: dict[str, str],
        tags: dict[str, str],
    ) -> str:
        upload = secrets.token_urlsafe(32)
        (self._parts / upload).mkdir()
        self._db.execute(
            "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                upload,
                bucket,
                key,
                time.time(),
                json.dumps(headers),
                json.dumps(metadata),
                json.dumps(tags),
            ),
        )
        return upload

    def get(self, upload: str) -> Upload | None:
        row = self._db.execute("SELECT * FROM uploads WHERE id = ?", (upload,)).fetchone()
        if row is None:
            return None
        return Upload(
            row["id"],
            row["bucket"],
            row["key"],
            row["created"],
            json.loads(row["headers"]),
            json.loads(row["metadata"]),
            json.loads(row["tags"]),
        )

    def uploads(self, bucket: str) -> list[Upload]:
        query = "SELECT id FROM uploads WHERE bucket = ? ORDER BY key, created"
        ids = [r[0] for r in self._db.execute(query, (bucket,))]
        return [u for u in (self.get(i) for i in ids) if u is not None]

    def add_part(self, upload: str, number: int, body: Body) -> Part:
        os.replace(body.path, self._parts / upload / str(number))
        part = Part(number, body.size, f'"{body.md5}"', body.md5, time.time())
        self._db.execute(
            "INSERT OR REPLACE INTO parts VALUES (?, ?, ?, ?, ?, ?)",
            (upload, number, part.size, part.etag, part.md5, part.modified),
        )
        return part

    def parts(self, upload: str) -> list[Part]:
        rows = self._db.execute(
            "SELECT * FROM parts WHERE upload = ? ORDER BY number", (upload,)
        ).fetchall()
        return [Part(r["number"], r["size"], r["etag"], r["md5"], r["modified"]) for r in rows]

    async def assemble(self, upload: str, parts: Sequence[Part], into: Path) -> Body:
        """The named parts, in order, as one new body at ``into``; the ETag's MD5
        is S3's: the MD5 of the parts' MD5s, then ``-<count>``."""
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        with open(into, "wb") as out:
            for part in parts:
                with open(self._parts / upload / str(part.number), "rb") as f:
                    shutil.copyfileobj(f, out, 1 << 20)
                digest.update(bytes.fromhex(part.md5))
                size += part.size
        return Body(into, size, f"{digest.hexdigest()}-{len(parts)}")

    def remove(self, upload: str) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("DELETE FROM parts WHERE upload = ?", (upload,))
            self._db.execute("DELETE FROM uploads WHERE id = ?", (upload,))
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        shutil.rmtree(self._parts / upload, ignore_errors=True)
