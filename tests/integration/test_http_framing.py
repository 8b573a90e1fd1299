"""A function's answer cannot frame the HTTP response itself: the framing and hop-by-hop
headers it returns (Content-Length, Transfer-Encoding, Connection, ...) are dropped, on a
function URL (buffered and streamed) and on an HTTP API (payload formats 2.0 and 1.0), and
the next response on the same connection is still read where it begins."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import LamboxServer, aws_client, unique
from tests.integration.urls import public_url, python_function

# Headers a function might copy from a framework's response, with values that would make a
# client read the body wrongly: an empty body, a chunked one, a closed connection.
HANDLER = """
def handler(event, context):
    return {
        "statusCode": 200,
        "headers": {
            "Content-Length": "0",
            "Transfer-Encoding": "chunked",
            "Connection": "close",
            "Keep-Alive": "timeout=1",
            "Upgrade": "h2c",
            "X-Kept": "yes",
        },
        "multiValueHeaders": {"content-length": ["3"], "x-multi": ["a", "b"]},
        "body": "hello world",
    }
"""
FRAMING = {"transfer-encoding", "connection", "keep-alive", "upgrade"}


def _read(sock: socket.socket, buffer: bytes) -> tuple[list[tuple[str, str]], bytes, bytes]:
    """One response off the connection: its headers, its body (by its one Content-Length)
    and what was read past it."""
    while b"\r\n\r\n" not in buffer:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-head: {buffer!r}"
        buffer += chunk
    head, rest = buffer.split(b"\r\n\r\n", 1)
    status, *lines = head.decode("latin-1").split("\r\n")
    assert status.startswith("HTTP/1.1 200 "), head
    headers = [(k.lower(), v.strip()) for k, v in (line.split(":", 1) for line in lines)]
    lengths = [v for k, v in headers if k == "content-length"]
    assert len(lengths) == 1, head
    while len(rest) < int(lengths[0]):
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        rest += chunk
    return headers, rest[: int(lengths[0])], rest[int(lengths[0]) :]


def _twice(port: int, host: str, path: str) -> list[tuple[list[tuple[str, str]], bytes]]:
    """Two requests pipelined on one keep-alive connection, and their two responses."""
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
        sock.sendall(request + request)
        first, body, rest = _read(sock, b"")
        second, body2, rest = _read(sock, rest)
    assert rest == b""
    return [(first, body), (second, body2)]


def _check(answers: list[tuple[list[tuple[str, str]], bytes]], multi: bool) -> None:
    for headers, body in answers:
        assert body == b"hello world"
        names = {k for k, _ in headers}
        assert not names & FRAMING, headers
        assert ("content-length", "11") in headers
        assert ("x-kept", "yes") in headers
        assert (("x-multi", "b") in headers) is multi


@pytest.fixture(scope="module")
def function(lambda_client: Any) -> Iterator[str]:
    with python_function(lambda_client, "framing", HANDLER) as name:
        yield name


@pytest.mark.parametrize("mode", ["BUFFERED", "RESPONSE_STREAM"])
def test_a_function_urls_answer_is_framed_by_lambox(
    server: LamboxServer, lambda_client: Any, function: str, mode: str
) -> None:
    url = public_url(lambda_client, function, InvokeMode=mode)
    try:
        _check(_twice(url.port, url.host, "/"), multi=False)
    finally:
        lambda_client.delete_function_url_config(FunctionName=function)


@pytest.mark.parametrize("version", ["2.0", "1.0"])
def test_an_http_apis_answer_is_framed_by_lambox(
    server: LamboxServer, lambda_client: Any, function: str, version: str
) -> None:
    gateway = aws_client(server, "apigatewayv2")
    arn = lambda_client.get_function(FunctionName=function)["Configuration"]["FunctionArn"]
    api = gateway.create_api(Name=unique("framing"), ProtocolType="HTTP")
    try:
        integration = gateway.create_integration(
            ApiId=api["ApiId"],
            IntegrationType="AWS_PROXY",
            IntegrationUri=arn,
            PayloadFormatVersion=version,
        )
        gateway.create_route(
            ApiId=api["ApiId"],
            RouteKey="GET /hello",
            Target=f"integrations/{integration['IntegrationId']}",
        )
        gateway.create_stage(ApiId=api["ApiId"], StageName="$default", AutoDeploy=True)
        endpoint = urlsplit(api["ApiEndpoint"])
        _check(_twice(endpoint.port or 0, endpoint.netloc, "/hello"), multi=version == "1.0")
    finally:
        gateway.delete_api(ApiId=api["ApiId"])
