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
    """HTTP API documents keyed by ApiId; ``delete`` is idempotent."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "HTTP API")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS http_apis (api_id TEXT PRIMARY KEY, document TEXT NOT NULL)"
        )

    def put(self, api: Api) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO http_apis (api_id, document) VALUES (?, ?)",
                (api["ApiId"], json.dumps(api)),
            )

    def all(self) -> list[Api]:
        with self._lock:
            rows = self._db.execute("SELECT document FROM http_apis ORDER BY api_id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def delete(self, api_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM http_apis WHERE api_id = ?", (api_id,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
