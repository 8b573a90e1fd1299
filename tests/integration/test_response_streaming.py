"""Response streaming: InvokeWithResponseStream (decoded by boto3's EventStream) and
RESPONSE_STREAM function URLs, for Node.js (``awslambda.streamifyResponse``) and custom
runtimes (the Runtime API's streaming response mode).

"Before the handler finishes" is shown without timing: the function writes its first bytes,
then waits for a gate file that the test creates only once it has read those bytes; a
function whose bytes were held back would wait in vain and write "gave up" instead.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import pytest

from tests.conftest import ROLE, LamboxServer, make_zip, start_server, stop_server, unique

NODE = """import fs from "node:fs";

const gate = async (path) => {
  for (let i = 0; i < 1000; i++) {
    if (fs.existsSync(path)) return "released";
    await new Promise((r) => setTimeout(r, 20));
  }
  return "gave up";
};

export const handler = awslambda.streamifyResponse(async (event, responseStream, context) => {
  const query = event.queryStringParameters || {};
  const path = event.gate || query.gate;
  let out = responseStream;
  if (event.rawPath === "/http") {
    out = awslambda.HttpResponseStream.from(responseStream, {
      statusCode: 201,
      headers: { "content-type": "text/html", "x-streamed": "yes" },
      cookies: ["c=1"],
    });
  } else {
    responseStream.setContentType("text/plain");
  }
  out.write("first|");
  if (path) out.write(await gate(path));
  if (event.fail) throw new Error("failed after the first bytes");
  out.end("|last");
});
"""

BOOTSTRAP = r'''#!/usr/bin/env python3
"""A custom runtime streaming its responses (chunked, Lambda-Runtime-Function-Response-Mode)."""
import http.client, json, os, time

host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].split(":")
base = "/2018-06-01/runtime/invocation/"
conn = http.client.HTTPConnection(host, int(port))


def chunk(data):
    conn.send(b"%x\r\n%s\r\n" % (len(data), data))


while True:
    conn.request("GET", base + "next")
    res = conn.getresponse()
    event = json.loads(res.read() or b"null")
    rid = res.getheader("Lambda-Runtime-Aws-Request-Id")
    conn.putrequest("POST", base + rid + "/response")
    conn.putheader("Lambda-Runtime-Function-Response-Mode", "streaming")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.putheader("Content-Type", "text/plain")
    conn.endheaders()
    chunk(b"first|")
    gate = event.get("gate")
    if gate:
        for _ in range(1000):
            if os.path.exists(gate):
                chunk(b"released")
                break
            time.sleep(0.02)
        else:
            chunk(b"gave up")
    if event.get("fail"):
        body = json.dumps({"errorType": "Custom", "errorMessage": "late"}).encode()
        import base64
        conn.send(b"0\r\nLambda-Runtime-Function-Error-Type: Custom\r\n"
                  b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(body) + b"\r\n\r\n")
    else:
        chunk(b"|last")
        conn.send(b"0\r\n\r\n")
    conn.getresponse().read()
'''


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LamboxServer]:
    # Plain processes share the machine's /tmp with the test, so a gate file reaches them.
    srv = start_server(tmp_path_factory.mktemp("stream") / "data", {"LAMBOX_SANDBOX": "process"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="module")
def client(served: LamboxServer) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "lambda",
        endpoint_url=served.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(retries={"max_attempts": 0}, read_timeout=120),
    )


def deploy(client: Any, runtime: str, handler: str, files: dict[str, str]) -> str:
    name = unique("stream")
    modes = {"bootstrap": 0o755} if "bootstrap" in files else None
    client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Handler=handler,
        Role=ROLE,
        Code={"ZipFile": make_zip(dict(files), modes)},
    )
    client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


@pytest.fixture(scope="module")
def node(client: Any) -> str:
    return deploy(client, "nodejs20.x", "index.handler", {"index.mjs": NODE})


@pytest.fixture(scope="module")
def provided(client: Any) -> str:
    return deploy(client, "provided.al2023", "unused", {"bootstrap": BOOTSTRAP})


def gated_stream(client: Any, name: str, gate: Path) -> list[dict[str, Any]]:
    """The events of a stream, the gate opened only after the first chunk arrived."""
    response = client.invoke_with_response_stream(
        FunctionName=name, Payload=json.dumps({"gate": str(gate)}).encode()
    )
    assert response["StatusCode"] == 200
    assert response["ExecutedVersion"] == "$LATEST"
    events = []
    for event in response["EventStream"]:
        events.append(event)
        if len(events) == 1:
            assert event == {"PayloadChunk": {"Payload": b"first|"}}
            gate.touch()
    return events


@pytest.mark.parametrize("runtime", ["node", "provided"])
def test_first_bytes_reach_the_client_before_the_handler_finishes(
    request: pytest.FixtureRequest, client: Any, tmp_path: Path, runtime: str
) -> None:
    name = request.getfixturevalue(runtime)
    events = gated_stream(client, name, tmp_path / "gate")
    body = b"".join(e["PayloadChunk"]["Payload"] for e in events if "PayloadChunk" in e)
    assert body == b"first|released|last"
    assert events[-1] == {"InvokeComplete": {}}


@pytest.mark.parametrize("runtime", ["node", "provided"])
def test_an_error_after_the_first_bytes_ends_the_stream_with_it(
    request: pytest.FixtureRequest, client: Any, runtime: str
) -> None:
    name = request.getfixturevalue(runtime)
    response = client.invoke_with_response_stream(FunctionName=name, Payload=b'{"fail": true}')
    events = list(response["EventStream"])
    assert events[0] == {"PayloadChunk": {"Payload": b"first|"}}
    complete = events[-1]["InvokeComplete"]
    assert complete["ErrorCode"] == "Unhandled"
    details = json.loads(complete["ErrorDetails"])
    assert details["errorType"] == ("Error" if runtime == "node" else "Custom")


def test_plain_invoke_of_a_streaming_function_gets_the_whole_payload(
    client: Any, node: str
) -> None:
    response = client.invoke(FunctionName=node, Payload=b"{}")
    assert response["Payload"].read() == b"first||last"


def test_a_buffered_function_streams_its_payload_at_the_end(client: Any) -> None:
    code = "def handler(event, context):\n    return {'echo': event, 'tail': 'yes'}\n"
    name = deploy(client, "python3.11", "app.handler", {"app.py": code})
    response = client.invoke_with_response_stream(
        FunctionName=name, Payload=b'{"a": 1}', LogType="Tail"
    )
    events = list(response["EventStream"])
    assert json.loads(events[0]["PayloadChunk"]["Payload"]) == {"echo": {"a": 1}, "tail": "yes"}
    assert "LogResult" in events[1]["InvokeComplete"]
    assert len(events) == 2


def test_stream_errors_before_the_first_byte_are_invoke_errors(client: Any, node: str) -> None:
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.invoke_with_response_stream(FunctionName=unique("missing"), Payload=b"{}")
    dry = client.invoke_with_response_stream(
        FunctionName=node, Payload=b"{}", InvocationType="DryRun"
    )
    assert dry["StatusCode"] == 204


def test_response_stream_url_sends_http_metadata_then_chunks(
    client: Any, node: str, tmp_path: Path
) -> None:
    config = client.create_function_url_config(
        FunctionName=node, AuthType="NONE", InvokeMode="RESPONSE_STREAM"
    )
    url = urlparse(config["FunctionUrl"])
    gate = tmp_path / "gate"
    conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=60)
    conn.request("GET", f"/http?gate={gate}", headers={"Host": url.netloc})
    resp = conn.getresponse()
    assert resp.status == 201
    assert resp.getheader("Transfer-Encoding") == "chunked"
    assert resp.getheader("Content-Type") == "text/html"
    assert resp.getheader("X-Streamed") == "yes"
    assert resp.getheader("Set-Cookie") == "c=1"
    assert resp.read1(64) == b"first|"
    gate.touch()
    assert resp.read() == b"released|last"
    conn.close()
    # Without HttpResponseStream: a 200 of the stream's own content type.
    conn = http.client.HTTPConnection("127.0.0.1", url.port, timeout=60)
    conn.request("GET", "/plain", headers={"Host": url.netloc})
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "text/plain"
    assert resp.read() == b"first||last"
    conn.close()


# -- the head's options, checked as AWS checks InvokeWithResponseStream's ------------------------


def stream_path(name: str) -> str:
    return f"/2021-11-15/functions/{name}/response-streaming-invocations"


def enum_refusal(value: str, member: str, allowed: str) -> str:
    return (
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy"
        f" constraint: Member must satisfy enum value set: [{allowed}]"
    )


def refusal(response: httpx.Response) -> tuple[int, str, str]:
    body = response.json()
    return (
        response.status_code,
        response.headers["x-amzn-ErrorType"],
        body.get("message", body.get("Message")),
    )


@pytest.fixture(scope="module")
def raw(served: LamboxServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url, timeout=60) as client:
        yield client


@pytest.mark.parametrize(
    ("header", "value", "member", "allowed"),
    [
        ("X-Amz-Log-Type", "Bogus", "logType", "None, Tail"),
        ("X-Amz-Invocation-Type", "Event", "invocationType", "RequestResponse, DryRun"),
        ("X-Amz-Invocation-Type", "Bogus", "invocationType", "RequestResponse, DryRun"),
    ],
)
def test_a_bad_header_value_is_refused_in_the_stream_models_words(
    raw: httpx.Client, node: str, header: str, value: str, member: str, allowed: str
) -> None:
    got = raw.post(stream_path(node), content=b"{}", headers={header: value})
    assert refusal(got) == (400, "ValidationException", enum_refusal(value, member, allowed))


@pytest.mark.parametrize(
    ("option", "value", "member", "allowed"),
    [
        ("LogType", "Bogus", "logType", "None, Tail"),
        ("InvocationType", "Event", "invocationType", "RequestResponse, DryRun"),
    ],
)
def test_boto3_sends_a_bad_enum_value_and_gets_the_validation_error(
    client: Any, node: str, option: str, value: str, member: str, allowed: str
) -> None:
    """botocore does not check enums before sending: the server's answer is what the caller
    sees."""
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.invoke_with_response_stream(FunctionName=node, Payload=b"{}", **{option: value})
    error = caught.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["Error"]["Message"] == enum_refusal(value, member, allowed)
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_log_type_none_is_taken_and_sends_no_logs(client: Any, node: str) -> None:
    response = client.invoke_with_response_stream(FunctionName=node, Payload=b"{}", LogType="None")
    assert list(response["EventStream"])[-1] == {"InvokeComplete": {}}


def test_an_empty_qualifier_is_refused_not_read_as_latest(raw: httpx.Client, node: str) -> None:
    got = raw.post(f"{stream_path(node)}?Qualifier=", content=b"{}")
    status, kind, message = refusal(got)
    assert (status, kind) == (400, "ValidationException")
    assert message.startswith("2 validation errors detected: Value '' at 'qualifier' failed")


def test_a_durable_execution_name_is_not_read_by_the_stream(raw: httpx.Client, node: str) -> None:
    """InvokeWithResponseStream does not model the header, so AWS ignores it (Invoke would
    refuse this name)."""
    headers = {"X-Amz-Durable-Execution-Name": "not a valid name!"}
    got = raw.post(stream_path(node), content=b"{}", headers=headers)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/vnd.amazon.eventstream"


def test_a_malformed_name_is_a_validation_error_not_a_missing_function(
    raw: httpx.Client,
) -> None:
    status, kind, message = refusal(raw.post(stream_path("bad!name"), content=b"{}"))
    assert (status, kind) == (400, "ValidationException")
    assert message.startswith(
        "1 validation error detected: Value 'bad!name' at 'functionName' failed to satisfy"
        " constraint: Member must satisfy regular expression pattern: "
    )
    missing = raw.post(stream_path(unique("missing")), content=b"{}")
    assert refusal(missing)[:2] == (404, "ResourceNotFoundException")
