"""Every operation of botocore's Lambda model gets an answer that is not "unknown operation".

The walk serializes each operation with botocore (through boto3's client, so the request line
is exactly the one a tool sends) with its required members filled in, and reads the answer:
every operation is served and answers its own result or error (one a newer model adds would
answer UnsupportedOperationException naming it: tests/unit/test_unsupported_operations.py).
None answers a bare UnknownOperationException, none a 5xx.
"""

from __future__ import annotations

import datetime
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from botocore.model import Shape

from tests.conftest import ROLE, make_zip, unique

FUNCTION = unique("walk")
CODE = make_zip({"app.py": "def handler(event, context):\n    return event\n"})


def sample(shape: Shape, name: str) -> Any:
    """A value of ``shape`` botocore's client-side validation accepts."""
    if shape.type_name == "structure":
        return {m: sample(shape.members[m], m) for m in shape.required_members}
    if shape.type_name == "list":
        return [sample(shape.member, name)]
    if shape.type_name == "map":
        return {}
    if shape.type_name in ("integer", "long"):
        return int(shape.metadata.get("min", 1))
    if shape.type_name in ("float", "double"):
        return float(shape.metadata.get("min", 1))
    if shape.type_name == "boolean":
        return False
    if shape.type_name == "timestamp":
        return datetime.datetime.now(datetime.UTC)
    if shape.type_name == "blob":
        return b"{}"
    if shape.enum:
        return shape.enum[0]
    if name == "FunctionName":
        return FUNCTION
    return "x" * max(int(shape.metadata.get("min", 1)), 8)


@pytest.fixture(scope="module")
def function(lambda_client: Any) -> str:
    lambda_client.create_function(
        FunctionName=FUNCTION,
        Runtime="python3.11",
        Role=ROLE,
        Handler="app.handler",
        Code={"ZipFile": CODE},
    )
    return FUNCTION


def test_no_operation_of_the_model_is_unknown(lambda_client: Any, function: str) -> None:
    model = lambda_client.meta.service_model
    unsupported: list[str] = []
    for name in model.operation_names:
        op = model.operation_model(name)
        params = sample(op.input_shape, name) if op.input_shape is not None else {}
        method = getattr(lambda_client, _snake(lambda_client, name))
        try:
            method(**params)
        except ClientError as exc:
            error = exc.response["Error"]
            status = exc.response["ResponseMetadata"]["HTTPStatusCode"]
            assert error["Code"] != "UnknownOperationException", (name, error)
            assert status < 500, (name, status, error)
            if error["Code"] == "UnsupportedOperationException":
                assert name in error["Message"], (name, error)
                assert "lambox does not support" in error["Message"]
                unsupported.append(name)
    assert unsupported == []


def _snake(client: Any, operation: str) -> str:
    from botocore import xform_name

    return str(xform_name(operation))


def test_a_path_no_operation_has_stays_unknown(server: Any) -> None:
    r = httpx.get(f"{server.url}/2099-01-01/nothing")
    assert r.status_code == 404
    assert r.headers["x-amzn-ErrorType"] == "UnknownOperationException"


def test_a_trailing_slash_names_no_unserved_operation(server: Any) -> None:
    r = httpx.get(f"{server.url}/2025-11-30/capacity-providers/x/")
    assert r.status_code == 404
    assert r.headers["x-amzn-ErrorType"] == "UnknownOperationException"
