"""The Invoke operation as a raw ASGI handler: the hot path, one hop to the sandbox.

Parses headers and the body into an ``Invocation``, makes one call to the invoke service,
and writes the payload bytes back untouched (no JSON re-encoding).
"""

from __future__ import annotations

import base64
import logging

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from lambox.api.exchange import WholeBody
from lambox.api.invoke_options import options
from lambox.api.responses import MadeHeaders, error_answer
from lambox.control import shapes
from lambox.edge.denials import Answer
from lambox.errors import (
    BadRequest,
    LamboxError,
    RequestTooLarge,
    ResourceNotFound,
    ServiceError,
)
from lambox.invoke.ids import new_request_id
from lambox.invoke.service import SYNC_PAYLOAD_LIMIT, InvokeService
from lambox.model import Invocation, InvocationType

log = logging.getLogger(__name__)

PREFIX = "/2015-03-31/functions/"
SUFFIX = "/invocations"
_STATUS = {
    InvocationType.REQUEST_RESPONSE: 200,
    InvocationType.EVENT: 202,
    InvocationType.DRY_RUN: 204,
}


def is_invoke(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] == "POST" and path.startswith(PREFIX) and path.endswith(SUFFIX)


class InvokeEndpoint:
    """ASGI app for ``POST /2015-03-31/functions/{name}/invocations``."""

    def __init__(self, service: InvokeService) -> None:
        self._service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        status, headers, body = await self.answer(scope, receive)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def answer(self, scope: Scope, receive: Receive) -> Answer:
        """The whole response to one Invoke (the edge's direct route, ``edge.Answerer``)."""
        rid = new_request_id()
        try:
            name = scope["path"][len(PREFIX) : -len(SUFFIX)]
            # The headers first, then the body: a bad header is the answer, whatever the body.
            kind, tail, context, durable, trace, qualifier, tenant = options(scope)
            if type(receive) is WholeBody:
                body = receive.body  # whole already: no message to await
                if len(body) > SYNC_PAYLOAD_LIMIT:
                    raise _too_large(SYNC_PAYLOAD_LIMIT)
            else:
                body = await _read_body(receive, SYNC_PAYLOAD_LIMIT)
            invocation = Invocation(
                rid, body, kind, context, tail, qualifier, None, durable, trace, tenant
            )
            try:
                result = await self._service.invoke(name, invocation)
            except ResourceNotFound:
                # Off the hot path: a malformed name is AWS's ValidationException, not a 404.
                shapes.validate("Invoke", {"FunctionName": name, "Qualifier": invocation.qualifier})
                raise
        except LamboxError as exc:
            return error_answer(exc, rid)
        except ClientDisconnect:
            # Left before its payload was whole: the function is not run on a part of it.
            log.debug("client left during Invoke %s", rid)
            return error_answer(BadRequest("The client left before its request was whole."), rid)
        except Exception:
            log.exception("invoke failed")
            return error_answer(ServiceError("Internal error."), rid)
        status = _STATUS[invocation.invocation_type]
        # The request id, the version (``$LATEST`` or a number), base64 and the length are
        # lambox's own: written unchecked (``MadeHeaders``). The function error is the
        # sandbox's word and the durable ARN carries names: with either, all are checked.
        headers: list[tuple[bytes, bytes]] = MadeHeaders(
            ((b"content-type", b"application/json"), (b"x-amzn-requestid", rid.encode()))
        )
        payload = result.payload if status == 200 else b""
        if status == 200:
            headers.append((b"x-amz-executed-version", result.executed_version.encode()))
        if result.function_error:
            headers = list(headers)
            headers.append((b"x-amz-function-error", result.function_error.encode()))
        if result.durable_execution_arn:
            headers = list(headers)
            headers.append((b"x-amz-durable-execution-arn", result.durable_execution_arn.encode()))
        if invocation.tail_logs and status == 200:
            headers.append((b"x-amz-log-result", base64.b64encode(result.log)))
        headers.append((b"content-length", str(len(payload)).encode()))
        return status, headers, payload


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        if chunk:
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _too_large(limit: int) -> RequestTooLarge:
    return RequestTooLarge(
        f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
    )


async def _send_error(send: Send, exc: LamboxError, rid: str) -> None:
    status, headers, body = error_answer(exc, rid)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
