"""The floor of an isolated invoke: the HTTP echo floor plus one round trip to another process.

lambox runs a function in a process of its own, so every warm Invoke is an HTTP exchange
with the client *and* a message exchange with that process: two round trips, three
processes, where the HTTP echo floor (``echo_server.py``) has one round trip and two. This
server is that shape with nothing else in it: the same uvicorn + httptools + uvloop stack
and raw ASGI app as the echo floor, which sends each request's body to an idle worker
process over a Unix socket (a 4-byte length, then the bytes) and answers with what the
worker sends back. A worker is a plain blocking Python loop (``recv``, ``sendall``): a
function that returns its event, minus everything a runtime does. Workers are started
as concurrency asks for them, as sandboxes are, and reused; each request path has a pool of
its own, as each function has its sandboxes, so a load spread over many paths keeps as
many worker processes busy in turn as lambox keeps sandboxes.

No isolation, no bookkeeping, no logs: what lambox adds over *this* floor is its own work;
what this floor adds over the echo floor is the price of running the function elsewhere.

Run: ``python bench/relay_server.py --host 127.0.0.1 --port P``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_LENGTH = struct.Struct("!I")


def _worker(sock: socket.socket) -> None:
    """The other process: answer every message with itself."""
    buf = b""
    while True:
        while len(buf) < 4 or len(buf) < 4 + _LENGTH.unpack_from(buf)[0]:
            chunk = sock.recv(65536)
            if not chunk:
                os._exit(0)
            buf += chunk
        end = 4 + _LENGTH.unpack_from(buf)[0]
        sock.sendall(buf[:end])
        buf = buf[end:]


class Worker(asyncio.Protocol):
    """The server's end of one worker's socket; one message in flight at a time."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self._buf = b""
        self._waiter: asyncio.Future[bytes] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buf += data
        if len(self._buf) >= 4:
            end = 4 + _LENGTH.unpack_from(self._buf)[0]
            if len(self._buf) >= end and self._waiter is not None:
                body, self._buf = self._buf[4:end], self._buf[end:]
                self._waiter.set_result(body)

    async def call(self, body: bytes) -> bytes:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(_LENGTH.pack(len(body)) + body)
        try:
            return await self._waiter
        finally:
            self._waiter = None


# Idle workers by request path: a path stands for a function.
_idle: dict[str, list[Worker]] = {}


async def _new_worker() -> Worker:
    parent, child = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        parent.close()
        _worker(child)
    child.close()
    loop = asyncio.get_running_loop()
    _, worker = await loop.connect_accepted_socket(Worker, parent)
    return worker


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Echo the request body back through a worker, with the echo floor's headers."""
    if scope["type"] != "http":
        return
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    pool = _idle.setdefault(scope["path"], [])
    worker = pool.pop() if pool else await _new_worker()
    try:
        body = await worker.call(chunks[0] if len(chunks) == 1 else b"".join(chunks))
    finally:
        pool.append(worker)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        loop="uvloop",
        http="httptools",
        lifespan="off",
        access_log=False,
        log_level="warning",
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
