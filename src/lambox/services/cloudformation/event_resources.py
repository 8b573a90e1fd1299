"""The resources a SAM ``SQS`` event (and an S3 event's permission) expands to:
AWS::SQS::Queue, AWS::Lambda::EventSourceMapping and AWS::Lambda::Permission.

Like the other handlers they reach lambox's services only through the callables
``server.py`` passes in (``EventCalls``), with the services' own request shapes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambox.services.cloudformation.resources import Provisioned, _lambda_input, physical_name

QUEUE_NAME_LIMIT = 80
_NOT_ATTRIBUTES = frozenset({"QueueName", "Tags"})


@dataclass(frozen=True)
class EventCalls:
    """SQS queues, event source mappings and function permissions as the engine uses them."""

    # (name, attributes) -> (queue URL, queue ARN)
    create_queue: Callable[[str, dict[str, str]], Awaitable[tuple[str, str]]]
    set_queue_attributes: Callable[[str, dict[str, str]], Awaitable[None]]
    delete_queue: Callable[[str], Awaitable[None]]
    create_mapping: Callable[[dict[str, Any]], dict[str, Any]]
    update_mapping: Callable[[str, dict[str, Any]], dict[str, Any]]
    delete_mapping: Callable[[str], None]
    add_permission: Callable[[str, dict[str, Any]], None]
    remove_permission: Callable[[str, str], None]


def _attribute(value: Any) -> str:
    """A queue property as SQS's attribute text (policies as JSON, booleans lower-case)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def _queue_attributes(props: Mapping[str, Any]) -> dict[str, str]:
    return {k: _attribute(v) for k, v in props.items() if k not in _NOT_ATTRIBUTES}


class QueueHandler:
    """AWS::SQS::Queue: Ref is the queue URL; Arn, QueueName and QueueUrl are attributes."""

    replaces = frozenset({"QueueName", "FifoQueue"})

    def __init__(self, calls: EventCalls) -> None:
        self._calls = calls

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        fifo = _attribute(props.get("FifoQueue", False)) == "true"
        name = props.get("QueueName")
        if not name:
            limit = QUEUE_NAME_LIMIT - (5 if fifo else 0)
            name = physical_name(stack, logical_id, limit) + (".fifo" if fifo else "")
        url, arn = await self._calls.create_queue(str(name), _queue_attributes(props))
        return Provisioned(url, url, {"Arn": arn, "QueueName": str(name), "QueueUrl": url})

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned:
        await self._calls.set_queue_attributes(current.physical_id, _queue_attributes(props))
        return current

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None:
        await self._calls.delete_queue(current.physical_id)


_MAPPING_MEMBERS = (
    "FunctionName",
    "BatchSize",
    "Enabled",
    "MaximumBatchingWindowInSeconds",
    "FunctionResponseTypes",
    "FilterCriteria",
    "ScalingConfig",
)


class EventSourceMappingHandler:
    """AWS::Lambda::EventSourceMapping (SQS sources): Ref is the mapping's UUID."""

    replaces = frozenset({"EventSourceArn", "StartingPosition", "StartingPositionTimestamp"})

    def __init__(self, calls: EventCalls) -> None:
        self._calls = calls

    @staticmethod
    def _params(props: Mapping[str, Any]) -> dict[str, Any]:
        return {k: props[k] for k in _MAPPING_MEMBERS if k in props}

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        params = {"EventSourceArn": props.get("EventSourceArn"), **self._params(props)}
        view = self._calls.create_mapping(_lambda_input("CreateEventSourceMapping", params))
        uuid = str(view["UUID"])
        arn = str(view.get("EventSourceMappingArn", ""))
        return Provisioned(uuid, uuid, {"Id": uuid, "EventSourceMappingArn": arn})

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned:
        params = _lambda_input("UpdateEventSourceMapping", self._params(props))
        self._calls.update_mapping(current.physical_id, params)
        return current

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None:
        self._calls.delete_mapping(current.physical_id)


_PERMISSION_MEMBERS = (
    "Action",
    "Principal",
    "SourceArn",
    "SourceAccount",
    "EventSourceToken",
    "FunctionUrlAuthType",
    "PrincipalOrgID",
)


class PermissionHandler:
    """AWS::Lambda::Permission: one statement of the function's resource policy, under a
    generated statement id; every property change replaces it, as on AWS."""

    replaces = frozenset({"FunctionName", *_PERMISSION_MEMBERS})

    def __init__(self, calls: EventCalls) -> None:
        self._calls = calls

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        sid = physical_name(stack, logical_id, 100)
        params = {"StatementId": sid, **{k: props[k] for k in _PERMISSION_MEMBERS if k in props}}
        function = str(props["FunctionName"])
        self._calls.add_permission(function, _lambda_input("AddPermission", params))
        return Provisioned(f"{function}|{sid}", sid, {})

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned:
        return current

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None:
        function, _, sid = current.physical_id.rpartition("|")
        self._calls.remove_permission(function, sid)
