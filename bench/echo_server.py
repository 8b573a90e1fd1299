"""The HTTP floor: lambox's server stack (uvicorn, httptools, uvloop) with nothing behind it.

A raw ASGI app that answers every request with its own body. Measured with the same client
and counts as lambox's Invoke, it is what an HTTP round trip costs on this machine, in this
run, so that Invoke figures can be reported as overhead above it rather than as absolute
numbers that move with the machine's load. The uvicorn settings mirror ``lambox serve``.

Run: ``python bench/echo_server.py --host 127.0.0.1 --port P``.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Echo the request body back, with the two headers lambox's Invoke also sends."""
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
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
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
        # As lambox serve: connections stay open across the benchmark's idle phases.
        timeout_keep_alive=75,
    )


if __name__ == "__main__":
    main()
