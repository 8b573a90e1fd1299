"""Requests answered by the connection itself, past uvicorn's request cycle.

uvicorn hands every request to the app through a ``RequestResponseCycle``: a scope dict, an
``asyncio.Event`` for the body, ASGI message dicts each way and a check of every response
header against two expressions. For the warm Invoke that machinery costs about as much as
the HTTP parsing itself. When the edge claims a request from its head alone (its direct
and hosted routes: ``edge.router.Edge.claims``), the connection (``api/connection.py``) puts an
``Exchange`` where uvicorn would put its cycle: the body gathers into it, the edge answers
it whole (admitted exactly as any request of its service, ``Edge.answer``), and the answer
leaves in one write.

Two kinds of request are offered to the edge: the synchronous Invoke (a POST under the
Invoke path) and a function URL's request (any method but HEAD, its Host naming the URL;
``FunctionUrlEndpoint.answer`` answers it unless the URL streams its answer). Only the plain
case is claimed: HTTP/1.1, a ``Content-Length`` within the synchronous payload limit (or
none, and no ``Transfer-Encoding``: no body), no ``Expect: 100-continue``, no response
still pending on the connection (pipelining). Anything else takes uvicorn's cycle, as every
other request does.

Header names are the answerer's to keep valid (constants, or checked when they come from
a function: ``edge.http_events.response``); values are checked here, as uvicorn checks them,
but for an answer's ``MadeHeaders`` (values lambox made itself, ``api/responses.py``).

The exchange keeps the attributes uvicorn's protocol (and the connection guard) read and
write on a cycle: ``more_body``, ``message_event`` (the exchange itself: ``set`` is how the
protocol says the body ended or the client left), ``response_started``,
``response_complete``, ``disconnected`` and ``keep_alive``; the body's chunks go straight
to ``chunks`` (the guard's ``on_body``), none of uvicorn's per-chunk tests applying to it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any, Protocol

from starlette.types import Message, Scope
from uvicorn.protocols.http.httptools_impl import STATUS_LINE

from lambox.api.responses import MadeHeaders, error_answer, request_id
from lambox.edge.denials import Answer
from lambox.edge.router import Answerer
from lambox.errors import ServiceError

if TYPE_CHECKING:
    from lambox.api.connection import GuardedHttpToolsProtocol

log = logging.getLogger(__name__)

# What uvicorn refuses in a header value: control characters but for HTAB.
_BAD_VALUE = re.compile(b"[\x00-\x08\x0a-\x1f\x7f]")
# Past this, head and body are written without joining them first (no copy of the body).
_JOIN_LIMIT = 64 * 1024


class DirectRoutes(Protocol):
    """What the connection needs of the edge (``edge.router.Edge``)."""

    def claims(self, scope: Scope) -> Answerer | None: ...

    def answer(self, scope: Scope, receive: Any, direct: Answerer) -> Awaitable[Answer]: ...


class WholeBody:
    """ASGI ``receive`` of a body already whole: one message with all of it. A handler that
    knows it (``api/invoke.py``) takes ``body`` at once, without awaiting the message."""

    __slots__ = ("_given", "body")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self._given = False

    async def __call__(self) -> Message:
        if self._given:
            return {"type": "http.disconnect"}
        self._given = True
        return {"type": "http.request", "body": self.body, "more_body": False}


class _Head:
    """uvicorn's default headers (Server, Date) joined, once per list of them: uvicorn
    replaces the list when the Date changes."""

    __slots__ = ("defaults", "joined")

    def __init__(self) -> None:
        self.defaults: object = None
        self.joined = b""


_HEAD = _Head()


class Exchange:
    """One claimed request on ``protocol``'s connection, from its body to its answer."""

    __slots__ = (
        "_answerer",
        "_protocol",
        "_task",
        "chunks",
        "disconnected",
        "keep_alive",
        "more_body",
        "response_complete",
        "response_started",
        "scope",
    )

    def __init__(
        self,
        protocol: GuardedHttpToolsProtocol,
        scope: Scope,
        answerer: Answerer,
        keep_alive: bool,
    ) -> None:
        self._protocol = protocol
        self._answerer = answerer
        self._task: asyncio.Task[None] | None = None
        self.scope = scope
        self.chunks: list[bytes] = []  # the body as it came (the protocol's ``on_body``)
        self.more_body = True
        self.response_started = False
        self.response_complete = False
        self.disconnected = False
        self.keep_alive = keep_alive

    @property
    def message_event(self) -> Exchange:
        """The exchange itself, where uvicorn's cycle has an ``asyncio.Event``. A property,
        not a slot holding ``self``: that reference would make every exchange a cycle (and
        its task, coroutine, scope and body with it) that only the garbage collector frees,
        where without it they go when the connection's next request replaces the exchange.
        """
        return self

    def set(self) -> None:
        """The protocol's news: more body (reading goes on: the claim bounded the body's
        size), the end of the body (the answer starts), or the client gone."""
        if self.disconnected or self.response_complete or self._task is not None:
            return
        if self.more_body:
            self._protocol.flow.resume_reading()
            return
        protocol = self._protocol
        task = protocol.loop.create_task(self._run())
        task.add_done_callback(protocol.tasks.discard)
        protocol.tasks.add(task)
        self._task = task

    async def _run(self) -> None:
        routes = self._protocol.direct_routes
        assert routes is not None
        try:
            chunks = self.chunks
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            self.chunks = []
            answer = await routes.answer(self.scope, WholeBody(body), self._answerer)
            head = self._head(answer[0], answer[1])
        except Exception:
            log.exception("direct request failed")
            answer = _internal_error()
            head = self._head(answer[0], answer[1])
        self._respond(head, answer[2])

    def _head(self, status: int, headers: list[tuple[bytes, bytes]]) -> bytes:
        defaults = self._protocol.server_state.default_headers
        if defaults is not _HEAD.defaults:
            _HEAD.joined = b"".join([b"%s: %s\r\n" % pair for pair in defaults])
            _HEAD.defaults = defaults
        parts = [STATUS_LINE[status], _HEAD.joined]
        if type(headers) is MadeHeaders:  # lambox's own values: nothing to check
            for pair in headers:
                parts += (pair[0], b": ", pair[1], b"\r\n")
        else:
            for name, value in headers:
                if _BAD_VALUE.search(value):
                    raise ValueError(f"invalid value of response header {name!r}")
                parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n" if self.keep_alive else b"connection: close\r\n\r\n")
        return b"".join(parts)

    def _respond(self, head: bytes, body: bytes) -> None:
        self.response_started = True
        if self.disconnected:
            self.response_complete = True
            return
        transport = self._protocol.transport
        if len(body) < _JOIN_LIMIT:
            transport.write(head + body)
        else:
            transport.writelines((head, body))
        self.response_complete = True
        if not self.keep_alive:
            transport.close()
        self._protocol.on_response_complete()


def _internal_error() -> Answer:
    return error_answer(ServiceError("Internal error."), request_id())
