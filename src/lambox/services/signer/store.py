"""Signer's state in SQLite (``signer/signer.db``): signing profiles, one row per profile
version, and signing jobs. Each row is the operation's answer document (timestamps as
epoch seconds) plus the columns lookups need."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambox.store.sqlite import Guarded, connect

SCHEMA = """
CREATE TABLE IF NOT EXISTS profiles (
    version TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created REAL NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS profiles_name ON profiles (name, created);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL,
    created REAL NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_token ON jobs (token);
"""


class SignerStore:
    """Profiles and jobs; every write commits before the call returns."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._db.executescript(SCHEMA)
        self._guard = Guarded(self._db, "Signer state")

    def close(self) -> None:
        self._db.close()

    def save_profile(self, doc: dict[str, Any]) -> None:
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO profiles VALUES (?, ?, ?, ?)",
                (doc["profileVersion"], doc["profileName"], doc["createdAt"], json.dumps(doc)),
            )

    def profile(self, name: str) -> dict[str, Any] | None:
        """The newest version of the profile called ``name``."""
        with self._guard:
            row = self._db.execute(
                "SELECT doc FROM profiles WHERE name = ? ORDER BY created DESC LIMIT 1", (name,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def profile_version(self, version: str) -> dict[str, Any] | None:
        with self._guard:
            row = self._db.execute(
                "SELECT doc FROM profiles WHERE version = ?", (version,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def profiles(self) -> list[dict[str, Any]]:
        """The newest version of every profile, by name."""
        with self._guard:
            rows = self._db.execute(
                "SELECT doc FROM profiles p WHERE created ="
                " (SELECT MAX(created) FROM profiles q WHERE q.name = p.name) ORDER BY name"
            ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def save_job(self, doc: dict[str, Any], token: str) -> None:
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?, ?, ?, ?)",
                (doc["jobId"], token, doc["createdAt"], json.dumps(doc)),
            )

    def update_job(self, doc: dict[str, Any]) -> None:
        """A job's document changed (revoked), its idempotency token kept."""
        with self._guard:
            self._db.execute(
                "UPDATE jobs SET doc = ? WHERE id = ?", (json.dumps(doc), doc["jobId"])
            )

    def job(self, job_id: str) -> dict[str, Any] | None:
        with self._guard:
            row = self._db.execute("SELECT doc FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def job_by_token(self, token: str) -> dict[str, Any] | None:
        with self._guard:
            row = self._db.execute("SELECT doc FROM jobs WHERE token = ?", (token,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def jobs(self) -> list[dict[str, Any]]:
        """Every job, newest first."""
        with self._guard:
            rows = self._db.execute("SELECT doc FROM jobs ORDER BY created DESC, id").fetchall()
        return [dict(json.loads(r[0])) for r in rows]
