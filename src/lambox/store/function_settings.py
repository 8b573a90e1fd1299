"""Per-function settings kept beside the configuration: recursion config, runtime management.

One small table of JSON documents keyed by (function name, qualifier, kind), so that settings
AWS keeps apart from FunctionConfiguration stay apart here too (they carry no RevisionId and
publish nothing to the data plane). Rows go with their function or version (``forget``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from lambox.store.sqlite import Guarded, connect


class SettingsStore(Protocol):
    """JSON settings by (name, qualifier, kind); reads of unknown keys return None."""

    def get(self, name: str, qualifier: str, kind: str) -> dict[str, Any] | None: ...
    def put(self, name: str, qualifier: str, kind: str, value: dict[str, Any]) -> None: ...
    def forget(self, name: str, qualifier: str | None = None) -> None: ...
    def all_of(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]: ...
    def forget_kind(self, name: str, kind: str) -> None: ...
    def close(self) -> None: ...


class SqliteSettingsStore:
    """SettingsStore on one SQLite file (shared with the function store)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "function settings")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS function_settings ("
            " name TEXT NOT NULL, qualifier TEXT NOT NULL, kind TEXT NOT NULL,"
            " value TEXT NOT NULL, PRIMARY KEY (name, qualifier, kind))"
        )

    def get(self, name: str, qualifier: str, kind: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM function_settings WHERE name = ? AND qualifier = ? AND kind = ?",
                (name, qualifier, kind),
            ).fetchone()
        return dict(json.loads(row[0])) if row else None

    def put(self, name: str, qualifier: str, kind: str, value: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO function_settings (name, qualifier, kind, value)"
                " VALUES (?, ?, ?, ?)",
                (name, qualifier, kind, json.dumps(value)),
            )

    def forget(self, name: str, qualifier: str | None = None) -> None:
        with self._lock:
            if qualifier is None:
                self._db.execute("DELETE FROM function_settings WHERE name = ?", (name,))
            else:
                self._db.execute(
                    "DELETE FROM function_settings WHERE name = ? AND qualifier = ?",
                    (name, qualifier),
                )

    def forget_kind(self, name: str, kind: str) -> None:
        """Drop one kind of setting of a function, every qualifier."""
        with self._lock:
            self._db.execute(
                "DELETE FROM function_settings WHERE name = ? AND kind = ?", (name, kind)
            )

    def all_of(self, kind: str) -> list[tuple[str, str, dict[str, Any]]]:
        """Every (name, qualifier, value) of one kind, by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, qualifier, value FROM function_settings WHERE kind = ?"
                " ORDER BY name, qualifier",
                (kind,),
            ).fetchall()
        return [(str(r[0]), str(r[1]), dict(json.loads(r[2]))) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
