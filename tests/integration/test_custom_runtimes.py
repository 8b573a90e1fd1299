"""Runtimes over the Lambda Runtime API: provided.* bootstraps and Node.js, driven by boto3.

The clients are ones lambox did not write: AWS's own ``awslambdaric`` (PyPI) as a bootstrap,
and a shell bootstrap using curl in the style of AWS's custom-runtime tutorial. Node.js
functions run on lambox's Node client through the same API.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lambox.control.runtimes import RuntimeCatalog
from lambox.errors import InvalidParameterValue
from tests.conftest import ROLE, LamboxServer, make_zip, unique

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="no node on PATH")
needs_curl = pytest.mark.skipif(shutil.which("curl") is None, reason="no curl on PATH")

RIC_APP = """
import logging

def handler(event, context):
    if event.get("fail"):
        raise ValueError("boom " + str(event["fail"]))
    print("hello from awslambdaric")
    cc = context.client_context
    return {
        "event": event,
        "request_id": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "custom": cc.custom if cc else None,
    }
"""
RIC_BOOTSTRAP = "#!/bin/sh\nexec python3 -m awslambdaric app.handler\n"

# AWS's custom-runtime tutorial: the bootstrap sources the handler script, then loops on
# /next, calls the handler function and posts what it printed to /response.
SHELL_BOOTSTRAP = r"""#!/bin/bash
set -euo pipefail
. "$LAMBDA_TASK_ROOT/$(echo "$_HANDLER" | cut -d. -f1).sh"
while true; do
  HEADERS="$(mktemp)"
  EVENT_DATA=$(curl -sS -LD "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
  REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
  RESPONSE=$($(echo "$_HANDLER" | cut -d. -f2) "$EVENT_DATA")
  curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" \
    -d "$RESPONSE" >/dev/null
  rm -f "$HEADERS"
done
"""
SHELL_FUNCTION = """
handler () {
  EVENT_DATA=$1
  echo "shell got $EVENT_DATA" 1>&2
  echo "{\\"echo\\": $EVENT_DATA, \\"api\\": \\"$AWS_LAMBDA_RUNTIME_API\\","
  echo " \\"task\\": \\"$LAMBDA_TASK_ROOT\\","
  echo " \\"unset\\": \\"${PYTHONPATH:-}${AWS_EXECUTION_ENV:-}\\"}"
}
"""
INIT_ERROR_BOOTSTRAP = """#!/bin/sh
echo "reading configuration"
curl -sS -X POST "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/init/error" \\
  -H "Lambda-Runtime-Function-Error-Type: Custom.ConfigMissing" \\
  -d '{"errorMessage":"no configuration","errorType":"Custom.ConfigMissing"}' >/dev/null
exit 1
"""
CRASH_BOOTSTRAP = """#!/bin/sh
curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next" >/dev/null
echo "about to die"
kill -9 $$
"""
ONE_SHOT_BOOTSTRAP = r"""#!/bin/bash
HEADERS="$(mktemp)"
EVENT_DATA=$(curl -sS -D "$HEADERS" "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next")
REQUEST_ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$HEADERS" | tr -d '[:space:]' | cut -d: -f2)
rm -f "$HEADERS"
curl -sS "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$REQUEST_ID/response" \
  -d "{\"run\": \"$(cat /proc/sys/kernel/random/uuid)\", \"event\": $EVENT_DATA}" >/dev/null
"""
NODE_CODE = {
    "index.js": """
exports.handler = async (event, context) => {
  console.log("got", JSON.stringify(event));
  console.error("multi\\nline");
  return {
    echo: event,
    requestId: context.awsRequestId,
    name: context.functionName,
    version: context.functionVersion,
    arn: context.invokedFunctionArn,
    memory: context.memoryLimitInMB,
    group: context.logGroupName,
    stream: context.logStreamName,
    remaining: context.getRemainingTimeInMillis(),
    waits: context.callbackWaitsForEmptyEventLoop,
    custom: context.clientContext ? context.clientContext.custom : null,
  };
};
exports.callback = (event, context, callback) => {
  setTimeout(() => callback(null, { doubled: event.n * 2 }), 5);
};
exports.callbackError = (event, context, callback) => {
  callback(new RangeError("out of range " + event.n));
};
exports.thrown = async () => {
  throw new TypeError("bad thing");
};
exports.slow = async () => new Promise((resolve) => setTimeout(resolve, 60000));
exports.big = async () => "x".repeat(7 * 1024 * 1024);
exports.exit = async () => process.exit(3);
exports.notAFunction = 42;
""",
    "esm.mjs": "export const handler = async (event) => ({ esm: true, event });\n",
    "syntax.js": "exports.handler = async () => { return 1 +;\n",
}


@pytest.fixture(scope="module")
def deploy(lambda_client) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    def make(runtime: str, handler: str, code: bytes, timeout: int = 10) -> str:
        name = unique("crt")
        lambda_client.create_function(
            FunctionName=name,
            Runtime=runtime,
            Handler=handler,
            Role=ROLE,
            Code={"ZipFile": code},
            Timeout=timeout,
        )
        lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
        return name

    return make


def call(client, name: str, payload: Any, **kwargs: Any) -> tuple[dict[str, Any], Any, str]:  # type: ignore[no-untyped-def]
    out = client.invoke(FunctionName=name, Payload=json.dumps(payload), LogType="Tail", **kwargs)
    body = out["Payload"].read()
    log = base64.b64decode(out.get("LogResult", "")).decode()
    try:
        value = json.loads(body)
    except ValueError:
        value = body
    return out, value, log


def function_log(server: LamboxServer, name: str) -> str:
    """The function's whole log (init output included; the tail holds the invocation's)."""
    return httpx.get(f"{server.url}/lambox/v1/logs/{name}").text


# -- provided.*: awslambdaric --------------------------------------------------------------


@pytest.fixture(scope="module")
def ric(deploy) -> str:  # type: ignore[no-untyped-def]
    pytest.importorskip("awslambdaric", reason="awslambdaric (dev extra) is not installed")
    code = make_zip({"bootstrap": RIC_BOOTSTRAP, "app.py": RIC_APP}, {"bootstrap": 0o755})
    return str(deploy("provided.al2023", "app.handler", code))


def test_awslambdaric_echoes_with_context(lambda_client, ric: str) -> None:  # type: ignore[no-untyped-def]
    context = base64.b64encode(json.dumps({"custom": {"team": "lambox"}}).encode()).decode()
    out, value, log = call(lambda_client, ric, {"a": [1, 2]}, ClientContext=context)
    assert "FunctionError" not in out, value
    rid = out["ResponseMetadata"]["RequestId"]
    assert value["event"] == {"a": [1, 2]}
    assert value["request_id"] == rid
    assert value["arn"].endswith(f":function:{ric}")
    assert value["name"] == ric
    assert value["memory"] == "128"
    assert 0 < value["remaining"] <= 10_000
    assert value["custom"] == {"team": "lambox"}
    assert f"START RequestId: {rid}" in log
    assert "hello from awslambdaric" in log


def test_awslambdaric_function_error_is_unhandled(lambda_client, ric: str) -> None:  # type: ignore[no-untyped-def]
    out, value, log = call(lambda_client, ric, {"fail": 7})
    assert out["FunctionError"] == "Unhandled"
    assert value["errorType"] == "ValueError"
    assert value["errorMessage"] == "boom 7"
    assert value["requestId"] == out["ResponseMetadata"]["RequestId"]
    assert "ValueError" in log
    # The environment survives a function error: the next invocation is answered normally.
    out, value, _ = call(lambda_client, ric, {"again": True})
    assert "FunctionError" not in out and value["event"] == {"again": True}


# -- provided.*: a curl shell bootstrap ------------------------------------------------------


@needs_curl
def test_shell_bootstrap_with_curl(lambda_client, deploy, server) -> None:  # type: ignore[no-untyped-def]
    code = make_zip(
        {"bootstrap": SHELL_BOOTSTRAP, "function.sh": SHELL_FUNCTION}, {"bootstrap": 0o755}
    )
    name = deploy("provided.al2", "function.handler", code)
    for n in (1, 2):
        out, value, log = call(lambda_client, name, {"n": n})
        assert "FunctionError" not in out, value
        assert value["echo"] == {"n": n}
        assert re.fullmatch(r"127\.0\.0\.1:\d+", value["api"])
        # /var/task in an isolated sandbox, the code directory itself in a plain process
        assert value["task"] == "/var/task" or value["task"].startswith(str(server.data_dir))
        assert value["unset"] == ""  # no PYTHONPATH, no AWS_EXECUTION_ENV for OS-only runtimes
        assert f'shell got {{"n": {n}}}' in log


@needs_curl
def test_init_error_posted_by_the_runtime(lambda_client, deploy, server) -> None:  # type: ignore[no-untyped-def]
    code = make_zip({"bootstrap": INIT_ERROR_BOOTSTRAP}, {"bootstrap": 0o755})
    name = deploy("provided.al2023", "unused.handler", code)
    out, value, _ = call(lambda_client, name, {})
    assert out["FunctionError"] == "Unhandled"
    assert value == {"errorMessage": "no configuration", "errorType": "Custom.ConfigMissing"}
    assert "reading configuration\nSTART RequestId" in function_log(server, name)


@needs_curl
def test_bootstrap_crash_is_a_runtime_exit(lambda_client, deploy) -> None:  # type: ignore[no-untyped-def]
    code = make_zip({"bootstrap": CRASH_BOOTSTRAP}, {"bootstrap": 0o755})
    name = deploy("provided.al2023", "unused.handler", code)
    for _ in range(2):  # the dead sandbox is replaced, and dies the same way again
        out, value, _ = call(lambda_client, name, {})
        rid = out["ResponseMetadata"]["RequestId"]
        assert out["FunctionError"] == "Unhandled"
        assert value == {
            "errorType": "Runtime.ExitError",
            "errorMessage": f"RequestId: {rid} Error: Runtime exited with error: signal: killed",
        }


@needs_curl
def test_a_runtime_that_exits_after_answering_is_started_again(lambda_client, deploy) -> None:  # type: ignore[no-untyped-def]
    code = make_zip({"bootstrap": ONE_SHOT_BOOTSTRAP}, {"bootstrap": 0o755})
    name = deploy("provided.al2023", "unused.handler", code)
    runs = set()  # not pids: each start is pid 2 of a fresh pid namespace when isolated
    for n in range(3):
        out, value, _ = call(lambda_client, name, {"n": n})
        assert "FunctionError" not in out, value
        assert value["event"] == {"n": n}
        runs.add(value["run"])
    assert len(runs) == 3


def test_missing_bootstrap_is_an_invalid_entrypoint(lambda_client, deploy) -> None:  # type: ignore[no-untyped-def]
    name = deploy("provided.al2023", "app.handler", make_zip({"app.py": RIC_APP}))
    out, value, log = call(lambda_client, name, {})
    rid = out["ResponseMetadata"]["RequestId"]
    assert out["FunctionError"] == "Unhandled"
    assert value["errorType"] == "Runtime.InvalidEntrypoint"
    assert value["errorMessage"].startswith(
        f"RequestId: {rid} Error: Couldn't find valid bootstrap"
    )
    assert "Runtime.InvalidEntrypoint" in log


def test_bootstrap_that_is_not_executable_is_an_invalid_entrypoint(lambda_client, deploy) -> None:  # type: ignore[no-untyped-def]
    name = deploy("provided.al2023", "x.y", make_zip({"bootstrap": "#!/bin/sh\n"}))
    out, value, _ = call(lambda_client, name, {})
    assert out["FunctionError"] == "Unhandled"
    assert value["errorType"] == "Runtime.InvalidEntrypoint"
    assert value["errorMessage"].endswith("/bootstrap: permission denied")


# -- nodejs ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def node_fn(deploy) -> Callable[..., str]:  # type: ignore[no-untyped-def]
    code = make_zip(NODE_CODE)
    made: dict[tuple[str, int], str] = {}

    def get(handler: str, timeout: int = 10) -> str:
        if (handler, timeout) not in made:
            made[(handler, timeout)] = deploy("nodejs20.x", handler, code, timeout)
        return made[(handler, timeout)]

    return get


@needs_node
def test_node_async_handler_and_context(lambda_client, node_fn) -> None:  # type: ignore[no-untyped-def]
    name = node_fn("index.handler")
    context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    out, value, log = call(lambda_client, name, {"a": 1}, ClientContext=context)
    assert "FunctionError" not in out, value
    rid = out["ResponseMetadata"]["RequestId"]
    assert value["echo"] == {"a": 1}
    assert value["requestId"] == rid
    assert value["name"] == name
    assert value["version"] == "$LATEST"
    assert value["arn"].endswith(f":function:{name}")
    assert value["memory"] == "128"
    assert value["group"] == f"/aws/lambda/{name}"
    assert value["stream"]
    assert 0 < value["remaining"] <= 10_000
    assert value["waits"] is True
    assert value["custom"] == {"k": "v"}
    stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.search(rf"^{stamp}\t{rid}\tINFO\tgot {{\"a\":1}}$", log, re.M), log
    assert re.search(rf"^{stamp}\t{rid}\tERROR\tmulti\rline$", log, re.M), log


@needs_node
def test_node_callback_handler(lambda_client, node_fn) -> None:  # type: ignore[no-untyped-def]
    out, value, _ = call(lambda_client, node_fn("index.callback"), {"n": 21})
    assert "FunctionError" not in out, value
    assert value == {"doubled": 42}


@needs_node
def test_node_esm_handler(lambda_client, node_fn) -> None:  # type: ignore[no-untyped-def]
    _, value, _ = call(lambda_client, node_fn("esm.handler"), {"x": 1})
    assert value == {"esm": True, "event": {"x": 1}}


@needs_node
@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("index.thrown", "TypeError", "bad thing"),
        ("index.callbackError", "RangeError", "out of range 5"),
    ],
)
def test_node_function_errors(lambda_client, node_fn, handler, error_type, message) -> None:  # type: ignore[no-untyped-def]
    out, value, log = call(lambda_client, node_fn(handler), {"n": 5})
    assert out["FunctionError"] == "Unhandled"
    assert value["errorType"] == error_type
    assert value["errorMessage"] == message
    assert value["trace"][0] == f"{error_type}: {message}"
    assert "\tERROR\tInvoke Error " in log


@needs_node
@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("index.missing", "Runtime.HandlerNotFound", "index.missing is undefined or not exported"),
        ("index.notAFunction", "Runtime.HandlerNotFound", "index.notAFunction is not a function"),
        ("nothere.handler", "Runtime.ImportModuleError", "Error: Cannot find module 'nothere'"),
        ("syntax.handler", "Runtime.UserCodeSyntaxError", "SyntaxError: Unexpected token"),
        ("nodot", "Runtime.MalformedHandlerName", "Bad handler"),
    ],
)
def test_node_init_errors(lambda_client, node_fn, server, handler, error_type, message) -> None:  # type: ignore[no-untyped-def]
    name = node_fn(handler)
    out, value, _ = call(lambda_client, name, {})
    assert out["FunctionError"] == "Unhandled"
    assert value["errorType"] == error_type
    assert value["errorMessage"].startswith(message)
    assert value["trace"][0].startswith(f"{error_type}: {message}")
    assert "\tundefined\tERROR\tUncaught Exception " in function_log(server, name)


@needs_node
def test_node_timeout_then_a_fresh_sandbox(lambda_client, node_fn) -> None:  # type: ignore[no-untyped-def]
    name = node_fn("index.slow", timeout=1)
    out, value, log = call(lambda_client, name, {})
    rid = out["ResponseMetadata"]["RequestId"]
    assert out["FunctionError"] == "Unhandled"
    assert value["errorType"] == "Sandbox.Timedout"
    assert f"{rid} Task timed out after 1.00 seconds" in log


@needs_node
def test_node_process_exit_is_a_runtime_exit(lambda_client, node_fn) -> None:  # type: ignore[no-untyped-def]
    out, value, _ = call(lambda_client, node_fn("index.exit"), {})
    assert out["FunctionError"] == "Unhandled"
    assert value["errorType"] == "Runtime.ExitError"
    assert value["errorMessage"].endswith("Runtime exited with error: exit status 3")


@needs_node
def test_response_over_6mb_is_refused(lambda_client, node_fn) -> None:  # type: ignore[no-untyped-def]
    name = node_fn("index.big")
    out, value, _ = call(lambda_client, name, {})
    assert out["FunctionError"] == "Unhandled"
    assert value["errorType"] == "Function.ResponseSizeTooLarge"
    assert "6291556 bytes" in value["errorMessage"]
    # The runtime was told 413 (it logs so after its post, so in the next invocation's log)
    # and carries on: the same sandbox serves the next invocation.
    out, value, log = call(lambda_client, name, {})
    assert value["errorType"] == "Function.ResponseSizeTooLarge"
    assert "The Runtime API refused the response: 413" in log
    assert "Init Duration" not in log


@needs_node
def test_other_node_majors_run_on_the_installed_node(
    lambda_client, deploy, server: LamboxServer
) -> None:  # type: ignore[no-untyped-def]
    name = deploy("nodejs22.x", "index.handler", make_zip(NODE_CODE))
    _, value, _ = call(lambda_client, name, {"b": 2})
    assert value["echo"] == {"b": 2}
    assert "runtime nodejs22.x runs on node v" in server.output()


def test_provided_runtimes_need_nothing_and_node_needs_node(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    catalog = RuntimeCatalog({})
    assert catalog.interpreter("provided.al2023") == "bootstrap"
    assert catalog.interpreter("provided.al2") == "bootstrap"
    with pytest.raises(InvalidParameterValue) as exc:
        catalog.interpreter("nodejs20.x")
    assert exc.value.message == (
        "The runtime nodejs20.x is not available on this lambox server."
        " Install Node.js so that `node` is on lambox's PATH."
    )


def test_start_up_probes_no_interpreter_until_a_function_needs_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Probing every runtime at start-up ran a dozen interpreters before the first request."""
    import subprocess

    ran: list[list[str]] = []
    real_run = subprocess.run

    def recording_run(argv: list[str], *args: Any, **kwargs: Any) -> Any:
        ran.append(argv)
        return real_run(argv, *args, **kwargs)

    monkeypatch.setattr(subprocess, "run", recording_run)
    catalog = RuntimeCatalog({"python3.14": "python3.11"})
    catalog.announce()
    assert ran == []
    if shutil.which("node"):
        catalog.interpreter("nodejs20.x")
        catalog.interpreter("nodejs22.x")
        assert len(ran) == 1  # node's version, once
