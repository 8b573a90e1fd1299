"""EventBridge on the edge: an ASGI app for the json protocol (``X-Amz-Target:
AWSEvents.<Operation>``) that parses with the protocol layer, makes one service call and
writes the answer or the error as EventBridge does (HTTP 400 for client errors)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

from starlette.types import Receive, Scope, Send

from lambox.edge import awsjson
from lambox.edge.authorize import Authorizer
from lambox.edge.models import service_model
from lambox.errors import LamboxError, ServiceFault

log = logging.getLogger(__name__)

BODY_LIMIT = 1 << 20
Handler = Callable[[dict[str, Any]], dict[str, Any]]
Resource = Callable[[str, dict[str, Any]], str]
"""The ARN an operation acts on, from its input (for authorization)."""


class JsonServiceApp:
    """ASGI app of one json-protocol service: ``operations`` maps names to handlers."""

    def __init__(
        self,
        service: str,
        operations: Mapping[str, Handler],
        authorizer: Authorizer | None = None,
        resource: Resource | None = None,
    ) -> None:
        self._model = service_model(service)
        self._action_prefix = str(
            self._model.metadata.get("signingName") or self._model.endpoint_prefix
        )
        self._authorizer = authorizer
        self._resource = resource or (lambda operation, params: "*")
        self._prefix = self._model.metadata["targetPrefix"]
        self._version = self._model.metadata.get("jsonVersion", "1.1")
        self._operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, headers, body = 200, *await self._handle(scope, receive)
        except LamboxError as exc:
            fault = (
                exc
                if isinstance(exc, ServiceFault)
                else ServiceFault(exc.aws_type, exc.message, exc.status)
            )
            if fault.status >= 500:
                log.warning("%s request failed: %s", self._prefix, exc)
            status = fault.status
            headers, body = awsjson.error(fault, self._version)
        except Exception:
            log.exception("%s request failed", self._prefix)
            status = 500
            headers, body = awsjson.error(
                ServiceFault("InternalException", "An internal error occurred.", 500),
                self._version,
            )
        raw = [(k.lower().encode(), v.encode()) for k, v in headers]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[list[tuple[str, str]], bytes]:
        target = ""
        for key, value in scope["headers"]:
            if key == b"x-amz-target":
                target = value.decode("latin-1")
        name = awsjson.operation_of(target, self._prefix)
        handler = self._operations.get(name or "")
        if name is None or handler is None:
            raise ServiceFault("UnknownOperationException", f"Unknown operation {target}")
        body = await _read(receive)
        op = self._model.operation_model(name)
        params = awsjson.parse_body(op.input_shape, body)
        if self._authorizer is not None:
            action = f"{self._action_prefix}:{name}"
            denial = self._authorizer.denial_in(scope, action, self._resource(name, params))
            if denial is not None:
                raise ServiceFault("AccessDeniedException", denial, 400)
        output = handler(params)
        return awsjson.response(op.output_shape, output, self._version)


async def _read(receive: Receive) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > BODY_LIMIT:
            raise ServiceFault("ValidationException", "Request is too large.", 413)
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)
