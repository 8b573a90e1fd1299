"""Response streaming with backpressure, and the streamed response's size limit.

A custom runtime streams a large response and records in a file how many bytes its writes
have got through. The client reads the first bytes, then stops reading. With backpressure
the function's writes soon wait (lambox stops reading its connection), so its count stays
far below the stream's size and lambox's memory does not grow by the stream; a server
that kept what the client does not read would let the function write it all. No timing is
asserted: the test waits until the count stops moving, then compares sizes.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from tests.conftest import (
    ROLE,
    LamboxServer,
    make_zip,
    start_server,
    stop_server,
    unique,
)

BLOCK = bytes(range(256)) * 256  # 64 KiB
SIZE = 96 * 1024 * 1024
"""The large stream: far more than every buffer between the function and the client."""
STALLED_MOST = SIZE // 2
LIMIT = 1024 * 1024
"""LAMBOX_STREAM_RESPONSE_LIMIT of the second server."""

BOOTSTRAP = r'''#!/usr/bin/env python3
"""Streams event["size"] bytes (64 KiB blocks); after each block the count goes to
event["progress"] (a file), so the test sees how far the writes got."""
import base64, http.client, json, os

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
base = "/2018-06-01/runtime/invocation/"
conn = http.client.HTTPConnection(host, int(port))
block = bytes(range(256)) * 256

while True:
    conn.request("GET", base + "next")
    res = conn.getresponse()
    event = json.loads(res.read() or b"null")
    if "rawPath" in event:  # a function URL's event
        body = event.get("body") or "{}"
        if event.get("isBase64Encoded"):
            body = base64.b64decode(body)
        event = json.loads(body)
    rid = res.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.putrequest("POST", base + rid + "/response")
    conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", "application/octet-stream")
    conn.endheaders()
    sent = 0
    progress = event.get("progress")
    while sent < event["size"]:
        data = block[: event["size"] - sent]
        conn.send(b"%x\r\n%s\r\n" % (len(data), data))
        sent += len(data)
        if progress:
            with open(progress + ".tmp", "w") as out:
                out.write(str(sent))
            os.replace(progress + ".tmp", progress)
    conn.send(b"0\r\n\r\n")
    conn.getresponse().read()
'''


NODE = """import fs from "node:fs";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";

const block = Buffer.alloc(65536);
for (let i = 0; i < block.length; i++) block[i] = i % 256;

// Streams event.size bytes through pipeline() (which waits while the stream is full);
// after each block the count goes to event.progress.
export const handler = awslambda.streamifyResponse(async (event, responseStream) => {
  async function* blocks() {
    let sent = 0;
    while (sent < event.size) {
      const data = block.subarray(0, Math.min(block.length, event.size - sent));
      sent += data.length;
      yield data;
      fs.writeFileSync(event.progress + ".tmp", String(sent));
      fs.renameSync(event.progress + ".tmp", event.progress);
    }
  }
  await pipeline(Readable.from(blocks()), responseStream);
});
"""


def expected(size: int) -> str:
    digest = hashlib.sha256()
    whole, rest = divmod(size, len(BLOCK))
    for _ in range(whole):
        digest.update(BLOCK)
    digest.update(BLOCK[:rest])
    return digest.hexdigest()


def rss_kib(srv: LamboxServer) -> int:
    for line in Path(f"/proc/{srv.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def settled(progress: Path) -> int:
    """The function's count once it has stopped moving for two seconds (the function is
    then waiting on its writes, or done)."""
    last, still, deadline = -1, 0, time.monotonic() + 120
    while time.monotonic() < deadline:
        now = int(progress.read_text()) if progress.exists() else 0
        still = still + 1 if now == last and now > 0 else 0
        if still >= 8:
            return now
        last = now
        time.sleep(0.25)
    raise AssertionError("the function's count never settled")


def boto_client(srv: LamboxServer) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=srv.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=300),
    )


def deploy(client: Any, node: bool = False) -> str:
    name = unique("pressure")
    if node:
        runtime, handler, code = "nodejs20.x", "index.handler", make_zip({"index.mjs": NODE})
    else:
        runtime, handler = "provided.al2023", "unused"
        code = make_zip({"bootstrap": BOOTSTRAP}, {"bootstrap": 0o755})
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Handler=handler,
        Role=ROLE,
        Timeout=300,
        Code={"ZipFile": code},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    # Plain processes share the machine's /tmp with the test, so the count file reaches it.
    srv = start_server(tmp_path_factory.mktemp("pressure") / "data", {"LAMBOX_SANDBOX": "process"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    env = {"LAMBOX_SANDBOX": "process", "LAMBOX_STREAM_RESPONSE_LIMIT": str(LIMIT)}
    srv = start_server(tmp_path_factory.mktemp("limited") / "data", env)
    yield srv
    stop_server(srv)


@pytest.mark.parametrize("runtime", ["provided", "node"])
def test_a_slow_reader_of_invoke_with_response_stream_holds_the_function_back(
    served: LamboxServer, tmp_path: Path, runtime: str
) -> None:
    client = boto_client(served)
    name = deploy(client, node=runtime == "node")
    progress = tmp_path / "progress"
    before = rss_kib(served)
    response = client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"size": SIZE, "progress": str(progress)}).encode()
    )
    events = iter(response["EventStream"])
    digest = hashlib.sha256()
    first = next(events)["PayloadChunk"]["Payload"]
    digest.update(first)
    written = settled(progress)
    assert written < STALLED_MOST, f"the function wrote {written} bytes to a stalled reader"
    assert rss_kib(served) - before < STALLED_MOST // 1024
    received = len(first)
    tail: list[dict[str, Any]] = []
    for event in events:
        if "PayloadChunk" in event:
            chunk = event["PayloadChunk"]["Payload"]
            digest.update(chunk)
            received += len(chunk)
        else:
            tail.append(event)
    assert received == SIZE and digest.hexdigest() == expected(SIZE)
    assert tail == [{"InvokeComplete": {}}]


def test_a_slow_reader_of_a_response_stream_url_holds_the_function_back(
    served: LamboxServer, tmp_path: Path
) -> None:
    client = boto_client(served)
    name = deploy(client)
    config = client.create_function_url_config(
        FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )
    url = urlparse(config["FunctionUrl"])
    progress = tmp_path / "progress"
    before = rss_kib(served)
    conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=300)
    body = json.dumps({"size": SIZE, "progress": str(progress)})
    conn.request("POST", "/", body=body, headers={"Host": url.netloc})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.getheader("Transfer-Encoding") == "chunked"
    digest = hashlib.sha256()
    first = resp.read1(65536)
    digest.update(first)
    written = settled(progress)
    assert written < STALLED_MOST, f"the function wrote {written} bytes to a stalled reader"
    assert rss_kib(served) - before < STALLED_MOST // 1024
    received = len(first)
    while chunk := resp.read(1 << 20):
        digest.update(chunk)
        received += len(chunk)
    conn.close()
    assert received == SIZE and digest.hexdigest() == expected(SIZE)


def test_a_stream_past_the_limit_is_cut_and_ends_with_the_size_error(
    limited: LamboxServer,
) -> None:
    client = boto_client(limited)
    name = deploy(client)
    response = client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"size": 3 * LIMIT}).encode()
    )
    events = list(response["EventStream"])
    body = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    assert len(body) == LIMIT and hashlib.sha256(body).hexdigest() == expected(LIMIT)
    complete = events[-1]["InvokeComplete"]
    assert complete["ErrorCode"] == "Function.ResponseSizeTooLarge"
    assert json.loads(complete["ErrorDetails"])["errorType"] == "Function.ResponseSizeTooLarge"
    # The function ran to its end: the same sandbox streams the next invocation whole.
    again = client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"size": 1000}).encode()
    )
    events = list(again["EventStream"])
    assert events[0]["PayloadChunk"]["Payload"] == BLOCK[:1000]
    assert events[-1] == {"InvokeComplete": {}}


def test_a_response_stream_url_ends_at_the_limit(limited: LamboxServer) -> None:
    client = boto_client(limited)
    name = deploy(client)
    config = client.create_function_url_config(
        FunctionName=name, AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )
    url = urlparse(config["FunctionUrl"])
    conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=120)
    body = json.dumps({"size": 3 * LIMIT})
    conn.request("POST", "/", body=body, headers={"Host": url.netloc})
    resp = conn.getresponse()
    assert resp.status == 200
    data = resp.read()
    conn.close()
    assert len(data) == LIMIT and hashlib.sha256(data).hexdigest() == expected(LIMIT)
