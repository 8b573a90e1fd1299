"""Which requests the connection answers through an ``Exchange`` (``api/exchange.py``) and
which it leaves to uvicorn's cycle, through lambox's protocol on a real socket."""

from __future__ import annotations

import asyncio
import gc
import socket
from typing import Any

from uvicorn import Config, Server

from lambox.api.connection import HeaderLimits, guarded_protocol
from lambox.api.exchange import Exchange


class Routes:
    """Claims POST /direct, and any request to a ``.lambda-url.`` Host but a ``stream``
    one's; answers with what it was given. ``offered`` is each request the connection
    offered (method, path)."""

    def __init__(self) -> None:
        self.answered: list[bytes] = []
        self.offered: list[tuple[str, str]] = []

    def claims(self, scope: dict[str, Any]) -> Any:
        self.offered.append((scope["method"], scope["path"]))
        host = dict(scope["headers"]).get(b"host", b"")
        if b".lambda-url." in host:
            return None if host.startswith(b"stream.") else self._direct
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
        if scope["method"] != "POST":
            answer = scope["method"].encode() + b" " + answer
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


def serve(raw: bytes | list[bytes], routes: Routes, responses: int) -> bytes:
    """Send ``raw`` on one connection (a list: each once the one before was answered);
    what came back once ``responses`` answers did."""

    async def main() -> bytes:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        protocol = guarded_protocol(
            HeaderLimits(10, 16384, 100), routes, 100, b"/d", b".lambda-url."
        )
        config = Config(app, http=protocol, lifespan="off", log_level="critical")
        server = Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        data = b""
        for part in [raw] if isinstance(raw, bytes) else raw:
            writer.write(part)
            wanted = responses if isinstance(raw, bytes) else _complete(data) + 1
            while _complete(data) < wanted:
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


URL_HOST = b"abc.lambda-url.us-east-1.localhost:9000"


def call(method: bytes, path: bytes, host: bytes, body: bytes | None = None) -> bytes:
    """A request to ``host``; without ``body``, no Content-Length (no body)."""
    head = method + b" " + path + b" HTTP/1.1\r\nHost: " + host + b"\r\n"
    if body is None:
        return head + b"\r\n"
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


def test_a_function_url_request_of_any_method_and_path_is_claimed_by_its_host() -> None:
    routes = Routes()
    data = serve(call(b"GET", b"/any/path?x=1", URL_HOST), routes, 1)
    assert data.endswith(b"\r\n\r\nGET direct::x=1")
    assert routes.offered == [("GET", "/any/path")]
    routes = Routes()
    data = serve(
        [call(b"PUT", b"/", URL_HOST, b"put"), call(b"POST", b"/p", URL_HOST, b"hi")], routes, 2
    )
    assert b"PUT direct:put:" in data and data.endswith(b"\r\n\r\ndirect:hi:")
    assert routes.answered == [b"put", b"hi"]


def test_what_no_route_takes_or_is_not_a_url_host_goes_to_the_cycle() -> None:
    cases = [
        # The routes refuse it (a streaming URL): offered, then served by the cycle.
        (call(b"GET", b"/", b"stream.lambda-url.us-east-1.localhost"), [("GET", "/")]),
        # Another Host: not even offered.
        (call(b"GET", b"/x", b"photos.s3.localhost:9000"), []),
        (call(b"POST", b"/x", b"127.0.0.1:9000", b"hi"), []),
        (call(b"GET", b"/x", b"lambda-url.example"), []),
        # A URL's HEAD: its answer has no body, as only the cycle writes it.
        (call(b"HEAD", b"/", URL_HOST)[:-2] + b"Connection: close\r\n\r\n", []),
        # A URL's request with a chunked body.
        (
            b"POST / HTTP/1.1\r\nHost: " + URL_HOST + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"2\r\nhi\r\n0\r\n\r\n",
            [],
        ),
    ]
    for raw, offered in cases:
        routes = Routes()
        data = serve(raw, routes, 1)
        assert data.startswith(b"HTTP/1.1 200 OK\r\n"), raw
        if not raw.startswith(b"HEAD"):
            assert b"\r\n\r\napp:" in data, raw
        assert routes.answered == [], raw
        assert routes.offered == offered, raw
    routes = Routes()
    old = call(b"GET", b"/", URL_HOST).replace(b"HTTP/1.1", b"HTTP/1.0")
    assert serve(old, routes, 1).endswith(b"app:") and routes.offered == []


class CountingRoutes(Routes):
    """Routes that count, as each request is answered, the exchanges still alive."""

    def __init__(self) -> None:
        super().__init__()
        self.alive: list[int] = []

    async def answer(self, scope: dict[str, Any], receive: Any, direct: Any) -> Any:
        self.alive.append(sum(type(o) is Exchange for o in gc.get_objects()))
        return await super().answer(scope, receive, direct)


def test_an_answered_exchange_is_freed_without_the_garbage_collector() -> None:
    # An exchange in a reference cycle (with its task, scope and body) lives until a
    # collection finds it: with the collector off, answered exchanges would pile up.
    routes = CountingRoutes()
    gc.collect()
    gc.disable()
    try:
        data = serve([post("/direct", str(i).encode()) for i in range(6)], routes, 6)
    finally:
        gc.enable()
    assert _complete(data) == 6
    assert routes.alive[-1] <= 2  # the one being answered (and the one before, at most)
