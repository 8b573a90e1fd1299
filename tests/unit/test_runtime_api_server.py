"""The Runtime API's HTTP/1.1 transport, fed bytes through a fake transport; and log capture."""

from __future__ import annotations

import asyncio
import os
from typing import Any

from lambox.sandbox.logpipe import LOG_CAP, LogPipe, truncated_marker
from lambox.sandbox.runtime_api_sandbox import _client_context
from lambox.sandbox.runtime_api_server import Exchange, HttpConnection, Request


class FakeTransport:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.closed = True


class Recorder:
    """A handler that answers at once (``hold`` False) or keeps the exchanges to answer later."""

    def __init__(self, hold: bool = False) -> None:
        self.requests: list[Request] = []
        self.exchanges: list[Exchange] = []
        self.hold = hold

    def __call__(self, request: Request, exchange: Exchange) -> None:
        self.requests.append(request)
        self.exchanges.append(exchange)
        if not self.hold:
            exchange.respond(202, b"ok:" + request.body)


def connect(handler: Any, limit: int = 1 << 20) -> tuple[HttpConnection, FakeTransport]:
    conn = HttpConnection(handler, limit, set())
    transport = FakeTransport()
    conn.connection_made(transport)  # type: ignore[arg-type]
    return conn, transport


def responses(transport: FakeTransport) -> list[bytes]:
    return [part for part in bytes(transport.out).split(b"HTTP/1.1 ")[1:]]


def test_a_content_length_body_is_read_and_answered() -> None:
    handler = Recorder()
    conn, transport = connect(handler)
    conn.data_received(b"POST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel")
    assert handler.requests == []
    conn.data_received(b"lo")
    assert handler.requests[0].body == b"hello"
    assert handler.requests[0].headers["host"] == "a"
    assert bytes(transport.out) == (b"HTTP/1.1 202 Accepted\r\nContent-Length: 8\r\n\r\nok:hello")
    assert not transport.closed


def test_a_chunked_body_is_reassembled() -> None:
    handler = Recorder()
    conn, _ = connect(handler)
    conn.data_received(b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n")
    conn.data_received(b"3;ext=1\r\nefg\r\n0\r\nTrailer: x\r\n\r\n")
    assert handler.requests[0].body == b"abcdefg"


def test_expect_100_continue_is_answered_before_the_body() -> None:
    handler = Recorder()
    conn, transport = connect(handler)
    conn.data_received(b"POST /x HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
    assert bytes(transport.out) == b"HTTP/1.1 100 Continue\r\n\r\n"
    conn.data_received(b"hi")
    assert handler.requests[0].body == b"hi"


def test_requests_on_one_connection_are_handled_in_order_one_at_a_time() -> None:
    handler = Recorder(hold=True)
    conn, transport = connect(handler)
    conn.data_received(b"GET /next HTTP/1.1\r\n\r\nPOST /r HTTP/1.1\r\nContent-Length: 1\r\n\r\nz")
    assert [r.path for r in handler.requests] == ["/next"]  # a long poll holds the line
    handler.exchanges[0].respond(200, b"event")
    assert [r.path for r in handler.requests] == ["/next", "/r"]
    handler.exchanges[1].respond(202, b"")
    assert len(responses(transport)) == 2


def test_connection_close_closes_after_the_answer() -> None:
    handler = Recorder()
    conn, transport = connect(handler)
    conn.data_received(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert b"Connection: close\r\n" in bytes(transport.out)
    assert transport.closed


def test_a_body_over_the_limit_is_discarded_and_marked() -> None:
    handler = Recorder()
    conn, _ = connect(handler, limit=4)
    conn.data_received(b"POST /r HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789")
    conn.data_received(b"GET /after HTTP/1.1\r\n\r\n")
    assert handler.requests[0].too_large and handler.requests[0].body == b""
    assert handler.requests[1].path == "/after"  # the connection stays usable


def test_malformed_requests_are_refused_and_the_connection_closed() -> None:
    conn, transport = connect(Recorder())
    conn.data_received(b"NONSENSE\r\n\r\n")
    assert bytes(transport.out).startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert transport.closed


def test_a_client_leaving_during_a_long_poll_is_reported() -> None:
    handler = Recorder(hold=True)
    conn, _ = connect(handler)
    conn.data_received(b"GET /next HTTP/1.1\r\n\r\n")
    left: list[bool] = []
    handler.exchanges[0].on_close(lambda: left.append(True))
    conn.connection_lost(None)
    assert left == [True]
    assert not handler.exchanges[0].open


def test_the_log_pipe_cuts_segments_and_caps_them() -> None:
    async def main() -> None:
        pipe = LogPipe()
        fd = os.dup(pipe.child_fd)
        pipe.started()
        os.write(fd, b"init line\n")
        pipe.cut()
        assert pipe.take_cut() == b"init line\n"
        # More than a pipe holds: the event loop reads while the writer blocks. The
        # segment keeps its end, after a marker saying how much of its start was dropped.
        head = b"x" * 99 + b"\n"
        await asyncio.to_thread(os.write, fd, head + b"y" * (LOG_CAP + 10))
        os.write(fd, b"z\nlast line\n")
        pipe.cut()
        segment = pipe.take_cut()
        kept = LOG_CAP - len(b"z\nlast line\n")
        assert segment == truncated_marker(len(head) + 10 + 12) + b"y" * kept + b"z\nlast line\n"
        assert pipe.take_cut() == b""
        os.close(fd)
        pipe.close()

    asyncio.run(main())


def test_a_result_finds_the_log_without_a_read_once_the_loop_drained_the_pipe() -> None:
    """What a sandbox wrote before its result is in the result's segment; when the loop's
    reader has already emptied the pipe, taking it costs no read; a take that is not on a
    result (a sandbox given up on) always reads."""

    async def main() -> None:
        pipe = LogPipe()
        fd = os.dup(pipe.child_fd)
        pipe.started()
        reads = 0
        real_read = os.read

        def counting_read(fd_: int, n: int) -> bytes:
            nonlocal reads
            reads += 1
            return real_read(fd_, n)

        os.read = counting_read  # type: ignore[assignment]
        try:
            os.write(fd, b"before the result\n")
            await asyncio.sleep(0.05)  # a poll: the loop's reader drains the pipe
            seen = reads
            assert pipe.take_on_result() == b"before the result\n"
            assert reads == seen  # nothing left to read: no system call
            # Not yet seen by the loop (no poll since): the take reads it.
            os.write(fd, b"unpolled\n")
            assert pipe.take() == b"unpolled\n"
            assert pipe.take_on_result() == b""
        finally:
            os.read = real_read
        os.close(fd)
        pipe.close()

    asyncio.run(main())


def test_client_context_is_handed_over_as_one_line_json() -> None:
    import base64

    encoded = base64.b64encode(b'{\n "custom": {"k": "\xc3\xa9"}\n}').decode()
    assert _client_context(encoded) == '{"custom":{"k":"\\u00e9"}}'
    assert _client_context(None) is None
    assert _client_context("!!notbase64") is None
