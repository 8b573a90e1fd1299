"""Nulls, addresses and deep values in the model validation (``control/shapes.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from lambox.control import shapes
from lambox.errors import ValidationError


def refusal(operation: str, params: dict[str, Any]) -> str | None:
    try:
        shapes.validate(operation, params)
    except ValidationError as exc:
        return exc.message
    return None


@pytest.mark.parametrize(
    ("operation", "params", "location"),
    [
        ("UpdateFunctionConfiguration", {"MemorySize": None}, "memorySize"),
        ("UpdateFunctionConfiguration", {"VpcConfig": {"SubnetIds": None}}, "vpcConfig.subnetIds"),
        ("UpdateFunctionConfiguration", {"SnapStart": {"ApplyOn": None}}, "snapStart.applyOn"),
        ("CreateAlias", {"Name": "a", "FunctionVersion": "1", "Description": None}, "description"),
        ("PutFunctionEventInvokeConfig", {"DestinationConfig": None}, "destinationConfig"),
    ],
)
def test_a_null_body_member_is_refused_at_any_depth(
    operation: str, params: dict[str, Any], location: str
) -> None:
    assert refusal(operation, {"FunctionName": "fn", **params}) == (
        f"1 validation error detected: Value null at '{location}' failed to satisfy constraint:"
        " Member must not be null"
    )


def test_absent_query_members_given_as_none_are_absent() -> None:
    assert refusal("GetFunction", {"FunctionName": "fn", "Qualifier": None}) is None
    assert refusal("Invoke", {"FunctionName": "fn", "LogType": None, "Qualifier": None}) is None


def test_address_is_validated_without_the_body() -> None:
    shapes.validate_address("PutFunctionConcurrency", {"FunctionName": "fn"})
    with pytest.raises(ValidationError) as raised:
        shapes.validate_address("PutFunctionConcurrency", {"FunctionName": "bad!"})
    assert "at 'functionName'" in raised.value.message
    assert "reservedConcurrentExecutions" not in raised.value.message


def test_a_deep_value_is_quoted_without_recursion() -> None:
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    message = refusal("UpdateFunctionConfiguration", {"FunctionName": "fn", "Description": deep})
    assert message is not None
    assert message.startswith("1 validation error detected: Value '" + "[" * 5001)
