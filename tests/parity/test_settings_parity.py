"""Function recursion config against AWS's recorded answers (function-crud-and-validation:
TestLambdaRecursion)."""

from __future__ import annotations

from typing import Any

from tests.conftest import unique
from tests.parity.snapshot import Normaliser, assert_match, call, create_function, recorded

RECURSION = "tests/aws/services/lambda_/test_lambda_api.py::TestLambdaRecursion"


def new_function(client: Any, norm: Normaliser) -> str:
    name = unique("fn-loop")
    norm.name(name)
    create_function(client, name)
    return name


def test_put_function_recursion_config_allow(lambda_client: Any) -> None:
    norm = Normaliser()
    name = new_function(lambda_client, norm)
    got = {
        "put_recursion_config_response": lambda_client.put_function_recursion_config(
            FunctionName=name, RecursiveLoop="Allow"
        ),
        "get_recursion_config_response": lambda_client.get_function_recursion_config(
            FunctionName=name
        ),
    }
    assert_match(recorded(f"{RECURSION}::test_put_function_recursion_config_allow"), norm(got))


def test_put_function_recursion_config_default_terminate(lambda_client: Any) -> None:
    norm = Normaliser()
    name = new_function(lambda_client, norm)
    got = {
        "get_recursion_default_terminate_response": (
            lambda_client.get_function_recursion_config(FunctionName=name)
        )
    }
    test_id = f"{RECURSION}::test_put_function_recursion_config_default_terminate"
    assert_match(recorded(test_id), norm(got))


def test_put_function_recursion_config_invalid_value(lambda_client: Any) -> None:
    norm = Normaliser()
    name = new_function(lambda_client, norm)
    got = {
        "put_recursion_invalid_value_error": call(
            lambda_client.put_function_recursion_config,
            FunctionName=name,
            RecursiveLoop="InvalidValue",
        )
    }
    test_id = f"{RECURSION}::test_put_function_recursion_config_invalid_value"
    assert_match(recorded(test_id), norm(got))
