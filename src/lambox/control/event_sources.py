"""Event source mappings (SQS queues today): Create/Get/List/Update/Delete with AWS's checks
and messages (``event-source-mappings-sqs`` parity snapshot), and their states.

States: a create answers ``Creating`` (or ``Disabled`` when created disabled), an update
``Updating`` / ``Enabling`` / ``Disabling``, a delete ``Deleting``; the pollers are told at
once (``apply``) and the state settles to ``Enabled`` / ``Disabled`` (or the mapping is gone)
on the next turn of the event loop, as AWS's settle a moment later.

The source is checked through ``queue_exists`` and the pollers are driven through ``apply``
and ``remove``: callables wired in ``server.py``, so control knows nothing of SQS or events.
"""

from __future__ import annotations

import asyncio
import base64
import time
import uuid as uuids
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from lambox.arns import Arns
from lambox.control import shapes, tenancy
from lambox.control.functions import FunctionService
from lambox.errors import (
    InvalidParameterValue,
    InvalidPattern,
    LamboxError,
    ResourceConflict,
    ResourceNotFound,
)
from lambox.events.patterns import parse
from lambox.store.event_sources import EventSourceMapping, MappingState, SqliteMappingStore

DEFAULT_MAX_ITEMS = 100
SQS_MAX_BATCH = 10000
_SETTLED = {
    MappingState.CREATING: MappingState.ENABLED,
    MappingState.ENABLING: MappingState.ENABLED,
    MappingState.UPDATING: MappingState.ENABLED,
    MappingState.DISABLING: MappingState.DISABLED,
}


def _not_found() -> ResourceNotFound:
    return ResourceNotFound("The resource you requested does not exist.")


class EventSourceService:
    """The mappings of one server, all in memory, written through to the store."""

    def __init__(
        self,
        store: SqliteMappingStore,
        functions: FunctionService,
        arns: Arns,
        queue_exists: Callable[[str], bool],
        queue_is_fifo: Callable[[str], bool],
        apply: Callable[[EventSourceMapping], None],
        remove: Callable[[str], None],
        role_allows: Callable[[str, str, str], bool] | None = None,
    ) -> None:
        self._store = store
        # (role ARN, action, resource): whether the function's execution role may take the
        # action; Lambda polls a queue as that role, so it must be allowed to
        self._role_allows = role_allows or (lambda _role, _action, _resource: True)
        self._functions = functions
        self._arns = arns
        self._queue_exists = queue_exists
        self._queue_is_fifo = queue_is_fifo
        self._apply = apply
        self._remove = remove
        self._mappings = {m.uuid: m for m in store.all()}

    def restore(self) -> int:
        """Hand every mapping to the pollers (at start-up); transitional states settle."""
        for m in list(self._mappings.values()):
            if m.state is MappingState.DELETING:
                self._store.delete(m.uuid)
                del self._mappings[m.uuid]
                continue
            self._settle(m.uuid)
            self._apply(self._mappings[m.uuid])
        return len(self._mappings)

    def close(self) -> None:
        self._store.close()

    # -- views --------------------------------------------------------------------------

    def view(self, m: EventSourceMapping) -> dict[str, Any]:
        """EventSourceMappingConfiguration as AWS renders it for an SQS source."""
        body: dict[str, Any] = {
            "UUID": m.uuid,
            "BatchSize": m.batch_size,
            "MaximumBatchingWindowInSeconds": m.batching_window,
            "EventSourceArn": m.source_arn,
            "FunctionArn": self._arns.function(m.function, m.qualifier),
            "LastModified": m.last_modified,
            "State": m.state.value,
            "StateTransitionReason": "USER_INITIATED",
            "FunctionResponseTypes": list(m.response_types),
            "EventSourceMappingArn": (
                f"arn:aws:lambda:{self._arns.region}:{self._arns.account_id}"
                f":event-source-mapping:{m.uuid}"
            ),
        }
        if m.filters:
            body["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in m.filters]}
        if m.max_concurrency is not None:
            body["ScalingConfig"] = {"MaximumConcurrency": m.max_concurrency}
        return body

    # -- operations ---------------------------------------------------------------------

    def create(self, params: Mapping[str, Any]) -> EventSourceMapping:
        shapes.validate("CreateEventSourceMapping", params)
        source = params.get("EventSourceArn")
        if not source or not str(source).startswith("arn:aws:sqs:"):
            raise InvalidParameterValue("Unrecognized event source.")
        if params.get("DestinationConfig"):
            raise InvalidParameterValue(
                "Unsupported DestinationConfig parameter for given event source mapping type."
            )
        name, qualifier = self._function(params["FunctionName"])
        tenancy.refuse(self._functions.get(name), tenancy.EVENT_SOURCE_MAPPINGS)
        if not self._queue_exists(source):
            raise InvalidParameterValue(
                "Error occurred while ReceiveMessage. SQS Error Code:"
                " AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified"
                " queue does not exist."
            )
        role = self._functions.get(name).role
        for action in ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes"):
            if not self._role_allows(role, f"sqs:{action}", str(source)):
                raise InvalidParameterValue(
                    f"The provided execution role does not have permissions to call {action} on SQS"
                )
        for other in self._mappings.values():
            if other.source_arn == source and other.function == name:
                raise ResourceConflict(
                    f'An event source mapping with SQS arn (" {source} ") and function'
                    f' (" {name} ") already exists. Please update or delete the existing'
                    f" mapping with UUID {other.uuid}"
                )
        enabled = params.get("Enabled", True)
        mapping = EventSourceMapping(
            uuid=str(uuids.uuid4()),
            source_arn=source,
            function=name,
            qualifier=qualifier,
            batch_size=params.get("BatchSize", 10),
            batching_window=params.get("MaximumBatchingWindowInSeconds", 0),
            enabled=enabled,
            state=MappingState.CREATING if enabled else MappingState.DISABLED,
            last_modified=time.time(),
            response_types=tuple(params.get("FunctionResponseTypes") or ()),
            filters=self._filters(params.get("FilterCriteria")),
            max_concurrency=(params.get("ScalingConfig") or {}).get("MaximumConcurrency"),
        )
        self._check_batching(mapping)
        return self._save(mapping)

    def get(self, uuid: str) -> EventSourceMapping:
        mapping = self._mappings.get(uuid)
        if mapping is None:
            raise _not_found()
        return mapping

    def list_page(
        self,
        function_name: str | None,
        source_arn: str | None,
        marker: str | None,
        max_items: int | None,
    ) -> tuple[list[EventSourceMapping], str | None]:
        chosen = sorted(self._mappings.values(), key=lambda m: (m.last_modified, m.uuid))
        if function_name:
            name, qualifier = self._arns.parse(function_name)
            chosen = [m for m in chosen if m.function == name and m.qualifier == qualifier]
        if source_arn:
            chosen = [m for m in chosen if m.source_arn == source_arn]
        start = 0
        if marker:
            try:
                start = int(base64.b64decode(marker).decode())
            except ValueError:
                raise InvalidParameterValue("Invalid marker.") from None
        size = max_items or DEFAULT_MAX_ITEMS
        page = chosen[start : start + size]
        more = start + size < len(chosen)
        return page, base64.b64encode(str(start + size).encode()).decode() if more else None

    def update(self, uuid: str, params: Mapping[str, Any]) -> EventSourceMapping:
        shapes.validate("UpdateEventSourceMapping", {**params, "UUID": uuid})
        current = self.get(uuid)
        if params.get("DestinationConfig"):
            raise InvalidParameterValue(
                "Unsupported DestinationConfig parameter for given event source mapping type."
            )
        name, qualifier = current.function, current.qualifier
        if params.get("FunctionName"):
            name, qualifier = self._function(params["FunctionName"])
            tenancy.refuse(self._functions.get(name), tenancy.EVENT_SOURCE_MAPPINGS)
        enabled = params.get("Enabled", current.enabled)
        if enabled and not current.enabled:
            state = MappingState.ENABLING
        elif not enabled and current.enabled:
            state = MappingState.DISABLING
        else:
            state = MappingState.UPDATING if enabled else MappingState.DISABLED
        scaling = params.get("ScalingConfig")
        updated = replace(
            current,
            function=name,
            qualifier=qualifier,
            batch_size=params.get("BatchSize", current.batch_size),
            batching_window=params.get("MaximumBatchingWindowInSeconds", current.batching_window),
            enabled=enabled,
            state=state,
            last_modified=time.time(),
            response_types=tuple(params.get("FunctionResponseTypes", current.response_types)),
            filters=(
                self._filters(params["FilterCriteria"])
                if "FilterCriteria" in params
                else current.filters
            ),
            max_concurrency=(
                scaling.get("MaximumConcurrency")
                if scaling is not None
                else current.max_concurrency
            ),
        )
        self._check_batching(updated)
        return self._save(updated)

    def delete(self, uuid: str) -> EventSourceMapping:
        mapping = replace(self.get(uuid), state=MappingState.DELETING)
        self._mappings[uuid] = mapping
        self._store.put(mapping)
        self._remove(uuid)
        self._later(lambda: self._forget(uuid))
        return mapping

    # -- helpers ------------------------------------------------------------------------

    def _function(self, function_name: str) -> tuple[str, str | None]:
        try:
            name, qualifier = self._arns.parse(function_name)
            self._functions.get(name)
        except LamboxError:
            raise InvalidParameterValue("Function does not exist") from None
        return name, qualifier

    def _filters(self, criteria: Any) -> tuple[str, ...]:
        filters = (criteria or {}).get("Filters") or []
        patterns = []
        for item in filters:
            text = item.get("Pattern")
            try:
                parse(text if text is not None else "null")
            except InvalidPattern:
                raise InvalidParameterValue("Invalid filter pattern definition.") from None
            patterns.append(text)
        return tuple(patterns)

    def _check_batching(self, m: EventSourceMapping) -> None:
        if m.batch_size > 10 and m.batching_window == 0:
            raise InvalidParameterValue(
                "Maximum batch window in seconds must be greater than 0 if maximum batch size"
                " is greater than 10"
            )
        if not 1 <= m.batch_size <= SQS_MAX_BATCH:
            raise InvalidParameterValue(
                f"BatchSize must be between 1 and {SQS_MAX_BATCH} for SQS event sources."
            )
        if self._queue_is_fifo(m.source_arn) and m.batch_size > 10:
            raise InvalidParameterValue(
                "Batch size for FIFO queues must be less than or equal to 10."
            )

    def _save(self, mapping: EventSourceMapping) -> EventSourceMapping:
        self._mappings[mapping.uuid] = mapping
        self._store.put(mapping)
        self._apply(mapping)
        if mapping.state in _SETTLED:
            self._later(lambda: self._settle(mapping.uuid))
        return mapping

    def _settle(self, uuid: str) -> None:
        mapping = self._mappings.get(uuid)
        if mapping is None or mapping.state not in _SETTLED:
            return
        settled = replace(mapping, state=_SETTLED[mapping.state])
        self._mappings[uuid] = settled
        self._store.put(settled)

    def _forget(self, uuid: str) -> None:
        if uuid in self._mappings:
            del self._mappings[uuid]
            self._store.delete(uuid)

    @staticmethod
    def _later(action: Callable[[], None]) -> None:
        try:
            asyncio.get_running_loop().call_later(0.05, action)
        except RuntimeError:  # no loop (a unit test): settle at once
            action()
