"""Environment variables AWS refuses: its reserved names (the runtime sets them) and values
no process environment can hold (a NUL byte), refused on CreateFunction and
UpdateFunctionConfiguration with InvalidParameterValueException, never at the first invoke."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import ROLE, make_zip, unique
from tests.integration.test_aws_cli import aws, create_function

CODE = make_zip({"app.py": "import os\ndef handler(e, c):\n    return os.environ.get('OK')\n"})

# AWS's reserved runtime environment variables (Lambda developer guide, "Defined runtime
# environment variables": the ones "reserved", which a function cannot set).
RESERVED = [
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
]


def error_of(exc: pytest.ExceptionInfo[ClientError]) -> tuple[str, str, int]:
    r = exc.value.response
    return r["Error"]["Code"], r["Error"]["Message"], r["ResponseMetadata"]["HTTPStatusCode"]


def create(client: Any, name: str, variables: dict[str, str]) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": CODE},
        Environment={"Variables": variables},
    )


@pytest.fixture(scope="module")
def existing(lambda_client: Any) -> str:
    name = unique("envok")
    create(lambda_client, name, {"OK": "yes"})
    lambda_client.get_waiter("function_active_v2").wait(FunctionName=name)
    return name


@pytest.mark.parametrize("key", RESERVED)
def test_a_reserved_name_is_refused_on_create(lambda_client: Any, key: str) -> None:
    name = unique("envres")
    with pytest.raises(ClientError) as exc:
        create(lambda_client, name, {"OK": "yes", key: "x"})
    code, message, status = error_of(exc)
    if key.startswith("_"):
        # The model's key pattern ([a-zA-Z][a-zA-Z0-9_]+) refuses these first, as on AWS.
        assert (code, status) == ("ValidationException", 400)
        return
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert message.endswith(f"Reserved keys used in this request: {key}")
    with pytest.raises(ClientError):
        lambda_client.get_function(FunctionName=name)


@pytest.mark.parametrize("key", RESERVED)
def test_a_reserved_name_is_refused_on_update(lambda_client: Any, existing: str, key: str) -> None:
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_configuration(
            FunctionName=existing, Environment={"Variables": {key: "x"}}
        )
    code, message, status = error_of(exc)
    expected = "ValidationException" if key.startswith("_") else "InvalidParameterValueException"
    assert (code, status) == (expected, 400)
    assert key in message or expected == "ValidationException"
    got = lambda_client.get_function_configuration(FunctionName=existing)
    assert got["Environment"] == {"Variables": {"OK": "yes"}}


def test_a_nul_byte_in_a_value_is_refused(lambda_client: Any, existing: str) -> None:
    with pytest.raises(ClientError) as exc:
        create(lambda_client, unique("envnul"), {"OK": "a\0b"})
    code, message, status = error_of(exc)
    assert (code, status) == ("InvalidParameterValueException", 400)
    assert "null character" in message and "OK" in message
    with pytest.raises(ClientError) as exc:
        lambda_client.update_function_configuration(
            FunctionName=existing, Environment={"Variables": {"OK": "\0"}}
        )
    assert error_of(exc)[0] == "InvalidParameterValueException"
    out = lambda_client.invoke(FunctionName=existing, Payload=b"{}")
    assert json.loads(out["Payload"].read()) == "yes"


def test_the_cli_sees_the_refusals(server: Any, tmp_path: Path) -> None:
    done = create_function(
        server,
        tmp_path,
        unique("envcli"),
        "def handler(e, c):\n    return 1\n",
        "--environment",
        "Variables={AWS_REGION=eu-west-1}",
        check=False,
    )
    assert done.returncode != 0
    assert "InvalidParameterValueException" in done.stderr
    assert "AWS_REGION" in done.stderr
    env = tmp_path / "env.json"
    env.write_text(json.dumps({"Variables": {"OK": "a\u0000b"}}))
    result: subprocess.CompletedProcess[str] = aws(
        server,
        "create-function",
        "--function-name",
        unique("envcli"),
        "--runtime",
        "python3.11",
        "--handler",
        "app.handler",
        "--zip-file",
        f"fileb://{tmp_path / 'fn.zip'}",
        "--role",
        ROLE,
        "--environment",
        f"file://{env}",
        check=False,
    )
    assert result.returncode != 0
    assert "InvalidParameterValueException" in result.stderr
