"""Asynchronous-invocation settings (EventInvokeConfig): the value type and its store.

A configuration belongs to one function version or alias: the key is (function name,
qualifier), ``$LATEST`` for the unqualified function. The control plane is the only writer;
the data plane reads the settings from memory (``control/event_config.py`` keeps them).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Protocol

from lambox.store.sqlite import Guarded, connect

DEFAULT_RETRIES = 2
DEFAULT_MAX_AGE = 21_600


@dataclass(frozen=True, slots=True)
class EventInvokeConfig:
    """PutFunctionEventInvokeConfig's settings for one qualifier; None = not set (AWS
    answers without the member, and the default applies)."""

    function: str
    qualifier: str
    last_modified: float
    maximum_retry_attempts: int | None = None
    maximum_event_age: int | None = None
    on_success: str | None = None
    on_failure: str | None = None

    @property
    def retries(self) -> int:
        """Retries after a function error (AWS's default: 2)."""
        m = self.maximum_retry_attempts
        return DEFAULT_RETRIES if m is None else m

    @property
    def max_age(self) -> int:
        """Seconds an event may wait in the queue (AWS's default: 6 hours)."""
        m = self.maximum_event_age
        return DEFAULT_MAX_AGE if m is None else m


class EventConfigStore(Protocol):
    """EventInvokeConfigs keyed by (function, qualifier).

    ``put`` inserts or overwrites; ``delete`` and ``delete_function`` are idempotent and
    return how many were removed; reads return None or an empty list, never raise.
    ``all`` lists every configuration (loaded into memory at start-up).
    """

    def put(self, config: EventInvokeConfig) -> None: ...
    def get(self, function: str, qualifier: str) -> EventInvokeConfig | None: ...
    def for_function(self, function: str) -> list[EventInvokeConfig]: ...
    def all(self) -> list[EventInvokeConfig]: ...
    def delete(self, function: str, qualifier: str) -> int: ...
    def delete_function(self, function: str) -> int: ...
    def close(self) -> None: ...


def _load(text: str) -> EventInvokeConfig:
    return EventInvokeConfig(**json.loads(text))


class SqliteEventConfigStore:
    """EventConfigStore in a table of the state database (WAL, one short transaction each)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "event invoke configuration")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS event_invoke_configs ("
            " function TEXT NOT NULL, qualifier TEXT NOT NULL, config TEXT NOT NULL,"
            " PRIMARY KEY (function, qualifier))"
        )

    def put(self, config: EventInvokeConfig) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO event_invoke_configs (function, qualifier, config)"
                " VALUES (?, ?, ?)",
                (config.function, config.qualifier, json.dumps(asdict(config))),
            )

    def get(self, function: str, qualifier: str) -> EventInvokeConfig | None:
        with self._lock:
            row = self._db.execute(
                "SELECT config FROM event_invoke_configs WHERE function = ? AND qualifier = ?",
                (function, qualifier),
            ).fetchone()
        return _load(row[0]) if row else None

    def for_function(self, function: str) -> list[EventInvokeConfig]:
        with self._lock:
            rows = self._db.execute(
                "SELECT config FROM event_invoke_configs WHERE function = ? ORDER BY qualifier",
                (function,),
            ).fetchall()
        return [_load(r[0]) for r in rows]

    def all(self) -> list[EventInvokeConfig]:
        with self._lock:
            rows = self._db.execute("SELECT config FROM event_invoke_configs").fetchall()
        return [_load(r[0]) for r in rows]

    def delete(self, function: str, qualifier: str) -> int:
        with self._lock:
            return self._db.execute(
                "DELETE FROM event_invoke_configs WHERE function = ? AND qualifier = ?",
                (function, qualifier),
            ).rowcount

    def delete_function(self, function: str) -> int:
        with self._lock:
            return self._db.execute(
                "DELETE FROM event_invoke_configs WHERE function = ?", (function,)
            ).rowcount

    def close(self) -> None:
        with self._lock:
            self._db.close()
