"""A tiny blocking HTTP/1.1 keep-alive client for latency measurement.

Why not httpx, urllib or http.client: their per-request Python work (header objects, URL
parsing, response objects) is tens of microseconds, the same order as the overhead being
measured. Here the request is built once, as bytes, and a response is read with as few
Python operations as possible, so what the clock sees is mostly the server. It supports
exactly what lambox's Invoke and the echo floor answer with: a status line, headers with a
Content-Length, and that many body bytes. Anything else (chunked, early close) raises.
"""

from __future__ import annotations

import socket

_HEAD_END = b"\r\n\r\n"
_CONTENT_LENGTH = b"\r\ncontent-length:"


class HttpError(Exception):
    """The server answered with something this client does not understand, or went away."""


def build_request(
    host: str, port: int, path: str, body: bytes, method: str = "POST", host_header: str = ""
) -> bytes:
    """The full request bytes, computed once and re-sent on every call (``host_header``
    replaces ``host:port`` in the Host header: a function URL is routed by it)."""
    head = (
        f"{method} {path} HTTP/1.1\r\n"
        f"Host: {host_header or f'{host}:{port}'}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


class Connection:
    """One keep-alive TCP connection (TCP_NODELAY) sending precomputed requests in sequence."""

    def __init__(self, host: str, port: int, timeout: float = 30.0) -> None:
        self.host = host
        self.port = port
        self._sock = socket.create_connection((host, port), timeout=timeout)
        # Nagle would hold the small requests back waiting for an ACK: milliseconds of delay
        # that are the client's, not lambox's.
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._buf = b""

    def request(self, raw: bytes) -> tuple[int, bytes]:
        """Send ``raw`` and return (status, body) of the one response to it."""
        sock = self._sock
        sock.sendall(raw)
        buf = self._buf
        end = buf.find(_HEAD_END)
        while end < 0:
            chunk = sock.recv(65536)
            if not chunk:
                raise HttpError("connection closed before the response headers")
            buf += chunk
            end = buf.find(_HEAD_END)
        head = buf[: end + 2].lower()
        status = int(head[9:12])
        start = head.find(_CONTENT_LENGTH)
        if start < 0:
            raise HttpError(f"response without content-length: {bytes(head)!r}")
        start += len(_CONTENT_LENGTH)
        length = int(head[start : head.index(b"\r\n", start)])
        body_start = end + 4
        body_end = body_start + length
        while len(buf) < body_end:
            chunk = sock.recv(max(65536, body_end - len(buf)))
            if not chunk:
                raise HttpError("connection closed inside the response body")
            buf += chunk
        self._buf = buf[body_end:]
        return status, buf[body_start:body_end]

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
