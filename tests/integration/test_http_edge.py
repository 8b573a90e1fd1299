"""Hostile HTTP clients over raw loopback sockets: slow heads, huge heads, malformed requests,
clients that leave mid-body. Each gets an AWS-shaped refusal or a closed connection, never a
held one, and the server's log stays free of tracebacks."""

from __future__ import annotations

import contextlib
import json
import selectors
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique

HEADER_TIMEOUT = 1.0
MARGIN = 6.0  # generous: the machine is shared and slow
LIST = b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: lambox\r\n"


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(
        tmp_path_factory.mktemp("edge") / "data",
        {"LAMBOX_HEADER_TIMEOUT": str(HEADER_TIMEOUT), "LAMBOX_IDLE_TIMEOUT": "1"},
    )
    yield srv
    stop_server(srv)


def _port(server: LamboxServer) -> int:
    return int(urlsplit(server.url).port or 0)


def _connect(server: LamboxServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", _port(server)), timeout=30)
    return sock


def exchange(server: LamboxServer, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``raw`` whole, read until the server closes; the status, headers and body."""
    with _connect(server) as sock:
        # Refused before it read everything: the answer is still there to read.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in headers.items()}, body


def assert_refused(answer: tuple[int, dict[str, str], bytes], status: int, aws_type: str) -> str:
    code, headers, body = answer
    assert code == status, answer
    assert headers["content-type"] == "application/json"
    assert headers["x-amzn-errortype"] == aws_type
    assert headers["connection"] == "close"
    assert headers["x-amzn-requestid"]
    message: str = json.loads(body)["message"]
    return message


def test_a_well_formed_request_still_passes(edge: LamboxServer) -> None:
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(60))
    code, _, body = exchange(edge, LIST + many + b"Connection: close\r\n\r\n")
    assert code == 200
    assert json.loads(body) == {"Functions": []}


def test_slow_heads_are_cut_off_at_the_header_deadline(edge: LamboxServer) -> None:
    """Twenty clients trickling a byte every 0.2 s are all answered 408 and closed."""
    request = LIST + b"X-Slow: " + b"a" * 200 + b"\r\n\r\n"
    socks = [_connect(edge) for _ in range(20)]
    sel = selectors.DefaultSelector()
    for sock in socks:
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
    received = {sock: b"" for sock in socks}
    closed: dict[socket.socket, float] = {}
    start = time.monotonic()
    sent = 0
    try:
        while len(closed) < len(socks) and time.monotonic() - start < HEADER_TIMEOUT + MARGIN:
            for sock in socks:
                if sock not in closed and sent < len(request):
                    with contextlib.suppress(OSError):
                        sock.send(request[sent : sent + 1])
            sent += 1
            for key, _ in sel.select(0.2):
                sock = key.fileobj
                assert isinstance(sock, socket.socket)
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    chunk = b""
                if chunk:
                    received[sock] += chunk
                else:
                    closed[sock] = time.monotonic() - start
                    sel.unregister(sock)
    finally:
        sel.close()
        for sock in socks:
            sock.close()
    assert len(closed) == len(socks), f"{len(socks) - len(closed)} connections still held"
    assert sent < len(request)  # the heads were indeed incomplete when cut off
    for data in received.values():
        assert data.startswith(b"HTTP/1.1 408 "), data
        assert b"x-amzn-errortype: RequestTimeoutException" in data


def test_a_silent_connection_is_closed(edge: LamboxServer) -> None:
    with _connect(edge) as sock:
        sock.settimeout(HEADER_TIMEOUT + MARGIN)
        assert sock.recv(1024) == b""


def _read_response(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head


def test_a_kept_alive_connection_gets_a_new_deadline_per_request(edge: LamboxServer) -> None:
    """The second request on a connection is cut off too when its head trickles."""
    with _connect(edge) as sock:
        sock.settimeout(HEADER_TIMEOUT + MARGIN)
        sock.sendall(LIST + b"\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        data = b""
        with contextlib.suppress(OSError):
            for byte in LIST:
                sock.send(bytes([byte]))
                time.sleep(0.2)
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 408 "), data


def test_an_idle_kept_alive_connection_is_closed(edge: LamboxServer) -> None:
    """LAMBOX_IDLE_TIMEOUT (1 s here) reaches uvicorn's keep-alive timeout."""
    with _connect(edge) as sock:
        sock.settimeout(1 + MARGIN)
        sock.sendall(LIST + b"\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        assert sock.recv(1024) == b""


def test_the_keep_alive_timeout_runs_from_the_last_response(edge: LamboxServer) -> None:
    """A connection used again within LAMBOX_IDLE_TIMEOUT (1 s) is kept past the first
    response's timeout, and closed once idle for the whole timeout after its last one."""
    with _connect(edge) as sock:
        sock.settimeout(1 + MARGIN)
        sock.sendall(LIST + b"\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(0.6)
        sock.sendall(LIST + b"\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(0.6)  # past the first response's timeout, within the second's
        sock.sendall(LIST + b"\r\n")
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
        assert sock.recv(1024) == b""


def test_an_eight_mib_header_gets_431_without_being_buffered(edge: LamboxServer) -> None:
    raw = LIST + b"X-Big: " + b"a" * (8 << 20) + b"\r\n\r\n"
    message = assert_refused(exchange(edge, raw), 431, "RequestHeaderFieldsTooLargeException")
    assert "16384 bytes" in message


def test_a_head_just_over_the_limit_in_one_write_gets_431(edge: LamboxServer) -> None:
    raw = LIST + b"X-Big: " + b"a" * 17000 + b"\r\n\r\n"
    assert_refused(exchange(edge, raw), 431, "RequestHeaderFieldsTooLargeException")


def test_too_many_header_fields_get_431(edge: LamboxServer) -> None:
    for count in (150, 20_000):
        many = b"".join(b"X-%d: 1\r\n" % i for i in range(count))
        message = assert_refused(
            exchange(edge, LIST + many + b"\r\n"), 431, "RequestHeaderFieldsTooLargeException"
        )
        assert "100 header fields" in message or "16384 bytes" in message


MALFORMED = {
    "duplicate-content-length": b"POST /2015-03-31/functions/x/invocations HTTP/1.1\r\n"
    b"Host: a\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
    "lf-only-line-ends": b"GET /2015-03-31/functions/ HTTP/1.1\nHost: a\n\n",
    "bad-chunk-size": b"POST /2015-03-31/functions/x/invocations HTTP/1.1\r\nHost: a\r\n"
    b"Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
    "nul-in-header": b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: a\r\nX-A: a\x00b\r\n\r\n",
    "content-length-and-chunked": b"POST /2015-03-31/functions/x/invocations HTTP/1.1\r\n"
    b"Host: a\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_http_gets_an_aws_shaped_400(edge: LamboxServer, case: str) -> None:
    message = assert_refused(exchange(edge, MALFORMED[case]), 400, "BadRequestException")
    assert message.startswith("Malformed HTTP request: ")
    log = edge.output()
    assert "Invalid HTTP request" not in log
    assert "Traceback" not in log


@pytest.fixture(scope="module")
def echo(edge: LamboxServer) -> str:
    client = boto3.client(
        "lambda",
        endpoint_url=edge.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=120),
    )
    name = unique("edge-echo")
    code = make_zip({"app.py": "def handler(event, context):\n    return event\n"})
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": code},
    )
    # Polled on a new connection each time: boto3's waiter sleeps 1 s between polls, as long
    # as this server's keep-alive, and would race the server closing its idle connection.
    deadline = time.monotonic() + 120
    while (
        httpx.get(f"{edge.url}/2015-03-31/functions/{name}").json()["Configuration"]["State"]
        != "Active"
    ):
        assert time.monotonic() < deadline, "the function never became Active"
        time.sleep(0.1)
    return name


def _leave_mid_body(server: LamboxServer, path: str, sent: bytes) -> None:
    with _connect(server) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000\r\n\r\n".encode()
            + sent
        )
        time.sleep(0.3)  # let the server start reading the body


def test_a_client_leaving_mid_body_is_not_logged_and_runs_nothing(
    edge: LamboxServer, echo: str
) -> None:
    _leave_mid_body(edge, "/2015-03-31/functions", b'{"FunctionName": "x"')
    # A payload that is valid JSON so far: the function must still not run on it.
    _leave_mid_body(edge, f"/2015-03-31/functions/{echo}/invocations", b"{}")
    # The server is still answering, and the next request on a new connection is served.
    assert httpx.get(f"{edge.url}/2015-03-31/functions/{echo}").status_code == 200
    logs = httpx.get(f"{edge.url}/lambox/v1/logs/{echo}").text
    assert "START RequestId" not in logs
    output = edge.output()
    assert "Traceback" not in output
    assert "ClientDisconnect" not in output


def test_an_upgrade_request_is_served_without_warnings(edge: LamboxServer) -> None:
    raw = LIST + b"Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
    with _connect(edge) as sock:
        sock.sendall(raw)
        assert _read_response(sock).startswith(b"HTTP/1.1 200 ")
    assert "upgrade" not in edge.output().lower()


def test_an_oversized_head_pipelined_behind_a_request_gets_431(edge: LamboxServer) -> None:
    """The second head begins inside the read that ended the first request: it is measured."""
    big = LIST + b"X-Big: " + b"a" * 17000 + b"\r\n\r\n"
    with _connect(edge) as sock:
        sock.sendall(LIST + b"\r\n" + big)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 ")
    assert b"HTTP/1.1 431 " in data
    assert data.count(b"HTTP/1.1 ") == 2
