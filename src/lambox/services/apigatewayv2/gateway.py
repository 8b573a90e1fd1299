"""Requests to HTTP APIs (``http://<api-id>.execute-api.localhost:<port>/[stage/]path``): the
stage (a named one as the first path segment, else ``$default``), the route, its AWS_PROXY
integration's event (payload format 2.0 or 1.0) and the function's answer mapped back.

An API with a CorsConfiguration answers preflights itself (204) and puts its
``Access-Control-*`` headers on every answer to an allowed Origin, as API Gateway does.
Errors as API Gateway answers them: ``404 {"message":"Not Found"}`` for no API, stage or
route, 413 over the payload limit, 429 when the function is throttled, 500 ``Internal
Server Error`` when the function fails or answers something that is not a response.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qsl

from starlette.types import Receive, Scope, Send

from lambox.edge.http_events import (
    BadResponse,
    Cors,
    HttpAnswer,
    HttpRequest,
    request_event,
    request_event_v1,
    response,
    response_v1,
    trace_header,
)
from lambox.edge.router import HOST_ID
from lambox.errors import LamboxError, TooManyRequests
from lambox.services.apigatewayv2.rest import RestApiService
from lambox.services.apigatewayv2.routing import choose
from lambox.services.apigatewayv2.service import HttpApiService, lambda_arn, new_id

log = logging.getLogger(__name__)

PAYLOAD_LIMIT = 6 * 1024 * 1024
Invoker = Callable[[str, bytes, str | None], Awaitable[tuple[bytes, str | None]]]
"""(function ARN, payload, the request's X-Amzn-Trace-Id) -> (answer, function error)."""
"""Runs a function (by ARN) with a payload: (the answer, its function error or None)."""


def _message(status: int, text: str, rid: str) -> HttpAnswer:
    body = json.dumps({"message": text}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"apigw-requestid", rid.encode())]
    return HttpAnswer(status, headers, body)


class HttpApiGateway:
    """ASGI app for every request whose Host is an HTTP API's."""

    def __init__(
        self,
        apis: HttpApiService,
        invoke: Invoker,
        account: str,
        rest: RestApiService | None = None,
        region: str = "us-east-1",
    ) -> None:
        self._apis = apis
        self._invoke = invoke
        self._account = account
        self._rest = rest
        self._region = region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = new_id(16)
        try:
            answer = await self._answer(scope, receive, rid)
        except Exception:
            log.exception("HTTP API request %s failed", rid)
            answer = _message(500, "Internal Server Error", rid)
        headers = [*answer.headers, (b"content-length", str(len(answer.body)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def _answer(self, scope: Scope, receive: Receive, rid: str) -> HttpAnswer:
        api = self._apis.api(scope.get(HOST_ID, ""))
        not_found = _message(404, "Not Found", rid)
        if api is None:
            rest = self._rest.api(scope.get(HOST_ID, "")) if self._rest is not None else None
            if rest is not None:
                return await self._rest_answer(scope, receive, rid, rest)
            return not_found
        config = api.get("CorsConfiguration")
        cors = Cors(config) if config else None
        origin = dict(scope["headers"]).get(b"origin", b"").decode("latin-1")
        requested = dict(scope["headers"]).get(b"access-control-request-method")
        if cors is not None and scope["method"] == "OPTIONS" and origin and requested:
            # API Gateway answers a preflight itself when the API has a CorsConfiguration.
            pre = cors.preflight(origin, requested.decode("latin-1"), rid)
            return HttpAnswer(204, [h for h in pre.headers if h[0] != b"x-amzn-requestid"], b"")
        answer = await self._routed(scope, receive, rid, api)
        if cors is not None and origin:
            kept = [(k, v) for k, v in answer.headers if not k.startswith(b"access-control-")]
            answer = HttpAnswer(answer.status, kept + cors.headers(origin), answer.body)
        return answer

    async def _routed(
        self,
        scope: Scope,
        receive: Receive,
        rid: str,
        api: dict[str, Any],
    ) -> HttpAnswer:
        not_found = _message(404, "Not Found", rid)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        first, _, rest = raw_path.lstrip("/").partition("/")
        stages = api["Stages"]
        if first and first != "$default" and first in stages:
            stage, route_path = first, "/" + rest
        elif "$default" in stages:
            stage, route_path = "$default", raw_path
        else:
            return not_found
        chosen = choose(api["Routes"].values(), scope["method"], route_path)
        if chosen is None:
            return not_found
        route, params = chosen
        target = str(route.get("Target", "")).removeprefix("integrations/")
        integration = api["Integrations"].get(target)
        if integration is None:
            return not_found
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return not_found  # never sent: the client is gone
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > PAYLOAD_LIMIT:
                return _message(413, "Request Entity Too Large", rid)
        client = scope.get("client") or ("127.0.0.1", 0)
        server = scope.get("server") or ("127.0.0.1", 0)
        request = HttpRequest(
            scope["method"],
            raw_path,
            (scope.get("query_string") or b"").decode("latin-1"),
            scope["headers"],
            body,
            str(client[0]),
            int(server[1] or 0),
        )
        variables = stages[stage].get("StageVariables") or None
        authorized: dict[str, Any] | None = None
        if route.get("AuthorizationType") == "CUSTOM":
            authorizer = api.get("Authorizers", {}).get(route.get("AuthorizerId"))
            if authorizer is None:
                return _message(500, "Internal Server Error", rid)
            allowed = await self._authorize(
                authorizer, request, api["ApiId"], rid, route["RouteKey"], stage, params, variables
            )
            if isinstance(allowed, HttpAnswer):
                return allowed
            authorized = allowed
        v1 = integration["PayloadFormatVersion"] == "1.0"
        build = request_event_v1 if v1 else request_event
        event = build(
            request, api["ApiId"], rid, self._account, route["RouteKey"], stage, params, variables
        )
        if authorized is not None:
            event["requestContext"]["authorizer"] = authorized if v1 else {"lambda": authorized}
        try:
            payload, error = await self._invoke(
                lambda_arn(integration["IntegrationUri"]),
                json.dumps(event).encode(),
                trace_header(event),
            )
        except TooManyRequests:
            return _message(429, "Too Many Requests", rid)
        except LamboxError as exc:
            log.info("HTTP API %s: integration failed: %s", api["ApiId"], exc)
            return _message(500, "Internal Server Error", rid)
        if error:
            return _message(500, "Internal Server Error", rid)
        try:
            answer = response_v1(payload) if v1 else response(payload)
        except BadResponse as exc:
            log.info("HTTP API %s: unusable response (%s)", api["ApiId"], exc)
            return _message(500, "Internal Server Error", rid)
        answer.headers.append((b"apigw-requestid", rid.encode()))
        return answer

    async def _rest_answer(
        self, scope: Scope, receive: Receive, rid: str, api: dict[str, Any]
    ) -> HttpAnswer:
        """A REST API request: ``/<stage>/<path>``, the resource and method (or ANY), the
        payload format 1.0 event with the resource's path; errors in REST APIs' words."""
        missing = _message(403, "Missing Authentication Token", rid)
        missing.headers.append((b"x-amzn-errortype", b"MissingAuthenticationTokenException"))
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        stage, _, rest = raw_path.lstrip("/").partition("/")
        if stage not in api["Stages"]:
            return _message(403, "Forbidden", rid)
        route_path = "/" + rest
        routes = [
            {"RouteKey": f"{method} {resource['path']}", "resource": resource, "method": entry}
            for resource in api["Resources"].values()
            for method, entry in (resource.get("resourceMethods") or {}).items()
        ]
        chosen = choose(routes, scope["method"], route_path)
        if chosen is None:
            return missing
        route, params = chosen
        integration = route["method"].get("methodIntegration")
        if integration is None:
            return _message(500, "Internal server error", rid)
        body = await _body(receive)
        if body is None:
            return _message(413, "Request Entity Too Large", rid)
        request = _request(scope, route_path, body)
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
        failed = _message(502, "Internal server error", rid)
        try:
            payload, error = await self._invoke(
                lambda_arn(integration["uri"]), json.dumps(event).encode(), trace_header(event)
            )
        except TooManyRequests:
            return _message(429, "Too Many Requests", rid)
        except LamboxError as exc:
            log.info("REST API %s: integration failed: %s", api["id"], exc)
            return _message(500, "Internal server error", rid)
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
        route_key: str,
        stage: str,
        params: dict[str, str],
        variables: dict[str, str] | None,
    ) -> dict[str, Any] | HttpAnswer:
        """Run a Lambda REQUEST authorizer: its context when it allows the request, else
        API Gateway's answer (401 when an identity source is missing, 403 when denied)."""
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in request.headers}
        query = dict(parse_qsl(request.query, keep_blank_values=True))
        identity: list[str] = []
        for source in authorizer["IdentitySource"]:
            kind, _, name = source.removeprefix("$request.").partition(".")
            value = headers.get(name.lower()) if kind == "header" else query.get(name)
            if not value:
                return _message(401, "Unauthorized", rid)
            identity.append(value)
        method, _, path = route_key.partition(" ")
        route_arn = (
            f"arn:aws:execute-api:{self._region}:{self._account}:{api_id}/{stage}/"
            f"{method if path else '$default'}{path}"
        )
        if authorizer["AuthorizerPayloadFormatVersion"] == "2.0":
            event = request_event(
                request, api_id, rid, self._account, route_key, stage, params, variables
            )
            event.pop("body", None)
            event = {"type": "REQUEST", "routeArn": route_arn, "identitySource": identity, **event}
        else:
            event = request_event_v1(
                request, api_id, rid, self._account, route_key, stage, params, variables
            )
            event = {
                "type": "REQUEST",
                "methodArn": route_arn,
                "identitySource": ",".join(identity),
                **event,
            }
        try:
            payload, error = await self._invoke(
                lambda_arn(authorizer["AuthorizerUri"]),
                json.dumps(event).encode(),
                trace_header(event),
            )
            answer = json.loads(payload) if not error else None
        except (LamboxError, ValueError):
            answer = None
        if not isinstance(answer, dict):
            return _message(500, "Internal Server Error", rid)
        if authorizer["EnableSimpleResponses"]:
            allowed = answer.get("isAuthorized") is True
        else:
            statements = (answer.get("policyDocument") or {}).get("Statement") or []
            effects = {str(s.get("Effect")) for s in statements if isinstance(s, dict)}
            allowed = "Allow" in effects and "Deny" not in effects
        if not allowed:
            return _message(403, "Forbidden", rid)
        context = answer.get("context")
        return context if isinstance(context, dict) else {}


async def _body(receive: Receive) -> bytes | None:
    """The request body, or None over the payload limit."""
    body = b""
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b""
        body += message.get("body", b"")
        more = message.get("more_body", False)
        if len(body) > PAYLOAD_LIMIT:
            return None
    return body


def _request(scope: Scope, raw_path: str, body: bytes) -> HttpRequest:
    client = scope.get("client") or ("127.0.0.1", 0)
    server = scope.get("server") or ("127.0.0.1", 0)
    return HttpRequest(
        scope["method"],
        raw_path,
        (scope.get("query_string") or b"").decode("latin-1"),
        scope["headers"],
        body,
        str(client[0]),
        int(server[1] or 0),
    )
