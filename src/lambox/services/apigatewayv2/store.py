"""HTTP APIs on disk: one row per API holding its whole document (the API's members, its
routes, integrations and stages), written in one short transaction per change.

An HTTP API is small (tens of routes) and is read whole by the request path, which keeps
every API in memory: a document per API is the simplest durable shape for that.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lambox.store.sqlite import Guarded, connect

Api = dict[str, Any]
"""An API document: its output members plus ``Routes``, ``Integrations`` and ``Stages``
(each a map of id or name to the member's output members)."""


class ApiStore:
    """API documents keyed by their id (``key``: ``ApiId`` for HTTP APIs, ``id`` for REST
    APIs), one table each; ``delete`` is idempotent."""

    def __init__(self, path: Path, table: str = "http_apis", key: str = "ApiId") -> None:
        if not table.isidentifier():
            raise ValueError(f"bad table name {table!r}")
        self._db = connect(path)
        self._lock = Guarded(self._db, "API Gateway API")
        self._table = table
        self._key = key
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {table} (api_id TEXT PRIMARY KEY, document TEXT NOT NULL)"
        )

    def put(self, api: Api) -> None:
        with self._lock:
            self._db.execute(
                f"INSERT OR REPLACE INTO {self._table} (api_id, document) VALUES (?, ?)",
                (api[self._key], json.dumps(api)),
            )

    def all(self) -> list[Api]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT document FROM {self._table} ORDER BY api_id"
            ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete(self, api_id: str) -> None:
        with self._lock:
            self._db.execute(f"DELETE FROM {self._table} WHERE api_id = ?", (api_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
