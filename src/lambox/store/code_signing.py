"""Persistence of code signing configs: one JSON document per config id, in SQLite.

Which function uses which config is a function setting (``store.function_settings``), so it
goes with its function; this store holds the configs themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from lambox.store.sqlite import Guarded, connect


class CodeSigningStore(Protocol):
    """Code signing configs by id; reads of unknown ids return None."""

    def get(self, config_id: str) -> dict[str, Any] | None: ...
    def put(self, config_id: str, config: dict[str, Any]) -> None: ...
    def delete(self, config_id: str) -> None: ...
    def list_all(self) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class SqliteCodeSigningStore:
    """CodeSigningStore on one SQLite file (shared with the function store)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "code signing configs")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS code_signing_configs ("
            " id TEXT PRIMARY KEY, config TEXT NOT NULL)"
        )

    def get(self, config_id: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT config FROM code_signing_configs WHERE id = ?", (config_id,)
            ).fetchone()
        return dict(json.loads(row[0])) if row else None

    def put(self, config_id: str, config: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO code_signing_configs (id, config) VALUES (?, ?)",
                (config_id, json.dumps(config)),
            )

    def delete(self, config_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM code_signing_configs WHERE id = ?", (config_id,))

    def list_all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT config FROM code_signing_configs ORDER BY id"
            ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
