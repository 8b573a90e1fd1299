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
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from lambox.errors import ServiceFault
from lambox.services.cloudformation.resources import Provisioned, physical_name

Answer = dict[str, Any]
ANY_METHOD = "x-amazon-apigateway-any-method"
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", ANY_METHOD}


class RestApis(Protocol):
    """The REST API service's operations, as the handlers call them."""

    def create_api(self, p: Mapping[str, Any]) -> Answer: ...
    def delete_api(self, p: Mapping[str, Any]) -> Answer: ...
    def create_resource(self, p: Mapping[str, Any]) -> Answer: ...
    def put_method(self, p: Mapping[str, Any]) -> Answer: ...
    def put_integration(self, p: Mapping[str, Any]) -> Answer: ...
    def create_deployment(self, p: Mapping[str, Any]) -> Answer: ...
    def delete_deployment(self, p: Mapping[str, Any]) -> Answer: ...
    def create_stage(self, p: Mapping[str, Any]) -> Answer: ...
    def get_stage(self, p: Mapping[str, Any]) -> Answer: ...
    def delete_stage(self, p: Mapping[str, Any]) -> Answer: ...


def _gone_already(exc: ServiceFault) -> bool:
    """A delete that finds nothing (its API deleted first, or by hand) has nothing to do."""
    return exc.aws_type == "NotFoundException"


def _operations(body: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
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


class RestApiHandler:
    """AWS::ApiGateway::RestApi: Ref is the API id; RestApiId and RootResourceId
    attributes."""

    replaces = frozenset(
        {"Body", "BodyS3Location", "Name", "Description", "EndpointConfiguration", "Parameters"}
    )

    def __init__(self, apis: RestApis) -> None:
        self._apis = apis

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        body = props.get("Body") if isinstance(props.get("Body"), Mapping) else {}
        assert isinstance(body, Mapping)
        operations = _operations(body)
        for path, verb, operation in operations:
            reason = _refusal(path, verb, operation)
            if reason is not None:
                raise ServiceFault("BadRequestException", reason, 400)
        title = (body.get("info") or {}).get("title")
        params: dict[str, Any] = {
            "name": str(props.get("Name") or title or physical_name(stack, logical_id))
        }
        if "Description" in props:
            params["description"] = props["Description"]
        api = self._apis.create_api(params)
        api_id, root = str(api["id"]), str(api["rootResourceId"])
        try:
            self._build(api_id, root, operations)
        except Exception:
            self._apis.delete_api({"restApiId": api_id})  # no half-built API is left behind
            raise
        attributes = {"RestApiId": api_id, "RootResourceId": root}
        return Provisioned(api_id, api_id, attributes)

    def _build(
        self, api_id: str, root: str, operations: list[tuple[str, str, Mapping[str, Any]]]
    ) -> None:
        resources = {"/": root}
        for path, verb, operation in operations:
            parent = root
            so_far = ""
            for part in [p for p in path.split("/") if p]:
                so_far += "/" + part
                if so_far not in resources:
                    made = self._apis.create_resource(
                        {"restApiId": api_id, "parentId": parent, "pathPart": part}
                    )
                    resources[so_far] = str(made["id"])
                parent = resources[so_far]
            integration = operation["x-amazon-apigateway-integration"]
            method = {"restApiId": api_id, "resourceId": parent, "httpMethod": verb}
            self._apis.put_method({**method, "authorizationType": "NONE"})
            self._apis.put_integration(
                {
                    **method,
                    "type": "AWS_PROXY",
                    "uri": str(integration.get("uri", "")),
                    "integrationHttpMethod": str(integration.get("httpMethod", "POST")),
                }
            )

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
        try:
            self._apis.delete_api({"restApiId": current.physical_id})
        except ServiceFault as exc:
            if not _gone_already(exc):
                raise


class DeploymentHandler:
    """AWS::ApiGateway::Deployment: Ref is the deployment id. Its ``StageName`` makes (or
    moves) that stage too, as CloudFormation does, and goes with the deployment."""

    replaces = frozenset({"RestApiId", "StageName", "Description", "StageDescription"})

    def __init__(self, apis: RestApis) -> None:
        self._apis = apis

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        api_id = str(props["RestApiId"])
        params: dict[str, Any] = {"restApiId": api_id}
        if props.get("StageName"):
            params["stageName"] = str(props["StageName"])
        if "Description" in props:
            params["description"] = props["Description"]
        made = self._apis.create_deployment(params)
        ident = str(made["id"])
        return Provisioned(f"{api_id}|{ident}", ident, {"DeploymentId": ident})

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
        api_id, ident = current.physical_id.split("|", 1)
        try:
            self._delete_own_stage(api_id, ident, props.get("StageName"))
            self._apis.delete_deployment({"restApiId": api_id, "deploymentId": ident})
        except ServiceFault as exc:
            if not _gone_already(exc):
                raise

    def _delete_own_stage(self, api_id: str, ident: str, name: Any) -> None:
        """The deployment's stage, unless a newer deployment has moved it to itself."""
        if not name:
            return
        stage = {"restApiId": api_id, "stageName": str(name)}
        try:
            if self._apis.get_stage(stage).get("deploymentId") == ident:
                self._apis.delete_stage(stage)
        except ServiceFault as exc:
            if not _gone_already(exc):
                raise


class StageHandler:
    """AWS::ApiGateway::Stage: Ref is the stage name. A new deployment (SAM names each
    deployment after its body, so a changed API comes with a new one) moves the stage in
    place; any other change replaces it."""

    replaces = frozenset({"RestApiId", "StageName", "Variables", "Description"})

    def __init__(self, apis: RestApis, update_stage: Callable[[Mapping[str, Any]], Answer]) -> None:
        self._apis = apis
        self._update_stage = update_stage

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        api_id, name = str(props["RestApiId"]), str(props["StageName"])
        params: dict[str, Any] = {
            "restApiId": api_id,
            "stageName": name,
            "deploymentId": str(props["DeploymentId"]),
        }
        if props.get("Variables"):
            params["variables"] = dict(props["Variables"])
        self._apis.create_stage(params)
        return Provisioned(f"{api_id}|{name}", name, {})

    async def update(
        self,
        current: Provisioned,
        old: Mapping[str, Any],
        props: Mapping[str, Any],
        logical_id: str,
        stack: str,
    ) -> Provisioned:
        if props.get("DeploymentId") != old.get("DeploymentId"):
            self._update_stage(
                {
                    "restApiId": str(props["RestApiId"]),
                    "stageName": str(props["StageName"]),
                    "patchOperations": [
                        {"op": "replace", "path": "/deploymentId", "value": props["DeploymentId"]}
                    ],
                }
            )
        return current

    async def delete(self, current: Provisioned, props: Mapping[str, Any]) -> None:
        api_id, name = current.physical_id.split("|", 1)
        try:
            self._apis.delete_stage({"restApiId": api_id, "stageName": name})
        except ServiceFault as exc:
            if not _gone_already(exc):
                raise


def rest_api_handlers(
    apis: RestApis, update_stage: Callable[[Mapping[str, Any]], Answer]
) -> dict[str, Any]:
    """The three REST API resource types, by type name."""
    return {
        "AWS::ApiGateway::RestApi": RestApiHandler(apis),
        "AWS::ApiGateway::Deployment": DeploymentHandler(apis),
        "AWS::ApiGateway::Stage": StageHandler(apis, update_stage),
    }
