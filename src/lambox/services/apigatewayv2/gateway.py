"""Requests to HTTP APIs (``http://<api-id>.execute-api.localhost:<port>/[stage/]path``): the
stage (a named one as the first path segment, else ``$default``), the route its deployment
serves, its Lambda or JWT authorizer, its AWS_PROXY integration's event (payload format 2.0
or 1.0) and the function's answer mapped back. A REST API's id goes to ``rest_gateway``.

An API with a CorsConfiguration answers preflights itself (204) and puts its
``Access-Control-*`` headers on every answer to an allowed Origin, as API Gateway does.
Errors as API Gateway answers them: ``404 {"message":"Not Found"}`` for no API, stage or
route, 413 over the payload limit, 429 when the function is throttled, 500 ``Internal
Server Error`` when the function fails or answers something that is not a response.
"""

from __future__ import annotations

import json
import logging
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
from lambox.services.apigatewayv2.answers import PAYLOAD_LIMIT, Invoker, message
from lambox.services.apigatewayv2.authorizers import ResultCache, policy_effect
from lambox.services.apigatewayv2.jwt import InvalidToken, KeySets, scopes_of
from lambox.services.apigatewayv2.rest import RestApiService
from lambox.services.apigatewayv2.rest_gateway import RestApiGateway
from lambox.services.apigatewayv2.routing import choose
from lambox.services.apigatewayv2.service import HttpApiService, lambda_arn, new_id

log = logging.getLogger(__name__)


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
        self._rest_gateway = RestApiGateway(invoke, account, region)
        self._region = region
        self._cache = ResultCache()
        self._keys = KeySets()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = new_id(16)
        try:
            answer = await self._answer(scope, receive, rid)
        except Exception:
            log.exception("HTTP API request %s failed", rid)
            answer = message(500, "Internal Server Error", rid)
        headers = [*answer.headers, (b"content-length", str(len(answer.body)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def _answer(self, scope: Scope, receive: Receive, rid: str) -> HttpAnswer:
        api = self._apis.api(scope.get(HOST_ID, ""))
        not_found = message(404, "Not Found", rid)
        if api is None:
            rest = self._rest.api(scope.get(HOST_ID, "")) if self._rest is not None else None
            if rest is not None:
                return await self._rest_gateway.answer(scope, receive, rid, rest)
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
        not_found = message(404, "Not Found", rid)
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
        first, _, rest = raw_path.lstrip("/").partition("/")
        stages = api["Stages"]
        if first and first != "$default" and first in stages:
            stage, route_path = first, "/" + rest
        elif "$default" in stages:
            stage, route_path = "$default", raw_path
        else:
            return not_found
        served = HttpApiService.deployed(api, stage)
        chosen = choose(served["Routes"].values(), scope["method"], route_path)
        if chosen is None:
            return not_found
        route, params = chosen
        target = str(route.get("Target", "")).removeprefix("integrations/")
        integration = served["Integrations"].get(target)
        if integration is None:
            return not_found
        body = b""
        more = True
        while more:
            received = await receive()
            if received["type"] == "http.disconnect":
                return not_found  # never sent: the client is gone
            body += received.get("body", b"")
            more = received.get("more_body", False)
            if len(body) > PAYLOAD_LIMIT:
                return message(413, "Request Entity Too Large", rid)
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
            authorizer = served.get("Authorizers", {}).get(route.get("AuthorizerId"))
            if authorizer is None:
                return message(500, "Internal Server Error", rid)
            allowed = await self._authorize(
                authorizer, request, api["ApiId"], rid, route["RouteKey"], stage, params, variables
            )
            if isinstance(allowed, HttpAnswer):
                return allowed
            authorized = allowed
        jwt_claims: dict[str, Any] | None = None
        if route.get("AuthorizationType") == "JWT":
            authorizer = served.get("Authorizers", {}).get(route.get("AuthorizerId"))
            if authorizer is None:
                return message(500, "Internal Server Error", rid)
            checked = await self._jwt(authorizer, route, request, rid)
            if isinstance(checked, HttpAnswer):
                return checked
            jwt_claims = checked
        v1 = integration["PayloadFormatVersion"] == "1.0"
        build = request_event_v1 if v1 else request_event
        event = build(
            request, api["ApiId"], rid, self._account, route["RouteKey"], stage, params, variables
        )
        if authorized is not None:
            event["requestContext"]["authorizer"] = authorized if v1 else {"lambda": authorized}
        if jwt_claims is not None:
            scopes = scopes_of(jwt_claims) or None
            event["requestContext"]["authorizer"] = {
                "jwt": {"claims": jwt_claims, "scopes": scopes}
            }
        try:
            payload, error = await self._invoke(
                lambda_arn(integration["IntegrationUri"]),
                json.dumps(event).encode(),
                trace_header(event),
            )
        except TooManyRequests:
            return message(429, "Too Many Requests", rid)
        except LamboxError as exc:
            log.info("HTTP API %s: integration failed: %s", api["ApiId"], exc)
            return message(500, "Internal Server Error", rid)
        if error:
            return message(500, "Internal Server Error", rid)
        try:
            answer = response_v1(payload) if v1 else response(payload)
        except BadResponse as exc:
            log.info("HTTP API %s: unusable response (%s)", api["ApiId"], exc)
            return message(500, "Internal Server Error", rid)
        answer.headers.append((b"apigw-requestid", rid.encode()))
        return answer

    async def _jwt(
        self, authorizer: dict[str, Any], route: dict[str, Any], request: HttpRequest, rid: str
    ) -> dict[str, Any] | HttpAnswer:
        """The claims of the request's bearer token when it is valid and carries one of the
        route's scopes; else 401 (no or invalid token) or 403 (a scope missing)."""
        source = str(authorizer["IdentitySource"][0]).removeprefix("$request.header.").lower()
        value = ""
        for key, raw in request.headers:
            if key.decode("latin-1").lower() == source:
                value = raw.decode("latin-1").strip()
        token = value[7:].strip() if value[:7].lower() == "bearer " else value
        if not token:
            return message(401, "Unauthorized", rid)
        config = authorizer["JwtConfiguration"]
        try:
            claims = await self._keys.verify(token, config["Issuer"], config["Audience"])
        except InvalidToken as exc:
            log.info("JWT authorizer %s: %s", authorizer["AuthorizerId"], exc)
            answer = message(401, "Unauthorized", rid)
            answer.headers.append(
                (
                    b"www-authenticate",
                    f'Bearer error="invalid_token" error_description="{exc}"'.encode(),
                )
            )
            return answer
        wanted = route.get("AuthorizationScopes") or []
        if wanted and not set(wanted) & set(scopes_of(claims)):
            return message(403, "Forbidden", rid)
        return claims

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
                return message(401, "Unauthorized", rid)
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
        key = (api_id, str(authorizer["AuthorizerId"]), *identity)
        ttl = int(authorizer.get("AuthorizerResultTtlInSeconds", 0)) if identity else 0
        answer = self._cache.get(key) if ttl else None
        if answer is None:
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
                return message(500, "Internal Server Error", rid)
            self._cache.put(key, answer, ttl)
        if authorizer["EnableSimpleResponses"]:
            allowed = answer.get("isAuthorized") is True
        else:
            allowed = policy_effect(answer, route_arn) == "Allow"
        if not allowed:
            return message(403, "Forbidden", rid)
        context = answer.get("context")
        return context if isinstance(context, dict) else {}
