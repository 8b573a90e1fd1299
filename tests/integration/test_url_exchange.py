"""Function URL requests answered by the connection itself (``api/exchange.py``), over raw
loopback sockets: what a claimed request gets must be what the request cycle gave it (the
event, headers, cookies, base64 bodies, CORS, AuthType NONE and AWS_IAM, AWS's errors), and
what is not claimed (pipelined requests, chunked bodies, ``Expect: 100-continue``,
HTTP/1.0, HEAD, bodies over the limit) must still be served, by the cycle."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import LamboxServer
from tests.integration.urls import Url, public_url, python_function
from tests.wire import Reader

HANDLER = """import base64, json, time


def handler(event, context):
    path = event["rawPath"]
    if path == "/sleep":
        time.sleep(float(event["queryStringParameters"]["s"]))
    if path == "/fail":
        raise RuntimeError("boom")
    if path == "/bad-value":
        return {"statusCode": 200, "headers": {"x-bad": "a\\r\\nx-injected: 1"}}
    if path == "/bad-name":
        return {"statusCode": 200, "headers": {"bad name": "x"}}
    if path == "/binary":
        return {
            "statusCode": 201,
            "headers": {"Content-Type": "application/octet-stream"},
            "body": base64.b64encode(bytes(range(256))).decode(),
            "isBase64Encoded": True,
        }
    return {
        "statusCode": 200,
        "headers": {"X-Path": path, "Access-Control-Allow-Origin": "http://function"},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": json.dumps(event),
    }
"""
CORS = {
    "AllowOrigins": ["https://app.example"],
    "AllowMethods": ["GET", "POST"],
    "AllowHeaders": ["x-token"],
    "MaxAge": 60,
}


@pytest.fixture(scope="module")
def function(lambda_client: Any) -> Iterator[str]:
    with python_function(lambda_client, "urlx", HANDLER, Timeout=30) as name:
        yield name


@pytest.fixture(scope="module")
def url(lambda_client: Any, function: str) -> Url:
    return public_url(lambda_client, function, Cors=CORS)


def _event(body: bytes) -> dict[str, Any]:
    event: dict[str, Any] = json.loads(body)
    return event


def _payload(body: bytes) -> bytes:
    """The request body the function's event carried, base64 or not."""
    event = _event(body)
    given: str = event["body"]
    return base64.b64decode(given) if event["isBase64Encoded"] else given.encode()


def test_a_url_request_gets_the_event_and_the_answer_aws_gives(url: Url) -> None:
    raw = url.request(
        "GET",
        "/some/path?a=1&a=2&b=",
        None,
        [("Cookie", "x=1; y=2"), ("X-Multi", "one"), ("X-Multi", "two")],
    )
    with url.connect() as sock:
        sock.sendall(raw)
        reader = Reader(sock)
        status, headers, body = reader.response()
    assert status == 200
    assert [v for k, v in reader.fields if k == "set-cookie"] == ["a=1; Path=/", "b=2"]
    assert headers["x-path"] == "/some/path"
    assert headers["access-control-allow-origin"] == "http://function"  # no Origin: kept
    assert headers["content-type"] == "application/json"
    assert len(headers["x-amzn-requestid"]) == 36
    assert headers["date"].endswith(" GMT")
    assert "connection" not in headers  # kept alive
    event = _event(body)
    assert event["rawPath"] == "/some/path"
    assert event["rawQueryString"] == "a=1&a=2&b="
    assert event["queryStringParameters"] == {"a": "1,2", "b": ""}
    assert event["cookies"] == ["x=1", "y=2"]
    assert event["headers"]["x-multi"] == "one,two"
    assert event["requestContext"]["http"]["method"] == "GET"
    assert event["requestContext"]["accountId"] == "anonymous"
    assert "body" not in event and event["isBase64Encoded"] is False


def test_bodies_text_and_binary_on_one_kept_alive_connection(url: Url) -> None:
    with url.connect() as sock:
        reader = Reader(sock)
        for i in range(20):
            text = json.dumps({"i": i}).encode()
            sock.sendall(url.request("POST", "/echo", text, [("Content-Type", "application/json")]))
            status, _, body = reader.response()
            event = _event(body)
            assert (status, event["body"], event["isBase64Encoded"]) == (200, text.decode(), False)
            binary = bytes([i, 0, 255, 128])
            sock.sendall(url.request("PUT", "/echo", binary, [("Content-Type", "image/png")]))
            status, _, body = reader.response()
            event = _event(body)
            assert (status, event["isBase64Encoded"]) == (200, True)
            assert event["requestContext"]["http"]["method"] == "PUT"
        sock.sendall(url.request("GET", "/binary"))
        status, headers, body = reader.response()
    assert (status, headers["content-type"], body) == (
        201,
        "application/octet-stream",
        bytes(range(256)),
    )


def test_pipelined_url_requests_are_answered_in_order(url: Url, server: LamboxServer) -> None:
    """The second request arrives while the first runs: it waits its turn, as do a Lambda
    API request and an Invoke of the same function behind it."""
    listing = b"GET /2015-03-31/functions/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with url.connect() as sock:
        sock.sendall(
            url.request("GET", "/sleep?s=0.3")
            + url.request("POST", "/second", b"2")
            + listing
            + url.request("DELETE", "/third")
        )
        reader = Reader(sock)
        answers = [reader.response() for _ in range(4)]
    assert [a[0] for a in answers] == [200, 200, 200, 200]
    assert _event(answers[0][2])["rawPath"] == "/sleep"
    assert _payload(answers[1][2]) == b"2"
    assert "Functions" in json.loads(answers[2][2])
    assert _event(answers[3][2])["requestContext"]["http"]["method"] == "DELETE"


def test_connection_close_is_honoured(url: Url) -> None:
    with url.connect() as sock:
        sock.sendall(url.request("GET", "/closing", headers=[("Connection", "close")]))
        reader = Reader(sock)
        status, headers, body = reader.response()
        assert (status, _event(body)["rawPath"]) == (200, "/closing")
        assert headers["connection"] == "close"
        assert reader.closed()


def test_http_1_0_is_answered_and_closed(url: Url) -> None:
    with url.connect() as sock:
        sock.sendall(url.request("POST", "/old", b"hi", version="1.0"))
        reader = Reader(sock)
        status, _, body = reader.response()
        assert (status, _payload(body)) == (200, b"hi")
        assert reader.closed()


def test_a_chunked_body_is_served(url: Url) -> None:
    raw = url.request("POST", "/chunked", None, [("Transfer-Encoding", "chunked")])
    with url.connect() as sock:
        sock.sendall(raw + b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n")
        status, _, body = Reader(sock).response()
    assert (status, _payload(body)) == (200, b"abcde")


def test_expect_100_continue_gets_its_interim_answer(url: Url) -> None:
    raw = url.request("POST", "/continued", b"later", [("Expect", "100-continue")])
    with url.connect() as sock:
        sock.sendall(raw[: -len(b"later")])
        reader = Reader(sock)
        assert reader.head()[0] == 100
        sock.sendall(b"later")
        status, _, body = reader.response()
    assert (status, _payload(body)) == (200, b"later")


def test_head_is_answered_without_a_body(url: Url) -> None:
    with url.connect() as sock:
        reader = Reader(sock)
        sock.sendall(url.request("HEAD", "/head"))
        status, headers, _ = reader.response(head_only=True)
        assert status == 200 and int(headers["content-length"]) > 0
        sock.sendall(url.request("GET", "/after-head"))
        status, _, body = reader.response()
    assert (status, _event(body)["rawPath"]) == (200, "/after-head")


def test_cors_preflight_and_actual_response(url: Url) -> None:
    origin = ("Origin", "https://app.example")
    with url.connect() as sock:
        reader = Reader(sock)
        sock.sendall(
            url.request(
                "OPTIONS", "/x", headers=[origin, ("Access-Control-Request-Method", "POST")]
            )
        )
        status, headers, body = reader.response()
        assert (status, body) == (200, b"")  # the function did not run
        assert headers["access-control-allow-origin"] == "https://app.example"
        assert headers["access-control-allow-methods"] == "GET,POST"
        assert headers["access-control-allow-headers"] == "x-token"
        assert headers["access-control-max-age"] == "60"
        sock.sendall(url.request("GET", "/cors", headers=[origin]))
        assert reader.response()[0] == 200
    fields = reader.fields
    assert [v for k, v in fields if k == "access-control-allow-origin"] == ["https://app.example"]
    assert ("vary", "Origin") in fields


def test_errors_are_aws_shaped(url: Url) -> None:
    unknown = Url(f"http://{'a' * 32}.lambda-url.us-east-1.localhost:{url.port}/")
    with url.connect() as sock:
        reader = Reader(sock)
        sock.sendall(unknown.request("GET", "/"))
        status, headers, body = reader.response()
        assert (status, headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
        assert json.loads(body)["Message"].startswith("Forbidden.")
        sock.sendall(url.request("GET", "/fail"))
        status, headers, body = reader.response()
        assert (status, body) == (502, b"Internal Server Error")
        assert headers["content-type"] == "application/json"
        assert len(headers["x-amzn-requestid"]) == 36
        sock.sendall(url.request("POST", "/big", b"x" * (6 * 1024 * 1024 + 1)))
        status, headers, _ = reader.response()
        assert (status, headers["x-amzn-errortype"]) == (413, "RequestTooLargeException")


def test_a_header_that_cannot_be_written_is_a_502_on_every_path(url: Url) -> None:
    """A function's header with a CR LF in its value, or a name that is no HTTP token, is
    an answer a function URL cannot give: 502, never written to the wire."""
    chunked = [("Transfer-Encoding", "chunked")]  # not claimed: the request cycle's answer
    with url.connect() as sock:
        reader = Reader(sock)
        for path in ("/bad-value", "/bad-name"):
            sock.sendall(url.request("GET", path))
            status, headers, body = reader.response()
            assert (status, body) == (502, b"Internal Server Error")
            assert "x-injected" not in headers
            sock.sendall(url.request("POST", path, None, chunked) + b"0\r\n\r\n")
            status, headers, body = reader.response()
            assert (status, body) == (502, b"Internal Server Error")
            assert "x-injected" not in headers


def test_a_throttled_function_is_429(lambda_client: Any, url: Url) -> None:
    with python_function(lambda_client, "urlx-throttled", HANDLER) as name:
        lambda_client.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
        throttled = public_url(lambda_client, name)
        with throttled.connect() as sock:
            sock.sendall(throttled.request("GET", "/"))
            status, headers, _ = Reader(sock).response()
        assert (status, headers["x-amzn-errortype"]) == (429, "TooManyRequestsException")


def test_an_aws_iam_url_weighs_the_signature(lambda_client: Any, function: str) -> None:
    config = lambda_client.create_function_url_config(
        FunctionName=function, Qualifier=_alias(lambda_client, function), AuthType="AWS_IAM"
    )
    iam = Url(config["FunctionUrl"])

    def signed(secret: str) -> bytes:
        target = f"http://{iam.host}/signed?q=1"
        request = AWSRequest("POST", target, data=b"{}", headers={"Host": iam.host})
        SigV4Auth(Credentials("test", secret), "lambda", "us-east-1").add_auth(request)
        headers = [(k, v) for k, v in request.headers.items() if k.lower() != "host"]
        return iam.request("POST", "/signed?q=1", b"{}", headers)

    with iam.connect() as sock:
        reader = Reader(sock)
        sock.sendall(iam.request("POST", "/unsigned", b"{}"))
        status, headers, _ = reader.response()
        assert (status, headers["x-amzn-errortype"]) == (403, "AccessDeniedException")
        sock.sendall(signed("wrong"))
        status, headers, _ = reader.response()
        assert (status, headers["x-amzn-errortype"]) == (403, "InvalidSignatureException")
        sock.sendall(signed("test"))
        status, _, body = reader.response()
    assert status == 200, body
    context = _event(body)["requestContext"]
    assert context["authorizer"]["iam"]["accessKey"] == "test"
    assert context["accountId"] != "anonymous"


def _alias(lambda_client: Any, function: str) -> str:
    version = lambda_client.publish_version(FunctionName=function)["Version"]
    lambda_client.create_alias(FunctionName=function, Name="iam", FunctionVersion=version)
    return "iam"
