"""The edge's choices: which service a request is for, and which S3 operation it names."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from lambox.edge import router
from lambox.edge.models import service_model
from lambox.edge.router import service_of
from lambox.edge.uri import match, routes
from lambox.errors import ServiceFault
from lambox.services.s3.app import _aws_chunked


def scope(headers: dict[str, str], query: str = "") -> dict[str, object]:
    return {
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
        "query_string": query.encode(),
    }


SIGV4 = "AWS4-HMAC-SHA256 Credential=test/20261207/us-east-1/{}/aws4_request, Signature=x"


@pytest.mark.parametrize(
    ("headers", "query", "expected"),
    [
        ({"host": "photos.s3.localhost:9000"}, "", ("s3", "photos")),
        ({"host": "photos.s3.us-east-1.amazonaws.com"}, "", ("s3", "photos")),
        ({"host": "s3.localhost"}, "", ("s3", None)),
        ({"host": "127.0.0.1:9000", "authorization": SIGV4.format("s3")}, "", ("s3", None)),
        ({"authorization": SIGV4.format("lambda")}, "", ("lambda", None)),
        ({"authorization": SIGV4.format("sqs")}, "", ("sqs", None)),
        ({}, "X-Amz-Credential=test%2F20261207%2Fus-east-1%2Fs3%2Faws4_request", ("s3", None)),
        ({}, "AWSAccessKeyId=test&Signature=abc&Expires=1", ("s3", None)),
        ({"authorization": "AWS test:abc"}, "", ("s3", None)),
        ({"x-amz-target": "AmazonSQS.ListQueues"}, "", ("sqs", None)),
        ({"x-amz-target": "Logs_20140328.FilterLogEvents"}, "", ("logs", None)),
        ({"x-amz-target": "AWSEvents.PutEvents"}, "", ("events", None)),
        ({"host": "127.0.0.1:9000"}, "", ("lambda", None)),
        ({"host": "abc123.lambda-url.us-east-1.localhost:9000"}, "", ("lambda-url", "abc123")),
        (
            {
                "host": "abc123.lambda-url.us-east-1.localhost",
                "authorization": SIGV4.format("lambda"),
            },
            "",
            ("lambda-url", "abc123"),
        ),
        ({}, "Action=ConfirmSubscription&TopicArn=arn&Token=t", ("sns", None)),
        ({}, "Action=Unsubscribe&SubscriptionArn=arn", ("sns", None)),
        ({}, "Qualifier=Action=Unsubscribe", ("lambda", None)),
    ],
)
def test_service_of_a_request(
    headers: dict[str, str], query: str, expected: tuple[str, str | None]
) -> None:
    assert service_of(scope(headers, query)) == expected


def test_service_of_a_remembered_host() -> None:
    """A Host is read once and remembered: the second request with it is routed the same,
    one naming no service still goes on to its signature, and the memory stays bounded."""
    for _ in range(2):
        assert service_of(scope({"host": "photos.s3.localhost"})) == ("s3", "photos")
        assert service_of(scope({"host": "127.0.0.1:9001"})) == ("lambda", None)
        signed = {"host": "127.0.0.1:9001", "authorization": SIGV4.format("sqs")}
        assert service_of(scope(signed)) == ("sqs", None)
    for n in range(router._HOSTS_KEPT + 10):
        assert service_of(scope({"host": f"b{n}.s3.localhost"})) == ("s3", f"b{n}")
    assert len(router._HOSTS) <= router._HOSTS_KEPT


S3_ROUTES = routes(service_model("s3"))


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "operation"),
    [
        ("PUT", "/b/k/with/slashes", {}, {}, "PutObject"),
        ("PUT", "/b/k", {}, {"x-amz-copy-source": "/a/b"}, "CopyObject"),
        ("PUT", "/b/k", {"partNumber": ["1"], "uploadId": ["u"]}, {}, "UploadPart"),
        ("GET", "/b", {"list-type": ["2"]}, {}, "ListObjectsV2"),
        ("GET", "/b/", {}, {}, "ListObjects"),
        ("GET", "/b", {"notification": [""]}, {}, "GetBucketNotificationConfiguration"),
        ("POST", "/b", {"delete": [""]}, {}, "DeleteObjects"),
        ("GET", "/", {}, {}, "ListBuckets"),
    ],
)
def test_s3_operation_of_a_request_line(
    method: str, path: str, query: dict[str, list[str]], headers: dict[str, str], operation: str
) -> None:
    found = match(S3_ROUTES, method, path, query, headers)
    assert found is not None and found[0] == operation


def test_a_greedy_label_keeps_slashes_and_decodes() -> None:
    assert match(S3_ROUTES, "GET", "/b/a%20b/c%2Fd", {}, {}) == (
        "GetObject",
        {"Bucket": "b", "Key": "a b/c/d"},
    )


async def _feed(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _decode(parts: list[bytes]) -> bytes:
    async def run() -> bytes:
        return b"".join([c async for c in _aws_chunked(_feed(parts))])

    return asyncio.run(run())


def test_aws_chunked_bodies_are_decoded_across_reads() -> None:
    body = b"5;chunk-signature=ab\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:abc\r\n\r\n"
    assert _decode([body[i : i + 3] for i in range(0, len(body), 3)]) == b"hello world"


def test_a_truncated_aws_chunked_body_is_an_s3_error() -> None:
    with pytest.raises(ServiceFault):
        _decode([b"10\r\nshort"])


def _http(path: str, headers: dict[str, str]) -> dict[str, object]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }


async def _run_edge(edge: object, request: dict[str, object]) -> tuple[str, int]:
    """Which app answered (or the edge itself, with its status)."""
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    await edge(request, receive, send)  # type: ignore[operator]
    start = sent[0]
    headers = dict(start["headers"])  # type: ignore[call-overload]
    return headers.get(b"x-app", b"edge").decode(), int(start["status"])  # type: ignore[call-overload]


def _app(name: str) -> object:
    async def app(scope: object, receive: object, send: object) -> None:
        await send(  # type: ignore[operator]
            {"type": "http.response.start", "status": 200, "headers": [(b"x-app", name.encode())]}
        )
        await send({"type": "http.response.body", "body": b""})  # type: ignore[operator]

    return app


def _answer(name: str) -> object:
    async def answer(
        scope: object, receive: object
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        return 200, [(b"x-app", name.encode())], b""

    return answer


def test_a_direct_route_skips_the_lambda_app_but_not_the_edge() -> None:
    """The warm Invoke's direct route: its requests reach the handler past the Lambda app,
    but only when they are Lambda's and only once authenticated."""
    from lambox.edge.auth import Authenticator
    from lambox.edge.identity import StaticKeyring
    from lambox.edge.router import Edge

    invoke = "/2015-03-31/functions/f/invocations"

    def make(open_posture: bool) -> object:
        return Edge(
            _app("lambda"),  # type: ignore[arg-type]
            {"s3": _app("s3")},  # type: ignore[dict-item]
            Authenticator(StaticKeyring([]), "123456789012", open_posture),
            direct=[(lambda s: s["path"] == invoke, _answer("invoke"))],  # type: ignore[list-item]
        )

    edge = make(open_posture=True)
    local = {"host": "127.0.0.1:9000"}
    assert asyncio.run(_run_edge(edge, _http(invoke, local))) == ("invoke", 200)
    other = "/2015-03-31/functions/f/configuration"
    assert asyncio.run(_run_edge(edge, _http(other, local))) == ("lambda", 200)
    # The Host header still names the service: a bucket's request is S3's, not Invoke's.
    bucket = {"host": "photos.s3.localhost:9000"}
    assert asyncio.run(_run_edge(edge, _http(invoke, bucket))) == ("s3", 200)
    # Unsigned in the strict posture: refused by the edge, never handed to the handler.
    strict = make(open_posture=False)
    assert asyncio.run(_run_edge(strict, _http(invoke, local))) == ("edge", 403)


def test_a_function_url_is_claimed_whole_unless_it_streams() -> None:
    """The hosted route of function URLs: the connection may answer a URL's request whole
    (``Edge.claims``) unless the URL streams; only its Host makes it a URL's request."""
    from lambox.api.function_urls import FunctionUrlEndpoint
    from lambox.edge.router import FUNCTION_URL, HOST_ID, SERVICE, Edge
    from lambox.store.urls import UrlConfig

    def config(url_id: str, mode: str | None) -> UrlConfig:
        return UrlConfig("f", "$LATEST", url_id, "NONE", "t", "t", None, mode)

    configs = {
        "b" * 32: config("b" * 32, "BUFFERED"),
        "s" * 32: config("s" * 32, "RESPONSE_STREAM"),
    }
    configs["d" * 32] = config("d" * 32, None)  # never given: BUFFERED
    urls = FunctionUrlEndpoint(None, configs.get, "123456789012")  # type: ignore[arg-type]
    invoke = _answer("invoke")
    edge = Edge(
        _app("lambda"),  # type: ignore[arg-type]
        {FUNCTION_URL: _app("url")},  # type: ignore[dict-item]
        direct=[(lambda s: s["path"].endswith("/invocations"), invoke)],  # type: ignore[list-item]
        hosted={FUNCTION_URL: (urls.answers_whole, urls.answer)},
    )

    def host(url_id: str) -> dict[str, str]:
        return {"host": f"{url_id}.lambda-url.us-east-1.localhost:9000"}

    for url_id in ("b" * 32, "d" * 32, "u" * 32):  # buffered, the default, unknown (403)
        scope = _http("/any/path", host(url_id))
        assert edge.claims(scope) == urls.answer, url_id
        assert (scope[HOST_ID], scope[SERVICE]) == (url_id, FUNCTION_URL)
    assert edge.claims(_http("/any/path", host("s" * 32))) is None  # streams: the app's
    # The Host decides, not the path; a path-style request is routed by its path instead.
    invoke_path = "/2015-03-31/functions/f/invocations"
    assert edge.claims(_http(invoke_path, host("b" * 32))) == urls.answer
    assert edge.claims(_http(invoke_path, {"host": "127.0.0.1:9000"})) is invoke
    assert edge.claims(_http(f"/lambox/v1/lambda-url/{'b' * 32}/", host("b" * 32))) is None
    assert edge.claims(_http("/any/path", {"host": "photos.s3.localhost:9000"})) is None
    # Without a hosted route, a URL's request is never claimed.
    bare = Edge(_app("lambda"), {FUNCTION_URL: _app("url")})  # type: ignore[arg-type, dict-item]
    assert bare.claims(_http("/any/path", host("b" * 32))) is None


def test_a_claimed_url_request_is_admitted_as_the_url_app_would_be() -> None:
    """A function URL is public: unsigned, it reaches its endpoint even where every other
    request must be signed; signed, the edge verifies it and leaves the outcome in the
    scope for the URL's AuthType to weigh."""
    from lambox.edge.auth import Authenticator
    from lambox.edge.identity import StaticKeyring
    from lambox.edge.router import FUNCTION_URL, PRINCIPAL, Edge
    from lambox.edge.url_auth import AUTH_FAILURE

    seen: list[dict[str, object]] = []

    async def answer(scope: dict[str, object], receive: object) -> object:
        seen.append(scope)
        return 200, [], b""

    edge = Edge(
        _app("lambda"),  # type: ignore[arg-type]
        {FUNCTION_URL: _app("url")},  # type: ignore[dict-item]
        Authenticator(StaticKeyring([]), "123456789012", False),
        hosted={FUNCTION_URL: (lambda s: True, answer)},  # type: ignore[dict-item]
    )

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b"", "more_body": False}

    url_host = {"host": f"{'b' * 32}.lambda-url.us-east-1.localhost:9000"}
    signed = {
        **url_host,
        "authorization": "AWS4-HMAC-SHA256 Credential=AKIDUNKNOWN/20260101/us-east-1/lambda/"
        "aws4_request, SignedHeaders=host, Signature=00",
        "x-amz-date": "20260101T000000Z",
    }
    for headers in (url_host, signed):
        scope = _http("/", headers)
        direct = edge.claims(scope)
        assert direct is answer
        assert asyncio.run(edge.answer(scope, receive, direct)) == (200, [], b"")
    unsigned, failed = seen
    assert PRINCIPAL not in unsigned and AUTH_FAILURE not in unsigned
    assert AUTH_FAILURE in failed and PRINCIPAL not in failed
