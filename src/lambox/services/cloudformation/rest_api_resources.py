"""AWS::ApiGateway::RestApi, AWS::ApiGateway::Deployment and AWS::ApiGateway::Stage: what a
SAM ``Api`` event expands to (a REST API whose ``Body`` is an OpenAPI definition with
``x-amazon-apigateway-integration`` Lambda proxy integrations, a deployment that also makes
the stage named ``Stage``, and the ``Prod`` stage pointing at it).

The body is built into the REST API service's own resources, methods and integrations, as
API Gateway's import does: each path's parts become resources (``{param}`` and a final
``{proxy+}`` included), each method with an ``aws_proxy`` integration a method (``ANY`` for
``x-amazon-apigateway-any-method``) without authorization and an AWS_PROXY integration of the
same URI. What lambox's REST APIs do not run is refused when the API is created, so the
stack fails with the reason: other integration types (CORS's MOCK ``OPTIONS`` methods too) and
methods with ``security`` (authorizers, API keys). Any change of the body replaces the API,
and with it its deployments and stages.

They are rows of the operation table (``service_resources``): every step is a call of the
REST API service's own operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambox.errors import ServiceFault
from lambox.services.cloudformation.resources import Provisioned
from lambox.services.cloudformation.service_resources import Call, Kind

ANY_METHOD = "x-amazon-apigateway-any-method"
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", ANY_METHOD}
Operation = tuple[str, str, Mapping[str, Any]]


def _gone_already(exc: ServiceFault) -> bool:
    """A delete that finds nothing (its API deleted first, or by hand) has nothing to do."""
    return exc.aws_type == "NotFoundException"


def _operations(body: Mapping[str, Any]) -> list[Operation]:
    """(path, method, operation) of each operation of an OpenAPI definition, parents first."""
    found = []
    for path, operations in (body.get("paths") or {}).items():
        if not isinstance(operations, Mapping):
            continue
        for method, operation in operations.items():
            if method in _METHODS and isinstance(operation, Mapping):
                verb = "ANY" if method == ANY_METHOD else method.upper()
                found.append((str(path), verb, operation))
    return sorted(found, key=lambda found: found[0].count("/"))


def _refusal(path: str, verb: str, operation: Mapping[str, Any]) -> str | None:
    """Why lambox cannot serve this operation as defined, or None."""
    integration = operation.get("x-amazon-apigateway-integration")
    if not isinstance(integration, Mapping):
        return f"{verb} {path} has no x-amazon-apigateway-integration"
    kind = str(integration.get("type", "")).upper()
    if kind != "AWS_PROXY":
        return (
            f"{verb} {path} has a {kind or 'missing'} integration: lambox's REST APIs run"
            " aws_proxy (Lambda proxy) integrations only"
        )
    if operation.get("security"):
        return (
            f"{verb} {path} has security requirements (authorizers or API keys), which"
            " lambox does not read from an OpenAPI body"
        )
    return None


async def _ignoring_gone(call: Call, operation: str, params: dict[str, Any]) -> None:
    """A delete of the REST API service, done when what it deletes is gone already."""
    try:
        await call("apigateway", operation, params)
    except ServiceFault as exc:
        if not _gone_already(exc):
            raise


# -- AWS::ApiGateway::RestApi: Ref is the API id; RestApiId and RootResourceId attributes --


async def _api_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    body = props.get("Body") if isinstance(props.get("Body"), Mapping) else {}
    assert isinstance(body, Mapping)
    operations = _operations(body)
    for path, verb, operation in operations:
        reason = _refusal(path, verb, operation)
        if reason is not None:
            raise ServiceFault("BadRequestException", reason, 400)
    title = (body.get("info") or {}).get("title")
    params: dict[str, Any] = {"name": str(props.get("Name") or title or name)}
    if "Description" in props:
        params["description"] = props["Description"]
    api = await call("apigateway", "CreateRestApi", params)
    api_id, root = str(api["id"]), str(api["rootResourceId"])
    try:
        await _build(call, api_id, root, operations)
    except Exception:
        await call("apigateway", "DeleteRestApi", {"restApiId": api_id})  # none half-built
        raise
    attributes = {"RestApiId": api_id, "RootResourceId": root}
    return Provisioned(api_id, api_id, attributes)


async def _build(call: Call, api_id: str, root: str, operations: list[Operation]) -> None:
    resources = {"/": root}
    for path, verb, operation in operations:
        parent = root
        so_far = ""
        for part in [p for p in path.split("/") if p]:
            so_far += "/" + part
            if so_far not in resources:
                made = await call(
                    "apigateway",
                    "CreateResource",
                    {"restApiId": api_id, "parentId": parent, "pathPart": part},
                )
                resources[so_far] = str(made["id"])
            parent = resources[so_far]
        integration = operation["x-amazon-apigateway-integration"]
        method = {"restApiId": api_id, "resourceId": parent, "httpMethod": verb}
        await call("apigateway", "PutMethod", {**method, "authorizationType": "NONE"})
        await call(
            "apigateway",
            "PutIntegration",
            {
                **method,
                "type": "AWS_PROXY",
                "uri": str(integration.get("uri", "")),
                "integrationHttpMethod": str(integration.get("httpMethod", "POST")),
            },
        )


async def _api_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await _ignoring_gone(call, "DeleteRestApi", {"restApiId": current.physical_id})


REST_API = Kind(
    _api_create,
    _api_delete,
    replaces=frozenset(
        {"Body", "BodyS3Location", "Name", "Description", "EndpointConfiguration", "Parameters"}
    ),
)


# -- AWS::ApiGateway::Deployment: Ref is the deployment id. Its ``StageName`` makes (or
# moves) that stage too, as CloudFormation does, and goes with the deployment -------------


async def _deployment_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    api_id = str(props["RestApiId"])
    params: dict[str, Any] = {"restApiId": api_id}
    if props.get("StageName"):
        params["stageName"] = str(props["StageName"])
    if "Description" in props:
        params["description"] = props["Description"]
    ident = str((await call("apigateway", "CreateDeployment", params))["id"])
    return Provisioned(f"{api_id}|{ident}", ident, {"DeploymentId": ident})


async def _deployment_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    api_id, ident = current.physical_id.split("|", 1)
    await _delete_own_stage(call, api_id, ident, props.get("StageName"))
    await _ignoring_gone(call, "DeleteDeployment", {"restApiId": api_id, "deploymentId": ident})


async def _delete_own_stage(call: Call, api_id: str, ident: str, name: Any) -> None:
    """The deployment's stage, unless a newer deployment has moved it to itself."""
    if not name:
        return
    stage = {"restApiId": api_id, "stageName": str(name)}
    try:
        if (await call("apigateway", "GetStage", stage)).get("deploymentId") == ident:
            await call("apigateway", "DeleteStage", stage)
    except ServiceFault as exc:
        if not _gone_already(exc):
            raise


DEPLOYMENT = Kind(
    _deployment_create,
    _deployment_delete,
    replaces=frozenset({"RestApiId", "StageName", "Description", "StageDescription"}),
)


# -- AWS::ApiGateway::Stage: Ref is the stage name. A new deployment (SAM names each
# deployment after its body, so a changed API comes with a new one) moves the stage in
# place; any other change replaces it -------------------------------------------------------


async def _stage_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    api_id, stage = str(props["RestApiId"]), str(props["StageName"])
    params: dict[str, Any] = {
        "restApiId": api_id,
        "stageName": stage,
        "deploymentId": str(props["DeploymentId"]),
    }
    if props.get("Variables"):
        params["variables"] = dict(props["Variables"])
    await call("apigateway", "CreateStage", params)
    return Provisioned(f"{api_id}|{stage}", stage, {})


async def _stage_update(
    call: Call, current: Provisioned, old: Mapping[str, Any], props: Mapping[str, Any]
) -> Provisioned:
    if props.get("DeploymentId") != old.get("DeploymentId"):
        move = {"op": "replace", "path": "/deploymentId", "value": props["DeploymentId"]}
        params = {
            "restApiId": str(props["RestApiId"]),
            "stageName": str(props["StageName"]),
            "patchOperations": [move],
        }
        await call("apigateway", "UpdateStage", params)
    return current


async def _stage_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    api_id, stage = current.physical_id.split("|", 1)
    await _ignoring_gone(call, "DeleteStage", {"restApiId": api_id, "stageName": stage})


STAGE = Kind(
    _stage_create,
    _stage_delete,
    _stage_update,
    frozenset({"RestApiId", "StageName", "Variables", "Description"}),
)
