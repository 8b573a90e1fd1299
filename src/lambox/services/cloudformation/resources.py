"""What a resource handler is (``Handler``, ``Provisioned``), the names and typed values
every handler shares, and the handlers of buckets and bucket policies.

Most resource types are rows of the operation table (``service_resources`` and the modules
of its rows); a bucket reaches S3 through the callables of ``S3Calls``, which
``stack_wiring.py`` builds on the S3 service; this package imports no service. Any error a
call raises (an AWS-shaped ``LamboxError``) fails the resource with that error's message,
which the stack's events then show.

Replacement follows CloudFormation: a change of a property that cannot be updated in place
(``replaces``: a function's name, a bucket's name, a layer's content...) creates the new
resource first and deletes the old one once the whole update has succeeded.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lambox.errors import ServiceFault


@dataclass(frozen=True)
class Provisioned:
    physical_id: str
    ref: str
    attributes: Mapping[str, Any]


class Handler(Protocol):
    replaces: frozenset[str]

    async def create(
        self, logical_id: str, props: Mapping[str, Any], stack: str
    ) -> Provisioned: ...

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned: ...

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None: ...


@dataclass(frozen=True)
class S3Calls:
    create_bucket: Callable[[str], Awaitable[None]]
    set_notification: Callable[[str, dict[str, Any]], None]
    delete_bucket: Callable[[str], Awaitable[None]]
    read_object: Callable[[str, str], Awaitable[bytes]]


def coerce(shape: Any, value: Any) -> Any:
    """Template values as the API's model types them: CloudFormation passes numbers and
    booleans written as strings ("128", "true") to services as numbers and booleans."""
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        return {
            k: coerce(shape.members[k], v) if k in shape.members else v for k, v in value.items()
        }
    if kind == "list" and isinstance(value, list):
        return [coerce(shape.member, v) for v in value]
    if kind == "map" and isinstance(value, dict):
        return {k: coerce(shape.value, v) for k, v in value.items()}
    if isinstance(value, str):
        try:
            if kind in ("integer", "long"):
                return int(value)
            if kind in ("float", "double"):
                return float(value)
        except ValueError:
            return value
        if kind == "boolean" and value.lower() in ("true", "false"):
            return value.lower() == "true"
    return value


def physical_name(stack: str, logical_id: str, limit: int = 64) -> str:
    """A generated name as CloudFormation makes them: stack-Logical-RANDOM."""
    suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    head = f"{stack}-{logical_id}"[: limit - len(suffix) - 1]
    return f"{head}-{suffix}"


class BucketHandler:
    """AWS::S3::Bucket, with its NotificationConfiguration's Lambda configurations."""

    replaces = frozenset({"BucketName"})

    def __init__(self, s3: S3Calls, region: str) -> None:
        self._s3 = s3
        self._region = region

    def _notification(self, props: Mapping[str, Any]) -> dict[str, Any]:
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
            out: dict[str, Any] = {
                "LambdaFunctionArn": rule["Function"],
                "Events": [rule["Event"]],
            }
            key_filter = (rule.get("Filter") or {}).get("S3Key")
            if key_filter:
                out["Filter"] = {"Key": {"FilterRules": key_filter.get("Rules") or []}}
            rules.append(out)
        return {"LambdaFunctionConfigurations": rules} if rules else {}

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        name = str(props.get("BucketName") or physical_name(stack, logical_id, 63).lower())
        await self._s3.create_bucket(name)
        notification = self._notification(props)
        if notification:
            try:
                self._s3.set_notification(name, notification)
            except Exception:
                await self._s3.delete_bucket(name)
                raise
        return Provisioned(name, name, self._attributes(name))

    def _attributes(self, name: str) -> dict[str, Any]:
        return {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{self._region}.amazonaws.com",
        }

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned:
        self._s3.set_notification(current.physical_id, self._notification(props))
        return current

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None:
        await self._s3.delete_bucket(current.physical_id)


class RecordedBucketPolicy:
    """AWS::S3::BucketPolicy where lambox's S3 has no bucket policies: the policy is recorded
    with the stack, not enforced (what SAM's managed artifacts bucket carries, so that
    ``sam deploy --resolve-s3`` works). Ref is the bucket's name, as on AWS."""

    replaces = frozenset({"Bucket"})

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        bucket = str(props["Bucket"])
        return Provisioned(bucket, bucket, {})

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
        return None
