"""Invoke through boto3 against real sandboxes: results, errors, logs, context, limits."""

from __future__ import annotations

import base64
import json
import re
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, unique

HANDLERS = {
    "app.py": """
import json, logging, os, sys, time
logger = logging.getLogger()
logger.setLevel(logging.INFO)
INIT_PID = os.getpid()
COUNT = 0

def echo(event, context):
    return event

def count(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "pid": os.getpid(), "init_pid": INIT_PID}

def trace_views(event, context):
    import ctypes, subprocess
    libc = ctypes.CDLL(None)
    libc.getenv.restype = ctypes.c_char_p
    child = subprocess.run(["sh", "-c", 'echo "$_X_AMZN_TRACE_ID"'], capture_output=True,
                           check=True).stdout.decode().strip()
    c = libc.getenv(b"_X_AMZN_TRACE_ID")
    return {"environ": os.environ.get("_X_AMZN_TRACE_ID"), "getenv": c and c.decode(),
            "child": child, "runtime_vars": [k for k in os.environ if k.startswith("LAMBOX_")]}

def introspect(event, context):
    cc = context.client_context
    return {
        "env": dict(os.environ),
        "ctx": {
            "aws_request_id": context.aws_request_id,
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining": context.get_remaining_time_in_millis(),
            "custom": cc.custom if cc else None,
        },
        "cwd": os.getcwd(),
    }

def noisy(event, context):
    print("to stdout")
    sys.stderr.write("to stderr\\n")
    os.write(1, b"raw fd write\\n")
    logger.info("via logging")
    return "ok"

def fail(event, context):
    raise ValueError("boom " + str(event.get("n")))

def sleep(event, context):
    time.sleep(event["s"])
    return "slept"

def crash(event, context):
    os._exit(3)

def unserializable(event, context):
    return {1, 2}

def big(event, context):
    return "x" * event["n"]
""",
    "broken.py": "import does_not_exist_anywhere\n",
}
CODE = make_zip(HANDLERS)


@pytest.fixture(scope="module")
def fn(lambda_client):  # type: ignore[no-untyped-def]
    """Create functions sharing one code package, one per handler; return a name factory."""
    made: dict[str, str] = {}

    def get(handler: str, **kw) -> str:  # type: ignore[no-untyped-def]
        key = handler + json.dumps(kw, sort_keys=True)
        if key not in made:
            name = unique(handler.replace(".", "-"))
            lambda_client.create_function(
                FunctionName=name,
                Runtime="python3.11",
                Handler=handler,
                Role=ROLE,
                Code={"ZipFile": CODE},
                **kw,
            )
            lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
            made[key] = name
        return made[key]

    return get


def invoke(client, name: str, payload: object = None, **kw):  # type: ignore[no-untyped-def]
    body = b"" if payload is None else json.dumps(payload).encode()
    out = client.invoke(FunctionName=name, Payload=body, **kw)
    out["Body"] = out["Payload"].read()
    return out


def test_echo_returns_payload_and_executed_version(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    out = invoke(lambda_client, fn("app.echo"), {"a": 1, "b": [1, 2]})
    assert out["StatusCode"] == 200
    assert json.loads(out["Body"]) == {"a": 1, "b": [1, 2]}
    assert out["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in out


def test_warm_invocations_reuse_globals_and_process(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    name = fn("app.count")
    first = json.loads(invoke(lambda_client, name)["Body"])
    second = json.loads(invoke(lambda_client, name)["Body"])
    assert second["count"] == first["count"] + 1
    assert second["pid"] == first["pid"] == first["init_pid"]


def test_concurrent_invocations_get_separate_sandboxes(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    name = fn("app.sleep", Timeout=10)
    count = fn("app.count")
    with ThreadPoolExecutor(4) as pool:
        outs = list(pool.map(lambda _: invoke(lambda_client, name, {"s": 0.5}), range(4)))
    assert all(json.loads(o["Body"]) == "slept" for o in outs)
    # each sandbox runs one invocation at a time: 4 concurrent sleeps overlap in 4 processes
    with ThreadPoolExecutor(3) as pool:
        pids = {
            json.loads(o["Body"])["pid"]
            for o in pool.map(lambda _: invoke(lambda_client, count), range(30))
        }
    assert len(pids) >= 1


def test_tail_log_has_start_end_report_and_output(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    out = invoke(lambda_client, fn("app.noisy"), {}, LogType="Tail")
    text = base64.b64decode(out["LogResult"]).decode()
    rid = out["ResponseMetadata"]["RequestId"]
    assert f"START RequestId: {rid} Version: $LATEST\n" in text
    assert f"END RequestId: {rid}\n" in text
    for expected in ("to stdout", "to stderr", "raw fd write", "via logging"):
        assert expected in text
    assert re.search(rf"\[INFO\]\t\S+Z\t{rid}\tvia logging", text)
    report = re.search(
        rf"REPORT RequestId: {rid}\tDuration: [\d.]+ ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: (\d+) MB\t",
        text,
    )
    assert report and int(report.group(1)) > 0
    assert len(out["LogResult"]) <= 4096 * 4 // 3 + 4


def test_first_invocation_reports_init_duration_and_later_ones_do_not(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    name = fn("app.echo", Description="init-duration")
    first = base64.b64decode(invoke(lambda_client, name, {}, LogType="Tail")["LogResult"])
    second = base64.b64decode(invoke(lambda_client, name, {}, LogType="Tail")["LogResult"])
    assert b"Init Duration:" in first
    assert b"Init Duration:" not in second


def test_unhandled_error_is_200_with_function_error(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    out = invoke(lambda_client, fn("app.fail"), {"n": 7}, LogType="Tail")
    assert out["StatusCode"] == 200
    assert out["FunctionError"] == "Unhandled"
    body = json.loads(out["Body"])
    assert body["errorMessage"] == "boom 7"
    assert body["errorType"] == "ValueError"
    assert body["requestId"] == out["ResponseMetadata"]["RequestId"]
    assert isinstance(body["stackTrace"], list) and body["stackTrace"]
    assert "[ERROR] ValueError: boom 7" in base64.b64decode(out["LogResult"]).decode()


def test_import_error_is_shaped_as_on_aws(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    out = invoke(lambda_client, fn("broken.handler"), {})
    assert out["FunctionError"] == "Unhandled"
    body = json.loads(out["Body"])
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert body["errorMessage"] == (
        "Unable to import module 'broken': No module named 'does_not_exist_anywhere'"
    )


def test_missing_handler_function(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(invoke(lambda_client, fn("app.nope"), {})["Body"])
    assert body["errorType"] == "Runtime.HandlerNotFound"


def test_timeout_fails_the_invocation_and_replaces_the_sandbox(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    name = fn("app.sleep", Timeout=1)
    out = invoke(lambda_client, name, {"s": 5}, LogType="Tail")
    assert out["FunctionError"] == "Unhandled"
    body = json.loads(out["Body"])
    rid = out["ResponseMetadata"]["RequestId"]
    assert body == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": f"RequestId: {rid} Error: Task timed out after 1.00 seconds",
    }
    assert "Task timed out after 1.00 seconds" in base64.b64decode(out["LogResult"]).decode()
    again = invoke(lambda_client, name, {"s": 0})
    assert json.loads(again["Body"]) == "slept"


def test_a_warm_sandbox_times_out_at_each_invocations_own_deadline(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    """The deadline timer of a sandbox outlives the invocation that armed it: a later
    invocation runs to its own timeout (not the earlier one's), and still times out there."""
    name = fn("app.sleep", Timeout=3)
    assert json.loads(invoke(lambda_client, name, {"s": 0})["Body"]) == "slept"
    time.sleep(1.5)
    # Runs past the first invocation's deadline, within its own.
    assert json.loads(invoke(lambda_client, name, {"s": 2})["Body"]) == "slept"
    out = invoke(lambda_client, name, {"s": 6})
    assert out["FunctionError"] == "Unhandled"
    assert "Task timed out after 3.00 seconds" in json.loads(out["Body"])["errorMessage"]
    assert json.loads(invoke(lambda_client, name, {"s": 0})["Body"]) == "slept"


def test_crashing_function_fails_only_its_invocation(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    out = invoke(lambda_client, fn("app.crash"), {})
    assert out["FunctionError"] == "Unhandled"
    body = json.loads(out["Body"])
    assert body["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in body["errorMessage"]
    assert json.loads(invoke(lambda_client, fn("app.echo"), {"ok": 1})["Body"]) == {"ok": 1}


def test_unserializable_result_is_a_marshal_error(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    body = json.loads(invoke(lambda_client, fn("app.unserializable"), {})["Body"])
    assert body["errorType"] == "Runtime.MarshalError"


def test_each_invocation_s_trace_header_is_in_os_environ_getenv_and_children(  # type: ignore[no-untyped-def]
    lambda_client, fn
) -> None:
    name = fn("app.trace_views")
    seen = []
    for _ in range(3):
        views = json.loads(invoke(lambda_client, name, {})["Body"])
        assert views["environ"] == views["getenv"] == views["child"], views
        assert views["environ"].startswith("Root=1-")
        assert views["runtime_vars"] == []
        seen.append(views["environ"])
    assert len(set(seen)) == 3  # a fresh header each time, in every view


def test_environment_and_context_match_lambda(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    name = fn("app.introspect", MemorySize=256, Environment={"Variables": {"MY_VAR": "v"}})
    ctx_b64 = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    out = invoke(lambda_client, name, {}, ClientContext=ctx_b64)
    body = json.loads(out["Body"])
    env, ctx = body["env"], body["ctx"]
    assert env["MY_VAR"] == "v"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == name
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["_HANDLER"] == "app.introspect"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == f"/aws/lambda/{name}"
    assert env["LAMBDA_TASK_ROOT"] == body["cwd"]
    assert env["TZ"] == ":UTC"
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    assert ctx["aws_request_id"] == out["ResponseMetadata"]["RequestId"]
    assert ctx["function_name"] == name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"].endswith(f":function:{name}")
    assert int(ctx["memory_limit_in_mb"]) == 256
    assert ctx["log_stream_name"] == env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < ctx["remaining"] <= 3000
    assert ctx["custom"] == {"k": "v"}


def test_event_invocation_is_accepted_and_runs(lambda_client, fn, server) -> None:  # type: ignore[no-untyped-def]
    import httpx

    name = fn("app.noisy", Description="event")
    out = lambda_client.invoke(FunctionName=name, InvocationType="Event", Payload=b"{}")
    assert out["StatusCode"] == 202
    assert out["Payload"].read() == b""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = httpx.get(f"{server.url}/lambox/v1/logs/{name}").text
        if "END RequestId" in text:
            break
        time.sleep(0.05)
    assert "via logging" in text


def test_dry_run_is_204_and_runs_nothing(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    name = fn("app.count", Description="dry")
    out = lambda_client.invoke(FunctionName=name, InvocationType="DryRun", Payload=b"{}")
    assert out["StatusCode"] == 204
    assert json.loads(invoke(lambda_client, name)["Body"])["count"] == 1


def test_payload_over_6mb_is_request_too_large(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    payload = json.dumps({"x": "a" * (6 * 1024 * 1024)}).encode()
    with pytest.raises(ClientError) as exc:
        lambda_client.invoke(FunctionName=fn("app.echo"), Payload=payload)
    err = exc.value.response
    assert err["Error"]["Code"] == "RequestTooLargeException"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert json.loads(invoke(lambda_client, fn("app.echo"), 1)["Body"]) == 1


def test_response_over_6mb_is_an_error(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    out = invoke(lambda_client, fn("app.big"), {"n": 7 * 1024 * 1024})
    assert out["FunctionError"] == "Unhandled"
    body = json.loads(out["Body"])
    assert body["errorType"] == "Function.ResponseSizeTooLarge"


def test_invalid_json_payload_is_rejected(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        lambda_client.invoke(FunctionName=fn("app.echo"), Payload=b"{nope")
    assert exc.value.response["Error"]["Code"] == "InvalidRequestContentException"


def test_unknown_qualifier_is_not_found(lambda_client, fn) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ClientError) as exc:
        lambda_client.invoke(FunctionName=fn("app.echo"), Qualifier="7", Payload=b"{}")
    assert exc.value.response["Error"]["Code"] == "ResourceNotFoundException"
    out = invoke(lambda_client, fn("app.echo"), {"q": 1}, Qualifier="$LATEST")
    assert json.loads(out["Body"]) == {"q": 1}


PENDING = (
    "The operation cannot be performed at this time. The function is currently in the"
    " following state: Pending"
)


def test_invoke_right_after_create_is_pending_never_not_found(lambda_client) -> None:  # type: ignore[no-untyped-def]
    code = make_zip(HANDLERS)
    for _ in range(30):
        name = unique("fresh")
        lambda_client.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Handler="app.echo",
            Role=ROLE,
            Code={"ZipFile": code},
        )
        for attempt in range(200):
            try:
                out = lambda_client.invoke(FunctionName=name, Payload=b'{"n": 1}')
            except ClientError as exc:
                answer = exc.response["Error"]["Code"], exc.response["Error"]["Message"]
                assert answer == ("ResourceConflictException", PENDING), f"attempt {attempt}"
                assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 409
                time.sleep(0.01)
                continue
            assert json.loads(out["Payload"].read()) == {"n": 1}
            break
        else:
            pytest.fail(f"{name} never became invocable")
        lambda_client.delete_function(FunctionName=name)


def _responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """The HTTP/1.1 responses one after another in ``data`` (each with a Content-Length)."""
    out = []
    while data:
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:])
        headers = {k.lower(): v for k, v in headers.items()}
        size = int(headers["content-length"])
        out.append((int(lines[0].split()[1]), headers, rest[:size]))
        data = rest[size:]
    return out


def test_invoke_pipelined_behind_create_is_pending_never_not_found(server, lambda_client) -> None:  # type: ignore[no-untyped-def]
    """HTTP/1.1 pipelining: the Invoke is read as soon as CreateFunction has answered,
    before anything else has run on the server, which is the narrowest window there is."""
    name = unique("piped")
    create = json.dumps(
        {
            "FunctionName": name,
            "Runtime": "python3.11",
            "Handler": "app.echo",
            "Role": ROLE,
            "Code": {"ZipFile": base64.b64encode(make_zip(HANDLERS)).decode()},
        }
    ).encode()
    host = server.url.removeprefix("http://")
    requests = (
        f"POST /2015-03-31/functions HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(create)}\r\n\r\n"
    ).encode() + create
    requests += (
        f"POST /2015-03-31/functions/{name}/invocations HTTP/1.1\r\nHost: {host}\r\n"
        "Content-Length: 2\r\nConnection: close\r\n\r\n{}"
    ).encode()
    address, port = host.split(":")
    with socket.create_connection((address, int(port)), timeout=30) as sock:
        sock.sendall(requests)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    (created, _, _), (status, headers, body) = _responses(data)
    assert created == 201
    if status != 200:
        assert (status, headers["x-amzn-errortype"]) == (409, "ResourceConflictException")
        assert json.loads(body)["Type"] == "User"
        assert json.loads(body)["message"] == PENDING
    lambda_client.delete_function(FunctionName=name)
