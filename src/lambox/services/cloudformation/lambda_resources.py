"""AWS::Lambda::Function, Version, Alias and LayerVersion, as rows of the operation table
(``service_resources``): each step is a call of Lambda's own operations. A function's code in
lambox's S3 is read by Lambda, as for the API (its signature checked under a code signing
config); a layer's with S3's GetObject.

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

# Members CreateFunction and UpdateFunctionConfiguration take as they are, each with the
# value an update sends when the template drops it, as CloudFormation resets a removed
# property (None: nothing to send, the member being required or one Lambda cannot turn
# off; LoggingConfig's log group is the function's own, see ``_removed``).
_CONFIG: dict[str, Any] = {
    "Description": "",
    "Handler": None,
    "MemorySize": 128,
    "Role": None,
    "Runtime": None,
    "Timeout": 3,
    "Environment": {"Variables": {}},
    "Layers": [],
    "EphemeralStorage": {"Size": 512},
    "DeadLetterConfig": {},
    "SnapStart": {"ApplyOn": "None"},
    "TracingConfig": {"Mode": "PassThrough"},
    "LoggingConfig": {"LogFormat": "Text"},
    "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []},
    "DurableConfig": None,
}

# Properties set by operations of their own after CreateFunction (see ``_settings``), and
# the ones CreateFunction alone takes.
_OWN = (
    "ReservedConcurrentExecutions",
    "RecursiveLoop",
    "RuntimeManagementConfig",
    "CodeSigningConfigArn",
    "Tags",
)
_CREATE_ONLY = ("Architectures", "Code", "FunctionName", "PackageType", "TenancyConfig")

# Documented properties lambox cannot honour: the stack fails on them rather than drop them.
_ZIP_ONLY = "lambox runs Zip packages only; container images are not supported"
_REFUSED = {
    "FileSystemConfigs": "lambox has no Amazon EFS file systems to mount (FileSystemConfigs)",
    "ImageConfig": f"{_ZIP_ONLY} (ImageConfig)",
    "KmsKeyArn": "lambox does not encrypt environment variables with a customer managed KMS"
    " key (KmsKeyArn)",
    "CapacityProviderConfig": "lambox does not deploy functions on capacity providers from"
    " stacks yet (CapacityProviderConfig)",
    "FunctionScalingConfig": "lambox does not deploy functions on capacity providers from"
    " stacks yet (FunctionScalingConfig)",
    "PublishToLatestPublished": "lambox does not deploy functions on capacity providers from"
    " stacks yet (PublishToLatestPublished)",
}

_KNOWN = frozenset({*_CONFIG, *_OWN, *_CREATE_ONLY, *_REFUSED})


def _check(props: Mapping[str, Any]) -> None:
    """Fail on a property lambox would otherwise drop: one it cannot honour, or one
    AWS::Lambda::Function does not have (CloudFormation's own wording for that)."""
    for key in props:
        if key in _REFUSED:
            raise ServiceFault("ValidationError", _REFUSED[key], 400)
        if key not in _KNOWN:
            raise ServiceFault("ValidationError", f"Encountered unsupported property {key}", 400)
    if str(props.get("PackageType", "Zip")) != "Zip":
        raise ServiceFault("ValidationError", f"{_ZIP_ONLY} (PackageType)", 400)


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


def _code(props: Mapping[str, Any]) -> dict[str, Any]:
    """The function's code as CreateFunction's ``Code`` and UpdateFunctionCode take it:
    inline source zipped, or the S3 location, which Lambda reads (and checks the signature
    of) as it does for the API."""
    code = props.get("Code") or {}
    if "SourceKmsKeyArn" in code:
        raise ServiceFault(
            "ValidationError",
            "lambox does not encrypt deployment packages with a customer managed KMS key"
            " (Code.SourceKmsKeyArn)",
            400,
        )
    if "ZipFile" in code:
        data = _inline_zip(str(code["ZipFile"]), str(props.get("Runtime", "")))
        return {"ZipFile": base64.b64encode(data).decode()}
    if "S3Bucket" in code and "S3Key" in code:
        return pick(code, "S3Bucket", "S3Key", "S3ObjectVersion")
    raise ServiceFault(
        "ValidationError", "lambox deploys function code from ZipFile or S3 only", 400
    )


def _architectures(props: Mapping[str, Any]) -> list[Any]:
    value = props.get("Architectures") or ["x86_64"]
    return value if isinstance(value, list) else [value]


def _removed(key: str, name: str) -> Any:
    """What UpdateFunctionConfiguration sends for a property the template no longer has:
    Lambda's default, as CloudFormation resets it (None: it cannot be reset)."""
    if key == "LoggingConfig":
        return {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{name}"}
    return _CONFIG[key]


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


async def _settings(
    call: Call, name: str, old: Mapping[str, Any], props: Mapping[str, Any]
) -> None:
    """The properties Lambda keeps outside the function's configuration, each through the
    operation the Lambda API has for it; one the template dropped goes back to Lambda's
    default (no reserved concurrency, ``Terminate``, ``Auto``)."""

    def changed(key: str) -> bool:
        return old.get(key) != props.get(key)

    function = {"FunctionName": name}
    if changed("ReservedConcurrentExecutions"):
        if "ReservedConcurrentExecutions" in props:
            reserved = {"ReservedConcurrentExecutions": props["ReservedConcurrentExecutions"]}
            await call("lambda", "PutFunctionConcurrency", {**function, **reserved})
        else:
            await call("lambda", "DeleteFunctionConcurrency", function)
    if changed("RecursiveLoop"):
        loop = {"RecursiveLoop": props.get("RecursiveLoop", "Terminate")}
        await call("lambda", "PutFunctionRecursionConfig", {**function, **loop})
    if changed("RuntimeManagementConfig"):
        runtime = props.get("RuntimeManagementConfig") or {"UpdateRuntimeOn": "Auto"}
        members = pick(runtime, "UpdateRuntimeOn", "RuntimeVersionArn")
        await call("lambda", "PutRuntimeManagementConfig", {**function, **members})


async def _function_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    _check(props)
    params = {"FunctionName": name, "Code": _code(props)}
    # TenancyConfig is set at creation only: a change of it replaces the function.
    params.update(pick(props, *_CONFIG, "PackageType", "CodeSigningConfigArn", "TenancyConfig"))
    if "Architectures" in props:
        params["Architectures"] = _architectures(props)
    tags = _tags(props.get("Tags"))
    if tags:
        params["Tags"] = tags
    view = await call("lambda", "CreateFunction", params)
    try:
        await _settled(call, name)
        await _settings(call, name, {}, props)
    except Exception:
        # The resource failed, so the rollback does not know of the function: it goes now.
        await call("lambda", "DeleteFunction", {"FunctionName": name})
        raise
    return Provisioned(name, name, {"Arn": view["FunctionArn"]})


async def _function_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    _check(props)
    name = current.physical_id
    if old.get("Code") != props.get("Code") or _architectures(old) != _architectures(props):
        params = {"FunctionName": name, **_code(props), "Architectures": _architectures(props)}
        await call("lambda", "UpdateFunctionCode", params)
        await _settled(call, name)
    config = pick(props, *_CONFIG)
    for key in _CONFIG:
        if key in old and key not in props and _removed(key, name) is not None:
            config[key] = _removed(key, name)
    if any(old.get(k) != props.get(k) for k in _CONFIG):
        await call("lambda", "UpdateFunctionConfiguration", {"FunctionName": name, **config})
        await _settled(call, name)
    await _settings(call, name, old, props)
    if old.get("CodeSigningConfigArn") != props.get("CodeSigningConfigArn"):
        if "CodeSigningConfigArn" in props:
            signing = {"FunctionName": name, **pick(props, "CodeSigningConfigArn")}
            await call("lambda", "PutFunctionCodeSigningConfig", signing)
        else:
            await call("lambda", "DeleteFunctionCodeSigningConfig", {"FunctionName": name})
    await _retag(call, str(current.attributes["Arn"]), _tags(old.get("Tags")), props)
    return current


async def _retag(call: Call, arn: str, before: Mapping[str, str], props: Mapping[str, Any]) -> None:
    """Tags as the template now has them: TagResource for the new and changed ones,
    UntagResource for the dropped ones."""
    after = _tags(props.get("Tags"))
    dropped = sorted(k for k in before if k not in after)
    if dropped:
        await call("lambda", "UntagResource", {"Resource": arn, "TagKeys": dropped})
    added = {k: v for k, v in after.items() if before.get(k) != v}
    if added:
        await call("lambda", "TagResource", {"Resource": arn, "Tags": added})


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


async def _versions(call: Call, function: str) -> set[str]:
    listed = await call(
        "lambda", "ListVersionsByFunction", {"FunctionName": function, "MaxItems": 10000}
    )
    return {str(v["Version"]) for v in listed.get("Versions", [])}


async def _version_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    """PublishVersion; when it answers with a version that was there already (nothing in
    the function changed since it, so Lambda publishes nothing), the resource fails as
    CloudFormation's does: that version belongs to whatever published it, and a stack that
    took it over would delete it with this resource (a Description-only update replaced
    the resource, then its cleanup deleted the version the new one stood for)."""
    params = {"FunctionName": str(props["FunctionName"])}
    before = await _versions(call, params["FunctionName"])
    view = await call(
        "lambda", "PublishVersion", {**params, **pick(props, "Description", "CodeSha256")}
    )
    number = str(view["Version"])
    if number in before:
        raise ServiceFault(
            "InvalidRequest",
            f"A version for this Lambda function exists ( {number} ). Modify the function to"
            " create a new version.",
            400,
        )
    arn = str(view["FunctionArn"])
    return Provisioned(arn, arn, {"Version": number})


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
