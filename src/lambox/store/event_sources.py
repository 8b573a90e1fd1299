"""Event source mappings: what they are and where they are kept (a table of the state
database, one JSON document per mapping)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

from lambox.store.sqlite import Guarded, connect


class MappingState(Enum):
    """The states the Lambda API reports; the ``-ing`` ones last until the pollers have
    taken the change (see ``control/event_sources.py`` for the transitions)."""

    CREATING = "Creating"
    ENABLING = "Enabling"
    ENABLED = "Enabled"
    UPDATING = "Updating"
    DISABLING = "Disabling"
    DISABLED = "Disabled"
    DELETING = "Deleting"


@dataclass(frozen=True)
class EventSourceMapping:
    """One mapping from an event source (an SQS queue today; streams later, whose shard
    positions and checkpoints would live beside it) to a function."""

    uuid: str
    source_arn: str
    function: str
    qualifier: str | None
    batch_size: int
    batching_window: int
    enabled: bool
    state: MappingState
    last_modified: float
    response_types: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()
    max_concurrency: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def report_item_failures(self) -> bool:
        return "ReportBatchItemFailures" in self.response_types


def _dump(m: EventSourceMapping) -> str:
    doc = asdict(m)
    doc["state"] = m.state.value
    return json.dumps(doc)


def _load(text: str) -> EventSourceMapping:
    doc = json.loads(text)
    doc["state"] = MappingState(doc["state"])
    doc["response_types"] = tuple(doc["response_types"])
    doc["filters"] = tuple(doc["filters"])
    return EventSourceMapping(**doc)


class SqliteMappingStore:
    """Mappings in the state database (WAL, one short transaction per call)."""

    def __init__(self, path: Path) -> None:
        self._db = connect(path)
        self._guard = Guarded(self._db, "event source mapping")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS event_source_mappings ("
            " uuid TEXT PRIMARY KEY, mapping TEXT NOT NULL)"
        )

    def put(self, mapping: EventSourceMapping) -> None:
        with self._guard:
            self._db.execute(
                "INSERT OR REPLACE INTO event_source_mappings VALUES (?, ?)",
                (mapping.uuid, _dump(mapping)),
            )

    def all(self) -> list[EventSourceMapping]:
        with self._guard:
            rows = self._db.execute("SELECT mapping FROM event_source_mappings").fetchall()
        return [_load(r[0]) for r in rows]

    def delete(self, uuid: str) -> None:
        with self._guard:
            self._db.execute("DELETE FROM event_source_mappings WHERE uuid = ?", (uuid,))

    def close(self) -> None:
        self._db.close()
