"""Which requests the connection answers through an ``Exchange`` (``api/exchange.py``) and
which it leaves to uvicorn's cycle, through lambox's protocol on a real socket."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from uvicorn import Config, Server

from lambox.api.connection import HeaderLimits, guarded_protocol


class Routes:
    """Claims POST /direct; answers with what it was given."""

    def __init__(self) -> None:
        self.answered: list[bytes] = []

    def claims(self, scope: dict[str, Any]) -> Any:
        return self._direct if scope["path"] == "/direct" else None

    async def _direct(self, scope: dict[str, Any], receive: Any) -> Any:
        raise AssertionError("the edge's answer, not the route, is what the exchange calls")

    async def answer(self, scope: dict[str, Any], receive: Any, direct: Any) -> Any:
        message = await receive()
        body: bytes = message["body"]
        self.answered.append(body)
        if body == b"slow":
            await asyncio.sleep(0.2)
        if body == b"bad":
            return 200, [(b"x-bad", b"a\r\nb"), (b"content-length", b"0")], b""
        answer = b"direct:" + body + b":" + scope["query_string"]
        return 200, [(b"content-length", str(len(answer)).encode())], answer


async def app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    answer = b"app:" + body
    headers = [(b"content-length", str(len(answer)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def serve(raw: bytes, routes: Routes, responses: int) -> bytes:
    """Send ``raw`` on one connection; what came back once ``responses`` answers did."""

    async def main() -> bytes:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        protocol = guarded_protocol(HeaderLimits(10, 16384, 100), routes, 100, b"/d")
        config = Config(app, http=protocol, lifespan="off", log_level="critical")
        server = Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        data = b""
        while _complete(data) < responses:
            chunk = await asyncio.wait_for(reader.read(65536), 10)
            if not chunk:
                break
            data += chunk
        writer.close()
        server.should_exit = True
        await task
        return data

    return asyncio.run(main())


def _complete(data: bytes) -> int:
    """How many whole responses ``data`` holds."""
    count = 0
    while b"\r\n\r\n" in data:
        head, _, rest = data.partition(b"\r\n\r\n")
        if head.startswith(b"HTTP/1.1 100 "):
            data = rest
            continue
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        if len(rest) < length:
            break
        count += 1
        data = rest[length:]
    return count


def post(path: str, body: bytes, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
    head = b"POST " + path.encode() + b" HTTP/" + version + b"\r\nHost: x\r\n" + extra
    return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def test_a_claimed_request_is_answered_by_the_edge_in_one_write() -> None:
    routes = Routes()
    data = serve(post("/direct?q=1", b"hi"), routes, 1)
    assert data.startswith(b"HTTP/1.1 200 OK\r\n")
    assert data.endswith(b"\r\n\r\ndirect:hi:q=1")
    assert b"date: " in data  # uvicorn's default headers, as on every answer
    assert routes.answered == [b"hi"]


def test_what_is_not_the_plain_case_goes_to_the_cycle() -> None:
    cases = [
        post("/other", b"hi"),  # not under the claimed prefix
        post("/dx", b"hi"),  # under it, but not claimed by the routes
        b"GET /direct HTTP/1.1\r\nHost: x\r\n\r\n",  # not a POST
        post("/direct", b"hi", b"Expect: 100-continue\r\n"),
        post("/direct", b"x" * 101),  # over the body limit
        b"POST /direct HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"2\r\nhi\r\n0\r\n\r\n",
    ]
    for raw in cases:
        routes = Routes()
        data = serve(raw, routes, 1)
        assert b"\r\n\r\napp:" in data, raw
        assert routes.answered == [], raw
    routes = Routes()
    data = serve(post("/direct", b"old", version=b"1.0"), routes, 1)
    assert data.endswith(b"app:old") and routes.answered == []


def test_pipelined_requests_keep_their_order() -> None:
    """A head parsed while an exchange is answering is queued behind it, in the cycle."""
    routes = Routes()
    data = serve(post("/direct", b"slow") + post("/direct", b"next"), routes, 2)
    first = data.index(b"direct:slow:")
    second = data.index(b"app:next")
    assert first < second
    assert routes.answered == [b"slow"]


def test_an_unsafe_header_value_becomes_an_aws_shaped_500() -> None:
    routes = Routes()
    data = serve(post("/direct", b"bad") + post("/direct", b"then"), routes, 2)
    assert data.startswith(b"HTTP/1.1 500 ")
    assert b"x-amzn-errortype: ServiceException" in data
    assert b"a\r\nb" not in data
    assert data.endswith(b"app:then")  # pipelined behind the failed one: the cycle's
