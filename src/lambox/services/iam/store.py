"""IAM's durable state in SQLite: users, access keys, roles, managed and inline policies,
attachments, and STS sessions; and the keyring the edge verifies signatures with.

Each write is one short transaction; the keys and sessions are also held in memory
(loaded at start, updated on every write) so ``lookup``, called on every signed request,
never touches the disk.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambox.edge.identity import Credential, Principal

_ID_CHARS = string.ascii_uppercase + string.digits
SCHEMA = """
CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, id TEXT, path TEXT, created REAL);
CREATE TABLE IF NOT EXISTS access_keys (
    key TEXT PRIMARY KEY, secret TEXT, user TEXT, status TEXT, created REAL);
CREATE TABLE IF NOT EXISTS roles (
    name TEXT PRIMARY KEY, id TEXT, path TEXT, trust TEXT, description TEXT,
    max_session INTEGER, created REAL);
CREATE TABLE IF NOT EXISTS policies (
    arn TEXT PRIMARY KEY, name TEXT, id TEXT, path TEXT, document TEXT, description TEXT,
    created REAL);
CREATE TABLE IF NOT EXISTS attachments (
    kind TEXT, owner TEXT, policy TEXT, PRIMARY KEY (kind, owner, policy));
CREATE TABLE IF NOT EXISTS inline_policies (
    kind TEXT, owner TEXT, name TEXT, document TEXT, PRIMARY KEY (kind, owner, name));
CREATE TABLE IF NOT EXISTS sessions (
    key TEXT PRIMARY KEY, secret TEXT, token TEXT, role TEXT, name TEXT, expires REAL);
CREATE TABLE IF NOT EXISTS groups (name TEXT PRIMARY KEY, id TEXT, path TEXT, created REAL);
CREATE TABLE IF NOT EXISTS group_members (
    grp TEXT, user TEXT, PRIMARY KEY (grp, user));
CREATE TABLE IF NOT EXISTS boundaries (
    kind TEXT, owner TEXT, policy TEXT, PRIMARY KEY (kind, owner));
"""


def new_id(prefix: str, length: int = 21) -> str:
    return prefix + "".join(secrets.choice(_ID_CHARS) for _ in range(length - len(prefix)))


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    id: str
    path: str
    trust: str
    description: str
    max_session: int
    created: float


class IamStore:
    """The account's IAM entities (one account per lambox)."""

    def __init__(self, path: Path, account: str) -> None:
        self.account = account
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(SCHEMA)
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(sessions)")}
        if "policies" not in columns:  # a data directory from before session policies
            self._db.execute("ALTER TABLE sessions ADD COLUMN policies TEXT NOT NULL DEFAULT '[]'")
        self._lock = threading.Lock()
        self._keys: dict[str, Credential] = {}
        # Bumped by every write: what was read before a bump may be stale (policy caches).
        self.generation = 0
        self._load_keys()

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------ queries

    def rows(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        with self._lock:
            return list(self._db.execute(sql, args).fetchall())

    def write(self, *statements: tuple[str, tuple[Any, ...]]) -> int:
        """Run ``statements`` in one transaction; the rows the last one changed."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                changed = 0
                for sql, args in statements:
                    changed = self._db.execute(sql, args).rowcount
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self.generation += 1
            return changed

    # ------------------------------------------------------------------ ARNs

    def user_arn(self, name: str, path: str = "/") -> str:
        return f"arn:aws:iam::{self.account}:user{path}{name}"

    def role_arn(self, name: str, path: str = "/") -> str:
        return f"arn:aws:iam::{self.account}:role{path}{name}"

    def role(self, name: str) -> Role | None:
        found = self.rows(
            "SELECT name, id, path, trust, description, max_session, created FROM roles"
            " WHERE name = ?",
            name,
        )
        return Role(*found[0]) if found else None

    def trust_of(self, name: str) -> str | None:
        """The trust policy of role ``name``; None when there is no such role."""
        role = self.role(name)
        return None if role is None else role.trust

    # ------------------------------------------------------------------ keyring

    def _load_keys(self) -> None:
        for key, secret, user in self.rows(
            "SELECT a.key, a.secret, a.user FROM access_keys a WHERE a.status = 'Active'"
        ):
            self._remember_key(key, secret, user)
        now = time.time()
        self.write(("DELETE FROM sessions WHERE expires < ?", (now,)))
        for key, secret, token, role, name, expires, policies in self.rows(
            "SELECT key, secret, token, role, name, expires, policies FROM sessions"
        ):
            self._remember_session(key, secret, token, role, name, expires, json.loads(policies))

    def _remember_key(self, key: str, secret: str, user: str) -> None:
        found = self.rows("SELECT id, path FROM users WHERE name = ?", user)
        if not found:
            return
        user_id, path = found[0]
        principal = Principal(self.account, self.user_arn(user, path), user_id, "user")
        self._keys[key] = Credential(key, secret, principal)

    def _remember_session(
        self,
        key: str,
        secret: str,
        token: str,
        role_name: str,
        name: str,
        expires: float,
        policies: Sequence[str] = (),
    ) -> None:
        role = self.role(role_name)
        role_id = role.id if role else new_id("AROA")
        principal = Principal(
            self.account,
            f"arn:aws:sts::{self.account}:assumed-role/{role_name}/{name}",
            f"{role_id}:{name}",
            "assumed-role",
            self.role_arn(role_name, role.path if role else "/"),
            tuple(policies),
        )
        self._keys[key] = Credential(key, secret, principal, token, expires)

    def lookup(self, access_key: str) -> Credential | None:
        return self._keys.get(access_key)

    def add_key(self, user: str) -> tuple[str, str, float]:
        key = new_id("AKIA", 20)
        secret = secrets.token_urlsafe(30)[:40]
        now = time.time()
        self.write(
            (
                "INSERT INTO access_keys (key, secret, user, status, created)"
                " VALUES (?, ?, ?, 'Active', ?)",
                (key, secret, user, now),
            )
        )
        self._remember_key(key, secret, user)
        return key, secret, now

    def set_key_status(self, key: str, status: str) -> int:
        changed = self.write(("UPDATE access_keys SET status = ? WHERE key = ?", (status, key)))
        self._keys.pop(key, None)
        if status == "Active":
            for k, secret, user in self.rows(
                "SELECT key, secret, user FROM access_keys WHERE key = ?", key
            ):
                self._remember_key(k, secret, user)
        return changed

    def delete_key(self, key: str, user: str) -> int:
        self._keys.pop(key, None)
        return self.write(("DELETE FROM access_keys WHERE key = ? AND user = ?", (key, user)))

    def forget_user_keys(self, user: str) -> None:
        for key, credential in list(self._keys.items()):
            if credential.principal.kind == "user" and credential.principal.arn.endswith(
                f"/{user}"
            ):
                del self._keys[key]

    def add_session(
        self, role_name: str, name: str, seconds: int, policies: Sequence[str] = ()
    ) -> Credential:
        """Temporary credentials of ``role_name`` for ``seconds``, durable until they expire,
        limited by the session ``policies`` (documents) when there are any."""
        key = new_id("ASIA", 20)
        secret = secrets.token_urlsafe(30)[:40]
        token = secrets.token_urlsafe(96)
        expires = time.time() + seconds
        self.write(
            (
                "INSERT INTO sessions (key, secret, token, role, name, expires, policies)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key, secret, token, role_name, name, expires, json.dumps(list(policies))),
            ),
            ("DELETE FROM sessions WHERE expires < ?", (time.time(),)),
        )
        self._remember_session(key, secret, token, role_name, name, expires, policies)
        return self._keys[key]
