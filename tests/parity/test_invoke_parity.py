"""Invoke against AWS's recorded answers (invoke, runtimes-python-provided).

The recordings do not include the handlers AWS ran; each test zips an equivalent one.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterable
from typing import Any

import pytest

from tests.conftest import ROLE, make_zip, unique
from tests.parity.snapshot import (
    ECHO_HANDLER,
    LAMBOX_RUNTIME,
    UUID,
    Normaliser,
    assert_match,
    call,
    create_function,
    recorded,
    wait_until_settled,
)

LAMBDA = "tests/aws/services/lambda_/test_lambda.py"
COMMON = "tests/aws/services/lambda_/test_lambda_common.py::TestLambdaRuntimesCommon"
# The recordings of test_lambda.py show every CodeSha256 as "code-sha256", those of
# test_lambda_common.py as "<code-sha256>".
LAMBDA_SHA = {"CodeSha256": "code-sha256"}
COMMON_SHA = {"CodeSha256": "<code-sha256>"}


def handler_zip(source: str, module: str = "handler") -> bytes:
    return make_zip({f"{module}.py": source})


def echo_function(lambda_client: Any) -> str:
    name = unique("echo-func")
    create_function(lambda_client, name)
    return name


# -- invocation types --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("invocation_type", "test_name"),
    [
        ("RequestResponse", "test_invocation_type_request_response"),
        ("Event", "test_invocation_type_event"),
        ("DryRun", "test_invocation_type_dry_run"),
    ],
)
def test_invocation_type(lambda_client: Any, invocation_type: str, test_name: str) -> None:
    test_id = f"{LAMBDA}::TestLambdaFeatures::{test_name}[python3.10]"
    name = echo_function(lambda_client)
    arn = lambda_client.get_function_configuration(FunctionName=name)["FunctionArn"]
    got = {
        "invoke-result": lambda_client.invoke(
            FunctionName=arn, Payload=b"{}", InvocationType=invocation_type
        )
    }
    assert_match(recorded(test_id), Normaliser()(got))


NONE_HANDLER = """def handler(event, context):
    print("no return value")
"""


@pytest.mark.parametrize(
    "invocation_type",
    ["RequestResponse", "Event"],
)
def test_invocation_type_no_return_payload(lambda_client: Any, invocation_type: str) -> None:
    test_id = (
        f"{LAMBDA}::TestLambdaFeatures::test_invocation_type_no_return_payload"
        f"[python-{invocation_type}]"
    )
    name = unique("no-return")
    create_function(lambda_client, name, Code={"ZipFile": handler_zip(NONE_HANDLER)})
    got = {
        "invoke-result": lambda_client.invoke(
            FunctionName=name, Payload=b"{}", InvocationType=invocation_type
        )
    }
    assert_match(recorded(test_id), Normaliser()(got))


def test_invocation_with_logs(lambda_client: Any) -> None:
    test_id = f"{LAMBDA}::TestLambdaFeatures::test_invocation_with_logs[python3.10]"
    name = echo_function(lambda_client)
    arn = lambda_client.get_function_configuration(FunctionName=name)["FunctionArn"]
    result = lambda_client.invoke(FunctionName=arn, Payload=b"{}", LogType="Tail")
    logs = base64.b64decode(result["LogResult"]).decode()
    # The recording keeps LogResult as a constant, replaces every uuid (the request id) by
    # "<request-id>" and the measured numbers of the REPORT line by placeholders.
    norm = Normaliser(
        fixed={"LogResult": "log-result"},
        regexes=[
            (UUID, "<request-id>"),
            (r"Duration: \d+(\.\d+)? ms", "Duration: <duration> ms"),
            (r"Used: \d+ MB", "Used: <memory> MB"),
        ],
    )
    got = {"invoke": result, "logs": {"logs": logs.splitlines(keepends=True)}}
    assert_match(recorded(test_id), norm(got))


# -- results and errors ------------------------------------------------------------------------

SLEEP_HANDLER = """import time


def handler(event, context):
    time.sleep(event["wait"])
"""


@pytest.mark.parametrize(
    ("test_name", "timeout", "wait", "regexes"),
    [
        # AWS's timeout message names the request id, which the recording shows as one
        # placeholder of its own.
        pytest.param(
            "test_lambda_invoke_with_timeout",
            1,
            2,
            [(r"RequestId: \S+ Error", "RequestId: <timeout_error_msg> Error")],
            id="with_timeout",
        ),
        pytest.param("test_lambda_invoke_no_timeout", 2, 1, [], id="no_timeout"),
    ],
)
def test_lambda_invoke_timeout(
    lambda_client: Any, test_name: str, timeout: int, wait: int, regexes: list[tuple[str, str]]
) -> None:
    """A handler that sleeps ``wait`` seconds in a function with a ``timeout`` of its own."""
    test_id = f"{LAMBDA}::TestLambdaBehavior::{test_name}"
    name = unique("test_lambda")
    norm = Normaliser(fixed=LAMBDA_SHA, regexes=regexes)
    norm.name(name)
    got: dict[str, Any] = {}
    got["create-result"] = create_function(
        lambda_client, name, Code={"ZipFile": handler_zip(SLEEP_HANDLER)}, Timeout=timeout
    )
    got["invoke-result"] = lambda_client.invoke(
        FunctionName=name, Payload=json.dumps({"wait": wait})
    )
    assert_match(recorded(test_id), norm(got))


def test_function_state(lambda_client: Any) -> None:
    test_id = f"{LAMBDA}::TestLambdaBaseFeatures::test_function_state"
    name = unique("test-function")
    norm = Normaliser(fixed=LAMBDA_SHA)
    norm.name(name)
    got: dict[str, Any] = {}
    got["create-fn-response"] = lambda_client.create_function(
        FunctionName=name,
        Runtime=LAMBOX_RUNTIME,
        Handler="handler.handler",
        Role=ROLE,
        Code={"ZipFile": handler_zip("def handler(event, context):\n    return event\n")},
    )
    wait_until_settled(lambda_client, name)
    got["get-fn-response"] = lambda_client.get_function(FunctionName=name)
    assert_match(recorded(test_id), norm(got))


def test_invoke_exceptions(lambda_client: Any) -> None:
    test_id = f"{LAMBDA}::TestLambdaFeatures::test_invoke_exceptions"
    got = {"invoke_function_doesnotexist": call(lambda_client.invoke, FunctionName="doesnotexist")}
    assert_match(recorded(test_id), Normaliser()(got))


HANDLER_ERROR = """def handler(event, context):
    raise Exception("Handler fails")
"""
RUNTIME_ERROR = """raise Exception("Runtime startup fails")


def handler(event, context):
    return event
"""
HANDLER_EXIT = """import sys


def handler(event, context):
    sys.exit(0)
"""
RUNTIME_EXIT = """import sys

sys.exit(0)
"""


def task_paths(value: Any) -> Any:
    """Stack frames of the function's own files, as AWS shows them: under /var/task (lambox
    runs the code from its own data directory)."""
    if isinstance(value, dict):
        return {k: task_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [task_paths(v) for v in value]
    if isinstance(value, str):
        return re.sub(r'File "[^"]*/(lambda_[a-z_]+\.py)"', r'File "/var/task/\1"', value)
    return value


@pytest.mark.parametrize(
    ("test_name", "module", "source"),
    [
        pytest.param(
            "test_lambda_handler_error", "lambda_handler_error", HANDLER_ERROR, id="handler_error"
        ),
        pytest.param(
            "test_lambda_runtime_error",
            "lambda_runtime_error",
            RUNTIME_ERROR,
            id="runtime_error",
        ),
        pytest.param(
            "test_lambda_handler_exit",
            "lambda_handler_exit",
            HANDLER_EXIT,
            id="handler_exit",
        ),
        pytest.param(
            "test_lambda_runtime_exit",
            "lambda_runtime_exit",
            RUNTIME_EXIT,
            id="runtime_exit",
        ),
    ],
)
def test_lambda_errors(lambda_client: Any, test_name: str, module: str, source: str) -> None:
    test_id = f"{LAMBDA}::TestLambdaErrors::{test_name}"
    name = unique("test-function")
    create_function(
        lambda_client,
        name,
        Handler=f"{module}.handler",
        Code={"ZipFile": handler_zip(source, module)},
    )
    expected = recorded(test_id)
    got = {"invocation_error": lambda_client.invoke(FunctionName=name)}
    actual = task_paths(Normaliser(regexes=[(UUID, "<uuid>")])(got))
    if test_name == "test_lambda_runtime_error":
        # The frames above the function's module are the interpreter's importlib (AWS ran
        # python3.13, lambox python3.11: other files and line numbers); only the frame of the
        # function's own code is comparable.
        for side in (expected, actual):
            trace = side["invocation_error"]["Payload"]["stackTrace"]
            side["invocation_error"]["Payload"]["stackTrace"] = trace[-1:]
    assert_match(expected, actual)


RESPONSE_SIZE = """def handler(event, context):
    return "a" * event["bytenum"]
"""


def test_lambda_too_large_response(lambda_client: Any) -> None:
    test_id = f"{LAMBDA}::TestLambdaBaseFeatures::test_lambda_too_large_response"
    name = unique("large_payload")
    create_function(lambda_client, name, Code={"ZipFile": handler_zip(RESPONSE_SIZE)})
    payload = json.dumps({"bytenum": 7 * 1024 * 1024}).encode()
    got = {
        "invoke_result": lambda_client.invoke(FunctionName=name, Payload=payload),
        "invoke_result_2": lambda_client.invoke(FunctionName=name, Payload=payload),
    }
    assert_match(recorded(test_id), Normaliser()(got))


@pytest.mark.parametrize(
    ("label", "payload"),
    [("body", b"n\x87r\x9e\xe9\xb5\xd7I\xee\x9bmt"), ("message", b"\x99\xeb,j\x07\xa1zYh")],
    ids=["body", "message"],
)
def test_lambda_invoke_payload_encoding_error(
    lambda_client: Any, label: str, payload: bytes
) -> None:
    # The recorded test ids spell the payload's bytes as escapes, the way pytest names them.
    escaped = "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in payload)
    test_id = (
        f"{LAMBDA}::TestLambdaErrors::test_lambda_invoke_payload_encoding_error[{label}-{escaped}]"
    )
    name = echo_function(lambda_client)
    got = {
        f"invoke_function_invalid_payload_{label}": call(
            lambda_client.invoke, FunctionName=name, Payload=payload
        )
    }
    assert_match(recorded(test_id), Normaliser()(got))


CACHE_HANDLER = """COUNTER = 0


def handler(event, context):
    global COUNTER
    result = {"counter": COUNTER}
    COUNTER += 1
    return result
"""


def test_lambda_cache_local(lambda_client: Any) -> None:
    test_id = f"{LAMBDA}::TestLambdaBehavior::test_lambda_cache_local[python]"
    name = unique("test_lambda")
    create_function(lambda_client, name, Code={"ZipFile": handler_zip(CACHE_HANDLER)})
    got = {
        "first_invoke_result": lambda_client.invoke(FunctionName=name),
        "second_invoke_result": lambda_client.invoke(FunctionName=name),
    }
    assert_match(recorded(test_id), Normaliser()(got))


def test_recreate_function(lambda_client: Any) -> None:
    test_id = f"{LAMBDA}::TestLambdaCleanup::test_recreate_function"
    name = unique("test-function")
    norm = Normaliser(fixed=LAMBDA_SHA)
    norm.name(name)
    params = {
        "Handler": "lambda_echo.handler",
        "Code": {"ZipFile": handler_zip(ECHO_HANDLER, "lambda_echo")},
    }
    got: dict[str, Any] = {}
    got["create_function_response_one"] = create_function(lambda_client, name, **params)
    lambda_client.delete_function(FunctionName=name)
    got["create_function_response_two"] = create_function(lambda_client, name, **params)
    invoked = lambda_client.invoke(FunctionName=name, InvocationType="Event")
    assert invoked["StatusCode"] == 202
    assert_match(recorded(test_id), norm(got))


# -- runtimes: introspection and uncaught exceptions -------------------------------------------

INTROSPECTION = """import json
import os


def handler(event, context):
    print(json.dumps(event))
    return {
        "environment": dict(os.environ),
        "ctx": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_time_in_millis": context.get_remaining_time_in_millis(),
        },
        "packages": [],
    }
"""

HOST_SPECIFIC = "<host-specific>"
HOST_SPECIFIC_ENV = frozenset(
    {
        "LAMBDA_RUNTIME_DIR",
        "LAMBDA_TASK_ROOT",
        "LD_LIBRARY_PATH",
        "PATH",
        "PYTHONPATH",
        "SHLVL",
    }
)
"""Variables whose values describe the machine (install paths, the shell depth), not the
function: their names must match, their values cannot."""

NOT_SET_BY_LAMBOX = {
    "AWS_LAMBDA_RUNTIME_API": "lambox's runtime is not driven through the Runtime API",
    "AWS_XRAY_DAEMON_ADDRESS": "lambox runs no X-Ray daemon",
    "_AWS_XRAY_DAEMON_ADDRESS": "lambox runs no X-Ray daemon",
    "_AWS_XRAY_DAEMON_PORT": "lambox runs no X-Ray daemon",
    "PWD": "left by AWS's init process, not one of Lambda's documented variables",
}
"""Variables AWS's environment has that lambox leaves out, and why."""

SET_ONLY_BY_LAMBOX = {
    "AWS_ENDPOINT_URL": "an AWS SDK in a function finds AWS by itself; on lambox it is told"
    " to call lambox",
    "PYTHONDONTWRITEBYTECODE": "lambox does not write .pyc files next to the function's code",
    "LC_CTYPE": "set by Python itself (PEP 538 locale coercion) where the host lacks the"
    " en_US.UTF-8 locale that LANG names",
}
"""Variables lambox's sandboxes may have that AWS's do not, and why."""


def comparable_environment(payload: dict[str, Any], drop: Iterable[str]) -> dict[str, Any]:
    env = {k: v for k, v in payload["environment"].items() if k not in set(drop)}
    payload["environment"] = {
        k: HOST_SPECIFIC if k in HOST_SPECIFIC_ENV else v for k, v in env.items()
    }
    return payload


def test_introspection_invoke(lambda_client: Any) -> None:
    test_id = f"{COMMON}::test_introspection_invoke[python3.11]"
    name = unique("introspection")
    norm = Normaliser(
        fixed={**COMMON_SHA, "remaining_time_in_millis": "<remaining-time-in-millis>"},
        numbered={
            "log_stream_name": "log-stream-name",
            "AWS_LAMBDA_LOG_STREAM_NAME": "log-stream-name",
            "AWS_ACCESS_KEY_ID": "aws-access-key-id",
            "AWS_SECRET_ACCESS_KEY": "aws-secret-access-key",
            "AWS_SESSION_TOKEN": "aws-session-token",
            "_X_AMZN_TRACE_ID": "x-amzn-trace-id",
        },
    )
    norm.name(name)
    created = lambda_client.create_function(
        FunctionName=name,
        Runtime=LAMBOX_RUNTIME,
        Handler="handler.handler",
        Role=ROLE,
        Code={"ZipFile": handler_zip(INTROSPECTION)},
        MemorySize=1024,
        Environment={"Variables": {"TEST_KEY": "TEST_VAL"}},
    )
    wait_until_settled(lambda_client, name)
    plain = lambda_client.invoke(FunctionName=name, Payload=b'{"simple": "payload"}')
    qualified = lambda_client.invoke(
        FunctionName=f"{created['FunctionArn']}:$LATEST", Payload=b'{"simple": "payload"}'
    )
    got = norm(
        {
            "create_function_result": created,
            "invocation_result_payload": json.loads(plain["Payload"].read()),
            "invocation_result_payload_qualified": json.loads(qualified["Payload"].read()),
        }
    )
    expected = recorded(test_id)
    for key in ("invocation_result_payload", "invocation_result_payload_qualified"):
        expected[key] = comparable_environment(expected[key], NOT_SET_BY_LAMBOX)
        got[key] = comparable_environment(got[key], SET_ONLY_BY_LAMBOX)
    assert_match(expected, got)


UNCAUGHT = """import json


def handler(event, ctx):
    print(json.dumps(event))
    raise Exception(f"Failed: {event.get('error_msg')}")
"""


def test_uncaught_exception_invoke(lambda_client: Any) -> None:
    test_id = f"{COMMON}::test_uncaught_exception_invoke[python3.11]"
    name = unique("uncaught")
    norm = Normaliser(fixed={**COMMON_SHA, "stackTrace": "<stack-trace>"})
    norm.name(name)
    got: dict[str, Any] = {}
    got["create_function_result"] = lambda_client.create_function(
        FunctionName=name,
        Runtime=LAMBOX_RUNTIME,
        Handler="handler.handler",
        Role=ROLE,
        Code={"ZipFile": handler_zip(UNCAUGHT)},
        MemorySize=1024,
    )
    wait_until_settled(lambda_client, name)
    got["error_result"] = lambda_client.invoke(
        FunctionName=name, Payload=json.dumps({"error_msg": "some_error_msg"})
    )
    assert_match(recorded(test_id), norm(got))
