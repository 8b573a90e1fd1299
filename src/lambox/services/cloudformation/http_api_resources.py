"""AWS::ApiGatewayV2::Api and AWS::ApiGatewayV2::Stage, as rows of the operation table
(``service_resources``): what a SAM ``HttpApi`` event expands to (an API whose ``Body`` is an
OpenAPI definition with ``x-amazon-apigateway-integration`` Lambda proxy integrations, and its
``$default`` stage).

The OpenAPI body is read as far as lambox's HTTP APIs go: each path and method with a Lambda
proxy integration becomes a route (``x-amazon-apigateway-any-method`` is ``ANY``, the path
``$default`` the ``$default`` route) with an AWS_PROXY integration of the same URI and payload
format; anything else in the definition (authorizers, CORS, models) is not read. A plain
(quick create) API passes ``Target`` and ``RouteKey`` through. Any change replaces the API.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lambox.services.cloudformation.resources import Provisioned
from lambox.services.cloudformation.service_resources import Call, Kind, forget, pick

ANY_METHOD = "x-amazon-apigateway-any-method"
_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", ANY_METHOD}


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


async def _api_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    """Ref is the ApiId; ApiEndpoint and ApiId attributes. The name is ``Name``, else the
    body's title, else a generated one."""
    body = props.get("Body") if isinstance(props.get("Body"), Mapping) else {}
    assert isinstance(body, Mapping)
    title = (body.get("info") or {}).get("title")
    params = {
        "Name": str(props.get("Name") or title or name),
        "ProtocolType": props.get("ProtocolType", "HTTP"),
        **pick(props, "Description", "Target", "RouteKey", "DisableExecuteApiEndpoint"),
    }
    api = await call("apigatewayv2", "CreateApi", params)
    api_id = str(api["ApiId"])
    for key, integration in _routes(body):
        created = await call(
            "apigatewayv2",
            "CreateIntegration",
            {
                "ApiId": api_id,
                "IntegrationType": "AWS_PROXY",
                "IntegrationUri": str(integration.get("uri", "")),
                "PayloadFormatVersion": str(integration.get("payloadFormatVersion", "2.0")),
            },
        )
        target = f"integrations/{created['IntegrationId']}"
        await call(
            "apigatewayv2", "CreateRoute", {"ApiId": api_id, "RouteKey": key, "Target": target}
        )
    attributes = {"ApiId": api_id, "ApiEndpoint": str(api.get("ApiEndpoint", ""))}
    return Provisioned(api_id, api_id, attributes)


async def _api_delete(call: Call, current: Provisioned, props: Mapping[str, Any]) -> None:
    await call("apigatewayv2", "DeleteApi", {"ApiId": current.physical_id})


HTTP_API = Kind(
    _api_create,
    _api_delete,
    replaces=frozenset(
        {"Body", "BodyS3Location", "Name", "ProtocolType", "Target", "RouteKey", "Description"}
    ),
)


async def _stage_create(call: Call, name: str, props: Mapping[str, Any]) -> Provisioned:
    """Ref is the stage name."""
    params = {
        **pick(props, "StageName", "AutoDeploy", "StageVariables"),
        "ApiId": str(props["ApiId"]),
    }
    await call("apigatewayv2", "CreateStage", params)
    stage = str(props["StageName"])
    return Provisioned(f"{props['ApiId']}|{stage}", stage, {})


# A stage is deleted with its API (lambox keeps stages inside the API).
HTTP_STAGE = Kind(
    _stage_create,
    forget,
    replaces=frozenset({"ApiId", "StageName", "AutoDeploy", "StageVariables"}),
)
