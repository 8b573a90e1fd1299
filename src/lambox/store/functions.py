"""Persistence of function configurations: the ``FunctionStore`` protocol and its SQLite backend.

The control plane is the only writer. Calls are short and synchronous: one small
transaction each, on a WAL database, so they are fast enough to run on the event loop
of the management API (the data plane never calls the store while serving).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any, Protocol

from lambox.errors import ResourceConflict
from lambox.model import FunctionConfig, State, UpdateStatus, frozen_map


class FunctionStore(Protocol):
    """Desired state of functions, keyed by (name, version).

    ``insert`` fails with ResourceConflict when the key exists; ``replace`` overwrites;
    ``delete`` removes every version of a name and is idempotent. Reads return None or
    empty lists for unknown names, never raise.
    """

    def insert(self, config: FunctionConfig) -> None: ...
    def replace(self, config: FunctionConfig) -> None: ...
    def get(self, name: str, version: str) -> FunctionConfig | None: ...
    def list_latest(self) -> list[FunctionConfig]: ...
    def delete(self, name: str) -> None: ...
    def code_in_use(self, code_key: str) -> bool: ...
    def close(self) -> None: ...


def to_json(config: FunctionConfig) -> str:
    data: dict[str, Any] = {
        "name": config.name,
        "runtime": config.runtime,
        "handler": config.handler,
        "role": config.role,
        "code_sha256": config.code_sha256,
        "code_size": config.code_size,
        "revision_id": config.revision_id,
        "last_modified": config.last_modified,
        "memory_size": config.memory_size,
        "timeout": config.timeout,
        "description": config.description,
        "environment": dict(config.environment),
        "ephemeral_storage": config.ephemeral_storage,
        "architectures": list(config.architectures),
        "tags": dict(config.tags),
        "version": config.version,
        "code_key": config.code_key,
        "state": config.state.value,
        "last_update_status": config.last_update_status.value,
    }
    return json.dumps(data, separators=(",", ":"))


def from_json(text: str) -> FunctionConfig:
    data = json.loads(text)
    data["environment"] = frozen_map(data["environment"])
    data["tags"] = frozen_map(data["tags"])
    data["architectures"] = tuple(data["architectures"])
    data["state"] = State(data["state"])
    data["last_update_status"] = UpdateStatus(data["last_update_status"])
    return FunctionConfig(**data)


class SqliteFunctionStore:
    """FunctionStore on one SQLite file (WAL, synchronous=NORMAL, busy timeout)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS functions ("
            " name TEXT NOT NULL, version TEXT NOT NULL, code_key TEXT NOT NULL,"
            " config TEXT NOT NULL, PRIMARY KEY (name, version))"
        )

    def insert(self, config: FunctionConfig) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO functions (name, version, code_key, config) VALUES (?, ?, ?, ?)",
                    (config.name, config.version, config.code_key, to_json(config)),
                )
            except sqlite3.IntegrityError as exc:
                raise ResourceConflict(f"Function already exist: {config.name}") from exc

    def replace(self, config: FunctionConfig) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO functions (name, version, code_key, config)"
                " VALUES (?, ?, ?, ?)",
                (config.name, config.version, config.code_key, to_json(config)),
            )

    def get(self, name: str, version: str) -> FunctionConfig | None:
        with self._lock:
            row = self._db.execute(
                "SELECT config FROM functions WHERE name = ? AND version = ?", (name, version)
            ).fetchone()
        return from_json(row[0]) if row else None

    def list_latest(self) -> list[FunctionConfig]:
        with self._lock:
            rows = self._db.execute(
                "SELECT config FROM functions WHERE version = '$LATEST' ORDER BY name"
            ).fetchall()
        return [from_json(r[0]) for r in rows]

    def delete(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM functions WHERE name = ?", (name,))

    def code_in_use(self, code_key: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM functions WHERE code_key = ? LIMIT 1", (code_key,)
            ).fetchone()
        return row is not None

    def close(self) -> None:
        with self._lock:
            self._db.close()
