"""Resource policies (AddPermission): the value type and its store.

A policy belongs to one function version or alias: the key is (function name, qualifier),
``$LATEST`` for the unqualified function. It holds its statements in the order they were
added (GetPolicy lists them so) and a RevisionId renewed on every change. A policy with no
statement left is deleted, as AWS deletes it (GetPolicy then answers not found).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from lambox.store.sqlite import Guarded, connect

Statement = dict[str, Any]
"""One IAM policy statement as GetPolicy renders it (Sid, Effect, Principal, Action,
Resource, Condition, in that order)."""


@dataclass(frozen=True, slots=True)
class ResourcePolicy:
    """The resource policy of one function version or alias."""

    function: str
    qualifier: str
    revision_id: str
    statements: tuple[Statement, ...]

    def document(self) -> dict[str, Any]:
        """The policy document exactly as AWS's GetPolicy serializes it."""
        return {"Version": "2012-10-17", "Id": "default", "Statement": list(self.statements)}

    def find(self, sid: str) -> Statement | None:
        return next((s for s in self.statements if s.get("Sid") == sid), None)


class PolicyStore(Protocol):
    """Resource policies keyed by (function, qualifier).

    ``put`` inserts or overwrites a policy; ``delete`` and ``delete_function`` are
    idempotent; ``all`` lists every policy (loaded into memory at start-up). Reads never
    raise for a missing policy.
    """

    def put(self, policy: ResourcePolicy) -> None: ...
    def all(self) -> list[ResourcePolicy]: ...
    def delete(self, function: str, qualifier: str) -> None: ...
    def delete_function(self, function: str) -> None: ...
    def close(self) -> None: ...


class SqlitePolicyStore:
    """PolicyStore in a table of the state database (WAL, one short transaction each)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "resource policy")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS resource_policies ("
            " function TEXT NOT NULL, qualifier TEXT NOT NULL, revision_id TEXT NOT NULL,"
            " statements TEXT NOT NULL, PRIMARY KEY (function, qualifier))"
        )

    def put(self, policy: ResourcePolicy) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO resource_policies"
                " (function, qualifier, revision_id, statements) VALUES (?, ?, ?, ?)",
                (
                    policy.function,
                    policy.qualifier,
                    policy.revision_id,
                    json.dumps(list(policy.statements)),
                ),
            )

    def all(self) -> list[ResourcePolicy]:
        with self._lock:
            rows = self._db.execute(
                "SELECT function, qualifier, revision_id, statements FROM resource_policies"
            ).fetchall()
        return [ResourcePolicy(f, q, r, tuple(json.loads(s))) for f, q, r, s in rows]

    def delete(self, function: str, qualifier: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM resource_policies WHERE function = ? AND qualifier = ?",
                (function, qualifier),
            )

    def delete_function(self, function: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM resource_policies WHERE function = ?", (function,))

    def close(self) -> None:
        with self._lock:
            self._db.close()
