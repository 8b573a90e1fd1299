"""Raw-ASGI response helpers shared by the fast invoke path and the management routes."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.responses import Response

from lambox.errors import LamboxError, TooManyRequests

JSON = "application/json"


class MadeHeaders(list[tuple[bytes, bytes]]):
    """Response headers whose values lambox made itself from what it knows to be clean (its
    request ids, version numbers, lengths, base64, constants): the connection's exchange
    writes them without checking each value for control characters (``api/exchange.py``),
    a check that was about a tenth of the front's own work on a warm Invoke. A value that
    came from outside lambox (a function's, a client's) never goes into one: an answer
    holding one is a plain list, and every value of a plain list is checked."""

    __slots__ = ()


def request_id() -> str:
    return str(uuid.uuid4())


def json_response(body: Any, status: int = 200, rid: str | None = None) -> Response:
    return Response(
        json.dumps(body, separators=(",", ":")).encode(),
        status_code=status,
        media_type=JSON,
        headers={"x-amzn-RequestId": rid or request_id()},
    )


def error_body(exc: LamboxError) -> dict[str, Any]:
    """The JSON body of an error, keyed as AWS keys that error."""
    body: dict[str, Any] = {} if exc.kind is None else {"Type": exc.kind}
    body[exc.message_key] = exc.shown_message
    if isinstance(exc, TooManyRequests):
        body["Reason"] = exc.reason
    return body


def error_answer(exc: LamboxError, rid: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """``error_response`` as a whole answer (status, raw headers, body), for the paths that
    write their answer without Starlette: the Invoke endpoint and the connection's exchange."""
    body = json.dumps(error_body(exc)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"x-amzn-errortype", exc.aws_type.encode()),
        (b"x-amzn-requestid", rid.encode()),
        (b"content-length", str(len(body)).encode()),
    ]
    return exc.status, headers, body


def error_response(exc: LamboxError, rid: str | None = None) -> Response:
    """Any lambox error in AWS's wire shape: ``x-amzn-ErrorType`` + ``{"Type","Message"}``."""
    return Response(
        json.dumps(error_body(exc)).encode(),
        status_code=exc.status,
        media_type=JSON,
        headers={"x-amzn-ErrorType": exc.aws_type, "x-amzn-RequestId": rid or request_id()},
    )
