"""The resources a SAM ``SQS`` event (and an S3 event's permission) expands to, as rows of
the operation table (``service_resources``): AWS::SQS::Queue, AWS::Lambda::EventSourceMapping
and AWS::Lambda::Permission, each through SQS's and Lambda's own operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambox.services.cloudformation.resources import Provisioned
from lambox.services.cloudformation.service_resources import Call, Kind, pick, text

# -- AWS::SQS::Queue: Ref is the queue URL; Arn, QueueName and QueueUrl are attributes -----

_NOT_ATTRIBUTES = frozenset({"QueueName", "Tags"})


def _queue_attributes(props: Mapping[str, Any]) -> dict[str, str]:
    """Every other property is one of SQS's attributes (policies as JSON, booleans
    lower-case)."""
    return {k: text(v) for k, v in props.items() if k not in _NOT_ATTRIBUTES}


def _fifo_suffix(props: Mapping[str, Any]) -> str:
    return ".fifo" if text(props.get("FifoQueue", False)) == "true" else ""


async def _queue_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    params = {"QueueName": name, "Attributes": _queue_attributes(props)}
    url = str((await call("sqs", "CreateQueue", params))["QueueUrl"])
    got = await call("sqs", "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["QueueArn"]})
    arn = str(got["Attributes"]["QueueArn"])
    return Provisioned(url, url, {"Arn": arn, "QueueName": name, "QueueUrl": url})


async def _queue_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    params = {"QueueUrl": current.physical_id, "Attributes": _queue_attributes(props)}
    await call("sqs", "SetQueueAttributes", params)
    return current


async def _queue_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("sqs", "DeleteQueue", {"QueueUrl": current.physical_id})


QUEUE = Kind(
    _queue_create,
    _queue_delete,
    _queue_update,
    frozenset({"QueueName", "FifoQueue"}),
    name="QueueName",
    limit=80,
    suffix=_fifo_suffix,
)


# -- AWS::Lambda::EventSourceMapping (SQS sources): Ref is the mapping's UUID --------------

_MAPPING_MEMBERS = (
    "FunctionName",
    "BatchSize",
    "Enabled",
    "MaximumBatchingWindowInSeconds",
    "FunctionResponseTypes",
    "FilterCriteria",
    "ScalingConfig",
)


async def _mapping_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    params = {"EventSourceArn": props.get("EventSourceArn"), **pick(props, *_MAPPING_MEMBERS)}
    view = await call("lambda", "CreateEventSourceMapping", params)
    uuid = str(view["UUID"])
    arn = str(view.get("EventSourceMappingArn", ""))
    return Provisioned(uuid, uuid, {"Id": uuid, "EventSourceMappingArn": arn})


async def _mapping_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    params = {"UUID": current.physical_id, **pick(props, *_MAPPING_MEMBERS)}
    await call("lambda", "UpdateEventSourceMapping", params)
    return current


async def _mapping_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("lambda", "DeleteEventSourceMapping", {"UUID": current.physical_id})


EVENT_SOURCE_MAPPING = Kind(
    _mapping_create,
    _mapping_delete,
    _mapping_update,
    frozenset({"EventSourceArn", "StartingPosition", "StartingPositionTimestamp"}),
)


# -- AWS::Lambda::Permission: one statement of the function's resource policy, under a
# generated statement id; every property change replaces it, as on AWS ----------------------

_PERMISSION_MEMBERS = (
    "Action",
    "Principal",
    "SourceArn",
    "SourceAccount",
    "EventSourceToken",
    "FunctionUrlAuthType",
    "PrincipalOrgID",
)


async def _permission_create(call: Call, sid: str, props: Mapping[str, Any]) -> Provisioned:
    function = str(props["FunctionName"])
    params = {"FunctionName": function, "StatementId": sid, **pick(props, *_PERMISSION_MEMBERS)}
    await call("lambda", "AddPermission", params)
    return Provisioned(f"{function}|{sid}", sid, {})


async def _permission_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    function, _, sid = current.physical_id.rpartition("|")
    await call("lambda", "RemovePermission", {"FunctionName": function, "StatementId": sid})


PERMISSION = Kind(
    _permission_create,
    _permission_delete,
    replaces=frozenset({"FunctionName", *_PERMISSION_MEMBERS}),
    limit=100,
)
