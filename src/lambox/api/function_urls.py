"""Requests to function URLs (``http://<url-id>.lambda-url.<region>.localhost:<port>/...``),
a raw ASGI handler on the invoke path: the edge routes them here by their Host header.

One request is one RequestResponse invocation of the URL's function (or alias) with a
payload format 2.0 event; the answer is mapped back to HTTP (``edge/http_events.py``). CORS
preflights are answered from the URL's configuration without running the function.
Errors are AWS's: 403 for a URL that does not exist, 413 for a body over 6 MB, 429 when
throttled, 502 when the function fails or answers something that is not a response.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from lambox.api.streaming import STREAM_LIMIT, Pump
from lambox.edge.denials import Answer
from lambox.edge.http_events import (
    BadResponse,
    Cors,
    HttpAnswer,
    HttpRequest,
    request_event,
    response,
    trace_header,
)
from lambox.edge.url_auth import UrlGuard
from lambox.errors import LamboxError, RequestTooLarge
from lambox.invoke.ids import new_request_id
from lambox.invoke.service import SYNC_PAYLOAD_LIMIT, InvokeService
from lambox.model import FunctionVersion, Invocation, InvocationResult
from lambox.store.urls import UrlConfig

log = logging.getLogger(__name__)

HOST_ID = "edge.host_id"
"""The scope key the edge stores the URL id (the Host's first label) under (the edge's
``router.HOST_ID``; the two layers share no imports)."""
FORBIDDEN = (
    "Forbidden. For troubleshooting Function URL authorization issues, see:"
    " https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
)
_JSON = (b"content-type", b"application/json")
_OCTETS = "application/octet-stream"
HTTP_INTEGRATION = "application/vnd.awslambda.http-integration-response"
"""The content type of a stream that opens with HTTP metadata (``HttpResponseStream``)."""
PRELUDE_END = b"\x00" * 8


def _error(status: int, kind: str, message: str, rid: str) -> HttpAnswer:
    body = json.dumps({"Message": message}).encode()
    headers = [_JSON, (b"x-amzn-errortype", kind.encode()), (b"x-amzn-requestid", rid.encode())]
    return HttpAnswer(status, headers, body)


def _failed(rid: str) -> HttpAnswer:
    headers = [_JSON, (b"x-amzn-requestid", rid.encode())]
    return HttpAnswer(502, headers, b"Internal Server Error")


class FunctionUrlEndpoint:
    """ASGI app for every request whose Host is a function URL's; ``answer`` is the same
    request answered whole, for a URL whose answer is buffered (``answers_whole``): the
    edge's hosted route, which the connection writes at once (``api/exchange.py``)."""

    def __init__(
        self,
        invoke: InvokeService,
        lookup: Callable[[str], UrlConfig | None],
        account: str,
        stream_limit: int = STREAM_LIMIT,
        guard: UrlGuard | None = None,
    ) -> None:
        self._stream_limit = stream_limit
        self._invoke = invoke
        self._lookup = lookup
        self._account = account
        self._guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = await self._answered(scope, receive, send)
        if answer is not None:
            await send({"type": "http.response.start", "status": answer[0], "headers": answer[1]})
            await send({"type": "http.response.body", "body": answer[2]})

    def answers_whole(self, scope: Scope) -> bool:
        """Whether the URL the scope names is answered whole: any but a RESPONSE_STREAM
        one (an unknown URL's 403 too). Read from the head: a URL whose mode changes to
        streaming before the body has arrived is answered buffered this once."""
        config = self._lookup(scope.get(HOST_ID, ""))
        return config is None or not config.streaming

    async def answer(self, scope: Scope, receive: Receive) -> Answer:
        """The whole answer to one request (the edge's hosted route, ``edge.Answerer``)."""
        answer = await self._answered(scope, receive, None)
        # None: the client left before its body was whole; nothing reads this answer.
        return answer if answer is not None else _whole(_failed(new_request_id()))

    async def _answered(self, scope: Scope, receive: Receive, send: Send | None) -> Answer | None:
        """The answer to write, or None when it was streamed already (``send`` given) or
        the client left."""
        rid = new_request_id()
        try:
            answer = await self._answer(scope, receive, send, rid)
        except ClientDisconnect:
            log.debug("client left during function URL request %s", rid)
            return None
        except Exception:
            log.exception("function URL request %s failed", rid)
            answer = _failed(rid)
        return None if answer is None else _whole(answer)

    async def _answer(
        self, scope: Scope, receive: Receive, send: Send | None, rid: str
    ) -> HttpAnswer | None:
        """The answer to send, or None when it was streamed already: only a streaming URL's
        request with ``send`` is streamed; without it the answer is buffered."""
        config = self._lookup(scope.get(HOST_ID, ""))
        if config is None:
            return _error(403, "AccessDeniedException", FORBIDDEN, rid)
        if self._guard is not None:
            refused = (
                self._guard.refusal(scope, config.function, config.qualifier)
                if config.auth_type == "AWS_IAM"
                else self._guard.public_refusal(config.function, config.qualifier)
            )
            if refused is not None:
                headers = [*refused.headers, (b"x-amzn-requestid", rid.encode())]
                return HttpAnswer(refused.status, headers, refused.body)
        origin = request_method = ""
        for key, value in scope["headers"]:
            if key == b"origin":
                origin = value.decode("latin-1")
            elif key == b"access-control-request-method":
                request_method = value.decode("latin-1")
        cors = Cors(config.cors) if config.cors is not None else None
        if cors is not None and scope["method"] == "OPTIONS" and origin and request_method:
            return cors.preflight(origin, request_method, rid)
        try:
            body = await _read_body(receive, SYNC_PAYLOAD_LIMIT)
        except RequestTooLarge as exc:
            return _error(413, exc.aws_type, exc.message, rid)
        extra = cors.headers(origin) if cors is not None and origin else None
        pump = Pump(self._stream_limit) if config.streaming and send is not None else None
        invocation = self._invocation(scope, config, body, rid, pump)
        answer: HttpAnswer | None
        try:
            fv, invocation = await self._invoke.prepare(
                config.function, invocation, serialized=True
            )
            if pump is None or send is None:
                answer = self._mapped(await self._invoke.run(fv, invocation), config, rid)
            else:
                answer = await self._stream(send, pump, fv, invocation, config, rid, extra)
        except LamboxError as exc:
            answer = (
                _failed(rid)
                if exc.status >= 500
                else _error(exc.status, exc.aws_type, exc.message, rid)
            )
        if answer is not None and extra is not None:
            kept = [(k, v) for k, v in answer.headers if not k.startswith(b"access-control-")]
            answer = HttpAnswer(answer.status, kept + extra, answer.body)
        return answer

    def _invocation(
        self, scope: Scope, config: UrlConfig, body: bytes, rid: str, pump: Pump | None
    ) -> Invocation:
        client = scope.get("client") or ("127.0.0.1", 0)
        server = scope.get("server") or ("127.0.0.1", 0)
        request = HttpRequest(
            method=scope["method"],
            raw_path=(scope.get("raw_path") or scope["path"].encode()).decode("latin-1"),
            query=(scope.get("query_string") or b"").decode("latin-1"),
            headers=scope["headers"],
            body=body,
            source_ip=str(client[0]),
            port=int(server[1] or 0),
        )
        account = self._account if config.auth_type == "AWS_IAM" else None
        event = request_event(request, config.url_id, rid, account)
        caller = UrlGuard.caller(scope) if config.auth_type == "AWS_IAM" else None
        if caller is not None:
            event["requestContext"]["authorizer"] = {"iam": caller}
        qualifier = None if config.qualifier == "$LATEST" else config.qualifier
        trace = trace_header(event)
        payload = json.dumps(event).encode()
        return Invocation(rid, payload, qualifier=qualifier, sink=pump, trace_header=trace)

    def _mapped(self, result: InvocationResult, config: UrlConfig, rid: str) -> HttpAnswer:
        """A whole (buffered) result as the URL's HTTP answer."""
        if result.function_error:
            return _failed(rid)
        try:
            answer = response(result.payload)
        except BadResponse as exc:
            log.info("function URL %s: unusable response (%s)", config.url_id, exc)
            return _failed(rid)
        answer.headers.append((b"x-amzn-requestid", rid.encode()))
        return answer

    async def _stream(
        self,
        send: Send,
        pump: Pump,
        fv: FunctionVersion,
        invocation: Invocation,
        config: UrlConfig,
        rid: str,
        extra: list[tuple[bytes, bytes]] | None,
    ) -> HttpAnswer | None:
        """A RESPONSE_STREAM URL: the function's bytes go out chunked as they come. With
        ``HttpResponseStream`` the stream opens with the HTTP metadata (JSON, then 8 NUL
        bytes). A function that does not stream is answered as a buffered URL answers."""
        task = pump.run(self._invoke, fv, invocation)
        try:
            return await self._relay(send, pump, task, config, rid, extra)
        finally:
            pump.close()

    async def _relay(
        self,
        send: Send,
        pump: Pump,
        task: asyncio.Task[InvocationResult],
        config: UrlConfig,
        rid: str,
        extra: list[tuple[bytes, bytes]] | None,
    ) -> HttpAnswer | None:
        started = False
        prelude = b""
        async for chunk in pump.chunks():
            if not started and pump.content_type == HTTP_INTEGRATION:
                prelude += chunk
                end = prelude.find(PRELUDE_END)
                if end < 0:
                    continue
                status, headers = _prelude(prelude[:end])
                chunk = prelude[end + len(PRELUDE_END) :]
            elif not started:
                status = 200
                headers = [(b"content-type", (pump.content_type or _OCTETS).encode("latin-1"))]
            if not started:
                headers = [
                    h for h in headers if not (extra and h[0].startswith(b"access-control-"))
                ]
                headers += [(b"x-amzn-requestid", rid.encode()), *(extra or [])]
                await send({"type": "http.response.start", "status": status, "headers": headers})
                started = True
            if chunk:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        try:
            result = task.result()
        except LamboxError:
            if not started:
                raise  # nothing sent yet: answered as the error it is
            log.warning("function URL %s: stream ended by a failure", config.url_id)
            await send({"type": "http.response.body", "body": b""})
            return None
        if started:
            if result.function_error:
                log.info("function URL %s: stream ended by a function error", config.url_id)
            elif pump.over:
                log.info("function URL %s: stream cut at %d bytes", config.url_id, pump.size)
            await send({"type": "http.response.body", "body": b""})
            return None
        if pump.content_type == HTTP_INTEGRATION and not result.function_error:
            status, headers = _prelude(prelude)  # metadata only, no body
            return HttpAnswer(status, [*headers, (b"x-amzn-requestid", rid.encode())], b"")
        return self._mapped(result, config, rid)


def _whole(answer: HttpAnswer) -> Answer:
    headers = [*answer.headers, (b"content-length", str(len(answer.body)).encode())]
    return answer.status, headers, answer.body


def _prelude(raw: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    """Status and headers of an ``HttpResponseStream`` prelude (statusCode, headers,
    cookies); what cannot be read is a plain 200."""
    try:
        answer = response(_prelude_payload(raw))
    except (BadResponse, ValueError):
        return 200, [(b"content-type", _OCTETS.encode())]
    return answer.status, answer.headers


def _prelude_payload(raw: bytes) -> bytes:
    """The prelude as a structured response without a body (octet-stream by default)."""
    meta = json.loads(raw or b"{}")
    if not isinstance(meta, dict):
        raise BadResponse("prelude")
    meta = {k: v for k, v in meta.items() if k in ("statusCode", "headers", "cookies")}
    meta.setdefault("statusCode", 200)
    headers = meta.get("headers") or {}
    if isinstance(headers, dict) and not any(str(k).lower() == "content-type" for k in headers):
        meta["headers"] = {**headers, "content-type": _OCTETS}
    return json.dumps(meta).encode()


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
                raise RequestTooLarge(
                    f"Request must be smaller than {limit} bytes for the InvokeFunction operation"
                )
            chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)
