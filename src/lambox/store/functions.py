"""Persistence of function configurations: the ``FunctionStore`` protocol and its SQLite backend.

The control plane is the only writer. Calls are short and synchronous: one small
transaction each, on a WAL database, so they are fast enough to run on the event loop
of the management API (the data plane never calls the store while serving).
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any, Protocol

from lambox.errors import ResourceConflict
from lambox.model import (
    Alias,
    FunctionConfig,
    ProvisionedConfig,
    State,
    UpdateStatus,
    VpcConfig,
    frozen_map,
)
from lambox.store.sqlite import Guarded, connect


class FunctionStore(Protocol):
    """Desired state of functions, keyed by (name, version).

    ``insert`` fails with ResourceConflict when the key exists; ``replace`` overwrites;
    ``delete`` removes every version, alias and concurrency setting of a name and is
    idempotent. Reads return None or empty lists for unknown names, never raise.
    ``next_version`` hands out 1, 2, 3 ... per name and never reuses a number, even after
    the version was deleted (as AWS does); the counter survives only while the function does.
    """

    def insert(self, config: FunctionConfig) -> None: ...
    def replace(self, config: FunctionConfig) -> None: ...
    def get(self, name: str, version: str) -> FunctionConfig | None: ...
    def list_latest(self) -> list[FunctionConfig]: ...
    def latest_page(self, after: str | None, limit: int) -> list[FunctionConfig]: ...
    def all_versions(self) -> list[FunctionConfig]: ...
    def unsettled(self) -> list[FunctionConfig]: ...
    def count_functions(self) -> int: ...
    def all_aliases(self) -> list[Alias]: ...
    def delete(self, name: str) -> None: ...
    def code_in_use(self, code_key: str) -> bool: ...
    def list_versions(self, name: str) -> list[FunctionConfig]: ...
    def next_version(self, name: str) -> int: ...
    def delete_version(self, name: str, version: str) -> None: ...
    def put_alias(self, alias: Alias) -> None: ...
    def get_alias(self, name: str, alias: str) -> Alias | None: ...
    def list_aliases(self, name: str) -> list[Alias]: ...
    def delete_alias(self, name: str, alias: str) -> None: ...
    def get_reserved(self, name: str) -> int | None: ...
    def set_reserved(self, name: str, value: int | None) -> None: ...
    def all_reserved(self) -> dict[str, int]: ...
    def put_provisioned(self, config: ProvisionedConfig) -> None: ...
    def get_provisioned(self, name: str, qualifier: str) -> ProvisionedConfig | None: ...
    def list_provisioned(self, name: str | None = None) -> list[ProvisionedConfig]: ...
    def delete_provisioned(self, name: str, qualifier: str) -> None: ...
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
        "dead_letter_arn": config.dead_letter_arn,
        "has_environment": config.has_environment,
        "snap_start": config.snap_start,
        "vpc": None
        if config.vpc is None
        else {
            "subnet_ids": list(config.vpc.subnet_ids),
            "security_group_ids": list(config.vpc.security_group_ids),
            "ipv6_allowed_for_dual_stack": config.vpc.ipv6_allowed_for_dual_stack,
        },
        "state": config.state.value,
        "last_update_status": config.last_update_status.value,
        "state_reason_code": config.state_reason_code,
        "state_reason": config.state_reason,
        "layers": [list(ref) for ref in config.layers],
        "opt_key": config.opt_key,
        "durable": None if config.durable is None else list(config.durable),
        "tracing_mode": config.tracing_mode,
        "log_format": config.log_format,
        "application_log_level": config.application_log_level,
        "system_log_level": config.system_log_level,
        "log_group": config.log_group,
        "tenant_isolation": config.tenant_isolation,
    }
    return json.dumps(data, separators=(",", ":"))


def from_json(text: str) -> FunctionConfig:
    data = json.loads(text)
    data["environment"] = frozen_map(data["environment"])
    data["tags"] = frozen_map(data["tags"])
    data["architectures"] = tuple(data["architectures"])
    data["state"] = State(data["state"])
    data["last_update_status"] = UpdateStatus(data["last_update_status"])
    vpc = data.pop("vpc", None)  # rows written before VpcConfig was kept have none
    if vpc is not None:
        data["vpc"] = VpcConfig(
            tuple(vpc["subnet_ids"]),
            tuple(vpc["security_group_ids"]),
            vpc["ipv6_allowed_for_dual_stack"],
        )
    data["layers"] = tuple((str(arn), int(size)) for arn, size in data.get("layers") or ())
    durable = data.pop("durable", None)  # rows written before DurableConfig have none
    if durable is not None:
        data["durable"] = (int(durable[0]), int(durable[1]))
    return FunctionConfig(**data)


# Versions a crash left other than Active and Successful: start-up's restore reads them
# through a partial index holding only those rows, instead of decoding the state of every
# stored version (17 ms of CPU of every start with 10,000 functions).
UNSETTLED = (
    "json_extract(config, '$.state') != 'Active'"
    " OR json_extract(config, '$.last_update_status') != 'Successful'"
)


class SqliteFunctionStore:
    """FunctionStore on one SQLite file (WAL, synchronous=NORMAL, busy timeout)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "function data")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS functions ("
            " name TEXT NOT NULL, version TEXT NOT NULL, code_key TEXT NOT NULL,"
            " config TEXT NOT NULL, PRIMARY KEY (name, version))"
        )
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS version_counters ("
            " name TEXT PRIMARY KEY, last INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS aliases ("
            " name TEXT NOT NULL, alias TEXT NOT NULL, config TEXT NOT NULL,"
            " PRIMARY KEY (name, alias));"
            "CREATE TABLE IF NOT EXISTS reserved ("
            " name TEXT PRIMARY KEY, value INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS provisioned ("
            " name TEXT NOT NULL, qualifier TEXT NOT NULL, requested INTEGER NOT NULL,"
            " last_modified TEXT NOT NULL, PRIMARY KEY (name, qualifier));"
            f"CREATE INDEX IF NOT EXISTS functions_unsettled ON functions (name, version)"
            f" WHERE {UNSETTLED};"
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

    def latest_page(self, after: str | None, limit: int) -> list[FunctionConfig]:
        """At most ``limit`` functions ordered by name, after ``after``: one index range,
        not every function decoded for each page."""
        with self._lock:
            rows = self._db.execute(
                "SELECT config FROM functions WHERE version = '$LATEST' AND name > ?"
                " ORDER BY name LIMIT ?",
                (after or "", limit),
            ).fetchall()
        return [from_json(r[0]) for r in rows]

    def all_versions(self) -> list[FunctionConfig]:
        """Every stored version of every function, in one query (start-up's restore)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT config FROM functions"
                " ORDER BY name, version = '$LATEST' DESC, CAST(version AS INTEGER)"
            ).fetchall()
        return [from_json(r[0]) for r in rows]

    def unsettled(self) -> list[FunctionConfig]:
        """Versions a crash left other than Active and Successful (read through the
        partial index of ``UNSETTLED``: the settled ones are not even looked at)."""
        with self._lock:
            rows = self._db.execute(f"SELECT config FROM functions WHERE {UNSETTLED}").fetchall()
        return [from_json(r[0]) for r in rows]

    def count_functions(self) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM functions WHERE version = '$LATEST'"
            ).fetchone()
        return int(row[0])

    def all_aliases(self) -> list[Alias]:
        with self._lock:
            rows = self._db.execute(
                "SELECT name, alias, config FROM aliases ORDER BY name, alias"
            ).fetchall()
        return [Alias(function=r[0], name=r[1], **json.loads(r[2])) for r in rows]

    def delete(self, name: str) -> None:
        with self._lock:
            for table in ("functions", "version_counters", "aliases", "reserved", "provisioned"):
                self._db.execute(f"DELETE FROM {table} WHERE name = ?", (name,))

    def code_in_use(self, code_key: str) -> bool:
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM functions WHERE code_key = ? OR instr(config, ?) > 0 LIMIT 1",
                (code_key, f'"opt_key":"{code_key}"'),
            ).fetchone()
        return row is not None

    def list_versions(self, name: str) -> list[FunctionConfig]:
        with self._lock:
            rows = self._db.execute(
                "SELECT config FROM functions WHERE name = ?"
                " ORDER BY version = '$LATEST' DESC, CAST(version AS INTEGER)",
                (name,),
            ).fetchall()
        return [from_json(r[0]) for r in rows]

    def next_version(self, name: str) -> int:
        with self._lock:
            self._db.execute(
                "INSERT INTO version_counters (name, last) VALUES (?, 1)"
                " ON CONFLICT (name) DO UPDATE SET last = last + 1",
                (name,),
            )
            row = self._db.execute(
                "SELECT last FROM version_counters WHERE name = ?", (name,)
            ).fetchone()
        return int(row[0])

    def delete_version(self, name: str, version: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM functions WHERE name = ? AND version = ?", (name, version)
            )

    def put_alias(self, alias: Alias) -> None:
        data = json.dumps(
            {
                "function_version": alias.function_version,
                "revision_id": alias.revision_id,
                "description": alias.description,
                "additional_version": alias.additional_version,
                "additional_weight": alias.additional_weight,
            }
        )
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO aliases (name, alias, config) VALUES (?, ?, ?)",
                (alias.function, alias.name, data),
            )

    def get_alias(self, name: str, alias: str) -> Alias | None:
        with self._lock:
            row = self._db.execute(
                "SELECT config FROM aliases WHERE name = ? AND alias = ?", (name, alias)
            ).fetchone()
        return Alias(function=name, name=alias, **json.loads(row[0])) if row else None

    def list_aliases(self, name: str) -> list[Alias]:
        with self._lock:
            rows = self._db.execute(
                "SELECT alias, config FROM aliases WHERE name = ? ORDER BY alias", (name,)
            ).fetchall()
        return [Alias(function=name, name=r[0], **json.loads(r[1])) for r in rows]

    def delete_alias(self, name: str, alias: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM aliases WHERE name = ? AND alias = ?", (name, alias))

    def get_reserved(self, name: str) -> int | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM reserved WHERE name = ?", (name,)).fetchone()
        return int(row[0]) if row else None

    def set_reserved(self, name: str, value: int | None) -> None:
        with self._lock:
            if value is None:
                self._db.execute("DELETE FROM reserved WHERE name = ?", (name,))
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO reserved (name, value) VALUES (?, ?)", (name, value)
                )

    def all_reserved(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT name, value FROM reserved").fetchall()
        return {str(r[0]): int(r[1]) for r in rows}

    def put_provisioned(self, config: ProvisionedConfig) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO provisioned (name, qualifier, requested, last_modified)"
                " VALUES (?, ?, ?, ?)",
                (config.function, config.qualifier, config.requested, config.last_modified),
            )

    def get_provisioned(self, name: str, qualifier: str) -> ProvisionedConfig | None:
        with self._lock:
            row = self._db.execute(
                "SELECT requested, last_modified FROM provisioned WHERE name = ? AND qualifier = ?",
                (name, qualifier),
            ).fetchone()
        return ProvisionedConfig(name, qualifier, int(row[0]), str(row[1])) if row else None

    def list_provisioned(self, name: str | None = None) -> list[ProvisionedConfig]:
        query = "SELECT name, qualifier, requested, last_modified FROM provisioned"
        args: tuple[str, ...] = ()
        if name is not None:
            query += " WHERE name = ?"
            args = (name,)
        with self._lock:
            rows = self._db.execute(query + " ORDER BY name, qualifier", args).fetchall()
        return [ProvisionedConfig(str(r[0]), str(r[1]), int(r[2]), str(r[3])) for r in rows]

    def delete_provisioned(self, name: str, qualifier: str) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM provisioned WHERE name = ? AND qualifier = ?", (name, qualifier)
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
