"""What both API Gateway fronts (HTTP APIs, REST APIs) share: their JSON error answers,
reading a request's body under the payload limit, and the request as the event builders
take it."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.types import Receive, Scope

from lambox.edge.http_events import HttpAnswer, HttpRequest

PAYLOAD_LIMIT = 6 * 1024 * 1024
Invoker = Callable[[str, bytes, str | None], Awaitable[tuple[bytes, str | None]]]
"""Runs a function (by ARN) with a payload and the request's X-Amzn-Trace-Id: (the answer,
its function error or None)."""


def message(status: int, text: str, rid: str) -> HttpAnswer:
    """API Gateway's own ``{"message": ...}`` answer (404, 401, 403, 429, 500, 502 ...)."""
    body = json.dumps({"message": text}, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"apigw-requestid", rid.encode())]
    return HttpAnswer(status, headers, body)


def rest_error(status: int, body: dict[str, Any], error_type: str, rid: str) -> HttpAnswer:
    """A REST API's own answer (an authorizer's refusal) with its ``x-amzn-ErrorType``."""
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-requestid", rid.encode()),
        (b"x-amzn-errortype", error_type.encode()),
    ]
    return HttpAnswer(status, headers, json.dumps(body, separators=(",", ":")).encode())


def function_error_message(payload: bytes) -> str:
    """The ``errorMessage`` of a function error's payload (an authorizer's "Unauthorized")."""
    try:
        error = json.loads(payload)
    except ValueError:
        return ""
    return str(error.get("errorMessage", "")) if isinstance(error, dict) else ""


async def read_body(receive: Receive) -> bytes | None:
    """The request body, or None over the payload limit."""
    body = b""
    more = True
    while more:
        received = await receive()
        if received["type"] == "http.disconnect":
            return b""
        body += received.get("body", b"")
        more = received.get("more_body", False)
        if len(body) > PAYLOAD_LIMIT:
            return None
    return body


def http_request(scope: Scope, raw_path: str, body: bytes) -> HttpRequest:
    """The request as the event builders take it, with ``raw_path`` as its path."""
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
