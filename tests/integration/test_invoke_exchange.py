"""The synchronous Invoke answered by the connection itself (``api/exchange.py``), over raw
loopback sockets: what it answers must be what the generic request cycle answered, and
what it does not claim (pipelined requests, chunked bodies, ``Expect: 100-continue``,
HTTP/1.0, bodies over the limit) must still be served, by the cycle."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from botocore.config import Config

from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique
from tests.wire import Reader


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    srv = start_server(tmp_path_factory.mktemp("exchange") / "data")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def fn(server: LamboxServer) -> str:
    client = boto3.client(
        "lambda",
        endpoint_url=server.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=120),
    )
    name = unique("exchange")
    code = (
        "import time\n"
        "def handler(event, context):\n"
        "    if isinstance(event, dict) and event.get('sleep'):\n"
        "        time.sleep(event['sleep'])\n"
        "    if isinstance(event, dict) and event.get('fail'):\n"
        "        raise ValueError('asked to fail')\n"
        "    return event\n"
    )
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Handler="app.handler",
        Role=ROLE,
        Code={"ZipFile": make_zip({"app.py": code})},
        Timeout=30,
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def _connect(server: LamboxServer) -> socket.socket:
    port = int(urlsplit(server.url).port or 0)
    return socket.create_connection(("127.0.0.1", port), timeout=60)


def _request(name: str, body: bytes, extra: bytes = b"", version: bytes = b"1.1") -> bytes:
    return (
        b"POST /2015-03-31/functions/" + name.encode() + b"/invocations HTTP/" + version + b"\r\n"
        b"Host: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n"
        + extra
        + b"Content-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


def test_an_invoke_answers_with_the_headers_aws_sends(server: LamboxServer, fn: str) -> None:
    with _connect(server) as sock:
        sock.sendall(_request(fn, b'{"k": "v"}'))
        status, headers, body = Reader(sock).response()
    assert status == 200
    assert json.loads(body) == {"k": "v"}
    assert headers["content-type"] == "application/json"
    assert headers["x-amz-executed-version"] == "$LATEST"
    assert len(headers["x-amzn-requestid"]) == 36
    assert headers["date"].endswith(" GMT")
    assert "connection" not in headers  # kept alive


def test_many_invokes_on_one_kept_alive_connection(server: LamboxServer, fn: str) -> None:
    with _connect(server) as sock:
        reader = Reader(sock)
        for i in range(50):
            sock.sendall(_request(fn, json.dumps({"i": i}).encode()))
            status, _, body = reader.response()
            assert (status, json.loads(body)) == (200, {"i": i})


def test_pipelined_invokes_are_answered_in_order(server: LamboxServer, fn: str) -> None:
    """The second request arrives while the first is running: it waits its turn."""
    with _connect(server) as sock:
        first = _request(fn, b'{"sleep": 0.3, "n": 1}')
        listing = b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        sock.sendall(first + _request(fn, b'{"n": 2}') + listing + _request(fn, b'{"n": 3}'))
        reader = Reader(sock)
        answers = [reader.response() for _ in range(4)]
    assert [a[0] for a in answers] == [200, 200, 200, 200]
    assert json.loads(answers[0][2])["n"] == 1
    assert json.loads(answers[1][2]) == {"n": 2}
    assert "Functions" in json.loads(answers[2][2])
    assert json.loads(answers[3][2]) == {"n": 3}


def test_connection_close_is_honoured(server: LamboxServer, fn: str) -> None:
    with _connect(server) as sock:
        sock.sendall(_request(fn, b"{}", b"Connection: close\r\n"))
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert (status, body) == (200, b"{}")
        assert headers["connection"] == "close"
        assert reader.closed()


def test_http_1_0_is_answered_and_closed(server: LamboxServer, fn: str) -> None:
    with _connect(server) as sock:
        sock.sendall(_request(fn, b'{"old": true}', version=b"1.0"))
        reader = Reader(sock)
        status, _, body = reader.response()
        assert (status, json.loads(body)) == (200, {"old": True})
        assert reader.closed()


def test_a_chunked_body_is_served(server: LamboxServer, fn: str) -> None:
    raw = (
        b"POST /2015-03-31/functions/" + fn.encode() + b"/invocations HTTP/1.1\r\n"
        b"Host: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"a":\r\n3\r\n 1}\r\n0\r\n\r\n'
    )
    with _connect(server) as sock:
        sock.sendall(raw)
        status, _, body = Reader(sock).response()
    assert (status, json.loads(body)) == (200, {"a": 1})


def test_expect_100_continue_gets_its_interim_answer(server: LamboxServer, fn: str) -> None:
    body = b'{"continued": 1}'
    head = _request(fn, body, b"Expect: 100-continue\r\n")[: -len(body)]
    with _connect(server) as sock:
        sock.sendall(head)
        interim = sock.recv(65536)
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        reader = Reader(sock)
        reader.buf = interim[len(b"HTTP/1.1 100 Continue\r\n\r\n") :]
        sock.sendall(body)
        status, _, answer = reader.response()
    assert (status, json.loads(answer)) == (200, {"continued": 1})


def test_a_large_body_arrives_whole(server: LamboxServer, fn: str) -> None:
    """Past uvicorn's high-water mark the protocol pauses reading; the exchange resumes it."""
    payload = json.dumps({"blob": "x" * (5 << 20)}).encode()
    with _connect(server) as sock:
        sock.sendall(_request(fn, payload))
        status, _, body = Reader(sock).response()
    assert status == 200
    assert body == payload


def test_a_body_over_the_limit_is_refused_as_aws_does(server: LamboxServer, fn: str) -> None:
    payload = b'"' + b"x" * (6 * 1024 * 1024) + b'"'
    with _connect(server) as sock:
        sock.sendall(_request(fn, payload))
        status, headers, body = Reader(sock).response()
    assert status == 413
    assert headers["x-amzn-errortype"] == "RequestTooLargeException"
    assert "InvokeFunction" in json.loads(body)["message"]


def test_errors_come_from_the_same_endpoint(server: LamboxServer, fn: str) -> None:
    with _connect(server) as sock:
        reader = Reader(sock)
        sock.sendall(_request("no-such-function", b"{}"))
        status, headers, body = reader.response()
        assert status == 404
        assert headers["x-amzn-errortype"] == "ResourceNotFoundException"
        sock.sendall(_request(fn, b"{not json"))
        status, headers, _ = reader.response()
        assert (status, headers["x-amzn-errortype"]) == (400, "InvalidRequestContentException")
        sock.sendall(_request(fn, b'{"fail": true}'))
        status, headers, body = reader.response()
        assert (status, headers["x-amz-function-error"]) == (200, "Unhandled")
        assert json.loads(body)["errorMessage"] == "asked to fail"


def test_a_client_leaving_mid_invoke_leaves_the_server_serving(
    server: LamboxServer, fn: str
) -> None:
    """The invocation runs to its end (as on Lambda); its answer has nowhere to go."""
    with _connect(server) as sock:
        sock.sendall(_request(fn, b'{"sleep": 0.5, "left": 1}'))
        time.sleep(0.1)
    time.sleep(0.8)
    with _connect(server) as sock:
        sock.sendall(_request(fn, b'{"after": 1}'))
        status, _, body = Reader(sock).response()
    assert (status, json.loads(body)) == (200, {"after": 1})
    logs = httpx.get(f"{server.url}/lambox/v1/logs/{fn}").text
    assert logs.count("START RequestId") >= 1
    assert "Traceback" not in server.output()
