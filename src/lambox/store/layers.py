"""Persistence of Lambda layer versions and their permission policies (SQLite).

A layer version is immutable once published, except for its policy. Version numbers are
handed out per layer name and never reused, even after every version was deleted (as AWS
does), so the counter row outlives the versions. The layer's code lives in the code store;
a row names it by ``code_key``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lambox.store.sqlite import Guarded, connect


@dataclass(frozen=True, slots=True)
class LayerVersion:
    """One published layer version, as PublishLayerVersion stored it."""

    name: str
    version: int
    code_key: str
    code_sha256: str
    code_size: int
    unzipped_size: int
    created: str
    description: str = ""
    license_info: str | None = None
    runtimes: tuple[str, ...] = ()
    architectures: tuple[str, ...] = ()
    # Statements of the layer version's resource policy, in the order they were added.
    statements: tuple[dict[str, Any], ...] = field(default=())
    policy_revision: str = ""


def _to_json(layer: LayerVersion) -> str:
    return json.dumps(
        {
            "code_key": layer.code_key,
            "code_sha256": layer.code_sha256,
            "code_size": layer.code_size,
            "unzipped_size": layer.unzipped_size,
            "created": layer.created,
            "description": layer.description,
            "license_info": layer.license_info,
            "runtimes": list(layer.runtimes),
            "architectures": list(layer.architectures),
            "statements": list(layer.statements),
            "policy_revision": layer.policy_revision,
        },
        separators=(",", ":"),
    )


def _from_row(name: str, version: int, text: str) -> LayerVersion:
    data = json.loads(text)
    data["runtimes"] = tuple(data["runtimes"])
    data["architectures"] = tuple(data["architectures"])
    data["statements"] = tuple(data["statements"])
    return LayerVersion(name=name, version=version, **data)


class SqliteLayerStore:
    """Layer versions on one SQLite file; each call one short transaction."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._lock = Guarded(self._db, "layer data")
        self._db.executescript(
            "CREATE TABLE IF NOT EXISTS layer_versions ("
            " name TEXT NOT NULL, version INTEGER NOT NULL, config TEXT NOT NULL,"
            " PRIMARY KEY (name, version));"
            "CREATE TABLE IF NOT EXISTS layer_counters ("
            " name TEXT PRIMARY KEY, last INTEGER NOT NULL);"
        )

    def publish(self, layer: LayerVersion) -> LayerVersion:
        """Store ``layer`` under the next version number of its name; the stored version."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO layer_counters (name, last) VALUES (?, 1)"
                " ON CONFLICT (name) DO UPDATE SET last = last + 1",
                (layer.name,),
            )
            row = self._db.execute(
                "SELECT last FROM layer_counters WHERE name = ?", (layer.name,)
            ).fetchone()
            stored = replace(layer, version=int(row[0]))
            self._db.execute(
                "INSERT INTO layer_versions (name, version, config) VALUES (?, ?, ?)",
                (stored.name, stored.version, _to_json(stored)),
            )
            self._db.execute("COMMIT")
        return stored

    def replace(self, layer: LayerVersion) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE layer_versions SET config = ? WHERE name = ? AND version = ?",
                (_to_json(layer), layer.name, layer.version),
            )

    def get(self, name: str, version: int) -> LayerVersion | None:
        with self._lock:
            row = self._db.execute(
                "SELECT config FROM layer_versions WHERE name = ? AND version = ?",
                (name, version),
            ).fetchone()
        return _from_row(name, version, row[0]) if row else None

    def versions(self, name: str) -> list[LayerVersion]:
        """Every version of ``name``, newest first (the order ListLayerVersions answers in)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT version, config FROM layer_versions WHERE name = ? ORDER BY version DESC",
                (name,),
            ).fetchall()
        return [_from_row(name, int(v), text) for v, text in rows]

    def latest_of_each(self) -> list[LayerVersion]:
        """The newest version of every layer, ordered by name (ListLayers)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT name, MAX(version), config FROM layer_versions GROUP BY name ORDER BY name"
            ).fetchall()
        return [_from_row(name, int(v), text) for name, v, text in rows]

    def delete(self, name: str, version: int) -> None:
        with self._lock:
            self._db.execute(
                "DELETE FROM layer_versions WHERE name = ? AND version = ?", (name, version)
            )

    def code_in_use(self, code_key: str) -> bool:
        """Whether a layer version (deleted ones are gone) has this code as its content."""
        with self._lock:
            row = self._db.execute(
                "SELECT 1 FROM layer_versions WHERE instr(config, ?) > 0 LIMIT 1",
                (f'"code_key":"{code_key}"',),
            ).fetchone()
        return row is not None

    def close(self) -> None:
        self._db.close()
