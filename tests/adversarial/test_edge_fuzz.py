"""A bounded fuzz of the edge in the strict posture: a few thousand malformed and hostile
requests (bad, truncated and forged signatures, presigned garbage, path tricks, invalid
UTF-8, deeply nested JSON, truncated bodies) get only AWS-shaped 4xx answers: no 5xx, no
hang, and the server's memory stays bounded."""

from __future__ import annotations

import json
import random
import socket
from collections import Counter
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import LamboxServer, start_server, stop_server

ROUNDS = 2500
SERVICES = ["lambda", "s3", "iam", "sts", "sqs", "nope"]
PATHS = [
    "/2015-03-31/functions",
    "/2015-03-31/functions/%2e%2e/invocations",
    "//2015-03-31//functions//f",
    "/2015-03-31/functions/..%2f..%2fetc%2fpasswd",
    "/bucket/%2e%2e/%2e%2e/key",
    "/",
    "/lambox/v1/logs/%2e%2e",
    "/" + "a" * 2000,
]


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> tuple[LamboxServer, tuple[str, str]]:
    srv = start_server(tmp_path_factory.mktemp("fuzz") / "data", {"LAMBOX_AUTH": "strict"})
    stored = json.loads((srv.data_dir / "root-credentials.json").read_text())
    yield srv, (stored["AccessKeyId"], stored["SecretAccessKey"])  # type: ignore[misc]
    stop_server(srv)


def _rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _garbage(rng: random.Random, n: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(n))


def _signed(rng: random.Random, port: int, keys: tuple[str, str], body: bytes) -> dict[str, str]:
    request = AWSRequest("POST", f"http://127.0.0.1:{port}/2015-03-31/functions", data=body)
    SigV4Auth(Credentials(*keys), rng.choice(SERVICES), "us-east-1").add_auth(request)
    return dict(request.headers)


def _case(rng: random.Random, port: int, keys: tuple[str, str]) -> bytes:
    """One hostile request's bytes."""
    kind = rng.randrange(12)
    path = rng.choice(PATHS)
    headers: dict[str, str] = {"Host": f"127.0.0.1:{port}"}
    body = b""
    if kind == 0:  # garbage Authorization
        headers["Authorization"] = _garbage(rng, rng.randrange(1, 300)).decode("latin-1")
        headers["Authorization"] = headers["Authorization"].replace("\r", "").replace("\n", "")
    elif kind == 1:  # a SigV4 header cut short or with mangled parts
        scope = f"AKIA{rng.randrange(10**6)}/2026120{rng.randrange(10)}/us-east-1/"
        scope += rng.choice(SERVICES) + "/aws4_request"
        full = f"AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders=host;x-amz-date, Signature="
        full += f"{rng.getrandbits(256):064x}"
        headers["Authorization"] = full[: rng.randrange(len(full) + 1)]
        headers["X-Amz-Date"] = rng.choice(["20261207T000000Z", "garbage", "", "99999999T999999Z"])
    elif kind == 2:  # presigned garbage
        params = ["X-Amz-Algorithm=AWS4-HMAC-SHA256", f"X-Amz-Credential=k%2F2026%2F{rng.random()}",
                  "X-Amz-Date=2026", f"X-Amz-Expires={rng.choice(['-1', 'x', '9999999999', '60'])}",
                  "X-Amz-SignedHeaders=host", "X-Amz-Signature=00", "AWSAccessKeyId=x",
                  f"Expires={rng.choice(['1', 'x', '9' * 20])}", "Signature=%%%"]  # fmt: skip
        rng.shuffle(params)
        path += "?" + "&".join(params[: rng.randrange(1, len(params) + 1)])
    elif kind == 3:  # a real signature, then the body or a header changed
        body = json.dumps({"FunctionName": "f", "x": rng.random()}).encode()
        headers.update(_signed(rng, port, keys, body))
        body = body[:-1] + b"}" if rng.random() < 0.5 else body.replace(b"f", b"g", 1)
        path = "/2015-03-31/functions"
    elif kind == 4:  # signed by root, deeply nested JSON
        depth = rng.choice([100, 1000, 5000])
        body = b"[" * depth + b"]" * depth
        headers.update(_signed(rng, port, keys, body))
        path = "/2015-03-31/functions"
    elif kind == 5:  # invalid UTF-8 in the path and a header
        path = "/2015-03-31/functions/" + _garbage(rng, 20).decode("latin-1")
        path = "".join(c if 0x21 <= ord(c) < 0x7F else "%" + format(ord(c), "02X") for c in path)
        headers["X-Amz-Target"] = "\xff\xfe" + rng.choice(SERVICES)
    elif kind == 6:  # a truncated body: Content-Length says more than is sent
        body = b'{"a":' * rng.randrange(1, 50)
        headers["Content-Length"] = str(len(body) + rng.randrange(1, 1000))
        headers["Authorization"] = (
            "AWS4-HMAC-SHA256 Credential=x/20261207/us-east-1/s3/aws4_request"
        )
    elif kind == 7:  # S3 SigV2 forms
        headers["Authorization"] = "AWS " + rng.choice(["", ":", "k:", "k:sig", "::::"])
        headers["Host"] = f"bucket.s3.localhost:{port}"
        headers["Date"] = rng.choice(["", "Mon, 07 Dec 2026 00:00:00 GMT", "x"])
    elif kind == 9:  # a function URL that does not exist, with a forged or mangled signature
        headers["Host"] = f"{rng.getrandbits(64):016x}.lambda-url.us-east-1.localhost:{port}"
        body = b"{}"
        if rng.random() < 0.7:
            headers.update(_signed(rng, port, keys, body))
            headers["Authorization"] = headers["Authorization"][: rng.randrange(20, 200)]
    elif kind == 10:  # the webhook ingest with wrong, empty or oversized tokens
        path = "/lambox/v1/s3-events/f" + rng.choice(["", "?token=", f"?token={rng.random()}"])
        token = rng.choice(["", "x", "Bearer", "Bearer ", "Bearer " + "a" * 5000])
        if token:
            headers["Authorization"] = token
        body = b'{"Records": [{"s3": {}}]}'
    elif kind == 11:  # SNS's unsigned links with forged tokens and smuggled actions
        path = "/?" + rng.choice(
            [
                "Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-east-1:000000000000:t&Token=x",
                "Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:000000000000:t",
                "Action=Unsubscribe",
                "Action=ConfirmSubscription",
            ]
        )
        body = rng.choice([b"", b"Action=DeleteTopic&TopicArn=x", _garbage(rng, 64)])
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:  # a big body to an unsigned request
        body = b"x" * rng.choice([1 << 10, 1 << 20])
    method = rng.choice(["GET", "POST", "PUT", "DELETE", "HEAD"]) if kind != 3 else "POST"
    if "Content-Length" not in headers:
        headers["Content-Length"] = str(len(body))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    head += "Connection: close\r\n\r\n"
    return head.encode("latin-1") + body


def _exchange(port: int, raw: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        try:
            sock.sendall(raw)
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        chunks = []
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def test_hostile_requests_get_aws_shaped_4xx_only(
    target: tuple[LamboxServer, tuple[str, str]],
) -> None:
    server, keys = target
    port = int(server.url.rsplit(":", 1)[1])
    rng = random.Random(16)
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    before = _rss_kb(server.proc.pid)
    for _ in range(ROUNDS):
        raw = _case(rng, port, keys)
        answer = _exchange(port, raw)
        assert answer.startswith(b"HTTP/1.1 "), (raw[:300], answer[:300])
        status = int(answer[9:12])
        statuses[status] += 1
        head, _, body = answer.partition(b"\r\n\r\n")
        assert 400 <= status < 500, (raw[:300], answer[:500])
        lowered = head.lower()
        shaped = (
            b"x-amzn-errortype:" in lowered
            or b"<Error>" in body
            or b"<ErrorResponse" in body
            or raw.startswith(b"HEAD ")
        )
        assert shaped, (raw[:300], answer[:500])
        for line in lowered.split(b"\r\n"):
            if line.startswith(b"x-amzn-errortype:"):
                codes[line.split(b":", 1)[1].strip().decode()] += 1
    after = _rss_kb(server.proc.pid)
    print(f"\nfuzz: {ROUNDS} requests, statuses {dict(statuses)}, codes {dict(codes)}, "
          f"rss {before} -> {after} kB")  # fmt: skip
    assert server.proc.poll() is None
    assert after - before < 100 * 1024
