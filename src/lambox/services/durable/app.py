"""The HTTP app of the durable-execution operations: rest-json by botocore's Lambda model
(``/2025-12-01/...``), errors in the Lambda API's shape (``x-amzn-ErrorType`` and
``{"Type", "Message"}``), authorized by the edge like every Lambda API request."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Receive, Scope, Send

from lambox import jsontext
from lambox.edge import rest, restjson, uri
from lambox.edge.models import service_model
from lambox.errors import (
    InvalidParameterValue,
    InvalidRequestContent,
    LamboxError,
    RequestTooLarge,
    ServiceError,
    UnknownOperation,
)
from lambox.services.durable.service import Handler

log = logging.getLogger(__name__)

PREFIX = "/2025-12-01/"
BODY_LIMIT = 6 * 1024 * 1024


class DurableApp:
    """Serves ``/2025-12-01/`` paths; hands every other request to ``lambda_app``.

    The Lambda model and its routes are loaded on the first durable request: every request
    of the Lambda API goes through this app, most servers never see a durable one, and
    loading the model (botocore with it) was a sixth of start-up."""

    def __init__(
        self,
        operations: Mapping[str, Handler],
        lambda_app: ASGIApp,
        validate: Callable[[str, Mapping[str, Any]], None] | None = None,
    ) -> None:
        self._operations = operations
        self._next = lambda_app
        # The Lambda API's model validation (nulls, lengths, ranges), as server.py wires it.
        self._validate = validate

    @functools.cached_property
    def _table(self) -> tuple[Any, list[uri.Route]]:
        """botocore's Lambda model and the routes of the operations served (loaded once)."""
        model = service_model("lambda")
        return model, [r for r in uri.routes(model) if r.operation in self._operations]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._next, name)  # the Lambda app's own surface (set_lifespan)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self._next(scope, receive, send)
            return
        try:
            status, headers, body = await self._handle(scope, receive)
        except LamboxError as exc:
            status, headers, body = _error(exc)
        except Exception:
            log.exception("durable request failed")
            status, headers, body = _error(ServiceError("Internal error."))
        raw = [(k.lower().encode(), v.encode()) for k, v in headers]
        raw.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    async def _handle(
        self, scope: Scope, receive: Receive
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        raw = scope.get("raw_path") or scope["path"].encode()
        path = raw.decode("latin-1").split("?", 1)[0]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        model, routes = self._table
        found = uri.match(routes, scope["method"], path, query, headers)
        if found is None:
            raise UnknownOperation("Unknown operation")
        operation, labels = found
        op = model.operation_model(operation)
        body = await _read(receive)
        params = restjson.parse(op, labels, query, headers, body)
        if self._validate is not None:
            self._validate(operation, {**params, **_raw_members(op, body)})
        for member in op.input_shape.required_members:
            if params.get(member) in (None, ""):
                raise InvalidParameterValue(f"{member} is required.")
        code, out_headers, body = restjson.response(op, self._operations[operation](params))
        status = code or int(op.http.get("responseCode") or 200)
        if not body:
            out_headers = [*out_headers, ("Content-Type", "application/json")]
            body = b"{}" if op.output_shape is not None else b""
        return status, out_headers, body


def _raw_members(op: Any, body: bytes) -> dict[str, Any]:
    """The JSON body's members as sent (nulls kept, for validation to refuse); a string
    holding half a surrogate pair is refused here, as the Lambda API refuses it."""
    if op.input_shape is None or rest.payload_member(op.input_shape) is not None:
        return {}
    try:
        data = json.loads(body) if body.strip() else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    for text in jsontext.strings(data):
        lone = jsontext.lone_surrogate(text)
        if lone is not None:
            raise InvalidRequestContent(
                "Could not parse request body into json: Unpaired surrogate character"
                f" (code 0x{ord(lone):X}) in a JSON String"
            )
    return data


def _error(exc: LamboxError) -> tuple[int, list[tuple[str, str]], bytes]:
    body: dict[str, Any] = {} if exc.kind is None else {"Type": exc.kind}
    body[exc.message_key] = exc.shown_message
    headers = [("Content-Type", "application/json"), ("x-amzn-ErrorType", exc.aws_type)]
    return exc.status, headers, json.dumps(body).encode()


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
            raise RequestTooLarge("Request is too large.")
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(parts)
