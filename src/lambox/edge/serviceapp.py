"""Generic edge apps for services whose operations are plain handlers: one for the json
protocol (``X-Amz-Target: <prefix>.<Operation>``: EventBridge, CloudWatch Logs) and one for
rest-json (the operation found from the request line by botocore's request URIs:
EventBridge Scheduler, both API Gateway control APIs). Each parses with the protocol layer,
authorizes with the service's action name (or, for API Gateway, the method on the path)
when given an ``Authorizer``, makes one handler call and writes the answer or the error in
the protocol's shape."""

from __future__ import annotations

import inspect
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from starlette.types import Receive, Scope, Send

from lambox.edge import awsjson, restjson, uri
from lambox.edge.authorize import Authorizer
from lambox.edge.models import service_model
from lambox.errors import LamboxError, ServiceFault

if TYPE_CHECKING:  # botocore loads on a service's first request, not at start-up
    from botocore.model import ServiceModel

log = logging.getLogger(__name__)

BODY_LIMIT = 1 << 20
Handler = Callable[[dict[str, Any]], dict[str, Any] | Awaitable[dict[str, Any]]]
"""An operation: its input members to its output members, awaited when it must wait for
I/O (Signer's StartSigningJob reads and writes S3 objects)."""
Resource = Callable[[str, dict[str, Any]], str]
"""The ARN an operation acts on, from its input (for authorization)."""
Permission = Callable[[Scope, str], tuple[str, str]]
"""The (action, resource) a request needs, from the request and its path, for services
IAM authorizes by HTTP method and path rather than by operation (API Gateway)."""


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
            fault = _fault(exc)
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
        await _answer(send, status, headers, body)

    async def _handle(self, scope: Scope, receive: Receive) -> tuple[list[tuple[str, str]], bytes]:
        target = ""
        for key, value in scope["headers"]:
            if key == b"x-amz-target":
                target = value.decode("latin-1")
        name = awsjson.operation_of(target, self._prefix)
        handler = self._operations.get(name or "")
        if name is not None and handler is None and name in self._model.operation_names:
            raise unsupported(self._model, name)
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
        output = await _output(handler(params))
        return awsjson.response(op.output_shape, output, self._version)


def unsupported(model: ServiceModel, operation: str) -> ServiceFault:
    """An operation of the service's model lambox does not serve: named in the answer (as
    the Lambda API names its own), never a bare "unknown operation"."""
    service = model.metadata.get("serviceId") or model.service_name
    return ServiceFault(
        "UnsupportedOperationException",
        f"lambox does not support the {service} operation {operation} yet.",
        400,
    )


class RestJsonServiceApp:
    """ASGI app of one rest-json service: ``operations`` maps names to handlers."""

    def __init__(
        self,
        service: str,
        operations: Mapping[str, Handler],
        authorizer: Authorizer | None = None,
        resource: Resource | None = None,
        permission: Permission | None = None,
    ) -> None:
        self._service = service
        self._authorizer = authorizer
        self._resource = resource or (lambda operation, params: "*")
        self._permission = permission
        self._model = service_model(service)
        self._routes = uri.routes(self._model)
        self._operations = operations

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status = 200
        try:
            status, headers, body = await self._handle(scope, receive)
        except LamboxError as exc:
            fault = _fault(exc)
            status = fault.status
            headers, body = restjson.error(fault)
        except Exception:
            log.exception("%s request failed", self._service)
            status = 500
            headers, body = restjson.error(
                ServiceFault("InternalServerException", "Unexpected error.", 500)
            )
        await _answer(send, status, headers, body)

    async def _handle(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        if self._authorizer is not None and self._permission is not None:
            denial = self._authorizer.denial_in(scope, *self._permission(scope, path))
            if denial is not None:
                raise ServiceFault("AccessDeniedException", denial, 403)
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        found = uri.match(self._routes, scope["method"], path, query, headers)
        handler = self._operations.get(found[0]) if found is not None else None
        if found is not None and handler is None:
            raise unsupported(self._model, found[0])
        if found is None or handler is None:
            raise ServiceFault(
                "UnknownOperationException", f"{scope['method']} {path} is not served", 404
            )
        operation, labels = found
        op = self._model.operation_model(operation)
        params = restjson.parse(op, labels, query, headers, await _read(receive))
        if self._authorizer is not None and self._permission is None:
            action = f"{self._model.signing_name}:{operation}"
            denial = self._authorizer.denial_in(scope, action, self._resource(operation, params))
            if denial is not None:
                raise ServiceFault("AccessDeniedException", denial, 403)
        code, out_headers, body = restjson.response(op, await _output(handler(params)))
        # The model's status for the operation (201 for a create, 202 or 204 for a delete)
        # unless the answer carries its own.
        return code or int(op.http.get("responseCode") or 200), out_headers, body


async def _output(result: dict[str, Any] | Awaitable[dict[str, Any]]) -> dict[str, Any]:
    return await result if inspect.isawaitable(result) else result


def _fault(exc: LamboxError) -> ServiceFault:
    """Any lambox error as the service-shaped fault the protocol writes."""
    return (
        exc
        if isinstance(exc, ServiceFault)
        else ServiceFault(exc.aws_type, exc.message, exc.status)
    )


async def _answer(send: Send, status: int, headers: list[tuple[str, str]], body: bytes) -> None:
    raw = [(k.lower().encode(), v.encode("latin-1", "replace")) for k, v in headers]
    raw.append((b"x-amzn-requestid", str(uuid.uuid4()).encode()))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


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
