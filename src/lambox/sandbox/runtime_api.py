"""The Lambda Runtime API (2018-06-01) of one sandbox: its routes and its state machine.

A runtime (the function's ``bootstrap``, lambox's Node client, awslambdaric ...) drives it:

    INITIALIZING --GET next--> READY --hand()--> INVOKING --POST {id}/response|error--> READY
         |                       ^                                                        |
         |                       +--------------------------------------------------------+
         +--POST init/error--> INIT_FAILED          close(): any state --> CLOSED

- Init is complete when the runtime first asks for ``/invocation/next``: ``init`` resolves
  with None. A ``POST /init/error`` resolves it with the error payload instead.
- ``hand`` gives the next invocation to the runtime's pending (or next) ``/next`` long poll and
  returns a future of its ``Answer``: the body of ``/response``, or of ``/error`` as an
  ``Unhandled`` error. A ``/response`` over ``BODY_LIMIT`` is refused with 413 and the
  invocation fails with ``Function.ResponseSizeTooLarge``, as on Lambda.
- Everything out of order is refused as Lambda's API refuses it: 403 ``InvalidStateTransition``
  for a post the state does not allow, 400 ``InvalidRequestID`` for another invocation's id.
- ``drain`` is called synchronously just before init completes and before an invocation is
  answered, so the host can cut the runtime's log output at exactly that point (whatever the
  runtime wrote before posting is then in the host's pipe).
- ``fail`` ends whatever is pending with an exception (the process died); ``close`` drops the
  pending long poll. The sandbox owns the timeouts; this class never waits by itself.
- A ``/response`` in the streaming response mode (``Lambda-Runtime-Function-Response-Mode:
  streaming``, chunked) is passed on as it arrives: to the invocation's ``ResponseSink``
  when the caller streams (InvokeWithResponseStream, a RESPONSE_STREAM function URL), else
  collected into one payload (a plain Invoke). The sink gets the connection's flow so that
  a slow reader pauses the runtime's writes (the sink owns the size limit of a stream). An
  error after the first bytes comes in the
  trailers (``Lambda-Runtime-Function-Error-Type`` and ``-Error-Body``, base64), as on Lambda.
  The answer resolves when the stream ends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from lambox.errors import IllegalTransition
from lambox.model import ResponseSink
from lambox.sandbox.runtime_api_server import Exchange, Request

PREFIX = "/2018-06-01/runtime/"
RESPONSE_LIMIT = 6 * 1024 * 1024 + 100
BODY_LIMIT = RESPONSE_LIMIT
ERROR_TYPE_HEADER = "lambda-runtime-function-error-type"
ERROR_BODY_TRAILER = "lambda-runtime-function-error-body"
RESPONSE_MODE_HEADER = "lambda-runtime-function-response-mode"
UNHANDLED = "Unhandled"
_JSON = (("Content-Type", "application/json"),)
_ACCEPTED = b'{"status":"OK"}'


class ApiState(Enum):
    """Where the runtime is in its lifecycle, as the endpoint sees it."""

    INITIALIZING = "Initializing"
    READY = "Ready"
    INVOKING = "Invoking"
    INIT_FAILED = "InitError"
    CLOSED = "Closed"


INITIALIZING, READY, INVOKING, INIT_FAILED, CLOSED = ApiState
_ALLOWED = {
    INITIALIZING: (READY, INIT_FAILED, CLOSED),
    READY: (INVOKING, CLOSED),
    INVOKING: (READY, CLOSED),
    INIT_FAILED: (CLOSED,),
    CLOSED: (CLOSED,),
}


@dataclass(frozen=True, slots=True)
class Event:
    """An invocation as the runtime receives it from ``/next``: payload and headers."""

    request_id: str
    payload: bytes
    headers: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Answer:
    """What the runtime posted for one invocation; ``error`` is None or ``Unhandled``."""

    payload: bytes
    error: str | None


def too_large_payload() -> bytes:
    """The invoke answer of a response over the limit (Lambda's words)."""
    return json.dumps(
        {
            "errorMessage": "Response payload size exceeded maximum allowed payload size"
            f" ({RESPONSE_LIMIT} bytes).",
            "errorType": "Function.ResponseSizeTooLarge",
        }
    ).encode()


def error_payload(request: Request) -> bytes:
    """A posted error as the invoke caller sees it: the body as sent, or, when the runtime
    sent none, an error object built from the ``Lambda-Runtime-Function-Error-Type`` header."""
    if request.body.strip():
        return request.body
    error_type = request.headers.get(ERROR_TYPE_HEADER) or "Runtime.Unknown"
    return json.dumps({"errorMessage": "", "errorType": error_type}).encode()


def streams(method: str, path: str, headers: dict[str, str]) -> bool:
    """Whether a request is a response posted in the streaming mode (the HTTP server hands
    those over as they arrive)."""
    return (
        method == "POST"
        and path.endswith("/response")
        and headers.get(RESPONSE_MODE_HEADER, "").lower() == "streaming"
    )


def trailer_error(trailers: dict[str, str]) -> bytes | None:
    """The error a streaming runtime reported in its trailers, as the invoke caller sees it;
    None when the stream ended well."""
    error_type = trailers.get(ERROR_TYPE_HEADER)
    if not error_type:
        return None
    try:
        body = base64.b64decode(trailers.get(ERROR_BODY_TRAILER, ""), validate=True)
    except binascii.Error:
        body = b""
    if body.strip():
        return body
    return json.dumps({"errorMessage": "", "errorType": error_type}).encode()


def _error(status: int, error_type: str, message: str) -> tuple[int, bytes]:
    return status, json.dumps({"errorMessage": message, "errorType": error_type}).encode()


class RuntimeApi:
    """The Runtime API endpoint of one sandbox (``handle`` is the HTTP server's handler)."""

    def __init__(self, drain: Callable[[], None]) -> None:
        self._drain = drain
        loop = asyncio.get_running_loop()
        self.state = INITIALIZING
        self.init: asyncio.Future[bytes | None] = loop.create_future()
        self._event: Event | None = None
        self._answer: asyncio.Future[Answer] | None = None
        self._poll: Exchange | None = None
        self._invocation_id: str | None = None
        self._sink: ResponseSink | None = None

    # -- the host's side -------------------------------------------------------------------

    def hand(self, event: Event, sink: ResponseSink | None = None) -> asyncio.Future[Answer]:
        """Give ``event`` to the runtime; the future resolves with its answer. A streamed
        response goes to ``sink`` as it arrives (the answer's payload is then empty)."""
        if self.state is not READY or self._answer is not None:
            raise IllegalTransition(f"cannot hand an invocation in state {self.state.value}")
        self._sink = sink
        self._answer = asyncio.get_running_loop().create_future()
        self._event = event
        self._invocation_id = event.request_id
        poll, self._poll = self._poll, None
        if poll is not None and poll.open:
            self._deliver(poll)
        return self._answer

    @property
    def delivered(self) -> bool:
        """The runtime has received the invocation last handed (it went out on a /next)."""
        return self._event is None

    def fail(self, exc: BaseException) -> None:
        """End the pending init or invocation with ``exc`` (the runtime is gone)."""
        for future in (self.init, self._answer):
            if future is not None and not future.done():
                future.set_exception(exc)
                future.exception()  # retrieved here: nobody may be awaiting it
        self._answer = None

    def close(self) -> None:
        """Stop serving: a pending long poll is answered 500 (the runtime should exit)."""
        self._move(CLOSED)
        poll, self._poll = self._poll, None
        if poll is not None:
            poll.respond(*_error(500, "Runtime.Closed", "The sandbox is shutting down"))

    # -- the runtime's side (HTTP) ---------------------------------------------------------

    def handle(self, request: Request, exchange: Exchange) -> None:
        """Route one request of the runtime (the HTTP server's handler)."""
        path = request.path.split("?", 1)[0]
        route = path[len(PREFIX) :].split("/") if path.startswith(PREFIX) else []
        if route == ["invocation", "next"]:
            wanted = "GET"
        elif route == ["init", "error"] or (
            len(route) == 3 and route[0] == "invocation" and route[2] in ("response", "error")
        ):
            wanted = "POST"
        else:
            exchange.respond(*_error(404, "NotFound", f"No such endpoint: {path}"), _JSON)
            return
        if request.method != wanted:
            message = f"{request.method} is not allowed on {path}"
            exchange.respond(*_error(405, "MethodNotAllowed", message), _JSON)
            return
        if route[0] == "init":
            status, body = self._init_error(request)
        elif route[1] == "next":
            self._next(exchange)
            return
        else:
            answered = self._post(request, route[1], route[2], exchange)
            if answered is None:
                return  # a streamed response: answered when the stream ends
            status, body = answered
        exchange.respond(status, body, _JSON)

    def _next(self, exchange: Exchange) -> None:
        if self.state is INITIALIZING:
            self._move(READY)
            self._drain()
            if not self.init.done():
                self.init.set_result(None)
        if self.state is not READY or self._poll is not None:
            exchange.respond(*self._forbidden("Ready"), _JSON)
            return
        if self._event is not None:
            self._deliver(exchange)
            return
        self._poll = exchange
        exchange.on_close(self._poll_gone)

    def _poll_gone(self) -> None:
        self._poll = None

    def _deliver(self, exchange: Exchange) -> None:
        event, self._event = self._event, None
        assert event is not None
        self._move(INVOKING)
        headers = (("Content-Type", "application/json"), *event.headers)
        exchange.respond(200, event.payload, headers)

    def _post(
        self, request: Request, request_id: str, kind: str, exchange: Exchange
    ) -> tuple[int, bytes] | None:
        target = "InvocationResponse" if kind == "response" else "InvocationErrorResponse"
        answer = self._answer
        if self.state is not INVOKING or answer is None:
            return self._forbidden(target)
        if request_id != self._invocation_id:
            return _error(400, "InvalidRequestID", "Invalid request ID")
        if request.stream is not None:
            self._stream(request, exchange, answer)
            return None
        if request.too_large:
            result = Answer(too_large_payload(), UNHANDLED)
            reply = _error(
                413,
                "RequestEntityTooLarge",
                f"Exceeded maximum allowed payload size ({BODY_LIMIT} bytes).",
            )
        elif kind == "response":
            result, reply = Answer(request.body, None), (202, _ACCEPTED)
        else:
            result, reply = Answer(error_payload(request), UNHANDLED), (202, _ACCEPTED)
        self._settle(answer, result)
        return reply

    def _settle(self, answer: asyncio.Future[Answer], result: Answer) -> None:
        self._move(READY)
        self._answer = None
        self._sink = None
        self._drain()
        if not answer.done():
            answer.set_result(result)

    def _stream(self, request: Request, exchange: Exchange, answer: asyncio.Future[Answer]) -> None:
        """A response in the streaming mode: each chunk to the sink (or collected), the
        answer and the runtime's 202 once the stream ends."""
        stream = request.stream
        assert stream is not None
        sink = self._sink
        collected: list[bytes] = []
        size = 0
        if sink is not None:
            sink.begin(request.headers.get("content-type", "application/octet-stream"), stream.flow)

        def data(chunk: bytes) -> None:
            nonlocal size
            size += len(chunk)
            if sink is None and size > RESPONSE_LIMIT:
                return
            if sink is not None:
                sink.write(chunk)
            else:
                collected.append(chunk)

        def end(trailers: dict[str, str]) -> None:
            error = trailer_error(trailers)
            if error is not None:
                result = Answer(error, UNHANDLED)
            elif sink is None and size > RESPONSE_LIMIT:
                result = Answer(too_large_payload(), UNHANDLED)
            else:
                result = Answer(b"".join(collected), None)
            if self._answer is answer:
                self._settle(answer, result)
            exchange.respond(202, _ACCEPTED, _JSON)

        stream.on_data = data
        stream.on_end = end

    def _init_error(self, request: Request) -> tuple[int, bytes]:
        if self.state is not INITIALIZING:
            return self._forbidden("InitError")
        self._move(INIT_FAILED)
        self._drain()
        if not self.init.done():
            self.init.set_result(error_payload(request))
        if request.too_large:
            return _error(
                413,
                "RequestEntityTooLarge",
                f"Exceeded maximum allowed payload size ({BODY_LIMIT} bytes).",
            )
        return 202, _ACCEPTED

    def _move(self, to: ApiState) -> None:
        """The one place the state changes; callers check what the runtime may do first."""
        if to not in _ALLOWED[self.state]:
            raise IllegalTransition(f"runtime API cannot go from {self.state.value} to {to.value}")
        self.state = to

    def _forbidden(self, target: str) -> tuple[int, bytes]:
        return _error(
            403,
            "InvalidStateTransition",
            f"State transition from {self.state.value} to {target} failed for runtime."
            " Error: State transition is not allowed",
        )
