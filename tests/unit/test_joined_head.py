"""A response's head and a body of known length leave in one write (JoinedHead)."""

from __future__ import annotations

import asyncio
import socket
from typing import Any

from lambox.api.connection import JoinedHead


class Transport:
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.calls.append(("write", data))

    def writelines(self, parts: Any) -> None:
        self.calls.append(("writelines", tuple(parts)))

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def get_extra_info(self, name: str) -> str:
        return f"extra {name}"


class Cycle:
    def __init__(self, chunked: bool | None, length: int, method: str = "POST") -> None:
        self.response_started = False
        self.chunked_encoding = chunked
        self.expected_content_length = length
        self.scope = {"method": method}


def test_head_waits_for_the_body_and_both_go_in_one_call() -> None:
    transport, cycle = Transport(), Cycle(False, 5)
    joined = JoinedHead(transport, cycle)  # type: ignore[arg-type]
    joined.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # before the response: at once
    cycle.response_started = True
    joined.write(b"HEAD")
    assert transport.calls == [("write", b"HTTP/1.1 100 Continue\r\n\r\n")]
    joined.write(b"hello")
    joined.write(b"more")
    assert transport.calls[1:] == [("writelines", (b"HEAD", b"hello")), ("write", b"more")]
    assert joined.get_extra_info("peername") == "extra peername"


def test_heads_without_a_known_body_are_written_at_once() -> None:
    for cycle in (Cycle(True, 0), Cycle(False, 0), Cycle(False, 5, "HEAD")):
        transport = Transport()
        joined = JoinedHead(transport, cycle)  # type: ignore[arg-type]
        cycle.response_started = True
        joined.write(b"HEAD")
        assert transport.calls == [("write", b"HEAD")]


def test_a_held_head_is_written_before_the_connection_closes() -> None:
    transport, cycle = Transport(), Cycle(False, 5)
    joined = JoinedHead(transport, cycle)  # type: ignore[arg-type]
    cycle.response_started = True
    joined.write(b"HEAD")
    joined.close()
    assert transport.calls == [("write", b"HEAD")]
    assert transport.closed and joined.is_closing()


def test_a_served_answer_is_whole_in_one_read(tmp_path: Any) -> None:
    """End to end through lambox's protocol: the head and body arrive together."""
    from uvicorn import Config, Server

    from lambox.api.connection import HeaderLimits, guarded_protocol

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
        )
        await asyncio.sleep(0.2)  # a gap between the ASGI messages
        await send({"type": "http.response.body", "body": b"ok"})

    async def main() -> bytes:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = Config(
            app, http=guarded_protocol(HeaderLimits(10, 16384, 100)), lifespan="off",
            log_level="warning",
        )  # fmt: skip
        server = Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started:
            await asyncio.sleep(0.01)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        first = await reader.read(65536)
        writer.close()
        server.should_exit = True
        await task
        return first

    first = asyncio.run(main())
    assert first.startswith(b"HTTP/1.1 200") and first.endswith(b"\r\n\r\nok")
