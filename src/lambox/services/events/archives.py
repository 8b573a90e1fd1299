"""EventBridge archives and replays.

An archive keeps the events put on one bus (those its EventPattern matches, or all) in the
EventBridge store, written in PutEvents' own transaction with the deliveries. A replay sends
an archive's events of a time range back to the rules of a bus (or only the rules its
``FilterArns`` name), each event carrying ``replay-name`` as AWS's replayed events do,
through the same outbox as PutEvents. A replay runs in the background once StartReplay is
answered (``STARTING``, then ``RUNNING`` and ``COMPLETED``); CancelReplay stops one that has
not finished. RetentionDays is stored and shown; archived events are not expired yet.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from collections.abc import Callable, Sequence
from typing import Any

from lambox.errors import ServiceFault
from lambox.events import patterns
from lambox.services.events.store import EventsStore

# (bus, event, rule ARNs allowed or None) -> outbox records the event causes
Deliveries = Callable[[str, dict[str, Any], set[str] | None], list[tuple[str, bytes, str | None]]]
FINISHED = ("COMPLETED", "CANCELLED", "FAILED")


def _not_found(message: str) -> ServiceFault:
    return ServiceFault("ResourceNotFoundException", message)


def _time(epoch: float | None) -> dt.datetime | None:
    return None if epoch is None else dt.datetime.fromtimestamp(epoch, dt.UTC)


def _epoch(value: Any) -> float:
    if isinstance(value, dt.datetime):
        return value.timestamp()
    return float(value)


def with_replay_name(event: dict[str, Any], name: str) -> dict[str, Any]:
    """The event as a replay sends it: ``replay-name`` right after ``region``."""
    out: dict[str, Any] = {}
    for key, value in event.items():
        out[key] = value
        if key == "region":
            out["replay-name"] = name
    out.setdefault("replay-name", name)
    return out


class Archives:
    """The archive and replay operations of one EventBridge service."""

    def __init__(
        self,
        store: EventsStore,
        region: str,
        account: str,
        bus_of: Callable[[dict[str, Any]], str],
        bus_exists: Callable[[str], bool],
        deliveries: Deliveries,
        kick: Callable[[], None],
    ) -> None:
        self._store = store
        self._region = region
        self._account = account
        self._bus_of = bus_of
        self._bus_exists = bus_exists
        self._deliveries = deliveries
        self._kick = kick
        self._by_bus: dict[str, list[tuple[str, patterns.Pattern | None]]] = {}
        self._load()
        self._tasks: set[asyncio.Task[None]] = set()

    def _load(self) -> None:
        self._by_bus.clear()
        for row in self._store.archives():
            if row["state"] != "ENABLED":
                continue
            pattern = patterns.parse(row["pattern"]) if row["pattern"] else None
            self._by_bus.setdefault(row["bus"], []).append((row["name"], pattern))

    def arn(self, kind: str, name: str) -> str:
        return f"arn:aws:events:{self._region}:{self._account}:{kind}/{name}"

    def _bus_arn(self, bus: str) -> str:
        return self.arn("event-bus", bus)

    # -- archiving (PutEvents) --------------------------------------------------------------

    def archiving(
        self, bus: str, event: dict[str, Any], now: float
    ) -> list[tuple[str, float, str]]:
        """The archive rows ``event`` put on ``bus`` adds."""
        archives = self._by_bus.get(bus)
        if not archives:
            return []
        text = json.dumps(event)
        return [
            (name, now, text)
            for name, pattern in archives
            if pattern is None or pattern.matches_event(event)
        ]

    # -- archives ---------------------------------------------------------------------------

    def _archive(self, name: str) -> dict[str, Any]:
        row = self._store.archive(name)
        if row is None:
            raise _not_found(f"Archive {name} does not exist.")
        return row

    def _source_bus(self, arn: str) -> str:
        bus = self._bus_of({"EventBusName": arn})
        if not self._bus_exists(bus):
            raise _not_found(f"Event bus {bus} does not exist.")
        return bus

    def create_archive(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["ArchiveName"])
        bus = self._source_bus(str(params["EventSourceArn"]))
        pattern = params.get("EventPattern")
        if pattern:
            patterns.parse(str(pattern))
        created = time.time()
        row: dict[str, Any] = {
            "name": name,
            "bus": bus,
            "pattern": str(pattern) if pattern else None,
            "description": params.get("Description"),
            "retention": int(params.get("RetentionDays") or 0),
            "created": created,
            "state": "ENABLED",
        }
        if not self._store.add_archive(row):
            raise ServiceFault("ResourceAlreadyExistsException", f"Archive {name} already exists.")
        self._load()
        return {
            "ArchiveArn": self.arn("archive", name),
            "State": "ENABLED",
            "CreationTime": _time(created),
        }

    def _listed(self, row: dict[str, Any]) -> dict[str, Any]:
        count, size = self._store.archive_size(row["name"])
        return {
            "ArchiveName": row["name"],
            "EventSourceArn": self._bus_arn(row["bus"]),
            "State": row["state"],
            "RetentionDays": row["retention"],
            "SizeBytes": size,
            "EventCount": count,
            "CreationTime": _time(row["created"]),
        }

    def describe_archive(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._archive(str(params["ArchiveName"]))
        doc = {"ArchiveArn": self.arn("archive", row["name"]), **self._listed(row)}
        if row["description"]:
            doc["Description"] = row["description"]
        if row["pattern"]:
            doc["EventPattern"] = row["pattern"]
        return doc

    def list_archives(self, params: dict[str, Any]) -> dict[str, Any]:
        rows = self._store.archives()
        if params.get("EventSourceArn"):
            bus = self._source_bus(str(params["EventSourceArn"]))
            rows = [r for r in rows if r["bus"] == bus]
        prefix = str(params.get("NamePrefix") or "")
        rows = [r for r in rows if r["name"].startswith(prefix)]
        if params.get("State"):
            rows = [r for r in rows if r["state"] == params["State"]]
        return {"Archives": [self._listed(r) for r in rows]}

    def update_archive(self, params: dict[str, Any]) -> dict[str, Any]:
        changes = {
            k: params[k] for k in ("EventPattern", "RetentionDays", "Description") if k in params
        }
        if not changes:
            raise ServiceFault(
                "ValidationException",
                "At least one of EventPattern, RetentionDays or Description must be provided.",
            )
        row = self._archive(str(params["ArchiveName"]))
        if changes.get("EventPattern"):
            patterns.parse(str(changes["EventPattern"]))
            row["pattern"] = str(changes["EventPattern"])
        if "RetentionDays" in changes:
            row["retention"] = int(changes["RetentionDays"] or 0)
        if "Description" in changes:
            row["description"] = changes["Description"]
        self._store.put_archive(row)
        self._load()
        return {
            "ArchiveArn": self.arn("archive", row["name"]),
            "State": row["state"],
            "CreationTime": _time(row["created"]),
        }

    def delete_archive(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._archive(str(params["ArchiveName"]))
        self._store.remove_archive(row["name"])
        self._load()
        return {}

    # -- replays ----------------------------------------------------------------------------

    def _replay(self, name: str) -> dict[str, Any]:
        row = self._store.replay(name)
        if row is None:
            raise _not_found(f"Replay {name} does not exist.")
        return row

    def start_replay(self, params: dict[str, Any]) -> dict[str, Any]:
        name = str(params["ReplayName"])
        source = str(params["EventSourceArn"])
        archive_name = source.rsplit("/", 1)[-1]
        if self._store.archive(archive_name) is None:
            raise ServiceFault(
                "ValidationException",
                f"Parameter EventSourceArn is not valid. Reason: Archive {archive_name} does not"
                " exist.",
            )
        start, end = _epoch(params["EventStartTime"]), _epoch(params["EventEndTime"])
        if start >= end:
            raise ServiceFault(
                "ValidationException",
                "Parameter EventEndTime is not valid. Reason: EventStartTime must be before"
                " EventEndTime.",
            )
        destination = dict(params.get("Destination") or {})
        self._source_bus(str(destination.get("Arn") or ""))
        row: dict[str, Any] = {
            "name": name,
            "archive": archive_name,
            "description": params.get("Description"),
            "destination": destination,
            "start": start,
            "end": end,
            "state": "STARTING",
            "started": time.time(),
            "ended": None,
            "last": None,
        }
        if not self._store.add_replay(row):
            raise ServiceFault("ResourceAlreadyExistsException", f"Replay {name} already exists.")
        task = asyncio.get_running_loop().create_task(self._run(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {
            "ReplayArn": self.arn("replay", name),
            "State": "STARTING",
            "ReplayStartTime": _time(row["started"]),
        }

    async def _run(self, name: str) -> None:
        await asyncio.sleep(0)  # StartReplay is answered first
        row = self._replay(name)
        if row["state"] == "CANCELLING":
            self._set(row, state="CANCELLED", ended=time.time())
        if row["state"] != "STARTING":
            return
        self._set(row, state="RUNNING")
        bus = self._bus_of({"EventBusName": row["destination"]["Arn"]})
        allowed = set(row["destination"].get("FilterArns") or []) or None
        last = None
        for stamp, text in self._store.archived(row["archive"], row["start"], row["end"]):
            if self._replay(name)["state"] != "RUNNING":
                self._set(self._replay(name), state="CANCELLED", ended=time.time())
                return
            event = with_replay_name(json.loads(text), name)
            records = self._deliveries(bus, event, allowed)
            if records:
                self._store.enqueue(records)
                self._kick()
            last = stamp
            await asyncio.sleep(0)
        self._set(self._replay(name), state="COMPLETED", ended=time.time(), last=last)

    def _set(self, row: dict[str, Any], **changes: Any) -> None:
        row.update(changes)
        self._store.put_replay(row)

    def _replay_doc(self, row: dict[str, Any], full: bool) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "ReplayName": row["name"],
            "EventSourceArn": self.arn("archive", row["archive"]),
            "State": row["state"],
            "EventStartTime": _time(row["start"]),
            "EventEndTime": _time(row["end"]),
            "ReplayStartTime": _time(row["started"]),
        }
        if row["last"] is not None:
            doc["EventLastReplayedTime"] = _time(row["last"])
        if row["ended"] is not None:
            doc["ReplayEndTime"] = _time(row["ended"])
        if full:
            doc["ReplayArn"] = self.arn("replay", row["name"])
            doc["Destination"] = row["destination"]
            if row["description"]:
                doc["Description"] = row["description"]
        return doc

    def describe_replay(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._replay_doc(self._replay(str(params["ReplayName"])), True)

    def list_replays(self, params: dict[str, Any]) -> dict[str, Any]:
        rows: Sequence[dict[str, Any]] = self._store.replays()
        prefix = str(params.get("NamePrefix") or "")
        rows = [r for r in rows if r["name"].startswith(prefix)]
        if params.get("State"):
            rows = [r for r in rows if r["state"] == params["State"]]
        if params.get("EventSourceArn"):
            archive = str(params["EventSourceArn"]).rsplit("/", 1)[-1]
            rows = [r for r in rows if r["archive"] == archive]
        start = int(params.get("NextToken") or 0)
        limit = int(params.get("Limit") or 50)
        page = [self._replay_doc(r, False) for r in rows[start : start + limit]]
        answer: dict[str, Any] = {"Replays": page}
        if start + limit < len(rows):
            answer["NextToken"] = str(start + limit)
        return answer

    def cancel_replay(self, params: dict[str, Any]) -> dict[str, Any]:
        row = self._replay(str(params["ReplayName"]))
        if row["state"] in FINISHED or row["state"] == "CANCELLING":
            raise ServiceFault(
                "IllegalStatusException",
                f"Replay {row['name']} is not in a valid state for this operation.",
            )
        self._set(row, state="CANCELLING")
        return {"ReplayArn": self.arn("replay", row["name"]), "State": "CANCELLING"}

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
