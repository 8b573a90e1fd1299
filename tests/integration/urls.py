"""What the function URL tests share: a Python function deployed for a test module, its URL,
and that URL's address on this server for requests written by hand."""

from __future__ import annotations

import http.client
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from tests.conftest import ROLE, make_zip, unique


class Url:
    """One function URL on this server: the Host header that routes to it and the port. Called
    with http.client (``call``) or over a raw socket with bytes written by hand
    (``connect``, ``request``)."""

    def __init__(self, function_url: str) -> None:
        self.url = function_url
        parsed = urlparse(function_url)
        self.host = parsed.netloc
        self.port = int(parsed.port or 80)

    def call(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, http.client.HTTPMessage, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers={"Host": self.host, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.headers, resp.read()
        finally:
            conn.close()

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=60)

    def request(
        self,
        method: str,
        target: str,
        body: bytes | None = b"",
        headers: list[tuple[str, str]] | None = None,
        version: str = "1.1",
    ) -> bytes:
        """The request's bytes: Host first, a Content-Length unless ``body`` is None."""
        lines = [f"{method} {target} HTTP/{version}", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in headers or []]
        if body is not None and (body or method in ("POST", "PUT")):
            lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")


@contextmanager
def python_function(lambda_client: Any, prefix: str, handler: str, **config: Any) -> Iterator[str]:
    """A python3.11 function whose ``app.py`` is ``handler``, Active, deleted on the way out
    (``config``: more CreateFunction parameters)."""
    name = unique(prefix)
    lambda_client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": handler})},
        **config,
    )
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    try:
        yield name
    finally:
        lambda_client.delete_function(FunctionName=name)


def public_url(lambda_client: Any, function: str, **config: Any) -> Url:
    """A new AuthType NONE URL of ``function`` (``config``: Cors, Qualifier, InvokeMode)."""
    made = lambda_client.create_function_url_config(
        FunctionName=function, AuthType="NONE", **config
    )
    return Url(made["FunctionUrl"])
