"""InvokeWithResponseStream (``POST /2021-11-15/functions/{name}/response-streaming-invocations``),
a raw ASGI handler beside Invoke, and the pump both it and RESPONSE_STREAM function URLs use.

The invocation runs as a task; what the function streams reaches the ``Pump`` (its
``ResponseSink``) and is sent on as it comes, so the first bytes reach the client before the
handler finishes. A function that does not stream (Python, a buffered Node.js handler)
answers its whole payload at the end, as AWS answers it then. The answer is AWS's event
stream: ``PayloadChunk`` events, then ``InvokeComplete`` (with ``ErrorCode`` and
``ErrorDetails`` when the function failed, ``LogResult`` with ``--log-type Tail``).
Errors before the first byte (a bad header, no such function, throttled, payload too large)
are answered as Invoke answers them; the head is read by Invoke's own loop
(``invoke_options``), with this operation's model (no ``Event``, no durable execution name).
The pump is bounded (a slow client pauses the function's writes) and a stream past
``LAMBOX_STREAM_RESPONSE_LIMIT`` is cut there and ends with ``Function.ResponseSizeTooLarge``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope, Send

from lambox.api.eventstream import invoke_complete, payload_chunk
from lambox.api.invoke import _read_body, _send_error
from lambox.api.invoke_options import STREAM, options
from lambox.control import shapes
from lambox.errors import LamboxError, ResourceNotFound, ServiceError
from lambox.invoke.ids import new_request_id
from lambox.invoke.service import SYNC_PAYLOAD_LIMIT, InvokeService
from lambox.model import Flow, FunctionVersion, Invocation, InvocationResult, InvocationType

log = logging.getLogger(__name__)

PREFIX = "/2021-11-15/functions/"
SUFFIX = "/response-streaming-invocations"
_END = b""
STREAM_LIMIT = 200 * 1024 * 1024
"""Lambda's default maximum streamed response (200 MB since July 2025, 20 MB before; a soft
limit, ``LAMBOX_STREAM_RESPONSE_LIMIT`` here)."""
TOO_LARGE = "Function.ResponseSizeTooLarge"


def too_large_details(limit: int) -> str:
    """The ``ErrorDetails`` of a stream cut at the limit (Lambda's words for the same error
    of a buffered response)."""
    return json.dumps(
        {
            "errorMessage": "Response payload size exceeded maximum allowed payload size"
            f" ({limit} bytes).",
            "errorType": TOO_LARGE,
        }
    )


def is_stream_invoke(scope: Scope) -> bool:
    path: str = scope["path"]
    return scope["method"] == "POST" and path.startswith(PREFIX) and path.endswith(SUFFIX)


class Pump:
    """A ``ResponseSink`` feeding an async iterator: chunks in order, then the end once the
    invocation task is done (whatever happened to it).

    Bounded: past ``HIGH`` bytes not yet taken by the reader (a client reading slowly) the
    function's connection stops being read, so its writes wait in its socket; reading
    resumes once the reader is down to ``LOW``. Past ``limit`` bytes the rest is dropped and
    ``over`` is set (Lambda's maximum streamed response, a soft limit). ``close`` (the reader
    left) drops everything from then on and lets the function write to its end."""

    HIGH = 1 << 20
    LOW = 256 << 10

    def __init__(self, limit: int) -> None:
        self.content_type: str | None = None
        self.size = 0
        self.over = False
        self._limit = limit
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._queued = 0
        self._flow: Flow | None = None
        self._paused = False
        self._closed = False

    def begin(self, content_type: str, flow: Flow | None = None) -> None:
        self.content_type = content_type
        self._flow = flow

    def write(self, chunk: bytes) -> None:
        if not chunk or self._closed:
            return
        room = self._limit - self.size
        self.size += len(chunk)
        if room < len(chunk):
            self.over = True
            chunk = chunk[: max(room, 0)]
            if not chunk:
                return
        self._queue.put_nowait(chunk)
        self._queued += len(chunk)
        if self._queued > self.HIGH and not self._paused and self._flow is not None:
            self._paused = True
            self._flow.pause_reading()

    def close(self) -> None:
        """The reader is gone: drop what is queued and anything written later."""
        self._closed = True
        self._queued = 0
        while not self._queue.empty():
            if not self._queue.get_nowait():
                self._queue.put_nowait(_END)  # keep the end for a reader still waiting
                break
        self._resume()

    def _resume(self) -> None:
        if self._paused and self._flow is not None:
            self._paused = False
            self._flow.resume_reading()

    def run(
        self, service: InvokeService, fv: FunctionVersion, invocation: Invocation
    ) -> asyncio.Task[InvocationResult]:
        """Start the invocation; the iterator ends when it does."""
        task = asyncio.get_running_loop().create_task(service.run(fv, invocation))
        task.add_done_callback(lambda _: self._queue.put_nowait(_END))
        return task

    async def chunks(self) -> AsyncIterator[bytes]:
        while True:
            chunk = await self._queue.get()
            if not chunk:  # _END: the invocation is over
                return
            self._queued -= len(chunk)
            if self._queued <= self.LOW:
                self._resume()
            yield chunk


class StreamInvokeEndpoint:
    """ASGI app for InvokeWithResponseStream."""

    def __init__(self, service: InvokeService, limit: int = STREAM_LIMIT) -> None:
        self._service = service
        self._limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        rid = new_request_id()
        pump = Pump(self._limit)
        try:
            name = scope["path"][len(PREFIX) : -len(SUFFIX)]
            invocation = await self._parse(scope, receive, rid, pump)
            try:
                fv, invocation = await self._service.prepare(name, invocation)
            except ResourceNotFound:
                # As for Invoke: a malformed name is AWS's ValidationException, not a 404.
                address = {"FunctionName": name, "Qualifier": invocation.qualifier}
                shapes.validate(STREAM.name, address)
                raise
        except LamboxError as exc:
            await _send_error(send, exc, rid)
            return
        except ClientDisconnect:
            return
        version = fv.config.version.encode()
        if invocation.invocation_type is InvocationType.DRY_RUN:
            headers = [(b"x-amzn-requestid", rid.encode()), (b"content-length", b"0")]
            await send({"type": "http.response.start", "status": 204, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        task = pump.run(self._service, fv, invocation)
        started = False

        async def start() -> None:
            headers = [
                (b"content-type", b"application/vnd.amazon.eventstream"),
                (b"x-amzn-requestid", rid.encode()),
                (b"x-amz-executed-version", version),
            ]
            await send({"type": "http.response.start", "status": 200, "headers": headers})

        try:
            async for chunk in pump.chunks():
                if not started:
                    await start()
                    started = True
                await send(
                    {"type": "http.response.body", "body": payload_chunk(chunk), "more_body": True}
                )
        finally:
            pump.close()
        try:
            result = task.result()
        except LamboxError as exc:
            if not started:
                await _send_error(send, exc, rid)
                return
            log.warning("streamed invocation %s failed: %s", rid, exc)
            result = None
        except Exception:
            log.exception("streamed invocation %s failed", rid)
            if not started:
                await _send_error(send, ServiceError("Internal error."), rid)
                return
            result = None
        if not started:
            await start()
        tail: list[bytes] = []
        if result is None:
            tail.append(invoke_complete("ServiceException", "Internal error."))
        elif pump.over and not result.function_error:
            tail.append(invoke_complete(TOO_LARGE, too_large_details(self._limit)))
        else:
            if result.payload and not result.function_error:
                tail.append(payload_chunk(result.payload))
            logs = base64.b64encode(result.log).decode() if invocation.tail_logs else None
            details = result.payload.decode(errors="replace") if result.function_error else None
            tail.append(invoke_complete(result.function_error, details, logs))
        await send({"type": "http.response.body", "body": b"".join(tail)})

    async def _parse(self, scope: Scope, receive: Receive, rid: str, pump: Pump) -> Invocation:
        kind, tail, context, _, trace, qualifier, tenant = options(scope, STREAM)
        body = await _read_body(receive, SYNC_PAYLOAD_LIMIT)
        return Invocation(rid, body, kind, context, tail, qualifier, pump, None, trace, tenant)
