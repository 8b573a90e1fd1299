"""Stacks, their resources, events and change sets in SQLite: a stack survives a restart
(and a kill -9) of the server with everything DescribeStacks and friends answer."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lambox.store.sqlite import Guarded, connect


@dataclass
class Stack:
    stack_id: str
    name: str
    status: str
    created: str
    template: str = ""  # the body as submitted (GetTemplate Original)
    processed: dict[str, Any] = field(default_factory=dict)  # after transforms
    parameters: list[dict[str, str]] = field(default_factory=list)
    outputs: list[dict[str, str]] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    description: str | None = None
    reason: str | None = None
    updated: str | None = None
    deleted: str | None = None
    disable_rollback: bool = False
    imports: list[str] = field(default_factory=list)  # export names it uses


@dataclass
class Resource:
    stack_id: str
    logical_id: str
    type: str
    status: str
    timestamp: str
    physical_id: str = ""
    ref: str = ""
    properties: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    policy: str = "Delete"  # DeletionPolicy


@dataclass
class Event:
    stack_id: str
    stack_name: str
    event_id: str
    logical_id: str
    physical_id: str
    type: str
    status: str
    timestamp: str
    reason: str | None = None


@dataclass
class ChangeSet:
    change_set_id: str
    name: str
    stack_id: str
    stack_name: str
    kind: str  # CREATE | UPDATE
    status: str
    execution_status: str
    created: str
    template: str = ""
    parameters: list[dict[str, str]] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)
    tags: list[dict[str, str]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    description: str | None = None
    reason: str | None = None


def _dump(obj: Any) -> str:
    return json.dumps(obj.__dict__, separators=(",", ":"))


class StackStore:
    """One SQLite file; each call a short transaction (callers are on the event loop)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "stack data")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS stacks (stack_id TEXT PRIMARY KEY, name TEXT NOT NULL,"
            " live INTEGER NOT NULL, data TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS resources (stack_id TEXT NOT NULL,"
            " logical_id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (stack_id, logical_id));"
            "CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT,"
            " stack_id TEXT NOT NULL, data TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS change_sets (change_set_id TEXT PRIMARY KEY,"
            " name TEXT NOT NULL, stack_id TEXT NOT NULL, data TEXT NOT NULL);"
        )

    # -- stacks ------------------------------------------------------------------------

    def put_stack(self, stack: Stack) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO stacks (stack_id, name, live, data) VALUES (?, ?, ?, ?)",
                (stack.stack_id, stack.name, int(stack.deleted is None), _dump(stack)),
            )

    def live_stack(self, name: str) -> Stack | None:
        """The stack of that name that is not deleted (or the stack of that id, live or not)."""
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM stacks WHERE (name = ? AND live = 1) OR stack_id = ?",
                (name, name),
            ).fetchone()
        return Stack(**json.loads(row[0])) if row else None

    def stacks(self) -> list[Stack]:
        with self._lock:
            rows = self._db.execute("SELECT data FROM stacks ORDER BY rowid DESC").fetchall()
        return [Stack(**json.loads(r[0])) for r in rows]

    def interrupted(self) -> list[Stack]:
        """The stacks a deployment was in progress on (``REVIEW_IN_PROGRESS``, a change set
        not executed yet, is no deployment)."""
        return [
            stack
            for stack in self.stacks()
            if stack.status.endswith("_IN_PROGRESS") and stack.status != "REVIEW_IN_PROGRESS"
        ]

    # -- resources ---------------------------------------------------------------------

    def put_resource(self, resource: Resource) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO resources (stack_id, logical_id, data) VALUES (?, ?, ?)",
                (resource.stack_id, resource.logical_id, _dump(resource)),
            )

    def drop_resource(self, stack_id: str, logical_id: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM resources WHERE stack_id = ? AND logical_id = ?",
                (stack_id, logical_id),
            )

    def resources(self, stack_id: str) -> dict[str, Resource]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM resources WHERE stack_id = ? ORDER BY rowid", (stack_id,)
            ).fetchall()
        found = [Resource(**json.loads(r[0])) for r in rows]
        return {r.logical_id: r for r in found}

    # -- events ------------------------------------------------------------------------

    def add_event(self, event: Event) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO events (stack_id, data) VALUES (?, ?)", (event.stack_id, _dump(event))
            )

    def events(self, stack_id: str) -> list[Event]:
        """Newest first, as DescribeStackEvents answers."""
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM events WHERE stack_id = ? ORDER BY seq DESC", (stack_id,)
            ).fetchall()
        return [Event(**json.loads(r[0])) for r in rows]

    # -- change sets -------------------------------------------------------------------

    def put_change_set(self, change_set: ChangeSet) -> None:
        with self._lock:
            try:
                self._db.execute(
                    "INSERT OR REPLACE INTO change_sets (change_set_id, name, stack_id, data)"
                    " VALUES (?, ?, ?, ?)",
                    (
                        change_set.change_set_id,
                        change_set.name,
                        change_set.stack_id,
                        _dump(change_set),
                    ),
                )
            except sqlite3.IntegrityError:
                raise

    def change_set(self, name_or_id: str, stack_id: str | None) -> ChangeSet | None:
        with self._lock:
            row = self._db.execute(
                "SELECT data FROM change_sets WHERE change_set_id = ?"
                " OR (name = ? AND stack_id = ?)",
                (name_or_id, name_or_id, stack_id or ""),
            ).fetchone()
        return ChangeSet(**json.loads(row[0])) if row else None

    def change_sets(self, stack_id: str) -> list[ChangeSet]:
        with self._lock:
            rows = self._db.execute(
                "SELECT data FROM change_sets WHERE stack_id = ? ORDER BY rowid", (stack_id,)
            ).fetchall()
        return [ChangeSet(**json.loads(r[0])) for r in rows]

    def drop_change_set(self, change_set_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM change_sets WHERE change_set_id = ?", (change_set_id,))

    def close(self) -> None:
        self._db.close()
