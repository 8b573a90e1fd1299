"""AWS::Lambda::Function, Version, Alias and LayerVersion, as rows of the operation table
(``service_resources``): each step is a call of Lambda's own operations, and code in lambox's
S3 is read with S3's GetObject.

A function's ``Code.ZipFile`` is inline source, zipped here as ``index.py`` / ``index.js``.
A create or an update of a function waits until the function has settled (Active, its last
update done), as CloudFormation does, so what depends on it finds it ready.
"""

from __future__ import annotations

import asyncio
import base64
import io
import zipfile
from collections.abc import Mapping
from typing import Any

from lambox.errors import InvalidParameterValue, ServiceFault
from lambox.services.cloudformation.resources import Provisioned
from lambox.services.cloudformation.service_resources import Call, Kind, pick

# -- AWS::Lambda::Function ------------------------------------------------------------------

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


def _inline_zip(source: str, runtime: str) -> bytes:
    """CloudFormation's ``Code.ZipFile``: the source as index.py / index.js."""
    name = "index.js" if runtime.startswith("nodejs") else "index.py"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o100644 << 16
        zf.writestr(info, source)
    return buf.getvalue()


async def _read(call: Call, bucket: Any, key: Any) -> str:
    """An object of lambox's S3, base64-encoded as Lambda's ZipFile members take it."""
    got = await call("s3", "GetObject", {"Bucket": str(bucket), "Key": str(key)})
    return base64.b64encode(got["Body"]).decode()


async def _zip(call: Call, props: Mapping[str, Any]) -> str:
    code = props.get("Code") or {}
    if "ZipFile" in code:
        data = _inline_zip(str(code["ZipFile"]), str(props.get("Runtime", "")))
        return base64.b64encode(data).decode()
    if "S3Bucket" in code and "S3Key" in code:
        return await _read(call, code["S3Bucket"], code["S3Key"])
    raise ServiceFault(
        "ValidationError", "lambox deploys function code from ZipFile or S3 only", 400
    )


def _config(props: Mapping[str, Any]) -> dict[str, Any]:
    params = pick(props, *_CONFIG)
    if "Architectures" in params and not isinstance(params["Architectures"], list):
        params["Architectures"] = [params["Architectures"]]
    return params


def _tags(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        return {str(t["Key"]): str(t["Value"]) for t in value if isinstance(t, dict)}
    return {}


async def _settled(call: Call, name: str) -> None:
    """Wait until the function's create or update is done (the next loop iterations)."""
    for _ in range(3000):
        config = await call("lambda", "GetFunctionConfiguration", {"FunctionName": name})
        if config["State"] == "Failed":
            raise InvalidParameterValue(f"Function {name} failed: its runtime is missing")
        if config["State"] == "Active" and config.get("LastUpdateStatus") != "InProgress":
            return
        await asyncio.sleep(0.01)
    raise InvalidParameterValue(f"Function {name} did not become Active")


async def _function_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    params = {"FunctionName": name, "Code": {"ZipFile": await _zip(call, props)}}
    params.update(_config(props))
    if "TenancyConfig" in props:  # set at creation only: a change replaces the function
        params["TenancyConfig"] = props["TenancyConfig"]
    tags = _tags(props.get("Tags"))
    if tags:
        params["Tags"] = tags
    view = await call("lambda", "CreateFunction", params)
    await _settled(call, name)
    return Provisioned(name, name, {"Arn": view["FunctionArn"]})


async def _function_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    name = current.physical_id
    if old.get("Code") != props.get("Code"):
        params = {"FunctionName": name, "ZipFile": await _zip(call, props)}
        await call("lambda", "UpdateFunctionCode", params)
        await _settled(call, name)
    config = _config(props)
    config.pop("Architectures", None)
    for key in ("Environment", "Layers"):  # removed from the template: back to the default
        if key in old and key not in props:
            config[key] = {"Variables": {}} if key == "Environment" else []
    if any(old.get(k) != props.get(k) for k in _CONFIG):
        await call("lambda", "UpdateFunctionConfiguration", {"FunctionName": name, **config})
        await _settled(call, name)
    return current


async def _function_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("lambda", "DeleteFunction", {"FunctionName": current.physical_id})


FUNCTION = Kind(
    _function_create,
    _function_delete,
    _function_update,
    frozenset({"FunctionName", "TenancyConfig"}),
    name="FunctionName",
)


# -- AWS::Lambda::Version: publishes $LATEST as it is; every change is a new version --------


async def _version_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    params = {"FunctionName": str(props["FunctionName"])}
    view = await call(
        "lambda", "PublishVersion", {**params, **pick(props, "Description", "CodeSha256")}
    )
    arn = str(view["FunctionArn"])
    return Provisioned(arn, arn, {"Version": str(view["Version"])})


async def _version_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    function, _, version = current.physical_id.rpartition(":")
    await call("lambda", "DeleteFunction", {"FunctionName": function, "Qualifier": version})


VERSION = Kind(
    _version_create,
    _version_delete,
    replaces=frozenset(
        {"FunctionName", "Description", "CodeSha256", "ProvisionedConcurrencyConfig"}
    ),
)


# -- AWS::Lambda::Alias ---------------------------------------------------------------------


def _alias(props: Mapping[str, Any]) -> dict[str, Any]:
    params: dict[str, Any] = {
        "FunctionName": str(props["FunctionName"]),
        "Name": str(props["Name"]),
        "FunctionVersion": str(props["FunctionVersion"]),
        **pick(props, "Description"),
    }
    routing = (props.get("RoutingConfig") or {}).get("AdditionalVersionWeights")
    if routing:
        weights = {str(w["FunctionVersion"]): float(w["FunctionWeight"]) for w in routing}
        params["RoutingConfig"] = {"AdditionalVersionWeights": weights}
    return params


async def _alias_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    arn = str((await call("lambda", "CreateAlias", _alias(props)))["AliasArn"])
    return Provisioned(arn, arn, {})


async def _alias_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    params = _alias(props)
    params.setdefault("RoutingConfig", {"AdditionalVersionWeights": {}})
    await call("lambda", "UpdateAlias", params)
    return current


async def _alias_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    function, _, alias = current.physical_id.rpartition(":")
    await call("lambda", "DeleteAlias", {"FunctionName": function, "Name": alias})


ALIAS = Kind(_alias_create, _alias_delete, _alias_update, frozenset({"FunctionName", "Name"}))


# -- AWS::Lambda::LayerVersion: immutable, so every change publishes a new version ----------

_LAYER_MEMBERS = ("Description", "CompatibleRuntimes", "LicenseInfo", "CompatibleArchitectures")


async def _layer_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    content = props.get("Content") or {}
    if "S3Bucket" not in content or "S3Key" not in content:
        raise ServiceFault("ValidationError", "Content needs S3Bucket and S3Key", 400)
    data = await _read(call, content["S3Bucket"], content["S3Key"])
    params = {"LayerName": name, "Content": {"ZipFile": data}, **pick(props, *_LAYER_MEMBERS)}
    arn = str((await call("lambda", "PublishLayerVersion", params))["LayerVersionArn"])
    return Provisioned(arn, arn, {"LayerVersionArn": arn})


async def _layer_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    layer, _, version = current.physical_id.rpartition(":")
    params = {"LayerName": layer.rpartition(":")[2], "VersionNumber": int(version)}
    await call("lambda", "DeleteLayerVersion", params)


LAYER_VERSION = Kind(
    _layer_create,
    _layer_delete,
    replaces=frozenset({"Content", "LayerName", *_LAYER_MEMBERS}),
    name="LayerName",
    limit=140,
)
