"""Function URL configurations: the value type and its store.

A function has at most one URL per qualifier: the unqualified function (``$LATEST``) and each
alias. The URL id (the host's first label) is random, unique and never changes.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from lambox.store.sqlite import Guarded, connect


@dataclass(frozen=True, slots=True)
class UrlConfig:
    """CreateFunctionUrlConfig's settings for one function or alias.

    ``invoke_mode`` None means never given: Create and Update answer without the member,
    Get and List answer AWS's default, BUFFERED (as recorded).
    """

    function: str
    qualifier: str
    url_id: str
    auth_type: str
    creation_time: str
    last_modified: str
    cors: dict[str, Any] | None = None
    invoke_mode: str | None = None

    @property
    def streaming(self) -> bool:
        return self.invoke_mode == "RESPONSE_STREAM"


class UrlStore(Protocol):
    """UrlConfigs keyed by (function, qualifier).

    ``put`` inserts or overwrites; ``delete`` and ``delete_function`` are idempotent;
    ``all`` lists every configuration (loaded into memory at start-up).
    """

    def put(self, config: UrlConfig) -> None: ...
    def all(self) -> list[UrlConfig]: ...
    def delete(self, function: str, qualifier: str) -> None: ...
    def delete_function(self, function: str) -> None: ...
    def close(self) -> None: ...


class SqliteUrlStore:
    """UrlStore in a table of the state database (WAL, one short transaction each)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "function URL configuration")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS function_urls ("
            " function TEXT NOT NULL, qualifier TEXT NOT NULL, url_id TEXT NOT NULL UNIQUE,"
            " config TEXT NOT NULL, PRIMARY KEY (function, qualifier))"
        )

    def put(self, config: UrlConfig) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO function_urls (function, qualifier, url_id, config)"
                " VALUES (?, ?, ?, ?)",
                (config.function, config.qualifier, config.url_id, json.dumps(asdict(config))),
            )

    def all(self) -> list[UrlConfig]:
        with self._lock:
            rows = self._db.execute("SELECT config FROM function_urls").fetchall()
        return [UrlConfig(**json.loads(r[0])) for r in rows]

    def delete(self, function: str, qualifier: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM function_urls WHERE function = ? AND qualifier = ?",
                (function, qualifier),
            )

    def delete_function(self, function: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM function_urls WHERE function = ?", (function,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
