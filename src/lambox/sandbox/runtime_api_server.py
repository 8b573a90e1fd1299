"""A small HTTP/1.1 server on the event loop: the transport of the Lambda Runtime API.

One server per sandbox, listening on an ephemeral port of 127.0.0.1; the port is told only to
that sandbox (``AWS_LAMBDA_RUNTIME_API``), so the endpoint a runtime reaches serves only its
own invocations. The client is a single runtime making two or three requests per invocation,
so what matters is speaking HTTP/1.1 the way real runtime clients do, not throughput:

- request line and headers up to ``HEAD_LIMIT`` bytes (beyond it 431, connection closed);
- bodies by ``Content-Length`` or ``Transfer-Encoding: chunked``; a body over ``body_limit``
  is read and thrown away and the request is marked ``too_large`` for the handler to answer
  (413), so the connection stays usable and the client reads the answer;
- ``Expect: 100-continue`` (libcurl sends it for larger bodies) is answered before the body;
- persistent connections by default; ``Connection: close`` and HTTP/1.0 close after the answer.
  Requests on one connection are handled one at a time, in order; a handler may answer later
  (the long poll of ``/next``), and learns through ``Exchange.on_close`` when the client left.
- a chunked request the ``streams`` predicate picks (the Runtime API's streaming response
  mode) is handed to the handler as soon as its head is in, with a ``BodyStream`` that
  delivers each chunk as it arrives and then the trailer fields; the handler answers once the
  stream has ended. The handler may pause reading the connection (``BodyStream.flow``) while
  its own reader is behind, so the client's writes wait instead of piling up here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import cast

HEAD_LIMIT = 64 << 10
REASONS = {
    200: "OK",
    202: "Accepted",
    400: "Bad Request",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class BodyStream:
    """The body of a streamed request, delivered as it arrives: the handler sets ``on_data``
    (each chunk) and ``on_end`` (the trailer fields, lower-case names) when it is handed the
    request; nothing is buffered for it. ``on_lost`` is called if the client goes away
    before the end."""

    __slots__ = ("flow", "on_data", "on_end", "on_lost")

    def __init__(self, flow: asyncio.Transport | None = None) -> None:
        self.flow = flow
        """The connection's transport: pausing its reading makes the client's writes wait
        (backpressure); reading resumes by itself once the stream has ended."""
        self.on_data: Callable[[bytes], None] | None = None
        self.on_end: Callable[[dict[str, str]], None] | None = None
        self.on_lost: Callable[[], None] | None = None


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request. ``headers`` has lower-case names; ``body`` is empty when the body
    was larger than the server's limit (``too_large``) or is being streamed (``stream``)."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    too_large: bool = False
    stream: BodyStream | None = None


Handler = Callable[[Request, "Exchange"], None]
Streams = Callable[[str, str, dict[str, str]], bool]
# Whether a connection (client address, server address) may be served at all.
Admit = Callable[[tuple[str, int], tuple[str, int]], bool]
"""Whether a chunked request (method, path, headers) is to be streamed to its handler."""


def never(method: str, path: str, headers: dict[str, str]) -> bool:
    return False


class BadRequest(Exception):
    """The bytes on a connection are not HTTP/1.1 this server understands."""


class Exchange:
    """The answer side of one request; ``respond`` exactly once (later calls are ignored)."""

    __slots__ = ("_conn", "_keep_alive", "_on_close", "answered")

    def __init__(self, conn: HttpConnection, keep_alive: bool) -> None:
        self._conn = conn
        self._keep_alive = keep_alive
        self._on_close: Callable[[], None] | None = None
        self.answered = False

    @property
    def open(self) -> bool:
        """The client is still connected (so an answer can reach it)."""
        return not self._conn.closed

    def on_close(self, callback: Callable[[], None] | None) -> None:
        """Call ``callback`` if the client disconnects before the answer is sent."""
        self._on_close = callback

    def respond(
        self, status: int, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        if self.answered:
            return
        self.answered = True
        self._on_close = None
        self._conn.send(status, body, headers, self._keep_alive)

    def _closed(self) -> None:
        callback, self._on_close = self._on_close, None
        if callback is not None and not self.answered:
            callback()


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests and hands each to the handler in turn."""

    def __init__(
        self,
        handler: Handler,
        body_limit: int,
        live: set[HttpConnection],
        streams: Streams = never,
        admit: Admit | None = None,
    ) -> None:
        self._handler = handler
        self._admit = admit
        self._streams = streams
        self._stream: BodyStream | None = None
        self._streaming = False
        self._trailers: dict[str, str] = {}
        self._limit = body_limit
        self._live = live
        self._buf = bytearray()
        self._transport: asyncio.Transport | None = None
        self._head: tuple[str, str, dict[str, str], bool] | None = None
        self._body = bytearray()
        self._size = 0
        self._remaining = 0
        self._chunked = False
        self._chunk_phase = "size"
        self._current: Exchange | None = None
        self._advancing = False
        self.closed = False

    # -- asyncio.Protocol ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._live.add(self)
        admit = self._admit
        if admit is not None:
            peer, local = transport.get_extra_info("peername"), transport.get_extra_info("sockname")
            if not admit(peer[:2], local[:2]):
                self.abort()  # another sandbox's process: nothing is read from it

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if self._current is not None and len(self._buf) > HEAD_LIMIT + self._limit:
            self.abort()  # a client flooding while its request is pending
            return
        self._advance()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._live.discard(self)
        stream, self._stream = self._stream, None
        if stream is not None and stream.on_lost is not None:
            stream.on_lost()
        current, self._current = self._current, None
        if current is not None:
            current._closed()

    # -- answers ---------------------------------------------------------------------------

    def send(
        self, status: int, body: bytes, headers: Iterable[tuple[str, str]], keep_alive: bool
    ) -> None:
        """Write the answer to the current request, then go on with the next one."""
        transport = self._transport
        if self.closed or transport is None:
            return
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}"]
        lines.extend(f"{name}: {value}" for name, value in headers)
        lines.append(f"Content-Length: {len(body)}")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        if len(body) <= 65536:
            transport.write(head + body)
        else:
            transport.write(head)
            transport.write(body)
        self._current = None
        if not keep_alive:
            self.closed = True
            transport.close()
            return
        if not self._advancing:
            self._advance()

    def abort(self) -> None:
        """Drop the connection at once, unanswered."""
        if self._transport is not None:
            self._transport.abort()

    # -- parsing ---------------------------------------------------------------------------

    def _advance(self) -> None:
        """Parse and dispatch every complete request in the buffer, one at a time."""
        self._advancing = True
        try:
            while not self.closed:
                try:
                    if self._streaming:
                        if not self._read_body():
                            return
                        self._end_stream()
                        continue
                    if self._current is not None:
                        return
                    if self._head is None and not self._parse_head():
                        return
                    head = self._head
                    assert head is not None
                    if self._chunked and self._streams(head[0], head[1], head[2]):
                        self._dispatch(stream=True)
                        continue
                    if not self._read_body():
                        return
                except BadRequest as exc:
                    self._refuse(400 if str(exc) != "431" else 431)
                    return
                self._dispatch()
        finally:
            self._advancing = False

    def _parse_head(self) -> bool:
        buf = self._buf
        while buf[:2] == b"\r\n":  # tolerated before a request line (RFC 9112 2.2)
            del buf[:2]
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > HEAD_LIMIT:
                raise BadRequest("431")
            return False
        if end > HEAD_LIMIT:
            raise BadRequest("431")
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        del buf[: end + 4]
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise BadRequest("request line")
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise BadRequest("header line")
            key = name.lower()
            value = value.strip()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        connection = headers.get("connection", "").lower()
        keep_alive = parts[2] == "HTTP/1.1" and "close" not in connection
        self._head = (parts[0], parts[1], headers, keep_alive)
        self._body = bytearray()
        self._size = 0
        self._chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        self._chunk_phase = "size"
        self._trailers = {}
        try:
            self._remaining = 0 if self._chunked else int(headers.get("content-length", "0"))
        except ValueError:
            raise BadRequest("content-length") from None
        if self._remaining < 0:
            raise BadRequest("content-length")
        expects_body = self._chunked or self._remaining > 0
        if expects_body and headers.get("expect", "").lower() == "100-continue" and not buf:
            assert self._transport is not None
            self._transport.write(_CONTINUE)
        return True

    def _take(self, count: int) -> None:
        """Move ``count`` buffered bytes into the body (or to the stream), or drop them past
        the limit."""
        if self._streaming:
            stream = self._stream
            if count and stream is not None and stream.on_data is not None:
                stream.on_data(bytes(self._buf[:count]))
            del self._buf[:count]
            return
        self._size += count
        if self._size <= self._limit:
            self._body += self._buf[:count]
        del self._buf[:count]

    def _read_body(self) -> bool:
        """Consume body bytes; True once the whole body (and any chunk trailer) is in."""
        if not self._chunked:
            count = min(self._remaining, len(self._buf))
            self._take(count)
            self._remaining -= count
            return self._remaining == 0
        buf = self._buf
        while True:
            if self._chunk_phase == "data":
                count = min(self._remaining, len(buf))
                self._take(count)
                self._remaining -= count
                if self._remaining:
                    return False
                self._chunk_phase = "data-end"
            end = buf.find(b"\r\n")
            if end < 0:
                if len(buf) > HEAD_LIMIT:
                    raise BadRequest("431")
                return False
            line = bytes(buf[:end])
            del buf[: end + 2]
            if self._chunk_phase == "data-end":
                if line:
                    raise BadRequest("chunk end")
                self._chunk_phase = "size"
            elif self._chunk_phase == "size":
                try:
                    self._remaining = int(line.split(b";", 1)[0].strip(), 16)
                except ValueError:
                    raise BadRequest("chunk size") from None
                self._chunk_phase = "data" if self._remaining else "trailer"
            elif not line:  # the empty line ending the trailer
                return True
            else:
                name, sep, value = bytes(line).decode("latin-1").partition(":")
                if sep:
                    self._trailers[name.strip().lower()] = value.strip()

    def _dispatch(self, stream: bool = False) -> None:
        assert self._head is not None
        method, path, headers, keep_alive = self._head
        self._head = None
        body = bytes(self._body)
        too_large = self._size > self._limit
        self._body = bytearray()
        exchange = Exchange(self, keep_alive)
        self._current = exchange
        if stream:
            self._streaming = True
            self._stream = BodyStream(self._transport)
            self._handler(Request(method, path, headers, b"", False, self._stream), exchange)
            return
        self._handler(
            Request(method, path, headers, b"" if too_large else body, too_large), exchange
        )

    def _end_stream(self) -> None:
        """The streamed body is complete: hand over its trailers (the handler answers)."""
        self._streaming = False
        stream, self._stream = self._stream, None
        if self._transport is not None:
            self._transport.resume_reading()  # whatever paused it, the next request is read
        if stream is not None and stream.on_end is not None:
            stream.on_end(self._trailers)

    def _refuse(self, status: int) -> None:
        self._current = Exchange(self, keep_alive=False)
        body = b'{"errorMessage":"Malformed HTTP request","errorType":"InvalidRequestFormat"}'
        self._current.respond(status, body, (("Content-Type", "application/json"),))


class ApiServer:
    """A listening HTTP server; ``close`` stops it and drops every connection."""

    def __init__(self, server: asyncio.Server, live: set[HttpConnection]) -> None:
        self._server = server
        self._live = live
        host, port = server.sockets[0].getsockname()[:2]
        self.address = f"{host}:{port}"

    @property
    def connections(self) -> int:
        """Client connections open right now."""
        return len(self._live)

    def close(self) -> None:
        """Stop listening and drop every connection (pending long polls included)."""
        self._server.close()
        for conn in list(self._live):
            conn.abort()
        self._live.clear()


async def serve(
    handler: Handler,
    body_limit: int,
    host: str = "127.0.0.1",
    streams: Streams = never,
    admit: Admit | None = None,
) -> ApiServer:
    """Listen on an ephemeral port of ``host``, handing each request of a connection
    ``admit`` accepts (all, without it) to ``handler``."""
    live: set[HttpConnection] = set()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: HttpConnection(handler, body_limit, live, streams, admit), host=host, port=0
    )
    return ApiServer(server, live)
