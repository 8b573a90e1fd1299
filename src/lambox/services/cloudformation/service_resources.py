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

import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.cloudformation.resources import Provisioned, physical_name

log = logging.getLogger(__name__)

# (service, operation, params) -> the operation's answer
Call = Callable[[str, str, dict[str, Any]], Awaitable[dict[str, Any]]]
Create = Callable[[Call, str, Mapping[str, Any]], Awaitable[Provisioned]]
Update = Callable[[Call, Provisioned, Mapping[str, Any], Mapping[str, Any]], Awaitable[Provisioned]]
Delete = Callable[[Call, Provisioned, Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class Kind:
    """One resource type: its create, update (None: every property replaces) and delete,
    and the property that names it (a generated stack-Logical-RANDOM name when absent, of
    at most ``limit`` characters, ending in ``suffix(props)``: a FIFO queue's ".fifo")."""

    create: Create
    delete: Delete
    update: Update | None = None
    replaces: frozenset[str] = frozenset()
    name: str | None = None
    limit: int = 64
    suffix: Callable[[Mapping[str, Any]], str] | None = None


class TableHandler:
    """A ``Handler`` made of a ``Kind`` and the call into services."""

    def __init__(self, kind: Kind, call: Call) -> None:
        self._kind = kind
        self._call = call
        self.replaces = kind.replaces

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        name = props.get(self._kind.name) if self._kind.name else None
        if not name:
            end = self._kind.suffix(props) if self._kind.suffix else ""
            name = physical_name(stack, logical_id, self._kind.limit - len(end)) + end
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


async def forget(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    """A delete with nothing to do: the resource goes with another (an HTTP API's stage
    with its API) or was only recorded with the stack."""


def pick(props: Mapping[str, Any], *members: str) -> dict[str, Any]:
    """The members of ``props`` a call passes on as they are."""
    return {k: props[k] for k in members if k in props}


def text(value: Any) -> str:
    """A property as an attribute's or document's text (JSON for objects)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value) if isinstance(value, (dict, list)) else str(value)


# -- AWS::Lambda::Url -----------------------------------------------------------------------

_URL_MEMBERS = ("AuthType", "Cors", "InvokeMode")


async def _url_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    target = str(props["TargetFunctionArn"])
    params = {"FunctionName": target, **pick(props, "Qualifier", *_URL_MEMBERS)}
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
        "lambda", "UpdateFunctionUrlConfig", {**_url_key(current), **pick(props, *_URL_MEMBERS)}
    )
    return current


async def _url_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("lambda", "DeleteFunctionUrlConfig", _url_key(current))


URL = Kind(_url_create, _url_delete, _url_update, frozenset({"TargetFunctionArn", "Qualifier"}))


# -- AWS::S3::Bucket, with its NotificationConfiguration's Lambda configurations ---------


def _notification(props: Mapping[str, Any]) -> dict[str, Any]:
    config = props.get("NotificationConfiguration") or {}
    unsupported = [k for k in config if k != "LambdaConfigurations"]
    if unsupported:
        raise ServiceFault(
            "ValidationError",
            f"lambox does not serve bucket notifications to {unsupported[0]} yet",
            400,
        )
    rules = []
    for rule in config.get("LambdaConfigurations") or []:
        out: dict[str, Any] = {"LambdaFunctionArn": rule["Function"], "Events": [rule["Event"]]}
        key_filter = (rule.get("Filter") or {}).get("S3Key")
        if key_filter:
            out["Filter"] = {"Key": {"FilterRules": key_filter.get("Rules") or []}}
        rules.append(out)
    return {"LambdaFunctionConfigurations": rules} if rules else {}


async def _notify(call: Call, name: str, props: Mapping[str, Any]) -> None:
    params = {"Bucket": name, "NotificationConfiguration": _notification(props)}
    await call("s3", "PutBucketNotificationConfiguration", params)


async def _bucket_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    await _notify(call, current.physical_id, props)
    return current


async def _bucket_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("s3", "DeleteBucket", {"Bucket": current.physical_id})


def bucket(region: str) -> Kind:
    """The bucket row of a server in ``region`` (its RegionalDomainName)."""

    async def create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
        if not props.get("BucketName"):
            name = name.lower()  # a generated name, as S3 takes it
        await call("s3", "CreateBucket", {"Bucket": name})
        if _notification(props):
            try:
                await _notify(call, name, props)
            except Exception:
                await call("s3", "DeleteBucket", {"Bucket": name})
                raise
        attributes = {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{region}.amazonaws.com",
        }
        return Provisioned(name, name, attributes)

    replaces = frozenset({"BucketName"})
    return Kind(create, _bucket_delete, _bucket_update, replaces, name="BucketName", limit=63)


async def _bucket_policy_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    bucket = str(props["Bucket"])
    return Provisioned(bucket, bucket, {})


# AWS::S3::BucketPolicy where lambox's S3 has no bucket policies: the policy is recorded with
# the stack, not enforced (what SAM's managed artifacts bucket carries, so that ``sam deploy
# --resolve-s3`` works). Ref is the bucket's name, as on AWS.
BUCKET_POLICY = Kind(_bucket_policy_create, forget, replaces=frozenset({"Bucket"}))


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
    fifo = text(props.get("FifoTopic", False)) == "true"
    if fifo and not name.endswith(".fifo"):
        name = name[:251] + ".fifo"
    attributes = {k: text(props[k]) for k in _TOPIC_ATTRIBUTES if k in props}
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
            value = text(props[key]) if key in props else ""
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
    attributes = {k: text(props[k]) for k in _SUBSCRIPTION_ATTRIBUTES if k in props}
    params = {
        **pick(props, "TopicArn", "Protocol", "Endpoint"),
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
            value = text(props[key]) if key in props else ""
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


# -- AWS::Events::Rule --------------------------------------------------------------------

_RULE_MEMBERS = ("ScheduleExpression", "State", "Description", "RoleArn", "EventBusName")


def _rule_key(current: Provisioned, member: str = "Rule") -> dict[str, Any]:
    """The rule as its target operations (``Rule``) or the rule operations (``Name``) name it."""
    bus, _, name = current.physical_id.rpartition("|")
    return {member: name, **({"EventBusName": bus} if bus else {})}


async def _put_rule(call: Call, name: str, props: Mapping[str, Any]) -> str:
    params = {"Name": name, **pick(props, *_RULE_MEMBERS)}
    if "EventPattern" in props:
        params["EventPattern"] = text(props["EventPattern"])
    return str((await call("events", "PutRule", params))["RuleArn"])


async def _put_targets(call: Call, key: dict[str, Any], props: Mapping[str, Any]) -> None:
    targets = list(props.get("Targets") or [])
    if targets:
        await call("events", "PutTargets", {**key, "Targets": targets})


async def _remove_targets(call: Call, key: dict[str, Any], ids: list[str]) -> None:
    if ids:
        await call("events", "RemoveTargets", {**key, "Ids": ids})


def _target_ids(props: Mapping[str, Any]) -> list[str]:
    return [str(t["Id"]) for t in props.get("Targets") or []]


async def _rule_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    arn = await _put_rule(call, name, props)
    bus = str(props.get("EventBusName") or "")
    custom = bus and bus != "default"
    ident = f"{bus}|{name}" if custom else name  # AWS's Ref of a rule on a custom bus
    current = Provisioned(ident, ident, {"Arn": arn})
    await _put_targets(call, _rule_key(current), props)
    return current


async def _rule_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    key = _rule_key(current)
    await _put_rule(call, key["Rule"], props)
    gone = [i for i in _target_ids(old) if i not in _target_ids(props)]
    await _remove_targets(call, key, gone)
    await _put_targets(call, key, props)
    return current


async def _rule_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    key = _rule_key(current)
    listed = await call("events", "ListTargetsByRule", key)
    await _remove_targets(call, key, [str(t["Id"]) for t in listed.get("Targets") or []])
    await call("events", "DeleteRule", _rule_key(current, "Name"))


RULE = Kind(
    _rule_create, _rule_delete, _rule_update, frozenset({"Name", "EventBusName"}), name="Name"
)


# -- AWS::Logs::LogGroup ------------------------------------------------------------------


async def _retention(call: Call, name: str, props: Mapping[str, Any]) -> None:
    if props.get("RetentionInDays") is not None:
        params = {"logGroupName": name, "retentionInDays": props["RetentionInDays"]}
        await call("logs", "PutRetentionPolicy", params)
    else:
        await call("logs", "DeleteRetentionPolicy", {"logGroupName": name})


async def _log_group_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    await call("logs", "CreateLogGroup", {"logGroupName": name})
    if props.get("RetentionInDays") is not None:
        await _retention(call, name, props)
    listed = await call("logs", "DescribeLogGroups", {"logGroupNamePrefix": name})
    arn = next(str(g["arn"]) for g in listed["logGroups"] if g["logGroupName"] == name)
    return Provisioned(name, name, {"Arn": arn})


async def _log_group_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    if old.get("RetentionInDays") != props.get("RetentionInDays"):
        await _retention(call, current.physical_id, props)
    return current


async def _log_group_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("logs", "DeleteLogGroup", {"logGroupName": current.physical_id})


LOG_GROUP = Kind(
    _log_group_create,
    _log_group_delete,
    _log_group_update,
    frozenset({"LogGroupName", "KmsKeyId", "LogGroupClass"}),
    name="LogGroupName",
    limit=512,
)


# -- AWS::Scheduler::Schedule -------------------------------------------------------------

_SCHEDULE_MEMBERS = (
    "GroupName",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "FlexibleTimeWindow",
    "Target",
    "State",
    "Description",
    "StartDate",
    "EndDate",
    "KmsKeyArn",
)


def _schedule_key(current: Provisioned) -> dict[str, Any]:
    group, _, name = current.physical_id.rpartition("|")
    return {"Name": name, "GroupName": group}


async def _schedule_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    answer = await call(
        "scheduler", "CreateSchedule", {"Name": name, **pick(props, *_SCHEDULE_MEMBERS)}
    )
    group = str(props.get("GroupName") or "default")
    return Provisioned(f"{group}|{name}", name, {"Arn": str(answer["ScheduleArn"])})


async def _schedule_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    params = {**pick(props, *_SCHEDULE_MEMBERS), **_schedule_key(current)}
    await call("scheduler", "UpdateSchedule", params)
    return current


async def _schedule_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("scheduler", "DeleteSchedule", _schedule_key(current))


SCHEDULE = Kind(
    _schedule_create,
    _schedule_delete,
    _schedule_update,
    frozenset({"Name", "GroupName"}),
    name="Name",
)


# -- AWS::IAM::Policy and AWS::IAM::ManagedPolicy -----------------------------------------

_PRINCIPALS = (("Roles", "Role"), ("Users", "User"), ("Groups", "Group"))


def _principals(props: Mapping[str, Any]) -> set[tuple[str, str]]:
    """(noun, name) of each role, user and group the policy is given to."""
    return {(noun, str(n)) for key, noun in _PRINCIPALS for n in props.get(key) or []}


async def _inline(
    call: Call, verb: str, name: str, props: Mapping[str, Any], to: set[tuple[str, str]]
) -> None:
    for noun, principal in sorted(to):
        params = {f"{noun}Name": principal, "PolicyName": name}
        if verb == "Put":
            params["PolicyDocument"] = text(props["PolicyDocument"])
        await call("iam", f"{verb}{noun}Policy", params)


async def _policy_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    await _inline(call, "Put", name, props, _principals(props))
    return Provisioned(name, name, {"Id": name})


async def _policy_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    await _inline(call, "Delete", current.physical_id, old, _principals(old) - _principals(props))
    await _inline(call, "Put", current.physical_id, props, _principals(props))
    return current


async def _policy_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await _inline(call, "Delete", current.physical_id, props, _principals(props))


POLICY = Kind(
    _policy_create,
    _policy_delete,
    _policy_update,
    frozenset({"PolicyName"}),
    name="PolicyName",
    limit=128,
)


async def _attach(call: Call, verb: str, arn: str, to: set[tuple[str, str]]) -> None:
    for noun, principal in sorted(to):
        await call("iam", f"{verb}{noun}Policy", {f"{noun}Name": principal, "PolicyArn": arn})


async def _managed_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    params = {
        "PolicyName": name,
        "PolicyDocument": text(props["PolicyDocument"]),
        **pick(props, "Path", "Description"),
    }
    policy = (await call("iam", "CreatePolicy", params))["Policy"]
    arn = str(policy["Arn"])
    await _attach(call, "Attach", arn, _principals(props))
    attributes = {"PolicyArn": arn, "PolicyId": str(policy.get("PolicyId", ""))}
    return Provisioned(arn, arn, attributes)


async def _managed_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    before, after = _principals(old), _principals(props)
    await _attach(call, "Detach", current.physical_id, before - after)
    await _attach(call, "Attach", current.physical_id, after - before)
    return current


async def _managed_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await _attach(call, "Detach", current.physical_id, _principals(props))
    await call("iam", "DeletePolicy", {"PolicyArn": current.physical_id})


# lambox's IAM keeps one version of a policy: a new document replaces the policy.
MANAGED_POLICY = Kind(
    _managed_create,
    _managed_delete,
    _managed_update,
    frozenset({"ManagedPolicyName", "PolicyDocument", "Path", "Description"}),
    name="ManagedPolicyName",
    limit=128,
)


# -- AWS::IAM::Role: a role of lambox's IAM, with its trust policy, inline ``Policies``,
# ``ManagedPolicyArns`` and ``PermissionsBoundary``, so a stack's functions run (and, in the
# strict posture, are authorized) as it. A managed policy lambox does not know is skipped
# with a warning rather than failing the stack ------------------------------------------


async def _role_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    params: dict[str, Any] = {
        "RoleName": name,
        "Path": str(props.get("Path") or "/"),
        "AssumeRolePolicyDocument": text(props.get("AssumeRolePolicyDocument") or {}),
        **pick(props, "Description", "MaxSessionDuration", "PermissionsBoundary"),
    }
    role = (await call("iam", "CreateRole", params))["Role"]
    await _role_policies(call, name, {}, props)
    return Provisioned(name, name, {"Arn": role["Arn"], "RoleId": role["RoleId"]})


async def _role_policies(
    call: Call, name: str, old: Mapping[str, Any], props: Mapping[str, Any]
) -> None:
    """Make the role's inline and managed policies those of ``props`` (from ``old``)."""
    before = {str(p["PolicyName"]) for p in old.get("Policies") or []}
    after = {str(p["PolicyName"]): p["PolicyDocument"] for p in props.get("Policies") or []}
    for gone in before - set(after):
        await call("iam", "DeleteRolePolicy", {"RoleName": name, "PolicyName": gone})
    for policy, document in after.items():
        params = {"RoleName": name, "PolicyName": policy, "PolicyDocument": text(document)}
        await call("iam", "PutRolePolicy", params)
    had = {str(a) for a in old.get("ManagedPolicyArns") or []}
    wanted = [str(a) for a in props.get("ManagedPolicyArns") or []]
    for arn in had - set(wanted):
        with contextlib.suppress(ServiceFault):
            await call("iam", "DetachRolePolicy", {"RoleName": name, "PolicyArn": arn})
    for arn in wanted:
        try:
            await call("iam", "AttachRolePolicy", {"RoleName": name, "PolicyArn": arn})
        except ServiceFault as exc:
            log.warning("role %s: managed policy %s skipped: %s", name, arn, exc.message)


async def _role_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    name = current.physical_id
    trust = text(props.get("AssumeRolePolicyDocument") or {})
    await call("iam", "UpdateAssumeRolePolicy", {"RoleName": name, "PolicyDocument": trust})
    await _role_policies(call, name, old, props)
    return current


async def _role_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    name = current.physical_id
    listed = await call("iam", "ListRolePolicies", {"RoleName": name})
    for policy in listed["PolicyNames"]:
        await call("iam", "DeleteRolePolicy", {"RoleName": name, "PolicyName": policy})
    attached = await call("iam", "ListAttachedRolePolicies", {"RoleName": name})
    for policy in attached["AttachedPolicies"]:
        params = {"RoleName": name, "PolicyArn": policy["PolicyArn"]}
        await call("iam", "DetachRolePolicy", params)
    await call("iam", "DeleteRole", {"RoleName": name})


ROLE = Kind(
    _role_create, _role_delete, _role_update, frozenset({"RoleName", "Path"}), name="RoleName"
)


# -- AWS::ApiGatewayV2::Integration and AWS::ApiGatewayV2::Route --------------------------

_INTEGRATION_MEMBERS = (
    "ApiId",
    "IntegrationType",
    "IntegrationUri",
    "IntegrationMethod",
    "PayloadFormatVersion",
    "TimeoutInMillis",
    "Description",
    "RequestParameters",
    "ConnectionType",
)
_ROUTE_MEMBERS = (
    "ApiId",
    "RouteKey",
    "Target",
    "AuthorizationType",
    "AuthorizerId",
    "AuthorizationScopes",
    "OperationName",
    "ApiKeyRequired",
)


def _child(operation: str, members: tuple[str, ...], id_member: str) -> Create:
    async def create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
        answer = await call("apigatewayv2", operation, pick(props, *members))
        child = str(answer[id_member])
        return Provisioned(f"{props['ApiId']}|{child}", child, {id_member: child})

    return create


def _delete_child(operation: str, id_member: str) -> Delete:
    async def delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
        api, _, child = current.physical_id.partition("|")
        await call("apigatewayv2", operation, {"ApiId": api, id_member: child})

    return delete


# lambox's HTTP APIs have no Update operations for these: every change replaces them.
INTEGRATION = Kind(
    _child("CreateIntegration", _INTEGRATION_MEMBERS, "IntegrationId"),
    _delete_child("DeleteIntegration", "IntegrationId"),
    replaces=frozenset(_INTEGRATION_MEMBERS),
)
ROUTE = Kind(
    _child("CreateRoute", _ROUTE_MEMBERS, "RouteId"),
    _delete_child("DeleteRoute", "RouteId"),
    replaces=frozenset(_ROUTE_MEMBERS),
)
