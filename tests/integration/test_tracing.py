"""TracingConfig: the caller's X-Amzn-Trace-Id reaches the handler's ``_X_AMZN_TRACE_ID``
(Invoke, Event invokes through the durable queue, function URLs, SQS event source
mappings through ``AWSTraceHeader``), and Active functions' segments (the function,
Initialization, Invocation, Overhead) arrive at an OTLP/HTTP collector on loopback with
the caller's trace id."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    CLIENT_ENV,
    ROLE,
    LamboxServer,
    aws_client,
    make_zip,
    start_server,
    stop_server,
    unique,
)
from tests.integration.test_function_urls import Url

AWS_CLI = "/usr/bin/aws"
TRACED = make_zip(
    {
        "app.py": """
import os, json

def handler(event, context):
    trace = os.environ.get("_X_AMZN_TRACE_ID")
    print("TRACE " + str(trace))
    if isinstance(event, dict) and "requestContext" in event:
        return {"statusCode": 200, "body": json.dumps(trace)}
    return trace
"""
    }
)
ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"


class Collector:
    """An OTLP/HTTP receiver on loopback: every span it is sent, decoded."""

    def __init__(self) -> None:
        from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

        self.spans: list[Any] = []
        self._lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = trace_service_pb2.ExportTraceServiceRequest()
                request.ParseFromString(body)
                with collector._lock:
                    for resource in request.resource_spans:
                        for scope in resource.scope_spans:
                            collector.spans.extend(scope.spans)
                answer = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def trace(self, trace_id: str, count: int, wait: float = 30) -> list[Any]:
        """The spans of one trace (32 hex digits), once at least ``count`` arrived."""
        deadline = time.monotonic() + wait
        while True:
            with self._lock:
                found = [s for s in self.spans if s.trace_id.hex() == trace_id]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.1)


@pytest.fixture(scope="module")
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.http.shutdown()


@pytest.fixture(scope="module")
def traced_server(
    tmp_path_factory: pytest.TempPathFactory, collector: Collector
) -> Iterator[LamboxServer]:
    data: Path = tmp_path_factory.mktemp("traces") / "data"
    server = start_server(data, {"LAMBOX_OTLP_ENDPOINT": collector.url})
    yield server
    stop_server(server)


def with_trace_header(lam: Any, header: str) -> Any:
    """The client sending ``header`` as X-Amzn-Trace-Id on every Invoke."""

    def add(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = header

    lam.meta.events.register("before-sign.lambda.Invoke", add)
    return lam


def create(lam: Any, mode: str) -> str:
    name = unique("traced")
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
        Code={"ZipFile": TRACED}, TracingConfig={"Mode": mode},
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


def parts(header: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in header.split(";"))


def new_root() -> str:
    import os

    return f"1-{int(time.time()):08x}-{os.urandom(12).hex()}"


def test_tracing_config_is_kept_and_shown(traced_server: LamboxServer) -> None:
    lam = aws_client(traced_server, "lambda")
    name = create(lam, "Active")
    assert lam.get_function_configuration(FunctionName=name)["TracingConfig"] == {"Mode": "Active"}
    out = subprocess.run(
        [AWS_CLI, "lambda", "update-function-configuration", "--function-name", name,
         "--tracing-config", "Mode=PassThrough", "--endpoint-url", traced_server.url,
         "--output", "json"],
        env=CLIENT_ENV, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    assert json.loads(out.stdout)["TracingConfig"] == {"Mode": "PassThrough"}


def test_active_invoke_continues_the_callers_trace_and_exports_spans(
    traced_server: LamboxServer, collector: Collector
) -> None:
    lam = aws_client(traced_server, "lambda")
    name = create(lam, "Active")
    header = f"Root={ROOT};Parent={PARENT};Sampled=1"
    seen = json.loads(with_trace_header(lam, header).invoke(FunctionName=name)["Payload"].read())
    got = parts(seen)
    assert got["Root"] == ROOT and got["Sampled"] == "1"
    assert got["Parent"] != PARENT and len(got["Parent"]) == 16
    trace_id = ROOT[2:10] + ROOT[11:]
    spans = collector.trace(trace_id, 4)
    by_name = {s.name: s for s in spans}
    assert set(by_name) == {name, "Initialization", "Invocation", "Overhead"}
    segment = by_name[name]
    assert segment.parent_span_id.hex() == PARENT
    for child in ("Initialization", "Invocation", "Overhead"):
        assert by_name[child].parent_span_id == segment.span_id
    # The handler's Parent is the Invocation span: its own spans nest under it.
    assert by_name["Invocation"].span_id.hex() == got["Parent"]
    attributes = {a.key: a.value for a in segment.attributes}
    assert attributes["faas.name"].string_value == name
    assert attributes["faas.coldstart"].bool_value is True
    assert attributes["lambox.overhead_ms"].double_value >= 0

    # A warm invoke without a header starts a sampled trace of its own: no Initialization.
    plain = aws_client(traced_server, "lambda").invoke(FunctionName=name)
    own = parts(json.loads(plain["Payload"].read()))
    assert own["Sampled"] == "1"
    warm = collector.trace(own["Root"][2:10] + own["Root"][11:], 3)
    assert {s.name for s in warm} == {name, "Invocation", "Overhead"}


def test_passthrough_and_unsampled_are_carried_not_recorded(
    traced_server: LamboxServer, collector: Collector
) -> None:
    lam = aws_client(traced_server, "lambda")
    passthrough = create(lam, "PassThrough")
    root = new_root()
    header = f"Root={root};Parent={PARENT};Sampled=1"
    seen = with_trace_header(aws_client(traced_server, "lambda"), header).invoke(
        FunctionName=passthrough
    )
    # The caller's header unchanged, with the run's Lineage (recursive loop detection) added.
    got = json.loads(seen["Payload"].read())
    assert got.startswith(header + ";Lineage=")
    assert got.endswith(":1")
    active = create(lam, "Active")
    unsampled = f"Root={new_root()};Parent={PARENT};Sampled=0"
    seen = with_trace_header(aws_client(traced_server, "lambda"), unsampled).invoke(
        FunctionName=active
    )
    assert parts(json.loads(seen["Payload"].read()))["Sampled"] == "0"
    # A later, sampled trace has arrived: the two before it would have too.
    marker = f"Root={new_root()};Sampled=1"
    with_trace_header(aws_client(traced_server, "lambda"), marker).invoke(FunctionName=active)
    assert collector.trace(parts(marker)["Root"][2:10] + parts(marker)["Root"][11:], 3)
    for h in (header, unsampled):
        r = parts(h)["Root"]
        assert collector.trace(r[2:10] + r[11:], 1, wait=0) == []


def test_event_invoke_carries_the_trace_through_the_queue(
    traced_server: LamboxServer, collector: Collector
) -> None:
    lam = aws_client(traced_server, "lambda")
    name = create(lam, "Active")
    root = new_root()
    caller = with_trace_header(aws_client(traced_server, "lambda"), f"Root={root};Sampled=1")
    assert caller.invoke(FunctionName=name, InvocationType="Event")["StatusCode"] == 202
    spans = collector.trace(root[2:10] + root[11:], 3)
    assert name in {s.name for s in spans}


def test_function_url_request_carries_its_trace(
    traced_server: LamboxServer, collector: Collector
) -> None:
    lam = aws_client(traced_server, "lambda")
    name = create(lam, "Active")
    url = Url(lam.create_function_url_config(FunctionName=name, AuthType="NONE")["FunctionUrl"])
    root = new_root()
    status, _, body = url.call("GET", "/", headers={"X-Amzn-Trace-Id": f"Root={root}"})
    assert status == 200
    assert parts(json.loads(body))["Root"] == root
    assert name in {s.name for s in collector.trace(root[2:10] + root[11:], 3)}


def test_sqs_mapping_continues_the_messages_aws_trace_header(
    traced_server: LamboxServer, collector: Collector
) -> None:
    lam = aws_client(traced_server, "lambda")
    sqs = aws_client(traced_server, "sqs")
    name = create(lam, "Active")
    queue = sqs.create_queue(QueueName=unique("tq"))["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])
    lam.create_event_source_mapping(
        FunctionName=name, EventSourceArn=arn["Attributes"]["QueueArn"], BatchSize=1
    )
    root = new_root()
    sqs.send_message(
        QueueUrl=queue, MessageBody="hi",
        MessageSystemAttributes={
            "AWSTraceHeader": {"DataType": "String", "StringValue": f"Root={root};Sampled=1"}
        },
    )  # fmt: skip
    spans = collector.trace(root[2:10] + root[11:], 3)
    assert name in {s.name for s in spans}


@pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
def test_runtime_api_function_gets_the_trace_header(
    traced_server: LamboxServer, collector: Collector
) -> None:
    """Node.js (the Runtime API's Lambda-Runtime-Trace-Id) sees the same header."""
    lam = aws_client(traced_server, "lambda")
    name = unique("tracednode")
    code = "exports.handler = async () => process.env._X_AMZN_TRACE_ID;\n"
    lam.create_function(
        FunctionName=name, Runtime="nodejs20.x", Role=ROLE, Handler="index.handler",
        Code={"ZipFile": make_zip({"index.js": code})}, TracingConfig={"Mode": "Active"},
    )  # fmt: skip
    lam.get_waiter("function_active_v2").wait(FunctionName=name)
    root = new_root()
    caller = with_trace_header(aws_client(traced_server, "lambda"), f"Root={root};Parent={PARENT}")
    seen = parts(json.loads(caller.invoke(FunctionName=name)["Payload"].read()))
    assert seen["Root"] == root and seen["Sampled"] == "1" and seen["Parent"] != PARENT
    spans = collector.trace(root[2:10] + root[11:], 3)
    invocation = [s for s in spans if s.name == "Invocation"]
    assert [s.span_id.hex() for s in invocation] == [seen["Parent"]]


def test_queued_event_keeps_its_trace_across_kill_9(tmp_path: Path, collector: Collector) -> None:
    """An Event invocation running when the server is killed is run again by the next
    server on the same data directory, still in the caller's trace."""
    data = tmp_path / "data"
    started = tmp_path / "started"
    # Plain-process sandboxes: the function marks its start in the test's directory.
    env = {"LAMBOX_OTLP_ENDPOINT": collector.url, "LAMBOX_SANDBOX": "process"}
    server = start_server(data, env)
    try:
        lam = aws_client(server, "lambda")
        name = unique("tracedslow")
        slow = (
            "import os, time\n\ndef handler(event, context):\n"
            "    open(os.environ['STARTED'], 'a').close()\n    time.sleep(3)\n"
        )
        lam.create_function(
            FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="app.handler",
            Code={"ZipFile": make_zip({"app.py": slow})}, TracingConfig={"Mode": "Active"},
            Timeout=30, Environment={"Variables": {"STARTED": str(started)}},
        )  # fmt: skip
        lam.get_waiter("function_active_v2").wait(FunctionName=name)
        root = new_root()
        caller = with_trace_header(aws_client(server, "lambda"), f"Root={root};Sampled=1")
        assert caller.invoke(FunctionName=name, InvocationType="Event")["StatusCode"] == 202
        deadline = time.monotonic() + 60
        while not started.exists():  # the worker runs it
            assert time.monotonic() < deadline, "the event never ran"
            time.sleep(0.02)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        started.unlink()
        assert collector.trace(root[2:10] + root[11:], 1, wait=0) == []
        server = start_server(data, env)
        spans = collector.trace(root[2:10] + root[11:], 3)
        assert name in {s.name for s in spans}
        assert started.exists()  # run again, not finished before the kill
    finally:
        stop_server(server)


def test_response_stream_invoke_carries_the_trace(
    traced_server: LamboxServer, collector: Collector
) -> None:
    lam = aws_client(traced_server, "lambda")
    name = create(lam, "Active")
    root = new_root()
    caller = aws_client(traced_server, "lambda")

    def add(request: Any, **_: Any) -> None:
        request.headers["X-Amzn-Trace-Id"] = f"Root={root};Sampled=1"

    caller.meta.events.register("before-sign.lambda.InvokeWithResponseStream", add)
    answer = caller.invoke_with_response_stream(FunctionName=name)
    body = b"".join(
        e["PayloadChunk"]["Payload"] for e in answer["EventStream"] if "PayloadChunk" in e
    )
    assert parts(json.loads(body))["Root"] == root
    assert name in {s.name for s in collector.trace(root[2:10] + root[11:], 3)}


def test_a_callers_header_with_quotes_and_backslashes_reaches_the_handler_whole(
    traced_server: LamboxServer,
) -> None:
    """Lambox writes its own trace headers into the sandbox's INVOKE frame unescaped (they
    hold nothing JSON escapes); a caller's header is escaped, whatever it holds."""
    lam = aws_client(traced_server, "lambda")
    name = create(lam, "PassThrough")
    header = f'Root={new_root()};Parent={PARENT};Sampled=1;Note="a\\b"'
    seen = with_trace_header(aws_client(traced_server, "lambda"), header).invoke(FunctionName=name)
    assert "FunctionError" not in seen
    got = json.loads(seen["Payload"].read())
    assert got.startswith(header + ";Lineage=")
    # Without a caller's header, the handler gets one lambox made.
    own = parts(json.loads(lam.invoke(FunctionName=name)["Payload"].read()))
    assert own["Root"].startswith("1-") and own["Sampled"] == "0"
