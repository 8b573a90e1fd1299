"""Resource types that map onto one lambox service's own operations, as a table.

Each row (``Kind``) says how a resource is created, updated and deleted through a ``Call``
(service, operation, parameters) that ``server.py``'s wiring routes to the service's
``operations`` map, so these handlers use the very code paths the service's API uses. The
parameters are coerced to the service's botocore model first, as CloudFormation passes
template strings ("7", "true") as numbers and booleans. Properties in ``replaces`` replace
the resource; the others update in place (or, for kinds without an update, every property
replaces, as AWS does for those types).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambox.services.cloudformation.resources import Provisioned, physical_name

# (service, operation, params) -> the operation's answer
Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
Create = Callable[[Call, str, Mapping[str, Any]], Awaitable[Provisioned]]
Update = Callable[[Call, Provisioned, Mapping[str, Any], Mapping[str, Any]], Awaitable[Provisioned]]
Delete = Callable[[Call, Provisioned, Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Kind:
    """One resource type: its create, update (None: every property replaces) and delete,
    and the property that names it (a generated stack-Logical-RANDOM name when absent)."""

    create: Create
    delete: Delete
    update: Update | None = None
    replaces: frozenset[str] = frozenset()
    name: str | None = None
    limit: int = 64


class TableHandler:
    """A ``Handler`` made of a ``Kind`` and the call into services."""

    def __init__(self, kind: Kind, call: Call) -> None:
        self._kind = kind
        self._call = call
        self.replaces = kind.replaces

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        name = props.get(self._kind.name) if self._kind.name else None
        if not name:
            name = physical_name(stack, logical_id, self._kind.limit)
        return await self._kind.create(self._call, str(name), props)

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned:
        if self._kind.update is None:
            return current
        return await self._kind.update(self._call, current, old, props)

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None:
        await self._kind.delete(self._call, current, props)


def _pick(props: Mapping[str, Any], *members: str) -> dict[str, Any]:
    return {k: props[k] for k in members if k in props}


def _text(value: Any) -> str:
    """A property as an attribute's or document's text (JSON for objects)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


# -- AWS::Lambda::Url -----------------------------------------------------------------------

_URL_MEMBERS = ("AuthType", "Cors", "InvokeMode")


async def _url_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    target = str(props["TargetFunctionArn"])
    params = {"FunctionName": target, **_pick(props, "Qualifier", *_URL_MEMBERS)}
    got = await call("lambda", "CreateFunctionUrlConfig", params)
    arn = str(got["FunctionArn"])
    ident = f"{target}|{props.get('Qualifier') or ''}"
    return Provisioned(ident, arn, {"FunctionArn": arn, "FunctionUrl": got["FunctionUrl"]})


def _url_key(current: Provisioned) -> dict[str, Any]:
    target, _, qualifier = current.physical_id.rpartition("|")
    return {"FunctionName": target, **({"Qualifier": qualifier} if qualifier else {})}


async def _url_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    await call(
        "lambda", "UpdateFunctionUrlConfig", {**_url_key(current), **_pick(props, *_URL_MEMBERS)}
    )
    return current


async def _url_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("lambda", "DeleteFunctionUrlConfig", _url_key(current))


URL = Kind(_url_create, _url_delete, _url_update, frozenset({"TargetFunctionArn", "Qualifier"}))


# -- AWS::SNS::Topic and AWS::SNS::Subscription --------------------------------------------

_TOPIC_ATTRIBUTES = (
    "DisplayName",
    "FifoTopic",
    "ContentBasedDeduplication",
    "KmsMasterKeyId",
    "DeliveryStatusLogging",
    "SignatureVersion",
    "TracingConfig",
    "ArchivePolicy",
)
_SETTABLE_TOPIC = ("DisplayName", "ContentBasedDeduplication", "KmsMasterKeyId", "SignatureVersion")


def _endpoints(props: Mapping[str, Any]) -> set[tuple[str, str]]:
    return {(str(s["Protocol"]), str(s["Endpoint"])) for s in props.get("Subscription") or []}


async def _subscribe(call: Call, topic: str, wanted: set[tuple[str, str]]) -> None:
    for protocol, endpoint in sorted(wanted):
        params = {"TopicArn": topic, "Protocol": protocol, "Endpoint": endpoint}
        await call("sns", "Subscribe", {**params, "ReturnSubscriptionArn": True})


async def _topic_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    fifo = _text(props.get("FifoTopic", False)) == "true"
    if fifo and not name.endswith(".fifo"):
        name = name[:251] + ".fifo"
    attributes = {k: _text(props[k]) for k in _TOPIC_ATTRIBUTES if k in props}
    params: dict[str, Any] = {"Name": name, "Attributes": attributes}
    if props.get("Tags"):
        params["Tags"] = props["Tags"]
    arn = str((await call("sns", "CreateTopic", params))["TopicArn"])
    await _subscribe(call, arn, _endpoints(props))
    return Provisioned(arn, arn, {"TopicArn": arn, "TopicName": name})


async def _topic_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    topic = current.physical_id
    for key in _SETTABLE_TOPIC:
        if old.get(key) != props.get(key):
            value = _text(props[key]) if key in props else ""
            params = {"TopicArn": topic, "AttributeName": key, "AttributeValue": value}
            await call("sns", "SetTopicAttributes", params)
    before, after = _endpoints(old), _endpoints(props)
    if before != after:
        listed = await call("sns", "ListSubscriptionsByTopic", {"TopicArn": topic})
        for sub in listed.get("Subscriptions") or []:
            if (sub["Protocol"], sub["Endpoint"]) in before - after:
                await call("sns", "Unsubscribe", {"SubscriptionArn": sub["SubscriptionArn"]})
        await _subscribe(call, topic, after - before)
    return current


async def _topic_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    listed = await call("sns", "ListSubscriptionsByTopic", {"TopicArn": current.physical_id})
    for sub in listed.get("Subscriptions") or []:
        await call("sns", "Unsubscribe", {"SubscriptionArn": sub["SubscriptionArn"]})
    await call("sns", "DeleteTopic", {"TopicArn": current.physical_id})


TOPIC = Kind(
    _topic_create,
    _topic_delete,
    _topic_update,
    frozenset({"TopicName", "FifoTopic"}),
    name="TopicName",
    limit=256,
)

_SUBSCRIPTION_ATTRIBUTES = (
    "DeliveryPolicy",
    "FilterPolicy",
    "FilterPolicyScope",
    "RawMessageDelivery",
    "RedrivePolicy",
    "SubscriptionRoleArn",
    "ReplayPolicy",
)


async def _subscription_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    attributes = {k: _text(props[k]) for k in _SUBSCRIPTION_ATTRIBUTES if k in props}
    params = {
        **_pick(props, "TopicArn", "Protocol", "Endpoint"),
        "Attributes": attributes,
        "ReturnSubscriptionArn": True,
    }
    arn = str((await call("sns", "Subscribe", params))["SubscriptionArn"])
    return Provisioned(arn, arn, {"Arn": arn})


async def _subscription_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    for key in _SUBSCRIPTION_ATTRIBUTES:
        if old.get(key) != props.get(key):
            value = _text(props[key]) if key in props else ""
            params = {"SubscriptionArn": current.physical_id, "AttributeName": key}
            await call("sns", "SetSubscriptionAttributes", {**params, "AttributeValue": value})
    return current


async def _subscription_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("sns", "Unsubscribe", {"SubscriptionArn": current.physical_id})


SUBSCRIPTION = Kind(
    _subscription_create,
    _subscription_delete,
    _subscription_update,
    frozenset({"TopicArn", "Protocol", "Endpoint", "Region"}),
)
