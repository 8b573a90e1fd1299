"""What each resource type does on create, update and delete.

The handlers reach Lambda and S3 only through the callables in ``LambdaCalls`` and
``S3Calls``, which ``server.py`` wires to the control plane and to the S3 service; this
package imports neither. Any error a call raises (an AWS-shaped ``LamboxError``) fails the
resource with that error's message, which the stack's events then show.

Replacement follows CloudFormation: a change of a property that cannot be updated in place
(``replaces``: a function's name, a bucket's name, a layer's content...) creates the new
resource first and deletes the old one once the whole update has succeeded.
"""

from __future__ import annotations

import base64
import io
import secrets
import string
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from lambox.edge.models import service_model
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
class LambdaCalls:
    """The Lambda control plane as the provisioning engine may use it (views are the API's
    JSON shapes)."""

    create_function: Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
    update_code: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
    update_configuration: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
    settled: Callable[[str], Awaitable[None]]  # the function's create or update is done
    delete_function: Callable[[str], None]
    publish_version: Callable[[str, dict[str, Any]], dict[str, Any]]
    delete_version: Callable[[str, str], None]
    create_alias: Callable[[str, dict[str, Any]], dict[str, Any]]
    update_alias: Callable[[str, str, dict[str, Any]], dict[str, Any]]
    delete_alias: Callable[[str, str], None]
    publish_layer: Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
    delete_layer: Callable[[str, int], None]


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


def _lambda_input(operation: str, params: dict[str, Any]) -> dict[str, Any]:
    shape = service_model("lambda").operation_model(operation).input_shape
    return dict(coerce(shape, params))


def physical_name(stack: str, logical_id: str, limit: int = 64) -> str:
    """A generated name as CloudFormation makes them: stack-Logical-RANDOM."""
    suffix = "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(12))
    head = f"{stack}-{logical_id}"[: limit - len(suffix) - 1]
    return f"{head}-{suffix}"


def _tags(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return {str(t["Key"]): str(t["Value"]) for t in value if isinstance(t, dict)}
    return {}


def _inline_zip(source: str, runtime: str) -> bytes:
    """CloudFormation's ``Code.ZipFile``: the source as index.py / index.js."""
    name = "index.js" if runtime.startswith("nodejs") else "index.py"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o100644 << 16
        zf.writestr(info, source)
    return buf.getvalue()


class FunctionHandler:
    """AWS::Lambda::Function."""

    replaces = frozenset({"FunctionName"})
    _CONFIG = (
        "Description",
        "Handler",
        "MemorySize",
        "Role",
        "Runtime",
        "Timeout",
        "Environment",
        "Layers",
        "EphemeralStorage",
        "DeadLetterConfig",
        "SnapStart",
        "Architectures",
        "TracingConfig",
        "LoggingConfig",
    )

    def __init__(self, calls: LambdaCalls, s3: S3Calls) -> None:
        self._calls = calls
        self._s3 = s3

    async def _zip(self, props: Mapping[str, Any]) -> bytes:
        code = props.get("Code") or {}
        if "ZipFile" in code:
            return _inline_zip(str(code["ZipFile"]), str(props.get("Runtime", "")))
        if "S3Bucket" in code and "S3Key" in code:
            return await self._s3.read_object(str(code["S3Bucket"]), str(code["S3Key"]))
        raise ServiceFault(
            "ValidationError", "lambox deploys function code from ZipFile or S3 only", 400
        )

    def _params(self, props: Mapping[str, Any]) -> dict[str, Any]:
        params = {k: props[k] for k in self._CONFIG if k in props}
        if "Architectures" in params and not isinstance(params["Architectures"], list):
            params["Architectures"] = [params["Architectures"]]
        return params

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        name = str(props.get("FunctionName") or physical_name(stack, logical_id))
        params = {
            "FunctionName": name,
            "Code": {"ZipFile": base64.b64encode(await self._zip(props)).decode()},
            **self._params(props),
        }
        tags = _tags(props.get("Tags"))
        if tags:
            params["Tags"] = tags
        view = await self._calls.create_function(_lambda_input("CreateFunction", params))
        await self._calls.settled(name)
        return Provisioned(name, name, {"Arn": view["FunctionArn"]})

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned:
        name = current.physical_id
        if old.get("Code") != props.get("Code"):
            encoded = base64.b64encode(await self._zip(props)).decode()
            await self._calls.update_code(name, {"ZipFile": encoded})
            await self._calls.settled(name)
        config = self._params(props)
        config.pop("Architectures", None)
        for key in self._CONFIG:  # a property removed from the template goes back to default
            if key in old and key not in props and key in ("Environment", "Layers"):
                config[key] = {"Variables": {}} if key == "Environment" else []
        if any(old.get(k) != props.get(k) for k in self._CONFIG):
            config = _lambda_input("UpdateFunctionConfiguration", config)
            await self._calls.update_configuration(name, config)
            await self._calls.settled(name)
        return current

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None:
        self._calls.delete_function(current.physical_id)


class VersionHandler:
    """AWS::Lambda::Version: publishes $LATEST as it is; every change is a new version."""

    replaces = frozenset(
        {"FunctionName", "Description", "CodeSha256", "ProvisionedConcurrencyConfig"}
    )

    def __init__(self, calls: LambdaCalls) -> None:
        self._calls = calls

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        name = str(props["FunctionName"])
        params = {k: props[k] for k in ("Description", "CodeSha256") if k in props}
        view = self._calls.publish_version(name, _lambda_input("PublishVersion", params))
        arn = str(view["FunctionArn"])
        return Provisioned(arn, arn, {"Version": str(view["Version"])})

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
        function, _, version = current.physical_id.rpartition(":")
        self._calls.delete_version(function, version)


class AliasHandler:
    """AWS::Lambda::Alias."""

    replaces = frozenset({"FunctionName", "Name"})

    def __init__(self, calls: LambdaCalls) -> None:
        self._calls = calls

    @staticmethod
    def _params(props: Mapping[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {"FunctionVersion": str(props["FunctionVersion"])}
        if "Description" in props:
            params["Description"] = props["Description"]
        routing = (props.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
        if routing:
            params["RoutingConfig"] = {
                "AdditionalVersionWeights": {
                    str(w["FunctionVersion"]): float(w["FunctionWeight"]) for w in routing
                }
            }
        return params

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        name = str(props["Name"])
        view = self._calls.create_alias(
            str(props["FunctionName"]),
            _lambda_input("CreateAlias", {"Name": name, **self._params(props)}),
        )
        arn = str(view["AliasArn"])
        return Provisioned(arn, arn, {})

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned:
        params = self._params(props)
        if "RoutingConfig" not in params:
            params["RoutingConfig"] = {"AdditionalVersionWeights": {}}
        self._calls.update_alias(str(props["FunctionName"]), str(props["Name"]), params)
        return current

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None:
        function, _, alias = current.physical_id.rpartition(":")
        self._calls.delete_alias(function, alias)


class LayerVersionHandler:
    """AWS::Lambda::LayerVersion: immutable, so every change publishes a new version."""

    replaces = frozenset(
        {"Content", "LayerName", "Description", "CompatibleRuntimes", "LicenseInfo",
         "CompatibleArchitectures"}
    )  # fmt: skip

    def __init__(self, calls: LambdaCalls, s3: S3Calls) -> None:
        self._calls = calls
        self._s3 = s3

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        content = props.get("Content") or {}
        if "S3Bucket" not in content or "S3Key" not in content:
            raise ServiceFault("ValidationError", "Content needs S3Bucket and S3Key", 400)
        data = await self._s3.read_object(str(content["S3Bucket"]), str(content["S3Key"]))
        name = str(props.get("LayerName") or physical_name(stack, logical_id, 140))
        params: dict[str, Any] = {"Content": {"ZipFile": base64.b64encode(data).decode()}}
        for key in ("Description", "CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures"):
            if key in props:
                params[key] = props[key]
        view = await self._calls.publish_layer(name, _lambda_input("PublishLayerVersion", params))
        arn = str(view["LayerVersionArn"])
        return Provisioned(arn, arn, {"LayerVersionArn": arn})

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
        arn = current.physical_id
        layer, _, version = arn.rpartition(":")
        self._calls.delete_layer(layer.rpartition(":")[2], int(version))


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
