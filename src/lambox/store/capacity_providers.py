"""Persistence of capacity providers: one JSON document per name, in SQLite.

Which function runs on which provider is a function setting (``store.function_settings``), so
it goes with its function; this store holds the providers themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from lambox.store.sqlite import Guarded, connect


class CapacityProviderStore(Protocol):
    """Capacity providers by name; reads of unknown names return None."""

    def get(self, name: str) -> dict[str, Any] | None: ...
    def put(self, name: str, config: dict[str, Any]) -> None: ...
    def delete(self, name: str) -> None: ...
    def list_all(self) -> list[dict[str, Any]]: ...
    def close(self) -> None: ...


class SqliteCapacityProviderStore:
    """CapacityProviderStore on one SQLite file (shared with the function store)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "capacity providers")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS capacity_providers ("
            " name TEXT PRIMARY KEY, config TEXT NOT NULL)"
        )

    def get(self, name: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT config FROM capacity_providers WHERE name = ?", (name,)
            ).fetchone()
        return dict(json.loads(row[0])) if row else None

    def put(self, name: str, config: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO capacity_providers (name, config) VALUES (?, ?)",
                (name, json.dumps(config)),
            )

    def delete(self, name: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM capacity_providers WHERE name = ?", (name,))

    def list_all(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT config FROM capacity_providers ORDER BY name"
            ).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
