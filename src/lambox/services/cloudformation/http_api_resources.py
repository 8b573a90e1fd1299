"""AWS::ApiGatewayV2::Api and AWS::ApiGatewayV2::Stage: what a SAM ``HttpApi`` event expands
to (an API whose ``Body`` is an OpenAPI definition with ``x-amazon-apigateway-integration``
Lambda proxy integrations, and its ``$default`` stage).

The OpenAPI body is read as far as lambox's HTTP APIs go: each path and method with a Lambda
proxy integration becomes a route (``x-amazon-apigateway-any-method`` is ``ANY``, the path
``$default`` the ``$default`` route) with an AWS_PROXY integration of the same URI and payload
format; anything else in the definition (authorizers, CORS, models) is not read. A plain
(quick create) API passes ``Target`` and ``RouteKey`` through. Any change replaces the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from lambox.services.cloudformation.resources import Provisioned, physical_name

Answer = dict[str, Any]
ANY_METHOD = "x-amazon-apigateway-any-method"
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", ANY_METHOD}


class HttpApis(Protocol):
    """The HTTP API service's operations, as the handlers call them."""

    def create_api(self, p: Mapping[str, Any]) -> Answer: ...
    def delete_api(self, p: Mapping[str, Any]) -> Answer: ...
    def create_integration(self, p: Mapping[str, Any]) -> Answer: ...
    def create_route(self, p: Mapping[str, Any]) -> Answer: ...
    def create_stage(self, p: Mapping[str, Any]) -> Answer: ...


def _routes(body: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(route key, integration) of each Lambda proxy operation of an OpenAPI definition."""
    found = []
    for path, operations in (body.get("paths") or {}).items():
        if not isinstance(operations, Mapping):
            continue
        for method, operation in operations.items():
            if method not in _METHODS or not isinstance(operation, Mapping):
                continue
            integration = operation.get("x-amazon-apigateway-integration")
            if not isinstance(integration, Mapping):
                continue
            verb = "ANY" if method == ANY_METHOD else method.upper()
            key = "$default" if path == "$default" else f"{verb} {path}"
            found.append((key, dict(integration)))
    return found


class HttpApiHandler:
    """AWS::ApiGatewayV2::Api (HTTP): Ref is the ApiId; ApiEndpoint and ApiId attributes."""

    replaces = frozenset(
        {"Body", "BodyS3Location", "Name", "ProtocolType", "Target", "RouteKey", "Description"}
    )

    def __init__(self, apis: HttpApis) -> None:
        self._apis = apis

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        body = props.get("Body") if isinstance(props.get("Body"), Mapping) else {}
        assert isinstance(body, Mapping)
        title = (body.get("info") or {}).get("title")
        name = props.get("Name") or title or physical_name(stack, logical_id)
        params = {"Name": str(name), "ProtocolType": props.get("ProtocolType", "HTTP")}
        for member in ("Description", "Target", "RouteKey", "DisableExecuteApiEndpoint"):
            if member in props:
                params[member] = props[member]
        api = self._apis.create_api(params)
        api_id = str(api["ApiId"])
        for key, integration in _routes(body):
            created = self._apis.create_integration(
                {
                    "ApiId": api_id,
                    "IntegrationType": "AWS_PROXY",
                    "IntegrationUri": str(integration.get("uri", "")),
                    "PayloadFormatVersion": str(integration.get("payloadFormatVersion", "2.0")),
                }
            )
            target = f"integrations/{created['IntegrationId']}"
            self._apis.create_route({"ApiId": api_id, "RouteKey": key, "Target": target})
        attributes = {"ApiId": api_id, "ApiEndpoint": str(api.get("ApiEndpoint", ""))}
        return Provisioned(api_id, api_id, attributes)

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
        self._apis.delete_api({"ApiId": current.physical_id})


class HttpStageHandler:
    """AWS::ApiGatewayV2::Stage: Ref is the stage name; it goes with its API."""

    replaces = frozenset({"ApiId", "StageName", "AutoDeploy", "StageVariables"})

    def __init__(self, apis: HttpApis) -> None:
        self._apis = apis

    async def create(self, logical_id: str, props: Mapping[str, Any], stack: str) -> Provisioned:
        params = {k: props[k] for k in ("StageName", "AutoDeploy", "StageVariables") if k in props}
        self._apis.create_stage({**params, "ApiId": str(props["ApiId"])})
        name = str(props["StageName"])
        return Provisioned(f"{props['ApiId']}|{name}", name, {})

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
        return None  # a stage is deleted with its API (lambox keeps stages inside the API)
