"""The HTTP/1.1 connection guard: the limits AWS's front ends set and uvicorn does not.

uvicorn's httptools protocol closes idle keep-alive connections (``timeout_keep_alive``) but
bounds neither how long a client may take to send a request's headers, nor their size, nor
their count: a client trickling one byte a second holds a connection for ever, and httptools
buffers a header of any size before handing it over. This subclass adds the three, as
front ends such as Node's (16 KiB, 431) and Apache's (100 fields, header timeout) do:

- a **header deadline**: from the connection (or the first byte of the next request on a
  kept-alive one) to the end of the headers; past it the request gets 408 (or, if the client
  sent nothing, the connection is just closed) and the connection is closed;
- a **header size** limit on the request line plus header lines: checked on the raw bytes
  of an incomplete head after every read, so at most one read past the limit is ever
  buffered, and on the parsed fields once they are complete; beyond it 431;
- a **header count** limit; beyond it 431.

Of uvicorn's own knobs, lambox sets ``timeout_keep_alive`` (``LAMBOX_IDLE_TIMEOUT``) and
turns WebSockets off; ``h11_max_incomplete_event_size`` only bounds the h11 protocol, which
lambox does not run; ``limit_concurrency`` is left unset, since its 503 is text/plain and
counts idle connections, while overload is answered by the scheduler's 429s.

Requests httptools cannot parse (duplicate Content-Length, bare LF line ends, bad chunking,
NUL in a header...) get an AWS-shaped 400 (``x-amzn-ErrorType``, JSON body) instead of
uvicorn's text/plain one, and are logged at debug level: a client's garbage is not the
server's warning. Every refusal closes the connection, since the stream's framing can no
longer be trusted.

A connection a function's sandbox made is marked: with ``sandbox_uids`` (the uids sandboxes
run as; given in the open posture, where the server listens on loopback only, so every
client is on this machine) the kernel is asked once, when the connection is made, who owns
its client socket (``lambox.sockdiag``), and every request of a sandbox's connection
carries ``edge.auth.SANDBOXED`` in its scope: the edge holds it to the strict posture. A
client socket the kernel does not show open (its process already closed it, so its owner
is no longer known) counts as a sandbox's, as does a failed question.
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
from asyncio import TimerHandle
from dataclasses import dataclass
from typing import Any, ClassVar
from urllib.parse import unquote

import httptools
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.server import ServerState

from lambox.api.exchange import DirectRoutes, Exchange
from lambox.api.responses import error_body, request_id
from lambox.edge.auth import SANDBOXED
from lambox.errors import BadRequest, HeaderFieldsTooLarge, LamboxError, RequestTimeout
from lambox.sockdiag import client_socket

log = logging.getLogger(__name__)

# A request line's bytes beyond its target: method, two spaces, "HTTP/1.1", CRLF.
_REQUEST_LINE_EXTRA = 20
# Seconds a refused connection keeps reading (and dropping) what the client still sends
# before it closes: closing with unread bytes makes the kernel send a reset, which can
# destroy the refusal before the client reads it.
LINGER = 1.0


@dataclass(frozen=True, slots=True)
class HeaderLimits:
    """What a request's head may take: seconds to arrive, bytes, and header fields."""

    timeout: float = 10.0
    max_bytes: int = 16 * 1024
    max_count: int = 100


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing; the refusal is on the protocol."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with header limits and AWS-shaped protocol errors.

    State: ``_in_head`` is true from the connection, and from the end of each request's
    body, until the next request's headers are complete; only then do raw bytes count.
    ``_head_since`` is when the pending head began (the connection, or the first byte of a
    later request: the idle gap between requests is uvicorn's keep-alive timeout), None when
    no head is pending.

    The warm path pays almost nothing per request: no timer is created or cancelled per
    request (one timer per connection re-arms itself for what is left of the deadline of
    the head pending when it fires; uvicorn's keep-alive timeout, which uvicorn arms after
    every response and cancels on the next request's first byte, works the same way with
    ``_idle_since`` and a second timer), and the parsed head is measured only when the raw
    count cannot vouch for it: when it is over the limit (the read also held body bytes), or
    when the head began inside a read that also ended the previous request (pipelining).
    """

    limits: ClassVar[HeaderLimits] = HeaderLimits()
    direct_routes: ClassVar[DirectRoutes | None] = None
    body_limit: ClassVar[int] = 0
    claim_prefix: ClassVar[bytes] = b"/"
    claim_host: ClassVar[bytes] = b""
    sandbox_uids: ClassVar[frozenset[int]] = frozenset()

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self._timer: TimerHandle | None = None
        self._head_since: float | None = None
        self._in_head = True
        self._head_bytes = 0  # raw bytes received while the head is incomplete
        self._ended_in_read = False  # a request's body ended inside the current read
        self._measure = False  # the pending head began mid-read: its raw count is short
        self._refusal: LamboxError | None = None
        self._refused = False  # a refusal was decided: nothing more is read
        self._deferred: LamboxError | None = None  # a refusal waiting for earlier answers
        self._lingering: TimerHandle | None = None
        self._idle_since: float | None = None  # the last response ended; nothing came since
        self._idle_timer: TimerHandle | None = None
        self._idle_at = 0.0  # loop time ``_idle_timer`` fires at
        self._sandboxed = False  # a sandbox made this connection

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if self.sandbox_uids:
            self._sandboxed = self._from_sandbox()
        self._head_began()

    def _from_sandbox(self) -> bool:
        """Whether this connection is to be taken as a sandbox's: unless the kernel shows
        its client socket open and owned by a uid no sandbox runs as."""
        client, server = self.client, self.server
        if client is None or server is None or server[1] is None:
            return True
        try:
            found = client_socket((client[0], client[1]), (server[0], server[1]))
        except OSError as exc:
            log.warning("cannot tell who made the connection from %s: %s", client, exc)
            return True
        return found is None or found.inode == 0 or found.uid in self.sandbox_uids

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._timer, self._lingering, self._idle_timer):
            if timer is not None:
                timer.cancel()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # what follows a refusal is dropped unparsed
        self._idle_since = None  # ``_unset_keepalive_if_required``, inlined: every read
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_since is None:
                self._head_began()
        self._ended_in_read = False
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # lambox serves no upgrades; uvicorn would warn (twice) on every such request.
            log.debug("ignored an Upgrade request from %s", self.client)
        except httptools.HttpParserError as exc:
            refusal = self._refusal or BadRequest(f"Malformed HTTP request: {exc}")
            self._refuse(refusal)
            return
        if self._in_head and self._head_bytes > self.limits.max_bytes:
            self._refuse(self._too_large())

    # Parser callbacks (called by httptools inside feed_data).

    def on_message_begin(self) -> None:
        # uvicorn's, but for its scope dict (and the copy of the app state in it): a claimed
        # request never uses it, so ``on_headers_complete`` builds it for the cycle only.
        self.url = b""
        self.expect_100_continue = False
        self.headers = []
        if self._ended_in_read:
            self._measure = True
        if self._head_since is None:
            self._head_began()

    def on_headers_complete(self) -> None:
        if len(self.headers) > self.limits.max_count:
            self._stop(
                HeaderFieldsTooLarge(
                    f"Request has more than {self.limits.max_count} header fields."
                )
            )
        if (self._measure or self._head_bytes > self.limits.max_bytes) and (
            self._parsed_size() > self.limits.max_bytes
        ):
            self._stop(self._too_large())
        self._head_since = None
        self._in_head = False
        self._measure = False
        self._head_bytes = 0
        if self.direct_routes is not None:
            exchange = self._claimed()
            if exchange is not None:
                self.cycle = exchange  # type: ignore[assignment]
                return
        self.scope = self._cycle_scope()  # type: ignore[assignment]
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle.transport is self.transport:
            cycle.transport = JoinedHead(self.transport, cycle)  # type: ignore[assignment]

    def on_body(self, body: bytes) -> None:
        cycle: object = self.cycle
        if type(cycle) is Exchange:
            # The claim bounded the body's size and ruled out upgrades: it only gathers.
            cycle.chunks.append(body)
            return
        super().on_body(body)

    def on_message_complete(self) -> None:
        cycle: object = self.cycle
        if type(cycle) is Exchange:
            cycle.more_body = False
            cycle.set()
        else:
            super().on_message_complete()
        self._in_head = True
        self._head_bytes = 0
        self._ended_in_read = True

    def _claimed(self) -> Exchange | None:
        """An ``Exchange`` for a request the edge answers whole (``api/exchange.py``), if
        this is one and its case is the plain one; None leaves it to uvicorn's cycle.

        Offered to the edge: a POST whose target starts with ``claim_prefix`` (the Invoke
        API), or a request of any method but HEAD (its answer has no body: the cycle's)
        whose Host holds ``claim_host`` (a function URL). Both tests come before any
        parsing, so a request that is neither costs a prefix test and a look at its Host.
        """
        parser = self.parser
        if self.url.startswith(self.claim_prefix):
            method = parser.get_method()
            if method != b"POST":
                return None
        elif self._claimed_host():
            method = parser.get_method()
            if method == b"HEAD":
                return None
        else:
            return None
        cycle = self.cycle
        if (
            (cycle is not None and not cycle.response_complete)
            or self.expect_100_continue
            or parser.get_http_version() != "1.1"
        ):
            return None
        length = -1  # none given (nor Transfer-Encoding): the request has no body
        for name, value in self.headers:
            if name == b"content-length":
                if length >= 0 or not value.isdigit():
                    return None
                length = int(value)
            elif name == b"transfer-encoding":
                return None
        if length > self.body_limit:
            return None
        target = _TARGETS.get(self.url)
        if target is None:
            target = _target(self.url)
        path, raw_path, query = target
        scope: dict[str, Any] = {
            "type": "http",
            "http_version": "1.1",
            "method": "POST" if method == b"POST" else method.decode("ascii"),
            "scheme": "http",
            "path": path,
            "raw_path": raw_path,
            "query_string": query,
            "headers": self.headers,
            "client": self.client,
            "server": self.server,
        }
        if self._sandboxed:
            scope[SANDBOXED] = True
        assert self.direct_routes is not None
        answerer = self.direct_routes.claims(scope)
        if answerer is None:
            return None
        return Exchange(self, scope, answerer, parser.should_keep_alive())

    def _cycle_scope(self) -> dict[str, Any]:
        """The scope uvicorn's ``on_message_begin`` builds, for a request its cycle takes."""
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "root_path": self.root_path,
            "headers": self.headers,
            "state": self.app_state.copy(),
        }
        if self._sandboxed:
            scope[SANDBOXED] = True
        return scope

    def _claimed_host(self) -> bool:
        """Whether the request's Host holds ``claim_host`` (a byte test: a Host in capitals
        is left to the cycle, which routes it as well)."""
        mark = self.claim_host
        if mark:
            for name, value in self.headers:
                if name == b"host":
                    return mark in value
        return False

    # The guard.

    def _parsed_size(self) -> int:
        """The head's size as sent, give or take optional whitespace."""
        return (
            _REQUEST_LINE_EXTRA
            + len(self.url)
            + sum(len(name) + len(value) + 4 for name, value in self.headers)
        )

    def _too_large(self) -> HeaderFieldsTooLarge:
        return HeaderFieldsTooLarge(
            f"Request line and headers must be smaller than {self.limits.max_bytes} bytes."
        )

    def _stop(self, refusal: LamboxError) -> None:
        """From a parser callback: httptools turns the raise into HttpParserCallbackError."""
        self._refusal = refusal
        raise _Refused(refusal.message)

    def _head_began(self) -> None:
        self._head_since = self.loop.time()
        if self._timer is None:
            self._timer = self.loop.call_later(self.limits.timeout, self._expired)

    def _expired(self) -> None:
        self._timer = None
        since = self._head_since
        if since is None or self.transport.is_closing() or self._refused:
            return  # no head pending: the next one arms the timer again
        left = since + self.limits.timeout - self.loop.time()
        if left > 0:
            self._timer = self.loop.call_later(left, self._expired)
            return
        self._head_since = None
        if self._head_bytes == 0 and not self._measure:  # nothing arrived: close, as idle
            self.transport.close()
            return
        self._refuse(
            RequestTimeout(
                f"Request headers were not received within {self.limits.timeout:g} seconds."
            )
        )

    def _unset_keepalive_if_required(self) -> None:
        """Data came (or the connection ended): the connection is no longer idle."""
        self._idle_since = None

    def _idle_began(self) -> None:
        self._idle_since = since = self.loop.time()
        if self._idle_timer is None:
            self._idle_at = since + self.timeout_keep_alive
            self._idle_timer = self.loop.call_at(self._idle_at, self._idle_expired)

    def _idle_expired(self) -> None:
        """Close the connection if it has been idle for the keep-alive timeout; if it became
        idle later, wait for the rest; if it is not idle, the next response arms it. (The
        timer armed at the idle period's own end is trusted when it fires, as uvicorn's
        call_later is: uvloop's timers run on whole milliseconds.)"""
        self._idle_timer = None
        since = self._idle_since
        if since is None or self.transport.is_closing():
            return
        end = since + self.timeout_keep_alive
        if self._idle_at < end:
            self._idle_at = end
            self._idle_timer = self.loop.call_at(end, self._idle_expired)
            return
        self.timeout_keep_alive_handler()

    def _refuse(self, refusal: LamboxError) -> None:
        """Answer ``refusal`` in its turn and close; nothing more is read or parsed.

        A refused head may follow requests still being answered (pipelining): responses
        go out in request order, so the refusal waits for theirs (``on_response_complete``).
        A refused body (bad chunking) belongs to the request the app has: the app sees a
        disconnect, and the refusal is its answer unless the app's is already on the wire.
        """
        if self._refused:
            return
        self._refused = True
        self._head_since = None
        log.debug("refused a request from %s: %s", self.client, refusal.message)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            if self._in_head:
                self._deferred = refusal
                return
            cycle.disconnected = True
            cycle.message_event.set()
            if cycle.response_started:
                self.transport.close()
                return
        self._answer(refusal)

    def on_response_complete(self) -> None:
        # uvicorn's, with the keep-alive timeout of ``_idle_began`` for its timer.
        self.server_state.total_requests += 1
        if self.transport.is_closing():
            return
        self.flow.resume_reading()
        if self.pipeline:
            cycle, app = self.pipeline.pop()
            self._start_asgi_task(cycle, app)
        else:
            self._idle_began()
        refusal = self._deferred
        if refusal is not None and not self.pipeline and self.cycle.response_complete:
            self._deferred = None
            self._answer(refusal)

    def _answer(self, refusal: LamboxError) -> None:
        if self.transport.is_closing() or self._lingering is not None:
            return
        self.transport.write(_response(refusal))
        if self.transport.can_write_eof():
            self.transport.write_eof()
            self._lingering = self.loop.call_later(LINGER, self.transport.close)
        else:
            self.transport.close()

    def send_400_response(self, msg: str) -> None:
        """uvicorn's own 400 (it calls this from paths this class does not override)."""
        self._refuse(BadRequest(msg))


class JoinedHead:
    """The transport a request's cycle writes through: a response's head, when a body of
    known length follows, waits for the body's first write and both leave in one system
    call (``writelines``), where uvicorn writes each ASGI message at once: two writes, and
    two wake-ups of the client, for every answer. Anything but ``write`` and ``close`` is the
    real transport's."""

    __slots__ = ("_cycle", "_fresh", "_head", "_transport")

    def __init__(self, transport: asyncio.Transport, cycle: Any) -> None:
        self._transport = transport
        self._cycle = cycle
        self._fresh = True  # the response's head has not been written yet
        self._head: bytes | None = None

    def write(self, data: bytes) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.writelines((head, data))
            return
        if self._fresh and self._cycle.response_started:
            # The first write after the response started is its head (a 100 Continue
            # before it is written at once).
            self._fresh = False
            cycle = self._cycle
            if (
                cycle.chunked_encoding is False
                and cycle.expected_content_length > 0
                and cycle.scope["method"] != "HEAD"
            ):
                self._head = data
                return
        self._transport.write(data)

    def close(self) -> None:
        head = self._head
        if head is not None:
            self._head = None
            self._transport.write(head)
        self._transport.close()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


def _response(exc: LamboxError) -> bytes:
    body = json.dumps(error_body(exc)).encode()
    phrase = http.HTTPStatus(exc.status).phrase
    head = (
        f"HTTP/1.1 {exc.status} {phrase}\r\n"
        "content-type: application/json\r\n"
        f"x-amzn-errortype: {exc.aws_type}\r\n"
        f"x-amzn-requestid: {request_id()}\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


_TARGETS: dict[bytes, tuple[str, bytes, bytes]] = {}
"""Request targets already parsed: (path, raw path, query). A server's claimed requests
name few targets (its functions' Invoke paths), each parsed once."""
_TARGETS_KEPT = 1024


def _target(url: bytes) -> tuple[str, bytes, bytes]:
    """``url`` parsed as uvicorn parses it (and remembered, while ``_TARGETS`` has room)."""
    parsed = httptools.parse_url(url)
    raw_path: bytes = parsed.path
    path = raw_path.decode("ascii")
    if "%" in path:
        path = unquote(path)
    target = (path, raw_path, parsed.query or b"")
    if len(_TARGETS) >= _TARGETS_KEPT:
        _TARGETS.clear()
    _TARGETS[url] = target
    return target


def guarded_protocol(
    limits: HeaderLimits,
    direct: DirectRoutes | None = None,
    body_limit: int = 0,
    claim_prefix: bytes = b"/",
    claim_host: bytes = b"",
    sandbox_uids: frozenset[int] = frozenset(),
) -> type[GuardedHttpToolsProtocol]:
    """The protocol class uvicorn instantiates per connection, with ``limits`` bound, and
    ``direct``'s routes answered through an ``Exchange`` when their body is at most
    ``body_limit`` bytes. Only POSTs whose target starts with ``claim_prefix``, and
    requests whose Host holds ``claim_host`` (when given), are offered to ``direct``: any
    other request is not even looked at twice. A connection whose client socket one of
    ``sandbox_uids`` owns is a sandbox's (the class's docstring)."""
    attributes = {
        "limits": limits,
        "direct_routes": direct,
        "body_limit": body_limit,
        "claim_prefix": claim_prefix,
        "claim_host": claim_host,
        "sandbox_uids": sandbox_uids,
    }
    return type("LamboxHttpProtocol", (GuardedHttpToolsProtocol,), attributes)
