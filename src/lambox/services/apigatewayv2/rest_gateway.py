"""Requests to REST APIs (``http://<api-id>.execute-api.localhost:<port>/<stage>/path``):
the stage's deployed resources (its deployment's snapshot), the resource and method, the
method's Lambda authorizer (TOKEN or REQUEST, cached), the payload format 1.0 event and the
function's answer mapped back; errors in REST APIs' own words."""

from __future__ import annotations

import json
import logging
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope

from lambox.edge.http_events import (
    BadResponse,
    HttpAnswer,
    HttpRequest,
    request_event_v1,
    response_v1,
    trace_header,
)
from lambox.errors import LamboxError, TooManyRequests
from lambox.services.apigatewayv2.answers import (
    Invoker,
    function_error_message,
    http_request,
    message,
    read_body,
    rest_error,
)
from lambox.services.apigatewayv2.authorizers import ResultCache, policy_effect
from lambox.services.apigatewayv2.rest import RestApiService
from lambox.services.apigatewayv2.routing import choose
from lambox.services.apigatewayv2.service import lambda_arn

log = logging.getLogger(__name__)


class RestApiGateway:
    """Answers one request to a REST API (``answer``); keeps its authorizers' cache."""

    def __init__(self, invoke: Invoker, account: str, region: str) -> None:
        self._invoke = invoke
        self._account = account
        self._region = region
        self._cache = ResultCache()

    async def answer(
        self, scope: Scope, receive: Receive, rid: str, api: dict[str, Any]
    ) -> HttpAnswer:
        """A REST API request: ``/<stage>/<path>``, the resource and method (or ANY), the
        payload format 1.0 event with the resource's path; errors in REST APIs' words."""
        missing = message(403, "Missing Authentication Token", rid)
        missing.headers.append((b"x-amzn-errortype", b"MissingAuthenticationTokenException"))
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        stage, _, rest = raw_path.lstrip("/").partition("/")
        if stage not in api["Stages"]:
            return message(403, "Forbidden", rid)
        route_path = "/" + rest
        deployed = RestApiService.deployed(api, stage)
        routes = [
            {"RouteKey": f"{method} {resource['path']}", "resource": resource, "method": entry}
            for resource in deployed["Resources"].values()
            for method, entry in (resource.get("resourceMethods") or {}).items()
        ]
        chosen = choose(routes, scope["method"], route_path)
        if chosen is None:
            return missing
        route, params = chosen
        integration = route["method"].get("methodIntegration")
        if integration is None:
            return message(500, "Internal server error", rid)
        body = await read_body(receive)
        if body is None:
            return message(413, "Request Entity Too Large", rid)
        request = http_request(scope, route_path, body)
        resource = route["resource"]
        variables = api["Stages"][stage].get("variables") or None
        event = request_event_v1(
            request, api["id"], rid, self._account, route["RouteKey"], stage, params, variables
        )
        event["resource"] = resource["path"]
        context = event["requestContext"]
        context.update(
            {"resourceId": resource["id"], "resourcePath": resource["path"], "path": raw_path}
        )
        if route["method"].get("authorizationType") == "CUSTOM":
            authorizer = deployed["Authorizers"].get(route["method"].get("authorizerId"))
            if authorizer is None:
                return message(500, "Internal server error", rid)
            method_arn = (
                f"arn:aws:execute-api:{self._region}:{self._account}:{api['id']}/{stage}/"
                f"{scope['method']}{route_path}"
            )
            request_event = {k: v for k, v in event.items() if k not in ("body", "isBase64Encoded")}
            allowed = await self._authorize(
                authorizer, request, api["id"], rid, method_arn, request_event, variables
            )
            if isinstance(allowed, HttpAnswer):
                return allowed
            context["authorizer"] = allowed
        failed = message(502, "Internal server error", rid)
        try:
            payload, error = await self._invoke(
                lambda_arn(integration["uri"]), json.dumps(event).encode(), trace_header(event)
            )
        except TooManyRequests:
            return message(429, "Too Many Requests", rid)
        except LamboxError as exc:
            log.info("REST API %s: integration failed: %s", api["id"], exc)
            return message(500, "Internal server error", rid)
        if error:
            return failed
        try:
            answer = response_v1(payload)
        except BadResponse as exc:
            log.info("REST API %s: unusable response (%s)", api["id"], exc)
            return failed
        answer.headers.append((b"x-amzn-requestid", rid.encode()))
        return answer

    async def _authorize(
        self,
        authorizer: dict[str, Any],
        request: HttpRequest,
        api_id: str,
        rid: str,
        method_arn: str,
        request_event: dict[str, Any],
        variables: dict[str, str] | None,
    ) -> dict[str, Any] | HttpAnswer:
        """Run a REST API's Lambda authorizer (TOKEN or REQUEST), or take its cached answer:
        the ``requestContext.authorizer`` (principalId and context) when its policy allows
        ``method_arn``, else REST APIs' 401, 403 or 500."""
        unauthorized = rest_error(401, {"message": "Unauthorized"}, "UnauthorizedException", rid)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        source = str(authorizer.get("identitySource") or "")
        identity: list[str] = []
        if authorizer["type"] == "TOKEN":
            token = headers.get(source.removeprefix("method.request.header.").lower())
            expression = authorizer.get("identityValidationExpression")
            if not token or (expression and not re.fullmatch(expression, token)):
                return unauthorized
            identity.append(token)
            event: dict[str, Any] = {
                "type": "TOKEN",
                "methodArn": method_arn,
                "authorizationToken": token,
            }
        else:
            for part in filter(None, (s.strip() for s in source.split(","))):
                kind, _, name = part.rpartition(".")
                value = {
                    "method.request.header": headers.get(name.lower()),
                    "method.request.querystring": query.get(name),
                    "stageVariables": (variables or {}).get(name),
                }.get(kind)
                if not value:
                    return unauthorized
                identity.append(value)
            event = {"type": "REQUEST", "methodArn": method_arn, **request_event}
        key = (api_id, str(authorizer["id"]), *identity)
        ttl = int(authorizer.get("authorizerResultTtlInSeconds", 300)) if identity else 0
        answer = self._cache.get(key) if ttl else None
        if answer is None:
            try:
                payload, error = await self._invoke(
                    lambda_arn(authorizer["authorizerUri"]),
                    json.dumps(event).encode(),
                    trace_header(event),
                )
            except LamboxError as exc:
                log.info("REST API %s: authorizer failed: %s", api_id, exc)
                payload, error = b"", "Unhandled"
            if error and function_error_message(payload) == "Unauthorized":
                return unauthorized
            try:
                answer = json.loads(payload) if not error else None
            except ValueError:
                answer = None
            if not isinstance(answer, dict):
                return rest_error(500, {"message": None}, "AuthorizerConfigurationException", rid)
            self._cache.put(key, answer, ttl)
        effect = policy_effect(answer, method_arn)
        if effect != "Allow":
            text = "User is not authorized to access this resource"
            if effect == "Deny":
                text += " with an explicit deny"
            return rest_error(403, {"Message": text}, "AccessDeniedException", rid)
        context = answer.get("context") or {}
        if not isinstance(context, dict) or any(
            isinstance(v, (dict, list)) for v in context.values()
        ):
            # Only flat string, number and boolean values are valid, as on AWS.
            return rest_error(500, {"message": None}, "AuthorizerConfigurationException", rid)
        return {
            "principalId": answer.get("principalId"),
            **{k: _text(v) for k, v in context.items()},
        }


def _text(value: Any) -> Any:
    """A context value as the integration sees it: API Gateway passes them all as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value
