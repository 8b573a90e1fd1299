"""The API Gateway control APIs (rest-json, botocore's models) as ASGI apps: apigatewayv2's
``/v2/`` paths, and apigateway's (REST APIs) for everything else, as both sign for the
service ``apigateway``.

IAM authorizes API Gateway's control APIs by HTTP method on the resource path, as AWS does:
``apigateway:POST`` on ``arn:aws:apigateway:<region>::/v2/apis``, ``apigateway:DELETE`` on
``arn:aws:apigateway:<region>::/restapis/<id>``."""

from __future__ import annotations

import logging
import uuid
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from lambox.edge import restjson, uri
from lambox.edge.authorize import Authorizer
from lambox.edge.models import service_model
from lambox.errors import LamboxError, ServiceFault
from lambox.services.apigatewayv2.service import Handler

log = logging.getLogger(__name__)
BODY_LIMIT = 1 << 20


class RestJsonApp:
    """Parses a request into an operation of ``model``, calls its handler, serializes the
    answer; requests outside ``/v2/`` go to ``rest`` (REST APIs) when given."""

    def __init__(
        self,
        model: str,
        operations: dict[str, Handler],
        rest: RestJsonApp | None = None,
        authorizer: Authorizer | None = None,
        region: str = "us-east-1",
    ) -> None:
        self._operations = operations
        self._authorizer = authorizer
        self._region = region
        self._model = service_model(model)
        self._routes = uri.routes(self._model)
        self._rest = rest

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._rest is not None and not scope["path"].startswith("/v2/"):
            await self._rest(scope, receive, send)
            return
        rid = str(uuid.uuid4())
        try:
            status, headers, body = await self._call(scope, receive)
        except ServiceFault as fault:
            status = fault.status
            headers, body = restjson.error(fault)
        except LamboxError as exc:
            log.warning("apigatewayv2 request failed: %s", exc)
            status = 500
            headers, body = restjson.error(ServiceFault("InternalServerError", exc.message, 500))
        raw = [(k.lower().encode(), v.encode("latin-1", "replace")) for k, v in headers]
        raw += [(b"x-amzn-requestid", rid.encode()), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _call(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?")[0]
        if self._authorizer is not None:
            action = f"apigateway:{scope['method']}"
            resource = f"arn:aws:apigateway:{self._region}::{path.rstrip('/') or '/'}"
            denial = self._authorizer.denial_in(scope, action, resource)
            if denial is not None:
                raise ServiceFault("AccessDeniedException", denial, 403)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        found = uri.match(self._routes, scope["method"], path, query, headers)
        if found is None:
            raise ServiceFault("NotFoundException", "Unknown operation", 404)
        name, labels = found
        handler = self._operations.get(name)
        if handler is None:
            raise ServiceFault("BadRequestException", f"lambox does not serve {name}", 400)
        body = b""
        more = True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > BODY_LIMIT:
                raise ServiceFault("BadRequestException", "Request body too large", 413)
        op = self._model.operation_model(name)
        params = restjson.parse(op, labels, query, headers, body)
        output, status = handler(params)
        if status == 204:
            return 204, [], b""
        given, out_headers, data = restjson.response(op, output)
        return given or status, out_headers, data
