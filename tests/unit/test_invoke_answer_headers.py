"""Which of the Invoke endpoint's response header values the connection writes unchecked:
lambox's own (``MadeHeaders``), never a value the sandbox reported (``api/invoke.py``)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from lambox.api.exchange import WholeBody
from lambox.api.invoke import InvokeEndpoint
from lambox.api.responses import MadeHeaders
from lambox.model import Invocation, InvocationResult


class Service:
    """An invoke service that answers every Invoke with ``result``."""

    def __init__(self, result: InvocationResult) -> None:
        self.result = result

    async def invoke(self, name: str, invocation: Invocation) -> InvocationResult:
        return self.result


def answer(result: InvocationResult, *headers: tuple[bytes, bytes]) -> Any:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/2015-03-31/functions/f/invocations",
        "query_string": b"",
        "headers": [(b"host", b"localhost"), *headers],
    }
    endpoint = InvokeEndpoint(Service(result))  # type: ignore[arg-type]
    return asyncio.run(endpoint.answer(scope, WholeBody(b"{}")))


def test_lambox_own_values_are_made_headers() -> None:
    status, headers, body = answer(
        InvocationResult(b'"ok"', "$LATEST", log=b"x"), (b"x-amz-log-type", b"Tail")
    )
    assert status == 200 and body == b'"ok"'
    assert type(headers) is MadeHeaders
    names = [name for name, _ in headers]
    assert names == [
        b"content-type",
        b"x-amzn-requestid",
        b"x-amz-executed-version",
        b"x-amz-log-result",
        b"content-length",
    ]


@pytest.mark.parametrize(
    "result",
    [
        InvocationResult(b"{}", "1", function_error="Unhandled\r\nx-evil: 1"),
        InvocationResult(b"{}", "1", durable_execution_arn="arn:aws:lambda:x\n"),
    ],
)
def test_a_value_from_outside_lambox_leaves_every_value_checked(
    result: InvocationResult,
) -> None:
    status, headers, _ = answer(result)
    assert status == 200
    assert type(headers) is list  # the exchange checks each value of a plain list
    values = dict(headers)
    assert values.get(b"x-amz-function-error", b"") == (result.function_error or "").encode()
